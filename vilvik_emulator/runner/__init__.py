"""Job execution: a dispatcher with a pool of slots and isolated, contained job processes.

Only :mod:`.worker` and :mod:`.template` import pygad at module level, and only the job
template process loads them, so the server process starts without paying for numpy and
pygad.
"""

from .dispatcher import JobListener, JobSpec, Outcome, Runner

__all__ = ["JobListener", "JobSpec", "Outcome", "Runner"]
