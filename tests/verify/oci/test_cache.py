"""verify.oci.cache through the client's transport (canned answers, no socket): what a
long-lived client (the webhook) keeps — objects by digest, and briefly a repository's 404 for
the referrers API (never another repository's) — and what it asks for afresh every time: the referrers listing and tags (one read
of a listing shared by the callers asking at once, sent after they all asked)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
import requests

from tests.verify.oci.test_client_transport import (
    ARTIFACT,
    BUNDLE,
    HOST,
    IMAGE,
    Answer,
    Canned,
    registry_with_referrers_api,
    spec_example_referrers,
    transport,
)
from verify.oci import evidence
from verify.oci.cache import NO_API_MEMOS, NO_API_TTL, Cache
from verify.oci.client import (
    BUNDLE_TYPE,
    OCI_INDEX,
    OCI_MANIFEST,
    Registry,
    RegistryError,
    descriptor,
    sha256,
)
from verify.oci.deadline import Deadline, Expired

IMAGE_REF = f"oci://{HOST}/app@{sha256(IMAGE)}"
MIRROR_REF = f"oci://{HOST}/mirror/x@{sha256(IMAGE)}"


def _paths(asked: list[str]) -> list[str]:
    return [a.split(HOST, 1)[1].split("?")[0] for a in asked]


def test_a_second_look_asks_the_referrers_api_only() -> None:
    session, adapter = transport(registry_with_referrers_api)
    cache = Cache()
    first = evidence.collect(IMAGE_REF, transport=session, cache=cache)
    assert len(adapter.asked) == 4  # the manifest, the referrers, the artifact, its bundle
    adapter.asked.clear()
    assert (
        evidence.collect(IMAGE_REF, transport=session, cache=cache)
        == first
        == (
            sha256(IMAGE),
            [BUNDLE],
        )
    )
    assert _paths(adapter.asked) == [f"/v2/app/referrers/{sha256(IMAGE)}"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tag_schema_registry(
    listing: list[bytes], blobs: tuple[bytes, ...] = ()
) -> tuple[requests.Session, Canned]:
    """A registry without the referrers API whose tag-schema index lists the artifacts in
    `listing` (changed by the test between looks), holding the image, BUNDLE and `blobs`."""
    objects = {sha256(x): x for x in (IMAGE, BUNDLE, *blobs)}

    def answer(method: str, url: str) -> Answer:
        path = url.split(HOST, 1)[1].split("?")[0]
        if "/referrers/" in path:
            return 404, {}, b""
        if path.endswith(f"/manifests/sha256-{sha256(IMAGE)[7:]}"):
            index = {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    descriptor(OCI_MANIFEST, a, artifactType=BUNDLE_TYPE) for a in listing
                ],
            }
            return 200, {"Content-Type": OCI_INDEX}, json.dumps(index).encode()
        found = {**objects, **{sha256(a): a for a in listing}}.get(path.rsplit("/", 1)[1])
        return (200, {"Content-Type": OCI_MANIFEST}, found) if found else (404, {}, b"")

    return transport(answer)


def _artifact(bundle: bytes) -> bytes:
    manifest = json.loads(ARTIFACT)
    manifest["layers"] = [descriptor(BUNDLE_TYPE, bundle)]
    return json.dumps(manifest).encode()


def test_a_404_from_the_referrers_api_is_remembered_for_a_short_time_only() -> None:
    session, adapter = _tag_schema_registry([ARTIFACT])
    clock = Clock()
    cache = Cache(clock=clock)
    assert evidence.collect(IMAGE_REF, transport=session, cache=cache)[1] == [BUNDLE]
    assert len(adapter.asked) == 5  # manifest, API (404), tag-schema index, artifact, bundle
    adapter.asked.clear()
    clock.now += NO_API_TTL - 1
    assert evidence.collect(IMAGE_REF, transport=session, cache=cache)[1] == [BUNDLE]
    assert _paths(adapter.asked) == [f"/v2/app/manifests/sha256-{sha256(IMAGE)[7:]}"]
    adapter.asked.clear()
    clock.now += 2  # past the memo: the API is asked again (a registry upgraded meanwhile)
    evidence.collect(IMAGE_REF, transport=session, cache=cache)
    assert _paths(adapter.asked) == [
        f"/v2/app/referrers/{sha256(IMAGE)}",
        f"/v2/app/manifests/sha256-{sha256(IMAGE)[7:]}",
    ]


def _mixed_registry(api_lists: bool, index_lists: bool) -> tuple[requests.Session, Canned]:
    """One host, two repositories: `mirror/x` without the referrers API (404, no index), `app`
    with it; app's API lists ARTIFACT if `api_lists`, its tag-schema index if `index_lists`."""

    def listing(artifacts: list[bytes]) -> bytes:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        index["manifests"] = [
            descriptor(OCI_MANIFEST, a, artifactType=BUNDLE_TYPE) for a in artifacts
        ]
        return json.dumps(index).encode()

    def answer(method: str, url: str) -> Answer:
        path = url.split(HOST, 1)[1].split("?")[0]
        if path == f"/v2/app/referrers/{sha256(IMAGE)}":
            return 200, {"Content-Type": OCI_INDEX}, listing([ARTIFACT] if api_lists else [])
        if path == f"/v2/app/manifests/sha256-{sha256(IMAGE)[7:]}":
            return 200, {"Content-Type": OCI_INDEX}, listing([ARTIFACT] if index_lists else [])
        if path == f"/v2/mirror/x/referrers/{sha256(IMAGE)}":
            return 404, {}, b""
        return registry_with_referrers_api(method, url)  # the objects by digest; else 404

    return transport(answer)


def _looked_at_mirror_first(session: requests.Session, adapter: Canned, cache: Cache) -> None:
    assert evidence.collect(MIRROR_REF, transport=session, cache=cache)[1] == []
    assert f"/v2/mirror/x/referrers/{sha256(IMAGE)}" in _paths(adapter.asked)
    adapter.asked.clear()


def test_a_404_for_one_repository_never_makes_another_read_through_the_tag_schema() -> None:
    session, adapter = _mixed_registry(api_lists=True, index_lists=False)
    cache = Cache()
    _looked_at_mirror_first(session, adapter, cache)
    assert evidence.collect(IMAGE_REF, transport=session, cache=cache)[1] == [BUNDLE]
    assert f"/v2/app/referrers/{sha256(IMAGE)}" in _paths(adapter.asked)
    assert not any("sha256-" in a for a in adapter.asked)  # app's API answered: its listing
    adapter.asked.clear()  # the mirror's own 404 is still remembered
    evidence.collect(MIRROR_REF, transport=session, cache=cache)
    assert _paths(adapter.asked) == [f"/v2/mirror/x/manifests/sha256-{sha256(IMAGE)[7:]}"]


def test_a_stale_tag_schema_index_is_never_believed_over_the_repositorys_own_api() -> None:
    # app's index still lists a signature its API no longer lists: app is judged on the API
    session, adapter = _mixed_registry(api_lists=False, index_lists=True)
    cache = Cache()
    _looked_at_mirror_first(session, adapter, cache)
    assert evidence.collect(IMAGE_REF, transport=session, cache=cache)[1] == []
    assert _paths(adapter.asked) == [
        f"/v2/app/manifests/{sha256(IMAGE)}",
        f"/v2/app/referrers/{sha256(IMAGE)}",
    ]  # never the tag-schema index


def test_the_memo_of_404s_is_bounded_oldest_first() -> None:
    clock = Clock()
    cache = Cache(clock=clock)
    for n in range(NO_API_MEMOS + 1):
        cache.saw_no_referrers_api(HOST, f"repo{n}")
    assert not cache.no_referrers_api(HOST, "repo0")  # forgotten: the API is asked again
    assert cache.no_referrers_api(HOST, "repo1") and cache.no_referrers_api(HOST, f"repo{n}")
    assert not cache.no_referrers_api("other:5000", "repo1")


def test_a_referrer_removed_from_the_listing_is_gone_at_the_next_look_and_a_new_one_is_seen() -> (
    None
):
    listing = [ARTIFACT]
    other = b'{"another": "bundle"}'
    session, _ = _tag_schema_registry(listing, (other,))
    cache = Cache()
    assert evidence.collect(IMAGE_REF, transport=session, cache=cache)[1] == [BUNDLE]
    listing.clear()  # removed from the index: its artifact and bundle are still in the cache
    assert evidence.collect(IMAGE_REF, transport=session, cache=cache)[1] == []
    listing.append(_artifact(other))  # a new referrer pushed
    assert evidence.collect(IMAGE_REF, transport=session, cache=cache)[1] == [other]


def test_a_tag_is_resolved_afresh_every_time() -> None:
    served = [IMAGE]
    session, adapter = transport(lambda m, u: (200, {"Content-Type": OCI_MANIFEST}, served[0]))
    registry = Registry(HOST, transport=session, cache=Cache())
    assert registry.manifest("app", "v1").digest == sha256(IMAGE)
    served[0] = ARTIFACT  # the tag moved
    assert registry.manifest("app", "v1").digest == sha256(ARTIFACT)
    assert len(adapter.asked) == 2


def test_what_the_client_refuses_is_never_kept() -> None:
    served = [IMAGE + b" ", BUNDLE + b" "]  # wrong bytes first, then the right ones
    session, adapter = transport(
        lambda m, u: (200, {"Content-Type": OCI_MANIFEST}, served[0 if "/manifests/" in u else 1])
    )
    registry = Registry(HOST, transport=session, cache=Cache())
    with pytest.raises(RegistryError, match="has digest"):
        registry.manifest("app", sha256(IMAGE))
    with pytest.raises(RegistryError, match="wrong digest: refused"):
        registry.blob("app", sha256(BUNDLE))
    served[:] = [IMAGE, BUNDLE]
    assert registry.manifest("app", sha256(IMAGE)).body == IMAGE
    assert registry.blob("app", sha256(BUNDLE)) == BUNDLE
    assert len(adapter.asked) == 4


def test_the_cache_is_bounded_by_bytes_least_recently_used_first() -> None:
    cache = Cache(limit=800)
    for name in "abc":
        cache.put(name, name, 100)
    assert cache.get("a") == "a"  # used: "b" is now the oldest
    cache.put("big", "over an eighth of the limit", 101)
    assert cache.get("big") is None  # never kept: one large object cannot flush the rest
    for name in "defghij":
        cache.put(name, name, 100)
    assert cache.get("b") is None and cache.get("c") is None  # the two oldest went
    assert [cache.get(n) for n in "adefghij"] == list("adefghij")


# -- one read of a listing shared by the callers asking at once ------------------------------


def _joined(cache: Cache, key: object, callers: int) -> None:
    """Wait until `callers` threads share the next read of `key` (after the one in progress)."""
    for _ in range(1000):
        waiting = cache._reads._next.get(key)
        if waiting is not None and waiting.callers == callers:
            return
        time.sleep(0.002)
    raise AssertionError("nobody joined the next read")


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    got: list[object] = []

    def run() -> None:
        try:
            got.append(call())
        except Exception as e:
            got.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, got


def test_a_look_asked_for_during_a_read_is_never_answered_by_it_but_by_one_sent_after() -> None:
    listing = [ARTIFACT]
    other = b'{"another": "bundle"}'
    session, adapter = _tag_schema_registry(listing, (other,))
    index = f"/v2/app/manifests/sha256-{sha256(IMAGE)[7:]}"
    held, release = threading.Event(), threading.Event()
    inner = adapter.answer

    def slow_first(method: str, url: str) -> Answer:
        answered = inner(method, url)  # the registry's state as the request arrived
        if url.split("?")[0].endswith(index) and not held.is_set():
            held.set()  # the first listing read is in progress: blocked here
            release.wait(5)
        return answered

    cache = Cache()
    evidence.collect(IMAGE_REF, transport=session, cache=cache)  # the content kept
    adapter.answer = slow_first
    adapter.asked.clear()
    first, got_first = _in_thread(
        lambda: evidence.collect(IMAGE_REF, transport=session, cache=cache)
    )
    assert held.wait(5)
    key = ("referrers", f"http://{HOST}", False, "app", sha256(IMAGE), BUNDLE_TYPE)
    late = [_in_thread(lambda: evidence.collect(IMAGE_REF, transport=session, cache=cache))]
    late += [_in_thread(lambda: evidence.collect(IMAGE_REF, transport=session, cache=cache))]
    _joined(cache, key, 2)
    listing[:] = [_artifact(other)]  # pushed after the first read was sent, before the others'
    release.set()
    for thread, _ in [(first, got_first), *late]:
        thread.join(5)
    assert got_first == [(sha256(IMAGE), [BUNDLE])]  # its read was sent before the change
    assert [got for _, got in late] == [[(sha256(IMAGE), [other])]] * 2  # seen by both
    assert _paths(adapter.asked).count(index) == 2  # one read for the two who asked meanwhile


def test_a_shared_read_that_fails_fails_for_all_who_share_it_and_the_next_look_reads_again() -> (
    None
):
    cache = Cache()
    key = ("listing",)
    held, release = threading.Event(), threading.Event()
    reads: list[str] = []

    def blocked() -> str:
        held.set()
        release.wait(5)
        return "first"

    def failing() -> str:
        reads.append("failing")
        raise RegistryError("referrers of x: HTTP 500 from the registry")

    first, got_first = _in_thread(lambda: cache.listing(key, blocked, None))
    assert held.wait(5)
    sharing = [_in_thread(lambda: cache.listing(key, failing, None)) for _ in range(3)]
    _joined(cache, key, 3)
    release.set()
    for thread, _ in [(first, got_first), *sharing]:
        thread.join(5)
    assert got_first == ["first"] and reads == ["failing"]  # one read for the three
    for _, got in sharing:
        assert isinstance(got[0], RegistryError) and "HTTP 500 from the registry" in str(got[0])
    assert cache.listing(key, lambda: "afresh", None) == "afresh"  # failures are not kept


def test_a_caller_waiting_for_a_shared_read_stops_at_its_deadline() -> None:
    cache = Cache()
    held, release = threading.Event(), threading.Event()

    def blocked() -> str:
        held.set()
        release.wait(5)
        return "late"

    first, _ = _in_thread(lambda: cache.listing("k", blocked, None))
    assert held.wait(5)
    with pytest.raises(Expired, match="the referrers listing, read for several reviews at once"):
        cache.listing("k", lambda: "never", Deadline(0.05, "the review's 8 s"))
    release.set()
    first.join(5)
    assert cache.listing("k", lambda: "afresh", None) == "afresh"


def test_a_registry_that_loses_its_referrers_api_is_read_through_the_tag_schema_at_once() -> None:
    api = [True]

    def answer(method: str, url: str) -> Answer:
        if "/referrers/" in url and not api[0]:
            return 404, {}, b""
        if url.split("?")[0].endswith(f"/manifests/sha256-{sha256(IMAGE)[7:]}"):
            return 200, {"Content-Type": OCI_INDEX}, spec_example_referrers()
        return registry_with_referrers_api(method, url)

    session, adapter = transport(answer)
    cache = Cache()
    assert evidence.collect(IMAGE_REF, transport=session, cache=cache)[1] == [BUNDLE]
    api[0] = False  # downgraded: the API's answer was never remembered, its 404 is seen now
    adapter.asked.clear()
    assert evidence.collect(IMAGE_REF, transport=session, cache=cache)[1] == [BUNDLE]
    assert _paths(adapter.asked) == [
        f"/v2/app/referrers/{sha256(IMAGE)}",
        f"/v2/app/manifests/sha256-{sha256(IMAGE)[7:]}",
    ]


def test_the_deadline_of_the_caller_who_sends_a_shared_read_is_never_another_callers() -> None:
    cache = Cache()
    held, release = threading.Event(), threading.Event()

    def blocked() -> str:
        held.set()
        release.wait(5)
        return "first"

    first, _ = _in_thread(lambda: cache.listing("k", blocked, None))
    assert held.wait(5)
    clock = Clock()
    hurried_deadline = Deadline(60, "the review's 8 s", clock=clock)
    hurried, got_hurried = _in_thread(lambda: cache.listing("k", lambda: "never", hurried_deadline))
    _joined(cache, "k", 1)
    patient, got_patient = _in_thread(lambda: cache.listing("k", lambda: "its own", None))
    _joined(cache, "k", 2)
    clock.now += 61  # its deadline passes while it waits for the read in progress
    with cache._reads._ready:
        cache._reads._ready.notify_all()
    hurried.join(5)
    assert isinstance(got_hurried[0], Expired)
    release.set()
    for thread in (first, patient):
        thread.join(5)
    assert got_patient == ["its own"]  # read again by its own deadline, not denied by another's
