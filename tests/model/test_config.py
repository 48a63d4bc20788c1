"""Config parsing: good stacks parse, every bad value fails with one message naming key, value and what is allowed."""

from __future__ import annotations

import copy
import ipaddress
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.config import (
    LAYOUTS,
    ROLES,
    ConfigError,
    MissingSecretError,
    check_secrets,
    parse_config,
)
from model.project import stack_config
from model.sizes import REGIONS, SIZES
from sim.harness import Run, run_program
from sim.keys import new_deploy_key

BASE = stack_config("split")
DEPLOY_KEY, DEPLOY_PUBLIC = new_deploy_key()
SECRETS = {"dbPassword": "pw-4f1c9a27", "secretKey": "sk-0123456789abcdef" + "s" * 40, "sshPrivateKey": DEPLOY_KEY}


def stack_config_without(*keys: str) -> dict:
    return {k: v for k, v in copy.deepcopy(BASE).items() if k not in keys}


def bad(**changes) -> dict:
    config = copy.deepcopy(BASE)
    for key, value in changes.items():
        config[key] = value
    return config


CASES = [
    ("unknown layout", bad(layout="cluster"), "layout", "cluster", "onebox, dbsplit, split, pool, custom"),
    ("count zero", bad(tiers={"app": {"count": 0}}), "tiers.app.count", "0", "at least 1"),
    ("count negative", bad(tiers={"web": {"count": -2}}), "tiers.web.count", "-2", "at least 1"),
    ("count not a number", bad(tiers={"cache": {"count": "two"}}), "tiers.cache.count", "'two'", "whole number"),
    ("onebox with two apps", bad(layout="onebox", tiers={"app": {"count": 2}}), "tiers.app.count", "2", "use split or pool"),
    ("dbsplit with two webs", bad(layout="dbsplit", tiers={"web": {"count": 2}}), "tiers.web.count", "2", "use split or pool"),
    ("unknown tier key", bad(tiers={"app": {"replicas": 2}}), "tiers.app.replicas", "2", "count, size"),
    ("unknown tier", bad(tiers={"worker": {"count": 1}}), "tiers.worker", "count", "web, app, cache, db"),
    ("unknown size", bad(tiers={"app": {"size": "s-64vcpu-1tb"}}), "tiers.app.size", "s-64vcpu-1tb", "s-1vcpu-1gb"),
    ("unknown region", bad(region="mars1"), "region", "mars1", "nyc3"),
    ("malformed admin cidr", bad(adminCidrs=["10.0.0.300/32"]), "adminCidrs[0]", "10.0.0.300/32", "network"),
    ("host bits in cidr", bad(adminCidrs=["203.0.113.7/24"]), "adminCidrs[0]", "203.0.113.7/24", "network"),
    ("whole internet as admin", bad(adminCidrs=["0.0.0.0/0"]), "adminCidrs[0]", "0.0.0.0/0", "narrower"),
    ("no admin cidrs", bad(adminCidrs=[]), "adminCidrs", "[]", "non-empty list"),
    ("public vpc", bad(vpcCidr="8.8.0.0/16"), "vpcCidr", "8.8.0.0/16", "RFC 1918"),
    ("vpc too small", bad(vpcCidr="10.0.0.0/28"), "vpcCidr", "10.0.0.0/28", "/16 to /24"),
    ("malformed ssh key", bad(sshPublicKeys=["ssh-ed25519 not-base64!"]), "sshPublicKeys[0]", "not-base64", "OpenSSH public key"),
    ("private key pasted", bad(sshPublicKeys=["-----BEGIN OPENSSH PRIVATE KEY-----"]), "sshPublicKeys[0]", "BEGIN", "OpenSSH public key"),
    ("volume too big", bad(tiers={"db": {"volumeGb": 99999}}), "tiers.db.volumeGb", "99999", "1 to 16384"),
    ("pool without lb", bad(layout="pool", loadBalancer=False), "loadBalancer", "False", "always has a load balancer"),
    ("lb not a bool", bad(loadBalancer="yes"), "loadBalancer", "'yes'", "true or false"),
    ("bad domain", bad(domain="not a domain"), "domain", "not a domain", "DNS name"),
    ("misspelt key", bad(teirs={"app": {"count": 2}}), "teirs", "count", "known keys are"),
    ("nodes without custom", bad(nodes={"a": {"roles": ["web"]}}), "nodes", "roles", "only used with layout custom"),
    ("custom without nodes", bad(layout="custom", tiers={}), "nodes", "None", "required with layout custom"),
    (
        "custom missing a role",
        bad(layout="custom", tiers={}, nodes={"all": {"roles": ["web", "app", "db"], "count": 1}}),
        "nodes", "all", "no group carries cache",
    ),
    (
        "two db nodes",
        bad(layout="custom", tiers={}, nodes={"all": {"roles": ["web", "app", "cache", "db"], "count": 2}}),
        "nodes.all.count", "2", "exactly one node",
    ),
    (
        "db in two groups",
        bad(layout="custom", tiers={}, nodes={"a": {"roles": ["web", "app", "db"]}, "b": {"roles": ["cache", "db"]}}),
        "nodes", "roles", "exactly one group carries db; found a, b",
    ),
    (
        "unknown role",
        bad(layout="custom", tiers={}, nodes={"a": {"roles": ["web", "worker"]}}),
        "nodes.a.roles", "worker", "web, app, cache, db",
    ),
    (
        "bad group name",
        bad(layout="custom", tiers={}, nodes={"Front End": {"roles": ROLES}}),
        "nodes.Front End", "roles", "lowercase letters",
    ),
    ("domain with a newline", bad(domain="www.example.com\n"), "domain", "www.example.com\\n", "DNS name"),
    (
        "group name with a newline",
        bad(layout="custom", tiers={}, nodes={"front\n": {"roles": ROLES}}),
        "nodes.front\n", "roles", "lowercase letters",
    ),
    ("reserved vpc", bad(vpcCidr="10.244.0.0/24"), "vpcCidr", "10.244.0.0/24", "DigitalOcean reserves"),
    ("vpc over a reserved range", bad(vpcCidr="10.244.0.0/16"), "vpcCidr", "10.244.0.0/16", "10.244.0.0/16"),
    ("closed region", bad(region="nyc2"), "region", "nyc2", "nyc3"),
    (
        "a domain on two web nodes without a load balancer",
        bad(layout="split", domain="www.example.com", loadBalancer=False, tiers={"web": {"count": 2}}),
        "loadBalancer", "False", "the load balancer holds the certificate",
    ),
    (
        "300 app nodes in a /24",
        bad(layout="split", vpcCidr="10.10.0.0/24", tiers={"app": {"count": 300}}),
        "tiers.app.count", "300", "at most 250",
    ),
    (
        "custom group too big for its vpc",
        bad(layout="custom", tiers={}, vpcCidr="10.10.0.0/24", nodes={"a": {"roles": list(ROLES[:3]), "count": 260}, "b": {"roles": ["db"]}}),
        "nodes.a.count", "260", "at most 251",
    ),
    ("settings with a newline", bad(app={"settings": "site.settings\nDEBUG=true"}), "app.settings", "DEBUG=true", "dotted Python module"),
    ("settings with a space", bad(app={"settings": "site.settings --reload"}), "app.settings", "--reload", "dotted Python module"),
    ("wsgi with a space", bad(app={"wsgi": "site.wsgi:application --bind 0.0.0.0"}), "app.wsgi", "--bind", "module:callable"),
    ("wsgi without a callable", bad(app={"wsgi": "site.wsgi"}), "app.wsgi", "site.wsgi", "module:callable"),
    ("requirements on two lines", bad(app={"requirements": "req.txt\nx"}), "app.requirements", "req.txt", "one line"),
    ("smoke paths not a list", bad(app={"smokePaths": "/"}), "app.smokePaths", "'/'", "a list of 1 to 20 URL paths"),
    ("no smoke path", bad(app={"smokePaths": []}), "app.smokePaths", "[]", "a list of 1 to 20 URL paths"),
    ("smoke path without its slash", bad(app={"smokePaths": ["/", "about/"]}), "app.smokePaths[1]", "about/", "starting with /"),
    ("smoke path with a space", bad(app={"smokePaths": ["/a b"]}), "app.smokePaths[0]", "/a b", "no space"),
    ("ssh key with a second line", bad(sshPublicKeys=["ssh-ed25519 AAAA x\nssh-rsa y"]), "sshPublicKeys[0]", "ssh-rsa", "OpenSSH public key"),
    ("backup schedule", bad(backups={"schedule": "nightly"}), "backups.schedule", "nightly", "hourly, daily, weekly"),
    ("backup retention zero", bad(backups={"retentionFull": 0}), "backups.retentionFull", "0", "from 1 to"),
    ("backup retention as text", bad(backups={"retentionFull": "7"}), "backups.retentionFull", "7", "whole number"),
    ("backups misspelt", bad(backups={"retention": 7}), "backups.retention", "7", "allowed keys are schedule, retentionFull"),
    (
        "restore from a bad bucket",
        bad(backups={"restoreFrom": ["Dt_Onebox"]}), "backups.restoreFrom[0]", "Dt_Onebox", "3 to 63 lowercase",
    ),
    ("alerts with no target", bad(alerts={"emails": []}), "alerts", "emails", "at least one of emails"),
    ("alert email", bad(alerts={"emails": ["ops at example"]}), "alerts.emails[0]", "ops at example", "e-mail address"),
    ("alerts as a list", bad(alerts=["ops@example.com"]), "alerts", "ops@example.com", "an object with keys emails, slack"),
    (
        "slack channel",
        bad(alerts={"slack": {"channel": "ops", "url": "https://hooks.slack.com/services/T/B/x"}}),
        "alerts.slack.channel", "ops", "a Slack channel such as #ops",
    ),
    (
        "slack url",
        bad(alerts={"slack": {"channel": "#ops", "url": "http://example.com/hook"}}),
        "alerts.slack.url", "<not shown>", "hooks.slack.com",
    ),
    (
        "custom tiers with counts",
        bad(layout="custom", tiers={"app": {"count": 2}}, nodes={"a": {"roles": list(ROLES)}}),
        "tiers.app", "count", "allowed keys are db",
    ),
]


@pytest.mark.parametrize("label, config, key, value, allowed", CASES, ids=[c[0] for c in CASES])
def test_bad_config_names_key_value_and_what_is_allowed(label, config, key, value, allowed):
    with pytest.raises(ConfigError) as err:
        parse_config(config, "test", DEPLOY_PUBLIC)
    message = str(err.value)
    assert err.value.key == key
    assert f"django-tiers:{key} " in message
    assert value in message
    assert allowed in message


@pytest.mark.parametrize("label, config, key, value, allowed", CASES, ids=[c[0] for c in CASES])
def test_bad_config_stops_the_program_before_any_resource(label, config, key, value, allowed):
    run = Run()
    with pytest.raises(ConfigError) as err:
        run_program(config, SECRETS, stack="test", run=run)
    assert err.value.key == key
    assert run.resources == []


@pytest.mark.parametrize(
    "secret, value, allowed",
    [
        ("dbPassword", "short", "at least 8 printable ASCII"),
        ("dbPassword", "has a space in it", "without spaces"),
        ("secretKey", "two\nlines-0123456789" + "x" * 50, "on one line"),
        ("secretKey", "s" * 49, "at least 50"),
        ("sshPrivateKey", "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n", "unencrypted OpenSSH or PEM private key"),
    ],
)
def test_bad_secret_is_named_but_never_shown(secret, value, allowed):
    run = Run()
    with pytest.raises(ConfigError) as err:
        run_program(BASE, {**SECRETS, secret: value}, stack="test", run=run)
    assert err.value.key == secret and allowed in str(err.value)
    assert value not in str(err.value) and "nope" not in str(err.value)
    assert run.resources == []


@pytest.mark.parametrize("secret", ["dbPassword", "secretKey", "sshPrivateKey"])
def test_missing_secret_prints_the_command_to_set_it(secret):
    secrets = {k: v for k, v in SECRETS.items() if k != secret}
    with pytest.raises(MissingSecretError) as err:
        run_program(BASE, secrets, stack="test")
    assert f"pulumi config set --secret django-tiers:{secret} <value>" in str(err.value)


def test_defaults():
    config = parse_config({"adminCidrs": BASE["adminCidrs"]}, "s", DEPLOY_PUBLIC)
    assert (config.layout, config.region, config.image) == ("onebox", "nyc3", "debian-12-x64")
    assert [(g.name, g.roles, g.count) for g in config.groups] == [("box", ROLES, 1)]
    assert config.load_balancer is False and config.domain is None
    assert config.ssh_public_keys == (DEPLOY_PUBLIC,)


@pytest.mark.parametrize("layout, web, expected", [("split", 1, False), ("split", 2, True), ("pool", 1, True)])
def test_load_balancer_default_follows_public_tier(layout, web, expected):
    config = parse_config(bad(layout=layout, tiers={"web": {"count": web}}), "s", DEPLOY_PUBLIC)
    assert config.load_balancer is expected


@settings(max_examples=200, deadline=None)
@given(layout=st.text(min_size=1, max_size=12).filter(lambda s: s not in LAYOUTS))
def test_any_unknown_layout_is_refused(layout):
    with pytest.raises(ConfigError) as err:
        parse_config(bad(layout=layout), "s", DEPLOY_PUBLIC)
    assert err.value.key == "layout" and repr(layout) in str(err.value)


@settings(max_examples=200, deadline=None)
@given(role=st.sampled_from(["web", "app", "cache"]), count=st.integers(max_value=0))
def test_any_count_below_one_is_refused(role, count):
    with pytest.raises(ConfigError) as err:
        parse_config(bad(tiers={role: {"count": count}}), "s", DEPLOY_PUBLIC)
    assert err.value.key == f"tiers.{role}.count" and str(count) in str(err.value)


@settings(max_examples=200, deadline=None)
@given(size=st.text(max_size=20).filter(lambda s: s not in SIZES))
def test_any_unknown_size_is_refused_with_the_known_ones(size):
    with pytest.raises(ConfigError) as err:
        parse_config(bad(tiers={"db": {"size": size}}), "s", DEPLOY_PUBLIC)
    assert err.value.key == "tiers.db.size"
    assert all(slug in str(err.value) for slug in SIZES)


@settings(max_examples=200, deadline=None)
@given(region=st.text(max_size=8).filter(lambda s: s not in REGIONS))
def test_any_unknown_region_is_refused(region):
    with pytest.raises(ConfigError) as err:
        parse_config(bad(region=region), "s", DEPLOY_PUBLIC)
    assert err.value.key == "region"


@pytest.mark.parametrize(
    "given, kept",
    [
        ("203.0.113.7/32", "203.0.113.7/32"),
        ("203.0.113.7", "203.0.113.7/32"),
        ("198.51.100.0/24", "198.51.100.0/24"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("128.0.0.0/1", "128.0.0.0/1"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("2001:DB8:0::/48", "2001:db8::/48"),
    ],
)
def test_admin_cidrs_keep_networks_in_their_usual_spelling(given, kept):
    config = bad(adminCidrs=[given], adminCidrsWide=True)
    assert parse_config(config, "s", DEPLOY_PUBLIC).admin_cidrs == (kept,)


@pytest.mark.parametrize(
    "given, allowed",
    [
        ("0.0.0.0/0", "narrower than the whole internet"),
        ("::/0", "narrower than the whole internet"),
        ("203.0.113.7/24", "network such as"),
        ("2001:db8::1/32", "network such as"),
        ("10.0.0.300/32", "network such as"),
        ("203.0.113.0/33", "network such as"),
        ("", "network such as"),
        ("example.com", "network such as"),
        ("203.0.113.0 /24", "network such as"),
    ],
)
def test_admin_cidrs_refuse_what_is_not_a_narrow_network(given, allowed):
    with pytest.raises(ConfigError) as err:
        parse_config(bad(adminCidrs=["198.51.100.0/24", given]), "s", DEPLOY_PUBLIC)
    assert err.value.key == "adminCidrs[1]" and allowed in str(err.value)


@settings(max_examples=200, deadline=None)
@given(address=st.integers(min_value=0, max_value=2**32 - 1), prefix=st.integers(min_value=1, max_value=32))
def test_an_ipv4_network_is_accepted_exactly_when_its_host_bits_are_clear_and_it_is_a_site_s(address, prefix):
    host_bits = address & (2 ** (32 - prefix) - 1)
    cidr = f"{ipaddress.IPv4Address(address)}/{prefix}"
    if host_bits or prefix < 16:
        with pytest.raises(ConfigError) as err:
            parse_config(bad(adminCidrs=[cidr]), "s", DEPLOY_PUBLIC)
        assert err.value.key == "adminCidrs[0]"
    else:
        assert parse_config(bad(adminCidrs=[cidr]), "s", DEPLOY_PUBLIC).admin_cidrs == (cidr,)


ADMIN_CIDR_RULES = [
    # adminCidrs, adminCidrsWide, accepted
    (["203.0.113.7/32"], False, True),
    (["198.51.0.0/16"], False, True),
    (["198.50.0.0/15"], False, False),
    (["198.50.0.0/15"], True, True),
    (["0.0.0.0/1", "128.0.0.0/1"], False, False),
    (["0.0.0.0/1", "128.0.0.0/1"], True, True),
    (["::/1"], False, False),
    (["2001:db8:1::/48"], False, True),
    (["2001:db8::/32"], False, False),
    (["0.0.0.0/0"], True, False),
    (["::/0"], True, False),
]


@pytest.mark.parametrize("cidrs, wide, accepted", ADMIN_CIDR_RULES)
def test_admin_cidrs_are_networks_of_a_site_unless_wide_ones_are_asked_for(cidrs, wide, accepted):
    config = bad(adminCidrs=cidrs, **({"adminCidrsWide": True} if wide else {}))
    if accepted:
        assert parse_config(config, "s", DEPLOY_PUBLIC).admin_cidrs == tuple(cidrs)
        return
    with pytest.raises(ConfigError) as err:
        parse_config(config, "s", DEPLOY_PUBLIC)
    assert err.value.key.startswith("adminCidrs[")
    assert "adminCidrsWide" in str(err.value) or "/0" in str(err.value)


@pytest.mark.parametrize("length, accepted", [(16, False), (49, False), (50, True), (80, True)])
def test_secret_key_is_at_least_fifty_characters(length, accepted):
    values = {**SECRETS, "secretKey": "k" * length}
    if accepted:
        check_secrets(values)
        return
    with pytest.raises(ConfigError) as err:
        check_secrets(values)
    assert err.value.key == "secretKey" and "k" * 16 not in str(err.value)


GROUP_NAME_CHARACTERS = string.ascii_lowercase + string.digits
SIZE = next(iter(SIZES))


def _good_group_name(name: str) -> bool:
    """The README: lowercase letters and digits; the message adds: starting with a letter, at most 20 characters."""
    return 1 <= len(name) <= 20 and name[0] in string.ascii_lowercase and all(c in GROUP_NAME_CHARACTERS for c in name)


group_names = st.one_of(
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=3),
    st.sampled_from(["front2", "Front", "2nd", "a-b", "a_b", "", "x" * 20, "y" * 21, "caf\u00e9"]),
)
role_lists = st.lists(st.sampled_from([*ROLES, "worker", "Web"]), max_size=5)
"""Unknown roles, repeats and empty lists included."""
group_specs = st.fixed_dictionaries(
    {"roles": role_lists, "count": st.integers(min_value=-1, max_value=3)},
    optional={"size": st.sampled_from([SIZE, "s-1vcpu-2gb", "s-64vcpu-1tb", ""])},
)




@st.composite
def likely_layouts(draw: st.DrawFn) -> dict[str, dict[str, object]]:
    """Every role in exactly one of up to four well-named groups; only the counts may still be wrong."""
    names = draw(st.lists(st.from_regex(r"\A[a-z][a-z0-9]{0,5}\Z"), min_size=4, max_size=4, unique=True))
    groups: dict[str, dict[str, object]] = {}
    for role in ROLES:
        spec = groups.setdefault(names[draw(st.integers(0, 3))], {"roles": [], "count": draw(st.integers(1, 3))})
        spec["roles"].append(role)
    return groups


@settings(max_examples=200, deadline=None)
@given(groups=st.one_of(likely_layouts(), st.dictionaries(group_names, group_specs, min_size=1, max_size=4)))
def test_custom_layouts_are_accepted_exactly_when_well_formed(groups):
    config = bad(layout="custom", tiers={}, nodes=groups)
    carriers = {role: [g for g, spec in groups.items() if role in spec["roles"]] for role in ROLES}
    well_formed = (
        all(_good_group_name(name) for name in groups)
        and all(spec["roles"] and set(spec["roles"]) <= set(ROLES) for spec in groups.values())
        and all(len(set(spec["roles"])) == len(spec["roles"]) for spec in groups.values())
        and all(spec.get("size", SIZE) in SIZES for spec in groups.values())
        and all(spec["count"] >= 1 for spec in groups.values())
        and all(carriers[role] for role in ROLES)
        and len(carriers["db"]) == 1
        and groups[carriers["db"][0]]["count"] == 1
    )
    if well_formed:
        parsed = parse_config(config, "s", DEPLOY_PUBLIC)
        assert {g.name: g.count for g in parsed.groups} == {g: s["count"] for g, s in groups.items()}
    else:
        with pytest.raises(ConfigError) as err:
            parse_config(config, "s", DEPLOY_PUBLIC)
        assert str(err.value).startswith("config django-tiers:nodes")
        assert err.value.key == "nodes" or err.value.key.removeprefix("nodes.").split(".")[0] in groups


def test_smoke_paths_default_to_the_home_page_and_keep_their_order():
    assert parse_config(BASE, "s", DEPLOY_PUBLIC).app.smoke_paths == ("/",)
    given = parse_config(bad(app={"smokePaths": ["/about/", "/", "/about/", "/search/?q=a&b=1"]}), "s", DEPLOY_PUBLIC)
    assert given.app.smoke_paths == ("/about/", "/", "/search/?q=a&b=1")


def test_backups_default_to_daily_keeping_seven_and_alerts_to_off():
    config = parse_config(stack_config_without("backups", "alerts"), "test", DEPLOY_PUBLIC)
    assert (config.backups.schedule, config.backups.retention_full, config.backups.restore_from) == ("daily", 7, ())
    assert config.backups.on_calendar == "*-*-* 01:15:00 UTC"
    assert config.alerts is None


def test_alerts_take_emails_and_slack():
    url = "https://hooks.slack.com/services/T0/B0/abc"
    config = parse_config(
        {**stack_config_without("alerts"), "alerts": {"emails": ["a@example.com"], "slack": {"channel": "#ops", "url": url}}},
        "test", DEPLOY_PUBLIC,
    )
    assert config.alerts is not None
    assert (config.alerts.emails, config.alerts.slack_channel, config.alerts.slack_url) == (("a@example.com",), "#ops", url)
