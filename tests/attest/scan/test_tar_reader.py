"""The tar reader of verify/osv/database.py (`_members`): it reads what tarfile writes (ustar,
pax and GNU headers; gzip, bzip2, xz or no compression) into the same members, refuses what
is malformed with a one-line message naming the database, and counts every header against the
budget before reading what follows it."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.attest.scan.helpers import record
from verify.osv import database

LONG = "vulns/" + "a" * 120 + "/PYSEC-2026-1.json"  # past ustar's 100 characters
BLOB = json.dumps(record("PYSEC-2026-1", "alpha", versions=["1.0"])).encode()


def archive(path: Path, mode: str, fmt: int, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, mode, format=fmt) as out:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            out.addfile(info, io.BytesIO(blob))
        folder = tarfile.TarInfo("vulns/empty")
        folder.type = tarfile.DIRTYPE
        out.addfile(folder)
    return path


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_what_tarfile_writes_is_read_as_tarfile_reads_it(
    tmp_path: Path, mode: str, fmt: int
) -> None:
    name = LONG if fmt != tarfile.USTAR_FORMAT else "vulns/alpha/PYSEC-2026-1.json"
    db = archive(tmp_path / "db.tar", mode, fmt, {name: BLOB, "vulns/alpha/README.md": b"x"})
    assert list(database.records(db)) == [(name, BLOB)]


def error(db: Path) -> str:
    with pytest.raises(database.DatabaseError) as caught:
        list(database.records(db))
    return str(caught.value)


def test_a_malformed_tar_is_refused_naming_the_database(tmp_path: Path) -> None:
    good = archive(tmp_path / "good.tar", "w", tarfile.PAX_FORMAT, {LONG: BLOB}).read_bytes()
    cut = tmp_path / "cut.tar"
    start = 1536  # after the pax header, its data and the member's header
    cut.write_bytes(good[: start + 10])  # inside the member's data
    assert error(cut) == f"{cut}: not a readable tar archive: cut inside a member"
    second = bytearray(good)
    folder = start + -(-len(BLOB) // 512) * 512
    assert good[folder : folder + 11] == b"vulns/empty"
    second[folder + 148 : folder + 156] = b"0000000\0"  # the checksum of its header
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(second))
    assert error(bad) == f"{bad}: not a readable tar archive: bad header checksum"


def test_headers_count_against_the_budget_before_they_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pax header is read whole to apply it; tarfile read one of any declared size."""
    monkeypatch.setattr(database, "MAX_RECORD_BYTES", 1000)
    db = archive(tmp_path / "db.tar.gz", "w:gz", tarfile.PAX_FORMAT, {"v/" + "p" * 2000: b"x"})
    assert error(db).startswith(f"{db}: ") and error(db).endswith(": more than 1000 bytes")


def test_a_sparse_member_is_refused(tmp_path: Path) -> None:
    plain = archive(tmp_path / "db.tar", "w", tarfile.USTAR_FORMAT, {"v/a.json": BLOB})
    raw = bytearray(plain.read_bytes())
    raw[156:157] = b"S"  # an old GNU sparse file, its checksum made right again
    raw[148:156] = b"%06o\0 " % (sum(raw[:148]) + 8 * 32 + sum(raw[156:512]))
    plain.write_bytes(bytes(raw))
    assert error(plain) == f"{plain}: not a readable tar archive: v/a.json: a sparse member"


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_the_stream_is_unpacked_at_most_a_bounded_way_ahead_of_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The stream is decompressed in pieces (not member by member), at most 256 KiB ahead of
    what is read: a 64 MiB member over the budget is refused with about that much unpacked."""
    monkeypatch.setattr(database, "MAX_TOTAL_BYTES", 1 << 20)
    members = {"vulns/a/PYSEC-1.json": b"{}", "big.bin": b"\0" * (64 << 20)}
    db = archive(tmp_path / "db.tar", mode, tarfile.PAX_FORMAT, members)
    unpacked = []
    more = database._Unpacked._more

    def counted(self: database._Unpacked, limit: int) -> bytes:
        piece = more(self, limit)
        unpacked.append(len(piece))
        return piece

    monkeypatch.setattr(database._Unpacked, "_more", counted)
    with pytest.raises(database.DatabaseError, match=r"big\.bin: more than 1048576 bytes"):
        list(database.records(db))
    assert 0 < sum(unpacked) <= 2 * database._Unpacked.AHEAD
