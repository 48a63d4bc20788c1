"""The offline plan: what a user reads before paying for a layout."""

from __future__ import annotations

import html
import re

import pytest

from sim.plan import main
from tests.support.services import require_tool


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
