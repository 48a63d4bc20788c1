"""The bucket, its key, the backups step and the alerts, in every stack file's graph."""

from __future__ import annotations

import json
import re

import pytest

from model import naming
from model.project import STACKS, stack_config
from sim.account import Account, ApiRefusal
from sim.harness import Run, run_program
from sim.inputs import reveal
from sim.keys import new_deploy_key
from sim.resources import (
    COMMAND,
    DROPLET,
    MONITOR_ALERT,
    SPACES_BUCKET,
    SPACES_KEY,
    UPTIME_ALERT,
    UPTIME_CHECK,
    forces_replacement,
    spaces_key_outputs,
)

DEPLOY_KEY, _ = new_deploy_key()
SECRETS = {"dbPassword": "canary-db-7f31c2", "secretKey": "canary-key-" + "w" * 45, "sshPrivateKey": DEPLOY_KEY}
STACK_FILES = sorted(p.name.split(".")[1] for p in STACKS.glob("Pulumi.*.yaml"))
DO_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
"""DigitalOcean's rule, written out: 3 to 63 lowercase letters, digits and '-', a letter or digit at each end."""
SLACK_URL = "https://hooks.slack.com/services/T000/B000/canaryslackwebhook"


def run(config: dict, stack: str, account: Account | None = None) -> Run:
    return run_program(config, SECRETS, stack=stack, account=account)


@pytest.fixture(scope="module", params=STACK_FILES)
def stack_run(request) -> tuple[str, Run]:
    return request.param, run(stack_config(request.param), request.param)


def test_one_bucket_per_stack_protected_and_retained(stack_run):
    stack, result = stack_run
    buckets = result.of_type(SPACES_BUCKET)
    assert len(buckets) == 1
    bucket = buckets[0]
    assert bucket.inputs["name"] == f"dt-{stack}-data"
    assert DO_BUCKET_NAME.match(bucket.inputs["name"])
    assert bucket.inputs["acl"] == "private"
    assert bucket.protect and bucket.retain_on_delete, "the backups must outlive `pulumi destroy`"
    assert result.outputs["bucket"] == bucket.inputs["name"]


def test_the_key_reaches_only_the_stack_s_bucket(stack_run):
    stack, result = stack_run
    key = result.one(SPACES_KEY, "key")
    assert reveal(key.inputs["grants"]) == [{"bucket": f"dt-{stack}-data", "permission": "readwrite"}]
    assert "secretKey" in key.additional_secret_outputs


def test_the_spaces_secret_travels_only_on_stdin_to_the_db_and_app_nodes(stack_run):
    stack, result = stack_run
    secret = spaces_key_outputs(naming.spaces_key_name(stack))["secret_key"]
    holders = []
    for r in result.resources:
        plain = json.dumps(reveal({k: v for k, v in r.inputs.items() if k not in r.secret_inputs}), default=str)
        assert secret not in plain, r.name
        if secret in json.dumps(reveal(r.inputs), default=str):
            holders.append(r.name)
    app_nodes = [r.name.removesuffix("-env") for r in result.of_type(COMMAND) if r.name.endswith("-env")]
    assert app_nodes
    assert sorted(holders) == sorted(["db-backup", *(f"{n}-env" for n in app_nodes)]), holders
    for name in holders:
        step = result.one(COMMAND, name)
        assert "stdin" in step.secret_inputs and "stdout" in step.additional_secret_outputs, name
        assert secret in reveal(step.inputs["stdin"]), name
    db_host = reveal(result.one(COMMAND, "db-setup").inputs["connection"])["host"]
    assert reveal(result.one(COMMAND, "db-backup").inputs["connection"])["host"] == db_host
    assert secret not in json.dumps(result.outputs, default=str)


def test_alerts_watch_every_role_and_the_site(stack_run):
    stack, result = stack_run
    alerts = result.of_type(MONITOR_ALERT)
    watched = {(a.inputs["tags"][0], a.inputs["type"]) for a in alerts}
    metrics = {
        "v1/insights/droplet/cpu", "v1/insights/droplet/memory_utilization_percent",
        "v1/insights/droplet/disk_utilization_percent",
    }
    assert watched == {(f"dt-{stack}-{role}", m) for role in ("web", "app", "cache", "db") for m in metrics}
    assert all(a.inputs["alerts"]["emails"] == ["ops@example.com"] for a in alerts)
    check = result.one(UPTIME_CHECK, "site-check")
    assert check.inputs["target"] == result.outputs["siteUrl"]
    alert = result.one(UPTIME_ALERT, "site-down")
    assert alert.inputs["checkId"] == check.id
    assert alert.inputs["notifications"] == [{"emails": ["ops@example.com"]}]


def test_every_droplet_runs_the_monitoring_agent(stack_run):
    """Alerts need the agent, which `monitoring` installs at creation: the droplets have always had it."""
    _, result = stack_run
    assert all(d.inputs["monitoring"] is True for d in result.of_type(DROPLET))


def test_no_alerts_key_no_alerts():
    config = {k: v for k, v in stack_config("pool").items() if k != "alerts"}
    result = run(config, "pool")
    assert not result.of_type(MONITOR_ALERT) and not result.of_type(UPTIME_CHECK) and not result.of_type(UPTIME_ALERT)
    assert len(result.of_type(SPACES_BUCKET)) == 1


def test_a_slack_webhook_is_kept_secret():
    config = {**stack_config("onebox"), "alerts": {"slack": {"channel": "#ops", "url": SLACK_URL}}}
    result = run(config, "onebox")
    for r in [*result.of_type(MONITOR_ALERT), *result.of_type(UPTIME_ALERT)]:
        assert SLACK_URL in json.dumps(reveal(r.inputs))
        plain = {k: v for k, v in r.inputs.items() if k not in r.secret_inputs}
        assert SLACK_URL not in json.dumps(reveal(plain)), r.name


def _replacing(before: Run, after: Run) -> list[str]:
    """Resources whose replace-forcing inputs differ between the runs."""
    out = []
    old = {r.urn: r for r in before.resources if r.custom}
    for r in after.resources:
        prior = old.get(r.urn)
        if prior is None or r.type == COMMAND:
            continue
        changed = [k for k in set(r.inputs) | set(prior.inputs) if r.inputs.get(k) != prior.inputs.get(k)]
        if changed and forces_replacement(r.type, changed):
            out.append(r.urn)
    return out


@pytest.mark.parametrize("change", [
    {"alerts": {"emails": ["oncall@example.com"], "slack": {"channel": "#ops", "url": SLACK_URL}}},
    {"backups": {"schedule": "hourly", "retentionFull": 2}},
    {"backups": {"restoreFrom": ["dt-onebox-data"]}},
], ids=["alerts", "retention", "restore-source"])
def test_changing_alerts_or_retention_replaces_nothing(change):
    base = stack_config("pool")
    before = run(base, "pool")
    after = run({**base, **change}, "pool")
    assert not _replacing(before, after)
    for d in after.of_type(DROPLET):
        assert d.inputs["userData"] == before.one(DROPLET, d.name).inputs["userData"]
    if "retentionFull" in change.get("backups", {}):
        old, new = before.one(COMMAND, "db-backup"), after.one(COMMAND, "db-backup")
        assert reveal(old.inputs["stdin"]) != reveal(new.inputs["stdin"]), "the new retention reaches pgBackRest"
        assert old.inputs["create"] != new.inputs["create"], "the new schedule reaches the timer"


def test_retention_reaches_pgbackrest_on_stdin():
    result = run({**stack_config("onebox"), "backups": {"schedule": "weekly", "retentionFull": 3}}, "onebox")
    step = result.one(COMMAND, "db-backup")
    conf = reveal(step.inputs["stdin"])
    assert "repo1-retention-full=3\n" in conf and "repo1-s3-bucket=dt-onebox-data\n" in conf
    assert "repo1-s3-endpoint=nyc3.digitaloceanspaces.com\n" in conf
    assert "OnCalendar=Sun *-*-* 01:15:00 UTC" in step.inputs["create"]


def test_a_restore_source_is_read_only_to_the_key():
    result = run({**stack_config("split"), "backups": {"restoreFrom": ["dt-onebox-data"]}}, "split")
    assert reveal(result.one(SPACES_KEY, "key").inputs["grants"]) == [
        {"bucket": "dt-split-data", "permission": "readwrite"},
        {"bucket": "dt-onebox-data", "permission": "read"},
    ]


@pytest.mark.parametrize("stack", ["prod_eu", "Prod.EU", "x" * 100, "a"])
def test_odd_stack_names_give_buckets_digitalocean_takes(stack):
    result = run(stack_config("onebox"), stack)
    name = result.one(SPACES_BUCKET, "bucket").inputs["name"]
    assert DO_BUCKET_NAME.match(name), name


def test_two_stacks_in_one_account_get_two_buckets_and_a_taken_name_is_refused():
    account = Account()
    run(stack_config("onebox"), "onebox", account)
    run(stack_config("split"), "split", account)
    names = {h.facts["bucket"] for h in account.holdings if "bucket" in h.facts}
    assert names == {"dt-onebox-data", "dt-split-data"}
    with pytest.raises(ApiRefusal, match="BucketAlreadyExists"):
        account.judge("other", SPACES_BUCKET, "bucket", {"name": "dt-onebox-data", "region": "nyc3"}, frozenset())


def test_the_bucket_stays_in_the_account_when_its_stack_is_gone():
    account = Account()
    run(stack_config("onebox"), "onebox", account)
    account.forget("onebox")
    with pytest.raises(ApiRefusal, match="409 BucketAlreadyExists"):
        account.judge("staging", SPACES_BUCKET, "bucket", {"name": "dt-onebox-data"}, frozenset())
