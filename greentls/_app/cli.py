"""The ``greentls`` command: ``serve`` (TLS echo or WSGI), ``connect`` (a TLS client), ``ciphers``."""
from __future__ import annotations

import argparse
import contextlib
import datetime
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from cryptography import x509
    from gevent import signal_handler

    from greentls._net.server import Server
    from greentls._tls.socket import TLSSocket

__all__ = ["main", "echo", "self_signed_pem"]


def _positive_int(text: str) -> int:
    """argparse type: an int of at least 1 (``--workers 0`` or ``-1`` is refused)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def echo(tls_socket: TLSSocket) -> None:
    """The echo handler: every byte back until the client ends (Node's ``socket.pipe(socket)``)."""
    recv, sendall = tls_socket.recv, tls_socket.sendall
    while True:
        data = recv(65536)
        if not data:
            return
        sendall(data)


def self_signed_pem(hostnames: Sequence[str] = ("localhost", "127.0.0.1", "::1")) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 key and a self-signed certificate for ``hostnames`` (PEM bytes)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for name in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greentls", description="Node's tls, on gevent and pyOpenSSL.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a TLS echo server (or a WSGI app)")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--cert", help="certificate chain (PEM file)")
    serve.add_argument("--key", help="private key (PEM file)")
    serve.add_argument("--self-signed", action="store_true", help="make a certificate at start")
    serve.add_argument("--alpn", help="comma list of ALPN protocols, server preference first")
    serve.add_argument("--workers", type=_positive_int, default=1, help="worker processes (forked)")
    serve.add_argument("--wsgi", metavar="MODULE:APP", help="serve this WSGI application")
    serve.add_argument("--no-monkey-patch", action="store_true",
                       help="--wsgi: do not gevent-monkey-patch the standard library before "
                            "importing the application (blocking calls then stall the process)")
    serve.add_argument("--handshake-timeout", type=float, default=120.0)
    serve.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                       help="close a connection silent this long after its handshake")
    serve.add_argument("--ca", help="CA certificates (PEM file) that client certificates must chain to")
    serve.add_argument("--request-cert", action="store_true", help="ask clients for a certificate")
    serve.add_argument("--no-reject-unauthorized", action="store_true",
                       help="with --request-cert: let clients without a valid certificate in "
                            "(the application checks authorized / SSL_CLIENT_VERIFY)")
    serve.add_argument("--headers-timeout", type=float, metavar="SECONDS",
                       help="--wsgi: the request head must arrive within it (default: 60, or "
                            "--request-timeout if smaller; 0: no limit)")
    serve.add_argument("--request-timeout", type=float, metavar="SECONDS",
                       help="--wsgi: the whole request must arrive within it (default: 300; 0: no limit)")
    serve.add_argument("--keep-alive-timeout", type=float, metavar="SECONDS",
                       help="--wsgi: close a connection idle this long between requests "
                            "(default: 5; 0: no limit)")
    serve.add_argument("--proxy-protocol", action="store_true",
                       help="every connection begins with a PROXY protocol header (v1 or v2) from a load balancer")
    serve.add_argument("--proxy-allow-from", metavar="LIST",
                       help="comma list of balancer IPs or CIDR blocks (default 127.0.0.1,::1)")
    serve.add_argument("--metrics", metavar="HOST:PORT",
                       help="serve the server's stats as Prometheus text at http://HOST:PORT/metrics")
    serve.add_argument("-v", "--verbose", action="store_true")
    client = commands.add_parser("connect", help="connect, print the handshake, pipe stdin/stdout")
    client.add_argument("target", metavar="HOST:PORT")
    client.add_argument("--servername")
    client.add_argument("--ca", help="trusted CA certificates (PEM file)")
    client.add_argument("--insecure", action="store_true", help="do not reject an unverified server")
    client.add_argument("--alpn", help="comma list of ALPN protocols")
    client.add_argument("--session-out", help="write the session to this file")
    client.add_argument("--session-in", help="resume the session in this file")
    commands.add_parser("ciphers", help="list get_ciphers()")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "ciphers":
        import greentls
        print("\n".join(greentls.get_ciphers()))
        return 0
    if args.command == "serve":
        return _serve(args)
    return _connect(args)


def _serve(args: argparse.Namespace) -> int:
    if args.wsgi and not args.no_monkey_patch:
        _monkey_patch()

    import greentls

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.self_signed:
        key, cert = self_signed_pem()
    elif args.cert and args.key:
        key, cert = _read(args.key), _read(args.cert)
    else:
        print("greentls serve: give --cert and --key, or --self-signed", file=sys.stderr)
        return 2
    options: dict[str, Any] = {"key": key, "cert": cert, "handshake_timeout": args.handshake_timeout}
    if args.ca:
        options["ca"] = _read(args.ca)
    if args.request_cert:
        options["request_cert"] = True
        options["reject_unauthorized"] = not args.no_reject_unauthorized
    elif args.no_reject_unauthorized:
        print("greentls serve: --no-reject-unauthorized needs --request-cert", file=sys.stderr)
        return 2
    if args.idle_timeout is not None:
        options["idle_timeout"] = args.idle_timeout
    if args.proxy_protocol:
        options["proxy_protocol"] = True
        if args.proxy_allow_from:
            options["proxy_allow_from"] = [p.strip() for p in args.proxy_allow_from.split(",") if p.strip()]
    elif args.proxy_allow_from:
        print("greentls serve: --proxy-allow-from needs --proxy-protocol", file=sys.stderr)
        return 2
    metrics_address = None
    if args.metrics:
        from greentls._app.metrics import parse_address
        try:
            metrics_address = parse_address(args.metrics)
        except ValueError as exc:
            print(f"greentls serve: {exc}", file=sys.stderr)
            return 2
    if args.alpn:
        options["alpn_protocols"] = [p.strip() for p in args.alpn.split(",") if p.strip()]
        if args.wsgi:
            from greentls.wsgi import _HTTP1_PROTOCOLS
            others = [p for p in options["alpn_protocols"] if p not in _HTTP1_PROTOCOLS]
            if others:
                # A WSGI application speaks HTTP/1.x: a client that negotiated h2 would send
                # the HTTP/2 preface, which no WSGI server can answer (nor any other protocol).
                print(f"greentls serve: --wsgi cannot offer ALPN {', '.join(map(repr, others))} "
                      "(WSGI is HTTP/1.x); use --alpn http/1.1,http/1.0", file=sys.stderr)
                return 2
    if args.wsgi:
        from greentls.wsgi import WSGIServer
        limits = {name: getattr(args, name) for name in ("headers_timeout", "request_timeout",
                                                         "keep_alive_timeout")
                  if getattr(args, name) is not None}
        application = _load_app(args.wsgi)
        with _setting_up("the server's settings"):
            server = WSGIServer((args.host, args.port), application, **options, **limits)
        tls_server = server.server
        watchers = [_arrange_reload(tls_server, args),
                    *_arrange_drain(tls_server, args, graceful=server.stop)]
        with _setting_up(f"cannot listen on {args.host}:{args.port}"):
            server.start()  # bound before the line below says so
        with _setting_up(f"--metrics {args.metrics}"):
            _start_metrics(tls_server, metrics_address)
        print(f"greentls: serving WSGI {args.wsgi} on https://{args.host}:{args.port}", file=sys.stderr, flush=True)
        try:
            _serve_with_workers(tls_server, args) if args.workers > 1 else server.serve_forever()
        finally:
            for watcher in watchers:
                _cancel(watcher)
        return 0
    with _setting_up("the server's settings"):
        echo_server = greentls.create_server(echo, **options)
    watchers = [_arrange_reload(echo_server, args), *_arrange_drain(echo_server, args)]
    with _setting_up(f"cannot listen on {args.host}:{args.port}"):
        echo_server.listen(args.port, args.host)
    with _setting_up(f"--metrics {args.metrics}"):
        _start_metrics(echo_server, metrics_address)
    address = echo_server.address()
    print(f"greentls: TLS echo server on {address['address']}:{address['port']}"
          + (f" with {args.workers} workers" if args.workers > 1 else ""), file=sys.stderr, flush=True)
    try:
        _serve_with_workers(echo_server, args) if args.workers > 1 else echo_server.serve_forever()
    except KeyboardInterrupt:
        echo_server.stop(timeout=5)
    finally:
        for watcher in watchers:
            _cancel(watcher)
    return 0


def _start_metrics(server: Server, address: tuple[str, int] | None) -> None:
    """``--metrics``: serve ``server.stats()`` at ``/metrics`` from this process (with workers,
    the parent's stats are their sums)."""
    if address is None:
        return
    from greentls._app.metrics import serve_metrics
    from greentls._net.workers import parent_only
    http = serve_metrics(server, *address)
    parent_only(http.close)  # a forked worker must not answer scrapes with its own counts
    print(f"greentls: metrics on http://{address[0]}:{http.server_port}/metrics", file=sys.stderr, flush=True)


#: How long a single-process server finishes its connections after SIGTERM/SIGINT before it
#: closes the rest (gunicorn's graceful_timeout is 30 s too).
DRAIN_SECONDS = 30.0


def _arrange_drain(server: Server, args: argparse.Namespace,
                   graceful: Callable[[float], None] | None = None) -> list[signal_handler[...] | None]:
    """SIGTERM and SIGINT in one process: stop accepting, let the connections in progress finish
    (up to ``DRAIN_SECONDS``), then close the rest, as gunicorn does; a second signal closes them
    at once.  ``graceful(seconds)`` is a server's own graceful stop, where it has one
    (``WSGIServer.stop``, which also closes keep-alive connections idle between requests at
    once).  Under ``--workers`` the supervisor drains (_net/workers.py)."""
    if args.workers > 1:
        return []
    import gevent
    state = {"draining": False}

    def drain(name: str) -> None:
        log = logging.getLogger("greentls")
        if state["draining"]:
            log.warning("greentls: %s again: closing the remaining connections now", name)
            server.stop(timeout=0)
            return
        state["draining"] = True
        log.warning("greentls: %s: no new connections; finishing %d in progress (at most %g s)",
                    name, server.get_connections(), DRAIN_SECONDS)
        if graceful is not None:
            gevent.spawn(graceful, DRAIN_SECONDS)
            return
        server.close()
        gevent.spawn_later(DRAIN_SECONDS, server.stop, 0)

    return [gevent.signal_handler(signal.SIGTERM, drain, "SIGTERM"),
            gevent.signal_handler(signal.SIGINT, drain, "SIGINT")]


def _reloads_from_files(args: argparse.Namespace) -> bool:
    """True when the certificate came from ``--cert``/``--key`` (a SIGHUP can re-read them)."""
    return bool(args.cert and args.key and not args.self_signed)


def _serve_with_workers(server: Server, args: argparse.Namespace) -> None:
    """``server.serve_forever(workers=N)`` on a listening server, with SIGHUP re-reading the
    certificate files: the supervisor owns SIGHUP and runs that reload before it rolls the
    workers (_net/workers.py)."""
    from greentls._net.workers import serve_with_workers

    reload = (lambda: _reload_files(server, args)) if _reloads_from_files(args) else None
    serve_with_workers(server, args.workers, reload=reload)


def _arrange_reload(server: Server, args: argparse.Namespace) -> signal_handler[...] | None:
    """Make SIGHUP re-read the certificate files (nginx's reload), never end the process.

    Under ``--workers`` the supervisor owns SIGHUP (``_serve_with_workers``).  In one process
    nobody handles SIGHUP, whose default action ends the process, so we handle it here with the
    same reload.  Installed before the "serving" line is printed, so a SIGHUP sent once the
    server is announced is handled.  Returns the signal watcher (to cancel), or None."""
    if args.workers > 1 or not hasattr(signal, "SIGHUP"):
        return None
    import gevent
    # gevent runs the handler in a greenlet of its own, outside the interrupted frame, so it
    # may build a context and log like any other code (a plain signal.signal handler may not).
    return gevent.signal_handler(signal.SIGHUP, _on_sighup, server, args)


def _on_sighup(server: Server, args: argparse.Namespace) -> None:
    """SIGHUP in one process: reload ``--cert``/``--key``; whatever happens, keep serving."""
    log = logging.getLogger("greentls")
    if not _reloads_from_files(args):
        log.warning("greentls: SIGHUP: the certificate was made at start (--self-signed), so "
                    "there is nothing to reload; still serving it")
        return
    try:
        _reload_files(server, args)
    except Exception:
        log.exception("greentls: SIGHUP: reloading %s and %s failed; still serving the old "
                      "certificate", args.cert, args.key)


def _cancel(watcher: signal_handler[...] | None) -> None:
    if watcher is not None:
        watcher.cancel()


def _reload_files(server: Server, args: argparse.Namespace) -> None:
    """SIGHUP: re-read ``--cert``/``--key`` and make them the default context for new
    connections (under ``--workers`` the supervisor then rolls the workers, _workers.py)."""
    key, cert = _read(args.key), _read(args.cert)
    context_options: dict[str, Any] = {"key": key, "cert": cert}
    if args.ca:
        context_options["ca"] = _read(args.ca)
    server.reload(**context_options)
    logging.getLogger("greentls").warning("greentls: SIGHUP: reloaded %s and %s (certificate serial %s)",
                                          args.cert, args.key, _serial_of(cert))


def _serial_of(cert_pem: bytes) -> str:
    """The first certificate's serial number in hex, for the log (``?`` if it cannot be read)."""
    from cryptography import x509
    try:
        return format(x509.load_pem_x509_certificate(cert_pem).serial_number, "X")
    except ValueError:
        return "?"


def _monkey_patch() -> None:
    """Make the standard library cooperative before the WSGI application is imported, as
    ``gunicorn -k gevent`` does: an application's ``time.sleep``, sockets, ``requests`` and
    database drivers then block only their own greenlet, not every client.

    ``ssl`` is already imported (greentls's errors subclass ``ssl.SSLError``), so gevent warns
    that patching it late "may lead to errors"; that is about SSL objects made before the
    patch, and none exist yet (the server's contexts are pyOpenSSL's), so the warning is
    silenced here."""
    import warnings

    from gevent import monkey
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", monkey.MonkeyPatchWarning)
        monkey.patch_all()


def _load_app(spec: str) -> WSGIApplication:
    import importlib
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"greentls serve: --wsgi wants MODULE:APP, got {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the application's own import failed: its traceback says where
        raise SystemExit(f"greentls serve: --wsgi {spec}: no module named {module_name!r}") from None
    application: WSGIApplication | None = getattr(module, attribute, None)
    if application is None:
        raise SystemExit(f"greentls serve: --wsgi {spec}: module {module_name!r} has no {attribute!r}")
    return application


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _read(path: str) -> bytes:
    """``serve``'s reading of a file it was named: a missing one ends it with one line."""
    try:
        return _read_file(path)
    except OSError as exc:
        raise SystemExit(f"greentls serve: cannot read {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _setting_up(what: str) -> Iterator[None]:
    """An operator's mistake while the server is set up (a key that does not match its
    certificate, a port in use or out of range, a bad option value) ends ``serve`` with one
    line naming it, as the other mistakes do, not a traceback."""
    try:
        yield
    except (OSError, ValueError, TypeError, OverflowError) as exc:
        raise SystemExit(f"greentls serve: {what}: {exc}") from None


def _connect(args: argparse.Namespace) -> int:
    import gevent
    from gevent import os as gos

    import greentls

    host, _, port_text = args.target.rpartition(":")
    if not host or not port_text.isdigit():
        print(f"greentls connect: expected HOST:PORT, got {args.target!r}", file=sys.stderr)
        return 2
    options: dict[str, Any] = {"reject_unauthorized": not args.insecure}
    if args.servername:
        options["servername"] = args.servername
    if args.ca:
        try:
            options["ca"] = _read_file(args.ca)
        except OSError as exc:
            print(f"greentls connect: --ca: cannot read {args.ca!r}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.alpn:
        options["alpn_protocols"] = [p.strip() for p in args.alpn.split(",") if p.strip()]
    if args.session_in:
        try:
            options["session"] = _read_file(args.session_in)
        except OSError as exc:
            print(f"greentls connect: --session-in: cannot read {args.session_in!r}: {exc.strerror}",
                  file=sys.stderr)
            return 2
    try:
        tls = greentls.connect(int(port_text), host.strip("[]"), **options)
    except greentls.CertificateError as exc:
        print(f"verification failed: {exc.code}: {exc}", file=sys.stderr)
        return 1
    except (greentls.TLSError, OSError) as exc:
        print(f"connection failed: {getattr(exc, 'code', '')} {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad input, e.g. a --session-in file that holds no DER session
        print(f"greentls connect: {exc}", file=sys.stderr)
        return 2
    _print_summary(tls)
    reader = gevent.spawn(_copy_socket_to_stdout, tls)
    fd = sys.stdin.fileno()
    gos.make_nonblocking(fd)
    while True:
        data = gos.nb_read(fd, 65536)
        if not data:
            break
        tls.sendall(data)
    reader.join(timeout=1.0)  # what the peer still sends, for up to one second
    reader.kill()
    if args.session_out:
        session = tls.get_session()
        if session:
            with open(args.session_out, "wb") as f:
                f.write(session)
    tls.close()
    return 0


def _copy_socket_to_stdout(tls: TLSSocket) -> None:
    out = sys.stdout.buffer
    while True:
        try:
            data = tls.recv(65536)
        except OSError:
            return
        if not data:
            return
        out.write(data)
        out.flush()


def _print_summary(tls: TLSSocket) -> None:
    cipher = tls.get_cipher() or {}
    key = tls.get_ephemeral_key_info() if hasattr(tls, "get_ephemeral_key_info") else None
    peer = tls.get_peer_certificate()
    lines = [
        f"protocol: {tls.get_protocol()}",
        f"cipher: {cipher.get('name')} ({cipher.get('standardName')})",
        f"key exchange: {key}",
        f"alpn: {tls.alpn_protocol}",
        f"verified: {tls.authorized}" + (f" ({tls.authorization_error})" if tls.authorization_error else ""),
        f"session reused: {tls.is_session_reused()}",
        f"peer subject: {peer.get('subject')}",
        f"peer issuer: {peer.get('issuer')}",
        f"peer valid: {peer.get('valid_from')} .. {peer.get('valid_to')}",
        f"peer altnames: {peer.get('subjectaltname')}",
        f"peer fingerprint256: {peer.get('fingerprint256')}",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)
