"""THREAT_MODEL.md: every threat row has a Test cell naming the tests (pytest node ids) or the
benchmark that show its control, every name there exists, and a row with no test says why."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO

MODEL = REPO / "THREAT_MODEL.md"
NO_TEST = "—"
STRIDE = ["Spoofing", "Tampering", "Repudiation", "Information disclosure", "Denial of service",
          "Elevation of privilege"]  # fmt: skip
CODE_SPAN = re.compile(r"`([^`]*)`")


def threat_tables() -> dict[str, list[dict[str, str]]]:
    """The rows of each table headed `| ID | Threat | ...`, by its `###` section."""
    tables: dict[str, list[dict[str, str]]] = {}
    section: str = ""
    header: list[str] = []
    for line in MODEL.read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if line.startswith("### "):
            section = line[4:].strip()
        if not line.startswith("|"):
            header = []
        elif cells[:2] == ["ID", "Threat"]:
            header = cells
            tables[section] = []
        elif header and not set(line) <= set("|-: "):
            assert len(cells) == len(header), f"{cells[0]}: {len(cells)} cells, not {len(header)}"
            tables[section].append(dict(zip(header, cells, strict=True)))
    return tables


def threat_rows() -> list[dict[str, str]]:
    return [row for rows in threat_tables().values() for row in rows]


def defined(path: Path) -> set[str]:
    """Top-level functions and `Class::method` names defined in a test file."""
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    names: set[str] = set()
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, functions):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{m.name}" for m in node.body if isinstance(m, functions)}
    return names


def reference_problem(reference: str) -> str | None:
    """Why `reference` names no existing test or benchmark (None: it does name one)."""
    if reference.startswith("benchmarks/"):
        ok = reference.endswith(".py") and (REPO / reference).is_file()
        return None if ok else "no such benchmark file"
    path, _, name = reference.partition("::")
    if not (path.startswith("tests/") and path.endswith(".py") and name):
        return "not a node id `tests/...py::test_name`"
    if not (REPO / path).is_file():
        return f"no such file {path}"
    return None if name in defined(REPO / path) else f"{path} defines no {name}"


def test_every_threat_table_has_a_test_column_and_every_row_a_test_cell() -> None:
    tables = threat_tables()
    assert list(tables) == STRIDE
    for section, rows in tables.items():
        assert rows, f"{section}: no threat rows"
        for row in rows:
            assert list(row)[-1] == "Test", f"{row['ID']}: the last column is not Test"
            assert row["Test"], f"{row['ID']}: empty Test cell"
    ids = [row["ID"] for row in threat_rows()]
    assert len(ids) == len(set(ids)), f"a threat ID appears twice: {ids}"


def test_a_row_without_a_test_says_why() -> None:
    unexplained = [
        f"{row['ID']}: Test is {NO_TEST} but the Status does not begin accepted or open"
        for row in threat_rows()
        if row.get("Test") == NO_TEST and not re.match(r"(accepted|open)\b", row["Status"])
    ]
    assert not unexplained, "\n".join(unexplained)


def test_every_referenced_test_and_benchmark_exists() -> None:
    problems = []
    for row in threat_rows():
        cell = row.get("Test", "")
        if cell == NO_TEST:
            continue
        references = CODE_SPAN.findall(cell)
        if not references or CODE_SPAN.sub("", cell).strip(", "):
            problems.append(f"{row['ID']}: Test must be {NO_TEST} or code spans, not {cell!r}")
        for reference in references:
            if (problem := reference_problem(reference)) is not None:
                problems.append(f"{row['ID']}: `{reference}`: {problem}")
    assert not problems, "\n".join(problems)
