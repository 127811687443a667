"""What `attest build` records (attest/provenance/artifacts.py): only files the run created or
changed are products; a link is never followed out of where it belongs (a material is recorded
as the link, a product must stay in its directory); what cannot be recorded is refused by
name; a product changed after it was hashed refuses the link."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from attest.provenance import artifacts
from verify.errors import OperationalError, UsageError

DIST = (Path("dist"),)


def _made(base: Path, before: dict[Path, artifacts.Stamp]) -> list[str]:
    return list(artifacts.products(base, DIST, before, base / "elsewhere.log"))


def test_only_files_the_run_created_or_changed_count(tmp_path: Path) -> None:
    """Stale files are left out; a file rewritten with its old mtime put back still counts
    (its ctime moved); a file the run deleted is not there to count."""
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in ("stale.whl", "rewritten.whl", "deleted.whl", "touched.whl"):
        (dist / name).write_text(name)
    before = artifacts.snapshot(tmp_path, DIST)
    assert set(before) == {path.resolve() for path in dist.iterdir()}
    time.sleep(0.02)  # past a coarse file system clock
    old = (dist / "rewritten.whl").stat()
    (dist / "rewritten.whl").write_text("rewritten.whl")  # same bytes, same size
    os.utime(dist / "rewritten.whl", ns=(old.st_atime_ns, old.st_mtime_ns))
    (dist / "deleted.whl").unlink()
    (dist / "new.whl").write_text("new")
    os.utime(dist / "touched.whl")
    found = artifacts.products(tmp_path, DIST, before, tmp_path / "elsewhere.log")
    assert list(found) == ["dist/new.whl", "dist/rewritten.whl", "dist/touched.whl"]
    assert found["dist/new.whl"].sha256 == hashlib.sha256(b"new").hexdigest()


def test_evidence_is_never_a_product(tmp_path: Path) -> None:
    """A build that touches (or writes) bundles or attestations beside its products: they are
    evidence about artifacts, never artifacts a link names (an earlier run's bundle would be
    signed as a product)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    before = artifacts.snapshot(tmp_path, DIST)
    for name in ("a.whl", "a.whl.sigstore.json", "a.publish.attestation", "b.build.sigstore.json"):
        (dist / name).write_text(name)
    assert _made(tmp_path, before) == ["dist/a.whl"]


def test_a_named_product_file_counts_alike(tmp_path: Path) -> None:
    (tmp_path / "a.whl").write_text("a")
    named = (Path("a.whl"), Path("missing.whl"))
    before = artifacts.snapshot(tmp_path, named)
    with pytest.raises(UsageError, match=r"a\.whl: the build created or changed no files there"):
        artifacts.products(tmp_path, named, before, tmp_path / "log")
    (tmp_path / "missing.whl").write_text("now")
    assert list(artifacts.products(tmp_path, named, before, tmp_path / "log")) == ["missing.whl"]


def test_links_among_the_products_stay_in_their_directory(tmp_path: Path) -> None:
    """A link to a file or a directory inside the product directory is followed (recorded by
    its own name); one that stays there is fine however it is written."""
    dist = tmp_path / "dist"
    (dist / "1.0").mkdir(parents=True)
    before = artifacts.snapshot(tmp_path, DIST)
    (dist / "1.0" / "a.whl").write_text("a")
    (dist / "latest.whl").symlink_to("1.0/a.whl")
    (dist / "current").symlink_to("1.0")
    assert _made(tmp_path, before) == [
        "dist/1.0/a.whl",
        "dist/current/a.whl",
        "dist/latest.whl",
    ]


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (
            lambda d, out: (d / "leak.whl").symlink_to(out / "secret.txt"),
            "dist/leak.whl: a link out of",
        ),
        (lambda d, out: (d / "sub").symlink_to(out), "dist/sub: a link out of"),
        (lambda d, out: (d / "z.whl").symlink_to("/dev/zero"), "dist/z.whl: a link out of"),
        (lambda d, out: os.mkfifo(d / "f.whl"), "dist/f.whl: not a file"),
        (lambda d, out: (d / "gone.whl").symlink_to("nothing"), "dist/gone.whl: a link to nothing"),
        (lambda d, out: (d / "self").symlink_to("."), "dist/self: a link to a directory above it"),
    ],
)
def test_what_cannot_be_a_product_is_refused_by_name(
    tmp_path: Path, make: Callable[[Path, Path], object], problem: str
) -> None:
    """A product that is a link out of its directory would sign the digest of whatever it
    points at (an outside file, a device); a FIFO, a dangling link or a loop is no file: each
    refuses the build (exit 2) by name, beside the files that are fine."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("SECRET")
    (out / "inner.whl").write_text("inner")
    dist = tmp_path / "dist"
    dist.mkdir()
    before = artifacts.snapshot(tmp_path, DIST)
    (dist / "a.whl").write_text("a")
    make(dist, out)
    with pytest.raises(UsageError) as refused:
        _made(tmp_path, before)
    assert str(refused.value).startswith("cannot record the products (each must be a file in its")
    assert problem in str(refused.value)
    assert "a.whl" not in str(refused.value)


def test_a_product_changed_after_hashing_refuses_the_link(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    before = artifacts.snapshot(tmp_path, DIST)
    (tmp_path / "dist" / "a.whl").write_text("x")
    found = artifacts.products(tmp_path, DIST, before, tmp_path / "log")
    artifacts.unchanged(found)
    (tmp_path / "dist" / "a.whl").write_text("EVIL")
    with pytest.raises(OperationalError) as refused:
        artifacts.unchanged(found)
    assert str(refused.value) == (
        "dist/a.whl: changed after it was hashed, while the link was being signed (something "
        "outside the build writes there); no link was written"
    )


def test_a_link_among_the_materials_is_recorded_as_the_link(tmp_path: Path) -> None:
    """A tracked link to a file outside the tree, or to /dev/zero, is recorded as git records
    it: the sha256 of its text, media type inode/symlink; the file it points at is never read
    (its hash would be published in a public log)."""
    (tmp_path / "outside-secret.txt").write_text("SECRET")
    tree = tmp_path / "tree"
    (tree / "lib").mkdir(parents=True)
    (tree / "app.py").write_text("print(1)\n")
    (tree / "config.txt").symlink_to("../outside-secret.txt")
    (tree / "lib" / "zero.bin").symlink_to("/dev/zero")
    (tree / "lib" / "up").symlink_to("..")
    recorded = artifacts.materials(tree, ["app.py", "config.txt", "lib"])
    assert [(m.name, m.media_type) for m in recorded] == [
        ("app.py", None),
        ("config.txt", "inode/symlink"),
        ("lib/up", "inode/symlink"),
        ("lib/zero.bin", "inode/symlink"),
    ]
    digests = {m.name: (m.digest or {})["sha256"] for m in recorded}
    assert digests["config.txt"] == hashlib.sha256(b"../outside-secret.txt").hexdigest()
    assert digests["lib/zero.bin"] == hashlib.sha256(b"/dev/zero").hexdigest()
    assert hashlib.sha256(b"SECRET").hexdigest() not in digests.values()


def test_a_material_that_cannot_be_recorded_is_refused_by_name(tmp_path: Path) -> None:
    """A material that is not there, a FIFO or a device is refused (exit 2) naming each, never
    signed as `materials: []`; build output below a named directory is left out."""
    os.mkfifo(tmp_path / "ff")
    with pytest.raises(UsageError) as refused:
        artifacts.materials(tmp_path, ["nope.txt", "ff", "/dev/zero"])
    assert str(refused.value) == (
        "cannot record the materials (each must be a file, a directory or a link): nope.txt: "
        "no such file or directory; ff: not a regular file, a directory or a link; /dev/zero: "
        "not a regular file, a directory or a link"
    )
    (tmp_path / "src" / "__pycache__").mkdir(parents=True)
    (tmp_path / "src" / "__pycache__" / "m.pyc").write_text("")
    (tmp_path / "src" / "m.py").write_text("")
    assert [m.name for m in artifacts.materials(tmp_path, ["src"])] == ["src/m.py"]
