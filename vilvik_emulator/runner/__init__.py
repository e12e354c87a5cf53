"""Job execution: a dispatcher with a pool of slots and isolated worker processes.

Only :mod:`.worker` imports pygad at module level, and it is loaded in the forkserver,
so the server process starts without paying for numpy and pygad.
"""

from .dispatcher import JobListener, JobSpec, Outcome, Runner

__all__ = ["JobListener", "JobSpec", "Outcome", "Runner"]
