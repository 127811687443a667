"""The gate reads evidence where users keep it: `gh attestation download`'s `<digest>.jsonl`
files (one Sigstore bundle per line, named for the artifact's digest) and PyPI's provenance
objects (`<dist>.provenance`), with bundles signed by the local instance. Evidence stays
scoped: a file counts for the subjects its statements name, never for the digest in its name."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify.errors import ExitCode
from verify.formats.predicates import KINDS

Invoke = Callable[..., Result]


def _verify(invoke: Invoke, tmp_path: Path, policy: dict[str, Any], *args: str | Path) -> Result:
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    return invoke("verify", "--policy", str(path), "--json", *[str(a) for a in args])


def _failures(result: Result, artifact: str = g.WHEEL) -> list[str]:
    [decision] = [d for d in json.loads(result.stdout)["decisions"]
                  if d["artifact"]["name"] == artifact]  # fmt: skip
    return [f for check in decision["checks"] for f in check["failures"]]


def _gh_name(artifact: Path, separator: str = ":") -> str:
    return f"sha256{separator}{hashlib.sha256(artifact.read_bytes()).hexdigest()}.jsonl"


def _to_jsonl(release: g.Release, target: Path) -> Path:
    """The release's attestations as gh downloads them: one compact bundle JSON per line in
    one file named for the wheel's digest; the signature bundles stay where they are."""
    lines = []
    for bundle in sorted(release.dist.glob("*.*.sigstore.json")):
        if bundle.name.removesuffix(".sigstore.json") in (g.WHEEL, g.SDIST):
            continue
        lines.append(json.dumps(json.loads(bundle.read_bytes()), separators=(",", ":")))
        bundle.unlink()
    target.mkdir(exist_ok=True)
    path = target / _gh_name(release.wheel)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gh_jsonl_beside_the_artifact_and_in_a_directory(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    assert _verify(invoke, tmp_path, policy, release.wheel).exit_code == 0  # the baseline
    jsonl = _to_jsonl(release, release.dist)
    assert not list(release.dist.glob("*.provenance.sigstore.json"))
    result = _verify(invoke, tmp_path, policy, release.wheel)
    assert result.exit_code == 0, result.stderr
    assert str(jsonl) not in {u["path"] for u in json.loads(result.stdout)["unjudged"]}
    # gh's Windows spelling, in a directory of its own (--attestations)
    elsewhere = tmp_path / "gh"
    elsewhere.mkdir()
    jsonl.rename(elsewhere / _gh_name(release.wheel, "-"))
    for signature in release.dist.glob("*.sigstore.json"):
        signature.rename(elsewhere / signature.name)
    result = _verify(invoke, tmp_path, policy, release.wheel, "--attestations", elsewhere)
    assert result.exit_code == 0, result.stderr
    (elsewhere / _gh_name(release.wheel, "-")).unlink()  # the file was the evidence
    result = _verify(invoke, tmp_path, policy, release.wheel, "--attestations", elsewhere)
    assert "no SLSA v1 provenance from an allowed signer covers it" in _failures(result)


def test_gh_jsonl_is_evidence_only_for_the_subjects_it_names(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """A file named for the sdist's digest holding the wheel's attestations is no evidence for
    the sdist; its name does not scope it, its statements do."""
    other = release.dist / "other-1.0.tar.gz"
    other.write_bytes(b"another artifact\n")
    signer = g.session(instance, g.github_token(instance))
    bundle = g.write_statement(signer, tmp_path / "b.json", [other], KINDS["build"],
                               {"name": "build", "command": ["x"], "materials": []})  # fmt: skip
    named_for_wheel = release.dist / _gh_name(release.wheel)
    named_for_wheel.write_bytes(bundle.read_bytes().replace(b"\n", b"") + b"\n")
    (release.dist / "build.build.sigstore.json").unlink()
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.DENIED
    assert (
        "not a product of step 'build' in any signed build link (links covering it: none)"
        in _failures(result)
    )
    run = json.loads(result.stdout)
    assert any(str(named_for_wheel) == u["path"] for u in run.get("unjudged", []))


def test_gh_jsonl_malformed_line_is_a_usage_error_naming_file_and_line(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    jsonl = _to_jsonl(release, release.dist)
    lines = jsonl.read_text().splitlines()
    lines.insert(1, '{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", TOKEN-x')
    jsonl.write_text("\n".join(lines) + "\n")
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"{jsonl}: line 2: not JSON: Expecting property name enclosed" in result.stderr
    assert "TOKEN-x" not in result.stderr  # the line itself is never quoted


def test_gh_jsonl_refused_line_denies_the_artifact_it_is_named_for(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """A line that is JSON but no bundle claims nothing by content: it concerns the digest the
    file is named for, and denies that artifact only."""
    jsonl = _to_jsonl(release, release.dist)
    jsonl.write_text(jsonl.read_text() + '{"mediaType": "nothing else"}\n')
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel, release.sdist)
    assert result.exit_code == ExitCode.DENIED
    lines = len(jsonl.read_text().splitlines())
    assert any(f"{jsonl.name}: line {lines}: unparsable bundle" in f for f in _failures(result))
    assert not any(jsonl.name in f for f in _failures(result, g.SDIST))


def test_pypi_provenance_object_of_another_shape_is_a_usage_error(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    saved = release.dist / f"{g.WHEEL}.provenance"
    saved.write_text('{"version": 2, "attestation_bundles": []}')
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"{saved}: not a PyPI provenance object (version 1 with attestation_bundles)" in (
        result.stderr
    )


def test_pypi_provenance_refused_attestation_denies_its_distribution_only(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    saved = release.dist / f"{g.WHEEL}.provenance"
    group = {"publisher": {"kind": "GitHub"}, "attestations": [{"version": 1}]}
    saved.write_text(json.dumps({"version": 1, "attestation_bundles": [group]}))
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel, release.sdist)
    assert result.exit_code == ExitCode.DENIED
    reason = "attestation_bundles[0].attestations[0]: malformed bundle: not a PEP 740 attestation"
    assert any(reason in f for f in _failures(result)), _failures(result)
    assert not any(saved.name in f for f in _failures(result, g.SDIST))


def test_a_key_given_twice_in_a_gh_line_is_refused_not_read_as_its_last(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Another line's envelope first, the genuine one last: json keeps the last (allowed), a
    reader keeping the first reads another attestation. One reading, or none: a usage error."""
    jsonl = _to_jsonl(release, release.dist)
    first, second, *rest = jsonl.read_text().splitlines()
    other = json.dumps(json.loads(second)["dsseEnvelope"])
    jsonl.write_text("\n".join(['{"dsseEnvelope":' + other + "," + first[1:], second, *rest]))
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    said = "line 1: not JSON: the key 'dsseEnvelope' appears twice in one object"
    assert f"{jsonl}: {said}" in result.stderr


def test_a_key_given_twice_in_a_bundle_file_refuses_the_bundle(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    bundle = release.dist / f"{g.WHEEL}.sigstore.json"
    genuine = bundle.read_text().strip()
    bundle.write_text('{"messageSignature": {"signature": "AAAA"}, ' + genuine[1:])
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.DENIED
    reason = "malformed bundle: the key 'messageSignature' appears twice in one object"
    assert f"{bundle.name}: {reason}" in " ".join(_failures(result))


def test_a_pypi_provenance_object_is_read_one_way(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """A repeated key at any depth, or `"version": true` (which Python finds equal to 1), is
    no provenance object, and no PEP 740 attestation inside one."""
    saved = release.dist / f"{g.WHEEL}.provenance"
    group = json.dumps({"publisher": {"kind": "GitHub"}, "attestations": [{"version": True}]})
    cases = {
        f'{{"version": 1, "attestation_bundles": [], "attestation_bundles": [{group}]}}': (
            "provenance object: not JSON: the key 'attestation_bundles' appears twice"
        ),
        f'{{"version": true, "attestation_bundles": [{group}]}}': (
            "not a PyPI provenance object (version 1 with attestation_bundles)"
        ),
    }
    for text, reason in cases.items():
        saved.write_text(text)
        result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert f"{saved}: {reason}" in result.stderr
    saved.write_text(f'{{"version": 1, "attestation_bundles": [{group}]}}')
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    reason = "attestations[0]: malformed bundle: not a PEP 740 attestation (version 1)"
    assert any(reason in f for f in _failures(result)), _failures(result)


def test_a_strangers_gh_file_is_noted_once_with_its_lines(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Seven attestations of another artifact in a file named for another digest: one note
    line for the file, its line numbers bounded, never its name once per bundle."""
    other = tmp_path / "other-1.0.tar.gz"
    other.write_bytes(b"another artifact\n")
    signer = g.session(instance, g.github_token(instance))
    bundle = g.write_statement(signer, tmp_path / "b.json", [other], KINDS["build"],
                               {"name": "build", "command": ["x"], "materials": []})  # fmt: skip
    stranger = release.dist / f"sha256:{'c' * 64}.jsonl"
    stranger.write_bytes((bundle.read_bytes().replace(b"\n", b"") + b"\n") * 7)
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count(stranger.name) == 1, result.stderr
    assert f"  - {stranger.name}: lines 1, 2, 3, 4, 5 and 2 more\n" in result.stderr
    unjudged = [u for u in json.loads(result.stdout)["unjudged"] if u["path"] == str(stranger)]
    assert [u["why"] for u in unjudged] == [
        f"line {n}: concerns no artifact judged here" for n in range(1, 8)
    ]
