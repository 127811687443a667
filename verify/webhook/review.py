"""Reading a Kubernetes AdmissionReview (admission.k8s.io/v1) and writing its answer.

Every image the object would run is found: the containers, init containers and ephemeral
containers and the image volumes (`volumes[].image.reference`, KEP-4639) of a Pod, and of the
pod template of every workload kind that embeds one (Deployment, StatefulSet, DaemonSet,
ReplicaSet, Job; a CronJob's in its job template). A review that is not one is `BadReview` (HTTP
400, no uid to answer); a review of an object the webhook cannot read is `Unreadable`, answered
with a denial. The answer names each refused image and why, escaped and bounded: the API server
shows it to whoever applied the object.

On UPDATE only the images the object did not already name are judged: an image string found
anywhere in `oldObject`'s pod spec was admitted with it and stays (`Review.kept`), so scaling a
ReplicaSet down or removing a finalizer is never refused because an image it already ran has
since lost its evidence; revocation takes effect at the next CREATE (every Pod a controller
makes is one). An UPDATE whose `oldObject` cannot be read has every image judged (fail closed)."""

from __future__ import annotations

import dataclasses
from typing import Any

from verify.formats import strict_json
from verify.text import quoted, shown

API_VERSION = "admission.k8s.io/v1"
MAX_MESSAGE = 1024  # characters of a denial's message: kubectl prints it whole
_SHOWN_IMAGE = 200  # characters of an image reference a message quotes

# Where each kind keeps its pod spec, by (API group, kind).
POD_SPEC: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    **{
        ("apps", kind): ("spec", "template", "spec")
        for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
    },
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
SORTS = ("containers", "initContainers", "ephemeralContainers")
KEPT = "already in the object before this UPDATE: admitted with it, not judged again"
JUDGED_OPERATIONS = ("CREATE", "UPDATE")


class BadReview(ValueError):
    """Not an AdmissionReview v1 request: answered with HTTP 400 and this message."""


class Unreadable(ValueError):
    """A review whose object cannot be judged: denied, with this reason."""

    def __init__(self, uid: str, reason: str) -> None:
        super().__init__(reason)
        self.uid = uid
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Container:
    where: str  # as a person finds it: spec.template.spec.initContainers[0] ('migrate')
    image: str


@dataclasses.dataclass(frozen=True)
class Review:
    uid: str
    kind: str
    namespace: str
    name: str
    operation: str
    containers: tuple[Container, ...]  # the ones judged: every one, or on UPDATE the new ones
    kept: tuple[Container, ...] = ()  # on UPDATE, those whose image oldObject already named

    @property
    def images(self) -> tuple[str, ...]:
        """Each distinct image judged once, in the order first named."""
        return tuple(dict.fromkeys(c.image for c in self.containers))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _request(body: bytes) -> dict[str, Any]:
    try:
        document = strict_json.loads(body)
    except strict_json.NotJson as e:
        raise BadReview(f"not JSON: {e}") from e
    if not isinstance(document, dict):
        raise BadReview("not an AdmissionReview: a JSON object is expected")
    if document.get("apiVersion") != API_VERSION or document.get("kind") != "AdmissionReview":
        raise BadReview(f"not an AdmissionReview {API_VERSION} (apiVersion and kind)")
    request = document.get("request")
    if not isinstance(request, dict):
        raise BadReview("an AdmissionReview without a request object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not 0 < len(uid) <= 128:
        raise BadReview("an AdmissionReview request without a uid (a string)")
    return request


def parse(body: bytes) -> Review:
    """The review in `body`: BadReview when it is not one, Unreadable when its object is not
    one this webhook can judge (naming why)."""
    request = _request(body)
    uid = request["uid"]
    operation = _text(request.get("operation"))
    if operation not in JUDGED_OPERATIONS:
        raise Unreadable(
            uid,
            f"operation {quoted(operation)} is not judged by this webhook: register it for "
            "CREATE and UPDATE only",
        )
    kind = request.get("kind")
    kind = kind if isinstance(kind, dict) else {}
    group, name = _text(kind.get("group")), _text(kind.get("kind"))
    path = POD_SPEC.get((group, name))
    if path is None:
        said = quoted(f"{group}/{name}")
        raise Unreadable(uid, f"kind {said} embeds no pod spec this webhook reads")
    obj = request.get("object")
    if not isinstance(obj, dict):
        raise Unreadable(uid, "the review carries no object to judge")
    containers = _containers(uid, obj, path)
    admitted = _admitted(uid, request, path) if operation == "UPDATE" else frozenset()
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return Review(
        uid=uid,
        kind=name,
        namespace=_text(request.get("namespace")),
        name=_text(request.get("name")) or _text(metadata.get("name")),
        operation=operation,
        containers=tuple(c for c in containers if c.image not in admitted),
        kept=tuple(c for c in containers if c.image in admitted),
    )


def _admitted(uid: str, request: dict[str, Any], path: tuple[str, ...]) -> frozenset[str]:
    """The images an UPDATE's `oldObject` already named; none when it cannot be read (then
    every image is judged: fail closed)."""
    old = request.get("oldObject")
    if not isinstance(old, dict):
        return frozenset()
    try:
        return frozenset(c.image for c in _containers(uid, old, path))
    except Unreadable:
        return frozenset()


def _containers(uid: str, obj: dict[str, Any], path: tuple[str, ...]) -> tuple[Container, ...]:
    """Every container of every sort in the pod spec at `path`, then its image volumes;
    Unreadable for a spec that is not one (one without containers included: an empty set never
    allows)."""
    spec: Any = obj
    for key in path:
        spec = spec.get(key) if isinstance(spec, dict) else None
    where = ".".join(path)
    if not isinstance(spec, dict):
        raise Unreadable(uid, f"the object has no pod spec at {where}")
    found = []
    for sort in SORTS:
        listed = spec.get(sort, [])
        if not isinstance(listed, list):
            raise Unreadable(uid, f"{where}.{sort} is not a list")
        for i, container in enumerate(listed):
            image = container.get("image") if isinstance(container, dict) else None
            if not isinstance(image, str) or not image:
                raise Unreadable(uid, f"{where}.{sort}[{i}] names no image")
            named = _text(container.get("name"))
            found.append(Container(f"{where}.{sort}[{i}] ({quoted(named, 63)})", image))
    if not found:
        raise Unreadable(uid, f"the pod spec at {where} has no container: nothing to allow")
    return tuple(found) + _image_volumes(uid, spec, where)


def _image_volumes(uid: str, spec: dict[str, Any], where: str) -> tuple[Container, ...]:
    """The image volumes of a pod spec (KEP-4639): an image the pod mounts, judged as a
    container's is. A volume whose `image` names no reference is Unreadable: nothing to judge."""
    volumes = spec.get("volumes", [])
    if not isinstance(volumes, list):
        raise Unreadable(uid, f"{where}.volumes is not a list")
    found = []
    for i, volume in enumerate(volumes):
        source = volume.get("image") if isinstance(volume, dict) else None
        if source is None:
            continue
        image = source.get("reference") if isinstance(source, dict) else None
        if not isinstance(image, str) or not image:
            raise Unreadable(uid, f"{where}.volumes[{i}].image names no reference")
        named = _text(volume.get("name"))
        found.append(Container(f"{where}.volumes[{i}] ({quoted(named, 63)})", image))
    return tuple(found)


def shown_image(image: str) -> str:
    """An image reference as a message quotes it: escaped, at most _SHOWN_IMAGE characters."""
    return shown(quoted(image, _SHOWN_IMAGE))


def bounded(message: str) -> str:
    """A message for the API server: one escaped line of at most MAX_MESSAGE characters."""
    message = shown(message)
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def response(
    uid: str, allowed: bool, message: str = "", warnings: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The AdmissionReview answering `uid`: a denial carries code 403 and its message."""
    answer: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        answer["status"] = {"code": 403, "reason": "Forbidden", "message": bounded(message)}
    if warnings:  # shown by kubectl; at most a few, each bounded
        answer["warnings"] = [bounded(w)[:256] for w in warnings[:8]]
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": answer}
