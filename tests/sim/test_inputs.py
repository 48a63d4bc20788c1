"""The one walk over inputs, in each of the forms its readers ask for."""

from __future__ import annotations

import pulumi
from pulumi.runtime import rpc

from sim.inputs import holds_secret, provider_view, recorded, reveal

WRAPPED = {rpc._special_sig_key: rpc._special_secret_sig, "value": {"host": "10.0.0.2", "port": 22.0}}


def test_a_provider_reads_secrets_revealed_and_whole_floats_as_ints() -> None:
    assert provider_view({"connection": WRAPPED, "dropletId": 123.0, "size": 1.5}) == {
        "connection": {"host": "10.0.0.2", "port": 22}, "dropletId": 123, "size": 1.5,
    }


def test_the_recorded_graph_keeps_secrets_wrapped_and_assets_as_data() -> None:
    value = recorded({"connection": WRAPPED, "source": pulumi.FileAsset("/srv/a.tar.gz"), "tags": ("a", "b")})
    assert value["connection"] == WRAPPED
    assert value["source"] == {"FileAsset": "/srv/a.tar.gz"}
    assert value["tags"] == ["a", "b"]
    assert holds_secret(value) and not holds_secret(reveal(value))
    assert reveal(value)["connection"] == {"host": "10.0.0.2", "port": 22.0}


def test_a_secret_deep_inside_is_found() -> None:
    assert holds_secret({"rules": [{"ok": 1}, {"key": WRAPPED}]})
    assert not holds_secret({"rules": [{"ok": 1}]})
