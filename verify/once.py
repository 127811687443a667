"""What the gate verifies once per process: the time-independent results of verification,
kept by a key that starts with the trust root's digest, so nothing verified under one root is
believed under another. A release's bundles share one signing certificate (its chain to the
root, its SCT and its profile are verified once, by its exact DER bytes) and a log's entries may
share a checkpoint (its signature is verified once, by its exact text); what differs per
artifact (the signature, the log entry and its inclusion proof, the DSSE payload) and every
time rule are verified for each bundle. Only successes are kept: a refusal is found again.
The webhook's VerificationCache is one of these too (verify/webhook/judging.py)."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class Kept:
    """Results by key, bounded (the least recently used goes first), shared by the threads of
    one process."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._found: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key in self._found:
                self._found.move_to_end(key)
                self.hits += 1
                return self._found[key]
            return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._found[key] = value
            while len(self._found) > self._limit:
                self._found.popitem(last=False)

    def once(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` the first time `key` is asked (an exception keeps nothing), then its
        result. `compute` never returns None (None is what was never kept)."""
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found  # type: ignore[no-any-return]

    def clear(self) -> None:
        with self._lock:
            self._found.clear()


VERIFIED = Kept()  # the process's certificates and checkpoints, see the module's docstring
