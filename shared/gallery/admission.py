"""Admit renders against the instance's memory budget: a semaphore weighted by each render's estimate (MiB).

Renders are admitted in arrival order while their estimates fit in what is left of the budget, so several light
photos run at once, a heavy one waits until enough has been released (later arrivals wait behind it rather than
starving it), and one whose estimate is the whole budget runs alone. An estimate above the whole budget can
never be admitted: `acquire` refuses it at once (the caller records the photo as too large for the instance).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class OverBudgetError(ValueError):
    """The request can never fit: it is larger than the whole budget."""


class MemoryBudget:
    """A counting semaphore over MiB with first-come, first-served admission."""

    def __init__(self, budget_mib: int) -> None:
        if budget_mib <= 0:
            raise ValueError(f"the memory budget must be positive, not {budget_mib} MiB")
        self.budget_mib = budget_mib
        self._used = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def in_use_mib(self) -> int:
        with self._changed:
            return self._used

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._queue)

    def acquire(self, mib: int, *, poll: float = 0.05, abandon: Callable[[], None] | None = None) -> None:
        """Wait until `mib` fits, then take it. Every `poll` seconds `abandon()` may raise to stop waiting."""
        if mib > self.budget_mib:
            raise OverBudgetError(f"{mib} MiB is more than the whole {self.budget_mib} MiB budget")
        mib = max(0, mib)
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or self._used + mib > self.budget_mib:
                    if abandon is not None:
                        abandon()
                    self._changed.wait(poll)
            except BaseException:
                self._queue.remove(ticket)
                self._changed.notify_all()
                raise
            self._queue.popleft()
            self._used += mib
            self._changed.notify_all()  # the next in line may fit too

    def release(self, mib: int) -> None:
        with self._changed:
            self._used -= max(0, mib)
            if self._used < 0:
                raise RuntimeError("released more memory than was acquired")
            self._changed.notify_all()

    @contextmanager
    def hold(self, mib: int, *, abandon: Callable[[], None] | None = None) -> Iterator[None]:
        """`acquire(mib)` for the duration of the block."""
        self.acquire(mib, abandon=abandon)
        try:
            yield
        finally:
            self.release(mib)
