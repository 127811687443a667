"""The signing session: every signing command says on stderr where it signs; before Sigstore's
public production instance a person at a terminal is asked (a real pseudo-terminal here) or
gives --yes, and CI is never asked. Nothing here reaches the public instance: a refusal, or
the next step's, comes first."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from attest.sign import session
from tests.attest.sign.helpers import production_trust_config
from tests.conftest import FIXTURES, REPO, LocalInstance
from verify.errors import ExitCode

CI = "https://example.com/ci"
QUESTION = "record these signatures in Sigstore's public transparency log? [y/N]"
NO_TOKEN = {"ATTEST_IDENTITY_TOKEN": None, "ACTIONS_ID_TOKEN_REQUEST_URL": None}


def _checkout(directory: Path) -> Path:
    """A git checkout with one commit and an artifact (ignored) to sign."""
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin"}  # fmt: skip
    (directory / ".gitignore").write_text("*.whl\n*.sigstore.json\nout.txt\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=directory, env=env, check=True)
    (directory / WHEEL).write_bytes(b"wheel\n")
    return directory


WHEEL = "app-1.0-py3-none-any.whl"
SBOM = str(FIXTURES / "scan" / "sbom.cdx.json")
BUILD = ["--", sys.executable, "-c", "open('out.txt', 'w').write('x')"]
SIGNING_COMMANDS = {
    "sign": ["sign", WHEEL],
    "provenance": ["provenance", WHEEL],
    "attest": ["attest", "--predicate", "sbom", "--sbom", SBOM, WHEEL],
    "build": ["build", "--product", "out.txt", *BUILD],
}


@pytest.mark.parametrize("command", SIGNING_COMMANDS)
def test_every_signing_command_says_where_it_signs(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    monkeypatch.chdir(_checkout(tmp_path))
    first, *rest = SIGNING_COMMANDS[command]
    token = instance.token(CI)
    result = invoke(first, "--trust-config", str(instance.trust_config),
                    "--identity-token", token, *rest)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    said = f"attest: signing against local instance {instance.url}\n"
    assert result.stderr.startswith(said) or f"\n{said}" in result.stderr
    assert token not in result.stderr and QUESTION not in result.stderr


def _production_sign(directory: Path, *extra: str) -> tuple[int, str]:
    """`attest sign` against production in a child whose stdin and stderr are a terminal,
    answering the question with "n" when it comes; its exit code and what it showed."""
    artifact = directory / "app.whl"
    artifact.write_bytes(b"wheel\n")
    config = production_trust_config(directory)
    main, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "ATTEST_IDENTITY_TOKEN")}
    child = subprocess.Popen(
        [sys.executable, "-m", "attest", "sign", "--trust-config", str(config), *extra,
         str(artifact)],
        stdin=terminal, stdout=subprocess.DEVNULL, stderr=terminal, cwd=REPO, env=env,
    )  # fmt: skip
    os.close(terminal)
    shown, answered, deadline = b"", False, time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not select.select([main], [], [], 0.2)[0]:
                if child.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal: it ended
                break
            shown += chunk
            if not answered and QUESTION.encode() in shown:
                os.write(main, b"n\n")
                answered = True
        code = child.wait(timeout=10)
    finally:
        os.close(main)
        if child.poll() is None:
            child.kill()
    return code, shown.decode(errors="replace").replace("\r\n", "\n")


def test_production_asks_a_person_at_a_terminal_and_no_is_no(tmp_path: Path) -> None:
    code, shown = _production_sign(tmp_path)
    assert "attest: signing against Sigstore production (public:" in shown
    assert QUESTION in shown
    assert code == ExitCode.USAGE, shown
    assert "nothing was signed: signing against Sigstore production was not confirmed" in shown
    assert not (tmp_path / "app.whl.sigstore.json").exists()


def test_production_with_yes_is_not_asked(tmp_path: Path) -> None:
    """--yes: no question; the run goes on to read the identity token (not one here, so it
    stops before the network: on a terminal without a token it would sign in interactively)."""
    code, shown = _production_sign(tmp_path, "--yes", "--identity-token", "not-a-jwt")
    assert "attest: signing against Sigstore production" in shown and QUESTION not in shown
    assert code == ExitCode.USAGE, shown
    assert "the identity token from --identity-token is not a JWT" in shown


@pytest.mark.parametrize(("ci", "terminal"), [("1", True), ("", False)])
def test_ci_or_no_terminal_is_never_asked(
    invoke: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ci: str,
    terminal: bool,
) -> None:
    monkeypatch.setattr(session, "_terminal", lambda: terminal)
    artifact = tmp_path / "app.whl"
    artifact.write_bytes(b"wheel\n")
    config = production_trust_config(tmp_path)
    result = invoke("sign", "--trust-config", str(config), str(artifact),
                    env={**NO_TOKEN, "CI": ci})  # fmt: skip
    assert "attest: signing against Sigstore production" in result.stderr
    assert QUESTION not in result.stderr
    assert result.exit_code == ExitCode.USAGE  # it went on, to find no identity
    assert "no identity: pass --identity-token" in result.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://fulcio.sigstore.dev", "Sigstore production (public:"),
        ("https://fulcio.sigstore.dev.", "Sigstore production (public:"),  # fully qualified
        ("https://FULCIO.SIGSTORE.DEV", "Sigstore production (public:"),
        ("https://Fulcio.Sigstore.Dev.:443", "Sigstore production (public:"),
        ("https://fulcio.sigstage.dev", "Sigstore staging (public:"),
        ("https://FULCIO.sigstage.dev.", "Sigstore staging (public:"),
        ("http://127.0.0.1:4000/", "local instance http://127.0.0.1:4000"),
        ("https://ca.corp.example", "the Sigstore deployment at https://ca.corp.example"),
        ("https://fulcio.sigstore.dev.corp.example", "the Sigstore deployment at https://"),
    ],
)
def test_the_instance_is_named_by_its_ca(url: str, said: str) -> None:
    """A host name as DNS resolves it: one trailing dot and upper case are the same host (they
    used to pass as a private deployment, unasked). Staging's log is public too: asked."""
    place = session.Where(trust=None, ca_url=url)  # type: ignore[arg-type]
    assert place.describe().startswith(said)
    assert place.production == ("(public:" in said)


@pytest.mark.parametrize(
    ("value", "ci"),
    [("true", True), ("1", True), ("yes", True), ("TRUE", True),
     ("false", False), ("0", False), ("", False), ("no", False), (None, False)],
)  # fmt: skip
def test_ci_is_read_as_true_only_for_true_like_values(
    monkeypatch: pytest.MonkeyPatch, value: str | None, ci: bool
) -> None:
    """CI=false (or 0, or empty) is a person's shell: asked at a terminal (it used to count as
    CI, because the variable was set)."""
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    monkeypatch.setattr(session, "_terminal", lambda: True)
    assert session.in_ci() is ci
    assert session.interactive() is not ci


def test_staging_asks_naming_staging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "interactive", lambda: True)
    monkeypatch.setattr("sys.stdin.readline", lambda: "n\n")
    place = session.Where(trust=None, ca_url="https://fulcio.sigstage.dev")  # type: ignore[arg-type]
    with pytest.raises(session.UsageError, match="signing against Sigstore staging was not"):
        session.announce(place, yes=False)


@pytest.mark.parametrize("url", ["https://[zz]", "https://ca.example:99999", "ftp://ca.example"])
@pytest.mark.parametrize("command", ["sign", "release"])
def test_a_malformed_service_url_is_a_configuration_error(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    tmp_path: Path,
    url: str,
    command: str,
) -> None:
    """A signing config naming a CA URL that does not parse: exit 2 naming the file (it used to
    be an internal error, exit 3)."""
    import json

    config = json.loads(instance.trust_config.read_text())
    config["signingConfig"]["caUrls"][0]["url"] = url
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    artifact = tmp_path / "app-1.0.tar.gz"
    artifact.write_bytes(b"sdist\n")
    extra = ["--policy", str(tmp_path / "none.yaml")] if command == "release" else []
    result = invoke(command, "--trust-config", str(path), *extra, str(artifact),
                    env={**NO_TOKEN, "CI": "1"})  # fmt: skip
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"attest: error: {path}: the service URL {url!r} is " in result.stderr


@pytest.mark.parametrize(
    ("logs", "public"),
    [
        (("https://rekor.sigstore.dev",), True),
        (("https://log2025-1.rekor.sigstore.dev",), True),
        (("https://rekor.sigstore.dev.corp.example",), False),
        (("https://rekor.corp.example",), False),
    ],
)
def test_a_private_ca_logging_publicly_is_production(logs: tuple[str, ...], public: bool) -> None:
    """What makes signing public for good is the public log, whoever issues the certificate:
    a private CA whose signing config logs to Sigstore's public Rekor is asked about too."""
    place = session.Where(trust=None, ca_url="https://ca.corp.example", log_urls=logs)  # type: ignore[arg-type]
    assert place.production is public
    said = "logging to Sigstore's public transparency log: identity and digests are published"
    assert (said in place.describe()) is public


def test_only_a_public_log_is_named_as_such_and_refused_as_such(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A private CA logging publicly: the line names the log plainly (it read "logging to
    Sigstore's (public: ..."), and 'n' refuses public logging, not "Sigstore production"."""
    monkeypatch.setattr(session, "interactive", lambda: True)
    monkeypatch.setattr("sys.stdin.readline", lambda: "n\n")
    logs = ("https://rekor.sigstore.dev",)
    place = session.Where(trust=None, ca_url="https://ca.corp.example", log_urls=logs)  # type: ignore[arg-type]
    assert place.describe() == (
        "the Sigstore deployment at https://ca.corp.example, logging to Sigstore's public "
        "transparency log: identity and digests are published for good"
    )
    with pytest.raises(
        session.UsageError, match="nothing was signed: signing that logs publicly was not confirmed"
    ):
        session.announce(place, yes=False)


def _fullwidth(text: str) -> str:
    """`text` in fullwidth letters, as IDNA's NFKC maps back to ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


@pytest.mark.parametrize(
    "ca",
    [
        "https://" + _fullwidth("fulcio") + ".sigstore.dev",
        "https://fulcio\u3002sigstore\u3002dev",
        "https://fulcio\uff0esigstore\uff0edev",
    ],
)
def test_idna_spellings_of_production_are_production(ca: str) -> None:
    """Host names compared as IDNA resolves them (NFKC, its full stops): a fullwidth spelling
    of production's CA with a local log is production, not a deployment "logging to
    Sigstore's" (it used to be both, garbled)."""
    place = session.Where(trust=None, ca_url=ca, log_urls=("http://127.0.0.1:4000",))  # type: ignore[arg-type]
    assert place.describe().startswith("Sigstore production (public:")
    assert "logging to" not in place.describe()
    log = session.Where(
        trust=None,
        ca_url="http://127.0.0.1:4000",
        log_urls=("https://" + _fullwidth("rekor") + ".sigstore.dev",),
    )  # type: ignore[arg-type]
    assert log.production


def test_a_public_tsa_is_public_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local CA and log with Sigstore's TSA: asked, and named on the 'signing against' line
    (it was said to be a local instance, unasked)."""
    monkeypatch.setattr(session, "interactive", lambda: True)
    monkeypatch.setattr("sys.stdin.readline", lambda: "n\n")
    tsa = ("https://timestamp.sigstore.dev/api/v1/timestamp",)
    place = session.Where(trust=None, ca_url="http://127.0.0.1:4000", tsa_urls=tsa)  # type: ignore[arg-type]
    assert place.production
    assert place.describe() == (
        "local instance http://127.0.0.1:4000, timestamping with Sigstore's public TSA "
        "timestamp.sigstore.dev"
    )
    with pytest.raises(session.UsageError, match="public timestamping was not confirmed"):
        session.announce(place, yes=False)


def test_sigstore_warnings_carry_attest_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    """sigstore-python's own warnings (an unusable TSA) are attest warnings on stderr, never a
    bare line."""
    import logging

    from verify import logs

    logs.configure(0)
    logging.getLogger("sigstore.sign").warning("Unable to use https://tsa to timestamp the bundle")
    assert capsys.readouterr().err == (
        "attest: warning: sigstore.sign: Unable to use https://tsa to timestamp the bundle\n"
    )


def test_build_asks_before_the_build_runs(
    invoke: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`attest build` against production asks first: "no" means the build never ran (it used
    to run the whole build, then ask)."""
    monkeypatch.chdir(_checkout(tmp_path))
    monkeypatch.setattr(session, "_terminal", lambda: True)
    config = production_trust_config(tmp_path)
    result = invoke("build", "--trust-config", str(config), *SIGNING_COMMANDS["build"][1:],
                    env={**NO_TOKEN, "CI": "false"})  # fmt: skip
    assert QUESTION in result.stderr
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "signing against Sigstore production was not confirmed" in result.stderr
    assert "running the build" not in result.stderr
    assert not (tmp_path / "out.txt").exists()  # the build never ran


def test_no_token_at_a_terminal_with_a_local_instance_says_it_has_no_sign_in(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The local instance's identity provider has no browser sign-in: one line pointing at
    `attest instance token`, exit 2 (it was "internal error: IssuerError", exit 3)."""
    from attest.sign import identity

    monkeypatch.setattr(identity, "_terminal", lambda: True)
    artifact = tmp_path / "a.txt"
    artifact.write_bytes(b"a\n")
    result = invoke("sign", "--trust-config", str(instance.trust_config), str(artifact),
                    env={**NO_TOKEN, "CI": None})  # fmt: skip
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "offers no interactive sign-in: pass --identity-token or set ATTEST_IDENTITY_TOKEN " in (
        result.stderr
    )
    assert "`attest instance token`" in result.stderr
    assert "internal error" not in result.stderr


def test_a_trust_config_naming_a_public_tsa_is_public(
    instance: LocalInstance, tmp_path: Path
) -> None:
    """The signing config's tsaUrls are read with its CA and logs."""
    import json

    config = json.loads(instance.trust_config.read_text())
    config["signingConfig"]["tsaUrls"] = [
        {"url": "https://timestamp.sigstore.dev/api/v1/timestamp", "majorApiVersion": 1,
         "validFor": {"start": "2020-01-01T00:00:00Z"}, "operator": "sigstore.dev"}
    ]  # fmt: skip
    config["signingConfig"]["tsaConfig"] = {"selector": "ANY"}
    path = tmp_path / "tsa.json"
    path.write_text(json.dumps(config))
    place = session.where(path, None)
    assert place.production
    assert "timestamping with Sigstore's public TSA timestamp.sigstore.dev" in place.describe()
