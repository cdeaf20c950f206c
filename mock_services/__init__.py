"""Mock national services, one package per service."""
