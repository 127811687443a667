"""Small functions, no logic in click: a click command parses its options, calls a stage's
function and renders (house rule 1), so its body stays a few statements; no function in attest/
or verify/ runs longer than a screen. Read from the source (AST), so a new command or function
is held to the rule as soon as it exists."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tests.conftest import REPO

# A command that builds a request, calls its stage and renders the result needs about eight
# statements (`attest scan` has 8); twelve leaves room for a flag or two, and none for a loop
# of checks or formatting that belongs in a named function.
MAX_COMMAND_STATEMENTS = 12
MAX_FUNCTION_LINES = 60  # def line to last line, decorators not counted
# `file::function` -> why it may be longer. Empty: every function fits today.
LONG_FUNCTIONS: dict[str, str] = {
    "verify/osv/plain_yaml.py::_affected": (
        "the cold scan's hottest loop (one pass a line over ~100,000 lines): a state machine of "
        "four open collections, which a call per step would slow by the calls it adds"
    ),
}


def _functions() -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for package in ("attest", "verify"):
        for path in sorted((REPO / package).rglob("*.py")):
            where = path.relative_to(REPO).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{where}::{node.name}", node


def _is_click_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated by `click.command(...)`, `click.group(...)`, `<group>.command(...)`."""
    return any(
        isinstance(d, ast.Call)
        and isinstance(d.func, ast.Attribute)
        and d.func.attr in ("command", "group")
        for d in node.decorator_list
    )


def _statements(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Every statement in the body, nested ones too, the docstring left out."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return sum(isinstance(n, ast.stmt) for stmt in body for n in ast.walk(stmt))


def _lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def test_click_commands_only_parse_call_and_render() -> None:
    commands = {name: node for name, node in _functions() if _is_click_command(node)}
    assert {"attest/scan/command.py::scan", "verify/command.py::verify"} <= set(commands)
    assert len(commands) >= 15, sorted(commands)  # the rule holds over the real commands
    heavy = {
        name: _statements(node)
        for name, node in commands.items()
        if _statements(node) > MAX_COMMAND_STATEMENTS
    }
    assert not heavy, (
        f"click commands with more than {MAX_COMMAND_STATEMENTS} statements: {heavy}; move the "
        "logic into a named function of the stage (or of the command module, for rendering)"
    )


def test_no_function_is_longer_than_a_screen() -> None:
    found = dict(_functions())
    assert len(found) > 500  # the walk saw the code
    long = {
        name: _lines(node)
        for name, node in found.items()
        if _lines(node) > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS
    }
    assert not long, (
        f"functions longer than {MAX_FUNCTION_LINES} lines: {long}; split them into named "
        "steps (or list one in LONG_FUNCTIONS with the reason it cannot be)"
    )
    stale = [name for name in LONG_FUNCTIONS if name not in found]
    assert not stale, f"LONG_FUNCTIONS names functions that no longer exist: {stale}"


def test_the_rules_catch_what_they_are_about() -> None:
    """The measures themselves: a command with a loop of checks is over the limit, a long
    function is counted from its def line."""
    source = "\n".join(
        [
            "@click.command('x')",
            "def x(a):",
            "    '''Doc.'''",
            *[f"    if a == {i}:\n        print({i})" for i in range(7)],
        ]
    )
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    assert _is_click_command(node) and _statements(node) == 14 > MAX_COMMAND_STATEMENTS
    assert _lines(node) == 16
    assert not _is_click_command(ast.parse("def f():\n    pass").body[0])  # type: ignore[arg-type]
