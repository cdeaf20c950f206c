"""Signing keys of the harness PKI: the mocks' trace key and the evidence-pack key.

Both are Ed25519 keys certified by the harness's organisations CA, so a pack names its signer by
a certificate chain that a reviewer can pin (``segur report verify --trust ROOT.pem``). The
mocks sign each exchange they record (the *trace*), the run signs the manifest of its report
folder: altering a recorded byte breaks the first, altering any file of the pack the second.
RSA keys are accepted when verifying (RSA-PSS, SHA-256), for packs signed by other tools.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.x509.oid import NameOID

SIGNER_NAMES = ("trace", "evidence")
SIGNER_CNS = {"trace": "SEGUR HARNESS MOCK TRACES", "evidence": "SEGUR HARNESS EVIDENCE PACKS"}


@dataclass(frozen=True)
class SigningCredential:
    """An Ed25519 key and its certificate chain (leaf, intermediate, root) in PEM files."""

    name: str
    cert_pem: Path
    key_pem: Path

    def files(self) -> list[Path]:
        return [self.cert_pem, self.key_pem]


def issue_signers(
    directory: Path,
    issuer_name: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    chain: list[x509.Certificate],
    now: dt.datetime,
    write: Any,
) -> dict[str, SigningCredential]:
    """Create the trace and evidence keys under ``directory``, certified by ``issuer_key``."""
    credentials = {}
    for name in SIGNER_NAMES:
        key = ed25519.Ed25519PrivateKey.generate()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SEGUR CONFORMANCE HARNESS"),
                x509.NameAttribute(NameOID.COMMON_NAME, SIGNER_CNS[name]),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(issuer_key, hashes.SHA256())
        )
        pems = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [cert, *chain])
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        credentials[name] = SigningCredential(
            name, write(directory / f"{name}.pem", pems), write(directory / f"{name}.key", key_pem, private=True)
        )
    return credentials


def load_own_private_key(pem: bytes) -> Any:
    """A private key of the harness's own PKI (its data folder), read without OpenSSL's RSA consistency
    check: that check guards against keys of unknown origin and costs 20 to 40 ms a key, paid on every
    run by each signer. A key that does not match its certificate is still refused where both are loaded."""
    return serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)


class Signer:
    """Signs bytes with one credential; loaded once (key parsing costs more than signing)."""

    def __init__(self, credential: SigningCredential):
        self.credential = credential
        key = load_own_private_key(credential.key_pem.read_bytes())
        if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{credential.key_pem}: an Ed25519 or RSA private key is needed")
        self._key = key
        self.chain_pem = credential.cert_pem.read_text(encoding="ascii")

    @cached_property
    def fingerprint(self) -> str:
        return certificate_fingerprint(load_chain(self.chain_pem)[0])

    def sign(self, data: bytes) -> str:
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            raw = self._key.sign(data)
        else:
            raw = self._key.sign(data, _pss(), hashes.SHA256())
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @property
    def algorithm(self) -> str:
        return "Ed25519" if isinstance(self._key, ed25519.Ed25519PrivateKey) else "RSA-PSS-SHA256"


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def load_chain(pem: str | bytes) -> list[x509.Certificate]:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificates(data)


def certificate_fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def verify_signature(cert: x509.Certificate, data: bytes, signature: str) -> bool:
    """True when ``signature`` (base64url) is the certificate key's signature of ``data``."""
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (ValueError, TypeError):
        return False
    key = cert.public_key()
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(raw, data)
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, data, _pss(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def chain_problems(chain: list[x509.Certificate], trusted: list[x509.Certificate] | None = None) -> list[str]:
    """Why a signer's chain (leaf first) is not acceptable ([] when it is).

    Each certificate must be issued by the next; the last must be self-signed. With ``trusted``,
    the chain must end at (or the leaf be) one of those certificates: this is the pinning a
    reviewer does with the root CA of a PKI they control.
    """
    problems = []
    if not chain:
        return ["no signer certificate"]
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as exc:
            problems.append(
                f"{child.subject.rfc4514_string()} is not issued by {parent.subject.rfc4514_string()}: {exc}"
            )
    root = chain[-1]
    try:
        root.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        problems.append(f"the chain does not end at a self-signed root ({root.subject.rfc4514_string()})")
    if trusted is not None:
        pinned = {certificate_fingerprint(c) for c in trusted}
        if not pinned & {certificate_fingerprint(c) for c in chain}:
            problems.append(
                f"the signer's chain ends at {root.subject.rfc4514_string()} "
                f"(SHA-256 {certificate_fingerprint(root)}), which is not among the trusted certificates"
            )
    return problems


def canonical_json(value: Any) -> bytes:
    """The bytes a signature covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
