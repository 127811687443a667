"""What an outside attack found in the producer's readers (issue 14): an overlong version, two
pins of one package, invalid names, versions and markers in lock files and pyproject.toml, a
pyproject.toml the user never named, and credentials in a URL's query or fragment."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from attest.sbom.interface import MAX_VERSION
from attest.sbom.sources import _introspect
from attest.sbom.validate import InvalidSbom, validate
from attest.urls import without_credentials
from tests.attest.sbom.helpers import Sbom
from tests.attest.sbom.test_hostile_inputs import DB, SECRET, refused, write
from tests.attest.scan.helpers import NOW

Invoke = Callable[..., Result]
LONG = "1." + "9" * 5000  # past int()'s 4,300 digits and CycloneDX's 1,024 characters


# -- F3: a version the SBOM cannot carry ---------------------------------------------------------


@pytest.mark.parametrize("command", ["sbom", "scan"])
def test_an_overlong_version_is_refused_while_the_file_is_read(
    invoke: Invoke, tmp_path: Path, command: str
) -> None:
    """It was exit 3: the SBOM's validation quoted all 5,002 characters, the scan failed in
    int() ("Exceeds the limit (4300 digits)")."""
    path = write(tmp_path / "r.txt", f"six==1.16.0\nrequests=={LONG}\n")
    extra = ["--db", DB, "--now", NOW] if command == "scan" else []
    line = refused(
        invoke(command, "--requirements", str(path), *extra),
        f"{path}: line 2: version '1.999",
        f"is over {MAX_VERSION} characters (CycloneDX's limit for a version)",
    )
    assert len(line) < 200 + len(str(path)) and "4300" not in line


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("uv.lock", f"version = 1\n[[package]]\nname = 'a'\nversion = '{LONG}'\n"),
        ("pylock.toml", f"lock-version = '1.0'\n[[packages]]\nname = 'a'\nversion = '{LONG}'\n"),
        ("poetry.lock", f"[[package]]\nname = 'a'\nversion = '{LONG}'\n"),
    ],
)
def test_an_overlong_version_in_a_lock_is_refused(
    invoke: Invoke, tmp_path: Path, name: str, content: str
) -> None:
    lock = write(tmp_path / name, content)
    line = refused(invoke("sbom", "--lock", str(lock)), f"{lock}: package 'a': version '1.999")
    assert len(line) < 200 + len(str(lock))


def test_a_schema_refusal_quotes_only_an_excerpt_of_the_value() -> None:
    """The last line of defence (a source plugin that checks nothing) quotes no whole value."""
    component = {"type": "library", "name": "a", "version": "9" * 2000, "bom-ref": "a"}
    document = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [component]}
    with pytest.raises(InvalidSbom) as refusal:
        validate(json.dumps(document), "json")
    message = str(refusal.value)
    assert message.startswith(
        "the SBOM does not validate against CycloneDX 1.6 at components/0/version: '999"
    )
    assert message.endswith("… is too long") and len(message) < 200, message


# -- F5: the pyproject.toml beside the input, which the user never named -------------------------


def _beside(tmp_path: Path) -> Path:
    return write(tmp_path / "p" / "requirements.txt", "requests==2.31.0\n")


def test_a_pyproject_that_leads_out_of_the_tree_is_refused(invoke: Invoke, tmp_path: Path) -> None:
    """It was read through the symlink: any TOML file's name and version went into the SBOM."""
    requirements = _beside(tmp_path)
    write(tmp_path / "secret.toml", f"[project]\nname = 'x{SECRET[:20]}'\nversion = '1'\n")
    (tmp_path / "p" / "pyproject.toml").symlink_to("../secret.toml")
    result = invoke("sbom", "--requirements", str(requirements))
    refused(
        result,
        f"{tmp_path / 'p' / 'pyproject.toml'}: leads outside {tmp_path / 'p'}: not read "
        "(name its directory with --project DIR or --allow-includes-outside)",
    )
    assert SECRET[:20] not in result.stdout + result.stderr
    allowed = invoke("sbom", "--requirements", str(requirements), "--allow-includes-outside")
    assert allowed.exit_code == 0 and Sbom(allowed.stdout).root["name"] == f"x{SECRET[:20]}"


@pytest.mark.parametrize("kind", ["fifo", "directory", "dev-zero"])
def test_a_pyproject_that_is_no_regular_file_is_refused_as_with_project(
    invoke: Invoke, tmp_path: Path, kind: str
) -> None:
    """It was ignored silently (exit 0) beside the input, and exit 2 with --project: now exit 2
    either way, with the same reason."""
    requirements = _beside(tmp_path)
    found = tmp_path / "p" / "pyproject.toml"
    if kind == "fifo":
        os.mkfifo(found)
    elif kind == "directory":
        found.mkdir()
    else:
        found.symlink_to("/dev/zero")
    reason = {
        "fifo": "is not a regular file",
        "directory": "is a directory",
        "dev-zero": "is in /dev, a kernel pseudo file system",
    }[kind]
    beside = refused(invoke("sbom", "--requirements", str(requirements)), f"{found}: {reason}")
    named = invoke("sbom", "--requirements", str(requirements), "--project", str(found.parent))
    assert refused(named, f"{found}: {reason}") == beside


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (f"[project]\nname = 'x'\ndependencies = ['{SECRET} !!']\n", "invalid dependency"),
        (f"[project]\nname = 'x'\nversion = '{SECRET}\n", "not valid TOML (at "),
        (f"[project]\nname = '{SECRET} !!'\n", "project: invalid package name"),
        (f"[project]\nname = 'x'\nversion = '{SECRET}'\n", "project: invalid version"),
    ],
)
def test_a_pyproject_the_user_did_not_name_is_never_quoted(
    invoke: Invoke, tmp_path: Path, content: str, reason: str
) -> None:
    requirements = _beside(tmp_path)
    write(tmp_path / "p" / "pyproject.toml", content)
    result = invoke("sbom", "--requirements", str(requirements))
    line = refused(result, f"{tmp_path / 'p' / 'pyproject.toml'}: {reason}")
    assert SECRET[:8] not in line
    named = invoke("sbom", "--requirements", str(requirements), "--project", str(tmp_path / "p"))
    named_line = refused(named, f"{tmp_path / 'p' / 'pyproject.toml'}: ")
    assert SECRET[:8] in named_line or "TOML" in reason  # named: an excerpt


# -- F6: credentials in a URL's query or fragment ------------------------------------------------


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://u:p@host/a.whl?token=S", "https://host/a.whl"),
        ("https://host/a.whl?X-Amz-Signature=S&X-Amz-Credential=S", "https://host/a.whl"),
        ("https://host/a.whl#sha256=ab&token=S&egg=a", "https://host/a.whl#sha256=ab&egg=a"),
        ("git+https://host/r.git@v1#egg=a&subdirectory=d&sig=S", None),
        ("https://host/a.whl#S", "https://host/a.whl"),
        ("https://host/a.whl", None),
        ("https://host/a.whl;token=S", "https://host/a.whl"),  # path parameters
        ("https://host/d;x=S/a.whl", "https://host/d"),  # cut at the first: nothing guessed
        ("data:text/plain,S", "data:"),
    ],
)
def test_without_credentials_keeps_only_what_pip_defines(url: str, public: str | None) -> None:
    assert without_credentials(url) == (public or url.replace("&sig=S", ""))


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_token_in_a_query_or_fragment_never_reaches_the_sbom(
    invoke: Invoke, tmp_path: Path, fmt: str
) -> None:
    requirements = write(
        tmp_path / "requirements.txt",
        f"pkg @ https://host/pkg-1.0.whl?token={SECRET}\n"
        f"other @ https://host/other-1.0.whl#sha256={'a' * 64}&token={SECRET}&egg=other\n"
        f"tool @ git+https://host/tool.git@v1#egg=tool&sig={SECRET}\n",
    )
    lock = write(
        tmp_path / "lock" / "uv.lock",
        "version = 1\n[[package]]\nname = 'a'\nversion = '1'\n"
        f"source = {{ url = 'https://host/a-1.tar.gz?sig={SECRET}' }}\n"
        "[[package]]\nname = 'b'\nversion = '1'\n"
        f"source = {{ git = 'https://host/b?rev=v1&token={SECRET}#{'c' * 40}' }}\n"
        "[[package]]\nname = 'c'\nversion = '1'\n"
        f"source = {{ registry = 'https://host/simple?token={SECRET}' }}\n",
    )
    for option, path in (("--requirements", requirements), ("--lock", lock)):
        result = invoke("sbom", option, str(path), "--format", fmt)
        assert result.exit_code == 0, result.stderr
        assert SECRET not in result.stdout and SECRET[:8] not in result.stdout
        assert "host/" in result.stdout
        if option == "--requirements":  # pip's fragment keys are kept
            assert "sha256%3D" + "a" * 64 in result.stdout


def test_a_uv_git_source_keeps_its_commit_in_pips_form(invoke: Invoke, tmp_path: Path) -> None:
    lock = write(
        tmp_path / "uv.lock",
        "version = 1\n[[package]]\nname = 'b'\nversion = '1'\n"
        f"source = {{ git = 'https://host/b?subdirectory=sub&rev=v1#{'c' * 40}' }}\n",
    )
    result = invoke("sbom", "--lock", str(lock))
    assert result.exit_code == 0, result.stderr
    assert set(Sbom(result.stdout).components) == {
        f"pkg:pypi/b@1?vcs_url=git%2Bhttps://host/b%40{'c' * 40}%23subdirectory%3Dsub"
    }


# -- F7: entries pip, uv or Poetry would refuse ---------------------------------------------------


def test_two_pins_of_one_package_are_refused_naming_both_lines(
    invoke: Invoke, tmp_path: Path
) -> None:
    """pip refuses the file ("Double requirement given"); attest listed both versions."""
    path = write(tmp_path / "r.txt", "requests==2.31.0\nsix==1.16.0\nrequests==2.30.0\n")
    refused(
        invoke("sbom", "--requirements", str(path)),
        f"{path}: line 3: 'requests' is pinned to another version at {path} line 1 "
        "(pip refuses a double requirement)",
    )
    # across an include too, and the included file's text is not quoted
    write(tmp_path / "base.txt", "Requests==2.30.0\n")
    top = write(tmp_path / "top.txt", "requests==2.31.0\n-r base.txt\n")
    refused(
        invoke("sbom", "--requirements", str(top)),
        f"{tmp_path / 'base.txt'}: line 1: (not shown: from a file not named) is pinned to "
        f"another version at {top} line 1",
    )
    # the same pin twice is one component, as before
    same = write(tmp_path / "same.txt", "requests==2.31.0\nrequests==2.31.0\n")
    result = invoke("sbom", "--requirements", str(same))
    assert result.exit_code == 0 and len(Sbom(result.stdout).components) == 1


def test_an_empty_hash_value_is_refused(invoke: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path / "r.txt", "requests==2.31.0 --hash=md5:\n")
    refused(invoke("sbom", "--requirements", str(path)), f"{path}: line 1: malformed md5 digest ''")


LOCKS = {
    "uv.lock": ("version = 1\n[[package]]\n", "resolution-markers = ['{}']\n"),
    "pylock.toml": ("lock-version = '1.0'\n[[packages]]\n", "marker = '{}'\n"),
    "poetry.lock": ("[[package]]\n", "markers = '{}'\n"),
}


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_invalid_names_versions_and_markers_in_a_lock_are_refused(
    invoke: Invoke, tmp_path: Path, name: str
) -> None:
    """They went into the SBOM with exit 0 (an unparsable marker was kept silently: refused now,
    as uv and Poetry refuse it, since guessing could drop a package from the SBOM)."""
    head, marker = LOCKS[name]
    cases = [
        (f"name = '{SECRET[:12]} !!'\nversion = '1'\n", "package #1: invalid package name"),
        (f"name = 'a'\nversion = '{SECRET[:12]}!!'\n", "package 'a': invalid version"),
        ("name = 'a'\nversion = '1'\n" + marker.format(SECRET[:12] + " ==="),
         "package 'a': not a valid environment marker"),
    ]  # fmt: skip
    for body, reason in cases:
        lock = write(tmp_path / name, head + body)
        line = refused(invoke("sbom", "--lock", str(lock)), f"{lock}: {reason}")
        assert "===" not in line and len(line) < 200 + len(str(lock)), line


def test_an_overlong_version_in_an_environment_is_exit_2(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed metadata holds any text: a version the SBOM cannot carry names the
    distribution (exit 2), not the schema's failure (exit 3)."""
    real = _introspect.collect()
    hostile = {**real["distributions"][0], "name": "evil", "version": LONG}
    data = {**real, "distributions": [hostile]}
    monkeypatch.setattr(_introspect, "collect", lambda: data)
    line = refused(
        invoke("sbom", "--python", sys.executable),  # read in-process: the patched collect
        "distribution 'evil': version '1.999",
        "is over 1024 characters",
    )
    assert len(line) < 300, line
