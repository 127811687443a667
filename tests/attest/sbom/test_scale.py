"""Cost grows linearly: the JSON and XML documents are written by attest (cyclonedx-python-lib's
Bom is quadratic in its dependency graph), the JSON byte for byte as the library writes it, the
XML equal to the library's as canonical XML, and validated with a linear `uniqueItems`. No timing here (the benchmark measures time): work is counted in
Python function calls, and the output of 10,000 components is checked whole."""

from __future__ import annotations

import datetime
import hashlib
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cyclonedx.schema import OutputFormat
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import _utils as jsonschema_utils

from attest.sbom import build, xmlwriter
from attest.sbom.build import Format, Reproducibility
from attest.sbom.interface import Digest, Inventory, Package
from attest.sbom.project import Project
from attest.sbom.stage import SbomRequest, generate
from attest.sbom.validate import InvalidSbom, _unique_items, validate
from tests.attest.sbom import library
from tests.conftest import SBOM_FIXTURES
from verify.errors import ExitCode, UsageError

_MOMENT = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)


_NAMES = st.sampled_from(["alpha", "Alpha", "beta", "gamma.x", "delta_y", "é-pkg"])
_LICENSES = st.sampled_from(["MIT", "apache-2.0", "BSD License", "Zope Public", "GPL-2.0+"])
_DIGESTS = st.builds(
    Digest,
    st.sampled_from(["sha256", "md5", "sha512"]),
    st.sampled_from(["a" * 32, "b" * 64, "c" * 128, "0" * 64]),
).filter(lambda d: len(d.value) == {"md5": 32, "sha256": 64, "sha512": 128}[d.algorithm])
_LINKS = st.tuples(
    st.sampled_from(["Homepage", "Source", "Bug Tracker", "Funding", "changelog", 'O "<&>"']),
    st.sampled_from(
        [
            "https://example.org/x",
            "https://u:p@example.org/y z",
            "not a url\n",
            "https://b.example/it's",
        ]
    ),
)


def _packages(text: st.SearchStrategy[str]) -> st.SearchStrategy[Package]:
    return st.builds(
        Package,
        name=_NAMES,
        version=st.none() | st.sampled_from(["1.0", "1.0.post1", "2", ""]),
        digests=st.lists(_DIGESTS, max_size=3, unique=True).map(lambda d: tuple(sorted(d))),
        licenses=st.one_of(
            st.lists(_LICENSES, max_size=3, unique=True).map(tuple),
            st.just(("MIT OR Apache-2.0",)),
        ),
        dependencies=st.lists(_NAMES.map(str.lower), max_size=3, unique=True).map(tuple),
        description=st.none() | text,
        links=st.lists(_LINKS, max_size=3).map(tuple),
    )


_PACKAGES = _packages(st.text(max_size=8))
_PROJECTS = st.none() | st.builds(
    Project,
    name=st.sampled_from(["demo-app", "alpha"]),
    version=st.none() | st.just("0.3.0"),
    description=st.none() | st.just("a demo"),
    licenses=st.sampled_from([(), ("MIT",), ("MIT OR Apache-2.0",)]),
    dependencies=st.lists(_NAMES.map(str.lower), max_size=3, unique=True).map(tuple),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    packages=st.lists(_PACKAGES, max_size=6),
    project=_PROJECTS,
    direct=st.none() | st.lists(_NAMES.map(str.lower), max_size=3).map(tuple),
    moment=st.none() | st.just(_MOMENT),
)
def test_the_json_writer_writes_what_the_library_wrote(
    packages: list[Package], project: Project | None, direct: Any, moment: Any
) -> None:
    inventory = Inventory("a test inventory", tuple(packages), direct)
    expected, expected_notes = library.rendered(inventory, project, moment, OutputFormat.JSON)
    text, notes = build._render_json(inventory, project, Reproducibility(True, moment))
    assert text == expected
    assert notes == expected_notes
    validate(text, "json")


# Text XML 1.0 carries.
_XML_TEXT = st.text(
    st.characters(
        codec="utf-8",
        exclude_characters={chr(c) for c in range(0x20)} - set("\t\n\r") | {"\ufffe", "\uffff"},
    ),
    max_size=8,
)


def _canonical(text: str) -> str:
    return ET.canonicalize(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    packages=st.lists(_packages(_XML_TEXT), max_size=6),
    project=_PROJECTS,
    direct=st.none() | st.lists(_NAMES.map(str.lower), max_size=3).map(tuple),
    moment=st.none() | st.just(_MOMENT),
    source=_XML_TEXT,
)
def test_the_xml_writer_writes_what_the_library_wrote(
    packages: list[Package], project: Project | None, direct: Any, moment: Any, source: str
) -> None:
    """Equal as canonical XML (C14N 2.0); for these inputs even the bytes (and so the
    reproducible serial number) match: same layout, same escaping."""
    inventory = Inventory(source, tuple(packages), direct)
    expected, expected_notes = library.rendered(inventory, project, moment, OutputFormat.XML)
    text, notes = build._render_xml(inventory, project, Reproducibility(True, moment))
    assert _canonical(text) == _canonical(expected)
    assert text == expected
    assert notes == expected_notes
    validate(text, "xml")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12), st.text(max_size=12))
@example("</description><purl>pkg:pypi/evil@1</purl>", 'x"/><y a="', "]]>&amp;\r")
def test_xml_values_come_back_exactly_or_are_refused(
    description: str, source: str, label: str
) -> None:
    """Whatever the input holds, the XML is well formed and parses back to the very text (in
    an `xs:normalizedString` field, as the schema reads it: each tab or line end a space), or
    attest refuses it (exit 2) naming the character XML 1.0 cannot carry."""
    links = ((label, "https://example.org/"),)
    inventory = Inventory(source, (Package("a", "1", description=description, links=links),))
    unwritable = [c for c in description + source + label if not _xml_char(c)]
    try:
        text, _ = build._render_xml(inventory, None, Reproducibility(True, None))
    except UsageError as e:
        assert unwritable, e
        named = {f"holds U+{ord(c):04X}, which XML 1.0 cannot carry" for c in unwritable}
        assert any(n in str(e) for n in named), e
        return
    assert not unwritable
    root = ET.fromstring(text.encode())
    ns = {"c": xmlwriter.NAMESPACE}
    property_ = root.findtext("c:metadata/c:properties/c:property", namespaces=ns)
    assert property_ == _normalized(source)
    written = root.findtext("c:components/c:component/c:description", namespaces=ns)
    assert (written or "") == _normalized(description)
    comment = root.findtext(".//c:reference/c:comment", namespaces=ns)
    assert comment is None or comment == f"Project-URL: {label}"


def _xml_char(c: str) -> bool:
    code = ord(c)
    return c in "\t\n\r" or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code > 0xFFFF


def _normalized(text: str) -> str:
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\t", " ")


def test_xml_keeps_what_a_parser_would_normalize() -> None:
    """Outside `xs:normalizedString` fields a carriage return survives parsing (`&#13;`), and
    so do tabs and newlines in an attribute; the library's XML turned them into a newline and
    spaces."""
    package = Package("a", "1", links=(("x\ry", "https://example.org/"),))
    text, _ = build._render_xml(Inventory("i", (package,)), None, Reproducibility(True, None))
    assert "<comment>Project-URL: x&#13;y</comment>" in text
    root = ET.fromstring(text.encode())
    assert root.findtext(f".//{{{xmlwriter.NAMESPACE}}}comment") == "Project-URL: x\ry"
    w = xmlwriter._Writer()
    w.leaf(0, "dependency", attributes={"ref": 'a\tb\nc\rd"<&>'})
    assert ET.fromstring(w.lines[0]).get("ref") == 'a\tb\nc\rd"<&>'


def test_a_character_xml_cannot_carry_is_exit_2_naming_it(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """A lock file's description with a control character: JSON carries it, XML refuses it in
    one line naming the file, the component and the character (today: an expat traceback)."""
    project = tmp_path / "p"
    project.mkdir()
    lock = project / "poetry.lock"
    fixture = SBOM_FIXTURES / "poetry-project" / "poetry.lock"
    lock.write_text(fixture.read_text().replace('description = "', 'description = "\\u0001', 1))
    assert invoke("sbom", "--lock", str(lock)).exit_code == 0
    result = invoke("sbom", "--lock", str(lock), "--format", "xml")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert f"Poetry lock file {lock}" in line
    assert "cannot write the SBOM as XML: the <description> of 'pkg:pypi/" in line
    assert "holds U+0001, which XML 1.0 cannot carry (--format json can)" in line
    assert "Traceback" not in result.stderr


def test_a_license_expression_beside_other_licenses_is_refused() -> None:
    """The library refused this constellation (the schema allows one expression alone)."""
    package = Package(name="odd", version="1", licenses=("MIT OR Apache-2.0", "BSD License"))
    with pytest.raises(InvalidSbom, match="odd 1 has a license expression along with other"):
        build._render_json(Inventory("x", (package,)), None, Reproducibility(True, None))


_JSON = st.recursive(
    st.none() | st.booleans() | st.sampled_from([0, 1, 1.0, 0.0, 2]) | st.sampled_from("ab"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xy"), inner),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_JSON, max_size=6))
def test_unique_items_judges_as_jsonschema_does(items: list[Any]) -> None:
    """1 and 1.0 are one value, true and 1 are two, key order does not matter."""
    ours = list(_unique_items(None, True, items, {}))  # type: ignore[arg-type]
    assert bool(ours) == (not jsonschema_utils.uniq(items))


def test_a_repeated_component_is_refused_by_index_not_by_quoting_the_list() -> None:
    text, _ = build._render_json(
        Inventory("x", (Package("a", "1"), Package("b", "1"))), None, Reproducibility(True, None)
    )
    document = json.loads(text)
    document["components"].append(document["components"][0])
    with pytest.raises(InvalidSbom, match=r"at components: item 2 repeats an earlier one") as e:
        validate(json.dumps(document), "json")
    assert "pkg:pypi/a@1" not in str(e.value)


def _requirements(path: Path, count: int) -> Path:
    """`count` hash-pinned entries, each `# via` the one before: pip-compile's longest chain."""
    lines = []
    for i in range(count):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        lines.append(f"pkg{i:05d}==1.{i} \\\n    --hash=sha256:{digest}")
        lines.append(f"    # via pkg{i - 1:05d}" if i else "    # via -r requirements.in")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _calls_to_generate(path: Path, fmt: Format = "json") -> int:
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    request = SbomRequest(kind="requirements", target=path, fmt=fmt, reproducible=True)
    sys.setprofile(count)
    try:
        generate(request)
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_work_per_entry_does_not_grow_with_the_input(tmp_path: Path, fmt: Format) -> None:
    """Counted in function calls, not seconds: doubling the entries (a `# via` chain, the worst
    case) at most doubles the work. The quadratic renderer and validator took 3.4x (JSON) and
    the library's XML output 2.6x."""
    warm = _requirements(tmp_path / "w.txt", 20)
    generate(SbomRequest(kind="requirements", target=warm, fmt=fmt))
    small = _calls_to_generate(_requirements(tmp_path / "small.txt", 400), fmt)
    large = _calls_to_generate(_requirements(tmp_path / "large.txt", 800), fmt)
    assert large <= 2.05 * small, (small, large)


def test_ten_thousand_components_come_out_whole(tmp_path: Path) -> None:
    count = 10_000
    result = generate(
        SbomRequest(kind="requirements", target=_requirements(tmp_path / "r.txt", count))
    )
    document = json.loads(result.document)
    refs = [c["bom-ref"] for c in document["components"]]
    assert refs == sorted(f"pkg:pypi/pkg{i:05d}@1.{i}" for i in range(count))
    graph = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    assert len(graph) == count
    assert all(
        graph[f"pkg:pypi/pkg{i:05d}@1.{i}"] == [f"pkg:pypi/pkg{i + 1:05d}@1.{i + 1}"]
        for i in range(count - 1)
    )
    assert graph[f"pkg:pypi/pkg{count - 1:05d}@1.{count - 1}"] == []
    assert all(len(c["hashes"]) == 1 for c in document["components"])


def test_ten_thousand_components_come_out_whole_as_xml(tmp_path: Path) -> None:
    count = 10_000
    result = generate(
        SbomRequest(kind="requirements", target=_requirements(tmp_path / "r.txt", count), fmt="xml")
    )
    ns = {"c": xmlwriter.NAMESPACE}
    root = ET.fromstring(result.document)
    components = root.findall("c:components/c:component", ns)
    refs = [c.get("bom-ref") for c in components]
    assert refs == sorted(f"pkg:pypi/pkg{i:05d}@1.{i}" for i in range(count))
    graph = {
        d.get("ref"): [t.get("ref") for t in d]
        for d in root.findall("c:dependencies/c:dependency", ns)
    }
    assert len(graph) == count
    assert all(
        graph[f"pkg:pypi/pkg{i:05d}@1.{i}"] == [f"pkg:pypi/pkg{i + 1:05d}@1.{i + 1}"]
        for i in range(count - 1)
    )
    assert graph[f"pkg:pypi/pkg{count - 1:05d}@1.{count - 1}"] == []
    assert all(len(c.findall("c:hashes/c:hash", ns)) == 1 for c in components)
