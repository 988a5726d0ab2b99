"""``greentls serve --metrics``: ``Server.stats()`` as Prometheus text, scraped by curl and
parsed with prometheus_client's own parser."""
from __future__ import annotations

import pytest
from helpers import CURL, echo, openssl, port_of, run, serving
from prometheus_client.parser import text_string_to_metric_families

from greentls._app.metrics import parse_address, serve_metrics


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


def test_with_workers_every_scrape_is_the_parents_sum(tmp_path, need_curl, need_openssl):
    """``serve --workers 2 --metrics``: the workers, forked from the parent, must not answer
    scrapes on the metrics socket they inherit with their own counts."""
    import time

    from gevent import subprocess
    from helpers import PY, free_port

    port, metrics = free_port(), free_port()
    proc = subprocess.Popen([PY, "-m", "greentls", "serve", "--self-signed", "--port", str(port),
                             "--workers", "2", "--metrics", f"127.0.0.1:{metrics}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        import gevent
        deadline = time.monotonic() + 20
        while openssl(["s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3"], input=b"x\n").returncode:
            assert time.monotonic() < deadline, "the server did not start"
            gevent.sleep(0.2)
        # A connection accepted while the workers are forked is served by whichever process
        # reads it first: count only the ones made after.
        gevent.sleep(1.0)
        for _ in range(6):
            result = openssl(["s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3"], input=b"x\n")
            assert result.returncode == 0 and b"TLSv1.3" in result.stdout
        gevent.sleep(1.2)  # workers republish at most every 0.5 s
        seen = set()
        for _ in range(8):
            code, text = _scrape(metrics)
            assert code == 200
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "greentls_handshakes_total" and sample.labels["resumed"] == "false":
                        seen.add(sample.value)
        assert len(seen) == 1 and min(seen) >= 6, seen
    finally:
        proc.terminate()
        proc.wait()
