"""The harness plays registrations as the engine does: independent ones at once, up to a bound, dependent ones in order."""

from __future__ import annotations

import threading
import time
from typing import Any

import pulumi
import pytest

from model.project import stack_config
from sim.cloud import SimCloud
from sim.harness import run_program
from sim.keys import new_deploy_key
from sim.resources import COMMAND, DROPLET

SECRETS = {"dbPassword": "db-password", "secretKey": "k" * 50, "sshPrivateKey": new_deploy_key()[0]}
APP_NODES = 10
PAUSE = 0.3
"""How long each droplet and each first contact takes: long enough to overlap, short enough for a fast test."""


class SlowCloud(SimCloud):
    """The simulated cloud, where droplets and first contacts take a while; it notes when each ran."""

    def __init__(self, vpc_cidr: str):
        super().__init__(vpc_cidr)
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.spans: dict[str, tuple[float, float]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        slow = args.typ == DROPLET or (args.typ == COMMAND and args.name.endswith("-ready"))
        if not slow:
            return super().new_resource(args)
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        started = time.monotonic()
        time.sleep(PAUSE)
        with self.lock:
            self.running -= 1
            self.spans[args.name] = (started, time.monotonic())
        return super().new_resource(args)


def _play(parallel: int | None) -> SlowCloud:
    config = stack_config("pool")
    config = {**config, "tiers": {**config["tiers"], "app": {**config["tiers"]["app"], "count": APP_NODES}}}
    cloud = SlowCloud(str(config["vpcCidr"]))
    run_program(config, SECRETS, stack="pool", cloud=cloud, parallel=parallel)
    return cloud


@pytest.mark.parametrize("parallel", [4, 32])
def test_independent_resources_overlap_up_to_the_bound(parallel: int) -> None:
    cloud = _play(parallel)
    droplets = [n for n in cloud.spans if "-ready" not in n]
    assert len(droplets) == APP_NODES + 4
    assert cloud.most == min(parallel, len(droplets)), "every droplet is independent of the others"
    for name, (started, _) in cloud.spans.items():
        if name.endswith("-ready"):
            node = name.removesuffix("-ready")
            assert started >= cloud.spans[node][1], f"{name} started before its droplet was made"
