"""Reading an input file a user named (a lock file, an SBOM, a trust config): resolved, never
in /proc, /sys or /dev, at most MAX_INPUT bytes, with errors that name it. Light on imports:
every signing command reads its trust config through it at start-up."""

from __future__ import annotations

from pathlib import Path

from verify.errors import InputError, OperationalError
from verify.files import MIB, NotRegular, TooLarge, in_pseudo_root, named_pseudo_root, read_limited

MAX_INPUT = 64 * MIB  # lock files, requirements, SBOMs, scan reports, pyproject.toml


def resolved_input(path: Path) -> Path:
    """`path` with symlinks resolved; InputError when it cannot be, or leads into /proc, /sys
    or /dev (a symlink into them too)."""
    root = named_pseudo_root(path)  # as spelled, each link in turn: verify/files.py's rule
    if root is not None:
        raise InputError(path, f"{in_pseudo_root(root)}: never read as input")
    try:
        return path.resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise InputError(path, "cannot be resolved (a symlink loop?)") from e


def read_text(path: Path) -> str:
    """The text of an input file (at most MAX_INPUT bytes), with errors that name it."""
    resolved_input(path)
    try:
        return read_limited(path, MAX_INPUT, "an input file").decode("utf-8")
    except (TooLarge, NotRegular) as e:
        raise InputError(path, str(e).removeprefix(f"{path}: ")) from e
    except FileNotFoundError as e:
        raise InputError(path, "no such file") from e
    except UnicodeDecodeError as e:
        raise InputError(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise OperationalError(f"cannot read {path}: {e.strerror or e}") from e
