"""`ordering=status` sorts submissions by the status text, alphabetically (contract §4), as DRF's
OrderingFilter does on a text field: cancelled < failed < queued < running < succeeded."""

from __future__ import annotations

import pytest

ALPHABETICAL = ["cancelled", "failed", "queued", "running", "succeeded"]


def statuses(api, ordering: str, page_size: int = 100) -> list[str]:
    """The statuses of every row, walking the pages through ``next``."""
    seen: list[str] = []
    url, params = "submissions/", {"ordering": ordering, "page_size": page_size}
    while url:
        response = api.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(row["status"] for row in page["results"])
        url, params = page["next"], None
    return seen


@pytest.mark.vilvik_mode("manual")
def test_ordering_by_status_is_alphabetical_both_ways_and_across_pages(api, control):
    # created in an order that is neither alphabetical nor its reverse, two of each status
    for status in ["running", "succeeded", "queued", "cancelled", "failed"] * 2:
        created = api.create(name=status)["id"]
        if status == "running":
            control.advance(created, "running")
        elif status == "succeeded":
            control.succeed(created, best_solution_fitness=1.0)
        elif status == "cancelled":
            control.cancel(created)
        elif status == "failed":
            control.fail(created)

    expected = [status for status in ALPHABETICAL for _ in range(2)]
    assert statuses(api, "status") == expected
    assert statuses(api, "-status") == expected[::-1]
    assert statuses(api, "status", page_size=3) == expected  # the cursor keeps the order between pages
    assert statuses(api, "-status", page_size=3) == expected[::-1]
