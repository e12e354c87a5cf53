"""Start ``vilvik-emulator serve`` as a real subprocess (CLI, crash-safety and restart tests)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import requests

BANNER_URL = re.compile(r"base URL:\s+(http://\S+)/api/v1")
BANNER_KEY = re.compile(r"API key:\s+(vlk_\S+)")


class ServeProcess:
    """A ``serve`` subprocess; ``start()`` waits for its banner (never sleeps blindly)."""

    def __init__(self, *args: str, env: dict | None = None, cwd: str | None = None) -> None:
        self.args = ["--port", "0", *args] if "--port" not in args else list(args)
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []
        self.url = self.key = None
        self._banner = threading.Event()

    def start(self, timeout: float = 30) -> ServeProcess:
        self.process = subprocess.Popen([sys.executable, "-m", "vilvik_emulator", "serve", *self.args],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=self.env, cwd=self.cwd)
        threading.Thread(target=self._read, daemon=True).start()
        if not self._banner.wait(timeout):
            self.kill()
            raise AssertionError("serve printed no banner:\n" + "".join(self.output))
        if self.url is None:
            raise AssertionError("serve exited:\n" + "".join(self.output))
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if self.url is None and (match := BANNER_URL.search(line)):
                self.url = match.group(1)
            if self.key is None and (match := BANNER_KEY.search(line)):
                self.key = match.group(1)
            if line.startswith("Press Ctrl-C"):
                self._banner.set()
        self._banner.set()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.key}"}

    def healthy(self) -> bool:
        return requests.get(f"{self.url}/_emulator/health", timeout=5).status_code == 200

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def text(self) -> str:
        return "".join(self.output)
