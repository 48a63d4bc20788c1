"""What belongs to the app role across its nodes: the environment, migrations and the rolling switch to a release.

The release is already installed and its static files collected on every
node (components/release.py). One node runs migrate (after the database
exists); once the web nodes have published the release's static files, the
app nodes switch to it one after another, each waiting for its own health
check and then for its smoke paths, fetched through it with the site's Host.
A node that fails them is switched back, and the rollout stops there.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import remote as command

from components import remote
from components.node_group import NodeHandle
from model.config import AppSpec
from model.roles import Role
from render.release import Release


@dataclass(frozen=True)
class AppTierArgs:
    app: AppSpec
    nodes: Sequence[NodeHandle]
    release: Release
    installed: Mapping[str, pulumi.Resource]
    """Node name -> the step that installed the release there."""
    collected: Mapping[str, pulumi.Resource]
    """Node name -> the step that collected its static files there (the manifest pages are rendered with)."""
    published: Sequence[pulumi.Resource]
    """The web nodes' static files of this release: no node switches before they are all served."""
    env_file: pulumi.Output[str]
    """The app's environment file; it holds secrets, so it travels on stdin only."""
    digest_key: pulumi.Output[str]
    """Keys the env file's digest in the activation's command line, so the state holds nothing to guess secrets against."""
    db_setup: pulumi.Resource
    """Done when the database is ready for migrate: made, pooled where it must be, and archiving (whose first start restarts PostgreSQL)."""
    site_host: pulumi.Input[str]
    """The Host header the smoke paths are fetched with: the domain, or the public entry's address."""
    site_https: bool


class AppTier(pulumi.ComponentResource):
    activations: list[command.Command]

    def __init__(self, name: str, args: AppTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:app_tier:AppTier", name, None, opts)
        app, release, nodes = args.app, args.release, args.nodes
        release_env = {"RELEASE": release.name}
        env_digest = pulumi.Output.unsecret(pulumi.Output.all(args.digest_key, args.env_file).apply(
            lambda values: hmac.new(values[0].encode(), values[1].encode(), "sha256").hexdigest()
        ))
        envs = [
            remote.step(
                f"{h.node.name}-env", h.connection, remote.step_line("app-env.sh"), self,
                after=[h.ready], stdin=args.env_file, secret=True,
            )
            for h in nodes
        ]
        first = nodes[0]
        migrate = remote.step(
            "migrate", first.connection,
            remote.step_line("migrate.sh", {**release_env, "SETTINGS": app.settings}), self,
            after=[args.installed[first.node.name], envs[0], args.db_setup],
        )

        smoke_env = {
            "SMOKE_PATHS": " ".join(app.smoke_paths),
            "SITE_HOST": args.site_host,
            "SITE_HTTPS": "true" if args.site_https else "false",
        }
        self.activations = []
        previous: pulumi.Resource = migrate
        for h, env in zip(nodes, envs):
            line = remote.step_line("app-activate.sh", {
                **release_env, **smoke_env, "APP_HOST": h.address(Role.APP), "ENV_DIGEST": env_digest,
            })
            previous = remote.step(
                f"{h.node.name}-activate", h.connection, line, self,
                after=[args.installed[h.node.name], args.collected[h.node.name], env, previous, *args.published],
            )
            self.activations.append(previous)
        self.register_outputs({"release": release.name})
