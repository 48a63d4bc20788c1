"""The simulated account refuses what DigitalOcean's API refuses, in its words."""

from __future__ import annotations

import pytest

from sim.account import Account, ApiRefusal
from sim.keys import new_deploy_key
from sim.resources import DROPLET, FIREWALL, LOAD_BALANCER, SSH_KEY, TAG, VOLUME, VPC

NO_TAGS: frozenset[str] = frozenset()


def test_a_firewall_rule_may_name_only_a_tag_that_exists():
    rules = {"name": "fw", "inboundRules": [{"protocol": "tcp", "portRange": "5432", "sourceTags": ["dt-s-app"]}]}
    with pytest.raises(ApiRefusal, match="422 unprocessable_entity: tag dt-s-app does not exist"):
        Account().judge("s", FIREWALL, "db-firewall", rules, NO_TAGS)
    Account().judge("s", FIREWALL, "db-firewall", rules, frozenset({"dt-s-app"}))


def test_a_firewall_may_be_attached_by_a_tag_nothing_carries_yet():
    Account().judge("s", FIREWALL, "fw", {"name": "fw", "tags": ["dt-s-new"], "inboundRules": []}, NO_TAGS)


def test_a_key_lives_in_an_account_once_whatever_its_comment():
    _, public = new_deploy_key()
    account = Account.with_keys([public])
    with pytest.raises(ApiRefusal, match="SSH Key is already in use on your account"):
        account.judge("s", SSH_KEY, "ssh-key-1", {"name": "k", "publicKey": public + " me@laptop"}, NO_TAGS)
    account.judge("s", SSH_KEY, "ssh-key-1", {"name": "k", "publicKey": new_deploy_key()[1]}, NO_TAGS)


def test_the_same_resource_registered_again_is_an_update_not_a_duplicate():
    _, public = new_deploy_key()
    account = Account()
    account.hold("s", SSH_KEY, "ssh-key-1", {"publicKey": public})
    account.judge("s", SSH_KEY, "ssh-key-1", {"publicKey": public}, NO_TAGS)
    with pytest.raises(ApiRefusal):
        account.judge("other", SSH_KEY, "ssh-key-1", {"publicKey": public}, NO_TAGS)


@pytest.mark.parametrize("cidr", ["10.244.0.0/24", "10.245.10.0/24", "10.246.0.0/24", "10.244.0.0/16"])
def test_reserved_ranges_are_refused(cidr):
    with pytest.raises(ApiRefusal, match="reserved by DigitalOcean"):
        Account().judge("s", VPC, "vpc", {"name": "v", "ipRange": cidr}, NO_TAGS)


def test_vpc_ranges_and_names_do_not_overlap_across_stacks():
    account = Account()
    account.hold("staging", VPC, "vpc", {"name": "dt-staging-vpc", "ipRange": "10.10.0.0/24"})
    with pytest.raises(ApiRefusal, match="overlaps with VPC dt-staging-vpc"):
        account.judge("prod", VPC, "vpc", {"name": "dt-prod-vpc", "ipRange": "10.10.0.0/16"}, NO_TAGS)
    with pytest.raises(ApiRefusal, match="already exists"):
        account.judge("prod", VPC, "vpc", {"name": "dt-staging-vpc", "ipRange": "10.20.0.0/24"}, NO_TAGS)
    account.judge("prod", VPC, "vpc", {"name": "dt-prod-vpc", "ipRange": "10.20.0.0/24"}, NO_TAGS)
    account.judge("staging", VPC, "vpc", {"name": "dt-staging-vpc", "ipRange": "10.10.0.0/24"}, NO_TAGS)


@pytest.mark.parametrize(
    "token, name",
    [
        (FIREWALL, "dt-prod_eu-fw"),
        (VPC, "dt-prod_eu-vpc"),
        (VOLUME, "pgdata-prod_eu"),
        (VOLUME, "pgdata-" + "a" * 58),
        (VOLUME, "Pgdata-x"),
        (TAG, "dt-prod eu"),
        (DROPLET, "front\n-1"),
    ],
)
def test_names_that_break_a_type_s_rules_are_refused(token, name):
    inputs = {"name": name, "ipRange": "10.30.0.0/24"}
    with pytest.raises(ApiRefusal, match=repr(name).replace("\\", "\\\\")):
        Account().judge("s", token, "r", inputs, NO_TAGS)


HEALTH_CHECK = {"protocol": "http", "port": 80, "path": "/healthz", "checkIntervalSeconds": 10,
                "responseTimeoutSeconds": 5, "healthyThreshold": 5, "unhealthyThreshold": 3}


def _balancer(**check: int) -> dict:
    return {"name": "dt-s-lb", "healthcheck": {**HEALTH_CHECK, **check}}


@pytest.mark.parametrize(
    "key, value, refusal",
    [
        ("checkIntervalSeconds", 2, "health_check check_interval_seconds must be between 3 and 300: 2"),
        ("checkIntervalSeconds", 301, "health_check check_interval_seconds must be between 3 and 300: 301"),
        ("responseTimeoutSeconds", 2, "health_check response_timeout_seconds must be between 3 and 300: 2"),
        ("responseTimeoutSeconds", 301, "health_check response_timeout_seconds must be between 3 and 300: 301"),
        ("healthyThreshold", 1, "health_check healthy_threshold must be between 2 and 10: 1"),
        ("healthyThreshold", 11, "health_check healthy_threshold must be between 2 and 10: 11"),
        ("unhealthyThreshold", 1, "health_check unhealthy_threshold must be between 2 and 10: 1"),
        ("unhealthyThreshold", 11, "health_check unhealthy_threshold must be between 2 and 10: 11"),
    ],
)
def test_a_health_check_outside_digitalocean_s_ranges_is_refused(key, value, refusal):
    with pytest.raises(ApiRefusal, match=f"422 unprocessable_entity: {refusal}$"):
        Account().judge("s", LOAD_BALANCER, "lb", _balancer(**{key: value}), NO_TAGS)


@pytest.mark.parametrize(
    "key, value",
    [
        ("checkIntervalSeconds", 3), ("checkIntervalSeconds", 300),
        ("responseTimeoutSeconds", 3), ("responseTimeoutSeconds", 300),
        ("healthyThreshold", 2), ("healthyThreshold", 10),
        ("unhealthyThreshold", 2), ("unhealthyThreshold", 10),
    ],
)
def test_a_health_check_at_the_bounds_of_digitalocean_s_ranges_is_accepted(key, value):
    Account().judge("s", LOAD_BALANCER, "lb", _balancer(**{key: value}), NO_TAGS)


def test_a_health_check_that_leaves_a_field_out_gets_the_provider_s_default():
    Account().judge("s", LOAD_BALANCER, "lb", {"name": "dt-s-lb", "healthcheck": {"protocol": "tcp", "port": 80}}, NO_TAGS)
    Account().judge("s", LOAD_BALANCER, "lb", {"name": "dt-s-lb"}, NO_TAGS)


def test_a_droplet_s_tags_follow_the_tag_rules():
    with pytest.raises(ApiRefusal, match="tag names"):
        Account().judge("s", DROPLET, "web-1", {"name": "web-1", "tags": ["dt-a b"]}, NO_TAGS)


def test_an_account_outlives_a_process(tmp_path):
    _, public = new_deploy_key()
    account = Account.with_keys([public])
    account.hold("staging", TAG, "stack-tag", {"name": "dt-staging"})
    account.hold("staging", VPC, "vpc", {"name": "dt-staging-vpc", "ipRange": "10.10.0.0/24"})
    account.save(tmp_path / "account.json")
    again = Account.load(tmp_path / "account.json")
    assert again.tags() == {"dt-staging"}
    with pytest.raises(ApiRefusal):
        again.judge("prod", VPC, "vpc", {"name": "dt-prod-vpc", "ipRange": "10.10.0.0/24"}, NO_TAGS)
    again.forget("staging")
    again.judge("prod", VPC, "vpc", {"name": "dt-prod-vpc", "ipRange": "10.10.0.0/24"}, NO_TAGS)
    assert again.tags() == {"dt-staging"}, "DigitalOcean keeps a tag when what carried it is gone"


def test_a_key_registered_by_hand_belongs_to_no_stack():
    _, public = new_deploy_key()
    account = Account()
    account.register_key(public + " me@laptop")
    account.register_key(public)
    assert len(account.holdings) == 1
    account.forget("s")
    with pytest.raises(ApiRefusal):
        account.judge("s", SSH_KEY, "ssh-key-1", {"publicKey": public}, NO_TAGS)
    account.unregister_key(public)
    account.judge("s", SSH_KEY, "ssh-key-1", {"publicKey": public}, NO_TAGS)
