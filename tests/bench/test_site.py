"""The bench's bare nginx (Debian's stock nginx.conf and default site, moved to another port, root and pid file); the load's cgroups."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from bench.site import bare_config, base_url, capped_load, entry_host
from localcloud import limits
from tests.support.services import free_port, missing, require_tool, shared_tempdir, wait_for_port

DEBIAN_MAIN = Path("/etc/nginx/nginx.conf")
DEBIAN_SITE = Path("/etc/nginx/sites-available/default")


def _stock() -> tuple[str, str]:
    if not (DEBIAN_MAIN.is_file() and DEBIAN_SITE.is_file()):
        missing("the Debian nginx package's stock configuration is not installed")
    return DEBIAN_MAIN.read_text(), DEBIAN_SITE.read_text()


def test_the_stock_config_moves_and_keeps_everything_else() -> None:
    main, site = _stock()
    conf = bare_config(main, site, 8081, "/srv", "/run/bench/bare.pid")
    assert "pid /run/bench/bare.pid;" in conf and "pid /run/nginx.pid;" not in conf
    live = "\n".join(line for line in conf.splitlines() if not line.strip().startswith("#"))
    assert "listen 127.0.0.1:8081 default_server;" in live and "listen 80" not in live and "[::]:80" not in live
    assert "root /srv;" in live and "/var/www/html" not in live
    assert "sites-enabled" not in live and "conf.d/*.conf" not in live
    assert "include /etc/nginx/modules-enabled/*.conf;" in live, "the stock modules stay"
    for stock in ("sendfile on;", "tcp_nopush on;", "try_files $uri $uri/ =404;", "access_log /var/log/nginx/access.log;"):
        assert stock in conf, stock


def test_the_bare_nginx_serves_the_same_bytes(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        missing("serving as the stock config does takes root (its workers switch to www-data)")
    nginx = require_tool("nginx")
    main, site = _stock()
    root = shared_tempdir("dt-bare-")
    (root / "static" / "counter").mkdir(parents=True)
    (root / "static" / "counter" / "site.css").write_text("body { color: teal; }\n")
    port = free_port()
    conf = bare_config(main.replace("/var/log/nginx", str(tmp_path)), site, port, str(root), str(tmp_path / "bare.pid"))
    (tmp_path / "bare.conf").write_text(conf)
    checked = subprocess.run([nginx, "-t", "-q", "-c", str(tmp_path / "bare.conf"), "-e", str(tmp_path / "error.log")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen([nginx, "-c", str(tmp_path / "bare.conf"), "-e", str(tmp_path / "error.log"),
                               "-g", "daemon off;"])
    try:
        wait_for_port(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/counter/site.css", timeout=10) as response:
            assert (response.status, response.read()) == (200, b"body { color: teal; }\n")
    finally:
        server.terminate()
        server.wait(timeout=15)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize(("url", "host", "base"), [
    ("http://10.10.0.2", "10.10.0.2", "http://10.10.0.2/"),
    ("https://www.example.com/", "www.example.com", "https://www.example.com/"),
])
def test_the_entry_url(url: str, host: str, base: str) -> None:
    assert (entry_host(url), base_url(url)) == (host, base)


def _v1_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every controller a v1 hierarchy in `tmp_path`, this process in its root."""
    monkeypatch.setattr(limits, "hierarchies", lambda controllers: {c: limits.Hierarchy(c, tmp_path / c, False) for c in controllers})
    monkeypatch.setattr(limits.Hierarchy, "own", lambda self, pid="self": self.mount)


def test_wrk_and_the_slow_clients_each_get_a_cgroup_with_the_same_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _v1_host(tmp_path, monkeypatch)
    removed: list[tuple[Path, ...]] = []
    monkeypatch.setattr(limits, "remove", removed.append)
    with capped_load(8, 16, 0.5) as load:
        both = (load.wrk_cgroups, load.slow_cgroups)
        assert [len(c) for c in both] == [1, 1] and load.wrk_cgroups != load.slow_cgroups
        for (procs,) in both:
            assert procs.parent.parent == tmp_path / "cpu" / limits.PARENT
            assert (procs.parent / "cpu.cfs_quota_us").read_text() == "50000"
        assert [p.name for p in tmp_path.iterdir()] == ["cpu"], "no memory limit"
        assert not removed
    assert sorted(removed) == sorted(both)
