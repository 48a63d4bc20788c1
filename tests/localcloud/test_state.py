"""The local cloud's decisions that need no root: diffs, digests, firewall and balancer rendering, overrides."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from ipaddress import IPv4Interface
from pathlib import Path

import pulumi
import pytest

from localcloud import balancer, firewall
from localcloud.cloud import LocalCloud, UnsupportedResource
from localcloud.ssh import MASK, mask
from localcloud.stack import NodeRow, StackSecrets, apply_sets, local_config, node_table, nodes
from localcloud.state import (
    Action,
    Record,
    StackState,
    decide,
    input_digests,
)
from model import naming
from model.roles import Role
from sim.keys import new_deploy_key
from sim.resources import COMMAND, DROPLET, SSH_KEY, TYPES, VOLUME, VPC, UnknownResourceType, fingerprint
from tests.support.services import missing

KEY = b"k" * 32
USER_DATA = "#cloud-config\npackages: [nginx-light]\n"


def _record(type_: str, inputs: dict, name: str = "r") -> Record:
    return Record(type_, name, "1", input_digests(inputs, KEY))


def _tool_or_skip(tool: str) -> None:
    if shutil.which(tool) is None:
        missing(f"{tool} not installed")


def test_same_inputs_are_kept_whatever_the_order() -> None:
    inputs = {"name": "web-1", "tags": ["a", "b"], "userData": USER_DATA}
    reordered = {"userData": USER_DATA, "tags": ["a", "b"], "name": "web-1"}
    assert decide(DROPLET, _record(DROPLET, inputs), input_digests(reordered, KEY)).action == Action.KEPT
    assert decide(DROPLET, None, input_digests(inputs, KEY)).action == Action.CREATED


@pytest.mark.parametrize(
    ("type_", "change", "action"),
    [
        (DROPLET, {"tags": ["a", "c"]}, Action.UPDATED),
        (DROPLET, {"size": "s-2vcpu-4gb"}, Action.UPDATED),
        (DROPLET, {"userData": USER_DATA + "\n"}, Action.REPLACED),
        (DROPLET, {"vpcUuid": "other"}, Action.REPLACED),
        (COMMAND, {"create": "echo two"}, Action.UPDATED),
        (COMMAND, {"stdin": "new secret"}, Action.UPDATED),
        (COMMAND, {"triggers": ["2"]}, Action.REPLACED),
        (COMMAND, {"connection": {"host": "10.0.0.9"}}, Action.REPLACED),
        (VPC, {"ipRange": "10.1.0.0/24"}, Action.REPLACED),
        (VOLUME, {"size": 20}, Action.UPDATED),
    ],
)
def test_changes_update_or_replace_as_the_provider_would(type_: str, change: dict, action: Action) -> None:
    base = {
        "name": "x", "tags": ["a", "b"], "size": "s-1vcpu-1gb", "userData": USER_DATA, "vpcUuid": "v",
        "create": "echo one", "stdin": "secret", "triggers": ["1"], "connection": {"host": "10.0.0.2"},
        "ipRange": "10.0.0.0/24",
    }
    decision = decide(type_, _record(type_, base), input_digests({**base, **change}, KEY))
    assert decision.action == action
    assert decision.changed == tuple(sorted(change))


def test_digests_hide_values_and_follow_asset_content(tmp_path: Path) -> None:
    secret = "correct-horse-battery-staple"
    digests = input_digests({"stdin": secret}, KEY)
    assert secret not in json.dumps(digests)
    assert digests != input_digests({"stdin": secret}, b"another key")
    archive = tmp_path / "release.tar.gz"
    archive.write_bytes(b"one")
    before = input_digests({"source": pulumi.FileAsset(str(archive))}, KEY)
    assert before == input_digests({"source": pulumi.FileAsset(str(archive))}, KEY)
    archive.write_bytes(b"two")
    assert before != input_digests({"source": pulumi.FileAsset(str(archive))}, KEY)


def test_state_file_is_root_only_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "stack" / "state.json"
    state = StackState(path)
    record = Record(DROPLET, "web-1", "42", {"name": "d"}, {"ipv4_address": "10.0.0.2"}, {"machine": "s-web-1"})
    state.put(record)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert StackState(path).get(DROPLET, "web-1") == record
    state.drop(record)
    assert StackState(path).records == {}


def test_unknown_resource_types_are_refused(tmp_path: Path) -> None:
    cloud = LocalCloud("t", tmp_path, None, None, KEY, "", ())  # type: ignore[arg-type]
    args = pulumi.runtime.MockResourceArgs("digitalocean:index/databaseCluster:DatabaseCluster", "b", {}, None, None, True)
    with pytest.raises(UnsupportedResource, match="databaseCluster:DatabaseCluster"):
        cloud.new_resource(args)
    assert issubclass(UnsupportedResource, UnknownResourceType)


def test_every_type_the_simulated_cloud_knows_has_a_stand_in(tmp_path: Path) -> None:
    cloud = LocalCloud("t", tmp_path, None, None, KEY, "", ())  # type: ignore[arg-type]
    assert set(cloud.stand_ins) == set(TYPES)


def test_a_recorded_type_is_created_and_destroyed_and_a_dropped_volume_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LocalCloud, "refresh_rules", lambda self: None)
    _, public = new_deploy_key()
    first = LocalCloud("t", tmp_path, None, None, KEY, "", (), say=lambda line: None)  # type: ignore[arg-type]
    args = pulumi.runtime.MockResourceArgs(SSH_KEY, "key", {"name": "k", "publicKey": public}, None, None, True)
    rid, outputs = first.new_resource(args)
    assert rid.isdigit()
    assert outputs == {"name": "k", "publicKey": public, "fingerprint": fingerprint(public)}
    first.state.put(Record(VOLUME, "pgdata", "7", {}, {}, {"path": str(tmp_path / "pgdata")}))
    second = LocalCloud("t", tmp_path, None, None, KEY, "", (), say=lambda line: None)  # type: ignore[arg-type]
    second.finish()
    assert {r.key.split("::")[1]: (r.action, r.note) for r in second.reports} == {
        "key": (Action.DESTROYED, ""),
        "pgdata": (Action.REFUSED, "protected: the volume and its data are kept"),
    }
    assert [r.name for r in StackState(tmp_path / "state.json").records.values()] == ["pgdata"]


def test_nodes_read_group_and_roles_back_through_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLOUD_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LOCALCLOUD_STATE", str(tmp_path / "state"))
    state = StackState(tmp_path / "data" / "stacks" / "s" / "state.json")
    tags = sorted([naming.stack_tag("s"), naming.role_tag("s", Role.WEB), naming.role_tag("s", Role.APP)])
    state.put(Record(DROPLET, "front-2", "9", {}, {}, {"machine": "s-front-2", "address": "10.0.0.3/24", "tags": tags}))
    assert nodes("s") == (NodeRow("front", "front-2", (Role.WEB, Role.APP), "10.0.0.3", "s-front-2", "stopped", ""),)


def test_node_table_has_a_rule_under_its_header() -> None:
    rows = [NodeRow("web", "web-1", ("web",), "10.0.0.2", "s-web-1", "running, done", "1 CPU, 1024 MiB")]
    assert node_table(rows).splitlines() == [
        "group  node   roles  private address  limits           state",
        "-----  -----  -----  ---------------  ---------------  -------------",
        "web    web-1  web    10.0.0.2         1 CPU, 1024 MiB  running, done",
    ]


def test_masking_hides_every_secret() -> None:
    text = mask("password=abc123 key=zzz and abc123 again", ["abc123", "zzz", ""])
    assert "abc123" not in text and "zzz" not in text
    assert text.count(MASK) == 3


def test_firewall_rules_follow_tags_addresses_and_balancers() -> None:
    droplets = [
        firewall.Droplet("s-web-1", "lcvweb", "10.0.0.2", ("dt-s", "dt-s-web")),
        firewall.Droplet("s-app-1", "lcvapp", "10.0.0.3", ("dt-s", "dt-s-app")),
        firewall.Droplet("s-loose", "lcvloose", "10.0.0.9", ("other",)),
    ]
    firewalls = [
        firewall.FirewallSpec("all", ("dt-s",), ({"protocol": "tcp", "portRange": "22", "sourceAddresses": ["10.0.0.1/32"]},)),
        firewall.FirewallSpec("web", ("dt-s-web",), ({"protocol": "tcp", "portRange": "80", "sourceLoadBalancerUids": ["lb1"]},)),
        firewall.FirewallSpec("app", ("dt-s-app",), (
            {"protocol": "tcp", "portRange": "8000", "sourceTags": ["dt-s-web"]},
            {"protocol": "tcp", "portRange": "8000", "sourceTags": ["nobody"]},
            {"protocol": "tcp", "portRange": "all", "sourceAddresses": ["::/0"]},
        )),
    ]
    guards = {g.machine: g for g in firewall.guards(droplets, firewalls, {"lb1": "10.0.0.4"})}
    assert set(guards) == {"s-web-1", "s-app-1"}, "a machine without a firewall takes everything"
    assert guards["s-web-1"].allows == (
        firewall.Allow("tcp", "22", ("10.0.0.1/32",)), firewall.Allow("tcp", "80", ("10.0.0.4",)),
    )
    assert guards["s-app-1"].allows[1] == firewall.Allow("tcp", "8000", ("10.0.0.2",))
    assert len(guards["s-app-1"].allows) == 2, "rules with no source left (unknown tag, IPv6 only) allow nothing"
    text = firewall.render("s", list(guards.values()))
    assert 'oifname "lcvweb" jump to_s_web_1' in text
    assert "ip saddr { 10.0.0.4 } tcp dport 80 accept" in text
    assert "lcvloose" not in text


def test_firewall_rules_pass_nft_check(tmp_path: Path) -> None:
    _tool_or_skip("nft")
    if os.geteuid() != 0:
        missing("nft --check needs root")
    guard = firewall.Guard("s-web-1", "lcvweb", ("web",), (firewall.Allow("tcp", "80-81", ("10.0.0.4", "0.0.0.0/0")),))
    rules = tmp_path / "fw.nft"
    rules.write_text(firewall.render("s", [guard]))
    checked = subprocess.run(["nft", "--check", "-f", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_balancer_config_from_the_resource_passes_haproxy_check(tmp_path: Path) -> None:
    _tool_or_skip("haproxy")
    inputs = {
        "name": "dt-s-lb", "dropletTag": "dt-s-web",
        "forwardingRules": [{"entryPort": 80, "entryProtocol": "http", "targetPort": 80, "targetProtocol": "http"}],
        "healthcheck": {"protocol": "http", "port": 80, "path": "/healthz", "checkIntervalSeconds": 3,
                        "responseTimeoutSeconds": 4, "healthyThreshold": 2, "unhealthyThreshold": 5},
    }
    spec = balancer.spec_from_inputs("s", inputs)
    text = balancer.render(spec, IPv4Interface("10.0.0.4/24"), [balancer.Server("web-1", "10.0.0.2")], tmp_path)
    assert "option httpchk GET /healthz" in text
    assert "timeout check 4s" in text
    assert "inter 3s rise 2 fall 5" in text
    assert "server web-1 10.0.0.2:80" in text
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    https = {**inputs, "forwardingRules": [{"entryPort": 443, "entryProtocol": "https", "targetPort": 80,
                                            "targetProtocol": "http"}]}
    with pytest.raises(balancer.BalancerError, match="certificate"):
        balancer.spec_from_inputs("s", https)


def test_a_balancer_keeps_up_servers_up_and_starts_any_other_down() -> None:
    """A server UP at the same address stays UP; new, moved, or down before, it starts DOWN (op state 0)."""
    inputs = {"name": "dt-s-lb", "dropletTag": "dt-s-web",
              "forwardingRules": [{"entryPort": 80, "entryProtocol": "http", "targetPort": 8080, "targetProtocol": "http"}]}
    spec = balancer.spec_from_inputs("s", inputs)
    dump = (
        "1\n"
        "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight ...\n"
        "3 web_80 1 web-1 10.0.0.2 2 0 1 1 3 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0\n"
        "3 web_80 2 web-2 10.0.0.3 0 0 1 1 4 17 2 0 6 0 0 0 - 8080 - 0 0 - - 0\n"
        "3 web_80 3 web-3 10.0.0.4 2 0 1 1 3 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0\n"
        "3 web_80 4 web-9 10.0.0.9 2 0 1 1 3 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0\n"
    )
    saved = balancer.parse_server_states(dump)
    assert saved[("web_80", "web-1")] == ("10.0.0.2", balancer.RUNNING)
    servers = [balancer.Server("web-1", "10.0.0.2"), balancer.Server("web-2", "10.0.0.3"),
               balancer.Server("web-3", "10.0.0.7"), balancer.Server("web-4", "10.0.0.5")]
    assert balancer.server_states(spec, servers, saved).splitlines() == [
        "1",
        "0 web_80 0 web-1 10.0.0.2 2 0 1 1 0 1 0 0 6 0 0 0 - 8080 -",
        "0 web_80 0 web-2 10.0.0.3 0 0 1 1 0 1 0 0 6 0 0 0 - 8080 -",
        "0 web_80 0 web-3 10.0.0.7 0 0 1 1 0 1 0 0 6 0 0 0 - 8080 -",
        "0 web_80 0 web-4 10.0.0.5 0 0 1 1 0 1 0 0 6 0 0 0 - 8080 -",
    ]
    with pytest.raises(balancer.BalancerError, match="format 1"):
        balancer.parse_server_states("")


def test_a_balancer_s_health_check_defaults_are_digitalocean_s() -> None:
    """Without a healthcheck block, the API's defaults; a field the block leaves out, the provider's, which differ."""
    inputs = {"name": "dt-s-lb", "dropletTag": "dt-s-web", "forwardingRules": []}
    assert balancer.spec_from_inputs("s", inputs).healthcheck == balancer.HealthCheck(
        protocol="http", port=80, path="/", interval=10, response_timeout=5, healthy=3, unhealthy=5
    )
    block = {"protocol": "tcp", "port": 8080}
    assert balancer.spec_from_inputs("s", {**inputs, "healthcheck": block}).healthcheck == balancer.HealthCheck(
        protocol="tcp", port=8080, path="/", interval=10, response_timeout=5, healthy=5, unhealthy=3
    )


def test_sets_override_nested_values_without_touching_the_original() -> None:
    config = {"layout": "pool", "tiers": {"app": {"count": 3, "size": "s-1vcpu-2gb"}}}
    out = apply_sets(config, ["tiers.app.count=2", "tiers.web.count=2", "loadBalancer=true"])
    assert out["tiers"]["app"] == {"count": 2, "size": "s-1vcpu-2gb"}
    assert out["tiers"]["web"] == {"count": 2}
    assert out["loadBalancer"] is True
    assert config["tiers"]["app"]["count"] == 3
    with pytest.raises(ValueError, match="key.path=value"):
        apply_sets(config, ["tiers.app.count"])


def test_local_config_lets_the_host_in_with_the_deploy_key() -> None:
    private, public = new_deploy_key()
    made = StackSecrets("p", "s", private, "00", "10.150.3.0/24")
    config = local_config({"layout": "onebox", "adminCidrs": ["203.0.113.0/24"]}, made)
    assert config["adminCidrs"] == ["10.150.3.1/32"]
    assert config["vpcCidr"] == "10.150.3.0/24"
    assert config["sshPublicKeys"] == [public]


def test_cli_refuses_without_root(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from localcloud.__main__ import main
    from localcloud.host import ROOT_MESSAGE

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["up", "onebox"]) == 2
    assert capsys.readouterr().err.strip() == ROOT_MESSAGE


@pytest.mark.parametrize("port, name", [(22, "10.0.0.2"), (2222, "[10.0.0.2]:2222")])
def test_a_pinned_host_key_is_named_as_ssh_looks_it_up(port: int, name: str) -> None:
    from localcloud import ssh

    conn = ssh.Connection("10.0.0.2", "deploy", port, "key", 3, 5, "ssh-ed25519 AAAAKEY root@db-1")
    with ssh._client_files(conn) as files:
        assert (files / "known_hosts").read_text() == f"{name} ssh-ed25519 AAAAKEY\n"
        argv = ssh._ssh_argv(conn, files)
    assert "StrictHostKeyChecking=yes" in argv and "HostKeyAlgorithms=ssh-ed25519" in argv
