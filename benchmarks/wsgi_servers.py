"""The hello-world servers of ``benchmarks/wsgi.py``, one per command line.

    python benchmarks/wsgi_servers.py greentls PORT CERT KEY   # greentls.wsgi.WSGIServer
    python benchmarks/wsgi_servers.py pywsgi PORT CERT KEY     # gevent.pywsgi + ssl_args
    gunicorn -k gevent ... wsgi_servers:app                    # the WSGI application
    uvicorn ... wsgi_servers:asgi_app                          # the same answer over ASGI

Every server answers ``Hello, World!`` (text/plain, with a Content-Length) and writes no
access log (gunicorn and uvicorn write none by default or with ``--no-access-log``).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI hello world."""
    start_response("200 OK", HEADERS)
    return [BODY]


async def asgi_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """The ASGI hello world (uvicorn)."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    kind, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if kind == "greentls":
        from pathlib import Path

        from greentls.wsgi import WSGIServer
        server = WSGIServer(("127.0.0.1", port), app, log=None, key=Path(key), cert=Path(cert))
        server.serve_forever()
    elif kind == "pywsgi":
        from gevent import pywsgi, socket
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as every other server
        listener.bind(("127.0.0.1", port))
        listener.listen(1024)
        pywsgi.WSGIServer(listener, app, log=None, keyfile=key, certfile=cert).serve_forever()
    else:
        raise SystemExit(f"unknown server {kind!r}")


if __name__ == "__main__":
    main()
