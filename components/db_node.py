"""The database's lasting parts: the data volume, its attachment, and the firewall for Postgres.

The volume is declared here with the same name and parent in every layout,
so moving from onebox to split moves the attachment and keeps the data.
"""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as do

from components.firewall import firewall_for
from components.topology import Topology


class DbNode(pulumi.ComponentResource):
    volume: do.Volume

    def __init__(
        self,
        name: str,
        topology: Topology,
        droplet: do.Droplet,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("django-tiers:db_node:DbNode", name, None, opts)
        cfg = topology.config
        self.volume = do.Volume(
            "pgdata",
            name=topology.volume_name,
            region=cfg.region,
            size=cfg.db_volume_gb,
            initial_filesystem_type="ext4",
            description="PostgreSQL data for django-tiers",
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.attachment = do.VolumeAttachment(
            "pgdata-attachment",
            droplet_id=droplet.id.apply(int),
            volume_id=self.volume.id,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.firewall = firewall_for("db", topology, self)
        self.register_outputs({"volumeId": self.volume.id})
