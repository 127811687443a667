"""The gate check extension point: a `Check` judges one artifact's verified evidence against
the policy and returns its outcome with the expected and actual values. Checks are plugins in
the `verify.checks` entry-point group; the built-in ones register the same way.

A check that does not apply (the policy does not ask for it) says so with `applies`; one that
applies must be able to fail, and every failure is reported, never only the first."""

from __future__ import annotations

import abc
import dataclasses
import datetime
from typing import TYPE_CHECKING, Any

from verify.evidence import Evidence
from verify.policy import Policy
from verify.trust import Trust

if TYPE_CHECKING:  # read only with `--db`: the gate starts without the OSV machinery
    from verify.osv.database import Database


@dataclasses.dataclass(frozen=True)
class Context:
    """What every check sees: the policy, the trust root and the moment of the decision; and
    the deployer's advisory database when one was given (`attest verify --db`). `images`: the
    artifacts are image manifests, whose signatures are referrers that none is "the own" of."""

    policy: Policy
    trust: Trust
    now: datetime.datetime
    advisories: Database | None = None
    images: bool = False


@dataclasses.dataclass(frozen=True, slots=True)  # slots: a run holds one per artifact and check
class Outcome:
    """One check's verdict: `failures` empty means PASS. Expected and actual are for people."""

    name: str
    expected: str
    actual: str
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self, number: int) -> dict[str, Any]:
        return {
            "number": number,
            "check": self.name,
            "result": "PASS" if self.passed else "FAIL",
            "expected": self.expected,
            "actual": self.actual,
            "failures": list(self.failures),
        }


class Check(abc.ABC):
    """A gate check. `order` places it among the others (built-ins use 10, 20, ...)."""

    name: str = ""
    order: int = 1000

    def applies(self, context: Context) -> bool:
        """Whether the policy asks for this check (by default: always)."""
        return True

    def expect(self, context: Context) -> str:
        """What passing means under this policy, for people (reads the policy only)."""
        return self.name

    @abc.abstractmethod
    def run(self, evidence: Evidence, context: Context) -> Outcome:
        """Judge the evidence; never raise for a refusal, return it as failures."""
