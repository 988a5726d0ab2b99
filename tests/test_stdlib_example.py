"""examples/stdlib_legacy.py runs as its docstring says (as tests/test_examples.py runs the others)."""
from __future__ import annotations

import os
import sys

from gevent import subprocess
from helpers import free_port

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")



def test_stdlib_legacy_example(tmp_path):
    """A legacy ThreadingHTTPServer and a requests client, one greentls line each, verifying."""
    certs = str(tmp_path / "certs")
    subprocess.run([sys.executable, os.path.join(EXAMPLES, "make_certs.py"), certs], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    env = dict(os.environ, PORT=str(free_port()), CERTS=certs)
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, "stdlib_legacy.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == "hello TLSv1.3 from greentls._app.stdlib.SSLSocket\n"
