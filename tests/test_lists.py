"""Lists (contract §4): the envelope, cursor pagination, filters and orderings.

Submissions and results lists: page size (``page_size``/``limit``), absolute
``next``/``previous`` links that carry every filter, walking forwards and back,
stability while rows are inserted, cursor tampering, every documented filter and
ordering, and account isolation. Jobs are held (manual mode) and finished with canned
results, so nothing here runs PyGAD.
"""

from __future__ import annotations

import base64
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import Api, error_code

pytestmark = pytest.mark.vilvik_mode("manual")

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
SUBMISSION_ORDERINGS = ("created_at", "-created_at", "name", "-name", "status")
RESULT_ORDERINGS = ("created_at", "-created_at", "best_solution_fitness", "-best_solution_fitness")
ENDPOINTS = ("submissions", "results")
#: no test here has that many pages; more means the links go round in circles
MAX_PAGES = 100


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def listing(api, path: str, params=None) -> dict:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    return body


def ids(api, path: str, params=None) -> list[str]:
    params = list(params.items()) if isinstance(params, dict) else list(params or [])
    return [row["id"] for row in listing(api, path, [*params, ("page_size", "100")])["results"]]


def walk(api, path: str, params=None, between=None) -> list[list[dict]]:
    """Every page from the first by following ``next``; ``between()`` runs after each fetch."""
    pages = []
    body = listing(api, path, params)
    while True:
        assert len(pages) < MAX_PAGES, "next keeps leading to more pages"
        pages.append(body["results"])
        if between is not None:
            between()
        if body["next"] is None:
            return pages
        body = listing(api, body["next"])


def assert_invalid_parameter(response, name: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert name in error["message"], error


def assert_invalid_cursor(response) -> None:
    """DRF raises NotFound("Invalid cursor") for a cursor it did not issue (contract §4)."""
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("not_found", "Invalid cursor"), error


def create(api, **fields) -> str:
    return api.create(**fields)["id"]


def make_rows(api, control, endpoint: str, count: int, **fields) -> list[str]:
    """``count`` rows of ``endpoint`` (results: canned, fitness = creation index)."""
    made = []
    for index in range(count):
        submission_id = create(api, name=f"row {index:02d}", **fields)
        if endpoint == "results":
            control.succeed(submission_id, best_solution_fitness=float(index))
        made.append(submission_id)
    if endpoint == "submissions":
        return made
    rows = listing(api, "results/", {"page_size": 100})["results"]
    order = {submission_id: position for position, submission_id in enumerate(made)}
    return [row["id"] for row in sorted(rows, key=lambda row: order[row["submission_id"]])]


def next_cursor(api, control, endpoint: str, **params) -> str:
    make_rows(api, control, endpoint, 3)
    url = listing(api, f"{endpoint}/", {"page_size": 1, **params})["next"]
    return parse_qs(urlsplit(url).query)["cursor"][0]


# ---------------------------------------------------------------------- envelope and page size


@pytest.mark.parametrize("path", ["submissions/", "submissions", "results/", "results"])
def test_an_empty_list_is_the_bare_envelope(api, path):
    assert listing(api, path) == {"results": [], "next": None, "previous": None}


def test_default_page_size_is_20(api):
    made = make_rows(api, None, "submissions", 25)

    first = listing(api, "submissions/")
    second = listing(api, first["next"])

    assert len(first["results"]) == 20
    assert first["previous"] is None and first["next"] is not None
    assert len(second["results"]) == 5
    assert second["next"] is None and second["previous"] is not None
    assert sorted(row["id"] for row in first["results"] + second["results"]) == sorted(made)


@pytest.mark.parametrize("name", ["page_size", "limit"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_page_size_and_limit_are_synonyms(api, control, endpoint, name):
    make_rows(api, control, endpoint, 5)

    body = listing(api, f"{endpoint}/", {name: 2})

    assert len(body["results"]) == 2
    assert parse_qs(urlsplit(body["next"]).query)[name] == ["2"]
    assert len(listing(api, body["next"])["results"]) == 2


@pytest.mark.parametrize("name", ["page_size", "limit"])
def test_page_size_100_is_allowed(api, name):
    make_rows(api, None, "submissions", 3)
    body = listing(api, "submissions/", {name: 100})
    assert len(body["results"]) == 3 and body["next"] is None


@pytest.mark.parametrize("name", ["page_size", "limit"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_page_size_above_100_is_clamped_to_100(api, control, endpoint, name):
    """DRF's CursorPagination: a size above the maximum is clamped, never an error (contract §4)."""
    make_rows(api, control, endpoint, 101)

    body = listing(api, f"{endpoint}/", {name: 1000})

    assert len(body["results"]) == 100 and body["next"]


@pytest.mark.parametrize("value", ["0", "-1", "x", "2.5", ""])
@pytest.mark.parametrize("name", ["page_size", "limit"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_page_size_that_is_not_a_positive_integer_means_the_default_20(api, control, endpoint, name, value):
    make_rows(api, control, endpoint, 21)

    body = listing(api, f"{endpoint}/", {name: value})

    assert len(body["results"]) == 20 and body["next"]


def test_the_first_valid_size_of_page_size_and_limit_wins(api, control):
    make_rows(api, control, "submissions", 4)
    assert len(listing(api, "submissions/", {"limit": -5, "page_size": 3})["results"]) == 3
    assert len(listing(api, "submissions/", {"limit": 2, "page_size": "x"})["results"]) == 2


# ---------------------------------------------------------------------- links


@pytest.mark.parametrize("path", ["submissions/", "submissions"], ids=["docs-slash", "sdk-no-slash"])
def test_links_are_absolute_urls_of_the_collection_carrying_every_filter(api, path):
    for index in range(5):
        create(api, name=f"Run {index}")
    params = {"status": "queued", "name_contains": "run", "ordering": "name", "page_size": "2",
              "source": "api", "created_after": "2000-01-01T00:00:00Z"}

    first = listing(api, path, params)
    second = listing(api, first["next"])

    for url in (first["next"], second["previous"], second["next"]):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}/api/v1" == api.base_url
        assert parts.path == "/api/v1/submissions/"
        query = parse_qs(parts.query, keep_blank_values=True)
        assert {name: values for name, values in query.items() if name != "cursor"} == \
            {name: [value] for name, value in params.items()}
        assert len(query["cursor"]) == 1 and query["cursor"][0]


@pytest.mark.parametrize("ordering", [*SUBMISSION_ORDERINGS, None])
def test_next_then_previous_returns_the_same_pages(api, control, ordering):
    control.clock_freeze()  # equal timestamps: the tie-breaker is exercised too
    for index in range(11):
        create(api, name=f"name {index % 4}")
    params = {"page_size": 3, **({"ordering": ordering} if ordering else {})}

    forward = [listing(api, "submissions/", params)]
    while forward[-1]["next"] and len(forward) < MAX_PAGES:
        forward.append(listing(api, forward[-1]["next"]))
    backward = [forward[-1]]
    while backward[-1]["previous"] and len(backward) < MAX_PAGES:
        backward.append(listing(api, backward[-1]["previous"]))
    backward.reverse()

    assert [len(page["results"]) for page in forward] == [3, 3, 3, 2]
    assert [page["results"] for page in backward] == [page["results"] for page in forward]
    assert backward[0]["previous"] is None


@pytest.mark.parametrize("ordering", SUBMISSION_ORDERINGS)
def test_walking_every_submissions_page_yields_every_row_once(api, control, ordering):
    control.clock_freeze()
    made = []
    for index in range(13):
        made.append(create(api, name=f"n{index % 3}"))
        if index % 5 == 0:
            control.advance(made[-1], "running")

    pages = walk(api, "submissions/", {"page_size": 4, "ordering": ordering})

    seen = [row["id"] for page in pages for row in page]
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("ordering", RESULT_ORDERINGS)
def test_walking_every_results_page_yields_every_row_once(api, control, ordering):
    control.clock_freeze()
    made = []
    for index in range(9):
        submission_id = create(api)
        control.succeed(submission_id, best_solution_fitness=float(index % 2))  # fitness ties
        made.append(submission_id)

    pages = walk(api, "results/", {"page_size": 2, "ordering": ordering})

    seen = [row["submission_id"] for page in pages for row in page]
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))


# ---------------------------------------------------------------------- stability


@pytest.mark.parametrize("frozen", [True, False], ids=["same-second", "running-clock"])
@pytest.mark.parametrize("ordering", SUBMISSION_ORDERINGS)
def test_inserting_while_paging_skips_and_repeats_nothing(api, control, ordering, frozen):
    if frozen:
        control.clock_freeze()
    existing = [create(api, name=f"m{index:02d}") for index in range(14)]
    inserted = []

    def insert_three() -> None:
        # names that sort before, between and after the existing ones
        for name in (f"a{len(inserted)}", f"m{len(inserted) % 14:02d}x", f"z{len(inserted)}"):
            inserted.append(create(api, name=name))

    pages = walk(api, "submissions/", {"page_size": 4, "ordering": ordering}, between=insert_three)

    seen = [row["id"] for page in pages for row in page]
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert set(existing) <= set(seen), "a row was skipped"
    assert set(seen) <= set(existing) | set(inserted)


def test_inserting_from_another_thread_while_paging(api):
    existing = [create(api, name=f"row {index}") for index in range(30)]
    writer = Api(api.base_url, api.api_key, api.checker)
    inserted: list[str] = []
    errors: list[BaseException] = []

    def insert() -> None:
        try:
            for index in range(30):
                inserted.append(writer.create(name=f"late {index}")["id"])
        except BaseException as error:  # surfaced in the main thread
            errors.append(error)

    thread = threading.Thread(target=insert)
    thread.start()
    try:
        pages = walk(api, "submissions/", {"page_size": 3})
    finally:
        thread.join()

    assert not errors, errors
    seen = [row["id"] for page in pages for row in page]
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert set(existing) <= set(seen), "a row was skipped"


# ---------------------------------------------------------------------- cursors


def _tamper(cursor: str, how: str) -> str:
    body, _, signature = cursor.rpartition(".")
    if how == "garbage":
        return "not-a-cursor"
    if how == "flipped-payload":
        flipped = ("B" if body[3] == "A" else "A")
        return f"{body[:3]}{flipped}{body[4:]}.{signature}"
    if how == "flipped-signature":
        flipped = ("0" if signature[-1] != "0" else "1")
        return f"{body}.{signature[:-1]}{flipped}"
    if how == "forged-payload":
        payload = base64.urlsafe_b64encode(b'["-created_at",["2099-01-01T00:00:00Z",1],"next"]').decode()
        return f"{payload.rstrip('=')}.{signature}"
    if how == "no-signature":
        return body
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["garbage", "flipped-payload", "flipped-signature", "forged-payload",
                                 "no-signature"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_tampered_cursor_is_404_invalid_cursor(api, control, endpoint, how):
    cursor = next_cursor(api, control, endpoint)

    response = api.get(f"{endpoint}/", params={"cursor": _tamper(cursor, how), "page_size": 1})

    assert_invalid_cursor(response)


@pytest.mark.parametrize(("endpoint", "issued", "used"), [
    ("submissions", "name", "-name"),
    ("submissions", "-created_at", "created_at"),
    ("submissions", "status", "name"),
    ("results", "-created_at", "-best_solution_fitness"),
    ("results", "best_solution_fitness", "created_at"),
])
def test_a_cursor_used_with_another_ordering_is_404_invalid_cursor(api, control, endpoint, issued, used):
    cursor = next_cursor(api, control, endpoint, ordering=issued)

    response = api.get(f"{endpoint}/", params={"cursor": cursor, "ordering": used, "page_size": 1})

    assert_invalid_cursor(response)


def test_a_cursor_sent_without_its_ordering_is_404_invalid_cursor(api, control):
    cursor = next_cursor(api, control, "submissions", ordering="name")
    assert_invalid_cursor(api.get("submissions/", params={"cursor": cursor}))


# ---------------------------------------------------------------------- submissions filters


@pytest.fixture
def by_status(api, control) -> dict[str, str]:
    """One submission in each status."""
    made = {status: create(api, name=status) for status in ("queued", "running", "succeeded", "failed",
                                                              "cancelled")}
    control.advance(made["running"], "running")
    control.succeed(made["succeeded"], best_solution_fitness=1.0)
    control.fail(made["failed"])
    control.cancel(made["cancelled"])
    return made


@pytest.mark.parametrize(("value", "expected"), [
    ("queued", {"queued"}),
    ("running", {"running"}),
    ("succeeded,failed", {"succeeded", "failed"}),
    ("cancelled", {"cancelled"}),
    ("queued,running,succeeded,failed,cancelled", {"queued", "running", "succeeded", "failed", "cancelled"}),
])
def test_status_filter_takes_a_csv(api, by_status, value, expected):
    rows = listing(api, "submissions/", {"status": value, "page_size": 100})["results"]
    assert {row["id"] for row in rows} == {by_status[status] for status in expected}
    assert all(row["status"] in expected for row in rows)


@pytest.mark.parametrize(("name", "value"), [
    ("status", "done"),
    ("status", "queued,done"),
    ("source", "phone"),
    ("visibility", "secret"),
    ("visibility", "public,secret"),
])
def test_an_unknown_enum_value_is_400(api, name, value):
    create(api)
    assert_invalid_parameter(api.get("submissions/", params={name: value}), name)


def test_source_filter(api):
    made = [create(api), create(api)]
    assert sorted(ids(api, "submissions/", {"source": "api"})) == sorted(made)
    assert ids(api, "submissions/", {"source": "web"}) == []


QUICK = {
    "quick_binary_subset_sum": {"integers": [1, 2, 3], "target": 3},
    "quick_knapsack": {"item_values": [1, 2], "item_weights": [[1], [1]], "dimension_capacities": [1]},
}


@pytest.mark.parametrize(("value", "expected"), [
    ("new", {"new"}),
    ("quick_knapsack", {"quick_knapsack"}),
    ("new,quick_knapsack", {"new", "quick_knapsack"}),
    ("quick_binary_subset_sum,quick_knapsack", {"quick_binary_subset_sum", "quick_knapsack"}),
])
def test_submission_type_filter_takes_a_csv(api, value, expected):
    made = {"new": create(api)}
    for slug, inputs in QUICK.items():
        response = api.post("submissions/", json={"submission_type": slug, **inputs})
        assert response.status_code == 202, response.text
        made[slug] = response.json()["id"]

    assert set(ids(api, "submissions/", {"submission_type": value})) == {made[slug] for slug in expected}


@pytest.mark.parametrize(("value", "expected"), [
    ("private", {"private"}),
    ("public", {"public"}),
    ("private,invite_only", {"private", "invite_only"}),
    ("invite_only,public,private", {"private", "public", "invite_only"}),
])
def test_visibility_filter_takes_a_csv(api, value, expected):
    made = {visibility: create(api, visibility=visibility) for visibility in ("private", "public", "invite_only")}
    made_default = create(api)  # private by default
    wanted = {made[visibility] for visibility in expected} | ({made_default} if "private" in expected else set())
    assert set(ids(api, "submissions/", {"visibility": value})) == wanted


@pytest.fixture
def hourly(api, control) -> list[str]:
    """Three submissions created at T0, T0+1h and T0+2h."""
    control.clock_freeze()
    made = []
    for hours in range(3):
        control.clock_set(ts(T0 + timedelta(hours=hours)))
        made.append(create(api))
    return made


ONE_HOUR = ts(T0 + timedelta(hours=1))


@pytest.mark.parametrize(("params", "expected"), [
    ({"created_after": ONE_HOUR}, [1, 2]),
    ({"created_before": ONE_HOUR}, [0, 1]),
    ({"created_after": ONE_HOUR, "created_before": ONE_HOUR}, [1]),
    ({"created_after": "2026-05-01T15:00:00+02:00"}, [1, 2]),
    ({"created_after": "2026-05-01T14:00:00+02:00", "created_before": "2026-05-01T14:00:00+02:00"}, [0]),
    ({"created_after": ts(T0 + timedelta(hours=1, seconds=1))}, [2]),
    ({"created_before": ts(T0 - timedelta(seconds=1))}, []),
], ids=["after-inclusive", "before-inclusive", "both-equal", "offset", "offset-both", "after-plus-1s",
        "before-all"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_created_after_and_before_are_inclusive(api, control, hourly, endpoint, params, expected):
    if endpoint == "results":
        # results are created when the run ends: finish each at its submission's hour
        for hours, submission_id in enumerate(hourly):
            control.clock_set(ts(T0 + timedelta(hours=hours)))
            control.succeed(submission_id, best_solution_fitness=1.0)
        rows = listing(api, "results/", {**params, "page_size": 100})["results"]
        got = {row["submission_id"] for row in rows}
    else:
        got = set(ids(api, "submissions/", params))
    assert got == {hourly[index] for index in expected}


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "2026-05-01T25:00:00Z", "1714564800"])
@pytest.mark.parametrize("name", ["created_after", "created_before"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_bad_timestamp_is_400(api, endpoint, name, value):
    assert_invalid_parameter(api.get(f"{endpoint}/", params={name: value}), name)


def test_parent_submission_id_filter(api):
    parent = create(api)
    other = create(api)
    children = [api.post(f"submissions/{parent}/reexecute", json={}).json()["id"] for _ in range(2)]
    api.post(f"submissions/{other}/reexecute", json={})

    assert sorted(ids(api, "submissions/", {"parent_submission_id": parent})) == sorted(children)
    assert ids(api, "submissions/", {"parent_submission_id": "abcDEF123456"}) == []


@pytest.mark.parametrize(("needle", "expected"), [
    ("alpha", {"Alpha run", "ALPHA test"}),
    ("RUN", {"Alpha run"}),
    ("a", {"Alpha run", "ALPHA test", "beta"}),
    ("zzz", set()),
    ("x" * 100, set()),
])
def test_name_contains_is_case_insensitive(api, needle, expected):
    made = {name: create(api, name=name) for name in ("Alpha run", "ALPHA test", "beta")}
    create(api)  # no name
    assert set(ids(api, "submissions/", {"name_contains": needle})) == {made[name] for name in expected}


def test_name_contains_over_100_chars_is_400(api):
    assert_invalid_parameter(api.get("submissions/", params={"name_contains": "x" * 101}), "name_contains")


def test_filters_combine_with_and(api, by_status):
    params = {"status": "queued,running,failed", "name_contains": "u"}
    assert set(ids(api, "submissions/", params)) == {by_status["queued"], by_status["running"]}


@pytest.mark.parametrize(("params", "expected"), [
    ([("status", "succeeded"), ("status", "queued")], {"queued"}),
    ([("status", "done"), ("status", "failed")], {"failed"}),
    ([("name_contains", "queued"), ("name_contains", "cancel")], {"cancelled"}),
], ids=["status", "invalid-then-valid", "name_contains"])
def test_a_filter_given_twice_keeps_the_last_value(api, by_status, params, expected):
    assert set(ids(api, "submissions/", params)) == {by_status[status] for status in expected}


def test_ordering_given_twice_keeps_the_last_value(api, control):
    control.clock_freeze()
    made = []
    for name in ("b", "c", "a"):
        made.append(create(api, name=name))
        control.clock_advance(1)
    order = ids(api, "submissions/", [("ordering", "name"), ("ordering", "created_at")])
    assert order == made


def test_submission_orderings(api, control):
    control.clock_freeze()
    names = ["delta", "alpha", "echo", "charlie", "bravo"]
    made = []
    for name in names:
        made.append(create(api, name=name))
        control.clock_advance(1)
    control.succeed(made[0], best_solution_fitness=1.0)
    control.fail(made[2])
    control.advance(made[3], "running")
    control.succeed(made[4], best_solution_fitness=1.0)
    by_name = {name: submission_id for name, submission_id in zip(names, made)}

    assert ids(api, "submissions/") == made[::-1]  # default -created_at
    assert ids(api, "submissions/", {"ordering": "-created_at"}) == made[::-1]
    assert ids(api, "submissions/", {"ordering": "created_at"}) == made
    assert ids(api, "submissions/", {"ordering": "name"}) == [by_name[name] for name in sorted(names)]
    assert ids(api, "submissions/", {"ordering": "-name"}) == [by_name[name] for name in sorted(names, reverse=True)]
    statuses = [row["status"] for row in listing(api, "submissions/", {"ordering": "status"})["results"]]
    # rows of one status are contiguous (the order between statuses is the emulator's)
    groups = [status for index, status in enumerate(statuses) if index == 0 or statuses[index - 1] != status]
    assert len(groups) == len(set(groups)) == 4


@pytest.mark.parametrize(("endpoint", "value"), [
    ("submissions", "fitness"),
    ("submissions", "NAME"),
    ("submissions", "-"),
    ("submissions", "name,created_at"),
    ("submissions", "best_solution_fitness"),
    ("results", "name"),
    ("results", "fitness"),
    ("results", "status"),
])
def test_an_unknown_ordering_is_ignored(api, control, endpoint, value):
    """DRF's OrderingFilter ignores what it does not allow: the default ordering, newest first."""
    made = make_rows(api, control, endpoint, 3)
    rows = listing(api, f"{endpoint}/", {"ordering": value})["results"]
    assert [row["id"] for row in rows] == list(reversed(made))


# ---------------------------------------------------------------------- results filters


FITNESSES = (-1.5, 0.0, 2.25, 10.0)


@pytest.fixture
def scored(api, control) -> dict[float, dict]:
    """One canned result per fitness in FITNESSES, a second apart, as list rows by fitness."""
    control.clock_freeze()
    for fitness in FITNESSES:
        control.succeed(create(api, name=f"fitness {fitness}"), best_solution_fitness=fitness)
        control.clock_advance(1)
    rows = listing(api, "results/", {"page_size": 100})["results"]
    return {float(row["best_solution_fitness"]): row for row in rows}


def result_fitnesses(api, params) -> list[float]:
    rows = listing(api, "results/", [*dict(params).items(), ("page_size", "100")])["results"]
    return [float(row["best_solution_fitness"]) for row in rows]


def test_results_without_submission_id_are_every_result_newest_first(api, scored):
    assert result_fitnesses(api, {}) == list(FITNESSES)[::-1]


def test_results_submission_id_filter(api, scored):
    row = scored[2.25]
    rows = listing(api, "results/", {"submission_id": row["submission_id"]})["results"]
    assert rows == [row]
    assert listing(api, "results/", {"submission_id": "abcDEF123456"})["results"] == []


@pytest.mark.parametrize(("params", "expected"), [
    ({"min_fitness": "0"}, {0.0, 2.25, 10.0}),
    ({"max_fitness": "2.25"}, {-1.5, 0.0, 2.25}),
    ({"min_fitness": "0", "max_fitness": "2.25"}, {0.0, 2.25}),
    ({"min_fitness": "-1.5", "max_fitness": "-1.5"}, {-1.5}),
    ({"min_fitness": "2.3"}, {10.0}),
    ({"min_fitness": "1e1"}, {10.0}),
    ({"max_fitness": "-2"}, set()),
], ids=["min", "max", "both", "exact", "min-between", "exponent", "below-all"])
def test_min_and_max_fitness_are_inclusive_and_numeric(api, scored, params, expected):
    assert set(result_fitnesses(api, params)) == expected


@pytest.mark.parametrize("name", ["min_fitness", "max_fitness"])
@pytest.mark.parametrize("value", ["abc", "nan", ""])
def test_a_non_numeric_fitness_bound_is_400(api, name, value):
    assert_invalid_parameter(api.get("results/", params={name: value}), name)


def test_is_shared_filter(api, scored):
    shared = scored[0.0]["id"]
    assert api.patch(f"results/{shared}", json={"is_shared": True}).status_code == 200

    assert [row["id"] for row in listing(api, "results/", {"is_shared": "true"})["results"]] == [shared]
    assert {row["id"] for row in listing(api, "results/", {"is_shared": "false"})["results"]} == \
        {row["id"] for row in scored.values()} - {shared}
    last_wins = listing(api, "results/", [("is_shared", "false"), ("is_shared", "true")])["results"]
    assert [row["id"] for row in last_wins] == [shared]


@pytest.mark.parametrize("value", ["yes", "1", "True", ""])
def test_is_shared_must_be_true_or_false(api, value):
    assert_invalid_parameter(api.get("results/", params={"is_shared": value}), "is_shared")


@pytest.mark.parametrize(("ordering", "expected"), [
    ("best_solution_fitness", sorted(FITNESSES)),
    ("-best_solution_fitness", sorted(FITNESSES, reverse=True)),
    ("created_at", list(FITNESSES)),
    ("-created_at", list(FITNESSES)[::-1]),
])
def test_results_orderings(api, scored, ordering, expected):
    # 10.0 after 2.25: the fitness strings are compared as numbers, not as text
    assert result_fitnesses(api, {"ordering": ordering}) == expected


# ---------------------------------------------------------------------- accounts


def test_accounts_see_only_their_own_rows(api, control, other_account):
    mine = [create(api, name="mine") for _ in range(2)]
    control.succeed(mine[0], best_solution_fitness=1.0)
    theirs = other_account.create(name="theirs", num_generations=3)["id"]
    control.wait(theirs)
    (their_result,) = listing(other_account, "results/")["results"]

    assert sorted(ids(api, "submissions/")) == sorted(mine)
    assert ids(other_account, "submissions/") == [theirs]
    assert [row["submission_id"] for row in listing(api, "results/")["results"]] == [mine[0]]
    assert their_result["submission_id"] == theirs
    # filters naming the other account's rows find nothing
    assert ids(api, "results/", {"submission_id": theirs}) == []
    assert ids(api, "submissions/", {"parent_submission_id": theirs}) == []
    assert ids(api, "submissions/", {"name_contains": "theirs"}) == []
    for path in (f"submissions/{theirs}", f"results/{their_result['id']}"):
        response = api.get(path)
        assert response.status_code == 404 and error_code(response) == "not_found"


def test_a_cursor_of_another_account_shows_only_own_rows(api, other_account):
    for _ in range(3):
        create(api)
    theirs = [other_account.create(name="theirs", num_generations=2)["id"] for _ in range(3)]
    url = listing(other_account, "submissions/", {"page_size": 1})["next"]

    body = listing(api, url)

    assert not {row["id"] for row in body["results"]} & set(theirs)
