"""SSRF guard for judge endpoints: only public addresses, unless an admin allow-lists a host.

A judge URL is typed by an admin but fetched by a worker inside the network, so a URL pointing at
an internal service (a database, the cloud metadata endpoint at 169.254.169.254, localhost) would
turn the worker into a proxy. Every address the host resolves to must be globally routable:
private, loopback, link-local, multicast, reserved, unspecified, shared (CGNAT) and documentation
ranges are refused, in IPv4 and IPv6, including IPv6 forms that embed an IPv4 address
(IPv4-mapped, NAT64, 6to4, Teredo). The check runs when the scorer is saved and again before every
request, and the request goes to the address that was checked (no second DNS lookup that a
rebinding DNS server could answer differently); redirects are not followed.

SCORING_JUDGE_ALLOWED_HOSTS (comma-separated host names, IP addresses or CIDR networks) lets an
admin allow an internal judge (a vLLM server on the LAN).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from config.errors import ApplicationError

from . import conf

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that reach cloud metadata services whatever they resolve to.
_METADATA_NAMES = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                   "instance-data.ec2.internal"}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class UnsafeURLError(ApplicationError):
    code = "unsafe_url"


@dataclass(frozen=True)
class CheckedURL:
    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    def pinned_url(self, suffix: str = "") -> tuple[str, dict, dict]:
        """(url with the checked IP as host, headers, httpx extensions) for a request to `suffix`."""
        ip = ipaddress.ip_address(self.addresses[0])
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        default_port = 443 if self.scheme == "https" else 80
        netloc = host if self.port == default_port else f"{host}:{self.port}"
        host_header = self.host if self.port == default_port else f"{self.host}:{self.port}"
        if ":" in self.host and not self.host.startswith("["):
            host_header = f"[{self.host}]" if self.port == default_port else f"[{self.host}]:{self.port}"
        url = f"{self.scheme}://{netloc}{self.path.rstrip('/')}{suffix}"
        extensions = {"sni_hostname": self.host} if self.scheme == "https" else {}
        return url, {"Host": host_header}, extensions


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    # IPv4-compatible (deprecated ::a.b.c.d)
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_is_public(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses (and any IPv4 they embed)."""
    inner = embedded_ipv4(ip)
    if inner is not None and not address_is_public(inner):
        return False
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        return False
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return False
    return not (ip.version == 6 and ip.scope_id)


def _allowed(host: str, ip: IPAddress, allow: list[str]) -> bool:
    for entry in allow:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host.lower().strip("[]"):
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        candidates = [ip] + ([embedded_ipv4(ip)] if embedded_ipv4(ip) else [])
        if any(c.version == network.version and c in network for c in candidates):
            return True
    return False


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURLError(f"The judge host {host!r} does not resolve ({exc}).",
                             fields={"base_url": "host does not resolve"}) from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_judge_url(url: str, *, allowed_hosts: list[str] | None = None, resolve=None) -> CheckedURL:
    """Validate a judge base URL; raises UnsafeURLError naming what is wrong.

    `allowed_hosts` defaults to SCORING_JUDGE_ALLOWED_HOSTS; `resolve(host, port) -> [ip, …]`
    defaults to the system resolver (tests pass their own).
    """
    allow = conf.judge_allowed_hosts() if allowed_hosts is None else allowed_hosts
    field = {"base_url": "refused"}
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"The judge URL is not valid: {exc}.", fields={"base_url": str(exc)}) from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeURLError("The judge URL must start with http:// or https://.",
                             fields={"base_url": "http or https only"})
    if parts.username or parts.password:
        raise UnsafeURLError("Put the API key in an environment variable, not in the URL.",
                             fields={"base_url": "credentials in the URL"})
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeURLError("The judge URL has no host.", fields={"base_url": "no host"})
    if parts.query or parts.fragment:
        raise UnsafeURLError("The judge URL must not have a query or fragment.",
                             fields={"base_url": "no query or fragment"})
    port = port or (443 if parts.scheme == "https" else 80)
    host_allowed = any(e.strip().lower() == host for e in allow)
    if host in _METADATA_NAMES and not host_allowed:
        raise UnsafeURLError(f"{host} is a cloud metadata endpoint.", fields=field)
    try:
        literal = ipaddress.ip_address(host.strip("[]").split("%")[0])
        if "%" in host:
            raise UnsafeURLError("Scoped IPv6 addresses are not allowed.", fields=field)
        addresses = [str(literal)]
    except ValueError:
        # Decimal/octal/hex forms such as http://2130706433/ or http://0x7f.1/ resolve to an IP.
        addresses = (resolve or _resolve)(host, port)
    if not addresses:
        raise UnsafeURLError(f"The judge host {host!r} does not resolve.", fields={"base_url": "no address"})
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if address_is_public(ip) and "%" not in address:
            continue
        if host_allowed or _allowed(host, ip, allow):
            continue
        raise UnsafeURLError(
            f"The judge URL resolves to {address}, a private, loopback, link-local, multicast or reserved "
            "address. Ask a site admin to add the host to SCORING_JUDGE_ALLOWED_HOSTS if this is intended.",
            fields=field,
        )
    return CheckedURL(url=url, scheme=parts.scheme, host=host.strip("[]"), port=port,
                      path=parts.path or "", addresses=tuple(addresses))
