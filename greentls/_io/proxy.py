"""Reading a PROXY protocol header off an accepted socket (``create_server(proxy_protocol=True)``).

The header is taken from the socket and not one byte more: the TLS stream behind it stays in
the socket, where the server's ClientHello peek and OpenSSL find it.  Each round peeks at what
has arrived, asks the parser (``greentls._parse.proxy``) how long the header is, and receives
only bytes that belong to it; while the length is unknown, everything that arrived belongs to
it, so a balancer (or an attacker) dripping one byte at a time costs one small read per byte,
bounded by the header's size limit and by the server's ``handshake_timeout``, which covers the
header and the handshake together.
"""
from __future__ import annotations

import ipaddress
import socket as _socket
from collections.abc import Iterable

from greentls._parse.proxy import MAX_V1_LENGTH, ProxyHeader, ProxyProtocolError, header_length, parse

__all__ = ["ProxyPolicy", "read_header", "ProxyProtocolError"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Peek at most this much while the header's length is still unknown: the v2 fixed part and
#: a whole v1 line both fit.
_PEEK = MAX_V1_LENGTH


class ProxyPolicy:
    """Which peers may connect, each sending a PROXY header first: those whose address is in
    ``allow_from`` (IP addresses or CIDR blocks), and any peer of a Unix socket (only a process
    on this machine can reach one, as HAProxy's ``unix@`` servers do).  A connection from
    anywhere else is refused outright, since a server that expects balancers must not let
    clients reach it around them.  IPv4-mapped entries (``::ffff:10.0.0.0/104``) match IPv4
    peers, as those peers are written on a dual-stack listener."""

    __slots__ = ("networks",)

    def __init__(self, allow_from: Iterable[str]) -> None:
        if isinstance(allow_from, (str, bytes)):
            raise TypeError("option 'proxy_allow_from' must be a list of IP addresses or CIDR "
                            f"blocks, not one string: use [{allow_from!r}]")
        networks: list[_Network] = []
        for entry in allow_from:
            if not isinstance(entry, str):
                raise TypeError(f"option 'proxy_allow_from' entries must be str, got {entry!r}")
            try:
                network = ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"option 'proxy_allow_from': {entry!r} is not an IP address "
                                 "or CIDR block") from None
            mapped = ipaddress.IPv6Network("::ffff:0:0/96")
            if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(mapped):
                network = ipaddress.IPv4Network(
                    (int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
            networks.append(network)
        self.networks = tuple(networks)

    def allows(self, address: object) -> bool:
        """True when ``address`` (a peer's ``(host, port, ...)`` or host) may send a header."""
        if not isinstance(address, tuple):
            return True  # a Unix socket's peer ('' or a path): only a local process connects
        host = address[0]
        if not isinstance(host, str):
            return False
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
        return any(ip.version == net.version and ip in net for net in self.networks)


def read_header(sock: _socket.socket) -> ProxyHeader:
    """Take one PROXY header from ``sock`` (blocking this greenlet), and return it parsed."""
    taken = b""
    while True:
        length = header_length(taken)
        if length is not None and len(taken) == length:
            return parse(taken)
        want = length - len(taken) if length is not None else _PEEK - len(taken)
        peeked = sock.recv(want, _socket.MSG_PEEK)
        if not peeked:
            raise ProxyProtocolError("the connection ended inside its PROXY protocol header"
                                     if taken else "the connection ended before a PROXY protocol header")
        combined = taken + peeked
        total = header_length(combined)  # raises on bytes no header begins with
        take = len(peeked) if total is None else min(len(peeked), total - len(taken))
        while take:
            chunk = sock.recv(take)
            if not chunk:
                raise ProxyProtocolError("the connection ended inside its PROXY protocol header")
            taken += chunk
            take -= len(chunk)
