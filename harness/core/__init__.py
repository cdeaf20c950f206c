"""The lowest layer: verdict model, catalog and coverage, errors, paths, durable storage,
exchange recorder, signing keys, test PKI, INS library. Imports nothing else of the harness.
"""
