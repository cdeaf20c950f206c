"""ISO Schematron for the ANS kit: the project's own compiler to XSLT 2.0, run with Saxon (saxonche)."""

from harness.content.schematron.compiler import CompiledSchematron, Diagnostic, SchematronError, compile_schematron

__all__ = ["CompiledSchematron", "Diagnostic", "SchematronError", "compile_schematron"]
