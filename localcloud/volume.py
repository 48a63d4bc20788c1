"""DigitalOcean Volumes as host directories, attached by mounting them into a running machine.

A volume's directory outlives machines and teardown; only a purge removes
it. Attaching uses systemd-nspawn's propagation directory: a bind mount
made on the host under /run/systemd/nspawn/propagate/<machine> appears in the
machine under /run/host/incoming, and a script inside binds it at the mount
point. Detaching stops what holds files there, then unmounts.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
from pathlib import Path

from localcloud.host import data_dir, run
from localcloud.machine import PROPAGATE_DIR, MachineState, run_in
from render import templates

ATTACH_SCRIPT = "localcloud/templates/attach-volume.sh.j2"
DETACH_SCRIPT = "localcloud/templates/detach-volume.sh.j2"
INCOMING_IN_MACHINE = "/run/host/incoming"


class VolumeError(RuntimeError):
    """The volume could not be attached or detached."""


def volume_dir(stack: str, name: str) -> Path:
    return data_dir() / "volumes" / stack / name


def ensure_volume(stack: str, name: str) -> Path:
    path = volume_dir(stack, name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def purge_volumes(stack: str) -> None:
    shutil.rmtree(data_dir() / "volumes" / stack, ignore_errors=True)


def _script(template: str, **values: str) -> bytes:
    """A script for `bash -s` with every value shell-quoted."""
    return templates.render(template, **{k: shlex.quote(v) for k, v in values.items()}).encode()


def attach(machine: MachineState, source: Path, target: str) -> None:
    """Mount the host directory `source` at `target` inside the running `machine`."""
    slot = "volume-" + hashlib.sha256(str(source).encode()).hexdigest()[:12]
    incoming = PROPAGATE_DIR / machine.name
    if not incoming.is_dir():
        raise VolumeError(f"{machine.name}: no propagation directory {incoming}; is the machine running?")
    host_side = incoming / slot
    host_side.mkdir(exist_ok=True)
    run(["mount", "--bind", str(source), str(host_side)])
    try:
        inside = f"{INCOMING_IN_MACHINE}/{slot}"
        done = run_in(
            machine, ["bash", "-s"], input_bytes=_script(ATTACH_SCRIPT, incoming=inside, target=target),
            check=False,
        )
        if done.returncode != 0:
            raise VolumeError(f"{machine.name}: attaching at {target} failed: {done.stderr.decode().strip()}")
    finally:
        run(["umount", str(host_side)])
        host_side.rmdir()


def detach(machine: MachineState, target: str) -> None:
    """Unmount `target` in `machine`, stopping the services that hold files on it first."""
    done = run_in(machine, ["bash", "-s"], input_bytes=_script(DETACH_SCRIPT, target=target), check=False)
    if done.returncode != 0:
        raise VolumeError(f"{machine.name}: detaching {target} failed: {done.stderr.decode().strip()}")
