"""The remembered verdicts of PyGAD's constructor check (core/drafts.py): a create that was
checked before answers exactly as the first time, and a verdict never leaks between runs
that differ in any parameter or any line of code."""

from __future__ import annotations

from helpers import EXAMPLE, assert_validation_failed

from vilvik_emulator.core import drafts


def test_the_same_rejected_run_is_rejected_the_same_way_again(api):
    body = {**EXAMPLE, "num_parents_mating": 50, "sol_per_pop": 10}
    first = api.post("submissions", json=body)
    error = assert_validation_failed(first, "num_parents_mating")
    again = api.post("submissions", json=body)
    assert again.status_code == 422 and again.json()["error"]["details"] == error["details"]
    # the remembered details are copies: editing a response's never changes the next
    assert all(isinstance(detail, dict) for detail in again.json()["error"]["details"])


def test_a_verdict_is_for_its_exact_parameters_and_code(api):
    accepted = api.create()
    assert accepted["status"] in ("queued", "running", "succeeded")
    # one parameter apart: PyGAD is asked again and refuses
    assert_validation_failed(api.post("submissions", json={**EXAMPLE, "num_parents_mating": 11}),
                             "num_parents_mating")
    # the same parameters, the entry's signature changed: the code is checked again
    two_arguments = EXAMPLE["fitness_func"].replace("ga_instance, solution, solution_idx", "solution")
    assert_validation_failed(api.post("submissions", json={**EXAMPLE, "fitness_func": two_arguments}),
                             "fitness_func")
    # 5 and 5.0 are different keys (PyGAD tells an int from a float in several parameters)
    assert drafts._verdict_key({"num_genes": 5}, {}) != drafts._verdict_key({"num_genes": 5.0}, {})


def test_large_code_is_never_kept(api):
    big = EXAMPLE["fitness_func"] + "#" * (drafts.VERDICT_KEY_LIMIT + 1) + "\n"
    assert drafts._verdict_key(dict(EXAMPLE), {"fitness_func": big}) is None
    assert api.create(fitness_func=big)["id"]
