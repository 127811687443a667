"""Helpers for the scan tests: fixture paths, OSV records built in code, databases in every
accepted layout, the shared PyPA database, and a loopback OSV / PyPI JSON API server."""

from __future__ import annotations

import datetime
import io
import json
import tarfile
import zipfile
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from tests.conftest import FIXTURES, REPO
from tests.loopback import serving
from verify.osv import records as osv

SCAN_FIXTURES = FIXTURES / "scan"
PYPA_FIXTURE = SCAN_FIXTURES / "pypa"
SHARED_DB = (
    REPO.parent / "shared" / "data" / "advisory-db" / "pypa-advisory-database-2026-07-23.tar.gz"
)
NOW = "2026-07-05T00:00:00Z"  # within a week of the fixture database's newest record


def shared_db() -> Path:
    if not SHARED_DB.is_file():
        pytest.skip(f"the shared PyPA advisory database is absent ({SHARED_DB}); CI has it")
    return SHARED_DB


def record(
    ident: str,
    package: str,
    *,
    events: list[dict[str, str]] | None = None,
    versions: list[str] | None = None,
    published: str = "2026-01-01T00:00:00Z",
    modified: str = "2026-07-10T00:00:00Z",
    aliases: list[str] | None = None,
    severity: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An OSV record affecting one PyPI package."""
    affected: dict[str, Any] = {"package": {"name": package, "ecosystem": "PyPI"}}
    if events is not None:
        affected["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    if versions is not None:
        affected["versions"] = versions
    data: dict[str, Any] = {
        "id": ident,
        "published": published,
        "modified": modified,
        "aliases": aliases or [],
        "summary": f"{ident} in {package}",
        "affected": [affected],
        **extra,
    }
    if severity is not None:
        data["severity"] = severity
    return data


def write_pypa(root: Path, records: list[dict[str, Any]]) -> Path:
    """The PyPA layout: vulns/<package>/<ID>.yaml."""
    for data in records:
        package = data["affected"][0]["package"]["name"]
        path = root / "vulns" / package / f"{data['id']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def write_json_dir(root: Path, records: list[dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for data in records:
        (root / f"{data['id']}.json").write_text(json.dumps(data))
    return root


def zip_bytes(records: list[dict[str, Any]]) -> bytes:
    """An OSV all.zip export: one JSON file per record at the top level."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for data in records:
            archive.writestr(f"{data['id']}.json", json.dumps(data))
    return buffer.getvalue()


def tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    return path


def tar_dir(path: Path, root: Path, prefix: str) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        archive.add(root, arcname=prefix)
    return path


def sbom(path: Path, pins: dict[str, str | None]) -> Path:
    components = [
        {"type": "library", "name": n, **({"version": v} if v else {})} for n, v in pins.items()
    ]
    path.write_text(
        json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components})
    )
    return path


def _iso(value: object) -> str:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serializable: {value!r}")


class OsvApi:
    """A loopback server speaking OSV's /v1/query (what pip-audit's OsvService posts) and
    PyPI's /pypi/<name>/<version>/json, answering from the records it was given."""

    def __init__(self, records: list[dict[str, Any]], status: int = 200) -> None:
        self.by_package: dict[str, list[tuple[osv.Entry, dict[str, Any]]]] = {}
        for data in records:
            for package, entry in osv.entries(data):
                self.by_package.setdefault(package, []).append((entry, data))
        self.status = status
        self.requests = 0

    def matching(self, name: str, version: str) -> list[dict[str, Any]]:
        wanted = Version(version)
        return [raw for entry, raw in self.by_package.get(name, []) if osv.affects(entry, wanted)]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: object) -> None:
                blob = json.dumps(body, default=_iso).encode()  # YAML gives datetimes
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob)

            def do_POST(self) -> None:
                api.requests += 1
                query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if api.status != 200:
                    return self._send(api.status, {"error": "unavailable"})
                vulns = api.matching(query["package"]["name"], query["version"])
                return self._send(200, {"vulns": vulns} if vulns else {})

            def do_GET(self) -> None:  # PyPI JSON API: /pypi/<name>/<version>/json
                api.requests += 1
                parts = self.path.strip("/").split("/")
                if api.status != 200 or len(parts) != 4 or parts[0] != "pypi":
                    return self._send(api.status if api.status != 200 else 404, {})
                name, version = parts[1], parts[2]
                if name not in api.by_package:
                    return self._send(404, {"message": "Not Found"})
                vulns = [
                    {
                        "id": raw["id"],
                        "aliases": raw.get("aliases", []),
                        "summary": raw.get("summary"),
                        "fixed_in": [
                            e["fixed"]
                            for r in raw["affected"][0].get("ranges", [])
                            for e in r["events"]
                            if "fixed" in e
                        ],
                        "published": raw.get("published"),
                    }
                    for raw in api.matching(name, version)
                ]
                return self._send(200, {"info": {"name": name}, "vulnerabilities": vulns})

        return Handler


def serve(api: OsvApi, lifetime: float = 120.0) -> AbstractContextManager[str]:
    """Serve `api` on 127.0.0.1; the context yields its base URL."""
    return serving(api.handler(), lifetime)
