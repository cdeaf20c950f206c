"""Pro Santé Connect mock: an OpenID Connect provider shaped like PSC (Keycloak realm esante-wallet)."""

from mock_services.psc.app import PscSettings, create_app
from mock_services.psc.registry import Registry

__all__ = ["PscSettings", "Registry", "create_app"]
