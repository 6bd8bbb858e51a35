"""The Gymnasium API: VNCEnv and the ids registered under ``vncenv/``."""

from .registration import RUNTIME_IDS, register_all

__all__ = ["RUNTIME_IDS", "register_all"]
