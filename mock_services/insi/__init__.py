"""INSi mock (CNAM téléservice INS, ServiceIdentiteCertifiee v1)."""

from mock_services.insi.app import create_app
from mock_services.insi.identities import IdentityBase
from mock_services.insi.settings import InsiSettings

__all__ = ["IdentityBase", "InsiSettings", "create_app"]
