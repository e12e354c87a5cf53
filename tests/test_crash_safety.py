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


def test_retries_with_one_idempotency_key_across_a_crash_never_duplicate(tmp_path):
    """Issue "Hardening" #1: the key record commits with the row it created, so a client that
    retries every key it sent (answered or not) after a SIGKILL gets one submission per key,
    and the answered ones replay the id they were first given."""
    database = tmp_path / "db.json"
    server = ServeProcess("--db", str(database), "--mode", "manual").start()
    sent: dict[str, dict] = {}
    answered: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()
    enough = threading.Event()

    def burst(worker: int) -> None:
        session = requests.Session()
        for index in range(100_000):
            if stop.is_set():
                return
            key = f"crash-{worker}-{index}"
            body = {**EXAMPLE, "name": key}
            with lock:
                sent[key] = body
            try:
                response = session.post(f"{server.api_url}/submissions", json=body,
                                        headers={**server.headers(), "Idempotency-Key": key}, timeout=10)
            except requests.RequestException:
                return  # the server is gone
            if response.status_code == 202:
                with lock:
                    answered[key] = response.json()["id"]
                    if len(answered) >= 150:
                        enough.set()

    threads = [threading.Thread(target=burst, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    assert enough.wait(120), "the burst never reached 150 creates:\n" + server.text()
    server.kill()  # SIGKILL, mid-burst: some keys are answered, some in flight
    stop.set()
    for thread in threads:
        thread.join(30)

    restarted = ServeProcess("--db", str(database), "--mode", "manual").start()
    try:
        session = requests.Session()
        for key, body in sent.items():
            retry = session.post(f"{restarted.api_url}/submissions", json=body,
                                 headers={**restarted.headers(), "Idempotency-Key": key}, timeout=10)
            assert retry.status_code == 202, retry.text
            if key in answered:
                assert retry.json()["id"] == answered[key], "a retry of an answered create must replay it"
        names: list[str] = []
        url = f"{restarted.api_url}/submissions?page_size=100"
        while url:
            page = session.get(url, headers=restarted.headers(), timeout=10).json()
            names.extend(row["name"] for row in page["results"])
            url = page["next"]
        duplicated = {name for name in names if names.count(name) > 1}
        assert not duplicated, f"{len(duplicated)} keys created more than one submission"
        assert set(names) == set(sent), "every key sent has exactly its one submission"
    finally:
        assert restarted.terminate() == 0
