"""The dashboard in a real browser (Debian's Chromium through Playwright) against the real server.

Every test works the way a person at a laptop would: it fills in forms, clicks buttons,
accepts confirm dialogs and waits for the page itself to change (Playwright's auto-waiting
``expect``), then checks through the API or the control plane that the click did what
the page says it did. Nothing here reloads a page to see a job finish: the dashboard's
own polling has to show it.

Chromium is the system one (``.ci/run`` installs it with apt); when it is missing these
tests fail, they never skip. Screenshots of the main pages, at laptop width and at
1024 px, go to a directory under pytest's basetemp (``dashboard-screenshots*``).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import queue
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from browser import (
    LAPTOP,
    NARROW,
    RUN_TIMEOUT_MS,
    Receiver,
    form_posting_page,
    launch,
    no_horizontal_overflow,
    overflowing_elements,
)
from helpers import NEVER_RETURNS, SPHERE

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect
except ImportError as missing:  # pragma: no cover - the test extras install it
    raise ImportError("the dashboard's browser tests need the playwright package: pip install -e '.[test]'") \
        from missing

SUBMISSION_URL = re.compile(r"/submissions/(?!new\b)[A-Za-z0-9_-]+$")
RESULT_URL = re.compile(r"/results/[A-Za-z0-9_-]+$")
FAILS = '''\
def fitness_func(ga_instance, solution, solution_idx):
    raise ValueError("this fitness function always fails")
'''


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def browser(playwright):
    try:
        chromium = launch(playwright)
    except PlaywrightError as error:
        pytest.fail(f"Chromium did not start: {error}", pytrace=False)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def new_context(browser, vilvik_emulator_server):
    """Fresh browser profiles (no cookies) on the server, closed after the test."""
    contexts = []

    def make(viewport: dict = LAPTOP):
        context = browser.new_context(base_url=vilvik_emulator_server.url, viewport=viewport, accept_downloads=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(control, new_context):
    """A page in a fresh profile; any uncaught JavaScript error in it fails the test."""
    context = new_context()
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    yield page
    assert not script_errors, f"the dashboard's JavaScript threw: {script_errors}"


def accept_confirms(page) -> list[str]:
    """Accept every confirm() from now on, as a user clicking OK; returns the messages seen."""
    seen: list[str] = []

    def accept(dialog) -> None:
        seen.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return seen


def create_from_form(page) -> str:
    """Click "Create submission"; the id of the submission page it leads to (or the form's errors, as the failure)."""
    with page.expect_navigation():
        page.get_by_role("button", name="Create submission").click()
    if not SUBMISSION_URL.search(page.url):
        errors = page.locator(".notice.error, .field-error").all_inner_texts()
        pytest.fail(f"the form did not create a submission: {errors}")
    return page.url.rstrip("/").rsplit("/", 1)[1]


def field_error(page, field_id: str):
    """The inline error shown next to one form field."""
    return page.locator(f"div.has-error:has(> #{field_id}) > .field-error")


def list_ids(api) -> list[str]:
    return [row["id"] for row in api.get("submissions", params={"page_size": 100}).json()["results"]]


# ---------------------------------------------------------------------- 1. the documented example, start to end


def test_the_documented_example_through_the_form_runs_live_to_its_result(page, api):
    page.goto("/submissions/new")
    expect(page.locator("#submission_type")).to_have_value("new")
    page.locator("#name").fill("documented example")
    page.locator("#fitness_func").fill(SPHERE)
    page.locator("#num_genes").fill("5")
    page.locator("#num_generations").fill("100")
    page.locator("#sol_per_pop").fill("10")
    expect(page.locator("#fitness_func_entry")).to_have_value("fitness_func")
    submission_id = create_from_form(page)
    expect(page.locator("h1")).to_have_text("documented example")
    # The page's own polling turns the badge; this test never reloads.
    badge = page.locator("#status-badge")
    expect(badge).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    expect(badge).to_have_class(re.compile(r"\bsucceeded\b"))
    expect(page.locator("#progress-text")).to_have_text("100 / 100 generations")

    page.get_by_role("link", name="View result").click()
    expect(page).to_have_url(RESULT_URL)
    expect(page.locator("#best-fitness")).to_have_text(re.compile(r"^-?\d"))
    expect(page.locator("img#fitness-chart")).to_be_visible()
    page.wait_for_function("() => { const img = document.getElementById('fitness-chart');"
                           " return img.complete && img.naturalWidth > 0; }")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="result.json", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "result.json"
    downloaded = json.loads(Path(download.path()).read_text())
    assert len(downloaded["population"]) == 10
    assert all(len(solution) == 5 for solution in downloaded["population"])

    submission = api.get(f"submissions/{submission_id}").json()
    assert submission["source"] == "web"
    assert submission["status"] == "succeeded"
    assert submission["name"] == "documented example"
    assert downloaded["best_solution_fitness"] == api.get(f"results/{submission['result_id']}").json()[
        "best_solution_fitness"]


@pytest.mark.vilvik_mode("manual")
def test_a_page_opened_while_the_job_waits_follows_it_to_the_end(page, api, control):
    # Manual mode holds the job queued until the test runs it: the page is certainly open first.
    created = api.create(name="held back")
    page.goto(f"/submissions/{created['id']}")
    badge = page.locator("#status-badge")
    expect(badge).to_have_text("queued")
    expect(page.get_by_role("link", name="View result")).to_have_count(0)

    control.run(created["id"])

    expect(badge).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_role("link", name="View result")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)


# ---------------------------------------------------------------------- 2. the entry follows the code


def test_the_entry_fills_in_as_you_type_and_a_manual_entry_is_kept(page, api, control):
    page.goto("/submissions/new")
    editor = page.locator("#fitness_func")
    entry = page.locator("#fitness_func_entry")
    expect(entry).to_have_value("fitness_func")

    editor.click()
    editor.press("Control+End")
    editor.press_sequentially("\n\ndef my_fitness(ga_instance, solution, solution_idx):\n"
                              "    return fitness_func(ga_instance, solution, solution_idx)\n")
    expect(entry).to_have_value("my_fitness")

    entry.fill("fitness_func")  # the user picks the entry by hand
    editor.press("Control+End")
    editor.press_sequentially("\ndef helper(value):\n    return value\n")
    expect(entry).to_have_value("fitness_func")

    page.locator("#num_generations").fill("5")
    submission_id = create_from_form(page)
    code = api.get(f"submissions/{submission_id}").json()["code"]
    assert code["fitness_func_entry"] == "fitness_func"
    assert "def my_fitness(" in code["fitness_func"] and "def helper(" in code["fitness_func"]
    assert control.wait(submission_id)["status"] == "succeeded"


# ---------------------------------------------------------------------- 3. inline validation errors


def test_validation_errors_show_next_to_their_field_and_create_nothing(page, api):
    page.goto("/submissions/new")
    page.locator("#name").fill("typed before the error")
    page.locator("#num_genes").fill("")
    page.get_by_role("button", name="Create submission").click()

    expect(field_error(page, "num_genes")).to_be_visible()
    expect(field_error(page, "num_genes")).not_to_be_empty()
    expect(page.locator(".notice.error")).to_be_visible()
    expect(page.locator("#name")).to_have_value("typed before the error")  # what was typed is kept
    expect(page.locator("#num_genes")).to_have_value("")
    assert list_ids(api) == []

    page.locator("#num_genes").fill("5")
    page.locator("#fitness_func").fill("def fitness_func(ga_instance, solution, solution_idx):\n"
                                       "    return 1 +\n")
    page.get_by_role("button", name="Create submission").click()

    message = field_error(page, "fitness_func")
    expect(message).to_contain_text("does not compile")
    expect(message).to_contain_text("line 2")
    expect(field_error(page, "num_genes")).to_have_count(0)
    assert list_ids(api) == []


# ---------------------------------------------------------------------- 4. the quick types


def test_the_knapsack_quick_type_runs_to_success(page, api):
    page.goto("/submissions/new")
    page.locator("#submission_type").select_option("quick_knapsack")
    for section in page.locator('[data-for-type="new"]').all():
        expect(section).to_be_hidden()
    expect(page.locator('[data-for-type="quick_binary_subset_sum"]')).to_be_hidden()
    expect(page.locator('[data-for-type="quick_knapsack"]')).to_be_visible()

    page.locator("#name").fill("packing")
    page.locator("#items").fill("map, 5, 2\ncompass, 8, 1\nwater, 3, 3\nrope, 4, 2")
    page.locator("#dimensions").fill("weight:5")
    page.locator("#num_generations").fill("30")
    page.locator("#sol_per_pop").fill("10")
    submission_id = create_from_form(page)
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    submission = api.get(f"submissions/{submission_id}").json()
    assert submission["submission_type"] == "quick_knapsack"
    assert submission["source"] == "web"
    result = api.get(f"results/{submission['result_id']}").json()
    assert 0 < float(result["best_solution_fitness"]) <= 17  # compass + map + rope is the best packing


def test_subset_sum_with_generated_integers_shows_them(page, api, control):
    page.goto("/submissions/new?type=quick_binary_subset_sum")
    expect(page.locator("#submission_type")).to_have_value("quick_binary_subset_sum")
    for section in page.locator('[data-for-type="new"]').all():
        expect(section).to_be_hidden()
    page.locator("#integers").fill("")
    page.locator("#num_integers").fill("8")
    page.locator("#target").fill("20")
    page.locator("#num_generations").fill("10")
    submission_id = create_from_form(page)
    generated = page.locator("dt", has_text="Generated")
    expect(generated).to_be_visible()
    shown = json.loads(page.locator("dt:has-text('Generated') + dd").inner_text())
    assert len(shown["integers"]) == 8
    assert api.get(f"submissions/{submission_id}").json()["generated"] == shown
    assert control.wait(submission_id)["status"] == "succeeded"


# ---------------------------------------------------------------------- 5. keys: shown once, scoped, revoked, rotated


def test_a_key_made_on_the_accounts_page(page, api, control):
    page.goto("/accounts")
    expect(page.locator("#revealed-secret")).to_have_count(0)
    page.locator("#key-name").fill("browser-key")
    page.locator("#key-expires").fill("2031-02-03T04:05")
    for checkbox in page.locator('input[name="scopes"]').all():
        checkbox.uncheck()
    page.locator('input[name="scopes"][value="submissions:read"]').check()
    page.locator('input[name="scopes"][value="results:read"]').check()
    page.get_by_role("button", name="Create key").click()

    revealed = page.locator("#revealed-secret")
    expect(revealed).to_be_visible()
    secret = revealed.locator("code").inner_text().strip()
    assert secret and secret not in page.url
    key = next(key for key in control.keys() if key["name"] == "browser-key")
    assert sorted(key["scopes"]) == ["results:read", "submissions:read"]
    assert key["expires_at"] == "2031-02-03T04:05:00Z"
    assert api.get("submissions", key=secret).status_code == 200
    assert api.get("results", key=secret).status_code == 200
    assert api.get("webhooks", key=secret).status_code == 403
    assert api.post("submissions", key=secret, json={"fitness_func": SPHERE, "num_genes": 2}).status_code == 403

    page.reload()
    expect(page.locator("#revealed-secret")).to_have_count(0)
    assert secret not in page.content()

    confirms = accept_confirms(page)
    row = page.locator(f'tr[data-key-id="{key["id"]}"]')
    row.get_by_role("button", name="Rotate").click()
    expect(revealed).to_be_visible()
    rotated = revealed.locator("code").inner_text().strip()
    assert rotated and rotated != secret
    assert api.get("submissions", key=secret).status_code == 401
    assert api.get("submissions", key=rotated).status_code == 200

    row.get_by_role("button", name="Revoke").click()
    expect(row.locator(".badge")).to_have_text("revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(page.locator("#revealed-secret")).to_have_count(0)
    assert api.get("submissions", key=rotated).status_code == 401
    assert [message.split("?")[0] for message in confirms] == ["Rotate this key", "Revoke this key"]


# ---------------------------------------------------------------------- 6. user strings are text


def test_a_script_in_a_name_is_shown_as_text(page, api, control):
    name = "<script>alert(1)</script>"
    description = '<img src=x onerror="alert(2)">'
    created = api.create(name=name, description=description, num_generations=5)
    result_id = control.wait(created["id"])["result_id"]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto("/submissions")
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    page.goto("/submissions?name_contains=" + requests.utils.quote(name))
    expect(page.locator('input[name="name_contains"]')).to_have_value(name)
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()

    page.get_by_role("link", name=name, exact=True).click()
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator("dd", has_text=description)).to_be_visible()
    page.goto(f"/results/{result_id}")
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()

    for path in ("/submissions", f"/submissions/{created['id']}", f"/results/{result_id}"):
        page.goto(path)
        assert page.locator("main script").count() == 0, path
        assert page.locator('main img[src="x"]').count() == 0, path
    assert dialogs == []


# ---------------------------------------------------------------------- 7. CSRF


def test_a_form_post_without_the_token_or_from_another_site_is_refused(page, api, control, vilvik_emulator_server):
    url = vilvik_emulator_server.url
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{url}/submissions/new").text).group(1)
    form = {"submission_type": "new", "fitness_func": SPHERE, "fitness_func_entry": "fitness_func",
            "num_genes": "5", "num_generations": "5", "sol_per_pop": "10"}
    keys_before = sorted(key["id"] for key in control.keys())

    refused = [
        session.post(f"{url}/submissions/new", data=form, allow_redirects=False),
        session.post(f"{url}/submissions/new", data={**form, "csrf_token": "forged"}, allow_redirects=False),
        session.post(f"{url}/submissions/new", data={**form, "csrf_token": token},
                     headers={"Origin": "http://attacker.test"}, allow_redirects=False),
        requests.post(f"{url}/submissions/new", data={**form, "csrf_token": token}, allow_redirects=False),
        session.post(f"{url}/keys", data={"name": "stolen", "scopes": ["submissions:write"]}, allow_redirects=False),
    ]
    assert [response.status_code for response in refused] == [403] * len(refused)
    assert "reload the page" in refused[0].text
    assert list_ids(api) == []
    assert sorted(key["id"] for key in control.keys()) == keys_before

    # The same request with the token from the page and this site's Origin goes through.
    accepted = session.post(f"{url}/keys", data={"name": "mine", "scopes": ["submissions:read"], "csrf_token": token},
                            headers={"Origin": url}, allow_redirects=False)
    assert accepted.status_code == 302
    keys_before = sorted(key["id"] for key in control.keys())

    # In the browser: a signed-in tab, then a page on another origin that posts a form to the dashboard.
    page.goto("/accounts")
    cookie = next(cookie for cookie in page.context.cookies() if cookie["name"] == "vilvik_emulator_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    attack = form_posting_page(f"{url}/keys", {"name": "stolen", "scopes": ["submissions:write", "webhooks:write"],
                                               "csrf_token": "guessed"})
    page.route("http://attacker.test/**", lambda route: route.fulfill(status=200, content_type="text/html",
                                                                      body=attack))
    page.goto("http://attacker.test/prize", wait_until="commit")
    expect(page).to_have_url(f"{url}/keys")
    expect(page.locator("main h2")).to_contain_text("403")
    assert sorted(key["id"] for key in control.keys()) == keys_before


# ---------------------------------------------------------------------- 8. cancel


def test_cancel_a_running_job_from_its_page(page, api, control, vilvik_emulator_server):
    created = api.create(name="forever", fitness_func=NEVER_RETURNS)
    control.wait(created["id"], status="running")
    page.goto(f"/submissions/{created['id']}")
    badge = page.locator("#status-badge")
    expect(badge).to_have_text("running")
    posted: list[str] = []
    page.on("request", lambda request: posted.append(request.url) if request.method == "POST" else None)

    # Changing one's mind at the confirm sends nothing...
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Cancel run").click()
    expect(badge).to_have_text("running")

    # ...and OK cancels the run.
    confirms = accept_confirms(page)
    page.get_by_role("button", name="Cancel run").click()

    expect(badge).to_have_text("cancelled", timeout=30_000)
    expect(badge).to_have_class(re.compile(r"\bcancelled\b"))
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    assert confirms == ["Stop this run? It will be kept as cancelled."]
    assert posted == [f"{vilvik_emulator_server.url}/submissions/{created['id']}/cancel"]
    assert api.get(f"submissions/{created['id']}").json()["status"] == "cancelled"


# ---------------------------------------------------------------------- 9. webhooks


def test_add_a_webhook_and_send_it_a_test_event(page, control):
    with Receiver() as receiver:
        page.goto("/webhooks")
        expect(page.get_by_role("heading", name="No webhooks")).to_be_visible()
        page.locator("#hook-url").fill(receiver.url)
        page.locator("#hook-description").fill("browser receiver")
        page.get_by_role("button", name="Add webhook").click()

        revealed = page.locator("#revealed-secret")
        expect(revealed).to_be_visible()
        secret = revealed.locator("code").inner_text().strip()
        page.reload()
        expect(page.locator("#revealed-secret")).to_have_count(0)

        row = page.locator("tr", has_text=receiver.url)
        expect(row).to_contain_text("browser receiver")
        row.get_by_role("button", name="Send test").click()
        expect(page.locator(".notice.ok")).to_contain_text("webhook.test")

        delivered = receiver.next(timeout=30)
        assert delivered.event["type"] == "webhook.test"
        timestamp = delivered.headers["x-signature-timestamp"]
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + delivered.body, hashlib.sha256).hexdigest()
        assert delivered.headers["x-signature"] == f"sha256={expected}"
        control.drain_deliveries()

        page.get_by_role("link", name=receiver.url).click()
        expect(page.locator("h1")).to_have_text("Webhook")
        delivery = page.locator("tr", has_text="webhook.test")
        expect(delivery).to_have_count(1)
        expect(delivery.locator(".badge")).to_have_text("200")
        expect(delivery).to_contain_text(delivered.event["id"])


# ---------------------------------------------------------------------- 10. device login


def test_approve_a_device_login_in_the_browser(page, api, control, monkeypatch, tmp_path):
    import vilvik

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # never the real credentials file
    control.configure(device_poll_interval=0.2)
    printed: queue.Queue[str] = queue.Queue()
    login_module = importlib.import_module("vilvik.login")
    monkeypatch.setattr(login_module, "print", lambda *args, **kwargs: printed.put(" ".join(map(str, args))),
                        raising=False)

    with ThreadPoolExecutor(max_workers=1) as pool:
        login = pool.submit(vilvik.login, base_url=control.base_url, open_browser=False, timeout=45)
        prompt = printed.get(timeout=30)
        user_code = re.search(r"confirm the code: (\S+)", prompt).group(1)
        try:
            page.goto(re.search(r"https?://\S+", prompt).group(0))
            expect(page.locator("#user_code")).to_have_value(user_code)
            expect(page.locator("table")).to_contain_text(user_code)  # listed as waiting
            page.get_by_role("button", name="Approve").click()
            expect(page.get_by_role("status")).to_contain_text("Approved")
            key = login.result(timeout=30)
        finally:
            if not login.done():
                control.deny_login(user_code)  # let the SDK's loop end instead of waiting out its timeout

    assert api.get("submissions", key=key).status_code == 200
    assert key in "".join(path.read_text() for path in tmp_path.rglob("*") if path.is_file())


# ---------------------------------------------------------------------- 11. admin token


def test_an_admin_token_guards_the_dashboard(page, new_context, vilvik_emulator_server):
    settings = vilvik_emulator_server.emulator.settings
    saved = settings.admin_token
    settings.admin_token = "the-admin-token-printed-at-start"
    try:
        for path in ("/submissions", "/submissions/new", "/accounts", "/webhooks", "/credits", "/device"):
            page.goto(path)
            expect(page.locator("#token")).to_be_visible()
            landed = urlsplit(page.url)
            assert landed.path == "/login", page.url
            assert parse_qs(landed.query)["next"][0].rstrip("?") == path

        page.goto("/accounts")
        page.locator("#token").fill("a guess")
        page.get_by_role("button", name="Continue").click()
        expect(page.locator(".notice.error")).to_contain_text("not the admin token")
        expect(page).to_have_url(re.compile(r"/login"))

        page.locator("#token").fill("the-admin-token-printed-at-start")
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url(re.compile(r"/accounts\??$"))
        expect(page.locator("h1")).to_have_text("Accounts & API keys")
        page.goto("/webhooks")
        expect(page.locator("h1")).to_have_text("Webhooks")

        stranger = new_context().new_page()
        stranger.goto("/webhooks")
        expect(stranger).to_have_url(re.compile(r"/login"))
    finally:
        settings.admin_token = saved


# ---------------------------------------------------------------------- 12. empty states


def test_an_empty_dashboard_says_what_to_do_next(page, control, vilvik_emulator_server):
    page.goto("/submissions")
    empty = page.locator(".card.empty")
    expect(empty.get_by_role("heading")).to_have_text("No submissions yet")
    snippet = empty.locator("pre").inner_text()
    assert f'base_url="{vilvik_emulator_server.url}/api/v1"' in snippet

    # The snippet works as printed once a key replaces the placeholder.
    printed: list = []
    source = snippet.replace("<a key from Accounts & keys>", control.api_key)
    exec(compile(source, "dashboard-snippet", "exec"), {"print": printed.append})
    assert len(printed) == 1 and printed[0] <= 0

    page.goto("/webhooks")
    expect(page.get_by_role("heading", name="No webhooks")).to_be_visible()
    page.goto("/submissions?status=failed")
    expect(page.get_by_role("heading", name="Nothing matches these filters")).to_be_visible()

    control.reset()
    page.goto("/submissions")
    page.locator(".card.empty").get_by_role("link", name="new-submission form").click()
    expect(page).to_have_url(re.compile(r"/submissions/new$"))
    expect(page.locator("h1")).to_have_text("New submission")


# ---------------------------------------------------------------------- 13. screenshots and layout


@pytest.fixture
def furnished(api, control):
    """Something on every page: runs that succeeded, failed and were cancelled, a key, a webhook
    with a delivery, charges, a device login waiting."""
    done = api.create(name="quadratic-minimisation", description="the SDK README's example")
    failed = api.create(name="always fails", fitness_func=FAILS, num_generations=5)
    forever = api.create(name="stopped by hand", fitness_func=NEVER_RETURNS)
    control.wait(forever["id"], status="running")
    control.cancel(forever["id"])
    knapsack = api.post("submissions", json={"submission_type": "quick_knapsack", "name": "packing",
                                             "item_names": ["map", "compass", "water", "rope"],
                                             "item_values": [5, 8, 3, 4], "item_weights": [[2], [1], [3], [2]],
                                             "dimension_names": ["weight"], "dimension_capacities": [5],
                                             "num_generations": 20}).json()
    for created in (done, failed, knapsack):
        control.wait(created["id"])
    control.create_key(name="ci", scopes=["submissions:read", "results:read"])
    with Receiver() as receiver:
        hook = control.create_webhook(receiver.url, description="local receiver")
        control.test_webhook(hook["id"])
        receiver.next(timeout=30)
        control.drain_deliveries()
    started = api.post("auth/device/code", json={}, key=None).json()
    return {"submission": done["id"], "result": control.wait(done["id"])["result_id"], "webhook": hook["id"],
            "user_code": started["user_code"]}


def test_screenshots_of_the_main_pages_fit_a_laptop_and_a_1024px_screen(new_context, furnished, tmp_path_factory,
                                                                        record_property):
    directory = tmp_path_factory.mktemp("dashboard-screenshots", numbered=True)
    record_property("screenshots", str(directory))
    pages = {
        "list": "/submissions",
        "new": "/submissions/new",
        "new-knapsack": "/submissions/new?type=quick_knapsack",
        "submission": f"/submissions/{furnished['submission']}",
        "result": f"/results/{furnished['result']}",
        "accounts": "/accounts",
        "webhooks": "/webhooks",
        "webhook": f"/webhooks/{furnished['webhook']}",
        "credits": "/credits",
        "device": f"/device?user_code={furnished['user_code']}",
    }
    overflow: dict[str, list[str]] = {}
    for viewport in (LAPTOP, NARROW):
        page = new_context(viewport).new_page()
        for name, path in pages.items():
            page.goto(path)
            if name == "result":
                page.wait_for_function("() => { const img = document.getElementById('fitness-chart');"
                                       " return img.complete && img.naturalWidth > 0; }")
            page.screenshot(path=str(directory / f"{viewport['width']}-{name}.png"), full_page=True)
            if no_horizontal_overflow(page):
                overflow[f"{viewport['width']}px {name}"] = overflowing_elements(page)
    saved = sorted(path.name for path in directory.iterdir())
    assert len(saved) == 2 * len(pages), saved
    assert not overflow, f"pages wider than the window (screenshots in {directory}): {overflow}"


NAV_LINE_COUNT = """el => { const range = document.createRange(); range.selectNodeContents(el);
    return new Set([...range.getClientRects()].map(rect => Math.round(rect.top))).size; }"""


@pytest.mark.parametrize("viewport", [LAPTOP, NARROW], ids=["1366px", "1024px"])
def test_the_header_and_the_pages_fit_the_window(new_context, control, viewport):
    page = new_context(viewport).new_page()
    problems = []
    page.goto("/submissions")  # the header is the same on every page
    bar = page.locator("header.top").bounding_box()
    for link in page.locator("header.top nav a").all():
        box = link.bounding_box()
        label = link.inner_text().replace("\n", " ")
        if link.evaluate(NAV_LINE_COUNT) > 1:
            problems.append(f"the nav link {label!r} wraps onto two lines")
        if box["y"] < bar["y"] or box["y"] + box["height"] > bar["y"] + bar["height"] + 0.5:
            problems.append(f"the nav link {label!r} sticks out of the {bar['height']:.0f}px header bar "
                            f"(its bottom at {box['y'] + box['height']:.0f}px)")
    for path in ("/submissions", "/submissions/new", "/accounts", "/webhooks", "/credits", "/device"):
        page.goto(path)
        if no_horizontal_overflow(page):
            problems.append(f"{path} is wider than the window: {overflowing_elements(page)}")
    assert not problems, f"at {viewport['width']}px: " + "; ".join(problems)


def test_the_device_code_is_shown_large_in_monospace(page, api):
    started = api.post("auth/device/code", json={}, key=None).json()
    page.goto(f"/device?user_code={started['user_code']}")
    code = page.locator("#user_code")
    expect(code).to_have_value(started["user_code"])
    style = code.evaluate("el => { const s = getComputedStyle(el); return [s.fontSize, s.fontFamily]; }")
    assert style[0] == "28px" and "mono" in style[1].lower(), \
        f"the code box is {style[0]} {style[1]}: .user-code (28px monospace) is overridden by input[type=text]"
