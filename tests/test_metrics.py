"""``greentls serve --metrics``: ``Server.stats()`` as Prometheus text, scraped by curl and
parsed with prometheus_client's own parser."""
from __future__ import annotations

import pytest
from helpers import CURL, echo, openssl, port_of, run, serving

prometheus_client = pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from greentls._app.metrics import parse_address, serve_metrics  # noqa: E402


def _scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    result = run([CURL, "-s", "-o", "-", "-w", "\n%{http_code}", f"http://127.0.0.1:{port}{path}"], timeout=15)
    body, _, code = result.stdout.decode().rpartition("\n")
    return int(code), body


def test_metrics_are_served_and_parse(server_options, cert_files, need_curl, need_openssl):
    with serving(echo, **server_options) as server:
        http = serve_metrics(server, "127.0.0.1", 0)
        try:
            for _ in range(2):
                result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-servername",
                                  "localhost", "-CAfile", cert_files["ca"], "-tls1_3"], input=b"x\n")
                assert result.returncode == 0
            code, text = _scrape(http.server_port)
            assert code == 200
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for family in text_string_to_metric_families(text) for s in family.samples}
            assert samples[("greentls_handshakes_total", (("protocol", "TLSv1.3"), ("resumed", "false")))] == 2
            assert samples[("greentls_handshake_seconds_count", ())] == 2
            assert samples[("greentls_handshake_seconds_bucket", (("le", "+Inf"),))] == 2
            assert ("greentls_connections", ()) in samples
            assert ("greentls_bytes_in_total", ()) in samples
            assert _scrape(http.server_port, "/")[0] == 404
        finally:
            http.stop()


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9100", ("127.0.0.1", 9100)), ("[::1]:9100", ("::1", 9100)), (":9100", ("127.0.0.1", 9100)),
])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9100", "host:", "host:port", "host:70000"])
def test_parse_address_refuses(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(text)
