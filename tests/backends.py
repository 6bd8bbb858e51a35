"""Pytest fixtures for the two decode backends (the reference and the core).

Test modules import the fixtures they use, e.g.::

    from backends import backend, new_decoder  # noqa: F401  (pytest fixtures)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pytest
import rfbgen

__all__ = ["load_backend", "backend", "backend_pair", "new_decoder", "row_path"]

DecoderFactory = Callable[..., tuple[Any, Any]]


def load_backend(name: str) -> ModuleType:
    """Import a decode backend by name: ``"reference"`` or ``"core"``."""
    # `make test` always builds the core: a missing core is a failure, not a skip.
    return importlib.import_module("vncenv._core" if name == "core" else "vncenv._reference")


@pytest.fixture(scope="session", params=["reference", "core"])
def backend(request: pytest.FixtureRequest) -> ModuleType:
    """Each decode backend in turn: a module with ``Framebuffer`` and ``UpdateDecoder``."""
    return load_backend(request.param)


@pytest.fixture(scope="session")
def backend_pair() -> tuple[ModuleType, ModuleType]:
    """``(reference, core)``, for differential tests."""
    return load_backend("reference"), load_backend("core")


@pytest.fixture
def new_decoder(backend: ModuleType) -> DecoderFactory:
    """``new_decoder(width, height, encodings=all, limits=None) -> (framebuffer, decoder)``."""

    def make(
        width: int = 64,
        height: int = 64,
        encodings: Iterable[int] = rfbgen.IMPLEMENTED_ENCODINGS,
        limits: Any = None,
    ) -> tuple[Any, Any]:
        framebuffer = backend.Framebuffer(width, height)
        return framebuffer, backend.UpdateDecoder(framebuffer, encodings, limits)

    return make


def _cpu_has_ssse3() -> bool:
    """Does this CPU announce SSSE3 (Linux /proc/cpuinfo)?"""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " ssse3" in line for line in cpuinfo)
    except OSError:
        return False


@pytest.fixture(params=["shuffle", "tables"])
def row_path(request: pytest.FixtureRequest) -> str:
    """The core's two ways with palette rects (2-bit ZRLE tiles, Tight's 3-5
    colours) in turn: byte shuffles (SSSE3) and tables; the reference decoder
    has one way and runs both times.  Where the CPU has no SSSE3 the core
    has only its tables, and the "shuffle" run checks that it says so."""
    core = load_backend("core")
    used = core._shuffle_rows(request.param == "shuffle")
    if request.param == "shuffle":
        assert used or not _cpu_has_ssse3(), "the CPU has SSSE3 but the core's shuffle path is off"
    yield request.param
    core._shuffle_rows(True)
