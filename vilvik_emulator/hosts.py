"""Which host names and addresses are this machine's loopback.

No dependencies: the light modules (:mod:`.testing`, the CLI) use it as well as the
request guard. A server bound to one of :data:`LOOPBACK_NAMES` needs no admin token for
its control plane and dashboard; a client talking to a loopback address needs no proxy.
"""

from __future__ import annotations

import ipaddress

#: the names a loopback server is bound to or answers to (IPv6 without its brackets)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(name: str) -> bool:
    """True for ``localhost`` and any loopback address (IPv6 without its brackets)."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
