"""Where a webhook may be sent: the address policy against server-side request forgery.

A receiver's URL is the partner's to choose, so without a policy a webhook could be aimed at the
programme's own network (its database, a cloud metadata service). Only public addresses are
allowed — every address the host name resolves to is checked, not the name — unless an operator
lists networks in ``JIFEN_WEBHOOK_ALLOWED_NETWORKS`` (development, tests).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from app.errors import echo, invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048


class AddressRefused(Exception):
    """A delivery's host resolved to an address the policy refuses."""


def networks(specs: Iterable[str]) -> tuple[Network, ...]:
    """The allow-list's CIDRs (``127.0.0.1/32``, ``10.0.0.0/8``); ValueError on a bad one."""
    return tuple(ipaddress.ip_network(spec.strip(), strict=False) for spec in specs)


def is_allowed(address: IPAddress, allowed: tuple[Network, ...]) -> bool:
    """Public unicast addresses, and those the operator allowed. Loopback, private, link-local
    (169.254.169.254, the metadata service, is one), shared (100.64/10), multicast, reserved and
    unspecified addresses are refused; an IPv4-mapped IPv6 address is judged as its IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return True
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: str, allowed: tuple[Network, ...]) -> SplitResult:
    """An endpoint's URL as registered: http(s), a host, no credentials in it (they would be
    shown in logs and in the API), and no literal address the policy refuses. Host names are
    checked when they are resolved, at each delivery."""
    if len(url) > MAX_URL_LENGTH:
        raise invalid(f"the URL is longer than {MAX_URL_LENGTH} characters", "url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise invalid(f"{echo(url)} is not a URL", "url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"{echo(url)} is not an http(s) URL with a host", "url")
    if parts.username is not None or parts.password is not None:
        raise invalid("put no credentials in the URL: the signature authenticates Jifen", "url")
    if port == 0:
        raise invalid("port 0 is not a port", "url")
    address = literal_address(parts.hostname)
    if address is not None and not is_allowed(address, allowed):
        raise invalid(f"{address} is not a public address", "url")
    return parts
