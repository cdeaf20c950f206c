"""The reference MSSanté client's revocation check by CRL (SC.MSS/CONF.22).

For an operator certificate that names a CRL distribution point, the client fetches the CRL there
on each connection and keeps the last valid one (signed by the certificate's issuer, thisUpdate
passed, nextUpdate to come). When the fetch fails or brings no valid CRL, it uses the kept one
while it has not expired, so that a broken distribution point does not cut the product off the
operator. With no valid CRL at all it refuses the connection: the requirement is silent on that
case, and accepting an unchecked certificate would defeat the revocation check (RFC 5280 §6.3.3
leaves it to local policy). A certificate naming no distribution point is not checked by CRL.
"""

from __future__ import annotations

import datetime as dt
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CRL_DEFECTS: dict[str, str] = {
    "mss_drops_crl_on_fetch_failure": "forgets its CRL when the current one cannot be fetched, refuses the operator",
    "mss_fails_open_on_crl_error": "connects without any revocation check when the current CRL cannot be fetched",
}
FETCH_TIMEOUT = 5.0  # seconds
MAX_CRL_BYTES = 4 * 1024 * 1024


class CrlUnusable(Exception):
    """The distribution point gave no valid CRL (unreachable, HTTP error, not a CRL, bad signature, expired)."""


def distribution_points(certificate: x509.Certificate) -> list[str]:
    """The HTTP URLs of the certificate's CRL Distribution Points extension ([] when it has none)."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for point in extension:
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith("http://"):
                urls.append(name.value)
    return urls


def valid_at(crl: x509.CertificateRevocationList, now: dt.datetime) -> bool:
    next_update = crl.next_update_utc
    return crl.last_update_utc <= now and next_update is not None and now < next_update


@dataclass
class CrlKeeper:
    issuers: list[x509.Certificate]  # the CAs whose CRLs the client accepts
    defects: frozenset[str] = frozenset()
    kept: dict[str, x509.CertificateRevocationList] = field(default_factory=dict)  # by distribution point

    def check(self, certificate: x509.Certificate, now: dt.datetime | None = None) -> None:
        """Raise ``ssl.SSLError`` when ``certificate`` is revoked or its revocation cannot be checked."""
        points = distribution_points(certificate)
        if not points:
            return
        now = now or dt.datetime.now(dt.UTC)
        url = points[0]
        try:
            crl = self._fetch(url, certificate, now)
        except CrlUnusable as problem:
            if "mss_fails_open_on_crl_error" in self.defects:
                return
            if "mss_drops_crl_on_fetch_failure" in self.defects:
                self.kept.pop(url, None)
            kept = self.kept.get(url)
            if kept is None or not valid_at(kept, now):
                raise ssl.SSLError(f"no valid CRL for the operator certificate ({url}: {problem})") from None
            crl = kept
        else:
            self.kept[url] = crl
        if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
            raise ssl.SSLError(
                f"operator certificate revoked: serial {certificate.serial_number} is in the CRL of {url}"
            )

    def _fetch(self, url: str, certificate: x509.Certificate, now: dt.datetime) -> x509.CertificateRevocationList:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the point is on this host
        try:
            with opener.open(url, timeout=FETCH_TIMEOUT) as response:
                data = response.read(MAX_CRL_BYTES + 1)
        except (urllib.error.URLError, OSError) as exc:
            raise CrlUnusable(f"fetch failed: {exc}") from None
        if len(data) > MAX_CRL_BYTES:
            raise CrlUnusable(f"more than {MAX_CRL_BYTES} bytes")
        try:
            crl = x509.load_der_x509_crl(data) if not data.startswith(b"-----") else x509.load_pem_x509_crl(data)
        except ValueError:
            raise CrlUnusable("not a CRL") from None
        issuer = next((ca for ca in self.issuers if ca.subject == crl.issuer == certificate.issuer), None)
        key = issuer.public_key() if issuer is not None else None
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) or not crl.is_signature_valid(key):
            raise CrlUnusable(f"not signed by the certificate's issuer {certificate.issuer.rfc4514_string()}")
        if not valid_at(crl, now):
            raise CrlUnusable(f"not valid now (thisUpdate {crl.last_update_utc}, nextUpdate {crl.next_update_utc})")
        return crl
