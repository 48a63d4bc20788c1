"""Read the stack's `django-tiers:` config from Pulumi and hand it to the pure parser."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
from pulumi.runtime import config as runtime_config

from components.project_check import check_requirements, check_settings
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
    check_settings(source, site)

