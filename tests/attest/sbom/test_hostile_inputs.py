"""Requirements and lock files written by an attacker (a pull request's): nothing of a file the
user did not name reaches a message, includes stay in the named file's tree and out of /proc,
/sys and /dev, every refusal is exit 2 with one line naming the file, and environment markers
are evaluated for the target interpreter."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest.sbom.interface import excerpt
from attest.sbom.sources.requirements import MAX_INCLUDE_DEPTH
from tests.attest.sbom.helpers import Sbom
from tests.attest.scan.helpers import NOW, PYPA_FIXTURE
from tests.conftest import run_attest
from verify.errors import ExitCode

Invoke = Callable[..., Result]
SECRET = "ghp_s3cr3tT0kenThatMustNeverBePrinted"
DB = str(PYPA_FIXTURE)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def refused(result: Result | object, *reasons: str) -> str:
    """The one error line of a refusal (exit 2), after checking it holds each reason."""
    stderr: str = getattr(result, "stderr", "")
    code = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert code == ExitCode.USAGE, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("attest: error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    for reason in reasons:
        assert reason in errors[0], stderr
    return errors[0]


# -- leaks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["sbom", "scan"])
def test_an_include_of_the_process_environment_is_refused_unread(
    tmp_path: Path, command: str
) -> None:
    """The issue's probe: `-r /proc/self/environ` printed the whole environment."""
    requirements = write(tmp_path / "req.txt", "-r /proc/self/environ\n")
    extra = ["--db", DB, "--now", NOW] if command == "scan" else ["-o", str(tmp_path / "o")]
    done = run_attest(
        command, "--requirements", str(requirements), *extra, env={"ATTEST_PROBE": SECRET}
    )
    refused(
        done,
        f"{requirements}: line 1: -r '/proc/self/environ': is in /proc, a kernel pseudo file "
        "system: never read",
    )
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("allow", [False, True])
def test_pseudo_files_are_refused_by_name_through_symlinks_and_whatever_the_flag(
    invoke: Invoke, tmp_path: Path, allow: bool
) -> None:
    flag = ["--allow-includes-outside"] if allow else []
    (tmp_path / "env.txt").symlink_to("/proc/self/environ")
    inside = write(tmp_path / "ok.txt", "requests==2.31.0\n")
    for include, root in [
        ("env.txt", "/proc"),
        ("/dev/zero", "/dev"),
        ("/sys/power/state", "/sys"),
        ("/dev/./stdin", "/dev"),  # was named only as /dev/stdin, without the line
        (f"/proc/self/cwd/{os.path.relpath(inside)}", "/proc"),  # resolves into the tree
    ]:
        requirements = write(tmp_path / "req.txt", f"-r {include}\n")
        result = invoke("sbom", "--requirements", str(requirements), *flag)
        refused(result, f"line 1: -r {excerpt(include)}: is in {root}, a kernel pseudo file system")
    # Named on the command line, or as the lock file, a symlink into /proc is refused too.
    lock = tmp_path / "uv.lock"
    lock.symlink_to("/proc/self/environ")
    for option, path in [("--requirements", tmp_path / "env.txt"), ("--lock", lock)]:
        result = invoke("sbom", option, str(path))
        refused(result, f"{path}: is in /proc, a kernel pseudo file system: never read as input")


def test_includes_stay_in_the_named_files_tree_unless_allowed(
    invoke: Invoke, tmp_path: Path
) -> None:
    write(tmp_path / "outside" / "secret.txt", f"TOKEN={SECRET}\n")
    write(tmp_path / "outside" / "ok.txt", "requests==2.31.0\n")
    for include in ["../outside/secret.txt", str(tmp_path / "outside" / "secret.txt")]:
        requirements = write(tmp_path / "app" / "req.txt", f"-r {include}\n")
        result = invoke("sbom", "--requirements", str(requirements))
        refused(
            result,
            f"line 1: -r {excerpt(include)}: outside {tmp_path / 'app'}, the directory of "
            f"{requirements} (--allow-includes-outside reads it)",
        )
    # Allowed, the outside file is read, and its text is still never shown.
    requirements = write(tmp_path / "app" / "req.txt", "-r ../outside/secret.txt\n")
    result = invoke("sbom", "--requirements", str(requirements), "--allow-includes-outside")
    line = refused(result, "secret.txt: line 1: not a valid requirement (not shown: from a file n")
    assert SECRET not in result.stdout + result.stderr and "TOKEN" not in line
    write(tmp_path / "app" / "req.txt", "-r ../outside/ok.txt\n")
    result = invoke("sbom", "--requirements", str(requirements), "--allow-includes-outside")
    assert result.exit_code == 0, result.stderr
    assert "pkg:pypi/requests@2.31.0" in Sbom(result.stdout).components
    # The flag is for requirements files only.
    result = invoke("sbom", "--lock", str(tmp_path / "uv.lock"), "--allow-includes-outside")
    assert result.exit_code == ExitCode.USAGE
    assert "--allow-includes-outside is for --requirements" in result.stderr


def test_a_file_in_the_tree_the_user_did_not_name_is_never_quoted(
    invoke: Invoke, tmp_path: Path
) -> None:
    """actions/checkout leaves the token in .git/config, inside the tree."""
    write(
        tmp_path / ".git" / "config",
        f'[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic {SECRET}\n',
    )
    requirements = write(tmp_path / "req.txt", "-r .git/config\n")
    result = invoke("sbom", "--requirements", str(requirements))
    refused(result, f"{tmp_path / '.git' / 'config'}: line 1: not a valid requirement (not shown")
    assert SECRET not in result.stderr and "extraheader" not in result.stderr
    # Every kind of refusal inside an included file quotes none of it.
    for line in [
        f"{SECRET}==1 --hash=sha256:{SECRET}",
        f"--{SECRET}",
        f"-e ../{SECRET}",
        f"x==1 --{SECRET}",
        f'x==1 ; os_name ~= "{SECRET}"',
        f"-r {SECRET}",
        f"'{SECRET}",
    ]:
        write(tmp_path / "inc.txt", line + "\n")
        write(requirements, "-r inc.txt\n")
        result = invoke("sbom", "--requirements", str(requirements))
        refused(result, f"{tmp_path / 'inc.txt'}: line 1: ")
        assert SECRET not in result.stderr, line


def test_the_named_file_is_quoted_only_in_a_short_escaped_excerpt(
    invoke: Invoke, tmp_path: Path
) -> None:
    requirements = write(tmp_path / "req.txt", "a\x1b[2J\u202e" + "x" * 10_000 + " >>\n")
    result = invoke("sbom", "--requirements", str(requirements))
    line = refused(result, "line 1: not a valid requirement 'a\\x1b[2J\\u202exxx")
    assert "xxx'…" in line and len(line) < 300 + len(str(requirements))
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("uv.lock", f"version = 1\n[[package]]\nname = 'a'\nsource = {{ {'k' * 500} = 1 }}\n",
         "package 'a': unknown source (keys 'kkkk"),
        ("uv.lock", f"version = '{'v' * 500}'\n", "unsupported uv.lock version 'vvvv"),
        ("uv.lock", f"version = 1\n[[package]]\nname = '{'n' * 500}'\nversion = 1\n",
         "package 'nnnn"),
        ("pylock.toml", f"lock-version = '1.0'\n[[packages]]\nname = 'a'\n"
         f"sdist = {{ hashes = {{ sha256 = '{'z' * 500}' }} }}\n", "malformed sha256 digest 'zzz"),
        ("poetry.lock", f"[[package]]\nname = 'a'\nversion = '1'\n[package.source]\n"
         f"type = '{'t' * 500}'\nurl = 'x'\n", "unknown source type 'tttt"),
        ("uv.lock", f"a.{'k' * 500} = 1\na.{'k' * 500} = 2\n", "not valid TOML: Cannot "),
    ],
)  # fmt: skip
def test_lock_file_refusals_quote_only_an_excerpt(
    invoke: Invoke, tmp_path: Path, name: str, content: str, problem: str
) -> None:
    lock = write(tmp_path / name, content)
    line = refused(invoke("sbom", "--lock", str(lock)), f"{lock}: ", problem)
    assert len(line) < 200 + len(str(lock)), line


def test_pyproject_and_sbom_refusals_quote_only_an_excerpt(invoke: Invoke, tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml", f"[project]\nname = 'p'\ndependencies = ['{'d' * 500} >>']\n"
    )
    lock = write(tmp_path / "uv.lock", "version = 1\n")
    named = invoke("sbom", "--lock", str(lock), "--project", str(tmp_path))
    line = refused(named, "invalid dependency 'dddd")
    assert len(line) < 300 + len(str(tmp_path)), line
    bom = write(
        tmp_path / "bom.json",
        json.dumps({"bomFormat": "CycloneDX", "components": [{"purl": "pypi/" + "q" * 500}]}),
    )
    result = invoke("scan", "--sbom", str(bom), "--db", DB, "--now", NOW)
    line = refused(result, f"{bom}: component purl 'pypi/qqq", "'… is malformed")
    assert "q" * 100 not in line


# -- exit codes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["sbom", "scan"])
def test_a_chain_of_two_thousand_includes_is_exit_2(
    invoke: Invoke, tmp_path: Path, command: str
) -> None:
    for i in range(2000):
        write(tmp_path / f"f{i}.txt", f"-r f{i + 1}.txt\n" if i < 1999 else "requests==2.31.0\n")
    extra = ["--db", DB, "--now", NOW] if command == "scan" else []
    result = invoke(command, "--requirements", str(tmp_path / "f0.txt"), *extra)
    refused(
        result,
        f"{tmp_path / f'f{MAX_INCLUDE_DEPTH}.txt'}: line 1: -r (not shown: from a file not "
        f"named): includes nested more than {MAX_INCLUDE_DEPTH} files deep (the limit)",
    )


def test_includes_shared_by_two_files_are_not_a_cycle(invoke: Invoke, tmp_path: Path) -> None:
    write(tmp_path / "common.txt", "requests==2.31.0\n")
    write(tmp_path / "b.txt", "-r common.txt\nflask==3.0.0\n")
    write(tmp_path / "c.txt", "-r common.txt\n")
    main = write(tmp_path / "req.txt", "-r b.txt\n-r c.txt\n-r ./b.txt\n")
    result = invoke("sbom", "--requirements", str(main))
    assert result.exit_code == 0, result.stderr
    assert set(Sbom(result.stdout).components) == {
        "pkg:pypi/requests@2.31.0",
        "pkg:pypi/flask@3.0.0",
    }
    write(tmp_path / "common.txt", "-r req.txt\n")
    refused(
        invoke("sbom", "--requirements", str(main)),
        f"{tmp_path / 'common.txt'}: line 1: -r (not shown: from a file not named): includes "
        "a file that includes it (a cycle)",
    )


def _nested(opening: str, closing: str, depth: int = 20_000) -> str:
    return opening * depth + "1" + closing * depth


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("uv.lock", "version = 1\na = " + _nested("[", "]") + "\n"),
        ("poetry.lock", "a = " + _nested("{b = ", "}") + "\n"),
        ("pylock.toml", "lock-version = '1.0'\na = " + _nested("[{b = ", "}]") + "\n"),
        ("pyproject.toml", "[project]\nname = 'p'\na = " + _nested("[", "]") + "\n"),
    ],
)
def test_toml_nested_twenty_thousand_deep_is_exit_2(
    invoke: Invoke, tmp_path: Path, name: str, content: str
) -> None:
    path = write(tmp_path / name, content)
    if name == "pyproject.toml":
        result = invoke("sbom", "--lock", str(write(tmp_path / "uv.lock", "version = 1\n")))
    else:
        result = invoke("sbom", "--lock", str(path))
    refused(result, f"{path}: not valid TOML: arrays or inline tables nested too deeply")


def test_an_sbom_nested_twenty_thousand_deep_is_exit_2(invoke: Invoke, tmp_path: Path) -> None:
    bom = write(
        tmp_path / "bom.json",
        '{"bomFormat": "CycloneDX", "components": ' + _nested("[", "]") + "}",
    )
    result = invoke("scan", "--sbom", str(bom), "--db", DB, "--now", NOW)
    refused(result, f"{bom}: not valid JSON: arrays or objects nested too deeply")


# -- markers -------------------------------------------------------------------------------------


def test_requirements_markers_are_evaluated_for_the_target_python(
    invoke: Invoke, tmp_path: Path
) -> None:
    requirements = write(
        tmp_path / "req.txt",
        'django==1.11 ; python_version < "3"\n'
        "requests==2.31.0\n"
        'tomli==2.0.1 ; python_version < "3.11"\n',
    )
    result = invoke("sbom", "--requirements", str(requirements), "--python-version", "3.12")
    assert result.exit_code == 0, result.stderr
    sbom = Sbom(result.stdout)
    assert set(sbom.components) == {"pkg:pypi/requests@2.31.0"}
    source = {p["name"]: p["value"] for p in sbom.data["metadata"]["properties"]}
    assert (
        source["attest:sbom:source"]
        == f"requirements file {requirements} (for Python 3.12.0 on linux)"
    )
    assert (
        "2 requirement(s) skipped, their environment markers do not hold for Python 3.12.0 on "
        f"linux: 'django' ({requirements} line 1), 'tomli' ({requirements} line 3)"
    ) in result.stderr
    assert "(for Python 3.12.0 on linux)" in result.stderr.splitlines()[-1]
    result = invoke("sbom", "--requirements", str(requirements), "--python-version", "2.7")
    assert set(Sbom(result.stdout).components) == {
        "pkg:pypi/django@1.11",
        "pkg:pypi/requests@2.31.0",
        "pkg:pypi/tomli@2.0.1",
    }
    # By default: the interpreter attest runs under (3.10 or later, so django is skipped).
    result = invoke("sbom", "--requirements", str(requirements))
    assert "pkg:pypi/django@1.11" not in Sbom(result.stdout).components


def test_the_scan_honours_markers_and_names_the_target(invoke: Invoke, tmp_path: Path) -> None:
    requirements = write(tmp_path / "req.txt", 'toyweb==3.2 ; python_version < "3"\n')
    base = ["scan", "--requirements", str(requirements), "--db", DB, "--now", NOW]
    base += ["--cache-dir", str(tmp_path / "cache")]
    result = invoke(*base, "--python-version", "3.12")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["findings"] == []
    assert "for Python 3.12.0 on linux" in json.dumps(report)
    assert any("1 requirement(s) skipped" in w for w in report["warnings"])
    result = invoke(*base, "--python-version", "2.7")
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert {f["package"] for f in json.loads(result.stdout)["findings"]} == {"toyweb"}


def test_lock_markers_leave_out_only_what_surely_is_not_installed(
    invoke: Invoke, tmp_path: Path
) -> None:
    uv = write(
        tmp_path / "uv" / "uv.lock",
        "version = 1\n"
        "[[package]]\nname = 'numpy'\nversion = '1.24.4'\n"
        "resolution-markers = [\"python_full_version < '3.9'\"]\n"
        "[[package]]\nname = 'numpy'\nversion = '2.1.0'\n"
        "resolution-markers = [\"python_full_version >= '3.9'\"]\n"
        "[[package]]\nname = 'torch'\nversion = '2.0'\n"
        "resolution-markers = [\"python_full_version < '3.9' and extra == 'extra-3-p-cpu'\"]\n",
    )
    pylock = write(
        tmp_path / "pylock.toml",
        "lock-version = '1.0'\n"
        "[[packages]]\nname = 'tomli'\nversion = '2.0.1'\nmarker = \"python_version < '3.11'\"\n"
        "[[packages]]\nname = 'idna'\nversion = '3.7'\n",
    )
    poetry = write(
        tmp_path / "poetry.lock",
        "[[package]]\nname = 'colorama'\nversion = '0.4.6'\n"
        "markers = {main = \"sys_platform == 'win32'\"}\n"
        "[[package]]\nname = 'idna'\nversion = '3.7'\nmarkers = \"python_version >= '3'\"\n",
    )
    expected = {
        uv: {"pkg:pypi/numpy@2.1.0", "pkg:pypi/torch@2.0"},  # an extra: kept, it may be chosen
        pylock: {"pkg:pypi/idna@3.7"},
        poetry: {"pkg:pypi/idna@3.7"},
    }
    for lock, components in expected.items():
        result = invoke("sbom", "--lock", str(lock), "--python-version", "3.12")
        assert result.exit_code == 0, result.stderr
        assert set(Sbom(result.stdout).components) == components, lock
        assert "1 package(s) left out, their markers do not hold for Python 3.12.0" in result.stderr
    result = invoke("sbom", "--lock", str(uv), "--python-version", "3.8")
    assert "pkg:pypi/numpy@1.24.4" in Sbom(result.stdout).components


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["sbom", "--python-version", "3.12"], "--python-version is for --requirements and --lock"),
        (["scan", "--sbom", "x.json", "--python-version", "3.12"], "--python-version is for"),
        (["sbom", "--lock", "uv.lock", "--python-version", "three"], "'three' is not a Python"),
    ],
)
def test_python_version_is_refused_where_it_means_nothing(
    invoke: Invoke, args: list[str], problem: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == ExitCode.USAGE
    assert problem in result.stderr


# -- a property over hostile trees ---------------------------------------------------------------

_NAMES = ["req.txt", "a.txt", "sub/b.txt"]
_INCLUDES = [*_NAMES, "../outside/secret.txt", "missing.txt", "/proc/self/environ", "/dev/null",
             "sub", "../outside", "link.txt", "sub/../a.txt"]  # fmt: skip
_line = st.one_of(
    st.sampled_from(["requests==2.31.0", "flask>=2", "# via x", "#   y", "-c c.txt", "--pre",
                     'django<2 ; python_version < "3"', "x==1 --hash=sha256:" + "a" * 64,
                     "x==1 --hash=sha256:zz", "-e .", "-e ./sub", "\\", "'", "--hash", "-r"]),
    st.sampled_from(_INCLUDES).map(lambda name: f"-r {name}"),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
    st.integers(1_000, 20_000).map(lambda n: "p" * n),
)  # fmt: skip
_file = st.lists(_line, max_size=6).map("\n".join)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(files=st.fixed_dictionaries({name: _file for name in _NAMES}), allow=st.booleans())
def test_hostile_requirement_trees_never_leak_or_crash(
    invoke: Invoke, files: dict[str, str], allow: bool
) -> None:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        write(root / "outside" / "secret.txt", f"TOKEN={SECRET}\n{SECRET}\n-r {SECRET}\n")
        for name, text in files.items():
            write(root / "app" / name, text)
        (root / "app" / "link.txt").symlink_to(root / "outside" / "secret.txt")
        out = root / "out.json"
        flag = ["--allow-includes-outside"] if allow else []
        named = str(root / "app" / "req.txt")
        result = invoke("sbom", "--requirements", named, "-o", str(out), *flag)
        written = out.read_text() if out.exists() else ""
    assert result.exit_code in (0, 1, 2), result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("attest: ") for line in lines), result.stderr
    errors = [line for line in lines if line.startswith("attest: error: ")]
    assert len(errors) == (1 if result.exit_code else 0), result.stderr
    # Outside the tree a file is never read; allowed, it is read but never quoted (a name it
    # lists as a requirement is a component, as for any included file).
    assert SECRET not in "".join(errors)
    if not allow:
        assert SECRET not in result.stdout + result.stderr + written


_toml_value = st.recursive(
    st.one_of(st.text(max_size=20), st.integers(), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=10,
)  # fmt: skip


def _toml(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


_package = st.dictionaries(
    st.sampled_from(["name", "version", "source", "sdist", "wheels", "dependencies", "marker",
                     "markers", "resolution-markers", "files", "hashes", "archive", "vcs"]),
    _toml_value,
    max_size=6,
)  # fmt: skip


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(["uv.lock", "pylock.toml", "poetry.lock"]),
    packages=st.lists(_package, max_size=3),
    garbage=st.one_of(st.just(""), st.text(max_size=30), st.integers(0, 5000).map(lambda n: "x = " + "[" * n)),
)  # fmt: skip
def test_hostile_lock_files_are_exit_0_or_2_with_one_line(
    invoke: Invoke, name: str, packages: list[dict[str, object]], garbage: str
) -> None:
    header = {"uv.lock": "version = 1\n", "pylock.toml": "lock-version = '1.0'\n"}.get(name, "")
    table = "packages" if name == "pylock.toml" else "package"
    body = "".join(
        f"[[{table}]]\n" + "".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in p.items())
        for p in packages
    )
    with tempfile.TemporaryDirectory() as temp:
        lock = write(Path(temp) / name, header + body + garbage)
        result = invoke("sbom", "--lock", str(lock), "--python-version", "3.12")
    assert result.exit_code in (0, 2), result.stderr
    assert all(line.startswith("attest: ") for line in result.stderr.splitlines())
    if result.exit_code:
        assert sum(line.startswith("attest: error: ") for line in result.stderr.splitlines()) == 1
