"""The optional per-key request rate limit (contract §3's 429 row, §13's config).

Off by default. When configured (``requests`` per sliding ``window_seconds`` on the
emulator's clock), the next authenticated ``/api/v1`` call of that key is 429
``rate_limited`` with ``Retry-After`` in whole seconds, and the SDK raises
``vilvik.RateLimitError`` carrying it. Other keys, ``/api/v1/health``, the device-login
endpoints and the control plane are never limited. The clock is frozen so every
``Retry-After`` is exact.
"""

from __future__ import annotations

import pytest
import vilvik
from helpers import error_code

from vilvik_emulator.testing import ControlError

LIMIT = {"requests": 3, "window_seconds": 60}


@pytest.fixture
def limited(control):
    """Three requests per key per minute, on a frozen emulator clock."""
    control.clock_freeze()
    control.configure(rate_limit=LIMIT)
    return control


def assert_rate_limited(response) -> int:
    assert response.status_code == 429, response.text
    assert error_code(response) == "rate_limited"
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    return int(retry_after)


def use_up(api, key="default", count: int = LIMIT["requests"]) -> None:
    for _ in range(count):
        response = api.get("submissions/", key=key)
        assert response.status_code == 200, response.text


def test_off_by_default(api, control):
    assert control.config()["rate_limit"] is None

    for _ in range(60):
        response = api.get("submissions/")
        assert response.status_code == 200, response.text
    assert api.get("results/").status_code == 200


def test_the_request_after_the_limit_is_429_with_retry_after(api, limited):
    assert limited.config()["rate_limit"] == LIMIT
    use_up(api)

    refused = api.get("submissions/")

    assert assert_rate_limited(refused) == 60
    assert "X-Request-Id" in refused.headers
    assert refused.json()["error"]["request_id"] == refused.headers["X-Request-Id"]


def test_every_kind_of_authenticated_call_counts(api, limited):
    assert api.post("code-uploads/", json={"content": "def f(a, b, c):\n    return 0\n"}).status_code == 201
    assert api.get("submissions/doesnotexist").status_code == 404  # authenticated, so it counts
    assert api.get("results/").status_code == 200

    assert_rate_limited(api.post("code-uploads/", json={"content": "def f(a, b, c):\n    return 0\n"}))
    assert len(api.get("code-uploads/", key=limited.create_key()["key"]).json()["results"]) == 1


def test_the_sdk_raises_rate_limit_error_with_retry_after(api, limited, vilvik_client):
    use_up(api)
    limited.clock_advance(20)

    with pytest.raises(vilvik.RateLimitError) as raised:
        vilvik_client.submissions.list()

    assert raised.value.status_code == 429
    assert raised.value.code == "rate_limited"
    assert raised.value.retry_after == 40
    assert raised.value.request_id


def test_another_key_is_not_affected(api, limited, other_account):
    use_up(api)
    assert_rate_limited(api.get("submissions/"))
    second_key = limited.create_key()["key"]  # same account, another key

    use_up(api, key=second_key)
    use_up(other_account)

    assert_rate_limited(api.get("submissions/", key=second_key))
    assert_rate_limited(other_account.get("submissions/"))


def test_the_window_slides_on_the_emulator_clock(api, limited):
    api.get("submissions/")
    limited.clock_advance(10)
    api.get("submissions/")
    limited.clock_advance(10)
    api.get("submissions/")
    limited.clock_advance(10)
    assert assert_rate_limited(api.get("submissions/")) == 30  # the first call leaves the window at +60

    limited.clock_advance(29)
    assert assert_rate_limited(api.get("submissions/")) == 1
    limited.clock_advance(1)
    assert api.get("submissions/").status_code == 200  # one slot freed
    assert assert_rate_limited(api.get("submissions/")) == 10  # the next frees when the second call ages out

    limited.clock_advance(60)
    use_up(api)  # the whole window is free again


def test_refused_requests_do_not_extend_the_window(api, limited):
    use_up(api)
    for _ in range(5):
        assert assert_rate_limited(api.get("submissions/")) == 60

    limited.clock_advance(60)

    use_up(api)


def test_unauthenticated_and_unauthorised_calls_do_not_count(api, limited):
    narrow = limited.create_key(scopes=["results:read"])["key"]
    for _ in range(5):
        assert api.get("submissions/", key="vlk_test_not_a_real_key").status_code == 401
        assert api.get("submissions/", key=narrow).status_code == 403

    use_up(api)
    for _ in range(3):
        assert api.get("results/", key=narrow).status_code == 200
    assert_rate_limited(api.get("results/", key=narrow))


def test_health_device_login_and_the_control_plane_are_never_limited(api, limited):
    use_up(api)
    assert_rate_limited(api.get("submissions/"))

    for _ in range(10):
        assert api.get("health").status_code == 200
        assert api.get("health", key=None).status_code == 200
        assert api.post("auth/device/code", json={}).status_code == 200
        assert api.get("openapi.json").status_code == 200
        assert limited.health()["status"] == "ok"
        assert limited.config()["rate_limit"] == LIMIT
    assert api.get("openapi.json", key=None).status_code == 200


def test_turning_it_off_lifts_the_limit(api, limited):
    use_up(api)
    assert_rate_limited(api.get("submissions/"))

    limited.configure(rate_limit=None)

    for _ in range(10):
        assert api.get("submissions/").status_code == 200


def test_a_reset_clears_the_windows(api, limited):
    use_up(api)
    assert_rate_limited(api.get("submissions/"))

    limited.reset(keep_config=True)
    limited.clock_freeze()

    assert limited.config()["rate_limit"] == LIMIT
    use_up(api)


@pytest.mark.parametrize("value", [
    {"requests": 0, "window_seconds": 60},
    {"requests": 2.5, "window_seconds": 60},
    {"requests": 5},
    {"requests": 5, "window_seconds": 0},
    {"requests": 5, "window_seconds": 60, "burst": 2},
    "5/minute",
], ids=["zero", "fractional", "no-window", "zero-window", "unknown-field", "string"])
def test_an_invalid_limit_is_refused(control, value):
    with pytest.raises(ControlError) as raised:
        control.configure(rate_limit=value)

    assert raised.value.status == 422
    assert any(detail["field"].split(".")[0] == "rate_limit" for detail in raised.value.payload["error"]["details"])
    assert control.config()["rate_limit"] is None
