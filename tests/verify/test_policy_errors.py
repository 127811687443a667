"""A wrong policy, SLO policy or waiver file is a configuration error (exit 2) that names the key
and never quotes the file's values: a duration with a trailing newline or of thousands of digits
was a crash (exit 3), and jsonschema's messages printed the value, so `--policy .env` printed
the secrets in it. Every anchored pattern of the schemas ends at the end of the text (RE2's `$`,
as in JSON Schema's ECMA-262; Python's `re` let it match before a final newline)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.attest.scan.helpers import NOW, PYPA_FIXTURE, SCAN_FIXTURES
from verify import slo
from verify.errors import ExitCode
from verify.policy import PolicyError, duration, parse_policy

ISSUER = "https://token.actions.githubusercontent.com"
LONG = "9" * 5000  # int() refuses over 4,300 digits


def _refusal(policy: dict[str, Any]) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(policy).encode(), "policy.yaml", Path())
    assert caught.value.exit_code == ExitCode.USAGE
    return str(caught.value)


def _policy(**top: Any) -> dict[str, Any]:
    base = {"version": 1, "trust": "production", "identities": [{"issuer": ISSUER, "subject": "a"}]}
    return {**base, **top}


def _nest(path: str, value: object) -> dict[str, Any]:
    """`value` at the slash-separated `path`."""
    *parents, last = path.split("/")
    tree: dict[str, Any] = {last: value}
    for key in reversed(parents):
        tree = {key: tree}
    return tree


def _at(path: str, value: object) -> dict[str, Any]:
    return _policy(**_nest(path, value))


# --- durations ------------------------------------------------------------------------------

GATE_DURATIONS = [
    "max_trust_root_age",
    "require/max_attestation_age",
    "require/vulnerabilities/max_scan_age",
]
SLO_DAYS = ["require/vulnerabilities/windows/high", "require/vulnerabilities/max_waiver_span"]


@pytest.mark.parametrize("path", GATE_DURATIONS)
def test_a_duration_with_a_trailing_newline_is_refused_naming_the_key(path: str) -> None:
    """Before: the schema's `^[0-9]+[dhm]$` let "30d\\n" through, then KeyError '\\n' (exit 3)."""
    message = _refusal(_at(path, "30d\n"))
    assert f"policy.yaml: invalid policy: {path}: must match '^[0-9]+[dhm]$'" in message


@pytest.mark.parametrize("path", GATE_DURATIONS)
def test_a_duration_of_thousands_of_digits_is_over_1000_years(path: str) -> None:
    """Before: ValueError from int() past 4,300 digits (exit 3)."""
    message = _refusal(_at(path, LONG + "d"))
    assert message == f"policy.yaml: {path}: 999999999999...d is over 1000 years"


@pytest.mark.parametrize("path", SLO_DAYS)
def test_days_of_the_slo_rules_are_refused_the_same_way(path: str) -> None:
    key = path.removeprefix("require/vulnerabilities/")
    assert f"{path}: must be an integer of at least 0 or a string matching '^[0-9]+d$'" in (
        _refusal(_at(path, "30d\n"))
    )
    assert f"invalid SLO policy: {key}: 999999999999... days is over 1000 years" in (
        _refusal(_at(path, LONG + "d"))
    )
    with pytest.raises(slo.SloPolicyError, match=re.escape(f"{key}: 999999999999... days is")):
        slo.parse_policy(_nest(key, LONG + "d"), "slo.yaml")  # as `attest scan --policy` reads


def test_the_parser_matches_the_whole_duration_too() -> None:
    for text in ("30d\n", "30d ", "30", "d", "٣0d", "30D"):
        with pytest.raises(PolicyError, match=re.escape("x: not a duration such as 30d, 12h")):
            duration(text, "x")
    assert duration("0030d", "x").days == 30  # leading zeros are not more than 1000 years


DURATION_LIKE = st.tuples(
    st.sampled_from(["", " ", "+", "-"]),
    st.text(alphabet="0129", max_size=14),
    st.sampled_from(["d", "h", "m", "", "D", "dd"]),
    st.sampled_from(["", "\n", "\r\n", " ", "\t", "x"]),
).map("".join)


@settings(max_examples=300, deadline=None, database=None)
@given(text=DURATION_LIKE)
def test_a_duration_loads_exactly_when_it_is_one_whole_and_within_1000_years(text: str) -> None:
    """For random text: the policy loads iff the whole text is digits and one unit and the span
    is at most 1000 years; otherwise a PolicyError naming the key (never another exception)."""
    whole = re.fullmatch(r"([0-9]+)([dhm])", text)
    per_year = {"d": 365, "h": 365 * 24, "m": 365 * 24 * 60}
    fits = whole is not None and int(whole[1]) <= 1000 * per_year[whole[2]]
    raw = yaml.safe_dump(_at("require/max_attestation_age", text)).encode()
    try:
        policy = parse_policy(raw, "policy.yaml", Path())
    except PolicyError as e:
        assert not fits
        assert "require/max_attestation_age: " in str(e)
    else:
        assert fits and policy.require.max_attestation_age is not None


@pytest.mark.parametrize(
    ("path", "value", "pattern"),
    [
        ("require/publish", {"repository": "acme/web\n", "workflow": "r.yml"}, "^[A-Za-z0-9_.-]+/"),
        ("identities", [{"issuer": ISSUER, "github": {"repository": "acme/web\n"}}], "^[A-Za-z0"),
    ],
)
def test_every_anchored_pattern_ends_at_the_end_of_the_text(
    path: str, value: object, pattern: str
) -> None:
    """Before: "acme/web\\n" loaded, and a rule that no signer can ever satisfy was in force."""
    assert f"repository: must match '{pattern}" in _refusal(_at(path, value))
    waiver = {"id": "X-1", "reason": "r", "expires": "2026-08-01\n"}
    with pytest.raises(
        slo.SloPolicyError, match=re.escape("waivers/0/expires: must match '^[0-9]")
    ):
        slo.parse_waivers({"waivers": [waiver]}, "w.yaml")


# --- messages never quote the input ---------------------------------------------------------

AWS = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----\n"
SECRET_PARTS = ("AKIAIOSFODNN7", "EXAMPLEKEY", "K7MDENG", "ghp_", "A1b2C3d4", "PRIVATE KEY", "MIIE")
ENV_FILE = f"AWS_ACCESS_KEY_ID={AWS}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n"

# (file name, content, what the message must say)
GATE_POLICIES = [
    ("env.txt", ENV_FILE, "(top level): must be a mapping"),
    ("key.pem", PEM, "(top level): must be a mapping"),
    ("p.yaml", yaml.safe_dump({"aws_secret_access_key": AWS_SECRET}), "unknown key 'aws_secret_access_key'"),
    ("p.json", json.dumps(_policy(trust=GITHUB_TOKEN)), "trust: must be 'production' or 'staging' or a mapping"),
    ("p.yaml", yaml.safe_dump(_policy(version=AWS, identities=PEM)), "identities: must be a list; version: must be 1"),
    ("p.yaml", yaml.safe_dump(_policy(mode=GITHUB_TOKEN, k_of_n=AWS)), "k_of_n: must be an integer; mode: must be 'enforce' or 'audit'"),
    ("p.yaml", yaml.safe_dump(_at("require/vulnerabilities/windows/high", AWS_SECRET)), "windows/high: must be an integer"),
    ("p.yaml", yaml.safe_dump(_at("require/max_attestation_age", GITHUB_TOKEN)), "max_attestation_age: must match"),
]  # fmt: skip
WAIVER = {"id": "X-1", "reason": "r", "expires": "2026-08-01"}
SLO_POLICIES = [
    ("env.yaml", ENV_FILE, "(top level): must be a mapping"),
    ("p.json", json.dumps({"clock": AWS, "windows": {"high": GITHUB_TOKEN}}), "clock: must be 'published' or 'first-seen'; windows/high: must be an integer"),
    ("p.yaml", yaml.safe_dump({"waiver_approvers": PEM}), "waiver_approvers: must be a list"),
    ("p.yaml", yaml.safe_dump({"AWS_SECRET_ACCESS_KEY": AWS_SECRET}), "unknown key 'AWS_SECRET_ACCESS_KEY'"),
]  # fmt: skip
WAIVER_FILES = [
    ("w.yaml", PEM, "(top level): must be a mapping"),
    ("w.json", json.dumps({"waivers": GITHUB_TOKEN}), "waivers: must be a list"),
    ("w.json", json.dumps({"waivers": [{**WAIVER, "expires": AWS}]}), "waivers/0/expires: must match"),
    ("w.yaml", yaml.safe_dump({"waivers": [{**WAIVER, "approver": {"k": PEM}, "why": AWS_SECRET}]}),
     "waivers/0: unknown key 'why' (unknown keys are errors); waivers/0/approver: must be a string"),
]  # fmt: skip


def _clean(result: Result, says: str) -> None:
    out = result.stdout + result.stderr
    assert result.exit_code == ExitCode.USAGE, out
    assert says in result.stderr
    for part in SECRET_PARTS:
        assert part not in out


@pytest.mark.parametrize(("name", "text", "says"), GATE_POLICIES)
def test_verify_never_prints_what_a_policy_file_holds(
    invoke: Callable[..., Result], tmp_path: Path, name: str, text: str, says: str
) -> None:
    """Before: `(top level): 'AWS_ACCESS_KEY_ID=AKIA... AWS_SECRET_ACCESS_KEY=...' is not of
    type 'object'`."""
    (tmp_path / name).write_text(text)
    result = invoke("verify", "--policy", str(tmp_path / name), str(tmp_path / "x.whl"))
    assert f"{name}: invalid policy: " in result.stderr
    _clean(result, says)


def _scan(invoke: Callable[..., Result], tmp_path: Path, *args: str) -> Result:
    sbom = str(SCAN_FIXTURES / "sbom.cdx.json")
    base = ["scan", "--sbom", sbom, "--db", str(PYPA_FIXTURE), "--now", NOW]
    return invoke(*base, "--cache-dir", str(tmp_path / "cache"), *args)


@pytest.mark.parametrize(("name", "text", "says"), SLO_POLICIES)
def test_scan_never_prints_what_a_policy_file_holds(
    invoke: Callable[..., Result], tmp_path: Path, name: str, text: str, says: str
) -> None:
    (tmp_path / name).write_text(text)
    result = _scan(invoke, tmp_path, "--policy", str(tmp_path / name))
    assert f"{name}: invalid SLO policy: " in result.stderr
    _clean(result, says)


@pytest.mark.parametrize(("name", "text", "says"), WAIVER_FILES)
def test_scan_never_prints_what_a_waiver_file_holds(
    invoke: Callable[..., Result], tmp_path: Path, name: str, text: str, says: str
) -> None:
    (tmp_path / name).write_text(text)
    result = _scan(invoke, tmp_path, "--waivers", str(tmp_path / name))
    assert f"{name}: invalid waivers file: " in result.stderr
    _clean(result, says)


def test_unknown_keys_are_named_escaped_and_cut_short() -> None:
    key = "evil\n\x1b[2J\u202e" + "k" * 200
    message = _refusal(_policy(**{key: 1, "other": 2}))
    assert message.endswith(
        "invalid policy: (top level): unknown key 'evil\\n\\x1b[2J\\u202ekkkkkkkkkkkk..., "
        "'other' (unknown keys are errors)"
    )


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        (
            "p.json",
            '{"windows": {"critical": ' + "9" * 5000 + "}}",
            "a number too long to read (more than 4,300 digits)",
        ),
        (
            "p.toml",
            "windows = { critical = " + "9" * 5000 + " }\n",
            "Exceeds the limit (4300 digits)",
        ),
    ],
)
def test_a_number_past_the_digit_limit_is_an_input_error(
    invoke: Callable[..., Result], tmp_path: Path, name: str, text: str, said: str
) -> None:
    """JSON and TOML raise a plain ValueError for an integer of 5,000 digits: exit 2, not an
    internal error (YAML: the loader refuses it by line)."""
    (tmp_path / name).write_text(text)
    result = _scan(invoke, tmp_path, "--policy", str(tmp_path / name))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert said in result.stderr


@pytest.mark.parametrize("flag", ["--policy", "--waivers"])
def test_a_json_policy_or_waivers_file_giving_a_key_twice_is_an_input_error(
    invoke: Callable[..., Result], tmp_path: Path, flag: str
) -> None:
    """Read last-wins, a second `windows` of 3650 days passed a scan the first denied (YAML and
    TOML refuse a repeated key): exit 2 naming it."""
    key = "windows" if flag == "--policy" else "waivers"
    value = '{"critical": 7}' if flag == "--policy" else "[]"
    path = tmp_path / "p.json"
    path.write_text(f'{{"{key}": {value}, "{key}": {value}}}')
    result = _scan(invoke, tmp_path, flag, str(path))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"{path}: not valid JSON: the key '{key}' appears twice in one object" in result.stderr


# --- values quoted in short -----------------------------------------------------------------

SECRET = "ghp_SEKRETSEKRET0123456789abcdef"
PAD = "S" * 40  # the secret lies past any excerpt


def _one_short_line(message: str) -> None:
    assert "\n" not in message and SECRET not in message
    assert len(message) < 400, len(message)


@pytest.mark.parametrize(
    ("where", "pattern", "says"),
    [
        ("identities/0/subject_pattern", "(?=x)" + PAD + SECRET + "S" * 400_000,
         "'(?=x)SSSSSSSSSSSSSSSSSSSSSSSSSSS'… is not a valid regular expression: invalid perl "
         "operator: (?= (patterns are RE2 syntax"),
        ("identities/0/subject_pattern", "[" + PAD + SECRET, "is not a valid regular expression: "
         "missing ] (patterns are RE2 syntax"),
        ("identities/0/subject_pattern", "(" + PAD + SECRET, "is not a valid regular expression: "
         "missing ) (patterns are RE2 syntax"),
        ("require/provenance", "(?<=a)" + PAD + SECRET, "invalid perl operator: (?<="),
        ("require/provenance", PAD + SECRET + "\\", "trailing \\ (patterns are RE2 syntax"),
    ],
)  # fmt: skip
def test_a_pattern_re2_refuses_is_quoted_once_in_short(where: str, pattern: str, says: str) -> None:
    """Before: the pattern was quoted whole, and again by RE2's own message (`missing ):
    <pattern>`): a 400 KB pattern made an 800 KB error line. Now: the key, 32 characters of
    the pattern escaped, and RE2's reason without the pattern."""
    if where.startswith("identities"):
        policy = _policy(identities=[{"issuer": ISSUER, "subject_pattern": pattern}])
    else:
        key = "ref_pattern" if pattern.endswith("\\") else "builder_id_pattern"
        policy = _at(f"require/provenance/{key}", pattern)
    message = _refusal(policy)
    _one_short_line(message)
    assert f"policy.yaml: {where}: {pattern[:32]!r}… is not a valid regular expression: " in (
        message
    )
    assert says in message


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (PAD + SECRET + "!!" + "x" * 200_000, "not a package name with an optional PEP 440 "
         "version specifier (e.g. pyyaml<5.4, PyYAML==5.3, requests): Expected semicolon (after "
         "name with no version specifier) or end (at character 73)"),
        ("pyyaml===" + PAD + SECRET + "x" * 200_000, "=== compares the text of versions"),
        ("pyyaml@" + PAD + SECRET + "x" * 200_000, "name@version takes a PEP 440 version"),
        ("pyyaml>2,<1" + PAD + SECRET, "Expected comma (within version specifier)"),
        ("pyyaml>2.0" + "0" * 4000 + "," + "<1.0" + "0" * 4000,
         f"no version is both >2.0{'0' * 28}… and <1.0{'0' * 28}…: this entry would deny"),
    ],
)  # fmt: skip
def test_a_denied_package_entry_is_quoted_once_in_short(entry: str, says: str) -> None:
    """Before: a 200 KB entry was quoted whole up to three times (the entry, then packaging's
    message quoting it on two more lines)."""
    message = _refusal(_at("require/sbom/denied_packages", ["ok", entry]))
    _one_short_line(message)
    assert f"policy.yaml: require/sbom/denied_packages/1: {entry[:32]!r}…: " in message
    assert says in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"version: 1\na: !{PAD}{SECRET} x\n",
         f"not valid YAML: could not determine a constructor for the tag '!{PAD[:31]}…' (line 2, "
         "column 4)"),
        (f"version: 1\n{PAD}{SECRET}: 1\n{PAD}{SECRET}: 2\n",
         f"not valid YAML: the key '{PAD[:31]}… is given twice, on line 2 and on line 3"),
    ],
)  # fmt: skip
def test_yaml_errors_quote_the_file_only_in_short(text: str, says: str) -> None:
    """PyYAML's messages quote a tag or an alias name whole, over several lines."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(text.encode(), "policy.yaml", Path())
    _one_short_line(str(caught.value))
    assert says in str(caught.value)


def test_a_policy_file_with_huge_values_is_one_short_line_through_the_cli(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """The whole way: a 400 KB pattern and a 200 KB denied_packages entry, each holding a
    secret past its first 32 characters."""
    pattern = "(?=x)" + PAD + SECRET + "S" * 400_000
    entry = "pyyaml===" + PAD + SECRET + "x" * 200_000
    for policy in (
        _policy(identities=[{"issuer": ISSUER, "subject_pattern": pattern}]),
        _at("require/sbom/denied_packages", [entry]),
    ):
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(policy))
        result = invoke("verify", "--policy", str(tmp_path / "p.yaml"), str(tmp_path / "a.whl"))
        assert result.exit_code == ExitCode.USAGE
        assert result.stderr.count("\n") == 1 and len(result.stderr) < 400, result.stderr
        assert SECRET not in result.stdout + result.stderr


# --- k_of_n that can never be met -------------------------------------------------------------


@pytest.mark.parametrize(
    ("identities", "k", "says"),
    [
        ([{"issuer": ISSUER, "subject": "a"}, {"issuer": ISSUER, "subject": "b"}], 3,
         "k_of_n: '3' signers could never sign: the identities allow 2 distinct signer(s) "
         "(exact subjects, refs aside)"),
        ([{"issuer": ISSUER, "subject": "w@refs/tags/v1"},
          {"issuer": ISSUER, "subject": "w@refs/tags/v2"}], 2,
         "the identities allow 1 distinct signer(s)"),
        ([{"issuer": ISSUER, "subject_pattern": ".+"}], 10**26,
         "k_of_n: '100000000000000000000000000' signers could never sign: at most 100 are "
         "counted"),
    ],
)  # fmt: skip
def test_a_k_of_n_that_can_never_be_met_is_refused_at_load(
    identities: list[dict[str, Any]], k: int, says: str
) -> None:
    """Before: `k_of_n: 99999999999999999999999999` loaded, and denied every artifact for ever.
    A rule of one exact subject allows one signer (a workflow's refs are one signer); a
    pattern may allow many, up to a bound."""
    message = _refusal(_policy(identities=identities, k_of_n=k))
    assert says in message and "a policy that can never allow is refused" in message


def test_a_k_of_n_that_can_be_met_loads() -> None:
    two = [{"issuer": ISSUER, "subject": "a"}, {"issuer": ISSUER, "subject": "b"}]
    assert parse_policy(yaml.safe_dump(_policy(identities=two, k_of_n=2)).encode(), "p", Path())
    team = [{"issuer": ISSUER, "subject_pattern": ".+@acme.example"}]  # one rule, many signers
    assert parse_policy(yaml.safe_dump(_policy(identities=team, k_of_n=3)).encode(), "p", Path())
