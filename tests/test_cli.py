"""The ``vilvik-emulator serve`` command: banner, flags, environment, key reuse, clean stop."""

from __future__ import annotations

import socket
import subprocess
import sys

import requests

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
