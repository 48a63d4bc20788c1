"""Day-2 steps as pulumi-command resources: how every step reaches its node.

Steps update in place: what changes with scale or with a release goes in the
command line or on stdin, never in `triggers` or `connection`, which would
replace the step. Secrets go on stdin only, and a step that reads one keeps
its output out of the logs and marks it secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
from pulumi_command import remote

from model import paths
from render import steps

PER_DIAL_TIMEOUT_SECONDS = 10
DIAL_ATTEMPTS = 60
"""A fresh droplet takes a minute or so to start sshd: keep dialling for up to ten."""


class HostKeyMissing(ValueError):
    """The node's first answer held no host key: no later step may trust it."""


def connection(
    host: pulumi.Input[str], private_key: pulumi.Output[str], host_key: pulumi.Input[str] | None = None
) -> remote.ConnectionArgs:
    """How a step reaches a node; with `host_key`, a host that shows another key is refused."""
    return remote.ConnectionArgs(
        host=host,
        user=paths.ADMIN_USER,
        private_key=private_key,
        host_key=host_key,
        dial_error_limit=DIAL_ATTEMPTS,
        per_dial_timeout=PER_DIAL_TIMEOUT_SECONDS,
    )


def pinned_host_key(first_contact: remote.Command, node: str) -> pulumi.Output[str]:
    """The host key the first contact printed: trusted on first use, and pinned by every step after it."""

    def checked(stdout: str) -> str:
        key = stdout.strip()
        if len(key.split()) < 2 or not key.startswith("ssh-"):
            raise HostKeyMissing(f"{node}: the first contact printed no SSH host key: {stdout[:200]!r}")
        return key

    return first_contact.stdout.apply(checked)


def step_line(name: str, env: Mapping[str, pulumi.Input[str]] | None = None) -> pulumi.Output[str]:
    """Run step `name` as root with its whole text in the line, so a new script text re-runs it."""
    return pulumi.Output.all(**(env or {})).apply(lambda values: f"sudo {steps.inline_command(name, values)}")


def line_step(name: str, as_root: bool = True, **context: pulumi.Input[str]) -> pulumi.Output[str]:
    """Run line step `name` as it reads: as root, or as the admin user when its parts say sudo themselves."""
    prefix = "sudo " if as_root else ""
    return pulumi.Output.all(**context).apply(lambda values: prefix + steps.render_line(name, **values))


def step(
    resource_name: str,
    conn: remote.ConnectionArgs,
    create: pulumi.Input[str],
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
    stdin: pulumi.Input[str] | None = None,
    secret: bool = False,
    log_stdout: bool = True,
    undo: pulumi.Input[str] | None = None,
    aliases: Sequence[pulumi.Alias] = (),
) -> remote.Command:
    """One remote step; `secret` when stdin holds a secret, `log_stdout` False when stdout is data.

    `undo` runs when the step leaves the program, and before a replacement
    runs it again, so an undo never follows its own redo.
    """
    if secret:
        logging = remote.Logging.NONE
    else:
        logging = remote.Logging.STDOUT_AND_STDERR if log_stdout else remote.Logging.STDERR
    return remote.Command(
        resource_name,
        connection=conn,
        create=create,
        delete=undo,
        stdin=stdin,
        add_previous_output_in_env=False,
        logging=logging,
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(after),
            additional_secret_outputs=["stdout", "stderr"] if secret else None,
            delete_before_replace=undo is not None,
            aliases=list(aliases) or None,
        ),
    )
