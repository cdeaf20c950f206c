"""SUT adapters: how the harness makes the system under test act."""

from __future__ import annotations

from pathlib import Path

from harness.run.sut.base import (
    ActionNotSupported,
    ActionResult,
    SutAdapter,
    SutConfigError,
    SutContext,
    SutFailure,
)

__all__ = [
    "ActionNotSupported",
    "ActionResult",
    "SutAdapter",
    "SutConfigError",
    "SutContext",
    "SutFailure",
    "load_sut",
]


def load_sut(spec: str, defects: frozenset[str] = frozenset()) -> SutAdapter:
    """``reference``, ``manual``, ``artifacts:DIR``, a test hook URL, or the path of a command (or ``[http]``)
    SUT TOML file."""
    if defects and spec != "reference":
        raise SutConfigError("--defect applies only to the reference SUT")
    if spec == "reference":
        from harness.run.sut.reference import ReferenceSut

        return ReferenceSut(defects)
    if spec == "manual":
        from harness.run.sut.manual import ManualSut

        return ManualSut()
    if spec.startswith("artifacts:"):
        from harness.run.sut.artifacts import load_artifacts_sut

        return load_artifacts_sut(spec)
    from harness.run.sut.http import load_http_sut

    if (hook := load_http_sut(spec)) is not None:
        return hook
    path = Path(spec)
    if path.suffix != ".toml":
        raise SutConfigError(
            f"--sut takes 'reference', 'manual', 'artifacts:DIR', an http(s):// test hook URL or a .toml file, "
            f"not {spec!r}"
        )
    from harness.run.sut.command import load_command_sut

    return load_command_sut(path)
