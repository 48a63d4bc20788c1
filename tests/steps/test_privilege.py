"""The release and activation steps against an app user turned attacker, run for real as root.

The app user owned /srv/app and its releases once; these tests plant what
such an owner could (a symbolic link at the state file, a release renamed and
refilled with its own interpreter, a package whose build runs code) and
check that the step refuses and says why, and that root runs nothing of it.
"""

from __future__ import annotations

import io
import os
import pwd
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from render import steps
from tests.support.services import free_port, private_dir, require_tool, run_env, shared_tempdir

ATTACKER = "nobody"
"""The app user of the old layout: it owned the releases directory."""
BUILD_AS = "daemon"
RELEASE = "0123456789abcdef"
PLANTED_MARK = "planted code ran as uid "


def _tarball(files: dict[str, str], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


BACKEND = '''\
"""A build backend that writes down who runs it, then builds a one-module wheel."""
import base64, hashlib, os, zipfile

WITNESS = {witness!r}
FILES = {{
    "evilpkg/__init__.py": b"BUILT = True\\n",
    "evilpkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: evilpkg\\nVersion: 1.0\\n",
    "evilpkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}}


def _ran():
    with open(WITNESS, "a") as witness:
        witness.write(f"{{os.geteuid()}}\\n")


def get_requires_for_build_wheel(config_settings=None):
    _ran()
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _ran()
    name = "evilpkg-1.0-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        for path, data in FILES.items():
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{{path}},sha256={{digest}},{{len(data)}}")
        record.append("evilpkg-1.0.dist-info/RECORD,,")
        wheel.writestr("evilpkg-1.0.dist-info/RECORD", "\\n".join(record) + "\\n")
    return name
'''
PYPROJECT = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'


@dataclass
class Scratch:
    root: Path
    scripts: dict[str, Path]
    witness: Path
    sdists: Path

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def release(self) -> Path:
        return self.releases / RELEASE

    def env(self, **extra: str) -> dict[str, str]:
        return run_env({
            "RELEASE": RELEASE,
            "RELEASES_DIR": str(self.releases),
            "BUILD_USER": BUILD_AS,
            "BUILD_DIR": str(self.root / "build"),
            "PYTHON": "/usr/bin/python3",
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(self.sdists),
            **extra,
        })

    def run(self, name: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.scripts[name])], capture_output=True, text=True, timeout=300, env=self.env(**extra),
        )

    def upload(self, requirements: str) -> None:
        (self.releases / f"{RELEASE}.tar.gz").write_bytes(_tarball({"requirements.txt": requirements}))

    def witnessed(self) -> list[int]:
        return [int(line) for line in self.witness.read_text().split()] if self.witness.exists() else []


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Scratch]:
    if os.geteuid() != 0:
        pytest.skip("the steps run as root")
    for tool in ("runuser", "tar", "curl"):
        require_tool(tool)
    root = shared_tempdir("dt-privilege-")
    (root / "releases").mkdir()
    private_dir(root / "build", BUILD_AS)
    shared = root / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    sdists = root / "sdists"
    sdists.mkdir()
    witness = shared / "witness"
    (sdists / "evilpkg-1.0.tar.gz").write_bytes(_tarball(
        {"pyproject.toml": PYPROJECT, "backend.py": BACKEND.format(witness=str(witness))}, prefix="evilpkg-1.0/",
    ))
    try:
        yield Scratch(root, steps.write_all(tmp_path), witness, sdists)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("requirement", ["evilpkg==1.0", "evilpkg @ file://{sdists}/evilpkg-1.0.tar.gz"])
def test_a_packages_build_runs_as_the_build_user_never_as_root(scratch: Scratch, requirement: str) -> None:
    scratch.upload(requirement.format(sdists=scratch.sdists) + "\n")
    result = scratch.run("app-release.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    builder = pwd.getpwnam(BUILD_AS).pw_uid
    assert scratch.witnessed() and set(scratch.witnessed()) == {builder}, f"the build ran as {scratch.witnessed()}"
    assert f"as {BUILD_AS}" in result.stdout
    probe = subprocess.run(
        [scratch.release / "venv/bin/python", "-c", "import evilpkg; print(evilpkg.BUILT)"], capture_output=True, text=True,
    )
    assert probe.stdout == "True\n", probe.stderr


def test_a_release_swapped_during_the_install_is_refused(scratch: Scratch) -> None:
    """The owner of releases/ renames the release once its virtualenv exists and plants an interpreter."""
    shutil.chown(scratch.releases, ATTACKER)
    scratch.upload("evilpkg==1.0\n")
    planted = scratch.root / "planted"
    planted.write_text(f"#!/bin/sh\necho '{PLANTED_MARK}'$(id -u) >>{scratch.witness}\n")
    python = scratch.root / "python-then-attack"
    python.write_text(
        "#!/bin/sh\n"
        '/usr/bin/python3 "$@" || exit\n'
        f"runuser -u {ATTACKER} -- sh -c "
        """'mv "$1" "$1.moved" && mkdir -p "$1/venv/bin" && cp "$2" "$1/venv/bin/python" && chmod 755 "$1/venv/bin/python"'"""
        f" sh {scratch.release} {planted}\n"
    )
    python.chmod(0o755)
    result = scratch.run("app-release.sh", PYTHON=str(python))
    assert PLANTED_MARK not in (scratch.witness.read_text() if scratch.witness.exists() else "")
    assert result.returncode != 0
    assert f"{scratch.releases} belongs to {ATTACKER}, not root" in result.stderr


def test_a_release_refilled_by_another_owner_is_refused(scratch: Scratch) -> None:
    bin_dir = scratch.release / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f"#!/bin/sh\necho '{PLANTED_MARK}'$(id -u) >>{scratch.witness}\n")
    (bin_dir / "python").chmod(0o755)
    (scratch.release / steps.INSTALLED_MARK).touch()
    subprocess.run(["chown", "-R", ATTACKER, str(scratch.release)], check=True)
    scratch.upload("evilpkg==1.0\n")
    for name, extra in (("app-release.sh", {}), ("app-activate.sh", _activation(scratch))):
        result = scratch.run(name, **extra)
        assert result.returncode != 0, f"{name} accepted a release that is not root's"
        assert f"{scratch.release} belongs to {ATTACKER}, not root" in result.stderr, name
    assert not scratch.witness.exists()


def _activation(scratch: Scratch) -> dict[str, str]:
    """What app-activate.sh needs, with a service manager that does nothing and no app to answer."""
    env_file = scratch.root / "app.env"
    if not env_file.exists():
        env_file.write_text("SECRET_KEY=x\n")
        env_file.chmod(0o640)
    state_dir = scratch.root / "state"
    state_dir.mkdir(mode=0o700, exist_ok=True)
    return {
        "APP_ENV_FILE": str(env_file),
        "CURRENT_LINK": str(scratch.root / "app" / "current"),
        "STATE_FILE": str(state_dir / "activated"),
        "SERVICE_CTL": shutil.which("true") or "/bin/true",
        "APP_HOST": "127.0.0.1",
        "APP_PORT": str(free_port()),
        "HEALTH_TIMEOUT": "1",
    }


def _installed(scratch: Scratch) -> None:
    scratch.release.mkdir()
    (scratch.release / steps.INSTALLED_MARK).touch()
    (scratch.root / "app").mkdir()


def test_a_symlink_at_the_state_file_is_refused_and_its_target_untouched(scratch: Scratch) -> None:
    _installed(scratch)
    env = _activation(scratch)
    precious = scratch.root / "root-only"
    precious.write_text("root's own\n")
    precious.chmod(0o600)
    Path(env["STATE_FILE"]).symlink_to(precious)
    result = scratch.run("app-activate.sh", **env)
    assert precious.read_text() == "root's own\n"
    assert result.returncode != 0
    assert f"{env['STATE_FILE']} is a symbolic link" in result.stderr
    assert not Path(env["CURRENT_LINK"]).is_symlink(), "nothing changes before the refusal"


@pytest.mark.parametrize("weakness", ["app directory owned by the app user", "state directory writable by all"])
def test_activation_refuses_directories_others_can_change(scratch: Scratch, weakness: str) -> None:
    _installed(scratch)
    env = _activation(scratch)
    if weakness.startswith("app directory"):
        weak = scratch.root / "app"
        shutil.chown(weak, ATTACKER)
        expected = f"{weak} belongs to {ATTACKER}, not root"
    else:
        weak = scratch.root / "state"
        weak.chmod(0o777)
        expected = f"{weak} can be changed by others than root (mode 777)"
    result = scratch.run("app-activate.sh", **env)
    assert result.returncode != 0
    assert expected in result.stderr
    assert not Path(env["CURRENT_LINK"]).is_symlink()
