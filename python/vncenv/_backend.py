"""Choose the decode backend: the compiled core, or the pure-Python reference.

``VNCENV_DECODER`` selects it:

* ``core`` (default): the Cython extension ``vncenv._core``;
* ``python``: the pure-Python reference in ``vncenv._reference`` (slow; the
  tests' oracle, and a fallback where the extension cannot be built).
"""

from __future__ import annotations

import os

__all__ = ["BACKEND", "Framebuffer", "UpdateDecoder"]

_BUILD_HINT = (
    "vncenv's compiled core (vncenv._core) is not built. From a source checkout, "
    "build it with `make build` (or `pip install -e .`), which needs Cython 3, "
    "gcc, zlib and libturbojpeg0-dev; or set VNCENV_DECODER=python to use the "
    "slow pure-Python reference decoder."
)

_choice = os.environ.get("VNCENV_DECODER", "core").strip().lower() or "core"

if _choice == "python":
    from ._reference import Framebuffer, UpdateDecoder

    BACKEND = "python"
elif _choice == "core":
    try:
        from ._core import Framebuffer, UpdateDecoder
    except ImportError as exc:  # pragma: no cover - depends on the build
        raise ImportError(f"{_BUILD_HINT} (import error: {exc})") from exc
    BACKEND = "core"
else:
    raise ImportError(f"VNCENV_DECODER must be 'core' or 'python', not {_choice!r}")
