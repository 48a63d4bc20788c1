"""The local cloud's decisions that need no root: names, addresses, digests, rendered files."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from dataclasses import replace
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

import pytest
import yaml

from localcloud import image as image_module
from localcloud.host import ROOT_MESSAGE, NeedsRoot, mounts_under, require_root
from localcloud.image import (
    APT_MOUNT,
    IMAGE_TEMPLATES,
    WHEELHOUSE_MOUNT,
    Image,
    ImageRecipe,
    _render,
    ensure_image,
)
from localcloud.machine import Bind, MachineSpec, start
from localcloud.network import Network, _guard_rules, create_network, veth_name
from tests.support.services import missing

IFNAMSIZ = 15
NET = Network("stack", IPv4Network("10.20.30.0/24"))
IMAGE = Image("abc", Path("/img/rootfs"), Path("/img/apt"), 1.0, ("memcached",))


def _tool_or_skip(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        missing(f"{tool} not installed")
    return found


def test_non_root_gets_one_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NeedsRoot, match="^the local cloud needs root .* run with sudo$"):
        require_root()
    spec = MachineSpec("m-1", NET, NET.address(2), b"#cloud-config\n", IMAGE)
    for call in (lambda: ensure_image(cache=tmp_path), lambda: create_network(NET), lambda: start(spec)):
        with pytest.raises(NeedsRoot) as raised:
            call()
        assert str(raised.value) == ROOT_MESSAGE
    assert list(tmp_path.iterdir()) == [], "nothing may be touched before the root check"


def test_gateway_is_the_first_host_address() -> None:
    assert NET.gateway == IPv4Interface("10.20.30.1/24")
    assert NET.address(7) == IPv4Interface("10.20.30.7/24")
    with pytest.raises(ValueError):
        NET.address(255)
    with pytest.raises(ValueError):
        NET.address(0)


def test_interface_names_fit_and_differ() -> None:
    names = {Network(f"stack-{i}-with-a-rather-long-name", NET.cidr).bridge for i in range(50)}
    assert len(names) == 50 and all(len(n) <= IFNAMSIZ for n in names)
    veths = {veth_name(f"group-{i}-of-a-long-stack-name") for i in range(50)}
    assert len(veths) == 50 and all(len(v) <= IFNAMSIZ for v in veths)


def test_recipe_digest_follows_inputs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    recipe = ImageRecipe()
    before = recipe.digest()
    assert before == ImageRecipe().digest()
    assert replace(recipe, repo_packages=(*recipe.repo_packages, "redis-server")).digest() != before
    assert replace(recipe, mirror="http://mirror.invalid/debian").digest() != before
    copy = tmp_path / "templates"
    shutil.copytree(image_module.TEMPLATES, copy)
    monkeypatch.setattr(image_module, "TEMPLATES", copy)
    assert recipe.digest() == before, "same template bytes, same digest"
    (copy / "pip.conf.j2").write_text((copy / "pip.conf.j2").read_text() + "timeout = 5\n")
    assert recipe.digest() != before


def test_instance_id_changes_when_a_droplet_would_be_replaced() -> None:
    spec = MachineSpec("web-1", NET, NET.address(2), b"#cloud-config\n", IMAGE)
    assert spec.instance_id == replace(spec, address=NET.address(9)).instance_id
    assert spec.instance_id != replace(spec, user_data=b"#cloud-config\n\n").instance_id
    assert spec.instance_id != replace(spec, image=replace(IMAGE, digest="def")).instance_id
    assert spec.instance_id != replace(spec, name="web-2").instance_id


def test_package_sources_are_bound_read_only() -> None:
    volume = Bind(Path("/srv/vol"), "/mnt/pgdata")
    spec = MachineSpec("db-1", NET, NET.address(2), b"", IMAGE, wheelhouse=Path("/wh"), binds=(volume,))
    assert [b.nspawn_arg() for b in spec.all_binds()] == [
        f"--bind-ro=/img/apt:{APT_MOUNT}",
        f"--bind-ro=/wh:{WHEELHOUSE_MOUNT}",
        "--bind=/srv/vol:/mnt/pgdata",
    ]


def test_pip_conf_allows_no_index() -> None:
    parser = configparser.ConfigParser()
    parser.read_string(_render("pip.conf.j2", wheelhouse_mount=WHEELHOUSE_MOUNT))
    assert parser.getboolean("global", "no-index") is True
    assert parser.get("global", "find-links") == WHEELHOUSE_MOUNT


def test_apt_source_is_the_local_repo_only() -> None:
    text = _render("localcloud.sources.j2", apt_mount=APT_MOUNT)
    fields = dict(line.split(": ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert fields == {"Types": "deb", "URIs": f"file:{APT_MOUNT}", "Suites": "./", "Trusted": "yes"}


def test_cloud_init_settings_pass_schema(tmp_path: Path) -> None:
    rendered = _render("90-localcloud.cfg.j2")
    assert yaml.safe_load(rendered)["datasource_list"] == ["NoCloud", "None"]
    path = tmp_path / "90-localcloud.cfg"
    path.write_text(rendered)
    checked = subprocess.run([_tool_or_skip("cloud-init"), "schema", "-c", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_image_template_exists() -> None:
    for name in IMAGE_TEMPLATES:
        assert (image_module.TEMPLATES / name).is_file(), name


def test_guard_rules_parse() -> None:
    if os.geteuid() != 0:
        missing("checking nft rules needs root")
    checked = subprocess.run(
        [_tool_or_skip("nft"), "-c", "-f", "-"], input=_guard_rules(), capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


def test_mounts_under_sees_nothing_below_a_fresh_dir(tmp_path: Path) -> None:
    assert mounts_under(tmp_path) == []
    below_proc = mounts_under(Path("/proc"))
    assert below_proc[-1] == Path("/proc"), "deepest first, the mount itself last"


def test_every_package_a_node_asks_for_is_in_the_local_repo(render_layout, render_topology) -> None:
    """A package missing from the repo would make cloud-init fail on a local machine only."""
    from localcloud.image import BASE_PACKAGES, REPO_PACKAGES
    from render.userdata import user_data

    topology = render_topology(render_layout)
    for node in topology.nodes:
        wanted = set(user_data(node, topology)["packages"])
        assert wanted <= set(REPO_PACKAGES) | set(BASE_PACKAGES), (node.name, wanted - set(REPO_PACKAGES))


def test_wheelhouse_is_resolved_for_exactly_the_nodes_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip reads a bare `3.11` as 3.11.0: the wheelhouse names the patch release the nodes run (Debian 12's 3.11.2)."""
    asked: list[list[str]] = []

    def pip(argv: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        asked.append(argv)
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    monkeypatch.setattr(image_module, "run", pip)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("asgiref==3.8.1\n")
    image_module.ensure_wheelhouse(requirements, cache=tmp_path / "cache")
    (argv,) = asked
    assert argv[argv.index("--python-version") + 1] == "3.11.2"
    assert argv[argv.index("--abi") + 1] == "cp311"
