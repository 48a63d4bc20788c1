"""pgBackRest on the db node: its configuration (which holds the Spaces key), the backup timer, the restore command."""

from __future__ import annotations

from model import paths
from model.config import BackupSpec
from render.templates import render

CONF_TEMPLATE = "steps/pgbackrest.conf.j2"
UNIT_TEMPLATES = {paths.BACKUP_UNIT: "steps/backup.service.j2", paths.BACKUP_TIMER: "steps/backup.timer.j2"}


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """A bucket's endpoint, `host` or `host:port`, as pgBackRest takes it: host and port apart (443 by default)."""
    host, sep, port = endpoint.rpartition(":")
    return (host, int(port)) if sep and port.isdigit() else (endpoint, 443)


def pgbackrest_conf(
    spec: BackupSpec, bucket: str, endpoint: str, region: str, access_key: str, secret_key: str
) -> str:
    """The file's text; it holds the Spaces key, so it only ever travels on a step's stdin."""
    host, port = split_endpoint(endpoint)
    return render(
        CONF_TEMPLATE,
        paths=paths, spec=spec, bucket=bucket, host=host, port=port, region=region,
        access_key=access_key, secret_key=secret_key,
    )


def backup_units(spec: BackupSpec) -> dict[str, str]:
    """The systemd service that takes a full base backup, and the timer that starts it on the schedule."""
    return {name: render(template, paths=paths, spec=spec) for name, template in UNIT_TEMPLATES.items()}
