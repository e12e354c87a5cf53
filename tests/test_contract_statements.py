"""The map of contract statements to tests and mutations stays true (issue 12).

``tools/contract_statements.json`` names, for each testable statement of the contract,
the tests that check it and a mutation of ``vilvik_emulator/`` that breaks it;
``tools/contract_mutations.py`` runs those mutations (slow, not part of the suite).
This fast check keeps the map from rotting: every named test exists, every mutation's
``old`` snippet occurs exactly once and the mutated module still parses, every
section is one of the contract's.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tools" / "contract_statements.json"
PACKAGE = ROOT / "vilvik_emulator"


def _tool():
    spec = importlib.util.spec_from_file_location("contract_mutations", ROOT / "tools" / "contract_mutations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


TOOL = _tool()
STATEMENTS = json.loads(DATA.read_text(encoding="utf-8"))["statements"]


@functools.cache
def _test_names(path: str) -> frozenset[str]:
    """``name`` and ``Class::name`` of every test function the module defines."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(f"{node.name}::{item.name}" for item in node.body
                         if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return frozenset(names)


def test_every_entry_has_the_fields_and_a_known_section():
    assert len(STATEMENTS) >= 120
    ids = [entry["id"] for entry in STATEMENTS]
    assert len(ids) == len(set(ids)), sorted({name for name in ids if ids.count(name) > 1})
    for entry in STATEMENTS:
        assert set(entry) <= {"id", "section", "statement", "tests", "mutation"}, entry["id"]
        assert entry["section"] in TOOL.SECTIONS, (entry["id"], entry["section"])
        assert isinstance(entry["statement"], str) and entry["statement"].strip(), entry["id"]
        assert isinstance(entry["tests"], list), entry["id"]


def test_the_commands_in_the_docs_name_statements_and_sections_that_exist():
    """docs/contract-coverage.md's commands are not run by the snippet test (a pass takes
    minutes): their ``--id``/``--only`` values are checked here instead."""
    import re

    text = (ROOT / "docs" / "contract-coverage.md").read_text(encoding="utf-8")
    ids = {entry["id"] for entry in STATEMENTS}
    named = re.findall(r"--id ([^\s`]+)", text)
    sections = re.findall(r"--only (§[0-9a-z.]+)", text)
    assert named and sections
    assert set(named) <= ids, sorted(set(named) - ids)
    assert set(sections) <= set(TOOL.SECTIONS), sorted(set(sections) - set(TOOL.SECTIONS))


def test_an_unknown_statement_id_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as stopped:
        TOOL.main(["--id", "no.such-statement"])
    assert stopped.value.code == 2
    assert "unknown statement id(s) no.such-statement" in capsys.readouterr().err


def test_every_section_of_the_contract_has_statements():
    assert {entry["section"] for entry in STATEMENTS} == set(TOOL.SECTIONS)


@pytest.mark.parametrize("entry", STATEMENTS, ids=[entry["id"] for entry in STATEMENTS])
def test_the_named_tests_exist(entry):
    for node_id in entry["tests"]:
        path, _, name = node_id.partition("::")
        assert path.startswith("tests/") and path.endswith(".py") and (ROOT / path).is_file(), node_id
        name = name.split("[", 1)[0]
        assert name in _test_names(path), f"{node_id}: no such test in {path}"
    assert entry["tests"] or "mutation" not in entry, f"{entry['id']}: a mutation needs a test to kill it"


@pytest.mark.parametrize("entry", [entry for entry in STATEMENTS if "mutation" in entry],
                         ids=[entry["id"] for entry in STATEMENTS if "mutation" in entry])
def test_the_mutation_applies_exactly_once_and_parses(entry):
    sources: dict[Path, str] = {}
    for edit in TOOL.mutations_of(entry):
        assert set(edit) == {"file", "old", "new"}, entry["id"]
        path = PACKAGE / edit["file"]
        assert path.is_file() and path.suffix == ".py", f"{entry['id']}: no module {edit['file']}"
        source = sources.get(path) or path.read_text(encoding="utf-8")
        count = source.count(edit["old"])
        assert count == 1, f"{entry['id']}: `old` occurs {count} times in {edit['file']} (update the map)"
        assert edit["new"] != edit["old"], entry["id"]
        sources[path] = source.replace(edit["old"], edit["new"])
    for path, source in sources.items():
        ast.parse(source, filename=str(path))  # a mutation must break behaviour, not the import
