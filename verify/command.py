"""`attest verify`, `attest verify-log` and `attest verify-bundle`: the click layer of the gate
(parse, call the library, render). Registered as stages of the `attest` CLI, which maps errors
to exit codes."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import click

from verify import __version__, conformance, decision_log, gate, instant, log_anchor, logs
from verify.artifacts_from import named
from verify.dash import READ, is_dash, not_dash, stdin_text
from verify.errors import PolicyRefusal, UsageError
from verify.evidence import Problem
from verify.files import in_pseudo_root, named_pseudo_root
from verify.formats import bundles
from verify.oci import gate as oci_gate
from verify.oci.deadline import Deadline
from verify.oci.layout import is_image
from verify.oci.reference import argument_text
from verify.policy import Policy, duration, load_policy
from verify.text import examples, shown
from verify.timeouts import spoken, timeout_of

_PATH = click.Path(path_type=Path)


def _say(line: str) -> None:
    """One line for people (stderr): the names it quotes (artifacts, bundles, signers) are
    input, escaped so that none can print a line of its own."""
    click.echo(shown(line), err=True)


def _render(decision: gate.Decision, audit: bool, quiet: bool) -> None:
    """A decision and every check, expected vs actual; quiet: only a denial, its failed checks
    and their failures."""
    if quiet and decision.allowed:
        return
    verdict = decision.verdict
    if audit and not decision.allowed:
        verdict = "DENY (audit mode: would deny; allowed through)"
    _say(f"attest: {verdict} {decision.artifact} (sha256 {decision.sha256})")
    for number, outcome in enumerate(decision.outcomes, start=1):
        if quiet and outcome.passed:
            continue
        result = "PASS" if outcome.passed else "FAIL"
        _say(f"  {number}. {result} {outcome.name}")
        if not quiet:
            _say(f"       expected: {outcome.expected}")
            _say(f"       actual:   {outcome.actual}")
        for failure in outcome.failures:
            _say(f"       - {failure}")


def _logged_name(name: str) -> dict[str, str]:
    """An artifact's name as the decision log (strict UTF-8 JSON) keeps it: a name that is not
    UTF-8 (its undecodable bytes reach Python as lone surrogates) is kept with U+FFFD for each
    such byte in `name`, and its exact bytes in `name_bytes_hex`."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:
            exact = os.fsencode(name)
        except UnicodeEncodeError:  # a surrogate no file name's byte gives (not from the OS)
            exact = name.encode("utf-8", "surrogatepass")
        return {"name": exact.decode("utf-8", "replace"), "name_bytes_hex": exact.hex()}
    return {"name": name}


def _records(run: gate.Run) -> list[dict[str, Any]]:
    """What the decision log keeps: no bundle, token or certificate, only the judgement."""
    return [
        {
            "time": run.now.isoformat(),
            "artifact": {**_logged_name(d.artifact.name), "sha256": d.sha256},
            "policy_sha256": run.policy.sha256,
            "trust_root_sha256": run.trust.sha256,
            "signers": [{"identity": s["identity"], "issuer": s["issuer"]} for s in d.signers],
            "checks": [
                {
                    "number": i,
                    "check": o.name,
                    "result": "PASS" if o.passed else "FAIL",
                    "failures": list(o.failures),
                }
                for i, o in enumerate(d.outcomes, start=1)
            ],
            "decision": d.verdict,
            "mode": run.policy.mode,
            "verifier": f"attest-verify {__version__}",
            "check_plugins": list(run.plugins),
        }
        for d in run.decisions
    ]


@click.command(
    "verify",
    epilog=examples(
        "attest verify --policy policy.yaml --json dist/*.whl",
        "attest verify --policy policy.yaml --decision-log log.jsonl dist/*.whl dist/*.tar.gz",
        "attest verify --policy policy.yaml --artifacts-from artifacts.txt",
        "attest verify --explain-policy --policy policy.yaml",
    ),
)
@click.argument("artifacts", nargs=-1, type=_PATH)
@click.option(
    "--artifacts-from",
    "listed",
    type=READ,
    metavar="FILE",
    help="Judge the artifacts this file names, one path per line (- reads stdin).",
)
@click.option("--policy", "policy_path", type=READ, help="The gate policy (YAML; - reads stdin).")
@click.option("--attestations", type=_PATH, help="Find bundles here, not beside the artifacts.")
@click.option("--json", "as_json", is_flag=True, help="The whole decision as JSON on stdout.")
@click.option(
    "--decision-log",
    "log_path",
    type=not_dash("the log is appended to and its last record read back to chain the next"),
    help="Append one chained JSON record per decision.",
)
@click.option("--now", "now_text", help="Decide as of this time (ISO 8601), e.g. for audits.")
@click.option(
    "--db",
    "db",
    type=_PATH,
    help="An offline OSV database: also judge the signed SBOM's components against it "
    "(advisories newer than the scan) under require.vulnerabilities.",
)
@click.option(
    "--timeout",
    default="2m",
    show_default=True,
    callback=lambda _ctx, _param, text: timeout_of(text),
    help="How long reading oci:// images from their registries may take in all (then exit 3).",
)
@click.option("--explain-policy", is_flag=True, help="Print what the policy checks, then stop.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the denials and the summary line.")
def verify(
    artifacts: tuple[Path, ...],
    listed: Path | None,
    policy_path: Path | None,
    attestations: Path | None,
    as_json: bool,
    log_path: Path | None,
    now_text: str | None,
    db: Path | None,
    timeout: datetime.timedelta,
    explain_policy: bool,
    quiet: bool,
) -> None:
    """Allow or deny each ARTIFACT for deployment, offline, against the policy; the last line
    sums the run up (`3 artifacts: 2 allowed, 1 denied`).

    Exit 0 when every artifact is allowed (or in audit mode), 1 when any is denied, 2 for a
    usage or policy error, 3 for an operational error (never an allow)."""
    if policy_path is None:
        raise UsageError("no --policy FILE: without a policy nothing is allowed")
    policy = load_policy(policy_path)
    if explain_policy:
        for line in gate.explain(policy):
            click.echo(shown(line))
        return
    run = judge(named(artifacts, listed), policy, now_text, attestations, db, timeout)
    if log_path is not None:  # before any verdict is shown: a log failure (exit 3) shows none
        decision_log.append(log_path, _records(run))
    _report(run, as_json, quiet or logs.quiet())  # its own -q, or attest's anywhere
    _enforce(run)


def judge(
    artifacts: tuple[Path, ...],
    policy: Policy,
    now_text: str | None,
    attestations: Path | None,
    db: Path | None,
    timeout: datetime.timedelta = datetime.timedelta(minutes=2),
) -> gate.Run:
    """The gate's decisions on the command line's inputs, each checked first (UsageProblem);
    the registries of oci:// images are read within `timeout`."""
    if not artifacts:
        raise UsageError(f"{summary(0, 0, 'enforce')}: name at least one ARTIFACT to verify")
    if any(is_dash(a) for a in artifacts):
        raise UsageError(
            "ARTIFACT -: the gate judges files by name, with the bundles beside them (or in "
            "--attestations) that name them: save the input to a file (a file named - is ./-)"
        )
    bundles.refuse_evidence(artifacts)
    _named_once(artifacts)
    now = instant.given(now_text)
    if db is not None and policy.require.vulnerabilities is None:
        raise UsageError(
            "--db judges advisories under require.vulnerabilities, which the policy does not have"
        )
    advisories = None
    if db is not None:
        from verify.osv import database  # only with --db: the gate starts without it

        advisories = database.load(db)
    if attestations is not None:
        _attestation_directory(attestations)
    images = [t for t in map(argument_text, artifacts) if is_image(t)]
    if images:  # images (oci:// or OCI layout directories) are judged alone, by the same checks
        if len(images) != len(artifacts) or advisories is not None:
            raise UsageError("judge images (oci://, OCI layout directories) alone, without --db")
        limit = f"{spoken(timeout)} (--timeout)"
        with Deadline(timeout.total_seconds(), limit) as deadline:
            return oci_gate.decide(images, policy, now, attestations, deadline=deadline)
    return gate.decide(artifacts, policy, now, attestations, advisories=advisories)


def _named_once(artifacts: tuple[Path, ...]) -> None:
    """One file named twice (`ok.whl ./ok.whl`, overlapping globs) is a mistake in the command
    line, refused as `attest sign` refuses it: judging it twice would count it twice."""
    seen: dict[Path, Path] = {}
    for artifact in artifacts:
        # the directory resolved (the bundles beside it are the same), the name as given
        same = Path(os.path.realpath(artifact.parent)) / artifact.name
        if same in seen:
            twice = f"{artifact} is named twice" if seen[same] == artifact else None
            raise UsageError(
                f"{twice or f'{seen[same]} and {artifact} are the same file'}: "
                "name each artifact once"
            )
        seen[same] = artifact


def _report(run: gate.Run, as_json: bool, quiet: bool) -> None:
    """Every decision explained on stderr (quiet: only the denials), the whole run as JSON on
    stdout with --json."""
    audit = run.policy.mode == "audit"
    if run.trust.development and run.policy.trust.allow_development_root and not quiet:
        click.echo(
            "attest: warning: the policy allows the local development instance's trust root, "
            "which signs any identity it is asked for: never use this policy for production",
            err=True,
        )
    for decision in run.decisions:
        _render(decision, audit, quiet)
    if run.unjudged and not quiet:
        _note_unjudged(run.unjudged)
    if as_json:
        click.echo(json.dumps(run.to_dict(), indent=2))


_LISTED = 5  # files, and places in one file, a note names before `and N more`


def _note_unjudged(unjudged: tuple[Problem, ...]) -> None:
    """The bundles that concern no artifact judged: one line per file, with the places in a
    file of several (a gh file's lines), each list bounded."""
    places: dict[Path, list[str]] = {}
    for problem in unjudged:
        places.setdefault(problem.path, []).append(problem.where)
    _say(
        f"attest: note: {len(unjudged)} bundle(s) concern no artifact judged here and were not "
        "used (the reasons are in --json):"
    )
    for path, wheres in list(places.items())[:_LISTED]:
        lines = [w.removeprefix("line ") for w in wheres if w.startswith("line ")]
        said = f": lines {_bounded(lines)}" if lines else ""
        _say(f"  - {path.name}{said}")
    if len(places) > _LISTED:
        _say(f"  - and {len(places) - _LISTED} more file(s)")


def _bounded(items: list[str]) -> str:
    more = f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(items[:_LISTED]) + more


def summary(artifacts: int, denied: int, mode: str, development_root: bool = False) -> str:
    """The run in one line: how many artifacts, allowed and denied (`200 artifacts: 198 allowed,
    2 denied`). No artifact is no allow: an empty set never allows."""
    if artifacts == 0:
        return "0 artifacts: none allowed (an empty set never allows)"
    noun = "artifact" if artifacts == 1 else "artifacts"
    line = f"{artifacts} {noun}: {artifacts - denied} allowed, {denied} denied"
    if denied and mode == "audit":
        line += " (audit mode: would deny, allowed through; exiting 0)"
    if development_root:
        line += "; trust root: the local development instance (never for production)"
    return line


def _enforce(run: gate.Run) -> None:
    """The summary line last, for every run: as the refusal when an artifact is denied in
    enforce mode (or none was judged), else on stderr."""
    denied = sum(not d.allowed for d in run.decisions)
    development = run.trust.development and run.policy.trust.allow_development_root
    line = summary(len(run.decisions), denied, run.policy.mode, development)
    if not run.decisions or (denied and run.policy.mode != "audit"):
        raise PolicyRefusal(line)
    _say(f"attest: {line}")


def _attestation_directory(directory: Path) -> None:
    """UsageError unless `directory` is one (or is missing: the gate says so): a file or a
    FIFO is named as what it is, and nothing is read from /proc, /sys or /dev."""
    root = named_pseudo_root(directory)
    if root is not None:
        raise UsageError(f"{directory}: --attestations {in_pseudo_root(root)}: never read")
    try:
        mode = directory.stat().st_mode
    except OSError:
        return
    if not stat.S_ISDIR(mode):
        kind = "a regular file" if stat.S_ISREG(mode) else "a FIFO, socket or device"
        raise UsageError(
            f"{directory}: is not a directory but {kind}: --attestations names the directory "
            "the bundles are in"
        )


_HASH = re.compile("[0-9a-f]{64}")


def _log_json(log: Path, report: decision_log.Report, expect_head: str | None) -> str:
    data: dict[str, Any] = {
        "log": str(log),
        "records": report.records,
        "head": report.head,
        "intact": report.intact,
        "torn_last_record": dataclasses.asdict(report.torn) if report.torn else None,
        "findings": [dataclasses.asdict(f) for f in report.findings],
        "stopped_at_line": report.stopped_at,
    }
    if expect_head is not None:
        data["expected_head"] = {"hash": expect_head, "at_line": report.anchor}
    return json.dumps(data, indent=2)


@click.command(
    "verify-log",
    epilog=examples(
        "attest verify-log decisions.jsonl",
        'attest verify-log --expect-head "$LAST_HEAD" decisions.jsonl',
        "attest verify-log --anchored --trusted-root trusted_root.json \\",
        "    --certificate-identity ops@example.com \\",
        "    --certificate-oidc-issuer https://accounts.example.com decisions.jsonl",
    ),
)
@click.argument("log", type=_PATH)
@click.option("--head", "show_head", is_flag=True, help="Print `HEAD_HASH RECORDS` on stdout.")
@click.option(
    "--expect-head",
    metavar="HASH",
    help="Fail unless the log still holds this head (from an earlier --head): catches cut "
    "records and rewrites.",
)
@click.option("--json", "as_json", is_flag=True, help="The result as JSON on stdout.")
@click.option(
    "--repair-torn-tail",
    "repair",
    is_flag=True,
    help="First remove a torn last record (crash, full disk); refuses to change anything else.",
)
@click.option(
    "--anchored",
    is_flag=True,
    help="Also check every anchor in LOG.anchors/ (`attest log anchor`), offline: none is a "
    "refusal.",
)
@click.option("--certificate-identity", "identity", help="The anchors' signer (exact).")
@click.option("--certificate-oidc-issuer", "issuer", help="The anchors' signer's issuer (exact).")
@click.option(
    "--trusted-root", type=_PATH, help="The anchors' trusted_root.json (default: production)."
)
@click.option(
    "--log-name", metavar="NAME", help="The log name the anchors must sign (default: LOG's own)."
)
@click.option(
    "--min-records",
    type=click.IntRange(min=1),
    metavar="N",
    help="Fail unless an anchor signs at least N records (known from elsewhere): catches "
    "deleted anchors with the log cut back to the last one kept.",
)
@click.option(
    "--max-anchor-age",
    metavar="DURATION",
    help="Fail unless the newest anchor was signed within DURATION (30d, 12h) of --now: with "
    "periodic anchoring, catches deleted anchors.",
)
@click.option("--now", "now_text", help="The time --max-anchor-age counts to (ISO 8601).")
def verify_log(
    log: Path,
    show_head: bool,
    expect_head: str | None,
    as_json: bool,
    repair: bool,
    anchored: bool,
    **anchoring: Any,
) -> None:
    """Check a decision log's hash chain: exit 0 when intact, 1 naming each record that was
    edited, deleted, inserted or moved (the first 1000) or when it no longer holds
    --expect-head, 2 when it is missing or not a decision log at all, 3 when only its last
    record is torn (repair it with --repair-torn-tail). With --anchored, 1 also when an anchor
    does not verify as the named signer or the log no longer holds what it signed."""
    _check_head_option(expect_head)
    chain = {"--head": show_head, "--expect-head": expect_head, "--json": as_json,
             "--repair-torn-tail": repair}  # fmt: skip
    if anchored:
        _only_without_anchored(chain)
        _check_anchored(log, _expected(anchoring))
    else:
        _only_with_anchored(anchoring)
        _check_chain(log, show_head, expect_head, as_json, repair)


_ANCHOR_OPTIONS = {
    "identity": "--certificate-identity",
    "issuer": "--certificate-oidc-issuer",
    "trusted_root": "--trusted-root",
    "log_name": "--log-name",
    "min_records": "--min-records",
    "max_anchor_age": "--max-anchor-age",
    "now_text": "--now",
}


def _only_with_anchored(anchoring: dict[str, Any]) -> None:
    given = [_ANCHOR_OPTIONS[key] for key, value in anchoring.items() if value is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: only with --anchored (they judge the anchors)")


def _only_without_anchored(chain: dict[str, Any]) -> None:
    """--anchored checks the chain and the anchors only: an option of the chain alone would
    be silently ignored."""
    given = [option for option, value in chain.items() if value not in (None, False)]
    if given:
        raise UsageError(
            f"{', '.join(given)}: not with --anchored (it checks the chain and the anchors; "
            "run `attest verify-log` without --anchored for them)"
        )


def _expected(anchoring: dict[str, Any]) -> log_anchor.Expected:
    identity, issuer = anchoring["identity"], anchoring["issuer"]
    if identity is None or issuer is None:
        raise UsageError("--anchored needs --certificate-identity and --certificate-oidc-issuer")
    age = anchoring["max_anchor_age"]
    return log_anchor.Expected(
        identity=identity,
        issuer=issuer,
        now=instant.given(anchoring["now_text"]),
        trusted_root=anchoring["trusted_root"],
        log_name=anchoring["log_name"],
        min_records=anchoring["min_records"],
        max_age=None if age is None else duration(age, "--max-anchor-age"),
    )


def _check_chain(
    log: Path, show_head: bool, expect_head: str | None, as_json: bool, repair: bool
) -> None:
    """The chain alone (and a repair first, when asked)."""
    if repair:
        decision_log.repair_torn_tail(log, lambda said: _say(f"attest: {log}: {said}"))
    report = decision_log.check(log, expect_head)
    _tell_findings(log, report)
    if as_json:
        click.echo(_log_json(log, report, expect_head))
    _refuse_broken(log, report, expect_head)
    if show_head and not as_json:
        click.echo(f"{report.head} {report.records}")
    extends = f", extends the expected head (line {report.anchor})" if expect_head else ""
    _say(f"attest: {log}: {report.records} records, chain intact, head {report.head}{extends}")


def _check_anchored(log: Path, expected: log_anchor.Expected) -> None:
    """`--anchored`: the chain, then every anchor against the root, the signer and the log."""
    checked = log_anchor.check(log, expected)
    report = checked.report
    _tell_findings(log, report)
    for problem in checked.problems:
        _say(f"attest: {log}: {problem}")
    if checked.problems:
        raise PolicyRefusal(f"{log}: the anchors do not hold: {'; '.join(checked.problems)}")
    _refuse_broken(log, report, None)
    newest = checked.anchors[-1]
    _say(
        f"attest: {log}: {report.records} records, chain intact, {len(checked.anchors)} "
        f"anchor(s) hold, the newest at {newest.records} records (head {newest.head})"
    )


def _check_head_option(expect_head: str | None) -> None:
    if expect_head is not None and not _HASH.fullmatch(expect_head):
        raise UsageError("--expect-head takes a head hash as --head prints it (64 hex digits)")


def _tell_findings(log: Path, report: decision_log.Report) -> None:
    """Each finding, where the check stopped, and a torn last record, on stderr."""
    for finding in report.findings:
        _say(f"attest: {log}: {finding}")
    if report.stopped_at is not None:
        _say(
            f"attest: {log}: … and more: the check stops after {decision_log.MAX_FINDINGS} "
            f"findings, at line {report.stopped_at}; the rest of the log is not checked"
        )
    if report.torn is not None:
        _say(f"attest: {log}: {report.torn}; repair with `{decision_log.repair_command(log)}`")


def _refuse_broken(log: Path, report: decision_log.Report, expect_head: str | None) -> None:
    """Denied for a tampered log or one without the expected head; TornTail for a torn end."""
    more = "+" if report.stopped_at is not None else ""
    why = (
        [f"was tampered with ({len(report.findings)}{more} finding(s))"] if report.findings else []
    )
    if expect_head is not None and report.anchor is None and not more:  # unread lines may hold it
        why.append(
            f"no longer holds the expected head {expect_head}: records were cut from its end, "
            "or it was rewritten"
        )
    if why:
        raise PolicyRefusal(f"{log}: the decision log {' and '.join(why)}")
    if report.torn is not None:
        raise decision_log.TornTail(
            f"{log}: the last record is torn; the gate appends nothing after it"
        )


@click.command(
    "verify-bundle",
    epilog=examples(
        "attest verify-bundle --bundle app.whl.sigstore.json --trusted-root trusted_root.json \\",
        "    --certificate-identity release@example.com \\",
        "    --certificate-oidc-issuer https://accounts.example.com app.whl",
    ),
)
@click.option(
    "--bundle", "bundle", type=READ, required=True, help="The Sigstore bundle (- : stdin)."
)
@click.option("--certificate-identity", "identity", help="The signer's identity (exact).")
@click.option("--certificate-oidc-issuer", "issuer", help="The signer's OIDC issuer (exact).")
@click.option(
    "--trusted-root", type=READ, help="A trusted_root.json (default: production; - : stdin)."
)
@click.option("--key", type=_PATH, help="A managed key: not supported, always refused.")
@click.argument("target", metavar="FILE_OR_DIGEST", callback=stdin_text)
def verify_bundle(
    bundle: Path,
    identity: str | None,
    issuer: str | None,
    trusted_root: Path | None,
    key: Path | None,
    target: str,
) -> None:
    """Verify one bundle for FILE_OR_DIGEST (a path, - for standard input, or sha256:<hex>): the
    Sigstore conformance suite's client protocol. Exit 0 verified, 1 refused."""
    if key is not None:
        raise PolicyRefusal(
            "verification with a managed key (--key) is not supported: the gate trusts keyless "
            "Sigstore identities only"
        )
    if identity is None or issuer is None:
        raise UsageError("give --certificate-identity and --certificate-oidc-issuer")
    who = conformance.verify_bundle(bundle, target, identity, issuer, trusted_root)
    _say(f"attest: OK: {target} signed by {who.identity} (issuer {who.issuer})")
