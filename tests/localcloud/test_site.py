"""The real program's resources on the local cloud: the site answers, the firewalls hold, faults are survived.

Two stacks: one goes onebox then split on the same volume (the data must
follow), one is a pool (LB -> web x2 -> app x2) shared by the firewall,
scaling and fault tests, which run last because they stop machines. Every
request counted here comes from the internet namespace, as a visitor's would.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import IPv4Interface

import pytest

from localcloud import limits, spaces, ssh
from localcloud.machine import (
    MachineState,
    descendants,
    is_running,
    load_state,
    read_boot_id,
    run_in,
    running_machines,
    stop,
    system_state,
    wait_cloud_init,
)
from localcloud.network import INTERNET_NETNS
from localcloud.probe import (
    Page,
    fetch,
    finish_load,
    ports_from_machine,
    ports_from_netns,
    start_load,
)
from localcloud.stack import (
    UpResult,
    apply_sets,
    down,
    ensure_secrets,
    register_key,
    stack_dir,
    unregister_key,
    up,
)
from localcloud.state import Action, StackState
from localcloud.volume import volume_dir
from model import naming, paths
from model.project import ROOT, stack_config
from model.roles import APP_PORT
from model.sizes import SIZES
from render.userdata import STATIC_ACCESS_LOG
from sim.keys import new_deploy_key
from sim.resources import DROPLET
from tests.support.machines import journal, systemd_cgroups
from tests.support.services import require_local_cloud

pytestmark = pytest.mark.localcloud

TOOLS = ("systemd-nspawn", "nsenter", "ip", "nft", "haproxy", "ssh", "curl", "mount", "debootstrap")
MOVE_STACK = "lctmove"
POOL_STACK = "lctpool"
STAGING_STACK = "lctstage"
STAGING_DOMAIN = "www.example.test"
SHARED_KEY, SHARED_PUBLIC = new_deploy_key()
"""One deploy key for the pool and a staging stack beside it, registered in the account by hand beforehand."""
POOL_SETS = ("tiers.web.count=2", "tiers.app.count=2")
STATIC_FILE = "static/counter/site.css"
PROBE_ROW = ("move-probe", 4242)
VISITS = re.compile(r'id="visits">(\d+)<')
SERVED_BY = re.compile(r"Served by <code>([^<]+)</code>")
FIREWALLED = "filtered"


@pytest.fixture(scope="module", autouse=True)
def _requirements() -> None:
    require_local_cloud(TOOLS)


@pytest.fixture
def timed(record_property: Callable[[str, object], None]) -> Iterator[Callable[[str], None]]:
    """Record and print the test's wall time, and the time of named steps inside it."""
    started = time.monotonic()
    last = [started]

    def mark(step: str) -> None:
        now = time.monotonic()
        print(f"[time] {step}: {now - last[0]:.1f}s")
        record_property(f"seconds_{step}", round(now - last[0], 1))
        last[0] = now

    yield mark
    total = round(time.monotonic() - started, 1)
    print(f"[time] whole test: {total}s")
    record_property("seconds", total)


FIRST_PAGES: dict[str, Page] = {}
"""Per stack, the answer to the first request made the moment its last `up` returned."""


@contextmanager
def _own_stack(stack: str, empty_bucket: bool = False) -> Iterator[str]:
    """A module's own stack, purged before (a run stopped midway may have left it) and after.

    With `empty_bucket`, its bucket is emptied first too: an earlier run's backups or uploads, of another cluster.
    """
    down(stack, purge=True, say=lambda line: None)
    if empty_bucket:
        spaces.delete_bucket(naming.bucket_name(stack))
    try:
        yield stack
    finally:
        down(stack, purge=True, say=lambda line: None)


def _up(stack: str, config: dict[str, object], deploy_key: str | None = None) -> UpResult:
    result = up(stack, config=config, say=lambda line: print(f"  {stack}: {line}"), deploy_key=deploy_key)
    if not result.url.startswith("https://"):
        FIRST_PAGES[stack] = fetch(result.url)
    print(f"{stack}: up in {result.seconds}s, site {result.url}")
    return result


def _check_first_page(result: UpResult) -> None:
    """`up` returned only once the public entry served the site: its very first answer is the site's page."""
    first = FIRST_PAGES[result.stack]
    assert first.status == 200, f"first request after up: {first.status} {first.body[:300]}"
    assert _visits(first) >= 1 and "Welcome to nginx" not in first.body, first.body[:300]
    reports = {r.key.split("::", 1)[1]: r for r in result.reports}
    assert reports["site-ready"].action == Action.CREATED, "the last step waited for the entry"
    for row in result.nodes:
        if "web" in row.roles:
            machine = load_state(row.machine)
            assert machine is not None
            listed = run_in(machine, ["ls", "-A", "/etc/nginx/sites-enabled"]).stdout.decode().split()
            assert listed == [], f"{row.name}: the stock site is off: {listed}"


def _machines(result: UpResult) -> dict[str, MachineState]:
    states = {row.name: load_state(row.machine) for row in result.nodes}
    assert all(s is not None for s in states.values())
    return {name: s for name, s in states.items() if s is not None}


def _actions(result: UpResult, kind: str) -> dict[str, Action]:
    return {r.key.split("::", 1)[1]: r.action for r in result.reports if r.key.split("::")[0].endswith(f":{kind}")}


def _visits(page: Page) -> int:
    found = VISITS.search(page.body)
    assert found, f"no visit counter in the page ({page.status}): {page.body[:300]}"
    return int(found.group(1))


def _wait_healthy(url: str, timeout: float = 120) -> Page:
    """The entry answers /healthz with the database ok (a balancer needs a few checks first)."""
    deadline = time.monotonic() + timeout
    while True:
        page = fetch(url + "healthz")
        if page.status == 200:
            return page
        assert time.monotonic() < deadline, f"{url}healthz still {page.status}: {page.body[:300]}"
        time.sleep(2)


def _check_cloud_init(result: UpResult) -> None:
    for name, machine in _machines(result).items():
        assert wait_cloud_init(machine, timeout=5).errors == (), name
        status = run_in(machine, ["cloud-init", "status", "--long"], check=False)
        assert status.returncode == 0, f"{name}: {status.stdout.decode()}"
        assert "status: done" in status.stdout.decode(), name
    _check_units(result)
    _check_limits(result)


def _check_units(result: UpResult) -> None:
    """Every machine booted with no unit failed; ours run where their roles are, and did their work the first time.

    A one-shot of ours that failed and was rescued by a restart or a later step counts as failed.
    """
    machines = _machines(result)
    for row in result.nodes:
        machine = machines[row.name]
        state, failed = system_state(machine)
        if state != "running":
            journals = [journal(machine, "-b", "-u", unit, "-n", "20") for unit in failed]
            pytest.fail(f"{row.name}: the system is {state}, failed: {failed}\n" + "\n".join(journals))
        expected = [paths.NODE_ENV_UNIT]
        expected += [paths.APP_UNIT] if "app" in row.roles else []
        expected += [paths.PGDATA_UNIT] if "db" in row.roles else []
        for unit in expected:
            if run_in(machine, ["systemctl", "is-active", "--quiet", unit], check=False).returncode != 0:
                status = run_in(machine, ["systemctl", "status", "--no-pager", unit], check=False)
                pytest.fail(f"{row.name}: {unit} is not active:\n{status.stdout.decode()}")
        listed = run_in(machine, ["systemctl", "list-units", "--all", "--plain", "--no-legend", "django-tiers-*.service"])
        for unit in [line.split()[0] for line in listed.stdout.decode().splitlines() if line.strip()]:
            shown = run_in(machine, ["systemctl", "show", "-p", "Type,NRestarts,Result", unit]).stdout.decode()
            props = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
            if props.get("Type") != "oneshot":
                continue
            assert props.get("NRestarts") == "0" and props.get("Result") == "success", (
                f"{row.name}: {unit} {props}: it failed at boot\n{journal(machine, '-b', '-u', unit, '-n', '20')}"
            )


def _check_limits(result: UpResult) -> None:
    """Every droplet runs, all its processes, under its size: the size's vCPUs as a CPU quota, its memory as a hard limit.

    And in cgroups of its own where its systemd keeps its units, so no two
    machines share a unit's cgroup.
    """
    factor = float(os.environ.get(limits.SCALE_ENV, "1"))
    sizes = {r.name: r.local["size"] for r in StackState(stack_dir(result.stack) / "state.json").of_type(DROPLET)}
    assert sorted(sizes) == sorted(row.name for row in result.nodes)
    for name, machine in _machines(result).items():
        size = SIZES[sizes[name]]
        expected = limits.Limits(round(size.vcpus * factor, 2), int(size.memory_mb * factor))
        processes = descendants(machine.leader)
        assert len(processes) > 5, f"{name}: its services run"
        held = {}
        tracked = set()
        for pid in processes:
            try:
                held[pid] = limits.read_back(pid)
                tracked |= systemd_cgroups(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
        assert set(held.values()) == {expected}, f"{name} ({size.slug}): {set(held.values())}"
        own = f"/{limits.PARENT}/{machine.name}/"
        assert tracked and all(own in path for path in tracked), f"{name}: not all in {own}: {sorted(tracked)}"
    shown = {row.name: row.limits for row in result.nodes}
    assert all(shown.values()) and shown == {
        n: limits.Limits(round(SIZES[s].vcpus * factor, 2), int(SIZES[s].memory_mb * factor)).describe() for n, s in sizes.items()
    }


def _check_site(result: UpResult) -> None:
    """Counter grows, second page is a cache hit, static files skip gunicorn, /healthz answers through the entry."""
    health = _wait_healthy(result.url)
    assert json.loads(health.body) == {"status": "ok"}
    first, second = fetch(result.url), fetch(result.url)
    assert first.status == second.status == 200
    assert _visits(second) == _visits(first) + 1
    assert second.headers.get("x-cache") == "hit"
    static = fetch(result.url + STATIC_FILE)
    assert static.status == 200
    assert static.body == (ROOT / "demo/counter/static/counter/site.css").read_text()
    assert static.headers.get("server") == "nginx", "nginx must not tell its version"
    machines = _machines(result)
    app_logs = [journal(machines[row.name], "-u", paths.APP_UNIT, "-o", "cat") for row in result.nodes if "app" in row.roles]
    assert any('"GET / HTTP' in log for log in app_logs), "gunicorn's access log must show the pages it served"
    assert not any("site.css" in log for log in app_logs), "a static file reached gunicorn"
    deadline = time.monotonic() + 10  # the static log is written in batches, at least once a second
    while True:
        web_logs = [
            run_in(machines[row.name], ["cat", STATIC_ACCESS_LOG], check=False).stdout.decode()
            for row in result.nodes if "web" in row.roles
        ]
        if any(STATIC_FILE in log for log in web_logs) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any(STATIC_FILE in log for log in web_logs), "nginx logs the static file it served"


def _psql(machine: MachineState, sql: str) -> str:
    done = run_in(machine, ["runuser", "-u", "postgres", "--", "psql", "-X", "-tA", "-d", paths.DB_NAME, "-c", sql])
    return done.stdout.decode().strip()


# -- onebox, then split on the same volume --------------------------------------


@pytest.fixture(scope="module")
def move_stack() -> Iterator[str]:
    yield MOVE_STACK
    down(MOVE_STACK, purge=True, say=lambda line: None)


def test_onebox_serves_the_site(move_stack: str, timed: Callable[[str], None]) -> None:
    result = _up(move_stack, stack_config("onebox"))
    timed("up onebox")
    _check_first_page(result)
    assert [row.name for row in result.nodes] == ["box-1"]
    _check_cloud_init(result)
    _check_site(result)
    box = _machines(result)["box-1"]
    name, value = PROBE_ROW
    _psql(box, f"INSERT INTO counter_counter (name, value) VALUES ('{name}', {value}) "
               f"ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value")
    assert _psql(box, f"SELECT value FROM counter_counter WHERE name = '{name}'") == str(value)
    _check_no_secret_kept_in_plaintext(move_stack)
    timed("checks")


NOLOGIN = "/run/nologin"
NOLOGIN_TEXT = "System is booting up. Unprivileged users are not permitted to log in yet."
"""What systemd writes there until boot is done: sshd's PAM account check then refuses every user but root."""
NOLOGIN_SECONDS = 6


def test_a_booting_node_is_dialled_until_it_lets_the_step_in(move_stack: str, timed: Callable[[str], None]) -> None:
    """While /run/nologin stands, sshd refuses `deploy` (ssh exits 255): the step dials again and runs once it goes."""
    box = load_state(f"{move_stack}-box-1")
    assert box is not None and is_running(box), "the onebox of the first test runs"
    made = ensure_secrets(move_stack)
    conn = ssh.Connection(
        str(IPv4Interface(box.address).ip), paths.ADMIN_USER, 22, made.ssh_private_key,
        dial_error_limit=60, per_dial_timeout=5,
    )
    run_in(box, ["sh", "-c", f"cat > {NOLOGIN}"], input_bytes=f"{NOLOGIN_TEXT}\n".encode())
    lifted = threading.Timer(NOLOGIN_SECONDS, lambda: run_in(box, ["rm", "-f", NOLOGIN]))
    started = time.monotonic()
    lifted.start()
    try:
        out, _ = ssh.run_command(conn, f"id -un; test -e {NOLOGIN} || echo lifted", None, {}, ())
    finally:
        lifted.join()
    assert out.split() == [paths.ADMIN_USER, "lifted"]
    assert time.monotonic() - started >= NOLOGIN_SECONDS, "the step ran only once the node let it in"
    sshd = journal(box, "-u", "ssh.service", "-o", "cat")
    assert f"Access denied for user {paths.ADMIN_USER} by PAM account configuration" in sshd, "sshd refused meanwhile"
    timed("nologin window waited out")

    run_in(box, ["sh", "-c", f"cat > {NOLOGIN}"], input_bytes=f"{NOLOGIN_TEXT}\n".encode())
    try:
        with pytest.raises(ssh.RemoteError) as refused:
            ssh.run_command(replace(conn, dial_error_limit=2), "true", None, {}, ())
    finally:
        run_in(box, ["rm", "-f", NOLOGIN])
    message = str(refused.value)
    assert "no SSH after 3 dials, ssh exited 255" in message, message
    assert NOLOGIN_TEXT in message and "Connection closed by" in message, f"ssh's own text: {message}"
    with pytest.raises(ssh.RemoteError) as wrong_key:
        ssh.run_command(replace(conn, private_key=new_deploy_key()[0], dial_error_limit=2), "true", None, {}, ())
    assert "Permission denied (publickey)" in str(wrong_key.value), str(wrong_key.value)
    timed("refusals reported")


def _check_no_secret_kept_in_plaintext(stack: str) -> None:
    directory = stack_dir(stack)
    made = ensure_secrets(stack)
    state = (directory / "state.json").read_text()
    for secret in (*made.program_secrets().values(), made.digest_key):
        assert secret.strip() not in state
    assert "PRIVATE KEY" not in state
    for path in (directory / "state.json", directory / "secrets.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_split_keeps_the_rows_written_in_onebox(move_stack: str, timed: Callable[[str], None]) -> None:
    before = _visits(fetch(_up(move_stack, stack_config("onebox")).url))
    timed("onebox again (all kept)")
    result = _up(move_stack, stack_config("split"))
    timed("up split")
    droplets = _actions(result, "Droplet")
    assert droplets["box-1"] == Action.DESTROYED
    assert {droplets[n] for n in ("web-1", "app-1", "cache-1", "db-1")} == {Action.CREATED}
    assert _actions(result, "VolumeAttachment")["pgdata-attachment"] == Action.REPLACED
    assert _actions(result, "Volume")["pgdata"] == Action.KEPT
    _check_cloud_init(result)
    _check_site(result)
    db = _machines(result)["db-1"]
    name, value = PROBE_ROW
    assert _psql(db, f"SELECT value FROM counter_counter WHERE name = '{name}'") == str(value)
    assert _visits(fetch(result.url)) > before + 1, "the counter goes on from where onebox left it"
    timed("checks")
    down(move_stack, say=lambda line: None)
    timed("down")
    assert not [m for m in running_machines() if m.name.startswith(f"{move_stack}-")]
    data = volume_dir(move_stack, f"pgdata-{move_stack}")
    assert (data / paths.PG_VERSION / "main" / "PG_VERSION").is_file(), "down keeps the volume's data"
    down(move_stack, purge=True, say=lambda line: None)
    assert not data.exists(), "a purge removes it"


# -- the pool: LB -> web x2 -> app x2 -------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[UpResult]:
    started = time.monotonic()
    register_key(SHARED_PUBLIC + " admin@laptop")
    result = _up(POOL_STACK, apply_sets(stack_config("pool"), POOL_SETS), deploy_key=SHARED_KEY)
    print(f"[time] pool up: {time.monotonic() - started:.1f}s")
    yield result
    down(POOL_STACK, purge=True, say=lambda line: None)
    unregister_key(SHARED_PUBLIC)


def test_pool_serves_the_site_through_the_balancer(pool: UpResult, timed: Callable[[str], None]) -> None:
    assert sorted(row.name for row in pool.nodes) == ["app-1", "app-2", "cache-1", "db-1", "web-1", "web-2"]
    lb_ip = pool.outputs["publicIp"]
    assert pool.url == f"http://{lb_ip}/"
    assert lb_ip not in {row.address for row in pool.nodes}, "the public entry is the balancer, not a web node"
    _check_first_page(pool)
    _check_cloud_init(pool)
    _check_site(pool)
    timed("checks")


def test_pool_firewalls_hold(pool: UpResult, timed: Callable[[str], None]) -> None:
    address = {row.name: row.address for row in pool.nodes}
    machines = _machines(pool)
    lb_ip = str(pool.outputs["publicIp"])
    service_ports = (80, 443, 22, APP_PORT, 5432, 11211)
    from_internet = ports_from_netns(
        INTERNET_NETNS, [f"{lb_ip}:80"] + [f"{address[n]}:{p}" for n in address for p in service_ports]
    )
    assert from_internet.pop(f"{lb_ip}:80") == "open"
    assert set(from_internet.values()) == {FIREWALLED}, from_internet
    from_host = ports_from_netns(None, [f"{a}:22" for a in address.values()])
    assert set(from_host.values()) == {"open"}, f"SSH from the admin range: {from_host}"
    from_web = ports_from_machine(machines["web-1"], [
        f"{address['db-1']}:5432", f"{address['cache-1']}:11211", f"{address['app-1']}:{APP_PORT}",
    ])
    assert from_web == {
        f"{address['db-1']}:5432": FIREWALLED,
        f"{address['cache-1']}:11211": FIREWALLED,
        f"{address['app-1']}:{APP_PORT}": "open",
    }
    from_app = ports_from_machine(machines["app-1"], [
        f"{address['db-1']}:5432", f"{address['cache-1']}:11211", f"{address['web-2']}:80",
    ])
    assert from_app == {
        f"{address['db-1']}:5432": "open",
        f"{address['cache-1']}:11211": "open",
        f"{address['web-2']}:80": FIREWALLED,
    }
    timed("probes")


def test_a_staging_stack_shares_the_account_and_the_key(pool: UpResult, timed: Callable[[str], None]) -> None:
    """Beside the pool, a onebox with a domain: its node gets a certificate and serves HTTPS itself."""
    try:
        staging = _up(STAGING_STACK, {**stack_config("onebox"), "domain": STAGING_DOMAIN}, deploy_key=SHARED_KEY)
        timed("up staging beside the pool")
        assert staging.url == f"https://{STAGING_DOMAIN}/"
        _wait_healthy(pool.url)
        assert fetch(pool.url).status == 200
        served_by = {SERVED_BY.search(fetch(pool.url).body).group(1) for _ in range(6)}
        assert served_by <= {"app-1", "app-2"}, f"the pool's entry reaches only the pool: {served_by}"
        (box,) = staging.nodes
        plain = fetch(f"http://{box.address}/")
        assert plain.status == 301 and plain.headers["location"] == f"https://{STAGING_DOMAIN}/", plain
        secure = fetch(f"https://{STAGING_DOMAIN}/", resolve=f"{STAGING_DOMAIN}:443:{box.address}")
        assert secure.status == 200 and _visits(secure) >= 1, secure.body[:300]
        assert secure.headers["strict-transport-security"].startswith("max-age="), secure.headers
        assert SERVED_BY.search(secure.body).group(1) == "box-1"
        machine = _machines(staging)["box-1"]
        assert run_in(machine, ["nginx", "-t"], check=False).returncode == 0
        ports = ports_from_netns(INTERNET_NETNS, [f"{box.address}:{p}" for p in (80, 443, 22, APP_PORT, 5432, 11211)])
        assert ports == {
            f"{box.address}:80": "open", f"{box.address}:443": "open", f"{box.address}:22": FIREWALLED,
            f"{box.address}:{APP_PORT}": FIREWALLED, f"{box.address}:5432": FIREWALLED, f"{box.address}:11211": FIREWALLED,
        }, "what the firewall opens is what listens"
        timed("checks")
    finally:
        down(STAGING_STACK, purge=True, say=lambda line: None)


def test_pool_scales_app_without_rebooting_or_failing(pool: UpResult, timed: Callable[[str], None]) -> None:
    before = {name: read_boot_id(m) for name, m in _machines(pool).items()}
    _wait_healthy(pool.url)
    load = start_load(pool.url, seconds=900)
    try:
        result = _up(POOL_STACK, apply_sets(stack_config("pool"), (*POOL_SETS[:1], "tiers.app.count=3")))
        timed("up with app x3")
        time.sleep(3)
    finally:
        counts = finish_load(load, early=True)
    print(f"requests during the scale-up: {counts}")
    droplets = _actions(result, "Droplet")
    assert droplets.pop("app-3") == Action.CREATED
    assert set(droplets.values()) == {Action.KEPT}
    assert set(_actions(result, "LoadBalancer").values()) == {Action.KEPT}
    assert set(_actions(result, "Firewall").values()) <= {Action.KEPT}
    assert set(_actions(result, "Vpc").values()) == {Action.KEPT}
    after = _machines(result)
    assert {name: read_boot_id(after[name]) for name in before} == before, "no existing machine rebooted"
    apps = sorted(f"{row.address}:{APP_PORT}" for row in result.nodes if "app" in row.roles)
    assert len(apps) == 3
    for web in ("web-1", "web-2"):
        upstream = run_in(after[web], ["cat", paths.NGINX_UPSTREAM_FILE]).stdout.decode()
        assert sorted(re.findall(r"server\s+(\S+:\d+)", upstream)) == apps, upstream
    assert counts["ok"] > 0 and counts["non2xx"] == 0 and counts["failed"] == 0, counts
    served_by = {SERVED_BY.search(fetch(pool.url).body).group(1) for _ in range(15)}
    assert "app-3" in served_by, f"the new app node takes requests: {served_by}"
    timed("checks")


HOST_KEY_FILES = ("/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub")


def test_a_node_with_another_host_key_is_refused(pool: UpResult, timed: Callable[[str], None]) -> None:
    """After the scale-up: going back to two app nodes rewrites both web nodes' upstreams over SSH."""
    web = _machines(pool)["web-2"]
    kept = {path: run_in(web, ["cat", path]).stdout for path in HOST_KEY_FILES}
    run_in(web, ["sh", "-c", f"rm -f {' '.join(HOST_KEY_FILES)} && ssh-keygen -q -t ed25519 -N '' -f {HOST_KEY_FILES[0]}"
                 " && systemctl restart ssh.service"])
    with pytest.raises(Exception) as refused:
        _up(POOL_STACK, apply_sets(stack_config("pool"), POOL_SETS))
    message = str(refused.value)
    assert "web-2" in message and "another key than the one pinned" in message, message
    timed("refused")
    for path, content in kept.items():
        run_in(web, ["sh", "-c", f"cat > {path}"], input_bytes=content)
    run_in(web, ["sh", "-c", f"chmod 600 {HOST_KEY_FILES[0]} && systemctl restart ssh.service"])
    result = _up(POOL_STACK, apply_sets(stack_config("pool"), POOL_SETS))
    upstream = run_in(_machines(result)["web-2"], ["cat", paths.NGINX_UPSTREAM_FILE]).stdout.decode()
    assert len(re.findall(r"server\s+\S+:\d+", upstream)) == 2, "with its own key back, the node takes the step"
    timed("runs again with the pinned key")


def _under_load(url: str, fault: Callable[[], None], seconds: float = 25, lead: float = 5) -> dict[str, object]:
    load = start_load(url, seconds=seconds)
    time.sleep(lead)
    fault()
    return finish_load(load)


def test_pool_survives_faults(pool: UpResult, timed: Callable[[str], None]) -> None:
    machines = _machines(pool)
    _wait_healthy(pool.url)
    results = {}
    results["app-1 stopped"] = _under_load(pool.url, lambda: stop(machines["app-1"].name))
    timed("app node stopped")
    results["memcached stopped"] = _under_load(
        pool.url, lambda: run_in(machines["cache-1"], ["systemctl", "stop", "memcached.service"])
    )
    timed("memcached stopped")
    results["web-1 stopped"] = _under_load(pool.url, lambda: stop(machines["web-1"].name))
    timed("web node stopped")
    print("non-2xx and failed requests per fault:", json.dumps(results))
    for fault, counts in results.items():
        assert counts["ok"] > 0, f"{fault}: no page served"
        assert counts["non2xx"] == 0 and counts["failed"] == 0, f"{fault}: {counts}"
    page = fetch(pool.url)
    assert page.status == 200 and page.headers.get("x-cache") == "miss", "with memcached down every page is a miss"
    served_by = {SERVED_BY.search(fetch(pool.url).body).group(1) for _ in range(10)}
    assert served_by and "app-1" not in served_by, f"the stopped app node serves nothing: {served_by}"
    assert not is_running(machines["app-1"]) and not is_running(machines["web-1"]), "the faults really stopped them"
