"""Print what a stack would build, by running the real program under mocks.

    python -m offline.plan pool

No cloud account and no Pulumi CLI: the program registers its resources with
a fake cloud, and this reads them back as nodes, firewall matrix, load
balancer and monthly cost.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import warnings
from collections import defaultdict

from model.config import SECRETS, ConfigError
from offline.harness import Run, run_program, stack_config
from offline.keys import new_deploy_key
from offline.resource_types import DROPLET, FIREWALL, LOAD_BALANCER


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _role_of(tag: str, stack_tag: str) -> str:
    return tag[len(stack_tag) + 1:] if tag.startswith(stack_tag + "-") else "every node"


def describe(run: Run) -> str:
    droplets = run.of_type(DROPLET)
    stack_tag = min((t for d in droplets for t in d.inputs["tags"]), key=len)
    groups: dict[tuple[str, str, str], int] = defaultdict(int)
    for d in droplets:
        roles = ",".join(_role_of(t, stack_tag) for t in d.inputs["tags"] if t != stack_tag)
        groups[(d.name.rsplit("-", 1)[0], roles, d.inputs["size"])] += 1
    out = ["Nodes", _table([[g, r, s, str(c)] for (g, r, s), c in groups.items()], ["group", "roles", "size", "count"])]

    rows = []
    for fw in run.of_type(FIREWALL):
        target = ", ".join(_role_of(t, stack_tag) for t in fw.inputs["tags"])
        for rule in fw.inputs.get("inboundRules", []):
            sources = (
                list(rule.get("sourceAddresses", []))
                + [f"{_role_of(t, stack_tag)} nodes" for t in rule.get("sourceTags", [])]
                + ["load balancer" for _ in rule.get("sourceLoadBalancerUids", [])]
            )
            rows.append([target, rule["portRange"], ", ".join(sources)])
    out += ["", "Firewall (who reaches which port; everything else is closed)", _table(rows, ["to", "port", "from"])]

    lbs = run.of_type(LOAD_BALANCER)
    out.append("")
    if lbs:
        lb = lbs[0].inputs
        rules = ", ".join(f"{r['entryProtocol']}:{int(r['entryPort'])} -> {r['targetProtocol']}:{int(r['targetPort'])}" for r in lb["forwardingRules"])
        hc = lb["healthcheck"]
        out.append(f"Load balancer: droplets tagged {lb['dropletTag']}; {rules}; health check {hc['protocol']}:{int(hc['port'])}{hc.get('path', '')}"
                   + ("; HTTP redirects to HTTPS" if lb.get("redirectHttpToHttps") else ""))
    else:
        out.append("Load balancer: none (the web node is the public entry)")
    out += ["", f"Site URL (example addresses): {run.outputs['siteUrl']}",
            f"Estimated monthly cost: ${run.outputs['monthlyCostUsd']:.2f} (DigitalOcean list prices)"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="a stack file stacks/Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    throwaway = {key: secrets.token_urlsafe(24) for key in SECRETS}
    throwaway["sshPrivateKey"] = new_deploy_key()[0]
    try:
        run = run_program(stack_config(args.stack), throwaway, stack=args.stack)
    except FileNotFoundError:
        print(f"no stack file stacks/Pulumi.{args.stack}.yaml", file=sys.stderr)
        return 2
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"Plan for stack {args.stack} (secrets replaced by throwaway values)\n")
    print(describe(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
