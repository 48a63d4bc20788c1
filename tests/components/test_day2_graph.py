"""The day-2 steps in the graph: what scaling and releases touch, the order steps run in, where secrets go."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model.project import ROOT, stack_config
from render import steps as step_scripts
from sim.harness import Registration, Run, run_program
from sim.inputs import reveal
from sim.keys import new_deploy_key
from sim.resources import COMMAND, COPY_TO_REMOTE, DNS_RECORD, DROPLET, LOAD_BALANCER, LOCAL_COMMAND

DEPLOY_KEY, _ = new_deploy_key()
CANARY = {"dbPassword": "canary-db-5d2e91", "secretKey": "canary-key-0b7f3c" + "k" * 40, "sshPrivateKey": DEPLOY_KEY}
CANARY_VALUES = ("canary-db-5d2e91", "canary-key-0b7f3c", DEPLOY_KEY.splitlines()[1])
STEP_TYPES = (COMMAND, COPY_TO_REMOTE)


def run(config: dict, stack: str = "pool") -> Run:
    return run_program(config, CANARY, stack=stack)


def steps_of(result: Run) -> dict[str, Registration]:
    return {r.urn: r for r in result.resources if r.type in STEP_TYPES}


def changed(before: Run, after: Run) -> tuple[set[str], set[str]]:
    """Names of resources in both runs whose inputs changed, and whose ordering links changed."""
    old = {r.urn: r for r in before.resources}
    new = {r.urn: r for r in after.resources}
    both = old.keys() & new.keys()
    inputs = {new[u].name for u in both if old[u].inputs != new[u].inputs}
    links = {new[u].name for u in both if old[u].dependencies != new[u].dependencies}
    return inputs, links


def with_app_count(count: int) -> dict:
    config = json.loads(json.dumps(stack_config("pool")))
    config["tiers"]["app"]["count"] = count
    return config


def test_scaling_app_adds_one_node_and_only_touches_upstreams():
    before, after = run(with_app_count(3)), run(with_app_count(4))
    added = {r.name for r in after.resources} - {r.name for r in before.resources}
    assert {n for n in added if n.startswith("app-4")} == {
        "app-4", "app-4-ready", "app-4-upload", "app-4-release", "app-4-collect", "app-4-env", "app-4-activate",
        "app-4-in-project",
    }
    assert added == {n for n in added if n.startswith("app-4")}
    assert not {r.name for r in before.resources} - {r.name for r in after.resources}
    inputs, links = changed(before, after)
    assert inputs == {"web-1-upstream", "web-2-upstream", "site-ready"}, "the last step waits again for the new upstreams"
    assert links <= {"web-1-upstream", "web-2-upstream", "site-ready"}
    old = {r.urn: r for r in before.resources}
    for r in after.resources:
        if r.name in inputs:
            for key in ("triggers", "connection"):
                assert r.inputs.get(key) == old[r.urn].inputs.get(key), (r.name, key)
            carrier = r.inputs["environment"]["UPSTREAMS"] if r.name == "site-ready" else r.inputs["create"]
            assert "10." in carrier, r.name


def test_new_release_changes_only_release_steps(tmp_path):
    source = tmp_path / "app"
    shutil.copytree(ROOT / "demo", source, ignore=shutil.ignore_patterns("__pycache__"))
    base = stack_config("pool")
    before = run({**base, "app": {"source": str(source)}})
    (source / "counter" / "static" / "counter" / "site.css").write_text("body { color: teal; }\n")
    after = run({**base, "app": {"source": str(source)}})
    inputs, links = changed(before, after)
    release_steps = {
        f"{n}-{s}" for n in ("app-1", "app-2", "app-3") for s in ("upload", "release", "collect", "activate")
    } | {f"{n}-{s}" for n in ("web-1", "web-2") for s in ("upload", "release", "collect", "static")} | {"migrate", "site-ready"}
    assert inputs, "a new release changed nothing"
    assert inputs == release_steps
    assert not links
    for d in after.of_type(DROPLET):
        assert d.inputs == before.one(DROPLET, d.name).inputs


def _ancestors(result: Run, urn: str) -> set[str]:
    by_urn = {r.urn: r for r in result.resources}
    seen, todo = set(), [urn]
    while todo:
        for dep in by_urn[todo.pop()].dependencies:
            if dep not in seen and dep in by_urn:
                seen.add(dep)
                todo.append(dep)
    return {by_urn[u].name for u in seen}


@pytest.mark.parametrize("stack", ["onebox", "dbsplit", "split", "pool", "custom"])
def test_steps_run_in_order(stack):
    result = run(stack_config(stack), stack=stack)
    steps = steps_of(result)
    droplets = [d.name for d in result.of_type(DROPLET)]
    for urn, s in steps.items():
        node = next((d for d in droplets if s.name.startswith(f"{d}-")), None)
        if s.name.endswith("-ready"):
            assert node in _ancestors(result, urn)
        elif node:
            assert f"{node}-ready" in _ancestors(result, urn), s.name
    names = {s.name: urn for urn, s in steps.items()}
    assert "db-setup" in _ancestors(result, names["migrate"])
    assert "db-backup" in _ancestors(result, names["migrate"]), "turning archiving on restarts PostgreSQL: migrate waits"
    assert "db-setup" in _ancestors(result, names["db-backup"])
    assert "pgdata-attachment" in _ancestors(result, names["db-setup"])
    activations = sorted((n for n in names if n.endswith("-activate")), key=lambda n: droplets.index(n[: -len("-activate")]))
    assert "migrate" in _ancestors(result, names[activations[0]])
    for earlier, later in zip(activations, activations[1:]):
        assert earlier in _ancestors(result, names[later])
    for upstream in (n for n in names if n.endswith("-upstream")):
        assert set(activations) <= _ancestors(result, names[upstream])
    published = {n for n in names if n.endswith("-static")}
    assert published, "no web node publishes static files"
    for static in published:
        node = static[: -len("-static")]
        assert f"{node}-collect" in _ancestors(result, names[static])
    for activation in activations:
        node = activation[: -len("-activate")]
        assert published | {f"{node}-collect"} <= _ancestors(result, names[activation]), (
            "a node switches only once its manifest is there and every web node serves the release's files"
        )


STEP_DATA_LIMIT = 64 * 1024
"""More than this on a step's line, stdin or output is data travelling through the stack's state."""


@pytest.mark.parametrize("stack", ["onebox", "dbsplit", "split", "pool", "custom"])
def test_no_step_carries_data_through_the_state(stack):
    """A step's command, stdin and output stay small, and no step reads another's output but a host key.

    The static files once went from one app node's stdout, through the
    state, to every web node's stdin: a command's output feeding another
    step is how bulk data would travel again.
    """
    result = run(stack_config(stack), stack=stack)
    commands = {r.urn: r for r in result.of_type(COMMAND)}
    for step in commands.values():
        for key in ("create", "stdin", "stdout", "stderr"):
            value = reveal(step.inputs.get(key) if key in step.inputs else step.outputs.get(key))
            assert len(str(value or "").encode()) <= STEP_DATA_LIMIT, (step.name, key)
        for key, sources in step.property_dependencies.items():
            fed_by = sorted(commands[u].name for u in sources if u in commands)
            if key == "connection":
                assert all(name.endswith("-ready") for name in fed_by), (step.name, fed_by)
            else:
                assert not fed_by, f"{step.name}'s {key} is made from the output of {fed_by}"
    copies = result.of_type(COPY_TO_REMOTE)
    assert copies and all(set(c.inputs["source"]) == {"FileAsset"} for c in copies), "releases go up as files"


@pytest.mark.parametrize(("stack", "domain"), [("onebox", None), ("pool", None), ("onebox", "www.example.com"), ("pool", "www.example.com")])
def test_up_ends_with_the_public_entry_serving(stack, domain):
    """One step runs where `pulumi up` runs, after every web step, the balancer and the names: it waits for the site."""
    config = {**stack_config(stack), **({"domain": domain} if domain else {})}
    result = run(config, stack=stack)
    (ready,) = result.of_type(LOCAL_COMMAND)
    assert ready.name == "site-ready"
    assert ready.inputs["create"] == step_scripts.inline_command("site-ready.sh")
    before = _ancestors(result, ready.urn)
    web_steps = {s.name for s in steps_of(result).values() if s.name.startswith(("web-", "box-")) and
                 s.name.endswith(("-static", "-upstream", "-tls"))}
    assert web_steps and web_steps <= before
    assert {r.name for r in result.of_type(LOAD_BALANCER)} | {r.name for r in result.of_type(DNS_RECORD)} <= before
    env = ready.inputs["environment"]
    assert env["URL"] == result.outputs["siteUrl"]
    assert env["RELEASE"] and ":8000" in env["UPSTREAMS"]
    if domain:
        assert env["RESOLVE"] == f"{domain}:443:{result.outputs['publicIp']}"
    else:
        assert "RESOLVE" not in env
    dependents = {r.name for r in result.resources if ready.urn in r.dependencies}
    assert not dependents, f"nothing waits on the last step: {dependents}"


def _holds_canary(value) -> bool:
    text = json.dumps(value, default=str)
    return any(c in text for c in CANARY_VALUES)


@pytest.mark.parametrize("stack", ["onebox", "pool", "custom"])
def test_secrets_travel_only_on_stdin_of_quiet_steps(stack):
    result = run(stack_config(stack), stack=stack)
    carriers = []
    for s in steps_of(result).values():
        for key in ("create", "update", "delete", "environment", "triggers"):
            assert not _holds_canary(s.inputs.get(key)), (s.name, key)
        if _holds_canary(s.inputs.get("stdin")):
            carriers.append(s.name)
            assert "stdin" in s.secret_inputs, s.name
            assert s.inputs.get("logging") == "none", s.name
            assert {"stdout", "stderr"} <= set(s.additional_secret_outputs), s.name
    assert "db-setup" in carriers and any(c.endswith("-env") for c in carriers)
    for r in result.resources:
        plain = {k: v for k, v in r.inputs.items() if k not in r.secret_inputs}
        assert not _holds_canary(plain), r.name


def test_every_app_node_gets_the_same_environment():
    result = run(stack_config("pool"))
    env_steps = [s for s in steps_of(result).values() if s.name.endswith("-env")]
    assert len(env_steps) == 3
    assert len({reveal(s.inputs["stdin"]) for s in env_steps}) == 1
    env = reveal(env_steps[0].inputs["stdin"])
    db = result.one(DROPLET, "db-1").outputs["ipv4_address_private"]
    cache = result.one(DROPLET, "cache-1").outputs["ipv4_address_private"]
    assert f"@{db}:5432/django" in env and f"CACHE_LOCATIONS={cache}:11211" in env
    assert "SECRET_KEY=canary-key-0b7f3c" + "k" * 40 in env
    assert "ALLOWED_HOSTS=203.0.113.10\n" in env


def test_a_domain_is_an_allowed_host_and_a_trusted_origin():
    result = run({**stack_config("pool"), "domain": "www.example.com"})
    env = reveal(next(s for s in steps_of(result).values() if s.name == "app-1-env").inputs["stdin"])
    assert "ALLOWED_HOSTS=203.0.113.10,www.example.com\n" in env
    assert "CSRF_TRUSTED_ORIGINS=https://www.example.com\n" in env


def test_colocated_services_are_reached_on_loopback():
    result = run(stack_config("onebox"), stack="onebox")
    env = reveal(next(s for s in steps_of(result).values() if s.name == "box-1-env").inputs["stdin"])
    assert "@127.0.0.1:5432/" in env and "CACHE_LOCATIONS=127.0.0.1:11211" in env
    upstream = next(s for s in steps_of(result).values() if s.name == "box-1-upstream")
    assert "UPSTREAMS=127.0.0.1:8000" in upstream.inputs["create"]


def test_release_archive_is_reproducible(tmp_path):
    from render.release import build_release

    a = build_release(ROOT / "demo", tmp_path / "a")
    b = build_release(ROOT / "demo", tmp_path / "b")
    assert a.name == b.name and Path(a.archive).read_bytes() == Path(b.archive).read_bytes()



def _line_env(create: str) -> dict[str, str]:
    """The NAME=value assignments before `bash -c` in a step's command line."""
    head = create.split(" bash -c ", 1)[0].removeprefix("sudo ")
    return dict(part.split("=", 1) for part in head.split())


def test_eighty_app_nodes_bring_pgbouncer_in_place_and_the_app_to_it():
    """3 workers on each of 80 app nodes (242 clients) do not fit the db node's 95: the db-pool step pools them."""
    before, after = run(with_app_count(3)), run(with_app_count(80))
    old, new = steps_of(before), steps_of(after)
    urn = next(u for u, r in new.items() if r.name == "db-pool")
    assert _line_env(reveal(old[urn].inputs["create"]))["POOLED"] == "no"
    pooled = _line_env(reveal(new[urn].inputs["create"]))
    assert {k: pooled[k] for k in ("POOLED", "POOL_SIZE", "MAX_CLIENT_CONN", "BIND")} == {
        "POOLED": "yes", "POOL_SIZE": "95", "MAX_CLIENT_CONN": "484", "BIND": "private",
    }
    for key in ("triggers", "connection"):
        assert new[urn].inputs.get(key) == old[urn].inputs.get(key), f"the db-pool step is updated, not replaced ({key})"
    droplets = {r.urn: r.inputs for r in before.of_type(DROPLET)}
    assert all(r.inputs == droplets[r.urn] for r in after.of_type(DROPLET) if r.urn in droplets), "no droplet replaced"
    for result, port, pooling in ((before, "5432", ""), (after, "6432", "transaction")):
        env = next(reveal(r.inputs["stdin"]) for r in steps_of(result).values() if r.name == "app-1-env")
        assert f":{port}/django?" in env and f"\nDATABASE_POOLING={pooling}\n" in env
    migrate = next(r for r in new.values() if r.name == "migrate")
    assert "db-pool" in _ancestors(after, migrate.urn), "migrations wait until the app's database is reachable the way it will be"


def test_an_app_tier_back_under_the_database_leaves_pgbouncer_before_it_stops():
    """Direct again (3 app nodes after 80): PgBouncer stops last, once no node that takes requests goes through it.

    Every app node restarts on PostgreSQL's own URL first, and the web nodes
    stop sending to the nodes that go (which still point at PgBouncer until
    they are destroyed); stopped earlier, the site answered 500, then 502,
    on the local cloud.
    """
    result = run(with_app_count(3))
    names = {s.name: urn for urn, s in steps_of(result).items()}
    assert _line_env(reveal(steps_of(result)[names["db-pool"]].inputs["create"]))["POOLED"] == "no"
    moved = {n for n in names if n.endswith(("-activate", "-upstream"))}
    assert len(moved) == 5, moved
    assert moved <= _ancestors(result, names["db-pool"]), "PgBouncer stops after the app tier left it"
    assert "db-pool" not in _ancestors(result, names["migrate"]), "migrate no longer waits for PgBouncer's stop"
    assert "db-setup" in _ancestors(result, names["db-pool"])


@pytest.mark.parametrize("stack", ["onebox", "dbsplit", "split", "pool", "custom"])
def test_only_nodes_that_run_the_app_compile_the_release(stack):
    """A node that only collects the static files imports a fraction of the packages once per release."""
    result = run(stack_config(stack), stack=stack)
    roles = {d.name: set(d.inputs["tags"]) for d in result.of_type(DROPLET)}
    releases = {s.name[: -len("-release")]: reveal(s.inputs["create"]) for s in result.of_type(COMMAND) if s.name.endswith("-release")}
    assert releases
    for node, line in releases.items():
        runs_app = any(tag.endswith("-app") for tag in roles[node])
        assert ("BYTECODE=no" in line) != runs_app, (node, roles[node])
