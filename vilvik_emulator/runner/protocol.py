"""The wire between a job's processes and the server: length-prefixed JSON frames, and the
strict checks every frame passes before the server believes a word of it.

Two channels carry frames. The **events** pipe is written by the process that runs the
user's code, so anything may arrive on it: forged types, junk values, gigantic lengths,
garbage bytes. The **status** pipe is written only by the job's supervisor (the user's
process never holds it) and carries one ``exit`` frame: how the user's process ended and
what the job used, as the kernel counted it. Both are checked the same strict way; a
frame that fails a check is a :class:`ProtocolError`, which the monitor turns into
``worker_crashed``.
"""

from __future__ import annotations

import array
import json
import math
import socket
import struct
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">I")
#: a result carries the final and initial populations: big runs make big frames
MAX_EVENT_BYTES = 256 * 1024 * 1024
MAX_STATUS_BYTES = 4096
MAX_MESSAGE_CHARS = 64 * 1024
MAX_TRACEBACK_CHARS = 1024 * 1024
MAX_FITNESS_CHARS = 1024 * 1024
#: what the user's process may say went wrong; the other codes are the runner's own verdicts
CHILD_ERROR_CODES = ("fitness_error", "out_of_memory", "invalid_parameters", "worker_crashed")
NON_FINITE_TEXT = ("inf", "-inf", "nan")


class ProtocolError(ValueError):
    """A frame the server refuses: its text says what was wrong (for the job's error message)."""


def encode(message: dict) -> bytes:
    """One frame: a 4-byte big-endian length, then compact JSON (never NaN: JSON has none)."""
    body = json.dumps(message, allow_nan=False, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


class FrameReader:
    """Splits bytes read from a pipe into frames, refusing any frame longer than ``limit``.

    The length is checked from the header, before the body is buffered, so a frame that
    announces 4 GiB is refused at once instead of filling the server's memory.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        self.buffer += chunk
        frames = []
        while len(self.buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self.buffer)
            if length > self.limit:
                raise ProtocolError(f"a message announced {length} bytes, more than the {self.limit} allowed")
            end = HEADER.size + length
            if len(self.buffer) < end:
                break
            frames.append(bytes(self.buffer[HEADER.size:end]))
            del self.buffer[:end]
        return frames

    @property
    def partial(self) -> bool:
        """Bytes of an unfinished frame are waiting (at end of stream: a truncated message)."""
        return bool(self.buffer)


def _refuse_constant(name: str) -> Any:
    raise ProtocolError(f"a message contained {name}, which JSON does not allow")


def parse(raw: bytes) -> dict:
    """A frame's JSON object; anything else (bad UTF-8, bad JSON, nesting too deep) is refused."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"a message was not valid JSON ({type(error).__name__})") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"a message was a JSON {type(value).__name__}, not an object")
    return value


# ---------------------------------------------------------------------- value checks

def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_number(value: Any) -> bool:
    """A gene or fitness value as the worker writes it: a finite number or a non-finite's text."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value)) or (kind is str and value in NON_FINITE_TEXT)


def _numbers(value: Any) -> bool:
    return type(value) is list and all(_is_number(item) for item in value)


def _fitness_value(value: Any) -> bool:
    """One fitness: a number, or a list of numbers (multi-objective)."""
    return _is_number(value) or (_numbers(value) and bool(value))


def _fitness_text(value: Any) -> bool:
    """A fitness as the API writes it (``"-0.25"``, ``"inf"``, ``"[1.0, -2.5]"``)."""
    if type(value) is not str or not 0 < len(value) <= MAX_FITNESS_CHARS:
        return False
    parts = value[1:-1].split(",") if value.startswith("[") and value.endswith("]") else [value]
    try:
        for part in parts:
            float(part)
    except ValueError:
        return False
    return True


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: type(value) is list and all(check(item) for item in value)


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda value: _is_int(value) and value >= low


def _text(limit: int) -> Callable[[Any], bool]:
    return lambda value: type(value) is str and len(value) <= limit


def _nullable(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


RESULT_FIELDS: dict[str, Callable[[Any], bool]] = {
    "best_solution": _numbers,
    "best_solution_fitness": _fitness_text,
    "best_solution_idx": _int_at_least(0),
    "best_solutions_fitness": _list_of(_fitness_value),
    "best_solution_generation": _int_at_least(-1),
    "generations_completed": _int_at_least(0),
    "last_generation_fitness": _nullable(_list_of(_fitness_value)),
    "population": _list_of(_numbers),
    "initial_population": _list_of(_numbers),
    "gene_type_single": lambda value: type(value) is bool,
    "stopped_reason": _text(1000),
    "num_fitness_evaluations": _int_at_least(0),
}

EVENT_FIELDS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "progress": {"generations_completed": _int_at_least(0), "num_generations": _int_at_least(0),
                 "best_fitness": _nullable(_fitness_text)},
    "result": {"result": lambda value: type(value) is dict},
    "error": {"code": lambda value: value in CHILD_ERROR_CODES, "message": _text(MAX_MESSAGE_CHARS),
              "traceback": _text(MAX_TRACEBACK_CHARS)},
}


def _check_fields(what: str, message: dict, fields: dict[str, Callable[[Any], bool]]) -> None:
    missing = fields.keys() - message.keys()
    extra = message.keys() - fields.keys()
    if missing or extra:
        raise ProtocolError(f"a {what} message had the wrong fields (missing {sorted(missing)}, "
                            f"unexpected {sorted(extra)[:5]})")
    for name, check in fields.items():
        if not check(message[name]):
            raise ProtocolError(f"a {what} message had an invalid {name!r}")


def check_event(message: dict) -> dict:
    """A frame from the user's process, checked: ``progress``, ``result`` or ``error`` and nothing else."""
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in EVENT_FIELDS:
        raise ProtocolError(f"the job's process sent a message of unknown type {str(kind)[:40]!r}")
    _check_fields(kind, {key: value for key, value in message.items() if key != "type"}, EVENT_FIELDS[kind])
    if kind == "result":
        _check_fields("result", message["result"], RESULT_FIELDS)
    if kind == "progress" and message["generations_completed"] > max(message["num_generations"], 0) + 1_000_000:
        raise ProtocolError("a progress message counted impossibly many generations")
    return message


def _usage(value: Any) -> bool:
    return (type(value) is dict and value.keys() == {"cpu_seconds", "peak_memory_mb"}
            and all(type(number) in (int, float) and math.isfinite(number) and number >= 0
                    for number in value.values()))


def check_exit(message: dict) -> dict:
    """The supervisor's ``exit`` frame: an exit status or a signal, and the job's usage."""
    if message.get("type") != "exit":
        raise ProtocolError("the supervisor sent something other than its exit report")
    ending = "signal" if "signal" in message else "exitcode"
    fields: dict[str, Callable[[Any], bool]] = {"usage": _usage}
    fields[ending] = _int_at_least(1) if ending == "signal" else _is_int
    _check_fields("exit", {key: value for key, value in message.items() if key != "type"}, fields)
    return message


# ---------------------------------------------------------------------- the template's control socket

#: the job's spec, written by the server into the job's working directory and read (then
#: removed) by the supervisor before any user code runs
SPEC_FILE = ".vilvik-job.json"
#: requests and replies are small (the job's spec travels in a file in its working directory)
MAX_CONTROL_BYTES = 64 * 1024
MAX_FDS = 8
_CREDENTIALS = struct.Struct("iII")  # struct ucred: pid, uid, gid


def control_socketpair() -> tuple[socket.socket, socket.socket]:
    """(server's end, template's end): a packet socketpair, with the template's end told the
    kernel-checked pid of the sender of every message (``SO_PASSCRED``)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return ours, theirs


def send_message(sock: socket.socket, message: dict, descriptors: list[int] | tuple[int, ...] = ()) -> None:
    """One packet on the server <-> template socket, with descriptors attached."""
    body = json.dumps(message, allow_nan=False, separators=(",", ":")).encode()
    if len(body) > MAX_CONTROL_BYTES:
        raise ValueError(f"a control message of {len(body)} bytes is too large")
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", descriptors))] if descriptors else []
    sock.sendmsg([body], ancillary)


def receive_message(sock: socket.socket) -> tuple[dict | None, list[int], int | None]:
    """The next packet: (message, descriptors, the sender's pid when the socket passes credentials).

    ``(None, [], None)`` at end of stream. Descriptors are returned even when the message is
    refused, so the caller can close them.
    """
    space = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize) + socket.CMSG_SPACE(_CREDENTIALS.size)
    body, ancillary, flags, _ = sock.recvmsg(MAX_CONTROL_BYTES, space)
    descriptors: list[int] = []
    sender = None
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
            descriptors.extend(fds)
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= _CREDENTIALS.size:
            sender = _CREDENTIALS.unpack_from(data)[0]
    if not body and not descriptors:
        return None, [], sender
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        return {}, descriptors, sender
    try:
        return parse(body), descriptors, sender
    except ProtocolError:
        return {}, descriptors, sender
