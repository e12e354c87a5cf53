"""Contract statements the mutation pass (tools/contract_mutations.py) found untested.

Each test here was written because a mutation that broke a statement of the contract
survived every test named for it; tools/contract_statements.json names it now.
"""

from __future__ import annotations

import requests


def test_a_bug_is_a_500_internal_error_whose_message_leaks_no_traceback(vilvik_emulator, vilvik_emulator_server,
                                                                        monkeypatch):
    """§3: 500 ``internal_error`` is "a bug; the message never leaks a traceback"."""

    def broken(*args, **kwargs):
        raise RuntimeError("a secret detail in /srv/vilvik_emulator/core/submissions.py")

    monkeypatch.setattr(vilvik_emulator_server.emulator.submissions, "page", broken)
    response = requests.get(f"{vilvik_emulator.base_url}/submissions",
                            headers={"Authorization": f"Bearer {vilvik_emulator.api_key}"}, timeout=30)
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["request_id"] == response.headers["X-Request-Id"]
    for leak in ("Traceback", "RuntimeError", "secret detail", ".py", 'File "'):
        assert leak not in response.text, leak
