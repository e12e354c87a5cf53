"""Every snippet of README.md and docs/*.md runs as pasted, against a real server.

The conventions a page follows (so that a reader can paste each snippet as it stands):

- Blocks fenced as ``python``, ``sh`` or ``console`` are run; ``text``, ``http`` and
  unlabelled blocks are illustrations (a layout, a banner, a wire format) and are not.
- A block that cannot run has ``<!-- not run: the reason -->`` on the line before its
  fence. It should be rare; this test lists them and refuses one without a reason.
- Each page gets its own server, ``vilvik-emulator serve --memory`` on a free port, started
  in an empty working directory (``fixtures/`` of the repository is linked into it). If the
  page has a ``sh`` block that starts ``vilvik-emulator serve`` itself ("in one terminal"),
  that block is run, in the background, as the page's server instead.
- Placeholders the test substitutes: port ``8080`` (``127.0.0.1:8080``, ``localhost:8080``,
  ``--port 8080``) becomes the server's port, and ``vlk_test_YOUR_KEY`` becomes its
  default API key, the one its banner prints (ASCII on purpose: pasted unchanged, the
  server answers 401 "invalid API key", not a ``UnicodeEncodeError`` in the client).
- A ``python`` block whose first line is ``# name.py`` is written to that file;
  ``test_*.py`` files are then run with pytest (the plugin registers itself). The other
  ``python`` blocks of a page run in order in one interpreter, as if pasted into one Python
  session: a later block may use what an earlier one defined. The ``sh`` and ``console``
  blocks run after them, in order, and the ``test_*.py`` files last.
- ``sh`` blocks run in bash (``set -eo pipefail``: every command must succeed) with the
  virtualenv's ``python`` and ``vilvik-emulator`` first on ``PATH``.
- In a ``console`` block, a line starting ``$ `` is a command (run as in ``sh``) and the
  lines up to the next one are what it prints, stdout and stderr together, exactly; ``...``
  stands for any text. This is how docs/cli.md's sample messages stay the real ones.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)
NOT_RUN = re.compile(r"<!--\s*not run(?::\s*(.*?))?\s*-->")
RUN = ("python", "sh", "console")
KEY_PLACEHOLDER = "vlk_test_YOUR_KEY"
TIMEOUT = 300


@dataclass
class Block:
    page: Path
    line: int
    language: str
    code: str
    not_run: str | None  # the reason, when marked

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def starts_a_server(self) -> bool:
        commands = [line for line in self.code.splitlines() if line.strip() and not line.startswith("#")]
        return self.language == "sh" and bool(commands) and commands[0].startswith("vilvik-emulator serve")


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()]
        marker = NOT_RUN.fullmatch(before.rstrip().rsplit("\n", 1)[-1].strip())
        found.append(Block(page, before.count("\n") + 1, match.group(1), match.group(2),
                           (marker.group(1) or "") if marker else None))
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Page:
    """One page's server, environment and working directory."""

    def __init__(self, page: Path, workdir: Path) -> None:
        self.page = page
        self.workdir = workdir
        self.port = _free_port()
        self.key = ""
        self.server: subprocess.Popen | None = None
        self.output: list[str] = []
        (workdir / "fixtures").symlink_to(ROOT / "fixtures")
        self.env = {name: value for name, value in os.environ.items()
                    if name not in ("VILVIK_API_KEY", "VILVIK_EMULATOR_URL", "PYTHONPATH")
                    and not name.startswith(("VILVIK_EMULATOR_", "PYTEST_"))}
        self.env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                        XDG_CONFIG_HOME=str(workdir / ".config"), HOME=str(workdir))

    def substitute(self, code: str) -> str:
        code = re.sub(r"(127\.0\.0\.1|localhost|--port ):?8080\b",
                      lambda match: match.group(0).replace("8080", str(self.port)), code)
        return code.replace(KEY_PLACEHOLDER, self.key)

    def start(self, block: Block | None) -> None:
        if block is None:
            command = f"exec vilvik-emulator serve --memory --port {self.port}"
        else:
            lines = [line for line in self.substitute(block.code).splitlines() if line.strip()
                     and not line.startswith("#")]
            assert len(lines) == 1, f"{block.where}: a server block is one command"
            command = "exec " + lines[0].split("  #")[0] + ("" if "--port" in lines[0] else f" --port {self.port}")
        self.server = subprocess.Popen(["bash", "-c", command], cwd=self.workdir, env=self.env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       start_new_session=True)
        ready = threading.Event()

        def read() -> None:
            assert self.server is not None and self.server.stdout is not None
            for line in self.server.stdout:
                self.output.append(line)
                if match := re.search(r"API key:\s+(\S+)", line):
                    self.key = match.group(1)
                if line.startswith("Press Ctrl-C"):
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(120)
        assert self.key and self.server.poll() is None, "the server did not start:\n" + "".join(self.output)

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            self.server.wait(60)

    def run(self, argv: list[str], what: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(argv, cwd=self.workdir, env=self.env, capture_output=True, text=True,
                                  timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as error:
            raise AssertionError(f"{what} did not finish in {TIMEOUT} s") from error

    def shell(self, block: Block) -> None:
        completed = self.run(["bash", "-c", "set -eo pipefail\n" + self.substitute(block.code)], block.where)
        assert completed.returncode == 0, f"{block.where}\n{block.code}\n{completed.stdout}{completed.stderr}"

    def console(self, block: Block) -> None:
        for command, expected in _console_steps(block.code):
            command = self.substitute(command)
            completed = self.run(["bash", "-c", f"exec 2>&1\n{command}"], block.where)
            pattern = ".*?".join(re.escape(part) for part in self.substitute(expected).split("..."))
            assert re.fullmatch(pattern, completed.stdout.rstrip("\n"), re.DOTALL), (
                f"{block.where}: `$ {command}` printed\n{completed.stdout}\nnot what the page shows:\n{expected}")

    def python_session(self, python_blocks: list[Block]) -> None:
        """The blocks in one interpreter, in order; a failure names its block's line."""
        sources = [{"where": block.where, "line": block.line, "code": self.substitute(block.code)}
                   for block in python_blocks]
        driver = (
            "import json, sys, traceback\n"
            "namespace = {'__name__': '__main__'}\n"
            "for block in json.loads(sys.stdin.read()):\n"
            "    try:\n"
            "        exec(compile('\\n' * block['line'] + block['code'], block['where'], 'exec'), namespace)\n"
            "    except BaseException:\n"
            "        traceback.print_exc()\n"
            "        sys.exit(f\"the block at {block['where']} failed\")\n")
        completed = subprocess.run([sys.executable, "-c", driver], input=json.dumps(sources), cwd=self.workdir,
                                   env=self.env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert completed.returncode == 0, completed.stdout + completed.stderr


def _console_steps(code: str) -> list[tuple[str, str]]:
    steps: list[tuple[str, list[str]]] = []
    for line in code.rstrip("\n").splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"a console block starts with a command (`$ ...`), not {line!r}"
            steps[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in steps]


def test_the_pages_have_snippets_and_few_are_not_run():
    every = [block for page in PAGES for block in blocks(page) if block.language in RUN]
    skipped = [block for block in every if block.not_run is not None]
    assert len(every) >= 20
    assert all(block.not_run for block in skipped), [block.where for block in skipped if not block.not_run]
    assert len(skipped) <= 4, [f"{block.where}: {block.not_run}" for block in skipped]
    unknown = {block.language for page in PAGES for block in blocks(page)} - {*RUN, "text", "http", ""}
    assert not unknown, f"fences the test does not know: {unknown}"


def _runnable(page: Path) -> list[Block]:
    return [block for block in blocks(page) if block.language in RUN and block.not_run is None]


WITH_SNIPPETS = [page for page in PAGES if _runnable(page)]


@pytest.mark.slow
@pytest.mark.parametrize("page", WITH_SNIPPETS, ids=[str(page.relative_to(ROOT)) for page in WITH_SNIPPETS])
def test_every_snippet_runs_as_pasted(page, tmp_path):
    runnable = _runnable(page)
    servers = [block for block in runnable if block.starts_a_server]
    assert len(servers) <= 1, f"{page.name}: one server block at most"
    context = Page(page, tmp_path)
    context.start(servers[0] if servers else None)
    try:
        files, tests, session = [], [], []
        for block in runnable:
            if block in servers:
                continue
            first = block.code.splitlines()[0]
            if block.language == "python" and re.fullmatch(r"# [\w.-]+\.py", first):
                (tmp_path / first[2:]).write_text(context.substitute(block.code))
                files.append(first[2:])
                if first.startswith("# test_"):
                    tests.append(first[2:])
            elif block.language == "python":
                session.append(block)
        # Files first: a shell snippet may run one (python their_script.py).
        if session:
            context.python_session(session)
        for block in runnable:
            if block.language == "sh" and block not in servers:
                context.shell(block)
            elif block.language == "console":
                context.console(block)
        if tests:
            completed = context.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                                    f"pytest {' '.join(tests)}")
            assert completed.returncode == 0, completed.stdout + completed.stderr
    finally:
        context.stop()


def test_the_readme_banner_is_the_real_one(tmp_path):
    """README's sample banner: the lines a real ``serve`` prints, but for the values."""
    from serve_process import ServeProcess

    [sample] = [block.code for block in blocks(ROOT / "README.md") if block.code.startswith("vilvik-emulator ")]

    def masked(text: str) -> list[str]:
        text = re.sub(r"ready in \d+\.\d\d s", "ready in N s", text)
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
        text = re.sub(r"vlk_test_[A-Za-z0-9]{32}", "KEY", text)
        return re.sub(r"(database: +)\S+", r"\1PATH", text).splitlines()

    server = ServeProcess("--db", str(tmp_path / "db.json")).start()
    try:
        real = masked(server.text())
    finally:
        server.terminate()
    shown = masked(sample)
    assert real[:len(shown)] == shown
