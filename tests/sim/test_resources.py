"""DigitalOcean's facts as the simulation keeps them: fingerprints, replacement, destroy order."""

from __future__ import annotations

import subprocess

import pytest

from sim.keys import new_deploy_key
from sim.resources import (
    COMMAND,
    DESTROY_ORDER,
    DROPLET,
    LOAD_BALANCER,
    TYPES,
    VOLUME,
    VPC,
    UnknownResourceType,
    fingerprint,
    forces_replacement,
    in_destroy_order,
)
from tests.support.services import require_tool


def test_fingerprint_is_what_ssh_keygen_prints_as_md5_and_ignores_the_comment(tmp_path) -> None:
    require_tool("ssh-keygen")
    _, public = new_deploy_key()
    key_file = tmp_path / "key.pub"
    key_file.write_text(public + " someone@somewhere\n")
    out = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", str(key_file)], capture_output=True, text=True, check=True)
    expected = out.stdout.split()[1].removeprefix("MD5:")
    assert fingerprint(public) == expected
    assert fingerprint(public + " other-comment") == expected
    assert fingerprint(new_deploy_key()[1]) != expected


@pytest.mark.parametrize(
    "token, changed, replaces",
    [
        (DROPLET, ["userData"], True),
        (DROPLET, ["size"], False),
        (DROPLET, ["tags"], False),
        (VPC, ["ipRange"], True),
        (LOAD_BALANCER, ["healthcheck"], False),
        (LOAD_BALANCER, ["vpcUuid"], True),
        (VOLUME, ["size"], False),
        (COMMAND, ["create"], False),
        (COMMAND, ["triggers"], True),
        ("digitalocean:index/certificate:Certificate", ["domains"], True),
    ],
)
def test_what_forces_replacement(token, changed, replaces) -> None:
    assert forces_replacement(token, changed) is replaces


def test_an_unknown_type_is_refused_by_name() -> None:
    with pytest.raises(UnknownResourceType, match="databaseCluster"):
        forces_replacement("digitalocean:index/databaseCluster:DatabaseCluster", ["name"])


def test_dependents_are_destroyed_first() -> None:
    items = [(VPC, "vpc"), (DROPLET, "web-1"), (COMMAND, "web-1-ready"), (VOLUME, "pgdata")]
    ordered = in_destroy_order(items, lambda i: i[0], lambda i: i[1])
    assert [t for t, _ in ordered] == [COMMAND, DROPLET, VOLUME, VPC]


def test_every_type_has_a_destroy_rank() -> None:
    assert set(DESTROY_ORDER) == set(TYPES)
