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


@pytest.fixture(params=["shuffle", "tables"])
def row_path(request: pytest.FixtureRequest) -> str:
    """The core's two ways with palette rects (2-bit ZRLE tiles, Tight's 3-5
    colours) in turn: byte shuffles (SSSE3) and tables; the reference decoder
    has one way and runs both times."""
    core = load_backend("core")
    if not core._simd_rows(request.param == "shuffle") and request.param == "shuffle":
        core._simd_rows(True)
        pytest.skip("this CPU has no SSSE3: the core has only its table path here")
    yield request.param
    core._simd_rows(True)
