"""Shared helpers for the emulator's own test suite."""

from __future__ import annotations

from typing import Any

import requests

SPHERE = '''\
def fitness_func(ga_instance, solution, solution_idx):
    return -sum(x * x for x in solution)
'''

#: the SDK README's example (100 generations, 5 genes) with a small population
EXAMPLE = {"fitness_func": SPHERE, "fitness_func_entry": "fitness_func", "num_genes": 5,
           "num_generations": 100, "sol_per_pop": 10, "num_parents_mating": 4}

#: a minimal valid import (contract §10): what ``vilvik.push`` would send for a tiny run
IMPORT_BODY = {
    "name": "imported",
    "ga_parameters": {"num_generations": 2, "num_genes": 2, "sol_per_pop": 4, "num_parents_mating": 2},
    "code": {"fitness_func": SPHERE},
    "result": {"best_solution": [0.1, 0.2], "best_solution_fitness": -0.05,
               "best_solutions_fitness": [-1.0, -0.5, -0.05], "generations_completed": 2,
               "best_solution_generation": 2, "population": [[0.1, 0.2]] * 4},
    "origin": {"client": "tests"},
}

NEVER_RETURNS = '''\
def fitness_func(ga_instance, solution, solution_idx):
    while True:
        pass
'''


class Api:
    """A ``requests`` session bound to one emulator's ``/api/v1`` with a default key.

    Every response is checked against the OpenAPI document when a checker is set.
    """

    def __init__(self, base_url: str, api_key: str | None, checker=None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.session = requests.Session()
        self.checker = checker

    def request(self, method: str, path: str, *, key: Any = "default", headers: dict | None = None,
                **kwargs: Any) -> requests.Response:
        headers = dict(headers or {})
        key = self.api_key if key == "default" else key
        if key is not None:
            headers.setdefault("Authorization", f"Bearer {key}")
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        response = self.session.request(method, url, headers=headers, timeout=60, **kwargs)
        if self.checker is not None:
            self.checker(response)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, **overrides: Any) -> dict:
        """Create a submission of the example problem; asserts the 202."""
        response = self.post("submissions", json={**EXAMPLE, **overrides})
        assert response.status_code == 202, response.text
        return response.json()


def error_code(response: requests.Response) -> str:
    return response.json()["error"]["code"]


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def submission_ids(api: Api) -> list[str]:
    """The ids of the account's submissions (first page of 100), newest first."""
    response = api.get("submissions/", params={"page_size": 100})
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["results"]]


def assert_validation_failed(response: requests.Response, field: str) -> dict:
    """A 422 ``validation_failed`` naming ``field`` (or a dotted path inside it) among its details."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed", error
    named = [detail["field"] for detail in error["details"]]
    assert any(name == field or name.startswith(f"{field}.") for name in named), error
    return error


def balance(control, account: str = "acct_default") -> float:
    return control.request("GET", f"accounts/{account}")["credits"]


def run_coroutine(coroutine):
    """``asyncio.run`` on a thread of its own: a session-scoped browser (Playwright's sync API) keeps an
    event loop running on the test thread, where ``asyncio.run`` refuses to start another."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
