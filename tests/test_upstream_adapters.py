"""Upstream internals behind one door each, and every imported package declared.

sigstore-python's and pip-audit's private APIs are reached only through their adapters
(verify/sigstore_adapter.py, attest/scan/pip_audit_adapter.py). Each adapter lists the private
names it relies on; these tests resolve every one against the installed version, so an upgrade
that moves one fails naming the name and the adapter to fix; and they scan the code so that no
other module reaches for those internals."""

from __future__ import annotations

import ast
import base64
import datetime
import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import requests
import tomllib
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from packaging.requirements import Requirement
from sigstore._internal.rekor.client_v2 import RekorV2Client
from sigstore._internal.timestamp import TimestampAuthorityClient
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.sign import Signer, SigningContext

from attest.scan import pip_audit_adapter
from tests.conftest import REPO
from verify import sigstore_adapter
from verify.upstream import Internal

ADAPTERS = {
    "verify/sigstore_adapter.py": ("sigstore", sigstore_adapter.INTERNALS),
    "attest/scan/pip_audit_adapter.py": ("pip-audit", pip_audit_adapter.INTERNALS),
}
CODE = ("attest", "verify", "tests", "benchmarks", "examples")
PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1"}'


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _certificate() -> bytes:
    """A leaf certificate (DER) with a key made here: enough for sigstore to read a bundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "adapter probe")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def _bundle() -> Bundle:
    """A DSSE bundle sigstore reads (it verifies nothing): log index 7, integrated at 1795398251."""
    entry = {
        "logIndex": "7",
        "logId": {"keyId": _b64(b"k" * 32)},
        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
        "integratedTime": "1795398251",
        "inclusionPromise": {"signedEntryTimestamp": _b64(b"promise")},
        "inclusionProof": {
            "logIndex": "7",
            "rootHash": _b64(b"r" * 32),
            "treeSize": "8",
            "hashes": [],
            "checkpoint": {"envelope": "checkpoint"},
        },
        "canonicalizedBody": _b64(b"{}"),
    }
    document = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {"rawBytes": _b64(_certificate())},
            "tlogEntries": [entry],
        },
        "dsseEnvelope": {
            "payload": _b64(PAYLOAD),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": _b64(b"signature")}],
        },
    }
    return Bundle.from_json(json.dumps(document))


def _trust_config() -> ClientTrustConfig:
    """Public Sigstore's client trust config, from the files the sigstore wheel carries."""
    root = sigstore_adapter.embedded_trusted_root("production")
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads(root.read_bytes()),
        "signingConfig": json.loads((root.parent / "signing_config.v0.2.json").read_bytes()),
    }
    return ClientTrustConfig.from_json(json.dumps(config))


# the instances an adapter reads private attributes of, by class name
SAMPLES: dict[str, Callable[[Path], object]] = {
    "Bundle": lambda _: _bundle(),
    "TransparencyLogEntry": lambda _: _bundle().log_entry,
    "TrustedRoot": lambda _: _trust_config().trusted_root,
    "SigningConfig": lambda _: _trust_config().signing_config,
    "SigningContext": lambda _: SigningContext.from_trust_config(_trust_config()),
    # no certificate requested (cache=False), so no token is read
    "Signer": lambda _: Signer(None, SigningContext.from_trust_config(_trust_config()), False),  # type: ignore[arg-type]
    "OsvService": lambda tmp: pip_audit_adapter.osv(tmp, 5, pip_audit_adapter.OSV_URL)._inner,
    "PyPIService": lambda tmp: pip_audit_adapter.pypi(tmp, 5, None)._inner,
    "RekorV2Client": lambda _: RekorV2Client("https://log.example"),
    "TimestampAuthorityClient": lambda _: TimestampAuthorityClient("https://tsa.example"),
}


def _cases() -> list[Any]:
    return list(_each_case())


def _each_case() -> Iterator[Any]:
    for adapter, (distribution, internals) in ADAPTERS.items():
        for internal in internals:
            name = f"{internal.module}.{internal.name}"
            yield pytest.param(adapter, distribution, internal, id=f"{name}.{internal.instance}")


def _resolve(start: object, path: str) -> object:
    """`path` read on `start`; a submodule not imported yet (or a data package) is imported."""
    found = start
    for part in path.split("."):
        if inspect.ismodule(found) and not hasattr(found, part):
            found = importlib.import_module(f"{found.__name__}.{part}")
        else:
            found = getattr(found, part)
    return found


@pytest.mark.parametrize(("adapter", "distribution", "internal"), _cases())
def test_every_upstream_internal_an_adapter_relies_on_is_there(
    adapter: str, distribution: str, internal: Internal, tmp_path: Path
) -> None:
    where = f"{internal.module}.{internal.name}"
    if internal.instance:
        where += f" (on its instances: .{internal.instance})"
    moved = (
        f"{adapter} relies on {where} ({internal.why}), which the installed {distribution} "
        f"{metadata.version(distribution)} no longer has as it was: adapt {adapter}, where "
        "every use of it lives, and its pinned range in pyproject.toml"
    )
    try:
        found = _resolve(importlib.import_module(internal.module), internal.name)
        if internal.instance:
            found = _resolve(SAMPLES[internal.name](tmp_path), internal.instance)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"{moved}: {e}")
    if internal.parameters is not None:
        assert callable(found), moved
        parameters = inspect.signature(found).parameters
        required = {
            name
            for name, p in parameters.items()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        ours = set(internal.parameters)
        assert ours <= set(parameters) and required <= ours, (
            f"{moved}: it is called with {sorted(ours)}, its parameters are now {list(parameters)}"
        )


def test_the_move_message_names_the_symbol_and_the_adapter(tmp_path: Path) -> None:
    """What an upgrade that moves a name shows: the name, the adapter, the installed version."""
    gone = Internal("sigstore._internal.trust", "KeyThatMoved", "a probe")
    with pytest.raises(pytest.fail.Exception) as failed:
        test_every_upstream_internal_an_adapter_relies_on_is_there(
            "verify/sigstore_adapter.py", "sigstore", gone, tmp_path
        )
    message = str(failed.value)
    assert "verify/sigstore_adapter.py relies on sigstore._internal.trust.KeyThatMoved" in message
    assert f"the installed sigstore {metadata.version('sigstore')} no longer has" in message
    reshaped = Internal("sigstore._internal.trust", "Key", "a probe", ("self", "key"))
    with pytest.raises(AssertionError, match=r"called with \['key', 'self'\], its parameters"):
        test_every_upstream_internal_an_adapter_relies_on_is_there(
            "verify/sigstore_adapter.py", "sigstore", reshaped, tmp_path
        )


def test_every_instance_attribute_has_a_sample() -> None:
    """An instance attribute without a sample would never be checked."""
    for _, internals in ADAPTERS.values():
        for internal in internals:
            assert not internal.instance or internal.name in SAMPLES, internal


# --- what the sigstore adapter reads, on real objects ---------------------------------------


def test_the_sigstore_adapter_reads_a_bundle() -> None:
    bundle = _bundle()
    assert sigstore_adapter.log_index(bundle) == 7
    assert sigstore_adapter.integrated_time(bundle) == 1795398251
    assert sigstore_adapter.dsse_payload(bundle) == PAYLOAD


def test_the_sigstore_adapter_reads_the_trust_material() -> None:
    config = _trust_config()
    assert sigstore_adapter.oidc_url(config) == "https://oauth2.sigstore.dev/auth"
    keys = sigstore_adapter.log_keys(config.trusted_root)
    assert keys and all(len(key_id) == 32 for key_id, _ in keys)
    assert all(valid is not None and valid.start is not None for _, valid in keys)
    assert sigstore_adapter.embedded_trusted_root("staging").is_file()
    empty = sigstore_adapter.PublicKeyModel.from_json('{"keyDetails": "PKIX_ECDSA_P256_SHA_256"}')
    with pytest.raises(Exception, match="public key is empty"):
        sigstore_adapter.check_key(empty)


def test_the_pip_audit_adapter_reaches_the_session_and_records(tmp_path: Path) -> None:
    """Its queries, skips and errors run against loopback services in tests/attest/scan/test_services."""
    service = pip_audit_adapter.pypi(tmp_path, 5, "http://127.0.0.1:9/mirror")
    assert isinstance(service.session, requests.Session)
    assert "https://pypi.org/" in service.session.adapters  # the mirror's rewrite
    recorder = service.record()
    assert recorder.last is None and service._inner.session is recorder


# --- no other module reaches for the internals ----------------------------------------------

PRIVATE_MODULES = re.compile(r"^(sigstore\._|sigstore_models\b|pip_audit\b)")


def _private_names() -> frozenset[str]:
    """The private attribute names the adapters rely on (`_inner`, `_establish_time`, ...) and
    sigstore's Verifier's `_trusted_root`."""
    names = {"_trusted_root"}
    for _, internals in ADAPTERS.values():
        for internal in internals:
            for part in (*internal.name.split("."), *internal.instance.split(".")):
                if part.startswith("_") and not part.startswith("__"):
                    names.add(part)
    return frozenset(names)


def stragglers(source: str, filename: str = "<probe>") -> list[str]:
    """Where `source` imports a private upstream module or touches a private name the
    adapters own (on anything but `self` or `cls`)."""
    private = _private_names()
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if not PRIVATE_MODULES.match(node.module):  # `from sigstore import _internal`
                names = [f"{node.module}.{alias.name}" for alias in node.names]
        found += [
            f"{filename}:{node.lineno}: imports {n}" for n in names if PRIVATE_MODULES.match(n)
        ]
        if isinstance(node, ast.Attribute) and node.attr in private:
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"{filename}:{node.lineno}: touches .{node.attr}")
        if isinstance(node, ast.Constant) and node.value in private:
            found.append(f"{filename}:{node.lineno}: names {node.value!r}")
    return found


def test_the_straggler_scan_finds_what_it_looks_for() -> None:
    source = (
        "from sigstore._internal.trust import Key\n"
        "import pip_audit._service\n"
        "from sigstore_models.common.v1 import HashAlgorithm\n"
        "from sigstore import _internal\n"
        "index = bundle.log_entry._inner.log_index\n"
        "getattr(entry, '_inner')\n"
        "self._inner = inner\n"
        "from sigstore.models import Bundle\n"
    )
    assert [line.split(": ", 1)[1] for line in stragglers(source)] == [
        "imports sigstore._internal.trust",
        "imports pip_audit._service",
        "imports sigstore_models.common.v1",
        "imports sigstore._internal",
        "touches ._inner",
        "names '_inner'",
    ]


def test_only_the_adapters_reach_upstream_internals() -> None:
    test_file = Path(__file__).relative_to(REPO).as_posix()
    found = []
    for top in CODE:
        for path in sorted((REPO / top).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            if relative in ADAPTERS or relative == test_file or "node_modules" in path.parts:
                continue
            found += stragglers(path.read_text(), relative)
    assert not found, "upstream internals outside their adapters (move these uses into " + (
        f"{' or '.join(ADAPTERS)}):\n" + "\n".join(found)
    )


# --- every package the code imports is declared ---------------------------------------------


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imports(top: str) -> dict[str, set[str]]:
    """The third-party top-level modules the code under `top` imports, with where."""
    found: dict[str, set[str]] = {}
    for path in (REPO / top).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                name = module.partition(".")[0]
                if name not in sys.stdlib_module_names and name not in ("attest", "verify"):
                    found.setdefault(name, set()).add(path.relative_to(REPO).as_posix())
    return found


def _undeclared(imports: dict[str, set[str]], declared: set[str]) -> list[str]:
    distributions = metadata.packages_distributions()
    missing = []
    for module, where in sorted(imports.items()):
        candidates = {_normal(d) for d in distributions.get(module, [])}
        if not candidates & declared:
            names = ", ".join(sorted(candidates)) or "no installed distribution"
            missing.append(f"{module} ({names}), imported by {', '.join(sorted(where))}")
    return missing


def test_every_package_the_code_imports_is_declared() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_normal(Requirement(r).name) for r in project["dependencies"]}
    imports = _imports("attest")
    for module, where in _imports("verify").items():
        imports.setdefault(module, set()).update(where)
    missing = _undeclared(imports, declared)
    assert not missing, "imported but not in [project].dependencies:\n" + "\n".join(missing)


def test_the_gate_imports_only_its_own_dependencies() -> None:
    """verify's imports are in [tool.attest].verify-dependencies, the set the deploy host
    installs (tests/verify/test_verify_isolation.py imports verify with only that set's closure)."""
    names = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["attest"]
    declared = {_normal(n) for n in names["verify-dependencies"]}
    missing = _undeclared(_imports("verify"), declared)
    assert not missing, "imported by verify but not a verify-dependency:\n" + "\n".join(missing)


def test_the_declaration_check_names_what_is_missing() -> None:
    missing = _undeclared({"rich": {"attest/x.py"}, "click": {"attest/y.py"}}, {"click"})
    assert missing == ["rich (rich), imported by attest/x.py"]
