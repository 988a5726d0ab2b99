"""A hand-written TLS 1.3 client, for an attack no ordinary client makes (tests/test_psk.py): a
first ClientHello that names a PSK identity and forces a HelloRetryRequest, then a second one
that resumes a session ticket.  SHA-256, TLS_AES_128_GCM_SHA256 and X25519 only (RFC 8446)."""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import struct
import subprocess

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from gevent import socket  # cooperative: the server under test runs in this process's hub

_HRR_GROUP = b"\x00\x1d"  # x25519


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _expand_label(secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = struct.pack(">HB", length, len(full)) + full + bytes([len(context)]) + context
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _derive(secret: bytes, label: bytes, transcript_hash: bytes) -> bytes:
    return _expand_label(secret, label, transcript_hash, 32)


def _u16(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def _u8(data: bytes) -> bytes:
    return bytes([len(data)]) + data


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack(">H", kind) + _u16(body)


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def session_from_pem(path: str) -> tuple[bytes, bytes]:
    """(resumption PSK, ticket) of a session ``openssl s_client -sess_out`` saved."""
    out = subprocess.run(["openssl", "sess_id", "-in", path, "-text", "-noout"], capture_output=True, text=True,
                         check=True).stdout
    found = re.search(r"Resumption PSK: ([0-9A-F]+)", out)
    assert found is not None, out
    dump = out.split("TLS session ticket:")[1].split("\n\n")[0]
    ticket = "".join(line.strip()[7:54].replace("-", " ").replace(" ", "") for line in dump.strip().splitlines())
    return bytes.fromhex(found.group(1)), bytes.fromhex(ticket)


def _client_hello(random: bytes, session_id: bytes, key_share: bytes, psk: bytes | None, modes: bytes | None,
                  extra: bytes = b"") -> bytes:
    exts = (_ext(43, _u8(b"\x03\x04")) + _ext(10, _u16(_HRR_GROUP)) + _ext(13, _u16(b"\x08\x04\x04\x03"))
            + _ext(51, key_share) + extra)
    if modes is not None:
        exts += _ext(45, _u8(modes))
    if psk is not None:
        exts += _ext(41, psk)  # pre_shared_key comes last
    body = b"\x03\x03" + random + _u8(session_id) + _u16(b"\x13\x01") + b"\x01\x00" + _u16(exts)
    return _handshake(1, body)


def _offered_psks(identities: list[bytes]) -> bytes:
    entries = b"".join(_u16(identity) + b"\x00\x00\x00\x00" for identity in identities)
    binders = b"".join(_u8(b"\x00" * 32) for _ in identities)
    return _u16(entries) + _u16(binders)


class _Records:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def read(self) -> tuple[int, bytes]:
        while len(self.buf) < 5 or len(self.buf) < 5 + int.from_bytes(self.buf[3:5], "big"):
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed")
            self.buf += data
        size = int.from_bytes(self.buf[3:5], "big")
        record, self.buf = self.buf[:5 + size], self.buf[5 + size:]
        return record[0], record[5:]

    def send(self, kind: int, data: bytes) -> None:
        self.sock.sendall(bytes([kind]) + b"\x03\x03" + _u16(data))


def _extensions(body: bytes, pos: int) -> dict[int, bytes]:
    found = {}
    end = pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
    pos += 2
    while pos < end:
        kind, size = struct.unpack(">HH", body[pos:pos + 4])
        found[kind] = body[pos + 4:pos + 4 + size]
        pos += 4 + size
    return found


def _server_hello_extensions(message: bytes) -> dict[int, bytes]:
    body = message[4:]
    return _extensions(body, 35 + body[34] + 3)  # random, session id, suite and compression


class _Keys:
    def __init__(self, secret: bytes) -> None:
        self.aead = AESGCM(_expand_label(secret, b"key", b"", 16))
        self.iv = _expand_label(secret, b"iv", b"", 12)
        self.seq = 0

    def _nonce(self) -> bytes:
        nonce = bytes(a ^ b for a, b in zip(self.iv, self.seq.to_bytes(12, "big"), strict=True))
        self.seq += 1
        return nonce

    def open(self, record: bytes) -> tuple[int, bytes]:
        plain = self.aead.decrypt(self._nonce(), record, b"\x17\x03\x03" + struct.pack(">H", len(record)))
        plain = plain.rstrip(b"\0")
        return plain[-1], plain[:-1]

    def seal(self, kind: int, data: bytes) -> bytes:
        header = b"\x17\x03\x03" + struct.pack(">H", len(data) + 1 + 16)
        return self.aead.encrypt(self._nonce(), data + bytes([kind]), header)


def resume_after_retry(port: int, psk: bytes, ticket: bytes, first_identities: list[bytes],
                       first_modes: bytes | None) -> bytes:
    """First ClientHello: no key share (so the server asks again) and a pre_shared_key naming
    ``first_identities`` with dummy binders, under ``first_modes``.  Second ClientHello: a real
    resumption of ``ticket``.  Returns the application data the server sent (until a newline)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return _resume(_Records(sock), psk, ticket, first_identities, first_modes)
    finally:
        sock.close()


def _resume(records: _Records, psk: bytes, ticket: bytes, first_identities: list[bytes],
            first_modes: bytes | None) -> bytes:
    random, session_id = os.urandom(32), os.urandom(32)
    first = _client_hello(random, session_id, _u16(b""), _offered_psks(first_identities), first_modes)
    records.send(22, first)
    kind, retry = records.read()
    if kind == 21:
        raise RuntimeError(f"alert {retry!r}")
    assert kind == 22 and retry[0] == 2, (kind, retry[:10])
    cookie = _server_hello_extensions(retry).get(44)
    private = X25519PrivateKey.generate()
    share = _u16(_HRR_GROUP + _u16(private.public_key().public_bytes_raw()))
    second = _client_hello(random, session_id, share, _offered_psks([ticket]), b"\x01",
                           _ext(44, cookie) if cookie else b"")
    early = _extract(b"\0" * 32, psk)
    finished_key = _expand_label(_derive(early, b"res binder", _hash(b"")), b"finished", b"", 32)
    first_hash = b"\xfe\x00\x00\x20" + _hash(first)  # RFC 8446 section 4.4.1: message_hash
    binder = hmac.new(finished_key, _hash(first_hash + retry + second[:-35]), hashlib.sha256).digest()
    second = second[:-32] + binder
    records.send(20, b"\x01")  # middlebox compatibility
    records.send(22, second)
    while True:
        kind, hello = records.read()
        if kind == 22:
            break
        if kind == 21:
            raise RuntimeError(f"alert {hello!r}")
    extensions = _server_hello_extensions(hello)
    assert 41 in extensions, "the server did not resume"
    shared = private.exchange(X25519PublicKey.from_public_bytes(extensions[51][4:]))
    transcript = first_hash + retry + second + hello
    handshake_secret = _extract(_derive(early, b"derived", _hash(b"")), shared)
    client_hs = _derive(handshake_secret, b"c hs traffic", _hash(transcript))
    server_keys, client_keys = _Keys(_derive(handshake_secret, b"s hs traffic", _hash(transcript))), _Keys(client_hs)
    messages = b""
    finished = False
    while not finished:
        kind, record = records.read()
        if kind == 20:
            continue
        if kind == 21:
            raise RuntimeError(f"alert {record!r}")
        _, plain = server_keys.open(record)
        messages += plain
        pos = 0
        while pos + 4 <= len(messages):
            finished = finished or messages[pos] == 20
            pos += 4 + int.from_bytes(messages[pos + 1:pos + 4], "big")
    transcript += messages
    master = _extract(_derive(handshake_secret, b"derived", _hash(b"")), b"\0" * 32)
    application = _Keys(_derive(master, b"s ap traffic", _hash(transcript)))
    verify = hmac.new(_expand_label(client_hs, b"finished", b"", 32), _hash(transcript), hashlib.sha256).digest()
    records.send(23, client_keys.seal(22, _handshake(20, verify)))
    got = b""
    try:
        while b"\n" not in got:
            kind, record = records.read()
            if kind != 23:
                continue
            inner, plain = application.open(record)
            if inner == 23:
                got += plain
            elif inner == 21:
                break
    except EOFError:
        pass
    return got
