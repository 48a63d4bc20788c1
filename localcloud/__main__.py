"""python -m localcloud up|down|manage <stack> | cycles: run a stack's program on this host, take it away, run a Django
command there, or take the example stacks up and down in turn, many times."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from localcloud.host import NeedsRoot, require_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="create or update the stack's resources on this host")
    up_cmd.add_argument("stack", help="a stack file stacks/Pulumi.<stack>.yaml")
    up_cmd.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="override a config value, e.g. tiers.app.count=3 (repeatable)",
    )
    down_cmd = commands.add_parser("down", help="destroy the stack's resources (the data volume is kept)")
    down_cmd.add_argument("stack")
    down_cmd.add_argument("--purge", action="store_true", help="also delete the data volume and the stack's secrets")
    manage_cmd = commands.add_parser(
        "manage", help="run a Django management command on the stack's first app node (its exit status is ours)",
    )
    manage_cmd.add_argument("stack")
    manage_cmd.add_argument("arguments", nargs=argparse.REMAINDER, help="the command and its arguments, e.g. migrate --check")
    cycles_cmd = commands.add_parser(
        "cycles", help="up/down cycles of the example stacks in turn, each checked through its entry and logged (make cycles)",
    )
    cycles_cmd.add_argument("--count", type=int, default=20, help="how many cycles (default 20)")
    cycles_cmd.add_argument("--layouts", help="the example stack files to take turns, comma-separated (default: all five)")
    cycles_cmd.add_argument(
        "--log", type=Path, default=Path("build/cycles.log"), help="JSON lines, appended (default build/cycles.log)",
    )
    cycles_cmd.add_argument("--lock", type=Path, help="a file to hold an exclusive lock on during each cycle")
    args = parser.parse_args(argv)
    try:
        require_root()
    except NeedsRoot as error:
        print(error, file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Imported here: the program's modules are only needed once the checks above pass.
    if args.command == "cycles":
        from localcloud import cycles

        layouts = args.layouts.split(",") if args.layouts else cycles.LAYOUTS
        return 1 if cycles.run(args.count, layouts, args.log, args.lock) else 0
    from localcloud.cloud import LocalCloudError, UnsupportedResource
    from localcloud.limits import LimitError
    from localcloud.stack import down, manage, node_table, up
    from model.config import ConfigError

    try:
        if args.command == "manage":
            arguments = args.arguments[1:] if args.arguments[:1] == ["--"] else args.arguments
            return manage(args.stack, arguments, tty=sys.stdin.isatty() and sys.stdout.isatty())
        if args.command == "up":
            result = up(args.stack, sets=args.sets)
            print(f"\nsite: {result.url}   ({result.seconds:.0f}s)\n")
            print(node_table(result.nodes))
        else:
            down(args.stack, purge=args.purge)
    except (ConfigError, LocalCloudError, UnsupportedResource, LimitError, ValueError) as error:
        print(f"{args.command} {args.stack} failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
