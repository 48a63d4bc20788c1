"""Host-side helpers shared by the image, network and machine layers.

Everything here touches the host itself (namespaces, mounts, processes), so
every entry point checks for root first and fails with one clear sentence
instead of a dozen permission errors further down.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

CACHE_ENV = "LOCALCLOUD_CACHE"
STATE_ENV = "LOCALCLOUD_STATE"
DATA_ENV = "LOCALCLOUD_DATA"
DEFAULT_DATA = Path("/var/lib/django-tiers/localcloud")
DEFAULT_CACHE = Path("/var/cache/django-tiers/localcloud")
DEFAULT_STATE = Path("/run/django-tiers-localcloud")
ROOT_MESSAGE = (
    "the local cloud needs root (it creates network namespaces and boots containers); run with sudo"
)


class NeedsRoot(PermissionError):
    """Raised before any host change when the caller is not root."""


class CommandFailed(RuntimeError):
    """A host command exited non-zero; carries its argv and stderr, never its stdin."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"{' '.join(self.argv)} exited {returncode}: {stderr.strip()[-2000:]}")


def require_root() -> None:
    if os.geteuid() != 0:
        raise NeedsRoot(ROOT_MESSAGE)


def cache_dir() -> Path:
    """Where built images and wheelhouses live; survives reboots, shared by runs."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def state_dir() -> Path:
    """Where running machines are recorded; lives as long as the machines do."""
    return Path(os.environ.get(STATE_ENV) or DEFAULT_STATE)


def data_dir() -> Path:
    """Where stacks keep their resource state, secrets and volumes; survives reboots and teardown."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)


def run(
    argv: Sequence[str],
    *,
    input_bytes: bytes | None = None,
    check: bool = True,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a host command, capturing output; on failure raise CommandFailed without echoing stdin."""
    proc = subprocess.run(
        list(argv),
        input=input_bytes,
        stdin=None if input_bytes is not None else subprocess.DEVNULL,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr.decode(errors="replace"))
    return proc


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first (the order to unmount them in)."""
    base = str(path.resolve())
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == base or point.startswith(base + "/"):
                points.append(Path(point))
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def unmount_under(path: Path) -> None:
    """Unmount everything at or below `path`, so a following rmtree cannot reach into a mount."""
    for point in mounts_under(path):
        run(["umount", str(point)])
