"""A Python handle on a running emulator's control plane (``/_emulator``).

The pytest plugin hands one to every test (``vilvik_emulator`` fixture); it works the
same against any emulator you started yourself::

    from vilvik_emulator.testing import EmulatorControl
    control = EmulatorControl("http://127.0.0.1:8080")
    control.reset()
    control.clock_advance(3600)
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import requests

from .hosts import is_loopback


def control_session(url: str) -> requests.Session:
    """A ``requests.Session`` for an emulator at ``url``: on loopback it ignores the proxy
    variables and ``.netrc`` (``trust_env`` off). No proxy could reach the user's loopback,
    and looking one up (``requests`` reads every proxy variable, twice, per call) costs more
    than most control-plane calls; any other host honours the environment."""
    session = requests.Session()
    session.trust_env = not is_loopback(urllib.parse.urlsplit(url).hostname or "")
    return session


class ControlError(RuntimeError):
    """The control plane answered with an error envelope."""

    def __init__(self, status: int, code: str, message: str, payload: dict) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.payload = payload


class EmulatorControl:
    """Plain-Python calls for every control-plane route (contract §13)."""

    def __init__(self, url: str, *, admin_token: str | None = None, session: requests.Session | None = None,
                 api_key: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = session or control_session(self.url)
        self.admin_token = admin_token
        self._api_key = api_key

    # ------------------------------------------------------------------ plumbing

    @property
    def base_url(self) -> str:
        """What to pass as ``vilvik.Client(base_url=...)``."""
        return f"{self.url}/api/v1"

    @property
    def api_key(self) -> str:
        """The default account's all-scopes key."""
        if self._api_key is None:
            raise RuntimeError("this handle was created without the default API key")
        return self._api_key

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                timeout: float = 60) -> Any:
        headers = {"X-Admin-Token": self.admin_token} if self.admin_token else {}
        if method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
            headers["Content-Type"] = "application/json"  # required on state changes, even without a body
        response = self.session.request(method, f"{self.url}/_emulator/{path.lstrip('/')}", json=json,
                                        params=params, headers=headers, timeout=timeout)
        if response.status_code >= 400:
            try:
                payload = response.json()
                error = payload.get("error", {})
            except ValueError:
                payload, error = {}, {}
            raise ControlError(response.status_code, error.get("code", ""), error.get("message", response.text),
                               payload)
        return response.json() if response.content else None

    # ------------------------------------------------------------------ state

    def health(self) -> dict:
        return self.request("GET", "health")

    def reset(self, account: str | None = None, *, keep_config: bool = False) -> None:
        """Stop every job and clear state (or only one account's)."""
        body: dict[str, Any] = {"keep_config": keep_config}
        if account is not None:
            body["account"] = account
        self.request("POST", "reset", json=body)

    # ------------------------------------------------------------------ accounts and keys

    def create_account(self, **fields: Any) -> dict:
        """``name``, ``tier`` (free/premium), ``credits``, ``mode``, ``active``."""
        return self.request("POST", "accounts", json=fields)

    def accounts(self) -> list[dict]:
        return self.request("GET", "accounts")["results"]

    def update_account(self, account_id: str, **fields: Any) -> dict:
        return self.request("PATCH", f"accounts/{account_id}", json=fields)

    def create_key(self, account: str | None = None, *, scopes: list[str] | None = None, name: str | None = None,
                   expires_at: str | None = None) -> dict:
        """A new key; its secret is in ``["key"]`` (and only there)."""
        body: dict[str, Any] = {}
        for field, value in (("account", account), ("scopes", scopes), ("name", name), ("expires_at", expires_at)):
            if value is not None:
                body[field] = value
        return self.request("POST", "keys", json=body)

    def keys(self, account: str | None = None) -> list[dict]:
        return self.request("GET", "keys", params={"account": account} if account else None)["results"]

    def revoke_key(self, key_id: str) -> dict:
        return self.request("DELETE", f"keys/{key_id}")

    def rotate_key(self, key_id: str) -> dict:
        return self.request("POST", f"keys/{key_id}/rotate")

    def update_key(self, key_id: str, **fields: Any) -> dict:
        return self.request("PATCH", f"keys/{key_id}", json=fields)

    def ledger(self, account: str = "acct_default") -> dict:
        """``{"balance", "results": [charges, newest first]}``."""
        return self.request("GET", f"accounts/{account}/ledger")

    # ------------------------------------------------------------------ runtime configuration

    def config(self) -> dict:
        return self.request("GET", "config")

    def configure(self, **changes: Any) -> dict:
        """Change runtime settings, e.g. ``configure(pool_size=1, limits={"runtime_seconds": 2})``."""
        return self.request("PATCH", "config", json=changes)

    # ------------------------------------------------------------------ faults, journal, snapshots

    def add_fault(self, **rule: Any) -> dict:
        """Inject a fault: ``method``, ``path`` (glob), ``status``, ``code``, ``message``,
        ``delay_ms``, ``count``, ``probability``, ``seed``, ``action`` (respond/drop),
        ``retry_after``."""
        return self.request("POST", "faults", json=rule)

    def faults(self) -> list[dict]:
        return self.request("GET", "faults")["results"]

    def remove_fault(self, fault_id: str) -> None:
        self.request("DELETE", f"faults/{fault_id}")

    def clear_faults(self) -> None:
        self.request("DELETE", "faults")

    def requests(self, *, method: str | None = None, path: str | None = None, status: int | None = None,
                 limit: int = 100) -> list[dict]:
        """The journal of ``/api/v1`` requests, newest first."""
        params: dict[str, Any] = {"limit": limit}
        for name, value in (("method", method), ("path", path), ("status", status)):
            if value is not None:
                params[name] = value
        return self.request("GET", "requests", params=params)["results"]

    def clear_requests(self) -> None:
        self.request("DELETE", "requests")

    def export_snapshot(self) -> dict:
        return self.request("GET", "snapshot")

    def import_snapshot(self, snapshot: dict) -> None:
        self.request("PUT", "snapshot", json=snapshot, timeout=300)

    # ------------------------------------------------------------------ webhooks

    def create_webhook(self, url: str, *, account: str | None = None, events: list[str] | None = None,
                       description: str | None = None, is_active: bool | None = None) -> dict:
        """A webhook; its signing secret is in ``["secret"]`` (and only there)."""
        body: dict[str, Any] = {"url": url}
        for name, value in (("account", account), ("events", events), ("description", description),
                            ("is_active", is_active)):
            if value is not None:
                body[name] = value
        return self.request("POST", "webhooks", json=body)

    def webhooks(self, account: str | None = None) -> list[dict]:
        return self.request("GET", "webhooks", params={"account": account} if account else None)["results"]

    def update_webhook(self, webhook_id: str, **fields: Any) -> dict:
        return self.request("PATCH", f"webhooks/{webhook_id}", json=fields)

    def delete_webhook(self, webhook_id: str) -> None:
        self.request("DELETE", f"webhooks/{webhook_id}")

    def test_webhook(self, webhook_id: str) -> dict:
        """Send a ``webhook.test`` event; returns its ``event_id``."""
        return self.request("POST", f"webhooks/{webhook_id}/test")

    def deliveries(self, *, webhook_id: str | None = None, account: str | None = None,
                   submission_id: str | None = None, event_id: str | None = None, page_size: int = 100) -> list[dict]:
        """Delivery attempts, newest first (one page)."""
        params: dict[str, Any] = {"page_size": page_size}
        for name, value in (("account", account), ("submission_id", submission_id), ("event_id", event_id)):
            if value is not None:
                params[name] = value
        path = f"webhooks/{webhook_id}/deliveries" if webhook_id else "deliveries"
        return self.request("GET", path, params=params)["results"]

    def drain_deliveries(self, timeout: float = 30) -> dict:
        """Wait until no delivery is due or on the wire (later retries may stay scheduled)."""
        return self.request("POST", "deliveries/drain", json={"timeout": timeout}, timeout=timeout + 30)

    def account_webhook_secret(self, account: str = "acct_default") -> str:
        """The secret signing deliveries to submissions' own ``webhook_url``."""
        return self.request("GET", f"accounts/{account}/webhook-secret")["secret"]

    # ------------------------------------------------------------------ device login

    def device_logins(self) -> list[dict]:
        """Pending ``vilvik login`` requests."""
        return self.request("GET", "device-logins")["results"]

    def approve_login(self, user_code: str, account: str | None = None) -> dict:
        return self.request("POST", f"device-logins/{user_code}/approve",
                            json={"account": account} if account else {})

    def deny_login(self, user_code: str) -> dict:
        return self.request("POST", f"device-logins/{user_code}/deny", json={})

    # ------------------------------------------------------------------ clock

    def clock(self) -> dict:
        return self.request("GET", "clock")

    def clock_freeze(self) -> dict:
        return self.request("POST", "clock", json={"action": "freeze"})

    def clock_resume(self) -> dict:
        return self.request("POST", "clock", json={"action": "resume"})

    def clock_set(self, to: str) -> dict:
        return self.request("POST", "clock", json={"action": "set", "to": to})

    def clock_advance(self, seconds: float) -> dict:
        return self.request("POST", "clock", json={"action": "advance", "seconds": seconds})

    # ------------------------------------------------------------------ jobs

    def wait(self, submission_id: str, status: str = "terminal", timeout: float = 30) -> dict:
        """The submission's detail as soon as it reaches ``status`` (``terminal`` by default)."""
        return self.request("GET", f"submissions/{submission_id}/wait",
                            params={"status": status, "timeout": timeout}, timeout=timeout + 30)

    def advance(self, submission_id: str, to: str, *, result: dict | None = None,
                error: dict | None = None) -> dict:
        body: dict[str, Any] = {"to": to}
        if result is not None:
            body["result"] = result
        if error is not None:
            body["error"] = error
        return self.request("POST", f"submissions/{submission_id}/advance", json=body)

    def run(self, submission_id: str) -> dict:
        """Run a held (manual-mode) job now."""
        return self.advance(submission_id, "run")

    def succeed(self, submission_id: str, **result: Any) -> dict:
        """Finish a job with a canned result, without running PyGAD."""
        return self.advance(submission_id, "succeeded", result=result)

    def fail(self, submission_id: str, code: str = "fitness_error", message: str = "failed by the test") -> dict:
        return self.advance(submission_id, "failed", error={"code": code, "message": message})

    def cancel(self, submission_id: str) -> dict:
        """Stop a job and keep it as ``cancelled`` (the website's cancel button)."""
        return self.request("POST", f"submissions/{submission_id}/cancel")

    def log(self, submission_id: str) -> str:
        """The captured output (stdout, stderr, the traceback) of a run. A failed or cancelled
        run has no result to carry its ``log.txt`` (contract §7), so this is where it is kept."""
        headers = {"X-Admin-Token": self.admin_token} if self.admin_token else {}
        response = self.session.get(f"{self.url}/_emulator/submissions/{submission_id}/log", headers=headers,
                                    timeout=60)
        if response.status_code >= 400:
            error = response.json().get("error", {})
            raise ControlError(response.status_code, error.get("code", ""), error.get("message", ""), {})
        return response.text
