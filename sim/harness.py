"""Run the real program under the Pulumi SDK's mocks and keep what it registers.

The plan command, the graph tests and the local cloud all go through here:
one way to run the program without the Pulumi CLI or a cloud account.
"""

from __future__ import annotations

import gc
import json
import runpy
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.sync_await import _sync_await

from model.project import PROJECT, ROOT
from sim.cloud import SimCloud
from sim.inputs import holds_secret, recorded

PROGRAM = ROOT / "__main__.py"


@dataclass(frozen=True)
class Registration:
    """One resource as the engine would see it: inputs plus the options the mock args leave out."""

    type: str
    name: str
    urn: str
    id: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    protect: bool
    dependencies: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    delete_before_replace: bool
    additional_secret_outputs: tuple[str, ...]
    secret_inputs: frozenset[str]
    aliases: tuple[str, ...]
    """The URNs this resource was known by before, so the engine moves it instead of replacing it."""
    property_dependencies: dict[str, tuple[str, ...]]
    """Per input, the URNs of the resources its value comes from: what a replacement upstream leaves unknown."""


@dataclass
class Run:
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[Registration]:
        return sorted((r for r in self.resources if r.type == type_), key=lambda r: r.name)

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def one(self, type_: str, name: str) -> Registration:
        return next(r for r in self.resources if r.type == type_ and r.name == name)


def _secret_keys(struct: Any) -> frozenset[str]:
    """Top-level inputs that carry a Pulumi secret anywhere inside them."""
    return frozenset(k for k, v in json_format.MessageToDict(struct).items() if holds_secret(v))


class RecordingMonitor(mocks.MockMonitor):
    """A mock monitor that also records parents, options and the stack's outputs."""

    def __init__(self, cloud: pulumi.runtime.Mocks, run: Run):
        super().__init__(cloud)
        self.run = run

    def _aliases(self, request) -> tuple[str, ...]:
        out = []
        for alias in request.aliases:
            if alias.urn:
                out.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            out.append(self.make_urn(parent, spec.type or request.type, spec.name or request.name))
        return tuple(out)

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            state = self.resources[response.urn].state
            self.run.resources.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    id=response.id,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=recorded(rpc.deserialize_properties(request.object)),
                    outputs=dict(state),
                    protect=request.protect,
                    dependencies=tuple(sorted(request.dependencies)),
                    ignore_changes=tuple(request.ignoreChanges),
                    replace_on_changes=tuple(request.replaceOnChanges),
                    delete_before_replace=request.deleteBeforeReplace,
                    additional_secret_outputs=tuple(request.additionalSecretOutputs),
                    secret_inputs=_secret_keys(request.object),
                    aliases=self._aliases(request),
                    property_dependencies={
                        k: tuple(sorted(v.urns)) for k, v in request.propertyDependencies.items() if v.urns
                    },
                )
            )
        return response


def _as_config_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


async def _resolve_outputs(run: Run) -> None:
    root = settings.get_root_resource()
    for key, value in root.outputs.items():
        out = pulumi.Output.from_input(value)
        run.outputs[key] = await out.future()
        if await out.is_secret():
            run.secret_outputs.add(key)


def run_program(
    config: dict[str, Any],
    secrets: dict[str, str],
    stack: str = "test",
    preview: bool = False,
    cloud: pulumi.runtime.Mocks | None = None,
    run: Run | None = None,
) -> Run:
    """Run __main__.py once, in a fresh graph, and return what it registered and exported.

    Pass `run` to see what was registered even when the program fails.
    """
    run = run if run is not None else Run()
    cloud = cloud or SimCloud(str(config.get("vpcCidr", "10.10.0.0/24")))
    settings.ROOT.set(None)
    values = {f"{PROJECT}:{k}": _as_config_string(v) for k, v in {**config, **secrets}.items()}
    pulumi.runtime.set_all_config(values, secret_keys=[f"{PROJECT}:{k}" for k in secrets])
    mocks.set_mocks(cloud, project=PROJECT, stack=stack, preview=preview, monitor=RecordingMonitor(cloud, run))

    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    async def main() -> None:
        await mocks.run_pulumi_func(program)
        await _resolve_outputs(run)

    _sync_await(main())
    # The SDK leaves an event loop on each executor thread it used; collect them
    # now, while their sockets are open, rather than noisily at interpreter exit.
    gc.collect()
    return run
