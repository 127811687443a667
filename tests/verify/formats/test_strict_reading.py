"""Issue 15's attack on the exchange-format readers: one reading of every input, or a refusal
saying why. A key repeated in one object (any depth) and a number past Python's 4,300 digits are
refused by the one JSON reader (verify/formats/strict_json.py); a CycloneDX component whose PyPI
purl says another package or version than its fields is refused by the one CycloneDX reader, for
the scan, the provenance stage and the gate alike; and a refusal quotes a signed value bounded
and escaped, whatever its length. The same through signed bundles: tests/verify/
test_gate_hostile_formats.py."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from attest.provenance import predicates as provenance
from attest.scan import stage as scan_stage
from verify.checks.attestations import _provenance_failures
from verify.checks.vulnerabilities import Scan, _future
from verify.errors import AttestError, ExitCode
from verify.formats import cyclonedx, strict_json
from verify.formats.predicates import InvalidAttestation
from verify.formats.provenance import Builder, SlsaProvenance
from verify.formats.statement import Statement, claimed_digests
from verify.policy import Provenance, _pattern
from verify.slo import SloFinding

DIGEST = "a" * 64
SLO = "https://attest-pipeline.github.io/attestation/slo-status/v1"


def _statement(predicate: str) -> bytes:
    return (
        '{"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "a.whl", "digest": '
        f'{{"sha256": "{DIGEST}"}}}}], "predicateType": "{SLO}", "predicate": {predicate}}}'
    ).encode()


# --- one JSON reader ------------------------------------------------------------------------


def _nest(inner: str, depth: int) -> str:
    """`inner` nested `depth` deep, in objects and lists by turns."""
    for level in range(depth):
        inner = f'{{"k{level}": {inner}}}' if level % 2 else f"[1, {inner}]"
    return inner


@settings(max_examples=60, deadline=None)
@given(key=st.text(max_size=3000), depth=st.integers(0, 6))
def test_a_key_repeated_at_any_depth_is_refused_and_named_in_short(key: str, depth: int) -> None:
    """Python keeps the last of two equal keys, another reader the first: the same bytes would
    be two documents. Refused wherever the object is, naming the key bounded and escaped."""
    assume(key not in ("a", "b"))  # the document's own keys: once would then be twice
    name = json.dumps(key)
    text = _nest(f'{{"a": 1, {name}: [], "b": 2, {name}: {{}}}}', depth)
    with pytest.raises(strict_json.NotJson, match="appears twice in one object") as refused:
        strict_json.loads(text)
    said = str(refused.value)
    assert len(said) < 400 and said.isprintable()
    assert strict_json.loads(_nest(f'{{"a": 1, {name}: []}}', depth)) == json.loads(
        _nest(f'{{"a": 1, {name}: []}}', depth)
    )  # once is read as json reads it


def test_every_way_of_not_being_json_is_one_error() -> None:
    cases = {
        b"[1, 2": "Expecting ',' delimiter",
        b"\xff{}": "can't decode byte 0xff",
        b"[" * 100_000 + b"]" * 100_000: "nested too deeply",
        b'{"a": ' + b"9" * 5000 + b"}": "a number too long to read (more than 4,300 digits)",
    }
    for text, reason in cases.items():
        with pytest.raises(strict_json.NotJson, match=re.escape(reason)):
            strict_json.loads(text)


def test_a_statement_holding_a_5000_digit_number_is_refused_not_a_crash() -> None:
    """Before: ValueError from int() escaped `from_json`, and the gate exited 3 for every
    artifact. Now it is a malformed statement, which still names what it claims to cover."""
    payload = _statement('{"due_soon": ' + "9" * 5000 + "}")
    with pytest.raises(InvalidAttestation) as refused:
        Statement.from_json(payload)
    assert str(refused.value) == (
        "the statement is not JSON: a number too long to read (more than 4,300 digits)"
    )
    assert claimed_digests(payload) == {("sha256", DIGEST)}


def test_a_statement_repeating_a_key_is_refused() -> None:
    """`"findings": []` after the real findings hid them from the gate (last one wins)."""
    payload = _statement('{"findings": [{"id": "PYSEC-1"}], "findings": []}')
    with pytest.raises(InvalidAttestation) as refused:
        Statement.from_json(payload)
    assert str(refused.value) == (
        "the statement is not JSON: the key 'findings' appears twice in one object"
    )
    assert claimed_digests(payload) == {("sha256", DIGEST)}  # it still denies what it names


def test_attest_refuses_a_scan_report_or_sbom_repeating_a_key(tmp_path: Path) -> None:
    report = tmp_path / "scan.json"
    report.write_text(
        '{"report_type": "urn:attest:scan-report:v1", "findings": [{"id": "PYSEC-1"}], '
        '"findings": []}'
    )
    sbom = tmp_path / "bom.json"
    sbom.write_text('{"bomFormat": "CycloneDX", "components": [{"name": "a", "name": "b"}]}')
    ledger = tmp_path / "ledger.json"
    ledger.write_text('{"format": 1, "first_seen": {}, "first_seen": {}}')
    readers = [
        (provenance.read_scan_report, report, "the scan report is not JSON: the key 'findings'"),
        (provenance.sbom_dependencies, sbom, "the SBOM is not JSON: the key 'name'"),
        (scan_stage.read_sbom, sbom, "not valid JSON (CycloneDX JSON expected): the key 'name'"),
        (scan_stage.read_ledger, ledger, "ledger is not valid JSON: the key 'first_seen'"),
    ]
    for read, path, said in readers:
        with pytest.raises(AttestError) as refused:
            read(path)
        assert str(refused.value) == f"{path}: {said} appears twice in one object"
        assert refused.value.exit_code == ExitCode.USAGE


# --- one CycloneDX identity -----------------------------------------------------------------

MISMATCHES = [
    (
        {"name": "flask", "version": "3.1.3", "purl": "pkg:pypi/flask@2.2.5"},
        "component 'flask': purl says flask@2.2.5, name/version say flask 3.1.3",
    ),
    (
        {"name": "flask", "version": "2.2.5", "purl": "pkg:pypi/werkzeug@2.2.5"},
        "component 'flask': purl says werkzeug@2.2.5, name/version say flask 2.2.5",
    ),
    (
        {"name": "flask\x1b[2J", "version": "1" * 500, "purl": "pkg:pypi/flask@2.2.5"},
        "component 'flask\\x1b[2J': purl says flask@2.2.5, name/version say flask\\x1b[2J "
        + "1" * 80 + "…",
    ),
    (  # the purl spec lower-cases the scheme: before, no purl to the gate (allowed)
        {"name": "safe", "version": "1.0", "purl": "PKG:pypi/pyyaml@5.3"},
        "component 'safe': purl says pyyaml@5.3, name/version say safe 1.0",
    ),
    (
        {"name": "safe", "version": "1.0", "purl": "Pkg:PyPI/pyyaml@5.3"},
        "component 'safe': purl says pyyaml@5.3, name/version say safe 1.0",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("component", "message"), MISMATCHES)
def test_every_reader_refuses_a_purl_that_says_another_package(
    tmp_path: Path, component: dict[str, str], message: str
) -> None:
    """`attest scan` read the purl (flask 2.2.5, overdue), the gate's `denied_packages` the
    name and version (flask 3.1.3, allowed): one component, two packages."""
    document = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [component]}
    with pytest.raises(cyclonedx.MalformedBom) as refused:
        cyclonedx.components(document)
    assert str(refused.value) == message
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(document))
    for read in (scan_stage.read_sbom, provenance.sbom_dependencies):
        with pytest.raises(AttestError) as said:
            read(path)
        assert str(said.value) == f"{path}: {message}"
        assert said.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("component", "identity"),
    [
        ({"name": "Flask_Login", "version": "0.6.3", "purl": "pkg:pypi/flask-login@0.6.3"},
         ("Flask_Login", "0.6.3")),  # PEP 503: one name
        ({"purl": "pkg:pypi/flask@2.2.5"}, ("flask", "2.2.5")),  # only the purl says it
        ({"name": "flask", "purl": "pkg:pypi/flask@2.2.5?x=1#y"}, ("flask", "2.2.5")),
        ({"name": "a", "version": "1.0+local", "purl": "pkg:pypi/a@1.0%2Blocal"}, ("a", "1.0+local")),
        ({"name": "flask", "version": "3.1.3", "purl": "pkg:npm/flask@2.2.5"}, ("flask", "3.1.3")),
    ],
)  # fmt: skip
def test_a_purl_that_agrees_gives_the_one_identity(
    tmp_path: Path, component: dict[str, str], identity: tuple[str, str]
) -> None:
    document = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [component]}
    [read] = cyclonedx.components(document)
    assert (read.name, read.version) == identity
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(document))
    scanned, _ = scan_stage.read_sbom(path)
    if cyclonedx.purl_type(component["purl"]) == "pypi":
        assert [(c.name, c.version) for c in scanned] == [
            (identity[0].lower().replace("_", "-"), identity[1])
        ]


def test_an_upper_case_purl_scheme_is_one_purl_to_every_reader(tmp_path: Path) -> None:
    """Before: `PKG:pypi/safe@1.0` was malformed to the scan (exit 2), no purl to the gate."""
    document = {"bomFormat": "CycloneDX", "components": [{"purl": "PKG:pypi/safe@1.0"}]}
    [read] = cyclonedx.components(document)
    assert (read.name, read.version, read.purl) == ("safe", "1.0", "pkg:pypi/safe@1.0")
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(document))
    scanned, _ = scan_stage.read_sbom(path)
    assert [(c.name, c.version, c.purl) for c in scanned] == [("safe", "1.0", "pkg:pypi/safe@1.0")]
    [dependency] = provenance.sbom_dependencies(path)
    assert dependency["uri"] == "pkg:pypi/safe@1.0"


# --- signed values quoted in short ----------------------------------------------------------

_SIGNED_TEXT = st.text(st.characters(codec="utf-8"), max_size=3000) | st.builds(
    lambda c, n: c * n, st.characters(), st.integers(0, 300_000)
)


def _bounded(line: str, values: int) -> None:
    """At most 1 KiB per value quoted (with the message around them), and nothing a terminal
    would act on or hide: no control, separator or other invisible character."""
    assert len(line) <= 1024 * values + 200, len(line)
    assert line.isprintable(), line[:200]


@settings(max_examples=60, deadline=None)
@given(builder=_SIGNED_TEXT, build_type=_SIGNED_TEXT, repository=_SIGNED_TEXT, ref=_SIGNED_TEXT)
def test_a_provenance_refusal_quotes_every_signed_value_in_short(
    builder: str, build_type: str, repository: str, ref: str
) -> None:
    """A builder id of 300,000 characters was printed whole: stderr and --json 1.2 MB, the
    decision log's record over its 1 MiB limit (exit 3, forced by an allowed signer)."""
    rule = Provenance(
        builder_id="https://builder.example/x",
        builder_id_pattern=_pattern("https://builder[.]example/.+", "p", "p"),
        source_repository="https://github.com/acme/web",
        ref_pattern=_pattern("refs/tags/v[0-9.]+", "p", "p"),
        build_type="https://build.example/v1",
    )
    params = {"source": {"uri": repository, "ref": ref}}
    signed = SlsaProvenance(build_type or "t", params, Builder(builder or "b"))
    failures = _provenance_failures(rule, signed)
    for line in failures:
        _bounded(line, 1)
    if len(builder) > 100:
        assert f"builder id {builder[:100]!r}… is not 'https://builder.example/x'" in failures


@settings(max_examples=40, deadline=None)
@given(ident=_SIGNED_TEXT, package=_SIGNED_TEXT, version=_SIGNED_TEXT)
def test_a_future_finding_is_refused_quoting_it_in_short(
    ident: str, package: str, version: str
) -> None:
    now = datetime.datetime(2026, 7, 15, tzinfo=datetime.timezone.utc)
    later = now + datetime.timedelta(days=5)
    finding = SloFinding(package, version, ident, (), "high", later, later, ())
    scan = Scan("x.slo.sigstore.json", now, (finding,), ())
    lines = _future(scan, now)
    assert len(lines) == 2  # its clock start and its publication
    for line in lines:
        _bounded(line, 3)
        assert "is dated after the judging instant 2026-07-15T00:00:00+00:00: refused" in line


def test_a_direct_url_json_holding_a_5000_digit_number_is_unreadable_not_a_crash() -> None:
    """An installed package's `direct_url.json` is read by `attest sbom --python`: ValueError
    from int() escaped the reader's `except JSONDecodeError` (exit 3)."""
    from attest.sbom.sources.environment import _direct_url

    warnings: list[str] = []
    assert _direct_url('{"url": ' + "9" * 5000 + "}", "pkg 1.0", warnings) == (None, set())
    assert warnings == ["pkg 1.0: unreadable direct_url.json"]
