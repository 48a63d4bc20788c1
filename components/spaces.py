"""The stack's Spaces bucket, for the database's backups and the site's media, and the key that reaches it.

The bucket outlives the stack as the data volume does: it is protected, and
retained with its backups even when its protection is lifted and the stack
destroyed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from model import naming


@dataclass(frozen=True)
class SpacesArgs:
    stack: str
    bucket_name: str
    region: str
    readable: tuple[str, ...] = ()
    """Other stacks' buckets the key may read, to restore from."""


class Spaces(pulumi.ComponentResource):
    bucket: do.SpacesBucket
    key: do.SpacesKey

    def __init__(self, name: str, args: SpacesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:spaces:Spaces", name, None, opts)
        self.bucket = do.SpacesBucket(
            "bucket",
            name=args.bucket_name,
            region=args.region,
            acl="private",
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        self.key = do.SpacesKey(
            "key",
            name=naming.spaces_key_name(args.stack),
            grants=[
                do.SpacesKeyGrantArgs(bucket=self.bucket.name, permission="readwrite"),
                *(do.SpacesKeyGrantArgs(bucket=b, permission="read") for b in args.readable),
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"bucket": self.bucket.name, "endpoint": self.bucket.endpoint})
