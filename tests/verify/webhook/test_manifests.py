"""examples/kubernetes: every manifest valid against the Kubernetes API's schemas
(kubernetes-validate ships them: kubectl cannot validate without an API server), and the
settings the webhook's safety rests on: fail closed, kube-system and its own namespace exempt,
three replicas that run as non-root on a read-only root file system, probes, and arguments the
webhook accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import REPO
from verify.policy import parse_policy
from verify.webhook.command import webhook

EXAMPLES = REPO / "examples" / "kubernetes"
KUBERNETES = "1.33"


def _documents() -> list[dict[str, Any]]:
    return [
        d for p in sorted(EXAMPLES.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d
    ]


def _one(kind: str) -> dict[str, Any]:
    [found] = [d for d in _documents() if d["kind"] == kind]
    return found


@pytest.mark.parametrize(
    "document", _documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_every_manifest_is_valid(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES, strict=True)  # raises, naming the field


def test_an_invalid_manifest_is_caught() -> None:
    broken = _one("ValidatingWebhookConfiguration")
    broken["webhooks"][0]["timeoutSeconds"] = "ten"
    broken["webhooks"][0]["failurPolicy"] = "Fail"  # a typo strict validation refuses
    with pytest.raises(kubernetes_validate.ValidationError, match=r"ten|failurPolicy"):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_webhook_fails_closed_for_every_kind_it_reviews() -> None:
    [hook] = _one("ValidatingWebhookConfiguration")["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["timeoutSeconds"] > 8  # the webhook's own deadline (server.REVIEW_DEADLINE)
    resources = {r for rule in hook["rules"] for r in rule["resources"]}
    assert resources == {
        "pods",
        "pods/ephemeralcontainers",
        "deployments",
        "statefulsets",
        "daemonsets",
        "replicasets",
        "jobs",
        "cronjobs",
    }
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in hook["rules"])


def test_only_kube_system_and_its_own_namespace_are_exempt_by_name() -> None:
    """The namespace selector reads only `kubernetes.io/metadata.name`, which the API server
    sets from the namespace's name: a label, which whoever may edit a namespace can set, would
    let them opt their namespace out of review."""
    [hook] = _one("ValidatingWebhookConfiguration")["webhooks"]
    assert hook["namespaceSelector"] == {  # by name only: a label anyone may set exempts nothing
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["kube-system", "attest-system"],
            }
        ]
    }
    assert hook["clientConfig"]["service"]["namespace"] == "attest-system"
    assert {d["metadata"].get("namespace") for d in _documents() if d["kind"] != "Namespace"} <= {
        "attest-system",
        None,
    }


def test_three_hardened_replicas_with_probes() -> None:
    deployment = _one("Deployment")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert "@sha256:" in container["image"]
    given = {a.split("=", 1)[0] for a in container["args"][1:]}
    assert given <= {o for p in webhook.params for o in p.opts}


def test_the_example_policy_loads(tmp_path: Path) -> None:
    text = _one("ConfigMap")["data"]["policy.yaml"]
    policy = parse_policy(text.encode(), "policy.yaml", tmp_path)
    assert policy.resolve_tags is False
    assert str(policy.trust.trusted_root) == "/etc/attest/trust/trusted_root.json"
