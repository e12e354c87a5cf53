"""The ``sitecustomize`` that ``vilvik-emulator exec`` puts first on a command's ``PYTHONPATH``.

Python imports it at start-up in every process of the command: it routes calls to the
Vilvik hosts to the emulator named by ``VILVIK_EMULATOR_URL``, then runs the
``sitecustomize`` this one shadows (a virtualenv's, a distribution's, coverage's), if any.
"""

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _intercept() -> None:
    url = os.environ.get("VILVIK_EMULATOR_URL")
    if not url:
        return
    try:
        from vilvik_emulator.intercept.process import forward_this_process
    except ImportError:
        sys.stderr.write(f"vilvik-emulator exec: {sys.executable} cannot import vilvik_emulator, so this process's "
                         "calls to vilvik.com are NOT intercepted; install vilvik-emulator in its environment\n")
        return
    forward_this_process(url)


def _chain() -> None:
    elsewhere = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", elsewhere)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_intercept()
_chain()
