"""The interpreter a requirements or lock file is read for: environment markers
(`django<2 ; python_version < "3"`) are evaluated for it, so a requirement that would not be
installed there is not listed."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from verify.errors import UsageError

if TYPE_CHECKING:
    from packaging.markers import Marker

# packaging.markers is imported where a marker is read: a scan of an SBOM reads none, and
# start-up is a third of a warm scan's time.

_VERSION = re.compile(r"(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?")


@dataclasses.dataclass(frozen=True)
class TargetPython:
    """A Python version on this host's platform: `python_version` and `python_full_version` are
    the target's, every other marker variable (sys_platform, platform_machine, ...) this host's.
    `version` None: the interpreter attest runs under."""

    version: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> TargetPython:
        """`--python-version`: `3.12` (read as 3.12.0) or `3.12.4`; None: this interpreter."""
        if text is None:
            return cls()
        match = _VERSION.fullmatch(text.strip())
        if match is None:
            raise UsageError(
                f"--python-version {text[:32]!r} is not a Python version (e.g. 3.12 or 3.12.4)"
            )
        major, minor, micro = match.groups()
        return cls(f"{int(major)}.{int(minor)}.{int(micro or 0)}")

    def environment(self) -> dict[str, str]:
        """The marker environment; `extra` is empty, as pip evaluates a requirements file."""
        from packaging.markers import default_environment

        environment = {key: str(value) for key, value in default_environment().items()}
        environment["extra"] = ""
        if self.version is not None:
            environment["python_full_version"] = self.version
            environment["python_version"] = ".".join(self.version.split(".")[:2])
        return environment

    @property
    def label(self) -> str:
        """How reports name the target: `Python 3.12.0 on linux`."""
        environment = self.environment()
        return f"Python {environment['python_full_version']} on {environment['sys_platform']}"


class MarkerError(ValueError):
    """A marker that cannot be parsed or evaluated; the message quotes none of it."""


def holds(marker: Marker | str, target: TargetPython) -> bool:
    """Whether `marker` holds for `target`; MarkerError when it cannot be read or evaluated."""
    from packaging.markers import (
        InvalidMarker,
        Marker,
        UndefinedComparison,
        UndefinedEnvironmentName,
    )

    try:
        parsed = Marker(marker) if isinstance(marker, str) else marker
        return parsed.evaluate(target.environment())
    except InvalidMarker as e:
        raise MarkerError("not a valid environment marker") from e
    except UndefinedEnvironmentName as e:
        raise MarkerError("the marker names an unknown variable") from e
    except UndefinedComparison as e:
        raise MarkerError("the marker compares values that cannot be compared") from e
    except ValueError as e:  # a version holding a number past Python's 4,300 digits
        raise MarkerError("the marker holds a version Python cannot read") from e


def kept_by_lock_marker(marker: object, target: TargetPython) -> bool:
    """Whether a lock file's package marker keeps the package for `target`. A marker that is
    not PEP 508 is a MarkerError: the lock is malformed (uv and Poetry refuse it too), and
    guessing could drop a package from the SBOM. Otherwise conservative: a marker that is not a
    string, cannot be evaluated, or depends on extras or dependency groups (which the lock alone
    cannot tell) keeps it; only one that surely fails drops it."""
    from packaging.markers import InvalidMarker, Marker

    if not isinstance(marker, str):
        return True
    try:
        parsed = Marker(marker)
    except InvalidMarker as e:
        raise MarkerError("not a valid environment marker") from e
    if "extra" in marker or "group" in marker:
        return True
    try:
        return holds(parsed, target)
    except MarkerError:
        return True
