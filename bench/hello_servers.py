"""Baselines for bench_api_latency.py: a bare Flask "hello" app on werkzeug's development
server, on cheroot and on waitress, each in a child process on a free port.

``python bench/hello_servers.py KIND PORT`` serves one; :class:`HelloServer` starts one
and waits until it answers. Each server runs as its own documentation shows (werkzeug
threaded, cheroot and waitress with their default thread pools), with request logging off.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import requests

KINDS = ("werkzeug", "cheroot", "waitress")
STARTUP_TIMEOUT = 30.0


def hello_app():
    from flask import Flask

    app = Flask("hello")

    @app.get("/hello")
    def hello() -> str:
        return "hello"

    return app


def serve(kind: str, port: int) -> None:
    app = hello_app()
    if kind == "werkzeug":
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args) -> None:
                pass

        make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler).serve_forever()
    elif kind == "cheroot":
        from cheroot.wsgi import Server

        Server(("127.0.0.1", port), app).safe_start()
    elif kind == "waitress":
        from waitress import serve as waitress_serve

        logging.getLogger("waitress").setLevel(logging.WARNING)  # no "Serving on ..." line
        waitress_serve(app, host="127.0.0.1", port=port)
    else:
        raise SystemExit(f"unknown server {kind!r}; one of {', '.join(KINDS)}")


class HelloServer:
    """One baseline server in a child process (a context manager)."""

    def __init__(self, kind: str, port: int) -> None:
        self.kind = kind
        self.url = f"http://127.0.0.1:{port}/hello"
        self.process = subprocess.Popen([sys.executable, str(Path(__file__)), kind, str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {kind} hello server exited: {self.process.stderr.read()}")
            try:
                if requests.get(self.url, timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the {kind} hello server did not answer within {STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.01)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stderr.close()

    def __enter__(self) -> HelloServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
