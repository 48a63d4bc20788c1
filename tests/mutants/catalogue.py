"""The standing mutants: one-line deliberate bugs, each named for the invariant it breaks, and the tests that must catch it.

`original` must occur exactly once in `file`; `killers` are pytest node ids
run in a copy of the repository with the bug applied, and at least one of
them must fail there.
"""

from __future__ import annotations

from dataclasses import dataclass

PROGRAM_GRAPH = "tests/components/test_program_graph.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    replacement: str
    killers: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "internal-port-open-to-the-world",
        "model/topology.py",
        "            rules.append(Rule(role, PORTS[role], CONSUMER[role]))",
        "            rules.append(Rule(role, PORTS[role], Source.INTERNET))",
        (f"{PROGRAM_GRAPH}::test_firewalls_let_through_exactly_the_matrix",),
    ),
    Mutant(
        "secret-in-user-data-plain",
        "components/node_group.py",
        "                user_data=args.user_data[node.name],",
        "                user_data=pulumi.Output.unsecret(args.private_key).apply(lambda key, text=args.user_data[node.name]: text + key),",
        (f"{PROGRAM_GRAPH}::test_secrets_reach_no_user_data_and_no_plain_output",),
    ),
    Mutant(
        "secret-in-user-data-marked-secret",
        "components/node_group.py",
        "                user_data=args.user_data[node.name],",
        "                user_data=args.private_key.apply(lambda key, text=args.user_data[node.name]: text + key),",
        (
            f"{PROGRAM_GRAPH}::test_secrets_reach_no_user_data_and_no_plain_output",
            f"{PROGRAM_GRAPH}::test_user_data_is_never_a_pulumi_secret",
        ),
    ),
    Mutant(
        "count-in-user-data",
        "render/userdata.py",
        "    return CLOUD_CONFIG_HEADER + body",
        '    return CLOUD_CONFIG_HEADER + f"# one of {len(topology.nodes)} nodes\\n" + body',
        (
            "tests/render/test_userdata.py::test_growing_groups_changes_no_user_data",
            f"{PROGRAM_GRAPH}::test_scaling_pool_replaces_nothing",
        ),
    ),
    Mutant(
        "volume-not-protected",
        "components/db_node.py",
        "            opts=pulumi.ResourceOptions(parent=self, protect=True),",
        "            opts=pulumi.ResourceOptions(parent=self),",
        (f"{PROGRAM_GRAPH}::test_db_volume_keeps_its_identity_across_layouts",),
    ),
    Mutant(
        "static-not-routed",
        "cloud-init/files/nginx-server.conf.j2",
        "location /static/ {",
        "location /assets/ {",
        (
            "tests/render/test_real_tools.py::test_nginx_serves_static_from_disk_and_proxies_the_rest",
            "tests/steps/test_deploy.py::test_static_files_are_served_by_nginx_from_disk",
        ),
    ),
    Mutant(
        "wait-ready-not-waiting",
        "steps/wait-ready.sh.j2",
        '"$CLOUD_INIT" status --wait >/dev/null || rc=$?',
        '"$CLOUD_INIT" status >/dev/null || rc=$?',
        ("tests/steps/test_wait_ready.py::test_waits_while_cloud_init_runs",),
    ),
    Mutant(
        "db-firewall-missing",
        "components/site.py",
        "            specs=[spec for spec in map(topology.firewall, ROLES) if spec is not None],",
        "            specs=[spec for spec in map(topology.firewall, ROLES[:-1]) if spec is not None],",
        (f"{PROGRAM_GRAPH}::test_firewalls_let_through_exactly_the_matrix",),
    ),
    Mutant(
        "volume-attached-to-the-last-node",
        "components/site.py",
        "            db, topology.volume_name, cfg.db_volume_gb, cfg.region, secrets.db_password, connections,",
        "            nodes[topology.nodes[-1].name], topology.volume_name, cfg.db_volume_gb, cfg.region, secrets.db_password,"
        " connections,",
        (f"{PROGRAM_GRAPH}::test_volume_is_attached_to_the_node_carrying_db_when_its_group_comes_first",),
    ),
)
