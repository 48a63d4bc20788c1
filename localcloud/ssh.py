"""pulumi-command's remote resources played with the system ssh client.

The private key from the `connection` input goes to a 0600 file in a 0700
directory for the length of one call; secrets travel only on stdin; every
text that may be shown (errors, stderr) has the stack's secret values
masked first. Every failure before the command starts (no answer yet, a
refused key, the nologin window while a node boots) is dialled again, as the
provider retries its dial (handshake and authentication included) until
more than dialErrorLimit dials failed, pausing as it does; a connection with a hostKey refuses a host that shows
another key at once, as no new dial could change that answer. ssh writes
its own diagnostics to a log of their own (-E), so they never mix with the
command's stderr, and every failure message carries them.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

SSH_DIAL_FAILED = 255
UNLIMITED_DIAL_SECONDS = 600.0
MASK = "[secret]"
HOST_KEY_REFUSED = "Host key verification failed"
AUTHENTICATED = "Authenticated to "
"""ssh's own line (LogLevel VERBOSE) once the server took the key: from there on, the command may have started."""
SSH_LOG = "ssh.log"
DIAL_DELAY_SECONDS = 0.1
DIAL_BACKOFF = 1.5
DIAL_MAX_DELAY_SECONDS = 5.0
"""The provider's pause between dials (its retry loop's defaults): 0.1 s, growing 1.5 times, at most 5 s.
So a limit of 60 dials spans about four and a half minutes, long enough for a node booting on a busy host."""


class RemoteError(RuntimeError):
    """A remote command exited non-zero, or the host could not be reached; the text is already masked."""


@dataclass(frozen=True)
class Connection:
    host: str
    user: str
    port: int
    private_key: str = field(repr=False)
    dial_error_limit: int
    per_dial_timeout: int
    host_key: str | None = None
    """The key the host must show, as pulumi-command checks it; None accepts any (first contact)."""

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def connection_from_inputs(inputs: Mapping[str, Any]) -> Connection:
    conn = inputs["connection"]
    if not conn.get("privateKey"):
        raise RemoteError(f"connection to {conn.get('host')}: only privateKey authentication is emulated")
    return Connection(
        host=str(conn["host"]),
        user=str(conn.get("user") or "root"),
        port=int(conn.get("port") or 22),
        private_key=str(conn["privateKey"]),
        dial_error_limit=int(conn.get("dialErrorLimit") if conn.get("dialErrorLimit") is not None else 10),
        per_dial_timeout=int(conn.get("perDialTimeout") or 15),
        host_key=str(conn["hostKey"]) if conn.get("hostKey") else None,
    )


def mask(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


@contextmanager
def _client_files(conn: Connection) -> Iterator[Path]:
    """The private key, and the pinned host key as a known_hosts file, in a 0700 directory for one call."""
    with tempfile.TemporaryDirectory(prefix="localcloud-ssh-") as directory:
        _write_private(Path(directory) / "id", conn.private_key.strip() + "\n")
        if conn.host_key:
            key_type, key = conn.host_key.split()[:2]
            # known_hosts names a host on the default port plainly, and any other as [host]:port.
            name = conn.host if conn.port == 22 else f"[{conn.host}]:{conn.port}"
            _write_private(Path(directory) / "known_hosts", f"{name} {key_type} {key}\n")
        yield Path(directory)


def _ssh_argv(conn: Connection, files: Path) -> list[str]:
    if conn.host_key:
        host_keys = [
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={files / 'known_hosts'}",
            "-o", f"HostKeyAlgorithms={conn.host_key.split()[0]}",
        ]
    else:
        host_keys = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    return [
        "ssh", "-i", str(files / "id"), "-p", str(conn.port), *host_keys, "-o", "LogLevel=VERBOSE",
        "-E", str(files / SSH_LOG),
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", f"ConnectTimeout={conn.per_dial_timeout}",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
        f"{conn.user}@{conn.host}",
    ]


@dataclass(frozen=True)
class _Attempt:
    """One ssh run: the process's result and what ssh itself said (its -E log), masked."""

    proc: subprocess.CompletedProcess[bytes]
    said: str

    @property
    def before_command(self) -> bool:
        """ssh failed before the server let it in: nothing of the command ran."""
        return self.proc.returncode == SSH_DIAL_FAILED and AUTHENTICATED not in self.said

    def ssh_text(self, stderr: str = "") -> str:
        """ssh's diagnostics, without its note of success, then anything the server showed (a nologin banner)."""
        lines = [line for line in self.said.splitlines() if line.strip() and AUTHENTICATED not in line]
        return "\n".join([*lines, *([stderr.strip()] if stderr.strip() else [])]).strip()[-4000:]


def _attempt(conn: Connection, files: Path, remote_line: str, stdin: bytes, secrets: Sequence[str]) -> _Attempt:
    log = files / SSH_LOG
    log.unlink(missing_ok=True)
    proc = subprocess.run([*_ssh_argv(conn, files), remote_line], input=stdin, capture_output=True, check=False)
    said = log.read_text(errors="replace") if log.is_file() else ""
    return _Attempt(proc, mask(said, secrets))


def _ssh(conn: Connection, remote_line: str, stdin: bytes, secrets: Sequence[str]) -> tuple[str, str]:
    """Run `remote_line` on the host, dialling again while ssh fails before the command starts."""
    unlimited = conn.dial_error_limit < 0
    deadline = time.monotonic() + UNLIMITED_DIAL_SECONDS
    failures = 0
    delay = DIAL_DELAY_SECONDS
    with _client_files(conn) as files:
        while True:
            attempt = _attempt(conn, files, remote_line, stdin, secrets)
            if not attempt.before_command:
                break
            if HOST_KEY_REFUSED in attempt.said:
                raise RemoteError(
                    f"{conn.describe()}: the host shows another key than the one pinned at first contact; "
                    f"nothing was run:\n{attempt.ssh_text()}"
                )
            failures += 1
            if (not unlimited and failures > conn.dial_error_limit) or time.monotonic() > deadline:
                shown = mask(attempt.proc.stderr.decode(errors="replace"), secrets)
                raise RemoteError(
                    f"{conn.describe()}: no SSH after {failures} dials, ssh exited {attempt.proc.returncode}:\n"
                    f"{attempt.ssh_text(shown) or '(ssh said nothing)'}"
                )
            time.sleep(min(delay, DIAL_MAX_DELAY_SECONDS))
            delay *= DIAL_BACKOFF
    proc = attempt.proc
    stdout = mask(proc.stdout.decode(errors="replace"), secrets)
    stderr = mask(proc.stderr.decode(errors="replace"), secrets)
    if proc.returncode != 0:
        said = attempt.ssh_text()
        tail = f"\nssh: {said}" if said else ""
        raise RemoteError(f"{conn.describe()}: exited {proc.returncode}:\n{stderr.strip()[-4000:]}{tail}")
    return stdout.rstrip("\n"), stderr.rstrip("\n")


def run_command(
    conn: Connection,
    line: str,
    stdin: str | None,
    environment: Mapping[str, str],
    secrets: Sequence[str],
) -> tuple[str, str]:
    """One Command create/update/delete: `environment` exported first, `stdin` piped; (stdout, stderr)."""
    exports = "".join(f"export {k}={shlex.quote(str(v))}; " for k, v in sorted(environment.items()))
    return _ssh(conn, exports + line, (stdin or "").encode(), secrets)


def _archive_bytes(path: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for child in sorted(path.iterdir()):
            tar.add(child, arcname=child.name)
    return buffer.getvalue()


def copy_to_remote(conn: Connection, source: Any, remote_path: str, secrets: Sequence[str]) -> None:
    """CopyToRemote: an asset becomes the file at remote_path, an archive the directory at it."""
    target = shlex.quote(remote_path)
    if isinstance(source, pulumi.FileAsset):
        _ssh(conn, f"cat > {target}", Path(source.path).read_bytes(), secrets)
    elif isinstance(source, pulumi.StringAsset):
        _ssh(conn, f"cat > {target}", source.text.encode(), secrets)
    elif isinstance(source, pulumi.FileArchive):
        _ssh(conn, f"mkdir -p {target} && tar -x -C {target}", _archive_bytes(Path(source.path)), secrets)
    else:
        raise RemoteError(f"CopyToRemote source {type(source).__name__} is not emulated")


def interactive(conn: Connection, remote_line: str, tty: bool) -> int:
    """Run `remote_line` on the host with this terminal's stdin and stdout, a terminal there if `tty`; its exit status."""
    with _client_files(conn) as files:
        argv = _ssh_argv(conn, files)
        return subprocess.run([*argv[:-1], "-t" if tty else "-T", argv[-1], remote_line], check=False).returncode
