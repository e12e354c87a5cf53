#!/usr/bin/env python3
"""Which contract statements have a test that would fail without them (issue 12).

``tools/contract_statements.json`` lists the testable statements of the API contract
(/work/shared/vilvik-api-contract.md, §1-§14), each with the test node ids that check it
and, for most, a *mutation*: an exact snippet of ``vilvik_emulator/`` and what to put in
its place so that exactly that behaviour is gone. This tool applies each mutation in a
throw-away copy of the working tree (never in the tree itself), runs the named tests
against the copy, and records whether they fail (the mutation is *killed*: a test guards
the statement) or pass (it *survived*). It prints a Markdown table by section.

    .venv/bin/python tools/contract_mutations.py --jobs 2
    .venv/bin/python tools/contract_mutations.py --only §4 --only §4a
    .venv/bin/python tools/contract_mutations.py --id 4.page-size-clamp

The copy reuses this checkout's virtualenv interpreter with ``PYTHONPATH`` pointing at
the copy, and checks that ``vilvik_emulator`` is imported from the copy before it runs
anything. ``tests/test_contract_statements.py`` keeps the data file honest (every node
id exists, every ``old`` snippet occurs exactly once) without running any mutation.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tools" / "contract_statements.json"
PACKAGE = "vilvik_emulator"

#: the contract's sections, in the contract's order (§5 "create" is the section's own text)
SECTIONS = ("§1", "§2", "§3", "§4", "§4a", "§5", "§5.1", "§5.2", "§5.3", "§5.3a", "§5.4", "§5.5",
            "§6", "§7", "§8", "§9", "§10", "§11", "§12", "§13", "§13a")
SECTION_TITLES = {
    "§1": "General conventions", "§2": "Authentication, keys, scopes", "§3": "Errors",
    "§4": "Lists, pagination, filters", "§4a": "Idempotency", "§5": "Submissions: create",
    "§5.1": "Submission detail", "§5.2": "Submission list rows", "§5.3": "Delete / cancel",
    "§5.3a": "Modify (PATCH)", "§5.4": "Re-execute", "§5.5": "Quick types", "§6": "Running a job",
    "§7": "Results", "§8": "Credits", "§9": "Code uploads", "§10": "Imports", "§11": "Webhooks",
    "§12": "Health and device login", "§13": "The emulator's own surface", "§13a": "Interception",
}
#: pytest's exit codes: 0 all passed, 1 some failed; anything else is not a verdict
PASSED, FAILED = 0, 1


def load(path: Path = DATA) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["statements"]


def mutations_of(entry: dict) -> list[dict]:
    """An entry's mutation as a list of edits applied together (``mutation`` is one edit or a list)."""
    mutation = entry.get("mutation")
    if mutation is None:
        return []
    return mutation if isinstance(mutation, list) else [mutation]


def git_files(root: Path, *options: str) -> list[str]:
    output = subprocess.run(["git", "ls-files", "-z", *options], cwd=root, check=True, capture_output=True).stdout
    return [name for name in output.decode().split("\0") if name and (root / name).is_file()]


def make_copy(root: Path, destination: Path, *, worktree: bool) -> Path:
    """A copy of the tree: the committed files (``HEAD``) plus untracked, not ignored ones (a new
    test not yet committed), or with ``worktree`` the working tree as it is, others' edits included."""
    destination.mkdir(parents=True)
    if worktree:
        names = git_files(root, "-co", "--exclude-standard")
    else:
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=root, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
        names = git_files(root, "-o", "--exclude-standard")
    for name in names:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    return destination


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


def check_import(python: str, copy: Path) -> None:
    """Refuse to run unless the copy's package is the one a test imports (not this checkout's)."""
    found = subprocess.run([python, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"], cwd=copy,
                           env=environment(copy), capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"{PACKAGE} is imported from {found}, not from the copy {copy}: refusing to run")


def pytest_command(python: str, tests: list[str], timeout: int) -> list[str]:
    command = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", f"timeout={timeout}",
               "--no-header"]
    if importlib.util.find_spec("pytest_randomly") is not None:
        command += ["-p", "no:randomly"]
    return command + tests


def drop_bytecode(path: Path) -> None:
    """A mutated module and its restored original can share size and mtime second: drop the
    cached bytecode so each run compiles the source it sees."""
    for cached in path.parent.glob(f"__pycache__/{path.stem}.*.pyc"):
        cached.unlink(missing_ok=True)


@dataclass
class Outcome:
    entry: dict
    verdict: str  # killed | survived | error | no-mutation | untested | broken
    seconds: float = 0.0
    detail: str = ""
    tail: list[str] = field(default_factory=list)


class Worker:
    """One copy of the tree; mutations run in it one at a time, each undone afterwards."""

    def __init__(self, python: str, copy: Path, timeout: int) -> None:
        self.python = python
        self.copy = copy
        self.timeout = timeout

    def run_tests(self, tests: list[str], extra: list[str] | None = None) -> subprocess.CompletedProcess:
        command = pytest_command(self.python, tests, self.timeout)
        if extra:
            command[3:3] = extra
        return subprocess.run(command, cwd=self.copy, env=environment(self.copy), capture_output=True, text=True,
                              timeout=self.timeout * max(2, len(tests)) + 120)

    def mutate(self, entry: dict) -> Outcome:
        edits = mutations_of(entry)
        originals: dict[Path, str] = {}
        started = time.monotonic()
        try:
            for edit in edits:
                path = self.copy / PACKAGE / edit["file"]
                source = originals.get(path) or path.read_text(encoding="utf-8")
                originals.setdefault(path, source)
                current = path.read_text(encoding="utf-8")
                count = current.count(edit["old"])
                if count != 1:
                    return Outcome(entry, "error", detail=f"`old` occurs {count} times in {edit['file']}")
                path.write_text(current.replace(edit["old"], edit["new"]), encoding="utf-8")
                drop_bytecode(path)
            try:
                completed = self.run_tests(entry["tests"])
            except subprocess.TimeoutExpired:
                return Outcome(entry, "killed", time.monotonic() - started, "the tests hung (timeout)")
        finally:
            for path, source in originals.items():
                path.write_text(source, encoding="utf-8")
                drop_bytecode(path)
        seconds = time.monotonic() - started
        tail = (completed.stdout + completed.stderr).strip().splitlines()[-12:]
        if completed.returncode == FAILED:
            failed = [line for line in completed.stdout.splitlines() if line.startswith(("FAILED ", "ERROR tests"))]
            return Outcome(entry, "killed", seconds, failed[0] if failed else "", tail)
        if completed.returncode == PASSED:
            return Outcome(entry, "survived", seconds, "", tail)
        return Outcome(entry, "error", seconds, f"pytest exited {completed.returncode}", tail)


def baseline(worker: Worker, entries: list[dict], jobs: int) -> set[str]:
    """Node ids that fail without any mutation (a kill of theirs would prove nothing)."""
    tests = sorted({test for entry in entries for test in entry["tests"]})
    command = pytest_command(worker.python, tests, worker.timeout)
    command.remove("-x")
    if jobs > 1 and importlib.util.find_spec("xdist") is not None:
        command += ["-n", str(jobs)]
    completed = subprocess.run(command, cwd=worker.copy, env=environment(worker.copy), capture_output=True,
                               text=True)
    failing = set()
    for line in completed.stdout.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            failing.add(line.split()[1])
    if completed.returncode not in (PASSED, FAILED):
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        raise SystemExit(f"the baseline run of the named tests could not run (pytest exited {completed.returncode})")
    return failing


def fails_in_baseline(entry: dict, failing: set[str]) -> list[str]:
    return [test for test in entry["tests"] if any(bad == test or bad.startswith(test + "[") for bad in failing)]


def table(outcomes: list[Outcome], entries: list[dict]) -> str:
    lines = ["| Section | | Statements | With a test | Mutation-verified (killed) | Survived | "
             "Tested, not mutation-verified | Errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    totals = [0] * 6
    for section in SECTIONS:
        of_section = [outcome for outcome in outcomes if outcome.entry["section"] == section]
        if not of_section:
            continue
        counts = [len(of_section),
                  sum(1 for outcome in of_section if outcome.entry["tests"]),
                  sum(1 for outcome in of_section if outcome.verdict == "killed"),
                  sum(1 for outcome in of_section if outcome.verdict == "survived"),
                  sum(1 for outcome in of_section if outcome.verdict == "no-mutation"),
                  sum(1 for outcome in of_section if outcome.verdict in ("error", "broken"))]
        totals = [total + count for total, count in zip(totals, counts)]
        lines.append(f"| {section} | {SECTION_TITLES[section]} | " + " | ".join(map(str, counts)) + " |")
    lines.append("| **Total** | | " + " | ".join(f"**{count}**" for count in totals) + " |")
    return "\n".join(lines)


def report(outcomes: list[Outcome], entries: list[dict]) -> str:
    parts = [table(outcomes, entries)]
    for verdict, title in (("survived", "Survivors (the mutation broke the statement and the named tests still "
                                        "passed)"),
                           ("error", "Errors (no verdict)"),
                           ("broken", "Named tests that fail without any mutation")):
        chosen = [outcome for outcome in outcomes if outcome.verdict == verdict]
        parts.append(f"\n**{title}: {len(chosen)}**\n")
        for outcome in chosen:
            entry = outcome.entry
            parts.append(f"- `{entry['id']}` ({entry['section']}): {entry['statement']}"
                         + (f" — {outcome.detail}" if outcome.detail else ""))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", metavar="SECTION", help="only this section (repeatable), e.g. §4a")
    parser.add_argument("--id", action="append", metavar="ID", help="only this statement (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="copies run side by side (default 1)")
    parser.add_argument("--timeout", type=int, default=180, help="pytest-timeout per test, seconds (default 180)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the named tests without mutations")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every outcome as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the copies (their paths are printed)")
    parser.add_argument("--worktree", action="store_true",
                        help="copy the working tree as it is (default: HEAD plus untracked files)")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"),
                        help="the interpreter (default: this checkout's .venv)")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)

    entries = load(args.data)
    if args.only:
        unknown = set(args.only) - set(SECTIONS)
        if unknown:
            parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
        entries = [entry for entry in entries if entry["section"] in args.only]
    if args.id:
        unknown = set(args.id) - {entry["id"] for entry in entries}
        if unknown:
            parser.error(f"unknown statement id(s) {', '.join(sorted(unknown))} (see {args.data.name})")
        entries = [entry for entry in entries if entry["id"] in args.id]
    if not entries:
        parser.error("no statement is selected")
    jobs = max(1, args.jobs)
    scratch = Path(tempfile.mkdtemp(prefix="contract-mutations-"))
    workers = []
    try:
        for number in range(jobs):
            copy = make_copy(ROOT, scratch / f"copy{number}", worktree=args.worktree)
            check_import(args.python, copy)
            workers.append(Worker(args.python, copy, args.timeout))
        print(f"copies under {scratch}; {len(entries)} statements, "
              f"{sum(1 for entry in entries if mutations_of(entry))} mutations, {jobs} job(s)", file=sys.stderr)
        failing = set() if args.no_baseline else baseline(workers[0], entries, jobs)
        outcomes: list[Outcome] = []
        todo: list[dict] = []
        for entry in entries:
            broken = fails_in_baseline(entry, failing)
            if broken:
                outcomes.append(Outcome(entry, "broken", detail="fails unmutated: " + ", ".join(broken)))
            elif not entry["tests"]:
                outcomes.append(Outcome(entry, "untested"))
            elif not mutations_of(entry):
                outcomes.append(Outcome(entry, "no-mutation"))
            else:
                todo.append(entry)
        free = list(workers)
        lock = threading.Lock()

        def run(entry: dict) -> Outcome:
            with lock:
                worker = free.pop()
            try:
                return worker.mutate(entry)
            finally:
                with lock:
                    free.append(worker)

        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for done, outcome in enumerate(pool.map(run, todo), 1):
                outcomes.append(outcome)
                print(f"[{done}/{len(todo)}] {outcome.verdict:8} {outcome.seconds:6.1f}s {outcome.entry['id']}"
                      + (f"  {outcome.detail}" if outcome.detail else ""), file=sys.stderr, flush=True)
                if outcome.verdict in ("survived", "error"):
                    for line in outcome.tail:
                        print(f"        {line}", file=sys.stderr)
        order = {entry["id"]: position for position, entry in enumerate(entries)}
        outcomes.sort(key=lambda outcome: order[outcome.entry["id"]])
        print(report(outcomes, entries))
        if args.json:
            args.json.write_text(json.dumps([{"id": outcome.entry["id"], "section": outcome.entry["section"],
                                              "verdict": outcome.verdict, "seconds": round(outcome.seconds, 1),
                                              "detail": outcome.detail} for outcome in outcomes], indent=1,
                                             ensure_ascii=False) + "\n", encoding="utf-8")
        return 1 if any(outcome.verdict in ("survived", "error", "broken") for outcome in outcomes) else 0
    finally:
        if args.keep:
            print(f"kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
