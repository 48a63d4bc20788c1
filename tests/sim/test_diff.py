"""`make diff BASE=<ref>` over real commits: the project copied into a scratch repository, changed, committed, compared.

Each case runs `python -m sim.diff` (what `make diff` runs) inside the
scratch repository, so BASE is checked out from its history and the working
tree is the copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from model.project import ROOT, stack_names
from sim.diff import COMMENT_LIMIT, MARKER, Change, StackDiff, compare_graphs, render
from sim.snapshot import SECRETS
from tests.support.services import require_tool

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Reviewer", "GIT_AUTHOR_EMAIL": "reviewer@example.test",
    "GIT_COMMITTER_NAME": "Reviewer", "GIT_COMMITTER_EMAIL": "reviewer@example.test",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **GIT_IDENTITY})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """This project (its program, stack files and sim/; not its tests) as the first commit of a new repository."""
    require_tool("git")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    copy = tmp_path / "repo"
    for name in listed:
        if not name.startswith("tests/") and (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    git(copy, "init", "-q", "-b", "main")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "base")
    return copy


def change_stack(repo: Path, stack: str, message: str, **tiers: dict) -> None:
    """Commit a change to the stack file's `tiers`, as a user edits it."""
    path = repo / "stacks" / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    current = data["config"]["django-tiers:tiers"]
    for tier, values in tiers.items():
        current[tier] = {**current.get(tier, {}), **values}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    git(repo, "commit", "-q", "-am", message)


def diff(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "sim.diff", *args], cwd=repo, capture_output=True, text=True, env=env)


def comment(repo: Path, *args: str) -> str:
    done = diff(repo, *args)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith(MARKER) and len(text) < COMMENT_LIMIT
    assert not any(value in text for value in SECRETS.values()) and "secret-sha256" not in text
    return text


def summary_of(text: str, stack: str) -> str:
    found = re.search(rf"^- \*\*{stack}\*\*: (.*)$", text, re.M)
    assert found, f"no summary line for {stack}"
    return found.group(1)


def rows(text: str, plan: str) -> list[list[str]]:
    """The plan table's rows whose Plan column is `plan`, split into columns."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if re.match(rf"^\S+\s+\S+\s+\S+\s+{plan}\b", line)]


def test_a_commit_that_adds_an_app_node_creates_one_droplet_and_replaces_nothing(repo):
    change_stack(repo, "pool", "one more app node", app={"count": 4})
    text = comment(repo, "HEAD~1", "--stack", "pool")
    assert re.fullmatch(r"\+1 droplet, .*\b\d+ steps? updated, nothing replaced", summary_of(text, "pool"))
    assert [r[:3] for r in rows(text, "create") if r[1] == "Droplet"] == [["+", "Droplet", "app-4"]]
    assert not rows(text, "replace") and not rows(text, "delete")
    assert {r[2] for r in rows(text, "update") if r[1] == "Command"} == {"web-1-upstream", "web-2-upstream", "site-ready"}


def test_a_commit_that_changes_a_droplet_size_shows_the_replace_and_names_size_and_user_data(repo):
    change_stack(repo, "pool", "bigger app nodes", app={"size": "s-2vcpu-4gb"})
    text = comment(repo, "HEAD~1", "--stack", "pool")
    droplets = {r[2]: r[4] for r in rows(text, "replace") if r[1] == "Droplet"}
    assert droplets == {f"app-{i}": "[diff: ~size, ~userData] userData forces replacement" for i in (1, 2, 3)}
    assert summary_of(text, "pool").count("3 droplets replaced") == 1
    assert '~ size: "s-1vcpu-2gb" => "s-2vcpu-4gb"' in text
    assert "~ connection: known once app-1 is replaced (forces replacement)" in text


def test_an_unchanged_tree_shows_no_changes(repo):
    text = comment(repo, "HEAD")
    assert {stack: summary_of(text, stack) for stack in stack_names()} == {stack: "no changes" for stack in stack_names()}
    assert "####" not in text


def test_the_diff_of_a_100_node_pool_fits_a_comment_and_says_what_it_left_out(repo):
    change_stack(repo, "pool", "a hundred app nodes", app={"count": 100})
    change_stack(repo, "pool", "bigger app nodes", app={"size": "s-2vcpu-4gb"})
    text = comment(repo, "HEAD~1", "--stack", "pool")
    assert summary_of(text, "pool").endswith("100 droplets replaced, 601 steps replaced")
    note = re.search(r"Cut to fit GitHub's 65,536-character comment limit\.\*\* Left out: (.*?)\. ", text)
    assert note, "no note of what was cut"
    left_out = dict((what, int(n)) for n, what in re.findall(r"(\d+) ((?:rows|lines) of pool's [a-z ]+)", note.group(1)))
    assert left_out and all(n > 0 for n in left_out.values())
    shown = len(rows(text, "replace")) + len(rows(text, "update"))
    site_ready = 1  # the last step waits again, for the new app servers
    db_pool = 1  # PgBouncer's db-pool step, updated in place: bigger app nodes have more workers for it to admit
    assert shown + left_out.get("rows of pool's plan", 0) == 100 + 601 + 100 + 2 + db_pool + site_ready


def test_a_stack_file_the_program_refuses_says_why_in_its_line(repo):
    path = repo / "stacks" / "Pulumi.pool.yaml"
    path.write_text(path.read_text().replace("django-tiers:layout: pool", "django-tiers:layout: cluster"))
    text = comment(repo, "HEAD", "--stack", "pool")
    assert summary_of(text, "pool") == (
        "the program fails: ConfigError: config django-tiers:layout = 'cluster' is not valid: "
        "one of onebox, dbsplit, split, pool, custom"
    )


def test_whole_prints_what_the_comment_leaves_out():
    urn = "urn:pulumi:pool::django-tiers::django-tiers:node_group:NodeGroup$digitalocean:index/droplet:Droplet::app-{}"
    droplets = tuple(Change("create", urn.format(i), "digitalocean:index/droplet:Droplet") for i in range(1, 3001))
    cut = render([StackDiff("pool", droplets)], "main", "0" * 40)
    whole = render([StackDiff("pool", droplets)], "main", "0" * 40, limit=None)
    assert len(cut) < COMMENT_LIMIT < len(whole)
    assert "`make diff BASE=main WHOLE=1` shows everything" in cut
    assert len(rows(whole, "create")) == 3000 > len(rows(cut, "create"))


def test_a_bad_base_is_one_clear_error(repo):
    done = diff(repo, "no-such-ref")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "'no-such-ref' is not a commit" in done.stderr


def _entry(type_: str, **inputs: object) -> dict:
    return {
        "type": type_, "inputs": inputs, "protect": False, "delete_before_replace": False,
        "ignore_changes": [], "replace_on_changes": [], "additional_secret_outputs": [],
    }


def test_a_changed_secret_input_shows_that_it_changed_and_never_its_value():
    urn = "urn:pulumi:pool::django-tiers::command:remote:Command::app-1-env"
    old = {urn: _entry("command:remote:Command", create="x", stdin={"secret-sha256": "digest-before"})}
    new = {urn: _entry("command:remote:Command", create="x", stdin={"secret-sha256": "digest-after"})}
    changes, unchanged = compare_graphs(old, new, {}, {})
    assert [(c.op, c.inputs) for c in changes] == [("update", ("stdin",))] and unchanged == 0
    text = render([StackDiff("pool", tuple(changes))], "main", "0" * 40)
    assert "~ stdin: [secret]" in text and "digest-" not in text


def test_a_moved_resource_is_the_same_resource():
    old_urn = "urn:pulumi:pool::django-tiers::digitalocean:index/vpc:Vpc::vpc"
    new_urn = "urn:pulumi:pool::django-tiers::django-tiers:network:Network$digitalocean:index/vpc:Vpc::vpc"
    vpc = _entry("digitalocean:index/vpc:Vpc", ipRange="10.10.0.0/24")
    assert compare_graphs({old_urn: vpc}, {new_urn: vpc}, {new_urn: [old_urn]}, {}) == ([], 1)
    changes, _ = compare_graphs({old_urn: vpc}, {new_urn: vpc}, {}, {})
    assert sorted(c.op for c in changes) == ["create", "delete"]


def test_a_protected_resource_that_would_go_says_pulumi_stops_there():
    urn = "urn:pulumi:pool::django-tiers::digitalocean:index/volume:Volume::pgdata"
    volume = {**_entry("digitalocean:index/volume:Volume", name="pgdata-pool"), "protect": True}
    changes, _ = compare_graphs({urn: volume}, {}, {}, {})
    assert changes == [Change("delete", urn, volume["type"], old=volume)]
    assert "protected: `pulumi up` stops here" in render([StackDiff("pool", tuple(changes))], "main", "0" * 40)
