"""Read the stack's `django-tiers:` config from Pulumi and hand it to the pure parser."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import NAMESPACE, SECRETS, STRUCTURED_KEYS, ConfigError, SiteConfig, check_secrets, parse_config


@dataclass(frozen=True)
class Secrets:
    """Secret values, kept as Pulumi secret Outputs from the moment they are read."""

    db_password: pulumi.Output[str]
    secret_key: pulumi.Output[str]


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
    present = {key for key in SECRETS if runtime_config.get_config(f"{NAMESPACE}:{key}")}
    site = parse_config(raw, pulumi.get_stack())
    check_secrets(present)
    return site, Secrets(cfg.require_secret("dbPassword"), cfg.require_secret("secretKey"))
