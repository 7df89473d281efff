"""Worker processes for the nodes that may run side by side: the single-thread trainings (decision 023).

A ``kedro run`` is one process. The small PPCL, dual-attention and engagement models train on one torch thread each
(decision 009): on a machine with more cores, the rest sit idle. :class:`WorkerPool` runs a node's function in one
of ``workers`` spawned processes while the run's own process keeps the catalog, the hooks (MLflow, atomic outputs)
and every load and save: a worker gets the node's inputs and hands back its outputs, nothing else. Each worker runs
torch on its share of the cores (``threads``).

Workers are spawned, not forked: a fork of a process whose OpenMP or CUDA runtime has started can hang. Their log
records come back through a queue and are handled by the run's own loggers (the console and ``info.log`` show them
as if the node had run in the run's process).
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import pickle
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from engagement_lab.core.errors import UserFacingError


class NodeNotPicklableError(UserFacingError, TypeError):
    """A node marked to run in a worker process cannot be sent to one."""


def check_picklable(node: Any) -> None:
    """A worker receives the node itself (its function by reference): closures and lambdas cannot go."""
    try:
        pickle.dumps(node)
    except Exception as error:
        raise NodeNotPicklableError(
            f"node {node.name!r} is tagged to run in a worker process, but it cannot be sent to one ({error}): "
            "its function must be a module-level function, not a closure or a lambda"
        ) from error


def _run_node(node: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    return node.run(inputs)


_START_TIMEOUT_S = 300  # a spawned worker imports torch: seconds, or a minute on a loaded machine
_in_this_worker: dict[str, Any] = {}  # "all_started": the barrier every worker of the pool reaches once started


def _wait_for_the_other_workers() -> None:
    _in_this_worker["all_started"].wait(timeout=_START_TIMEOUT_S)


def _start_worker(queue: Any, levels: dict[str, int], threads: int, all_started: Any) -> None:
    """In each worker: its share of the cores for torch and OpenMP, and every log record to the run's process, at
    the levels its loggers have there."""
    import torch  # every worker node uses it; numpy's BLAS keeps its own setting, as in the run's process

    _in_this_worker["all_started"] = all_started

    torch.set_num_threads(threads)
    root = logging.getLogger()
    root.handlers = [logging.handlers.QueueHandler(queue)]
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)


class _HandledByRunLoggers(logging.Handler):
    """A worker's record, handled by the logger of the same name in the run's process (and its handlers)."""

    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger(record.name)
        if target.isEnabledFor(record.levelno):
            target.handle(record)


def _configured_levels() -> dict[str, int]:
    levels = {"": logging.getLogger().level}
    for name, item in logging.root.manager.loggerDict.items():
        if isinstance(item, logging.Logger) and item.level != logging.NOTSET:
            levels[name] = item.level
    return levels


class WorkerPool:
    """``workers`` spawned processes that run nodes; a context manager (the processes end with it)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        # Each worker's share of the cores (2 workers on 2 cores: one thread each, as the small models want anyway).
        self.threads = max(1, len(os.sched_getaffinity(0)) // workers)
        context = multiprocessing.get_context("spawn")
        self._queue = context.Queue()
        self._all_started = context.Barrier(workers)
        self._listener = logging.handlers.QueueListener(self._queue, _HandledByRunLoggers())
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self._queue, _configured_levels(), self.threads, self._all_started),
        )

    def __enter__(self) -> WorkerPool:
        self._listener.start()
        # Start every worker before the first node: the executor spawns workers one by one, and a worker that is
        # ready first would otherwise take the second node too while the other still imports torch. Each of these
        # tasks holds its worker until all have started, so each goes to a different one.
        started = [self._executor.submit(_wait_for_the_other_workers) for _ in range(self.workers)]
        try:
            for future in started:
                future.result()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # On an error or Ctrl-C, nodes not yet started are dropped, not run.
        self._executor.shutdown(wait=True, cancel_futures=exc[0] is not None)
        self._listener.stop()
        self._queue.close()

    def submit(self, node: Any, inputs: dict[str, Any]) -> Future:
        """``node.run(inputs)`` in a worker: a future of the node's outputs by dataset name."""
        return self._executor.submit(_run_node, node, inputs)
