"""A failed run's traceback shows the user's code only (contract §5.1).

Frames of the emulator, PyGAD, the standard library and site-packages are cut; the
user's code is named by its field (``File "<fitness_func>", line 3, in fitness_func``),
also when it came from a code upload or ran in PyGAD's process pool; no path of this
machine appears anywhere in ``error.traceback`` or ``error.message``.
"""

from __future__ import annotations

import os
import re
import site
import sys

import numpy
import pygad
import pytest

import vilvik_emulator

SMALL = {"num_generations": 3, "sol_per_pop": 4, "num_parents_mating": 2, "num_genes": 3, "random_seed": 1}
CODE_FIELDS = ("fitness_func", "on_start", "on_fitness", "on_parents", "on_crossover", "on_mutation",
               "on_generation", "on_stop", "gene_constraint")
FILE_LINE = re.compile(r'^\s*File "([^"]*)", line (\d+), in (\S+)$', re.MULTILINE)

HELPER = '''\
import math

def helper(x):
    return math.sqrt(-1 - x)

def fitness_func(ga_instance, solution, solution_idx):
    return helper(1)
'''

SPHERE = '''\
def fitness_func(ga_instance, solution, solution_idx):
    return -sum(x * x for x in solution)
'''

CALLBACK = '''\
def check(generation):
    if generation >= 1:
        raise RuntimeError(f"generation {generation} is one too many")

def on_generation(ga_instance):
    check(ga_instance.generations_completed)
'''

LIBRARY = '''\
import numpy

def fitness_func(ga_instance, solution, solution_idx):
    return float(numpy.linalg.inv(numpy.zeros((2, 2)))[0, 0])
'''

CHAINED = '''\
def lookup(table, key):
    try:
        return table[key]
    except KeyError as missing:
        raise ValueError(f"no weight for {key!r}") from missing

def fitness_func(ga_instance, solution, solution_idx):
    return lookup({}, "gene")
'''

RAISES = '''\
def fitness_func(ga_instance, solution, solution_idx):
    return 1 / 0
'''


def machine_paths() -> list[str]:
    """Directories of this machine that must never show in what a client sees."""
    roots = {sys.prefix, sys.base_prefix, os.path.dirname(os.__file__), os.path.dirname(vilvik_emulator.__file__),
             os.path.dirname(pygad.__file__), os.path.dirname(numpy.__file__), os.getcwd(),
             *site.getsitepackages()}
    return sorted(root for root in roots if root and root != os.sep)


def assert_only_user_code(text: str) -> list[tuple[str, int, str]]:
    """Every frame names a code field; no path of this machine; returns the frames (file, line, function)."""
    frames = [(name, int(line), function) for name, line, function in FILE_LINE.findall(text)]
    for name, _, _ in frames:
        assert name in {f"<{field}>" for field in CODE_FIELDS}, (name, text)
    for root in machine_paths():
        assert root not in text, (root, text)
    for word in ("site-packages", "vilvik_emulator", "pygad", "concurrent", "worker.py", 'File "/'):
        assert word not in text, (word, text)
    return frames


def failed(api, control, **fields) -> dict:
    response = api.post("submissions", json={**SMALL, "fitness_func_entry": "fitness_func", **fields})
    assert response.status_code == 202, response.text
    detail = control.wait(response.json()["id"])
    assert detail["status"] == "failed", detail
    assert detail["error"]["code"] == "fitness_error", detail["error"]
    assert_only_user_code(detail["error"]["message"])
    return detail["error"]


def test_an_error_inside_a_helper_shows_both_frames_of_the_fitness_field(api, control):
    error = failed(api, control, fitness_func=HELPER)

    trace = error["traceback"]
    assert trace.startswith("Traceback (most recent call last):\n"), trace
    frames = assert_only_user_code(trace)
    assert frames == [("<fitness_func>", 7, "fitness_func"), ("<fitness_func>", 4, "helper")], trace
    # the user's own lines are shown under their frames, as Python shows them
    assert "    return helper(1)\n" in trace and "    return math.sqrt(-1 - x)\n" in trace
    assert trace.rstrip().endswith("ValueError: math domain error"), trace
    assert error["message"] == "ValueError: math domain error"


def test_an_error_inside_a_callback_is_named_by_the_callback_field(api, control):
    error = failed(api, control, fitness_func=SPHERE, on_generation=CALLBACK, on_generation_entry="on_generation")

    frames = assert_only_user_code(error["traceback"])
    assert frames == [("<on_generation>", 6, "on_generation"), ("<on_generation>", 3, "check")], error
    assert error["traceback"].rstrip().endswith("RuntimeError: generation 1 is one too many")


def test_code_from_an_upload_is_named_by_the_field_that_references_it(api, control):
    upload = api.post("code-uploads", json={"content": HELPER})
    assert upload.status_code == 201, upload.text

    error = failed(api, control, fitness_func_id=upload.json()["code_id"], fitness_func_entry="fitness_func")

    frames = assert_only_user_code(error["traceback"])
    assert frames == [("<fitness_func>", 7, "fitness_func"), ("<fitness_func>", 4, "helper")], error
    assert upload.json()["code_id"] not in error["traceback"]


def test_frames_inside_a_library_the_user_called_are_cut(api, control):
    error = failed(api, control, fitness_func=LIBRARY)

    frames = assert_only_user_code(error["traceback"])
    assert frames == [("<fitness_func>", 4, "fitness_func")], error
    assert error["traceback"].rstrip().endswith("numpy.linalg.LinAlgError: Singular matrix"), error


def test_a_chained_error_keeps_both_exceptions_with_user_frames_only(api, control):
    error = failed(api, control, fitness_func=CHAINED)

    trace = error["traceback"]
    frames = assert_only_user_code(trace)
    assert frames == [("<fitness_func>", 3, "lookup"), ("<fitness_func>", 8, "fitness_func"),
                      ("<fitness_func>", 5, "lookup")], trace
    assert "KeyError: 'gene'" in trace
    assert "The above exception was the direct cause of the following exception" in trace
    assert trace.rstrip().endswith("ValueError: no weight for 'gene'")


@pytest.mark.parametrize("pool", [["thread", 2], ["process", 2]], ids=["threads", "processes"])
def test_an_error_in_a_parallel_fitness_function_shows_the_users_frame(api, control, pool):
    """A process pool sends the worker's traceback back as text; its user frame is kept, named by field."""
    error = failed(api, control, fitness_func=RAISES, parallel_processing=pool)

    trace = error["traceback"]
    frames = assert_only_user_code(trace)
    assert frames == [("<fitness_func>", 2, "fitness_func")], trace
    assert "    return 1 / 0\n" in trace
    assert trace.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "_RemoteTraceback" not in trace and '"""' not in trace


def test_an_error_pygad_raises_about_a_return_value_shows_no_internal_frame(api, control):
    """The exception is PyGAD's (the fitness returned None): no frame is the user's, so none is shown."""
    returns_none = "def fitness_func(ga_instance, solution, solution_idx):\n    return None\n"

    error = failed(api, control, fitness_func=returns_none)

    trace = error["traceback"]
    assert trace.startswith("Traceback (most recent call last):\n"), trace
    assert assert_only_user_code(trace) == [], trace
    assert trace.rstrip().splitlines()[-1].startswith("ValueError: "), trace
    assert "NoneType" in trace
