"""``greentls serve --metrics HOST:PORT``: a server's ``stats()`` as Prometheus text at ``/metrics``.

A collector reads ``Server.stats()`` on every scrape (so with workers, the parent's sums), and
``prometheus_client``'s WSGI application serves it from a gevent ``pywsgi`` server in the same
hub, without threads.  Metric names:

* ``greentls_connections`` (gauge): open connections;
* ``greentls_handshakes_total{protocol, resumed}`` (counter);
* ``greentls_client_errors_total{code}`` (counter);
* ``greentls_handshake_seconds`` (histogram: ``_bucket{le}``, ``_sum``, ``_count``);
* ``greentls_bytes_in_total``, ``greentls_bytes_out_total`` (counters).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from gevent import pywsgi

from greentls._base.errors import UnsupportedError
from greentls._net.server import Server

__all__ = ["StatsCollector", "serve_metrics", "parse_address"]


def _prometheus() -> Any:
    try:
        import prometheus_client
        import prometheus_client.core
    except ImportError:
        raise UnsupportedError("--metrics needs the prometheus_client package: "
                               "pip install 'greentls[metrics]'") from None
    return prometheus_client


class StatsCollector:
    """A ``prometheus_client`` collector over one ``Server``'s ``stats()``."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def collect(self) -> Iterator[Any]:
        core = _prometheus().core
        stats = self.server.stats()
        yield core.GaugeMetricFamily("greentls_connections", "Open TLS connections",
                                     value=stats["connections"])
        handshakes = core.CounterMetricFamily("greentls_handshakes", "Completed TLS handshakes",
                                              labels=["protocol", "resumed"])
        for protocol, kinds in sorted(stats["handshakes"].items()):
            handshakes.add_metric([protocol, "false"], kinds["full"])
            handshakes.add_metric([protocol, "true"], kinds["resumed"])
        yield handshakes
        errors = core.CounterMetricFamily("greentls_client_errors",
                                          "Connections that failed before or during the handshake",
                                          labels=["code"])
        for code, count in sorted(stats["client_errors"].items()):
            errors.add_metric([code], count)
        yield errors
        hist = stats["handshake_seconds"]
        buckets = [("+Inf" if math.isinf(bound) else repr(bound), count)
                   for bound, count in hist["buckets"].items()]
        yield core.HistogramMetricFamily("greentls_handshake_seconds",
                                         "Seconds from accept to the end of the handshake",
                                         buckets=buckets, sum_value=hist["sum"])
        yield core.CounterMetricFamily("greentls_bytes_in", "TCP bytes received by connections that ended",
                                       value=stats["bytes_in"])
        yield core.CounterMetricFamily("greentls_bytes_out", "TCP bytes sent by connections that ended",
                                       value=stats["bytes_out"])


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as ``(host, port)``; raises ``ValueError``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--metrics: {text!r} is not HOST:PORT")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return (host or "127.0.0.1", int(port))


def serve_metrics(server: Server, host: str, port: int) -> pywsgi.WSGIServer:
    """Start serving ``server``'s stats at ``http://host:port/metrics``; returns the HTTP server."""
    prometheus = _prometheus()
    registry = prometheus.CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(server))
    metrics_app = prometheus.make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: the metrics are at /metrics\n"]
        return metrics_app(environ, start_response)

    http = pywsgi.WSGIServer((host, port), app, log=None)
    http.start()
    return http
