"""RFC 6962 Merkle tree hashing, inclusion and consistency proofs (RFC 9162 section 2.1)."""

from __future__ import annotations

import hashlib


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class MerkleTree:
    """An append-only tree over leaf hashes, with subtree roots memoized (trees only grow, so a
    complete subtree's root never changes)."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self._cache: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self.leaves)

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash; return its index."""
        self.leaves.append(leaf)
        return len(self.leaves) - 1

    def _root(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.leaves[start]
        cached = self._cache.get((start, end))
        if cached is not None:
            return cached
        k = _split(n)
        value = node_hash(self._root(start, start + k), self._root(start + k, end))
        if n & (n - 1) == 0:  # a complete subtree: safe to keep
            self._cache[(start, end)] = value
        return value

    def root(self, size: int | None = None) -> bytes:
        return self._root(0, len(self.leaves) if size is None else size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The audit path for leaf `index` in the tree of the first `size` leaves, leaf upwards."""
        if not 0 <= index < size <= len(self.leaves):
            raise ValueError(f"no leaf {index} in a tree of {size}")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, start + k), self._root(start + k, end)]
        return [*self._path(m - k, start + k, end), self._root(start, start + k)]

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """Proof that the tree of `old` leaves is a prefix of the tree of `new` leaves."""
        if not 0 < old <= new <= len(self.leaves):
            raise ValueError(f"no consistency proof from {old} to {new}")
        if old == new:
            return []
        return self._subproof(old, 0, new, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self._root(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, complete), self._root(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._root(start, start + k)]


def root_from_inclusion(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """Recompute the root from an audit path (RFC 9162 2.1.3.2): used by the tests and by
    the instance's own self-check."""
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            raise ValueError("proof too long")
        if fn % 2 == 1 or fn == sn:
            node = node_hash(sibling, node)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return node
