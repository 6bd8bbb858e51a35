"""Rewarder protocol v0: reward, done, info and text over a WebSocket (Universe-compatible).

A *remote* is a VNC server plus a rewarder.  The rewarder tells the agent
what the pixels do not: the reward and ``done`` of each step, the episode id,
text.  The protocol is design §5 (``../shared/design.md``); the message table
lives as data in :data:`vncenv.rewarder.messages.SPECS`.

=====================  ======================================================
module                 what
=====================  ======================================================
``messages``           build, encode, decode and validate messages (sans-IO)
``buffer``             :class:`RewardBuffer`: per-episode sums for ``step()``
``client``             :class:`RewarderClient`: the agent's end
``server``             :class:`RewarderServer`: the SDK for env authors
``log``                :class:`RewardLog`: every message as a JSONL line
``loop``               the one background asyncio loop of all clients
=====================  ======================================================

Importing this package starts no thread and opens no socket.

Serving an env (the server SDK)
-------------------------------
Embed a :class:`RewarderServer` in the program that runs the env; publish
each step's reward, and reset when the client asks or the episode ends::

    import threading
    from vncenv.rewarder import RewarderClient, RewarderServer

    lock = threading.Lock()          # the game is reset from the server's worker thread
    state = {"score": 0}

    def on_reset(env_id, seed, fps):  # a client sent v0.env.reset
        with lock:
            state["score"] = 0       # ... reset the real game here (may switch to env_id)

    with RewarderServer(port=0, password="openai", env_id="Count-v0", fps=60,
                        on_reset=on_reset) as server:
        # port=0 picks a free port; remotes use 15900 (the default)
        with RewarderClient.connect("127.0.0.1", server.port, password="openai",
                                    start_timeout=10) as client:
            episode = client.reset(timeout=10)          # returns at v0.reply.env.reset
            for step in range(3):                         # the game loop
                with lock:
                    state["score"] += 1
                server.publish_reward(1.0, done=(step == 2), info={"score": state["score"]})
            server.publish_text("game over")
            with server.resetting():                      # done: the remote resets itself
                with lock:
                    state["score"] = 0
            client.wait_for(lambda c: c.stats()["received"].get("v0.env.describe", 0) >= 5)
            reward, done, info = client.pop()             # what step() does
            assert (reward, done) == (3.0, True)
            assert info["completed_episode_id"] == episode and info["episode_id"] == episode + 1
            assert info["text"] == ["game over"]

What the server does for you:

* checks the ``authorization`` header (Universe's quirk: ``Basic
  base64("<password>:")``, the password in the *username* slot) and refuses
  with ``v0.connection.close`` + close code 4001;
* admits one active client and any number of observers
  (``openai-observer: true``); a second active client gets
  ``v0.connection.close`` (code 4009) telling it what to do;
* sends ``v0.env.describe`` to each new connection, answers
  ``v0.control.ping``, answers a bad message with ``v0.reply.error``;
* on ``v0.env.reset``: ``describe(resetting, N)``, your ``on_reset(env_id,
  seed, fps)`` (on a worker thread), ``v0.reply.env.reset(N)``,
  ``describe(running, N)``; rewards published afterwards belong to N.

Publishing (``publish_reward``, ``publish_text``, ``publish_observation``,
``publish_describe``, ``resetting``) is thread-safe and never blocks on the
network.  Use ``server.start()`` / ``server.close()`` instead of ``with``, or
``await server.start_async()`` / ``await server.aclose()`` to run it on your
own asyncio loop.  ``log="rewards.jsonl"`` records every message.  Incoming
messages are limited to 1 MiB (:data:`MAX_MESSAGE_SIZE`).  It binds
127.0.0.1 unless told otherwise: the password travels in clear.

The client
----------
``RewarderClient.connect(host, port, password=...)`` returns once the first
describe arrived; ``reset()`` blocks until the reply (or ``timeout``);
``pop()`` returns ``(reward, done, info)`` for ``step()`` and never blocks.
``info`` carries ``episode_id``, ``env_state``, ``text``, ``observations``,
``env_info`` (the rewards' info objects), ``reward_count`` and ``lags``.
``clock_skew`` and ``rtt`` are ``(lower, upper)`` bounds from pings.  A
dropped connection is retried with backoff until ``start_timeout``.
"""

from __future__ import annotations

from .buffer import RewardBuffer
from .client import RewarderClient
from .log import RewardLog, read_log
from .messages import (
    CLIENT_METHODS,
    DEFAULT_PORT,
    MAX_MESSAGE_SIZE,
    SERVER_METHODS,
    Message,
    MessageError,
    MessageFactory,
    RemoteError,
    decode,
    encode,
)
from .server import CLOSE_AUTH_FAILED, CLOSE_CLIENT_ACTIVE, RewarderServer

__all__ = [
    "RewarderClient",
    "RewarderServer",
    "RewardBuffer",
    "RewardLog",
    "read_log",
    "Message",
    "MessageFactory",
    "MessageError",
    "RemoteError",
    "decode",
    "encode",
    "DEFAULT_PORT",
    "MAX_MESSAGE_SIZE",
    "SERVER_METHODS",
    "CLIENT_METHODS",
    "CLOSE_AUTH_FAILED",
    "CLOSE_CLIENT_ACTIVE",
]
