"""Every snippet of docs/intercept.md runs as pasted: Python files named in their first line
are written out (``test_*.py`` ones then run under pytest), other Python snippets run as
scripts, shell snippets run in bash with the virtualenv's ``python`` and
``vilvik-emulator`` first on ``PATH`` (the "in one terminal" server in the background).
Only the port is changed, to a free one.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "intercept.md"
BLOCK = re.compile(r"```(python|sh)\n(.*?)```", re.DOTALL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_every_snippet_of_the_intercept_page_runs_as_pasted(tmp_path):
    port = str(_free_port())
    env = {name: value for name, value in os.environ.items()
           if name not in ("VILVIK_API_KEY", "VILVIK_EMULATOR_URL", "PYTHONPATH")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    scripts, shells, tests, servers = [], [], [], []
    for language, code in BLOCK.findall(DOC.read_text()):
        code = code.replace("8080", port)
        first = code.splitlines()[0]
        if language == "python" and re.fullmatch(r"# \w+\.py", first):
            (tmp_path / first[2:]).write_text(code)
            if first.startswith("# test_"):
                tests.append(first[2:])
        elif language == "python":
            scripts.append(code)
        elif first == "# in one terminal":
            servers.append(code)
        else:
            shells.append(code)
    assert len(servers) == 1 and tests and scripts and shells

    server = subprocess.Popen(["bash", "-c", f"exec {servers[0].splitlines()[1]}"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        banner = server.stdout.readline()  # the server prints its banner once it listens
        assert "ready in" in banner, banner + server.stdout.read()
        for code in scripts:
            completed = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                                       text=True, timeout=300, check=False)
            assert completed.returncode == 0, f"{code}\n{completed.stderr}"
        for code in shells:
            completed = subprocess.run(["bash", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                                       timeout=300, check=False)
            assert completed.returncode == 0, f"{code}\n{completed.stderr}"
            assert "best fitness:" in completed.stdout
        completed = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                                   cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert completed.returncode == 0, completed.stdout + completed.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.communicate(timeout=60)
