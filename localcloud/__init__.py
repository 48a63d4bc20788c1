"""Boots a stack's droplets as systemd-nspawn machines on this host.

The machine layer only: an image with offline package sources, a bridge per
stack with one network namespace per machine, and machines that run real
cloud-init on their exact user-data. No Pulumi in here.
"""
