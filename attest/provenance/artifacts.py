"""What `attest build` records, each file by name with its sha256: the materials before the
command (git's tracked files, or `--material`) and the products after it (only files the run
created or changed, from a snapshot of their metadata taken before it).

A link is never followed out of where it belongs. Among the materials a link is recorded as the
link, as git records it: the sha256 of the text it holds, media type `inode/symlink`; its
target may be any file of the builder's (a secret, a device) and the link is published in a
public log. Among the products a link counts only while it stays in its product directory.
Whatever cannot be recorded (a material that is not there, a FIFO, a device, a link out) is
refused by name: nothing is dropped without a word."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from verify.errors import InputError, OperationalError, UsageError
from verify.formats import bundles
from verify.formats.statement import ResourceDescriptor

LINK = "inode/symlink"  # a material recorded as the link it is (its text hashed), not followed
NOT_MATERIALS = (".git", ".venv", "venv", "node_modules", "__pycache__", "*.pyc", "build", "dist")
_MAX_SHOWN = 5  # problems named in one message

Stamp = tuple[int, int, int, int, int]
Enter = Callable[[Path, tuple[Path, ...]], bool]


def excluded(name: str) -> bool:
    """Whether a part of `name` is build output or tooling, never a material (`.git`, `dist`)."""
    return any(fnmatch.fnmatchcase(part, p) for part in name.split("/") for p in NOT_MATERIALS)


def _entries(
    base: Path, name: str, enter: Enter, skip: Callable[[str], bool]
) -> Iterator[tuple[str, Path]]:
    """`name` and, when it is a directory, what is below it (but what `skip` names): every entry
    that is not a directory walked, as its recorded name and its path. A link to a directory is
    walked only when `enter(link, the real directories above it)` says so."""
    stack: list[tuple[str, Path, tuple[Path, ...]]] = [(name, base / name, ())]
    while stack:
        recorded, path, above = stack.pop()
        if not path.is_dir() or (path.is_symlink() and not enter(path, above)):
            yield posixpath.normpath(recorded), path
            continue
        try:
            children = sorted((child.name for child in path.iterdir()), reverse=True)
        except OSError as e:
            raise InputError(recorded, f"cannot read the directory: {e.strerror}") from e
        real = path.resolve()
        stack += [(f"{recorded}/{c}", path / c, (*above, real)) for c in children if not skip(c)]


def _sha256(path: Path) -> tuple[str, Stamp]:
    """The file's sha256 and its stamp, both from the one file opened."""
    try:
        with path.open("rb") as source:
            stamp = _stamp_of(os.fstat(source.fileno()))
            digest = hashlib.sha256()
            while chunk := source.read(1 << 20):
                digest.update(chunk)
    except OSError as e:
        raise InputError(path, f"cannot read it: {e.strerror}") from e
    return digest.hexdigest(), stamp


def _refuse(problems: list[str], what: str) -> None:
    """One exit-2 error naming every problem (the first few, and how many more)."""
    if problems:
        more = f"; and {len(problems) - _MAX_SHOWN} more" if len(problems) > _MAX_SHOWN else ""
        raise UsageError(f"{what}: " + "; ".join(problems[:_MAX_SHOWN]) + more)


def materials(base: Path, names: Iterable[str]) -> tuple[ResourceDescriptor, ...]:
    """Each file at or below `names` (build output and tooling below a name left out): a regular
    file by its content's sha256, a link by its text's (never followed); anything else, or a
    name that is not there, refuses the build."""
    found: dict[str, ResourceDescriptor] = {}
    problems: list[str] = []
    for name in names:
        if not os.path.lexists(base / name):
            problems.append(f"{name}: no such file or directory")
            continue
        for recorded, path in _entries(base, name, lambda _link, _above: False, excluded):
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                text = os.fsencode(path.readlink())  # the bytes it holds
                digest = {"sha256": hashlib.sha256(text).hexdigest()}
                found[recorded] = ResourceDescriptor(name=recorded, digest=digest, media_type=LINK)
            elif stat.S_ISREG(mode):
                digest = {"sha256": _sha256(path)[0]}
                found[recorded] = ResourceDescriptor(name=recorded, digest=digest)
            else:
                problems.append(f"{recorded}: not a regular file, a directory or a link")
    _refuse(problems, "cannot record the materials (each must be a file, a directory or a link)")
    return tuple(found[name] for name in sorted(found))


@dataclasses.dataclass(frozen=True)
class Product:
    """A product file: its sha256 and the stamp of the file hashed (the link's target)."""

    real: Path
    sha256: str
    stamp: Stamp


def _stamp_of(found: os.stat_result) -> Stamp:
    # ctime as well as mtime: a tool that puts a file's old mtime back (`cp -p`, `touch -r`)
    # cannot put back its ctime, so a file rewritten that way still counts as changed
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def _stamp(path: Path) -> Stamp | None:
    try:
        return _stamp_of(path.stat())
    except OSError:
        return None


def _inside(real: Path, root: Path) -> bool:
    return real == root or root in real.parents


def _candidates(base: Path, products: Sequence[Path]) -> tuple[dict[str, Path], list[str]]:
    """The product files at or below `products` (a product directory walked, a link to a
    directory in it walked while it stays in it), each by its name with its real path; and
    what cannot be a product, each a problem naming it."""
    found: dict[str, Path] = {}
    problems: list[str] = []
    for product in products:
        top = base / product
        if not os.path.lexists(top):
            continue
        root = (top if top.is_dir() else top.parent).resolve()

        def enter(link: Path, above: tuple[Path, ...], root: Path = root) -> bool:
            return _inside(real := link.resolve(), root) and real not in above

        for name, path in _entries(base, str(product), enter, lambda _name: False):
            real = path.resolve()
            if path.is_symlink() and not _inside(real, root):
                problems.append(f"{name}: a link out of {root} (to {real})")
            elif path.is_symlink() and real.is_dir():
                problems.append(f"{name}: a link to a directory above it (a loop)")
            elif not real.is_file():
                dangling = path.is_symlink() and not real.exists()
                problems.append(f"{name}: " + ("a link to nothing" if dangling else "not a file"))
            else:
                found[name] = real
    return found, problems


def snapshot(base: Path, products: Sequence[Path]) -> dict[Path, Stamp]:
    """The stamps of the product files there before the build, by real path."""
    found, _problems = _candidates(base, products)  # refused after the build, if still there
    return {real: stamp for real in found.values() if (stamp := _stamp(real)) is not None}


def products(
    base: Path, paths: Sequence[Path], before: dict[Path, Stamp], log: Path
) -> dict[str, Product]:
    """The files at `products` the build created or changed (its log aside), hashed: stale
    files left from an earlier build are not its products; what cannot be a product refuses the
    build, and so does a run that made nothing."""
    found, problems = _candidates(base, paths)
    _refuse(problems, "cannot record the products (each must be a file in its product directory)")
    fresh = {  # evidence (bundles, attestations, this link's own) is never a product
        name: real
        for name, real in found.items()
        if _stamp(real) != before.get(real)
        and real != log.resolve()
        and not bundles.is_evidence(real.name)
    }
    if not fresh:
        raise InputError(
            paths[0],
            "the build created or changed no files there (files left from an earlier build "
            "are not its products)",
        )
    return {name: Product(real, *_sha256(real)) for name, real in sorted(fresh.items())}


def unchanged(hashed: dict[str, Product]) -> None:
    """Refuse when a product changed after it was hashed (something outside the build wrote
    it): its signed digest would not be of the file."""
    moved = [name for name, product in hashed.items() if _stamp(product.real) != product.stamp]
    if moved:
        raise OperationalError(
            f"{', '.join(moved[:_MAX_SHOWN])}: changed after it was hashed, while the link was "
            "being signed (something outside the build writes there); no link was written"
        )
