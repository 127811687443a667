"""The document itself: CycloneDX 1.6, schema-validated before it is written, reproducible on
request, JSON or XML, written atomically and only on success."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from attest.sbom.validate import InvalidSbom, validate
from tests.attest.sbom.helpers import Sbom
from tests.conftest import SBOM_FIXTURES
from verify.errors import ExitCode

UV_LOCK = str(SBOM_FIXTURES / "uv-project" / "uv.lock")


def test_metadata_and_tool(invoke: Callable[..., Result]) -> None:
    sbom = Sbom(invoke("sbom", "--lock", UV_LOCK).stdout)
    assert sbom.data["bomFormat"] == "CycloneDX"
    assert sbom.data["specVersion"] == "1.6"
    assert sbom.data["serialNumber"].startswith("urn:uuid:")
    tools = sbom.data["metadata"]["tools"]["components"]
    assert [t["name"] for t in tools] == ["attest"]
    assert "timestamp" in sbom.data["metadata"]
    assert all(c["purl"].startswith("pkg:pypi/") for c in sbom.components.values())


def test_every_output_validates_and_a_broken_one_does_not(invoke: Callable[..., Result]) -> None:
    text = invoke("sbom", "--lock", UV_LOCK).stdout
    validate(text, "json")
    broken = json.loads(text)
    broken["components"][0]["purl"] = 42
    with pytest.raises(InvalidSbom, match=r"at components/0/purl: 42 is not of type 'string'"):
        validate(json.dumps(broken), "json")
    bad_time = json.loads(text)
    bad_time["metadata"]["timestamp"] = "2026-02-30T10:00:00Z"
    with pytest.raises(InvalidSbom, match="is not a 'date-time'"):
        validate(json.dumps(bad_time), "json")


def test_xml_output_validates(invoke: Callable[..., Result]) -> None:
    result = invoke("sbom", "--lock", UV_LOCK, "--format", "xml")
    assert result.exit_code == 0, result.stderr
    root = ET.fromstring(result.stdout)
    assert root.tag == "{http://cyclonedx.org/schema/bom/1.6}bom"
    validate(result.stdout, "xml")
    with pytest.raises(InvalidSbom):
        validate(result.stdout.replace("<components>", "<components><bogus/>", 1), "xml")


def test_reproducible_flag_gives_identical_bytes(invoke: Callable[..., Result]) -> None:
    first = invoke("sbom", "--lock", UV_LOCK, "--reproducible")
    second = invoke("sbom", "--lock", UV_LOCK, "--reproducible")
    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert "timestamp" not in data["metadata"]
    # the serial number is derived from the content: another input, another serial
    other = invoke(
        "sbom", "--lock", str(SBOM_FIXTURES / "poetry-project" / "poetry.lock"), "--reproducible"
    )
    assert json.loads(other.stdout)["serialNumber"] != data["serialNumber"]


def test_source_date_epoch_sets_the_timestamp(invoke: Callable[..., Result]) -> None:
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    first = invoke("sbom", "--lock", UV_LOCK, env=env)
    second = invoke("sbom", "--lock", UV_LOCK, "--format", "json", env=env)
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    xml_runs = {invoke("sbom", "--lock", UV_LOCK, "--format", "xml", env=env).stdout for _ in "ab"}
    assert len(xml_runs) == 1


def test_without_reproducibility_runs_differ(invoke: Callable[..., Result]) -> None:
    first = json.loads(invoke("sbom", "--lock", UV_LOCK).stdout)
    second = json.loads(invoke("sbom", "--lock", UV_LOCK).stdout)
    assert first["serialNumber"] != second["serialNumber"]


def test_output_file_is_written_and_stdout_stays_empty(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    out = tmp_path / "sbom.cdx.json"
    result = invoke("sbom", "--lock", UV_LOCK, "--output", str(out))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert f"to {out}" in result.stderr
    assert Sbom(out.read_bytes()).root["name"] == "demo-app"
    assert [p.name for p in tmp_path.iterdir()] == ["sbom.cdx.json"]  # no temporary left


def test_failure_leaves_the_previous_output_untouched(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    out = tmp_path / "sbom.cdx.json"
    out.write_text("previous")
    bad = tmp_path / "uv.lock"
    bad.write_text("version = 1\n[[package]]\nname = 3\n")
    result = invoke("sbom", "--lock", str(bad), "--output", str(out))
    assert result.exit_code == 2
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sbom.cdx.json", "uv.lock"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_document_that_does_not_validate_is_never_written(
    invoke: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Threat T6: whatever goes wrong in rendering, the schema check stands between it and the
    file (here the serializer is made to emit a broken specVersion)."""
    from attest.sbom import build

    real_json, real_xml = build._serialize_json, build.xmlwriter.write

    def broken_json(document: dict[str, object]) -> str:
        return real_json(document).replace('"specVersion": "1.6"', '"specVersion": 1.6')

    def broken_xml(document: dict[str, object]) -> str:
        text = real_xml(document)
        return text.replace('xmlns="http://cyclonedx.org/schema/bom/1.6"', 'xmlns="urn:not-x"')

    monkeypatch.setattr(build, "_serialize_json", broken_json)
    monkeypatch.setattr(build.xmlwriter, "write", broken_xml)
    out = tmp_path / f"sbom.{fmt}"
    lock = SBOM_FIXTURES / "uv-project" / "uv.lock"
    result = invoke("sbom", "--lock", str(lock), "--format", fmt, "--output", str(out))
    assert result.exit_code == ExitCode.OPERATIONAL, result.stderr
    assert "the SBOM does not validate against CycloneDX 1.6" in result.stderr
    assert list(tmp_path.iterdir()) == []
