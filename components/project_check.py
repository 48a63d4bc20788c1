"""Before anything is registered: the project installs on the nodes' Python, and its settings pass Django's checks.

Both run on this machine, outside Pulumi: pip resolves the requirements for
the nodes' interpreter from the index's metadata, and, where this machine's
Python is the nodes' minor version, a virtualenv of the requirements runs
`check --deploy` on the settings under the environment the nodes write,
with throwaway secrets. Each answer is remembered, so a second run asks
nothing; an index that cannot be reached is a warning, not a refusal.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pulumi

from model import naming, python
from model.config import NAMESPACE, ConfigError, SiteConfig
from model.sizes import SPACES_REGIONS
from render.app_env import MediaStore, render_app_env
from render.release import pack

CHECK_ADDRESS = "203.0.113.10"
"""The public address the settings are checked with, where the stack has no domain (a documentation address)."""
INSTALL_TIMEOUT_SECONDS = 900
CHECK_TIMEOUT_SECONDS = 300


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "django-tiers"


def check_requirements(requirements: Path, key_value: str) -> None:
    """The requirements resolve for the nodes' Python, or one ConfigError says which pin does not."""
    digest = hashlib.sha256(requirements.read_bytes() + json.dumps(python.resolve_args(Path(), Path())).encode())
    mark = cache_root() / "requirements" / digest.hexdigest()[:32]
    if mark.is_file():
        if warning := mark.read_text().strip():
            pulumi.log.warn(warning)
        return
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [sys.executable, "-m", "pip", *python.resolve_args(requirements, Path(scratch) / "target")],
            capture_output=True, text=True, check=False,
        )
    output = done.stdout + done.stderr
    warning = ""
    if done.returncode != 0:
        if python.unreachable(output):
            pulumi.log.warn(f"{NAMESPACE}:app.requirements: the package index did not answer; not checked for {python.DESCRIBED}")
            return
        message, fatal = python.explain(output)
        if fatal:
            raise ConfigError("app.requirements", key_value, message)
        warning = f"{NAMESPACE}:app.requirements: {message}"
        pulumi.log.warn(warning)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(warning + "\n")


def _same_minor() -> bool:
    return ".".join(map(str, sys.version_info[:2])) == python.NODE_PYTHON.rsplit(".", 1)[0]


def _project_venv(requirements: Path) -> Path | None:
    """A virtualenv of the requirements on this machine, made once per file content; None when pip cannot make it."""
    key = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:32]
    base = cache_root() / "venvs"
    base.mkdir(parents=True, exist_ok=True)
    venv = base / key
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".installed").is_file():
            return venv
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-input", "-r", str(requirements)],
            capture_output=True, text=True, check=False, timeout=INSTALL_TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            pulumi.log.warn(
                f"{NAMESPACE}:app.settings: not checked: its requirements do not install on this machine: "
                f"{(done.stdout + done.stderr).strip()[-300:]}"
            )
            return None
        (venv / ".installed").write_text(f"{requirements}\n")
    return venv


def check_settings(source: Path, site: SiteConfig) -> None:
    """`check --deploy` passes under the environment the nodes write, or one ConfigError names the settings.

    Only where this machine's Python is the nodes' minor version: another
    would judge other versions of the requirements.
    """
    app = site.app
    if not _same_minor():
        return
    flavour = json.dumps([app.settings, site.domain is not None, sys.version]).encode()
    key = hashlib.sha256(pack(source) + flavour + (source / app.requirements).read_bytes()).hexdigest()[:32]
    mark = cache_root() / "settings" / key
    if mark.is_file():
        return
    venv = _project_venv(source / app.requirements)
    if venv is None:
        return
    region = SPACES_REGIONS[site.region]
    media = MediaStore(
        naming.bucket_name(site.stack), f"{region}.digitaloceanspaces.com", region,
        secrets.token_hex(10), secrets.token_urlsafe(30),
    )
    contract = render_app_env(
        app, "127.0.0.1", [], [CHECK_ADDRESS], site.domain, secrets.token_urlsafe(24), secrets.token_urlsafe(60), media,
    )
    env = dict(line.split("=", 1) for line in contract.splitlines() if line and not line.startswith("#"))
    env.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), HOME=str(cache_root()), LANG="C.UTF-8", PYTHONPATH=str(source))
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "django", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=source, env=env, capture_output=True, text=True, check=False, timeout=CHECK_TIMEOUT_SECONDS,
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
        said = lines[-1:] if "Traceback" in output else [line for line in lines if ".E" in line][:3] or lines[-3:]
        raise ConfigError(
            "app.settings", app.settings,
            "settings that pass `manage.py check --deploy` under the environment the nodes write; it says: "
            + " | ".join(said),
        )
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(done.stdout)
