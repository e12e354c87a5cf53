"""``vilvik-emulator exec -- COMMAND``: an unmodified program, run in real subprocesses, has
its calls to vilvik.com served by an emulator — in every Python process it starts, through
the ``sitecustomize`` hook (which chains to the one it shadows) — with the key set, the
user's credentials untouched, the exit status passed back and Ctrl-C reaching the child.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import SPHERE

#: a notebook-style script: no main guard, no base_url, no key
NOTEBOOK = textwrap.dedent(f'''
    import json, os, sys
    import vilvik

    client = vilvik.Client()
    submission = client.submissions.create(fitness_func={SPHERE!r}, num_genes=3, num_generations=5, sol_per_pop=6)
    result = client.results.wait_for(submission.id, poll_interval=0.05)
    print(json.dumps({{"status_url": submission.status_url, "generations": result.num_generations_ran,
                      "key": os.environ["VILVIK_API_KEY"], "config_home": os.environ["XDG_CONFIG_HOME"],
                      "listed": len(client.submissions.list().items)}}))
''')


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """The user's environment: no key, a config home with real credentials."""
    monkeypatch.delenv("VILVIK_API_KEY", raising=False)
    monkeypatch.delenv("VILVIK_EMULATOR_URL", raising=False)
    config = tmp_path / "config"
    (config / "vilvik").mkdir(parents=True)
    (config / "vilvik" / "credentials").write_text('{"api_key": "vlk_live_real"}')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return tmp_path


def vilvik_exec(*args: str, cwd: Path, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vilvik_emulator", "exec", *args], cwd=cwd, capture_output=True,
                          check=False, text=True, timeout=300, **options)


def test_an_unmodified_script_runs_against_an_emulator_it_starts(home):
    (home / "notebook.py").write_text(NOTEBOOK)
    completed = vilvik_exec("--", sys.executable, "notebook.py", cwd=home)
    assert completed.returncode == 0, completed.stderr
    [line] = completed.stdout.splitlines()
    seen = json.loads(line)
    assert seen["status_url"].startswith("https://vilvik.com/api/v1/submissions/")
    assert seen["generations"] == 5 and seen["listed"] == 1
    assert seen["key"].startswith("vlk_test_")
    assert seen["config_home"] != str(home / "config") and not Path(seen["config_home"]).exists()
    assert "vilvik-emulator exec: emulator at http://127.0.0.1:" in completed.stderr
    assert (home / "config" / "vilvik" / "credentials").read_text() == '{"api_key": "vlk_live_real"}'


def test_every_python_process_of_the_command_is_intercepted_and_the_status_is_passed_back(home):
    (home / "child.py").write_text(textwrap.dedent('''
        import sys, vilvik
        print(vilvik.Client().health()["status"])
        sys.exit(7)
    '''))
    script = "import subprocess, sys; sys.exit(subprocess.run([sys.executable, 'child.py']).returncode)"
    completed = vilvik_exec("--", "sh", "-c", f'{sys.executable} -c "{script}"', cwd=home)
    assert completed.returncode == 7, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_the_shadowed_sitecustomize_still_runs(home, monkeypatch):
    theirs = home / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import os\nos.environ['THEIR_SITECUSTOMIZE'] = 'ran'\n")
    monkeypatch.setenv("PYTHONPATH", str(theirs))
    code = "import os, vilvik; print(os.environ.get('THEIR_SITECUSTOMIZE'), vilvik.Client().health()['status'])"
    completed = vilvik_exec("--", sys.executable, "-c", code, cwd=home)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["ran", "ok"]


def test_serve_flags_configure_the_emulator(home):
    code = textwrap.dedent(f'''
        import vilvik
        print(vilvik.Client().submissions.create(fitness_func={SPHERE!r}, num_genes=2, num_generations=2,
                                                 sol_per_pop=4).status)
    ''')
    completed = vilvik_exec("--mode", "sync", "--", sys.executable, "-c", code, cwd=home)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "succeeded"


def test_url_forwards_to_a_running_server(home, vilvik_emulator):
    code = f"import vilvik; print(vilvik.Client().submissions.create(fitness_func={SPHERE!r}, num_genes=2).status_url)"
    completed = vilvik_exec("--url", vilvik_emulator.url, "--", sys.executable, "-c", code, cwd=home)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().startswith("https://vilvik.com/api/v1/submissions/")
    [entry] = vilvik_emulator.requests(method="POST")
    assert entry["path"] == "/api/v1/submissions"
    keys = vilvik_emulator.keys()
    assert [key["status"] for key in keys if key["name"] == "vilvik-emulator exec"] == ["revoked"]
    assert vilvik_emulator.config()["accept_unknown_keys"] is False


def test_a_real_key_in_the_environment_is_accepted_and_login_writes_a_temporary_config(home, monkeypatch):
    monkeypatch.setenv("VILVIK_API_KEY", "vlk_live_the_users_own")
    code = textwrap.dedent('''
        import os, vilvik, vilvik.__main__
        assert os.environ["VILVIK_API_KEY"] == "vlk_live_the_users_own"
        print(len(vilvik.Client().submissions.list().items))
        assert vilvik.__main__.main(["login", "--no-browser"]) == 0
        print(os.path.exists(os.path.join(os.environ["XDG_CONFIG_HOME"], "vilvik", "credentials")))
    ''')
    completed = vilvik_exec("--", sys.executable, "-c", code, cwd=home)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[0] == "0" and completed.stdout.splitlines()[-1] == "True"
    assert (home / "config" / "vilvik" / "credentials").read_text() == '{"api_key": "vlk_live_real"}'

    strict = vilvik_exec("--strict-keys", "--", sys.executable, "-c",
                         "import vilvik; vilvik.Client().submissions.list()", cwd=home)
    assert strict.returncode == 1 and "AuthenticationError" in strict.stderr


def test_ctrl_c_reaches_the_child_and_its_status_comes_back(home):
    (home / "waits.py").write_text(textwrap.dedent('''
        import signal, sys, vilvik
        try:  # the signal may come as soon as "ok" is out
            print(vilvik.Client().health()["status"], flush=True)
            signal.pause()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    '''))
    # A session of its own stands for the terminal: Ctrl-C signals its whole foreground group.
    process = subprocess.Popen([sys.executable, "-m", "vilvik_emulator", "exec", "--", sys.executable, "waits.py"],
                               cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        assert _read_line(process, deadline=time.monotonic() + 120) == "ok"
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 3, stderr
    assert stdout.strip() == "interrupted"


def test_a_child_killed_by_a_signal_is_reported_as_the_shells_do(home):
    completed = vilvik_exec("--", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
                            cwd=home)
    assert completed.returncode == 128 + signal.SIGTERM


def test_usage_errors(home):
    missing = vilvik_exec(sys.executable, "-c", "pass", cwd=home)
    assert missing.returncode == 2 and "put the command after --" in missing.stderr
    both = vilvik_exec("--url", "http://127.0.0.1:1", "--mode", "sync", "--", "true", cwd=home)
    assert both.returncode == 2 and "with --url there is none" in both.stderr
    down = vilvik_exec("--url", "http://127.0.0.1:1", "--", "true", cwd=home)
    assert down.returncode == 1 and "cannot use the emulator at http://127.0.0.1:1" in down.stderr
    absent = vilvik_exec("--", "no-such-command-here", cwd=home)
    assert absent.returncode == 1 and "cannot run no-such-command-here" in absent.stderr


def _read_line(process: subprocess.Popen, *, deadline: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"no output before the deadline; stderr so far: {process.stderr}")
        return process.stdout.readline().strip()
