"""Wire formats of the national services: SOAP, MTOM/XOP, VIHF, CPx, XDS.b and its CDA
mapping, XAdES, XDM, MSSanté messages, the CDA document reader, the loopback server runner.
Imports harness.core only.
"""
