"""The database's lasting parts: the data volume, its attachment, the app's role and database.

The volume is declared here with the same name and parent in every layout,
so moving from onebox to split moves the attachment and keeps the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from components import remote
from components.node_group import NodeHandle
from model import paths
from model.roles import Bind
from model.sizing import ConnectionPlan


@dataclass(frozen=True)
class DbNodeArgs:
    node: NodeHandle
    volume_name: str
    volume_gb: int
    region: str
    password: pulumi.Output[str]
    connections: ConnectionPlan
    """Whether the app tier reaches Postgres through PgBouncer, and its pool: it changes with the app tier's count."""
    bind: Bind


class DbNode(pulumi.ComponentResource):
    volume: do.Volume
    setup: pulumi.Resource
    """Done when Postgres runs on the volume and the app's role and database exist."""
    ready: pulumi.Resource
    """Done when the app can reach Postgres the way the plan says: through PgBouncer, running, when it pools.

    Without a pool, PgBouncer is stopped later (stop_pool_after), once no app
    node that takes requests goes through it any more.
    """

    def __init__(self, name: str, args: DbNodeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:db_node:DbNode", name, None, opts)
        node = self._node = args.node
        self.volume = do.Volume(
            "pgdata",
            name=args.volume_name,
            region=args.region,
            size=args.volume_gb,
            initial_filesystem_type="ext4",
            description="PostgreSQL data for django-tiers",
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.attachment = do.VolumeAttachment(
            "pgdata-attachment",
            droplet_id=node.droplet.id.apply(int),
            volume_id=self.volume.id,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.setup = remote.step(
            "db-setup",
            node.connection,
            remote.step_line("db-setup.sh", {"DB_NAME": paths.DB_NAME, "DB_USER": paths.DB_USER}),
            self,
            after=[node.ready, self.attachment],
            stdin=args.password.apply(lambda p: p + "\n"),
            secret=True,
        )
        plan = args.connections
        pool_env = {"POOLED": "yes" if plan.pooled else "no", "DB_NAME": paths.DB_NAME, "DB_USER": paths.DB_USER,
                    "BIND": str(args.bind)}
        if plan.pooled:
            pool_env |= {"POOL_SIZE": str(plan.pool_size), "MAX_CLIENT_CONN": str(plan.max_client_conn)}
        self._pool_line = remote.step_line("db-pool.sh", pool_env)
        self.pool: pulumi.Resource | None = None
        if plan.pooled:
            # PgBouncer runs, sized for the new app tier, before any app node is pointed at it.
            self.pool = self._pool_step([self.setup])
        self.ready = self.pool or self.setup
        self.register_outputs({"volumeId": self.volume.id, "attachmentId": self.attachment.id})

    def _pool_step(self, after: Sequence[pulumi.Resource]) -> pulumi.Resource:
        return remote.step("db-pool", self._node.connection, self._pool_line, self, after=after)

    def stop_pool_after(self, app_moved: Sequence[pulumi.Resource]) -> None:
        """Without a pool in the plan, the db-pool step (which stops a running PgBouncer) waits for `app_moved`.

        That is every app node restarted on PostgreSQL's own URL and the web
        tier no longer sending to the app nodes that go, which point at
        PgBouncer until they are destroyed: stopped before, it failed their
        requests. With a pool, the step ran first and this does nothing.
        """
        if self.pool is None:
            self.pool = self._pool_step([self.setup, *app_moved])
