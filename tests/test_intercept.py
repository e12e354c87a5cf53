"""Intercept mode in process (contract §13a): ``mock_vilvik`` serves code that builds its own
``vilvik.Client()``, calls ``vilvik.push``/``vilvik.run``/``pygad.GA.push_to_vilvik`` or the
REST API with ``requests`` or ``httpx``, with no change to that code and no socket.

Every test starts with ``VILVIK_API_KEY`` unset and a "real" config home holding a
credentials file, to show the user's credentials are never read or written.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import textwrap
import threading
import unittest
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pygad
import pytest
import requests
import requests.adapters
import vilvik
import vilvik.__main__
from helpers import SPHERE, run_coroutine

from vilvik_emulator import mock_vilvik
from vilvik_emulator.intercept import transports
from vilvik_emulator.testing import ControlError

REAL_KEY = "vlk_live_the_users_real_key_0123456789"


def sphere_fitness(ga_instance, solution, solution_idx):
    return -float(sum(x * x for x in solution))


@pytest.fixture(autouse=True)
def users_machine(monkeypatch, tmp_path) -> Path:
    """No key in the environment, and a real-looking credentials file in the config home."""
    monkeypatch.delenv("VILVIK_API_KEY", raising=False)
    monkeypatch.delenv("VILVIK_EMULATOR_URL", raising=False)
    config_home = tmp_path / "real-config"
    (config_home / "vilvik").mkdir(parents=True)
    (config_home / "vilvik" / "credentials").write_text(json.dumps({"api_key": REAL_KEY}))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    return config_home / "vilvik" / "credentials"


def create(client: vilvik.Client, **overrides) -> vilvik.Submission:
    return client.submissions.create(**{"fitness_func": SPHERE, "num_genes": 3, "num_generations": 5,
                                        "sol_per_pop": 6, **overrides})


# ---------------------------------------------------------------------- the SDK, unmodified


def test_a_client_built_with_no_arguments_is_served_by_the_emulator(users_machine):
    with mock_vilvik(mode="sync") as control:
        client = vilvik.Client()
        assert client.base_url == "https://vilvik.com/api/v1"
        submission = create(client)
        assert submission.status == "succeeded"
        assert client.results.wait_for(submission.id, poll_interval=0.01).num_generations_ran == 5
        [entry] = control.requests(method="POST")
        assert entry["path"] == "/api/v1/submissions"
        assert entry["account"] == "acct_default"
    assert users_machine.read_text() == json.dumps({"api_key": REAL_KEY})


def test_links_keep_the_hosted_base_and_following_them_stays_in_the_mock():
    with mock_vilvik(mode="manual"):
        client = vilvik.Client()
        ids = [create(client, name=f"run {index}").id for index in range(3)]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {os.environ['VILVIK_API_KEY']}"
        page = session.get("https://vilvik.com/api/v1/submissions/", params={"page_size": 2}).json()
        assert page["next"].startswith("https://vilvik.com/api/v1/submissions/?")
        following = session.get(page["next"]).json()
        assert [row["id"] for row in page["results"] + following["results"]] == ids[::-1]
        assert following["previous"].startswith("https://vilvik.com/api/v1/submissions/?")

        detail = session.get(f"https://beta.vilvik.com/api/v1/submissions/{ids[0]}").json()
        assert detail["status_url"] == f"https://beta.vilvik.com/api/v1/submissions/{ids[0]}"


def test_result_file_urls_keep_the_hosted_base():
    with mock_vilvik(mode="sync"):
        client = vilvik.Client()
        result = client.results.wait_for(create(client).id, poll_interval=0.01)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {os.environ['VILVIK_API_KEY']}"
        detail = session.get(f"https://vilvik.com/api/v1/results/{result.id}").json()
        urls = [value for value in _strings(detail) if value.startswith("http")]
        assert urls and all(url.startswith("https://vilvik.com/api/v1/") for url in urls), urls
        files = [url for url in urls if "/files/" in url]
        assert files and all(session.get(url).status_code == 200 for url in files)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_vilvik_run_push_and_pygad_push_to_vilvik():
    ga = pygad.GA(num_generations=4, num_parents_mating=2, sol_per_pop=6, num_genes=3, fitness_func=sphere_fitness,
                  random_seed=5, suppress_warnings=True)
    ga.run()
    with mock_vilvik() as control:
        with vilvik.run(fitness_func=SPHERE, num_genes=3, num_generations=5, sol_per_pop=6,
                        poll_interval=0.01) as result:
            assert result.num_generations_ran == 5
        pushed = vilvik.push(ga, name="pushed")
        from_pygad = ga.push_to_vilvik(name="from pygad")
        assert pushed.result_url.startswith("https://vilvik.com/api/v1/results/")
        names = {row.name for row in vilvik.Client().submissions.iter_all()}
        assert {"pushed", "from pygad"} <= names
        assert [entry["path"] for entry in control.requests(method="POST", path="/api/v1/imports*")] == [
            "/api/v1/imports", "/api/v1/imports"]
        assert from_pygad.id != pushed.id


def test_sessions_created_before_entering_are_intercepted_too():
    early = requests.Session()
    early_httpx = httpx.Client()
    with mock_vilvik() as control:
        headers = {"Authorization": f"Bearer {control.api_key}"}
        assert early.get("https://vilvik.com/api/v1/submissions", headers=headers).json()["results"] == []
        assert early_httpx.get("https://vilvik.com/api/v1/submissions", headers=headers).json()["results"] == []
    early_httpx.close()


def test_other_hosts_pass_through_untouched(vilvik_emulator):
    with mock_vilvik() as control:
        response = requests.get(f"{vilvik_emulator.base_url}/health")
        assert response.status_code == 200
        assert httpx.get(f"{vilvik_emulator.base_url}/health").status_code == 200
        assert control.requests() == []  # the mock's emulator saw neither
    assert [entry["path"] for entry in vilvik_emulator.requests()] == ["/api/v1/health", "/api/v1/health"]


def test_a_routed_call_skips_the_environments_proxy_lookups_and_others_keep_them(vilvik_emulator, monkeypatch):
    """requests reads every environment variable twice per call for proxies; a routed call
    (served in process) needs none of it, a call to any other host gets it as before."""
    looked_up: list[str] = []
    original = requests.sessions.get_environ_proxies

    def counting(url, no_proxy=None):
        looked_up.append(url)
        return original(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counting)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # would break a call that used it
    with mock_vilvik() as control:
        session = requests.Session()
        response = session.get("https://vilvik.com/api/v1/submissions",
                               headers={"Authorization": f"Bearer {control.api_key}"}, verify="/no/such/bundle")
        assert response.status_code == 200 and looked_up == []
        assert session.get(f"{vilvik_emulator.base_url}/health").status_code == 200
        assert looked_up == [f"{vilvik_emulator.base_url}/health"]


def test_faults_and_idempotency_apply_to_intercepted_calls():
    with mock_vilvik(mode="manual") as control:
        client = vilvik.Client(max_retries=0)
        control.add_fault(method="GET", path="/api/v1/submissions*", action="drop", count=1)
        with pytest.raises(requests.ConnectionError):
            requests.get("https://vilvik.com/api/v1/submissions",
                         headers={"Authorization": f"Bearer {control.api_key}"})
        control.add_fault(method="GET", path="/api/v1/submissions*", status=429, retry_after=7, count=1)
        with pytest.raises(vilvik.RateLimitError) as raised:
            client.submissions.list()
        assert raised.value.retry_after == 7

        headers = {"Authorization": f"Bearer {control.api_key}", "Idempotency-Key": "same-key"}
        body = {"fitness_func": SPHERE, "fitness_func_entry": "fitness_func", "num_genes": 2}
        first = requests.post("https://vilvik.com/api/v1/submissions/", json=body, headers=headers)
        again = requests.post("https://vilvik.com/api/v1/submissions/", json=body, headers=headers)
        assert first.status_code == again.status_code == 202
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]


# ---------------------------------------------------------------------- httpx


def test_httpx_sync_and_async_clients_are_intercepted():
    async def listing(key: str) -> list:
        async with httpx.AsyncClient() as client:
            response = await client.get("https://vilvik.com/api/v1/submissions/",
                                        headers={"Authorization": f"Bearer {key}"})
            return response.json()["results"]

    with mock_vilvik(mode="manual") as control:
        created = httpx.post("https://vilvik.com/api/v1/submissions/",
                             headers={"Authorization": f"Bearer {control.api_key}"},
                             json={"fitness_func": SPHERE, "fitness_func_entry": "fitness_func", "num_genes": 2})
        assert created.status_code == 202
        assert created.json()["status_url"].startswith("https://vilvik.com/api/v1/submissions/")
        assert [row["id"] for row in run_coroutine(listing(control.api_key))] == [created.json()["id"]]

        control.add_fault(path="/api/v1/health", action="drop")
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get("https://vilvik.com/api/v1/health")


# ---------------------------------------------------------------------- keys and credentials


def test_the_key_is_set_only_for_the_duration():
    with mock_vilvik() as control:
        assert os.environ["VILVIK_API_KEY"] == control.api_key
        assert control.api_key.startswith("vlk_test_")
    assert "VILVIK_API_KEY" not in os.environ


def test_a_real_key_in_the_environment_is_accepted_and_bound_to_the_default_account(monkeypatch):
    monkeypatch.setenv("VILVIK_API_KEY", REAL_KEY)
    with mock_vilvik() as control:
        assert os.environ["VILVIK_API_KEY"] == REAL_KEY
        submission = create(vilvik.Client())
        assert control.requests(method="POST")[0]["account"] == "acct_default"
        keys = control.keys()
        accepted = [key for key in keys if key["prefix"] == REAL_KEY[:12]]
        assert [(key["account_id"], key["name"]) for key in accepted] == [("acct_default", "accepted unknown key")]
        assert vilvik.Client(api_key=control.api_key).submissions.get(submission.id).id == submission.id
    assert os.environ["VILVIK_API_KEY"] == REAL_KEY


def test_strict_keys_refuses_a_key_the_emulator_did_not_issue(monkeypatch):
    monkeypatch.setenv("VILVIK_API_KEY", REAL_KEY)
    with mock_vilvik(strict_keys=True) as control:
        with pytest.raises(vilvik.AuthenticationError) as raised:
            vilvik.Client().submissions.list()
        assert raised.value.status_code == 401
        assert vilvik.Client(api_key=control.api_key).submissions.list().items == []
        assert control.config()["accept_unknown_keys"] is False


def test_the_credentials_file_is_never_read_and_login_writes_a_temporary_one(users_machine, capsys):
    with mock_vilvik() as control:
        config_home = Path(os.environ["XDG_CONFIG_HOME"])
        assert config_home != users_machine.parent.parent
        assert vilvik._credentials.load_api_key() is None
        assert vilvik.__main__.main(["login"]) == 0  # with the browser: nothing opens, the mock approves
        minted = vilvik._credentials.load_api_key()
        assert (config_home / "vilvik" / "credentials").exists()
        assert minted and minted != REAL_KEY
        keys = control.keys()
        assert [key["account_id"] for key in keys if key["prefix"] == minted[:12]] == ["acct_default"]
        assert vilvik.Client(api_key=minted).submissions.list().items == []
    assert "Credentials saved to " + str(config_home) in capsys.readouterr().out
    assert not config_home.exists()
    assert users_machine.read_text() == json.dumps({"api_key": REAL_KEY})


def test_the_browser_is_not_opened_on_a_mocked_host(monkeypatch):
    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0, autoraise=True: opened.append(url) or True)
    with mock_vilvik():
        assert webbrowser.open("https://vilvik.com/device?user_code=BCDF-GHJK") is False
        assert webbrowser.open_new_tab("https://example.org/") is True
    assert webbrowser.open("https://vilvik.com/device") is True
    assert opened == ["https://example.org/", "https://vilvik.com/device"]


# ---------------------------------------------------------------------- leaving, nesting, threads


def _transport_state() -> dict:
    return {"requests": requests.adapters.HTTPAdapter.__dict__["send"],
            "requests-environment": requests.Session.__dict__["merge_environment_settings"],
            "httpx": httpx.HTTPTransport.__dict__["handle_request"],
            "httpx-async": httpx.AsyncHTTPTransport.__dict__["handle_async_request"],
            "webbrowser": webbrowser.open, "meta_path": list(sys.meta_path)}


def test_leaving_restores_the_environment_and_the_transports_exactly():
    environment, state = dict(os.environ), _transport_state()
    with mock_vilvik():
        assert _transport_state() != state
        assert dict(os.environ) != environment
    assert _transport_state() == state
    assert dict(os.environ) == environment
    assert transports.active_routes() == []


def test_leaving_restores_after_an_exception_too():
    environment, state = dict(os.environ), _transport_state()
    with pytest.raises(ZeroDivisionError), mock_vilvik():
        raise ZeroDivisionError
    assert (dict(os.environ), _transport_state()) == (environment, state)


def test_a_module_imported_inside_the_mock_is_patched_then_and_restored_after(tmp_path, monkeypatch):
    # A stand-in for an httpx imported for the first time by the code under test.
    package = tmp_path / "httpx"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        class HTTPTransport:
            def handle_request(self, request):
                return "original"

        class AsyncHTTPTransport:
            async def handle_async_request(self, request):
                return "original"
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "httpx")
    with mock_vilvik():
        import httpx as late

        assert late.HTTPTransport.handle_request is transports._httpx_handle
    assert late.HTTPTransport.__dict__["handle_request"].__qualname__ == "HTTPTransport.handle_request"


def test_nested_mocks_each_have_their_own_state():
    with mock_vilvik(mode="manual") as outer:
        outer_id = create(vilvik.Client()).id
        with mock_vilvik(mode="manual") as inner:
            assert vilvik.Client().submissions.list().items == []
            inner_id = create(vilvik.Client()).id
            assert os.environ["VILVIK_API_KEY"] == inner.api_key
        assert os.environ["VILVIK_API_KEY"] == outer.api_key
        assert [item.id for item in vilvik.Client().submissions.list().items] == [outer_id]
        assert inner_id != outer_id


def test_many_threads_inside_one_mock():
    with mock_vilvik(mode="manual") as control:
        client = vilvik.Client()

        def work(index: int) -> str:
            return vilvik.Client().submissions.get(create(client, name=f"thread {index}").id).name

        with ThreadPoolExecutor(max_workers=8) as pool:
            names = list(pool.map(work, range(32)))
        assert sorted(names) == sorted(f"thread {index}" for index in range(32))
        assert len(control.requests(method="POST", limit=100)) == 32


def test_mocks_entered_on_two_threads_keep_to_their_own_emulators():
    barrier = threading.Barrier(2)
    seen: dict[int, tuple[list[str], str]] = {}

    def use(index: int) -> None:
        with mock_vilvik(mode="manual", strict_keys=True) as control:
            client = vilvik.Client(api_key=control.api_key)
            mine = create(client, name=f"mine {index}").id
            barrier.wait(timeout=60)  # both mocks active at once from here
            seen[index] = ([item.id for item in client.submissions.list().items], mine)
            barrier.wait(timeout=60)

    threads = [threading.Thread(target=use, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(seen) == 2 and all(listed == [mine] for listed, mine in seen.values())
    assert transports.active_routes() == []


# ---------------------------------------------------------------------- decorators


@mock_vilvik
def decorated() -> tuple[str, list]:
    return os.environ["VILVIK_API_KEY"], vilvik.Client().submissions.list().items


@mock_vilvik(mode="sync")
async def decorated_coroutine() -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post("https://vilvik.com/api/v1/submissions/",
                                     headers={"Authorization": f"Bearer {os.environ['VILVIK_API_KEY']}"},
                                     json={"fitness_func": SPHERE, "fitness_func_entry": "fitness_func",
                                           "num_genes": 2, "num_generations": 2, "sol_per_pop": 4})
    return response.json()["status"]


def test_a_decorated_function_and_coroutine_run_inside_the_mock():
    key, items = decorated()
    assert key.startswith("vlk_test_") and items == []
    assert "VILVIK_API_KEY" not in os.environ
    assert inspect.iscoroutinefunction(decorated_coroutine)
    assert run_coroutine(decorated_coroutine()) == "succeeded"
    assert transports.active_routes() == []


def test_a_decorated_unittest_case_runs_setup_test_and_teardown_in_one_mock():
    seen = []

    @mock_vilvik(mode="manual")
    class Case(unittest.TestCase):
        def setUp(self):
            self.client = vilvik.Client()
            self.mine = create(self.client).id

        def test_sees_only_what_setup_made(self):
            seen.append([item.id for item in self.client.submissions.list().items] == [self.mine])

        def test_again(self):
            seen.append([item.id for item in self.client.submissions.list().items] == [self.mine])

        def tearDown(self):
            seen.append(self.client.submissions.get(self.mine).status == "queued")

    with open(os.devnull, "w") as quiet:
        outcome = unittest.TextTestRunner(stream=quiet).run(unittest.defaultTestLoader.loadTestsFromTestCase(Case))
    assert outcome.wasSuccessful(), outcome.errors + outcome.failures
    assert seen == [True] * 4
    assert transports.active_routes() == []


def test_the_options_are_checked():
    with pytest.raises(ValueError, match="mode"):
        mock_vilvik(mode="turbo")
    with pytest.raises(ValueError, match="not both"):
        mock_vilvik(url="http://127.0.0.1:1", app=object())


def test_the_control_handle_stays_in_process_after_leaving():
    with mock_vilvik() as control:
        pass
    assert control.base_url == "https://vilvik.com/api/v1"
    assert control.health()["status"] == "ok"  # still the in-process emulator, never the internet
    with pytest.raises(ControlError):
        control.wait("nosuchsubmis", timeout=0.1)
