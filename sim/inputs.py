"""One walk over a resource's inputs, for every reader that needs them in another form.

The engine hands inputs over with secrets wrapped, numbers as floats and
assets as objects; each reader (the recorded graph, the golden snapshots,
the local cloud's stand-ins and its state digests) wants them otherwise, and
says so with the leaf function it gives `walk`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
from pulumi.runtime import rpc


def is_secret(value: Any) -> bool:
    """A value the engine wrapped as a Pulumi secret."""
    return isinstance(value, Mapping) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def walk(value: Any, leaf: Callable[[Any], Any], secret: Callable[[Any], Any] | None = None) -> Any:
    """`value` rebuilt with `leaf` applied to every non-container; a secret goes to `secret` (default: unwrapped)."""
    if is_secret(value):
        inner = value["value"]
        return secret(inner) if secret is not None else walk(inner, leaf)
    if isinstance(value, Mapping):
        return {k: walk(v, leaf, secret) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [walk(v, leaf, secret) for v in value]
    return leaf(value)


def holds_secret(value: Any) -> bool:
    found = []
    walk(value, lambda v: v, secret=lambda v: found.append(True))
    return bool(found)


def asset_as_data(value: Any) -> Any:
    """Assets and archives by what they point at, so two runs compare equal."""
    if isinstance(value, (pulumi.FileAsset, pulumi.FileArchive)):
        return {type(value).__name__: str(value.path)}
    if isinstance(value, pulumi.StringAsset):
        return {"StringAsset": value.text}
    return value


def whole_number(value: Any) -> Any:
    """The engine sends every number as a float; a provider reads 10.0 as 10."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def keep_secret(value: Any) -> dict[str, Any]:
    """A secret as the engine wraps it, for records that must still know which inputs were secret."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def recorded(value: Any) -> Any:
    """Inputs as the graph records them: assets as data, secrets still wrapped."""
    return walk(value, asset_as_data, secret=lambda inner: keep_secret(recorded(inner)))


def reveal(value: Any) -> Any:
    """A recorded input with its secret wrappers taken off, for readers that must look inside."""
    return walk(value, lambda v: v)


def provider_view(value: Any) -> Any:
    """Inputs as a provider reads them: secrets revealed, whole floats as ints."""
    return walk(value, whole_number)
