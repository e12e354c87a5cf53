"""The ``vilvik-emulator`` command.

``serve`` starts the emulator and prints what a client needs: the base URL, a ready
API key and a copy-paste SDK snippet. ``exec`` runs a program with its calls to
vilvik.com served by an emulator (``intercept/command.py``). ``keys``, ``reset``, ``export`` and ``import``
act on a running server through its control plane, or, when no server holds the
database, on the database file itself. Flags also read ``VILVIK_EMULATOR_*``
environment variables; flags win.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .config import DEFAULT_DB_PATH, RUN_MODES, Limits, Settings, from_environment
from .errors import ApiError
from .hosts import LOOPBACK_NAMES
from .store import StoreError

if TYPE_CHECKING:
    from .emulator import Emulator
    from .server import EmulatorServer



# ---------------------------------------------------------------------- serve

def _serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the emulator (HTTP API, control plane, dashboard)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1; env VILVIK_EMULATOR_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8080, 0 picks a free one; env VILVIK_EMULATOR_PORT)")
    storage = serve.add_mutually_exclusive_group()
    storage.add_argument("--db", help=f"TinyDB file (default {DEFAULT_DB_PATH}; env VILVIK_EMULATOR_DB)")
    storage.add_argument("--memory", action="store_true", help="keep everything in memory")
    serve.add_argument("--api-key", help="the default account's key (default: generated once per database; "
                                         "env VILVIK_EMULATOR_API_KEY)")
    serve.add_argument("--mode", choices=RUN_MODES, help="how jobs run: thread (default), sync, manual "
                                                         "(env VILVIK_EMULATOR_MODE)")
    serve.add_argument("--admin-token", help="token the control plane requires off loopback "
                                             "(env VILVIK_EMULATOR_ADMIN_TOKEN)")
    serve.add_argument("--seed-data", metavar="FILE", help="load this snapshot (e.g. fixtures/demo.json) at start, "
                                                           "replacing the database's content")
    serve.add_argument("--export-on-exit", metavar="FILE", help="write a snapshot of the whole state here on stop")
    serve.add_argument("--auto-approve-login", action="store_true",
                       help="approve every `vilvik login` at once (demos)")
    serve.add_argument("--workers", type=int, help="worker pool size (default: CPU count)")
    serve.add_argument("--runtime-limit", type=float, help="seconds a job may run (default 600)")
    serve.add_argument("--memory-limit", type=int, help="MB of address space per job (default 2048)")
    serve.add_argument("--log-requests", action="store_true", help="log every request")
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                       help="also answer to this Host name, e.g. a container's service name (repeatable; env "
                            "VILVIK_EMULATOR_ALLOWED_HOSTS, comma-separated); requests naming any other host are "
                            "refused, which stops DNS rebinding")


def build_settings(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    values: dict = dict(from_environment(environ))
    for name in ("host", "port", "api_key", "mode", "admin_token"):
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    if getattr(args, "memory", False):
        values["db_path"] = None
    elif getattr(args, "db", None):
        values["db_path"] = args.db
    values.setdefault("db_path", str(DEFAULT_DB_PATH))
    if getattr(args, "workers", None) is not None:
        values["pool_size"] = args.workers
    if getattr(args, "auto_approve_login", False):
        values["auto_approve_login"] = True
    limits = Limits()
    if getattr(args, "runtime_limit", None) is not None:
        limits.runtime_seconds = args.runtime_limit
    if getattr(args, "memory_limit", None) is not None:
        limits.memory_mb = args.memory_limit
    return Settings(limits=limits, **values)


def banner(server: EmulatorServer, settings: Settings, elapsed: float) -> str:
    key = server.emulator.default_api_key
    database = "in memory (--memory)" if settings.db_path is None else str(Path(settings.db_path).resolve())
    admin = f"\n  admin token:   {settings.admin_token}" if settings.admin_token else ""
    return f"""vilvik-emulator {__version__} ready in {elapsed:.2f} s (mode: {settings.mode})

  base URL:      {server.api_url}
  API key:       {key}
  database:      {database}
  dashboard:     {server.url}/
  control plane: {server.url}/_emulator/health{admin}

Use it from Python with the official SDK:

    import vilvik
    client = vilvik.Client(api_key="{key}", base_url="{server.api_url}")
    submission = client.submissions.create(
        fitness_func="def fitness_func(ga_instance, solution, solution_idx):\\n    return -sum(x * x for x in solution)",
        num_genes=5, num_generations=100, sol_per_pop=10)
    result = client.results.wait_for(submission.id, poll_interval=0.5)
    print(result.best_fitness, result.best_solution)

Press Ctrl-C to stop.
"""


def _fail(message: str, status: int = 1) -> int:
    print(f"vilvik-emulator: {message}", file=sys.stderr)
    return status


def allowed_hosts(args: argparse.Namespace, environ: dict[str, str] | None = None) -> list[str]:
    """``--allow-host`` names plus those of ``VILVIK_EMULATOR_ALLOWED_HOSTS``."""
    variable = (os.environ if environ is None else environ).get("VILVIK_EMULATOR_ALLOWED_HOSTS", "")
    return [*getattr(args, "allow_host", []), *(name.strip() for name in variable.split(",") if name.strip())]


def _raise_descriptor_limit() -> None:
    """Let the server hold as many connections as the system allows: every open
    connection is a descriptor, and the soft limit (often 1,024) is far below the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(args: argparse.Namespace) -> int:
    """Check everything, bind the port, then open the database: a start that is refused
    (a bad flag, a taken port, an unreadable seed) writes nothing."""
    started = time.perf_counter()
    from .emulator import Emulator
    from .server import EmulatorServer, bind

    try:
        settings = build_settings(args)
    except ValueError as error:
        return _fail(str(error), 2)
    if not 0 <= settings.port <= 65535:
        return _fail(f"--port must be between 0 and 65535 (0 picks a free one), not {settings.port}", 2)
    if settings.host not in LOOPBACK_NAMES and not settings.admin_token:
        settings.admin_token = secrets.token_urlsafe(24)
    seed = None
    if args.seed_data:
        from .schemas import parse_body
        from .schemas.control import SnapshotImport

        try:
            seed = parse_body(SnapshotImport, json.loads(Path(args.seed_data).read_text()))
        except (OSError, ValueError) as error:
            return _fail(f"cannot read --seed-data {args.seed_data}: {error}")
        except ApiError as error:
            return _fail(f"--seed-data {args.seed_data} is not a snapshot: {error.message}")
    address = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        sock = bind(settings.host, settings.port)
    except (OSError, OverflowError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        reason = reason.split(" (while attempting to bind", 1)[0]  # socket.create_server names the address again
        hint = " (another port: --port N, or --port 0 for a free one)" if "in use" in reason else ""
        return _fail(f"cannot listen on {address}:{settings.port}: {reason}{hint}")
    try:
        emulator = Emulator(settings)
    except StoreError as error:
        sock.close()
        return _fail(str(error))
    _raise_descriptor_limit()
    try:
        if seed is not None:
            emulator.import_snapshot(seed)
        server = EmulatorServer(emulator, settings.host, settings.port, log_requests=args.log_requests,
                                allowed_hosts=allowed_hosts(args), sock=sock)
    except (ValueError, ApiError) as error:
        emulator.close()
        sock.close()
        return _fail(f"--seed-data {args.seed_data} is not a snapshot: {getattr(error, 'message', error)}")
    emulator.store.annotate_lock({"url": server.url})
    emulator.start()

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(banner(server, settings, time.perf_counter() - started), flush=True)
    try:
        server.serve_forever()
    finally:
        print("vilvik-emulator: stopping (jobs are stopped, the database is checkpointed)", flush=True)
        if args.export_on_exit:
            emulator.runner.shutdown()
            Path(args.export_on_exit).write_text(json.dumps(emulator.export_snapshot()))
            print(f"vilvik-emulator: state exported to {args.export_on_exit}", flush=True)
        emulator.close()
    return 0


# ---------------------------------------------------------------------- keys, reset, export, import

class OfflineControl:
    """The control-plane calls the CLI needs, made on a database file with the same bodies and services.

    Every call validates its body with the control plane's schema and calls the same
    service method its route calls, so a key made offline is checked exactly as one
    made over HTTP (``keys create --scopes bogus:scope`` is refused both ways).
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def create_key(self, account: str | None = None, *, scopes: list[str] | None = None, name: str | None = None,
                   expires_at: str | None = None) -> dict:
        from .core import render
        from .schemas import parse_body
        from .schemas.accounts import KeyCreate

        body = {name_: value for name_, value in (("account", account), ("scopes", scopes), ("name", name),
                                                  ("expires_at", expires_at)) if value is not None}
        accounts = self.emulator.accounts
        record, secret = accounts.create_key(parse_body(KeyCreate, body))
        return render.key_with_secret(record, accounts.key_status(record), secret)

    def keys(self, account: str | None = None) -> list[dict]:
        from .core import render

        accounts = self.emulator.accounts
        return [render.key(record, accounts.key_status(record)) for record in accounts.list_keys(account)]

    def revoke_key(self, key_id: str) -> dict:
        from .core import render

        accounts = self.emulator.accounts
        record = accounts.revoke_key(key_id)
        return render.key(record, accounts.key_status(record))

    def reset(self, account: str | None = None) -> None:
        self.emulator.reset(account)

    def export_snapshot(self) -> dict:
        return self.emulator.export_snapshot()

    def import_snapshot(self, snapshot: dict) -> None:
        from .schemas import parse_body
        from .schemas.control import SnapshotImport

        self.emulator.import_snapshot(parse_body(SnapshotImport, snapshot))


def _target_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help=f"the database (default {DEFAULT_DB_PATH}; env VILVIK_EMULATOR_DB); when a "
                                     "server holds it, the command goes through that server")
    parser.add_argument("--url", help="a running emulator's address (http://127.0.0.1:8080) instead of --db")
    parser.add_argument("--admin-token", help="the server's admin token, when it does not bind loopback")


def _with_target(args: argparse.Namespace, action: Callable[[Any], int]) -> int:
    """Run ``action(control)`` against a running server or, if none holds the database, the file."""
    from .testing import ControlError, EmulatorControl

    def remote(url: str) -> int:
        try:
            return action(EmulatorControl(url, admin_token=args.admin_token))
        except ControlError as error:
            return _fail(error.message)  # the same line as the same error offline
        except BrokenPipeError:
            raise  # our reader left (export - | head), not the server: main() ends quietly
        except OSError as error:
            return _fail(f"cannot reach {url}: {error}")

    if args.url:
        return remote(args.url)
    from .emulator import Emulator

    db_path = args.db or from_environment().get("db_path") or str(DEFAULT_DB_PATH)
    try:
        emulator = Emulator(Settings(db_path=str(db_path), checkpoint_interval=0))
    except StoreError as error:
        if error.owner and error.owner.get("url"):
            return remote(error.owner["url"])
        return _fail(str(error))
    try:
        return action(OfflineControl(emulator))
    except BrokenPipeError:
        raise
    except Exception as error:  # an ApiError or ValueError from the services
        return _fail(getattr(error, "message", None) or str(error))
    finally:
        emulator.close()


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2))


def keys_command(args: argparse.Namespace) -> int:
    def act(control: Any) -> int:
        if args.keys_command == "create":
            scopes = [scope.strip() for scope in args.scopes.split(",")] if args.scopes else None
            _print(control.create_key(args.account, scopes=scopes, name=args.name, expires_at=args.expires_at))
        elif args.keys_command == "list":
            print(key_table(control.keys(args.account)), end="")
        else:
            _print(control.revoke_key(args.key_id))
        return 0

    return _with_target(args, act)


def key_table(keys: list[dict]) -> str:
    """The ``keys list`` table: every column as wide as its widest value, two spaces apart."""
    header = ("id", "account", "prefix", "status", "name", "scopes")
    rows = [header] + [(key["id"], key["account_id"], key["prefix"], key["status"], key["name"] or "",
                        ",".join(key["scopes"])) for key in keys]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    return "".join("  ".join(value.ljust(width) for value, width in zip(row, widths)) + f"  {row[-1]}\n"
                   for row in rows)


def reset_command(args: argparse.Namespace) -> int:
    def act(control: Any) -> int:
        control.reset(args.account)
        print("reset" + (f" account {args.account}" if args.account else ""))
        return 0

    return _with_target(args, act)


def export_command(args: argparse.Namespace) -> int:
    def act(control: Any) -> int:
        document = json.dumps(control.export_snapshot())
        if args.file == "-":
            print(document)
        else:
            Path(args.file).write_text(document)
            print(f"exported to {args.file}")
        return 0

    return _with_target(args, act)


def import_command(args: argparse.Namespace) -> int:
    try:
        snapshot = json.loads(sys.stdin.read() if args.file == "-" else Path(args.file).read_text())
    except (OSError, ValueError) as error:
        return _fail(f"cannot read {args.file}: {error}")

    def act(control: Any) -> int:
        control.import_snapshot(snapshot)
        print(f"imported {args.file}")
        return 0

    return _with_target(args, act)


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The command line: every command and option says what it does (``--help``)."""
    parser = argparse.ArgumentParser(prog="vilvik-emulator", description="Local emulator of the Vilvik API.")
    parser.add_argument("--version", action="version", version=f"vilvik-emulator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _serve_parser(commands)

    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="create a key (its secret is printed once)")
    create.add_argument("--account", help="account id (default: the default account)")
    create.add_argument("--scopes", help="comma-separated scopes (default: all)")
    create.add_argument("--name", help="a name to recognise the key by (default: key)")
    create.add_argument("--expires-at", help="ISO-8601 expiry, e.g. 2030-01-01T00:00:00Z (default: never)")
    listing = key_commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--account", help="only this account's keys (default: every account's)")
    revoke = key_commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", help="the key's id (key_..., as keys list shows it)")
    for sub in (create, listing, revoke):
        _target_parser(sub)

    reset = commands.add_parser("reset", help="stop jobs and clear the state (or one account's)")
    reset.add_argument("--account", help="clear only this account's data (default: everything)")
    _target_parser(reset)
    export = commands.add_parser("export", help="write a snapshot of the whole state")
    export.add_argument("file", help="output file, or - for stdout")
    _target_parser(export)
    load = commands.add_parser("import", help="replace the whole state with a snapshot")
    load.add_argument("file", help="snapshot file, or - for stdin")
    _target_parser(load)
    from .intercept import command as exec_command  # light: intercept/ defers requests and the app

    exec_command.add_parser(commands)
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    handlers = {"serve": serve, "keys": keys_command, "reset": reset_command, "export": export_command,
                "import": import_command}
    try:
        if argv[:1] == ["exec"]:  # its own parsing: serve flags, then the command after --
            from .intercept import command as exec_command

            return exec_command.main(commands.choices["exec"], commands.choices["serve"], argv[1:])
        args = parser.parse_args(argv)
        return handlers[args.command](args)
    except BrokenPipeError:
        # The reader of our output left (``export - | head``): nothing went wrong here, so
        # no message; stdout goes to /dev/null so the interpreter's last flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
