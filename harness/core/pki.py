"""A test PKI shaped like IGC-Santé, built with ``cryptography`` (RSA 2048 keys like IGC-Santé).

The names imitate IGC-Santé TEST ones so that products see familiar subjects, but they are
**not** the real IGC-Santé names and nothing real trusts them. The hierarchy: one root, an
"organisations" intermediate (server and ORG client certificates, with a CRL) and a
"personnes" intermediate (a CPS-like signing certificate for SAML assertions), plus an
untrusted root for the "unknown CA" variant.

Every credential is written as PEM certificate, PEM key (0600) and PKCS#12 (password
:data:`P12_PASSWORD`), because Java, .NET and Node clients expect PKCS#12; CA certificates are
also written as DER.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import ipaddress
import json
import os
import ssl
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.core.signing import SIGNER_NAMES, SigningCredential, issue_signers

P12_PASSWORD = "segur-test"
MANIFEST = "pki.json"
# In pki.json: the folder holds a shared host's credential bundle (harness.core.pki_bundle), not a PKI
# of its own; it is never re-created, and its evidence signer is the run's own.
BUNDLE_MARK = "credential_bundle"
ORGANISATION = "SEGUR HARNESS TEST"
KEY_SIZE = 2048
ORGANISATIONS_KEY = "organisations.key"  # in ca/: the key of the "organisations" intermediate

SAS_CLIENT_CN = "PLATEFORME-NUMERIQUE-SAS-TEST"
SAS_CLIENT_OU = "SAS TEST"
VIHF_PROXY_CN = "PROXY-PSC-VIHF-TEST"

# profile -> (CN, issuer, validity shift, extended key usage); shift: "valid", "expired", "future"
CLIENT_PROFILES: tuple[str, ...] = (
    "insi-auto",
    "insi-manu",
    "wrong-cn",
    "expired",
    "not-yet-valid",
    "unknown-ca",
    "revoked",
    "dmp-org",
    "cps-signature",
    "sas-platform",
    "sas-wrong-cn",
    "sas-wrong-ou",
    "sas-revoked",
    "vihf-proxy",
)
_CLIENT_SPECS: dict[str, tuple[str, str, str]] = {
    "insi-auto": ("INSI-AUTO", "organisations", "valid"),
    "insi-manu": ("INSI-MANU", "organisations", "valid"),
    "wrong-cn": ("SERVEUR-APPLICATIF", "organisations", "valid"),
    "expired": ("INSI-AUTO", "organisations", "expired"),
    "not-yet-valid": ("INSI-AUTO", "organisations", "future"),
    "unknown-ca": ("INSI-AUTO", "unknown", "valid"),
    "revoked": ("INSI-AUTO", "organisations", "valid"),
    "dmp-org": ("DMP-ORG", "organisations", "valid"),
    "cps-signature": ("899900000001", "personnes", "valid"),
    # The SAS platform as a client of an agenda vendor's FHIR server (suites/sas); the real CN and OU
    # are in ANS's mTLS specification, not read here: an agenda server is configured with these.
    "sas-platform": (SAS_CLIENT_CN, "organisations", "valid"),
    "sas-wrong-cn": ("AUTRE-PLATEFORME", "organisations", "valid"),
    "sas-wrong-ou": (SAS_CLIENT_CN, "organisations", "valid"),
    "sas-revoked": (SAS_CLIENT_CN, "organisations", "valid"),
    # The PSC -> VIHF proxy (mock_services/vihf_proxy): one ORG certificate for its TLS client
    # authentication to the DMP and for signing the VIHF (GENVIHF: both must carry the same DN).
    "vihf-proxy": (VIHF_PROXY_CN, "organisations", "valid"),
}
# OU of the client certificates (ORGANISATION TEST unless named here).
_CLIENT_OUS = {"sas-platform": SAS_CLIENT_OU, "sas-wrong-cn": SAS_CLIENT_OU, "sas-revoked": SAS_CLIENT_OU}
REVOKED_CLIENTS = frozenset({"revoked", "sas-revoked"})


@dataclass(frozen=True)
class Credential:
    """One end-entity certificate with its files."""

    name: str
    cert_pem: Path
    key_pem: Path
    p12: Path
    subject: str

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem.read_bytes())


@dataclass(frozen=True)
class PkiLayout:
    directory: Path
    root_ca_pem: Path
    root_ca_der: Path
    intermediate_ca_pems: dict[str, Path]
    ca_bundle: Path
    crl_pem: Path
    server: Credential
    clients: dict[str, Credential]
    unknown_ca_pem: Path
    signers: dict[str, SigningCredential] = field(default_factory=dict)

    def client(self, name: str) -> Credential:
        try:
            return self.clients[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self.clients), n=2)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"no client credential {name!r}{hint} (known: {', '.join(self.clients)})") from None


def _name(cn: str, ou: str | None = None, extra: Iterable[x509.NameAttribute] = ()) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
    ]
    if ou:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attributes.extend(extra)
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


@dataclass
class _Issuer:
    name: x509.Name
    key: rsa.RSAPrivateKey
    cert: x509.Certificate | None = None


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _builder(subject: x509.Name, issuer: _Issuer, key: rsa.RSAPrivateKey, start: dt.datetime, days: int):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    )
    return builder


def _ca(subject: x509.Name, issuer: _Issuer | None, key: rsa.RSAPrivateKey, now: dt.datetime) -> x509.Certificate:
    issuer = issuer or _Issuer(subject, key)
    builder = _builder(subject, issuer, key, now - dt.timedelta(days=1), 3650)
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    builder = builder.add_extension(
        x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
    )
    return builder.sign(issuer.key, hashes.SHA256())


def _leaf(
    subject: x509.Name,
    issuer: _Issuer,
    key: rsa.RSAPrivateKey,
    start: dt.datetime,
    days: int,
    usage: str,
    san: x509.SubjectAlternativeName | None = None,
    extra: Iterable[x509.ExtensionType] = (),
) -> x509.Certificate:
    builder = _builder(subject, issuer, key, start, days)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    if usage == "signature":  # CPS signature key: non-repudiation, used to sign VIHF/CPx assertions
        key_usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
        ekus = [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    else:
        key_usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
        ekus = [ExtendedKeyUsageOID.SERVER_AUTH] if usage == "server" else [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = builder.add_extension(key_usage, critical=True)
    builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer.key, hashes.SHA256())


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(tmp, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)
    return path


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _save_credential(
    directory: Path, name: str, cert: x509.Certificate, key: rsa.RSAPrivateKey, chain: list[x509.Certificate]
) -> Credential:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    p12 = pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, chain, serialization.BestAvailableEncryption(P12_PASSWORD.encode())
    )
    return Credential(
        name=name,
        cert_pem=_write(directory / f"{name}.pem", _pem(cert) + b"".join(_pem(c) for c in chain)),
        key_pem=_write(directory / f"{name}.key", key_pem, private=True),
        p12=_write(directory / f"{name}.p12", p12, private=True),
        subject=cert.subject.rfc4514_string(),
    )


def loopback_names() -> x509.SubjectAlternativeName:
    """The names of a server certificate for the mocks on this host."""
    return x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )


def init_pki(directory: Path, *, force: bool = False, now: dt.datetime | None = None) -> PkiLayout:
    """Create the whole test PKI in ``directory``; refuses to overwrite one unless ``force``."""
    directory = Path(directory)
    if (directory / MANIFEST).exists() and not force:
        raise FileExistsError(f"{directory} already holds a test PKI; use --force to replace it")
    now = now or dt.datetime.now(dt.UTC)
    root = _Issuer(_name("TEST AC RACINE IGC-SANTE HARNESS", "IGC-SANTE TEST"), _key())
    root.cert = _ca(root.name, None, root.key, now)
    intermediates = {
        "organisations": _Issuer(_name("TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", "IGC-SANTE TEST"), _key()),
        "personnes": _Issuer(_name("TEST AC IGC-SANTE FORTE PERSONNES", "IGC-SANTE TEST"), _key()),
    }
    for issuer in intermediates.values():
        issuer.cert = _ca(issuer.name, root, issuer.key, now)
    unknown = _Issuer(_name("TEST AC INCONNUE", "NOT TRUSTED"), _key())
    unknown.cert = _ca(unknown.name, None, unknown.key, now)
    issuers = {**intermediates, "unknown": unknown}

    ca_dir = directory / "ca"
    _write(ca_dir / "root.pem", _pem(root.cert))
    _write(ca_dir / "root.der", root.cert.public_bytes(serialization.Encoding.DER))
    intermediate_pems = {}
    for label, issuer in intermediates.items():
        assert issuer.cert is not None
        intermediate_pems[label] = _write(ca_dir / f"{label}.pem", _pem(issuer.cert))
        _write(ca_dir / f"{label}.der", issuer.cert.public_bytes(serialization.Encoding.DER))
    bundle = b"".join(_pem(i.cert) for i in intermediates.values() if i.cert) + _pem(root.cert)
    _write(ca_dir / "ca-bundle.pem", bundle)
    _write(ca_dir / "unknown-root.pem", _pem(unknown.cert))

    server_key = _key()
    san = loopback_names()
    orgs = intermediates["organisations"]
    assert orgs.cert is not None
    server_cert = _leaf(
        _name("localhost", "SERVICES SIMULES"), orgs, server_key, now - dt.timedelta(days=1), 825, "server", san
    )
    server = _save_credential(directory / "server", "server", server_cert, server_key, [orgs.cert])

    clients = {}
    revoked_serials = []
    # One key shared by the client variants: key generation dominates the time, and the
    # variants differ by their certificates, not by their keys.
    client_key = _key()
    for name, (cn, issuer_label, validity) in _CLIENT_SPECS.items():
        issuer = issuers[issuer_label]
        assert issuer.cert is not None
        start = {
            "valid": now - dt.timedelta(days=1),
            "expired": now - dt.timedelta(days=400),
            "future": now + dt.timedelta(days=30),
        }[validity]
        usage = "signature" if name == "cps-signature" else "client"
        extra = [x509.NameAttribute(NameOID.GIVEN_NAME, "MEDECIN"), x509.NameAttribute(NameOID.SURNAME, "TEST")]
        subject = _name(
            cn,
            None if usage == "signature" else _CLIENT_OUS.get(name, "ORGANISATION TEST"),
            extra if usage == "signature" else (),
        )
        cert = _leaf(subject, issuer, client_key, start, 365, usage)
        if name in REVOKED_CLIENTS:
            revoked_serials.append(cert.serial_number)
        clients[name] = _save_credential(directory / "clients", name, cert, client_key, [issuer.cert])

    crl_builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(orgs.name)
        .last_update(now - dt.timedelta(hours=1))
        .next_update(now + dt.timedelta(days=30))
    )
    for serial in revoked_serials:
        crl_builder = crl_builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - dt.timedelta(hours=1)).build()
        )
    crl = crl_builder.sign(orgs.key, hashes.SHA256())
    crl_path = _write(ca_dir / "organisations.crl.pem", crl.public_bytes(serialization.Encoding.PEM))
    # Kept so that a run can issue, once its ports are known, certificates naming its CRL distribution
    # point (harness.core.pki_crl); a test PKI, trusted by nothing real.
    _write(
        ca_dir / ORGANISATIONS_KEY,
        orgs.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        private=True,
    )
    layout = PkiLayout(
        directory=directory,
        root_ca_pem=ca_dir / "root.pem",
        root_ca_der=ca_dir / "root.der",
        intermediate_ca_pems=intermediate_pems,
        ca_bundle=ca_dir / "ca-bundle.pem",
        crl_pem=crl_path,
        server=server,
        clients=clients,
        unknown_ca_pem=ca_dir / "unknown-root.pem",
        signers=issue_signers(directory / "signing", orgs.name, orgs.key, [orgs.cert, root.cert], now, _write),
    )
    _write_manifest(layout)
    return layout


def foreign_server_credential(layout: PkiLayout) -> Credential:
    """A server certificate for this host from a CA outside IGC-Santé, as a commercial CA would issue.

    Made once, in ``foreign/`` of the PKI folder, as one file (certificate, chain, key) written
    atomically, so that processes sharing the folder never pair a certificate with another's key.
    The MSSanté operator presents it when a test asks; a product that accepts only IGC-Santé
    certificates (SC.MSS/CONF.27) must refuse it.
    """
    path = layout.directory / "foreign" / "server-and-key.pem"
    if not path.is_file():
        now = dt.datetime.now(dt.UTC)
        ca = _Issuer(_name("TEST AC COMMERCIALE HORS IGC-SANTE", "NOT IGC-SANTE"), _key())
        ca.cert = _ca(ca.name, None, ca.key, now)
        san = loopback_names()
        key = _key()
        cert = _leaf(_name("localhost", "SERVICES SIMULES"), ca, key, now - dt.timedelta(days=1), 825, "server", san)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        unique = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        _write(unique, _pem(cert) + _pem(ca.cert) + key_pem, private=True)
        unique.replace(path)
    credential = Credential("foreign-server", path, path, path, "")
    return dataclasses.replace(credential, subject=credential.certificate().subject.rfc4514_string())


def _credential_entry(cred: Credential) -> dict[str, str]:
    cert = cred.certificate()
    return {
        "subject": cred.subject,
        "serial": str(cert.serial_number),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


def _write_manifest(layout: PkiLayout) -> None:
    manifest = {
        "server": _credential_entry(layout.server),
        "clients": {name: _credential_entry(cred) for name, cred in layout.clients.items()},
        "p12_password": P12_PASSWORD,
    }
    _write(layout.directory / MANIFEST, json.dumps(manifest, indent=2).encode())


def _layout_from(directory: Path, manifest: dict) -> PkiLayout:
    def credential(folder: str, name: str, subject: str) -> Credential:
        base = directory / folder
        return Credential(name, base / f"{name}.pem", base / f"{name}.key", base / f"{name}.p12", subject)

    ca_dir = directory / "ca"
    return PkiLayout(
        directory=directory,
        root_ca_pem=ca_dir / "root.pem",
        root_ca_der=ca_dir / "root.der",
        intermediate_ca_pems={label: ca_dir / f"{label}.pem" for label in ("organisations", "personnes")},
        ca_bundle=ca_dir / "ca-bundle.pem",
        crl_pem=ca_dir / "organisations.crl.pem",
        server=credential("server", "server", manifest["server"]["subject"]),
        clients={n: credential("clients", n, e["subject"]) for n, e in manifest["clients"].items()},
        unknown_ca_pem=ca_dir / "unknown-root.pem",
        signers={
            name: SigningCredential(name, directory / f"{base}.pem", directory / f"{base}.key")
            for name in SIGNER_NAMES
            for base in [_signer_base(manifest, name)]
        },
    )


def _signer_base(manifest: dict, name: str) -> str:
    """Where a signer's files are, without suffix: ``signing/NAME``, or the run's own evidence key of a bundle."""
    if name == "evidence" and BUNDLE_MARK in manifest:
        return str(manifest[BUNDLE_MARK]["evidence_signer"])
    return f"signing/{name}"


def load_or_create_pki(directory: Path) -> PkiLayout:
    """Reuse the PKI in ``directory`` when complete and valid for another day; else create it.

    A credential bundle (``harness.core.pki_bundle``) is another host's PKI: it is never re-created.
    """
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if BUNDLE_MARK in manifest:
            return _layout_from(directory, manifest)
        layout = _layout_from(directory, manifest)
        horizon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        files = [layout.root_ca_pem, layout.ca_bundle, layout.crl_pem, layout.unknown_ca_pem, layout.root_ca_der]
        files.append(layout.directory / "ca" / ORGANISATIONS_KEY)  # PKIs made before it was kept are remade
        files += [p for c in [layout.server, *layout.clients.values()] for p in (c.cert_pem, c.key_pem, c.p12)]
        files += [p for signer in layout.signers.values() for p in signer.files()]
        complete = all(p.is_file() for p in files) and set(layout.clients) == set(CLIENT_PROFILES)
        if complete and dt.datetime.fromisoformat(manifest["server"]["not_after"]) > horizon:
            return layout
    except (OSError, ValueError, KeyError):
        pass
    return init_pki(directory, force=True)


def server_ssl_context(
    layout: PkiLayout, *, require_client_cert: bool = False, credential: Credential | None = None
) -> ssl.SSLContext:
    """TLS 1.2+ server context; client certificates are checked (chain, dates, CRL) in the handshake.

    ``credential`` replaces the harness's server certificate (e.g. :func:`foreign_server_credential`).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    credential = credential or layout.server
    context.load_cert_chain(credential.cert_pem, credential.key_pem)
    context.load_verify_locations(cafile=str(layout.ca_bundle))
    context.load_verify_locations(cafile=str(layout.crl_pem))
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def client_ssl_context(layout: PkiLayout, client: str | None = "insi-auto") -> ssl.SSLContext:
    """Trusts the harness CAs and presents the named client credential (or none)."""
    context = ssl.create_default_context(cafile=str(layout.ca_bundle))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client is not None:
        credential = layout.client(client)
        context.load_cert_chain(credential.cert_pem, credential.key_pem)
    return context


def trusted_ca_certificates(layout: PkiLayout) -> list[x509.Certificate]:
    """The intermediate CAs that issue end-entity certificates (cards and organisations)."""
    return [x509.load_pem_x509_certificate(p.read_bytes()) for p in layout.intermediate_ca_pems.values()]
