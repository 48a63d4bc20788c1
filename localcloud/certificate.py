"""Let's Encrypt, played on this host: a self-signed certificate where certbot would keep the real one.

No ACME exchange can run offline (no CA reaches the machine, no public DNS
names it), so when a site's A record points at one of the stack's machines,
the machine gets a certificate for the name in certbot's own place. The
program's TLS step then finds it there, as it finds a certificate it issued
on an earlier run, and goes on to nginx.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from localcloud.machine import MachineState, run_in
from model import paths

VALID_DAYS = 90
"""As long as Let's Encrypt's."""
TRUSTED_DIR = "trusted"
TRUSTED_BUNDLE = "trusted.pem"


def fqdn(zone: str, record: str) -> str:
    """The name a DigitalOcean A record stands for: `@` is the zone itself."""
    return zone if record in ("", "@") else f"{record}.{zone}"


def self_signed(name: str) -> tuple[bytes, bytes]:
    """(certificate chain, private key) in PEM, for `name`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), private


def issue(machine: MachineState, name: str) -> bytes:
    """Put a certificate for `name` where certbot keeps it, unless one is there already; its chain, in PEM."""
    live = f"{paths.LETSENCRYPT_LIVE}/{name}"
    kept = run_in(machine, ["cat", f"{live}/fullchain.pem"], check=False)
    if kept.returncode == 0 and kept.stdout.strip():
        return kept.stdout
    chain, key = self_signed(name)
    run_in(machine, ["install", "-d", "-m", "0755", live])
    run_in(machine, ["sh", "-c", f"umask 077 && cat > {live}/privkey.pem"], input_bytes=key)
    run_in(machine, ["sh", "-c", f"cat > {live}/fullchain.pem"], input_bytes=chain)
    return chain


def trust(stack_dir: Path, name: str, chain: bytes) -> None:
    """Keep `name`'s certificate among those the stack's deployer trusts, as a real one trusts Let's Encrypt's."""
    directory = stack_dir / TRUSTED_DIR
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.pem").write_bytes(chain)
    (stack_dir / TRUSTED_BUNDLE).write_bytes(b"".join(p.read_bytes() for p in sorted(directory.glob("*.pem"))))


def trusted_bundle(stack_dir: Path) -> Path | None:
    """The file of every certificate the stack's deployer trusts, if it has any."""
    bundle = stack_dir / TRUSTED_BUNDLE
    return bundle if bundle.is_file() else None
