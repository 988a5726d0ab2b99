"""The WSGI application that examples/gunicorn_conf.py serves under gunicorn and greentls.

    python examples/make_certs.py
    gunicorn -c examples/gunicorn_conf.py --chdir examples gunicorn_app:app

It greets the client by its certificate, with the TLS facts greentls puts in the environ
(mod_ssl's names); any WSGI application (Flask, Django...) is served the same way.
"""
import os


def app(environ, start_response):
    """Greet the client; HTTPS, SSL_PROTOCOL and SSL_CLIENT_* come from greentls."""
    body = (f"hello {environ.get('SSL_CLIENT_S_DN', 'anonymous')}\n"
            f"verified: {environ['SSL_CLIENT_VERIFY']}, over {environ['SSL_PROTOCOL']} "
            f"(HTTPS={environ['HTTPS']}), served by worker {os.getpid()}\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
