"""The SBOM source extension point: what a source reads and the data it hands back.

A source turns one input (an environment, a requirements file, a lock file) into an `Inventory`.
It knows nothing of CycloneDX; `attest.sbom.build` turns inventories into documents.
"""

from __future__ import annotations

import abc
import dataclasses
import re
import sys
from pathlib import Path
from typing import ClassVar, Literal

from packaging.utils import canonicalize_name

from attest.errors import InputError, OperationalError
from verify.files import MIB, NotRegular, TooLarge, read_limited

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


class SbomSource(abc.ABC):
    """Reads one input into an `Inventory`. Registered in the `attest.sbom_sources` group.

    `kind` says which command-line option selects the source; lock-file sources also say which
    file names they understand (`accepts`). Errors: `InputError` (exit 2) for a missing or
    malformed input, `OperationalError` (exit 3) for trouble reading it.
    """

    kind: ClassVar[SourceKind]

    def __init__(self, target: Path) -> None:
        self.target = target

    @classmethod
    def accepts(cls, path: Path) -> bool:
        """Whether this source reads the file `path` (used to pick a lock-file format)."""
        return False

    @abc.abstractmethod
    def read(self) -> Inventory:
        """Read the input; raise `InputError` naming the file and the problem when it is bad."""


MAX_INPUT = 64 * MIB  # lock files, requirements, SBOMs, scan reports, pyproject.toml


def read_text(path: Path) -> str:
    """The text of an input file (at most MAX_INPUT bytes), with errors that name it."""
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


def read_toml(path: Path) -> dict[str, object]:
    """A TOML input file as a table, with errors that name it."""
    try:
        data: dict[str, object] = tomllib.loads(read_text(path))
    except ValueError as e:  # TOMLDecodeError, and an integer past the digit limit
        raise InputError(path, f"not valid TOML: {e}") from e
    return data


_HEX = re.compile(r"[0-9a-fA-F]+")
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}


def parse_digest(text: str, path: Path, *, separator: str = ":") -> Digest:
    """`sha256:<hex>` (or with another separator) as a `Digest`; InputError when malformed."""
    algorithm, sep, value = text.partition(separator)
    return make_digest(algorithm, value if sep else "", path)


def make_digest(algorithm: str, value: str, path: Path) -> Digest:
    algorithm = algorithm.strip().lower()
    value = value.strip()
    expected = _HEX_LENGTHS.get(algorithm)
    if expected is None:
        raise InputError(path, f"unsupported hash algorithm {algorithm!r} in {algorithm}:{value}")
    if len(value) != expected or not _HEX.fullmatch(value):
        raise InputError(path, f"malformed {algorithm} digest {value!r}")
    return Digest(algorithm, value.lower())
