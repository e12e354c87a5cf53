"""What the ``sitecustomize`` hook of ``vilvik-emulator exec`` does in each Python process:
forward calls to the Vilvik hosts to the server ``exec`` runs, for the process's lifetime.

``exec`` has already set the environment (key, config home), so nothing is configured
here and nothing is sent at start-up; ``requests`` and ``httpx`` are patched only if and
when the program imports them.
"""

from __future__ import annotations

import os

from . import transports
from .backends import ForwardRoute
from .hosts import HOSTED_HOSTS, HOSTS_VARIABLE, server_root


def forward_this_process(url: str) -> None:
    extra = [host.strip().lower() for host in os.environ.get(HOSTS_VARIABLE, "").split(",") if host.strip()]
    transports.activate(ForwardRoute(server_root(url), frozenset((*HOSTED_HOSTS, *extra))))
