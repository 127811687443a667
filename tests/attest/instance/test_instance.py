"""The local instance is Sigstore-compatible: unmodified sigstore-python (API and CLI) signs
against it and verifies, sigstore-js verifies the same bundles; refusals are refusals."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.dsse import StatementBuilder, Subject
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext
from sigstore.verify.policy import Identity

from attest.instance import lifecycle, oidc
from attest.instance.merkle import leaf_hash, root_from_inclusion
from attest.instance.server import ApiError, Instance
from tests.clients import verify_js, verify_py
from tests.conftest import JULY, LocalInstance, require_mark
from verify.sigstore_adapter import log_index

ALICE = "https://example.com/alice"


def _context(local: LocalInstance) -> SigningContext:
    return SigningContext.from_trust_config(
        ClientTrustConfig.from_json(local.trust_config.read_text())
    )


def _sign_files(local: LocalInstance, paths: list[Path], subject: str = ALICE) -> list[Path]:
    bundles = []
    with _context(local).signer(IdentityToken(local.token(subject))) as signer:
        for path in paths:
            bundle = signer.sign_artifact(path.read_bytes())
            out = path.with_name(path.name + ".sigstore.json")
            out.write_text(bundle.to_json())
            bundles.append(out)
    return bundles


@pytest.mark.interop
def test_sigstore_python_api_signs_a_file_and_a_statement(
    instance: LocalInstance, tmp_path: Path
) -> None:
    artifact = tmp_path / "app-1.0.tar.gz"
    artifact.write_bytes(b"release contents\n")
    [bundle] = _sign_files(instance, [artifact])
    assert verify_py(instance, bundle, artifact, ALICE) is None
    assert verify_js(instance.trusted_root, bundle, artifact, ALICE, instance.issuer) is None

    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    built = (
        StatementBuilder()
        .subjects([Subject(name=artifact.name, digest={"sha256": digest})])
        .predicate_type("https://example.com/test-predicate/v1")
        .predicate({"built": True})
        .build()
    )
    with _context(instance).signer(IdentityToken(instance.token(ALICE))) as signer:
        dsse_bundle = signer.sign_dsse(built)
    payload_type, payload = instance.verifier().verify_dsse(
        dsse_bundle, Identity(identity=ALICE, issuer=instance.issuer)
    )
    assert payload_type == "application/vnd.in-toto+json"
    assert json.loads(payload)["subject"][0]["digest"]["sha256"] == digest
    dsse_path = tmp_path / "statement.sigstore.json"
    dsse_path.write_text(dsse_bundle.to_json())
    assert verify_js(instance.trusted_root, dsse_path, None, ALICE, instance.issuer) is None


def _sigstore_cli(local: LocalInstance, *args: str) -> subprocess.CompletedProcess[str]:
    require_mark("interop")
    return subprocess.run(
        [sys.executable, "-m", "sigstore", "--trust-config", str(local.trust_config), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.interop
def test_sigstore_python_cli_signs_attests_and_verifies(
    instance: LocalInstance, tmp_path: Path
) -> None:
    artifact = tmp_path / "cli.txt"
    artifact.write_text("signed by the sigstore CLI\n")
    token = instance.token(ALICE)
    signed = _sigstore_cli(instance, "sign", "--identity-token", token, str(artifact))
    assert signed.returncode == 0, signed.stderr
    bundle = tmp_path / "cli.txt.sigstore.json"
    verified = _sigstore_cli(
        instance, "verify", "identity", "--cert-identity", ALICE,
        "--cert-oidc-issuer", instance.issuer, str(artifact),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert verify_js(instance.trusted_root, bundle, artifact, ALICE, instance.issuer) is None

    predicate = tmp_path / "predicate.json"
    predicate.write_text(
        json.dumps(
            {
                "buildDefinition": {
                    "buildType": "https://example.com/build/v1",
                    "externalParameters": {},
                },
                "runDetails": {"builder": {"id": "https://example.com/builder"}},
            }
        )
    )
    attested = _sigstore_cli(
        instance, "attest", "--identity-token", instance.token(ALICE), "--predicate",
        str(predicate), "--predicate-type", "https://slsa.dev/provenance/v1",
        "--bundle", str(tmp_path / "cli.intoto.json"), str(artifact),
    )  # fmt: skip
    assert attested.returncode == 0, attested.stderr
    verified_dsse = _sigstore_cli(
        instance, "verify", "identity", "--bundle", str(tmp_path / "cli.intoto.json"),
        "--cert-identity", ALICE, "--cert-oidc-issuer", instance.issuer, str(artifact),
    )  # fmt: skip
    assert verified_dsse.returncode == 0, verified_dsse.stderr
    js = verify_js(
        instance.trusted_root, tmp_path / "cli.intoto.json", None, ALICE, instance.issuer
    )
    assert js is None


@pytest.mark.interop
def test_twenty_entries_with_deep_inclusion_proofs(instance: LocalInstance, tmp_path: Path) -> None:
    paths = []
    for i in range(20):
        path = tmp_path / f"file-{i:02}.txt"
        path.write_text(f"artifact {i}\n")
        paths.append(path)
    bundles = _sign_files(instance, paths)
    assert instance.entries() >= 21  # the placeholder at index 0, then ours
    depths = []
    for path, bundle in zip(paths, bundles, strict=True):
        data = json.loads(bundle.read_text())
        entry = data["verificationMaterial"]["tlogEntries"][0]
        proof = entry["inclusionProof"]
        # recompute the root from the audit path independently of the clients
        leaf = leaf_hash(base64.b64decode(entry["canonicalizedBody"]))
        hashes_ = [base64.b64decode(h) for h in proof["hashes"]]
        root = root_from_inclusion(leaf, int(proof["logIndex"]), int(proof["treeSize"]), hashes_)
        assert root == base64.b64decode(proof["rootHash"])
        depths.append(len(hashes_))
        assert verify_py(instance, bundle, path, ALICE) is None
        assert verify_js(instance.trusted_root, bundle, path, ALICE, instance.issuer) is None
    assert max(depths) >= 4  # a tree of more than 16 leaves


@pytest.mark.interop
def test_refusals_by_both_clients(
    instance: LocalInstance, other_instance: LocalInstance, tmp_path: Path
) -> None:
    artifact = tmp_path / "good.txt"
    artifact.write_text("good\n")
    [bundle] = _sign_files(instance, [artifact])
    tampered = tmp_path / "tampered.txt"
    tampered.write_text("good!\n")
    cases = {
        "tampered file": (instance, tampered, ALICE, instance.issuer),
        "wrong identity": (instance, artifact, "https://example.com/mallory", instance.issuer),
        "identity prefix": (instance, artifact, "https://example.com/alic", instance.issuer),
        "wrong issuer": (instance, artifact, ALICE, "https://token.actions.githubusercontent.com"),
        "another instance's root": (other_instance, artifact, ALICE, instance.issuer),
    }
    for name, (local, path, identity, issuer) in cases.items():
        assert verify_py(local, bundle, path, identity, issuer) is not None, name
        assert verify_js(local.trusted_root, bundle, path, identity, issuer) is not None, name
    # and a bundle made by the other instance, checked against this one
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("foreign\n")
    [foreign_bundle] = _sign_files(other_instance, [foreign])
    assert verify_py(other_instance, foreign_bundle, foreign, ALICE) is None
    reason = verify_py(instance, foreign_bundle, foreign, ALICE, other_instance.issuer)
    assert reason is not None
    js = verify_js(instance.trusted_root, foreign_bundle, foreign, ALICE, other_instance.issuer)
    assert js is not None


def _csr(key: ec.EllipticCurvePrivateKey) -> str:
    from cryptography import x509

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def _request_cert(local: LocalInstance, token: str, csr: str) -> requests.Response:
    return requests.post(
        f"{local.url}/api/v2/signingCert",
        json={"certificateSigningRequest": csr},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_forged_tokens_get_no_certificate(instance: LocalInstance) -> None:
    csr = _csr(ec.generate_private_key(ec.SECP256R1()))
    state = instance.state
    now = datetime.datetime.now(datetime.timezone.utc)
    forged = {
        "wrong key": oidc.mint(ec.generate_private_key(ec.SECP256R1()), state.issuer_url, ALICE),
        "wrong audience": oidc.mint(state.keys["issuer"], state.issuer_url, ALICE, audience="x"),
        "expired": oidc.mint(
            state.keys["issuer"],
            state.issuer_url,
            ALICE,
            now=now - datetime.timedelta(hours=1),
        ),
        "wrong issuer": oidc.mint(state.keys["issuer"], "https://evil.example", ALICE),
        "not a JWT": "not-a-token",
    }
    reasons = {
        "wrong key": "does not verify against the issuer's key",
        "wrong audience": "audience 'x' is not 'sigstore'",
        "expired": "token has expired",
        "wrong issuer": "is not",
        "not a JWT": "malformed token",
    }
    for name, token in forged.items():
        answer = _request_cert(instance, token, csr)
        assert answer.status_code == 401, name
        assert reasons[name] in answer.json()["message"], name
    assert _request_cert(instance, instance.token(ALICE), csr).status_code == 201


def test_bad_requests_are_refused(instance: LocalInstance) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    good_csr = base64.b64decode(_csr(key)).decode()
    # a CSR whose signature does not match its key: no proof of possession
    lines = good_csr.splitlines()
    body = base64.b64decode("".join(lines[1:-1]))
    broken = body[:-8] + bytes(8)
    pem = (
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.b64encode(broken).decode()
        + "\n-----END CERTIFICATE REQUEST-----\n"
    )
    answer = _request_cert(instance, instance.token(ALICE), base64.b64encode(pem.encode()).decode())
    assert answer.status_code == 400
    # a subject that is neither a URI nor an email cannot be certified
    answer = _request_cert(instance, instance.token("alice"), _csr(key))
    assert answer.status_code == 400
    assert "neither a URI nor an email" in answer.json()["message"]
    # a hashedrekord whose signature does not verify
    chain = _request_cert(instance, instance.token(ALICE), _csr(key)).json()
    leaf = chain["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
    digest = hashlib.sha256(b"x").hexdigest()
    entry = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest}},
            "signature": {
                "content": base64.b64encode(key.sign(b"other", ec.ECDSA(hashes.SHA256()))).decode(),
                "publicKey": {"content": base64.b64encode(leaf.encode()).decode()},
            },
        },
    }
    answer = requests.post(f"{instance.url}/api/v1/log/entries", json=entry, timeout=30)
    assert answer.status_code == 400
    assert "does not verify" in answer.json()["message"]
    # the same entry twice: 409
    good = key.sign(b"x", ec.ECDSA(hashes.SHA256()))
    entry["spec"]["signature"]["content"] = base64.b64encode(good).decode()  # type: ignore[index]
    first = requests.post(f"{instance.url}/api/v1/log/entries", json=entry, timeout=30)
    assert first.status_code == 201
    again = requests.post(f"{instance.url}/api/v1/log/entries", json=entry, timeout=30)
    assert again.status_code == 409
    # reading it back: by UUID and by index
    uuid, value = next(iter(first.json().items()))
    by_uuid = requests.get(f"{instance.url}/api/v1/log/entries/{uuid}", timeout=30).json()
    by_index = requests.get(
        f"{instance.url}/api/v1/log/entries", params={"logIndex": value["logIndex"]}, timeout=30
    ).json()
    assert by_uuid[uuid]["body"] == by_index[uuid]["body"] == value["body"]
    info = requests.get(f"{instance.url}/api/v1/log", timeout=30).json()
    assert info["treeSize"] == instance.entries()
    assert requests.get(f"{instance.url}/api/v1/log/entries/00", timeout=30).status_code == 404


@pytest.mark.interop
def test_restart_keeps_keys_and_log(
    fresh_instance: Callable[..., LocalInstance], tmp_path: Path
) -> None:
    local = fresh_instance()  # this test stops and restarts it
    artifact = tmp_path / "before.txt"
    artifact.write_text("before the restart\n")
    [before] = _sign_files(local, [artifact])
    root_before = local.trusted_root.read_bytes()
    size_before = local.entries()
    assert lifecycle.down(local.state_dir)
    assert not lifecycle.status(local.state_dir).running
    lifecycle.up(local.state_dir, None, ttl=600)
    assert local.trusted_root.read_bytes() == root_before
    assert verify_py(local, before, artifact, ALICE) is None
    assert verify_js(local.trusted_root, before, artifact, ALICE, local.issuer) is None
    after = tmp_path / "after.txt"
    after.write_text("after\n")
    [after_bundle] = _sign_files(local, [after])
    assert local.entries() == size_before + 1
    index = json.loads(after_bundle.read_text())["verificationMaterial"]["tlogEntries"][0]
    assert int(index["logIndex"]) == size_before


def test_bundle_roundtrip_is_strict_model_clean(instance: LocalInstance, tmp_path: Path) -> None:
    """Entries never sit at index 0 (the placeholder does), so no zero-valued proto field is
    dropped by a writer and then refused by sigstore-python's strict reader."""
    path = tmp_path / "x.txt"
    path.write_text("x\n")
    [bundle] = _sign_files(instance, [path])
    parsed = Bundle.from_json(bundle.read_bytes())
    assert log_index(parsed) >= 1


def test_discovery_and_keys_verify_minted_tokens(instance: LocalInstance) -> None:
    discovery = requests.get(
        f"{instance.issuer}/.well-known/openid-configuration", timeout=30
    ).json()
    assert discovery["issuer"] == instance.issuer
    jwks = requests.get(discovery["jwks_uri"], timeout=30).json()
    [key] = jwks["keys"]
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(base64.urlsafe_b64decode(key["x"] + "=="), "big"),
        int.from_bytes(base64.urlsafe_b64decode(key["y"] + "=="), "big"),
        ec.SECP256R1(),
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    claims = oidc.verify(instance.token(ALICE), numbers.public_key(), instance.issuer, now)
    assert claims["sub"] == ALICE


def _consistent(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2, written independently of the instance's proof generator."""
    from attest.instance.merkle import node_hash

    if old_size == new_size:
        return old_root == new_root and not proof
    if old_size & (old_size - 1) == 0:
        proof = [old_root, *proof]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def test_consistency_proofs(instance: LocalInstance, tmp_path: Path) -> None:
    paths = [tmp_path / f"c{i}.txt" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_text(f"{i}\n")
    old = requests.get(f"{instance.url}/api/v1/log", timeout=30).json()
    _sign_files(instance, paths)
    new = requests.get(f"{instance.url}/api/v1/log", timeout=30).json()
    assert new["treeSize"] == old["treeSize"] + 3
    answer = requests.get(
        f"{instance.url}/api/v1/log/proof",
        params={"firstSize": old["treeSize"], "lastSize": new["treeSize"]},
        timeout=30,
    ).json()
    proof = [bytes.fromhex(h) for h in answer["hashes"]]
    old_root, new_root = bytes.fromhex(old["rootHash"]), bytes.fromhex(new["rootHash"])
    assert _consistent(old["treeSize"], new["treeSize"], old_root, new_root, proof)
    assert not _consistent(old["treeSize"], new["treeSize"], new_root, new_root, proof)
    bad = requests.get(f"{instance.url}/api/v1/log/proof", params={"firstSize": 0}, timeout=30)
    assert bad.status_code == 400


def _integrated(bundle: Path) -> datetime.datetime:
    entry = json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"][0]
    return datetime.datetime.fromtimestamp(int(entry["integratedTime"]), datetime.timezone.utc)


def _in_july(moment: datetime.datetime) -> bool:
    """On the July instance's clock: it started at JULY and runs no longer than a day."""
    return JULY <= moment < JULY + datetime.timedelta(days=1)


@pytest.mark.interop
def test_a_july_instance_signs_in_july_and_both_clients_verify(
    july_instance: LocalInstance, tmp_path: Path
) -> None:
    """Unmodified sigstore-python signs against an instance whose clock is shifted into the
    past; what it signs is dated then, and sigstore-python and sigstore-js both verify it (they
    check the chain at the log's integrated time, the client's expiry at the real now)."""
    from cryptography import x509

    artifact = tmp_path / "app-1.0.tar.gz"
    artifact.write_bytes(b"signed in July\n")
    [bundle] = _sign_files(july_instance, [artifact])
    assert _in_july(_integrated(bundle))
    material = json.loads(bundle.read_text())["verificationMaterial"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(material["certificate"]["rawBytes"]))
    assert _in_july(leaf.not_valid_before_utc)
    [sct] = leaf.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    assert _in_july(sct.timestamp.replace(tzinfo=datetime.timezone.utc))
    # valid until past the real now: sigstore-python refuses to sign with an expired one
    assert leaf.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc)
    root = json.loads(july_instance.trusted_root.read_text())
    start_ = root["certificateAuthorities"][0]["validFor"]["start"]
    assert start_.startswith("2026-07-14T23:00:")  # an hour before the state's first moment
    assert verify_py(july_instance, bundle, artifact, ALICE) is None
    js = verify_js(july_instance.trusted_root, bundle, artifact, ALICE, july_instance.issuer)
    assert js is None

    built = (
        StatementBuilder()
        .subjects([Subject(name=artifact.name, digest={"sha256": "0" * 64})])
        .predicate_type("https://example.com/test-predicate/v1")
        .predicate({"built": True})
        .build()
    )
    with _context(july_instance).signer(IdentityToken(july_instance.token(ALICE))) as signer:
        dsse = signer.sign_dsse(built)
    dsse_path = tmp_path / "statement.sigstore.json"
    dsse_path.write_text(dsse.to_json())
    assert _in_july(_integrated(dsse_path))
    july_instance.verifier().verify_dsse(
        dsse, Identity(identity=ALICE, issuer=july_instance.issuer)
    )
    js = verify_js(july_instance.trusted_root, dsse_path, None, ALICE, july_instance.issuer)
    assert js is None


@pytest.mark.network
def test_a_shifted_ca_dates_on_its_clock_and_checks_tokens_on_the_real_one(
    tmp_path: Path,
) -> None:
    state = lifecycle.prepare(tmp_path / "state", None, JULY)
    assert state.clock_offset < datetime.timedelta(days=-1)
    server = Instance(state)
    now = datetime.datetime.now(datetime.timezone.utc)
    fresh = oidc.mint(state.keys["issuer"], state.issuer_url, ALICE)
    csr = {"certificateSigningRequest": _csr(ec.generate_private_key(ec.SECP256R1()))}
    answer = server.signing_cert({"Authorization": f"Bearer {fresh}"}, csr)
    from cryptography import x509

    pem = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
    leaf = x509.load_pem_x509_certificate(pem.encode())
    assert _in_july(leaf.not_valid_before_utc)
    window = leaf.not_valid_after_utc - now
    assert datetime.timedelta(minutes=9) < window <= datetime.timedelta(minutes=11)
    # a token dated on the instance's clock has expired on the real one: refused
    july_token = oidc.mint(state.keys["issuer"], state.issuer_url, ALICE, now=state.now())
    with pytest.raises(ApiError, match="token has expired"):
        server.signing_cert({"Authorization": f"Bearer {july_token}"}, csr)
