"""The tamper corpus: mutants of a real signed release (made once per module against the local
Sigstore instance with the helpers of tests/signed_release.py), each judged by the
gate, which must refuse it.

How the corpus is made. Release A is the release under test; release B is a second, equally
valid release of the SAME artifact bytes, signed in another session (another certificate, other
log entries), so that a field of B's bundles swapped into A's is a well-formed, genuinely signed
value in the wrong place. Every mutant changes exactly one file of A (or the artifact itself):

- single-byte flips at a sample of positions of each field (decoded from base64 first, so that
  the flip lands in the signed or hashed bytes, not in the base64 alphabet);
- field swaps between A's and B's bundles (and between two bundles of A);
- removals, duplications, reorderings of fields and list items;
- type changes (string -> number, list -> object, null, ...);
- for the predicates: statements with one field changed and RE-SIGNED by an identity the policy
  allows (an unsigned change is already refused by the DSSE signature, which the `dsse payload`
  category shows), so the gate's own predicate checks are what must refuse them.

What "must be refused" means, per category. Every mutant of a signed or hashed byte (signature,
certificate, chain, log entry, DSSE payload and signature, subjects before re-signing, artifact
bytes) must be refused: each of those bytes is covered by a signature, a SET, a checkpoint or
the artifact digest. A few mutants do not change meaning and MAY be allowed; each says why in
`may_allow`, and they are counted apart:
- the bundle re-serialised (white space, key order), an int64 field written as a JSON number
  (the protobuf JSON mapping accepts both), a chain of (leaf, real intermediate, real root):
  the same bundle;
- fields the verifier legitimately does not trust or need: `kindVersion` (the SET and the
  inclusion proof cover the canonicalized body, which names its own kind) and intermediates
  carried in the bundle (the chain is built from the trust root; only the leaf counts);
- re-signed predicate changes the policy does not forbid: a subject's name (the gate matches
  artifacts by digest; names are informative), a duplicated subject, a finding's `status` or
  `countsAs` or `due` (the gate re-evaluates them from severity, clock and policy), `clockStart`
  while the policy's clock is `published` and the advisory has a publication date, a more
  lenient `due_soon`, the producer's own SLO windows (evidence: the deployer's policy judges).
Nothing here weakens a check: a mutant that the gate allows and that is not in the list above
fails the test.

Mutants are judged in-process with `verify.gate.decide` (one artifact, the wheel), and one
mutant of every category also through the CLI (`attest verify`: exit 1, no traceback). An
exception other than a deny (a `PolicyRefusal`, exit code 1) is a failure: the contract is
exit 1 for well-formed but wrong input, never 3 and never a traceback. At the end the counts
per category are printed (to the terminal, also under `pytest -q`) and written to JSON."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime
import hashlib
import json
import random
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import gate
from verify.errors import AttestError, ExitCode
from verify.policy import Policy, load_policy

Invoke = Callable[..., Result]
Json = Any
Path_ = tuple[str | int, ...]

SIG = f"{g.WHEEL}.sigstore.json"
PROVENANCE = "acme_web-1.4.0.provenance.sigstore.json"
SBOM = "acme_web-1.4.0.sbom.sigstore.json"
SLO = "acme_web-1.4.0.slo.sigstore.json"
PRODUCER_POLICY = "the producer's SLO windows are evidence, not the rule: the deployer's judge"
LINK = "build.build.sigstore.json"
TLOG: Path_ = ("verificationMaterial", "tlogEntries", 0)
FLIPS = 6  # positions flipped per field: first, last, middle and 3 more, seeded
SEED = 20261123

CATEGORIES = (
    "signature",
    "certificate",
    "certificate chain",
    "tlog entry",
    "dsse payload",
    "dsse signatures",
    "statement subjects",
    "predicate: provenance",
    "predicate: sbom",
    "predicate: slo",
    "predicate: link",
    "artifact bytes",
)


@dataclasses.dataclass(frozen=True)
class Mutant:
    category: str
    name: str
    file: str  # the file of the release (a bundle, or the wheel) it replaces
    content: bytes | None  # None: the file is removed
    may_allow: str = ""  # why allowing it is right (meaning unchanged); empty: must be refused


@dataclasses.dataclass
class Verdict:
    mutant: Mutant
    outcome: str  # "denied", "allowed" or "escaped: <exception>"


# --- JSON and bytes helpers --------------------------------------------------------------------


def b64d(text: str) -> bytes:
    return base64.b64decode(text)


def b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def get(doc: Json, path: Path_) -> Json:
    for key in path:
        doc = doc[key]
    return doc


def put(doc: Json, path: Path_, value: Json) -> Json:
    new = copy.deepcopy(doc)
    get(new, path[:-1])[path[-1]] = value
    return new


def drop(doc: Json, path: Path_) -> Json:
    new = copy.deepcopy(doc)
    del get(new, path[:-1])[path[-1]]
    return new


def dump(doc: Json) -> bytes:
    return json.dumps(doc).encode()


def same_json(one: bytes, other: bytes) -> bool:
    try:
        return bool(json.loads(one) == json.loads(other))
    except ValueError:
        return False


def positions(length: int, rng: random.Random) -> list[int]:
    if length == 0:
        return []
    picked = {0, length - 1, length // 2}
    picked |= set(rng.sample(range(length), min(FLIPS - len(picked), length)))
    return sorted(picked)[:FLIPS] if length > FLIPS else sorted(picked)


def flipped(raw: bytes, at: int, bit: int = 0x01) -> bytes:
    out = bytearray(raw)
    out[at] ^= bit
    return bytes(out)


TYPE_CHANGES: tuple[tuple[str, Callable[[Json], Json]], ...] = (
    ("-> number", lambda v: 7),
    ("-> null", lambda v: None),
    ("-> bool", lambda v: True),
    ("-> list", lambda v: [v]),
    ("-> object", lambda v: {"value": v}),
)


# --- the corpus ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Corpus:
    a: g.Release
    b: g.Release
    policy: Policy
    policy_path: Path
    now: datetime.datetime
    mutants: list[Mutant]


class Builder:
    """Makes the mutants of release A, using release B and a signer the policy allows."""

    def __init__(self, local: LocalInstance, a: g.Release, b: g.Release) -> None:
        self.local, self.a, self.b = local, a, b
        self.rng = random.Random(SEED)
        self.mutants: list[Mutant] = []
        self.signer = g.session(local, g.github_token(local))

    def doc(self, release: g.Release, name: str) -> Json:
        return json.loads((release.dist / name).read_bytes())

    def add(
        self, category: str, name: str, file: str, content: bytes | None, why: str = ""
    ) -> None:
        original = (self.a.dist / file).read_bytes()
        if content == original or (
            file != g.WHEEL and content is not None and same_json(content, original)
        ):
            return  # a no-op (e.g. a swap of two equal values): not a mutant
        self.mutants.append(Mutant(category, name, file, content, why))

    # generic field mutations of one bundle ---------------------------------------------------

    def b64_field(self, category: str, file: str, path: Path_, label: str) -> None:
        doc = self.doc(self.a, file)
        raw = b64d(get(doc, path))
        for at in positions(len(raw), self.rng):
            self.add(
                category,
                f"{label}: flip byte {at}",
                file,
                dump(put(doc, path, b64e(flipped(raw, at)))),
            )
        self.add(category, f"{label}: truncated", file, dump(put(doc, path, b64e(raw[:-1]))))
        self.add(category, f"{label}: extended", file, dump(put(doc, path, b64e(raw + b"\0"))))
        self.add(category, f"{label}: empty", file, dump(put(doc, path, "")))
        self.add(category, f"{label}: not base64", file, dump(put(doc, path, "*" * 8)))
        self.add(category, f"{label}: junk around the base64", file,
                 dump(put(doc, path, "%%%" + get(doc, path))))  # fmt: skip
        self.add(category, f"{label}: white space in the base64", file,
                 dump(put(doc, path, " " + get(doc, path))))  # fmt: skip
        self.common(category, file, path, label)

    def text_field(self, category: str, file: str, path: Path_, label: str) -> None:
        doc = self.doc(self.a, file)
        raw = str(get(doc, path)).encode()
        for at in positions(len(raw), self.rng):
            self.add(
                category,
                f"{label}: flip byte {at}",
                file,
                dump(put(doc, path, flipped(raw, at).decode())),
            )
        self.common(category, file, path, label)

    def int_field(self, category: str, file: str, path: Path_, label: str) -> None:
        doc = self.doc(self.a, file)
        value = int(get(doc, path))
        for delta in (1, -1, 3600, -86400, 1 << 20):
            self.add(
                category, f"{label}: {delta:+d}", file, dump(put(doc, path, str(value + delta)))
            )
        for text in ("0", "-1", "99999999999999999999", "1e3", "0x1", ""):
            self.add(category, f"{label}: {text!r}", file, dump(put(doc, path, text)))
        self.add(category, f"{label}: leading space", file, dump(put(doc, path, f" {value}")))
        self.add(category, f"{label}: leading +", file, dump(put(doc, path, f"+{value}")))
        self.add(category, f"{label}: as a JSON number", file, dump(put(doc, path, value)),
                 "the protobuf JSON mapping accepts an int64 as a number or a string")  # fmt: skip
        self.common(category, file, path, label, skip_number=True)

    def common(
        self, category: str, file: str, path: Path_, label: str, skip_number: bool = False
    ) -> None:
        """Removal, type changes, and the swaps with release B's bundle and A's other bundle."""
        doc = self.doc(self.a, file)
        self.add(category, f"{label}: removed", file, dump(drop(doc, path)))
        value = get(doc, path)
        for kind, change in TYPE_CHANGES:
            if skip_number and kind == "-> number":
                continue
            self.add(category, f"{label}: type {kind}", file, dump(put(doc, path, change(value))))
        for source, other_file in ((self.b, file), (self.a, self.sibling(file))):
            try:
                other = get(self.doc(source, other_file), path)
            except (KeyError, IndexError, TypeError):
                continue
            where = "release B" if source is self.b else other_file
            self.add(category, f"{label}: swapped from {where}", file, dump(put(doc, path, other)))

    def sibling(self, file: str) -> str:
        """Another valid bundle of A of the same kind (signature or DSSE)."""
        return {SIG: f"{g.SDIST}.sigstore.json", PROVENANCE: SBOM}.get(file, PROVENANCE)

    def list_field(self, category: str, file: str, path: Path_, label: str) -> None:
        doc = self.doc(self.a, file)
        items = get(doc, path)
        for i in range(len(items)):
            self.add(category, f"{label}: item {i} removed", file, dump(drop(doc, (*path, i))))
            dup = [*items[: i + 1], items[i], *items[i + 1 :]]
            self.add(category, f"{label}: item {i} duplicated", file, dump(put(doc, path, dup)))
        self.add(category, f"{label}: reversed", file, dump(put(doc, path, items[::-1])))
        self.add(category, f"{label}: empty", file, dump(put(doc, path, [])))
        self.add(category, f"{label}: -> object", file, dump(put(doc, path, {"0": items[0]})))

    # the categories ------------------------------------------------------------------------------

    def signature(self) -> None:
        c = "signature"
        self.b64_field(c, SIG, ("messageSignature", "signature"), "signature")
        self.b64_field(c, SIG, ("messageSignature", "messageDigest", "digest"), "message digest")
        for algorithm in ("SHA2_384", "SHA2_512", "HASH_ALGORITHM_UNSPECIFIED", "MD5"):
            path = ("messageSignature", "messageDigest", "algorithm")
            self.add(c, f"digest algorithm {algorithm}", SIG,
                     dump(put(self.doc(self.a, SIG), path, algorithm)))  # fmt: skip
        self.common(c, SIG, ("messageSignature",), "messageSignature")
        doc = self.doc(self.a, SIG)
        self.add(c, "messageSignature replaced by B's provenance DSSE envelope", SIG,
                 dump({**drop(doc, ("messageSignature",)),
                       "dsseEnvelope": self.doc(self.b, PROVENANCE)["dsseEnvelope"]}))  # fmt: skip
        self.add(c, "signature bundle removed", SIG, None)
        self.add(c, "signature bundle empty", SIG, b"")
        self.add(c, "signature bundle truncated", SIG, (self.a.dist / SIG).read_bytes()[:-1])
        self.add(
            c,
            "signature bundle: the sdist's",
            SIG,
            (self.a.dist / f"{g.SDIST}.sigstore.json").read_bytes(),
        )
        self.add(c, "mediaType v0.2 with a v0.3 body", SIG,
                 dump(put(doc, ("mediaType",), "application/vnd.dev.sigstore.bundle+json;version=0.2")))  # fmt: skip
        self.add(c, "mediaType unknown", SIG, dump(put(doc, ("mediaType",), "application/json")))
        self.add(c, "bundle re-serialised (indent, sorted keys)", SIG,
                 json.dumps(doc, indent=3, sort_keys=True).encode(),
                 "the same bundle: JSON white space and key order carry no meaning")  # fmt: skip

    def certificate(self) -> None:
        c = "certificate"
        path = ("verificationMaterial", "certificate", "rawBytes")
        self.b64_field(c, SIG, path, "leaf certificate")
        self.common(c, SIG, ("verificationMaterial", "certificate"), "certificate")
        doc = self.doc(self.a, SIG)
        raw = b64d(get(doc, path))
        pem = x509.load_der_x509_certificate(raw).public_bytes(serialization.Encoding.PEM)
        self.add(c, "leaf certificate as PEM", SIG, dump(put(doc, path, b64e(pem))))
        # the certificate of another valid bundle: a real certificate of the same identity
        other = self.doc(self.b, PROVENANCE)["verificationMaterial"]["certificate"]
        self.add(c, "certificate of B's provenance (same identity, other key)", SIG,
                 dump(put(doc, ("verificationMaterial", "certificate"), other)))  # fmt: skip

    def chain(self) -> None:
        c = "certificate chain"
        doc = self.doc(self.a, SIG)
        leaf_raw = b64d(get(doc, ("verificationMaterial", "certificate", "rawBytes")))
        root = json.loads(self.local.trusted_root.read_text())
        ca_chain = [
            b64d(x["rawBytes"])
            for x in root["certificateAuthorities"][0]["certChain"]["certificates"]
        ]
        forged_leaf, forged_ca, forged_root, key = forge_chain(
            x509.load_der_x509_certificate(leaf_raw)
        )
        material = drop(doc, ("verificationMaterial", "certificate"))

        def with_chain(*certs: bytes) -> bytes:
            chain = {"certificates": [{"rawBytes": b64e(x)} for x in certs]}
            return dump(put(material, ("verificationMaterial", "x509CertificateChain"), chain))

        def with_leaf(cert: bytes, resign: bool = False) -> bytes:
            new = put(doc, ("verificationMaterial", "certificate", "rawBytes"), b64e(cert))
            if resign:
                digest = hashlib.sha256(self.a.wheel.read_bytes()).digest()
                signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
                new = put(new, ("messageSignature", "signature"), b64e(signature))
            return dump(new)

        self.add(c, "forged leaf (same identity and extensions, forged CA), artifact re-signed", SIG,
                 with_leaf(forged_leaf, resign=True))  # fmt: skip
        self.add(c, "forged leaf, original signature", SIG, with_leaf(forged_leaf))
        self.add(c, "chain: forged leaf, forged CA, forged root", SIG,
                 with_chain(forged_leaf, forged_ca, forged_root))  # fmt: skip
        for i, ca in enumerate(ca_chain):
            self.add(c, f"leaf replaced by the instance's CA certificate {i}", SIG, with_leaf(ca))
        self.add(c, "chain: CA first, then the leaf", SIG, with_chain(*ca_chain[:1], leaf_raw))
        self.add(c, "chain: forged CA only", SIG, with_chain(forged_ca))
        self.add(c, "chain: empty", SIG, with_chain())
        self.add(c, "chain: the forged root", SIG, with_chain(forged_root))
        self.add(c, "chain: leaf, real intermediate and root (v0.1 style)", SIG,
                 with_chain(leaf_raw, *ca_chain),
                 "the same leaf; intermediates in a bundle are never trusted, the chain is "
                 "built from the trust root")  # fmt: skip
        self.add(c, "chain: leaf then a forged CA", SIG, with_chain(leaf_raw, forged_ca),
                 "bundled intermediates are ignored: the leaf still chains to the trust root")  # fmt: skip
        self.add(c, "chain: leaf alone", SIG, with_chain(leaf_raw),
                 "the same leaf in the chain form")  # fmt: skip

    def tlog(self) -> None:
        c = "tlog entry"
        for file in (SIG, PROVENANCE):
            short = "sig" if file == SIG else "dsse"
            self.b64_field(c, file, (*TLOG, "canonicalizedBody"), f"{short} body")
            self.int_field(c, file, (*TLOG, "logIndex"), f"{short} logIndex")
            self.int_field(c, file, (*TLOG, "integratedTime"), f"{short} integratedTime")
            promise = (*TLOG, "inclusionPromise", "signedEntryTimestamp")
            self.b64_field(c, file, promise, f"{short} SET")
            proof = (*TLOG, "inclusionProof")
            self.common(c, file, proof, f"{short} inclusion proof")
            for i in range(len(get(self.doc(self.a, file), (*proof, "hashes")))):
                self.b64_field(c, file, (*proof, "hashes", i), f"{short} proof hash {i}")
            self.list_field(c, file, (*proof, "hashes"), f"{short} proof hashes")
            self.b64_field(c, file, (*proof, "rootHash"), f"{short} rootHash")
            self.int_field(c, file, (*proof, "logIndex"), f"{short} proof logIndex")
            self.int_field(c, file, (*proof, "treeSize"), f"{short} treeSize")
            self.checkpoint(c, file, (*proof, "checkpoint", "envelope"), f"{short} checkpoint")
            self.b64_field(c, file, (*TLOG, "logId", "keyId"), f"{short} logId")
            self.list_field(
                c, file, ("verificationMaterial", "tlogEntries"), f"{short} tlogEntries"
            )
        doc = self.doc(self.a, SIG)
        body = json.loads(b64d(get(doc, (*TLOG, "canonicalizedBody"))))
        for label, new_body in (
            ("body re-serialised", json.dumps(body, indent=1).encode()),
            ("body kind dsse", json.dumps({**body, "kind": "dsse"}).encode()),
            ("body apiVersion 0.0.2", json.dumps({**body, "apiVersion": "0.0.2"}).encode()),
        ):
            self.add(
                c, f"sig {label}", SIG, dump(put(doc, (*TLOG, "canonicalizedBody"), b64e(new_body)))
            )
        for kind in ("dsse", "intoto", "rekord"):
            self.add(c, f"sig kindVersion kind {kind}", SIG,
                     dump(put(doc, (*TLOG, "kindVersion", "kind"), kind)),
                     "kindVersion is not covered by the SET; the body names its own kind")  # fmt: skip

    def checkpoint(self, category: str, file: str, path: Path_, label: str) -> None:
        """The signed note: its body (origin, tree size, root hash) and its signature line
        (`— <name> <base64 of key hint and signature>`)."""
        doc = self.doc(self.a, file)
        text: str = get(doc, path)
        body, lines = text.split("\n\n", 1)
        dash, name, signature = lines.rstrip("\n").split(" ", 2)
        raw = body.encode()
        for at in positions(len(raw), self.rng):
            new = flipped(raw, at).decode() + "\n\n" + lines
            self.add(
                category, f"{label}: note body flip byte {at}", file, dump(put(doc, path, new))
            )
        signed = b64d(signature)
        for at in positions(len(signed), self.rng):
            line = f"{dash} {name} {b64e(flipped(signed, at))}\n"
            self.add(category, f"{label}: signature flip byte {at}", file,
                     dump(put(doc, path, f"{body}\n\n{line}")))  # fmt: skip
        self.add(
            category, f"{label}: signature line removed", file, dump(put(doc, path, body + "\n\n"))
        )
        self.add(category, f"{label}: signer name changed", file,
                 dump(put(doc, path, f"{body}\n\n{dash} other.example {signature}\n")),
                 "the name on a signature line is an unsigned label: the log key is found by the "
                 "key hint and the signature is checked over the note body")  # fmt: skip
        self.common(category, file, path, label)

    def dsse(self) -> None:
        for file in (PROVENANCE, SBOM, SLO, LINK):
            doc = self.doc(self.a, file)
            path = ("dsseEnvelope", "payload")
            c = "dsse payload"
            self.b64_field(c, file, path, f"{file} payload")
            statement = json.loads(b64d(get(doc, path)))
            for label, raw in (
                ("re-serialised, not re-signed", json.dumps(statement, indent=2).encode()),
                ("one space added, not re-signed", b64d(get(doc, path)) + b" "),
            ):
                self.add(c, f"{file} payload {label}", file, dump(put(doc, path, b64e(raw))))
            self.common(c, file, ("dsseEnvelope", "payloadType"), f"{file} payloadType")
            self.add(c, f"{file} payloadType text/plain", file,
                     dump(put(doc, ("dsseEnvelope", "payloadType"), "text/plain")))  # fmt: skip
            c = "dsse signatures"
            sigs = ("dsseEnvelope", "signatures")
            self.b64_field(c, file, (*sigs, 0, "sig"), f"{file} sig")
            self.list_field(c, file, sigs, f"{file} signatures")
            self.common(c, file, sigs, f"{file} signatures")
            self.add(c, f"{file} signature with a keyid", file,
                     dump(put(doc, (*sigs, 0, "keyid"), "attacker")),
                     "keyid is an unauthenticated hint, not part of the signed PAE")  # fmt: skip
        self.add("dsse payload", "DSSE envelope replaced by a message signature", PROVENANCE,
                 dump({**drop(self.doc(self.a, PROVENANCE), ("dsseEnvelope",)),
                       "messageSignature": self.doc(self.a, SIG)["messageSignature"]}))  # fmt: skip

    # statements: unsigned edits and re-signed ones ------------------------------------------------

    def statement(self, file: str) -> Json:
        return json.loads(b64d(self.doc(self.a, file)["dsseEnvelope"]["payload"]))

    def unsigned(self, category: str, file: str, label: str, statement: Json) -> None:
        doc = self.doc(self.a, file)
        raw = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
        self.add(
            category,
            f"{file}: {label} (not re-signed)",
            file,
            dump(put(doc, ("dsseEnvelope", "payload"), b64e(raw))),
        )

    def resigned(
        self, category: str, file: str, label: str, statement: Json, why: str = ""
    ) -> None:
        raw = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
        try:
            bundle = self.signer.sign_statement(raw, file).to_json().encode()
        except Exception as e:  # sigstore itself refuses to sign it: the corpus notes the value
            bundle = dump({"unsignable": f"{type(e).__name__}: {e}"})
        self.add(category, f"{file}: {label} (re-signed by an allowed signer)", file, bundle, why)

    def both(self, category: str, file: str, label: str, statement: Json, why: str = "") -> None:
        self.unsigned(category, file, label, statement)
        self.resigned(category, file, label, statement, why)

    def subjects(self) -> None:
        c = "statement subjects"
        for file in (PROVENANCE, SBOM, SLO, LINK):
            st = self.statement(file)
            wheel = next(i for i, s in enumerate(st["subject"]) if s["name"] == g.WHEEL)
            subject = ("subject", wheel)
            digest = st["subject"][wheel]["digest"]["sha256"]
            for at in (0, 31, 63):
                text = digest[:at] + ("0" if digest[at] != "0" else "1") + digest[at + 1 :]
                self.both(
                    c,
                    file,
                    f"wheel digest char {at} changed",
                    put(st, (*subject, "digest", "sha256"), text),
                )
            self.both(
                c,
                file,
                "wheel digest upper case",
                put(st, (*subject, "digest", "sha256"), digest.upper()),
            )
            self.both(
                c,
                file,
                "wheel digest as sha512 only",
                put(st, (*subject, "digest"), {"sha512": digest * 2}),
            )
            self.both(c, file, "wheel subject removed", drop(st, subject))
            self.both(
                c,
                file,
                "wheel subject: the sdist's digest",
                put(st, (*subject, "digest"), st["subject"][1 - wheel]["digest"]),
            )
            self.both(c, file, "subjects empty", put(st, ("subject",), []))
            self.both(c, file, "subject -> object", put(st, ("subject",), st["subject"][wheel]))
            self.both(c, file, "wheel digest -> number", put(st, (*subject, "digest", "sha256"), 7))
            self.both(c, file, "wheel name -> number", put(st, (*subject, "name"), 7))
            self.both(c, file, "wheel name empty", put(st, (*subject, "name"), ""))
            self.both(
                c,
                file,
                "statement type v0.1",
                put(st, ("_type",), "https://in-toto.io/Statement/v0.1"),
            )
            self.both(c, file, "extra statement field", put(st, ("extra",), True))
            self.unsigned(c, file, "wheel name changed", put(st, (*subject, "name"), "evil.whl"))
            self.resigned(c, file, "wheel name changed", put(st, (*subject, "name"), "evil.whl"),
                          "subject names are informative: the gate matches the artifact by digest")  # fmt: skip
            self.unsigned(
                c,
                file,
                "subject duplicated",
                put(st, ("subject",), [*st["subject"], st["subject"][wheel]]),
            )
            self.resigned(c, file, "subject duplicated", put(st, ("subject",), [*st["subject"], st["subject"][wheel]]),
                          "a duplicated subject covers the same artifact")  # fmt: skip

    def predicate_types(
        self, category: str, file: str, path: Path_, label: str, value: Json
    ) -> None:
        st = self.statement(file)
        self.both(category, file, f"{label} removed", drop(st, path))
        for kind, change in TYPE_CHANGES:
            self.both(category, file, f"{label} type {kind}", put(st, path, change(value)))

    def provenance(self) -> None:
        c = "predicate: provenance"
        st = self.statement(PROVENANCE)
        builder = ("predicate", "runDetails", "builder", "id")
        workflow = ("predicate", "buildDefinition", "externalParameters", "workflow")
        build_type = ("predicate", "buildDefinition", "buildType")
        good = get(st, builder)
        for label, value in (
            ("another repository", good.replace("acme/web", "evil/web")),
            ("a lookalike repository", good.replace("acme/web", "acme/web-evil")),
            ("a trailing newline", good + "\n"),
            ("a prefix", "x" + good),
            ("the local builder", "https://attest-pipeline.github.io/builders/local/v1"),
            ("empty", ""),
        ):
            self.both(c, PROVENANCE, f"builder id: {label}", put(st, builder, value))
        self.predicate_types(c, PROVENANCE, builder, "builder id", good)
        repo = get(st, (*workflow, "repository"))
        for label, value in (
            ("another", "https://github.com/evil/web"),
            ("lookalike", repo + "-evil"),
            ("trailing slash", repo + "/"),
            ("upper case", repo.upper()),
            ("ssh form", "git@github.com:acme/web.git"),
        ):
            self.both(
                c, PROVENANCE, f"repository: {label}", put(st, (*workflow, "repository"), value)
            )
        self.predicate_types(c, PROVENANCE, (*workflow, "repository"), "repository", repo)
        ref = get(st, (*workflow, "ref"))
        for label, value in (
            ("a branch", "refs/heads/main"),
            ("a pre-release suffix", ref + "-rc1"),
            ("a trailing newline", ref + "\n"),
            ("a short tag", "v1.4.0"),
        ):
            self.both(c, PROVENANCE, f"ref: {label}", put(st, (*workflow, "ref"), value))
        self.predicate_types(c, PROVENANCE, (*workflow, "ref"), "ref", ref)
        self.predicate_types(
            c, PROVENANCE, workflow, "externalParameters.workflow", get(st, workflow)
        )
        self.both(c, PROVENANCE, "workflow -> string", put(st, workflow, repo))
        kind = get(st, build_type)
        for label, value in (
            ("local", "https://attest-pipeline.github.io/buildtypes/local/v1"),
            (
                "SLSA GitHub generator",
                "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
            ),
            ("trailing slash", kind + "/"),
        ):
            self.both(c, PROVENANCE, f"buildType: {label}", put(st, build_type, value))
        self.predicate_types(c, PROVENANCE, build_type, "buildType", kind)
        self.both(
            c,
            PROVENANCE,
            "predicateType SLSA v0.2",
            put(st, ("predicateType",), "https://slsa.dev/provenance/v0.2"),
        )
        self.both(c, PROVENANCE, "predicate -> list", put(st, ("predicate",), [st["predicate"]]))

    def sbom(self) -> None:
        c = "predicate: sbom"
        st = self.statement(SBOM)
        components = ("predicate", "components")
        items = get(st, components)
        for label, extra in (
            ("denied package", {"name": "evil-pkg", "version": "1.0"}),
            ("denied package, other spelling", {"name": "Evil_Pkg", "version": "1.0"}),
            ("denied package, dots", {"name": "EVIL.PKG"}),
            (
                "denied license id",
                {"name": "x", "licenses": [{"license": {"id": "AGPL-3.0-only"}}]},
            ),
            (
                "denied license name",
                {"name": "x", "licenses": [{"license": {"name": "AGPL-3.0-only"}}]},
            ),
            (
                "denied license in an expression",
                {"name": "x", "licenses": [{"expression": "MIT AND AGPL-3.0-only"}]},
            ),
            (
                "denied license, parenthesised",
                {"name": "x", "licenses": [{"expression": "(AGPL-3.0-only)"}]},
            ),
            (
                "denied package nested in a component",
                {"name": "x", "components": [{"name": "evil-pkg", "version": "1"}]},
            ),
            ("denied license as a bare string", {"name": "x", "licenses": ["AGPL-3.0-only"]}),
            ("licenses -> object", {"name": "x", "licenses": {"expression": "AGPL-3.0-only"}}),
            ("licenses -> string", {"name": "x", "licenses": "AGPL-3.0-only"}),
            ("license -> string", {"name": "x", "licenses": [{"license": "AGPL-3.0-only"}]}),
            ("expression -> number", {"name": "x", "licenses": [{"expression": 3}]}),
            ("name -> list", {"name": ["evil-pkg"]}),
        ):
            self.both(c, SBOM, label, put(st, components, [*items, extra]))
        self.both(
            c,
            SBOM,
            "denied package replaces requests",
            put(st, (*components, 0, "name"), "evil-pkg"),
        )
        for kind, change in TYPE_CHANGES:
            self.both(c, SBOM, f"components type {kind}", put(st, components, change(items)))
            if kind != "-> object":
                self.both(
                    c,
                    SBOM,
                    f"a component type {kind}",
                    put(st, components, [*items, change("evil-pkg")]),
                )
        nameless = put(st, components, [*items, {"value": "evil-pkg"}])
        self.unsigned(c, SBOM, "a component without a name", nameless)
        self.resigned(c, SBOM, "a component without a name", nameless,
                      "it names no package, so no denied one; validating the whole CycloneDX "
                      "schema is the SBOM stage's job (T6), not the gate's")  # fmt: skip
        self.both(c, SBOM, "components -> object keyed by name",
                  put(st, components, {"evil-pkg": {"name": "evil-pkg"}}))  # fmt: skip
        self.both(c, SBOM, "bomFormat SPDX", put(st, ("predicate", "bomFormat"), "SPDX"))
        self.both(c, SBOM, "specVersion 2.0", put(st, ("predicate", "specVersion"), "2.0"))
        self.both(c, SBOM, "bomFormat removed", drop(st, ("predicate", "bomFormat")))
        self.both(c, SBOM, "attested by reference", put(st, ("predicate",), {"attestByReference": {
            "name": "sbom.cdx.json", "digest": {"sha256": "0" * 64},
            "mediaType": "application/vnd.cyclonedx+json", "size": 1}}))  # fmt: skip

    def slo(self) -> None:
        c = "predicate: slo"
        st = self.statement(SLO)
        now = self.a.now
        f0, f1 = ("predicate", "findings", 0), ("predicate", "findings", 1)
        old = g.stamp(now - 40 * g.DAY)
        self.both(c, SLO, "PYSEC-1 published 40 days ago", put(st, (*f0, "published"), old))
        self.both(c, SLO, "PYSEC-1 severity critical", put(st, (*f0, "severity"), "critical"))
        first_seen = put(st, ("predicate", "policy", "clock"), "first-seen")
        first_seen = put(put(first_seen, (*f0, "published"), None), (*f0, "clockStart"), old)
        self.both(c, SLO, "clock first-seen, PYSEC-1 first seen 40 days ago", first_seen)
        self.both(c, SLO, "PYSEC-1 no publication date, clock start 40 days ago",
                  put(put(st, (*f0, "published"), None), (*f0, "clockStart"), old))  # fmt: skip
        self.both(c, SLO, "PYSEC-2 waiver expired yesterday",
                  put(st, (*f1, "waiver", "expires"), (now - g.DAY).date().isoformat()))  # fmt: skip
        self.both(c, SLO, "PYSEC-2 waiver removed", put(st, (*f1, "waiver"), None))
        self.both(
            c, SLO, "PYSEC-2 waiver for another id", put(st, (*f1, "waiver", "id"), "PYSEC-9")
        )
        self.both(
            c,
            SLO,
            "PYSEC-2 waiver for another package",
            put(st, (*f1, "waiver", "package"), "urllib3"),
        )
        self.both(
            c, SLO, "PYSEC-2 waiver expires 'never'", put(st, (*f1, "waiver", "expires"), "never")
        )
        self.both(
            c,
            SLO,
            "policy: high window 5 days",
            put(st, ("predicate", "policy", "windows", "high"), 5),
            PRODUCER_POLICY,
        )
        self.both(
            c,
            SLO,
            "policy: windows -> list",
            put(st, ("predicate", "policy", "windows"), [7, 30, 90, 180]),
        )
        self.both(
            c,
            SLO,
            "policy: high window 10**30",
            put(st, ("predicate", "policy", "windows", "high"), 10**30),
            PRODUCER_POLICY,
        )
        self.both(
            c,
            SLO,
            "policy: high window -1",
            put(st, ("predicate", "policy", "windows", "high"), -1),
        )
        self.both(
            c,
            SLO,
            "policy: high window '30'",
            put(st, ("predicate", "policy", "windows", "high"), "30"),
        )
        self.both(c, SLO, "policy removed", drop(st, ("predicate", "policy")))
        self.both(
            c, SLO, "policy: unknown clock", put(st, ("predicate", "policy", "clock"), "never")
        )
        self.both(
            c,
            SLO,
            "scanned 10 days ago",
            put(st, ("predicate", "scannedAt"), g.stamp(now - 10 * g.DAY)),
        )
        for label, text in (
            ("impossible date", "2026-13-45T00:00:00Z"),
            ("impossible time", "2026-01-01T99:99:99Z"),
            ("only dots", "2026-01-01T...Z"),
        ):
            self.both(c, SLO, f"scannedAt {label}", put(st, ("predicate", "scannedAt"), text))
            self.both(c, SLO, f"published {label}", put(st, (*f0, "published"), text))
            self.both(c, SLO, f"clockStart {label}", put(st, (*f0, "clockStart"), text))
        for field, value in (
            ("severity", "high"),
            ("clockStart", "x"),
            ("aliases", []),
            ("fixVersions", []),
        ):
            self.predicate_types(c, SLO, (*f0, field), f"PYSEC-1 {field}", value)
        self.predicate_types(
            c, SLO, ("predicate", "findings"), "findings", get(st, ("predicate", "findings"))
        )
        for label, statement, why in (
            (
                "PYSEC-1 status overdue",
                put(st, (*f0, "status"), "overdue"),
                "re-evaluated by the gate",
            ),
            ("PYSEC-2 status ok", put(st, (*f1, "status"), "ok"), "re-evaluated by the gate"),
            ("PYSEC-1 countsAs low", put(st, (*f0, "countsAs"), "low"), "re-derived from severity"),
            (
                "PYSEC-1 clockStart 40 days ago",
                put(st, (*f0, "clockStart"), old),
                "the policy's clock is `published` and the advisory has a publication date",
            ),
            ("policy: due_soon 0", put(st, ("predicate", "policy", "due_soon"), 0), "only warns"),
        ):
            self.unsigned(c, SLO, label, statement)
            self.resigned(c, SLO, label, statement, why)

    def link(self) -> None:
        c = "predicate: link"
        st = self.statement(LINK)
        self.both(c, LINK, "step renamed", put(st, ("predicate", "name"), "deploy"))
        self.both(
            c, LINK, "step 'build ' (trailing space)", put(st, ("predicate", "name"), "build ")
        )
        self.both(c, LINK, "step 'Build'", put(st, ("predicate", "name"), "Build"))
        self.predicate_types(c, LINK, ("predicate", "name"), "step name", "build")
        self.predicate_types(c, LINK, ("predicate", "command"), "command", ["python"])
        wheel = next(s for s in st["subject"] if s["name"] == g.WHEEL)
        self.both(
            c,
            LINK,
            "products: only the sdist",
            put(st, ("subject",), [s for s in st["subject"] if s is not wheel]),
        )
        self.both(
            c,
            LINK,
            "predicateType link v0.2",
            put(st, ("predicateType",), "https://in-toto.io/attestation/link/v0.2"),
        )

    def artifact(self) -> None:
        c = "artifact bytes"
        raw = self.a.wheel.read_bytes()
        for at in range(len(raw)):
            self.add(c, f"flip bit 0 of byte {at}", g.WHEEL, flipped(raw, at))
        for at in positions(len(raw), self.rng):
            self.add(c, f"flip bit 7 of byte {at}", g.WHEEL, flipped(raw, at, 0x80))
        self.add(c, "a byte appended", g.WHEEL, raw + b"\0")
        self.add(c, "truncated", g.WHEEL, raw[:-1])
        self.add(c, "empty", g.WHEEL, b"")
        self.add(c, "the sdist's bytes", g.WHEEL, self.a.sdist.read_bytes())
        self.add(c, "doubled", g.WHEEL, raw + raw)

    def build(self) -> list[Mutant]:
        for make in (
            self.signature, self.certificate, self.chain, self.tlog, self.dsse, self.subjects,
            self.provenance, self.sbom, self.slo, self.link, self.artifact,
        ):  # fmt: skip
            make()
        return self.mutants


def forge_chain(
    real: x509.Certificate,
) -> tuple[bytes, bytes, bytes, ec.EllipticCurvePrivateKey]:
    """A root, CA and leaf of the attacker's own, the leaf a copy of the real leaf's subject,
    SAN and every extension it can copy (identity, issuer, GitHub claims)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    der = serialization.Encoding.DER

    def cert(
        subject: x509.Name, issuer: x509.Name, key: Any, signer: Any, ca: bool, extra: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if extra:
            for ext in real.extensions:
                if isinstance(
                    ext.value,
                    x509.BasicConstraints
                    | x509.AuthorityKeyIdentifier
                    | x509.SubjectKeyIdentifier
                    | x509.PrecertificateSignedCertificateTimestamps,
                ):
                    continue
                builder = builder.add_extension(ext.value, critical=ext.critical)
        return builder.sign(signer, hashes.SHA256())

    root_key, ca_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root_name = x509.Name(  # named like the instance's own root
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "attest development instance"),
            x509.NameAttribute(NameOID.COMMON_NAME, "attest-dev root"),
        ]
    )
    root = cert(root_name, root_name, root_key, root_key, True, False)
    ca = cert(real.issuer, root_name, ca_key, root_key, True, False)
    leaf = cert(real.subject, real.issuer, leaf_key, ca_key, False, True)
    return leaf.public_bytes(der), ca.public_bytes(der), root.public_bytes(der), leaf_key


# --- fixtures and judging ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    base = tmp_path_factory.mktemp("tamper")
    a = g.make_release(instance, base / "a")
    b = g.make_release(instance, base / "b")
    assert a.wheel.read_bytes() == b.wheel.read_bytes()  # B is a second, valid release of A
    policy_path = g.write_policy(base / "policy.yaml", g.strict_policy(instance))
    mutants = Builder(instance, a, b).build()
    return Corpus(a, b, load_policy(policy_path), policy_path, g.utc_now(), mutants)


def judge(corpus: Corpus, work: Path, mutant: Mutant) -> str:
    """Apply the mutant to the working copy of A, decide on the wheel, restore the file."""
    target = work / mutant.file
    original = target.read_bytes()
    try:
        if mutant.content is None:
            target.unlink()
        else:
            target.write_bytes(mutant.content)
        try:
            run = gate.decide([work / g.WHEEL], corpus.policy, corpus.now)
        except AttestError as e:
            return "denied" if e.exit_code == ExitCode.DENIED else f"escaped: {e!r}"
        except Exception as e:  # the finding this test exists for
            return f"escaped: {type(e).__name__}: {e}"
        return "allowed" if run.allowed else "denied"
    finally:
        target.write_bytes(original)


@pytest.fixture(scope="module")
def verdicts(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Verdict]]:
    work = tmp_path_factory.mktemp("tamper-work") / "dist"
    shutil.copytree(corpus.a.dist, work)
    baseline = gate.decide([work / g.WHEEL], corpus.policy, corpus.now)
    assert baseline.allowed, [o for d in baseline.decisions for o in d.outcomes if not o.passed]
    found: dict[str, list[Verdict]] = {c: [] for c in CATEGORIES}
    for mutant in corpus.mutants:
        found[mutant.category].append(Verdict(mutant, judge(corpus, work, mutant)))
    return found


# --- tests -----------------------------------------------------------------------------------------


def test_the_untampered_release_and_a_whole_bundle_swap_are_allowed(
    corpus: Corpus, tmp_path: Path
) -> None:
    """The controls: A as signed, and A with B's whole signature bundle (valid for the same
    bytes), are allowed: the refusals below are caused by the mutations."""
    release = corpus.a.copy(tmp_path / "dist")
    assert gate.decide([release.wheel], corpus.policy, corpus.now).allowed
    shutil.copy(corpus.b.dist / SIG, release.dist / SIG)
    shutil.copy(corpus.b.dist / PROVENANCE, release.dist / PROVENANCE)
    assert gate.decide([release.wheel], corpus.policy, corpus.now).allowed


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_mutant_is_refused(verdicts: dict[str, list[Verdict]], category: str) -> None:
    found = verdicts[category]
    assert found, f"no mutant in category {category!r}"
    escaped = [f"{v.mutant.name}: {v.outcome}" for v in found if v.outcome.startswith("escaped")]
    wrongly_allowed = [
        v.mutant.name for v in found if v.outcome == "allowed" and not v.mutant.may_allow
    ]
    assert not escaped, f"{len(escaped)} mutants raised instead of a deny:\n" + "\n".join(escaped)
    assert not wrongly_allowed, f"{len(wrongly_allowed)} mutants allowed:\n" + "\n".join(
        wrongly_allowed
    )


def _cli_sample(corpus: Corpus) -> Iterator[Mutant]:
    """The first mutant of every category that must be refused, and a few more of each."""
    for category in CATEGORIES:
        refused = [m for m in corpus.mutants if m.category == category and not m.may_allow]
        yield from refused[:: max(1, len(refused) // 3)][:3]


def test_a_sample_through_the_cli(invoke: Invoke, corpus: Corpus, tmp_path: Path) -> None:
    """`attest verify` on a sample of the mutants: exit 1 (never 0, 2 or 3), no traceback."""
    release = corpus.a.copy(tmp_path / "dist")
    args = ["verify", "--policy", str(corpus.policy_path), "--now", corpus.now.isoformat()]
    assert invoke(*args, str(release.wheel)).exit_code == ExitCode.OK
    sample = list(_cli_sample(corpus))
    assert {m.category for m in sample} == set(CATEGORIES)
    for mutant in sample:
        target = release.dist / mutant.file
        original = target.read_bytes()
        if mutant.content is None:
            target.unlink()
        else:
            target.write_bytes(mutant.content)
        result = invoke(*args, str(release.wheel))
        target.write_bytes(original)
        output = result.stdout + result.stderr
        assert result.exit_code == ExitCode.DENIED, f"{mutant.category}: {mutant.name}: {output}"
        assert "Traceback" not in output and f"DENY {release.wheel}" in output, mutant.name


def test_counts_per_category(
    verdicts: dict[str, list[Verdict]],
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The table of the corpus (also in tmp as tamper-counts.json): per category the mutants,
    how many were refused, and how many meaning-preserving ones were allowed."""
    counts = {
        category: {
            "mutants": len(found),
            "refused": sum(v.outcome == "denied" for v in found),
            "must_refuse": sum(not v.mutant.may_allow for v in found),
            "allowed_meaning_preserving": sum(
                v.outcome == "allowed" and bool(v.mutant.may_allow) for v in found
            ),
        }
        for category, found in verdicts.items()
    }
    total = {k: sum(c[k] for c in counts.values()) for k in next(iter(counts.values()))}
    path = tmp_path_factory.mktemp("counts") / "tamper-counts.json"
    allowed = [
        {"category": v.mutant.category, "mutant": v.mutant.name, "why": v.mutant.may_allow}
        for found in verdicts.values()
        for v in found
        if v.outcome == "allowed"
    ]
    report = {"categories": counts, "total": total, "allowed": allowed}
    path.write_text(json.dumps(report, indent=2))
    lines = [
        f"{'category':24} {'mutants':>8} {'refused':>8} {'must refuse':>12} {'allowed (same meaning)':>23}",
        *(
            f"{name:24} {c['mutants']:8} {c['refused']:8} {c['must_refuse']:12} "
            f"{c['allowed_meaning_preserving']:23}"
            for name, c in [*counts.items(), ("total", total)]
        ),
        "allowed, each with why its meaning is unchanged:",
        *(f"  {a['category']}: {a['mutant']}: {a['why']}" for a in allowed),
        f"(written to {path})",
    ]
    with capsys.disabled():
        print("\n\ntamper corpus\n" + "\n".join(lines), file=sys.stderr)
    assert all(c["mutants"] > 0 for c in counts.values())
    assert all(c["refused"] >= c["must_refuse"] for c in counts.values())
