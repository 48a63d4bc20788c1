"""wrk's output read back, from a printed sample and from a real wrk run against a server on loopback."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from bench import wrk
from tests.support.services import require_tool

SAMPLE = """\
Running 8s test @ http://127.0.0.1/static/counter/site.css
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   310.52us  120.11us   4.02ms   81.20%
    Req/Sec    45.12k     2.10k   49.80k    70.00%
  Latency Distribution
     50%  290.00us
  359012 requests in 8.00s, 151.22MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 12
Requests/sec:  44876.50
Transfer/sec:     18.90MB
"""


def test_a_summary_is_read_with_its_errors() -> None:
    result = wrk.parse(SAMPLE)
    assert result == wrk.WrkResult(requests_per_second=44876.5, requests=359012, non2xx=12, socket_errors=6)
    assert result.good_per_second == pytest.approx(44876.5 * (359012 - 12) / 359012)


def test_a_dead_server_gives_no_good_requests() -> None:
    text = "  0 requests in 8.00s, 0.00B read\n  Socket errors: connect 16, read 0, write 0, timeout 0\nRequests/sec:      0.00\n"
    result = wrk.parse(text)
    assert (result.requests_per_second, result.socket_errors, result.good_per_second) == (0.0, 16, 0.0)


def test_output_without_a_rate_is_refused() -> None:
    with pytest.raises(wrk.WrkOutputError, match="no request rate"):
        wrk.parse("unable to connect to 127.0.0.1:80 Connection refused\n")


def test_argv_is_bounded_in_time_and_connections() -> None:
    argv = wrk.wrk_argv("http://127.0.0.1/", seconds=8, connections=16, script="/tmp/miss.lua")
    assert argv[:1] == ["wrk"] and "-d8s" in argv and "-c16" in argv and "--timeout" in argv
    assert argv[-3:] == ["-s", "/tmp/miss.lua", "http://127.0.0.1/"]


@pytest.mark.parametrize(("kind", "flag"), [("slowloris", "-H"), ("slowread", "-X")])
def test_slowhttptest_is_bounded_and_picks_its_attack(kind: str, flag: str) -> None:
    argv = wrk.slowhttptest_argv(kind, "http://127.0.0.1/", 200, 30)
    assert flag in argv and argv[argv.index("-c") + 1] == "200" and argv[argv.index("-l") + 1] == "30"
    with pytest.raises(ValueError, match="slowloris or slowread"):
        wrk.slowhttptest_argv("flood", "http://127.0.0.1/", 1, 1)


class _Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    asked: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.asked.append(self.path)
        status = 200 if "miss=" in self.path or self.path == "/" else 404
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


def test_real_wrk_output_parses_and_the_miss_script_changes_every_url() -> None:
    import subprocess
    import tempfile

    require_tool("wrk")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        plain = wrk.parse(subprocess.run(wrk.wrk_argv(url, 1, 2), capture_output=True, text=True, timeout=60).stdout)
        assert plain.requests > 0 and plain.non2xx == 0
        runs = []
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            script.write(wrk.MISS_SCRIPT)
            script.flush()
            for _ in range(2):
                _Ok.asked.clear()
                missing = wrk.parse(subprocess.run(wrk.wrk_argv(url + "page", 1, 2, script=script.name),
                                                   capture_output=True, text=True, timeout=60).stdout)
                assert missing.requests > 0 and missing.non2xx == 0, "every request carried ?miss="
                runs.append(set(_Ok.asked))
                time.sleep(1.1)  # the next run starts on another second of the clock it is seeded from
        assert all(len(paths) > 1 for paths in runs), "each request of a run asks for another URL"
        assert not runs[0] & runs[1], "a second run asks for none of the URLs the first one did"
    finally:
        server.shutdown()
