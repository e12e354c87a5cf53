"""The store: journal durability, torn writes, checkpoints, schema guard, process lock, snapshots."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest
from tinydb import TinyDB

from vilvik_emulator.store import SCHEMA_VERSION, Store, StoreError


def _write_then_die(path: str, count: int) -> None:
    store = Store(path, checkpoint_interval=0)
    for index in range(count):
        store.insert("things", {"id": f"t{index}", "value": index})
    os._exit(0)  # no close(): no checkpoint, the lock file stays behind


def crash_after_writes(path, count: int) -> None:
    process = multiprocessing.get_context("fork").Process(target=_write_then_die, args=(str(path), count))
    process.start()
    process.join(30)
    assert process.exitcode == 0


def test_writes_survive_a_crash_through_the_journal(tmp_path):
    path = tmp_path / "db.json"
    crash_after_writes(path, 50)
    assert (tmp_path / "db.json.journal").stat().st_size > 0
    store = Store(path)
    try:
        assert store.count("things") == 50
        assert store.get("things", "t49") == {"id": "t49", "value": 49}
    finally:
        store.close()
    # Recovery checkpointed: the file alone now holds everything.
    assert len(json.loads(path.read_text())["things"]) == 50


def test_a_torn_last_journal_line_is_ignored(tmp_path):
    path = tmp_path / "db.json"
    crash_after_writes(path, 3)
    with open(tmp_path / "db.json.journal", "ab") as journal:
        journal.write(b'{"op":"put","t":"things","k":"99","doc":{"id":"half')
    store = Store(path)
    try:
        assert store.count("things") == 3
    finally:
        store.close()


def test_the_file_is_a_plain_tinydb_database(tmp_path):
    path = tmp_path / "db.json"
    store = Store(path)
    store.insert("submissions", {"id": "abcDEF123456", "name": "x"})
    store.close()
    database = TinyDB(path)
    try:
        assert database.table("submissions").all() == [{"id": "abcDEF123456", "name": "x"}]
        assert database.table("_meta").all()[0]["version"] == SCHEMA_VERSION
    finally:
        database.close()


def test_update_remove_and_reopen(tmp_path):
    path = tmp_path / "db.json"
    store = Store(path)
    store.insert("rows", {"id": "a", "n": 1})
    store.insert("rows", {"id": "b", "n": 2})
    assert store.update("rows", "a", {"n": 10}) == {"id": "a", "n": 10}
    assert store.update("rows", "missing", {"n": 1}) is None
    assert store.remove("rows", "b") is True and store.remove("rows", "b") is False
    with pytest.raises(KeyError):
        store.insert("rows", {"id": "a"})
    store.close()
    reopened = Store(path)
    try:
        assert reopened.find("rows") == [{"id": "a", "n": 10}]
    finally:
        reopened.close()


def test_stored_documents_do_not_alias_the_callers_objects():
    store = Store(None)
    try:
        nested = {"id": "a", "values": [1, 2]}
        store.insert("rows", nested)
        nested["values"].append(3)
        assert store.get("rows", "a")["values"] == [1, 2]
    finally:
        store.close()


def test_non_json_values_are_refused():
    store = Store(None)
    try:
        with pytest.raises(ValueError):
            store.insert("rows", {"id": "a", "value": float("nan")})
        assert store.get("rows", "a") is None
    finally:
        store.close()


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "db.json"
    path.write_text(json.dumps({"_meta": {"1": {"id": "schema", "version": SCHEMA_VERSION + 1}}}))
    with pytest.raises(StoreError, match="newer vilvik-emulator"):
        Store(path)


def test_a_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "db.json"
    path.write_text("{not json")
    with pytest.raises(StoreError, match="not a valid TinyDB JSON file"):
        Store(path)


def test_one_process_per_database(tmp_path):
    path = tmp_path / "db.json"
    store = Store(path)
    try:
        with pytest.raises(StoreError, match="in use"):
            Store(path)
    finally:
        store.close()
    Store(path).close()


def test_checkpoint_leaves_no_journal_and_no_temporary_files(tmp_path):
    path = tmp_path / "db.json"
    store = Store(path, checkpoint_interval=0)
    for index in range(20):
        store.insert("rows", {"id": str(index)})
    store.checkpoint()
    assert (tmp_path / "db.json.journal").stat().st_size == 0
    store.close()
    assert sorted(os.listdir(tmp_path)) == ["db.json"]


def test_export_and_import_round_trip_with_files(tmp_path):
    source = Store(tmp_path / "a.json")
    source.insert("rows", {"id": "x", "n": 1})
    source.write_file("results", "x", "log.txt", b"hello")
    snapshot = source.export()
    source.close()
    target = Store(tmp_path / "b.json")
    try:
        target.insert("rows", {"id": "old"})
        target.import_(json.loads(json.dumps(snapshot)))
        assert target.find("rows") == [{"id": "x", "n": 1}]
        assert target.read_file("results", "x", "log.txt") == b"hello"
    finally:
        target.close()


@pytest.mark.parametrize("snapshot", [
    [],
    {"schema_version": 99, "tables": {}},
    {"schema_version": 1, "tables": {"rows": []}},
    {"schema_version": 1, "tables": {"rows": {"a": 1}}},
    {"schema_version": 1, "tables": {}, "files": {"../escape.txt": ""}},
    {"schema_version": 1, "tables": {}, "files": {"results/x/log.txt": "not base64!"}},
])
def test_a_bad_snapshot_changes_nothing(snapshot):
    store = Store(None)
    try:
        store.insert("rows", {"id": "kept"})
        with pytest.raises(ValueError):
            store.import_(snapshot)
        assert store.find("rows") == [{"id": "kept"}]
    finally:
        store.close()


def test_file_names_cannot_escape():
    store = Store(None)
    try:
        for name in ("../x", ".hidden", "a/b", ""):
            with pytest.raises(ValueError):
                store.write_file("results", "r", name, b"")
        assert store.read_file("results", "r", "../../etc/passwd") is None
    finally:
        store.close()
