"""Print what a stack would build, by running the real program under mocks, and draw it.

    python -m sim.plan pool                     # also writes diagrams/pool.svg
    python -m sim.plan staging production       # two stacks in one account

No cloud account and no Pulumi CLI: the program registers its resources with
a fake cloud, and this reads them back as nodes, firewall matrix, load
balancer and monthly cost, and as a diagram (sim/diagram.py).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import warnings
from collections import defaultdict
from pathlib import Path

from model import naming, paths
from model.config import SECRETS, ConfigError
from model.project import stack_config
from model.sizes import SPACES_USD_MONTH
from sim import diagram
from sim.account import Account, ApiRefusal
from sim.harness import Run, run_program
from sim.keys import new_deploy_key
from sim.resources import DROPLET, FIREWALL, LOAD_BALANCER, MONITOR_ALERT, SPACES_BUCKET, UPTIME_CHECK
from sim.table import table


def _role_of(tag: str, stack: str) -> str:
    role = naming.role_of_tag(stack, tag)
    return str(role) if role is not None else "every node"


def describe(run: Run, stack: str) -> str:
    droplets = run.of_type(DROPLET)
    groups: dict[tuple[str, str, str], int] = defaultdict(int)
    for d in droplets:
        roles = ",".join(naming.roles_of(stack, d.inputs["tags"]))
        group, _ = naming.parse_node_name(d.name)
        groups[(group, roles, d.inputs["size"])] += 1
    out = ["Nodes", table(["group", "roles", "size", "count"], [[g, r, s, str(c)] for (g, r, s), c in groups.items()])]

    rows = []
    for fw in run.of_type(FIREWALL):
        target = ", ".join(_role_of(t, stack) for t in fw.inputs["tags"])
        for rule in fw.inputs.get("inboundRules", []):
            sources = (
                list(rule.get("sourceAddresses", []))
                + [f"{_role_of(t, stack)} nodes" for t in rule.get("sourceTags", [])]
                + ["load balancer" for _ in rule.get("sourceLoadBalancerUids", [])]
            )
            rows.append([target, rule["portRange"], ", ".join(sources)])
    out += ["", "Firewall (who reaches which port; everything else is closed)", table(["to", "port", "from"], rows)]

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
    out.append(_storage(run))
    alerts = run.of_type(MONITOR_ALERT)
    checks = run.of_type(UPTIME_CHECK)
    out.append(
        f"Alerts: {len(alerts)} (cpu, memory, disk per role); uptime check on {checks[0].inputs['target']}" if checks
        else "Alerts: none (no alerts key)"
    )
    out += ["", f"Site URL (example addresses): {run.outputs['siteUrl']}",
            f"Estimated monthly cost: ${run.outputs['monthlyCostUsd']:.2f} (DigitalOcean list prices, "
            f"Spaces ${SPACES_USD_MONTH:.2f} included)"]
    return "\n".join(out)


def _storage(run: Run) -> str:
    bucket = run.of_type(SPACES_BUCKET)[0].inputs
    return (
        f"Spaces: bucket {bucket['name']} in {bucket['region']} (backups under {paths.PGBACKREST_REPO_PATH}/, "
        f"media under {paths.MEDIA_PREFIX}/), ${SPACES_USD_MONTH:.2f}/month for 250 GiB stored and 1 TiB out"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "stacks", nargs="+", metavar="stack",
        help="a stack file stacks/Pulumi.<stack>.yaml; several share one account, with one deploy key, as they would",
    )
    parser.add_argument("--diagrams", type=Path, default=diagram.DIAGRAMS, help="where the SVGs go (default: diagrams/)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    throwaway = {key: secrets.token_urlsafe(48) for key in SECRETS}
    throwaway["sshPrivateKey"] = new_deploy_key()[0]
    account = Account()
    for i, stack in enumerate(args.stacks):
        try:
            run = run_program(stack_config(stack), throwaway, stack=stack, account=account)
        except FileNotFoundError:
            print(f"no stack file stacks/Pulumi.{stack}.yaml", file=sys.stderr)
            return 2
        except (ConfigError, ApiRefusal) as err:
            print(f"error in stack {stack}: {err}", file=sys.stderr)
            return 1
        print(("\n" if i else "") + f"Plan for stack {stack} (secrets replaced by throwaway values)\n")
        print(describe(run, stack))
        try:
            print(f"\nDiagram: {diagram.write(run, stack, args.diagrams)}")
        except diagram.NoGraphviz as err:
            print(f"\nNo diagram: {err}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
