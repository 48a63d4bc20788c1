"""Run the real program under the Pulumi SDK's mocks and keep what it registers.

The plan command, the graph tests and the local cloud all go through here:
one way to run the program without the Pulumi CLI or a cloud account.
"""

from __future__ import annotations

import asyncio
import gc
import json
import runpy
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from model.project import PROJECT, ROOT
from sim.account import Account, ApiRefusal
from sim.cloud import SimCloud
from sim.inputs import holds_secret, provider_view, recorded
from sim.resources import DROPLET, TAG

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
    retain_on_delete: bool
    """Left in the cloud when the engine deletes it: the bucket with the backups in it."""
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


def _secret_keys(inputs: dict[str, Any]) -> frozenset[str]:
    """Top-level inputs that carry a Pulumi secret anywhere inside them (secrets still wrapped, as deserialized)."""
    return frozenset(k for k, v in inputs.items() if holds_secret(v))


class RecordingMonitor(mocks.MockMonitor):
    """A mock monitor that records parents, options and outputs, and lets the account judge each creation.

    A resource is judged with what its dependencies guarantee exists, as a
    real engine could create it the moment they do. A preview creates
    nothing, so nothing is judged.
    """

    def __init__(self, cloud: pulumi.runtime.Mocks, run: Run, account: Account, stack: str, preview: bool):
        super().__init__(cloud)
        self.run = run
        self.account = account
        self.stack = stack
        self.preview = preview
        self.tags_before = account.tags()
        self.lock = threading.Lock()
        self.made: dict[str, frozenset[str]] = {}
        """URN -> the tags it and everything it depends on create, for every registration so far.

        A resource registers only once its dependencies have, so each entry is
        made from its dependencies' entries: no walk along a chain of steps
        that grows with the node count.
        """

    def _tags_made_by(self, dependencies: Iterable[str]) -> frozenset[str]:
        """Tags that the resources in the dependency closure create: Tag resources, and droplets' own tags."""
        with self.lock:
            return frozenset().union(*(self.made[urn] for urn in dependencies if urn in self.made))

    @staticmethod
    def _own_tags(token: str, inputs: dict[str, Any]) -> frozenset[str]:
        if token == TAG:
            return frozenset({str(inputs["name"])})
        if token == DROPLET:
            return frozenset(str(t) for t in inputs.get("tags") or [])
        return frozenset()

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
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        mocks._ensure_event_loop()
        given = rpc.deserialize_properties(request.object)
        inputs = provider_view(given)
        upstream = self._tags_made_by(request.dependencies)
        if request.custom and not self.preview:
            self.account.judge(self.stack, request.type, request.name, inputs, self.tags_before | upstream)
        response = super().RegisterResource(request)
        with self.lock:
            self.made[response.urn] = upstream | self._own_tags(request.type, inputs)
        if request.custom and not self.preview:
            self.account.hold(self.stack, request.type, request.name, inputs)
        state = self.resources[response.urn].state
        self.run.resources.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                id=response.id,
                parent=request.parent,
                custom=request.custom,
                inputs=recorded(given),
                outputs=dict(state),
                protect=request.protect,
                retain_on_delete=request.retainOnDelete,
                dependencies=tuple(sorted(request.dependencies)),
                ignore_changes=tuple(request.ignoreChanges),
                replace_on_changes=tuple(request.replaceOnChanges),
                delete_before_replace=request.deleteBeforeReplace,
                additional_secret_outputs=tuple(request.additionalSecretOutputs),
                secret_inputs=_secret_keys(given),
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


def _abandon_the_rest() -> None:
    """A failed run's registrations still wait on the loop: cancel them, or the next run would meet them."""
    loop = asyncio.get_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    with settings.SETTINGS.lock:
        settings.SETTINGS.outputs.clear()
    settings._get_rpc_manager().clear()


def _collect_the_last_run() -> None:
    """Free what the previous run left behind: its end froze its objects instead of collecting them."""
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()


def run_program(
    config: dict[str, Any],
    secrets: dict[str, str],
    stack: str = "test",
    preview: bool = False,
    cloud: pulumi.runtime.Mocks | None = None,
    run: Run | None = None,
    account: Account | None = None,
    parallel: int | None = None,
) -> Run:
    """Run __main__.py once, in a fresh graph, and return what it registered and exported.

    Pass `run` to see what was registered even when the program fails, and
    `account` to run a stack beside others in one DigitalOcean account (by
    default the stack has a fresh account to itself). `parallel` bounds how
    many registrations are played at once, as `pulumi up --parallel` does:
    the SDK sends each one from a thread of its event loop's executor, whose
    size otherwise follows the host's CPU count. Each registration starts as
    soon as the outputs it takes resolve, so independent resources overlap
    and dependent ones wait, as the engine orders them.
    """
    run = run if run is not None else Run()
    cloud = cloud or SimCloud(str(config.get("vpcCidr", "10.10.0.0/24")))
    settings.ROOT.set(None)
    # A run that failed leaves its unfinished RPCs and its error behind: the next run must not inherit them.
    settings._get_rpc_manager().clear()
    values = {f"{PROJECT}:{k}": _as_config_string(v) for k, v in {**config, **secrets}.items()}
    pulumi.runtime.set_all_config(values, secret_keys=[f"{PROJECT}:{k}" for k in secrets])
    mocks.set_mocks(cloud, project=PROJECT, stack=stack, preview=preview, monitor=RecordingMonitor(cloud, run, account if account is not None else Account(), stack, preview))

    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    async def main() -> None:
        await mocks.run_pulumi_func(program)
        await _resolve_outputs(run)

    # The run makes many objects and frees few while it runs: the collector's
    # passes over them cost a fifth of a large pool's run, so it stays off.
    _collect_the_last_run()
    gc.disable()
    loop = _ensure_event_loop()
    executor = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="registration") if parallel else None
    if executor is not None:
        loop.set_default_executor(executor)
    try:
        _sync_await(main())
    except ApiRefusal as refusal:
        _abandon_the_rest()
        # The engine's threads add nothing to the API's answer: keep the message, drop their stack.
        raise refusal.with_traceback(None) from None
    except BaseException:
        _abandon_the_rest()
        raise
    finally:
        # Freeze rather than collect: collecting a large pool's run at its end,
        # and again at interpreter exit, cost a third as much as the run itself.
        # The next run collects this one's garbage before it starts; a process
        # that runs the program once, as `make plan` does, never pays for it.
        gc.freeze()
        gc.enable()
        if executor is not None:
            # The next run, bounded or not, gets an executor of its own.
            loop.set_default_executor(ThreadPoolExecutor())
            executor.shutdown(wait=False)
    return run
