"""The day-2 scripts as text: rendered from the path conventions, shellcheck-clean."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from model import paths
from model.project import ROOT
from render import steps
from tests.support.services import require_tool


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return steps.write_all(tmp_path_factory.mktemp("steps"))


@pytest.mark.parametrize("name", steps.STEPS)
def test_shellcheck_clean(rendered: dict[str, Path], name: str) -> None:
    result = subprocess.run(
        [require_tool("shellcheck"), "--severity=style", "--shell=bash", str(rendered[name])],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("name", steps.STEPS)
def test_strict_mode_and_no_template_left(rendered: dict[str, Path], name: str) -> None:
    text = rendered[name].read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert not re.search(r"\{\{|\{%|%\}", text)
    assert subprocess.run(["bash", "-n", str(rendered[name])]).returncode == 0


@pytest.mark.parametrize(
    ("name", "variable", "value"),
    [
        ("app-release.sh", "RELEASES_DIR", paths.RELEASES_DIR),
        ("app-release.sh", "BUILD_USER", paths.BUILD_USER),
        ("app-release.sh", "BUILD_DIR", paths.BUILD_DIR),
        ("app-env.sh", "APP_ENV_FILE", paths.APP_ENV_FILE),
        ("app-env.sh", "APP_GROUP", paths.APP_USER),
        ("migrate.sh", "RUN_AS", paths.APP_USER),
        ("app-activate.sh", "CURRENT_LINK", paths.CURRENT_LINK),
        ("app-activate.sh", "APP_UNIT", paths.APP_UNIT),
        ("web-upstream.sh", "NGINX_UPSTREAM_FILE", paths.NGINX_UPSTREAM_FILE),
        ("web-static.sh", "STATIC_ROOT", paths.STATIC_ROOT),
        ("db-setup.sh", "PGDATA_SCRIPT", paths.PGDATA_SCRIPT),
        ("app-activate.sh", "STATE_FILE", paths.ACTIVATION_STATE_FILE),
    ],
)
def test_defaults_come_from_the_path_conventions(name: str, variable: str, value: str) -> None:
    assert f'{variable}="${{{variable}:-{value}}}"' in steps.render(name)


def test_health_probe_uses_the_conventional_path() -> None:
    assert f"{paths.HEALTH_PATH}\"" in steps.render("app-activate.sh")


def test_unknown_step_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown step"):
        steps.render("deploy-everything.sh")


def test_inline_command_quotes_settings_and_carries_the_script() -> None:
    line = steps.inline_command("app-release.sh", {"RELEASE": "abc 123", "REQUIREMENTS": "req's.txt"})
    words = shlex.split(line)
    assert words == ["RELEASE=abc 123", "REQUIREMENTS=req's.txt", "bash", "-c", steps.render("app-release.sh"), "app-release.sh"]


def test_inline_command_refuses_bad_variable_names() -> None:
    with pytest.raises(ValueError, match="not environment variable names"):
        steps.inline_command("migrate.sh", {"RELEASE; rm -rf /": "x"})


def test_inline_command_runs_the_step_through_a_shell(tmp_path: Path) -> None:
    """As an SSH server runs it: the login shell parses the line, the secret arrives on stdin."""
    env_file = tmp_path / "etc" / "app.env"
    line = steps.inline_command("app-env.sh", {"APP_ENV_FILE": str(env_file), "APP_GROUP": "root"})
    result = subprocess.run(["sh", "-c", line], input="SECRET_KEY=it's $HOME\n", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"app-env.sh: {env_file} changed\n"
    assert env_file.read_text() == "SECRET_KEY=it's $HOME\n"


@pytest.mark.parametrize("name", steps.LINE_STEPS)
def test_line_steps_are_one_shellcheck_clean_line(tmp_path: Path, name: str) -> None:
    line = steps.render_line(name, release="abc123", uploaded="/tmp/up.tar.gz", then="true", wait="true")
    assert line and "\n" not in line
    script = tmp_path / name
    script.write_text(f"#!/usr/bin/env bash\n{line}\n")
    result = subprocess.run(
        [require_tool("shellcheck"), "--severity=style", "--shell=bash", str(script)], capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout


def test_every_file_in_steps_is_a_step() -> None:
    on_disk = {p.name for p in (ROOT / "steps").iterdir()}
    known = {f"{n}.j2" for n in steps.STEPS} | {f"{n}.line.j2" for n in steps.LINE_STEPS}
    assert on_disk == known | {
        "_common.sh.j2", "_role_password.sh.j2", "app.env.j2",
        "pgbackrest.conf.j2", "backup.service.j2", "backup.timer.j2",
    }
