"""User-data holds only what a node can know alone, and each role's fragment does its job."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from model import paths
from model.config import SiteConfig
from model.project import ROOT
from model.topology import Node, Topology
from render.userdata import (
    AUTO_UPGRADES_FILE,
    MEMCACHED_DROPIN,
    NGINX_SITE_FILE,
    NGINX_STOCK_SITE,
    PG_HBA_STAGED,
    PG_TUNING_STAGED,
    POSTGRES_DROPIN,
    REBOOT_SLOT_SCRIPT,
    SSHD_DROPIN,
    STATIC_ACCESS_LOG,
    SYSTEMD_UNIT_DIR,
    FragmentConflict,
    merge_fragments,
    render_user_data,
    rendered_files,
    user_data,
)
from sim.keys import new_deploy_key

Build = Callable[..., Topology]
TEMPLATE_ROOT = ROOT / "cloud-init"
SECRET_WORDS = re.compile(r"password|secret|private|token|credential", re.IGNORECASE)
APP_UNIT_PATH = f"{SYSTEMD_UNIT_DIR}/{paths.APP_UNIT}"
NODE_ENV_UNIT_PATH = f"{SYSTEMD_UNIT_DIR}/{paths.NODE_ENV_UNIT}"
ALL_ROLES = ("web", "app", "cache", "db")
LOOPBACK, PRIVATE = "loopback", "private"


class Group(NamedTuple):
    """What a node of a group of RENDER_LAYOUTS must get, worked out by hand from the README and model/sizing.py's rules."""

    roles: tuple[str, ...]
    binds: dict[str, str]
    """Where each consumed role listens: loopback only when its one consumer is on the same lone node."""
    workers: int
    memcached_mb: int
    shared_buffers_mb: int
    effective_cache_mb: int
    swap_mb: int


# Memory left for the roles: size - (192 + size/16), shared by weight (web 1, app 4, cache 2, db 3), rounded down.
# 2048 MB leaves 1728; 1024 leaves 768; 512 leaves 288; 4096 leaves 3648; 8192 leaves 7488.
# Workers: min(2 x vCPUs + 1, app share / 100 MB). Postgres: shared_buffers 1/4, effective_cache_size 3/4 of the db share.
# Swap below 2048 MB: the larger of 1024 MB and the memory.
EXPECTED: dict[str, dict[str, Group]] = {
    "onebox": {
        # s-1vcpu-2gb, all four roles: 1728 x 1/10, 4/10, 2/10, 3/10 = 172, 691, 345, 518.
        "box": Group(ALL_ROLES, {"app": LOOPBACK, "cache": LOOPBACK, "db": LOOPBACK}, 3, 345, 129, 388, 0),
    },
    "dbsplit": {
        # s-1vcpu-2gb, web+app+cache: 1728 x 1/7, 4/7, 2/7 = 246, 987, 493.
        "box": Group(("web", "app", "cache"), {"app": LOOPBACK, "cache": LOOPBACK}, 3, 493, 0, 0, 0),
        "db": Group(("db",), {"db": PRIVATE}, 0, 0, 432, 1296, 0),
    },
    "split": {
        "web": Group(("web",), {}, 0, 0, 0, 0, 1024),
        "app": Group(("app",), {"app": PRIVATE}, 3, 0, 0, 0, 0),
        "cache": Group(("cache",), {"cache": PRIVATE}, 0, 768, 0, 0, 1024),
        "db": Group(("db",), {"db": PRIVATE}, 0, 0, 432, 1296, 0),
    },
    "pool": {
        "web": Group(("web",), {}, 0, 0, 0, 0, 1024),
        # s-2vcpu-4gb: 3648 MB for the app, so the CPU bound (5) decides.
        "app": Group(("app",), {"app": PRIVATE}, 5, 0, 0, 0, 0),
        # s-1vcpu-512mb-10gb: 288 MB for memcached, and 1024 MB of swap, twice the memory.
        "cache": Group(("cache",), {"cache": PRIVATE}, 0, 288, 0, 0, 1024),
        # s-4vcpu-8gb: 7488 MB for Postgres.
        "db": Group(("db",), {"db": PRIVATE}, 0, 0, 1872, 5616, 0),
    },
    "custom": {
        # s-2vcpu-2gb, web+app: 1728 x 4/5 = 1382 for the app; CPU bound 5.
        "front": Group(("web", "app"), {"app": PRIVATE}, 5, 0, 0, 0, 0),
        # s-2vcpu-4gb, cache+db: 3648 x 2/5, 3/5 = 1459, 2188.
        "back": Group(("cache", "db"), {"cache": PRIVATE, "db": PRIVATE}, 0, 1459, 547, 1641, 0),
    },
}
"""Per layout of RENDER_LAYOUTS and per group."""

BASE_FILES = {
    SSHD_DROPIN: "sshd-hardening.conf.j2",
    AUTO_UPGRADES_FILE: "auto-upgrades.conf.j2",
    paths.NODE_ENV_SCRIPT: "node-env.sh.j2",
    NODE_ENV_UNIT_PATH: "node-env.service.j2",
    REBOOT_SLOT_SCRIPT: "reboot-slot.sh.j2",
}
ROLE_FILES: dict[str, dict[str, str]] = {
    "web": {
        NGINX_SITE_FILE: "nginx-site.conf.j2",
        paths.NGINX_UPSTREAM_FILE: "nginx-upstream.conf.j2",
        paths.NGINX_SERVER_FILE: "nginx-server.conf.j2",
        paths.NGINX_PORT80_FILE: "nginx-port80.conf.j2",
        NGINX_STOCK_SITE: "nginx-stock-site.conf.j2",
    },
    "app": {APP_UNIT_PATH: "app.service.j2"},
    "cache": {MEMCACHED_DROPIN: "memcached-dropin.conf.j2"},
    "db": {
        "/etc/postgresql-common/createcluster.conf": "createcluster.conf.j2",
        PG_TUNING_STAGED: "postgresql-tuning.conf.j2",
        PG_HBA_STAGED: "pg_hba.conf.j2",
        POSTGRES_DROPIN: "postgresql-dropin.conf.j2",
        paths.PGDATA_SCRIPT: "pgdata.sh.j2",
        f"{SYSTEMD_UNIT_DIR}/{paths.PGDATA_UNIT}": "pgdata.service.j2",
    },
}
"""The files each role writes on its nodes, and the template each comes from; every node also writes BASE_FILES."""
UNIT_OF_BOUND_ROLE = {"app": paths.APP_UNIT, "cache": "memcached.service", "db": paths.PGDATA_UNIT}


def _grown(layout: str) -> dict[str, object]:
    """The same layout with every group that may grow grown."""
    if layout == "custom":
        return {"nodes": {
            "front": {"roles": ["web", "app"], "count": 5, "size": "s-2vcpu-2gb"},
            "back": {"roles": ["cache", "db"], "count": 1, "size": "s-2vcpu-4gb"},
        }}
    if layout == "split":
        return {"tiers": {"app": {"count": 4}, "web": {"count": 1}, "cache": {"count": 1}}}
    if layout == "pool":
        return {"tiers": {
            "web": {"count": 4},
            "app": {"count": 6, "size": "s-2vcpu-4gb"},
            "cache": {"count": 3, "size": "s-1vcpu-512mb-10gb"},
            "db": {"size": "s-4vcpu-8gb"},
        }}
    return {}


def _by_group(topology: Topology) -> dict[str, str]:
    return {n.group: render_user_data(n, topology) for n in topology.nodes}


def _node(topology: Topology, role: str) -> Node:
    return topology.nodes_with(role)[0]


def test_document_is_cloud_config(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes:
        text = render_user_data(node, topology)
        assert text.startswith("#cloud-config\n")
        assert yaml.safe_load(text) == user_data(node, topology)


def test_document_reads_like_the_files_it_writes(render_layout: str, render_topology: Build) -> None:
    """Each file's content is a literal block and each command one line, as a person would write them."""
    topology = render_topology(render_layout)
    for node in topology.nodes:
        text = render_user_data(node, topology)
        assert text.count("  content: |") == len(rendered_files(node, topology)), node.name
        assert "\n- [systemctl, daemon-reload]\n" in text, node.name
        assert text.index("users:") < text.index("write_files:") < text.index("runcmd:"), node.name


def test_deterministic(render_layout: str, render_topology: Build) -> None:
    first = [render_user_data(n, t) for t in [render_topology(render_layout)] for n in t.nodes]
    second = [render_user_data(n, t) for t in [render_topology(render_layout)] for n in t.nodes]
    assert first == second


def test_nodes_of_a_group_get_identical_user_data(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    by_group = _by_group(topology)
    for node in topology.nodes:
        assert render_user_data(node, topology) == by_group[node.group]
        assert render_user_data(replace(node, index=node.index + 40), topology) == by_group[node.group]


def test_growing_groups_changes_no_user_data(render_layout: str, render_topology: Build) -> None:
    before = render_topology(render_layout)
    after = render_topology(render_layout, **_grown(render_layout))
    assert len(after.nodes) >= len(before.nodes)
    if render_layout not in ("onebox", "dbsplit"):
        assert len(after.nodes) > len(before.nodes)
    assert _by_group(after) == _by_group(before)


def test_render_takes_no_secret(render_topology: Build) -> None:
    assert list(inspect.signature(render_user_data).parameters) == ["node", "topology"]
    for cls in (Node, Topology, SiteConfig):
        for field in dataclasses.fields(cls):
            assert not SECRET_WORDS.search(field.name), f"{cls.__name__}.{field.name} looks like a secret"


def test_a_config_given_secrets_keeps_none_of_them(render_layout: str, render_topology: Build) -> None:
    canaries = {"dbPassword": "canary-db-7f3a9c2e", "secretKey": "canary-key-7f3a9c2e", "sshPrivateKey": "canary-private-7f3a9c2e"}
    topology = render_topology(render_layout, **canaries)
    seen = repr(topology) + "".join(render_user_data(node, topology) for node in topology.nodes)
    for canary in canaries.values():
        assert canary not in seen


def test_groups_carry_the_roles_their_layout_names(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    assert {n.group: n.roles for n in topology.nodes} == {g: e.roles for g, e in EXPECTED[render_layout].items()}


def test_only_node_local_facts(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout, stack="zq-stack")
    other_names = {n.name for n in topology.nodes}
    for node in topology.nodes:
        text = render_user_data(node, topology)
        assert not any(re.search(rf"\b{re.escape(name)}\b", text) for name in other_names)
        assert topology.config.stack not in text.replace(topology.volume_name, "")


def test_vpc_cidr_is_used_where_the_node_binds_private(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout, vpcCidr="10.42.0.0/20")
    for node in topology.nodes:
        files = rendered_files(node, topology)
        assert "10.42.0.0/20" in files[NODE_ENV_UNIT_PATH]
    db = EXPECTED[render_layout][topology.db_node.group]
    assert ("10.42.0.0/20" in rendered_files(topology.db_node, topology)[PG_HBA_STAGED]) == (db.binds["db"] == PRIVATE)


def test_base_admin_user_and_ssh(render_layout: str, render_topology: Build, render_ssh_key: str) -> None:
    second_key = new_deploy_key()[1] + " other@example.test"
    topology = render_topology(render_layout, sshPublicKeys=[render_ssh_key, second_key])
    for node in topology.nodes:
        doc = user_data(node, topology)
        expected = EXPECTED[render_layout][node.group]
        assert set(doc) == {
            "package_update", "manage_etc_hosts", "packages", "disable_root", "ssh_pwauth", "users", "write_files", "runcmd",
        } | ({"swap"} if expected.swap_mb else set()) | ({"groups"} if {"app", "web"} & set(expected.roles) else set()), node.name
        admin = [u for u in doc["users"] if u["name"] == paths.ADMIN_USER]
        assert len(admin) == 1
        assert admin[0]["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
        assert admin[0]["ssh_authorized_keys"] == [render_ssh_key, second_key]
        assert admin[0]["lock_passwd"] is True
        assert doc["ssh_pwauth"] is False and doc["disable_root"] is True
        assert doc["manage_etc_hosts"] is True
        assert doc["package_update"] is True
        assert {"unattended-upgrades", "systemd-timesyncd"} <= set(doc["packages"])
        assert len(doc["packages"]) == len(set(doc["packages"]))
        files = rendered_files(node, topology)
        sshd = files[SSHD_DROPIN].splitlines()
        assert "PermitRootLogin no" in sshd and "PasswordAuthentication no" in sshd
        assert 'APT::Periodic::Unattended-Upgrade "1";' in files[AUTO_UPGRADES_FILE]
        assert doc["runcmd"][0] == "set -eu"
        assert ["systemctl", "enable", "--now", paths.NODE_ENV_UNIT] in doc["runcmd"]


def test_node_env_unit_runs_script_before_private_services(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes:
        files = rendered_files(node, topology)
        unit = files[NODE_ENV_UNIT_PATH]
        assert f"ExecStart={paths.NODE_ENV_SCRIPT} {topology.config.vpc_cidr}" in unit.splitlines()
        assert "ip -o -4 addr show to \"$cidr\"" in files[paths.NODE_ENV_SCRIPT]
        assert paths.NODE_ENV_FILE in files[paths.NODE_ENV_SCRIPT]
        before = {unit for line in unit.splitlines() if line.startswith("Before=") for unit in line[len("Before="):].split()}
        private = EXPECTED[render_layout][node.group].binds
        assert before == {UNIT_OF_BOUND_ROLE[role] for role, bind in private.items() if bind == PRIVATE}, node.name


def test_swap_follows_the_droplet_size(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes:
        doc = user_data(node, topology)
        swap_mb = EXPECTED[render_layout][node.group].swap_mb
        if swap_mb:
            assert doc["swap"] == {"filename": "/swapfile", "size": swap_mb * 1024 * 1024, "maxsize": swap_mb * 1024 * 1024}
        else:
            assert "swap" not in doc, node.name


def test_web_files_are_deferred_and_default_site_removed(render_layout: str, render_topology: Build) -> None:
    """The stock site's place is taken before the package installs (its postinst links it only where nothing is)."""
    topology = render_topology(render_layout)
    node = _node(topology, "web")
    doc = user_data(node, topology)
    nginx_entries = [e for e in doc["write_files"] if e["path"].startswith("/etc/nginx/")]
    assert {e["path"] for e in nginx_entries} == {
        NGINX_SITE_FILE, paths.NGINX_UPSTREAM_FILE, paths.NGINX_SERVER_FILE, paths.NGINX_PORT80_FILE, NGINX_STOCK_SITE,
    }
    assert NGINX_STOCK_SITE == "/etc/nginx/sites-enabled/default"
    assert all(e.get("defer") is True for e in nginx_entries if e["path"] != NGINX_STOCK_SITE)
    assert not any(e.get("defer") for e in doc["write_files"] if e["path"] not in {x["path"] for x in nginx_entries})
    stock = next(e for e in nginx_entries if e["path"] == NGINX_STOCK_SITE)
    assert "defer" not in stock and all(line.startswith("#") for line in stock["content"].splitlines())
    assert "nginx-light" in doc["packages"]
    assert ["rm", "-f", "/etc/nginx/sites-enabled/default"] in doc["runcmd"]
    files = rendered_files(node, topology)
    site, server = files[NGINX_SITE_FILE], files[paths.NGINX_SERVER_FILE]
    assert f"include {paths.NGINX_UPSTREAM_FILE};" in site
    assert "listen 80 default_server;" in site and f"include {paths.NGINX_PORT80_FILE};" in site
    assert files[paths.NGINX_PORT80_FILE].strip().endswith(f"include {paths.NGINX_SERVER_FILE};")
    assert f"alias {paths.STATIC_ROOT}/;" in server
    assert "location /media/" not in server and paths.MEDIA_ROOT not in server, "uploads live in Spaces, not on a web node"
    assert f"access_log {STATIC_ACCESS_LOG} combined buffer=64k flush=1s;" in server
    static = server[server.index("location /static/ {"):]
    static = static[: static.index("}")]
    for line in ("sendfile on;", "tcp_nopush on;", "gzip_static on;", "open_file_cache max="):
        assert line in static, line
    assert "try_files" not in static
    assert "proxy_pass http://django_app;" in server
    assert "\nserver_tokens off;\n" in site[: site.index("server {")], "no server block of the site tells its version"
    for header in ("Host $host", "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto"):
        assert f"proxy_set_header {header}" in server
    upstream = rendered_files(node, topology)[paths.NGINX_UPSTREAM_FILE]
    assert re.search(r"upstream django_app \{\s*server 127\.0\.0\.1:8000;\s*\}", upstream)


def _gunicorn_bind(unit: str) -> str:
    match = re.search(r"--bind (\S+)", unit)
    assert match, unit
    return match.group(1)


def test_app_unit_binds_where_the_layout_says(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes_with("app"):
        expected = EXPECTED[render_layout][node.group]
        unit = rendered_files(node, topology)[APP_UNIT_PATH]
        private = expected.binds["app"] == PRIVATE
        assert _gunicorn_bind(unit) == ("${PRIVATE_IP}:8000" if private else "127.0.0.1:8000")
        assert (f"EnvironmentFile={paths.NODE_ENV_FILE}" in unit) == private
        assert f"--workers {expected.workers} " in unit
        # Only the web nodes reach a private app port (cloud firewall), so nginx's forwarded headers are trusted from any peer.
        assert f"--forwarded-allow-ips {'*' if private else '127.0.0.1'} " in unit
        for line in (
            f"User={paths.APP_USER}",
            f"WorkingDirectory={paths.CURRENT_LINK}",
            f"EnvironmentFile={paths.APP_ENV_FILE}",
            f"ConditionPathExists={paths.CURRENT_LINK}",
            f"ConditionPathExists={paths.APP_ENV_FILE}",
            f"ExecStart={paths.CURRENT_LINK}/venv/bin/gunicorn \\",
            "ExecReload=/bin/kill -s HUP $MAINPID",
            "Restart=on-failure",
        ):
            assert line in unit.splitlines(), line
        assert unit.rstrip().splitlines()[-1] == "WantedBy=multi-user.target"
        assert "    ${DJANGO_WSGI}" in unit
        doc = user_data(node, topology)
        assert any(u["name"] == paths.APP_USER and u["system"] for u in doc["users"])
        assert {"python3", "python3-venv"} <= set(doc["packages"])
        assert any(paths.RELEASES_DIR in cmd for cmd in doc["runcmd"] if isinstance(cmd, list))


NEVER_RUN_AT_BOOT = {
    "python3-dev": "C headers, with no compiler on the node to use them (and ~50 recommended packages)",
    "build-essential": "a compiler no step runs",
    "certbot": "only a web node that serves HTTPS itself runs it, and web-tls.sh installs it there",
}


def test_no_node_installs_at_boot_what_it_never_runs(render_layout: str, render_topology: Build) -> None:
    """Every package a node installs at boot is paid for by every droplet before its first step can start."""
    topology = render_topology(render_layout)
    for node in topology.nodes:
        packages = set(user_data(node, topology).get("packages", []))
        for package, why in NEVER_RUN_AT_BOOT.items():
            assert package not in packages, f"{node.name} installs {package} at boot: {why}"


def _made_dirs(runcmd: list[object]) -> dict[str, tuple[str, str]]:
    """{directory: (owner, mode)} of every `install -d` the commands run."""
    made = {}
    for cmd in runcmd:
        if isinstance(cmd, list) and cmd[:2] == ["install", "-d"]:
            words, options = list(cmd[2:]), {}
            while words[0] in ("-o", "-g", "-m"):
                option, value = words.pop(0), words.pop(0)
                options[option] = value
            for path in words:
                made[path] = (options.get("-o", "root"), options["-m"])
    return made


def test_web_node_without_app_builds_releases_with_no_app_user(render_layout: str, render_topology: Build) -> None:
    """It installs each release and collects its static files: the build tooling of an app node, nothing of the app."""
    topology = render_topology(render_layout)
    for node in topology.nodes_with("web"):
        doc = user_data(node, topology)
        if "app" in node.roles:
            continue
        made = _made_dirs(doc["runcmd"])
        assert made[paths.RELEASES_DIR] == ("root", "0755")
        assert made[paths.UPLOAD_DIR] == (paths.ADMIN_USER, "0700")
        assert made[paths.BUILD_DIR] == (paths.BUILD_USER, "0700")
        assert {"python3", "python3-venv"} <= set(doc["packages"])
        assert [u["name"] for u in doc["users"]] == [paths.ADMIN_USER, paths.BUILD_USER]
        assert not any(paths.APP_UNIT in e["path"] or e["path"] == paths.APP_ENV_FILE for e in doc["write_files"])


def test_app_node_gives_the_app_user_only_its_media(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes_with("app"):
        doc = user_data(node, topology)
        made = _made_dirs(doc["runcmd"])
        assert made[paths.APP_ROOT] == made[paths.RELEASES_DIR] == ("root", "0755")
        assert made[paths.STATE_DIR] == ("root", "0700")
        assert made[paths.UPLOAD_DIR] == (paths.ADMIN_USER, "0700")
        assert made[paths.BUILD_DIR] == (paths.BUILD_USER, "0700")
        assert [path for path, (owner, _) in made.items() if owner == paths.APP_USER] == [paths.MEDIA_ROOT]
        assert paths.ACTIVATION_STATE_FILE.startswith(paths.STATE_DIR + "/")
        builder = [u for u in doc["users"] if u["name"] == paths.BUILD_USER]
        assert builder and builder[0]["system"] and builder[0]["shell"] == "/usr/sbin/nologin"
        assert paths.BUILD_USER != paths.APP_USER


def test_memcached_dropin(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes_with("cache"):
        expected = EXPECTED[render_layout][node.group]
        dropin = rendered_files(node, topology)[MEMCACHED_DROPIN]
        private = expected.binds["cache"] == PRIVATE
        exec_lines = [line for line in dropin.splitlines() if line.startswith("ExecStart=")]
        assert exec_lines[0] == "ExecStart="
        command = exec_lines[1].split()
        assert command[command.index("-m") + 1] == str(expected.memcached_mb)
        assert command[command.index("-p") + 1] == "11211"
        assert command[command.index("-l") + 1] == ("${PRIVATE_IP}" if private else "127.0.0.1")
        assert (f"EnvironmentFile={paths.NODE_ENV_FILE}" in dropin) == private


def test_db_cluster_is_kept_off_the_root_disk(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    node = topology.db_node
    doc = user_data(node, topology)
    entries = {e["path"]: e for e in doc["write_files"]}
    createcluster = entries["/etc/postgresql-common/createcluster.conf"]
    assert "defer" not in createcluster
    assert re.search(r"^create_main_cluster = false$", createcluster["content"], re.MULTILINE)
    # It replaces Debian's file: without the conf.d include the tuning and listen settings are never read.
    assert re.search(r"^add_include_dir = 'conf.d'$", createcluster["content"], re.MULTILINE)
    assert f"postgresql-{paths.PG_VERSION}" in doc["packages"]
    assert ["systemctl", "start", "--no-block", paths.PGDATA_UNIT] in doc["runcmd"]
    files = rendered_files(node, topology)
    script = files[paths.PGDATA_SCRIPT]
    assert f"readonly device=/dev/disk/by-id/scsi-0DO_Volume_{topology.volume_name}\n" in script
    assert "ext4 defaults,nofail,discard 0 2" in script
    assert "mountpoint -q" in script and "pg_createcluster" in script
    # The boot unit and db-setup both run it: the lock comes before any work.
    assert script.index("flock 9") < script.index("mount_volume\n")
    assert f"readonly data_dir={paths.PG_DATA_DIR}\n" in script
    unit = files[f"{SYSTEMD_UNIT_DIR}/{paths.PGDATA_UNIT}"]
    assert f"ExecStart={paths.PGDATA_SCRIPT}" in unit and "Restart=on-failure" in unit
    assert f"RequiresMountsFor={paths.PG_MOUNT}" in files[POSTGRES_DROPIN]


def test_db_listens_and_admits_per_bind(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    node = topology.db_node
    expected = EXPECTED[render_layout][node.group]
    files = rendered_files(node, topology)
    private = expected.binds["db"] == PRIVATE
    hba_hosts = [line.split()[3] for line in files[PG_HBA_STAGED].splitlines() if line.startswith("host")]
    assert hba_hosts == ["127.0.0.1/32", "::1/128"] + ([topology.config.vpc_cidr] if private else [])
    assert all(line.split()[-1] == "scram-sha-256" for line in files[PG_HBA_STAGED].splitlines() if line.startswith("host"))
    script = files[paths.PGDATA_SCRIPT]
    assert ('listen="127.0.0.1,$PRIVATE_IP"' in script) == private
    staged = files[PG_TUNING_STAGED]
    assert f"shared_buffers = {expected.shared_buffers_mb}MB" in staged.splitlines()
    assert f"effective_cache_size = {expected.effective_cache_mb}MB" in staged.splitlines()
    assert f"max_connections = {MAX_CONNECTIONS[render_layout]}" in staged.splitlines()


MAX_CONNECTIONS = {"onebox": 20, "dbsplit": 54, "split": 54, "pool": 100, "custom": 68}
"""The db share / 32 MB, within 20..100: onebox 518 -> 16 -> 20; 1728 -> 54; 7488 -> 234 -> 100; custom 2188 -> 68."""


def _files_of(roles: tuple[str, ...]) -> dict[str, str]:
    return {path: template for role in roles for path, template in ROLE_FILES[role].items()} | BASE_FILES


def test_roles_bring_only_their_own_pieces(render_layout: str, render_topology: Build) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes:
        files = rendered_files(node, topology)
        assert set(files) == set(_files_of(EXPECTED[render_layout][node.group].roles)), node.name
        assert all(content.strip() for content in files.values()), node.name


def test_every_template_is_used(render_layout: str, render_topology: Build) -> None:
    """Each template a layout's roles name is rendered on its nodes, and together the layouts use every one on disk."""
    topology = render_topology(render_layout)
    named = set()
    for node in topology.nodes:
        for fragment in ("base", *node.roles):
            named.update(re.findall(r"template: (\S+)", (TEMPLATE_ROOT / "roles" / f"{fragment}.yaml.j2").read_text()))
    rendered = {template for node in topology.nodes for template in _files_of(node.roles).values()}
    assert named == rendered
    every_role = {template for roles in ROLE_FILES.values() for template in roles.values()} | set(BASE_FILES.values())
    in_steps = {t for step in (ROOT / "steps").glob("*.j2") for t in re.findall(r'{% include "cloud-init/files/(\S+)"', step.read_text())}
    assert every_role | in_steps == {p.name for p in (TEMPLATE_ROOT / "files").iterdir()}
    assert {p.name for p in (TEMPLATE_ROOT / "roles").iterdir()} == {f"{r}.yaml.j2" for r in ("base", "builder", *ALL_ROLES)}


def test_merge_concatenates_lists_and_merges_maps() -> None:
    base = {"packages": ["a"], "ssh": {"x": 1}, "package_update": True}
    extra = {"packages": ["b"], "ssh": {"y": 2}, "package_update": True, "runcmd": ["c"]}
    assert merge_fragments(base, extra) == {
        "packages": ["a", "b"], "ssh": {"x": 1, "y": 2}, "package_update": True, "runcmd": ["c"],
    }
    assert base == {"packages": ["a"], "ssh": {"x": 1}, "package_update": True}


def test_merge_refuses_conflicting_scalars() -> None:
    with pytest.raises(FragmentConflict, match="package_update"):
        merge_fragments({"package_update": True}, {"package_update": False})
    with pytest.raises(FragmentConflict, match=r"swap\.size"):
        merge_fragments({"swap": {"size": 1}}, {"swap": {"size": 2}})


def test_templates_are_real_files() -> None:
    for path in Path(TEMPLATE_ROOT).rglob("*"):
        if path.is_file():
            assert path.suffix == ".j2", path


def _reboot_time(script: Path, tmp_path: Path, name: str) -> str:
    conf = tmp_path / f"{name}.conf"
    subprocess.run(["sh", str(script)], env={"NODE_NAME": name, "REBOOT_TIME_CONF": str(conf), "PATH": "/usr/bin:/bin"}, check=True)
    return re.fullmatch(r'Unattended-Upgrade::Automatic-Reboot-Time "(\d\d:\d\d)";\n', conf.read_text()).group(1)


def test_kernel_reboots_roll_one_node_of_a_group_at_a_time(render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology("pool")
    node = topology.nodes[0]
    files = rendered_files(node, topology)
    assert 'Unattended-Upgrade::Automatic-Reboot "true";' in files[AUTO_UPGRADES_FILE]
    script = tmp_path / "reboot-slot"
    script.write_text(files[REBOOT_SLOT_SCRIPT])
    times = [_reboot_time(script, tmp_path, f"web-{i}") for i in range(1, 9)]
    assert times == ["02:00", "02:30", "03:00", "03:30", "04:00", "04:30", "05:00", "05:30"]
    assert _reboot_time(script, tmp_path, "web-9") == "02:00", "past eight nodes the slots go round"
    assert _reboot_time(script, tmp_path, "box-1") == "02:00"
    runcmd = [" ".join(map(str, c)) if isinstance(c, list) else c for c in user_data(node, topology)["runcmd"]]
    assert REBOOT_SLOT_SCRIPT in runcmd


def test_two_fragments_writing_one_path_are_refused() -> None:
    from render.userdata import _fill_write_files

    entry = {"path": "/etc/x.conf", "template": "auto-upgrades.conf.j2", "permissions": "0644"}
    context = {"reboot_slot_script": "/usr/local/sbin/x"}
    assert len(_fill_write_files([entry], context)) == 1
    with pytest.raises(FragmentConflict, match="/etc/x.conf"):
        _fill_write_files([entry, {**entry}], context)
