"""A release on every node that carries app or web: uploaded, installed, its static files collected there, then published.

The archive goes up as a file (the state keeps only its hash), and each
node collects the static files from its own copy: app nodes need the
manifest that content-hashed names are looked up in, web nodes serve the
files. So nothing a node collected passes through a step's input or output,
nor through the stack's state. The web nodes publish before any app node
switches to the release (AppTier waits for `published`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
class ReleasesArgs:
    app: AppSpec
    release: Release
    nodes: Sequence[NodeHandle]
    """Every node that carries app or web, in the topology's order."""
    web_nodes: Sequence[str]
    """The names of those that serve the static files."""
    former_parents: Mapping[str, str]
    """Step suffix -> the URN of the component that held such steps before this one."""


class Releases(pulumi.ComponentResource):
    installed: dict[str, command.Command]
    """Node name -> its install step."""
    collected: dict[str, command.Command]
    published: list[command.Command]

    def __init__(self, name: str, args: ReleasesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:release:Releases", name, None, opts)
        app, release = args.app, args.release
        release_env = {"RELEASE": release.name}
        uploaded = f"{paths.UPLOAD_DIR}/{release.name}.tar.gz"
        tarball = f"{paths.RELEASES_DIR}/{release.name}/static.tar.gz"
        self.installed, self.collected, self.published = {}, {}, []

        def moved(suffix: str) -> list[pulumi.Alias]:
            return [pulumi.Alias(parent=args.former_parents[suffix])] if suffix in args.former_parents else []

        for h in args.nodes:
            node = h.node.name
            upload = command.CopyToRemote(
                f"{node}-upload",
                connection=h.connection,
                source=pulumi.FileAsset(str(release.archive)),
                remote_path=uploaded,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[h.ready], aliases=moved("upload")),
            )
            install_env = {**release_env, "REQUIREMENTS": app.requirements}
            if Role.APP not in h.node.roles:
                # It only collects the static files: compiling every module of every package would be for nothing.
                install_env["BYTECODE"] = "no"
            install_line = remote.step_line("app-release.sh", install_env)
            self.installed[node] = remote.step(
                f"{node}-release", h.connection,
                remote.line_step("release-install", uploaded=uploaded, release=release.name, then=install_line),
                self, after=[upload], aliases=moved("release"),
            )
            self.collected[node] = remote.step(
                f"{node}-collect", h.connection,
                remote.step_line("collectstatic.sh", {**release_env, "SETTINGS": app.settings}),
                self, after=[self.installed[node]],
            )
            if node in args.web_nodes:
                self.published.append(remote.step(
                    f"{node}-static", h.connection, remote.step_line("web-static.sh", {"STATIC_TARBALL": tarball}),
                    self, after=[self.collected[node]], aliases=moved("static"),
                ))
        self.register_outputs({"release": release.name})
