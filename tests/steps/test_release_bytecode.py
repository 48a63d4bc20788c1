"""app-release.sh compiles the installed modules on a node that runs the app, and not on one that only collects.

A release whose requirements name one small wheel from a local directory
(the requirements file carries the index options), installed for real:
venv, the build user's pip wheel, root's pip install.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from render import steps
from tests.support.services import private_dir, require_tool, run_env, shared_tempdir

BUILD_AS = "daemon"
MODULE = "dt_probe"


def _wheel(directory: Path) -> None:
    """A pure-Python wheel of one module, made by hand: no build tool needed."""
    name = f"{MODULE}-1.0-py3-none-any.whl"
    files = {
        f"{MODULE}.py": b"VALUE = 1\n",
        f"{MODULE}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {MODULE}\nVersion: 1.0\n".encode(),
        f"{MODULE}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    ) + f"{MODULE}-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(directory / name, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{MODULE}-1.0.dist-info/RECORD", record)


@pytest.fixture
def site():
    for tool in ("runuser", "tar"):
        require_tool(tool)
    root = shared_tempdir("dt-bytecode-")
    wheels = root / "wheels"
    wheels.mkdir()
    _wheel(wheels)
    (root / "releases").mkdir()
    build_dir = private_dir(root / "build", BUILD_AS)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        text = f"--no-index\n--find-links {wheels}\n{MODULE}==1.0\n".encode()
        info = tarfile.TarInfo("requirements.txt")
        info.size = len(text)
        archive.addfile(info, io.BytesIO(text))
    release = "r" + hashlib.sha256(buffer.getvalue()).hexdigest()[:15]
    (root / "releases" / f"{release}.tar.gz").write_bytes(buffer.getvalue())
    env = {
        "RELEASES_DIR": str(root / "releases"), "RELEASE": release, "BUILD_USER": BUILD_AS,
        "BUILD_DIR": str(build_dir), "PYTHON": "/usr/bin/python3", "PIP_CONFIG_FILE": "/dev/null",
    }
    (root / "steps").mkdir()
    script = steps.write_all(root / "steps")["app-release.sh"]
    yield script, env, root / "releases" / release
    shutil.rmtree(root, ignore_errors=True)


def _install(site, **extra: str) -> list[Path]:
    script, env, release = site
    result = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=300, env=run_env({**env, **extra}),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return list((release / "venv").glob(f"lib/python3*/site-packages/__pycache__/{MODULE}.*.pyc"))


def test_a_node_that_runs_the_app_gets_every_module_compiled(site) -> None:
    assert _install(site)


def test_a_node_that_only_collects_compiles_nothing_at_install(site) -> None:
    assert _install(site, BYTECODE="no") == []
