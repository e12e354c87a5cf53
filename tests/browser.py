"""Helpers for the dashboard's browser tests: Debian's Chromium through Playwright, offline.

Nothing is ever downloaded: Playwright drives the system Chromium (``/usr/bin/chromium``,
which ``.ci/run`` installs with apt) instead of a browser of its own, with the background
networking that would phone home switched off.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHROMIUM = os.environ.get("VILVIK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LAPTOP = {"width": 1366, "height": 900}
NARROW = {"width": 1024, "height": 768}

#: how long a real run of a small example may take to show up as finished in the page
RUN_TIMEOUT_MS = 60_000


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        return (f"Chromium is not installed at {CHROMIUM}: the dashboard's browser tests need Debian's chromium "
                "(apt-get install chromium; .ci/run does it). Never `playwright install`: nothing is downloaded.")
    return None


def launch(playwright):
    """Headless system Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def no_horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than its viewport (0 when it fits)."""
    return page.evaluate("() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")


def overflowing_elements(page) -> list[str]:
    """Elements whose right edge passes the viewport: what a reader of a failure wants to see."""
    return page.evaluate("""() => {
        const width = window.innerWidth, found = [];
        for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > width + 1) {
                const classes = typeof el.className === 'string' && el.className.trim()
                    ? '.' + el.className.trim().replace(/\\s+/g, '.') : '';
                const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + classes;
                found.push(name + ' right=' + Math.round(box.right));
            }
        }
        return found.slice(0, 15);
    }""")


# ---------------------------------------------------------------------- a webhook receiver on loopback


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that answers 200 to every POST and keeps what it got."""

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.put(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                      self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def next(self, timeout: float = 30) -> Received:
        return self.received.get(timeout=timeout)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def form_posting_page(action: str, fields: dict[str, str | list[str]]) -> str:
    """An attacker's page that submits a form to ``action`` as soon as it loads."""
    from html import escape

    inputs = []
    for name, values in fields.items():
        for value in values if isinstance(values, list) else [values]:
            inputs.append(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">')
    return (f'<!doctype html><html><body><h1>Win a prize</h1><form id="f" method="post" action="{escape(action)}">'
            f'{"".join(inputs)}</form><script>document.getElementById("f").submit()</script></body></html>')
