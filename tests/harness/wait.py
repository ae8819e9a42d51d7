"""Waiting for a condition instead of sleeping for a guessed time."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(what: str, predicate: Callable[[], T], timeout: float, interval: float = 0.05,
             ignore: tuple[type[BaseException], ...] = (OSError,)) -> T:
    """Polls `predicate` until it returns something truthy and returns that. Exceptions in `ignore` count as
    "not yet". After `timeout` seconds raises AssertionError naming `what` and the last answer or error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except ignore as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
