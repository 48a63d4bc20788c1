"""The tree shows the design: floors import only what lies below them, and the README's code map is the tree."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

from model.project import ROOT
from tests.support.services import missing, require_tool

FLOORS: dict[str, frozenset[str]] = {
    "model": frozenset({"model"}),
    "render": frozenset({"model", "render"}),
    "components": frozenset({"model", "render", "components"}),
    "__main__": frozenset({"model", "render", "components"}),
    "sim": frozenset({"model", "sim"}),
    "localcloud": frozenset({"model", "render", "sim", "localcloud"}),
    "bench": frozenset({"model", "sim", "localcloud", "bench"}),
    "policy": frozenset(),
    "demo": frozenset(),
}
"""Each floor and the project packages it may import. sim and localcloud run the program from outside, by its path,
and bench measures what localcloud runs;
the policy pack and the demo run alone, each in its own virtualenv."""
PROJECT_PACKAGES = frozenset(FLOORS) | {"tests", "steps"}
PURE = ("model", "render")
"""Floors that decide without Pulumi."""
FLOOR_FOLDERS = ("model", "render", "components", "sim", "localcloud", "policy", "bench")


def _modules(floor: str) -> list:
    """The floor's own modules, not those of a virtualenv Pulumi made inside it."""
    if floor == "__main__":
        return [ROOT / "__main__.py"]
    return sorted(p for p in (ROOT / floor).rglob("*.py") if "venv" not in p.relative_to(ROOT).parts)


def _imports(path) -> set[str]:
    """The top-level names of every module `path` imports, at any depth in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("floor", sorted(FLOORS))
def test_a_floor_imports_only_floors_below_it(floor):
    back_edges = []
    for path in _modules(floor):
        for name in _imports(path) & PROJECT_PACKAGES:
            if name not in FLOORS[floor]:
                back_edges.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not back_edges


@pytest.mark.parametrize("floor", PURE)
def test_pure_floors_do_not_import_pulumi(floor):
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(floor)
        for name in _imports(path)
        if name == "pulumi" or name.startswith("pulumi_")
    ]
    assert not offenders


def test_the_walker_sees_a_back_edge(tmp_path):
    planted = tmp_path / "bad.py"
    planted.write_text("import os\nfrom components.site import Site\n\ndef f():\n    import localcloud.cloud\n")
    assert _imports(planted) & PROJECT_PACKAGES == {"components", "localcloud"}


def _code_map() -> list[str]:
    """The paths the README's "The code" section names, each made whole from its indentation."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## The code\n", 1)[1].split("\n## ", 1)[0]
    block = [line for line in section.splitlines() if line.startswith("    ") and line.strip()]
    assert block, "the README's code map is empty"
    paths, parents = [], []
    for line in block:
        depth = (len(line) - len(line.lstrip(" ")) - 4) // 2
        names = re.split(r"\s{2,}", line.strip())[0]
        parents = parents[:depth]
        for name in (n.strip() for n in names.split(",")):
            paths.append("".join(parents) + name)
        if names.endswith("/"):
            parents.append(names)
    return paths


def _tracked() -> tuple[set[str], set[str]]:
    require_tool("git")
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.fail(f"git ls-files failed in {ROOT}: {out.stderr.strip()}")
    files = set(out.stdout.split())
    folders = {"/".join(f.split("/")[:i]) + "/" for f in files for i in range(1, f.count("/") + 1)}
    return files, folders


def test_every_path_the_readme_names_exists():
    files, folders = _tracked()
    stale = [p for p in _code_map() if p not in files and p not in folders]
    assert not stale


def test_the_readme_names_every_top_level_entry_and_every_module_of_the_floors():
    files, folders = _tracked()
    named = set(_code_map())
    top = {f.split("/")[0] + ("/" if "/" in f else "") for f in files}
    shown = {entry for entry in top if not entry.startswith(".") and entry not in {"README.md"}}
    modules = {
        f for f in files
        if f.split("/")[0] in FLOOR_FOLDERS and f.endswith(".py") and not f.endswith("__init__.py")
    }
    test_floors = {f for f in folders if f.startswith("tests/") and f.count("/") == 2}
    missing = sorted((shown | modules | test_floors) - named)
    assert not missing


def test_no_unused_names_and_imports_sorted():
    """What a move between floors leaves behind: an import nothing uses, a name nothing defines."""
    found = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True, text=True)
    if "No module named ruff" in found.stderr:
        missing("ruff is not installed (requirements-dev.txt)")
    assert found.returncode == 0, found.stdout
