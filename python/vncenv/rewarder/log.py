"""RewardLog: the rewarder messages of one connection (or server) as JSONL.

One line per message, written whole and flushed by a single ``write`` on a
file opened in append mode, so a ``kill -9`` leaves only complete lines::

    {"timestamp": 1700000000.25, "direction": "recv", "message": {"method": ..., "headers": ..., "body": ...}}

``direction`` is ``"send"`` or ``"recv"`` as seen by the side that writes the
log.  A frame that was not a valid message is logged with ``"raw"`` (its
text, or its bytes as latin-1) and ``"error"`` instead of ``"message"``.
Authentication headers are never messages, so a password never reaches the
log.  Safe to use from several threads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import orjson

__all__ = ["RewardLog", "read_log", "websockets_logger"]


class RewardLog:
    """Appends rewarder messages to a JSONL file.

    :param path: the file (created, or appended to).
    :param label: written as ``"label"`` on every line when given (e.g. the
        peer's address), to tell connections apart in one file.
    """

    def __init__(self, path: str | os.PathLike[str], label: str | None = None) -> None:
        self.path = os.fspath(path)
        self.label = label
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()
        self.lines = 0

    def write(self, direction: str, message: bytes | str | dict[str, Any], timestamp: float | None = None) -> None:
        """Log one message.

        :param direction: ``"send"`` or ``"recv"``.
        :param message: the message as a dict, or its JSON text (``bytes`` or
            ``str``) exactly as it went over the wire.
        """
        ts = time.time() if timestamp is None else timestamp
        if isinstance(message, dict):
            body = orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
        else:
            raw = message.encode() if isinstance(message, str) else bytes(message)
            # Splice the wire JSON in as is, unless it spans lines (a peer's
            # pretty-printed JSON): then re-encode it compactly.
            if b"\n" in raw or b"\r" in raw:
                body = orjson.dumps(orjson.loads(raw))
            else:
                body = raw
        head = {"timestamp": ts, "direction": direction}
        if self.label is not None:
            head["label"] = self.label
        line = orjson.dumps(head)[:-1] + b',"message":' + body + b"}\n"
        self._write(line)

    def write_invalid(self, direction: str, raw: str | bytes, error: str, timestamp: float | None = None) -> None:
        """Log a frame that was not a valid message."""
        ts = time.time() if timestamp is None else timestamp
        text = raw if isinstance(raw, str) else bytes(raw).decode("latin-1")
        entry: dict[str, Any] = {"timestamp": ts, "direction": direction}
        if self.label is not None:
            entry["label"] = self.label
        entry["raw"] = text[:4096]
        entry["error"] = error
        self._write(orjson.dumps(entry) + b"\n")

    def _write(self, line: bytes) -> None:
        with self._lock:
            if self._fd is None:
                return
            view = memoryview(line)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            self.lines += 1

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __enter__(self) -> RewardLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RewardLog({self.path!r}, lines={self.lines})"


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every entry of a reward log (a torn last line, if any, is skipped)."""
    entries = []
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            entries.append(orjson.loads(line))
    return entries


class _RedactAuthorization(logging.Filter):
    """At DEBUG, websockets logs every handshake header: hide the password's."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str):
            if args[0].lower() == "authorization":
                record.args = (args[0], "<redacted>")
        return True


def websockets_logger(side: str) -> logging.Logger:
    """The logger we hand to websockets (``vncenv.rewarder.websockets.<side>``):
    it never shows the ``authorization`` header."""
    logger = logging.getLogger(f"vncenv.rewarder.websockets.{side}")
    if not any(isinstance(f, _RedactAuthorization) for f in logger.filters):
        logger.addFilter(_RedactAuthorization())
    return logger
