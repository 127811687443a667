"""Cost grows linearly: the JSON document is written by attest (cyclonedx-python-lib's Bom is
quadratic in its dependency graph), byte for byte as the library writes it, and validated with
a linear `uniqueItems`. No timing here (the benchmark measures time): work is counted in
Python function calls, and the output of 10,000 components is checked whole."""

from __future__ import annotations

import datetime
import hashlib
import json
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import _utils as jsonschema_utils

from attest.sbom import build
from attest.sbom.build import Reproducibility
from attest.sbom.interface import Digest, Inventory, Package
from attest.sbom.project import Project
from attest.sbom.stage import SbomRequest, generate
from attest.sbom.validate import InvalidSbom, _unique_items, validate

_MOMENT = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)


def _library_json(inventory: Inventory, project: Project | None, moment: Any) -> tuple[str, Any]:
    """The document as attest rendered it before (cyclonedx-python-lib's Bom and outputter,
    dependencies registered one by one): the reference the JSON writer must equal."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reproducibility = Reproducibility(True, moment)
        bom = build.build_bom(inventory, project, reproducibility)
        bom.dependencies = []
        _, depends, direct = build._graph(inventory, project)
        components = {str(c.bom_ref): c for c in bom.components}
        for ref, targets in depends.items():
            bom.register_dependency(components[ref], [components[t] for t in targets])
        root = bom.metadata.component
        if root is not None and direct is not None:
            bom.register_dependency(root, [components[t] for t in direct])
        digest = hashlib.sha256(build._serialize(bom, "json").encode()).hexdigest()
        bom.serial_number = uuid.uuid5(build._SERIAL_NAMESPACE, digest)
        text = build._serialize(bom, "json")
    return text, tuple(dict.fromkeys(str(w.message) for w in caught))


_NAMES = st.sampled_from(["alpha", "Alpha", "beta", "gamma.x", "delta_y", "é-pkg"])
_LICENSES = st.sampled_from(["MIT", "apache-2.0", "BSD License", "Zope Public", "GPL-2.0+"])
_DIGESTS = st.builds(
    Digest,
    st.sampled_from(["sha256", "md5", "sha512"]),
    st.sampled_from(["a" * 32, "b" * 64, "c" * 128, "0" * 64]),
).filter(lambda d: len(d.value) == {"md5": 32, "sha256": 64, "sha512": 128}[d.algorithm])
_LINKS = st.tuples(
    st.sampled_from(["Homepage", "Source", "Bug Tracker", "Funding", "changelog", "Other"]),
    st.sampled_from(
        [
            "https://example.org/x",
            "https://u:p@example.org/y z",
            "not a url\n",
            "https://b.example/it's",
        ]
    ),
)
_PACKAGES = st.builds(
    Package,
    name=_NAMES,
    version=st.none() | st.sampled_from(["1.0", "1.0.post1", "2", ""]),
    digests=st.lists(_DIGESTS, max_size=3, unique=True).map(lambda d: tuple(sorted(d))),
    licenses=st.one_of(
        st.lists(_LICENSES, max_size=3, unique=True).map(tuple),
        st.just(("MIT OR Apache-2.0",)),
    ),
    dependencies=st.lists(_NAMES.map(str.lower), max_size=3, unique=True).map(tuple),
    description=st.none() | st.text(max_size=8),
    links=st.lists(_LINKS, max_size=3).map(tuple),
)
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
    expected, expected_notes = _library_json(inventory, project, moment)
    text, notes = build._render_json(inventory, project, Reproducibility(True, moment))
    assert text == expected
    assert notes == expected_notes
    validate(text, "json")


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


def _calls_to_generate(path: Path) -> int:
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    request = SbomRequest(kind="requirements", target=path, reproducible=True)
    sys.setprofile(count)
    try:
        generate(request)
    finally:
        sys.setprofile(None)
    return calls


def test_the_work_per_entry_does_not_grow_with_the_input(tmp_path: Path) -> None:
    """Counted in function calls, not seconds: doubling the entries (a `# via` chain, the worst
    case) at most doubles the work. The quadratic renderer and validator took 3.4x."""
    generate(SbomRequest(kind="requirements", target=_requirements(tmp_path / "w.txt", 20)))
    small = _calls_to_generate(_requirements(tmp_path / "small.txt", 400))
    large = _calls_to_generate(_requirements(tmp_path / "large.txt", 800))
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
