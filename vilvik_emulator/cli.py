"""The ``vilvik-emulator`` command.

``serve`` starts the emulator and prints what a client needs: the base URL, a ready
API key and a copy-paste SDK snippet. Every flag also reads a
``VILVIK_EMULATOR_*`` environment variable; flags win.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from . import __version__
from .config import DEFAULT_DB_PATH, RUN_MODES, Limits, Settings, from_environment
from .store import StoreError


def _serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the emulator (HTTP API, control plane, dashboard)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1; env VILVIK_EMULATOR_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8080, 0 picks a free one; env VILVIK_EMULATOR_PORT)")
    storage = serve.add_mutually_exclusive_group()
    storage.add_argument("--db", help=f"TinyDB file (default {DEFAULT_DB_PATH}; env VILVIK_EMULATOR_DB)")
    storage.add_argument("--memory", action="store_true", help="keep everything in memory")
    serve.add_argument("--api-key", help="the default account's key (default: generated once per database; "
                                         "env VILVIK_EMULATOR_API_KEY)")
    serve.add_argument("--mode", choices=RUN_MODES, help="how jobs run: thread (default), sync, manual")
    serve.add_argument("--admin-token", help="token the control plane requires off loopback "
                                             "(env VILVIK_EMULATOR_ADMIN_TOKEN)")
    serve.add_argument("--workers", type=int, help="worker pool size (default: CPU count)")
    serve.add_argument("--runtime-limit", type=float, help="seconds a job may run (default 600)")
    serve.add_argument("--memory-limit", type=int, help="MB of address space per job (default 2048)")
    serve.add_argument("--log-requests", action="store_true", help="log every request")


def build_settings(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    values: dict = dict(from_environment(environ))
    for name in ("host", "port", "api_key", "mode", "admin_token"):
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    if args.memory:
        values["db_path"] = None
    elif args.db:
        values["db_path"] = args.db
    values.setdefault("db_path", str(DEFAULT_DB_PATH))
    if args.workers is not None:
        values["pool_size"] = args.workers
    limits = Limits()
    if args.runtime_limit is not None:
        limits.runtime_seconds = args.runtime_limit
    if args.memory_limit is not None:
        limits.memory_mb = args.memory_limit
    return Settings(limits=limits, **values)


def banner(server, settings: Settings, elapsed: float) -> str:
    key = server.emulator.default_api_key
    database = "in memory (--memory)" if settings.in_memory else str(Path(settings.db_path).resolve())
    admin = f"\n  admin token:   {settings.admin_token}" if settings.admin_token else ""
    return f"""vilvik-emulator {__version__} ready in {elapsed:.2f} s (mode: {settings.mode})

  base URL:      {server.api_url}
  API key:       {key}
  database:      {database}
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
""".replace(f"ready in {elapsed:.2f} s", f"ready in {elapsed:.2f} s", 1)


def serve(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from .emulator import Emulator
    from .server import EmulatorServer

    try:
        settings = build_settings(args)
    except ValueError as error:
        print(f"vilvik-emulator: {error}", file=sys.stderr)
        return 2
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.admin_token:
        import secrets

        settings.admin_token = secrets.token_urlsafe(24)
    try:
        emulator = Emulator(settings)
    except StoreError as error:
        print(f"vilvik-emulator: {error}", file=sys.stderr)
        return 1
    try:
        server = EmulatorServer(emulator, settings.host, settings.port, log_requests=args.log_requests)
    except OSError as error:
        emulator.close()
        print(f"vilvik-emulator: cannot listen on {settings.host}:{settings.port}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    emulator.start()

    def stop(signum, frame) -> None:  # noqa: ARG001
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(banner(server, settings, time.perf_counter() - started), flush=True)
    try:
        server.serve_forever()
    finally:
        print("vilvik-emulator: stopping (jobs are stopped, the database is checkpointed)", flush=True)
        emulator.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vilvik-emulator", description="Local emulator of the Vilvik API.")
    parser.add_argument("--version", action="version", version=f"vilvik-emulator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_settings", "os"]
