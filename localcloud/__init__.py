"""Boots a stack's droplets as systemd-nspawn machines on this host.

At the bottom, the machine layer, with no Pulumi in it: an image with offline package
sources (image), a bridge per stack with one network namespace per machine
(network), and machines that run real cloud-init on their exact user-data
(machine). Typical use, as root:

    image = ensure_image()
    wheels = ensure_wheelhouse(Path("demo/requirements.txt"))
    vpc = Network("dev", IPv4Network("10.10.0.0/24"))
    specs = [MachineSpec("web-1", vpc, vpc.address(2), user_data, image, wheelhouse=wheels)]
    states = ensure_running(specs)
    run_in(states["web-1"], ["cloud-init", "status", "--long"])
    teardown("web-1"); teardown_network(vpc)

On top of it, the program's own resources (cloud: a pulumi.runtime.Mocks
with one stand-in per resource type, which creates and destroys it; state:
what ran last time and what changes; firewall, balancer, volume, ssh: what
the stand-ins run), driven by stack (up, down) and the command line:

    python -m localcloud up pool --set tiers.app.count=3
    python -m localcloud down pool [--purge]
"""
