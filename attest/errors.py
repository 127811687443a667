"""The error hierarchy of the CI-side stages. Each error's `exit_code` follows the contract in
`verify.errors.ExitCode`; the CLI maps them in one place (`attest.cli`)."""

from __future__ import annotations

from pathlib import Path

from verify.errors import ExitCode


class AttestError(Exception):
    """Base of every error attest raises on purpose. The message says what to do next."""

    exit_code: ExitCode = ExitCode.OPERATIONAL


class UsageError(AttestError):
    """The command line or a configuration file is wrong: fix it and run again."""

    exit_code = ExitCode.USAGE


class InputError(UsageError):
    """An input file the user named is missing or malformed."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class OperationalError(AttestError):
    """Network, service or I/O trouble: retrying may help."""

    exit_code = ExitCode.OPERATIONAL


class PolicyFailure(AttestError):
    """The policy said no."""

    exit_code = ExitCode.DENIED
