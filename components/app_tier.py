"""What belongs to the app role across its nodes: the release, from upload to rolling restart.

Per release: every app node gets the archive and installs it; one node runs
migrate (after the database exists) and collectstatic; then the nodes switch
to it one after another, each waiting for its own health check.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import remote as command

from components import remote
from components.node_group import NodeHandle
from model import paths
from model.config import AppSpec
from model.roles import Role
from render.release import Release


@dataclass(frozen=True)
class AppTierArgs:
    app: AppSpec
    nodes: Sequence[NodeHandle]
    release: Release
    env_file: pulumi.Output[str]
    """The app's environment file; it holds secrets, so it travels on stdin only."""
    digest_key: pulumi.Output[str]
    """Keys the env file's digest in the activation's command line, so the state holds nothing to guess secrets against."""
    db_setup: pulumi.Resource
    """Done when the database is ready for migrate: made, and archiving (whose first start restarts PostgreSQL)."""


class AppTier(pulumi.ComponentResource):
    activations: list[command.Command]
    static_archive: pulumi.Output[str]
    """The release's static files, as a base64 tarball, for the web nodes."""

    def __init__(self, name: str, args: AppTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:app_tier:AppTier", name, None, opts)
        app, release, nodes = args.app, args.release, args.nodes
        release_env = {"RELEASE": release.name}
        uploaded = f"{paths.UPLOAD_DIR}/{release.name}.tar.gz"
        env_digest = pulumi.Output.unsecret(pulumi.Output.all(args.digest_key, args.env_file).apply(
            lambda values: hmac.new(values[0].encode(), values[1].encode(), "sha256").hexdigest()
        ))

        installs, envs = [], []
        for h in nodes:
            upload = command.CopyToRemote(
                f"{h.node.name}-upload",
                connection=h.connection,
                source=pulumi.FileAsset(str(release.archive)),
                remote_path=uploaded,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[h.ready]),
            )
            install_line = remote.step_line("app-release.sh", {**release_env, "REQUIREMENTS": app.requirements})
            installs.append(remote.step(
                f"{h.node.name}-release", h.connection,
                remote.line_step("release-install", uploaded=uploaded, release=release.name, then=install_line),
                self, after=[upload],
            ))
            envs.append(remote.step(
                f"{h.node.name}-env", h.connection, remote.step_line("app-env.sh"), self,
                after=[h.ready], stdin=args.env_file, secret=True,
            ))

        first = nodes[0]
        django_env = {**release_env, "SETTINGS": app.settings}
        migrate = remote.step(
            "migrate", first.connection, remote.step_line("migrate.sh", django_env), self,
            after=[installs[0], envs[0], args.db_setup],
        )
        collect = remote.step(
            "collectstatic", first.connection, remote.step_line("collectstatic.sh", django_env), self, after=[migrate]
        )
        export = remote.step(
            "static-export", first.connection, remote.line_step("static-export", release=release.name),
            self, after=[collect], log_stdout=False,
        )
        self.static_archive = export.stdout

        self.activations = []
        previous: pulumi.Resource = migrate
        for h, install, env in zip(nodes, installs, envs):
            line = remote.step_line(
                "app-activate.sh", {**release_env, "APP_HOST": h.address(Role.APP), "ENV_DIGEST": env_digest}
            )
            previous = remote.step(f"{h.node.name}-activate", h.connection, line, self, after=[install, env, previous])
            self.activations.append(previous)
        self.register_outputs({"release": release.name})
