"""The whole program under mocks: what each layout registers, and what scaling leaves alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.project import STACKS, stack_config
from sim.harness import Run, run_program
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


def test_volume_is_attached_to_the_node_carrying_db():
    result = run(stack_config("split"), stack="split")
    attachment = result.of_type(VOLUME_ATTACHMENT)[0]
    db = result.one(DROPLET, "db-1")
    assert int(attachment.inputs["dropletId"]) == int(db.id)
    assert attachment.delete_before_replace


def _inbound(result: Run) -> list[tuple[list[str], dict]]:
    return [(fw.inputs["tags"], rule) for fw in result.of_type(FIREWALL) for rule in fw.inputs.get("inboundRules", [])]


def test_firewalls_keep_internal_ports_private(stack_run):
    stack, result = stack_run
    config = stack_config(stack)
    internal = {"5432", "11211", "8000"}
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


def test_with_a_load_balancer_web_takes_http_only_from_it():
    result = run(stack_config("pool"), stack="pool")
    web = [rule for tags, rule in _inbound(result) if tags == ["dt-pool-web"]]
    assert [r["portRange"] for r in web] == ["80"]
    assert web[0].get("sourceLoadBalancerUids") and not web[0].get("sourceAddresses")


def test_domain_brings_certificate_https_redirect_and_record():
    result = run({**stack_config("pool"), "domain": "www.example.com"}, stack="pool")
    lb = result.of_type(LOAD_BALANCER)[0].inputs
    assert lb["redirectHttpToHttps"] is True
    assert {int(r["entryPort"]) for r in lb["forwardingRules"]} == {80, 443}
    assert lb["healthcheck"]["path"] == "/healthz"
    record = result.of_type(DNS_RECORD)[0].inputs
    assert (record["domain"], record["name"], record["type"]) == ("example.com", "www", "A")
    assert result.outputs["siteUrl"] == "https://www.example.com/"


@pytest.mark.parametrize("preview", [False, True])
def test_secrets_reach_no_user_data_and_no_plain_output(stack_run, preview):
    stack, _ = stack_run
    result = run(stack_config(stack), stack=stack, preview=preview)
    for d in result.of_type(DROPLET):
        for canary in CANARY_VALUES:
            assert canary not in d.inputs["userData"]
    plain_outputs = json.dumps({k: v for k, v in result.outputs.items() if k not in result.secret_outputs})
    for r in result.resources:
        plain_inputs = json.dumps({k: v for k, v in r.inputs.items() if k not in r.secret_inputs}, default=str)
        for canary in CANARY_VALUES:
            assert canary not in plain_inputs, r.name
    for canary in CANARY_VALUES:
        assert canary not in plain_outputs


def test_outputs_describe_the_site():
    result = run(stack_config("pool"), stack="pool")
    assert result.outputs["publicIp"] == result.of_type(LOAD_BALANCER)[0].outputs["ip"]
    assert set(result.outputs["privateIps"]) == {"web", "app", "cache", "db"}
    assert len(result.outputs["privateIps"]["app"]) == 3
    assert result.outputs["monthlyCostUsd"] == pytest.approx(2 * 6 + 3 * 12 + 6 + 24 + 20 * 0.10 + 12)
    onebox = run(stack_config("onebox"), stack="onebox")
    assert onebox.outputs["siteUrl"] == f"http://{onebox.one(DROPLET, 'box-1').outputs['ipv4_address']}/"


def test_stack_files_hold_no_secrets():
    for path in Path(STACKS).glob("Pulumi.*.yaml"):
        text = path.read_text()
        for key in CANARY:
            assert f"django-tiers:{key}:" not in text, path
        assert "secure:" not in text
