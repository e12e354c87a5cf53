"""A write acknowledged to a client survives the server being killed (issue: crash safety).

A server on a real TinyDB file is killed with SIGKILL in the middle of a burst of
creates; restarted on the same file, every create that got a 202 is there.
"""

from __future__ import annotations

import json
import threading

import requests
from helpers import EXAMPLE
from serve_process import ServeProcess


def test_every_acknowledged_create_survives_sigkill(tmp_path):
    database = tmp_path / "db.json"
    server = ServeProcess("--db", str(database), "--mode", "manual").start()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    enough = threading.Event()

    def burst() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                response = session.post(f"{server.api_url}/submissions", json=EXAMPLE, headers=server.headers(),
                                        timeout=10)
            except requests.RequestException:
                return  # the server is gone
            if response.status_code == 202:
                with lock:
                    acknowledged.append(response.json()["id"])
                    if len(acknowledged) >= 150:
                        enough.set()

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert enough.wait(120), "the burst never reached 150 creates:\n" + server.text()
    server.kill()  # SIGKILL, mid-burst
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) >= 150

    restarted = ServeProcess("--db", str(database), "--mode", "manual").start()
    try:
        assert restarted.key == server.key, "the default key is reused for the same database"
        session = requests.Session()
        stored: set[str] = set()
        url = f"{restarted.api_url}/submissions?page_size=100"
        while url:
            page = session.get(url, headers=restarted.headers(), timeout=10).json()
            stored.update(row["id"] for row in page["results"])
            url = page["next"]
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged creates were lost"
    finally:
        assert restarted.terminate() == 0
    # After a clean stop the file is a complete TinyDB database on its own.
    data = json.loads(database.read_text())
    assert {row["id"] for row in data["submissions"].values()} >= set(acknowledged)
