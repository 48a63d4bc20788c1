"""Split a site's domain into the DigitalOcean DNS zone and the record inside it."""

from __future__ import annotations


def zone_and_record(domain: str) -> tuple[str, str]:
    """`www.example.com` -> (`example.com`, `www`); an apex `example.com` -> (`example.com`, `@`).

    The zone is taken to be the last two labels; that is how most domains are
    registered, and the README says so.
    """
    labels = domain.split(".")
    zone = ".".join(labels[-2:])
    record = ".".join(labels[:-2]) or "@"
    return zone, record
