"""Property tests for every parser of untrusted input: whatever the bytes, the parser gives a
result or its own typed error (the one the CLI maps to exit 1 or 2), never an unhandled
exception (which would be exit 3 with a traceback under -v, or worse, an allow).

Inputs are of two kinds: arbitrary data (text, bytes, JSON, YAML, TOML), and a real, valid
example with one random subtree replaced or removed, which reaches the code behind the first
type check. Sizes are bounded and examples capped so that the file runs in well under a minute;
hypothesis' database is off, so every run is the same amount of work.

Typed errors, per parser:
- bundles (the gate's `Collector`): none at all, a bad bundle is a `Problem` (a deny);
- statements: `InvalidAttestation`; and the gate's checks judge any statement that parses
  without raising;
- gate policies: `PolicyError` (and `TrustError` for the trusted root it names): exit 2;
- SLO policies and waivers: `SloPolicyError`: exit 2;
- SBOMs, lock files and requirements: `InputError`: exit 2;
- OSV records: `RecordError`;
- the decision log: findings, or `DecisionLogError` when the file cannot be read."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import tomli_w
import tomllib
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from packaging.version import Version
from sigstore.models import TrustedRoot

from attest.provenance import predicates as provenance_predicates
from attest.sbom.sources.poetrylock import PoetryLockSource
from attest.sbom.sources.pylock import PyLockSource
from attest.sbom.sources.requirements import RequirementsSource
from attest.sbom.sources.uvlock import UvLockSource
from attest.scan import stage as scan_stage
from tests import signed_release as g
from tests.conftest import SBOM_FIXTURES, LocalInstance
from verify import bundle_form, decision_log, gate, slo
from verify.certificate import Signer
from verify.errors import AttestError, ExitCode
from verify.evidence import Attestation, Collector, Evidence, Signed
from verify.formats.predicates import KINDS, InvalidAttestation
from verify.formats.statement import Statement
from verify.interface import Context
from verify.osv import records as osv
from verify.policy import parse_policy
from verify.trust import load_trust

Json = Any
ISSUER = "https://issuer.example"


def _strict_policy() -> dict[str, Any]:
    """The gate tests' strict policy (every check applies), on the embedded production root."""
    local = cast("LocalInstance", SimpleNamespace(issuer=ISSUER, trusted_root="unused.json"))
    return {**g.strict_policy(local), "trust": "production"}


# ATTEST_PROPERTY_EXAMPLES=2000 for a longer hunt; the default keeps the file under a minute.
EXAMPLES = int(os.environ.get("ATTEST_PROPERTY_EXAMPLES", "60"))
QUICK = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(QUICK, max_examples=max(1, EXAMPLES // 2))

# --- strategies --------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["", "1.0", "2026-13-45", "2026-01-01T00:00:00Z", "sha256:", "0" * 64])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


def _paths(doc: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, template: Json, values: st.SearchStrategy[Json] = JSON) -> Json:
    """The template with one to three subtrees replaced by random values, or removed."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(values)
    return doc


def _plain(value: Json) -> Json:
    """Something tomli_w can write (no nulls)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value if v is not None]
    if isinstance(value, float) and value != value:
        return 0.5
    return value


TOML_VALUES = st.recursive(
    st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10)
    | st.sampled_from(["1.0", "==1", "sha256:" + "0" * 64, "https://x", "../x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)  # fmt: skip

# --- bundles ---------------------------------------------------------------------------------------

BUNDLE_TEMPLATE: Json = {
    "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
    "verificationMaterial": {
        "certificate": {"rawBytes": "MIIB"},
        "tlogEntries": [
            {
                "logIndex": "1",
                "logId": {"keyId": "nd8WXftD18EexoW00U6TDARELAxQLKWKu401ElXXzsM="},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": "1795398251",
                "inclusionPromise": {"signedEntryTimestamp": "MEYCIQ=="},
                "inclusionProof": {
                    "logIndex": "1",
                    "rootHash": "YLclHH31COtrLujLvwil2dZ35c9AM6oAxXvExd1RWUE=",
                    "treeSize": "2",
                    "hashes": ["lTY+qoboz5Ogv2f6Z0F5/hfi4xeA/kdJCXHuNX4lZw8="],
                    "checkpoint": {"envelope": "origin\n2\nYLcl\n\n— origin AAAA\n"},
                },
                "canonicalizedBody": "eyJ9",
            }
        ],
        "timestampVerificationData": {"rfc3161Timestamps": []},
    },
    "dsseEnvelope": {
        "payload": "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==",
        "payloadType": "application/vnd.in-toto+json",
        "signatures": [{"sig": "MEUC"}],
    },
}


@pytest.fixture(scope="module")
def root() -> TrustedRoot:
    return load_trust("production", None).root


@FEW
@given(
    content=st.binary(max_size=300)
    | JSON.map(lambda d: json.dumps(d).encode())
    | mutated(BUNDLE_TEMPLATE).map(lambda d: json.dumps(d).encode())
    | mutated(BUNDLE_TEMPLATE).map(
        lambda d: json.dumps({**d, "messageSignature": d.pop("dsseEnvelope", None)}).encode()
    )
)
def test_bundles_are_evidence_or_a_problem(
    root: TrustedRoot, tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    """A bundle beside an artifact, whatever its bytes: the gate collects a verdict on it
    (a `Problem`, which denies) and never raises."""
    dist = tmp_path_factory.mktemp("bundle")
    artifact = dist / "a.txt"
    artifact.write_bytes(b"a\n")
    (dist / "a.txt.sigstore.json").write_bytes(content)
    (dist / "other.sigstore.json").write_bytes(content)
    policy = parse_policy(yaml.safe_dump(_strict_policy()).encode(), "policy.yaml", dist)
    now = datetime.datetime.now(datetime.timezone.utc)
    evidence = Collector(root, policy, now).collect(artifact)
    assert not evidence.signatures and not evidence.attestations
    assert any(p.path.name == "a.txt.sigstore.json" for p in evidence.problems)


# --- statements and the checks that read them ------------------------------------------------------

SUBJECT = {"name": g.WHEEL, "digest": {"sha256": "ab" * 32}}
PREDICATES: dict[str, Json] = {
    KINDS["provenance"]: {
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {
                "workflow": {
                    "ref": g.REF,
                    "repository": f"https://github.com/{g.REPOSITORY}",
                    "path": ".github/workflows/release.yml",
                },
            },
            "resolvedDependencies": [{"uri": "git+https://x", "digest": {"gitCommit": "ab"}}],
        },
        "runDetails": {"builder": {"id": g.WORKFLOW}, "metadata": {"invocationId": "x"}},
    },
    KINDS["sbom"]: g.SBOM,
    KINDS["slo"]: g.slo_predicate(
        datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc),
        [
            g.finding(
                "PYSEC-1", "high", datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc)
            ),
            g.finding(
                "PYSEC-2",
                "critical",
                datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc),
                {"id": "PYSEC-2", "reason": "r", "expires": "2026-12-01"},
            ),
        ],
    ),
    KINDS["build"]: {"name": "build", "command": ["python", "-m", "build"], "materials": []},
    KINDS["vulns"]: {"scanner": {"uri": "x", "result": []}},
}


def _statement(predicate_type: str, predicate: Json) -> Json:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [SUBJECT],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


STATEMENTS = st.sampled_from(sorted(PREDICATES)).flatmap(
    lambda kind: mutated(_statement(kind, PREDICATES[kind]))
)


@QUICK
@given(
    payload=st.binary(max_size=200)
    | JSON.map(lambda d: json.dumps(d).encode())
    | STATEMENTS.map(lambda d: json.dumps(d).encode())
)
def test_statements_parse_or_are_invalid(payload: bytes) -> None:
    try:
        statement = Statement.from_json(payload)
    except InvalidAttestation:
        return
    assert statement.subjects and statement.predicate_type in set(KINDS.values())


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Context:
    """The strict policy (every check applies), on the production root, at a fixed time."""
    raw = yaml.safe_dump(_strict_policy()).encode()
    parsed = parse_policy(raw, "policy.yaml", tmp_path_factory.mktemp("policy"))
    now = datetime.datetime(2026, 11, 10, tzinfo=datetime.timezone.utc)
    return Context(parsed, load_trust("production", None), now)


ALLOWED = Signer(
    g.WORKFLOW,
    ISSUER,
    {
        "source_repository": f"https://github.com/{g.REPOSITORY}",
        "source_ref": g.REF,
        "trigger": "push",
        "runner_environment": "github-hosted",
        "build_config_uri": g.WORKFLOW,  # the workflow ran itself (no reusable-workflow caller)
    },
)


@QUICK
@given(statement=STATEMENTS)
def test_every_check_judges_any_valid_statement(context: Context, statement: Json) -> None:
    """A statement that parses, signed by an allowed signer: every check gives an outcome
    (pass or fail with reasons), none raises. The tamper corpus found three that did."""
    try:
        parsed = Statement.from_dict(statement)
    except InvalidAttestation:
        return
    when = datetime.datetime(2026, 11, 9, tzinfo=datetime.timezone.utc)
    attestation = Attestation(Path("x.sigstore.json"), ALLOWED, when, parsed)
    signature = Signed(Path(f"{g.WHEEL}.sigstore.json"), ALLOWED, when)
    evidence = Evidence(Path(g.WHEEL), "ab" * 32, (signature,), (attestation,), ())
    for check in gate.checks():
        if check.applies(context):
            outcome = check.run(evidence, context)
            assert outcome.name == check.name


# --- gate policies ---------------------------------------------------------------------------------

POLICY_TEMPLATE = _strict_policy()


def _policy_error(e: AttestError) -> bool:
    return e.exit_code == ExitCode.USAGE


@QUICK
@given(
    raw=st.binary(max_size=200)
    | st.text(max_size=200).map(str.encode)
    | JSON.map(lambda d: yaml.safe_dump(d).encode())
    | mutated(POLICY_TEMPLATE).map(lambda d: yaml.safe_dump(d).encode())
    | st.sampled_from([b"a: &a [*a]", b"- !!python/object:os.system x", b"{", b"version: 1\n" * 3])
)
def test_gate_policies_parse_or_are_policy_errors(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    try:
        policy = parse_policy(raw, "policy.yaml", tmp_path_factory.getbasetemp())
    except AttestError as e:  # PolicyError, or TrustError for the trusted root it names
        assert _policy_error(e), repr(e)
        return
    assert policy.sha256 and policy.mode in ("enforce", "audit")
    gate.explain(policy)  # what --explain-policy prints, from any policy that parsed


# --- SLO policies and waivers ----------------------------------------------------------------------

SLO_TEMPLATE: Json = {
    "windows": {"critical": 7, "high": "30d", "medium": 90, "low": 180},
    "unknown_severity": "high",
    "clock": "first-seen",
    "due_soon": 7,
    "no_fix_pauses_clock": False,
    "max_waiver_span": 90,
    "max_db_age": 7,
    "waivers": [
        {"id": "CVE-1", "package": "requests", "reason": "r", "expires": "2026-08-14",
         "granted": "2026-07-15", "approver": "a@example.com"},
    ],
}  # fmt: skip
DATES = st.dates().map(datetime.date.isoformat) | st.dates() | st.datetimes()


@QUICK
@given(data=JSON | mutated(SLO_TEMPLATE) | mutated(SLO_TEMPLATE, JSON | DATES))
def test_slo_policies_parse_or_are_slo_policy_errors(data: Json) -> None:
    try:
        policy = slo.parse_policy(data, "slo.yaml")
    except slo.SloPolicyError:
        return
    finding = slo.SloFinding(
        package="requests", version="2.31.0", id="CVE-1", aliases=(), severity="unknown",
        published=None, first_seen=datetime.datetime(2026, 7, 1, tzinfo=datetime.timezone.utc),
        fix_versions=(),
    )  # fmt: skip
    with contextlib.suppress(slo.SloPolicyError):  # a waiver longer than the span allows
        slo.evaluate([finding], policy, datetime.datetime(2026, 8, 1, tzinfo=datetime.timezone.utc))


@QUICK
@given(data=JSON | mutated({"waivers": SLO_TEMPLATE["waivers"]}, JSON | DATES))
def test_waiver_files_parse_or_are_slo_policy_errors(data: Json) -> None:
    try:
        slo.parse_waivers(data, "waivers.yaml")
    except slo.SloPolicyError:
        return


# --- SBOMs -----------------------------------------------------------------------------------------

SBOM_TEMPLATE: Json = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "metadata": {"component": {"name": "root", "version": "1", "purl": "pkg:pypi/root@1"}},
    "components": [
        {
            "name": "requests",
            "version": "2.31.0",
            "purl": "pkg:pypi/requests@2.31.0",
            "hashes": [{"alg": "SHA-256", "content": "ab" * 32}],
            "components": [{"name": "idna", "version": "3", "purl": "pkg:pypi/idna@3"}],
        },
        {"name": "x", "version": "1", "purl": "pkg:npm/x@1"},
    ],
}


def _input_error(e: AttestError) -> bool:
    return e.exit_code in (ExitCode.USAGE, ExitCode.DENIED)


SBOMS = (
    st.binary(max_size=200)
    | JSON.map(lambda d: json.dumps(d).encode())
    | mutated(SBOM_TEMPLATE).map(lambda d: json.dumps(d).encode())
)


@QUICK
@given(content=SBOMS)
def test_sboms_for_the_scan_parse_or_are_input_errors(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("sbom") / "sbom.cdx.json"
    path.write_bytes(content)
    try:
        scan_stage.read_sbom(path)
    except AttestError as e:
        assert _input_error(e), repr(e)


@QUICK
@given(content=SBOMS)
def test_sboms_for_provenance_parse_or_are_input_errors(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("sbom") / "sbom.cdx.json"
    path.write_bytes(content)
    try:
        provenance_predicates.read_sbom(path)
        provenance_predicates.sbom_dependencies(path)  # what provenance reads from it
    except AttestError as e:
        assert _input_error(e), repr(e)


# --- OSV records -----------------------------------------------------------------------------------

OSV_TEMPLATE: Json = {
    "id": "PYSEC-2026-1",
    "aliases": ["CVE-2026-1"],
    "summary": "s",
    "published": "2026-01-01T00:00:00Z",
    "modified": "2026-01-02T00:00:00Z",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "database_specific": {"severity": "HIGH"},
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "versions": ["2.31.0"],
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.0"}]}],
        }
    ],
}


@QUICK
@given(record=JSON | mutated(OSV_TEMPLATE))
@example(record={**OSV_TEMPLATE, "affected": [{**OSV_TEMPLATE["affected"][0], "ranges": 1}]})
def test_osv_records_parse_or_are_record_errors(record: Json) -> None:
    try:
        found = list(osv.entries(record))
    except osv.RecordError:
        return
    for package, entry in found:  # what the scan then does with each entry
        osv.advisory(package, entry)
        osv.affects(entry, Version("2.31.0"))
        osv.fix_versions(entry)


# --- lock files and requirements -------------------------------------------------------------------


def _toml_template(name: str) -> Json:
    for path in SBOM_FIXTURES.rglob(name):
        return tomllib.loads(path.read_text())
    raise AssertionError(f"no {name} fixture")


LOCKS: dict[str, tuple[Callable[[Path], Any], Json]] = {
    "uv.lock": (UvLockSource, _toml_template("uv.lock")),
    "pylock.toml": (PyLockSource, _toml_template("pylock.toml")),
    "poetry.lock": (PoetryLockSource, _toml_template("poetry.lock")),
}


def _toml(doc: Json) -> bytes:
    try:
        return tomli_w.dumps(_plain(doc)).encode()
    except (TypeError, ValueError):
        return b"not = [toml"


@pytest.mark.parametrize("name", sorted(LOCKS))
@FEW
@given(data=st.data())
def test_lock_files_parse_or_are_input_errors(
    tmp_path_factory: pytest.TempPathFactory, name: str, data: st.DataObject
) -> None:
    source, template = LOCKS[name]
    content = data.draw(
        st.binary(max_size=200)
        | st.text(max_size=200).map(str.encode)
        | mutated(template, TOML_VALUES).map(_toml)
    )
    path = tmp_path_factory.mktemp("lock") / name
    path.write_bytes(content)
    try:
        source(path).read()
    except AttestError as e:
        assert _input_error(e), repr(e)


REQUIREMENT_LINES = st.sampled_from(
    [
        "requests==2.31.0", "requests==2.31.0 --hash=sha256:" + "ab" * 32, "-r other.txt",
        "-r", "-c c.txt", "-e .", "-e", "--hash", "--index-url https://x", "# via flask",
        "    # via", "x @ https://example.com/x.whl", "x[extra]>=1; python_version<'3'",
        "\\", "'unterminated", "--unknown", "x==", "===1", "-e git+https://x#egg=x", "",
        "--hash=md5:00", "-r requirements.txt",
    ]
) | st.text(max_size=30)  # fmt: skip


@FEW
@given(
    lines=st.lists(REQUIREMENT_LINES, max_size=8)
    | st.binary(max_size=100).map(lambda b: [b.decode("latin-1")])
)
def test_requirements_parse_or_are_input_errors(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    directory = tmp_path_factory.mktemp("requirements")
    path = directory / "requirements.txt"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
    (directory / "other.txt").write_text("idna==3\n-r requirements.txt\n")
    try:
        RequirementsSource(path).read()
    except AttestError as e:
        assert _input_error(e), repr(e)


# --- the decision log ------------------------------------------------------------------------------


def _records(count: int) -> list[bytes]:
    path_records = [{"time": "t", "decision": "ALLOW", "n": i} for i in range(count)]
    lines = []
    prev = decision_log.GENESIS
    for seq, record in enumerate(path_records):
        chained = {**record, "seq": seq, "prev": prev}
        chained["hash"] = decision_log.record_hash(chained)
        prev = chained["hash"]
        lines.append(json.dumps(chained, sort_keys=True, separators=(",", ":")).encode())
    return lines


LOG_LINES = (
    st.binary(max_size=60)
    | JSON.map(lambda d: json.dumps(d).encode())
    | st.builds(
        lambda seq, prev, h: json.dumps({"seq": seq, "prev": prev, "hash": h}).encode(),
        JSON | st.sampled_from([float("inf"), float("-inf"), float("nan"), 10**400]),
        JSON, JSON,
    )
)  # fmt: skip


@QUICK
@example(edits=[(2, b'{"seq": Infinity, "prev": "x", "hash": "y"}')], drop=0)  # used to crash
@given(
    edits=st.lists(st.tuples(st.integers(0, 5), LOG_LINES | st.just(b"")), max_size=4),
    drop=st.integers(0, 5),
)
def test_the_decision_log_is_checked_never_crashes(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[int, bytes]], drop: int
) -> None:
    lines = _records(5)
    for at, line in edits:
        lines[at % len(lines)] = line
    if drop < len(lines) and drop % 2:
        del lines[drop]
    path = tmp_path_factory.mktemp("log") / "decisions.jsonl"
    content = b"\n".join(lines) + b"\n"
    path.write_bytes(content)
    try:
        report = decision_log.check(path)
    except decision_log.DecisionLogError:
        return
    assert report.records + (report.torn is not None) == content.count(b"\n")
    if not edits and not drop % 2:
        assert report.intact


# --- regressions: what the corpus and these properties found ------------------------------------


def _outcomes(context: Context, predicate_type: str, predicate: Json) -> dict[str, tuple[str, ...]]:
    statement = Statement.from_dict(_statement(predicate_type, predicate))
    when = datetime.datetime(2026, 11, 9, tzinfo=datetime.timezone.utc)
    attestation = Attestation(Path("x.sigstore.json"), ALLOWED, when, statement)
    evidence = Evidence(Path(g.WHEEL), "ab" * 32, (), (attestation,), ())
    return {c.name: c.run(evidence, context).failures for c in gate.checks() if c.applies(context)}


def _with(template: Json, path: tuple[Any, ...], value: Json) -> Json:
    doc = copy.deepcopy(template)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


WORKFLOW = ("buildDefinition", "externalParameters", "workflow")
PROVENANCE = PREDICATES[KINDS["provenance"]]


@pytest.mark.parametrize(
    ("predicate_type", "predicate", "check", "reason"),
    [
        (KINDS["provenance"], _with(PROVENANCE, (*WORKFLOW, "ref"), 140), "provenance", "source ref None"),
        (KINDS["provenance"], _with(PROVENANCE, WORKFLOW, "https://github.com/acme/web"), "provenance",
         "source repository None"),
        (KINDS["sbom"], {**g.SBOM, "components": {"evil-pkg": {}}}, "sbom", "malformed SBOM"),
        (KINDS["sbom"], {**g.SBOM, "components": [{"name": "x", "licenses": ["AGPL-3.0-only"]}]}, "sbom",
         "malformed SBOM"),
        (KINDS["sbom"], {**g.SBOM, "components": [{"name": "x", "licenses": {"expression": "MIT"}}]}, "sbom",
         "malformed SBOM"),
        (KINDS["sbom"], {**g.SBOM, "components": [{"name": ["evil-pkg"]}]}, "sbom", "malformed SBOM"),
        (KINDS["sbom"], {**g.SBOM, "components": [{"name": "x", "components": [{"name": "evil-pkg"}]}]},
         "sbom", "denied package evil-pkg"),
        (KINDS["slo"], _with(PREDICATES[KINDS["slo"]], ("scannedAt",), "2026-13-45T00:00:00Z"),
         "vulnerability SLOs", "month must be in 1..12"),
        # the producer's window is evidence only: the deployer's (30 days) decides, no overflow
        (KINDS["slo"], _with(PREDICATES[KINDS["slo"]], ("policy", "windows", "high"), 10**30),
         "vulnerability SLOs", "PYSEC-1 in requests 2.31.0 (high) was due 2026-10-31"),
        (KINDS["slo"], _with(PREDICATES[KINDS["slo"]], ("findings", 0, "published"), "9999-12-31T00:00:00Z"),
         "vulnerability SLOs", "publication 9999-12-31T00:00:00+00:00 is dated after the judging instant"),
    ],
)  # fmt: skip
def test_checks_refuse_what_used_to_crash_them(
    context: Context, predicate_type: str, predicate: Json, check: str, reason: str
) -> None:
    """Each of these, signed by an allowed signer, raised inside a check (exit 3 instead of a
    deny); now the check fails with a reason."""
    failures = _outcomes(context, predicate_type, predicate)[check]
    assert any(reason in f for f in failures), failures


def test_db_matching_refuses_a_component_version_python_cannot_read(
    context: Context, tmp_path: Path
) -> None:
    """A signed SBOM component whose version holds 5,000 digits: packaging raises Python's
    ValueError, not InvalidVersion, and `--db` matching ended in exit 3; now a refusal."""
    from tests.attest.scan.helpers import record, write_json_dir
    from verify.osv import database

    db = write_json_dir(
        tmp_path / "db", [record("PYSEC-1", "requests", events=[{"introduced": "0"}])]
    )
    judged = dataclasses.replace(context, advisories=database.load(db))
    when = datetime.datetime(2026, 11, 9, tzinfo=datetime.timezone.utc)
    bom = {**g.SBOM, "components": [{"name": "requests", "version": "1." + "9" * 5000}]}
    attestations = tuple(
        Attestation(
            Path(f"x{i}.sigstore.json"), ALLOWED, when, Statement.from_dict(_statement(kind, p))
        )
        for i, (kind, p) in enumerate(
            ((KINDS["sbom"], bom), (KINDS["slo"], PREDICATES[KINDS["slo"]]))
        )
    )
    evidence = Evidence(Path(g.WHEEL), "ab" * 32, (), attestations, ())
    check = next(c for c in gate.checks() if c.name == "vulnerability SLOs")
    failures = check.run(evidence, judged).failures
    assert "component 'requests' '1.9999" in " ".join(failures)
    assert any(
        f.endswith("…: not a PEP 440 version: it cannot be matched against the advisory database")
        and len(f) < 300
        for f in failures
    ), failures


@pytest.mark.parametrize(
    ("read", "name", "content", "message"),
    [
        (scan_stage.read_sbom, "sbom.cdx.json",
         b'{"bomFormat": "CycloneDX", "components": [{"name": "a", "components": null}]}',
         "components: expected a list"),
        (provenance_predicates.sbom_dependencies, "sbom.cdx.json",
         b'{"bomFormat": "CycloneDX", "components": [null]}', "components: expected a list of objects"),
        (provenance_predicates.sbom_dependencies, "sbom.cdx.json",
         b'{"bomFormat": "CycloneDX", "components": [{"purl": "pkg:pypi/a@1", "hashes": [1]}]}',
         "hashes: expected a list of objects"),
        (lambda p: UvLockSource(p).read(), "uv.lock",
         b'version = 1\n[[package]]\nname = "a"\ndependencies = [{ name = [] }]\n',
         "a dependency's 'name' is not a string"),
    ],
)  # fmt: skip
def test_inputs_that_used_to_crash_are_input_errors(
    tmp_path: Path, read: Callable[[Path], Any], name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AttestError, match=message) as raised:
        read(path)
    assert raised.value.exit_code == ExitCode.USAGE


def test_slo_policy_days_written_as_floats_or_beyond_the_calendar() -> None:
    """YAML's `7.0` is an integer to JSON Schema: it used to crash `_days`. A window of 10**30
    days used to overflow the due-date arithmetic: now a policy error (exit 2)."""
    assert slo.parse_policy({"windows": {"critical": 7.0}}, "p").windows["critical"] == 7
    with pytest.raises(
        slo.SloPolicyError, match="windows/high: 1000000000000000000000000000000 days"
    ):
        slo.parse_policy({"windows": {"high": 10**30}}, "p")


# --- the bundle's one spelling (verify/bundle_form.py) ----------------------------------------


def _with_field(value: Any) -> dict[str, Any]:
    return {"messageSignature": {"signature": value, "messageDigest": {"algorithm": "SHA2_256"}}}


@given(st.binary(max_size=200), st.sampled_from(["standard", "url-safe", "unpadded", "lines"]))
def test_every_protobuf_json_spelling_of_bytes_is_accepted(raw: bytes, form: str) -> None:
    import base64

    text = {
        "standard": base64.b64encode(raw).decode(),
        "url-safe": base64.urlsafe_b64encode(raw).decode(),
        "unpadded": base64.b64encode(raw).decode().rstrip("="),
        "lines": base64.encodebytes(raw).decode(),
    }[form]
    bundle_form.check(_with_field(text))
    bundle_form.check(
        {"verificationMaterial": {"tlogEntries": [{"logIndex": "12", "integratedTime": 7}]}}
    )


@given(st.sampled_from([0, "0", None]), st.booleans())
def test_an_inclusion_promise_over_no_integrated_time_is_refused(
    time: Any, with_time_key: bool
) -> None:
    """sigstore-python skips the promise when the time is 0 or absent: an entry whose time was
    stripped would pass on its other checks (a Rekor v2 entry has no promise, and is fine)."""
    entry: dict[str, Any] = {"logIndex": "12", "inclusionPromise": {"signedEntryTimestamp": "AA=="}}
    if with_time_key and time is not None:
        entry["integratedTime"] = time
    with pytest.raises(bundle_form.Malformed, match="an inclusion promise over no integrated"):
        bundle_form.check({"verificationMaterial": {"tlogEntries": [entry]}})
    del entry["inclusionPromise"]
    bundle_form.check({"verificationMaterial": {"tlogEntries": [entry]}})


@given(st.binary(min_size=3, max_size=200), st.sampled_from(' \t%*.,!"\\\x00é'), st.data())
def test_a_character_outside_the_alphabet_is_refused(
    raw: bytes, junk: str, data: st.DataObject
) -> None:
    import base64

    text = base64.b64encode(raw).decode()
    at = data.draw(st.integers(0, len(text)))
    with pytest.raises(bundle_form.Malformed, match=r"messageSignature\.signature: not base64"):
        bundle_form.check(_with_field(text[:at] + junk + text[at:]))


@pytest.mark.parametrize("value", [" 12", "12 ", "+12", "1e3", "0x1", "", True, 1.5, None])
def test_an_int64_spelled_otherwise_is_refused(value: Any) -> None:
    entry = {"verificationMaterial": {"tlogEntries": [{"logIndex": value}]}}
    with pytest.raises(bundle_form.Malformed, match=r"tlogEntries\.0\.logIndex: not an integer"):
        bundle_form.check(entry)


def test_a_dsse_keyid_is_free_text_but_a_log_key_id_is_bytes() -> None:
    bundle_form.check({"dsseEnvelope": {"signatures": [{"sig": "AAAA", "keyid": "my key #1"}]}})
    with pytest.raises(bundle_form.Malformed, match=r"logId\.keyId: not base64"):
        bundle_form.check({"tlogEntries": [{"logId": {"keyId": "my key #1"}}]})
