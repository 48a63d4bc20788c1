"""The HTTPS a web node serves itself, as web-tls.sh writes it: nginx accepts it, gixy finds nothing, HTTP redirects."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from localcloud.certificate import self_signed
from model import paths
from model.topology import Topology
from render import steps
from render.templates import render
from render.userdata import rendered_files
from tests.render.test_audit import gixy
from tests.render.test_real_tools import nginx_test

DOMAIN = "www.example.com"
LIVE = f"{paths.LETSENCRYPT_LIVE}/{DOMAIN}"


def _as_the_step_writes(template: str) -> str:
    """A heredoc of web-tls.sh with the domain put in, as its sed does."""
    return render(f"cloud-init/files/{template}", paths=paths).replace("__DOMAIN__", DOMAIN)


def _tls_node_files(render_topology: Callable[..., Topology], root: Path) -> dict[str, str]:
    topology = render_topology("onebox", domain=DOMAIN)
    files = {p: c for p, c in rendered_files(topology.nodes[0], topology).items() if p.startswith("/etc/nginx/")}
    files[paths.NGINX_TLS_FILE] = _as_the_step_writes("nginx-tls.conf.j2")
    files[paths.NGINX_PORT80_FILE] = _as_the_step_writes("nginx-port80-redirect.conf.j2")
    chain, key = self_signed(DOMAIN)
    live = root / LIVE.lstrip("/")
    live.mkdir(parents=True)
    (live / "fullchain.pem").write_bytes(chain)
    (live / "privkey.pem").write_bytes(key)
    return {p: c.replace(paths.LETSENCRYPT_LIVE, f"{root}{paths.LETSENCRYPT_LIVE}") for p, c in files.items()}


def test_the_step_carries_exactly_these_templates() -> None:
    script = steps.render("web-tls.sh")
    for template in ("nginx-tls.conf.j2", "nginx-port80-redirect.conf.j2", "nginx-port80.conf.j2"):
        assert render(f"cloud-init/files/{template}", paths=paths).strip() in script, template


def test_nginx_accepts_the_https_site(render_topology, tmp_path: Path) -> None:
    result = nginx_test(_tls_node_files(render_topology, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr


def test_nginx_refuses_it_without_a_certificate(render_topology, tmp_path: Path) -> None:
    files = _tls_node_files(render_topology, tmp_path)
    (tmp_path / LIVE.lstrip("/") / "fullchain.pem").unlink()
    assert nginx_test(files, tmp_path).returncode != 0


def test_gixy_finds_nothing_in_the_https_site(render_topology, tmp_path: Path) -> None:
    found = gixy(_tls_node_files(render_topology, tmp_path), tmp_path)
    assert found == [], "; ".join(f"[{f['plugin']}] {f['reason']}" for f in found)


def test_plain_http_sends_everything_to_the_site_s_own_name_but_acme_challenges() -> None:
    redirect = _as_the_step_writes("nginx-port80-redirect.conf.j2")
    assert re.search(rf"return 301 https://{re.escape(DOMAIN)}\$request_uri;", redirect)
    assert "$host" not in redirect, "a redirect to whatever Host a request names would send visitors anywhere"
    tls = _as_the_step_writes("nginx-tls.conf.j2")
    assert "listen 443 ssl" in tls and f"server_name {DOMAIN};" in tls
    assert f"include {paths.NGINX_SERVER_FILE};" in tls
