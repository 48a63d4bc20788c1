"""Throwaway SSH keys for runs that have no real one (the offline plan, the tests, the local cloud), and the host keys simulated droplets show."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)


def host_key_of(host: str) -> str:
    """The SSH host key a simulated droplet at `host` shows: its own, the same in every run."""
    seed = hashlib.sha256(f"host-key/{host}".encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + f" root@{host}"


def new_deploy_key() -> tuple[str, str]:
    """(private key in OpenSSH format, its public line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    return private, public
