"""Read the stack's `django-tiers:` config from Pulumi and hand it to the pure parser."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi.runtime import config as runtime_config

from model import python
from model.config import (
    NAMESPACE,
    SECRETS,
    STRUCTURED_KEYS,
    ConfigError,
    SiteConfig,
    check_secrets,
    deploy_public_key,
    parse_config,
)
from model.project import ROOT


@dataclass(frozen=True)
class Secrets:
    """Secret values, kept as Pulumi secret Outputs from the moment they are read."""

    db_password: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    ssh_private_key: pulumi.Output[str]


def _namespace_keys() -> list[str]:
    """Every key set in our namespace, so a misspelt key is reported instead of ignored."""
    names = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    prefix = f"{NAMESPACE}:"
    return sorted(k[len(prefix):] for k in names if k.startswith(prefix))


def _decode(key: str, text: str) -> object:
    if key not in STRUCTURED_KEYS:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(key, text, "a YAML list or object in the stack file (or JSON with `pulumi config set --path`)") from None


def read_stack_config() -> tuple[SiteConfig, Secrets]:
    cfg = pulumi.Config(NAMESPACE)
    raw = {}
    for key in _namespace_keys():
        if key in SECRETS:
            continue
        raw[key] = _decode(key, cfg.get(key))
    plain = {key: runtime_config.get_config(f"{NAMESPACE}:{key}") for key in SECRETS}
    check_secrets(plain)
    site = parse_config(raw, pulumi.get_stack(), deploy_public_key(plain["sshPrivateKey"]))
    _check_app_source(site)
    return site, Secrets(
        db_password=cfg.require_secret("dbPassword"),
        secret_key=cfg.require_secret("secretKey"),
        ssh_private_key=cfg.require_secret("sshPrivateKey"),
    )


def _check_app_source(site: SiteConfig) -> None:
    """The app's files are read from disk when the release is packed, so check them with the rest of the config."""
    source = ROOT / site.app.source
    if not source.is_dir():
        raise ConfigError("app.source", site.app.source, f"a directory holding a Django project, relative to {ROOT}")
    if not (source / site.app.requirements).is_file():
        raise ConfigError("app.requirements", site.app.requirements, f"a pinned requirements file inside {source}")
    check_requirements(source / site.app.requirements, site.app.requirements)


def _resolved_marks() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "django-tiers" / "requirements"


def check_requirements(requirements: Path, key_value: str) -> None:
    """The requirements resolve for the nodes' Python, or one ConfigError says which pin does not.

    pip answers from the index's metadata, without downloading the wheels. A
    success is remembered per file content, so a second run asks nothing; an
    index that cannot be reached is reported as a warning, not a refusal.
    """
    digest = hashlib.sha256(requirements.read_bytes() + json.dumps(python.resolve_args(Path(), Path())).encode())
    mark = _resolved_marks() / digest.hexdigest()[:32]
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
