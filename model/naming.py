"""Every name the program gives a DigitalOcean resource, and how to read one back.

Whoever needs a tag, a node's name or the volume's name asks here, so the
program, the offline plan and the local cloud can never disagree.
"""

from __future__ import annotations

from model import paths
from model.project import PROJECT
from model.roles import Role

TAG_PREFIX = "dt"
VOLUME_PREFIX = "pgdata"
VOLUME_MOUNT = paths.PG_MOUNT
"""Where the data volume is mounted on the node carrying db."""


def _safe(stack: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in stack.lower())


def stack_tag(stack: str) -> str:
    """The tag every droplet of the stack carries."""
    return f"{TAG_PREFIX}-{_safe(stack)}"


def role_tag(stack: str, role: Role) -> str:
    """The tag of the stack's droplets that carry `role`."""
    return f"{stack_tag(stack)}-{role}"


def role_of_tag(stack: str, tag: str) -> Role | None:
    """The role a tag of this stack stands for; None for the stack tag or a foreign tag."""
    prefix = stack_tag(stack) + "-"
    rest = tag[len(prefix):] if tag.startswith(prefix) else None
    return Role(rest) if rest in set(Role) else None


def node_name(group: str, index: int) -> str:
    return f"{group}-{index}"


def parse_node_name(name: str) -> tuple[str, int]:
    """`web-2` -> (`web`, 2); group names hold no `-`, so the split is unambiguous."""
    group, sep, index = name.rpartition("-")
    if not sep or not group or not index.isdigit():
        raise ValueError(f"{name!r} is not a node name <group>-<index>")
    return group, int(index)


def volume_name(stack: str) -> str:
    return f"{VOLUME_PREFIX}-{_safe(stack)}"


def vpc_name(stack: str) -> str:
    return f"{stack_tag(stack)}-vpc"


def ssh_key_name(stack: str, index: int) -> str:
    return f"{stack_tag(stack)}-key-{index}"


def firewall_name(tag: str) -> str:
    """A firewall is named for the tag it guards."""
    return f"{tag}-fw"


def load_balancer_name(stack: str) -> str:
    return f"{stack_tag(stack)}-lb"


def certificate_name(stack: str) -> str:
    return f"{stack_tag(stack)}-cert"


def project_name(stack: str) -> str:
    return f"{PROJECT}-{stack}"
