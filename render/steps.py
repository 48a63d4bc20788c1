"""The day-2 scripts that remote commands run on the nodes, rendered from steps/.

Every path in them comes from model.paths, so the scripts and the
cloud-init that prepared the node agree on where things live. Each path is
also an environment variable defaulting to that constant: tests point a
script at scratch directories while running its exact text.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from model import paths
from model.roles import APP_PORT, PGBOUNCER_PORT, POSTGRES_PORT
from render.templates import render as render_template

STEPS: tuple[str, ...] = (
    "wait-ready.sh",
    "db-setup.sh",
    "db-pool.sh",
    "db-backup.sh",
    "db-restore.sh",
    "app-release.sh",
    "app-env.sh",
    "migrate.sh",
    "collectstatic.sh",
    "app-activate.sh",
    "web-upstream.sh",
    "web-static.sh",
    "web-tls.sh",
    "site-ready.sh",
    "manage.sh",
)
INSTALLED_MARK = ".django-tiers-installed"

_VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def render(name: str) -> str:
    """The text of step `name` (one of STEPS), ready to copy to a node."""
    if name not in STEPS:
        raise ValueError(f"unknown step {name!r}; steps are {', '.join(STEPS)}")
    return render_template(
        f"steps/{name}.j2",
        paths=paths, app_port=APP_PORT, pgdata_script=paths.PGDATA_SCRIPT, installed_mark=INSTALLED_MARK,
        pg_port=POSTGRES_PORT, pgbouncer_port=PGBOUNCER_PORT,
    )


LINE_STEPS: tuple[str, ...] = ("ready", "release-install")
"""Steps that are one command line, run as they read rather than inside bash -c."""


def render_line(name: str, **context: str) -> str:
    """The command line of line step `name` (one of LINE_STEPS)."""
    if name not in LINE_STEPS:
        raise ValueError(f"unknown line step {name!r}; line steps are {', '.join(LINE_STEPS)}")
    return render_template(f"steps/{name}.line.j2", paths=paths, **context).strip()


def write_all(directory: Path) -> dict[str, Path]:
    """Render every step into `directory` as an executable file."""
    written = {}
    for name in STEPS:
        target = directory / name
        target.write_text(render(name))
        target.chmod(0o755)
        written[name] = target
    return written


def _assignments(env: Mapping[str, str] | None) -> list[str]:
    settings = dict(env or {})
    bad = [key for key in settings if not _VARIABLE.match(key)]
    if bad:
        raise ValueError(f"not environment variable names: {', '.join(bad)}")
    return [f"{key}={shlex.quote(value)}" for key, value in sorted(settings.items())]


def inline_command(name: str, env: Mapping[str, str] | None = None) -> str:
    """The line that runs a step with its whole text inside, so no copy step is needed.

    A change of the script then changes the command itself, which makes
    pulumi-command run it again. stdin stays free for secrets.
    """
    return " ".join([*_assignments(env), "bash", "-c", shlex.quote(render(name)), shlex.quote(name)])


def manage_command(arguments: Sequence[str]) -> str:
    """The line an admin runs over SSH on an app node to run `manage.py <arguments>` there (manage.sh)."""
    return " ".join(["sudo", inline_command("manage.sh"), *map(shlex.quote, arguments)])


if __name__ == "__main__":
    if sys.argv[1:2] != ["manage"] or len(sys.argv) < 3:
        sys.exit("usage: python -m render.steps manage <command> [arguments]: the line to run over SSH on an app node")
    print(manage_command(sys.argv[2:]))
