"""Run the real program under the Pulumi SDK's mocks and keep what it registers.

The plan command, the graph tests and the local cloud all go through here:
one way to run the program without the Pulumi CLI or a cloud account.
"""

from __future__ import annotations

import gc
import hashlib
import ipaddress
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
PROGRAM = ROOT / "__main__.py"
STACKS = ROOT / "stacks"


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


def _stable_id(type_: str, name: str) -> str:
    return str(int(hashlib.sha256(f"{type_}/{name}".encode()).hexdigest()[:8], 16))


class FakeCloud(pulumi.runtime.Mocks):
    """Answers like DigitalOcean would, with stable ids so two runs can be compared."""

    def __init__(self, vpc_cidr: str = "10.10.0.0/24"):
        self.hosts = list(ipaddress.ip_network(vpc_cidr).hosts())[1:]
        self.taken: dict[str, str] = {}

    def _private_ip(self, name: str) -> str:
        """A stable address for `name`: the first free one from a point its name picks."""
        if name not in self.taken:
            used = set(self.taken.values())
            start = int(_stable_id("ip", name))
            candidates = (str(self.hosts[(start + i) % len(self.hosts)]) for i in range(len(self.hosts)))
            self.taken[name] = next(ip for ip in candidates if ip not in used)
        return self.taken[name]

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        rid = _stable_id(args.typ, args.name)
        state = dict(args.inputs)
        kind = args.typ.split(":")[-1]
        if kind == "Droplet":
            n = int(rid) % 250 + 2
            state.update(
                ipv4_address=f"198.51.100.{n}",
                ipv4_address_private=self._private_ip(args.name),
                droplet_urn=f"do:droplet:{rid}",
            )
        elif kind == "LoadBalancer":
            state.update(ip="203.0.113.10", load_balancer_urn=f"do:loadbalancer:{rid}")
        elif kind == "Volume":
            state.update(volume_urn=f"do:volume:{rid}")
        elif kind == "Command":
            state.update(stdout="", stderr="")
        elif kind == "SshKey":
            digest = hashlib.md5(str(args.inputs.get("publicKey", "")).encode()).hexdigest()
            state.update(fingerprint=":".join(digest[i:i + 2] for i in range(0, 32, 2)))
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


def _holds_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get(rpc._special_sig_key) == rpc._special_secret_sig or any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    """Inputs as comparable data: assets and archives by what they point at, not by object identity."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (pulumi.FileAsset, pulumi.FileArchive)):
        return {type(value).__name__: str(value.path)}
    if isinstance(value, pulumi.StringAsset):
        return {"StringAsset": value.text}
    return value


def reveal(value: Any) -> Any:
    """A recorded input with its secret wrappers taken off, for tests that must read inside."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return reveal(value["value"])
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def _secret_keys(struct: Any) -> frozenset[str]:
    """Top-level inputs that carry a Pulumi secret anywhere inside them."""
    return frozenset(k for k, v in json_format.MessageToDict(struct).items() if _holds_secret(v))


class RecordingMonitor(mocks.MockMonitor):
    """A mock monitor that also records parents, options and the stack's outputs."""

    def __init__(self, cloud: pulumi.runtime.Mocks, run: Run):
        super().__init__(cloud)
        self.run = run

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
                    inputs=_plain(rpc.deserialize_properties(request.object)),
                    outputs=dict(state),
                    protect=request.protect,
                    dependencies=tuple(sorted(request.dependencies)),
                    ignore_changes=tuple(request.ignoreChanges),
                    replace_on_changes=tuple(request.replaceOnChanges),
                    delete_before_replace=request.deleteBeforeReplace,
                    additional_secret_outputs=tuple(request.additionalSecretOutputs),
                    secret_inputs=_secret_keys(request.object),
                )
            )
        return response


def stack_config(stack: str) -> dict[str, Any]:
    """The `django-tiers:` values of a stack file, without the namespace."""
    data = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text()) or {}
    prefix = f"{PROJECT}:"
    return {k[len(prefix):]: v for k, v in (data.get("config") or {}).items() if k.startswith(prefix)}


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
    cloud = cloud or FakeCloud(str(config.get("vpcCidr", "10.10.0.0/24")))
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
