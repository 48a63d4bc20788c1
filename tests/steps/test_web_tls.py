"""web-tls.sh installs certbot itself, on the web nodes that serve HTTPS, and only when it is missing.

nginx, the service manager, certbot and apt-get are stand-ins on PATH or in
the script's environment: what is checked is which of them the step calls.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from render import steps
from tests.support.services import run_env

DOMAIN = "www.example.com"


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    live = tmp_path / "live"
    certbot = bin_dir / "certbot-stub"
    # The certbot stand-in puts a certificate where certbot keeps it; the apt-get one installs that stand-in.
    certbot_text = f"#!/bin/sh\necho certbot \"$@\" >>{calls}\nmkdir -p {live}/{DOMAIN}\n" \
        f"echo cert >{live}/{DOMAIN}/fullchain.pem\necho key >{live}/{DOMAIN}/privkey.pem\n"
    apt = tmp_path / "apt-get"
    apt.write_text(
        f"#!/bin/sh\necho apt-get \"$@\" >>{calls}\n"
        f"[ \"$1\" = install ] || exit 0\ncat >{certbot} <<'STUB'\n{certbot_text}STUB\nchmod 0755 {certbot}\n"
    )
    for name, text in (("nginx", "#!/bin/sh\nexit 0\n"), ("service-ctl", f"#!/bin/sh\necho service-ctl \"$@\" >>{calls}\n")):
        (bin_dir / name).write_text(text)
    for stub in (apt, *bin_dir.iterdir()):
        stub.chmod(0o755)
    return {
        "script": steps.write_all(tmp_path)["web-tls.sh"], "bin": bin_dir, "calls": calls, "live": live,
        "certbot": certbot, "apt": apt, "tls": tmp_path / "tls.conf", "port80": tmp_path / "port80.conf",
        "webroot": tmp_path / "acme",
    }


def _run(site: dict[str, Path], **extra: str) -> subprocess.CompletedProcess[str]:
    env = run_env({
        "PATH": f"{site['bin']}:/usr/bin:/bin", "CERTBOT": str(site["certbot"]), "APT_GET": str(site["apt"]),
        "SERVICE_CTL": str(site["bin"] / "service-ctl"), "NGINX_TLS_FILE": str(site["tls"]),
        "NGINX_PORT80_FILE": str(site["port80"]), "ACME_WEBROOT": str(site["webroot"]),
        "LETSENCRYPT_LIVE": str(site["live"]), **extra,
    })
    result = subprocess.run(["bash", str(site["script"])], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _calls(site: dict[str, Path]) -> list[str]:
    return site["calls"].read_text().splitlines() if site["calls"].exists() else []


def test_a_node_without_certbot_installs_it_then_asks_for_its_certificate(site: dict[str, Path]) -> None:
    result = _run(site, DOMAIN=DOMAIN)
    calls = _calls(site)
    assert calls[0] == "apt-get install -y -q certbot"
    assert any(c.startswith("certbot certonly ") and f"--domain {DOMAIN}" in c for c in calls)
    assert "installed certbot" in result.stdout
    assert f"server_name {DOMAIN}" in site["tls"].read_text()


def test_certbot_in_place_is_not_installed_again(site: dict[str, Path]) -> None:
    _run(site, DOMAIN=DOMAIN)
    site["calls"].unlink()
    result = _run(site, DOMAIN=DOMAIN)
    assert not any(c.startswith("apt-get") for c in _calls(site))
    assert "installed certbot" not in result.stdout and "already in" in result.stdout


def test_turning_https_off_installs_nothing(site: dict[str, Path]) -> None:
    _run(site, DISABLE="1")
    assert not any(c.startswith("apt-get") for c in _calls(site))
    assert not site["certbot"].exists()
