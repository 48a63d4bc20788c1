"""The simulated DigitalOcean account: answers each registration as the API would, with stable ids and addresses.

Ids and addresses are picked by the resource's name, so two runs of the
program can be compared resource by resource.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pulumi

from model.paths import SSH_HOST_KEY
from sim import resources as r
from sim.inputs import reveal
from sim.keys import host_key_of

DOCUMENTATION_NET = "198.51.100"
"""Public addresses come from a documentation range (RFC 5737), never a real host's."""
LOAD_BALANCER_IP = "203.0.113.10"

Handler = Callable[[pulumi.runtime.MockResourceArgs, str], dict[str, Any]]


class SimCloud(pulumi.runtime.Mocks):
    def __init__(self, vpc_cidr: str = "10.10.0.0/24"):
        self.hosts = list(ipaddress.ip_network(vpc_cidr).hosts())[1:]
        self.taken: dict[str, str] = {}
        self.handlers: dict[str, Handler] = {
            r.DROPLET: self._droplet,
            r.LOAD_BALANCER: lambda args, rid: r.load_balancer_outputs(rid, LOAD_BALANCER_IP),
            r.VOLUME: lambda args, rid: r.volume_outputs(rid),
            r.VPC: lambda args, rid: r.vpc_outputs(rid),
            r.COMMAND: self._command,
            r.LOCAL_COMMAND: lambda args, rid: r.command_outputs("", ""),
        }

    def _private_ip(self, name: str) -> str:
        """A stable address for `name`: the first free one from a point its name picks."""
        if name not in self.taken:
            used = set(self.taken.values())
            start = int(r.numeric_id(f"ip/{name}"))
            candidates = (str(self.hosts[(start + i) % len(self.hosts)]) for i in range(len(self.hosts)))
            self.taken[name] = next(ip for ip in candidates if ip not in used)
        return self.taken[name]

    def _droplet(self, args: pulumi.runtime.MockResourceArgs, rid: str) -> dict[str, Any]:
        public = f"{DOCUMENTATION_NET}.{int(rid) % 250 + 2}"
        return r.droplet_outputs(rid, public, self._private_ip(args.name))

    def _command(self, args: pulumi.runtime.MockResourceArgs, rid: str) -> dict[str, Any]:
        """A step prints nothing, except the node's host key when it reads it, as the first contact does."""
        asks_host_key = SSH_HOST_KEY in str(args.inputs.get("create", ""))
        host = str((reveal(args.inputs.get("connection")) or {}).get("host", ""))
        return r.command_outputs(host_key_of(host) if asks_host_key else "", "")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid = r.numeric_id(f"{args.typ}/{args.name}")
        if not args.custom:
            return rid, dict(args.inputs)
        r.resource_type(args.typ)
        handler = self.handlers.get(args.typ)
        outputs = handler(args, rid) if handler else r.outputs_from_inputs(args.typ, args.inputs)
        return rid, {**args.inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None
