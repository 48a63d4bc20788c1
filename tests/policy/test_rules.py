"""The policy pack as the Pulumi CLI runs it: its own process, asked over gRPC about every resource of a graph.

It stays silent on every stack file's graph, and each rule speaks up on a
graph broken for it, naming the resource and never the value it flags.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable, Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from model.project import ROOT, stack_config, stack_names
from model.roles import PORTS, Role
from policy import rules
from sim.harness import Registration, Run, run_program
from sim.inputs import recorded
from sim.resources import DROPLET, FIREWALL, VOLUME
from sim.snapshot import SECRETS

PACK = ROOT / "policy"
Diagnostic = tuple[str, str]
"""(policy name, message)"""


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack started as the CLI starts it: alone, with only its own directory on the path; it prints its port."""
    process = subprocess.Popen(
        [sys.executable, "__main__.py"], cwd=PACK, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    port = process.stdout.readline().strip()
    if not port.isdigit():
        process.kill()
        pytest.fail(f"the policy pack did not start: {process.communicate()[1]}")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield analyzer_pb2_grpc.AnalyzerStub(channel)
    channel.close()
    process.terminate()
    process.wait(timeout=10)


def _struct(values: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(recorded(values))
    return out


def _options(r: Registration) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=r.protect, ignoreChanges=list(r.ignore_changes), deleteBeforeReplace=r.delete_before_replace,
        additionalSecretOutputs=list(r.additional_secret_outputs), aliases=list(r.aliases), parent=r.parent,
    )


def analyze(analyzer: analyzer_pb2_grpc.AnalyzerStub, run: Run) -> list[Diagnostic]:
    """What the engine asks the pack during an update: each resource's inputs, then the whole stack's outputs."""
    found = []
    custom = [r for r in run.resources if r.custom]
    for r in custom:
        request = analyzer_pb2.AnalyzeRequest(type=r.type, properties=_struct(r.inputs), urn=r.urn, name=r.name, options=_options(r))
        found += analyzer.Analyze(request).diagnostics
    stack = analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(
            type=r.type, properties=_struct(r.outputs), urn=r.urn, name=r.name, options=_options(r), parent=r.parent,
            dependencies=list(r.dependencies),
            propertyDependencies={
                k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v)) for k, v in r.property_dependencies.items()
            },
        )
        for r in custom
    ])
    found += analyzer.AnalyzeStack(stack).diagnostics
    return [(d.policyName, d.message) for d in found]


def test_the_pack_offers_every_rule(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "django-tiers"
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in rules.POLICIES)


def test_the_internal_ports_are_the_roles_ports():
    assert set(rules.INTERNAL_PORTS) == {port for role in (Role.APP, Role.CACHE, Role.DB) for port in PORTS[role]}


@pytest.mark.parametrize("stack", stack_names())
def test_every_stack_file_passes(analyzer, stack):
    assert analyze(analyzer, run_program(stack_config(stack), SECRETS, stack=stack)) == []


@pytest.fixture(scope="module")
def pool() -> Run:
    return run_program(stack_config("pool"), SECRETS, stack="pool")


def broken(run: Run, type_: str, name: str, change: Callable[[Registration], Registration]) -> Run:
    """`run` with one resource changed by `change`."""
    return Run([change(r) if (r.type, r.name) == (type_, name) else r for r in run.resources], run.outputs)


def _with_inputs(**inputs: object) -> Callable[[Registration], Registration]:
    return lambda r: dataclasses.replace(r, inputs={**r.inputs, **inputs}, outputs={**r.outputs, **inputs})


def _open_rule(port: str, address: str) -> Callable[[Registration], Registration]:
    def change(r: Registration) -> Registration:
        rule = {"protocol": "tcp", "portRange": port, "sourceAddresses": [address]}
        return _with_inputs(inboundRules=[*r.inputs["inboundRules"], rule])(r)

    return change


SECRET_KEY_LINE = "SECRET_KEY=django-insecure-0123456789abcdef"
PRIVATE_KEY = SECRETS["sshPrivateKey"]


def _user_data_with(text: str) -> Callable[[Registration], Registration]:
    return lambda r: _with_inputs(userData=r.inputs["userData"] + text + "\n")(r)


def _outside_the_vpc(r: Registration) -> Registration:
    deps = {k: v for k, v in r.property_dependencies.items() if k != "vpcUuid"}
    return dataclasses.replace(_with_inputs(vpcUuid="an-other-vpc")(r), property_dependencies=deps)


BROKEN = {
    "postgres to the world": (FIREWALL, "db-firewall", _open_rule("5432", "0.0.0.0/0"), "no-internal-port-from-the-internet"),
    "the app to ::/0": (FIREWALL, "app-firewall", _open_rule("8000", "::/0"), "no-internal-port-from-the-internet"),
    "every port to the world": (FIREWALL, "cache-firewall", _open_rule("1-65535", "0.0.0.0/0"), "no-internal-port-from-the-internet"),
    "volume unprotected": (VOLUME, "pgdata", lambda r: dataclasses.replace(r, protect=False), "data-volume-protected"),
    "droplet outside the VPC": (DROPLET, "app-2", _outside_the_vpc, "droplet-in-stack-vpc"),
    "monitoring off": (DROPLET, "web-1", _with_inputs(monitoring=False), "droplet-monitoring-on"),
    "SECRET_KEY in user-data": (DROPLET, "app-1", _user_data_with(SECRET_KEY_LINE), "no-secret-in-user-data"),
    "private key in user-data": (DROPLET, "db-1", _user_data_with(PRIVATE_KEY), "no-secret-in-user-data"),
    "password in a URL in user-data": (
        DROPLET, "cache-1", _user_data_with("DATABASE_URL=postgres://django:hunter2hunter2@10.10.0.5/django"), "no-secret-in-user-data",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_each_rule_fires_on_its_broken_graph_and_names_the_resource(analyzer, pool, case):
    type_, name, change, policy = BROKEN[case]
    found = analyze(analyzer, broken(pool, type_, name, change))
    assert found, f"{case}: no rule fired"
    assert {p for p, _ in found} == {policy}
    for _, message in found:
        assert name in message
        assert "hunter2" not in message and "django-insecure" not in message and "PRIVATE KEY-----" not in message
