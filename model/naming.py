"""Every name the program gives a DigitalOcean resource, and how to read one back.

Whoever needs a tag, a node's name or the volume's name asks here, so the
program, the offline plan and the local cloud can never disagree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from model import paths
from model.project import PROJECT
from model.roles import ROLES, Role

TAG_PREFIX = "dt"
VOLUME_PREFIX = "pgdata"
VOLUME_NAME_MAX = 64
"""DigitalOcean's limit on a volume's name, the tightest of the names built from the stack's."""
STACK_PART_MAX = VOLUME_NAME_MAX - len(VOLUME_PREFIX) - 1
BUCKET_NAME_MAX = 63
BUCKET_SUFFIX = "data"
"""The bucket holds the database's backups and the site's media, under two prefixes."""
VOLUME_MOUNT = paths.PG_MOUNT
"""Where the data volume is mounted on the node carrying db."""


def _safe(stack: str, room: int = STACK_PART_MAX) -> str:
    """The stack's name as every DigitalOcean name can hold it: lowercase letters, digits and `-`, short enough.

    Pulumi allows `_`, `.` and upper case, and 100 characters; a volume's name
    allows none of those and 64 characters. A name that had to change carries
    a digest of the original, so `prod_eu` and `prod-eu`, or two long names
    that differ only at the end, stay apart in one account.
    """
    if re.fullmatch(r"[a-z0-9-]+", stack) and len(stack) <= room:
        return stack
    digest = hashlib.sha256(stack.encode()).hexdigest()[:8]
    safe = re.sub(r"[^a-z0-9-]", "-", stack.lower())[: room - len(digest) - 1]
    return f"{safe}-{digest}"


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


def roles_of(stack: str, tags: Iterable[str]) -> tuple[Role, ...]:
    """The roles a droplet carries, read from its tags, in the order nodes merge them."""
    carried = {role_of_tag(stack, tag) for tag in tags}
    return tuple(role for role in ROLES if role in carried)


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


def bucket_name(stack: str) -> str:
    """The stack's Spaces bucket: 3 to 63 lowercase letters, digits and `-`, a letter or digit at each end."""
    room = BUCKET_NAME_MAX - len(TAG_PREFIX) - len(BUCKET_SUFFIX) - 2
    return f"{TAG_PREFIX}-{_safe(stack, room)}-{BUCKET_SUFFIX}"


def spaces_key_name(stack: str) -> str:
    return f"{stack_tag(stack)}-spaces"


def uptime_check_name(stack: str) -> str:
    return f"{stack_tag(stack)}-site"


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
