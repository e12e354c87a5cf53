"""The ``vilvik-emulator serve`` command: banner, flags, environment, key reuse, clean stop."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import requests
from helpers import EXAMPLE
from serve_process import ServeProcess


def test_banner_has_url_key_and_a_working_sdk_snippet(tmp_path):
    server = ServeProcess("--db", str(tmp_path / "db.json")).start()
    try:
        text = server.text()
        assert server.url.startswith("http://127.0.0.1:") and server.key.startswith("vlk_test_")
        assert f'vilvik.Client(api_key="{server.key}", base_url="{server.api_url}")' in text
        namespace: dict = {}
        snippet = "\n".join(line[4:] for line in text.splitlines() if line.startswith("    "))
        snippet = snippet.replace("print(", "captured = (")
        exec(snippet, namespace)  # the snippet really runs against the server
        assert isinstance(namespace["result"].best_fitness, float)
    finally:
        assert server.terminate() == 0


def test_key_is_generated_once_per_database_and_reused(tmp_path):
    first = ServeProcess("--db", str(tmp_path / "db.json")).start()
    first.terminate()
    second = ServeProcess("--db", str(tmp_path / "db.json")).start()
    try:
        assert second.key == first.key
        response = requests.get(f"{second.api_url}/submissions", headers=second.headers(), timeout=10)
        assert response.status_code == 200
    finally:
        second.terminate()
    other = ServeProcess("--db", str(tmp_path / "other.json")).start()
    try:
        assert other.key != first.key
    finally:
        other.terminate()


def test_api_key_flag_and_environment(tmp_path):
    chosen = "vlk_test_chosen_by_the_developer_0000000"
    server = ServeProcess("--memory", "--api-key", chosen).start()
    try:
        assert server.key == chosen
        assert requests.get(f"{server.api_url}/submissions", headers=server.headers(), timeout=10).status_code == 200
    finally:
        server.terminate()
    from_env = ServeProcess(env={"VILVIK_EMULATOR_API_KEY": chosen, "VILVIK_EMULATOR_DB": str(tmp_path / "e.json"),
                                 "VILVIK_EMULATOR_PORT": "0"}).start()
    try:
        assert from_env.key == chosen
        assert (tmp_path / "e.json").exists()
    finally:
        from_env.terminate()


def test_default_database_lives_under_dot_vilvik_emulator(tmp_path):
    server = ServeProcess(cwd=str(tmp_path)).start()
    try:
        assert (tmp_path / ".vilvik-emulator" / "db.json").exists()
        assert str(tmp_path / ".vilvik-emulator" / "db.json") in server.text()
    finally:
        server.terminate()


def test_sigterm_stops_cleanly_and_releases_the_database(tmp_path):
    database = tmp_path / "db.json"
    server = ServeProcess("--db", str(database)).start()
    assert server.healthy()
    assert server.terminate() == 0
    assert "stopping" in server.text()
    assert not (tmp_path / "db.json.lock").exists()
    assert not (tmp_path / "db.json.journal").exists()
    ServeProcess("--db", str(database)).start().terminate()


def test_a_second_server_on_the_same_database_is_refused(tmp_path):
    database = tmp_path / "db.json"
    server = ServeProcess("--db", str(database)).start()
    try:
        refused = subprocess.run([sys.executable, "-m", "vilvik_emulator", "serve", "--port", "0", "--db",
                                  str(database)], capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1
        assert "in use" in refused.stderr
    finally:
        server.terminate()


def test_a_taken_port_fails_at_once_with_a_clear_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run([sys.executable, "-m", "vilvik_emulator", "serve", "--memory", "--port",
                                  str(port)], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in refused.stderr


def test_mode_flag(tmp_path):
    server = ServeProcess("--memory", "--mode", "manual").start()
    try:
        assert requests.get(f"{server.url}/_emulator/health", timeout=10).json()["mode"] == "manual"
    finally:
        server.terminate()


# ---------------------------------------------------------------------- keys, reset, export, import

def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vilvik_emulator", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_keys_on_the_database_file_when_no_server_runs(tmp_path):
    database = str(tmp_path / "db.json")
    created = cli("keys", "create", "--db", database, "--scopes", "submissions:read,results:read", "--name", "ci")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["key"].startswith("vlk_test_") and key["scopes"] == ["submissions:read", "results:read"]
    listing = cli("keys", "list", "--db", database)
    assert key["id"] in listing.stdout and key["key"] not in listing.stdout
    assert cli("keys", "revoke", key["id"], "--db", database).returncode == 0
    server = ServeProcess("--db", database).start()
    try:
        response = requests.get(f"{server.api_url}/submissions", timeout=10,
                                headers={"Authorization": f"Bearer {key['key']}"})
        assert response.status_code == 401
    finally:
        server.terminate()


def test_commands_go_through_a_running_server(tmp_path):
    database = str(tmp_path / "db.json")
    server = ServeProcess("--db", database, "--mode", "manual").start()
    try:
        key = json.loads(cli("keys", "create", "--db", database).stdout)
        assert requests.get(f"{server.api_url}/submissions", timeout=10,
                            headers={"Authorization": f"Bearer {key['key']}"}).status_code == 200
        requests.post(f"{server.api_url}/submissions", json=EXAMPLE, headers=server.headers(), timeout=10)
        exported = cli("export", str(tmp_path / "state.json"), "--db", database)
        assert exported.returncode == 0, exported.stderr
        assert cli("reset", "--db", database).returncode == 0
        listed = requests.get(f"{server.api_url}/submissions", headers=server.headers(), timeout=10).json()
        assert listed["results"] == []
        assert cli("import", str(tmp_path / "state.json"), "--url", server.url).returncode == 0
        listed = requests.get(f"{server.api_url}/submissions", headers=server.headers(), timeout=10).json()
        assert len(listed["results"]) == 1
    finally:
        server.terminate()


def test_errors_are_one_line_and_nonzero(tmp_path):
    missing = cli("keys", "revoke", "key_nope", "--db", str(tmp_path / "db.json"))
    assert missing.returncode == 1 and "no key 'key_nope'" in missing.stderr
    bad = cli("import", str(tmp_path / "absent.json"), "--db", str(tmp_path / "db.json"))
    assert bad.returncode == 1 and "cannot read" in bad.stderr


def test_seed_data_and_export_on_exit(tmp_path):
    source = ServeProcess("--memory", "--mode", "manual").start()
    requests.post(f"{source.api_url}/submissions", json={**EXAMPLE, "name": "seeded"}, headers=source.headers(),
                  timeout=10)
    snapshot = requests.get(f"{source.url}/_emulator/snapshot", timeout=10).json()
    source.terminate()
    (tmp_path / "seed.json").write_text(json.dumps(snapshot))

    server = ServeProcess("--memory", "--mode", "manual", "--seed-data", str(tmp_path / "seed.json"),
                          "--export-on-exit", str(tmp_path / "out.json")).start()
    try:
        rows = requests.get(f"{server.api_url}/submissions", headers=server.headers(), timeout=10).json()["results"]
        assert [row["name"] for row in rows] == ["seeded"]
    finally:
        assert server.terminate() == 0
    exported = json.loads((tmp_path / "out.json").read_text())
    assert [row["name"] for row in exported["tables"]["submissions"].values()] == ["seeded"]


# ---------------------------------------------------------------------- a newcomer's slips (issue 15)

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "demo.json"


def _files(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def test_export_into_a_pipe_closed_early_is_quiet(tmp_path):
    """``export - | head``: the reader leaving is nobody's error (not 'cannot reach' the server)."""
    assert DEMO.stat().st_size > 2 * 65536  # more than a pipe holds, so the writer sees it close
    database = str(tmp_path / "db.json")

    def export_into_head(*target: str) -> subprocess.CompletedProcess:
        command = f'"{sys.executable}" -m vilvik_emulator export - {" ".join(target)} | head -c 10; ' \
                  'exit "${PIPESTATUS[0]}"'
        return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)

    server = ServeProcess("--db", database, "--seed-data", str(DEMO)).start()
    try:
        through_the_server = export_into_head("--url", server.url)
    finally:
        assert server.terminate() == 0
    on_the_file = export_into_head("--db", database)
    for piped in (through_the_server, on_the_file):
        assert piped.stderr == "" and len(piped.stdout) == 10 and piped.stdout.startswith("{"), piped
        assert piped.returncode == 141  # 128 + SIGPIPE, as `yes | head` ends


def test_an_out_of_range_port_is_one_line_and_writes_nothing(tmp_path):
    for args, env in ((["--port", "99999"], {}), ([], {"VILVIK_EMULATOR_PORT": "70000"})):
        refused = subprocess.run([sys.executable, "-m", "vilvik_emulator", "serve", *args], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60, env={**os.environ, **env})
        assert refused.returncode == 2
        assert refused.stderr.count("\n") == 1 and "must be between 0 and 65535" in refused.stderr, refused.stderr
    assert _files(tmp_path) == []


def test_a_refused_start_writes_nothing(tmp_path):
    """A taken port is found before the database is opened: no new db.json, and an existing
    one (with its files) is left exactly as it was."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        fresh = subprocess.run([sys.executable, "-m", "vilvik_emulator", "serve", "--port", port], cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
        assert fresh.returncode == 1 and fresh.stderr == f"vilvik-emulator: cannot listen on 127.0.0.1:{port}: " \
                                                        "Address already in use (another port: --port N, or " \
                                                        "--port 0 for a free one)\n"
        assert _files(tmp_path) == []
        ServeProcess("--db", str(tmp_path / "db.json")).start().terminate()
        before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)}
        again = subprocess.run([sys.executable, "-m", "vilvik_emulator", "serve", "--port", port, "--db",
                                str(tmp_path / "db.json")], capture_output=True, text=True, timeout=60)
        assert again.returncode == 1
        assert {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)} == before


def test_a_refused_database_leaves_no_lock_file(tmp_path):
    (tmp_path / "db.json").write_text("{not json")
    for command in (["serve", "--port", "0"], ["keys", "list"], ["export", "-"]):
        refused = cli(*command, "--db", str(tmp_path / "db.json"))
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert "is not a valid TinyDB JSON file" in refused.stderr
        assert _files(tmp_path) == ["db.json"], command


def test_keys_list_columns_fit_their_values(tmp_path):
    database = str(tmp_path / "db.json")
    long_name = "the nightly job of the routing team"
    created = cli("keys", "create", "--db", database, "--name", long_name, "--scopes", "results:read")
    assert created.returncode == 0, created.stderr
    header, *rows = cli("keys", "list", "--db", database).stdout.splitlines()
    assert len(rows) == 2 and any(long_name in row for row in rows)  # not cut short
    starts = [header.index(name) for name in ("account", "prefix", "status", "name", "scopes")]
    for row in rows:
        for start in starts:  # every value starts under its heading, after a gap of two spaces
            assert row[start - 2:start] == "  " and row[start] != " ", (header, row)


def test_every_command_and_option_has_help():
    from vilvik_emulator.cli import build_parser

    def walk(parser: argparse.ArgumentParser, name: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions}
                assert helped == set(action.choices), f"{name}: commands without help"
                for sub_name, sub in action.choices.items():
                    yield from walk(sub, f"{name} {sub_name}")
            elif action.help is None:
                yield f"{name} {'/'.join(action.option_strings) or action.dest}"

    parser, _ = build_parser()
    assert list(walk(parser, "vilvik-emulator")) == []
    shown = cli("keys", "create", "--help")
    assert shown.returncode == 0 and "a name to recognise the key by" in shown.stdout
