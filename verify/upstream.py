"""What an adapter to an upstream library's internals declares (verify/sigstore_adapter.py,
attest/scan/pip_audit_adapter.py): each private name it relies on, which
tests/test_upstream_adapters.py resolves against the installed version."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Internal:
    """An upstream name an adapter relies on: `name` (dotted) inside `module`; with
    `instance`, the dotted path read on the instances of that class (set in `__init__`); with
    `parameters`, the parameter names of the callable, when its call shape matters."""

    module: str
    name: str
    why: str
    parameters: tuple[str, ...] | None = None
    instance: str = ""
