"""INSi mock (CNAM téléservice INS, ServiceIdentiteCertifiee v1)."""

from mock_services.insi.app import InsiSettings, create_app
from mock_services.insi.identities import IdentityBase

__all__ = ["IdentityBase", "InsiSettings", "create_app"]
