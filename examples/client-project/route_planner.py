"""A small client of the hosted Vilvik API: it finds the cheapest stops for a delivery route.

It knows nothing of the emulator; its tests point it at one (see tests/).
"""

from __future__ import annotations

import vilvik

COST = '''
DISTANCES = [4, 9, 2, 7, 3, 8, 1, 6]


def route_cost(ga_instance, solution, solution_idx):
    """Pick exactly three stops (genes are 0/1) with the smallest total distance."""
    chosen = [distance for distance, keep in zip(DISTANCES, solution) if keep]
    penalty = 100 * abs(len(chosen) - 3)
    return -(sum(chosen) + penalty)
'''


class RoutePlanner:
    def __init__(self, client: vilvik.Client) -> None:
        self.client = client

    def submit(self, *, seed: int | None = None) -> str:
        submission = self.client.submissions.create(
            fitness_func=COST, num_genes=8, num_generations=60, sol_per_pop=20, name="route planning",
            gene_space=[0, 1], gene_type="int", random_seed=seed)
        return submission.id

    def best_stops(self, submission_id: str, *, poll_interval: float = 3.0) -> list[int]:
        """The indices of the chosen stops, once the run is done."""
        result = self.client.results.wait_for(submission_id, poll_interval=poll_interval, timeout=300)
        return [index for index, keep in enumerate(result.best_solution) if keep]

    def status(self, submission_id: str) -> str:
        try:
            return self.client.submissions.get(submission_id).status
        except vilvik.RateLimitError as error:
            return f"busy, retry in {error.retry_after} s"
