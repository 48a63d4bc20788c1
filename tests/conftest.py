"""Shared test settings and fixtures: property-test limits, a valid admin key, a topology per layout."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import settings

from model.config import parse_config
from model.topology import Topology, build_topology

# Property tests check logic, not speed: a loaded CI machine must not fail them on time.
settings.register_profile("project", deadline=None)
settings.load_profile("project")

RENDER_LAYOUTS: dict[str, dict[str, object]] = {
    "onebox": {"layout": "onebox"},
    "dbsplit": {"layout": "dbsplit"},
    "split": {"layout": "split", "tiers": {"app": {"count": 2}}},
    "pool": {
        "layout": "pool",
        "tiers": {
            "web": {"count": 2},
            "app": {"count": 3, "size": "s-2vcpu-4gb"},
            "cache": {"count": 2, "size": "s-1vcpu-512mb-10gb"},
            "db": {"size": "s-4vcpu-8gb"},
        },
    },
    "custom": {
        "layout": "custom",
        "nodes": {
            "front": {"roles": ["web", "app"], "count": 2, "size": "s-2vcpu-2gb"},
            "back": {"roles": ["cache", "db"], "count": 1, "size": "s-2vcpu-4gb"},
        },
    },
}
"""Every layout, with counts above 1 wherever the layout allows them."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "render_layout" in metafunc.fixturenames:
        metafunc.parametrize("render_layout", list(RENDER_LAYOUTS))


@pytest.fixture(scope="session")
def render_ssh_key() -> str:
    """A valid OpenSSH ed25519 public key line, the same in every run."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " admin@example.test"


@pytest.fixture(scope="session")
def render_topology(render_ssh_key: str) -> Callable[..., Topology]:
    """Build the topology of a RENDER_LAYOUTS entry, with raw config keys overridden."""

    def build(layout: str, stack: str = "test", **overrides: object) -> Topology:
        raw: Mapping[str, object] = {
            "adminCidrs": ["203.0.113.7/32"],
            "sshPublicKeys": [render_ssh_key],
            **RENDER_LAYOUTS[layout],
            **overrides,
        }
        return build_topology(parse_config(raw, stack))

    return build


# ---- Real services on loopback (PostgreSQL, memcached) as fixtures: see tests/support/services.py ----

pytest_plugins = ("tests.support.services",)
