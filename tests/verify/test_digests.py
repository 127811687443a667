"""digest_file with the directory already walked (verify/digests.py): a name that is no symlink
is opened by its name alone; a symlink is walked as ever, so one into a kernel pseudo file
system is still refused as one, and one to a file hashes that file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from verify.digests import ArtifactError, digest_file


def test_a_walked_directorys_files_hash_and_its_links_are_walked(tmp_path: Path) -> None:
    artifact = tmp_path / "a.whl"
    artifact.write_bytes(b"wheel\n" * 100)
    expected = hashlib.sha256(artifact.read_bytes()).hexdigest()
    (tmp_path / "link.whl").symlink_to(artifact)
    for path in (artifact, tmp_path / "link.whl"):
        assert digest_file(path, walked=True)["sha256"] == expected
    (tmp_path / "environ").symlink_to("/proc/self/environ")
    with pytest.raises(ArtifactError, match="is in /proc, a kernel pseudo file system"):
        digest_file(tmp_path / "environ", walked=True)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ArtifactError, match="fifo: is not a regular file"):
        digest_file(tmp_path / "fifo", walked=True)
    with pytest.raises(ArtifactError, match="no such artifact"):
        digest_file(tmp_path / "missing", walked=True)
