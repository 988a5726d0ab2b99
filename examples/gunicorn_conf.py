"""A gunicorn configuration file that runs gunicorn's workers over greentls.

    python examples/make_certs.py                                 # examples/certs/
    gunicorn -c examples/gunicorn_conf.py --chdir examples gunicorn_app:app
    curl --cacert examples/certs/server-cert.pem \\
         --cert examples/certs/client-cert.pem --key examples/certs/client-key.pem \\
         https://localhost:8443/

gunicorn's own TLS settings (certfile, keyfile, ca_certs, cert_reqs, ciphers, the ssl_context
hook) mean what they mean to gunicorn; greentls's other options come from greentls_options.
PORT and CERTS in the environment change the port (8443) and the certificates' folder.
"""
import os
import ssl

_certs = os.environ.get("CERTS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "certs"))

worker_class = "greentls.gunicorn.Worker"
bind = f"127.0.0.1:{os.environ.get('PORT', '8443')}"
workers = 2
graceful_timeout = 10

certfile = os.path.join(_certs, "server-cert.pem")
keyfile = os.path.join(_certs, "server-key.pem")
# Mutual TLS: the client's certificate is self-signed (as in Node's docs), so it is its own CA.
ca_certs = os.path.join(_certs, "client-cert.pem")
cert_reqs = ssl.CERT_REQUIRED

accesslog = "-"

# greentls's own options: anything WSGIServer takes that no gunicorn setting gives.
greentls_options = {
    "handshake_timeout": 10.0,       # seconds for a client to finish its handshake
    "headers_timeout": 20.0,         # and then to send its request head
}


def ssl_context(conf, default_ssl_context_factory):
    """gunicorn's hook: the context default_ssl_context_factory() returns is set up from the
    settings above; greentls serves what the hook changes, or refuses to start."""
    context = default_ssl_context_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context
