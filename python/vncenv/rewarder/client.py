"""RewarderClient: the agent's end of a rewarder v0 connection.

The I/O runs on the one background asyncio loop the process shares
(:mod:`vncenv.rewarder.loop`); the agent's thread calls the blocking methods
(:meth:`RewarderClient.start`, :meth:`~RewarderClient.reset`,
:meth:`~RewarderClient.ping`) and the non-blocking :meth:`~RewarderClient.pop`.

* Describe is handled as it comes: :meth:`~RewarderClient.start` returns once
  the first ``v0.env.describe`` arrived.
* A dropped connection is retried with exponential backoff (plus jitter)
  until ``start_timeout`` seconds have passed since the drop; a reset waiting
  for its reply is sent again on the new connection.  A deliberate refusal
  (``v0.connection.close``: a bad password, another active client) is final,
  except "another client is active" on a reconnection: that client is most
  likely our own previous connection, which the rewarder has not yet seen
  die (after a network cut nothing tells it), so it is retried like a drop.
* Clock skew is bounded by pings alone (Universe's method): a ping sent at
  local ``t0``, answered at remote ``s``, received at local ``t1`` gives
  ``s - t1 <= remote - local <= s - t0``.  The bounds of all pings of a
  connection are intersected (the latest sample alone if the intersection
  is empty, as when a clock jumped).  A message's lag is then bounded by
  ``t_recv - sent_at + skew``.
* A rewarder that stops answering (its process frozen, the network gone,
  a frame left half-sent) is noticed by the WebSocket keepalive: a ping every
  ``keepalive_interval`` seconds must be answered within
  ``keepalive_timeout``, so the connection counts as lost at most
  ``keepalive_interval + keepalive_timeout`` seconds, plus the 2 s the
  closing handshake may take (42 s by default), after the rewarder's last
  sign of life.  The client then reconnects as after any drop, and fails
  (``pop()``'s ``info["error"]``, every call raising) once
  ``start_timeout`` more seconds pass without a connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import random
import threading
import time
from collections import Counter
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed as WSConnectionClosed
from websockets.exceptions import InvalidStatus, InvalidURI

from ..error import AuthenticationError, ConnectionClosed, Error, Timeout, UsageError
from . import loop as shared_loop
from .buffer import RewardBuffer
from .log import RewardLog, websockets_logger
from .messages import (
    DEFAULT_PORT,
    MAX_MESSAGE_SIZE,
    SERVER,
    Message,
    MessageError,
    MessageFactory,
    RemoteError,
    basic_auth_header,
    decode,
    encode,
)
from .server import CLOSE_AUTH_FAILED, CLOSE_CLIENT_ACTIVE

__all__ = ["RewarderClient"]

logger = logging.getLogger("vncenv.rewarder.client")


class _Disconnected(Exception):
    """The connection a request went out on closed before the reply."""


class RewarderClient:
    """A connection to a remote's rewarder.

    :param host: the remote's address.
    :param port: its rewarder port (15900 by default).
    :param password: sent as ``authorization: Basic base64("<password>:")``;
        None sends no header.
    :param observer: connect as an observer (``openai-observer: true``):
        receive everything, send no reset.
    :param start_timeout: how long to keep trying to connect, at start and
        after each drop, before giving up.
    :param calibration_pings: pings sent on each new connection to bound the
        clock skew; one more every ``ping_interval`` seconds.
    :param backoff: ``(first, longest)`` delay between connection attempts, s.
    :param log: a path or :class:`~vncenv.rewarder.log.RewardLog`: every message sent and received.
    :param max_size: largest incoming message, in bytes (a bigger one drops
        the connection with code 1009, and the client reconnects).
    :param keepalive_interval: seconds between WebSocket keepalive pings;
        None sends none (a dead rewarder is then noticed only by TCP).
    :param keepalive_timeout: seconds a keepalive ping may go unanswered
        before the connection counts as lost.
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        password: str | None,
        observer: bool = False,
        start_timeout: float = 60.0,
        calibration_pings: int = 5,
        ping_interval: float = 30.0,
        backoff: tuple[float, float] = (0.1, 3.0),
        log: str | os.PathLike[str] | RewardLog | None = None,
        max_size: int = MAX_MESSAGE_SIZE,
        name: str | None = None,
        keepalive_interval: float | None = 20.0,
        keepalive_timeout: float | None = 20.0,
    ) -> None:
        if password is not None and not isinstance(password, str):
            raise UsageError("password must be a str or None")
        self.host = host
        self.port = int(port)
        self.observer = bool(observer)
        self.start_timeout = float(start_timeout)
        self.name = name or f"{host}:{port}"
        h = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.uri = f"ws://{h}:{self.port}"
        self._headers = {"openai-observer": "true" if self.observer else "false"}
        if password is not None:
            self._headers["authorization"] = basic_auth_header(password)
        self._calibration_pings = calibration_pings
        self._ping_interval = ping_interval
        self._backoff = backoff
        self._max_size = max_size
        for label, value in (("keepalive_interval", keepalive_interval), ("keepalive_timeout", keepalive_timeout)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise UsageError(f"{label} must be a positive number of seconds or None, not {value!r}")
        self._keepalive = (keepalive_interval, keepalive_timeout)
        self._own_log = False
        if log is None or isinstance(log, RewardLog):
            self._log = log
        else:
            self._log = RewardLog(log)
            self._own_log = True

        self.buffer = RewardBuffer()
        self._factory = MessageFactory()
        self._cond = threading.Condition()
        self._count_waiters = 0  # threads in wait_received()
        self._state = "new"  # new, connecting, connected, reconnecting, failed, closed
        self._error: Error | None = None
        self._connections = 0
        self._skew: tuple[float, float] | None = None
        self._rtts: list[float] = []
        self._last_lag: tuple[float, float] | None = None
        self._received: Counter[str] = Counter()
        self._sent: Counter[str] = Counter()
        self._bad_messages = 0
        self._remote_errors: list[str] = []

        # loop-thread state
        self._main: concurrent.futures.Future[None] | None = None
        self._ws: ClientConnection | None = None
        self._ready: asyncio.Event | None = None
        self._reset_lock: asyncio.Lock | None = None
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._closing = False

    # -- lifecycle ----------------------------------------------------------

    @classmethod
    def connect(
        cls, host: str, port: int = DEFAULT_PORT, *, password: str | None, timeout: float | None = None, **options: Any
    ) -> RewarderClient:
        """Build a client and :meth:`start` it; see the class for ``options``."""
        client = cls(host, port, password=password, **options)
        client.start(timeout=timeout)
        return client

    def start(self, timeout: float | None = None) -> None:
        """Connect (retrying until ``start_timeout``) and wait for the first describe.

        :param timeout: how long to wait; ``start_timeout`` plus a little by default.
        :raises vncenv.error.AuthenticationError: the rewarder refused the password.
        :raises vncenv.error.ConnectionClosed: the rewarder refused us otherwise
            (e.g. it already has an active client).
        :raises vncenv.error.Timeout: not connected in time.
        On any of these the client is closed.
        """
        with self._cond:
            if self._state != "new":
                raise UsageError(f"client already started ({self._state})")
            self._state = "connecting"
        self._main = shared_loop.submit(self._run())
        wait = self.start_timeout + 5.0 if timeout is None else timeout
        deadline = time.monotonic() + wait
        with self._cond:
            while self._state == "connecting":
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            state, error = self._state, self._error
        if state in ("connected", "reconnecting"):
            return
        self.close()
        if error is not None:
            raise error
        raise Timeout(f"rewarder {self.uri}: not connected within {wait} s")

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection and stop reconnecting.  Idempotent."""
        with self._cond:
            if self._state == "closed":
                return
            was_failed = self._state == "failed"
            self._state = "closed"
            self._cond.notify_all()
        main = self._main
        if main is not None and not main.done():
            try:
                shared_loop.run(self._aclose(), timeout, what=f"closing rewarder {self.uri}")
            except (Timeout, concurrent.futures.CancelledError, RuntimeError):
                pass
            main.cancel()  # it may be sleeping between attempts
            try:
                main.result(timeout)
            except BaseException:  # noqa: BLE001 - cancelled or already reported
                pass
        if self._own_log and self._log is not None:
            self._log.close()
        if not was_failed:
            logger.debug("rewarder client %s closed", self.name)

    def __enter__(self) -> RewarderClient:
        if self._state == "new":
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the agent's calls --------------------------------------------------

    def reset(
        self, env_id: str | None = None, seed: int | None = None, fps: float | None = None, timeout: float = 60.0
    ) -> int:
        """Ask the remote for a new episode; return its id once ``v0.reply.env.reset`` arrived.

        Rewards are dropped from the request until the reply; the buffer then
        reports on the new episode.  ``env_id`` and ``fps`` default to the
        remote's (from its describe).  If the connection drops meanwhile, the
        request is sent again on the next connection.

        :raises vncenv.rewarder.RemoteError: the remote refused the reset.
        :raises vncenv.error.Timeout: no reply within ``timeout`` s (a late
            reply still switches the buffer to the new episode).
        """
        self._check_usable()
        if self.observer:
            raise UsageError("an observer cannot reset the env")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise UsageError("seed must be an int or None")
        return shared_loop.run(self._areset(env_id, seed, fps), timeout, what=f"rewarder reset on {self.uri}")

    def pop(self) -> tuple[float, bool, dict[str, Any]]:
        """``(reward, done, info)`` since the last pop (see :class:`RewardBuffer`); never blocks.

        Adds to ``info``: ``lags`` (``{"rewarder_message": (lower, upper)}``
        seconds for the latest reward message, None before the clock skew is
        known), ``connected``, and ``error`` (text) once the client gave up.
        """
        reward, done, info = self.buffer.pop()
        with self._cond:
            info["lags"] = {"rewarder_message": self._last_lag}
            info["connected"] = self._state == "connected"
            if self._error is not None:
                info["error"] = str(self._error)
        return reward, done, info

    def ping(self, timeout: float = 10.0) -> float:
        """One ``v0.control.ping``; returns the round trip in seconds (and refines the skew bounds)."""
        self._check_usable()

        async def one() -> float:
            ws = await self._wait_ready()
            return await self._ping_once(ws)

        return shared_loop.run(one(), timeout, what=f"rewarder ping to {self.uri}")

    def send_action(self, body: dict[str, Any] | None = None, timeout: float = 10.0) -> None:
        """Send ``v0.agent.action`` with ``body`` (waits for a connection, not for the remote)."""
        self._check_usable()
        if self.observer:
            raise UsageError("an observer cannot send actions")
        msg = self._factory.action(body)

        async def send() -> None:
            ws = await self._wait_ready()
            try:
                await self._send(ws, msg)
            except WSConnectionClosed as exc:
                raise ConnectionClosed(f"rewarder {self.uri}: connection lost while sending an action: {exc}") from None

        shared_loop.run(send(), timeout, what=f"rewarder action to {self.uri}")

    def received(self, method: str) -> int:
        """How many ``method`` messages were received and handled so far."""
        with self._cond:
            return self._received.get(method, 0)

    def wait_received(self, method: str, more_than: int, timeout: float = 10.0) -> int:
        """Block until more than ``more_than`` ``method`` messages were handled; returns the count.

        :raises vncenv.error.Timeout: not within ``timeout`` s.
        :raises vncenv.error.Error: the client failed or closed meanwhile.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._count_waiters += 1
            try:
                while (n := self._received.get(method, 0)) <= more_than:
                    if self._error is not None:
                        raise self._error
                    if self._state == "closed":
                        raise ConnectionClosed(f"rewarder {self.uri}: client closed")
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Timeout(f"rewarder {self.uri}: no {method} within {timeout} s")
                    self._cond.wait(left)
                return n
            finally:
                self._count_waiters -= 1

    def wait_for(self, predicate: Any, timeout: float = 10.0, poll: float = 0.005) -> None:
        """Poll ``predicate(self)`` until it is true (for tests and tools).

        :raises vncenv.error.Timeout: still false after ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise Timeout(f"rewarder {self.uri}: condition not met within {timeout} s")
            time.sleep(poll)

    # -- state --------------------------------------------------------------

    @property
    def state(self) -> str:
        """``new``, ``connecting``, ``connected``, ``reconnecting``, ``failed`` or ``closed``."""
        with self._cond:
            return self._state

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    @property
    def connections(self) -> int:
        """Connections that got as far as a describe: 1, plus one per reconnection."""
        with self._cond:
            return self._connections

    @property
    def error(self) -> Error | None:
        """Why the client gave up, or None."""
        with self._cond:
            return self._error

    @property
    def clock_skew(self) -> tuple[float, float] | None:
        """Bounds ``(lower, upper)`` on ``remote clock - local clock``, seconds; None before a ping."""
        with self._cond:
            return self._skew

    @property
    def rtt(self) -> tuple[float, float] | None:
        """``(min, max)`` ping round trip on this connection, seconds; None before a ping."""
        with self._cond:
            return (min(self._rtts), max(self._rtts)) if self._rtts else None

    @property
    def env_id(self) -> str | None:
        return self.buffer.remote["env_id"]

    @property
    def env_state(self) -> str | None:
        return self.buffer.remote["env_state"]

    @property
    def fps(self) -> float | None:
        return self.buffer.remote["fps"]

    def stats(self) -> dict[str, Any]:
        """Counters: ``received`` and ``sent`` per method, ``bad_messages``,
        ``connections``, ``remote_errors`` (texts of unsolicited ``v0.reply.error``),
        ``buffer`` (:meth:`RewardBuffer.stats`)."""
        with self._cond:
            return {
                "received": dict(self._received),
                "sent": dict(self._sent),
                "bad_messages": self._bad_messages,
                "connections": self._connections,
                "remote_errors": list(self._remote_errors),
                "buffer": self.buffer.stats(),
            }

    def _check_usable(self) -> None:
        with self._cond:
            if self._state == "new":
                raise UsageError("client not started: call start() first")
            if self._state == "closed":
                raise UsageError("client closed")
            if self._error is not None:
                raise self._error

    # -- the loop side ------------------------------------------------------

    def _set(self, state: str, error: Error | None = None) -> None:
        with self._cond:
            if self._state == "closed":
                return
            self._state = state
            if error is not None:
                self._error = error
            self._cond.notify_all()

    async def _run(self) -> None:
        self._ready = asyncio.Event()
        self._reset_lock = asyncio.Lock()
        window_start = time.monotonic()
        attempt = 0
        last_problem = "no attempt yet"
        try:
            while not self._closing:
                remaining = self.start_timeout - (time.monotonic() - window_start)
                try:
                    ws = await connect(
                        self.uri,
                        additional_headers=self._headers,
                        max_size=self._max_size,
                        compression=None,
                        proxy=None,
                        open_timeout=max(0.5, min(10.0, remaining)),
                        ping_interval=self._keepalive[0],
                        ping_timeout=self._keepalive[1],
                        close_timeout=2,
                        logger=websockets_logger("client"),
                    )
                except InvalidStatus as e:
                    status = e.response.status_code
                    if status in (401, 403):
                        self._fail(AuthenticationError(f"rewarder {self.uri} refused the handshake: HTTP {status}"))
                        return
                    last_problem = f"HTTP {status}"
                except InvalidURI as e:
                    self._fail(UsageError(f"bad rewarder address {self.uri}: {e}"))
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - refused, reset, timeout, bad handshake: retry
                    last_problem = f"{type(e).__name__}: {e}"
                else:
                    fatal, last_problem, was_ready = await self._session(ws)
                    if fatal is not None and not (ws.close_code == CLOSE_CLIENT_ACTIVE and self._connections):
                        self._fail(fatal)
                        return
                    if self._closing:
                        return
                    if was_ready:  # a new window of start_timeout from the drop
                        self._set("reconnecting")
                        logger.warning("rewarder %s: connection lost (%s); reconnecting", self.name, last_problem)
                        window_start = time.monotonic()
                        attempt = 0
                elapsed = time.monotonic() - window_start
                if elapsed >= self.start_timeout:
                    self._fail(
                        Timeout(
                            f"rewarder {self.uri}: no connection within start_timeout={self.start_timeout} s "
                            f"(last: {last_problem})"
                        )
                    )
                    return
                first, longest = self._backoff
                delay = min(first * (2**attempt), longest) * random.uniform(0.8, 1.2)
                delay = min(delay, self.start_timeout - elapsed)
                attempt += 1
                logger.debug("rewarder %s: retry in %.2f s (%s)", self.name, delay, last_problem)
                await asyncio.sleep(delay)
        finally:
            if self._ready is not None:
                self._ready.set()  # wake waiters: they see the final state

    def _fail(self, error: Error) -> None:
        logger.error("rewarder %s: giving up: %s", self.name, error)
        self._set("failed", error)
        if self._ready is not None:
            self._ready.set()

    async def _aclose(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            await ws.close()
        if self._ready is not None:
            self._ready.set()

    async def _session(self, ws: ClientConnection) -> tuple[Error | None, str, bool]:
        """Read one connection until it closes: (a final error or None, what happened,
        whether it got as far as a describe)."""
        self._ws = ws
        self.buffer.on_connect()
        with self._cond:
            self._skew = None
            self._rtts = []
        close_message: str | None = None
        calibration: asyncio.Task[None] | None = None
        try:
            async for frame in ws:
                recv_time = time.time()
                try:
                    msg = decode(frame, SERVER)
                except MessageError as e:
                    with self._cond:
                        self._bad_messages += 1
                        n = self._bad_messages
                    if self._log is not None:
                        self._log.write_invalid("recv", frame, str(e))
                    logger.log(
                        logging.WARNING if n <= 20 else logging.DEBUG,
                        "rewarder %s sent a bad message: %s",
                        self.name,
                        e,
                    )
                    continue
                if self._log is not None:
                    self._log.write("recv", frame, recv_time)
                if msg.method == "v0.connection.close":
                    with self._cond:
                        self._received[msg.method] += 1
                    close_message = msg.body["message"]
                    logger.warning("rewarder %s closes the connection: %s", self.name, close_message)
                    break
                self._dispatch(msg, recv_time)
                with self._cond:  # counted once handled: a waiter woken by it finds it in the buffer
                    self._received[msg.method] += 1
                    if self._count_waiters:
                        self._cond.notify_all()
                if msg.method == "v0.env.describe" and calibration is None:
                    self._ready_now()
                    calibration = asyncio.get_running_loop().create_task(self._calibrate(ws))
        except WSConnectionClosed:
            pass
        finally:
            self._ws = None
            if self._ready is not None:
                self._ready.clear()
            if calibration is not None:
                calibration.cancel()
            pending, self._pending = self._pending, {}
            for fut in pending.values():
                if not fut.done():
                    fut.set_exception(_Disconnected())
                    fut.exception()  # a cancelled waiter may never read it: no "never retrieved" noise
        if close_message is not None:
            try:
                await asyncio.wait_for(ws.wait_closed(), 2.0)
            except asyncio.TimeoutError:
                await ws.close()
            if ws.close_code == CLOSE_AUTH_FAILED:
                error: Error = AuthenticationError(f"rewarder {self.uri} refused us: {close_message}")
            else:
                error = ConnectionClosed(f"rewarder {self.uri} closed the connection: {close_message}", clean=True)
            return error, close_message, calibration is not None
        await ws.close()
        return None, f"closed with code {ws.close_code}", calibration is not None

    def _ready_now(self) -> None:
        with self._cond:
            self._connections += 1
            first = self._connections == 1
        self._set("connected")
        assert self._ready is not None
        self._ready.set()
        logger.info("rewarder %s %s", self.name, "connected" if first else "reconnected")

    def _dispatch(self, msg: Message, recv_time: float) -> None:
        method = msg.method
        body = msg.body
        if method == "v0.env.reward":
            assert msg.episode_id is not None
            with self._cond:
                skew = self._skew
                if skew is not None:
                    base = recv_time - msg.sent_at
                    self._last_lag = (max(0.0, base + skew[0]), max(0.0, base + skew[1]))
            self.buffer.on_reward(msg.episode_id, body["reward"], body["done"], body["info"])
        elif method == "v0.env.describe":
            assert msg.episode_id is not None
            self.buffer.on_describe(msg.episode_id, body["env_id"], body["env_state"], body["fps"])
        elif method == "v0.env.text":
            self.buffer.on_text(msg.episode_id, body["text"])
        elif method == "v0.env.observation":
            self.buffer.on_observation(msg.episode_id, body["observation"])
        elif method == "v0.reply.env.reset":
            assert msg.episode_id is not None
            self.buffer.on_reset_reply(msg.episode_id)
            self._resolve(msg.parent_message_id, (msg, recv_time))
        elif method == "v0.reply.control.ping":
            self._resolve(msg.parent_message_id, (msg, recv_time))
        elif method == "v0.reply.error":
            fut = self._pending.pop(msg.parent_message_id, None)
            text = body["message"]
            if fut is not None and not fut.done():
                fut.set_exception(RemoteError(f"rewarder {self.uri}: {text}"))
            else:
                with self._cond:
                    self._remote_errors.append(text)
                    del self._remote_errors[:-100]
                logger.warning("rewarder %s reports an error: %s", self.name, text)

    def _resolve(self, parent: Any, value: Any) -> None:
        fut = self._pending.pop(parent, None)
        if fut is not None and not fut.done():
            fut.set_result(value)

    async def _send(self, ws: ClientConnection, msg: Message) -> None:
        data = encode(msg)
        await ws.send(data, text=True)
        if self._log is not None:
            self._log.write("send", data)
        with self._cond:
            self._sent[msg.method] += 1

    async def _request(self, ws: ClientConnection, msg: Message) -> Any:
        """Send ``msg`` and wait for the reply naming it as parent."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg.message_id] = fut
        try:
            try:
                await self._send(ws, msg)
            except WSConnectionClosed:
                raise _Disconnected() from None
            return await fut
        finally:
            self._pending.pop(msg.message_id, None)

    async def _wait_ready(self) -> ClientConnection:
        assert self._ready is not None
        while True:
            await self._ready.wait()
            with self._cond:
                state, error = self._state, self._error
            if error is not None:
                raise error
            if state == "closed" or self._closing:
                raise ConnectionClosed(f"rewarder {self.uri}: client closed", clean=True)
            if self._ws is not None:
                return self._ws
            await asyncio.sleep(0)

    async def _areset(self, env_id: str | None, seed: int | None, fps: float | None) -> int:
        assert self._reset_lock is not None
        async with self._reset_lock:
            self.buffer.mask()
            while True:
                ws = await self._wait_ready()
                remote = self.buffer.remote
                msg = self._factory.reset(env_id or remote["env_id"], seed, fps or remote["fps"])
                try:
                    reply, _ = await self._request(ws, msg)
                except _Disconnected:
                    logger.info("rewarder %s: connection lost during reset; will send it again", self.name)
                    continue
                except RemoteError:
                    self.buffer.unmask()
                    raise
                return reply.episode_id

    async def _ping_once(self, ws: ClientConnection, timeout: float = 10.0) -> float:
        msg = self._factory.ping()
        t0 = msg.sent_at
        try:
            reply, t1 = await asyncio.wait_for(self._request(ws, msg), timeout)
        except _Disconnected:
            raise ConnectionClosed(f"rewarder {self.uri}: connection lost during a ping") from None
        s = reply.sent_at
        lo, hi, rtt = s - t1, s - t0, t1 - t0
        with self._cond:
            if self._skew is None:
                self._skew = (lo, hi)
            else:
                nlo, nhi = max(self._skew[0], lo), min(self._skew[1], hi)
                self._skew = (nlo, nhi) if nlo <= nhi else (lo, hi)
            self._rtts.append(rtt)
            del self._rtts[:-1000]
        return rtt

    async def _calibrate(self, ws: ClientConnection) -> None:
        try:
            for _ in range(self._calibration_pings):
                await self._ping_once(ws)
            while True:
                await asyncio.sleep(self._ping_interval)
                await self._ping_once(ws)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a lost ping only delays the estimate
            logger.debug("rewarder %s: calibration ping failed: %s", self.name, e)

    def __repr__(self) -> str:
        return f"RewarderClient({self.uri}, {self.state}, observer={self.observer})"
