"""``vilvik-emulator exec [--url URL] [serve flags] -- COMMAND [ARGS...]``.

Runs a program unmodified with every Python process it starts talking to an emulator
when it calls vilvik.com: the emulator at ``--url``, or one started in this process on a
free port (in memory unless ``--db``) for the duration. The child's environment gets
``site/`` first on ``PYTHONPATH`` (its ``sitecustomize`` routes the Vilvik hosts to
``VILVIK_EMULATOR_URL``), ``VILVIK_API_KEY`` when unset, and ``XDG_CONFIG_HOME`` in a
temporary directory (``vilvik login`` writes there, the user's credentials stay unread).

Signals: the child shares our process group, so a terminal's Ctrl-C reaches it directly
(we only outlive it to clean up); SIGTERM and SIGHUP sent to us are passed on. The exit
status is the child's (128 + N when signal N killed it, as shells report it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .hosts import ADMIN_TOKEN_VARIABLE, CONFIG_HOME_VARIABLE, HOSTS_VARIABLE, KEY_VARIABLE, URL_VARIABLE, server_root

HOOK_DIRECTORY = Path(__file__).resolve().parent / "site"
USAGE = "vilvik-emulator exec [--url URL] [--strict-keys] [--intercept-host HOST] [serve flags] -- COMMAND [ARGS...]"


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "exec", usage=USAGE, allow_abbrev=False,
        help="run a program with its calls to vilvik.com served by an emulator",
        description="Run COMMAND unmodified with every Python process it starts calling an emulator instead of "
                    "vilvik.com. Any `serve` flag (--mode, --db, --seed-data, --workers, ...) configures the "
                    "emulator started for the duration; it is in memory and on a free port unless told otherwise.")
    parser.add_argument("--url", help="forward to the emulator running there instead of starting one")
    parser.add_argument("--strict-keys", action="store_true", help="refuse API keys the emulator did not issue")
    parser.add_argument("--intercept-host", action="append", default=[], metavar="HOST",
                        help="also intercept this host (repeatable); vilvik.com and beta.vilvik.com always are")
    return parser


def main(exec_parser: argparse.ArgumentParser, serve_parser: argparse.ArgumentParser, argv: list[str]) -> int:
    if "--" not in argv:
        exec_parser.error("put the command after --, e.g. vilvik-emulator exec -- python script.py")
    split = argv.index("--")
    command = argv[split + 1:]
    if not command:
        exec_parser.error("no command after --")
    args, serve_flags = exec_parser.parse_known_args(argv[:split])
    if args.url and serve_flags:
        exec_parser.error(f"serve flags ({' '.join(serve_flags)}) configure the emulator exec starts; "
                          "with --url there is none")
    if args.url:
        return _with_server(args, command)
    return _with_own_server(args, serve_parser.parse_args(serve_flags), command)


def _fail(message: str) -> int:
    print(f"vilvik-emulator exec: {message}", file=sys.stderr)
    return 1


def _with_server(args: argparse.Namespace, command: list[str]) -> int:
    import requests

    from ..testing import ControlError
    from .mock import BorrowedServer

    url = server_root(args.url)
    try:
        borrowed = BorrowedServer(url, strict_keys=args.strict_keys, key_name="vilvik-emulator exec")
    except (requests.RequestException, ControlError) as error:
        return _fail(f"cannot use the emulator at {url}: {error}")
    try:
        return run(command, url=url, api_key=borrowed.control.api_key, hosts=args.intercept_host)
    finally:
        borrowed.give_back()


def _with_own_server(args: argparse.Namespace, serve_args: argparse.Namespace, command: list[str]) -> int:
    import json
    import secrets

    from ..cli import build_settings
    from ..emulator import Emulator
    from ..hosts import LOOPBACK_NAMES
    from ..server import EmulatorServer
    from ..store import StoreError

    if not serve_args.db:
        serve_args.memory = True  # a fresh emulator per run unless a database is named
    if serve_args.port is None:
        serve_args.port = 0
    try:
        settings = build_settings(serve_args)
    except ValueError as error:
        return _fail(str(error))
    settings.accept_unknown_keys = not args.strict_keys
    settings.auto_approve_login = True  # nobody is at a dashboard to approve a `vilvik login`
    if settings.host not in LOOPBACK_NAMES and not settings.admin_token:
        settings.admin_token = secrets.token_urlsafe(24)
    try:
        seed = json.loads(Path(serve_args.seed_data).read_text()) if serve_args.seed_data else None
        emulator = Emulator(settings)
    except (OSError, ValueError, StoreError) as error:
        return _fail(str(error))
    try:
        if seed is not None:
            emulator.import_snapshot(seed)
        server = EmulatorServer(emulator, settings.host, settings.port, log_requests=serve_args.log_requests)
    except (OSError, ValueError) as error:
        emulator.close()
        return _fail(str(error))
    emulator.start()
    server.start()
    print(f"vilvik-emulator exec: emulator at {server.api_url} (dashboard {server.url}/), running "
          f"{' '.join(command)}", file=sys.stderr, flush=True)
    try:
        return run(command, url=server.url, api_key=emulator.default_api_key, hosts=args.intercept_host,
                   admin_token=settings.admin_token)
    finally:
        server.shutdown()
        if serve_args.export_on_exit:
            emulator.runner.shutdown()
            Path(serve_args.export_on_exit).write_text(json.dumps(emulator.export_snapshot()))
        emulator.close()


def child_environment(environ: dict[str, str], *, url: str, api_key: str, config_home: str,
                      hosts: list[str], admin_token: str | None = None) -> dict[str, str]:
    env = dict(environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HOOK_DIRECTORY), environ.get("PYTHONPATH")]))
    env[URL_VARIABLE] = url
    env[CONFIG_HOME_VARIABLE] = config_home
    if not env.get(KEY_VARIABLE):
        env[KEY_VARIABLE] = api_key
    if hosts:
        env[HOSTS_VARIABLE] = ",".join(hosts)
    if admin_token:
        env[ADMIN_TOKEN_VARIABLE] = admin_token
    return env


def run(command: list[str], *, url: str, api_key: str, hosts: list[str], admin_token: str | None = None) -> int:
    """Run ``command`` against the emulator at ``url``; its exit status."""
    config_home = tempfile.mkdtemp(prefix="vilvik-exec-")
    try:
        env = child_environment(dict(os.environ), url=url, api_key=api_key, config_home=config_home, hosts=hosts,
                                admin_token=admin_token)
        try:
            child = subprocess.Popen(command, env=env)
        except OSError as error:
            return _fail(f"cannot run {command[0]}: {error.strerror or error}")
        return _wait(child)
    finally:
        shutil.rmtree(config_home, ignore_errors=True)


def _wait(child: subprocess.Popen) -> int:
    def forward(signum: int, frame: Any) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    def ignore(signum: int, frame: Any) -> None:
        """The terminal sent Ctrl-C to the child as well; we wait for it to finish."""

    # Set after the child started (a handler set before would not matter, but an ignored
    # SIGINT would be inherited across exec).
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, ignore),
                signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
                signal.SIGHUP: signal.signal(signal.SIGHUP, forward)}
    try:
        status = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - status if status < 0 else status
