"""The control plane of contract §13 shipped so far: health, accounts, keys, reset, clock, wait, advance."""

from __future__ import annotations

import pytest
import requests
from helpers import EXAMPLE, NEVER_RETURNS, alive, error_code

from vilvik_emulator.testing import ControlError, EmulatorControl


def test_health(control):
    health = control.health()
    assert health["status"] == "ok" and health["mode"] == "thread"
    assert health["store"]["backend"] == "tinydb"
    assert isinstance(health["uptime_seconds"], float)


@pytest.mark.parametrize("proxy_variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_handle_on_a_loopback_server_never_goes_through_a_proxy(vilvik_emulator_server, monkeypatch,
                                                                    proxy_variable):
    """A proxy could not reach the user's loopback anyway; looking one up costs more than a reset."""
    monkeypatch.setenv(proxy_variable, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    handle = EmulatorControl(vilvik_emulator_server.url)
    assert handle.health()["status"] == "ok"
    assert not handle.session.trust_env
    assert EmulatorControl("http://emulator:8080").session.trust_env  # a remote one honours the environment
    assert not EmulatorControl("http://[::1]:8080").session.trust_env


def test_accounts_create_list_update(control, api):
    account = control.create_account(name="team", tier="premium", credits=5, mode="manual")
    assert account["id"].startswith("acct_") and account["tier"] == "premium" and account["credits"] == 5.0
    assert {a["id"] for a in control.accounts()} == {"acct_default", account["id"]}
    updated = control.update_account(account["id"], active=False, credits=7.5)
    assert updated["active"] is False and updated["credits"] == 7.5
    with pytest.raises(ControlError) as raised:
        control.create_account(tier="gold", bogus=1)
    assert raised.value.status == 422
    assert {d["field"] for d in raised.value.payload["error"]["details"]} == {"tier", "bogus"}
    with pytest.raises(ControlError) as raised:
        control.update_account("acct_missing", name="x")
    assert raised.value.status == 404


def test_key_lifecycle(control, api):
    created = control.create_key(scopes=["submissions:read"], name="reader")
    assert created["key"].startswith("vlk_test_") and len(created["key"]) == 41
    assert created["prefix"] == created["key"][:12] and created["status"] == "active"
    listed = {k["id"]: k for k in control.keys()}
    assert "key" not in listed[created["id"]] and "hash" not in listed[created["id"]]

    assert api.get("submissions", key=created["key"]).status_code == 200
    assert error_code(api.post("submissions", key=created["key"], json=EXAMPLE)) == "scope_required"
    control.update_key(created["id"], scopes=["submissions:read", "submissions:write"])
    assert api.post("submissions", key=created["key"], json=EXAMPLE).status_code == 202

    rotated = control.rotate_key(created["id"])
    assert rotated["id"] == created["id"] and rotated["key"] != created["key"]
    assert api.get("submissions", key=created["key"]).status_code == 401
    assert api.get("submissions", key=rotated["key"]).status_code == 200

    revoked = control.revoke_key(created["id"])
    assert revoked["status"] == "revoked"
    assert api.get("submissions", key=rotated["key"]).status_code == 401


def test_key_validation(control):
    with pytest.raises(ControlError) as raised:
        control.create_key(scopes=["submissions:read", "everything"])
    assert raised.value.status == 422 and "everything" in raised.value.message
    with pytest.raises(ControlError) as raised:
        control.create_key(account="acct_nobody")
    assert raised.value.status == 422


def test_key_expiry_follows_the_emulator_clock(control, api):
    control.clock_set("2030-01-01T00:00:00Z")
    key = control.create_key(expires_at="2030-01-01T01:00:00Z")
    assert api.get("submissions", key=key["key"]).status_code == 200
    control.clock_advance(3600)
    response = api.get("submissions", key=key["key"])
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_clock_freeze_set_advance_resume(control, api):
    frozen = control.clock_freeze()
    assert frozen["frozen"] is True
    control.clock_set("2031-05-01T12:00:00Z")
    created = api.create()
    assert created["created_at"] == "2031-05-01T12:00:00Z"
    assert control.clock_advance(90)["now"] == "2031-05-01T12:01:30Z"
    assert control.clock_resume()["frozen"] is False
    with pytest.raises(ControlError):
        control.request("POST", "clock", json={"action": "rewind"})


def test_reset_clears_everything_but_the_default_account_and_key(control, api):
    account = control.create_account(name="extra")
    control.create_key(account["id"])
    api.create()
    control.update_account("acct_default", credits=1)
    control.clock_set("2040-01-01T00:00:00Z")
    control.reset()
    assert [a["id"] for a in control.accounts()] == ["acct_default"]
    assert control.accounts()[0]["credits"] == 1000.0
    assert len(control.keys()) == 1
    assert api.get("submissions").json()["results"] == []
    assert not control.clock()["now"].startswith("2040")


def test_reset_stops_running_jobs(control, api, vilvik_emulator_server):
    created = api.create(fitness_func=NEVER_RETURNS)
    control.wait(created["id"], status="running")
    pid = vilvik_emulator_server.emulator.runner.pid_of(created["id"])
    control.reset()
    assert vilvik_emulator_server.emulator.runner.stats()["running"] == 0
    assert pid is None or not alive(pid)


def test_reset_of_one_account_leaves_the_others(control, api, other_account):
    mine = api.create()
    theirs = other_account.create()
    other_id = [a["id"] for a in control.accounts() if a["id"] != "acct_default"][0]
    control.reset(account=other_id)
    assert api.get(f"submissions/{mine['id']}").status_code == 200
    assert other_account.get(f"submissions/{theirs['id']}").status_code == 404


@pytest.mark.vilvik_mode("manual")
def test_manual_mode_and_advance(control, api):
    created = api.create()
    assert control.wait(created["id"], status="queued", timeout=0)["status"] == "queued"
    running = control.advance(created["id"], "running")
    assert running["status"] == "running" and running["started_at"]
    finished = control.succeed(created["id"], best_solution_fitness=4.5, best_solution=[1, 2, 3, 4, 5])
    assert finished["status"] == "succeeded"
    result = api.get(f"results/{finished['result_id']}").json()
    assert result["best_solution_fitness"] == "4.5" and result["best_solution"] == [1, 2, 3, 4, 5]

    second = api.create()
    failed = control.fail(second["id"], message="injected")
    assert failed["status"] == "failed" and failed["error"]["message"] == "injected"

    third = api.create()
    control.run(third["id"])
    assert control.wait(third["id"])["status"] == "succeeded"

    fourth = api.create()
    assert control.cancel(fourth["id"])["status"] == "cancelled"
    with pytest.raises(ControlError) as raised:
        control.advance(fourth["id"], "succeeded")
    assert raised.value.status == 409


def test_wait_times_out_with_408(control, api):
    created = api.create(fitness_func=NEVER_RETURNS)
    with pytest.raises(ControlError) as raised:
        control.wait(created["id"], status="succeeded", timeout=0.2)
    assert raised.value.status == 408 and raised.value.code == "wait_timeout"
    with pytest.raises(ControlError) as raised:
        control.wait("abcDEF123456")
    assert raised.value.status == 404


def test_control_plane_errors_use_the_envelope(vilvik_emulator_server):
    response = requests.post(f"{vilvik_emulator_server.url}/_emulator/clock", data="{", timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"



def test_an_admin_token_guards_the_control_plane(vilvik_emulator_server, control):
    settings = vilvik_emulator_server.emulator.settings
    url = f"{vilvik_emulator_server.url}/_emulator/health"
    settings.admin_token = "s3cret-admin"
    try:
        refused = requests.get(url, timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert requests.get(url, headers={"X-Admin-Token": "wrong"}, timeout=10).status_code == 401
        assert requests.get(url, headers={"X-Admin-Token": "s3cret-admin"}, timeout=10).status_code == 200
        assert requests.get(url, headers={"Authorization": "Bearer s3cret-admin"}, timeout=10).status_code == 200
    finally:
        settings.admin_token = None
    assert requests.get(url, timeout=10).status_code == 200


def test_a_server_off_loopback_prints_and_requires_an_admin_token():
    from serve_process import ServeProcess

    server = ServeProcess("--memory", "--host", "0.0.0.0").start()
    try:
        token = [line.split()[-1] for line in server.text().splitlines() if "admin token:" in line][0]
        local = server.url.replace("0.0.0.0", "127.0.0.1")
        assert requests.get(f"{local}/_emulator/health", timeout=10).status_code == 401
        health = requests.get(f"{local}/_emulator/health", headers={"X-Admin-Token": token}, timeout=10)
        assert health.status_code == 200
        assert requests.get(f"{local}/api/v1/health", timeout=10).status_code == 200
    finally:
        server.terminate()
