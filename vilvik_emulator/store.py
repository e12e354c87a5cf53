"""The store: every record the emulator keeps, in one TinyDB JSON file.

This is the only module that imports TinyDB. TinyDB rewrites its whole file on every
write and is not thread-safe, so the store puts three things around it:

* one re-entrant lock around every operation;
* a write-ahead journal: a change is appended to ``<db>.journal`` (JSON lines) and
  fsync'd before the call returns, so a write acknowledged to a client survives a
  crash without rewriting the whole database on every request; a transaction's
  changes are one line (``{"op":"tx","r":[...]}``), written when it commits, so a
  crash keeps all of a transaction or none of it;
* transactions that roll back: :meth:`Store.transaction` applies its writes at once
  (the thread holding it reads its own writes) and keeps an undo log, so an exception
  leaves memory, journal and files as they were before it began;
* checkpoints: the database is written to the TinyDB file atomically (temp file,
  fsync, rename, fsync of the directory) every few seconds while there are changes,
  on close when anything changed, and early when the journal grows large. On open, the
  file is loaded and the journals replayed over it (replay is idempotent: a record
  carries the whole new document); the journal is then kept and appended to, so
  opening never rewrites the database (except to finish a checkpoint a crash cut short).

Every file and directory the store creates is private to the user (0600 / 0700,
whatever the umask): the journal holds the default key's secret. Temporary files a
crash left behind are removed when the database is opened.

Opening a large database costs its parsing and little else: id maps and sorted indexes
are built when first used, and a clean close leaves ``<db>.cache``, the same data in
``marshal`` form (read in well under half the time of the JSON), which the next open
uses while the database file is exactly as that close left it.

Between checkpoints the file is a plain TinyDB database (``TinyDB(path)`` reads it;
documents carry their own string ``id``, TinyDB's integer document ids are internal).
Large write-once artifacts (populations, logs, charts) live beside it in
``<db stem>.files/`` rather than in the documents, so the hot path stays small; an
in-memory store keeps them in memory too.

Returned documents are shallow copies; stored documents are never mutated in place
(a write swaps in a fresh document), so callers must write through :meth:`Store.update`.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import copy
import fcntl
import functools
import gc
import json
import marshal
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from .threads import supervised

SCHEMA_VERSION = 1
LOAD_CACHE_FORMAT = 1
#: a database file at least this large has what it loaded exempted from the collector
FREEZE_MIN_BYTES = 1024 * 1024
META_TABLE = "_meta"
#: a checkpoint rewrites the whole file, so it waits until the journal holds at least
#: this much, or a quarter of the database (amortised O(1) per write) ...
CHECKPOINT_MIN_BYTES = 1024 * 1024
#: ... or until writes have been quiet for ``checkpoint_interval`` seconds (when the
#: file is small or the journal is a fair part of it), or until the oldest unwritten
#: change is this old
CHECKPOINT_MAX_AGE = 60.0

Predicate = Callable[[dict], bool]


class StoreError(RuntimeError):
    """The database cannot be opened (locked by another process, newer schema, corrupt).

    ``owner`` describes the process holding the lock, when that is the reason.
    """

    def __init__(self, message: str, owner: dict | None = None) -> None:
        super().__init__(message)
        self.owner = owner


def read_lock_info(path: str | os.PathLike) -> dict | None:
    """What the process holding ``path``'s lock wrote about itself, if anything."""
    try:
        info = json.loads(Path(str(path) + ".lock").read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


class _InPlaceTable(Table):
    """A TinyDB table whose writes cost O(1) instead of O(rows).

    TinyDB's ``_update_table`` copies the whole table twice per write to convert
    document ids between ``int`` and the storage's ``str`` keys. The store always
    addresses rows by their string key, so it updates the table dict in place.
    """

    def _update_table(self, updater: Callable[[dict], None]) -> None:
        tables = self._storage.read()
        if tables is None:
            tables = {}
        updater(tables.setdefault(self.name, {}))
        self._storage.write(tables)
        self.clear_cache()

    def put_document(self, key: str, document: dict) -> None:
        def updater(table: dict) -> None:
            table[key] = document

        self._update_table(updater)

    def raw_document(self, key: str) -> dict | None:
        return cast(dict | None, self._read_table().get(key))

    def raw_documents(self) -> Iterable[dict]:
        return cast(Iterable[dict], self._read_table().values())

    def delete_document(self, key: str) -> None:
        def updater(table: dict) -> None:
            table.pop(key, None)

        self._update_table(updater)

    def detach_documents(self) -> dict:
        """Empty the table in O(1): its documents are handed back, not freed here."""
        tables = cast(dict, self._storage.read() or {})
        documents = tables.get(self.name, {})
        tables[self.name] = {}
        self._storage.write(tables)
        return documents


class _Database(TinyDB):
    table_class = _InPlaceTable


@dataclass
class _Order:
    """A sorted index; ``entries`` is built on first read (``None`` until then), so that
    opening a large database does not pay for sorting tables nobody lists."""

    key: Callable[[dict], tuple]
    entries: list | None = None


class _MemoryStorage(Storage):
    """TinyDB storage that keeps the data in memory; the store decides when it reaches disk."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, dict[str, Any]] | None = None

    def read(self) -> dict[str, dict[str, Any]] | None:
        return self.data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.data = data


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_directory(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents as 0700 (``mkdir``'s mode is cut by the umask);
    the directories it created, outermost first.

    Directories that already exist are left as they are: they may be the user's own.
    """
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
        os.chmod(directory, 0o700)
    return missing[::-1]


def _open_private(path: Path, flags: int, mode: str) -> IO[Any]:
    """``open()`` for a file only the user may read, whatever the umask."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode)


def atomic_write(path: Path, payload: bytes, *, durable: bool = True, temporary_dir: Path | None = None) -> None:
    """Write a private (0600) file so that a crash leaves either the old or the new content.

    ``durable=False`` skips the fsyncs (an in-memory emulator's scratch files). The
    temporary file is made in ``temporary_dir`` (default: beside ``path``; it must be
    on the same file system), named ``.<name>.*`` so that a crash's leftovers are
    recognisable.
    """
    private_directory(path.parent)
    directory = temporary_dir or path.parent
    private_directory(directory)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if durable:
        _fsync_directory(path.parent)


def _shared_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {sys.intern(key): value for key, value in pairs}


#: decodes a journal record with every object key interned: thousands of documents then
#: share one copy of each field name (less memory, and a load cache half the size,
#: since marshal writes a shared string once)
_decode_record = functools.partial(json.loads, object_pairs_hook=_shared_keys)


@contextlib.contextmanager
def _collector_paused(freeze: bool) -> Iterator[None]:
    """Load a database without the cyclic garbage collector; with ``freeze``, exempt what
    was loaded from later collections.

    A large database is hundreds of thousands of containers that live as long as the
    process: collecting while they are created, and traversing them in every full
    collection after, cost more than parsing them. ``gc.freeze`` moves everything
    alive into the permanent generation (plain refcounting still frees documents a
    write replaces: they hold no cycles); :meth:`Store.close` undoes it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def _serialise(data: dict) -> bytes:
    """The TinyDB file content, encoded one document at a time.

    The C JSON encoder holds the GIL for a whole call; encoding per document lets
    request threads run between documents while a large database is checkpointed.
    """
    encode = json.JSONEncoder(separators=(",", ":")).encode
    parts = []
    for name, table in data.items():
        rows = ",".join(f"{encode(str(key))}:{encode(document)}" for key, document in table.items())
        parts.append(f"{encode(name)}:{{{rows}}}")
    return ("{" + ",".join(parts) + "}").encode()


class _Reaper:
    """Frees what the store dropped on a thread of its own, a slice at a time.

    A reset empties tables of thousands of documents; freeing them (and deleting their
    result files) in the request would cost milliseconds per thousand rows. A table is
    detached at once and handed here; the thread starts a moment later (the request that
    dropped it has answered by then), pops the entries in small batches and yields the
    interpreter between them, so requests keep running meanwhile.
    """

    BATCH = 64
    DELAY = 0.05

    def __init__(self) -> None:
        self.start_afresh()

    def start_afresh(self) -> None:
        """Forget any queue, lock and thread (a forked child inherits them in any state)."""
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def discard(self, container: dict | list) -> None:
        if container:
            self._put(container)

    def discard_directory(self, path: Path) -> None:
        self._put(path)

    def _put(self, item: dict | list | Path) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                # supervised: a burst that fails is logged and the next one runs (issue "Hardening" #5)
                self._thread = supervised("vilvik-store-reaper", self._run, threading.Event())
        self._queue.put(item)

    def _run(self) -> bool:
        """One burst: wait for something to free, then free everything that arrived meanwhile."""
        items = [self._queue.get()]
        time.sleep(self.DELAY)
        with contextlib.suppress(queue.Empty):
            while True:  # one delay for everything that arrived meanwhile, not one per item
                items.append(self._queue.get_nowait())
        while items:
            item = items.pop()
            if isinstance(item, Path):
                shutil.rmtree(item, ignore_errors=True)
                continue
            pop = item.popitem if isinstance(item, dict) else item.pop
            while item:
                for _ in range(min(self.BATCH, len(item))):
                    pop()
                time.sleep(0)  # let a request in between two batches
        return True


_reaper = _Reaper()
# A forked child gets the reaper's lock in whatever state it was and none of its thread.
os.register_at_fork(after_in_child=_reaper.start_afresh)


class Store:
    """Thread-safe document store over TinyDB with a durable journal.

    ``path=None`` keeps everything in memory (tests, ``serve --memory``), files
    included: a test suite's emulator never touches the disk for them (a finished job
    writes four, which cost ~3 ms of file-system calls on a virtual disk).
    """

    def __init__(self, path: str | os.PathLike | None, *, checkpoint_interval: float = 2.0) -> None:
        self._lock = threading.RLock()
        self._checkpoint_lock = threading.Lock()
        self._db = _Database(storage=_MemoryStorage)
        self._storage: _MemoryStorage = self._db.storage  # type: ignore[assignment]
        self._tables: dict[str, _InPlaceTable] = {}
        #: table -> our string id -> TinyDB's document key, built on the table's first
        #: lookup (see :meth:`_key_map`)
        self._keys: dict[str, dict[str, str]] = {}
        #: table -> index name -> rows kept sorted by a key (see :meth:`ensure_order`)
        self._orders: dict[str, dict[str, _Order]] = {}
        #: the highest key or sequence number handed out; None until first needed
        self._seq: int | None = 0
        #: journal lines of the open transaction, written (as one) when it commits
        self._pending: list[bytes] = []
        self._pending_durable = False
        self._transaction_depth = 0
        #: what undoes each write of the open transaction, oldest first (None outside one)
        self._undo: list[tuple] | None = None
        #: the thread whose transaction it is (files written by others are not its own)
        self._transaction_owner: int | None = None
        self._journal_bytes = 0
        self._file_bytes = 0
        self._last_write = 0.0
        self._first_unwritten: float | None = None
        self._journal: IO[bytes] | None = None
        self._lock_handle: IO[str] | None = None
        self._closing = False
        self._wake_checkpointer = threading.Event()
        self._stop_checkpointer = threading.Event()
        self._checkpointer: threading.Thread | None = None
        #: the file's fingerprint when the load cache read at open matched it
        self._cached_fingerprint: bytes | None = None
        self._froze_collector = False
        self.path = Path(path).resolve() if path is not None else None
        #: an in-memory store's files: owner table -> owner id -> name -> content
        self._memory_files: dict[str, dict[str, dict[str, bytes]]] | None = None
        if self.path is None:
            self._memory_files = {}
            self._check_schema()
            return
        #: a store on disk keeps its files here, as ``<owner table>/<owner id>/<name>``
        self.files_dir = self.path.parent / f"{self.path.stem}.files"
        try:
            self._open_file()
        except BaseException:
            self._abandon_open()
            raise
        if checkpoint_interval > 0:
            # supervised: a checkpoint that fails (a full disk) is logged and retried, never the end of checkpoints
            self._checkpointer = supervised("vilvik-store-checkpoint",
                                            functools.partial(self._checkpoint_step, checkpoint_interval),
                                            self._stop_checkpointer)

    # ------------------------------------------------------------------ opening

    def _sibling(self, suffix: str) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + suffix)

    @property
    def journal_path(self) -> Path:
        return self._sibling(".journal")

    @property
    def rotated_journal_path(self) -> Path:
        return self._sibling(".journal.old")

    @property
    def load_cache_path(self) -> Path:
        return self._sibling(".cache")

    @property
    def lock_path(self) -> Path:
        return self._sibling(".lock")

    @property
    def _files_temporary_dir(self) -> Path:
        """Where result files are written before their rename: one place to clean at start."""
        return self.files_dir / ".tmp"

    def _open_file(self) -> None:
        assert self.path is not None
        private_directory(self.path.parent)
        self._acquire_process_lock()
        self._remove_stale_temporaries()
        # Only a large database is worth freezing (a frozen object's cycles are never
        # collected: a test suite opening many small databases would keep their garbage).
        self._froze_collector = self.path.exists() and self.path.stat().st_size >= FREEZE_MIN_BYTES
        with _collector_paused(self._froze_collector):
            self._storage.data = self._load_file()
            self._forget_indexes()
            interrupted_checkpoint = self.rotated_journal_path.exists()
            self._replay_journal(self.rotated_journal_path)
            journal_bytes = self._replay_journal(self.journal_path)
        initialised = self._check_schema()
        self._file_bytes = self.path.stat().st_size if self.path.exists() else 0
        if initialised or interrupted_checkpoint:
            # A new database gets its (small) file at once; a checkpoint a crash cut
            # short is finished now, because the next one would overwrite .journal.old.
            payload = _serialise(self._storage.data or {})
            atomic_write(self.path, payload)
            self._file_bytes = len(payload)
            self.journal_path.unlink(missing_ok=True)
            self.rotated_journal_path.unlink(missing_ok=True)
            journal_bytes = 0
        self._journal = _open_private(self.journal_path, os.O_WRONLY | os.O_APPEND, "ab")
        # Appending after a torn last line would glue the next record onto it.
        self._journal.truncate(journal_bytes)
        self._journal_bytes = journal_bytes
        if journal_bytes:
            # The replayed changes stay in the journal; the checkpointer folds them in.
            self._last_write = self._first_unwritten = time.monotonic()
        if self.files_dir.exists():
            os.chmod(self.files_dir, 0o700)  # a database from before files were private

    def _abandon_open(self) -> None:
        """After an open that failed (a corrupt or newer file): release the lock and
        remove its file, so a refused database leaves nothing behind."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._lock_handle is not None:
            self.lock_path.unlink(missing_ok=True)
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def _load_file(self) -> dict[str, dict[str, Any]]:
        assert self.path is not None
        if not self.path.exists() or self.path.stat().st_size == 0:
            return {}
        fingerprint = self._fingerprint()
        data = self._read_load_cache(fingerprint)
        if data is not None:
            self._cached_fingerprint = fingerprint
            return data
        try:
            data = json.loads(self.path.read_bytes())
        except ValueError as error:
            raise StoreError(f"{self.path} is not a valid TinyDB JSON file: {error}") from None
        if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
            raise StoreError(f"{self.path} is not a TinyDB JSON file")
        return data

    # A copy of the database that loads in well under half the time JSON takes (marshal
    # builds the same dicts and lists without parsing text), written on close. It is
    # used only while the database file still has the size and modification time it
    # had then, and only if its CRC-32 holds (it guards against a torn or damaged file;
    # the cache is as private as the database); anything else means reading the JSON.

    def _fingerprint(self) -> bytes:
        assert self.path is not None
        stat = self.path.stat()
        return json.dumps({"format": LOAD_CACHE_FORMAT, "python": list(sys.version_info[:2]),
                           "marshal": marshal.version, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
                          separators=(",", ":")).encode()

    def _read_load_cache(self, fingerprint: bytes) -> dict[str, dict[str, Any]] | None:
        try:
            raw = self.load_cache_path.read_bytes()
        except OSError:
            return None
        end = raw.find(b"\n")
        payload = memoryview(raw)[end + 5:]  # no copy of a large cache
        if end < 0 or raw[:end] != fingerprint or raw[end + 1:end + 5] != zlib.crc32(payload).to_bytes(4, "big"):
            return None
        try:
            data = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or not all(isinstance(table, dict) for table in data.values()):
            return None
        return data

    def _write_load_cache(self) -> None:
        assert self.path is not None
        if not self.path.exists():
            return
        fingerprint = self._fingerprint()
        if fingerprint == self._cached_fingerprint:
            return  # the cache read at open still matches the file
        payload = marshal.dumps(self._storage.data or {})
        atomic_write(self.load_cache_path, fingerprint + b"\n" + zlib.crc32(payload).to_bytes(4, "big") + payload,
                     durable=False)  # a lost or torn cache only costs a slower start

    def _remove_stale_temporaries(self) -> None:
        """Delete what a crash left mid-write: ``.db.json.*`` beside the database, and
        the result files' temporary directory (no other process can be writing: the
        caller holds the database's lock)."""
        assert self.path is not None
        prefix = f".{self.path.name}."
        for entry in os.scandir(self.path.parent):
            if entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        shutil.rmtree(self._files_temporary_dir, ignore_errors=True)

    def _acquire_process_lock(self) -> None:
        assert self.path is not None
        handle = _open_private(self.lock_path, os.O_RDWR, "r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            owner = read_lock_info(self.path) or {}
            described = f"pid {owner['pid']}" if owner.get("pid") else "another process"
            if owner.get("url"):
                described += f", serving {owner['url']}"
            raise StoreError(f"the database {self.path} is in use by {described}; "
                             "stop it or choose another --db", owner=owner) from None
        self._lock_handle = handle
        self.annotate_lock({})

    def annotate_lock(self, info: dict) -> None:
        """Record who holds the database (pid, and the server URL) so the CLI can find it."""
        if self._lock_handle is None:
            return
        self._lock_handle.seek(0)
        self._lock_handle.truncate()
        self._lock_handle.write(json.dumps({"pid": os.getpid(), **info}))
        self._lock_handle.flush()

    def _forget_indexes(self) -> None:
        """After loading a file: the id maps and the sequence are rebuilt when first needed,
        so opening costs nothing per row beyond parsing (the first request on a table pays
        for its own map)."""
        self._keys = {}
        self._seq = None

    def _key_map(self, table: str) -> dict[str, str]:
        keys = self._keys.get(table)
        if keys is None:
            documents = (self._storage.data or {}).get(table, {})
            keys = self._keys[table] = {document.get("id", key): key for key, document in documents.items()}
        return keys

    def _next_number(self) -> int:
        if self._seq is None:
            highest = [0]
            for table in (self._storage.data or {}).values():
                highest.extend(int(key) for key in table if key.isdigit())
                highest.extend(seq for document in table.values() if isinstance(seq := document.get("seq"), int))
            self._seq = max(highest)
        self._seq += 1
        return self._seq

    def _replay_journal(self, journal: Path) -> int:
        """Apply a journal's records; returns the length of its valid part in bytes."""
        if not journal.exists():
            return 0
        valid = 0
        with open(journal, "rb") as handle:
            for line in handle:
                try:
                    record = _decode_record(line)
                except ValueError:
                    break  # a torn last line: that write was never acknowledged
                if not line.endswith(b"\n"):
                    break  # complete JSON but cut before its newline: not acknowledged either
                for change in record["r"] if record["op"] == "tx" else (record,):
                    self._apply(change)
                valid += len(line)
        return valid

    def _check_schema(self) -> bool:
        """Refuse a newer schema; returns True when the schema record was just created."""
        meta = self.get(META_TABLE, "schema")
        if meta is None:
            self._apply({"op": "put", "t": META_TABLE, "k": self._new_key(META_TABLE, "schema"),
                         "doc": {"id": "schema", "version": SCHEMA_VERSION}})
            return True
        if meta.get("version", 0) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer vilvik-emulator (schema {meta['version']}; this one "
                f"reads up to {SCHEMA_VERSION}); upgrade vilvik-emulator or choose another --db")
        return False

    # ------------------------------------------------------------------ journal

    def _table(self, name: str) -> _InPlaceTable:
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = cast(_InPlaceTable, self._db.table(name, cache_size=0))
        return table

    def _new_key(self, table: str, record_id: str) -> str:
        key = self._key_map(table).get(record_id)
        return key if key is not None else str(self._next_number())

    def _apply(self, record: dict) -> None:
        """Apply one change in memory; inside a transaction, note first what undoes it."""
        op, name = record["op"], record["t"]
        table = self._table(name)
        keys = self._key_map(name)
        orders = self._orders.get(name, {})
        undo = self._undo
        if op == "put":
            document = record["doc"]
            if undo is not None or orders:
                old_key = keys.get(document["id"])
                old = table.raw_document(old_key) if old_key is not None else None
                if undo is not None:
                    undo.append(("put", name, document["id"], old_key, old))
                if orders:
                    self._unorder(name, old)
            table.put_document(record["k"], document)
            keys[document["id"]] = record["k"]
            if self._seq is not None:
                self._seq = max(self._seq, int(record["k"]))
            for order in orders.values():
                if order.entries is not None:
                    bisect.insort(order.entries, (order.key(document), document["id"]))
        elif op == "del":
            key = keys.pop(record["id"], None)
            if key is not None:
                old = table.raw_document(key)
                if undo is not None:
                    undo.append(("del", name, record["id"], key, old))
                if orders:
                    self._unorder(name, old)
                table.delete_document(key)
        elif op == "clear":
            documents = table.detach_documents()
            entries = {order_name: order.entries for order_name, order in orders.items()}
            self._keys[name] = {}
            for order in orders.values():
                if order.entries is not None:
                    order.entries = []
            cleared = ("clear", name, documents, keys, entries)
            if undo is not None:
                undo.append(cleared)  # kept whole until the transaction ends
            else:
                self._release([cleared])

    def _revert(self, change: tuple) -> None:
        """Undo one change of the open transaction (the newest one not yet undone)."""
        kind = change[0]
        if kind == "put":
            _, name, record_id, key, old = change
            if old is None:
                self._apply({"op": "del", "t": name, "id": record_id})
            else:
                self._apply({"op": "put", "t": name, "k": key, "doc": old})
        elif kind == "del":
            _, name, record_id, key, old = change
            self._apply({"op": "put", "t": name, "k": key, "doc": old})
        elif kind == "clear":
            # Every later change of the table is undone by now: it is empty, and gets its rows back.
            _, name, documents, keys, entries = change
            self._table(name)
            cast(dict, self._storage.data)[name] = documents
            self._keys[name] = keys
            for order_name, order in self._orders.get(name, {}).items():
                order.entries = entries.get(order_name)  # an index made since is rebuilt when next read
        elif kind == "file":
            path = change[1]
            with contextlib.suppress(OSError):
                path.unlink()
                roots = (self.files_dir, self.files_dir.resolve())
                for parent in path.parents:  # the owner's directories, when the file was their first
                    if parent in roots:
                        break
                    parent.rmdir()
        elif kind == "directory":
            shutil.rmtree(change[1], ignore_errors=True)
        elif kind == "memory_file":
            _, table, owner_id, name, previous = change
            owners = cast(dict, self._memory_files).setdefault(table, {})
            files = owners.setdefault(owner_id, {})
            if previous is not None:
                files[name] = previous
            else:
                files.pop(name, None)
                if not files:
                    del owners[owner_id]
        elif kind == "memory_table":
            _, table, owners = change
            cast(dict, self._memory_files)[table] = owners  # what the transaction wrote there since goes
        elif kind == "moved":
            _, path, trash = change
            with contextlib.suppress(OSError):
                if path.is_dir():
                    shutil.rmtree(path)  # what the transaction wrote there since
                os.replace(trash / path.name, path)
                trash.rmdir()

    @staticmethod
    def _release(changes: list[tuple]) -> None:
        """A transaction committed: free what it dropped, in the background (freeing thousands of
        documents takes milliseconds a reset should not wait for)."""
        for change in changes:
            if change[0] == "clear":
                _, _, documents, keys, entries = change
                _reaper.discard(documents)
                _reaper.discard(keys)
                for order_entries in entries.values():
                    if order_entries is not None:
                        _reaper.discard(order_entries)
            elif change[0] == "moved":
                _reaper.discard_directory(change[2])
            elif change[0] == "memory_table":
                _reaper.discard(change[2])

    def _unorder(self, name: str, document: dict | None) -> None:
        if document is None:
            return
        for order in self._orders[name].values():
            if order.entries is None:
                continue
            entry = (order.key(document), document["id"])
            index = bisect.bisect_left(order.entries, entry)
            if index < len(order.entries) and order.entries[index] == entry:
                del order.entries[index]

    def _record(self, record: dict, durable: bool) -> None:
        # Serialising first fills the journal line and gives the stored document its
        # own copy of every nested value (and proves it is plain JSON).
        line = json.dumps(record, separators=(",", ":"), allow_nan=False)
        change = _decode_record(line)
        if self._journal is None:
            self._apply(change)  # in memory: undone by the transaction, if there is one
            return
        if self._transaction_depth:
            self._apply(change)
            self._pending.append(line.encode())
            self._pending_durable = self._pending_durable or durable
            return
        # A write on its own is a transaction of one: undone if its line cannot be written.
        undo = self._undo = []
        try:
            self._apply(change)
            self._pending.append(line.encode())
            self._pending_durable = durable
            try:
                self._flush()
            except BaseException:
                self._roll_back(0, 0)
                raise
        finally:
            self._undo = None
        self._release(undo)

    def _flush(self) -> None:
        """Write the pending lines to the journal: one line, or one ``tx`` line for several.

        A failed write is cut off the journal again, so that it leaves no torn line the
        next append would be glued onto.
        """
        if not self._pending or self._journal is None:
            return
        lines = self._pending
        payload = (lines[0] if len(lines) == 1 else b'{"op":"tx","r":[' + b",".join(lines) + b"]}") + b"\n"
        self._pending = []
        durable, self._pending_durable = self._pending_durable, False
        fd = self._journal.fileno()  # written directly: the file object's buffer is never used
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._journal_bytes)
            raise
        self._journal_bytes += len(payload)
        self._last_write = time.monotonic()
        if self._first_unwritten is None:
            self._first_unwritten = self._last_write
        if self._journal_bytes > max(CHECKPOINT_MIN_BYTES, self._file_bytes // 4):
            self._wake_checkpointer.set()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """Group writes atomically: one lock hold, one journal line and one fsync at the end.

        Writes are applied at once (reads inside see them; other threads wait for the lock)
        and undone if the block raises: the exception propagates and memory, journal and
        the files the store moved or newly wrote are as before the block. A nested
        transaction is a savepoint: its exception undoes its own writes only, and the
        outer one may go on. Only the outermost commit writes the journal; if that write
        fails, the whole transaction is undone. Files written over (rather than created)
        inside a transaction keep their new content.
        """
        with self._lock:
            outermost = self._transaction_depth == 0
            if outermost:
                self._undo = []
                self._transaction_owner = threading.get_ident()
            undo = cast(list, self._undo)
            mark, pending_mark = len(undo), len(self._pending)
            self._transaction_depth += 1
            try:
                yield self
                if outermost:
                    self._flush()
            except BaseException:
                self._roll_back(mark, pending_mark)
                raise
            finally:
                self._transaction_depth -= 1
                if outermost:
                    self._undo = None
                    self._transaction_owner = None
            if outermost:
                self._release(undo)

    def _roll_back(self, mark: int, pending_mark: int) -> None:
        """Undo the open transaction's changes after its ``mark``-th, newest first."""
        undo = cast(list, self._undo)
        del self._pending[pending_mark:]
        self._undo = None  # the undoing is not itself recorded
        try:
            while len(undo) > mark:
                self._revert(undo.pop())
        finally:
            self._undo = undo

    def _note_new_file(self, path: Path) -> None:
        """Inside this thread's transaction, a file about to be created is removed if it rolls back."""
        if self._in_own_transaction() and not path.exists():
            cast(list, self._undo).append(("file", path))

    def _move_aside(self, path: Path) -> None:
        """Take a file or directory out of ``files_dir`` at once (a rename into its temporary
        directory): deleted in the background once the transaction commits, put back if it
        rolls back."""
        private_directory(self._files_temporary_dir)
        trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=self._files_temporary_dir))
        os.replace(path, trash / path.name)
        if self._in_own_transaction():
            cast(list, self._undo).append(("moved", path, trash))
        else:
            _reaper.discard_directory(trash)

    @property
    def lock(self) -> threading.RLock:
        """The store lock; services hold it to make a read-check-write sequence atomic."""
        return self._lock

    def checkpoint(self) -> None:
        """Write the whole database atomically to its file, then drop the journal it covers.

        Under the lock only a shallow copy of the tables is taken and the journal is
        rotated to ``.journal.old``; serialising and writing happen outside it. A crash
        at any point leaves the file plus journals whose replay rebuilds the same state.
        """
        if self.path is None:
            return
        with self._checkpoint_lock:
            with self._lock:
                if self._journal is None:
                    return
                if self._transaction_depth:
                    # This thread's open transaction: the file must not get what it may undo.
                    self._wake_checkpointer.set()
                    return
                self._flush()
                if self._journal_bytes == 0:
                    return  # the file already holds everything (a stop after only reads is instant)
                snapshot = {name: dict(table) for name, table in (self._storage.data or {}).items()}
                self._journal.close()
                os.replace(self.journal_path, self.rotated_journal_path)
                _fsync_directory(self.path.parent)
                self._journal = _open_private(self.journal_path, os.O_WRONLY | os.O_APPEND, "ab")
                self._journal_bytes = 0
                self._first_unwritten = None
            payload = _serialise(snapshot)
            atomic_write(self.path, payload)
            self.rotated_journal_path.unlink(missing_ok=True)
            self._file_bytes = len(payload)

    def _checkpoint_step(self, interval: float) -> bool:
        """One round of the checkpointer: checkpoint when the journal is large, when writes
        pause, or when changes get old; False once the store closes.

        Rewriting a large database every few seconds would stall requests for nothing:
        the journal already makes every write durable.
        """
        self._wake_checkpointer.wait(interval / 2)
        self._wake_checkpointer.clear()
        if self._closing:
            return False
        if self._journal_bytes == 0:
            return True
        now = time.monotonic()
        large = self._journal_bytes > max(CHECKPOINT_MIN_BYTES, self._file_bytes // 4)
        # A pause is a good moment, unless rewriting a big file for a few changes
        # (a key's last use) would cost far more than the changes: those wait.
        worth_it = self._file_bytes < CHECKPOINT_MIN_BYTES or self._journal_bytes * 64 >= self._file_bytes
        quiet = now - self._last_write >= interval and worth_it
        old = self._first_unwritten is not None and now - self._first_unwritten >= CHECKPOINT_MAX_AGE
        if large or quiet or old:
            self.checkpoint()
        return True

    def close(self) -> None:
        """Stop the background checkpointer, checkpoint if anything changed, and release the database lock."""
        if self._closing:
            return
        self._closing = True
        self._stop_checkpointer.set()
        self._wake_checkpointer.set()
        if self._checkpointer is not None and self._checkpointer is not threading.current_thread():
            self._checkpointer.join(timeout=30)
        if self.path is None:
            self._memory_files = {}
            return
        self.checkpoint()
        with self._lock:
            assert self._journal is not None and self._lock_handle is not None
            self._write_load_cache()
            self._journal.close()
            self._journal = None
            self.journal_path.unlink(missing_ok=True)
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self.lock_path.unlink(missing_ok=True)
        if self._froze_collector:
            gc.unfreeze()

    # ------------------------------------------------------------------ documents

    def next_seq(self) -> int:
        """A strictly increasing number: the tie-breaker that keeps list order stable."""
        with self._lock:
            return self._next_number()

    def get(self, table: str, record_id: str) -> dict | None:
        with self._lock:
            document = self.peek(table, record_id)
            return dict(document) if document is not None else None

    def ensure_order(self, table: str, name: str, key: Callable[[dict], tuple]) -> None:
        """Keep ``table``'s rows sorted by ``key`` (which must be unique per row, and
        change only through writes), for pages that need no full sort. The index is
        built on its first :meth:`ordered` and kept up to date by every write after."""
        with self._lock:
            self._orders.setdefault(table, {}).setdefault(name, _Order(key))

    def ordered(self, table: str, name: str) -> list[tuple[tuple, str]]:
        """A snapshot of an index: ascending ``(key, id)`` pairs."""
        with self._lock:
            order = self._orders[table][name]
            if order.entries is None:
                order.entries = sorted((order.key(document), document["id"]) for document in self._rows(table))
            return list(order.entries)

    def peek(self, table: str, record_id: str) -> dict | None:
        """The stored document itself (no copy): strictly read-only, for hot read paths."""
        with self._lock:
            key = self._key_map(table).get(record_id)
            return None if key is None else self._table(table).raw_document(key)

    def scan(self, table: str, predicate: Predicate) -> list[dict]:
        """Stored documents matching ``predicate``, without copies: strictly read-only."""
        with self._lock:
            return [document for document in self._rows(table) if predicate(document)]

    def _rows(self, table: str) -> Iterable[dict]:
        return self._table(table).raw_documents()

    def _documents(self, table: str) -> dict:
        return (self._storage.data or {}).get(table, {})

    def find(self, table: str, predicate: Predicate | None = None) -> list[dict]:
        """Copies of the documents matching ``predicate`` (all of them without one)."""
        with self._lock:
            if predicate is None:
                return [dict(document) for document in self._rows(table)]
            return [dict(document) for document in self._rows(table) if predicate(document)]

    def count(self, table: str, predicate: Predicate | None = None) -> int:
        with self._lock:
            if predicate is None:
                return len(self._documents(table))
            return sum(1 for document in self._rows(table) if predicate(document))

    def insert(self, table: str, document: dict, *, durable: bool = True) -> dict:
        """Add a new document; ``KeyError`` if one with the same ``id`` exists."""
        if not isinstance(document.get("id"), str):
            raise ValueError("documents need a string 'id'")
        with self._lock:
            if document["id"] in self._key_map(table):
                raise KeyError(f"{table} {document['id']} already exists")
            return self.put(table, document, durable=durable)

    def put(self, table: str, document: dict, *, durable: bool = True) -> dict:
        """Insert or replace a whole document."""
        with self._lock:
            key = self._new_key(table, document["id"])
            self._record({"op": "put", "t": table, "k": key, "doc": document}, durable)
            return dict(document)

    def update(self, table: str, record_id: str, changes: dict, *, durable: bool = True) -> dict | None:
        """Change some fields of one document; ``None`` when it does not exist.

        ``durable=False`` skips the fsync, for bookkeeping (a key's ``last_used_at``)
        that may be lost on a power failure but not on a process crash.
        """
        with self._lock:
            current = self.get(table, record_id)
            if current is None:
                return None
            return self.put(table, {**current, **changes}, durable=durable)

    def remove(self, table: str, record_id: str) -> bool:
        with self._lock:
            if record_id not in self._key_map(table):
                return False
            self._record({"op": "del", "t": table, "id": record_id}, True)
            return True

    def remove_where(self, table: str, predicate: Predicate) -> list[dict]:
        with self.transaction():
            removed = self.find(table, predicate)
            for document in removed:
                self._record({"op": "del", "t": table, "id": document["id"]}, True)
            return removed

    def clear(self, tables: list[str]) -> None:
        """Empty whole tables (and the files their records own)."""
        with self.transaction():
            for table in tables:
                if self._documents(table):  # an empty table has nothing to clear (a reset clears a dozen)
                    self._record({"op": "clear", "t": table}, True)
                self._clear_files(table)

    def table_names(self) -> list[str]:
        with self._lock:
            return sorted(name for name, documents in (self._storage.data or {}).items()
                          if name != META_TABLE and documents)

    def stats(self) -> dict:
        with self._lock:
            return {
                "backend": "tinydb",
                "path": str(self.path) if self.path else None,
                "in_memory": self.path is None,
                "schema_version": SCHEMA_VERSION,
                "tables": {name: len(self._documents(name)) for name in self.table_names()},
                "journal_bytes": self._journal_bytes,
            }

    # ------------------------------------------------------------------ files
    #
    # A record's large artifacts are files named by (owner table, owner id, name): on disk
    # under ``files_dir``, for an in-memory store in ``_memory_files``. Either way a file
    # created inside a transaction is gone again if it rolls back, and a cleared table's
    # files come back.

    @staticmethod
    def _check_file_parts(*parts: str) -> None:
        for part in parts:
            if not part or "/" in part or "\\" in part or part.startswith("."):
                raise ValueError(f"invalid file path component {part!r}")

    def _owner_directory(self, owner_table: str, owner_id: str) -> Path:
        self._check_file_parts(owner_table, owner_id)
        return self.files_dir / owner_table / owner_id

    def _file_path(self, owner_table: str, owner_id: str, name: str) -> Path:
        self._check_file_parts(name)
        return self._owner_directory(owner_table, owner_id) / name

    def _in_own_transaction(self) -> bool:
        return self._undo is not None and self._transaction_owner == threading.get_ident()

    def write_file(self, owner_table: str, owner_id: str, name: str, payload: bytes) -> int:
        if self._memory_files is None:
            self._write_path(self._file_path(owner_table, owner_id, name), payload)
            return len(payload)
        self._check_file_parts(owner_table, owner_id, name)
        content = bytes(payload)
        with self._lock:
            files = self._memory_files.setdefault(owner_table, {}).setdefault(owner_id, {})
            if self._in_own_transaction():
                cast(list, self._undo).append(("memory_file", owner_table, owner_id, name, files.get(name)))
            files[name] = content
        return len(content)

    def write_files(self, owner_table: str, owner_id: str, files: dict[str, bytes]) -> dict[str, int]:
        """Write a new record's files at once (a result's four, a submission's population):
        their sizes by name. A new record's directory is not visible to anything before its
        row exists, so on disk the files go straight into it (no temporary file and rename
        each) and are made durable together: each file, then the directory and the
        directories made for it, one fsync each (atomically written one by one, each
        file cost a rename and a directory fsync more: ~1.3 ms of a finish on a virtual
        disk). A directory that exists already (a record's second batch) gets
        :meth:`write_file`'s atomic writes. Inside a transaction, the new directory goes
        again if it rolls back; if a write fails, nothing of the batch is left."""
        if self._memory_files is not None:
            return {name: self.write_file(owner_table, owner_id, name, payload) for name, payload in files.items()}
        self._check_file_parts(*files)
        directory = self._owner_directory(owner_table, owner_id)
        made = private_directory(directory.parent)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            return {name: self.write_file(owner_table, owner_id, name, payload) for name, payload in files.items()}
        if self._in_own_transaction():
            cast(list, self._undo).append(("directory", directory))
        try:
            os.chmod(directory, 0o700)
            sizes = {}
            for name, payload in files.items():
                fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                try:
                    view = memoryview(payload)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                sizes[name] = len(payload)
            for synced in (directory, directory.parent, *(made_one.parent for made_one in made)):
                _fsync_directory(synced)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return sizes

    def _write_path(self, path: Path, payload: bytes) -> None:
        """Write a file under ``files_dir`` atomically (fsync'd),
        removed again if the open transaction rolls back and the file is new."""
        self._note_new_file(path)
        atomic_write(path, payload, temporary_dir=self._files_temporary_dir)

    def read_file(self, owner_table: str, owner_id: str, name: str) -> bytes | None:
        if self._memory_files is not None:
            try:
                self._check_file_parts(owner_table, owner_id, name)
            except ValueError:
                return None
            with self._lock:
                return self._memory_files.get(owner_table, {}).get(owner_id, {}).get(name)
        try:
            return self._file_path(owner_table, owner_id, name).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def delete_files(self, owner_table: str, owner_id: str) -> None:
        if self._memory_files is not None:
            self._check_file_parts(owner_table, owner_id)
            with self._lock:
                self._memory_files.get(owner_table, {}).pop(owner_id, None)
            return
        shutil.rmtree(self._owner_directory(owner_table, owner_id), ignore_errors=True)

    def file_owners(self, owner_table: str) -> list[str]:
        """The ids of the records of ``owner_table`` that have files (for consistency checks)."""
        if self._memory_files is not None:
            with self._lock:
                return sorted(self._memory_files.get(owner_table, {}))
        directory = self.files_dir / owner_table
        return sorted(entry.name for entry in directory.iterdir()) if directory.is_dir() else []

    def _clear_files(self, owner_table: str) -> None:
        """Drop every file of a table (inside a transaction: back if it rolls back)."""
        if self._memory_files is not None:
            owners = self._memory_files.pop(owner_table, None)
            if owners:
                if self._in_own_transaction():
                    cast(list, self._undo).append(("memory_table", owner_table, owners))
                else:
                    _reaper.discard(owners)
            return
        directory = self.files_dir / owner_table
        if directory.is_dir():
            # A rename now, the deletion in the background (a crash leaves it to the next open).
            self._move_aside(directory)

    # ------------------------------------------------------------------ snapshots

    def export(self) -> dict:
        """The whole state as one JSON-able document (tables by record id, and files)."""
        with self._lock:
            tables = {name: {document["id"]: copy.deepcopy(document) for document in self.find(name)}
                      for name in self.table_names()}
            files: dict[str, str] = {}
            if self._memory_files is not None:
                for table, owners in sorted(self._memory_files.items()):
                    for owner_id, named in sorted(owners.items()):
                        for name, content in sorted(named.items()):
                            files[f"{table}/{owner_id}/{name}"] = base64.b64encode(content).decode()
            elif self.files_dir.exists():
                for path in sorted(self.files_dir.rglob("*")):
                    parts = path.relative_to(self.files_dir).parts
                    # dot names are the store's own: temporaries, and what a clear moved aside
                    if path.is_file() and not any(part.startswith(".") for part in parts):
                        files["/".join(parts)] = base64.b64encode(path.read_bytes()).decode()
            return {"schema_version": SCHEMA_VERSION, "tables": tables, "files": files}

    def import_(self, snapshot: dict) -> None:
        """Replace the whole state with an exported snapshot, then checkpoint.

        Everything is validated before anything changes: a bad snapshot raises
        ``ValueError`` and leaves the state as it was.
        """
        if not isinstance(snapshot, dict):
            raise ValueError("a snapshot is a JSON object")
        version = snapshot.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ValueError(f"unsupported snapshot schema_version {version!r}")
        tables = snapshot.get("tables")
        files = snapshot.get("files") or {}
        if not isinstance(tables, dict) or not isinstance(files, dict):
            raise ValueError("a snapshot needs 'tables' (object) and 'files' (object)")
        for name, documents in tables.items():
            if name == META_TABLE or not isinstance(documents, dict):
                raise ValueError(f"table {name!r} must be an object of documents")
            for record_id, document in documents.items():
                if not isinstance(document, dict):
                    raise ValueError(f"{name}/{record_id} is not an object")
        decoded: dict[tuple[str, str, str], bytes] = {}
        for relative, encoded in files.items():
            parts = tuple(relative.split("/"))
            try:
                if len(parts) != 3:
                    raise ValueError
                self._check_file_parts(*parts)
            except ValueError:
                raise ValueError(f"file path {relative!r} is not <table>/<record id>/<name>") from None
            try:
                decoded[cast(tuple[str, str, str], parts)] = base64.b64decode(encoded, validate=True)
            except (ValueError, TypeError):
                raise ValueError(f"file {relative!r} is not valid base64") from None
        with self.transaction():
            for name in self.table_names():
                self._record({"op": "clear", "t": name}, True)
            for name, documents in tables.items():
                for record_id, document in documents.items():
                    self.put(name, {**document, "id": record_id})
            if self._memory_files is not None:
                for table in list(self._memory_files):
                    self._clear_files(table)
            elif self.files_dir.is_dir():
                for entry in sorted(self.files_dir.iterdir()):
                    if entry != self._files_temporary_dir:
                        self._move_aside(entry)
            for (owner_table, owner_id, name), payload in decoded.items():
                self.write_file(owner_table, owner_id, name, payload)
        self.checkpoint()
