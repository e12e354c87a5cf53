"""Intercept mode forwarding to a running server (``mock_vilvik(url=...)`` and
``$VILVIK_EMULATOR_URL``): the request reaches the server with the server's Host, the
links keep the hosted base (``X-Vilvik-Emulator-Public-Base``), the server's settings and
the mock's key are given back on leaving, and a server that is down is a connection
error at once, never a request to the internet.
"""

from __future__ import annotations

import os

import httpx
import pytest
import requests
import vilvik
from helpers import SPHERE, run_coroutine

from vilvik_emulator import mock_vilvik
from vilvik_emulator.config import Settings
from vilvik_emulator.emulator import Emulator
from vilvik_emulator.intercept.hosts import PUBLIC_BASE_HEADER, trusted_public_base
from vilvik_emulator.server import EmulatorServer
from vilvik_emulator.testing import ControlError


@pytest.fixture(autouse=True)
def no_key(monkeypatch, tmp_path):
    monkeypatch.delenv("VILVIK_API_KEY", raising=False)
    monkeypatch.delenv("VILVIK_EMULATOR_URL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "real-config"))


def test_calls_reach_the_server_and_links_keep_the_hosted_base(vilvik_emulator):
    with mock_vilvik(url=vilvik_emulator.url, mode="manual") as control:
        assert control.url == vilvik_emulator.url
        client = vilvik.Client()
        submission = client.submissions.create(fitness_func=SPHERE, num_genes=2)
        assert submission.status == "queued"
        ids = [submission.id] + [client.submissions.create(fitness_func=SPHERE, num_genes=2).id for _ in range(2)]
        page = requests.get("https://vilvik.com/api/v1/submissions/", params={"page_size": 2},
                            headers={"Authorization": f"Bearer {control.api_key}"}).json()
        assert page["next"].startswith("https://vilvik.com/api/v1/submissions/?")
        detail = requests.get(f"https://vilvik.com/api/v1/submissions/{ids[2]}",
                              headers={"Authorization": f"Bearer {control.api_key}"}).json()
        assert detail["status_url"] == f"https://vilvik.com/api/v1/submissions/{ids[2]}"
        rest = requests.get(page["next"], headers={"Authorization": f"Bearer {control.api_key}"}).json()
        assert [row["id"] for row in page["results"] + rest["results"]] == ids[::-1]
        assert vilvik_emulator.config()["mode"] == "manual"
    # the server saw it all, with its own host
    assert [entry["path"] for entry in vilvik_emulator.requests(method="POST")] == ["/api/v1/submissions"] * 3
    assert vilvik_emulator.config()["mode"] == "thread"
    assert vilvik_emulator.config()["accept_unknown_keys"] is False
    keys = vilvik_emulator.keys()
    assert [key["status"] for key in keys if key["name"] == "mock_vilvik"] == ["revoked"]


def test_the_environment_variable_names_the_server_and_the_api_path_form_works(vilvik_emulator, monkeypatch):
    monkeypatch.setenv("VILVIK_EMULATOR_URL", vilvik_emulator.base_url + "/")
    with mock_vilvik() as control:
        assert control.url == vilvik_emulator.url
        assert os.environ["VILVIK_API_KEY"] == control.api_key
        assert vilvik.Client().health()["status"] == "ok"
    assert [entry["path"] for entry in vilvik_emulator.requests()] == ["/api/v1/health"]


def test_an_unknown_key_is_accepted_unless_strict(vilvik_emulator, monkeypatch):
    monkeypatch.setenv("VILVIK_API_KEY", "vlk_live_real_key_of_the_user_000000")
    with mock_vilvik(url=vilvik_emulator.url):
        assert vilvik.Client().submissions.list().items == []
    # an accepted key stays a key of the server (until its reset); another one is refused
    monkeypatch.setenv("VILVIK_API_KEY", "vlk_live_another_key_of_the_user_11")
    with mock_vilvik(url=vilvik_emulator.url, strict_keys=True) as control:
        with pytest.raises(vilvik.AuthenticationError):
            vilvik.Client().submissions.list()
        assert vilvik.Client(api_key=control.api_key).submissions.list().items == []


def test_httpx_is_forwarded_too(vilvik_emulator):
    async def health() -> dict:
        async with httpx.AsyncClient() as client:
            return (await client.get("https://beta.vilvik.com/api/v1/health")).json()

    with mock_vilvik(url=vilvik_emulator.url, mode="manual") as control:
        created = httpx.post("https://beta.vilvik.com/api/v1/submissions/",
                             headers={"Authorization": f"Bearer {control.api_key}"},
                             json={"fitness_func": SPHERE, "fitness_func_entry": "fitness_func", "num_genes": 2})
        assert created.status_code == 202
        assert created.json()["status_url"].startswith("https://beta.vilvik.com/api/v1/submissions/")
        assert run_coroutine(health())["status"] == "ok"
    assert len(vilvik_emulator.requests()) == 2


def test_extra_hosts_are_intercepted(vilvik_emulator):
    with mock_vilvik(url=vilvik_emulator.url, hosts=["staging.vilvik.com"]):
        response = requests.get("https://staging.vilvik.com/api/v1/submissions/",
                                headers={"Authorization": f"Bearer {os.environ['VILVIK_API_KEY']}"})
        assert response.status_code == 200
        assert response.url == "https://staging.vilvik.com/api/v1/submissions/"


def test_a_server_that_is_down_is_a_connection_error_at_once():
    server = EmulatorServer(Emulator(Settings(db_path=None)).start()).start()
    port = server.port
    with mock_vilvik(url=server.url):
        server.stop()
        with pytest.raises(requests.ConnectionError) as raised:
            requests.get("https://vilvik.com/api/v1/health", timeout=30)
        assert f"port={port}" in str(raised.value)  # refused by the local port, not looked up on the internet
        with pytest.raises(httpx.ConnectError):
            httpx.get("https://vilvik.com/api/v1/health")
        with pytest.raises(vilvik.APIError) as sdk_error:
            vilvik.Client(max_retries=0).health()
        assert sdk_error.value.code == "network_error"
    with pytest.raises(requests.ConnectionError, match="no emulator answers"):
        mock_vilvik(url=server.url).__enter__()
    assert "VILVIK_API_KEY" not in os.environ


def test_the_public_base_header_is_trusted_for_vilvik_hosts_only(api):
    def links(base: str | None) -> str:
        headers = {PUBLIC_BASE_HEADER: base} if base else {}
        return api.post("submissions", json={"fitness_func": SPHERE, "fitness_func_entry": "fitness_func",
                                             "num_genes": 2}, headers=headers).json()["status_url"]

    own = api.base_url
    assert links(None).startswith(own)
    assert links("https://vilvik.com/api/v1").startswith("https://vilvik.com/api/v1/submissions/")
    assert links("https://staging.vilvik.com/api/v1/").startswith("https://staging.vilvik.com/api/v1/")
    for refused in ("https://evil.example/api/v1", "https://vilvik.com.evil.example/api/v1",
                    "https://vilvik.com/elsewhere", "ftp://vilvik.com/api/v1", "https://user@vilvik.com/api/v1"):
        assert links(refused).startswith(own), refused
    assert trusted_public_base("https://VILVIK.com:8443/api/v1") == "https://vilvik.com:8443/api/v1"


def test_accepting_unknown_keys_is_a_runtime_setting_of_any_server(api, control):
    unknown = "vlk_live_someone_elses_key_0000000000"
    assert control.config()["accept_unknown_keys"] is False
    assert api.get("submissions/", key=unknown).status_code == 401
    assert control.configure(accept_unknown_keys=True)["accept_unknown_keys"] is True
    assert api.get("submissions/", key=unknown).status_code == 200
    keys = control.keys()
    [default] = [key for key in keys if key["name"] == "default"]
    adopted = [key for key in keys if key["prefix"] == unknown[:12]]
    assert [(key["account_id"], sorted(key["scopes"])) for key in adopted] == [("acct_default",
                                                                              sorted(default["scopes"]))]
    with pytest.raises(ControlError) as refused:
        control.configure(accept_unknown_keys="yes")
    assert refused.value.status == 422
    control.reset()
    assert control.config()["accept_unknown_keys"] is False
    assert api.get("submissions/", key=unknown).status_code == 401
