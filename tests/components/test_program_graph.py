"""The whole program under mocks: what each layout registers, and what scaling leaves alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.project import STACKS, stack_config
from sim.harness import Run, run_program
from sim.inputs import reveal
from sim.keys import new_deploy_key
from sim.resources import (
    DNS_RECORD,
    DROPLET,
    FIREWALL,
    LOAD_BALANCER,
    VOLUME,
    VOLUME_ATTACHMENT,
    VPC,
)

DEPLOY_KEY, DEPLOY_PUBLIC = new_deploy_key()
CANARY = {"dbPassword": "canary-db-7c1f0e", "secretKey": "canary-key-93ab42" + "k" * 40, "sshPrivateKey": DEPLOY_KEY}
CANARY_VALUES = ("canary-db-7c1f0e", "canary-key-93ab42", DEPLOY_KEY.splitlines()[1])
DROPLET_REPLACE_INPUTS = ("userData", "image", "region", "vpcUuid", "monitoring")
STACK_NAMES = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in STACKS.glob("Pulumi.*.yaml"))

CUSTOM = {
    **stack_config("custom"),
    "nodes": {
        "front": {"roles": ["web", "app"], "count": 2, "size": "s-2vcpu-2gb"},
        "cachers": {"roles": ["cache"], "count": 2, "size": "s-1vcpu-1gb"},
        "data": {"roles": ["db"], "count": 1, "size": "s-2vcpu-4gb"},
    },
    "loadBalancer": True,
}
DB_FIRST = {
    **stack_config("custom"),
    "nodes": {
        "data": {"roles": ["db"], "count": 1},
        "front": {"roles": ["web", "app"], "count": 2},
        "cachers": {"roles": ["cache"], "count": 2},
    },
}
"""A custom layout whose db group comes first: the node carrying db is neither the first nor the last of every layout."""


def run(config: dict, stack: str = "test", preview: bool = False) -> Run:
    return run_program(config, CANARY, stack=stack, preview=preview)


@pytest.fixture(scope="module", params=STACK_NAMES)
def stack_run(request) -> tuple[str, Run]:
    return request.param, run(stack_config(request.param), stack=request.param)


def test_every_layout_has_a_stack_file():
    assert {"onebox", "dbsplit", "split", "pool"} <= set(STACK_NAMES)


@pytest.mark.parametrize(
    "stack, droplets, has_lb",
    [("onebox", 1, False), ("dbsplit", 2, False), ("split", 4, False), ("pool", 7, True)],
)
def test_counts_and_types_per_layout(stack, droplets, has_lb):
    result = run(stack_config(stack), stack=stack)
    assert len(result.of_type(DROPLET)) == droplets
    assert len(result.of_type(LOAD_BALANCER)) == (1 if has_lb else 0)
    assert len(result.of_type(VPC)) == 1
    if has_lb:
        assert result.of_type(LOAD_BALANCER)[0].inputs["dropletTag"] == "dt-pool-web"


def test_droplets_are_named_by_group_and_index_and_tagged(stack_run):
    stack, result = stack_run
    for d in result.of_type(DROPLET):
        group, index = d.name.rsplit("-", 1)
        assert index.isdigit() and d.inputs["name"] == d.name
        assert f"dt-{stack}" in d.inputs["tags"]
        assert any(t.startswith(f"dt-{stack}-") for t in d.inputs["tags"])
        assert d.inputs["monitoring"] is True
        assert d.inputs["vpcUuid"] == result.of_type(VPC)[0].id
        assert "sshKeys" in d.ignore_changes


def test_components_have_typed_parents(stack_run):
    _, result = stack_run
    components = {r.urn: r for r in result.resources if not r.custom}
    for r in components.values():
        kind = r.type.split(":")
        assert kind[0] == "django-tiers" and len(kind) == 3, r.type
    for r in result.resources:
        if r.custom:
            assert r.parent in components, f"{r.name} has no component parent"


def _replace_inputs(d) -> dict:
    return {k: d.inputs.get(k) for k in DROPLET_REPLACE_INPUTS}


def _assert_nothing_replaced(before: Run, after: Run) -> None:
    old = {d.name: d for d in before.of_type(DROPLET)}
    new = {d.name: d for d in after.of_type(DROPLET)}
    survivors = old.keys() & new.keys()
    assert survivors, "no droplet survived the change"
    for name in survivors:
        assert _replace_inputs(old[name]) == _replace_inputs(new[name]), name
    for type_ in (LOAD_BALANCER, VPC, FIREWALL):
        assert {r.urn: r.inputs for r in before.of_type(type_)} == {r.urn: r.inputs for r in after.of_type(type_)}, type_


def _with_count(config: dict, key: str, group: str, count: int) -> dict:
    changed = json.loads(json.dumps(config))
    changed.setdefault(key, {}).setdefault(group, {})["count"] = count
    return changed


@pytest.mark.parametrize("tier", ["web", "app", "cache"])
@pytest.mark.parametrize("delta", [1, -1])
def test_scaling_pool_replaces_nothing(tier, delta):
    base = stack_config("pool")
    before = run(base, stack="pool")
    count = base["tiers"][tier]["count"] + delta
    if count < 1:
        count = base["tiers"][tier]["count"] + 2
    after = run(_with_count(base, "tiers", tier, count), stack="pool")
    assert len(after.of_type(DROPLET)) == len(before.of_type(DROPLET)) + (count - base["tiers"][tier]["count"])
    _assert_nothing_replaced(before, after)


@pytest.mark.parametrize("group, count", [("front", 3), ("front", 1), ("cachers", 3), ("cachers", 1)])
def test_scaling_custom_replaces_nothing(group, count):
    before = run(CUSTOM)
    after = run(_with_count(CUSTOM, "nodes", group, count))
    _assert_nothing_replaced(before, after)


def test_db_volume_keeps_its_identity_across_layouts():
    seen = set()
    for stack in ("onebox", "dbsplit", "split", "pool", "custom"):
        volumes = run(stack_config(stack), stack="prod").of_type(VOLUME)
        assert len(volumes) == 1
        (volume,) = volumes
        assert volume.protect, stack
        seen.add((volume.urn, volume.inputs["name"], volume.inputs["region"]))
    assert len(seen) == 1, seen


DB_HOLDER = {"onebox": "box-1", "dbsplit": "db-1", "split": "db-1", "pool": "db-1", "custom": "data-1"}
"""The node carrying db in each stack file, from the README's layouts and the custom stack file's groups."""


def _assert_volume_attached_to(result: Run, holder: str) -> None:
    (volume,) = result.of_type(VOLUME)
    (attachment,) = result.of_type(VOLUME_ATTACHMENT)
    assert int(attachment.inputs["dropletId"]) == int(result.one(DROPLET, holder).id)
    assert len({d.id for d in result.of_type(DROPLET)}) == len(result.of_type(DROPLET))
    assert attachment.inputs["volumeId"] == volume.id
    assert attachment.delete_before_replace


def test_volume_is_attached_to_the_node_carrying_db(stack_run):
    stack, result = stack_run
    _assert_volume_attached_to(result, DB_HOLDER[stack])


def test_volume_is_attached_to_the_node_carrying_db_when_its_group_comes_first():
    _assert_volume_attached_to(run(DB_FIRST, stack="custom"), "data-1")


def _inbound(result: Run) -> list[tuple[list[str], dict]]:
    return [(fw.inputs["tags"], rule) for fw in result.of_type(FIREWALL) for rule in fw.inputs.get("inboundRules", [])]


def test_firewalls_keep_internal_ports_private(stack_run):
    stack, result = stack_run
    config = stack_config(stack)
    internal = {"5432", "6432", "11211", "8000"}
    assert _inbound(result)
    for tags, rule in _inbound(result):
        open_to_world = {"0.0.0.0/0", "::/0"} & set(rule.get("sourceAddresses", []))
        if open_to_world:
            assert rule["portRange"] in {"80", "443"}, rule
            assert tags == [f"dt-{stack}-web"]
        if rule["portRange"] == "5432":
            assert rule.get("sourceTags") == [f"dt-{stack}-app"] and not rule.get("sourceAddresses"), rule
        if rule["portRange"] in internal:
            assert not rule.get("sourceAddresses")
        if rule["portRange"] == "22":
            assert rule["sourceAddresses"] == config["adminCidrs"] and tags == [f"dt-{stack}"]


ADMIN = ("203.0.113.0/24",)
"""Every stack file's adminCidrs."""
WORLD = ("0.0.0.0/0", "::/0")
LB = ("the load balancer",)


def _outbound(tag: str, vpc: str) -> list[tuple]:
    """DNS, NTP, HTTP(S) and ICMP to anywhere, anything inside the VPC (the README's "Security")."""
    return [
        ("out", tag, "icmp", "", WORLD),
        ("out", tag, "tcp", "1-65535", (vpc,)),
        ("out", tag, "tcp", "443", WORLD),
        ("out", tag, "tcp", "53", WORLD),
        ("out", tag, "tcp", "80", WORLD),
        ("out", tag, "udp", "1-65535", (vpc,)),
        ("out", tag, "udp", "123", WORLD),
        ("out", tag, "udp", "53", WORLD),
    ]


FIREWALL_MATRIX: dict[str, list[tuple]] = {
    "onebox": [
        ("in", "dt-onebox", "tcp", "22", ADMIN),
        *_outbound("dt-onebox", "10.10.0.0/24"),
        ("in", "dt-onebox-web", "tcp", "80", WORLD),
    ],
    "dbsplit": [
        ("in", "dt-dbsplit", "tcp", "22", ADMIN),
        *_outbound("dt-dbsplit", "10.10.1.0/24"),
        ("in", "dt-dbsplit-web", "tcp", "80", WORLD),
        ("in", "dt-dbsplit-db", "tcp", "5432", ("dt-dbsplit-app",)),
        ("in", "dt-dbsplit-db", "tcp", "6432", ("dt-dbsplit-app",)),
    ],
    "split": [
        ("in", "dt-split", "tcp", "22", ADMIN),
        *_outbound("dt-split", "10.10.2.0/24"),
        ("in", "dt-split-web", "tcp", "80", WORLD),
        ("in", "dt-split-app", "tcp", "8000", ("dt-split-web",)),
        ("in", "dt-split-cache", "tcp", "11211", ("dt-split-app",)),
        ("in", "dt-split-db", "tcp", "5432", ("dt-split-app",)),
        ("in", "dt-split-db", "tcp", "6432", ("dt-split-app",)),
    ],
    "pool": [
        ("in", "dt-pool", "tcp", "22", ADMIN),
        *_outbound("dt-pool", "10.10.3.0/24"),
        ("in", "dt-pool-web", "tcp", "80", LB),
        ("in", "dt-pool-app", "tcp", "8000", ("dt-pool-web",)),
        ("in", "dt-pool-cache", "tcp", "11211", ("dt-pool-app",)),
        ("in", "dt-pool-db", "tcp", "5432", ("dt-pool-app",)),
        ("in", "dt-pool-db", "tcp", "6432", ("dt-pool-app",)),
    ],
    "custom": [
        ("in", "dt-custom", "tcp", "22", ADMIN),
        *_outbound("dt-custom", "10.10.4.0/24"),
        ("in", "dt-custom-web", "tcp", "80", LB),
        ("in", "dt-custom-app", "tcp", "8000", ("dt-custom-web",)),
        ("in", "dt-custom-cache", "tcp", "11211", ("dt-custom-app",)),
        ("in", "dt-custom-db", "tcp", "5432", ("dt-custom-app",)),
        ("in", "dt-custom-db", "tcp", "6432", ("dt-custom-app",)),
    ],
}
"""Every flow the firewalls of each stack file let through, from the README's layouts: the public entry takes the
web ports, app only from web, cache and db only from app, SSH only from the admin networks, colocated services
nothing. (direction, the tag the firewall guards, protocol, ports, who may come in or go out)"""


def _matrix(result: Run) -> list[tuple]:
    """The flows the registered firewalls let through, in FIREWALL_MATRIX's terms."""
    load_balancers = {lb.id: LB[0] for lb in result.of_type(LOAD_BALANCER)}
    flows = []
    for fw in result.of_type(FIREWALL):
        for direction, rules, prefix in (("in", "inboundRules", "source"), ("out", "outboundRules", "destination")):
            for rule in fw.inputs.get(rules) or []:
                peers = tuple(
                    load_balancers.get(value, value)
                    for key in sorted(rule) if key.startswith(prefix)
                    for value in rule[key] or []
                )
                flows.append((direction, *fw.inputs["tags"], rule["protocol"], rule.get("portRange", ""), peers))
    return sorted(flows)


def test_every_stack_file_has_a_firewall_matrix():
    assert sorted(FIREWALL_MATRIX) == STACK_NAMES


def test_firewalls_let_through_exactly_the_matrix(stack_run):
    stack, result = stack_run
    assert _matrix(result) == sorted(FIREWALL_MATRIX[stack])


def test_domain_brings_certificate_https_redirect_and_record():
    result = run({**stack_config("pool"), "domain": "www.example.com"}, stack="pool")
    lb = result.of_type(LOAD_BALANCER)[0].inputs
    assert lb["redirectHttpToHttps"] is True
    assert {int(r["entryPort"]) for r in lb["forwardingRules"]} == {80, 443}
    assert lb["healthcheck"]["path"] == "/healthz"
    record = result.of_type(DNS_RECORD)[0].inputs
    assert (record["domain"], record["name"], record["type"]) == ("example.com", "www", "A")
    assert result.outputs["siteUrl"] == "https://www.example.com/"


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def either_run(request, stack_run) -> Run:
    """Each stack file's run, and its preview, where outputs the mock does not give stay unknown."""
    stack, result = stack_run
    return run(stack_config(stack), stack=stack, preview=True) if request.param else result


def test_user_data_is_never_a_pulumi_secret(either_run):
    """DigitalOcean shows user-data to anyone with API access and to the droplet's processes: marking it secret hides nothing."""
    result = either_run
    for d in result.of_type(DROPLET):
        assert "userData" not in d.secret_inputs, d.name
        assert isinstance(d.inputs["userData"], str) and d.inputs["userData"].startswith("#cloud-config\n"), d.name


def test_secrets_reach_no_user_data_and_no_plain_output(either_run):
    result = either_run
    for d in result.of_type(DROPLET):
        user_data = json.dumps(reveal(d.inputs["userData"]))
        for canary in CANARY_VALUES:
            assert canary not in user_data, d.name
    plain_outputs = json.dumps(reveal({k: v for k, v in result.outputs.items() if k not in result.secret_outputs}))
    for r in result.resources:
        plain_inputs = json.dumps(reveal({k: v for k, v in r.inputs.items() if k not in r.secret_inputs}), default=str)
        for canary in CANARY_VALUES:
            assert canary not in plain_inputs, r.name
    for canary in CANARY_VALUES:
        assert canary not in plain_outputs


def test_outputs_describe_the_site():
    result = run(stack_config("pool"), stack="pool")
    assert result.outputs["publicIp"] == result.of_type(LOAD_BALANCER)[0].outputs["ip"]
    assert set(result.outputs["privateIps"]) == {"web", "app", "cache", "db"}
    assert len(result.outputs["privateIps"]["app"]) == 3
    app_1 = result.one(DROPLET, "app-1")
    assert result.outputs["manageHost"] == app_1.outputs["ipv4_address"], "management commands go to the node that migrates"
    assert result.outputs["monthlyCostUsd"] == pytest.approx(2 * 6 + 3 * 12 + 6 + 24 + 20 * 0.10 + 12 + 5)
    onebox = run(stack_config("onebox"), stack="onebox")
    assert onebox.outputs["siteUrl"] == f"http://{onebox.one(DROPLET, 'box-1').outputs['ipv4_address']}/"


def test_stack_files_hold_no_secrets():
    for path in Path(STACKS).glob("Pulumi.*.yaml"):
        text = path.read_text()
        for key in CANARY:
            assert f"django-tiers:{key}:" not in text, path
        assert "secure:" not in text
