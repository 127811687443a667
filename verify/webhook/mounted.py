"""The webhook's policy and trust root, read from mounted files (a ConfigMap, a Secret) and read
again when they change: before each review, the files are looked at (device, inode, size,
modification and change times: Kubernetes swaps a mounted ConfigMap through a symlink, so the
inode changes) and re-read when any differs.

Fail closed: a change that does not load (a malformed policy, a missing or broken trust root)
replaces what was loaded, and every review is denied naming why until the files load again. The
older policy is never kept in its place: whoever changed the files meant the old one to stop."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from verify import gate
from verify.errors import AttestError, OperationalError, without_input
from verify.policy import Policy, load_policy
from verify.trust import Trust

Stamp = tuple[tuple[int, int, int, int, int] | None, ...]


class Broken(OperationalError):
    """The mounted policy or trust root changed and no longer loads: every review is denied."""


@dataclasses.dataclass(frozen=True)
class Loaded:
    policy: Policy
    trust: Trust


def _stat(path: Path | None) -> tuple[int, int, int, int, int] | None:
    if path is None:
        return None
    try:
        s = path.stat()
    except OSError:
        return None  # missing: loading it says so
    return (s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)


def _load(path: Path) -> Loaded:
    policy = load_policy(path)
    return Loaded(policy, gate.trust_for(policy))


def _trust_path(loaded: Loaded) -> Path | None:
    return loaded.policy.trust.trusted_root or loaded.trust.refreshed


class Mounted:
    """The current policy and trust root. The first load raises (the webhook does not start
    without them); a later failing one is kept as the reason every review is denied."""

    def __init__(self, policy_path: Path) -> None:
        self.path = policy_path
        self._lock = threading.Lock()
        before = _stat(policy_path)
        loaded = _load(policy_path)
        self._state: Loaded | Broken = loaded
        self._root = _trust_path(loaded)  # the trust root file last named (kept when broken)
        self._seen: Stamp = (before, _stat(self._root))
        self.reloads = 0

    def _stamp(self) -> Stamp:
        """The policy file's and the trust root file's identity now: a new policy naming
        another trust root file is itself a change; a broken one is watched at the last."""
        return (_stat(self.path), _stat(self._root))

    def current(self) -> Loaded:
        """What to judge this review by; Broken when the last change did not load."""
        with self._lock:
            if self._stamp() != self._seen:
                self._reload()
            state = self._state
        if isinstance(state, Broken):
            raise state
        return state

    def _reload(self) -> None:
        """Read both files again. Their identities are taken before reading, so a change
        made during the read is seen at the next review."""
        before = self._stamp()
        try:
            loaded = _load(self.path)
        except AttestError as e:
            self._state = Broken(f"{_CHANGED}: {e}")
        except Exception as e:  # any other failure denies the same way
            self._state = Broken(f"{_CHANGED}: {without_input(e)}")
        else:
            self._state = loaded
            if _trust_path(loaded) != self._root:
                self._root = _trust_path(loaded)
                before = (before[0], _stat(self._root))
        self._seen = before
        self.reloads += 1


_CHANGED = "the mounted policy or trust root changed and does not load (every review is denied)"
