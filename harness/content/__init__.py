"""Content validators: CDA rules and the ANS kit runner, the Schematron compiler, the FHIR
engine, XDS metadata checks, `segur validate`. Imports harness.core and harness.protocols.
"""
