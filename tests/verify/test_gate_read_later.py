"""Signature bundles are read again when their artifact is judged, not held parsed for the whole
run (verify/evidence.py `_Later`): what is judged is what is read then, and a file that changed
into something else in between is refused, never believed as what it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore.models import Bundle

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import gate
from verify.evidence import _LATER, Collector, _Index
from verify.formats import bundles
from verify.policy import Policy, load_policy
from verify.trust import load_trust

pytestmark = pytest.mark.network


def _policy(instance: LocalInstance, release: Any) -> Policy:
    return load_policy(
        g.write_policy(release.dist.parent / "policy.yaml", g.strict_policy(instance))
    )


def _collector(instance: LocalInstance, release: Any) -> Collector:
    policy = _policy(instance, release)
    root = load_trust(policy.trust.name, policy.trust.trusted_root).root
    collector = Collector(root, policy, release.now)
    collector.algorithms([release.wheel])  # the directory is indexed now
    return collector


def _index(collector: Collector, release: Any) -> _Index:
    return collector._indexes[release.dist]


def test_the_index_holds_no_parsed_signature_bundle(instance: LocalInstance, release: Any) -> None:
    collector = _collector(instance, release)
    entries = [b for _, b in _index(collector, release).signatures]
    assert entries
    assert not any(isinstance(b, Bundle) for b in entries)
    evidence = collector.collect(release.wheel)
    assert [s.path.name for s in evidence.signatures] == [f"{g.WHEEL}.sigstore.json"]


def test_a_signature_bundle_that_became_an_attestation_is_refused(
    instance: LocalInstance, release: Any
) -> None:
    collector = _collector(instance, release)
    own = release.dist / f"{g.WHEEL}.sigstore.json"
    own.write_bytes((release.dist / "acme_web-1.4.0.sbom.sigstore.json").read_bytes())
    evidence = collector.collect(release.wheel)
    assert not evidence.signatures
    assert [p.reason for p in evidence.problems if p.path == own] == [
        "refused bundle: it changed while judged"
    ]


def test_the_inputs_name_the_bytes_judged(instance: LocalInstance, release: Any) -> None:
    collector = _collector(instance, release)
    own = release.dist / f"{g.WHEEL}.sigstore.json"
    respelled = json.dumps(json.loads(own.read_bytes()), indent=4, ensure_ascii=False).encode()
    own.write_bytes(respelled)
    evidence = collector.collect(release.wheel)
    assert [s.path.name for s in evidence.signatures] == [own.name]
    assert dict(evidence.inputs)[own.name] == hashlib.sha256(respelled).hexdigest()


def test_a_bundle_spelled_with_escapes_is_read_at_once_and_still_verifies(
    instance: LocalInstance, release: Any
) -> None:
    own = release.dist / f"{g.WHEEL}.sigstore.json"
    own.write_bytes(own.read_bytes().replace(b'"mediaType"', b'"\\u006dediaType"', 1))
    collector = _collector(instance, release)
    held = [b for _, b in _index(collector, release).signatures_of(g.WHEEL)]
    assert [type(b) for b in held] == [Bundle]  # an escape may spell an envelope: parsed now
    assert [s.path.name for s in collector.collect(release.wheel).signatures] == [own.name]


def test_unused_signature_bundles_read_later_are_listed_with_why(
    instance: LocalInstance, release: Any
) -> None:
    stray = release.dist / "stray.bin.sigstore.json"
    stray.write_bytes(b'{"mediaType": 1}')
    policy = _policy(instance, release)
    run = gate.decide([release.wheel], policy, release.now)
    why = {p.path.name: p.reason for p in run.unjudged}
    assert why[f"{g.SDIST}.sigstore.json"] == "a signature of no artifact judged here"
    assert f"{g.WHEEL}.sigstore.json" not in why  # the judged artifact's own: used
    assert why["stray.bin.sigstore.json"].startswith(
        "concerns no artifact judged here (unparsable bundle"
    )


_PART = st.text(alphabet="ab.-_/0", min_size=1, max_size=4).filter(lambda t: "/" not in t)


@settings(max_examples=100, deadline=None)
@given(st.sets(_PART, max_size=12), st.lists(_PART, min_size=1, max_size=6))
def test_an_artifacts_signature_bundles_are_those_named_for_it(
    stems: set[str], artifacts: list[str]
) -> None:
    """For random file names, the sorted index finds for each artifact exactly the files whose
    name may belong to it (`bundles.name_prefixes`, as the map from every such name found),
    in file order."""
    names = sorted(f"{stem}{bundles.SUFFIX}" for stem in stems)
    index = _Index(directory=Path("d"), signatures=[(name, _LATER[False]) for name in names])
    index.taken = bytearray(len(names))
    for artifact in artifacts:
        expected = [n for n in names if artifact in bundles.name_prefixes(n)]
        assert [p.name for p, _ in index.signatures_of(artifact)] == expected
        index.take(artifact)  # marked used: exactly the files of the artifacts judged so far
    used = {n for a in artifacts for n in names if a in bundles.name_prefixes(n)}
    assert [n for n, taken in zip(names, index.taken, strict=True) if taken] == sorted(used)
