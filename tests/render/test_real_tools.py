"""Every rendered artifact passes the tool that reads it in production.

cloud-init schema for the user-data, nginx -t for the site (and nginx
serving it), systemd-analyze verify for units and drop-ins, shellcheck for
scripts. Each checker is also shown a broken artifact, so a checker that
silently passes everything fails.
"""

from __future__ import annotations

import gzip
import http.server
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from model import paths
from model.topology import Node, Topology
from render.userdata import (
    STATIC_ACCESS_LOG,
    SYSTEMD_UNIT_DIR,
    render_user_data,
    rendered_files,
    user_data,
)
from tests.support.services import NginxSite, free_port, missing, program_site, shared_tempdir, wait_for_port

Build = Callable[..., Topology]

TOOL_PACKAGES = {
    "cloud-init": "cloud-init",
    "nginx": "nginx-light",
    "systemd-analyze": "systemd",
    "shellcheck": "shellcheck",
}
HOST_UNIT_DIR = Path("/lib/systemd/system")
HOST_UNIT_PACKAGES = {"memcached.service": "memcached", "postgresql@.service": "postgresql-common"}
NGINX_MIME_TYPES = Path("/etc/nginx/mime.types")
TIMEOUT = 120


def need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        missing(f"{tool} (Debian package {TOOL_PACKAGES[tool]})")
    return str(found)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


# cloud-init ------------------------------------------------------------------

def cloud_init_schema(text: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    path = workdir / "user-data"
    path.write_text(text)
    return _run(need("cloud-init"), "schema", "-c", str(path))


# nginx -----------------------------------------------------------------------

def _under(root: Path, text: str) -> str:
    """Point the node's absolute nginx paths into `root`, so the check touches nothing on this machine."""
    return text.replace("/etc/nginx/", f"{root}/etc/nginx/").replace("/var/log/nginx/", f"{root}/var/log/nginx/")


def nginx_tree(files: dict[str, str], root: Path) -> Path:
    """The node's nginx files under `root`, inside an http block shaped like Debian's nginx.conf; its path."""
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_under(root, content))
    (root / "var/log/nginx").mkdir(parents=True, exist_ok=True)
    mime = f"include {NGINX_MIME_TYPES};" if NGINX_MIME_TYPES.exists() else ""
    # Debian's nginx.conf turns gzip on in http{}: the site must not repeat it at that level.
    (root / "nginx.conf").write_text(
        f"pid {root}/nginx.pid;\n"
        f"error_log {root}/error.log;\n"
        "events {}\n"
        "http {\n"
        f"    {mime}\n"
        f"    access_log {root}/access.log;\n"
        "    gzip on;\n"
        f"    include {root}/etc/nginx/conf.d/*.conf;\n"
        "}\n"
    )
    return root / "nginx.conf"


def nginx_test(files: dict[str, str], root: Path) -> subprocess.CompletedProcess[str]:
    """nginx -t on the tree nginx_tree writes."""
    nginx = need("nginx")
    config = nginx_tree(files, root)
    return _run(nginx, "-t", "-q", "-p", str(root), "-c", str(config), "-e", str(root / "error.log"))


class _App(http.server.BaseHTTPRequestHandler):
    """Stands in for gunicorn behind nginx: answers every path, and remembers in `asked` which it was asked."""

    asked: list[str]

    def do_GET(self) -> None:
        self.asked.append(self.path)
        body = b"from the app\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads `asked`."""


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# systemd ---------------------------------------------------------------------

_EXEC = re.compile(r"^Exec\w+=[-@:+!|]*(/\S+)", re.MULTILINE)


def _units_to_verify(paths: list[str]) -> list[str]:
    """Unit files name themselves; a drop-in directory X.d names the unit X it changes."""
    units = []
    for path in paths:
        parent = Path(path).parent
        if str(parent) == SYSTEMD_UNIT_DIR:
            units.append(Path(path).name)
        elif parent.name.endswith(".d") and str(parent.parent) == SYSTEMD_UNIT_DIR:
            units.append(parent.name[: -len(".d")])
    return sorted(set(units))


def _host_unit_for(unit: str) -> str:
    """The packaged unit file a drop-in extends: `postgresql@15-main.service` is `postgresql@.service`."""
    name, _, kind = unit.rpartition(".")
    return f"{name.split('@')[0]}@.{kind}" if "@" in name else unit


def systemd_verify(files: dict[str, str], modes: dict[str, int], root: Path) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
    """systemd-analyze verify each unit the node writes, in a root holding this machine's units.

    Executables the units start are stubbed in the root when missing, since
    verify refuses a unit whose ExecStart binary does not exist.
    """
    analyze = need("systemd-analyze")
    if not (HOST_UNIT_DIR / "sysinit.target").exists():
        missing(f"systemd's own units in {HOST_UNIT_DIR}")
    shutil.copytree(HOST_UNIT_DIR, root / "lib/systemd/system", symlinks=True)
    unit_paths = [p for p in files if p.startswith(SYSTEMD_UNIT_DIR + "/")]
    units = _units_to_verify(unit_paths)
    texts = [files[p] for p in unit_paths]
    for unit in units:
        if not any(Path(p).name == unit for p in unit_paths):
            packaged = HOST_UNIT_DIR / _host_unit_for(unit)
            if not packaged.exists():
                missing(f"{packaged} (Debian package {HOST_UNIT_PACKAGES.get(packaged.name, 'unknown')})")
            texts.append(packaged.read_text())
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(modes[path])
    for text in texts:
        for binary in _EXEC.findall(text.replace("\\\n", " ")):
            stub = root / binary.lstrip("/")
            if not stub.exists():
                stub.parent.mkdir(parents=True, exist_ok=True)
                stub.write_text("#!/bin/sh\nexit 0\n")
                stub.chmod(0o755)
    return [(unit, _run(analyze, "verify", f"--root={root}", unit)) for unit in units]


# shell -----------------------------------------------------------------------

def shellcheck(text: str, workdir: Path, name: str) -> subprocess.CompletedProcess[str]:
    path = workdir / name
    path.write_text(text)
    return _run(need("shellcheck"), "--norc", str(path))


def _scripts(files: dict[str, str]) -> dict[str, str]:
    return {p: c for p, c in files.items() if c.startswith(("#!/bin/sh\n", "#!/bin/bash\n"))}


def _modes(node: Node, topology: Topology) -> dict[str, int]:
    return {e["path"]: int(e["permissions"], 8) for e in user_data(node, topology)["write_files"]}


# the checks ------------------------------------------------------------------

def test_user_data_passes_cloud_init_schema(render_layout: str, render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes:
        result = cloud_init_schema(render_user_data(node, topology), tmp_path)
        assert result.returncode == 0, f"{node.name}: {result.stdout}{result.stderr}"


def test_nginx_config_passes_nginx_t(render_layout: str, render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology(render_layout)
    web_nodes = topology.nodes_with("web")
    assert web_nodes
    for node in web_nodes:
        nginx_files = {p: c for p, c in rendered_files(node, topology).items() if p.startswith("/etc/nginx/")}
        result = nginx_test(nginx_files, tmp_path / node.name)
        assert result.returncode == 0, f"{node.name}: {result.stderr}"


def test_nginx_serves_static_from_disk_and_proxies_the_rest(render_topology: Build) -> None:
    """The program's site under real nginx: /static/ from the disk, never the app; everything else to the app."""
    need("nginx")
    topology = render_topology("onebox")
    root = shared_tempdir("dt-nginx-")  # nginx's workers run as nobody: they must reach the files
    handler = type("App", (_App,), {"asked": []})
    app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    web_port = free_port()
    (root / "static" / "counter").mkdir(parents=True)
    (root / "static" / "counter" / "site.css").write_text("body { color: teal; }\n")
    precompressed = gzip.compress(b"body { color: teal; }\n", mtime=0)
    (root / "static" / "counter" / "site.css.gz").write_bytes(precompressed)
    upstream = rendered_files(topology.nodes_with("web")[0], topology)[paths.NGINX_UPSTREAM_FILE]
    (root / "upstream.conf").write_text(upstream.replace("127.0.0.1:8000", f"127.0.0.1:{app.server_address[1]}"))
    nginx = _program_nginx(topology, root, web_port)
    try:
        nginx.start()
        wait_for_port(web_port)
        status, headers, body = _get(web_port, "/static/counter/site.css")
        assert (status, body) == (200, b"body { color: teal; }\n")
        assert headers["Content-Type"] == "text/css" and headers["Cache-Control"] == "max-age=600"
        assert _get(web_port, "/static/counter/missing.css")[0] == 404
        status, headers, body = _get(web_port, "/static/counter/site.css", {"Accept-Encoding": "gzip"})
        assert (status, headers.get("Content-Encoding"), body) == (200, "gzip", precompressed), "gzip_static sends the .gz as it is"
        assert _get(web_port, "/counter/")[2] == b"from the app\n"
        assert handler.asked == ["/counter/"]
    finally:
        nginx.stop()
        app.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def _program_nginx(topology: Topology, root: Path, port: int) -> NginxSite:
    """The program's nginx site on loopback `port`, with its upstream, static files and log under `root`."""
    return NginxSite.serving(root, program_site(topology, {
        f"include {paths.NGINX_UPSTREAM_FILE};": f"include {root}/upstream.conf;",
        f"alias {paths.STATIC_ROOT}/;": f"alias {root}/static/;",
        STATIC_ACCESS_LOG: f"{root}/static.log",
        "listen 80 default_server;": f"listen 127.0.0.1:{port} default_server;",
        "listen [::]:80 default_server;": "",
    }))


class _BrokenApp(_App):
    """An app node on a release whose pages fail: every GET answers 500."""

    def do_GET(self) -> None:
        self.asked.append(self.path)
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_nginx_passes_a_failing_app_node_over_for_another(render_topology: Build) -> None:
    """While a node's smoke check finds its new release failing, visitors get the other node's page."""
    need("nginx")
    topology = render_topology("onebox")
    root = shared_tempdir("dt-nginx-")
    good = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("App", (_App,), {"asked": []}))
    broken_handler = type("Broken", (_BrokenApp,), {"asked": []})
    broken = http.server.ThreadingHTTPServer(("127.0.0.1", 0), broken_handler)
    for server in (good, broken):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    web_port = free_port()
    (root / "upstream.conf").write_text(
        "upstream django_app {\n"
        + "".join(f"    server 127.0.0.1:{s.server_address[1]};\n" for s in (broken, good))
        + "}\n"
    )
    nginx = _program_nginx(topology, root, web_port)
    try:
        nginx.start()
        wait_for_port(web_port)
        answers = [_get(web_port, f"/page/{i}")[0] for i in range(10)]
        assert answers == [200] * 10
        assert broken_handler.asked, "nginx never asked the failing node: the test shows nothing"
    finally:
        nginx.stop()
        good.shutdown()
        broken.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def test_systemd_units_verify_cleanly(render_layout: str, render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes:
        results = systemd_verify(rendered_files(node, topology), _modes(node, topology), tmp_path / node.name)
        assert results
        for unit, result in results:
            assert (result.returncode, result.stderr) == (0, ""), f"{node.name} {unit}: {result.stderr}"


def test_shell_scripts_pass_shellcheck(render_layout: str, render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes:
        scripts = _scripts(rendered_files(node, topology))
        assert scripts
        for path, text in scripts.items():
            result = shellcheck(text, tmp_path, f"{node.name}-{Path(path).name}")
            assert result.returncode == 0, f"{node.name} {path}:\n{result.stdout}"


# the checkers catch what they should -------------------------------------------

def test_cloud_init_schema_rejects_bad_permissions(tmp_path: Path) -> None:
    bad = "#cloud-config\nwrite_files:\n  - path: /etc/x\n    content: x\n    permissions: 644\n"
    assert cloud_init_schema(bad, tmp_path).returncode != 0


def test_nginx_t_rejects_a_typo(render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology("onebox")
    files = {p: c for p, c in rendered_files(topology.nodes[0], topology).items() if p.startswith("/etc/nginx/")}
    broken = {p: c.replace("proxy_pass ", "proxy_passs ") for p, c in files.items()}
    assert broken != files
    assert nginx_test(broken, tmp_path).returncode != 0


def test_nginx_t_rejects_gzip_repeated_at_http_level(render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology("onebox")
    files = {p: c for p, c in rendered_files(topology.nodes[0], topology).items() if p.startswith("/etc/nginx/")}
    broken = {p: ("gzip on;\n" + c if p.endswith("conf.d/django-tiers.conf") else c) for p, c in files.items()}
    assert nginx_test(broken, tmp_path).returncode != 0


def test_systemd_verify_reports_a_misspelled_key(render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology("onebox")
    node = topology.nodes[0]
    files = {p: c.replace("Restart=on-failure", "Restrat=on-failure") for p, c in rendered_files(node, topology).items()}
    results = dict(systemd_verify(files, _modes(node, topology), tmp_path))
    assert "Restrat" in results["django-tiers-app.service"].stderr


def test_shellcheck_rejects_unquoted_expansion(tmp_path: Path) -> None:
    assert shellcheck("#!/bin/sh\nrm -rf $1/data\n", tmp_path, "bad.sh").returncode != 0
