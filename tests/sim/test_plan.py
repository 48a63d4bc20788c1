"""The offline plan: what a user reads before paying for a layout."""

from __future__ import annotations

import re

import pytest

from sim.plan import main


def plan_of(stack: str, capsys) -> str:
    assert main([stack]) == 0
    return capsys.readouterr().out


def test_pool_plan_lists_nodes_firewall_lb_and_cost(capsys):
    out = plan_of("pool", capsys)
    assert re.search(r"^app\s+app\s+s-1vcpu-2gb\s+3$", out, re.M)
    assert re.search(r"^web\s+web\s+s-1vcpu-1gb\s+2$", out, re.M)
    assert re.search(r"^db\s+5432\s+app nodes$", out, re.M)
    assert re.search(r"^web\s+80\s+load balancer$", out, re.M)
    assert "droplets tagged dt-pool-web" in out and "/healthz" in out
    assert "Estimated monthly cost: $92.00" in out


def test_onebox_plan_opens_only_the_web_ports_to_the_world(capsys):
    out = plan_of("onebox", capsys)
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
def test_every_stack_plans(stack, capsys):
    assert "Estimated monthly cost" in plan_of(stack, capsys)
