"""A pip requirements file: pinned requirements, their `--hash` values, `-r` includes, and the
dependency graph that pip-compile's `# via` annotations record."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from attest.errors import InputError
from attest.sbom.interface import (
    Inventory,
    Origin,
    Package,
    SbomSource,
    normalize,
    parse_digest,
    read_text,
)
from attest.sbom.project import read_project

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
        entries: dict[tuple[str, str | None], _Entry] = {}
        warnings: list[str] = []
        self._read_file(self.target, entries, warnings, seen=set())
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
            description=f"requirements file {self.target}",
            packages=packages,
            direct=tuple(sorted(direct)),
            warnings=tuple(warnings),
        )

    def _read_file(
        self,
        path: Path,
        entries: dict[tuple[str, str | None], _Entry],
        warnings: list[str],
        seen: set[Path],
    ) -> None:
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(path, "includes itself through -r (a cycle)")
        seen.add(resolved)
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
                    raise InputError(path, f"{where}: cannot split {content!r}: {e}") from e
                option, _, value = words[0].partition("=")
                arguments = ([value] if value else []) + words[1:]
                if option in _INCLUDE_OPTIONS:
                    if not arguments:
                        raise InputError(path, f"{where}: {option} needs a file name")
                    self._read_file(path.parent / arguments[0], entries, warnings, seen)
                elif option in _EDITABLE_OPTIONS:
                    current = self._add(entries, self._editable(path, where, arguments), path)
                elif option not in _IGNORED_OPTIONS:
                    raise InputError(path, f"{where}: unknown option {option}")
                continue
            package = self._requirement(path, where, content)
            if package.version is None:
                warnings.append(f"{path} {where}: {package.name} is not pinned to one version")
            current = self._add(entries, package, path)
            if comment:
                in_via_block = self._read_via(comment, current, False)

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

    @staticmethod
    def _requirement(path: Path, where: str, content: str) -> Package:
        digests = [parse_digest(value, path) for value in _HASH_OPTION.findall(content)]
        text = _HASH_OPTION.sub(" ", f" {content}").strip()
        unknown = _OPTION.search(f" {text}")
        if unknown and unknown.group(1) == "--hash":
            raise InputError(path, f"{where}: --hash needs a value")
        if unknown:
            raise InputError(path, f"{where}: unknown option {unknown.group(1)}")
        try:
            req = Requirement(text)
        except InvalidRequirement as e:
            raise InputError(path, f"{where}: not a valid requirement {text!r}: {e}") from e
        origin = Origin("url", req.url) if req.url else None
        if req.url and req.url.startswith(("git+", "hg+", "svn+", "bzr+")):
            origin = Origin("vcs", req.url)
        return Package(
            name=req.name,
            version=_pinned_version(req),
            digests=tuple(sorted(set(digests))),
            origin=origin,
        )

    @staticmethod
    def _editable(path: Path, where: str, arguments: list[str]) -> Package:
        if not arguments:
            raise InputError(path, f"{where}: -e needs a path or URL")
        target = arguments[0]
        egg = re.search(r"[#&]egg=([A-Za-z0-9._-]+)", target)
        if egg:
            name = egg.group(1)
        elif "://" not in target and (path.parent / target / "pyproject.toml").is_file():
            name = read_project(path.parent / target).name
        else:
            raise InputError(path, f"{where}: cannot tell the name of editable {target!r}")
        scheme = target.split("://")[0] if "://" in target else ""
        origin = Origin("vcs", target) if "+" in scheme else Origin("path", target)
        return Package(name=name, version=None, origin=origin)
