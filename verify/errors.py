"""The exit-code contract and the gate's error hierarchy.

The exit codes live here because both packages honour them and `verify` may not import `attest`.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What a process exit status means, for every attest command."""

    OK = 0  # pass / allow
    DENIED = 1  # policy said no: deny, SLO breached, verification failed
    USAGE = 2  # usage or configuration error: fix the command line or the file named
    OPERATIONAL = 3  # network, service, I/O or a bug: retry; never lets anything through


class VerifyError(Exception):
    """Base of every error the gate raises on purpose; `exit_code` says how the CLI ends."""

    exit_code: ExitCode = ExitCode.OPERATIONAL


class PluginError(VerifyError):
    """A plugin could not be registered or loaded: a configuration problem of the installation."""

    exit_code = ExitCode.USAGE
