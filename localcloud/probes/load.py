"""A steady stream of GET requests for a while; print JSON counts of 2xx, other statuses and failures.

Usage: load.py URL SECONDS [RATE]. One request at a time, RATE per second at
most, each with a short timeout, so a stalled backend shows as a failure.
SIGTERM ends the stream early and still prints the counts.
Standard library only, so it runs in the internet namespace with the host's python3.
"""

import json
import signal
import sys
import time
import urllib.error
import urllib.request


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    counts = {"ok": 0, "non2xx": 0, "failed": 0}
    statuses: dict[str, int] = {}
    # Straight to the site: a proxy from the environment would not be on the way a visitor takes.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + seconds
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
    while time.monotonic() < deadline and not stopped:
        started = time.monotonic()
        try:
            with opener.open(url, timeout=5) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            counts["failed"] += 1
            status = None
        if status is not None:
            counts["ok" if 200 <= status < 300 else "non2xx"] += 1
            if not 200 <= status < 300:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    print(json.dumps({**counts, "statuses": statuses}))


if __name__ == "__main__":
    main()
