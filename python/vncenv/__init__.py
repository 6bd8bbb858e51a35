"""vncenv: reinforcement-learning environments driven through VNC.

Importing this package starts no threads, opens no sockets and needs no display.
"""

from __future__ import annotations

from . import error
from ._backend import BACKEND as DECODER_BACKEND
from .limits import DEFAULT_LIMITS, Limits

__version__ = "0.1.0"

try:  # register the vncenv/... ids with Gymnasium (cheap: no env is built)
    from .envs.registration import register_all as _register_all
except ImportError:  # pragma: no cover - gymnasium is a dependency
    pass
else:
    try:
        _register_all()
    except ImportError:  # pragma: no cover
        pass

__all__ = ["error", "Limits", "DEFAULT_LIMITS", "DECODER_BACKEND", "__version__"]
