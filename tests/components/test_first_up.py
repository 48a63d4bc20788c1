"""A first `pulumi up` in a real account: the API's order and account-wide rules, as the simulated account keeps them."""

from __future__ import annotations

import ipaddress

import pytest

from model import naming
from model.project import stack_config, stack_names
from sim.account import Account
from sim.harness import Run, run_program
from sim.keys import new_deploy_key
from sim.resources import DNS_RECORD, DROPLET, FIREWALL, LOAD_BALANCER, SSH_KEY, TAG, VOLUME, VPC

DEPLOY_KEY, DEPLOY_PUBLIC = new_deploy_key()
SECRETS = {"dbPassword": "first-up-password", "secretKey": "x" * 50, "sshPrivateKey": DEPLOY_KEY}
CASES = [(s, d) for s in stack_names() for d in (None, "www.example.com")]


def up(config: dict, stack: str, account: Account | None = None) -> Run:
    return run_program(config, SECRETS, stack=stack, account=account if account is not None else Account())


def _closure(run: Run, urn: str) -> set[str]:
    by_urn = {r.urn: r for r in run.resources}
    seen: set[str] = set()
    todo = list(by_urn[urn].dependencies)
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(by_urn[dep].dependencies if dep in by_urn else ())
    return seen


@pytest.mark.parametrize("stack, domain", CASES)
def test_every_stack_file_comes_up_in_a_fresh_account(stack, domain):
    config = {**stack_config(stack), **({"domain": domain} if domain else {})}
    result = up(config, stack)
    tags = {t.inputs["name"] for t in result.of_type(TAG)}
    for fw in result.of_type(FIREWALL):
        for rule in fw.inputs.get("inboundRules", []):
            assert set(rule.get("sourceTags", [])) <= tags, fw.name


@pytest.mark.parametrize("stack", stack_names())
def test_droplets_wait_for_every_firewall_that_guards_them(stack):
    result = up(stack_config(stack), stack)
    firewalls = result.of_type(FIREWALL)
    for droplet in result.of_type(DROPLET):
        guarding = {fw.urn for fw in firewalls if set(fw.inputs["tags"]) & set(droplet.inputs["tags"])}
        assert len(guarding) >= 2, droplet.name
        assert guarding <= _closure(result, droplet.urn), droplet.name


def test_the_deploy_key_listed_again_with_its_comment_is_one_key():
    config = {**stack_config("pool"), "sshPublicKeys": [DEPLOY_PUBLIC + " deploy@laptop"]}
    result = up(config, "pool")
    for droplet in result.of_type(DROPLET):
        assert droplet.inputs["userData"].count(DEPLOY_PUBLIC.split()[1]) == 1


def test_no_key_is_registered_with_digitalocean():
    result = up(stack_config("pool"), "pool")
    assert not result.of_type(SSH_KEY)
    assert all(not d.inputs.get("sshKeys") for d in result.of_type(DROPLET))


def test_two_stacks_of_one_project_share_an_account_and_a_key_already_in_it():
    account = Account.with_keys([DEPLOY_PUBLIC + " me@laptop"])
    staging = up(stack_config("onebox"), "staging", account)
    production = up(stack_config("pool"), "production", account)
    assert staging.outputs["siteUrl"] and production.outputs["siteUrl"]
    ranges = [ipaddress.ip_network(r.of_type(VPC)[0].inputs["ipRange"]) for r in (staging, production)]
    assert not ranges[0].overlaps(ranges[1])


def test_every_stack_file_fits_in_one_account_beside_the_others():
    account = Account()
    for stack in stack_names():
        up(stack_config(stack), stack, account)


@pytest.mark.parametrize("stack", ["prod_eu", "Prod.EU", "s" * 100, "a" * 99 + "b"])
def test_any_pulumi_stack_name_gives_valid_digitalocean_names(stack):
    result = up(stack_config("pool"), stack)
    volume = result.of_type(VOLUME)[0].inputs["name"]
    assert volume == naming.volume_name(stack) and len(volume) <= 64


def test_long_stack_names_that_differ_at_the_end_keep_distinct_names():
    a, b = "a" * 99 + "b", "a" * 99 + "c"
    assert naming.volume_name(a) != naming.volume_name(b)
    assert naming.stack_tag(a) != naming.stack_tag(b)


def test_a_domain_on_the_load_balancer_gets_one_a_record():
    result = up({**stack_config("pool"), "domain": "www.example.com"}, "pool")
    assert result.of_type(LOAD_BALANCER)[0].inputs["disableLetsEncryptDnsRecords"] is True
    assert len(result.of_type(DNS_RECORD)) == 1
