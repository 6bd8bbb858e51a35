"""Rewarder protocol v0 messages: build, encode, decode, validate (sans-IO).

Every message is one JSON object in one WebSocket *text* frame::

    {"method": "v0.env.reward",
     "headers": {"message_id": 7, "sent_at": 1700000000.25, "episode_id": "3"},
     "body": {"reward": 1.0, "done": false, "info": {}}}

``message_id`` is an integer (a string is accepted from peers), ``sent_at``
the sender's ``time.time()``, ``episode_id`` an increasing integer sent as a
string, ``parent_message_id`` the ``message_id`` a reply answers.

The rules of each method are data (:data:`SPECS`): its direction, the headers
it needs and a check per body field.  :func:`decode` applies them to what a
peer sent and raises :class:`MessageError` (a
:class:`vncenv.error.ProtocolError`); the builders of
:class:`MessageFactory` apply them to what we are about to send and raise
:class:`vncenv.error.UsageError`.  Unknown body fields and headers are kept
and ignored, so later protocol versions can add some.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..error import Error, ProtocolError, UsageError

__all__ = [
    "DEFAULT_PORT",
    "MAX_MESSAGE_SIZE",
    "SERVER",
    "CLIENT",
    "ENV_STATES",
    "SERVER_METHODS",
    "CLIENT_METHODS",
    "SPECS",
    "Message",
    "MessageError",
    "RemoteError",
    "MessageFactory",
    "decode",
    "encode",
    "parse_episode_id",
    "format_episode_id",
    "basic_auth_header",
    "parse_basic_auth",
]

#: The remote's default rewarder port.
DEFAULT_PORT = 15900
#: Largest incoming message either side accepts (the WebSocket ``max_size``):
#: a bigger frame closes the connection with code 1009.
MAX_MESSAGE_SIZE = 1 << 20

SERVER = "server"  # server to client
CLIENT = "client"  # client to server

ENV_STATES = ("resetting", "running")


class MessageError(ProtocolError):
    """A peer sent a message that breaks rewarder v0.

    ``message_id`` and ``method`` are what could be read of the bad message
    (None when not even that), so the answer can name its parent.
    """

    def __init__(self, text: str, message_id: Any = None, method: str | None = None) -> None:
        super().__init__(text)
        self.message_id = message_id
        self.method = method


class RemoteError(Error):
    """The rewarder answered a request with ``v0.reply.error``."""


# -- field checks: each returns None when fine, else what is wrong ---------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite_number(v: Any) -> str | None:
    if not _is_number(v):
        return "a number"
    if isinstance(v, float) and not math.isfinite(v):
        return "a finite number"
    return None


def _positive_number(v: Any) -> str | None:
    if _finite_number(v) is not None or v <= 0:
        return "a positive number"
    return None


def _opt_positive_number(v: Any) -> str | None:
    return None if v is None else _positive_number(v)


def _string(v: Any) -> str | None:
    return None if isinstance(v, str) else "a string"


def _opt_string(v: Any) -> str | None:
    return None if v is None or isinstance(v, str) else "a string or null"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _object(v: Any) -> str | None:
    return None if isinstance(v, dict) else "an object"


def _opt_int(v: Any) -> str | None:
    if v is None or (isinstance(v, int) and not isinstance(v, bool)):
        return None
    return "an integer or null"


def _env_state(v: Any) -> str | None:
    return None if v in ENV_STATES else "'resetting' or 'running'"


def _any(v: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Spec:
    """The rules of one method."""

    direction: str  # SERVER or CLIENT: who sends it
    body: Mapping[str, Callable[[Any], str | None]] = field(default_factory=dict)
    episode_id: bool = False  # the header must carry episode_id
    parent: bool = False  # the header must carry parent_message_id
    any_body: bool = False  # the body may be any object (checks only listed fields)


#: The message table of design §5, as data.
SPECS: dict[str, Spec] = {
    # server -> client
    "v0.env.describe": Spec(
        SERVER, {"env_id": _string, "env_state": _env_state, "fps": _positive_number}, episode_id=True
    ),
    "v0.env.reward": Spec(SERVER, {"reward": _finite_number, "done": _bool, "info": _object}, episode_id=True),
    "v0.env.text": Spec(SERVER, {"text": _string}, episode_id=True),
    "v0.env.observation": Spec(SERVER, {"observation": _any}, episode_id=True),
    "v0.reply.env.reset": Spec(SERVER, {}, episode_id=True, parent=True),
    "v0.reply.control.ping": Spec(SERVER, {}, parent=True),
    "v0.reply.error": Spec(SERVER, {"message": _string}),
    "v0.connection.close": Spec(SERVER, {"message": _string}),
    # client -> server
    "v0.env.reset": Spec(CLIENT, {"env_id": _opt_string, "seed": _opt_int, "fps": _opt_positive_number}),
    "v0.control.ping": Spec(CLIENT, {}),
    "v0.agent.action": Spec(CLIENT, {}, any_body=True),
}

SERVER_METHODS = frozenset(m for m, s in SPECS.items() if s.direction == SERVER)
CLIENT_METHODS = frozenset(m for m, s in SPECS.items() if s.direction == CLIENT)


# -- episode ids ------------------------------------------------------------


def parse_episode_id(value: Any) -> int:
    """An episode id from the wire (``"12"``, or the integer 12) as an int.

    :raises ValueError: anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("episode_id must not be negative")
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    raise ValueError('episode_id must be a non-negative integer sent as a string, like "3"')


def format_episode_id(value: int) -> str:
    """An int episode id as sent on the wire."""
    return str(value)


# -- the message ------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One decoded (or built) rewarder message.

    ``headers`` and ``body`` are the JSON objects as sent; ``episode_id`` is
    the header's episode id parsed to an int (None when absent).
    """

    method: str
    headers: dict[str, Any]
    body: dict[str, Any]
    episode_id: int | None = None

    @property
    def message_id(self) -> Any:
        return self.headers.get("message_id")

    @property
    def parent_message_id(self) -> Any:
        return self.headers.get("parent_message_id")

    @property
    def sent_at(self) -> float:
        return self.headers["sent_at"]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "headers": self.headers, "body": self.body}


def _valid_id(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, str)


def _check(method: str, headers: dict, body: dict, exc: type[Exception]) -> int | None:
    """Apply the method's spec; return the parsed episode id."""
    spec = SPECS[method]
    mid = headers.get("message_id")
    if not _valid_id(mid):
        raise _err(exc, f"{method}: headers.message_id must be an integer or a string", None, method)
    if "sent_at" not in headers or _finite_number(headers["sent_at"]) is not None:
        raise _err(exc, f"{method}: headers.sent_at must be a number (seconds since the epoch)", mid, method)
    if "parent_message_id" in headers and headers["parent_message_id"] is not None:
        if not _valid_id(headers["parent_message_id"]):
            raise _err(exc, f"{method}: headers.parent_message_id must be an integer or a string", mid, method)
    elif spec.parent:
        raise _err(exc, f"{method}: headers.parent_message_id is missing", mid, method)
    episode_id = None
    if headers.get("episode_id") is not None:
        try:
            episode_id = parse_episode_id(headers["episode_id"])
        except ValueError as e:
            raise _err(exc, f"{method}: headers.{e}", mid, method) from None
    elif spec.episode_id:
        raise _err(exc, f"{method}: headers.episode_id is missing", mid, method)
    for name, check in spec.body.items():
        if name not in body:
            raise _err(exc, f"{method}: body.{name} is missing", mid, method)
        wrong = check(body[name])
        if wrong is not None:
            raise _err(exc, f"{method}: body.{name} must be {wrong}, not {_short(body[name])}", mid, method)
    return episode_id


def _err(exc: type[Exception], text: str, mid: Any, method: str | None) -> Exception:
    if exc is MessageError:
        return MessageError(text, mid, method)
    return exc(text)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode(frame: str | bytes, direction: str | None = None) -> Message:
    """Parse and validate one frame a peer sent.

    :param frame: the frame's payload: ``str`` for a text frame, ``bytes``
        for a binary one (always refused: v0 is text frames only).
    :param direction: :data:`SERVER` on the client (we expect server
        messages), :data:`CLIENT` on the server, None to accept both.
    :raises MessageError: bad JSON, a binary frame, a missing or mistyped
        field, an unknown method or one sent the wrong way.
    """
    if not isinstance(frame, str):
        raise MessageError("binary frame: rewarder v0 messages are JSON in text frames")
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as e:
        raise MessageError(f"invalid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise MessageError(f"a message must be a JSON object, not {type(obj).__name__}")
    headers = obj.get("headers")
    mid = headers.get("message_id") if isinstance(headers, dict) else None
    mid = mid if _valid_id(mid) else None
    method = obj.get("method")
    if not isinstance(method, str):
        raise MessageError("method is missing or not a string", mid)
    if not isinstance(headers, dict):
        raise MessageError(f"{method}: headers must be an object", None, method)
    body = obj.get("body")
    if not isinstance(body, dict):
        raise MessageError(f"{method}: body must be an object", mid, method)
    spec = SPECS.get(method)
    if spec is None:
        raise MessageError(f"unknown method {_short(method)}", mid, method)
    if direction is not None and spec.direction != direction:
        who = "the server" if spec.direction == SERVER else "a client"
        raise MessageError(f"{method} is sent by {who}, not to it", mid, method)
    episode_id = _check(method, headers, body, MessageError)
    return Message(method, headers, body, episode_id)


def encode(message: Message) -> bytes:
    """The UTF-8 JSON of a message (send it in a text frame).

    :raises vncenv.error.UsageError: a value JSON cannot carry.
    """
    try:
        return orjson.dumps(message.to_dict(), option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as e:
        raise UsageError(f"{message.method}: cannot encode as JSON: {e}") from None


class MessageFactory:
    """Builds our outgoing messages: numbers them and stamps ``sent_at``.

    ``next(message_ids)`` is atomic under the GIL, so one factory may be used
    from several threads.  ``clock`` is injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._ids = itertools.count()
        self._clock = clock

    def build(
        self,
        method: str,
        body: dict[str, Any] | None = None,
        *,
        episode_id: int | None = None,
        parent_message_id: Any = None,
        headers: Mapping[str, Any] | None = None,
    ) -> Message:
        """A validated message.

        :raises vncenv.error.UsageError: unknown method, or a field the
            method's spec refuses.
        """
        if method not in SPECS:
            raise UsageError(f"unknown rewarder method {method!r}")
        h: dict[str, Any] = dict(headers) if headers else {}
        h["message_id"] = next(self._ids)
        h["sent_at"] = self._clock()
        if episode_id is not None:
            if isinstance(episode_id, bool) or not isinstance(episode_id, int) or episode_id < 0:
                raise UsageError(f"{method}: episode_id must be a non-negative int, not {episode_id!r}")
            h["episode_id"] = format_episode_id(episode_id)
        if parent_message_id is not None:
            h["parent_message_id"] = parent_message_id
        b = {} if body is None else body
        if not isinstance(b, dict):
            raise UsageError(f"{method}: body must be a dict")
        _check(method, h, b, UsageError)
        return Message(method, h, b, episode_id)

    # server -> client
    def describe(self, env_id: str, env_state: str, fps: float, episode_id: int, **headers: Any) -> Message:
        return self.build(
            "v0.env.describe",
            {"env_id": env_id, "env_state": env_state, "fps": fps},
            episode_id=episode_id,
            headers=headers,
        )

    def reward(self, reward: float, done: bool, info: dict[str, Any] | None, episode_id: int) -> Message:
        # Gymnasium envs hand out numpy scalars: coerce, then validate.
        try:
            reward = float(reward)
        except (TypeError, ValueError):
            raise UsageError(f"v0.env.reward: reward must be a number, not {_short(reward)}") from None
        done = bool(done)
        return self.build(
            "v0.env.reward",
            {"reward": reward, "done": done, "info": {} if info is None else info},
            episode_id=episode_id,
        )

    def text(self, text: str, episode_id: int) -> Message:
        return self.build("v0.env.text", {"text": text}, episode_id=episode_id)

    def observation(self, observation: Any, episode_id: int) -> Message:
        return self.build("v0.env.observation", {"observation": observation}, episode_id=episode_id)

    def reply_reset(self, episode_id: int, parent_message_id: Any) -> Message:
        return self.build("v0.reply.env.reset", {}, episode_id=episode_id, parent_message_id=parent_message_id)

    def reply_ping(self, parent_message_id: Any) -> Message:
        return self.build("v0.reply.control.ping", {}, parent_message_id=parent_message_id)

    def reply_error(self, message: str, parent_message_id: Any = None) -> Message:
        return self.build("v0.reply.error", {"message": message}, parent_message_id=parent_message_id)

    def connection_close(self, message: str) -> Message:
        return self.build("v0.connection.close", {"message": message})

    # client -> server
    def reset(self, env_id: str | None, seed: int | None, fps: float | None) -> Message:
        return self.build("v0.env.reset", {"env_id": env_id, "seed": seed, "fps": fps})

    def ping(self) -> Message:
        return self.build("v0.control.ping", {})

    def action(self, body: dict[str, Any] | None = None) -> Message:
        return self.build("v0.agent.action", body or {})


# -- the auth header quirk --------------------------------------------------


def basic_auth_header(password: str) -> str:
    """``Basic base64("<password>:")``: Universe puts the password in the *username* slot."""
    import base64

    return "Basic " + base64.b64encode(f"{password}:".encode()).decode("ascii")


def parse_basic_auth(value: str | None) -> str | None:
    """The password (the username slot) of an ``authorization`` header, or None if malformed."""
    import base64
    import binascii

    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, sep, _ = decoded.partition(":")
    if not sep:
        return None
    return username
