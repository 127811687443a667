"""What a long-lived registry client (the webhook) may keep between reviews, and nothing else.

Kept for the life of the process, bounded by bytes (least recently used goes first): objects
fetched by digest and checked against it — an image manifest, a referrer's manifest, a bundle
blob. Their bytes cannot change, so a kept one is what the registry would serve again; each is
keyed by registry host, repository and digest, as it was served.

Never kept: what a name points to now — a tag's manifest (its digest is resolved afresh) and the
referrers list (the referrers API's answer, or the tag-schema index): a referrer pushed or
removed is seen at the next review.

Remembered for NO_API_TTL seconds per registry host and repository: that the referrers API
answered 404 for that repository, so its tag-schema index is read without asking again (one
request per review saved). Per repository, never per host: one registry may serve repositories
with the API and without it (a pull-through or mirror project; a 404 may also be the
repository's, not the API's), so a 404 for one repository says nothing of another's listing —
another's API answer is its listing, never replaced by its (possibly stale) tag-schema index.
Safe: a repository only gains the API (distribution spec 1.1, "Enabling the Referrers API": it
then lists what the index listed too), and a stale memo means, for at most NO_API_TTL after an
upgrade, the listing as the repository's own index still has it: a referrer pushed to or
removed from the upgraded registry is seen that much later, as if pushed or removed later. The
index is itself what the spec has every client read when the API is missing. An API that
answers is never remembered: its answer is the listing, asked for every time. At most
NO_API_MEMOS are remembered (the oldest go first: forgetting one only costs a request).

Shared, never kept: one read of a referrers listing by the threads that ask for the same one
(`Cache.listing`). At most one read per listing is in progress at once; the threads that ask
while it is take the next one, sent only after all of them asked. So every caller's listing is
read by a request sent after it asked, as fresh as its own request would be (a referrer pushed
before a review asked is seen by it), and a burst of reviews of one image costs the registry one
read per round trip instead of one each. A read that fails fails for all who share it, but for
the deadline of the caller who sent it: the others then read again, each by its own."""

from __future__ import annotations

import collections
import copy
import dataclasses
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from verify.oci.deadline import Deadline, Expired

LIMIT = 32 * 1024 * 1024  # bytes kept in all
NO_API_TTL = 30.0  # seconds a repository's 404 for the referrers API is remembered
NO_API_MEMOS = 4096  # (host, repository) pairs remembered at most


class Cache:
    """Content by digest (bounded LRU by bytes; an object over an eighth of the limit is not
    kept, so one large blob cannot flush the rest) and the repositories without a referrers API.
    Shared by the threads of one process."""

    def __init__(self, limit: int = LIMIT, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._kept: collections.OrderedDict[Hashable, tuple[Any, int]] = collections.OrderedDict()
        self._size = 0
        self._no_api: dict[tuple[str, str], float] = {}  # (host, repository) -> when: 404
        self._lock = threading.Lock()
        self._reads = _Reads()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                return None
            self._kept.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        if size > self.limit // 8:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            self._size += size - (old[1] if old else 0)
            self._kept[key] = (value, size)
            while self._size > self.limit:
                _, (_, dropped) = self._kept.popitem(last=False)
                self._size -= dropped

    def no_referrers_api(self, host: str, repository: str) -> bool:
        """Whether `host` said 404 to the referrers API for `repository` less than NO_API_TTL
        seconds ago (another repository's 404 says nothing of this one's API)."""
        with self._lock:
            seen = self._no_api.get((host, repository))
            return seen is not None and self._clock() - seen < NO_API_TTL

    def saw_no_referrers_api(self, host: str, repository: str) -> None:
        with self._lock:
            now = self._clock()
            self._no_api.pop((host, repository), None)
            self._no_api[(host, repository)] = now  # oldest first: drop from the front
            while True:  # the oldest, if out of date or one too many
                oldest = next(iter(self._no_api))
                if now - self._no_api[oldest] < NO_API_TTL and len(self._no_api) <= NO_API_MEMOS:
                    break
                del self._no_api[oldest]

    def listing(self, key: Hashable, read: Callable[[], Any], deadline: Deadline | None) -> Any:
        """What `read()` returns, from a read shared with the threads asking for `key` now
        (see the module's docstring); waiting at most until `deadline`."""
        return self._reads.shared(key, read, deadline)


_WAITING = "the referrers listing, read for several reviews at once,"


@dataclasses.dataclass
class _Read:
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    callers: int = 1  # who share it


class _Reads:
    """Per key: the read in progress (sent) and the next one (gathering its callers)."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._next: dict[Hashable, _Read] = {}
        self._sending: set[Hashable] = set()

    def shared(self, key: Hashable, read: Callable[[], Any], deadline: Deadline | None) -> Any:
        while True:
            with self._ready:
                mine = self._next.get(key)
                leads = mine is None
                if mine is None:
                    mine = self._next[key] = _Read()
                else:
                    mine.callers += 1
            if leads:
                self._lead(key, mine, read, deadline)
                return mine.result
            while not mine.done.wait(deadline.check(_WAITING) if deadline else None):
                pass  # until it is done, or Expired at this caller's deadline
            if isinstance(mine.error, Expired):
                continue  # the deadline of the caller who sent it: this one reads by its own
            if mine.error is not None:  # a copy for each caller: one exception, many tracebacks
                raise copy.copy(mine.error)
            return mine.result

    def _lead(
        self, key: Hashable, mine: _Read, read: Callable[[], Any], deadline: Deadline | None
    ) -> None:
        """Wait for the key's read in progress to end, close `mine` to newcomers, then send."""
        try:
            with self._ready:
                while key in self._sending:
                    self._ready.wait(deadline.check(_WAITING) if deadline else None)
                del self._next[key]  # who asks from now on waits for the read after this one
                self._sending.add(key)
        except BaseException as e:  # Expired while waiting: those sharing it fail with it
            with self._ready:
                if self._next.get(key) is mine:
                    del self._next[key]
            mine.error = e
            mine.done.set()
            raise
        try:
            mine.result = read()
        except BaseException as e:
            mine.error = e
            raise
        finally:
            with self._ready:
                self._sending.discard(key)
                self._ready.notify_all()
            mine.done.set()
