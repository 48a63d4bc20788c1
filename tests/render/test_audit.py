"""The rendered nodes through the tools an auditor would use: systemd-analyze security and gixy.

Every unit of ours on every node of every layout is scored offline: the app
unit (gunicorn, facing the internet) at most APP_LIMIT, every other unit at
most OTHER_LIMIT unless a comment in it, starting with WHY_EXPOSED, says why
not. gixy reads every web node's nginx files, with a domain and without, and
must report nothing. Each auditor is also shown what it must catch.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from model import paths
from model.topology import Topology
from render.userdata import SYSTEMD_UNIT_DIR, rendered_files
from tests.render.test_real_tools import TIMEOUT, need, nginx_tree
from tests.support.services import missing

Build = Callable[..., Topology]

APP_LIMIT = 2.5
OTHER_LIMIT = 5.0
WHY_EXPOSED = "# Exposure above 5.0:"
DOMAIN = "www.example.com"
_OVERALL = re.compile(r"Overall exposure level for (\S+): (\d+\.\d+)")


# systemd-analyze security ------------------------------------------------------

def our_units(files: dict[str, str]) -> dict[str, str]:
    """The unit files of ours a node gets, by name (drop-ins extend packaged units and are not ours)."""
    return {Path(p).name: c for p, c in files.items() if str(Path(p).parent) == SYSTEMD_UNIT_DIR and p.endswith(".service")}


def exposure(units: dict[str, str], root: Path) -> dict[str, float]:
    """Each unit's overall exposure, as `systemd-analyze security --offline=true` scores it in `root`."""
    analyze = need("systemd-analyze")
    unit_dir = root / SYSTEMD_UNIT_DIR.lstrip("/")
    unit_dir.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        (unit_dir / name).write_text(text)
    result = subprocess.run(
        [analyze, "security", "--offline=true", f"--root={root}", "--no-pager", *units],
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    scores = {name: float(score) for name, score in _OVERALL.findall(result.stdout)}
    assert set(scores) == set(units), result.stdout + result.stderr
    return scores


def too_exposed(name: str, text: str, score: float) -> str | None:
    """Why a unit fails the audit, or None when it passes."""
    if name == paths.APP_UNIT:
        return f"{name} scores {score}, above {APP_LIMIT}" if score > APP_LIMIT else None
    if score <= OTHER_LIMIT:
        return None
    if any(line.startswith(WHY_EXPOSED) and line[len(WHY_EXPOSED):].strip() for line in text.splitlines()):
        return None
    return f"{name} scores {score}, above {OTHER_LIMIT}, and no '{WHY_EXPOSED}' comment says why"


def test_every_unit_of_ours_is_sandboxed(render_layout: str, render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology(render_layout)
    for node in topology.nodes:
        units = our_units(rendered_files(node, topology))
        assert paths.NODE_ENV_UNIT in units
        scores = exposure(units, tmp_path / node.name)
        failures = [why for name, score in scores.items() if (why := too_exposed(name, units[name], score))]
        assert not failures, f"{node.name}: {failures}"


BARE_UNIT = "[Unit]\nDescription=unsandboxed\n\n[Service]\nType=oneshot\nExecStart=/bin/true\n"


def test_the_audit_fails_a_bare_unit_unless_it_says_why(tmp_path: Path) -> None:
    units = {paths.APP_UNIT: BARE_UNIT, "bare.service": BARE_UNIT}
    scores = exposure(units, tmp_path)
    assert scores["bare.service"] > OTHER_LIMIT
    assert too_exposed(paths.APP_UNIT, BARE_UNIT, scores[paths.APP_UNIT])
    assert too_exposed("bare.service", BARE_UNIT, scores["bare.service"])
    explained = f"{WHY_EXPOSED} it must be root with every capability\n{BARE_UNIT}"
    assert too_exposed("bare.service", explained, scores["bare.service"]) is None
    assert too_exposed(paths.APP_UNIT, explained, scores[paths.APP_UNIT]), "the app unit has no way out"


# gixy ----------------------------------------------------------------------------

def gixy(files: dict[str, str], root: Path) -> list[dict[str, object]]:
    """gixy's findings on the node's nginx files, wrapped as test_real_tools wraps them for nginx -t."""
    probe = subprocess.run([sys.executable, "-c", "import gixy"], capture_output=True)
    if probe.returncode != 0:
        missing("gixy (gixy-ng, pinned in requirements-dev.txt) is not installed")
    config = nginx_tree(files, root)
    result = subprocess.run(
        [sys.executable, "-m", "gixy", "--format", "json", str(config)], capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def _nginx_files(node_files: dict[str, str]) -> dict[str, str]:
    return {p: c for p, c in node_files.items() if p.startswith("/etc/nginx/")}


@pytest.mark.parametrize("domain", [None, DOMAIN], ids=["bare address", "domain"])
def test_gixy_reports_nothing(render_layout: str, render_topology: Build, tmp_path: Path, domain: str | None) -> None:
    topology = render_topology(render_layout, **({"domain": domain} if domain else {}))
    web_nodes = topology.nodes_with("web")
    assert web_nodes
    for node in web_nodes:
        found = gixy(_nginx_files(rendered_files(node, topology)), tmp_path / node.name)
        assert found == [], f"{node.name}: " + "; ".join(f"[{f['plugin']}] {f['reason']}" for f in found)


def test_gixy_reports_what_the_site_used_to_allow(render_topology: Build, tmp_path: Path) -> None:
    topology = render_topology("onebox")
    files = _nginx_files(rendered_files(topology.nodes[0], topology))
    old = {p: c.replace("server_tokens off;\n", "") for p, c in files.items()}
    assert old != files
    assert {f["plugin"] for f in gixy(old, tmp_path)} == {"version_disclosure"}
