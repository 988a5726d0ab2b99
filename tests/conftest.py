"""Fixtures: certificates from trustme, written to files for the peers that need paths."""
from __future__ import annotations

import shutil

import pytest
import trustme


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The test certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    """A server certificate for localhost, 127.0.0.1 and ::1."""
    return ca.issue_cert("localhost", "127.0.0.1", "::1")


@pytest.fixture(scope="session")
def client_cert(ca: trustme.CA) -> trustme.LeafCert:
    """A client certificate (for mutual TLS)."""
    return ca.issue_cert("client@example.com", common_name="test client")


@pytest.fixture(scope="session")
def cert_files(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA, server_cert: trustme.LeafCert,
               client_cert: trustme.LeafCert) -> dict:
    """Paths of the CA, server and client PEM files."""
    folder = tmp_path_factory.mktemp("certs")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem",
             "client_cert": folder / "client-cert.pem", "client_key": folder / "client-key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server_cert.private_key_pem.write_to_path(str(paths["key"]))
    with open(paths["cert"], "wb") as f:
        for blob in server_cert.cert_chain_pems:
            f.write(blob.bytes())
    client_cert.private_key_pem.write_to_path(str(paths["client_key"]))
    with open(paths["client_cert"], "wb") as f:
        for blob in client_cert.cert_chain_pems:
            f.write(blob.bytes())
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(scope="session")
def server_options(server_cert: trustme.LeafCert) -> dict:
    """Context options for a server with the test certificate."""
    return {"key": server_cert.private_key_pem.bytes(),
            "cert": b"".join(b.bytes() for b in server_cert.cert_chain_pems)}


@pytest.fixture(scope="session")
def client_options(ca: trustme.CA) -> dict:
    """Context options for a client that trusts the test CA."""
    return {"ca": ca.cert_pem.bytes()}


@pytest.fixture
def need_node() -> None:
    """Skip when node is missing (it is a required peer on our machines)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")


@pytest.fixture
def need_openssl() -> None:
    """Skip when the openssl CLI is missing."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI is not installed")


@pytest.fixture
def need_curl() -> None:
    """Skip when curl is missing."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")


@pytest.fixture
def client_errors():
    """The codes (or exceptions) tls_client_error reports while the test runs."""
    import greentls

    seen: list = []

    def receiver(sender, exception, tls_socket):
        seen.append(exception)

    greentls.tls_client_error.connect(receiver)
    yield seen
    greentls.tls_client_error.disconnect(receiver)


@pytest.fixture
def restore_default():
    """After the test, the built-in default trust again (``set_default_ca_certificates``)."""
    yield
    from greentls._config import roots
    roots._state[0] = None
