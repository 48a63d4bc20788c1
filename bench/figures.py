"""Each figure of the bench, measured `runs` times, every ratio taken side by side within one run."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import stats, wrk
from bench.site import (
    BARE_PORT,
    DIRECT_PORT,
    INTERNET,
    STATIC_PATH,
    BareNginx,
    DirectGunicorn,
    Load,
    Place,
    SlowClients,
    base_url,
    entry_host,
    first_with,
    machine_of,
    run_wrk,
)
from localcloud.host import run
from localcloud.stack import NodeRow
from model.project import ROOT

SLOW_CLIENTS = 200
SITE_TITLE = "django-tiers demo"
SERVE_TIMEOUT = 600

Say = Callable[[str], None]


def static(rows: tuple[NodeRow, ...], load: Load, runs: int, say: Say) -> list[stats.Figure]:
    """The web role's nginx against bare nginx and against Django, all on one small file, from each node's loopback."""
    web, app = machine_of(first_with(rows, "web")), machine_of(first_with(rows, "app"))
    site, bare, django = [], [], []
    with BareNginx(web), DirectGunicorn(app):
        for i in range(runs):
            site.append(run_wrk(Place(web), load, f"http://127.0.0.1{STATIC_PATH}").good_per_second)
            bare.append(run_wrk(Place(web), load, f"http://127.0.0.1:{BARE_PORT}{STATIC_PATH}").good_per_second)
            django.append(run_wrk(Place(app), load, f"http://127.0.0.1:{DIRECT_PORT}{STATIC_PATH}").good_per_second)
            say(f"static run {i + 1}: site {site[-1]:.0f}, bare {bare[-1]:.0f}, django {django[-1]:.0f} req/s")
    return [
        stats.Figure("static_site_rps", "static file through the web role's nginx", " req/s", tuple(site)),
        stats.Figure("static_bare_rps", "the same file through bare nginx (stock Debian config)", " req/s", tuple(bare)),
        stats.Figure("static_django_rps", "the same file through Django on gunicorn", " req/s", tuple(django)),
        stats.Figure("static_vs_bare",
                     "static file through the web role's nginx ÷ bare nginx (stock Debian config, same bytes, same namespace)",
                     "×", tuple(stats.ratios(site, bare)), stats.at_least(0.9)),
        stats.Figure("static_vs_django", "web role's nginx ÷ the same bytes through Django on gunicorn",
                     "×", tuple(stats.ratios(site, django)), stats.at_least(10)),
    ]


def slow_clients(rows: tuple[NodeRow, ...], url: str, load: Load, runs: int, say: Say) -> list[stats.Figure]:
    """Dynamic throughput with and without slow clients: through the public entry (nginx), and on gunicorn alone."""
    app = machine_of(first_with(rows, "app"))
    url, host = base_url(url), entry_host(url)
    direct = f"http://127.0.0.1:{DIRECT_PORT}/"
    found: dict[str, list[float]] = {}
    with DirectGunicorn(app):
        for i in range(runs):
            for kind in ("slowloris", "slowread"):
                for name, place, target, slow_url in (
                    ("nginx", INTERNET, url, url + ("report/" if kind == "slowread" else "")),
                    ("gunicorn", Place(app), direct, direct + ("report/" if kind == "slowread" else "")),
                ):
                    # Alone before and after, averaged: the page slows as its counter row is updated
                    # thousands of times, so a single "alone" run first would flatter the ratio's other side.
                    before = run_wrk(place, load, target, host=host).good_per_second
                    with SlowClients(place, load.slow_cgroups, kind, slow_url, SLOW_CLIENTS, load.seconds + 20):
                        slowed = run_wrk(place, load, target, host=host).good_per_second
                    alone = (before + run_wrk(place, load, target, host=host).good_per_second) / 2
                    found.setdefault(f"{kind}_{name}_alone", []).append(alone)
                    found.setdefault(f"{kind}_{name}_slowed", []).append(slowed)
                    say(f"{kind} run {i + 1} on {name}: {alone:.0f} req/s alone, {slowed:.0f} with {SLOW_CLIENTS} slow clients")
    figures = []
    for kind, what in (("slowloris", f"{SLOW_CLIENTS} slowloris clients"), ("slowread", f"{SLOW_CLIENTS} slow-read clients")):
        figures += [
            stats.Figure(f"{kind}_nginx", f"dynamic throughput behind nginx with {what} ÷ without", "×",
                         tuple(stats.ratios(found[f"{kind}_nginx_slowed"], found[f"{kind}_nginx_alone"])), stats.at_least(0.9)),
            stats.Figure(f"{kind}_gunicorn", f"the same with gunicorn addressed directly ({what})", "×",
                         tuple(stats.ratios(found[f"{kind}_gunicorn_slowed"], found[f"{kind}_gunicorn_alone"])),
                         stats.Target("collapses (≤ 0.1×): the claim", lambda x: x <= 0.1) if kind == "slowloris" else None),
            stats.Figure(f"{kind}_gunicorn_rps", f"gunicorn addressed directly with {what}", " req/s",
                         tuple(found[f"{kind}_gunicorn_slowed"])),
        ]
    return figures


def cache(url: str, load: Load, runs: int, say: Say) -> list[stats.Figure]:
    """The report page from the cache against the same page rendered every time (a new query string each request)."""
    host = entry_host(url)
    page = base_url(url) + "report/"
    hit, miss = [], []
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk.MISS_SCRIPT)
    try:
        for i in range(runs):
            hit.append(run_wrk(INTERNET, load, page, host=host).good_per_second)
            miss.append(run_wrk(INTERNET, load, page, host=host, script=Path(script.name)).good_per_second)
            say(f"cache run {i + 1}: cached {hit[-1]:.0f}, uncached {miss[-1]:.0f} req/s")
    finally:
        Path(script.name).unlink()
    return [
        stats.Figure("cached_rps", "the report page from the cache", " req/s", tuple(hit)),
        stats.Figure("uncached_rps", "the report page rendered each time", " req/s", tuple(miss)),
        stats.Figure("cached_vs_uncached", "cached page ÷ uncached page", "×", tuple(stats.ratios(hit, miss)), stats.at_least(3)),
    ]


def serves_site(url: str) -> bool:
    done = run(INTERNET.argv(["curl", "-s", "--max-time", "5", "--noproxy", "*", url]), check=False, timeout=30)
    return done.returncode == 0 and SITE_TITLE.encode() in done.stdout


def up_to_serving(stack: str, cycles: int, up: Callable[[], str], down: Callable[[], None], say: Say) -> stats.Figure:
    """Seconds from the start of `up` until the public entry serves the site's own page; `down` before each."""
    seconds = []
    for i in range(cycles):
        down()
        started = time.monotonic()
        url = up()
        while not serves_site(url):
            if time.monotonic() - started > SERVE_TIMEOUT:
                raise TimeoutError(f"{stack}: the entry did not serve the site within {SERVE_TIMEOUT} s of up")
            time.sleep(0.5)
        seconds.append(time.monotonic() - started)
        say(f"up cycle {i + 1}: {seconds[-1]:.0f} s until {url} served the site")
    return stats.Figure(f"up_{stack}", f"`up` until the public entry serves the site: {stack}", " s", tuple(seconds),
                        stats.at_most(60, " s"))


def throughput(url: str, load: Load, runs: int) -> list[float]:
    return [run_wrk(INTERNET, load, url, host=entry_host(url)).good_per_second for _ in range(runs)]


def program_time(runs: int, say: Say) -> list[stats.Figure]:
    """The plan of a 100-node pool in a fresh interpreter, as `make plan` runs it: wall time, and CPU time.

    On a shared host the wall time carries everyone else's load; the CPU
    time (user and system, of the interpreter alone) much less of it.
    """
    wall, cpu = [], []
    for i in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "bench.program"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, timeout=300)
        wall.append(time.monotonic() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        say(f"program run {i + 1}: {wall[-1]:.2f} s, {cpu[-1]:.2f} s of CPU")
    return [
        stats.Figure("program_100_nodes", "the program on a 100-node pool under the simulator (`make plan`)", " s",
                     tuple(wall), stats.below(2, " s")),
        stats.Figure("program_100_nodes_cpu", "the same, CPU time (user + system)", " s", tuple(cpu), stats.below(2, " s")),
    ]


def scaling_figures(counts: Sequence[int], rps: dict[int, list[float]]) -> list[stats.Figure]:
    figures = [stats.Figure(f"app_nodes_{n}_rps", f"dynamic throughput, app tier at {n} node{'s' * (n > 1)}", " req/s",
                            tuple(rps[n])) for n in counts]
    top, bottom = max(counts), min(counts)
    figures.append(stats.Figure(f"app_nodes_{top}_vs_{bottom}", f"app tier at {top} nodes ÷ at {bottom}", "×",
                                tuple(stats.ratios(rps[top], rps[bottom]))))
    return figures


def layout_figures(onebox: list[float], split: list[float], budget: str) -> list[stats.Figure]:
    return [
        stats.Figure("layout_onebox_rps", f"onebox at {budget}", " req/s", tuple(onebox)),
        stats.Figure("layout_split_rps", f"split at {budget}", " req/s", tuple(split)),
        stats.Figure("layout_onebox_vs_split", f"onebox ÷ split at the same budget ({budget})", "×",
                     tuple(stats.ratios(onebox, split))),
    ]
