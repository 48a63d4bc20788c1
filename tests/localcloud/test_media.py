"""Uploads in a pool: through the load balancer into the bucket, served by every web node, kept across replacements."""

from __future__ import annotations

import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud import spaces
from localcloud.host import run
from localcloud.machine import MachineState, run_in
from localcloud.network import INTERNET_NETNS
from localcloud.stack import UpResult, apply_sets
from localcloud.state import Action
from model import naming, paths
from model.project import stack_config
from tests.localcloud.test_site import TOOLS, _actions, _machines, _own_stack, _up, _wait_healthy
from tests.support.services import require_local_cloud

pytestmark = pytest.mark.localcloud

MEDIA_STACK = "lctmedia"
SETS = ("tiers.web.count=2", "tiers.app.count=2")
RESIZED = ("tiers.web.size=s-1vcpu-2gb", "tiers.app.size=s-2vcpu-2gb")
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(scope="module", autouse=True)
def _requirements() -> None:
    require_local_cloud(TOOLS)


@pytest.fixture(scope="module")
def pool() -> Iterator[UpResult]:
    with _own_stack(MEDIA_STACK, empty_bucket=True):
        yield _up(MEDIA_STACK, apply_sets(stack_config("pool"), SETS))


def _curl(*args: str) -> str:
    return run(["ip", "netns", "exec", INTERNET_NETNS, "curl", "-sS", "--noproxy", "*", "--max-time", "20", *args],
               timeout=40).stdout.decode(errors="replace")


def _upload_through_the_balancer(url: str, data: bytes, name: str) -> None:
    """What a visitor's browser does: the page (and its CSRF cookie), then the form's POST."""
    with tempfile.TemporaryDirectory() as scratch:
        jar, upload = Path(scratch) / "jar", Path(scratch) / name
        upload.write_bytes(data)
        page = _curl("-c", str(jar), url)
        token = TOKEN.search(page)
        assert token, page[:500]
        status = _curl("-b", str(jar), "-o", "/dev/null", "-w", "%{http_code}", "-F", f"csrfmiddlewaretoken={token.group(1)}",
                       "-F", f"file=@{upload}", f"{url}upload")
        assert status == "302", f"the upload answered {status}"


def _from_each_web_node(result: UpResult, path: str) -> dict[str, bytes]:
    """The file as each web node's nginx answers it, asked on the node itself with the site's public name."""
    host = result.url.split("/")[2]
    machines = _machines(result)
    out = {}
    for row in result.nodes:
        if "web" not in row.roles:
            continue
        machine: MachineState = machines[row.name]
        done = run_in(machine, ["curl", "-sS", "-f", "-H", f"Host: {host}", f"http://127.0.0.1{path}"], check=False)
        assert done.returncode == 0, f"{row.name}: {done.stderr.decode()}"
        out[row.name] = done.stdout
    return out


def test_an_upload_is_served_by_every_web_node_and_outlives_the_droplets(pool: UpResult) -> None:
    data = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(4096)
    _wait_healthy(pool.url)
    _upload_through_the_balancer(pool.url, data, "probe.png")
    path = "/media/uploads/probe.png"
    keys = [o["Key"] for o in spaces.client().list_objects_v2(
        Bucket=naming.bucket_name(MEDIA_STACK), Prefix=f"{paths.MEDIA_PREFIX}/")["Contents"]]
    assert keys == [f"{paths.MEDIA_PREFIX}/uploads/probe.png"]
    served = _from_each_web_node(pool, path)
    assert sorted(served) == ["web-1", "web-2"] and set(served.values()) == {data}
    for row in pool.nodes:
        listing = run_in(_machines(pool)[row.name], ["sh", "-c", f"ls -A {paths.MEDIA_ROOT} 2>/dev/null || true"])
        assert listing.stdout.strip() == b"", f"{row.name} keeps no upload on its own disk"

    resized = _up(MEDIA_STACK, apply_sets(stack_config("pool"), (*SETS, *RESIZED)))
    droplets = _actions(resized, "Droplet")
    assert {droplets[n] for n in ("web-1", "web-2", "app-1", "app-2")} == {Action.REPLACED}
    _wait_healthy(resized.url)
    again = _from_each_web_node(resized, path)
    assert sorted(again) == ["web-1", "web-2"] and set(again.values()) == {data}
    assert _curl(resized.url).count('href="/media/uploads/probe.png"') == 1
