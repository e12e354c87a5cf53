"""Every create-time rule answers 422 naming the field at fault (contract §3, §5, §6).

One case per rule of ``core/drafts.py``, ``core/parameters.py`` and ``core/code.py`` (the
schema's per-field rules are covered where each field is tested; the imports' rules in
``test_imports.py``): the 422's ``details`` name the field, its message says what is
wrong, the envelope's message starts with the field, and nothing was created.
"""

from __future__ import annotations

import re

import pytest
from helpers import assert_validation_failed, submission_ids

FITNESS = "def fitness_func(ga_instance, solution, solution_idx):\n    return 0.0\n"
BASE = {"fitness_func": FITNESS, "fitness_func_entry": "fitness_func", "num_genes": 5, "sol_per_pop": 6,
        "num_generations": 2}
NO_FITNESS = {name: value for name, value in BASE.items() if not name.startswith("fitness_func")}

CASES = [
    # core/drafts.py: the code fields as a whole
    ("fitness-required", {"fitness_func": None, "fitness_func_entry": None}, "fitness_func",
     r"^is required \(Python source, or fitness_func_id"),
    ("entry-required", {"fitness_func_entry": None}, "fitness_func_entry", r"^is required when fitness_func is sent"),
    ("callback-entry-required", {"on_stop": "def s(ga, fitness):\n    pass\n"}, "on_stop_entry",
     r"^is required when on_stop is sent"),
    ("unknown-upload", {"fitness_func": None, "fitness_func_id": "code_AAAAAAAAAAAA", "fitness_func_entry": "f"},
     "fitness_func_id", r"code upload"),
    # core/code.py: compiling and finding the entry, without running the code
    ("syntax-error", {"fitness_func": "def fitness_func(a, b, c):\n    return (\n"}, "fitness_func",
     r"^does not compile \(line \d+"),
    ("callback-syntax-error", {"on_start": "def s(ga)\n    pass\n", "on_start_entry": "s"}, "on_start",
     r"^does not compile \(line 1"),
    ("entry-not-defined", {"fitness_func_entry": "missing"}, "fitness_func_entry",
     r"'missing' names no top-level function or class in fitness_func \(defined: fitness_func\)"),
    ("entry-is-a-variable", {"fitness_func": "fitness_func = 3\n"}, "fitness_func_entry",
     r"names no top-level function or class"),
    ("class-without-call", {"on_generation": "class G:\n    pass\n", "on_generation_entry": "G"},
     "on_generation_entry", r"has no __call__ method"),
    ("constraint-entry-not-a-list", {"gene_constraint": "def c(s, v):\n    return v\n",
                                     "gene_constraint_entry": "c"}, "gene_constraint_entry",
     r"is not a top-level assignment in gene_constraint"),
    # core/parameters.py: rules across parameters, before PyGAD sees the run
    ("num-genes-required", {"num_genes": None}, "num_genes", r"^is required$"),
    ("parents-above-population", {"num_parents_mating": 7}, "num_parents_mating", r"^must be <= sol_per_pop \(6\)$"),
    ("batch-above-population", {"fitness_batch_size": 7}, "fitness_batch_size",
     r"^must be between 1 and sol_per_pop \(6\)$"),
    ("ragged-population", {"initial_population": [[1, 2], [1]], "num_genes": None, "sol_per_pop": None},
     "initial_population", r"^must be rectangular"),
    ("population-genes-disagree", {"initial_population": [[1, 2, 3]] * 6}, "initial_population",
     r"has 3 genes per solution, but num_genes is 5"),
    ("population-size-disagrees", {"initial_population": [[1, 2, 3, 4, 5]] * 4}, "initial_population",
     r"has 4 solutions, but sol_per_pop is 6"),
    ("custom-without-expression", {"gene_type": "custom"}, "custom_gene_type", r"needs custom_gene_type"),
    ("custom-unknown-name", {"gene_type": "custom", "custom_gene_type": "[int, evil]"}, "custom_gene_type",
     r"unknown type 'evil'"),
    # core/parameters.py: PyGAD's own constructor, its message kept and its field found
    ("keep-elitism", {"keep_elitism": 7}, "keep_elitism", r"^rejected by PyGAD: keep_elitism must be <= 6"),
    ("keep-parents", {"keep_parents": 7}, "keep_parents", r"^rejected by PyGAD: keep_parents must be <= 3"),
    ("mutation-num-genes", {"mutation_num_genes": 9}, "mutation_num_genes", r"^rejected by PyGAD: "),
    ("adaptive-needs-pairs", {"mutation_type": "adaptive"}, "mutation_type", r"^rejected by PyGAD: Adaptive"),
    ("gene-space-length", {"gene_space": [[1, 2]]}, "gene_space", r"^rejected by PyGAD: .*length \(1\)"),
    ("gene-type-length", {"gene_type": ["int", "float"]}, "gene_type", r"^rejected by PyGAD: .*length \(2\)"),
    ("gene-categorical-length", {"gene_categorical": [True]}, "gene_categorical", r"^rejected by PyGAD: "),
    ("nsga3-divisions", {"parent_selection_type": "nsga3"}, "nsga3_num_divisions", r"^rejected by PyGAD: NSGA-III"),
    ("callback-arity", {"on_stop": "def s(ga):\n    pass\n", "on_stop_entry": "s"}, "on_stop",
     r"^rejected by PyGAD: on_stop must accept 2"),
    ("fitness-arity", {"fitness_func": "def fitness_func(solution):\n    return 0\n"}, "fitness_func",
     r"^rejected by PyGAD: "),
    ("async-fitness", {"fitness_func": "async def fitness_func(a, b, c):\n    return 0\n"}, "fitness_func",
     r"^rejected by PyGAD: fitness_func must be a synchronous callable"),
    ("constraint-length", {"gene_constraint": "def c(s, v):\n    return v\n\nlimits = [c, None]\n",
                           "gene_constraint_entry": "limits"}, "gene_constraint", r"^rejected by PyGAD: "),
]


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize(("delta", "field", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_create_rule_names_its_field(api, delta, field, message):
    body = {name: value for name, value in {**BASE, **delta}.items() if value is not None}

    response = api.post("submissions", json=body)

    error = assert_validation_failed(response, field)
    messages = {item["field"]: item["message"] for item in error["details"]}
    assert re.search(message, messages[field]), messages
    assert error["message"].startswith(f"{field} "), error["message"]
    assert submission_ids(api) == []


@pytest.mark.vilvik_mode("manual")
def test_a_ragged_population_is_the_one_problem_named_not_the_num_genes_it_would_give(api):
    """Without num_genes the population gives the gene count; a ragged one cannot, and saying
    "num_genes is required" too would send the user after the wrong field."""
    body = {**BASE, "initial_population": [[1, 2], [1]]}
    body.pop("num_genes"), body.pop("sol_per_pop", None)

    error = assert_validation_failed(api.post("submissions", json=body), "initial_population")
    assert [item["field"] for item in error["details"]] == ["initial_population"], error["details"]


@pytest.mark.vilvik_mode("manual")
def test_an_upload_of_another_account_or_expired_names_the_id_field(api, control, other_account):
    theirs = other_account.post("code-uploads", json={"content": FITNESS}).json()["code_id"]
    mine = api.post("code-uploads", json={"content": FITNESS}).json()["code_id"]

    for upload in (theirs,):
        response = api.post("submissions", json={**NO_FITNESS, "fitness_func_id": upload,
                                                 "fitness_func_entry": "fitness_func"})
        assert_validation_failed(response, "fitness_func_id")
    control.clock_advance(8 * 24 * 3600)
    response = api.post("submissions", json={**NO_FITNESS, "on_start_id": mine, "on_start_entry": "fitness_func",
                                             "fitness_func": FITNESS, "fitness_func_entry": "fitness_func"})
    error = assert_validation_failed(response, "on_start_id")
    assert "expired" in {item["field"]: item["message"] for item in error["details"]}["on_start_id"]
    assert submission_ids(api) == []


@pytest.mark.vilvik_mode("manual")
def test_several_problems_are_all_named(api):
    response = api.post("submissions", json={**BASE, "num_parents_mating": 7, "fitness_batch_size": 7,
                                             "on_stop": "def s(ga)\n", "on_stop_entry": "s"})

    error = assert_validation_failed(response, "num_parents_mating")
    named = {item["field"] for item in error["details"]}
    assert {"num_parents_mating", "fitness_batch_size"} <= named
    assert re.search(r"\(and \d+ more problems?\)$", error["message"]), error["message"]
