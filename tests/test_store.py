"""The store: journal durability, torn writes, checkpoints, schema guard, process lock, snapshots,
opening without rewriting, lazy indexes, private files."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import threading
import time

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
    assert sorted(os.listdir(tmp_path)) == ["db.json", "db.json.cache"]


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


@pytest.mark.parametrize("where", ["file", "memory"])
def test_file_names_cannot_escape_on_either_backend(tmp_path, where):
    store = Store(tmp_path / "db.json" if where == "file" else None, checkpoint_interval=0)
    try:
        for parts in (("..", "r", "x"), ("results", ".hidden", "x"), ("results", "a/b", "x"), ("", "r", "x")):
            with pytest.raises(ValueError):
                store.write_file(*parts, b"")
            assert store.read_file(*parts) is None
        with pytest.raises(ValueError):
            store.delete_files("results", "../..")
    finally:
        store.close()


def test_an_in_memory_store_keeps_its_files_off_the_disk(monkeypatch):
    """The pytest plugin's and intercept mode's emulators: a finished job's files cost no file-system call."""
    store = Store(None)
    try:
        def no_disk(*arguments, **keywords):
            raise AssertionError("an in-memory store wrote a file")

        monkeypatch.setattr("vilvik_emulator.store.atomic_write", no_disk)
        monkeypatch.setattr("vilvik_emulator.store.os.replace", no_disk)
        assert store.write_file("results", "r1", "log.txt", bytearray(b"one")) == 3
        store.write_file("results", "r2", "log.txt", b"two")
        assert store.read_file("results", "r1", "log.txt") == b"one"
        assert store.file_owners("results") == ["r1", "r2"]
        store.delete_files("results", "r1")
        assert store.read_file("results", "r1", "log.txt") is None and store.file_owners("results") == ["r2"]
        store.clear(["results"])
        assert store.file_owners("results") == [] and store.read_file("results", "r2", "log.txt") is None
        assert not hasattr(store, "files_dir")
    finally:
        store.close()


def test_an_in_memory_file_written_over_in_a_failed_transaction_gets_its_old_content_back():
    store = Store(None)
    try:
        store.write_file("results", "r1", "log.txt", b"old")
        with pytest.raises(RuntimeError), store.transaction():
            store.write_file("results", "r1", "log.txt", b"new")
            store.write_file("results", "r1", "chart.svg", b"<svg/>")
            raise RuntimeError("undo")
        assert store.read_file("results", "r1", "log.txt") == b"old"
        assert store.read_file("results", "r1", "chart.svg") is None
    finally:
        store.close()


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_snapshot_moves_files_between_backends(tmp_path, where):
    source = Store(None)
    target = Store(tmp_path / "db.json" if where == "file" else None, checkpoint_interval=0)
    try:
        source.insert("results", {"id": "r1"})
        source.write_file("results", "r1", "result.json", b'{"a": 1}')
        source.write_file("submissions", "s1", "population.json", b"[[1]]")
        target.write_file("results", "old", "log.txt", b"gone after the import")
        snapshot = json.loads(json.dumps(source.export()))
        assert sorted(snapshot["files"]) == ["results/r1/result.json", "submissions/s1/population.json"]
        target.import_(snapshot)
        assert target.read_file("results", "r1", "result.json") == b'{"a": 1}'
        assert target.read_file("submissions", "s1", "population.json") == b"[[1]]"
        assert target.read_file("results", "old", "log.txt") is None
        assert target.export()["files"] == snapshot["files"]
    finally:
        source.close()
        target.close()


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_new_records_files_are_written_at_once(tmp_path, where):
    store = Store(tmp_path / "db.json" if where == "file" else None, checkpoint_interval=0)
    try:
        sizes = store.write_files("results", "r1", {"result.json": b'{"a": 1}', "log.txt": b"", "chart.svg": b"<svg/>"})
        assert sizes == {"result.json": 8, "log.txt": 0, "chart.svg": 6}
        assert store.read_file("results", "r1", "result.json") == b'{"a": 1}'
        assert store.read_file("results", "r1", "log.txt") == b""
        # a record that has files already: the batch is written file by file, over what is there
        assert store.write_files("results", "r1", {"log.txt": b"more"}) == {"log.txt": 4}
        assert store.read_file("results", "r1", "log.txt") == b"more"
        assert store.read_file("results", "r1", "chart.svg") == b"<svg/>"
        if where == "file":
            directory = tmp_path / "db.files" / "results" / "r1"
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700
            assert {stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()} == {0o600}
        with pytest.raises(ValueError):
            store.write_files("results", "r2", {"../x": b""})
        assert "r2" not in store.file_owners("results")
    finally:
        store.close()


def test_a_batch_that_fails_half_way_leaves_nothing_on_disk(tmp_path, monkeypatch):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    try:
        real_fsync, calls = os.fsync, []

        def second_fsync_fails(fd):
            calls.append(fd)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
            real_fsync(fd)

        monkeypatch.setattr("vilvik_emulator.store.os.fsync", second_fsync_fails)
        with pytest.raises(OSError):
            store.write_files("results", "r1", {"a.json": b"{}", "b.json": b"{}", "c.json": b"{}"})
        monkeypatch.undo()
        assert store.file_owners("results") == []
        assert not (tmp_path / "db.files" / "results" / "r1").exists()
    finally:
        store.close()


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_batch_inside_a_failed_transaction_is_taken_back(tmp_path, where):
    store = Store(tmp_path / "db.json" if where == "file" else None, checkpoint_interval=0)
    try:
        with pytest.raises(RuntimeError), store.transaction():
            store.insert("submissions", {"id": "s1"})
            store.write_files("submissions", "s1", {"initial_population.json": b"[[1, 2]]"})
            raise RuntimeError("undo")
        assert store.get("submissions", "s1") is None
        assert store.read_file("submissions", "s1", "initial_population.json") is None
        assert store.file_owners("submissions") == []
    finally:
        store.close()


@pytest.mark.parametrize("relative", ["results/x", "results/x/y/z.txt", "results/.x/log.txt", "/results/x/log.txt"])
def test_a_snapshot_file_path_must_be_table_id_name(relative):
    store = Store(None)
    try:
        with pytest.raises(ValueError, match="is not <table>/<record id>/<name>"):
            store.import_({"schema_version": 1, "tables": {}, "files": {relative: ""}})
    finally:
        store.close()


# ---------------------------------------------------------------------- opening without rewriting


def _write_more_then_die(path: str, start: int, count: int) -> None:
    store = Store(path, checkpoint_interval=0)
    for index in range(start, start + count):
        store.insert("things", {"id": f"t{index}", "value": index})
    os._exit(0)


def crash_after_more_writes(path, start: int, count: int) -> None:
    process = multiprocessing.get_context("fork").Process(target=_write_more_then_die, args=(str(path), start, count))
    process.start()
    process.join(30)
    assert process.exitcode == 0


def test_opening_after_a_crash_replays_the_journal_without_rewriting_the_file(tmp_path):
    path = tmp_path / "db.json"
    crash_after_writes(path, 50)
    before = path.stat()
    store = Store(path, checkpoint_interval=0)
    try:
        assert store.count("things") == 50
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert (tmp_path / "db.json.journal").stat().st_size > 0, "the replayed changes stay in the journal"
    finally:
        store.close()
    assert len(json.loads(path.read_text())["things"]) == 50


def test_writes_after_a_torn_journal_line_survive_the_next_crash(tmp_path):
    path = tmp_path / "db.json"
    crash_after_writes(path, 3)
    with open(tmp_path / "db.json.journal", "ab") as journal:
        journal.write(b'{"op":"put","t":"things","k":"99","doc":{"id":"half')
    crash_after_more_writes(path, 3, 2)  # appends to the journal after the torn line
    store = Store(path)
    try:
        assert sorted(row["id"] for row in store.find("things")) == ["t0", "t1", "t2", "t3", "t4"]
    finally:
        store.close()


def test_a_checkpoint_cut_short_by_a_crash_is_finished_on_open(tmp_path):
    path = tmp_path / "db.json"
    crash_after_writes(path, 3)
    # The crash came after the checkpoint rotated the journal, before it wrote the file.
    os.replace(tmp_path / "db.json.journal", tmp_path / "db.json.journal.old")
    (tmp_path / "db.json.journal").write_text("".join(
        json.dumps({"op": "put", "t": "things", "k": str(100 + index), "doc": {"id": f"t{index}", "value": index}})
        + "\n" for index in (3, 4)))
    store = Store(path, checkpoint_interval=0)
    try:
        assert store.count("things") == 5
        assert not (tmp_path / "db.json.journal.old").exists()
        assert len(json.loads(path.read_text())["things"]) == 5
    finally:
        store.close()


def test_closing_after_only_reads_leaves_the_file_untouched(tmp_path):
    path = tmp_path / "db.json"
    store = Store(path)
    store.insert("rows", {"id": "a"})
    store.close()
    before = path.stat()
    reopened = Store(path)
    assert reopened.get("rows", "a") == {"id": "a"}
    reopened.close()
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_an_order_index_is_built_on_first_read_and_kept_up_to_date():
    store = Store(None)
    calls = []

    def key(row: dict) -> tuple:
        calls.append(row["id"])
        return (row["n"], row["id"])

    try:
        for index, n in enumerate([3, 1, 2]):
            store.insert("rows", {"id": f"r{index}", "n": n})
        store.ensure_order("rows", "by_n", key)
        assert calls == [], "ensure_order sorts nothing until the index is read"
        store.insert("rows", {"id": "r3", "n": 0})
        assert [row_id for _, row_id in store.ordered("rows", "by_n")] == ["r3", "r1", "r2", "r0"]
        store.update("rows", "r0", {"n": -1})
        store.remove("rows", "r1")
        assert [row_id for _, row_id in store.ordered("rows", "by_n")] == ["r0", "r3", "r2"]
        store.clear(["rows"])
        assert store.ordered("rows", "by_n") == []
    finally:
        store.close()


# ---------------------------------------------------------------------- private files


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_every_file_and_directory_the_store_creates_is_private(tmp_path, umask):
    path = tmp_path / "new" / "nested" / "db.json"
    store = Store(path, checkpoint_interval=0)
    try:
        store.insert("accounts", {"id": "a", "secret": "vlk_test_x"})
        store.write_file("results", "r1", "log.txt", b"output")
        files = tmp_path / "new" / "nested" / "db.files"
        created = {
            "new": tmp_path / "new", "nested": tmp_path / "new" / "nested", "db.files": files,
            "db.files/results": files / "results", "db.files/results/r1": files / "results" / "r1",
        }
        assert {name: oct(mode(directory)) for name, directory in created.items()} == {
            name: oct(0o700) for name in created}
        private = {"db.json": path, "journal": path.with_name("db.json.journal"),
                   "lock": path.with_name("db.json.lock"), "log.txt": files / "results" / "r1" / "log.txt"}
        assert {name: oct(mode(file)) for name, file in private.items()} == {name: oct(0o600) for name in private}
        store.checkpoint()
        assert oct(mode(path)) == oct(0o600) and oct(mode(path.with_name("db.json.journal"))) == oct(0o600)
    finally:
        store.close()
    assert oct(mode(path.with_name("db.json.cache"))) == oct(0o600)


def test_an_existing_files_directory_is_made_private_on_open(tmp_path):
    path = tmp_path / "db.json"
    Store(path).close()
    (tmp_path / "db.files").mkdir(mode=0o755)
    os.chmod(tmp_path / "db.files", 0o755)
    Store(path).close()
    assert oct(mode(tmp_path / "db.files")) == oct(0o700)


def test_temporary_files_a_crash_left_behind_are_removed_on_open(tmp_path):
    path = tmp_path / "db.json"
    store = Store(path)
    store.write_file("results", "r1", "log.txt", b"kept")
    store.close()
    stale = [tmp_path / ".db.json.k2j3h4", tmp_path / "db.files" / ".tmp" / ".log.txt.x8y9z0"]
    for leftover in stale:
        leftover.parent.mkdir(parents=True, exist_ok=True)
        leftover.write_bytes(b"")
    unrelated = tmp_path / ".other-tool-state"
    unrelated.write_text("not ours")
    store = Store(path)
    try:
        assert [leftover for leftover in stale if leftover.exists()] == []
        assert unrelated.exists()
        assert store.read_file("results", "r1", "log.txt") == b"kept"
        assert store.export()["files"] == {"results/r1/log.txt": "a2VwdA=="}
    finally:
        store.close()


def test_clearing_tables_is_immediate_and_their_files_are_deleted_after(tmp_path):
    store = Store(tmp_path / "db.json", checkpoint_interval=0)
    try:
        for _ in range(300):  # a busy suite's resets: the background deletion must keep up
            for table in ("a", "b", "c"):
                store.insert(table, {"id": "x"})
            store.clear(["a", "b", "c"])
        for index in range(300):
            store.insert("results", {"id": f"r{index}"})
            store.write_file("results", f"r{index}", "log.txt", b"x")
        store.ensure_order("results", "by_id", lambda row: (row["id"],))
        assert len(store.ordered("results", "by_id")) == 300
        store.clear(["results"])
        assert store.count("results") == 0 and store.find("results") == []
        assert store.ordered("results", "by_id") == []
        assert store.read_file("results", "r1", "log.txt") is None
        assert not (tmp_path / "db.files" / "results").exists()
        store.insert("results", {"id": "r1"})  # the same ids are free again at once
        assert store.ordered("results", "by_id") == [(("r1",), "r1")]
        deadline = time.monotonic() + 30
        while any((tmp_path / "db.files" / ".tmp").iterdir()):
            assert time.monotonic() < deadline, "the cleared files were never deleted"
            threading.Event().wait(0.01)
    finally:
        store.close()


# ---------------------------------------------------------------------- the load cache


def test_a_clean_stop_leaves_a_load_cache_the_next_open_reads_instead_of_the_json(tmp_path):
    path = tmp_path / "db.json"
    store = Store(path)
    store.insert("rows", {"id": "a", "nested": {"list": [1, 2.5, None, True, "x"]}})
    store.close()
    assert (tmp_path / "db.json.cache").exists()
    # Same size, same modification time, but no longer JSON: only the cache can be read.
    before = path.stat()
    path.write_bytes(b" " * before.st_size)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    store = Store(path)
    try:
        assert store.get("rows", "a") == {"id": "a", "nested": {"list": [1, 2.5, None, True, "x"]}}
    finally:
        store.close()


def test_the_load_cache_is_ignored_once_the_file_changed(tmp_path):
    path = tmp_path / "db.json"
    store = Store(path)
    store.insert("rows", {"id": "a"})
    store.close()
    database = TinyDB(path)  # an edit by hand while no server runs
    database.table("rows").insert({"id": "b"})
    database.close()
    store = Store(path)
    try:
        assert sorted(row["id"] for row in store.find("rows")) == ["a", "b"]
    finally:
        store.close()


@pytest.mark.parametrize("damage", ["truncated", "flipped-byte", "empty"])
def test_a_damaged_load_cache_is_ignored(tmp_path, damage):
    path = tmp_path / "db.json"
    store = Store(path)
    store.insert("rows", {"id": "a", "value": "x" * 1000})
    store.close()
    cache = tmp_path / "db.json.cache"
    raw = bytearray(cache.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    elif damage == "flipped-byte":
        raw[-10] ^= 0xFF
    else:
        raw = bytearray()
    cache.write_bytes(bytes(raw))
    store = Store(path)
    try:
        assert store.get("rows", "a") == {"id": "a", "value": "x" * 1000}
    finally:
        store.close()


def test_only_a_large_database_is_exempted_from_the_collector_and_only_while_open(tmp_path):
    import gc

    small, large = tmp_path / "small.json", tmp_path / "large.json"
    Store(small).close()
    store = Store(large, checkpoint_interval=0)
    for index in range(1200):
        store.insert("rows", {"id": f"r{index}", "padding": "x" * 1000})
    store.close()
    assert large.stat().st_size >= 1024 * 1024
    assert gc.get_freeze_count() == 0
    Store(small).close()
    assert gc.get_freeze_count() == 0, "a small database freezes nothing"
    store = Store(large)
    try:
        assert gc.get_freeze_count() > 0 and store.count("rows") == 1200
    finally:
        store.close()
    assert gc.get_freeze_count() == 0
