"""sigstore-js (the `sigstore` npm package, tests/interop/sign.mjs) signs against the local
instance, unmodified: its CA takes sigstore-js's certificate request (a public key and a proof of
possession, no CSR), and what sigstore-js signs, files and DSSE attestations alike, is verified
by the gate (`attest verify-bundle`, `attest verify`) and by sigstore-python."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests import signed_release as g
from tests.clients import sign_js, statement, verify_dsse_py, verify_js, verify_py
from tests.conftest import LocalInstance
from verify.formats.predicates import KINDS

ALICE = "https://example.com/alice"
CAROL = "carol@example.com"
IN_TOTO = "application/vnd.in-toto+json"
Invoke = Callable[..., Result]


def _sign(local: LocalInstance, token: str, folder: Path, blobs: int, dsse: int) -> list[Path]:
    """`blobs` files and `dsse` statements about them, each signed by sigstore-js: the bundles
    (a file's beside it, as `<file>.sigstore.json`)."""
    folder.mkdir()
    jobs = []
    for n in range(blobs):
        artifact = folder / f"app-{n}.tar.gz"
        artifact.write_bytes(f"release {n} of {folder.name}\n".encode())
        jobs.append({"kind": "blob", "input": str(artifact), "output": f"{artifact}.sigstore.json"})
    for n in range(dsse):
        subject = folder / f"app-{n % blobs}.tar.gz"
        path = folder / f"app-{n}.intoto.json"
        digest = hashlib.sha256(subject.read_bytes()).hexdigest()
        path.write_text(json.dumps(statement(subject.name, digest)))
        jobs.append(
            {
                "kind": "dsse",
                "input": str(path),
                "output": f"{path}.sigstore.json",
                "payloadType": IN_TOTO,
            }
        )
    assert sign_js(local.url, token, jobs) == [None] * len(jobs)
    return [Path(job["output"]) for job in jobs]


def _subject(bundle: Path) -> Path:
    """The file a bundle is about: the signed file, or the statement's subject."""
    name = bundle.name.removesuffix(".sigstore.json")
    if name.endswith(".intoto.json"):
        name = json.loads((bundle.parent / name).read_text())["subject"][0]["name"]
    return bundle.parent / name


def _gate(invoke: Invoke, local: LocalInstance, bundle: Path, identity: str) -> str | None:
    result = invoke(
        "verify-bundle", "--bundle", str(bundle), "--trusted-root", str(local.trusted_root),
        "--certificate-identity", identity, "--certificate-oidc-issuer", local.issuer,
        str(_subject(bundle)),
    )  # fmt: skip
    return None if result.exit_code == 0 else result.stderr


def _python(local: LocalInstance, bundle: Path, identity: str) -> str | None:
    if not bundle.name.endswith(".intoto.json.sigstore.json"):
        return verify_py(local, bundle, _subject(bundle), identity)
    subject = verify_dsse_py(local, bundle, identity)["subject"][0]
    digest = hashlib.sha256(_subject(bundle).read_bytes()).hexdigest()
    return None if subject["digest"]["sha256"] == digest else f"subject {subject} is not {digest}"


@pytest.mark.interop
def test_sigstore_js_signs_files_and_attestations_that_the_gate_and_sigstore_python_verify(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    """The figures: 16 bundles signed by sigstore-js (8 files, 8 DSSE attestations; URI, email
    and GitHub Actions identities), each verified by the gate and by sigstore-python."""
    workflow = g.github_token(instance)
    signers: list[tuple[str, str, int]] = [  # (identity, token, files and attestations each)
        (ALICE, instance.token(ALICE), 3),
        (CAROL, instance.token(CAROL, email=CAROL, email_verified=True), 2),
        (g.WORKFLOW, workflow, 3),
    ]
    verdicts: dict[str, list[str | None]] = {"gate": [], "sigstore-python": []}
    for n, (identity, token, count) in enumerate(signers):
        for bundle in _sign(instance, token, tmp_path / f"signer-{n}", count, count):
            verdicts["gate"].append(_gate(invoke, instance, bundle, identity))
            verdicts["sigstore-python"].append(_python(instance, bundle, identity))
    assert {client: len(v) for client, v in verdicts.items()} == {"gate": 16, "sigstore-python": 16}
    assert verdicts == {client: [None] * 16 for client in verdicts}
    # sigstore-js's own verifier takes the instance's answers in what it built (one of each:
    # a node process per bundle is slow)
    for bundle, artifact in (
        (
            tmp_path / "signer-2" / "app-0.tar.gz.sigstore.json",
            tmp_path / "signer-2" / "app-0.tar.gz",
        ),
        (tmp_path / "signer-2" / "app-0.intoto.json.sigstore.json", None),
    ):
        assert (
            verify_js(instance.trusted_root, bundle, artifact, g.WORKFLOW, instance.issuer) is None
        )


@pytest.mark.interop
def test_the_gate_allows_a_release_signed_by_sigstore_js_and_refuses_it_tampered(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel, sdist = dist / g.WHEEL, dist / g.SDIST
    wheel.write_bytes(b"the wheel\n")
    sdist.write_bytes(b"the sdist\n")
    sbom: dict[str, Any] = {
        **statement(g.WHEEL, hashlib.sha256(wheel.read_bytes()).hexdigest()),
        "predicateType": KINDS["sbom"],
        "predicate": g.SBOM,
    }
    sbom["subject"].append(
        {"name": g.SDIST, "digest": {"sha256": hashlib.sha256(sdist.read_bytes()).hexdigest()}}
    )
    (tmp_path / "sbom.json").write_text(json.dumps(sbom))
    jobs = [
        {"kind": "blob", "input": str(p), "output": f"{p}.sigstore.json"} for p in (wheel, sdist)
    ]
    jobs.append(
        {"kind": "dsse", "input": str(tmp_path / "sbom.json"),
         "output": str(dist / "acme_web-1.4.0.sbom.sigstore.json"), "payloadType": IN_TOTO}
    )  # fmt: skip
    assert sign_js(instance.url, g.github_token(instance), jobs) == [None] * 3
    policy = g.strict_policy(instance)
    policy["require"] = {"signature": True, "sbom": policy["require"]["sbom"]}
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    result = invoke("verify", "--policy", str(path), "--json", str(wheel), str(sdist))
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert [d["decision"] for d in run["decisions"]] == ["ALLOW", "ALLOW"]
    assert run["decisions"][0]["signers"][0]["identity"] == g.WORKFLOW
    checks = {c["check"]: c["result"] for c in run["decisions"][0]["checks"]}
    assert checks["signature"] == checks["sbom"] == "PASS", checks
    wheel.write_bytes(b"the wheel, with a backdoor\n")
    result = invoke("verify", "--policy", str(path), "--json", str(wheel))
    assert result.exit_code == 1, result.stderr
    [decision] = json.loads(result.stdout)["decisions"]
    failures = {c["check"]: c["failures"] for c in decision["checks"] if c["failures"]}
    assert "signature does not verify for this artifact" in " ".join(failures["bundles verify"])
    assert "sbom" in failures, failures


def test_the_ca_refuses_a_public_key_request_without_possession_saying_why(
    instance: LocalInstance,
) -> None:
    """sigstore-js's request shape over HTTP (the token in the body): a proof over another
    subject, or by another key, gets a 400 that names the proof; the right one a certificate."""
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def request(signer: ec.EllipticCurvePrivateKey, signed: str) -> requests.Response:
        proof = signer.sign(signed.encode(), ec.ECDSA(hashes.SHA256()))
        body = {
            "credentials": {"oidcIdentityToken": instance.token(ALICE)},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": pem.decode()},
                "proofOfPossession": base64.b64encode(proof).decode(),
            },
        }
        return requests.post(f"{instance.url}/api/v2/signingCert", json=body, timeout=30)

    for signer, signed in ((key, "https://example.com/mallory"), (other, ALICE)):
        answer = request(signer, signed)
        assert answer.status_code == 400
        assert answer.json()["message"] == (
            "proofOfPossession is not a signature by publicKey over the token's subject "
            f"{ALICE}: it does not prove possession of the key"
        )
    answer = request(key, ALICE)
    assert answer.status_code == 201, answer.text
    [leaf, *_] = answer.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    certificate = x509.load_pem_x509_certificate(leaf.encode())
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
