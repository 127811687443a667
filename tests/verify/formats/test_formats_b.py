"""The exchange formats of verify/formats/ (statement, SLSA provenance, link, bundle names):
what the real stages write, the gate's reader reads back to an equal model; the real outputs
follow the formats' JSON Schemas; and the statement's schema and model agree on what they
refuse."""

from __future__ import annotations

import base64
import copy
import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from attest.provenance import predicates
from attest.provenance import stage as provenance_stage
from attest.provenance.source import github_run
from attest.sign import stage as sign_stage
from tests import signed_release as g
from tests.conftest import FIXTURES, REPO, LocalInstance
from verify.evidence import Attestation, Collector
from verify.formats import bundles
from verify.formats import schema as schema_module
from verify.formats.link import Link
from verify.formats.predicates import KINDS, PYPI_PUBLISH_V1, InvalidAttestation
from verify.formats.provenance import SlsaProvenance
from verify.formats.statement import ResourceDescriptor, Statement, Subject
from verify.policy import parse_policy
from verify.trust import load_trust

STATEMENT_SCHEMA = "in-toto-statement-v1.schema.json"


def _errors(schema: str, document: object) -> list[str]:
    return [error.message for error in schema_module.validator(schema).iter_errors(document)]


def _payload(bundle: Path) -> dict[str, Any]:
    """The statement a DSSE bundle carries, decoded without trusting it (for the schemas)."""
    raw = json.loads(bundle.read_text())
    envelope = raw["dsseEnvelope"] if "dsseEnvelope" in raw else raw["envelope"]
    payload = envelope["payload"] if "payload" in envelope else envelope["statement"]
    data: dict[str, Any] = json.loads(base64.b64decode(payload))
    return data


def _gate(local: LocalInstance, artifact: Path, predicate_type: str) -> Attestation:
    """The one attestation of `predicate_type` the gate believes for `artifact`."""
    policy = parse_policy(yaml.safe_dump(g.strict_policy(local)).encode(), "policy.yaml", Path())
    root = load_trust("pinned", local.trusted_root).root
    now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
    evidence = Collector(root, policy, now).collect(artifact)
    assert evidence.problems == ()
    [attestation] = evidence.of_type(predicate_type)
    return attestation


def _dist(directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True)
    wheel, sdist = directory / g.WHEEL, directory / g.SDIST
    wheel.write_bytes(b"the wheel\n")
    sdist.write_bytes(b"the sdist\n")
    return wheel, sdist


def _sbom(tmp_path: Path) -> Path:
    out = tmp_path / "sbom.cdx.json"
    lock = REPO / "examples" / "demo-project" / "uv.lock"
    command = [sys.executable, "-m", "attest", "sbom", "--lock"]
    subprocess.run([*command, str(lock), "--output", str(out)], check=True, capture_output=True)
    return out


def _checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "app.py").write_text("print('acme')\n")
    (repo / ".gitignore").write_text("dist/\n")
    who = ["-c", "user.name=A", "-c", "user.email=a@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "r"]):
        subprocess.run(["git", *who, *args], cwd=repo, check=True, capture_output=True)
    return repo


def _signing(local: LocalInstance) -> provenance_stage.Signing:
    return provenance_stage.Signing(
        trust_config=local.trust_config, identity_token=g.github_token(local)
    )


# -- SLSA v1 provenance --------------------------------------------------------------------


def test_github_provenance_round_trip(instance: LocalInstance, tmp_path: Path) -> None:
    """`attest provenance` in a GitHub run, with an SBOM's components: the gate reads the very
    model the stage built from the run, and the statement it signed."""
    wheel, sdist = _dist(tmp_path / "dist")
    sbom = _sbom(tmp_path)
    written = provenance_stage.provenance(
        (wheel, sdist),
        _signing(instance),
        sbom=sbom,
        environ=g.GITHUB_ENV,
        command=["attest", "provenance"],
        now=g.utc_now(),
    )
    run = github_run(g.GITHUB_ENV)
    assert run is not None
    built = predicates.github_provenance(run, g.WORKFLOW, predicates.sbom_dependencies(sbom))
    read = _gate(instance, wheel, KINDS["provenance"])
    assert read.statement == written.statement
    assert SlsaProvenance.from_dict(read.statement.predicate) == built
    assert built.to_dict() == read.statement.predicate  # nothing lost either way
    assert built.source == (f"https://github.com/{g.REPOSITORY}", g.REF)
    assert len(built.resolved_dependencies or ()) == 13  # the commit and the 12 components
    # the real sample follows the formats' schemas
    sample = _payload(written.path)
    assert _errors(STATEMENT_SCHEMA, sample) == []
    assert _errors("slsa-provenance-v1.schema.json", sample["predicate"]) == []


def test_local_provenance_round_trip(instance: LocalInstance, tmp_path: Path) -> None:
    repo = _checkout(tmp_path)
    wheel, _ = _dist(repo / "dist")
    written = provenance_stage.provenance(
        (wheel,),
        _signing(instance),
        source_dir=repo,
        environ={},
        command=["attest", "provenance", "dist/x.whl"],
        now=datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc),
    )
    read = SlsaProvenance.from_dict(_gate(instance, wheel, KINDS["provenance"]).statement.predicate)
    assert read == SlsaProvenance.from_dict(written.statement.predicate)
    assert read.to_dict() == written.statement.predicate
    assert read.metadata is not None and read.metadata.started_on == "2026-11-23T12:00:00Z"
    assert read.source == (repo.resolve().as_uri(), "refs/heads/main")
    sample = _payload(written.path)
    assert _errors(STATEMENT_SCHEMA, sample) == []
    assert _errors("slsa-provenance-v1.schema.json", sample["predicate"]) == []


@pytest.mark.parametrize("name", ["github.statement.json", "local.statement.json"])
def test_provenance_golden_samples(name: str) -> None:
    """The stage's golden outputs (tests/attest/provenance/test_provenance.py keeps them current): each
    follows the schemas and reads into the model without loss."""
    sample = json.loads((FIXTURES / "provenance" / name).read_text())
    assert _errors(STATEMENT_SCHEMA, sample) == []
    assert _errors("slsa-provenance-v1.schema.json", sample["predicate"]) == []
    assert SlsaProvenance.from_dict(sample["predicate"]).to_dict() == sample["predicate"]
    assert Statement.from_dict(sample).to_dict() == sample


def test_provenance_model_refuses_what_the_schema_refuses() -> None:
    """A value of the wrong type never reaches a check as if it were absent."""
    sample = json.loads((FIXTURES / "provenance" / "github.statement.json").read_text())
    predicate = copy.deepcopy(sample["predicate"])
    predicate["runDetails"]["builder"]["id"] = 7
    assert _errors("slsa-provenance-v1.schema.json", predicate)
    with pytest.raises(InvalidAttestation, match=r"runDetails\.builder\.id is not text"):
        SlsaProvenance.from_dict(predicate)
    predicate = copy.deepcopy(sample["predicate"])
    predicate["buildDefinition"]["resolvedDependencies"][0]["uri"] = ["x"]
    assert _errors("slsa-provenance-v1.schema.json", predicate)
    with pytest.raises(InvalidAttestation, match=r"resolvedDependencies #1: uri is not text"):
        SlsaProvenance.from_dict(predicate)


# -- in-toto link (attest build) -----------------------------------------------------------


def test_build_link_round_trip(
    instance: LocalInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _checkout(tmp_path)
    monkeypatch.chdir(repo)
    (repo / "current.py").symlink_to("app.py")  # a tracked link: recorded as the link
    subprocess.run(["git", "add", "current.py"], cwd=repo, check=True)
    command = ["sh", "-c", "mkdir -p dist && cp app.py dist/acme.tar.gz"]
    written = provenance_stage.build(command, (Path("dist"),), _signing(instance))
    assert written.path == bundles.attestation_path(Path("dist"), "build", "build")
    read = _gate(instance, Path("dist") / "acme.tar.gz", KINDS["build"])
    assert read.statement == written.statement
    link = Link.from_dict(read.statement.predicate)
    assert link == Link.from_dict(written.statement.predicate)
    assert link.to_dict() == read.statement.predicate
    assert (link.name, link.command, link.byproducts) == (
        "build",
        tuple(command),
        {"return-value": 0},
    )
    assert {m.name: m.media_type for m in link.materials} == {
        ".gitignore": None,
        "app.py": None,
        "current.py": "inode/symlink",
    }
    sample = _payload(written.path)
    assert _errors(STATEMENT_SCHEMA, sample) == []
    assert _errors("link-v0.3.schema.json", sample["predicate"]) == []


def test_link_model_refuses_a_command_that_is_not_words() -> None:
    predicate = {"name": "build", "command": ["make", 1], "materials": []}
    assert _errors("link-v0.3.schema.json", predicate)
    with pytest.raises(InvalidAttestation, match="the link's command is not a list of words"):
        Link.from_dict(predicate)


# -- in-toto Statement v1 ------------------------------------------------------------------


def test_attest_statements_round_trip(instance: LocalInstance, tmp_path: Path) -> None:
    """`attest attest --predicate sbom` and `attest sign --pep740`: the one statement model
    wrote both, the gate reads both back to the statement written."""
    wheel, _ = _dist(tmp_path / "dist")
    [sbom] = provenance_stage.attest(["sbom"], (wheel,), _signing(instance), sbom=_sbom(tmp_path))
    assert _gate(instance, wheel, KINDS["sbom"]).statement == sbom.statement
    assert _errors(STATEMENT_SCHEMA, _payload(sbom.path)) == []
    request = sign_stage.SignRequest(
        (wheel,),
        trust_config=instance.trust_config,
        identity_token=g.github_token(instance),
        pep740=True,
    )
    [signed] = sign_stage.sign(request).signed
    assert signed.bundle == bundles.signature_path(wheel)
    assert signed.publish_attestation == bundles.publish_attestation_path(wheel)
    expected = Statement((Subject(wheel.name, signed.sha256),), PYPI_PUBLISH_V1, {})
    assert _gate(instance, wheel, PYPI_PUBLISH_V1).statement == expected
    publish = _payload(signed.publish_attestation)
    assert publish["predicate"] is None  # as pypi-attestations writes it
    assert _errors(STATEMENT_SCHEMA, publish) == []


_DIGEST = "ab" * 32
_GOOD: dict[str, Any] = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "app.whl", "digest": {"sha256": _DIGEST}}],
    "predicateType": KINDS["build"],
    "predicate": {"name": "build", "command": ["make"], "materials": []},
}
_STATEMENT_CHANGES: list[tuple[str, Any]] = [
    ("_type", "https://in-toto.io/Statement/v0.1"),
    ("_type", None),
    ("extra", 1),
    ("subject", []),
    ("subject", {}),
    ("subject", [{"name": "", "digest": {"sha256": _DIGEST}}]),
    ("subject", [{"name": "a", "digest": {"gitCommit": "c" * 40}}]),
    ("subject", [{"name": "a", "digest": {"sha256": "AB" * 32}}]),
    ("subject", [{"name": "a", "digest": {"sha384": "ab" * 48, "gitCommit": "x"}}]),
    ("subject", [{"name": "a", "uri": "https://x", "digest": {"sha512": "ab" * 64}}]),
    ("subject", [{"name": "a"}]),
    ("predicateType", 3),
    ("predicate", None),
    ("predicate", []),
]


@pytest.mark.parametrize(("key", "value"), _STATEMENT_CHANGES)
def test_statement_schema_and_model_agree(key: str, value: Any) -> None:
    """Whatever the model accepts the schema accepts, and the other way round."""
    document = {**copy.deepcopy(_GOOD), key: value}
    if key == "_type" and value is None:
        del document["_type"]
    try:
        Statement.from_dict(document)
        accepted = True
    except InvalidAttestation:
        accepted = False
    assert accepted == (not _errors(STATEMENT_SCHEMA, document)), document


def test_publish_statement_without_predicate_agrees() -> None:
    publish = {**_GOOD, "predicateType": PYPI_PUBLISH_V1, "predicate": None}
    assert Statement.from_dict(publish).to_dict() == publish
    assert _errors(STATEMENT_SCHEMA, publish) == []
    del publish["predicate"]
    assert Statement.from_dict(publish).predicate == {}
    assert _errors(STATEMENT_SCHEMA, publish) == []


# -- bundle names --------------------------------------------------------------------------

_NAMES = st.text(st.characters(blacklist_characters="/\0"), min_size=1, max_size=40).filter(
    lambda n: n not in (".", "..")
)
_KINDS = st.sampled_from(sorted(KINDS))


@given(name=_NAMES, kind=_KINDS)
def test_the_gate_reads_every_bundle_name_the_stages_write(name: str, kind: str) -> None:
    """For any artifact name: the signature, the attestations and the PEP 740 file the stages
    name for it are read by the gate as bundles that may belong to it."""
    artifact = Path("/dist") / name
    written = [
        bundles.signature_path(artifact),
        bundles.attestation_path(artifact.parent, name, kind),
        bundles.publish_attestation_path(artifact),
    ]
    for path in written:
        assert path.parent == artifact.parent
        assert bundles.is_bundle(path.name)
        assert name in bundles.name_prefixes(path.name)
    assert bundles.artifact_stem(written[0].name) == name
    assert bundles.artifact_stem(written[2].name) == name
    assert bundles.signature_name(name) == written[0].name


def test_bundle_names() -> None:
    assert bundles.signature_path(Path("d/a.whl"), Path("out")) == Path("out/a.whl.sigstore.json")
    assert bundles.attestation_path(Path("d"), "acme-1.0", "slo") == Path(
        "d/acme-1.0.slo.sigstore.json"
    )
    assert bundles.name_prefixes("a.whl.x.sigstore.json") == ["a", "a.whl", "a.whl.x"]
    assert not bundles.is_bundle("a.whl") and not bundles.is_bundle("a.intoto.jsonl")


def test_resource_descriptor_round_trip() -> None:
    full = {
        "uri": "pkg:pypi/x@1",
        "digest": {"sha256": _DIGEST},
        "name": "x",
        "downloadLocation": "https://x",
        "mediaType": "text/plain",
        "content": "eA==",
        "annotations": {"k": "v"},
    }
    assert ResourceDescriptor.from_dict(full, "r").to_dict() == full
    with pytest.raises(InvalidAttestation, match="r is not a resource descriptor"):
        ResourceDescriptor.from_dict({**full, "other": 1}, "r")
