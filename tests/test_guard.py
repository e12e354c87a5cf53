"""Web pages cannot drive the loopback emulator (issue "Hardening" #6).

A cross-site "simple" request (no preflight: a form post, or ``fetch`` with a text body
or none) must not change state, and DNS rebinding (a page whose name resolves to
127.0.0.1) must not reach anything: the server answers only to its own Host names.
In-process transports, which send foreign Host names on purpose, are not affected.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from browser import CHROMIUM, CHROMIUM_ARGS, chromium_problem

from vilvik_emulator.guard import HostPolicy, host_name
from vilvik_emulator.inprocess import INPROCESS_URL, inprocess_session

# ---------------------------------------------------------------------- the Host policy


@pytest.mark.parametrize(("header", "name"), [
    ("127.0.0.1:8080", "127.0.0.1"), ("LOCALHOST", "localhost"), ("localhost.:80", "localhost"),
    ("[::1]:8080", "::1"), ("[::1]", "::1"), ("example.test", "example.test"),
    ("localhost:http", None), ("[::1", None), ("[::1]x", None), ("", None),
])
def test_host_names_are_parsed_strictly(header, name):
    assert host_name(header) == name


def test_a_loopback_server_answers_to_loopback_names_on_any_port():
    policy = HostPolicy.for_bind("127.0.0.1", "127.0.0.1")
    assert all(policy.allows(host) for host in ("127.0.0.1:8080", "localhost:9000", "[::1]:8080", "localhost", None))
    assert not any(policy.allows(host) for host in ("attacker.example:8080", "127.0.0.1.nip.io:8080",
                                                    "192.168.1.20:8080", "localhost:x"))


def test_a_server_on_one_address_answers_to_that_address_and_the_names_it_is_given():
    policy = HostPolicy.for_bind("192.0.2.7", "192.0.2.7", ["emulator", "CI-Box"])
    assert all(policy.allows(host) for host in ("192.0.2.7:8080", "emulator:8080", "ci-box"))
    assert not any(policy.allows(host) for host in ("localhost:8080", "127.0.0.1:8080", "attacker.example"))


def test_a_server_on_every_interface_answers_to_addresses_but_not_to_foreign_names():
    policy = HostPolicy.for_bind("0.0.0.0", "0.0.0.0")
    assert all(policy.allows(host) for host in ("localhost:8080", "10.1.2.3:8080", "[fe80::1]:8080"))
    assert not policy.allows("attacker.example:8080")


# ---------------------------------------------------------------------- the Host check, over the socket


@pytest.mark.parametrize("path", ["/api/v1/submissions", "/_emulator/health", "/", "/submissions"])
def test_a_foreign_host_is_refused_on_every_path(vilvik_emulator_server, vilvik_emulator, path):
    response = requests.get(f"{vilvik_emulator_server.url}{path}", timeout=10,
                            headers={"Host": f"rebind.attacker.example:{vilvik_emulator_server.port}",
                                     "Authorization": f"Bearer {vilvik_emulator.api_key}"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden_host" and "rebind.attacker.example" in error["message"]
    assert error["request_id"] == response.headers["X-Request-Id"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_names_are_answered(vilvik_emulator_server, vilvik_emulator, host):
    response = requests.get(f"{vilvik_emulator_server.url}/api/v1/submissions", timeout=10,
                            headers={"Host": f"{host}:{vilvik_emulator_server.port}",
                                     "Authorization": f"Bearer {vilvik_emulator.api_key}"})
    assert response.status_code == 200


def test_a_forwarded_request_with_the_servers_host_and_a_public_base_passes(vilvik_emulator_server,
                                                                           vilvik_emulator):
    """What the intercepting mock sends when it forwards to a running server (``url=``)."""
    response = requests.get(f"{vilvik_emulator_server.api_url}/submissions", timeout=10,
                            headers={"X-Vilvik-Emulator-Public-Base": "https://vilvik.com/api/v1",
                                     "Authorization": f"Bearer {vilvik_emulator.api_key}"})
    assert response.status_code == 200


def test_in_process_transports_keep_their_own_host_names(vilvik_emulator_server, vilvik_emulator):
    session = inprocess_session(vilvik_emulator_server.app)
    response = session.get(f"{INPROCESS_URL}/api/v1/submissions",
                           headers={"Authorization": f"Bearer {vilvik_emulator.api_key}"})
    assert response.status_code == 200
    assert session.post(f"{INPROCESS_URL}/_emulator/reset", json={}).status_code == 200


# ---------------------------------------------------------------------- the control plane's cross-site rules


@pytest.fixture
def marker_account(vilvik_emulator) -> str:
    """An account a reset would delete: its survival shows a refused request changed nothing."""
    return vilvik_emulator.create_account(name="must-survive")["id"]


def account_ids(control) -> set[str]:
    return {account["id"] for account in control.accounts()}


@pytest.mark.parametrize(("method", "path", "headers", "body"), [
    ("POST", "reset", {}, None),
    ("POST", "reset", {"Content-Type": "text/plain;charset=UTF-8"}, "{}"),
    ("POST", "reset", {"Content-Type": "application/x-www-form-urlencoded"}, "a=b"),
    ("POST", "reset", {"Content-Type": "multipart/form-data; boundary=x"}, "--x--"),
    ("PUT", "snapshot", {"Content-Type": "text/plain"}, '{"schema_version": 1, "tables": {}}'),
    ("PATCH", "config", {}, None),
    ("DELETE", "faults", {}, None),
], ids=["post-no-body", "post-text", "post-form", "post-multipart", "put-text", "patch-no-body", "delete-no-body"])
def test_state_changes_need_a_json_content_type(vilvik_emulator_server, vilvik_emulator, marker_account,
                                                method, path, headers, body):
    response = requests.request(method, f"{vilvik_emulator_server.url}/_emulator/{path}", headers=headers,
                                data=body, timeout=10)
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    assert marker_account in account_ids(vilvik_emulator)


def test_a_body_less_state_change_with_the_json_content_type_is_accepted(vilvik_emulator_server, vilvik_emulator,
                                                                         marker_account):
    response = requests.post(f"{vilvik_emulator_server.url}/_emulator/reset",
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200
    assert marker_account not in account_ids(vilvik_emulator)


def test_reads_need_no_content_type(vilvik_emulator_server, vilvik_emulator):
    assert requests.get(f"{vilvik_emulator_server.url}/_emulator/clock", timeout=10).status_code == 200


@pytest.mark.parametrize("origin", ["https://attacker.example", "null", "http://127.0.0.1:1",
                                    "http://localhost.attacker.example"])
def test_a_foreign_origin_is_refused(vilvik_emulator_server, vilvik_emulator, marker_account, origin):
    response = requests.post(f"{vilvik_emulator_server.url}/_emulator/reset", json={}, headers={"Origin": origin},
                             timeout=10)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden_origin" and error["request_id"] == response.headers["X-Request-Id"]
    assert marker_account in account_ids(vilvik_emulator)


def test_the_servers_own_origin_is_accepted(vilvik_emulator_server, vilvik_emulator, marker_account):
    response = requests.post(f"{vilvik_emulator_server.url}/_emulator/reset", json={},
                             headers={"Origin": vilvik_emulator_server.url}, timeout=10)
    assert response.status_code == 200
    assert marker_account not in account_ids(vilvik_emulator)


# ---------------------------------------------------------------------- in a real browser


class _AttackerSite:
    """A page on another origin (another port of 127.0.0.1) that runs ``script`` when opened."""

    def __init__(self, script: str) -> None:
        page = f"<!doctype html><html><body><p id=done>no</p><script>{script}</script></body></html>".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/prize"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def in_chromium(action):
    """``action(browser)`` in a headless Chromium where ``rebind.test`` resolves to 127.0.0.1,
    as an attacker's name does after DNS rebinding.

    It runs on a thread of its own: Playwright's sync API refuses to start where another
    Playwright (the dashboard tests' session browser, in the same worker) runs its loop.
    """
    problem = chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    from playwright.sync_api import sync_playwright

    def run():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP rebind.test 127.0.0.1"])
            try:
                return action(browser)
            finally:
                browser.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def test_a_page_on_another_origin_cannot_reset_the_emulator(vilvik_emulator_server, vilvik_emulator, marker_account):
    target = f"{vilvik_emulator_server.url}/_emulator/reset"
    # The three requests a page can send without a preflight: no body, a text body, a form.
    site = _AttackerSite(f"""
        Promise.allSettled([
            fetch('{target}', {{method: 'POST', mode: 'no-cors'}}),
            fetch('{target}', {{method: 'POST', mode: 'no-cors', body: '{{}}'}}),
            fetch('{target}', {{method: 'POST', mode: 'no-cors', body: new URLSearchParams({{a: 'b'}})}}),
        ]).then(() => {{ document.getElementById('done').textContent = 'yes'; }});
    """)

    def attack(browser) -> None:
        page = browser.new_page()
        page.goto(site.url)
        page.wait_for_function("document.getElementById('done').textContent === 'yes'", timeout=15_000)

    try:
        in_chromium(attack)
    finally:
        site.close()
    assert marker_account in account_ids(vilvik_emulator)


def test_a_rebound_name_gets_nothing_from_the_emulator(vilvik_emulator_server, vilvik_emulator):
    def visit(browser) -> tuple[int | None, str]:
        page = browser.new_page()
        response = page.goto(f"http://rebind.test:{vilvik_emulator_server.port}/_emulator/snapshot")
        return (response.status if response else None), page.content()

    status, content = in_chromium(visit)
    assert status == 403
    assert "forbidden_host" in content and "acct_default" not in content


def test_serve_answers_to_the_names_it_is_told_about():
    from serve_process import ServeProcess

    server = ServeProcess("--memory", "--allow-host", "emulator.internal",
                          env={"VILVIK_EMULATOR_ALLOWED_HOSTS": "ci-runner, other.test"}).start()
    try:
        port = server.url.rsplit(":", 1)[1]

        def status(host: str) -> int:
            return requests.get(f"{server.url}/api/v1/health", headers={"Host": host}, timeout=10).status_code

        assert [status(f"{host}:{port}") for host in ("emulator.internal", "ci-runner", "other.test", "localhost")] \
            == [200] * 4
        assert status(f"attacker.example:{port}") == 403
    finally:
        server.terminate()
