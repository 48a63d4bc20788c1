"""Pack the Django project into a release archive named by its content.

The archive is byte-for-byte reproducible (sorted entries, fixed owners and
times), so the same source always gives the same name and a deploy with no
change in the source changes no step.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = frozenset({"__pycache__", ".git", ".venv", "venv", "node_modules", ".pytest_cache", "staticfiles"})
SKIP_SUFFIXES = (".pyc", ".pyo", ".sqlite3")


@dataclass(frozen=True)
class Release:
    """A packed release: `name` is the first 16 hex digits of the archive's SHA-256."""

    name: str
    archive: Path


def _files(source: Path) -> list[Path]:
    return sorted(
        p for p in source.rglob("*")
        if p.is_file()
        and not any(part in SKIP_DIRS for part in p.relative_to(source).parts)
        and not p.name.endswith(SKIP_SUFFIXES)
    )


def pack(source: Path) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _files(source):
            info = tarfile.TarInfo(path.relative_to(source).as_posix())
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_release(source: Path, out_dir: Path) -> Release:
    """Write the archive of `source` into `out_dir` (once per content) and describe it."""
    if not source.is_dir():
        raise FileNotFoundError(f"app source {source} is not a directory")
    data = pack(source)
    name = hashlib.sha256(data).hexdigest()[:16]
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"{name}.tar.gz"
    if not archive.exists():
        archive.write_bytes(data)
    return Release(name, archive)
