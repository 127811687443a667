"""The error tree (`verify/errors.py`) is the one place an exit code is decided, and `attest/cli.py`
the one place exceptions become exit codes.

Introspection over every module of `attest` and `verify`: each exception class descends from the
tree unless it is internal (some module catches it by name, or a base of it that is not a Python
builtin, and says it again as a tree error); only the contract bases set `exit_code`; a class of
no contract is a base to catch, never raised. An AST scan of every module but `attest/cli.py`
finds no exit code decided or read: no `sys.exit`, `ctx.exit`, `SystemExit(code)`, click
exception (ClickException exits 1, click.UsageError 2, decided by click), `ExitCode` or
`exit_code`."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import attest
import verify
from attest.cli import exit_code_for
from verify.errors import (
    CONTRACT,
    AttestError,
    ExitCode,
    InputError,
    OperationalError,
    PolicyRefusal,
    UsageError,
    contract_of,
)

ROOT = Path(attest.__file__).parent.parent
MAPPER = "attest/cli.py"  # maps the tree to exit codes and messages
TREE = "verify/errors.py"  # decides them


def _modules() -> Iterator[ModuleType]:
    for package in (attest, verify):
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not info.name.endswith(".__main__"):  # runs the CLI when imported
                yield importlib.import_module(info.name)


EXCEPTIONS = sorted(
    {
        value
        for module in _modules()
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    },
    key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
)
TREE_CLASSES = [cls for cls in EXCEPTIONS if issubclass(cls, AttestError)]


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for package in ("attest", "verify"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            yield relative, ast.parse(path.read_text(encoding="utf-8"), relative)


SOURCES = dict(_sources())


def _named(node: ast.expr | None) -> Iterator[str]:
    """The class names an `except` clause names (`X`, `mod.X`, `(X, mod.Y)`)."""
    if isinstance(node, ast.Tuple):
        for element in node.elts:
            yield from _named(element)
    elif isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Attribute):
        yield node.attr


CAUGHT = {
    name
    for tree in SOURCES.values()
    for node in ast.walk(tree)
    if isinstance(node, ast.ExceptHandler)
    for name in _named(node.type)
}


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_the_scan_found_the_modules_and_their_errors() -> None:
    names = {_name(cls) for cls in EXCEPTIONS}
    assert {
        "verify.policy.PolicyError",
        "verify.decision_log.NotALog",
        "attest.scan.interface.ScanError",
        "verify.files.TooLarge",
    } <= names
    assert "attest/cli.py" in SOURCES and "verify/command.py" in SOURCES


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=_name)
def test_every_error_that_can_reach_the_cli_is_in_the_tree(cls: type[BaseException]) -> None:
    if issubclass(cls, AttestError) or _name(cls) == "attest.cli.Failure":  # the CLI's carrier
        return
    own = [
        base.__name__
        for base in cls.__mro__
        if base is not object and getattr(builtins, base.__name__, None) is not base
    ]
    assert CAUGHT & set(own), (
        f"{_name(cls)} is not in the error tree (verify/errors.py) and no module catches it by "
        "name: it would reach the CLI as an internal error (exit 3). Subclass a contract base "
        "(PolicyRefusal, UsageError, OperationalError), or catch it and raise one."
    )


@pytest.mark.parametrize(
    ("base", "code"),
    [
        (PolicyRefusal, ExitCode.DENIED),
        (UsageError, ExitCode.USAGE),
        (InputError, ExitCode.USAGE),
        (OperationalError, ExitCode.OPERATIONAL),
        (AttestError, ExitCode.OPERATIONAL),  # a class of no contract: like a bug, never a pass
    ],
)
def test_each_contract_base_has_its_exit_code(base: type[AttestError], code: ExitCode) -> None:
    assert base.exit_code is code
    assert exit_code_for(base.__new__(base)) == code
    assert contract_of(base.__new__(base)).exit_code is code


def test_only_the_contract_bases_set_an_exit_code() -> None:
    setting = {_name(cls) for cls in TREE_CLASSES if "exit_code" in vars(cls)}
    bases: tuple[type[AttestError], ...] = (AttestError, *CONTRACT)
    assert setting == {_name(cls) for cls in bases}, (
        "the exit code is decided by the contract base a class descends from, never by a domain "
        "class: subclass PolicyRefusal, UsageError or OperationalError instead"
    )


@pytest.mark.parametrize("cls", TREE_CLASSES, ids=_name)
def test_an_error_ends_as_its_one_contract_says(cls: type[AttestError]) -> None:
    contracts = [base for base in CONTRACT if issubclass(cls, base)]
    error = cls.__new__(cls)
    assert len(contracts) <= 1, f"{_name(cls)} descends from {contracts}: which exit code?"
    assert exit_code_for(error) == contract_of(error).exit_code
    if not contracts:  # a common base to catch (DecisionLogError): raising it would mean exit 3
        raised = [
            f"{path}:{node.lineno}"
            for path, tree in SOURCES.items()
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and cls.__name__ in _named(node.func)
        ]
        assert not raised, f"{_name(cls)} has no contract base, yet is made at {raised}"


_CLICK_ERRORS = ("Exception", "Error", "BadParameter", "Abort", "Exit")


def _maps_exit_codes(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Where a module decides or reads an exit code (line, what)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "exit_code":
            yield node.lineno, ".exit_code"
        elif isinstance(node, ast.Name) and node.id in ("ExitCode", "exit_code"):
            yield node.lineno, node.id
        elif isinstance(node, ast.alias) and node.name == "ExitCode":
            yield node.lineno, "imports ExitCode"
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name | ast.Attribute)
            and "click" in ast.unparse(node.value)
            and node.attr.endswith(_CLICK_ERRORS)
        ):
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            if func in ("sys.exit", "exit", "quit") or func.endswith("ctx.exit"):
                yield node.lineno, func
            elif func == "SystemExit" and not _exit_allowed(node):
                yield node.lineno, ast.unparse(node)


def _exit_allowed(call: ast.Call) -> bool:
    """`SystemExit(0)` (a clean stop), or `SystemExit(exit_code_for(e))`: the CLI's mapping."""
    if not call.args:
        return True
    (code,) = call.args
    if isinstance(code, ast.Constant):
        return code.value == 0
    return isinstance(code, ast.Call) and ast.unparse(code.func) == "exit_code_for"


def test_no_module_but_the_cli_maps_exceptions_to_exit_codes() -> None:
    found = [
        f"{path}:{line}: {what}"
        for path, tree in SOURCES.items()
        if path not in (MAPPER, TREE)
        for line, what in _maps_exit_codes(tree)
    ]
    assert not found, (
        "exit codes are decided by verify/errors.py's contract bases and mapped by attest/cli.py "
        f"alone; raise a tree error instead: {found}"
    )


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nsys.exit(2)",
        "def f(ctx):\n    ctx.exit(1)",
        "raise SystemExit(3)",
        "raise SystemExit(e.exit_code)",
        "class Denied(Exception):\n    exit_code = 1",
        "import click\nraise click.ClickException('no')",
        "raise click.exceptions.Exit(1)",
        "from verify.errors import ExitCode",
    ],
)
def test_the_scan_sees_an_exit_code_decided_elsewhere(code: str) -> None:
    assert list(_maps_exit_codes(ast.parse(code)))


def test_the_scan_lets_the_one_mapping_through() -> None:
    allowed = "raise SystemExit(0)\nraise SystemExit(exit_code_for(e))\nraise UsageError('x')"
    assert not list(_maps_exit_codes(ast.parse(allowed)))
