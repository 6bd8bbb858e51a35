"""atheris target: rewarder v0 message parsing, the reward buffer and the log.

Input: ``u8 flags`` then frames separated by NUL bytes (JSON cannot hold a
raw NUL).  ``flags % 4`` is the side: 0 accepts both directions, 1 and 3 are
the client (server messages expected), 2 the server (client messages
expected).  A frame is handled as the side's websocket loop handles it:

* ``decode`` (a frame that is not UTF-8 is decoded with replacement
  characters; a frame starting ``!b`` is a *binary* frame of the bytes after
  it).  Only ``MessageError`` may come out; a bad frame is logged with
  ``RewardLog.write_invalid`` and, on the server side, answered with
  ``v0.reply.error`` built by ``MessageFactory`` (which must not refuse it).
* a good one is logged with ``RewardLog.write``, must survive
  ``encode``/``decode`` unchanged, and is dispatched: server messages to a
  ``RewardBuffer`` exactly as ``RewarderClient`` does, client messages to the
  replies ``RewarderServer`` builds (ping reply, reset's describe).
* frames ``!p``, ``!m``, ``!u``, ``!c`` call the buffer's ``pop``, ``mask``,
  ``unmask`` and ``on_connect`` (what ``step()``, ``reset()`` and a
  reconnection do); the buffer is popped once more at the end.

Every log line must be one line of JSON holding what was logged, and
``pop`` must return ``(float, bool, dict)`` with the keys it documents.

    python tests/fuzz/fuzz_rewarder.py -atheris_runs=100000 build/fuzz-corpus/rewarder
"""

from __future__ import annotations

import math
import threading

import _harness

with _harness.instrumented(__name__ == "__main__"):
    import vncenv.rewarder.buffer as buffer_module
    import vncenv.rewarder.log as log_module
    import vncenv.rewarder.messages as messages

import orjson  # noqa: E402

SEPARATOR = b"\x00"
DIRECTIONS = (None, messages.SERVER, messages.CLIENT, messages.SERVER)
POP_KEYS = {"episode_id", "env_state", "reward_count", "env_info", "text", "observations"}


class CheckedLog(log_module.RewardLog):
    """A RewardLog that writes nowhere and checks every line instead."""

    def __init__(self) -> None:  # no file: see _write
        self.path = "(fuzz)"
        self.label = "fuzz"
        self._fd = None
        self._lock = threading.Lock()
        self.lines = 0
        self.last = None

    def _write(self, line: bytes) -> None:
        if not line.endswith(b"\n") or b"\n" in line[:-1] or b"\r" in line:
            raise AssertionError(f"log line is not one line: {line[:200]!r}")
        self.last = orjson.loads(line)
        self.lines += 1


def make_input(frames: list[bytes], flags: int = 0) -> bytes:
    """An input (for seeds)."""
    return bytes([flags]) + SEPARATOR.join(frames)


def _check_pop(result: object) -> None:
    reward, done, info = result  # type: ignore[misc]
    assert isinstance(reward, float) and isinstance(done, bool) and isinstance(info, dict), result
    assert POP_KEYS <= info.keys(), info.keys()
    assert info["episode_id"] is None or isinstance(info["episode_id"], int)
    if done:
        assert isinstance(info["completed_episode_id"], int)


def _dispatch_to_buffer(buf: buffer_module.RewardBuffer, msg: messages.Message) -> None:
    """What RewarderClient._dispatch does with a server message."""
    body = msg.body
    method = msg.method
    if method == "v0.env.reward":
        assert msg.episode_id is not None
        buf.on_reward(msg.episode_id, body["reward"], body["done"], body["info"])
    elif method == "v0.env.describe":
        assert msg.episode_id is not None
        buf.on_describe(msg.episode_id, body["env_id"], body["env_state"], body["fps"])
    elif method == "v0.env.text":
        buf.on_text(msg.episode_id, body["text"])
    elif method == "v0.env.observation":
        buf.on_observation(msg.episode_id, body["observation"])
    elif method == "v0.reply.env.reset":
        assert msg.episode_id is not None
        buf.on_reset_reply(msg.episode_id)


def _serve(factory: messages.MessageFactory, msg: messages.Message) -> None:
    """The replies RewarderServer builds for a client message (they must build and encode)."""
    if msg.method == "v0.control.ping":
        messages.encode(factory.reply_ping(msg.message_id))
    elif msg.method == "v0.env.reset":
        body = msg.body
        env_id = body.get("env_id") or "fuzz-v0"
        fps = body.get("fps") or 60.0
        messages.encode(factory.describe(env_id, "resetting", fps, 1))
        messages.encode(factory.reply_reset(1, msg.message_id))


def run_one(data: bytes) -> None:
    flags = data[0] if data else 0
    direction = DIRECTIONS[flags % 4]
    buf = buffer_module.RewardBuffer(max_text=4, max_observations=4)
    log = CheckedLog()
    factory = messages.MessageFactory(clock=lambda: 1700000000.0)
    for raw in data[1:].split(SEPARATOR):
        if raw[:2] in (b"!p", b"!m", b"!u", b"!c"):
            op = raw[1:2]
            if op == b"p":
                _check_pop(buf.pop())
            elif op == b"m":
                buf.mask()
            elif op == b"u":
                buf.unmask()
            else:
                buf.on_connect()
            continue
        frame: str | bytes = raw[2:] if raw[:2] == b"!b" else raw.decode("utf-8", "replace")
        try:
            msg = messages.decode(frame, direction)
        except messages.MessageError as e:
            log.write_invalid("recv", frame, str(e))
            text = frame if isinstance(frame, str) else frame.decode("latin-1")
            assert log.last["raw"] == text[:4096] and log.last["error"] == str(e)
            if direction == messages.CLIENT:
                messages.encode(factory.reply_error(f"bad message: {e}", e.message_id))
            continue
        log.write("recv", frame)
        assert log.last["message"] == orjson.loads(frame)
        again = messages.decode(messages.encode(msg).decode(), direction)
        if again != msg:
            raise AssertionError(f"encode/decode changed the message: {msg!r:.300} -> {again!r:.300}")
        if msg.method in messages.SERVER_METHODS:
            _dispatch_to_buffer(buf, msg)
            reward = msg.body.get("reward")
            assert msg.method != "v0.env.reward" or math.isfinite(reward)
        else:
            _serve(factory, msg)
    _check_pop(buf.pop())


if __name__ == "__main__":
    _harness.fuzz_main(run_one)
