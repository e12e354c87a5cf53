"""Shared results (contract §7 Update): "anyone can view and fork it".

A result with `is_shared: true` can be read (detail and files) and continued by any
account; it never appears in another account's lists; only its owner can patch or delete
it (another account gets 404, as for a result that does not exist). The dashboard shows
another account's shared result without the owner's forms.
"""

from __future__ import annotations

import pytest
import requests
from helpers import SPHERE, error_code

SMALL = {"num_generations": 4, "sol_per_pop": 6, "num_parents_mating": 2, "num_genes": 3, "random_seed": 7,
         "fitness_func": SPHERE, "fitness_func_entry": "fitness_func"}


def account_of(client, control) -> str:
    (key,) = [key for key in control.keys() if client.api_key.startswith(key["prefix"])]
    return key["account_id"]


def owned_result(client, control, *, shared: bool, real: bool = False) -> dict:
    """A result of ``client``'s account (canned, or from a real run), shared or not: its detail."""
    if not real:  # the run waits for its canned result (the account's own run mode)
        control.update_account(account_of(client, control), mode="manual")
    created = client.post("submissions", json={**SMALL, "name": "owner's run"})
    assert created.status_code == 202, created.text
    submission_id = created.json()["id"]
    if real:
        assert control.wait(submission_id)["status"] == "succeeded"
    else:
        control.succeed(submission_id, best_solution_fitness=-1.5)
    (row,) = client.get("results/", params={"submission_id": submission_id}).json()["results"]
    response = client.patch(f"results/{row['id']}", json={"is_shared": shared})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.vilvik_mode("manual")
def test_a_shared_result_is_readable_by_any_account_with_its_files(api, control, other_account):
    shared = owned_result(other_account, control, shared=True)

    response = api.get(f"results/{shared['id']}")

    assert response.status_code == 200, response.text
    assert response.json() == shared
    for entry in shared["files"]:
        mine = api.get(entry["url"])
        assert mine.status_code == 200, (entry["name"], mine.text)
        assert mine.content == other_account.get(entry["url"]).content


def test_a_shared_result_is_readable_through_the_sdk_of_another_account(vilvik_client, control, other_account):
    shared = owned_result(other_account, control, shared=True, real=True)

    result = vilvik_client.results.get(shared["id"])

    assert result.id == shared["id"] and result.best_solution == shared["best_solution"]


@pytest.mark.vilvik_mode("manual")
def test_a_shared_result_is_never_listed_for_another_account(api, control, other_account):
    shared = owned_result(other_account, control, shared=True)

    for params in ({}, {"is_shared": "true"}, {"submission_id": shared["submission_id"]},
                   {"ordering": "best_solution_fitness"}):
        assert api.get("results/", params=params).json()["results"] == [], params
    owner_rows = other_account.get("results/", params={"is_shared": "true"}).json()["results"]
    assert [row["id"] for row in owner_rows] == [shared["id"]]
    # the run it came from stays private
    assert api.get(f"submissions/{shared['submission_id']}").status_code == 404


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize(("method", "body"), [("PATCH", {"name": "mine now"}), ("PATCH", {"is_shared": False}),
                                             ("DELETE", None)], ids=["rename", "unshare", "delete"])
def test_only_the_owner_can_patch_or_delete_a_shared_result(api, control, other_account, method, body):
    shared = owned_result(other_account, control, shared=True)

    response = api.request(method, f"results/{shared['id']}", **({} if body is None else {"json": body}))

    assert response.status_code == 404, response.text
    assert error_code(response) == "not_found"
    missing = api.request(method, "results/abcDEF123456", **({} if body is None else {"json": body}))
    assert missing.json()["error"]["message"] == response.json()["error"]["message"]  # indistinguishable
    assert other_account.get(f"results/{shared['id']}").json() == shared
    owner = other_account.request(method, f"results/{shared['id']}", **({} if body is None else {"json": body}))
    assert owner.status_code in (200, 204), owner.text


def test_a_shared_result_is_forkable_by_another_account(api, control, other_account):
    shared = owned_result(other_account, control, shared=True, real=True)
    population = other_account.get(f"results/{shared['id']}/files/population.json").json()

    response = api.post(f"results/{shared['id']}/continue", json={"num_generations": 2})

    assert response.status_code == 202, response.text
    created = response.json()
    assert created["parent_submission"] == shared["id"] and created["parent_result_id"] == shared["id"]
    assert created["parent_submission_id"] == shared["submission_id"]
    child = control.wait(created["id"])
    assert child["status"] == "succeeded", child
    assert child["code"] == {"fitness_func": SPHERE, "fitness_func_entry": "fitness_func"}
    # the fork belongs to the caller: listed for it, not for the owner
    assert [row["id"] for row in api.get("submissions/").json()["results"]] == [created["id"]]
    assert created["id"] not in [row["id"] for row in other_account.get("submissions/").json()["results"]]
    (row,) = api.get("results/").json()["results"]
    started = api.get(f"results/{row['id']}/files/result.json").json()["initial_population"]
    assert started == population


@pytest.mark.vilvik_mode("manual")
def test_a_private_result_of_another_account_is_404_everywhere(api, control, other_account):
    private = owned_result(other_account, control, shared=False)

    for method, path, body in (("GET", f"results/{private['id']}", None),
                               ("GET", f"results/{private['id']}/files/result.json", None),
                               ("POST", f"results/{private['id']}/continue", {}),
                               ("PATCH", f"results/{private['id']}", {"name": "x"}),
                               ("DELETE", f"results/{private['id']}", None)):
        response = api.request(method, path, **({} if body is None else {"json": body}))
        assert response.status_code == 404, (method, path, response.text)
        assert error_code(response) == "not_found"
    assert api.get("submissions/").json()["results"] == []


@pytest.mark.vilvik_mode("manual")
def test_unsharing_makes_it_private_again(api, control, other_account):
    shared = owned_result(other_account, control, shared=True)
    assert api.get(f"results/{shared['id']}").status_code == 200

    assert other_account.patch(f"results/{shared['id']}", json={"is_shared": False}).status_code == 200

    assert api.get(f"results/{shared['id']}").status_code == 404
    assert api.post(f"results/{shared['id']}/continue", json={}).status_code == 404


# ---------------------------------------------------------------------- the dashboard's result page

OWNER_FORMS = ("/update", "Name and sharing", 'name="is_shared"', "/delete")


@pytest.mark.vilvik_mode("manual")
def test_the_dashboard_shows_another_accounts_shared_result_without_the_owners_forms(
        api, control, other_account, vilvik_emulator_server):
    shared = owned_result(other_account, control, shared=True)
    mine = owned_result(api, control, shared=False)
    dashboard = requests.Session()  # the dashboard acts as the default account unless switched

    page = dashboard.get(f"{vilvik_emulator_server.url}/results/{shared['id']}", timeout=30)

    assert page.status_code == 200, page.text
    assert shared["id"] in page.text and shared["best_solution_fitness"] in page.text
    for marker in OWNER_FORMS:
        assert marker not in page.text, marker
    assert f"/results/{shared['id']}/continue" in page.text  # forking is for anyone
    own = dashboard.get(f"{vilvik_emulator_server.url}/results/{mine['id']}", timeout=30)
    assert own.status_code == 200
    assert f"/results/{mine['id']}/update" in own.text and 'name="is_shared"' in own.text


@pytest.mark.vilvik_mode("manual")
def test_the_dashboard_refuses_to_change_another_accounts_shared_result(
        api, control, other_account, vilvik_emulator_server):
    shared = owned_result(other_account, control, shared=True)
    dashboard = requests.Session()
    page = dashboard.get(f"{vilvik_emulator_server.url}/results/{shared['id']}", timeout=30)
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    dashboard.post(f"{vilvik_emulator_server.url}/results/{shared['id']}/update",
                   data={"csrf_token": token, "name": "mine now"}, timeout=30)

    assert other_account.get(f"results/{shared['id']}").json() == shared
