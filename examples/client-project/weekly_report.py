"""The weekly route report: code written the way most Vilvik users write it.

It builds ``vilvik.Client()`` with no arguments (the key comes from ``VILVIK_API_KEY`` or
``vilvik login``, the base URL is the SDK's hard-coded ``https://vilvik.com/api/v1``),
uses ``vilvik.run`` and calls the REST API with ``requests``. It has no seam to point it
anywhere else, so its tests intercept it (tests/test_weekly_report.py).
"""

from __future__ import annotations

import os

import requests
import vilvik
from route_planner import COST

API = "https://vilvik.com/api/v1"


def plan_this_week(*, seed: int | None = None) -> str:
    """Start this week's run; its submission id."""
    submission = vilvik.Client().submissions.create(
        fitness_func=COST, num_genes=8, num_generations=60, sol_per_pop=20, name="weekly route",
        gene_space=[0, 1], gene_type="int", random_seed=seed)
    return submission.id


def best_stops(submission_id: str, *, poll_interval: float = 3.0) -> list[int]:
    result = vilvik.Client().results.wait_for(submission_id, poll_interval=poll_interval, timeout=300)
    return [index for index, keep in enumerate(result.best_solution) if keep]


def quick_check(*, poll_interval: float = 3.0) -> float:
    """A one-off run in a single call, the way a notebook cell does it."""
    with vilvik.run(fitness_func=COST, num_genes=8, num_generations=10, sol_per_pop=10, gene_space=[0, 1],
                    gene_type="int", random_seed=1, poll_interval=poll_interval) as result:
        return result.best_fitness


def recent_run_names(limit: int = 10) -> list[str]:
    """Straight from the REST API (the dashboard's list, newest first)."""
    response = requests.get(f"{API}/submissions/", params={"page_size": limit}, timeout=30,
                            headers={"Authorization": f"Bearer {os.environ['VILVIK_API_KEY']}"})
    response.raise_for_status()
    return [row["name"] for row in response.json()["results"]]
