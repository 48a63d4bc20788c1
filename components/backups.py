"""The database's backups: pgBackRest on the db node, into the stack's bucket, with the Spaces key on stdin."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import remote
from components.node_group import NodeHandle
from components.spaces import Spaces
from model import paths
from model.config import BackupSpec
from render import steps
from render.backup import backup_units, pgbackrest_conf


@dataclass(frozen=True)
class BackupsArgs:
    node: NodeHandle
    spec: BackupSpec
    spaces: Spaces
    region: str
    db_setup: pulumi.Resource


class Backups(pulumi.ComponentResource):
    step: pulumi.Resource

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:backups:Backups", name, None, opts)
        bucket, key = args.spaces.bucket, args.spaces.key
        conf = pulumi.Output.all(bucket.name, bucket.endpoint, key.access_key, key.secret_key).apply(
            lambda v: pgbackrest_conf(args.spec, v[0], v[1], args.region, v[2], v[3]) + "\n"
        )
        units = backup_units(args.spec)
        self.step = remote.step(
            "db-backup",
            args.node.connection,
            remote.step_line("db-backup.sh", {
                "BACKUP_SERVICE": units[paths.BACKUP_UNIT],
                "BACKUP_TIMER": units[paths.BACKUP_TIMER],
                "RESTORE_TEXT": steps.render("db-restore.sh"),
            }),
            self,
            after=[args.db_setup],
            stdin=pulumi.Output.secret(conf),
            secret=True,
        )
        self.register_outputs({})
