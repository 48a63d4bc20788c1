"""Try a TCP connection to every host:port given on the command line, all at once; print JSON.

Each target is "open" (connected), "refused" (a reset: nothing listens, but
the packet got there) or "filtered" (no answer before the timeout: a
firewall dropped it). Standard library only: it runs on the host, in a
namespace, or inside a machine with the machine's own python3.
"""

import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor


def probe(target: str, timeout: float) -> str:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except (TimeoutError, socket.timeout):
        return "filtered"
    except OSError as error:
        return f"error: {error}"


def main() -> None:
    timeout = float(sys.argv[1])
    targets = sys.argv[2:]
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        results = dict(zip(targets, pool.map(lambda t: probe(t, timeout), targets)))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
