"""Signature bundles are read again when their artifact is judged, not held parsed for the whole
run (verify/evidence.py `_Later`): what is judged is what is read then, and a file that changed
into something else in between is refused, never believed as what it was."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sigstore.models import Bundle

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import gate
from verify.evidence import Collector, _Index
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
    entries = [b for found in _index(collector, release).signatures.values() for _, b in found]
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
    held = [b for _, b in _index(collector, release).signatures[g.WHEEL]]
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
    assert why["stray.bin.sigstore.json"].startswith(
        "concerns no artifact judged here (unparsable bundle"
    )
