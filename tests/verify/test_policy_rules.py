"""The gate's policy, as loaded (issue 13, "the policy itself" and "whose rules"): a key given
twice is an error naming it and both lines, in every YAML from untrusted hands; a policy under
which an unsigned artifact with no evidence would pass is refused; patterns are RE2 (linear
time, still matching the WHOLE text); denied packages are PEP 440 specifiers on canonical names
and denied licenses ignore case; one decision has a bounded time. The same rules on a real
signed release: tests/verify/test_gate_policy_rules.py."""

from __future__ import annotations

import contextlib
import itertools
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from attest.cli import exit_code_for
from attest.scan import stage as scan_stage
from tests.attest.scan.helpers import record, write_pypa
from tests.attest.scan.test_offline import RECORDS, error
from verify import deadline, untrusted_yaml
from verify.certificate import Signer
from verify.checks.attestations import _provenance_failures, _sbom_failures
from verify.errors import ExitCode, InputError
from verify.formats.provenance import Builder, SlsaProvenance
from verify.identity import rule_failures
from verify.policy import DeniedPackage, Policy, PolicyError, Sbom, parse_policy

ISSUER = "https://token.actions.githubusercontent.com"
IDENTITY = "https://github.com/acme/web/.github/workflows/release.yml@refs/tags/v1.4.0"


def _policy(require: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "trust": "production",
        "identities": [{"issuer": ISSUER, "subject": IDENTITY}],
        **({"require": require} if require is not None else {}),
        **top,
    }


def _parse(policy: dict[str, Any] | str) -> Policy:
    text = policy if isinstance(policy, str) else yaml.safe_dump(policy, sort_keys=False)
    return parse_policy(text.encode(), "policy.yaml", Path())


def _refusal(policy: dict[str, Any] | str) -> str:
    with pytest.raises(PolicyError) as caught:
        _parse(policy)
    assert caught.value.exit_code == ExitCode.USAGE
    return str(caught.value)


# --- a key given twice ----------------------------------------------------------------------

TWO_IDENTITY_LISTS = f"""\
version: 1
trust: production
identities:
  - issuer: {ISSUER}
    subject: {IDENTITY}
require:
  signature: true
identities:
  - issuer: https://accounts.example.com
    subject: mallory@example.com
"""


def test_a_second_identities_key_is_an_error_naming_it_and_both_lines() -> None:
    """Before: the second list silently replaced the first, and mallory could sign."""
    message = _refusal(TWO_IDENTITY_LISTS)
    assert message.startswith("policy.yaml: not valid YAML: the key 'identities' is given twice")
    assert "on line 3 and on line 8" in message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "require:\n  sbom:\n    denied_packages: [a]\n    denied_packages: [b]\n",
            "'denied_packages'",
        ),
        ("identities:\n  - {issuer: x, subject: y, subject: z}\n", "'subject'"),
        ("a: 1\n'a': 2\n", "'a'"),
        ("1: x\n0x1: y\n", "the key 1 "),  # keys compare as the values they load as
        ("x:\n  <<: {a: 1, a: 2}\n", "'a'"),  # inside what a merge key brings in
    ],
)
def test_a_key_given_twice_anywhere_is_refused(text: str, where: str) -> None:
    with pytest.raises(untrusted_yaml.DuplicateKey, match=re.escape(where)):
        untrusted_yaml.load(text)


def test_keys_that_differ_as_values_and_merges_of_other_keys_are_not_duplicates() -> None:
    assert untrusted_yaml.load("'1': a\n1: b\n") == {"1": "a", 1: "b"}
    merged = "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: [*b, {z: 3}], w: 4}\n"
    assert untrusted_yaml.load(merged)["c"] == {"x": 1, "y": 2, "z": 3, "w": 4}


TWO_SIGNERS = f"""\
version: 1
trust: production
identities:
  - <<: {{issuer: "{ISSUER}", subject: "{IDENTITY}"}}
    <<: {{issuer: "{ISSUER}", subject: mallory@evil.example}}
"""


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # two merge keys in one mapping: the second won (the attack's policy)
        (TWO_SIGNERS, "the key 'issuer' is given twice, on line 4 and on line 5"),
        # merged mappings sharing a key: the first of the list won
        ("a: &a {s: r}\nb: &b {s: m}\nc: {<<: [*a, *b]}\n", "'s' is given twice, on line 1 and on line 2"),
        # the mapping's own key over a merged one: YAML's override, silent too
        ("a: &a {s: r}\nc:\n  <<: *a\n  s: m\n", "'s' is given twice, on line 1 and on line 4"),
        ("a: &a {s: r}\nc: {<<: [*a, *a]}\n", "'s' is given twice, on line 1, merged twice"),
        # through a merge nested in what is merged
        ("a: &a {s: r}\nb: &b {<<: *a}\nc: {<<: *b, s: m}\n", "'s' is given twice, on line 1 and on line 3"),
    ],
)  # fmt: skip
def test_a_key_given_twice_through_merge_keys_is_refused(text: str, where: str) -> None:
    """Before: each loaded, one of the two values kept silently (which one depends on how the
    merge was written)."""
    with pytest.raises(untrusted_yaml.DuplicateKey, match=re.escape(where)) as caught:
        untrusted_yaml.load(text)
    assert str(caught.value).endswith("YAML would silently keep only one")


def test_a_policy_merging_two_signers_into_one_identity_is_refused() -> None:
    message = _refusal(TWO_SIGNERS)
    assert message.startswith("policy.yaml: not valid YAML: the key 'issuer' is given twice")


def test_merge_keys_nested_past_the_depth_bound_are_refused_not_a_crash() -> None:
    """A chain of 1,100 mappings each merging the one before: PyYAML's merging recursed once per
    link (RecursionError, exit 3, before); the text is padded so the expansion bound allows it."""
    links = ", ".join(["&m0 {a: 1}", *(f"&m{i} {{<<: *m{i - 1}}}" for i in range(1, 1100))])
    text = "#" + "x" * 400_000 + f"\nk: [{links}]\nx: {{<<: *m1099}}\n"
    with pytest.raises(untrusted_yaml.YAMLBomb, match="merge keys nested too deeply"):
        untrusted_yaml.load(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("token: !!int AKIAIOSFODNN7EXAMPLE\n", "'int'"),
        ("a: 1\nexpires: 2026-13-45\n", "'timestamp'"),
        ("a: 1\nb: " + "9" * 5000 + "\n", "'int'"),  # int() refuses over 4,300 digits
    ],
)
def test_a_value_its_tag_cannot_build_is_a_yaml_error_naming_its_line(text: str, kind: str) -> None:
    """Before: ValueError from inside the loader (exit 3), its text quoting the value."""
    with pytest.raises(yaml.YAMLError) as caught:
        untrusted_yaml.load(text)
    message = str(caught.value)
    assert message.startswith(f"this value cannot be loaded as {kind}")
    assert f"line {text.count(chr(10))}," in message
    assert "AKIA" not in message and "99999" not in message


def test_a_repeated_key_is_shown_escaped_and_short() -> None:
    key = "evil\n\x1b[2J" + "k" * 500
    with pytest.raises(untrusted_yaml.DuplicateKey) as caught:
        untrusted_yaml.load(f"{{{key!r}: 1, {key!r}: 2}}".replace("'", '"'))
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and "k" * 100 not in message
    assert "both on line 1 (columns 2 and " in message


def test_the_bounds_are_still_checked_before_anything_is_built() -> None:
    """A bomb whose keys repeat is refused as a bomb, by the event pass, before any key is
    compared."""
    bomb = (
        "a: &a ["
        + ",".join(["x"] * 100)
        + "]\n"
        + "".join(
            f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n"
            for p, c in itertools.pairwise("abcdefghij")
        )
    )
    with pytest.raises(untrusted_yaml.YAMLBomb):
        untrusted_yaml.load(bomb + bomb)


def test_waiver_and_slo_files_refuse_a_key_given_twice(tmp_path: Path) -> None:
    slo = tmp_path / "slo.yaml"
    slo.write_text("version: 1\nmax_waiver_span: 90d\nmax_waiver_span: 9000d\n")
    with pytest.raises(InputError, match="the key 'max_waiver_span' is given twice, on line 2"):
        scan_stage.load_policy(slo)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers: []\nwaivers:\n  - {id: X, reason: r, expires: 2026-01-01}\n")
    with pytest.raises(InputError, match="the key 'waivers' is given twice, on line 1 and on li"):
        scan_stage.load_policy(None, [waivers], tmp_path)


def test_an_advisory_record_giving_a_key_twice_is_an_error_naming_it(tmp_path: Path) -> None:
    """A second `affected:` would hide the first's ranges. The real PyPA database repeats no
    key in any of its 7,080 records (tests/attest/scan/test_real_db.py loads all of them)."""
    db = write_pypa(tmp_path / "db", RECORDS)
    path = db / "vulns" / "alpha" / "PYSEC-2026-9.yaml"
    text = yaml.safe_dump(record("PYSEC-2026-9", "alpha", versions=["1.0"]), sort_keys=False)
    path.write_text(text + "id: PYSEC-2026-10\n")
    message = error(db, tmp_path)
    assert "vulns/alpha/PYSEC-2026-9.yaml: not valid YAML: the key 'id' is given twice" in message


# --- a policy must demand evidence ----------------------------------------------------------

DEMANDS = {
    "provenance": {},
    "sbom": {},
    "vulnerabilities": {},
    "build_link": {},
}


@pytest.mark.parametrize("mode", ["enforce", "audit"])
@pytest.mark.parametrize(
    "require",
    [{"signature": False}, {"signature": False, "max_attestation_age": "30d"}],
)
def test_a_policy_that_would_allow_anything_is_refused(mode: str, require: dict[str, Any]) -> None:
    message = _refusal(_policy(require, mode=mode))
    assert "policy.yaml: this policy would allow anything" in message
    assert "an unsigned artifact with no evidence would pass" in message


@pytest.mark.parametrize(
    "kinds", [c for n in range(len(DEMANDS) + 1) for c in itertools.combinations(DEMANDS, n)]
)
@pytest.mark.parametrize("signature", [True, False, None])
def test_a_policy_is_refused_exactly_when_nothing_must_be_proven(
    kinds: tuple[str, ...], signature: bool | None
) -> None:
    require: dict[str, Any] = {kind: DEMANDS[kind] for kind in kinds}
    if signature is not None:
        require["signature"] = signature
    if signature is False and not kinds:
        assert "this policy would allow anything" in _refusal(_policy(require))
    else:
        assert _parse(_policy(require)).require.signature is (signature is not False)


def test_the_default_policy_requires_a_signature() -> None:
    assert _parse(_policy()).require.signature is True


# --- patterns: RE2, linear time, whole match ------------------------------------------------


def _rule(pattern: str) -> Any:
    return _parse(_policy(identities=[{"issuer": ISSUER, "subject_pattern": pattern}])).identities[
        0
    ]


def test_a_catastrophic_pattern_gives_a_verdict() -> None:
    """`(a+)+$` against 34+ a's and one other character: exponential for Python's `re` (no
    verdict within 15 s before), linear for RE2. The verdict: no match, and no partial one."""
    who = Signer("a" * 40 + "@example.com", ISSUER, {})
    assert rule_failures(_rule("(a+)+$"), who) == [
        f"identity {who.identity!r} does not match the pattern '(a+)+$'"
    ]
    hinted = rule_failures(_rule("(a+)+"), who)  # matches a part: the hint is searched by RE2
    assert hinted[0].endswith("(it matches only part of it; patterns are anchored)")


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "invalid escape sequence: \\1"),
        (r"https://github\.com/(?=acme).+", "invalid perl operator: (?="),
        (r"(?<!evil)acme/.+", "invalid perl operator: (?<!"),
        ("a{5000}", "invalid repetition size"),
        ("(", "missing ): ("),
    ],
)
def test_a_pattern_re2_cannot_run_is_a_policy_error_naming_it(pattern: str, why: str) -> None:
    message = _refusal(_policy(identities=[{"issuer": ISSUER, "subject_pattern": pattern}]))
    assert f"identities/0/subject_pattern: {pattern!r} is not a valid regular expression" in message
    assert why in message and "no backreferences, lookahead or lookbehind" in message


@pytest.mark.parametrize(
    ("where", "policy"),
    [
        ("identities/0/extensions", _policy(identities=[
            {"issuer": ISSUER, "subject": IDENTITY, "extensions": {"source_ref_pattern": r"(\w)\1"}}
        ])),
        ("identities/0/github/ref_pattern", _policy(identities=[
            {"issuer": ISSUER, "github": {"repository": "acme/web", "ref_pattern": r"(?=x)"}}
        ])),
        ("require/provenance", _policy({"provenance": {"builder_id_pattern": r"(?!x)"}})),
        ("require/provenance", _policy({"provenance": {"ref_pattern": r"(x)\1"}})),
    ],
)  # fmt: skip
def test_every_pattern_of_a_policy_is_compiled_by_re2(where: str, policy: dict[str, Any]) -> None:
    assert f"policy.yaml: {where}: " in _refusal(policy)


def test_patterns_still_match_the_whole_text() -> None:
    rule = _rule(r"https://github\.com/acme/web/.+@refs/tags/v1")
    assert rule.matches_subject(IDENTITY.removesuffix(".4.0"))
    assert not rule.matches_subject(IDENTITY)  # only a prefix matches
    assert not rule.matches_subject("x" + IDENTITY.removesuffix(".4.0"))


def test_the_github_shorthand_is_literal_where_it_names_things() -> None:
    workflow = ".github/workflows/re lease (1).yml"
    policy = _policy(identities=[{"issuer": ISSUER, "github": {
        "repository": "acme/web", "workflow": workflow, "ref_pattern": "refs/tags/v.+",
    }}])  # fmt: skip
    rule = _parse(policy).identities[0]
    assert rule.matches_subject(f"https://github.com/acme/web/{workflow}@refs/tags/v1")
    for wrong in (
        f"https://githubXcom/acme/web/{workflow}@refs/tags/v1",
        f"https://github.com/acme/web/{workflow.replace('.yml', 'Xyml')}@refs/tags/v1",
        f"https://github.com/acme/web/{workflow}@refs/heads/v1",
    ):
        assert not rule.matches_subject(wrong), wrong


def test_text_that_is_not_valid_unicode_matches_no_pattern() -> None:
    """A signed predicate's JSON may hold a lone surrogate ("\\ud800"): no match, a failure,
    not a crash."""
    rule = _parse(_policy({"provenance": {"ref_pattern": ".*"}})).require.provenance
    assert rule is not None
    predicate = SlsaProvenance(
        build_type="https://example/build",
        external_parameters={"workflow": {"ref": "v\ud800"}},
        builder=Builder("https://example/builder", None, None),
    )
    assert _provenance_failures(rule, predicate) == ["source ref 'v\\ud800' does not match '.*'"]


# --- denied packages and licenses -----------------------------------------------------------


def _sbom_rule(packages: tuple[str, ...] = (), licenses: tuple[str, ...] = ()) -> Sbom:
    lists = {"denied_packages": list(packages), "denied_licenses": list(licenses)}
    sbom = _parse(_policy({"sbom": lists}))
    assert sbom.require.sbom is not None
    return sbom.require.sbom


def _bom(*components: tuple[str, str] | dict[str, Any]) -> dict[str, Any]:
    return {
        "components": [
            c if isinstance(c, dict) else {"name": c[0], "version": c[1]} for c in components
        ]
    }


@pytest.mark.parametrize(
    ("spec", "name", "denied", "allowed"),
    [
        # the older form reads as ==, so by PEP 440 2.31 is 2.31.0 (before: not denied)
        ("requests@2.31", "Requests", ["2.31.0", "2.31"], ["2.31.1", "2.3.1"]),
        ("pyyaml<5.4", "PyYAML", ["5.3.1", "5.3rc1", "3.10"], ["5.4", "5.4.1", "6.0"]),
        ("PyYAML==5.3", "pyyaml", ["5.3", "5.3.0", "5.3+local"], ["5.3.1", "5.30"]),
        ("py_yaml>=5,!=5.3.*", "Py.YAML", ["5.0", "5.4.1"], ["5.3.1", "4.9"]),
        ("pyyaml", "PYYAML", ["0.1", "99", "", "not-a-version"], []),  # a name: every version
    ],
)
def test_denied_packages_are_pep_440_specifiers_on_canonical_names(
    spec: str, name: str, denied: list[str], allowed: list[str]
) -> None:
    failures = _sbom_failures(_sbom_rule((spec,)), _bom(*[(name, v) for v in denied + allowed]))
    assert failures == [f"denied package {name} {v} (policy: {spec})" for v in denied]


@pytest.mark.parametrize("spec", ["requests<1." + "9" * 5000, "requests@" + "9" * 5000])
def test_a_denied_version_python_cannot_read_is_a_policy_error(spec: str) -> None:
    """A number of more than 4,300 digits: packaging raises Python's ValueError, not
    InvalidVersion, when the gate compares it (exit 3 before); now refused as the policy loads."""
    message = _refusal(_policy({"sbom": {"denied_packages": [spec]}}))
    assert message.endswith(
        ": a version holds a number of more than 4,300 digits, which Python cannot read"
    )


def test_a_component_version_python_cannot_read_is_denied_with_a_short_excerpt() -> None:
    [failure] = _sbom_failures(_sbom_rule(("pyyaml<5.4",)), _bom(("PyYAML", "1." + "9" * 5000)))
    assert "(policy: pyyaml<5.4; version '1.999" in failure
    assert failure.endswith("'… is not a PEP 440 version, so it cannot be shown outside <5.4)")


@pytest.mark.parametrize("version", ["latest", "1.0-custom+a+b", ""])
def test_a_version_that_is_not_pep_440_is_denied_with_the_reason(version: str) -> None:
    [failure] = _sbom_failures(_sbom_rule(("pyyaml<5.4",)), _bom(("PyYAML", version)))
    shown = f"version {version!r}" if version else "no version"
    assert failure == (
        f"denied package PyYAML {version} (policy: pyyaml<5.4; {shown} is not a PEP 440 "
        "version, so it cannot be shown outside <5.4)"
    )


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("pyyaml<<5", "not a package name with an optional PEP 440 version specifier"),
        ("requests@latest", "name@version takes a PEP 440 version after the @"),
        ("py yaml", "not a package name"),
        ("pyyaml[c]<5", "no extras, markers or URL"),
        ('pyyaml<5; python_version < "3.9"', "no extras, markers or URL"),
    ],
)
def test_a_bad_specifier_is_a_policy_error_naming_it(spec: str, why: str) -> None:
    message = _refusal(_policy({"sbom": {"denied_packages": ["ok", spec]}}))
    assert f"policy.yaml: require/sbom/denied_packages/1: {spec!r}: " in message
    assert why in message


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        # before: read as requests====2.31.0, an arbitrary equality with "=2.31.0": no match
        ("requests@==2.31.0", "name@version takes a PEP 440 version after the @ (requests@2.31.0)"),
        ("requests@=2.31.0", "name@version takes a PEP 440 version after the @"),
        ("requests@>=2", "write a specifier without the @ (requests==2.31.0, requests<2.32)"),
        ("requests===2.31", "=== compares the text of versions, not versions (===2.31 is not 2.31.0)"),
        ("requests>2.32,<2.0", "no version is both >2.32 and <2.0: this entry would deny nothing"),
        ("requests>=2.0,<2.0", "no version is both >=2.0 and <2.0"),
        ("requests>2.0,<=2.0", "no version is both >2.0 and <=2.0"),
        ("requests==1.0,>=1.1,<3", "no version is both >=1.1 and ==1.0"),
        ("requests~=2.2,<2.1", "no version is both ~=2.2 and <2.1"),
    ],
)  # fmt: skip
def test_a_denied_package_that_would_deny_nothing_meant_is_refused(spec: str, why: str) -> None:
    message = _refusal(_policy({"sbom": {"denied_packages": ["ok", spec]}}))
    assert f"policy.yaml: require/sbom/denied_packages/1: {spec!r}: " in message
    assert why in message


def test_denied_licenses_match_spdx_ids_whatever_their_case() -> None:
    rule = _sbom_rule(licenses=("GPL-3.0-only", "mit"))
    bom = _bom(
        {"name": "a", "version": "1", "licenses": [{"expression": "Apache-2.0 OR gpl-3.0-ONLY"}]},
        {"name": "b", "version": "1", "licenses": [{"license": {"id": "MIT"}}]},
        {"name": "c", "version": "1", "licenses": [{"license": {"id": "LGPL-3.0-only"}}]},
    )
    assert _sbom_failures(rule, bom) == [
        "a 1 has denied license gpl-3.0-ONLY",
        "b 1 has denied license MIT",
    ]


WORD = st.from_regex(r"[a-z][a-z0-9]{0,4}", fullmatch=True)
SEPARATOR = st.sampled_from(["-", "_", ".", "--", "_.", "-_-"])
OPERATORS = {
    "<": Version.__lt__,
    "<=": Version.__le__,
    ">": Version.__gt__,
    ">=": Version.__ge__,
    "==": Version.__eq__,
    "!=": Version.__ne__,
    "@": Version.__eq__,  # the older name@version form
}


@st.composite
def spellings(draw: st.DrawFn, words: list[str]) -> str:
    """One way of writing the name made of `words`: any separators, any letter case."""
    seps = [draw(SEPARATOR) for _ in words[1:]]
    text = words[0] + "".join(s + w for s, w in zip(seps, words[1:], strict=True))
    upper = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if u else c for c, u in zip(text, upper, strict=True))


VERSION = st.lists(st.integers(0, 12), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_a_denied_spec_denies_exactly_the_matching_components(data: st.DataObject) -> None:
    """For generated names in any spelling and final-release versions: a component is denied
    iff its canonical name is the spec's and its version compares as the operator says (the
    oracle is Version ordering, not the specifier code under test)."""
    words = data.draw(st.lists(WORD, min_size=1, max_size=3))
    others = data.draw(st.lists(st.lists(WORD, min_size=1, max_size=3), max_size=3))
    operator, bound = data.draw(st.sampled_from(sorted(OPERATORS))), data.draw(VERSION)
    spec = data.draw(spellings(words)) + operator + bound
    components = data.draw(
        st.lists(
            st.tuples(st.sampled_from([words, *others]).flatmap(spellings), VERSION),
            max_size=8,
        )
    )

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    expected = [
        f"denied package {name} {version} (policy: {spec})"
        for name, version in components
        if canonical(name) == "-".join(words)
        and OPERATORS[operator](Version(version), Version(bound))
    ]
    assert _sbom_failures(_sbom_rule((spec,)), _bom(*components)) == expected


def test_a_denied_package_parses_once_at_load_time() -> None:
    entry = DeniedPackage.parse("Py_YAML<5.4")
    assert (entry.name, str(entry.versions), entry.text) == ("py-yaml", "<5.4", "Py_YAML<5.4")
    assert _sbom_rule(("Py_YAML<5.4",)).denied_packages == (entry,)


BOUND = st.sampled_from(["<", "<=", ">", ">=", "==", "~="])
NEAR = ["", ".post1", ".dev0", "rc1", "+local", ".0", ".0.1"]


@settings(max_examples=300, deadline=None, database=None)
@given(bounds=st.lists(st.tuples(BOUND, VERSION), min_size=1, max_size=4))
def test_a_specifier_set_refused_as_empty_is_empty(bounds: list[tuple[str, str]]) -> None:
    """For random sets of bounds: refused as denying nothing implies that no version near any
    bound (itself, its pre-, post-, dev- and local releases) is in the set; the oracle is
    packaging's own `contains`, pre-releases included."""
    from packaging.specifiers import SpecifierSet

    specs = ",".join(f"{op}{v}" for op, v in bounds if op != "~=" or "." in v) or "==1"
    try:
        DeniedPackage.parse(f"pkg{specs}")
    except ValueError as e:
        assert "no version is both" in str(e)
        near = [Version(v + suffix) for _, v in bounds for suffix in NEAR]
        assert [v for v in near if SpecifierSet(specs).contains(v, prereleases=True)] == []


# --- a bounded time per decision ------------------------------------------------------------


def _busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_a_decision_over_the_limit_is_an_operational_error_naming_the_artifact() -> None:
    with pytest.raises(deadline.DecisionTimeout) as caught, deadline.limit(0.05, "x\n.whl"):
        _busy(10)
    assert str(caught.value).startswith(
        "deciding on 'x\\n.whl' took longer than 0.05 s, the limit for one artifact: nothing "
        "was allowed"
    )
    assert exit_code_for(caught.value) == ExitCode.OPERATIONAL == 3
    assert deadline.DECISION_LIMIT == 60
    with pytest.raises(ValueError, match="positive"), deadline.limit(0, "a.whl"):
        pass  # setitimer(0) would disarm the timer: no bound at all


def test_a_timeout_swallowed_inside_the_decision_still_ends_it() -> None:
    careless_plugin = contextlib.suppress(Exception)
    with pytest.raises(deadline.DecisionTimeout), deadline.limit(0.05, "a.whl"), careless_plugin:
        _busy(10)


def test_a_fast_decision_leaves_no_timer_and_gives_back_an_outer_one() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with deadline.limit(60, "a.whl"):
            pass
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.3
        _busy(0.5)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with deadline.limit(60, "a.whl"):
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_off_the_main_thread_the_limit_is_not_kept() -> None:
    """Only the main thread receives SIGALRM; elsewhere the block runs unbounded (the gate
    decides on the main thread)."""
    done: list[bool] = []

    def work() -> None:
        with deadline.limit(0.01, "a.whl"):
            _busy(0.1)
        done.append(True)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    assert done == [True]
