"""What an attacker meets in the graph: pinned host keys, keyed digests, the ports that are open, the way out."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from model.project import stack_config
from sim.cloud import SimCloud
from sim.harness import Registration, Run, run_program
from sim.inputs import reveal
from sim.keys import host_key_of, new_deploy_key
from sim.resources import COMMAND, COPY_TO_REMOTE, DNS_RECORD, DROPLET, FIREWALL

DEPLOY_KEY, _ = new_deploy_key()
CANARY = {"dbPassword": "canary-db-51e0aa", "secretKey": "canary-key-" + "q" * 45, "sshPrivateKey": DEPLOY_KEY}


def run(config: dict, stack: str = "pool") -> Run:
    return run_program(config, CANARY, stack=stack)


def steps_of(result: Run) -> dict[str, Registration]:
    return {r.urn: r for r in result.resources if r.type in (COMMAND, COPY_TO_REMOTE)}


def test_every_step_after_the_first_contact_pins_the_node_s_host_key():
    result = run(stack_config("pool"), stack="pool")
    droplets = {d.outputs["ipv4_address"]: d.name for d in result.of_type(DROPLET)}
    for step in steps_of(result).values():
        connection = reveal(step.inputs["connection"])
        node = droplets[connection["host"]]
        if step.name == f"{node}-ready":
            assert not connection.get("hostKey"), "the first contact cannot know the key yet"
            assert "ssh_host_ed25519_key.pub" in step.inputs["create"]
            continue
        assert connection["hostKey"] == host_key_of(connection["host"]), step.name
        assert result.one(COMMAND, f"{node}-ready").urn in step.dependencies, step.name


def test_a_first_contact_that_prints_no_host_key_stops_the_program_and_names_the_node():
    class Mute(SimCloud):
        def _command(self, args, rid):
            return {"stdout": "", "stderr": ""}

    with pytest.raises(Exception, match="box-1: the first contact printed no SSH host key"):
        run_program(stack_config("onebox"), CANARY, stack="onebox", cloud=Mute())


def test_the_env_file_s_digest_in_a_command_line_is_keyed():
    result = run(stack_config("onebox"), stack="onebox")
    env = reveal(result.one(COMMAND, "box-1-env").inputs["stdin"])
    line = result.one(COMMAND, "box-1-activate").inputs["create"]
    plain = hashlib.sha256(env.encode()).hexdigest()
    keyed = hmac.new(CANARY["secretKey"].encode(), env.encode(), "sha256").hexdigest()
    assert plain not in line, "a plain hash of the secrets lets anyone with the state test guesses"
    assert f"ENV_DIGEST={keyed}" in line


def _web_ports(result: Run) -> set[str]:
    return {
        rule["portRange"]
        for fw in result.of_type(FIREWALL) if any(t.endswith("-web") for t in fw.inputs["tags"])
        for rule in fw.inputs["inboundRules"]
    }


@pytest.mark.parametrize("stack", ["onebox", "dbsplit", "split"])
def test_443_is_open_only_where_nginx_listens_on_it(stack):
    assert _web_ports(run(stack_config(stack), stack)) == {"80"}
    assert _web_ports(run({**stack_config(stack), "domain": "www.example.com"}, stack)) == {"80", "443"}


def test_behind_a_load_balancer_the_web_nodes_take_port_80_from_it_only():
    assert _web_ports(run({**stack_config("pool"), "domain": "www.example.com"}, "pool")) == {"80"}


@pytest.mark.parametrize("stack", ["onebox", "pool"])
def test_nodes_reach_out_only_for_dns_time_packages_and_inside_the_vpc(stack):
    config = stack_config(stack)
    result = run(config, stack)
    outbound = {
        (r["protocol"], r.get("portRange"), tuple(r["destinationAddresses"]))
        for fw in result.of_type(FIREWALL) for r in fw.inputs.get("outboundRules") or []
    }
    anywhere = ("0.0.0.0/0", "::/0")
    vpc = (config["vpcCidr"],)
    assert outbound == {
        ("udp", "53", anywhere), ("tcp", "53", anywhere), ("udp", "123", anywhere),
        ("tcp", "80", anywhere), ("tcp", "443", anywhere),
        ("tcp", "1-65535", vpc), ("udp", "1-65535", vpc),
        ("icmp", None, anywhere),
    }


@pytest.mark.parametrize("stack", ["onebox", "dbsplit", "split"])
def test_a_domain_without_a_load_balancer_is_served_over_https_by_the_web_node(stack):
    result = run({**stack_config(stack), "domain": "www.example.com"}, stack)
    tls = [s for s in result.of_type(COMMAND) if s.name.endswith("-tls")]
    web = [d for d in result.of_type(DROPLET) if any(t.endswith("-web") for t in d.inputs["tags"])]
    assert [s.name for s in tls] == [f"{d.name}-tls" for d in web]
    (step,) = tls
    assert "DOMAIN=www.example.com" in step.inputs["create"] and "certbot" in step.inputs["create"]
    assert "DISABLE=1" in step.inputs["delete"], "leaving the program (a load balancer takes over) turns HTTPS off"
    assert step.delete_before_replace, "an undo must never follow its own redo"
    record = result.of_type(DNS_RECORD)[0]
    assert record.urn in step.dependencies, "a certificate is asked for only once the name points at the node"
    assert result.outputs["siteUrl"] == "https://www.example.com/"


@pytest.mark.parametrize("config", [stack_config("pool"), {**stack_config("pool"), "domain": "www.example.com"},
                                    stack_config("onebox")])
def test_no_node_asks_for_a_certificate_where_it_is_not_the_https_entry(config):
    result = run(config, "s")
    assert not [s for s in result.of_type(COMMAND) if s.name.endswith("-tls")]
