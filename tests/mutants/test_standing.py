"""Each standing mutant, applied to a copy of the repository, is caught by the tests named for it.

The copy holds the tracked files as they are in the work tree, so a mutant
is judged against the tests as they stand. A mutant whose original text is
gone fails here by name: the set cannot rot silently.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model.project import ROOT
from tests.mutants.catalogue import MUTANTS, Mutant
from tests.support.services import missing, require_tool, shared_tempdir

TIMEOUT = 600


def _copy_repository(target: Path) -> None:
    require_tool("git")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _apply(mutant: Mutant, root: Path) -> None:
    path = root / mutant.file
    text = path.read_text()
    found = text.count(mutant.original)
    assert found == 1, f"mutant {mutant.name}: its original text occurs {found} times in {mutant.file}, not once"
    path.write_text(text.replace(mutant.original, mutant.replacement))


def test_every_mutant_applies_and_names_its_killers():
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    for mutant in MUTANTS:
        assert mutant.original != mutant.replacement, mutant.name
        assert "\n" not in mutant.original + mutant.replacement, f"{mutant.name} is not one line"
        assert (ROOT / mutant.file).read_text().count(mutant.original) == 1, f"{mutant.name}: original not found once in {mutant.file}"
        for killer in mutant.killers:
            file, _, test = killer.partition("::")
            assert re.search(rf"^def {re.escape(test)}\(", (ROOT / file).read_text(), re.MULTILINE), f"{mutant.name}: no {killer}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_killed(mutant: Mutant):
    # The step tests run the app as an unprivileged user from the repository's directory: it must be reachable.
    copy = shared_tempdir(f"dt-mutant-{mutant.name}-")
    try:
        _copy_repository(copy)
        _apply(mutant, copy)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-rfEs", "-p", "no:cacheprovider", "-p", "no:xdist", *mutant.killers],
            cwd=copy, capture_output=True, text=True, timeout=TIMEOUT,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    report = result.stdout[-3000:] + result.stderr[-2000:]
    if result.returncode == 0 and re.search(r"\d+ skipped", result.stdout):
        missing(f"mutant {mutant.name}: its killing tests were skipped here:\n{report}")
    assert result.returncode != 0, f"mutant {mutant.name} survived {', '.join(mutant.killers)}:\n{report}"
    assert result.returncode == 1 and re.search(r"^FAILED ", result.stdout, re.MULTILINE), (
        f"mutant {mutant.name}: the killing tests did not run to a failure (exit {result.returncode}):\n{report}"
    )
    assert not re.search(r"^ERROR ", result.stdout, re.MULTILINE), f"mutant {mutant.name}: a test errored instead:\n{report}"
