"""web-static.sh on its own: a tarball published once, the previous version's names kept, atomic swaps, old versions pruned."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from render import steps
from tests.support.services import require_tool, run_env


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def publish(tmp_path: Path) -> tuple[Callable[[bytes], subprocess.CompletedProcess[str]], Path]:
    require_tool("tar")
    (tmp_path / "steps").mkdir()
    script = steps.write_all(tmp_path / "steps")["web-static.sh"]
    static_root = tmp_path / "srv" / "static"

    def run(tarball: bytes) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "static.tar.gz"
        path.write_bytes(tarball)
        return subprocess.run(
            ["bash", str(script)], capture_output=True, text=True,
            env=run_env({"STATIC_ROOT": str(static_root), "STATIC_TARBALL": str(path)}),
        )

    return run, static_root


def test_tarball_published_once(publish) -> None:
    run, static_root = publish
    tarball = _tarball({"site.css": b"body {}\n"})
    first, second = run(tarball), run(tarball)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "now serves version" in first.stdout
    assert "already holds version" in second.stdout
    assert static_root.is_symlink()
    assert (static_root / "site.css").read_bytes() == b"body {}\n"
    assert oct((static_root / "site.css").stat().st_mode & 0o777) == oct(0o644)


def test_original_directory_kept_and_old_versions_pruned(publish) -> None:
    run, static_root = publish
    static_root.mkdir(parents=True)
    (static_root / "placeholder.txt").write_text("from cloud-init\n")
    targets = []
    for number in range(4):
        result = run(_tarball({"app.js": f"// build {number}\n".encode()}))
        assert result.returncode == 0, result.stderr
        targets.append(os.readlink(static_root))
        assert (static_root / "app.js").read_text() == f"// build {number}\n"
    versions = Path(f"{static_root}.versions")
    assert (versions / "original" / "placeholder.txt").exists()
    kept = sorted(p.name for p in versions.iterdir() if p.name != "original")
    assert kept == sorted(Path(t).parent.name for t in targets[-2:])
    assert "removed old version" in result.stdout
    assert not list(versions.glob(".incoming.*"))


def test_corrupt_tarball_leaves_the_current_version(publish) -> None:
    run, static_root = publish
    assert run(_tarball({"a.css": b"a\n"})).returncode == 0
    current = os.readlink(static_root)
    broken = run(b"this is not a tarball")
    assert broken.returncode != 0
    assert os.readlink(static_root) == current
    assert not list(Path(f"{static_root}.versions").glob(".incoming.*"))


def test_previous_versions_names_stay_until_the_next_one(publish) -> None:
    """Pages of the release still running link the old hashed names: they are served beside the new ones, one release long."""
    run, static_root = publish
    for build in ("a1", "b2", "c3"):
        result = run(_tarball({f"site.{build}0000000000.css": build.encode(), "site.css": build.encode()}))
        assert result.returncode == 0, result.stderr
    served = sorted(p.name for p in static_root.iterdir())
    assert served == ["site.b20000000000.css", "site.c30000000000.css", "site.css"]
    assert (static_root / "site.css").read_bytes() == b"c3", "a name both versions have is the new version's"
    assert "kept the files of version" in result.stdout


def test_no_tarball_is_refused(tmp_path: Path) -> None:
    script = steps.write_all(tmp_path)["web-static.sh"]
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                            env=run_env({"STATIC_ROOT": str(tmp_path / "static")}))
    assert result.returncode == 1
    assert "STATIC_TARBALL is required" in result.stderr
