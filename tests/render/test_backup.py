"""pgBackRest's files as the db node gets them, through the tools that read them there."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from model import paths
from model.config import BACKUP_SCHEDULES, BackupSpec
from render.backup import backup_units, pgbackrest_conf, split_endpoint
from render.userdata import SYSTEMD_UNIT_DIR
from tests.render.test_audit import OTHER_LIMIT, exposure
from tests.render.test_real_tools import TIMEOUT, need, systemd_verify
from tests.support.services import missing

SPEC = BackupSpec("weekly", 3)


def _conf(endpoint: str = "nyc3.digitaloceanspaces.com") -> str:
    return pgbackrest_conf(SPEC, "dt-test-data", endpoint, "nyc3", "DO00KEYID", "s3cr3t/key+value")


def _pgbackrest_current(conf: Path, option: str) -> str:
    """The value pgBackRest itself reads from `conf` for `option`, as its help prints it."""
    tool = shutil.which("pgbackrest") or missing("pgbackrest (Debian package pgbackrest)")
    result = subprocess.run(
        [tool, f"--config={conf}", f"--stanza={paths.PGBACKREST_STANZA}", "help", "backup", option],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    current = [line for line in result.stdout.splitlines() if line.startswith("current:")]
    assert current, result.stdout
    return current[0].split(":", 1)[1].strip()


@pytest.mark.parametrize("option, expected", [
    ("repo1-type", "s3"),
    ("repo1-s3-bucket", "dt-test-data"),
    ("repo1-s3-endpoint", "nyc3.digitaloceanspaces.com"),
    ("repo1-storage-port", "443"),
    ("repo1-s3-uri-style", "path"),
    ("repo1-retention-full", "3"),
    ("repo1-path", paths.PGBACKREST_REPO_PATH),
    ("pg1-path", paths.PG_DATA_DIR),
    ("compress-type", "lz4"),
])
def test_pgbackrest_reads_the_configuration_as_meant(tmp_path: Path, option: str, expected: str) -> None:
    conf = tmp_path / "pgbackrest.conf"
    conf.write_text(_conf())
    assert _pgbackrest_current(conf, option) == expected


def test_an_endpoint_with_a_port_reaches_pgbackrest_as_host_and_port(tmp_path: Path) -> None:
    assert split_endpoint("spaces.localcloud.internal:9443") == ("spaces.localcloud.internal", 9443)
    conf = tmp_path / "pgbackrest.conf"
    conf.write_text(_conf("spaces.localcloud.internal:9443"))
    assert _pgbackrest_current(conf, "repo1-s3-endpoint") == "spaces.localcloud.internal"
    assert _pgbackrest_current(conf, "repo1-storage-port") == "9443"


def _unit_files() -> tuple[dict[str, str], dict[str, int]]:
    files = {f"{SYSTEMD_UNIT_DIR}/{name}": text for name, text in backup_units(SPEC).items()}
    return files, {p: 0o644 for p in files}


def test_backup_units_verify_cleanly(tmp_path: Path) -> None:
    files, modes = _unit_files()
    results = systemd_verify(files, modes, tmp_path)
    assert {unit for unit, _ in results} == {paths.BACKUP_UNIT, paths.BACKUP_TIMER}
    for unit, result in results:
        assert result.returncode == 0 and not result.stderr.strip(), f"{unit}: {result.stderr}"


def test_the_backup_service_is_sandboxed(tmp_path: Path) -> None:
    files, _ = _unit_files()
    service = {paths.BACKUP_UNIT: files[f"{SYSTEMD_UNIT_DIR}/{paths.BACKUP_UNIT}"]}
    assert exposure(service, tmp_path)[paths.BACKUP_UNIT] <= OTHER_LIMIT


@pytest.mark.parametrize("schedule", sorted(BACKUP_SCHEDULES))
def test_every_schedule_is_a_calendar_systemd_takes(schedule: str) -> None:
    result = subprocess.run(
        [need("systemd-analyze"), "calendar", BACKUP_SCHEDULES[schedule]],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"OnCalendar={BACKUP_SCHEDULES[schedule]}" in backup_units(BackupSpec(schedule, 7))[paths.BACKUP_TIMER]
