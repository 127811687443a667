"""Reading AdmissionReviews and answering them (`Webhook.answer`, no socket): every kind that
embeds a pod spec, every sort of container and image volumes, on UPDATE only the images new to
the object, the uid echoed, malformed reviews refused with a
reason, denials escaped and bounded, fail closed on a judge that raises or is too slow, and the
policy reloaded from its mounted file. The judge here is `RuleJudge`, which allows by a rule:
these tests are of the review handling, not of judging images (tests/verify/webhook/test_judging.py)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.verify.webhook import reviews as r
from verify.sigstore_adapter import embedded_trusted_root
from verify.webhook import review
from verify.webhook.mounted import Mounted
from verify.webhook.server import Webhook


def _webhook(
    tmp_path: Path, judge: r.RuleJudge | None = None, **kwargs: Any
) -> tuple[Webhook, io.StringIO]:
    out = io.StringIO()
    hook = Webhook(Mounted(r.policy_file(tmp_path)), judge or r.RuleJudge(), out=out, **kwargs)
    return hook, out


@pytest.mark.parametrize("kind", sorted(r.GROUPS))
def test_every_kind_with_a_pod_spec_is_read(kind: str) -> None:
    obj = r.with_containers(r.workload(kind), "initContainers", r.BAD)
    parsed = review.parse(r.body(obj))
    assert parsed.kind == kind
    assert parsed.images == (r.GOOD, r.BAD)
    assert parsed.containers[1].where.endswith("initContainers[0] ('c0')")


def test_all_three_sorts_of_container_are_judged(tmp_path: Path) -> None:
    obj = r.with_containers(r.workload("Pod"), "initContainers", r.GOOD)
    obj = r.with_containers(obj, "ephemeralContainers", r.BAD)
    hook, out = _webhook(tmp_path)
    status, answer = hook.answer(r.body(obj, uid="u-1"))
    assert status == 200
    assert answer["response"]["uid"] == "u-1"
    assert answer["response"]["allowed"] is False
    message = answer["response"]["status"]["message"]
    assert message.startswith("1 of 3 container(s) refused by attest: ")
    assert (
        f"image '{r.BAD}' at spec.ephemeralContainers[0] ('c0'): signature: no verified" in message
    )
    assert answer["response"]["status"]["code"] == 403
    record = json.loads(out.getvalue())
    assert record["decision"] == "DENY" and record["uid"] == "u-1"
    assert [i["allowed"] for i in record["images"]] == [True, True, False]


def test_a_cronjobs_job_template_is_judged(tmp_path: Path) -> None:
    hook, _ = _webhook(tmp_path)
    _, answer = hook.answer(r.body(r.workload("CronJob", r.BAD)))
    message = answer["response"]["status"]["message"]
    assert "at spec.jobTemplate.spec.template.spec.containers[0] ('nightly')" in message


@pytest.mark.parametrize("kind", sorted(r.GROUPS))
def test_an_image_volume_is_judged_like_a_container(tmp_path: Path, kind: str) -> None:
    """KEP-4639: a pod mounts an image as a volume; its reference runs as much as a container's
    image does. An allowed container beside a refused image volume is no allow."""
    hook, out = _webhook(tmp_path)
    obj = r.with_volumes(r.workload(kind), r.BAD, r.TAGGED)
    _, answer = hook.answer(r.body(obj))
    assert answer["response"]["allowed"] is False
    message = answer["response"]["status"]["message"]
    where = ".".join(review.POD_SPEC[(r.GROUPS[kind][0], kind)])
    assert message.startswith("2 of 3 container(s) refused by attest: ")
    assert f"image '{r.BAD}' at {where}.volumes[0] ('v0'): signature: no verified" in message
    assert f"image '{r.TAGGED}' at {where}.volumes[1] ('v1')" in message
    logged = json.loads(out.getvalue())["images"]
    assert [(i["container"], i["allowed"]) for i in logged][1:] == [
        (f"{where}.volumes[0] ('v0')", False),
        (f"{where}.volumes[1] ('v1')", False),
    ]


def test_an_image_volume_without_a_reference_is_denied(tmp_path: Path) -> None:
    obj = r.with_volumes(r.workload("Deployment"), r.GOOD)
    r.pod_spec(obj)["volumes"][0]["image"].pop("reference")
    hook, _ = _webhook(tmp_path)
    _, answer = hook.answer(r.body(obj))
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"] == (
        "spec.template.spec.volumes[0].image names no reference"
    )


def test_other_volumes_are_not_images(tmp_path: Path) -> None:
    obj = r.workload("Pod")
    r.pod_spec(obj)["volumes"] = [{"name": "tmp", "emptyDir": {}}, {"name": "n", "image": None}]
    parsed = review.parse(r.body(obj))
    assert parsed.images == (r.GOOD,)


def test_allowed_when_every_image_is(tmp_path: Path) -> None:
    judge = r.RuleJudge()
    hook, out = _webhook(tmp_path, judge)
    obj = r.with_containers(r.workload("Deployment"), "initContainers", r.GOOD)
    status, answer = hook.answer(r.body(obj, uid="u-2"))
    assert (status, answer["response"]) == (200, {"uid": "u-2", "allowed": True})
    assert [image for image, _ in judge.calls] == [r.GOOD]  # one image named twice: judged once
    assert json.loads(out.getvalue())["decision"] == "ALLOW"


def _update(new: dict[str, Any], old: Any) -> bytes:
    return r.body(new, operation="UPDATE", old=old)


def test_an_update_judges_only_images_the_object_did_not_run(tmp_path: Path) -> None:
    """A ReplicaSet scaled down (3 -> 0) or a finalizer removed is an UPDATE of an object whose
    images no longer have to be allowed: refusing it would stall the rollout away from them."""
    judge = r.RuleJudge(allowed=set())  # BAD lost its evidence since it was admitted
    hook, out = _webhook(tmp_path, judge)
    old = r.with_volumes(r.workload("ReplicaSet", r.BAD), r.TAGGED)
    old["spec"]["replicas"] = 3
    old["metadata"]["finalizers"] = ["example.com/hold"]
    scaled = {**old, "spec": {**old["spec"], "replicas": 0}}
    released = {**old, "metadata": {**old["metadata"], "finalizers": []}}
    for new in (scaled, released):
        status, answer = hook.answer(_update(new, old))
        assert (status, answer["response"]["allowed"]) == (200, True)
    assert judge.calls == []
    record = json.loads(out.getvalue().splitlines()[0])
    assert record["decision"] == "ALLOW"
    assert {i["reason"] for i in record["images"]} == {review.KEPT}


def test_an_update_judges_a_new_image_and_the_rest_stay(tmp_path: Path) -> None:
    judge = r.RuleJudge(allowed={r.GOOD})
    hook, _ = _webhook(tmp_path, judge)
    old = r.workload("Deployment", r.BAD)
    new = r.with_volumes(r.with_containers(old, "initContainers", r.TAGGED, r.BAD), r.GOOD)
    _, answer = hook.answer(_update(new, old))
    message = answer["response"]["status"]["message"]
    assert message == (
        f"1 of 2 container(s) refused by attest: image '{r.TAGGED}' at "
        "spec.template.spec.initContainers[0] ('c0'): signature: no verified signature by an "
        "allowed signer"
    )
    assert [image for image, _ in judge.calls] == [r.TAGGED, r.GOOD]  # BAD: the object's own


@pytest.mark.parametrize(
    "old",
    [
        None,
        "a string",
        {"kind": "ReplicaSet", "spec": {}},
        {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}},
    ],
    ids=["none", "not-an-object", "no-pod-spec", "no-image"],
)
def test_an_update_without_a_readable_old_object_judges_every_image(
    tmp_path: Path, old: Any
) -> None:
    hook, _ = _webhook(tmp_path, r.RuleJudge(allowed=set()))
    _, answer = hook.answer(_update(r.workload("ReplicaSet", r.BAD), old))
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"].startswith(
        f"1 of 1 container(s) refused by attest: image '{r.BAD}'"
    )


def test_a_create_never_counts_an_old_object(tmp_path: Path) -> None:
    hook, _ = _webhook(tmp_path, r.RuleJudge(allowed=set()))
    obj = r.workload("Pod", r.BAD)
    _, answer = hook.answer(r.body(obj, old=obj))
    assert answer["response"]["allowed"] is False


IMAGES = st.sampled_from([r.GOOD, r.BAD, r.TAGGED])


@settings(max_examples=40, deadline=None)
@given(
    old_images=st.lists(st.tuples(st.sampled_from((*review.SORTS, "volumes")), IMAGES), max_size=4),
    new_images=st.lists(st.tuples(st.sampled_from((*review.SORTS, "volumes")), IMAGES), max_size=4),
)
def test_update_allow_implies_every_new_image_allowed(
    tmp_path_factory: pytest.TempPathFactory,
    rendered: dict[str, dict[str, Any]],
    old_images: list[tuple[str, str]],
    new_images: list[tuple[str, str]],
) -> None:
    """For random old and new objects, an UPDATE is allowed exactly when every image the new
    object names that the old one did not is allowed."""
    old, new = (
        _filled(rendered["Deployment"], old_images),
        _filled(rendered["Deployment"], new_images),
    )
    hook, _ = _webhook(tmp_path_factory.mktemp("hook"))
    _, answer = hook.answer(_update(new, old))
    before = {r.GOOD} | {image for _, image in old_images}
    fresh = {image for _, image in new_images} - before
    assert answer["response"]["allowed"] == (fresh <= {r.GOOD})


def _filled(obj: dict[str, Any], images: list[tuple[str, str]]) -> dict[str, Any]:
    for sort, image in images:
        obj = (
            r.with_volumes(obj, image) if sort == "volumes" else r.with_containers(obj, sort, image)
        )
    return obj


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"{", "malformed AdmissionReview: not JSON"),
        (b"[]", "a JSON object is expected"),
        (
            b'{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}',
            "not an AdmissionReview admission.k8s.io/v1",
        ),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}',
            "without a request object",
        ),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": 7}}',
            "without a uid",
        ),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "apiVersion": "admission.k8s.io/v1"}',
            "appears twice",
        ),
        (b"[" * 100_000, "malformed AdmissionReview"),
    ],
)
def test_a_malformed_review_is_400_with_a_reason(tmp_path: Path, data: bytes, said: str) -> None:
    hook, out = _webhook(tmp_path)
    status, answer = hook.answer(data)
    assert status == 400
    assert said in answer["error"]
    assert out.getvalue() == ""  # no uid: nothing was decided


def _mutated(change: Any) -> bytes:
    document = r.review(r.workload("Deployment"))
    change(document["request"])
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            lambda q: q.update(operation="DELETE"),
            "operation 'DELETE' is not judged by this webhook",
        ),
        (lambda q: q["kind"].update(kind="Service"), "kind 'apps/Service' embeds no pod spec"),
        (lambda q: q.update(object=None), "carries no object"),
        (lambda q: q["object"]["spec"].pop("template"), "no pod spec at spec.template.spec"),
        (
            lambda q: q["object"]["spec"]["template"]["spec"].update(containers=[]),
            "has no container: nothing to allow",
        ),
        (
            lambda q: q["object"]["spec"]["template"]["spec"]["containers"][0].pop("image"),
            "containers[0] names no image",
        ),
        (
            lambda q: q["object"]["spec"]["template"]["spec"].update(initContainers={}),
            "initContainers is not a list",
        ),
    ],
)
def test_an_object_that_cannot_be_read_is_denied_naming_why(
    tmp_path: Path, change: Any, said: str
) -> None:
    hook, _ = _webhook(tmp_path)
    status, answer = hook.answer(_mutated(change))
    assert status == 200
    assert answer["response"]["allowed"] is False
    assert said in answer["response"]["status"]["message"]


def test_the_message_is_escaped_and_bounded(tmp_path: Path) -> None:
    hostile = "evil\n\x1b[2Kattest: ALLOW\u202e" + "x" * 5000
    obj = r.with_containers(r.workload("Pod"), "containers", *(f"{hostile}{i}" for i in range(10)))
    hook, _ = _webhook(tmp_path)
    _, answer = hook.answer(r.body(obj))
    message = answer["response"]["status"]["message"]
    assert len(message) <= review.MAX_MESSAGE
    assert "\n" not in message and "\x1b" not in message and "\u202e" not in message
    assert "image 'evil\\n\\x1b[2Kattest: ALLOW\\u202exxx" in message  # escaped, inert
    assert message.startswith("10 of 11 container(s) refused")


def test_a_judge_that_raises_denies(tmp_path: Path) -> None:
    hook, out = _webhook(tmp_path, r.RuleJudge(raises=RuntimeError("registry client bug")))
    _, answer = hook.answer(r.body(r.workload("Job")))
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"] == (
        "denied (fail closed): internal error: RuntimeError: registry client bug"
    )
    assert json.loads(out.getvalue())["decision"] == "DENY"


def test_a_review_past_its_deadline_is_denied(tmp_path: Path) -> None:
    hook, _ = _webhook(tmp_path, r.RuleJudge(sleep=0.5), deadline=0.05)
    _, answer = hook.answer(r.body(r.workload("Pod")))
    assert answer["response"]["allowed"] is False
    assert (
        "took longer than 0.05 s, the limit for one review: denied"
        in answer["response"]["status"]["message"]
    )
    hook.close()


def test_audit_mode_allows_with_a_warning(tmp_path: Path) -> None:
    hook, _ = _webhook(tmp_path)
    r.policy_file(tmp_path, "mode: audit\n" + r.POLICY)
    _, answer = hook.answer(r.body(r.workload("Pod", r.BAD)))
    assert answer["response"]["allowed"] is True
    assert answer["response"]["warnings"][0].startswith(
        "audit mode, would deny: 1 of 1 container(s)"
    )


def _touch_later(path: Path, text: str) -> None:
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_a_changed_policy_is_read_again_and_a_broken_one_denies(tmp_path: Path) -> None:
    judge = r.RuleJudge(allowed={r.GOOD, r.BAD})
    hook, _ = _webhook(tmp_path, judge)
    policy = tmp_path / "policy.yaml"
    assert hook.answer(r.body(r.workload("Pod")))[1]["response"]["allowed"] is True
    _touch_later(policy, "version: 1\nidentities: [\n")  # a half-written ConfigMap
    _, answer = hook.answer(r.body(r.workload("Pod")))
    assert answer["response"]["allowed"] is False
    message = answer["response"]["status"]["message"]
    assert message.startswith(
        "the mounted policy or trust root changed and does not load (every review is denied)"
    )
    assert "not valid YAML" in message
    assert len(judge.calls) == 1  # nothing judged under a broken configuration
    _touch_later(policy, r.POLICY.replace("v1.4.0", "v1.5.0"))
    assert hook.answer(r.body(r.workload("Pod")))[1]["response"]["allowed"] is True
    assert hook.mounted.current().policy.identities[0].subject.endswith("v1.5.0")  # type: ignore[union-attr]


def test_a_trust_root_changed_to_one_not_valid_yet_denies_naming_it(tmp_path: Path) -> None:
    """Was `internal error: MetadataError: Fulcio certificates not found in trusted root`."""
    root = json.loads(embedded_trusted_root("production").read_text())
    path = tmp_path / "root.json"
    path.write_text(json.dumps(root))
    judge = r.RuleJudge(allowed={r.GOOD})
    policy = r.POLICY.replace("trust: production\n", f"trust:\n  trusted_root: {path}\n")
    hook = Webhook(Mounted(r.policy_file(tmp_path, policy)), judge, out=io.StringIO())
    assert hook.answer(r.body(r.workload("Pod")))[1]["response"]["allowed"] is True
    for ca in root["certificateAuthorities"]:
        ca["validFor"]["start"] = "2999-01-01T00:00:00Z"
    _touch_later(path, json.dumps(root))
    _, answer = hook.answer(r.body(r.workload("Pod")))
    assert answer["response"]["allowed"] is False
    message = answer["response"]["status"]["message"]
    assert message.startswith("the mounted policy or trust root changed and does not load")
    assert (
        f"{path}: a Sigstore trusted root not valid yet: certificateAuthorities: every "
        "validFor starts after now (the earliest at 2999-01-01T00:00:00+00:00)"
    ) in message
    assert "internal error" not in message
    assert len(judge.calls) == 1  # nothing judged under a root that cannot verify


def test_a_policy_replaced_through_a_symlink_swap_is_read_again(tmp_path: Path) -> None:
    """Kubernetes mounts a ConfigMap as a symlink into a `..data` directory it swaps."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    r.policy_file(tmp_path / "a")
    r.policy_file(tmp_path / "b", "mode: audit\n" + r.POLICY)
    (tmp_path / "..data").symlink_to("a")
    (tmp_path / "policy.yaml").symlink_to("..data/policy.yaml")
    mounted = Mounted(tmp_path / "policy.yaml")
    assert mounted.current().policy.mode == "enforce"
    (tmp_path / "..data_tmp").symlink_to("b")
    (tmp_path / "..data_tmp").rename(tmp_path / "..data")
    assert mounted.current().policy.mode == "audit"


@settings(max_examples=40, deadline=None)
@given(
    sorts=st.lists(
        st.tuples(st.sampled_from((*review.SORTS, "volumes")), IMAGES),
        min_size=1,
        max_size=8,
    ),
    kind=st.sampled_from(sorted(r.GROUPS)),
)
def test_allow_implies_every_container_and_image_volume_allowed(
    tmp_path_factory: pytest.TempPathFactory,
    rendered: dict[str, dict[str, Any]],
    sorts: list[tuple[str, str]],
    kind: str,
) -> None:
    obj = _filled(rendered[kind], sorts)
    hook, _ = _webhook(tmp_path_factory.mktemp("hook"))
    _, answer = hook.answer(r.body(obj))
    images = [r.GOOD] + [image for _, image in sorts]
    assert answer["response"]["allowed"] == all(i == r.GOOD for i in images)
    refused = sum(i != r.GOOD for i in images)
    if refused:
        assert answer["response"]["status"]["message"].startswith(
            f"{refused} of {len(images)} container(s)"
        )


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    return {kind: r.workload(kind) for kind in r.GROUPS}
