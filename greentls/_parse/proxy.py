"""The PROXY protocol header (HAProxy's specification, versions 1 and 2), parsed without I/O.

A load balancer that terminates nothing but TCP can tell the server who the client is by
sending, before any byte of the client's, one header:

* version 1, text: ``PROXY TCP4 <src> <dst> <sport> <dport>\\r\\n`` (or ``TCP6``, or
  ``UNKNOWN`` with anything up to the line end), at most 107 bytes in all;
* version 2, binary: a 12-byte signature, a version/command byte (``0x20`` LOCAL, ``0x21``
  PROXY), an address family/transport byte, a 16-bit big-endian length, then the addresses
  (12 bytes for IPv4, 36 for IPv6, 216 for Unix paths) and optional TLVs.

``header_length(prefix)`` says how long the header that ``prefix`` begins is (``None`` while
that cannot be known yet), so that a reader can take the header, and not one byte of the TLS
stream behind it, from the socket; ``parse(header)`` turns the whole header into a
``ProxyHeader``.  Both raise ``ProxyProtocolError`` naming what is wrong.  Limits: version 1 is
107 bytes, as the specification fixes; version 2 is taken up to ``MAX_V2_LENGTH`` bytes (its
addresses and TLVs), larger headers are refused rather than buffered.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

__all__ = ["ProxyHeader", "ProxyProtocolError", "header_length", "parse", "ip_text", "MAX_V1_LENGTH",
           "MAX_V2_LENGTH", "V2_SIGNATURE"]

V1_PREFIX = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: The longest version 1 line, CRLF included (the specification's own bound).
MAX_V1_LENGTH = 107
#: The largest version 2 address block and TLVs taken (the 16-bit length allows 65,535).
MAX_V2_LENGTH = 4096
_V2_FIXED = 16

_V2_LOCAL, _V2_PROXY = 0x0, 0x1
_AF_UNSPEC, _AF_INET, _AF_INET6, _AF_UNIX = 0x0, 0x1, 0x2, 0x3
_UNSPEC, _STREAM, _DGRAM = 0x0, 0x1, 0x2
_ADDRESS_BYTES = {_AF_INET: 12, _AF_INET6: 36, _AF_UNIX: 216}
#: The family/transport bytes the specification defines; a receiver must refuse any other.
_FAMILIES = frozenset({0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32})


def ip_text(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An address as the kernel and Node write it: an IPv4-mapped IPv6 address as
    ``::ffff:a.b.c.d`` (``ipaddress`` writes it differently from one Python version to the next)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


class ProxyProtocolError(ValueError):
    """A PROXY protocol header is missing, malformed or too large."""


@dataclass(frozen=True)
class ProxyHeader:
    """What the balancer said.  ``source`` and ``destination`` are ``(address, port)`` of the
    client and of the address it connected to, or ``None`` when the header carries none that
    applies (version 1 ``UNKNOWN``, version 2 ``LOCAL``, an unspecified or Unix family): the
    connection's own endpoints then stand."""

    version: int
    command: str  # "PROXY" or "LOCAL"
    family: str | None  # "IPv4", "IPv6", or None
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    length: int


def _looks_like(prefix: bytes, full: bytes) -> bool:
    n = min(len(prefix), len(full))
    return prefix[:n] == full[:n]


def header_length(prefix: bytes) -> int | None:
    """The whole header's length in bytes, from the bytes received so far; ``None`` while more
    are needed to know it.  Raises ``ProxyProtocolError`` as soon as ``prefix`` cannot begin a
    header (a TLS record, say, when the balancer sent none)."""
    if not prefix:
        return None
    if _looks_like(prefix, V2_SIGNATURE):
        if len(prefix) < _V2_FIXED:
            return None
        length = int.from_bytes(prefix[14:16], "big")
        if length > MAX_V2_LENGTH:
            raise ProxyProtocolError(f"PROXY v2 header of {length} address bytes is larger than "
                                     f"the {MAX_V2_LENGTH} accepted")
        return _V2_FIXED + length
    if _looks_like(prefix, V1_PREFIX):
        end = prefix.find(b"\r\n", 0, MAX_V1_LENGTH)
        if end >= 0:
            return end + 2
        bare = prefix.find(b"\n", 0, MAX_V1_LENGTH)
        if bare >= 0:  # a line ended by LF alone (the specification's end is CRLF)
            raise ProxyProtocolError("PROXY v1 line ends with LF, not CRLF")
        if len(prefix) >= MAX_V1_LENGTH:
            raise ProxyProtocolError(f"PROXY v1 line longer than {MAX_V1_LENGTH} bytes")
        return None
    what = "a TLS record" if prefix[0] == 0x16 else f"bytes starting {prefix[:8]!r}"
    raise ProxyProtocolError(f"expected a PROXY protocol header, got {what}")


def parse(header: bytes) -> ProxyHeader:
    """Parse one whole header (exactly ``header_length(header)`` bytes)."""
    length = header_length(header)
    if length is None or length != len(header):
        raise ProxyProtocolError("incomplete PROXY protocol header")
    if header.startswith(V2_SIGNATURE):
        return _parse_v2(header)
    return _parse_v1(header)


def _port(text: str) -> int:
    # Decimal, 0..65535, no sign or leading zeros (the specification's form).
    if not text.isdigit() or not text.isascii() or (len(text) > 1 and text[0] == "0") or int(text) > 65535:
        raise ProxyProtocolError(f"PROXY v1 port {text!r} is not a port number")
    return int(text)


def _address(text: str, version: int) -> str:
    # No scope ids (``fe80::1%eth0``): ipaddress takes any text after the '%', which would then
    # reach REMOTE_ADDR and the logs; HAProxy refuses them too.
    try:
        address = ipaddress.ip_address(text) if "%" not in text else None
    except ValueError:
        address = None
    if address is None:
        raise ProxyProtocolError(f"PROXY v1 address {text!r} is not an IP address")
    if address.version != version:
        raise ProxyProtocolError(f"PROXY v1 address {text!r} is not IPv{version}")
    return ip_text(address)


def _parse_v1(header: bytes) -> ProxyHeader:
    try:
        line = header[:-2].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyProtocolError("PROXY v1 line is not ASCII") from None
    if "\r" in line or "\n" in line:
        raise ProxyProtocolError("PROXY v1 line holds a bare CR or LF")
    fields = line.split(" ")
    if len(fields) >= 2 and fields[1] == "UNKNOWN":
        # The balancer could not tell (or will not): the connection's own endpoints stand.
        return ProxyHeader(1, "PROXY", None, None, None, len(header))
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"malformed PROXY v1 line {line!r}: expected "
                                 "'PROXY TCP4|TCP6 <src> <dst> <sport> <dport>' or 'PROXY UNKNOWN'")
    version = 4 if fields[1] == "TCP4" else 6
    source = (_address(fields[2], version), _port(fields[4]))
    destination = (_address(fields[3], version), _port(fields[5]))
    return ProxyHeader(1, "PROXY", f"IPv{version}", source, destination, len(header))


def _parse_v2(header: bytes) -> ProxyHeader:
    version_command, family_transport = header[12], header[13]
    if version_command >> 4 != 2:
        raise ProxyProtocolError(f"PROXY v2 header has version {version_command >> 4}, not 2")
    command = version_command & 0x0F
    if command not in (_V2_LOCAL, _V2_PROXY):
        raise ProxyProtocolError(f"PROXY v2 header has unknown command {command:#x}")
    if command == _V2_LOCAL:
        # A health check of the balancer's own: the receiver must accept it and discard the
        # block, whatever its family (the specification), so only its length mattered.
        return ProxyHeader(2, "LOCAL", None, None, None, len(header))
    family, transport = family_transport >> 4, family_transport & 0x0F
    if family_transport not in _FAMILIES:
        raise ProxyProtocolError(f"PROXY v2 header has unknown address family {family_transport:#04x}")
    body = header[_V2_FIXED:]
    need = _ADDRESS_BYTES.get(family, 0)
    if len(body) < need:
        raise ProxyProtocolError(f"PROXY v2 address block of {len(body)} bytes is shorter than "
                                 f"the {need} its family needs")
    _check_tlvs(body[need:])
    if family in (_AF_INET, _AF_INET6) and transport == _DGRAM:
        raise ProxyProtocolError("PROXY v2 header describes a datagram connection on a stream server")
    if family == _AF_INET:
        src, dst, sport, dport = struct.unpack_from("!4s4sHH", body)
        return ProxyHeader(2, "PROXY", "IPv4", (str(ipaddress.IPv4Address(src)), sport),
                           (str(ipaddress.IPv4Address(dst)), dport), len(header))
    if family == _AF_INET6:
        src, dst, sport, dport = struct.unpack_from("!16s16sHH", body)
        return ProxyHeader(2, "PROXY", "IPv6", (ip_text(ipaddress.IPv6Address(src)), sport),
                           (ip_text(ipaddress.IPv6Address(dst)), dport), len(header))
    return ProxyHeader(2, "PROXY", None, None, None, len(header))  # UNSPEC or Unix: keep our own


def _check_tlvs(data: bytes) -> None:
    """TLVs (type, 16-bit length, value) must fill the rest of the header exactly."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < 3:
            raise ProxyProtocolError("PROXY v2 header ends inside a TLV")
        (length,) = struct.unpack_from("!H", data, offset + 1)
        offset += 3 + length
        if offset > len(data):
            raise ProxyProtocolError("PROXY v2 TLV runs past the header's end")
