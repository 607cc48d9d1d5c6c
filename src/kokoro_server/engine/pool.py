"""A first-come, first-served pool of inference sessions shared by threads.

Each session serves one caller at a time. A released session is handed straight to the longest
waiting caller, so a stream that synthesizes chunk after chunk cannot starve another one (a plain
lock or condition lets the releasing thread grab it again at once).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from kokoro_server.errors import BackendUnavailableError

T = TypeVar("T")


class _Waiter(Generic[T]):
    __slots__ = ("ready", "item")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.item: T | None = None


class SessionPool(Generic[T]):
    def __init__(self, items: list[T], *, name: str) -> None:
        self._free = list(items)
        self._waiters: deque[_Waiter[T]] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._name = name
        self.size = len(items)

    @contextmanager
    def use(self) -> Iterator[T]:
        item = self._acquire()
        try:
            yield item
        finally:
            self._release(item)

    def _acquire(self) -> T:
        with self._lock:
            if self._closed:
                raise self._unloaded()
            if self._free:
                return self._free.pop()
            waiter: _Waiter[T] = _Waiter()
            self._waiters.append(waiter)
        waiter.ready.wait()
        if waiter.item is None:
            raise self._unloaded()
        return waiter.item

    def _release(self, item: T) -> None:
        with self._lock:
            if self._closed:
                return
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.item = item
                waiter.ready.set()
            else:
                self._free.append(item)

    def close(self) -> None:
        """Drop the sessions: calls in progress finish, waiting and later calls fail."""
        with self._lock:
            self._closed = True
            self._free.clear()
            waiters, self._waiters = list(self._waiters), deque()
        for waiter in waiters:
            waiter.ready.set()

    def _unloaded(self) -> BackendUnavailableError:
        return BackendUnavailableError(f"the model {self._name} was unloaded")
