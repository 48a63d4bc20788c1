"""wrk's output read as numbers, and the command lines that run wrk and slowhttptest."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}


class WrkOutputError(ValueError):
    """wrk printed something this reader does not know."""


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    non2xx: int
    socket_errors: int
    """connect, read, write and timeout errors together."""

    @property
    def good_per_second(self) -> float:
        """Requests per second that got a 2xx or 3xx: what a visitor got."""
        if self.requests == 0:
            return 0.0
        return self.requests_per_second * (self.requests - self.non2xx) / self.requests


def parse(text: str) -> WrkResult:
    """Read wrk's summary: requests per second, requests, non-2xx/3xx responses and socket errors."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)([kKmM]?)\s*$", text, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", text, re.MULTILINE)
    if not rate or not total:
        raise WrkOutputError(f"no request rate in wrk's output: {text[-400:]!r}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        requests_per_second=float(rate.group(1)) * _UNITS[rate.group(2)],
        requests=int(total.group(1)),
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def wrk_argv(url: str, seconds: int, connections: int, threads: int = 1, script: str | None = None) -> list[str]:
    """A bounded wrk run: its own duration, a request timeout, and a Host header the site accepts."""
    argv = ["wrk", f"-t{threads}", f"-c{max(connections, threads)}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    if script:
        argv += ["-s", script]
    return [*argv, url]


def slowhttptest_argv(kind: str, url: str, connections: int, seconds: int) -> list[str]:
    """slowhttptest holding `connections` slow clients on `url` for `seconds`: slowloris (headers) or slow read."""
    common = ["slowhttptest", "-c", str(connections), "-r", str(connections), "-l", str(seconds), "-u", url, "-p", "3"]
    if kind == "slowloris":
        return [*common, "-H", "-i", "10", "-s", "8192", "-t", "GET"]
    if kind == "slowread":
        return [*common, "-X", "-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3"]
    raise ValueError(f"kind must be slowloris or slowread, not {kind!r}")


MISS_SCRIPT = """\
-- Every request a new query string: the page's cache, keyed per URL, always misses.
-- Seeded from the clock, so the next run does not ask again for what this one cached.
math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000) % 1000)
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", wrk.path .. "?miss=" .. counter .. "-" .. math.random(1, 1000000000))
end
"""
