"""Store.transaction() is atomic: an exception undoes everything it wrote, in memory, in the
journal and in the files; a commit is whole and durable; a crash keeps all of it or none."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from vilvik_emulator.store import Store

ROOT = Path(__file__).resolve().parents[1]


class Boom(Exception):
    pass


def _seed(store: Store) -> None:
    with store.transaction():
        for index in range(5):
            store.insert("submissions", {"id": f"s{index}", "seq": index, "status": "queued"})
            store.insert("results", {"id": f"r{index}", "seq": index, "fitness": index * 1.5})
        store.insert("accounts", {"id": "a", "balance": 10.0})
    store.write_file("results", "r0", "result.json", b'{"r": 0}')


def _state(store: Store) -> tuple[dict, dict]:
    return store.export(), {name: count for name, count in store.stats()["tables"].items()}


def _half_a_transaction(store: Store) -> None:
    """Writes of every kind across several tables, then an exception."""
    with store.transaction():
        store.insert("submissions", {"id": "new", "seq": 99, "status": "queued"})
        store.update("submissions", "s1", {"status": "running"})
        store.put("results", {"id": "r2", "seq": 2, "fitness": -1})
        store.remove("results", "r3")
        store.remove_where("submissions", lambda row: row["seq"] >= 3)
        store.update("accounts", "a", {"balance": 0.0})
        store.write_file("results", "new", "result.json", b"{}")
        store.clear(["results"])
        store.insert("results", {"id": "after-clear", "seq": 100})
        store.insert("events", {"id": "e1", "kind": "submission.queued"})
        raise Boom


@pytest.mark.parametrize("where", ["file", "memory"])
def test_an_exception_leaves_memory_journal_and_file_as_before(tmp_path, where):
    path = tmp_path / "db.json" if where == "file" else None
    store = Store(path, checkpoint_interval=0)
    _seed(store)
    store.ensure_order("submissions", "by_seq", lambda row: (row["seq"],))
    store.ensure_order("results", "by_seq", lambda row: (row["seq"],))
    orders = store.ordered("submissions", "by_seq"), store.ordered("results", "by_seq")
    before = _state(store)
    journal = store.journal_path.read_bytes() if path else None

    with pytest.raises(Boom):
        _half_a_transaction(store)

    assert _state(store) == before
    assert (store.ordered("submissions", "by_seq"), store.ordered("results", "by_seq")) == orders
    assert store.get("submissions", "new") is None and store.get("results", "r3") is not None
    assert store.read_file("results", "r0", "result.json") == b'{"r": 0}'
    assert "new" not in store.file_owners("results")
    if path is None:
        store.close()
        return
    assert store.journal_path.read_bytes() == journal
    store.close()
    reopened = Store(path, checkpoint_interval=0)
    try:
        assert _state(reopened) == before
    finally:
        reopened.close()


def test_writes_after_a_rolled_back_transaction_are_kept(tmp_path):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    _seed(store)
    with pytest.raises(Boom):
        _half_a_transaction(store)
    store.insert("submissions", {"id": "later", "seq": 200})
    with store.transaction():
        store.clear(["results"])
    expected = _state(store)
    store.close()
    reopened = Store(tmp_path / "db.json", checkpoint_interval=0)
    try:
        assert _state(reopened) == expected
        assert reopened.get("submissions", "later") is not None and reopened.count("results") == 0
    finally:
        reopened.close()


def test_reads_inside_see_the_transactions_own_writes_and_other_threads_wait(tmp_path):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    seen: list[dict | None] = []
    try:
        with store.transaction():
            store.insert("submissions", {"id": "s", "status": "queued"})
            assert store.get("submissions", "s") == {"id": "s", "status": "queued"}
            store.update("submissions", "s", {"status": "running"})
            assert store.find("submissions") == [{"id": "s", "status": "running"}]
            reader = threading.Thread(target=lambda: seen.append(store.get("submissions", "s")))
            reader.start()
            reader.join(timeout=0.2)
            assert reader.is_alive()  # blocked on the store's lock until the commit
            store.update("submissions", "s", {"status": "succeeded"})
        reader.join(timeout=10)
        assert seen == [{"id": "s", "status": "succeeded"}]
    finally:
        store.close()


def test_a_nested_transaction_that_fails_undoes_only_its_own_writes(tmp_path):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    _seed(store)
    with store.transaction():
        store.insert("submissions", {"id": "outer-1"})
        with pytest.raises(Boom), store.transaction():
            store.insert("submissions", {"id": "inner"})
            store.update("accounts", "a", {"balance": -5.0})
            raise Boom
        assert store.get("submissions", "inner") is None
        assert store.get("accounts", "a") == {"id": "a", "balance": 10.0}
        with store.transaction():
            store.insert("submissions", {"id": "inner-kept"})
        store.insert("submissions", {"id": "outer-2"})
    expected = _state(store)
    store.close()
    reopened = Store(tmp_path / "db.json", checkpoint_interval=0)
    try:
        assert _state(reopened) == expected
        assert {row["id"] for row in reopened.find("submissions")} >= {"outer-1", "inner-kept", "outer-2"}
        assert reopened.get("submissions", "inner") is None
    finally:
        reopened.close()


def test_an_exception_in_the_outer_transaction_undoes_the_inner_ones_too(tmp_path):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    _seed(store)
    before = _state(store)
    with pytest.raises(Boom), store.transaction():
        with store.transaction():
            store.insert("submissions", {"id": "inner"})
        store.insert("results", {"id": "outer"})
        raise Boom
    assert _state(store) == before
    store.close()


def test_a_commit_is_one_journal_line_and_survives_a_reopen(tmp_path):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    size = store.journal_path.stat().st_size
    with store.transaction():
        store.insert("submissions", {"id": "s", "status": "queued"})
        store.insert("results", {"id": "r", "submission_id": "s"})
        store.update("submissions", "s", {"status": "succeeded", "result_id": "r"})
    lines = store.journal_path.read_bytes()[size:].splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["op"] == "tx"
    expected = _state(store)
    # Reopened from the journal alone, as after a crash: no checkpoint, no clean close.
    store._journal.close()  # type: ignore[union-attr]
    store._lock_handle.close()  # type: ignore[union-attr]
    reopened = Store(tmp_path / "db.json", checkpoint_interval=0)
    try:
        assert _state(reopened) == expected
        assert reopened.get("submissions", "s")["result_id"] == "r"  # type: ignore[index]
    finally:
        reopened.close()


def test_a_failed_journal_write_undoes_the_transaction(tmp_path, monkeypatch):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    _seed(store)
    before = _state(store)
    journal = store.journal_path.read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("vilvik_emulator.store.os.fsync", failing_fsync)
    with pytest.raises(OSError), store.transaction():
        store.insert("submissions", {"id": "lost"})
        store.update("accounts", "a", {"balance": 1.0})
    with pytest.raises(OSError):
        store.insert("submissions", {"id": "lost-alone"})
    monkeypatch.undo()
    assert _state(store) == before
    assert store.journal_path.read_bytes() == journal  # the written line was cut off again
    store.close()


def test_a_checkpoint_inside_a_transaction_waits_for_it(tmp_path):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    _seed(store)
    store.checkpoint()
    file_before = (tmp_path / "db.json").read_bytes()
    with pytest.raises(Boom), store.transaction():
        store.insert("submissions", {"id": "uncommitted"})
        store.checkpoint()
        assert (tmp_path / "db.json").read_bytes() == file_before
        raise Boom
    store.close()
    reopened = Store(tmp_path / "db.json", checkpoint_interval=0)
    try:
        assert reopened.get("submissions", "uncommitted") is None
    finally:
        reopened.close()


def test_a_snapshot_import_that_fails_half_way_leaves_tables_and_files(tmp_path, monkeypatch):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    _seed(store)
    before = _state(store)
    snapshot = {"schema_version": 1, "tables": {"submissions": {"x": {"seq": 1}}},
                "files": {"results/x/a.json": "e30=", "results/x/b.json": "e30="}}
    written: list[Path] = []
    real_atomic_write = sys.modules["vilvik_emulator.store"].atomic_write

    def fail_on_the_second(path, payload, **kwargs):
        if written:
            raise OSError(5, "I/O error")
        written.append(path)
        real_atomic_write(path, payload, **kwargs)

    monkeypatch.setattr("vilvik_emulator.store.atomic_write", fail_on_the_second)
    with pytest.raises(OSError):
        store.import_(snapshot)
    monkeypatch.undo()
    assert written and not written[0].exists()
    assert _state(store) == before
    store.close()


CHILD = textwrap.dedent("""
    import os, signal, sys, time
    sys.path.insert(0, {root!r})
    from vilvik_emulator.store import Store

    store = Store(sys.argv[1], checkpoint_interval=0)
    with store.transaction():
        store.insert("submissions", {{"id": "committed", "status": "queued"}})
        store.insert("results", {{"id": "committed-result"}})
    if sys.argv[2] == "torn":  # the kill comes half-way through the commit's journal write
        real_write = os.write
        def torn_write(fd, data):
            real_write(fd, bytes(data)[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        os.write = torn_write
    with store.transaction():
        store.update("submissions", "committed", {{"status": "running"}})
        for index in range(50):
            store.insert("results", {{"id": f"r{{index}}", "payload": "x" * 100}})
        store.remove("results", "committed-result")
        store.insert("events", {{"id": "e"}})
        print("inside", flush=True)
        if sys.argv[2] == "inside":
            time.sleep(60)
""")


@pytest.mark.parametrize("when", ["inside", "torn"])
def test_a_crash_during_a_transaction_leaves_nothing_of_it(tmp_path, when):
    path = tmp_path / "db.json"
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT)), str(path), when],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "inside\n"
        if when == "inside":
            child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    store = Store(path, checkpoint_interval=0)
    try:
        assert store.find("submissions") == [{"id": "committed", "status": "queued"}]
        assert store.find("results") == [{"id": "committed-result"}]
        assert store.count("events") == 0
        store.insert("events", {"id": "after"})  # appending after the torn line is safe
    finally:
        store.close()
    reopened = Store(path, checkpoint_interval=0)
    try:
        assert reopened.get("events", "after") == {"id": "after"}
    finally:
        reopened.close()
