"""Names the intercept modules share: Vilvik's hosts, the header that tells a forwarded
request's public base, and the environment variables a mock and ``exec`` set or read.

Kept free of imports beyond the standard library: the HTTP layer (``api/common.py``) and
the ``sitecustomize`` hook of ``vilvik-emulator exec`` both load it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: the hosted service's hosts (contract §1): the SDK's default and the documented base
HOSTED_HOSTS = ("vilvik.com", "beta.vilvik.com")

#: sent by an intercepting mock that forwards to a server (``url=``): the hosted base the
#: client addressed, so links in the response keep pointing at it (and so at the mock)
PUBLIC_BASE_HEADER = "X-Vilvik-Emulator-Public-Base"

API_PATH = "/api/v1"

#: names a running emulator to forward to instead of serving in process
URL_VARIABLE = "VILVIK_EMULATOR_URL"
#: extra hosts to intercept (comma-separated), set by ``exec --intercept-host``
HOSTS_VARIABLE = "VILVIK_EMULATOR_INTERCEPT_HOSTS"
#: the control plane's admin token, for a server that does not bind loopback
ADMIN_TOKEN_VARIABLE = "VILVIK_EMULATOR_ADMIN_TOKEN"
#: what the SDK reads: the key, and where ``~/.config/vilvik/credentials`` lives
KEY_VARIABLE = "VILVIK_API_KEY"
CONFIG_HOME_VARIABLE = "XDG_CONFIG_HOME"


def is_vilvik_host(host: str | None) -> bool:
    """``vilvik.com`` or one of its subdomains."""
    host = (host or "").lower().rstrip(".")
    return host == "vilvik.com" or host.endswith(".vilvik.com")


def public_base_of(url: str) -> str:
    """``https://vilvik.com/api/v1`` for any URL on that host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{API_PATH}"


def server_root(url: str) -> str:
    """``http://127.0.0.1:8080`` from that or from ``http://127.0.0.1:8080/api/v1/``."""
    url = url.strip().rstrip("/")
    return url.removesuffix(API_PATH)


def trusted_public_base(value: str | None) -> str | None:
    """The value of :data:`PUBLIC_BASE_HEADER` if it names a Vilvik host's ``/api/v1``, else None.

    Only Vilvik hosts are trusted: the header changes the links of one response and
    nothing else, but a server should not echo arbitrary hosts it was told about.
    """
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if (parts.scheme not in ("http", "https") or not is_vilvik_host(parts.hostname) or parts.username
            or parts.password or parts.query or parts.fragment or parts.path.rstrip("/") != API_PATH):
        return None
    netloc = str(parts.hostname).lower() + (f":{port}" if port is not None else "")
    return f"{parts.scheme}://{netloc}{API_PATH}"
