"""The SBOM source extension point: what a source reads and the data it hands back.

A source turns one input (an environment, a requirements file, a lock file) into an `Inventory`.
It knows nothing of CycloneDX; `attest.sbom.build` turns inventories into documents.
"""

from __future__ import annotations

import abc
import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from attest.inputs import MAX_INPUT as MAX_INPUT
from attest.inputs import read_text as read_text
from attest.inputs import resolved_input as resolved_input
from attest.sbom.markers import TargetPython
from verify.errors import InputError, UsageError
from verify.text import quoted

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SourceKind = Literal["environment", "requirements", "lock"]
OriginKind = Literal["registry", "vcs", "url", "path"]


def normalize(name: str) -> str:
    """PEP 503 normalized name: how packages are compared everywhere in attest."""
    return str(canonicalize_name(name))


@dataclasses.dataclass(frozen=True, order=True)
class Digest:
    """A file digest; `algorithm` is hashlib's name (sha256, sha512, ...), `value` lowercase hex."""

    algorithm: str
    value: str


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a package comes from when it is not the default index."""

    kind: OriginKind
    location: str


@dataclasses.dataclass(frozen=True)
class Package:
    """One distribution as a source saw it."""

    name: str
    version: str | None
    digests: tuple[Digest, ...] = ()
    licenses: tuple[str, ...] = ()  # SPDX ids or expressions, or license names
    dependencies: tuple[str, ...] = ()  # normalized names of the packages it requires
    description: str | None = None
    origin: Origin | None = None
    links: tuple[tuple[str, str], ...] = ()  # (label, URL) from the project's metadata

    @property
    def key(self) -> str:
        return normalize(self.name)


@dataclasses.dataclass(frozen=True)
class Inventory:
    """What a source found. `direct` names the root project's direct dependencies when the
    source knows them (lock files do); None means unknown."""

    description: str
    packages: tuple[Package, ...]
    direct: tuple[str, ...] | None = None
    warnings: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How a source reads its input: the interpreter environment markers are evaluated for
    (requirements and lock files; an environment has its own), and whether `-r` includes may
    leave the directory tree of the named file."""

    python: TargetPython = dataclasses.field(default_factory=TargetPython)
    includes_outside: bool = False

    @classmethod
    def for_input(
        cls, kind: str, python_version: str | None, includes_outside: bool
    ) -> ReadOptions:
        """From `--python-version` and `--allow-includes-outside`, refused where they would
        mean nothing (an environment's markers are its own interpreter's; an SBOM has none)."""
        if python_version is not None and kind not in ("requirements", "lock"):
            raise UsageError("--python-version is for --requirements and --lock")
        if includes_outside and kind != "requirements":
            raise UsageError("--allow-includes-outside is for --requirements")
        return cls(TargetPython.parse(python_version), includes_outside)


class SbomSource(abc.ABC):
    """Reads one input into an `Inventory`. Registered in the `attest.sbom_sources` group.

    `kind` says which command-line option selects the source; lock-file sources also say which
    file names they understand (`accepts`). Errors: `InputError` (exit 2) for a missing or
    malformed input, `OperationalError` (exit 3) for trouble reading it. An error quotes at
    most a short excerpt of the input (`excerpt`), and nothing of a file the user did not name.
    """

    kind: ClassVar[SourceKind]

    def __init__(self, target: Path, options: ReadOptions | None = None) -> None:
        self.target = target
        self.options = options or ReadOptions()

    @classmethod
    def accepts(cls, path: Path) -> bool:
        """Whether this source reads the file `path` (used to pick a lock-file format)."""
        return False

    @abc.abstractmethod
    def read(self) -> Inventory:
        """Read the input; raise `InputError` naming the file and the problem when it is bad."""


EXCERPT = 40  # characters of input an error message may quote

Quote = Callable[[str], str]


def excerpt(text: str) -> str:
    """Input as an error may quote it: the first EXCERPT characters, escaped (`repr`), and an
    ellipsis when there were more. The CLI's `shown` then escapes what `repr` leaves."""
    return quoted(text, EXCERPT)


def unquoted(text: str) -> str:
    """The `Quote` for a file the user did not name: none of it is shown."""
    return "(not shown: from a file not named)"


MAX_VERSION = 1024  # characters: CycloneDX 1.6's limit for a version (the schema's maxLength)
_NAME = re.compile(r"[A-Z0-9](?:[A-Z0-9._-]*[A-Z0-9])?", re.IGNORECASE)  # PEP 508


def checked_name(name: str, path: Path, *, quote: Quote = excerpt, where: str = "") -> str:
    """`name` when it is a PEP 508 distribution name; InputError naming `where` otherwise."""
    if not _NAME.fullmatch(name):
        raise InputError(path, f"{where}invalid package name {quote(name)}: not a PEP 508 name")
    return name


def checked_version(
    version: str, path: Path, *, quote: Quote = excerpt, where: str = "", pep440: bool = True
) -> str:
    """`version` when the SBOM can carry it (at most MAX_VERSION characters) and, with `pep440`,
    it is a PEP 440 version; InputError naming `where` otherwise. The length is checked first:
    a longer one never reaches `int()` (which refuses over 4,300 digits with its own error)."""
    if len(version) > MAX_VERSION:
        limit = f"over {MAX_VERSION} characters (CycloneDX's limit for a version)"
        raise InputError(path, f"{where}version {quote(version)} is {limit}")
    if pep440:
        try:
            Version(version)
        except InvalidVersion as e:
            problem = f"invalid version {quote(version)}: not a PEP 440 version"
            raise InputError(path, f"{where}{problem}") from e
    return version


_TOML_WHERE = re.compile(r" \((?:at line \d+, column \d+|at end of document)\)$")


def read_toml(path: Path, quote: Quote = excerpt) -> dict[str, object]:
    """A TOML input file as a table, with errors that name it. tomllib's messages quote keys,
    so only an excerpt of the message is shown, with the place it gives; for a file the user
    did not name (`quote` is `unquoted`), only the place."""
    text = read_text(path)
    try:
        data: dict[str, object] = tomllib.loads(text)
    except ValueError as e:  # TOMLDecodeError, and an integer past the digit limit
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        where = _TOML_WHERE.search(message)
        problem = message[: where.start()] if where else message
        shown = problem if len(problem) <= EXCERPT * 2 else problem[: EXCERPT * 2] + "…"
        said = "" if quote is unquoted else f": {shown}"
        raise InputError(path, f"not valid TOML{said}{where.group() if where else ''}") from e
    except RecursionError as e:  # tomllib recurses once per nested array or inline table
        raise InputError(path, "not valid TOML: arrays or inline tables nested too deeply") from e
    return data


_HEX = re.compile(r"[0-9a-fA-F]+")
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}


def parse_digest(
    text: str, path: Path, *, separator: str = ":", quote: Quote = excerpt, where: str = ""
) -> Digest:
    """`sha256:<hex>` (or with another separator) as a `Digest`; InputError when malformed."""
    algorithm, sep, value = text.partition(separator)
    return make_digest(algorithm, value if sep else "", path, quote=quote, where=where)


def make_digest(
    algorithm: str, value: str, path: Path, *, quote: Quote = excerpt, where: str = ""
) -> Digest:
    """A `Digest` from its parts; InputError naming `where` (`line 3: `) when malformed."""
    algorithm = algorithm.strip().lower()
    value = value.strip()
    expected = _HEX_LENGTHS.get(algorithm)
    if expected is None:
        raise InputError(path, f"{where}unsupported hash algorithm {quote(algorithm)}")
    if len(value) != expected or not _HEX.fullmatch(value):
        raise InputError(path, f"{where}malformed {algorithm} digest {quote(value)}")
    return Digest(algorithm, value.lower())
