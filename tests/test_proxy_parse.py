"""The PROXY protocol parser (``greentls._parse.proxy``): every form HAProxy's specification
defines, taken byte by byte as a dripping balancer would send it, and the malformed ones
refused with a message naming what is wrong."""
from __future__ import annotations

import ipaddress
import struct

import pytest

from greentls._parse.proxy import (
    MAX_V1_LENGTH,
    MAX_V2_LENGTH,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    header_length,
    parse,
)

TLS_HELLO_START = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


def v2(command: int = 0x21, family: int = 0x11, body: bytes = b"") -> bytes:
    return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(body)) + body


def inet(src: str, dst: str, sport: int, dport: int) -> bytes:
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fmt = "!4s4sHH" if a.version == 4 else "!16s16sHH"
    return struct.pack(fmt, a.packed, b.packed, sport, dport)


def drip(header: bytes, trailing: bytes = TLS_HELLO_START) -> ProxyHeader:
    """Feed the header one byte at a time, as a reader would see it, then with what follows."""
    for n in range(len(header)):
        assert header_length(header[:n]) in (None, len(header)), n
    assert header_length(header + trailing) == len(header)
    return parse(header)


@pytest.mark.parametrize(("line", "expected"), [
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n",
     ProxyHeader(1, "PROXY", "IPv4", ("192.0.2.7", 56324), ("198.51.100.1", 443), 45)),
    (b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 8443\r\n",
     ProxyHeader(1, "PROXY", "IPv6", ("2001:db8::7", 4000), ("2001:db8::1", 8443), 46)),
    (b"PROXY UNKNOWN\r\n", ProxyHeader(1, "PROXY", None, None, None, 15)),
    (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", ProxyHeader(1, "PROXY", None, None, None, 35)),
])
def test_v1_forms(line, expected):
    assert drip(line) == expected


def test_v1_longest_lines_are_accepted():
    addresses = b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
    assert drip(b"PROXY TCP6 " + addresses).source == ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)
    longest = b"PROXY UNKNOWN " + addresses  # the specification's worst case
    assert len(longest) == MAX_V1_LENGTH
    assert drip(longest).source is None


@pytest.mark.parametrize(("line", "message"), [
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n", "malformed PROXY v1 line"),
    (b"PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n", "malformed PROXY v1 line"),
    (b"PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n", "malformed PROXY v1 line"),
    (b"PROXY TCP4 192.0.2.700 198.51.100.1 1 2\r\n", "not an IP address"),
    (b"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n", "not IPv4"),
    (b"PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n", "not IPv6"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n", "not a port number"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 0443 2\r\n", "not a port number"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 -1 2\r\n", "not a port number"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 1\n 2\r\n", "bare CR or LF"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 \xd9\xa1 2\r\n", "not ASCII"),
    # A scope id would carry any text into REMOTE_ADDR and the logs.
    (b"PROXY TCP6 ::1%'or'1'='1 ::1 1 2\r\n", "not an IP address"),
    (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "not an IP address"),
])
def test_v1_malformed_lines_are_refused(line, message):
    with pytest.raises(ProxyProtocolError, match=message):
        parse(line)


def test_v1_line_ended_by_lf_alone_is_named():
    """A v1 line ended by LF instead of CRLF is refused for that, not as a line too long."""
    with pytest.raises(ProxyProtocolError, match="ends with LF, not CRLF"):
        header_length(b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n" + TLS_HELLO_START)


def test_v1_without_line_end_is_refused_at_the_limit():
    line = b"PROXY TCP4 " + b"1" * 200
    assert header_length(line[:MAX_V1_LENGTH - 1]) is None
    with pytest.raises(ProxyProtocolError, match="longer than 107"):
        header_length(line)


@pytest.mark.parametrize("first", [TLS_HELLO_START, b"GET / HTTP/1.1\r\n", b"proxy TCP4", b"\r\n\r\n\x00\r\nQUIX\n"])
def test_no_header_is_refused_at_once(first):
    with pytest.raises(ProxyProtocolError, match="expected a PROXY protocol header"):
        header_length(first)


def test_a_tls_record_is_named():
    with pytest.raises(ProxyProtocolError, match="got a TLS record"):
        header_length(TLS_HELLO_START)


def test_v2_inet_and_inet6():
    four = v2(body=inet("192.0.2.7", "198.51.100.1", 56324, 443))
    assert drip(four) == ProxyHeader(2, "PROXY", "IPv4", ("192.0.2.7", 56324), ("198.51.100.1", 443), 28)
    six = v2(family=0x21, body=inet("2001:db8::7", "2001:db8::1", 1, 2))
    assert drip(six) == ProxyHeader(2, "PROXY", "IPv6", ("2001:db8::7", 1), ("2001:db8::1", 2), 52)


def test_v2_with_tlvs_and_the_local_command():
    tlvs = bytes([0x02]) + struct.pack("!H", 11) + b"example.com" + bytes([0x04, 0, 0])  # authority, noop
    header = v2(body=inet("192.0.2.7", "198.51.100.1", 1, 2) + tlvs)
    assert drip(header).source == ("192.0.2.7", 1)
    local = v2(command=0x20, family=0x00)
    assert drip(local) == ProxyHeader(2, "LOCAL", None, None, None, 16)
    # LOCAL may carry addresses; they are not the client's and are ignored.
    assert drip(v2(command=0x20, body=inet("192.0.2.7", "198.51.100.1", 1, 2))).source is None


def test_v2_local_is_accepted_whatever_its_block():
    """LOCAL: the receiver must accept it and discard the block, family included."""
    assert drip(v2(command=0x20, family=0x40, body=b"\x01\x02\x03")).command == "LOCAL"
    assert drip(v2(command=0x20, family=0x11, body=b"junk")).source is None


def test_ipv4_mapped_addresses_are_written_as_the_kernel_writes_them():
    mapped = v2(family=0x21, body=inet("::ffff:192.0.2.7", "::ffff:198.51.100.1", 1, 2))
    assert drip(mapped).source == ("::ffff:192.0.2.7", 1)
    assert parse(b"PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n").source == ("::ffff:192.0.2.7", 1)


def test_v2_unspec_and_unix_keep_the_real_endpoints():
    assert drip(v2(family=0x00)).source is None
    assert drip(v2(family=0x31, body=b"/a".ljust(108, b"\0") + b"/b".ljust(108, b"\0"))).source is None


@pytest.mark.parametrize(("header", "message"), [
    (v2(command=0x11, body=inet("192.0.2.7", "198.51.100.1", 1, 2)), "version 1, not 2"),
    (v2(command=0x22), "unknown command"),
    (v2(family=0x41), "unknown address family"),
    (v2(family=0x13), "unknown address family"),
    # Only the family/transport bytes the specification defines.
    (v2(family=0x01, body=inet("192.0.2.7", "198.51.100.1", 1, 2)), "unknown address family"),
    (v2(family=0x02), "unknown address family"),
    (v2(family=0x10, body=inet("192.0.2.7", "198.51.100.1", 1, 2)), "unknown address family"),
    (v2(family=0x20, body=inet("2001:db8::7", "2001:db8::1", 1, 2)), "unknown address family"),
    (v2(family=0x12, body=inet("192.0.2.7", "198.51.100.1", 1, 2)), "datagram"),
    (v2(body=b"\x00" * 11), "shorter than the 12"),
    (v2(family=0x21, body=inet("192.0.2.7", "198.51.100.1", 1, 2)), "shorter than the 36"),
    (v2(body=inet("192.0.2.7", "198.51.100.1", 1, 2) + b"\x02\x00"), "ends inside a TLV"),
    (v2(body=inet("192.0.2.7", "198.51.100.1", 1, 2) + b"\x02\x00\x09abc"), "runs past"),
])
def test_v2_malformed_headers_are_refused(header, message):
    with pytest.raises(ProxyProtocolError, match=message):
        parse(header)


def test_v2_oversized_is_refused_from_its_length_field():
    header = V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", MAX_V2_LENGTH + 1)
    with pytest.raises(ProxyProtocolError, match="larger than"):
        header_length(header)
    assert header_length(V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", MAX_V2_LENGTH)) == 16 + MAX_V2_LENGTH


def test_parse_wants_exactly_one_header():
    line = b"PROXY UNKNOWN\r\n"
    with pytest.raises(ProxyProtocolError, match="incomplete"):
        parse(line[:-1])
    with pytest.raises(ProxyProtocolError, match="incomplete"):
        parse(line + b"x")
