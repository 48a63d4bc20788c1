"""Which ssh failures a step dials again, and what its error says, against an ssh that fails as told.

A stand-in `ssh` first on PATH writes to the -E log what the real client
writes there (`Connection closed by ...` for sshd's nologin refusal,
`Authenticated to ...` once let in), shows the server's banner on stderr,
and runs the command only once it lets itself in. The local-cloud test does
the same against a real booting node.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud import ssh
from sim.keys import new_deploy_key

FAKE_SSH = r"""#!/bin/sh
log=""
prev=""
for arg in "$@"; do
  [ "$prev" = "-E" ] && log="$arg"
  prev="$arg"
  line="$arg"
done
calls=$(($(cat "$FAKE_DIR/calls" 2>/dev/null || echo 0) + 1))
echo "$calls" > "$FAKE_DIR/calls"
case "$FAKE_MODE" in
  hostkey)
    echo "Host key verification failed." >> "$log"; exit 255 ;;
  nologin)
    if [ "$calls" -le "$FAKE_REFUSALS" ]; then
      echo "System is booting up. Unprivileged users are not permitted to log in yet." >&2
      echo "Connection closed by 10.0.0.2 port 22" >> "$log"
      exit 255
    fi ;;
esac
echo 'Authenticated to 10.0.0.2 ([10.0.0.2]:22) using "publickey".' >> "$log"
exec sh -c "$line"
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH)
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    monkeypatch.setattr(ssh, "DIAL_MAX_DELAY_SECONDS", 0.0)
    return tmp_path


def _conn(limit: int = 5) -> ssh.Connection:
    return ssh.Connection("10.0.0.2", "deploy", 22, new_deploy_key()[0], dial_error_limit=limit, per_dial_timeout=5)


def _calls(fake: Path) -> int:
    return int((fake / "calls").read_text())


def test_a_refusal_before_the_command_is_dialled_again(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "nologin")
    monkeypatch.setenv("FAKE_REFUSALS", "2")
    out, err = ssh.run_command(_conn(), "echo ran; echo note >&2", None, {"STEP": "x"}, ())
    assert (out, err) == ("ran", "note"), "ssh's own diagnostics never mix with the command's stderr"
    assert _calls(fake) == 3


def test_the_last_refusal_is_reported_in_ssh_s_words(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "nologin")
    monkeypatch.setenv("FAKE_REFUSALS", "9")
    with pytest.raises(ssh.RemoteError) as refused:
        ssh.run_command(_conn(limit=2), "true", None, {}, ())
    assert str(refused.value) == (
        "deploy@10.0.0.2:22: no SSH after 3 dials, ssh exited 255:\n"
        "Connection closed by 10.0.0.2 port 22\n"
        "System is booting up. Unprivileged users are not permitted to log in yet."
    )
    assert _calls(fake) == 3, "the provider gives up once more dials failed than the limit allows"


def test_a_command_that_exits_255_is_not_run_again(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "ok")
    with pytest.raises(ssh.RemoteError) as failed:
        ssh.run_command(_conn(), "echo boom >&2; exit 255", None, {}, ())
    assert str(failed.value) == "deploy@10.0.0.2:22: exited 255:\nboom"
    assert _calls(fake) == 1


def test_another_host_key_is_refused_at_once(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "hostkey")
    with pytest.raises(ssh.RemoteError, match="another key than the one pinned at first contact; nothing was run"):
        ssh.run_command(_conn(), "true", None, {}, ())
    assert _calls(fake) == 1


def test_dials_pause_as_the_provider_does(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    monkeypatch.setenv("PATH", f"{fake / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_DIR", str(fake))
    monkeypatch.setenv("FAKE_MODE", "nologin")
    monkeypatch.setenv("FAKE_REFUSALS", "99")
    pauses: list[float] = []
    monkeypatch.setattr(ssh.time, "sleep", pauses.append)
    with pytest.raises(ssh.RemoteError):
        ssh.run_command(_conn(limit=12), "true", None, {}, ())
    assert [round(p, 3) for p in pauses[:3]] == [0.1, 0.15, 0.225]
    assert pauses[-1] == 5.0 and max(pauses) == 5.0, "never more than 5 s between dials"
    assert len(pauses) == 12, "a pause after each refused dial but the last"


def test_secrets_are_masked_in_ssh_s_words_too(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "nologin")
    monkeypatch.setenv("FAKE_REFUSALS", "9")
    with pytest.raises(ssh.RemoteError) as refused:
        ssh.run_command(_conn(limit=1), "true", None, {}, ("10.0.0.2 port 22",))
    assert "Connection closed by [secret]" in str(refused.value)
