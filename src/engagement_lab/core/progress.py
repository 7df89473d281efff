"""Progress of long steps that report nothing themselves (an LDA fit, a CatBoost fit, a logistic regression):
a log line naming the step every few seconds while it runs, and one when it ends."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

HEARTBEAT_S = 10.0


@contextmanager
def heartbeat(logger: logging.Logger, what: str, every_s: float = HEARTBEAT_S) -> Iterator[None]:
    """Log ``<what>: running for N s`` every ``every_s`` seconds while the block runs (from a daemon thread), then
    ``<what>: done in N s`` when it ends, or ``<what>: failed after N s`` when it raises."""
    start = time.perf_counter()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            logger.info("%s: running for %.0f s", what, time.perf_counter() - start)

    thread = threading.Thread(target=beat, name=f"heartbeat {what}", daemon=True)
    thread.start()
    failed = True
    try:
        yield
        failed = False
    finally:
        stop.set()
        thread.join()
        logger.info("%s: %s %.1f s", what, "failed after" if failed else "done in", time.perf_counter() - start)
