"""DigitalOcean Spaces, played on this host: moto's S3 server, over TLS, for the local cloud's machines only.

moto implements the S3 API that pgBackRest and django-storages speak
(SigV4, multipart uploads, listing), so backups, restores and media run
for real against it. It listens on loopback; nginx in front of it serves
HTTPS with a certificate from a CA made here once; every machine trusts that CA and finds the server by one name, as a
droplet finds `<region>.digitaloceanspaces.com`. The server belongs to the
host, not to a stack: a stack's bucket stays in it when the stack is taken
down, even with --purge, as a retained bucket stays in DigitalOcean. moto
keeps objects in its process, so they last as long as the server runs (a
host reboot ends them). Only loopback and the local cloud's bridges reach
its port.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from localcloud.host import data_dir, require_root, run, state_dir
from localcloud.network import BRIDGE_PREFIX
from render import templates

NAME = "spaces.localcloud.internal"
PORT = 9443
BACKEND_PORT = 9080
"""moto's own port, on loopback only."""
NGINX_TEMPLATE = "localcloud/templates/spaces-nginx.conf.j2"
ENDPOINT = f"{NAME}:{PORT}"
"""What the local SpacesBucket gives as its endpoint, in place of `<region>.digitaloceanspaces.com`."""
CA_PATH_IN_MACHINE = "/usr/local/share/ca-certificates/localcloud-spaces.crt"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HOSTS_TEMPLATE = "/etc/cloud/templates/hosts.debian.tmpl"
GUARD_TABLE = "localcloud-spaces"
VALID_DAYS = 3650
START_SECONDS = 30


class SpacesError(RuntimeError):
    """The S3 server did not start, or refused what the stand-in asked."""


def _dir() -> Path:
    return data_dir() / "spaces"


def _pid_file() -> Path:
    return state_dir() / "spaces.pid"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ensure_certificates() -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key), made once and kept with the local cloud's data."""
    directory = _dir()
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    if ca_path.is_file() and cert_path.is_file() and key_path.is_file():
        return ca_path, cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("django-tiers local cloud CA")).issuer_name(_name("django-tiers local cloud CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name(NAME)).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName(NAME), x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_path.write_bytes(_pem_key(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca_path, cert_path, key_path


def _nginx_pid_file() -> Path:
    return state_dir() / "spaces-nginx.pid"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _running_pid(pid_file: Path, marker: bytes) -> int | None:
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if marker in cmdline else None


def _wait(port: int, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not _answers(port):
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise SpacesError(f"{what} did not start; see {_dir()}")
        time.sleep(0.2)


def _guard() -> None:
    """The server's port answers loopback and the local cloud's bridges, nothing else."""
    rules = (
        f"table inet {GUARD_TABLE} {{\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        f'    tcp dport {PORT} iifname "lo" accept\n'
        f'    tcp dport {PORT} iifname "{BRIDGE_PREFIX}*" accept\n'
        f"    tcp dport {PORT} drop\n"
        "  }\n"
        "}\n"
    )
    if run(["nft", "list", "table", "inet", GUARD_TABLE], check=False).returncode == 0:
        run(["nft", "delete", "table", "inet", GUARD_TABLE])
    run(["nft", "-f", "-"], input_bytes=rules.encode())


def ensure_server() -> None:
    """Start moto's S3 server and its TLS front unless they run; they outlive this process and every stack."""
    require_root()
    _guard()
    ensure_certificates()
    if _running_pid(_pid_file(), b"moto") is None or not _answers(BACKEND_PORT):
        log = open(_dir() / "server.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "--host", "127.0.0.1", "--port", str(BACKEND_PORT)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            # Path-style addressing only: the host name is the server's, never a bucket's.
            env={**os.environ, "S3_IGNORE_SUBDOMAIN_BUCKETNAME": "true"},
        )
        _pid_file().parent.mkdir(parents=True, exist_ok=True)
        _pid_file().write_text(f"{proc.pid}\n")
        _wait(BACKEND_PORT, "moto's S3 server", proc)
    if _running_pid(_nginx_pid_file(), b"nginx") is None or not _answers(PORT):
        _, cert, key = ensure_certificates()
        front = _dir() / "front"
        for sub in ("client-body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (front / sub).mkdir(parents=True, exist_ok=True)
        conf = front / "nginx.conf"
        conf.write_text(templates.render(
            NGINX_TEMPLATE, pid=_nginx_pid_file(), directory=front, port=PORT, backend=BACKEND_PORT,
            certificate=cert, key=key,
        ))
        run(["nginx", "-p", str(front), "-c", str(conf), "-e", str(front / "error.log")])
        _wait(PORT, "the S3 server's TLS front")


def stop_server() -> None:
    """Stop the server and its front: every bucket in it goes too."""
    for pid_file, marker in ((_nginx_pid_file(), b"nginx"), (_pid_file(), b"moto")):
        pid = _running_pid(pid_file, marker)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        pid_file.unlink(missing_ok=True)


def client() -> Any:
    """A boto3 S3 client for the local server, checking its certificate against the local CA."""
    ca, _, _ = ensure_certificates()
    return boto3.client(
        "s3", endpoint_url=f"https://127.0.0.1:{PORT}", region_name="us-east-1", verify=str(ca),
        aws_access_key_id="localcloud", aws_secret_access_key="localcloud",
    )


def ensure_bucket(name: str) -> bool:
    """Create bucket `name` unless the server holds it; True when it was already there (a retained bucket)."""
    s3 = client()
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if name in existing:
        return True
    s3.create_bucket(Bucket=name)
    return False


def delete_bucket(name: str) -> None:
    """Empty and delete bucket `name`, as deleting it in DigitalOcean's console would; nothing when it is not there."""
    if _running_pid(_pid_file(), b"moto") is None:
        return
    s3 = client()
    if name not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        return
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)


def trust(root: Path, gateway: str) -> None:
    """Make a machine's root trust the local CA and find the server at its VPC gateway, before it boots."""
    ca, _, _ = ensure_certificates()
    pem = ca.read_bytes()
    local = root / CA_PATH_IN_MACHINE.lstrip("/")
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(pem)
    bundle = root / SYSTEM_BUNDLE.lstrip("/")
    if bundle.is_file() and pem not in bundle.read_bytes():
        bundle.write_bytes(bundle.read_bytes() + pem)
    # cloud-init writes /etc/hosts from its template at every boot (the user-data sets manage_etc_hosts).
    for hosts in (root / "etc/hosts", root / HOSTS_TEMPLATE.lstrip("/")):
        text = hosts.read_text() if hosts.is_file() else "127.0.0.1\tlocalhost\n"
        if NAME not in text:
            hosts.write_text(text.rstrip("\n") + f"\n{gateway}\t{NAME}\n")
