"""A pip requirements file: pinned requirements, their `--hash` values, `-r` includes, and the
dependency graph that pip-compile's `# via` annotations record.

Includes are confined to the named file's directory tree (unless `includes_outside`), never read
from /proc, /sys or /dev, and nested at most MAX_INCLUDE_DEPTH deep. Errors quote at most a
short excerpt of the named file and nothing of the files it includes: an included file may be
anything in the tree (`.git/config` holds the checkout's token)."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from attest.sbom.interface import (
    Inventory,
    Origin,
    Package,
    Quote,
    SbomSource,
    checked_version,
    excerpt,
    normalize,
    parse_digest,
    read_text,
    resolved_input,
    unquoted,
)
from attest.sbom.markers import MarkerError, holds
from attest.sbom.project import read_project
from verify.errors import InputError
from verify.files import in_pseudo_root, named_pseudo_root

MAX_INCLUDE_DEPTH = 32  # files nested through -r; real projects nest two or three

# Options pip accepts in a requirements file that do not change what is installed.
_IGNORED_OPTIONS = {
    "-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links",
    "--trusted-host", "--pre", "--prefer-binary", "--require-hashes", "--only-binary",
    "--no-binary", "--use-feature", "-c", "--constraint", "--config-settings",
}  # fmt: skip
_INCLUDE_OPTIONS = {"-r", "--requirement"}
_EDITABLE_OPTIONS = {"-e", "--editable"}
_HASH_OPTION = re.compile(r"\s--hash(?:=|\s+)(\S+)")
_OPTION = re.compile(r"\s(--[A-Za-z][\w-]*)")  # per-requirement options
_VIA_ITEM = re.compile(r"^#\s{2,}(?P<item>\S.*)$")


@dataclasses.dataclass
class _Entry:
    package: Package
    via: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _State:
    """What one read has gathered, and where it may read."""

    root: Path  # the named file's directory, resolved: includes stay under it
    entries: dict[tuple[str, str | None], _Entry] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)  # by their markers
    reading: set[Path] = dataclasses.field(default_factory=set)  # the chain of includes
    done: set[Path] = dataclasses.field(default_factory=set)  # read already: nothing new there
    pins: dict[str, str] = dataclasses.field(default_factory=dict)  # name: where it is pinned


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, each with its first line number."""
    lines: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            buffer += raw[:-1] + " "
            continue
        lines.append((start, buffer + raw))
        buffer = ""
    if buffer:
        lines.append((start, buffer))
    return lines


def _split_comment(line: str) -> tuple[str, str]:
    """(content, comment): pip's rule is that `#` starts a comment at line start or after space."""
    match = re.search(r"(^|\s)#", line)
    if match is None:
        return line.strip(), ""
    return line[: match.start()].strip(), line[match.start() :].strip()


def _pinned_version(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


class RequirementsSource(SbomSource):
    """`--requirements FILE`: a pip requirements file."""

    kind = "requirements"

    def read(self) -> Inventory:
        state = _State(root=resolved_input(self.target).parent)
        self._read_file(self.target, state, excerpt, depth=0)
        entries, warnings = state.entries, state.warnings
        target = self.options.python.label
        if state.skipped:
            more = len(state.skipped) - 5
            warnings.append(
                f"{len(state.skipped)} requirement(s) skipped, their environment markers do not "
                f"hold for {target}: {', '.join(state.skipped[:5])}"
                + (f" and {more} more" if more > 0 else "")
            )
        annotated = any(entry.via for entry in entries.values())
        listed = {entry.package.key for entry in entries.values()}
        children: dict[str, set[str]] = {}
        direct: set[str] = set()
        for entry in entries.values():
            key = entry.package.key
            parents = {v if v.startswith("-") else normalize(v.split()[0]) for v in entry.via}
            # Required by an input file (`-r x.in`) or by something not in the file (the
            # project itself, as uv export writes it): a direct dependency of the root.
            if not annotated or any(p.startswith("-") or p not in listed for p in parents):
                direct.add(key)
            for parent in parents & listed:
                children.setdefault(parent, set()).add(key)
        packages = tuple(
            dataclasses.replace(
                entry.package, dependencies=tuple(sorted(children.get(entry.package.key, ())))
            )
            for entry in entries.values()
        )
        return Inventory(
            description=f"requirements file {self.target} (for {target})",
            packages=packages,
            direct=tuple(sorted(direct)),
            warnings=tuple(warnings),
        )

    def _read_file(self, path: Path, state: _State, quote: Quote, depth: int) -> None:
        """Read `path` into `state`. `quote` shows its text in errors: an excerpt for the named
        file, nothing for an included one."""
        resolved = path.resolve()
        state.reading.add(resolved)
        current: _Entry | None = None
        in_via_block = False
        for number, line in _logical_lines(read_text(path)):
            content, comment = _split_comment(line)
            if not content:
                if current is not None and comment:
                    in_via_block = self._read_via(comment, current, in_via_block)
                continue
            in_via_block = False
            current = None
            where = f"line {number}"
            if content.startswith("-"):
                try:
                    words = shlex.split(content)
                except ValueError as e:
                    raise InputError(path, f"{where}: cannot split {quote(content)}: {e}") from e
                option, _, value = words[0].partition("=")
                arguments = ([value] if value else []) + words[1:]
                if option in _INCLUDE_OPTIONS:
                    if not arguments:
                        raise InputError(path, f"{where}: {option} needs a file name")
                    included = path.parent / arguments[0]
                    what = f"{where}: -r {quote(arguments[0])}"
                    if self._may_include(path, what, included, state, depth + 1):
                        self._read_file(included, state, unquoted, depth + 1)
                elif option in _EDITABLE_OPTIONS:
                    editable = self._editable(path, where, arguments, state, quote)
                    current = self._add(state.entries, editable, path)
                elif option not in _IGNORED_OPTIONS:
                    raise InputError(path, f"{where}: unknown option {quote(option)}")
                continue
            package = self._requirement(path, where, content, state, quote)
            if package is None:
                continue
            if package.version is None:
                unpinned = f"{package.name} is not pinned to one version"
                state.warnings.append(f"{path} {where}: {unpinned}")
            self._one_pin(package, path, where, state, quote)
            current = self._add(state.entries, package, path)
            if comment:
                in_via_block = self._read_via(comment, current, False)
        state.reading.discard(resolved)
        state.done.add(resolved)

    def _may_include(
        self, path: Path, what: str, included: Path, state: _State, depth: int
    ) -> bool:
        """Whether to read the file `path` includes (False: read already); InputError unless it
        is a file in the tree (or anywhere with `includes_outside`), outside /proc, /sys and
        /dev, not including itself, and at most MAX_INCLUDE_DEPTH deep."""
        root = named_pseudo_root(included)  # as spelled: /proc/self/cwd/x resolves elsewhere
        if root is not None:
            raise InputError(path, f"{what}: {in_pseudo_root(root)}: never read")
        try:
            resolved = included.resolve()
        except (OSError, RuntimeError) as e:
            raise InputError(path, f"{what}: cannot be resolved (a symlink loop?)") from e
        if not self.options.includes_outside and not resolved.is_relative_to(state.root):
            raise InputError(
                path,
                f"{what}: outside {state.root}, the directory of {self.target} "
                "(--allow-includes-outside reads it)",
            )
        if resolved in state.reading:
            raise InputError(path, f"{what}: includes a file that includes it (a cycle)")
        if not resolved.is_file():
            missing = "no such file" if not resolved.exists() else "not a regular file"
            raise InputError(path, f"{what}: {missing}")
        if resolved in state.done:
            return False
        if depth > MAX_INCLUDE_DEPTH:
            limit = f"more than {MAX_INCLUDE_DEPTH} files deep (the limit)"
            raise InputError(path, f"{what}: includes nested {limit}")
        return True

    @staticmethod
    def _one_pin(package: Package, path: Path, where: str, state: _State, quote: Quote) -> None:
        """InputError when `package` is pinned to another version elsewhere in the files read:
        pip refuses such a file ("Double requirement given"), and the SBOM would list both."""
        if package.version is None:
            return
        here = f"{path} {where}"
        first = state.pins.setdefault(package.key, here)
        if first != here and (package.key, package.version) not in state.entries:
            raise InputError(
                path,
                f"{where}: {quote(package.name)} is pinned to another version at {first} "
                "(pip refuses a double requirement)",
            )

    @staticmethod
    def _add(entries: dict[tuple[str, str | None], _Entry], package: Package, path: Path) -> _Entry:
        key = (package.key, package.version)
        if key in entries:
            previous = entries[key].package
            digests = tuple(sorted(set(previous.digests) | set(package.digests)))
            entries[key].package = dataclasses.replace(previous, digests=digests)
        else:
            entries[key] = _Entry(package)
        return entries[key]

    @staticmethod
    def _read_via(comment: str, entry: _Entry, in_block: bool) -> bool:
        """Read a `# via X` line or a `# via` block item; return whether a block goes on."""
        text = comment[1:].strip()
        if text == "via":
            return True
        if text.startswith("via "):
            entry.via.append(text[4:].strip())
            return False
        item = _VIA_ITEM.match(comment)
        if in_block and item:
            entry.via.append(item.group("item").strip())
            return True
        return False

    def _requirement(
        self, path: Path, where: str, content: str, state: _State, quote: Quote
    ) -> Package | None:
        """The package `content` requires; None when its marker does not hold for the target."""
        digests = [
            parse_digest(value, path, quote=quote, where=f"{where}: ")
            for value in _HASH_OPTION.findall(content)
        ]
        text = _HASH_OPTION.sub(" ", f" {content}").strip()
        unknown = _OPTION.search(f" {text}")
        if unknown and unknown.group(1) == "--hash":
            raise InputError(path, f"{where}: --hash needs a value")
        if unknown:
            raise InputError(path, f"{where}: unknown option {quote(unknown.group(1))}")
        try:
            req = Requirement(text)
        except InvalidRequirement as e:
            reason = str(e).splitlines()[0][:100] if str(e) else "unreadable"
            problem = f"not a valid requirement {quote(text)}: {reason}"
            raise InputError(path, f"{where}: {problem}") from e
        if req.marker is not None:
            try:
                wanted = holds(req.marker, self.options.python)
            except MarkerError as e:
                raise InputError(path, f"{where}: {e} in {quote(text)}") from e
            if not wanted:
                state.skipped.append(f"{excerpt(req.name)} ({path} {where})")
                return None
        version = _pinned_version(req)
        if version is not None:  # `===` takes any text: only the SBOM's limit applies
            checked_version(version, path, quote=quote, where=f"{where}: ", pep440=False)
        origin = Origin("url", req.url) if req.url else None
        if req.url and req.url.startswith(("git+", "hg+", "svn+", "bzr+")):
            origin = Origin("vcs", req.url)
        return Package(
            name=req.name,
            version=version,
            digests=tuple(sorted(set(digests))),
            origin=origin,
        )

    def _editable(
        self, path: Path, where: str, arguments: list[str], state: _State, quote: Quote
    ) -> Package:
        if not arguments:
            raise InputError(path, f"{where}: -e needs a path or URL")
        target = arguments[0]
        egg = re.search(r"[#&]egg=([A-Za-z0-9._-]+)", target)
        if egg:
            name = egg.group(1)
        elif "://" not in target and self._in_tree(path.parent / target, state):
            name = read_project(path.parent / target, unquoted).name
        else:
            raise InputError(path, f"{where}: cannot tell the name of editable {quote(target)}")
        scheme = target.split("://")[0] if "://" in target else ""
        origin = Origin("vcs", target) if "+" in scheme else Origin("path", target)
        return Package(name=name, version=None, origin=origin)

    def _in_tree(self, directory: Path, state: _State) -> bool:
        """Whether an editable's `pyproject.toml` may be read for its name: in the tree (or
        anywhere with `includes_outside`), never in a pseudo file system."""
        project = directory / "pyproject.toml"
        try:
            resolved = project.resolve()
        except (OSError, RuntimeError):
            return False
        inside = self.options.includes_outside or resolved.is_relative_to(state.root)
        return inside and named_pseudo_root(project) is None and resolved.is_file()
