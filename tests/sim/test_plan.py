"""The offline plan: what a user reads before paying for a layout."""

from __future__ import annotations

import html
import re
import shutil
import sys
from pathlib import Path

import pytest

from model.project import ROOT
from model.python import NODE_PYTHON
from sim.plan import main
from tests.support.services import missing, require_tool


@pytest.fixture
def plan_of(tmp_path, capsys):
    """The plan's text; its diagram goes to a scratch directory, never over the committed ones."""

    def plan(stack: str) -> str:
        assert main([stack, "--diagrams", str(tmp_path)]) == 0
        return capsys.readouterr().out

    return plan


def test_pool_plan_lists_nodes_firewall_lb_and_cost(plan_of):
    out = plan_of("pool")
    assert re.search(r"^app\s+app\s+s-1vcpu-2gb\s+3$", out, re.M)
    assert re.search(r"^web\s+web\s+s-1vcpu-1gb\s+2$", out, re.M)
    assert re.search(r"^db\s+5432\s+app nodes$", out, re.M)
    assert re.search(r"^web\s+80\s+load balancer$", out, re.M)
    assert "droplets tagged dt-pool-web" in out and "/healthz" in out
    assert "Estimated monthly cost: $97.00 (DigitalOcean list prices, Spaces $5.00 included)" in out
    assert "Spaces: bucket dt-pool-data in nyc3" in out and "$5.00/month" in out


def test_onebox_plan_opens_only_the_web_ports_to_the_world(plan_of):
    out = plan_of("onebox")
    assert re.search(r"^box\s+web,app,cache,db\s+s-1vcpu-2gb\s+1$", out, re.M)
    world = [line for line in out.splitlines() if "0.0.0.0/0" in line]
    assert world and all(line.split()[0] == "web" for line in world)
    assert "Load balancer: none" in out


def test_plan_of_a_bad_stack_says_why(tmp_path, monkeypatch, capsys):
    import model.project as project

    (tmp_path / "Pulumi.broken.yaml").write_text("config:\n  django-tiers:layout: cluster\n")
    monkeypatch.setattr(project, "STACKS", tmp_path)
    assert main(["broken"]) == 1
    assert "django-tiers:layout = 'cluster'" in capsys.readouterr().err


def test_plan_of_a_missing_stack(capsys):
    assert main(["nosuchstack"]) == 2
    assert "stacks/Pulumi.nosuchstack.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("stack", ["dbsplit", "split", "custom"])
def test_every_stack_plans(stack, plan_of):
    assert "Estimated monthly cost" in plan_of(stack)


def test_plan_also_draws_the_stack(plan_of, tmp_path):
    require_tool("dot")
    out = plan_of("split")
    drawn = tmp_path / "split.svg"
    assert f"Diagram: {drawn}" in out
    svg = html.unescape(drawn.read_text())
    assert svg.startswith("<?xml") and "db-1" in svg


def test_several_stacks_plan_side_by_side_in_one_account(tmp_path, capsys):
    assert main(["onebox", "pool", "--diagrams", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Plan for stack onebox" in out and "Plan for stack pool" in out


def test_stacks_whose_vpcs_overlap_cannot_share_an_account(tmp_path, monkeypatch, capsys):
    import model.project as project

    for stack in ("staging", "production"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text((project.STACKS / "Pulumi.onebox.yaml").read_text())
    monkeypatch.setattr(project, "STACKS", tmp_path)
    assert main(["staging", "--diagrams", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["staging", "production", "--diagrams", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error in stack production" in err and "overlaps with VPC dt-staging-vpc" in err


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory) -> Path:
    """One cache for this module's plans: nothing remembered from before, one virtualenv shared by them."""
    return tmp_path_factory.mktemp("cache")


def _plan_own_project(tmp_path, monkeypatch, capsys, cache: Path, requirements: str, settings: str = "") -> tuple[int, str]:
    """`make plan` of a stack whose project (a copy of tests/project) pins `requirements` and adds `settings` lines."""
    import model.project as project

    source = tmp_path / "mysite"
    shutil.copytree(ROOT / "tests" / "project", source, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "requirements.txt").write_text(requirements)
    with (source / "minisite" / "settings.py").open("a") as handle:
        handle.write(settings)
    (tmp_path / "Pulumi.mine.yaml").write_text(
        "config:\n  django-tiers:adminCidrs: [203.0.113.0/24]\n"
        f"  django-tiers:app:\n    source: {source}\n    settings: minisite.settings\n"
        "    wsgi: minisite.wsgi:application\n"
    )
    monkeypatch.setattr(project, "STACKS", tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    code = main(["mine", "--diagrams", str(tmp_path)])
    out = capsys.readouterr()
    if "the package index did not answer" in out.out + out.err:
        missing("PyPI is unreachable: the requirements cannot be resolved")
    return code, out.err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_plan_refuses_a_pin_that_needs_a_newer_python_than_the_nodes(tmp_path, monkeypatch, capsys, fresh_cache):
    code, err = _plan_own_project(tmp_path, monkeypatch, capsys, fresh_cache, "Django==6.0\ngunicorn==27.0.1\n")
    assert code == 1
    line = _one_line(err)
    assert "django-tiers:app.requirements" in line
    assert "Django==6.0 needs Python >=3.12" in line
    assert f"the nodes run Python {NODE_PYTHON}" in line


def test_plan_accepts_a_pin_valid_for_the_nodes_python(tmp_path, monkeypatch, capsys, fresh_cache):
    requirements = (ROOT / "tests" / "project" / "requirements.txt").read_text()
    code, err = _plan_own_project(tmp_path, monkeypatch, capsys, fresh_cache, requirements)
    assert code == 0, err
    assert list((fresh_cache / "django-tiers" / "requirements").iterdir()), "a resolved file is remembered"


def test_plan_refuses_settings_that_fail_djangos_checks(tmp_path, monkeypatch, capsys, fresh_cache):
    """Where this machine runs the nodes' minor Python, the settings are imported and checked as the nodes would."""
    if ".".join(map(str, sys.version_info[:2])) != NODE_PYTHON.rsplit(".", 1)[0]:
        missing(f"this machine's Python is not {NODE_PYTHON}'s minor version: the settings are not checked here")
    requirements = (ROOT / "tests" / "project" / "requirements.txt").read_text()
    broken = '\nINSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.admin"]\n'
    code, err = _plan_own_project(tmp_path, monkeypatch, capsys, fresh_cache, requirements, broken)
    assert code == 1
    line = _one_line(err)
    assert "django-tiers:app.settings = 'minisite.settings'" in line
    assert "check --deploy" in line, line
    assert line.endswith("RuntimeError: Model class django.contrib.contenttypes.models.ContentType doesn't declare "
                         "an explicit app_label and isn't in an application in INSTALLED_APPS."), line
