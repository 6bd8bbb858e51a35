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


def _cpu_has(flag: str) -> bool:
    """Does this CPU announce ``flag`` (e.g. ``"ssse3"``; Linux /proc/cpuinfo)?"""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and flag in line.split(":", 1)[-1].split() for line in cpuinfo)
    except OSError:
        return False


@pytest.fixture(params=["shuffle", "tables"])
def row_path(request: pytest.FixtureRequest) -> str:
    """The core's two ways with palette rects (2-bit ZRLE tiles, Tight's 3-5
    colours; 2-colour rows of 32 pixels or more) in turn: SIMD (SSSE3 byte
    shuffles, AVX2 1-bit vectors) and tables; the reference decoder has one
    way and runs both times.  Where the CPU lacks SSSE3 or AVX2 the core uses
    tables there, and the "shuffle" run checks that it says so."""
    core = load_backend("core")
    used = core._shuffle_rows(request.param == "shuffle")
    if request.param == "shuffle":
        assert used or not _cpu_has("ssse3"), "the CPU has SSSE3 but the core's shuffle path is off"
        assert core._bit_vectors() or not _cpu_has("avx2"), "the CPU has AVX2 but the core's 1-bit vectors are off"
    else:
        assert not core._bit_vectors()
    yield request.param
    core._shuffle_rows(True)
