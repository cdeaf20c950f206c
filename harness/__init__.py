"""Ségur numérique conformance harness: core library (catalog, recorder, PKI, validators, plugin, CLI)."""

__version__ = "0.1.0"
