"""The provenance check's reading kept per statement and rule (verify/checks/attestations.py):
another statement, even one judged right after a good one under the same rule, or the same
statement under another rule, is judged afresh and refused with its reason."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from verify.checks.attestations import _judged_provenance
from verify.formats.statement import Statement
from verify.policy import Provenance

FIXTURE = Path(__file__).parents[2] / "fixtures" / "provenance" / "github.statement.json"
SOURCE = "https://github.com/acme/web"


def _statement(data: dict[str, Any]) -> Statement:
    return Statement.from_json(json.dumps(data).encode())


def test_a_kept_provenance_never_answers_for_another_statement_or_rule() -> None:
    good = json.loads(FIXTURE.read_text())
    tampered = copy.deepcopy(good)
    workflow = tampered["predicate"]["buildDefinition"]["externalParameters"]["workflow"]
    workflow["repository"] = "https://github.com/evil/web"
    rule = Provenance(source_repository=SOURCE)
    good_statement = _statement(good)
    assert _judged_provenance(rule, good_statement)[1] == ()
    assert _judged_provenance(rule, good_statement)[1] == ()  # kept: the same answer
    provenance, failures = _judged_provenance(rule, _statement(tampered))
    assert provenance.source[0] == "https://github.com/evil/web"
    assert failures == (f"source repository 'https://github.com/evil/web' is not {SOURCE!r}",)
    strict = Provenance(source_repository=SOURCE, ref_pattern=re.compile("refs/heads/main"))
    [why] = _judged_provenance(strict, good_statement)[1]
    assert why == "source ref 'refs/tags/v1.4.0' does not match 'refs/heads/main'"
