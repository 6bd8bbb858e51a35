"""RewarderServer: the server side of rewarder v0, for env authors to embed.

See the package docstring (:mod:`vncenv.rewarder`) for an example.

Threads.  :meth:`RewarderServer.start` runs the server on its own thread and
asyncio loop; ``await server.start_async()`` runs it on the caller's loop.
Either way every publish method may be called from any thread: it builds the
message under the state lock and queues it to the loop (``call_soon_threadsafe``),
so messages go out in the order of the state changes that made them.  The
reset and action callbacks run on one worker thread, one at a time, in the
order the requests came.  No lock is held while a callback runs, so a
callback may hand the work to the thread that publishes (a game loop) and
wait for it.

Episodes.  The server owns the episode id.  A client's reset and the env's
own ``with server.resetting():`` (after ``done``) each begin the next
episode; if they overlap, the client's reply names an episode begun after
both, so the client never sees its episode end at once.  :meth:`close`
closes connections with code 1001 (going away): clients then reconnect, as
they do when the server process dies.

Connections.  The server checks the ``authorization`` header (Universe's
quirk: ``Basic base64("<password>:")``), then admits one active client and
any number of observers (``openai-observer: true``).  A refused connection
gets ``v0.connection.close`` with the reason, then a close frame with code
4001 (authentication) or 4009 (another client is active).  Every admitted
connection first gets ``v0.env.describe``.  A malformed message is answered
with ``v0.reply.error`` and the connection stays open.  Incoming messages are
limited to ``max_size`` bytes (1 MiB by default; a larger one closes that
connection with code 1009).  A connection whose unsent data grows over
``max_write_buffer`` (it stopped reading) is dropped, and so is one that
leaves a keepalive ping unanswered for ``keepalive_timeout`` seconds (pings
go every ``keepalive_interval``): a frozen client is let go at most
``keepalive_interval + keepalive_timeout`` + 2 s (the closing handshake's
timeout) after its last sign of life, 42 s by default.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import inspect
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed as WSConnectionClosed

from ..error import Timeout, UsageError
from .log import RewardLog, websockets_logger
from .messages import (
    CLIENT,
    DEFAULT_PORT,
    ENV_STATES,
    MAX_MESSAGE_SIZE,
    Message,
    MessageError,
    MessageFactory,
    decode,
    encode,
    parse_basic_auth,
)

__all__ = ["RewarderServer", "CLOSE_AUTH_FAILED", "CLOSE_CLIENT_ACTIVE"]

logger = logging.getLogger("vncenv.rewarder.server")

#: WebSocket close code after a refused authorization.
CLOSE_AUTH_FAILED = 4001
#: WebSocket close code when another active client is connected.
CLOSE_CLIENT_ACTIVE = 4009

ResetCallback = Callable[[str, "int | None", float], Any]
ActionCallback = Callable[[dict[str, Any]], Any]


class _Conn:
    __slots__ = ("ws", "observer", "peer", "received")

    def __init__(self, ws: ServerConnection, observer: bool, peer: str) -> None:
        self.ws = ws
        self.observer = observer
        self.peer = peer
        self.received = 0


def _peer(ws: ServerConnection) -> str:
    addr = ws.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


class RewarderServer:
    """A rewarder v0 server.

    :param host: address to bind; loopback by default.  Bind another only on
        a trusted network: the password travels in clear.
    :param port: TCP port; 0 picks a free one (read :attr:`port` after start).
    :param password: what clients must send in the ``authorization`` header;
        None accepts every client (only for local tries).
    :param env_id: the env served, sent in ``v0.env.describe``.
    :param fps: the env's frame rate, sent in ``v0.env.describe``.
    :param on_reset: ``on_reset(env_id, seed, fps)``, called on a worker
        thread (or awaited, if a coroutine function) when the active client
        asks for a reset, between ``describe(resetting, N)`` and the reply.
        It may switch the game when ``env_id`` names another one.  Raise to
        refuse: the client gets ``v0.reply.error`` with the exception's text
        and the remote carries on (running episode N, previous env).  Without
        a callback, a reset just starts a new episode of the same env.
    :param on_action: ``on_action(body)`` for ``v0.agent.action``, on the
        same worker thread.
    :param episode_id: the first episode's id.
    :param env_state: the first episode's state.
    :param log: a path or :class:`RewardLog`: every message sent and received.
    :param max_size: largest incoming message, in bytes.
    :param max_write_buffer: unsent bytes after which a connection is dropped.
    :param keepalive_interval: seconds between WebSocket keepalive pings to
        each client; None sends none.
    :param keepalive_timeout: seconds a keepalive ping may go unanswered
        before that client is dropped.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        password: str | None,
        env_id: str,
        fps: float = 60.0,
        on_reset: ResetCallback | None = None,
        on_action: ActionCallback | None = None,
        episode_id: int = 0,
        env_state: str = "running",
        log: str | os.PathLike[str] | RewardLog | None = None,
        max_size: int = MAX_MESSAGE_SIZE,
        max_write_buffer: int = 16 << 20,
        keepalive_interval: float | None = 20.0,
        keepalive_timeout: float | None = 20.0,
    ) -> None:
        if password is not None and not isinstance(password, str):
            raise UsageError("password must be a str or None")
        if not isinstance(env_id, str) or not env_id:
            raise UsageError("env_id must be a non-empty str")
        if env_state not in ENV_STATES:
            raise UsageError(f"env_state must be one of {ENV_STATES}")
        self.host = host
        self._port_arg = int(port)
        self._password = password
        self._on_reset = on_reset
        self._on_action = on_action
        self._max_size = max_size
        self._max_write_buffer = max_write_buffer
        for label, value in (("keepalive_interval", keepalive_interval), ("keepalive_timeout", keepalive_timeout)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise UsageError(f"{label} must be a positive number of seconds or None, not {value!r}")
        self._keepalive = (keepalive_interval, keepalive_timeout)
        self._factory = MessageFactory()
        # Describe a bad first episode early.
        self._factory.describe(env_id, env_state, fps, episode_id)

        # Guards the env state below and the order of queued sends.  Held only
        # for short, non-blocking steps: never around a callback or a `resetting()`
        # block, so a callback that waits for the thread that publishes cannot deadlock.
        self._lock = threading.RLock()
        self._env_id = env_id
        self._fps = fps
        self._episode_id = episode_id
        self._env_state = env_state
        self._done_sent_for: int | None = None
        self._warned_after_done: int | None = None

        self._changed = threading.Condition(threading.Lock())  # clients came or went
        self._conns: dict[ServerConnection, _Conn] = {}
        self._active: ServerConnection | None = None
        self._sent: Counter[str] = Counter()
        self._received: Counter[str] = Counter()
        self._errors = 0
        self._refused = 0

        self._own_log = False
        if log is None or isinstance(log, RewardLog):
            self._log = log
        else:
            self._log = RewardLog(log)
            self._own_log = True

        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._port: int | None = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------

    def start(self, timeout: float = 10.0) -> RewarderServer:
        """Bind and serve on a new thread with its own loop; returns self once listening.

        :raises OSError: the address could not be bound.
        """
        if self._loop is not None or self._closed:
            raise UsageError("server already started (or closed)")
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as e:  # noqa: BLE001 - handed to start()
                ready.set_exception(e)
                loop.close()
                return
            ready.set_result(None)
            try:
                loop.run_forever()
            finally:
                tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in tasks:
                    t.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="vncenv-rewarder-server", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout)
        except concurrent.futures.TimeoutError:
            raise Timeout(f"rewarder server did not start within {timeout} s") from None
        except BaseException:
            self._thread.join(timeout)
            self._thread = None
            self._loop = None
            self._closed = True
            self._close_log()
            raise
        if self._thread is not None:
            self._thread.name = f"vncenv-rewarder-server-{self._port}"
        return self

    async def start_async(self) -> None:
        """Bind and serve on the running loop (the caller's)."""
        if self._server is not None or self._closed:
            raise UsageError("server already started (or closed)")
        self._loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="vncenv-rewarder-callback"
        )
        try:
            self._server = await serve(
                self._handler,
                self.host,
                self._port_arg,
                max_size=self._max_size,
                compression=None,
                ping_interval=self._keepalive[0],
                ping_timeout=self._keepalive[1],
                close_timeout=2,
                server_header=None,
                logger=websockets_logger("server"),
            )
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            self._loop = None
            raise
        self._port = self._server.sockets[0].getsockname()[1]
        logger.info("rewarder listening on %s:%d (env_id=%s)", self.host, self._port, self._env_id)

    def close(self, timeout: float = 10.0) -> None:
        """Close every connection (code 1001), stop listening, stop the thread.  Idempotent."""
        loop = self._loop
        if self._closed or loop is None:
            self._closed = True
            self._close_log()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or threading.current_thread() is self._thread:
            raise UsageError("close() called on the server's own loop; use `await server.aclose()`")
        executor = None
        try:
            executor = asyncio.run_coroutine_threadsafe(self._aclose(), loop).result(timeout)
        except concurrent.futures.TimeoutError:
            logger.warning("rewarder server did not close within %s s", timeout)
        except RuntimeError:  # loop already closed
            pass
        if executor is not None:
            executor.shutdown(wait=True)
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)
            self._thread = None

    async def aclose(self) -> None:
        """Close every connection, stop listening, wait for a running callback (on the server's loop)."""
        executor = await self._aclose()
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, True)

    async def _aclose(self) -> concurrent.futures.ThreadPoolExecutor | None:
        """Close; return the callback executor for the caller to join (not on the loop:
        a coroutine callback needs the loop to finish)."""
        if self._closed:
            return None
        self._closed = True
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
            except asyncio.TimeoutError:
                logger.warning("rewarder connections did not close in time")
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self._close_log()
        with self._changed:
            self._changed.notify_all()
        logger.info("rewarder on port %s closed", self._port)
        return executor

    def _close_log(self) -> None:
        if self._own_log and self._log is not None:
            self._log.close()

    def __enter__(self) -> RewarderServer:
        if self._loop is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> RewarderServer:
        if self._loop is None:
            await self.start_async()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- properties ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._port is None:
            raise UsageError("server not started")
        return self._port

    @property
    def address(self) -> str:
        """``ws://host:port``."""
        return f"ws://{self.host}:{self.port}"

    @property
    def episode_id(self) -> int:
        with self._lock:
            return self._episode_id

    @property
    def env_state(self) -> str:
        with self._lock:
            return self._env_state

    @property
    def env_id(self) -> str:
        with self._lock:
            return self._env_id

    @property
    def fps(self) -> float:
        with self._lock:
            return self._fps

    @property
    def closed(self) -> bool:
        return self._closed

    def clients(self) -> tuple[int, int]:
        """``(active, observers)``: how many of each are connected (active is 0 or 1)."""
        with self._changed:
            observers = sum(1 for c in self._conns.values() if c.observer)
            return len(self._conns) - observers, observers

    def wait_for_clients(self, active: int = 1, observers: int = 0, timeout: float = 10.0) -> None:
        """Block until at least ``active`` active clients and ``observers`` observers are connected
        (and have been sent their describe).

        :raises vncenv.error.Timeout: not within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                n_obs = sum(1 for c in self._conns.values() if c.observer)
                if len(self._conns) - n_obs >= active and n_obs >= observers:
                    return
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise Timeout(
                        f"rewarder clients: wanted {active} active + {observers} observers, "
                        f"have {len(self._conns) - n_obs} + {n_obs} after {timeout} s"
                    )
                self._changed.wait(left)

    def stats(self) -> dict[str, Any]:
        """Counters: ``sent`` and ``received`` (per method), ``errors`` (bad
        messages received), ``refused`` (connections), ``clients``."""
        return {
            "sent": dict(self._sent),
            "received": dict(self._received),
            "errors": self._errors,
            "refused": self._refused,
            "clients": self.clients(),
        }

    # -- publishing (any thread) --------------------------------------------

    def publish_reward(
        self, reward: float, done: bool = False, info: dict[str, Any] | None = None, *, episode_id: int | None = None
    ) -> None:
        """Send ``v0.env.reward`` to every client, for the current episode (or ``episode_id``).

        After ``done=True`` the remote should reset itself
        (``with server.resetting(): ...``): further rewards of the same
        episode are stale for clients.
        """
        with self._lock:
            eid = self._episode_id if episode_id is None else episode_id
            msg = self._factory.reward(reward, done, info, eid)
            if self._done_sent_for == eid and self._warned_after_done != eid:
                self._warned_after_done = eid
                logger.warning(
                    "reward published for episode %d after done=True; reset first "
                    "(`with server.resetting(): ...`), clients drop it as stale",
                    eid,
                )
            if msg.body["done"]:
                self._done_sent_for = eid
            self._queue_all(msg)

    def publish_text(self, text: str, *, episode_id: int | None = None) -> None:
        """Send ``v0.env.text`` to every client."""
        with self._lock:
            eid = self._episode_id if episode_id is None else episode_id
            self._queue_all(self._factory.text(text, eid))

    def publish_observation(self, observation: Any, *, episode_id: int | None = None) -> None:
        """Send ``v0.env.observation`` (any JSON value) to every client."""
        with self._lock:
            eid = self._episode_id if episode_id is None else episode_id
            self._queue_all(self._factory.observation(observation, eid))

    def publish_describe(self, env_id: str | None = None, fps: float | None = None) -> None:
        """Change ``env_id`` / ``fps`` if given, and send ``v0.env.describe`` to every client."""
        with self._lock:
            msg = self._factory.describe(env_id or self._env_id, self._env_state, fps or self._fps, self._episode_id)
            self._env_id = msg.body["env_id"]
            self._fps = msg.body["fps"]
            self._queue_all(msg)

    def begin_reset(self, env_id: str | None = None, fps: float | None = None) -> int:
        """Start the next episode: its id goes up by one, the state is
        ``resetting``, clients get ``describe(resetting, N)``.  Returns N.

        Pair with :meth:`end_reset`; :meth:`resetting` does both.
        """
        with self._lock:
            n = self._episode_id + 1
            msg = self._factory.describe(env_id or self._env_id, "resetting", fps or self._fps, n)
            self._episode_id = n
            self._env_state = "resetting"
            self._env_id = msg.body["env_id"]
            self._fps = msg.body["fps"]
            self._queue_all(msg)
            return n

    def end_reset(self, episode_id: int | None = None) -> bool:
        """The episode begun by :meth:`begin_reset` runs: clients get ``describe(running, N)``.

        With ``episode_id`` (what :meth:`begin_reset` returned), nothing happens
        if another reset began a newer episode meanwhile (that one ends it);
        returns whether the state changed.
        """
        with self._lock:
            if episode_id is not None and episode_id != self._episode_id:
                return False
            self._env_state = "running"
            self._queue_all(self._factory.describe(self._env_id, "running", self._fps, self._episode_id))
            return True

    @contextlib.contextmanager
    def resetting(self, env_id: str | None = None, fps: float | None = None) -> Iterator[int]:
        """Reset the env inside the block: ``describe(resetting, N)`` before,
        ``describe(running, N)`` after.  Yields N.  If the block raises, the
        state stays ``resetting``.

        Use it when the env is done::

            server.publish_reward(r, done=True)
            with server.resetting():
                env.reset()

        A client's reset may overlap the block (it runs on the callback
        thread); whichever began last ends the resetting state, and the
        client's reply names the newest episode.
        """
        n = self.begin_reset(env_id, fps)
        yield n
        self.end_reset(n)

    # -- sending (loop thread) ----------------------------------------------

    def _queue_all(self, msg: Message) -> None:
        """Queue ``msg`` for every connection; the state lock is held, so the order is the state's."""
        data = encode(msg)
        loop = self._loop
        if loop is None:
            if self._closed:
                return
            raise UsageError("server not started: call start() (or await start_async()) first")
        try:
            loop.call_soon_threadsafe(self._send_all, data, msg.method)
        except RuntimeError:  # the loop closed under us: the server is closing
            pass

    def _queue_to(self, ws: ServerConnection, msg: Message) -> None:
        data = encode(msg)
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._send_to, ws, data, msg.method)
        except RuntimeError:
            pass

    def _send_all(self, data: bytes, method: str) -> None:
        conns = list(self._conns)
        if self._log is not None:
            self._log.write("send", data)
        self._sent[method] += 1
        if conns:
            # A str goes out as a text frame (broadcast's text= needs websockets >= 17).
            broadcast(conns, data.decode(), raise_exceptions=False)
            self._check_slow(conns)

    def _send_to(self, ws: ServerConnection, data: bytes, method: str) -> None:
        if self._log is not None:
            self._log.write("send", data)
        self._sent[method] += 1
        broadcast([ws], data.decode(), raise_exceptions=False)
        self._check_slow([ws])

    def _check_slow(self, conns: list[ServerConnection]) -> None:
        for ws in conns:
            transport = ws.transport
            if transport is not None and transport.get_write_buffer_size() > self._max_write_buffer:
                with self._changed:
                    conn = self._conns.pop(ws, None)  # no more broadcasts to it
                    self._changed.notify_all()
                logger.warning(
                    "rewarder client %s stopped reading (%d bytes unsent): dropping it",
                    conn.peer if conn else "?",
                    transport.get_write_buffer_size(),
                )
                transport.abort()

    def _attach(self, ws: ServerConnection, conn: _Conn, describe: bytes) -> None:
        """Queued after the describe was built: from here on ``ws`` gets every broadcast."""
        if ws.state.name != "OPEN":
            return
        with self._changed:
            self._conns[ws] = conn
            self._changed.notify_all()
        self._send_to(ws, describe, "v0.env.describe")

    # -- connections (loop thread) ------------------------------------------

    async def _refuse(self, ws: ServerConnection, peer: str, message: str, code: int, reason: str) -> None:
        self._refused += 1
        logger.info("rewarder refused %s: %s", peer, reason)
        data = encode(self._factory.connection_close(message))
        if self._log is not None:
            self._log.write("send", data)
        self._sent["v0.connection.close"] += 1
        with contextlib.suppress(WSConnectionClosed):
            await ws.send(data, text=True)
        await ws.close(code, reason)

    def _auth_failure(self, ws: ServerConnection) -> tuple[str, str] | None:
        """None if the request may connect, else (message for the client, short reason)."""
        if self._password is None:
            return None
        header = ws.request.headers.get("authorization") if ws.request is not None else None
        if header is None:
            return (
                "No authorization header supplied. Send 'authorization: Basic base64(\"<password>:\")' "
                "(the password in the username slot).",
                "no authorization header",
            )
        supplied = parse_basic_auth(header)
        if supplied is None:
            return (
                "Could not parse the authorization header. Send 'authorization: Basic base64(\"<password>:\")' "
                "(the password in the username slot).",
                "malformed authorization header",
            )
        if not hmac.compare_digest(supplied.encode(), self._password.encode()):
            return (
                "Invalid password. Connect with the remote's password, e.g. vnc://host:5900+15900?password=PW.",
                "invalid password",
            )
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        peer = _peer(ws)
        failure = self._auth_failure(ws)
        if failure is not None:
            await self._refuse(ws, peer, failure[0], CLOSE_AUTH_FAILED, "authentication failed")
            return
        observer_header = ws.request.headers.get("openai-observer", "false") if ws.request else "false"
        observer = observer_header.strip().lower() == "true"
        if not observer and self._active is not None:
            other = self._conns.get(self._active)
            await self._refuse(
                ws,
                peer,
                "The rewarder already has an active client"
                + (f" ({other.peer})" if other else "")
                + ". Only one agent may drive a remote: close the other client, use another remote, "
                "or connect with 'openai-observer: true' to watch.",
                CLOSE_CLIENT_ACTIVE,
                "another client is active",
            )
            return
        conn = _Conn(ws, observer, peer)
        if not observer:
            self._active = ws
        logger.info("rewarder client %s connected (%s)", peer, "observer" if observer else "active")
        with self._lock:
            describe = encode(self._factory.describe(self._env_id, self._env_state, self._fps, self._episode_id))
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._attach, ws, conn, describe)
        try:
            async for frame in ws:
                self._on_frame(ws, conn, frame)
        except WSConnectionClosed:
            pass
        finally:
            if self._active is ws:
                self._active = None
            with self._changed:
                self._conns.pop(ws, None)
                self._changed.notify_all()
            logger.info(
                "rewarder client %s disconnected (code %s, %d messages received)", peer, ws.close_code, conn.received
            )

    def _on_frame(self, ws: ServerConnection, conn: _Conn, frame: str | bytes) -> None:
        conn.received += 1
        try:
            msg = decode(frame, CLIENT)
        except MessageError as e:
            self._errors += 1
            if self._log is not None:
                self._log.write_invalid("recv", frame, str(e))
            level = logging.WARNING if self._errors <= 20 else logging.DEBUG
            logger.log(level, "rewarder client %s sent a bad message: %s", conn.peer, e)
            self._queue_to(ws, self._factory.reply_error(f"bad message: {e}", e.message_id))
            return
        if self._log is not None:
            self._log.write("recv", frame)
        self._received[msg.method] += 1
        method = msg.method
        if method == "v0.control.ping":
            self._queue_to(ws, self._factory.reply_ping(msg.message_id))
        elif conn.observer:
            self._queue_to(ws, self._factory.reply_error(f"{method}: observers may not send it", msg.message_id))
        elif method == "v0.env.reset":
            self._submit(self._remote_reset, ws, msg)
        elif method == "v0.agent.action":
            if self._on_action is not None:
                self._submit(self._run_action, msg.body)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._executor is None:
            return
        try:
            self._executor.submit(fn, *args)
        except RuntimeError:  # shut down
            pass

    # -- callbacks (worker thread) ------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if inspect.iscoroutinefunction(fn):
            assert self._loop is not None
            return asyncio.run_coroutine_threadsafe(fn(*args), self._loop).result()
        return fn(*args)

    def _run_action(self, body: dict[str, Any]) -> None:
        try:
            self._call(self._on_action, body)  # type: ignore[arg-type]
        except Exception:
            logger.exception("rewarder on_action callback failed")

    def _remote_reset(self, ws: ServerConnection, msg: Message) -> None:
        body = msg.body
        parent = msg.message_id
        with self._lock:
            old_env, old_fps = self._env_id, self._fps
            env_id = body.get("env_id") or old_env
            fps = body.get("fps") or old_fps
            if self._on_reset is None and env_id != old_env:
                error = f"this rewarder serves {old_env!r} only; it cannot switch to {env_id!r}"
                self._queue_to(ws, self._factory.reply_error(error, parent))
                return
            n = self.begin_reset(env_id, fps)
        logger.info("rewarder reset to episode %d (env_id=%s seed=%s fps=%s)", n, env_id, body.get("seed"), fps)
        try:
            if self._on_reset is not None:
                self._call(self._on_reset, env_id, body.get("seed"), fps)
        except Exception as e:
            logger.warning("rewarder on_reset callback failed: %s", e, exc_info=True)
            with self._lock:
                if self._episode_id == n:
                    self._env_id, self._fps = old_env, old_fps
                    self.end_reset(n)
                self._queue_to(ws, self._factory.reply_error(f"reset failed: {e}", parent))
            return
        with self._lock:
            if self._episode_id != n:
                # The env began another episode while we reset (it was done, say):
                # the client's episode must be newer than everything it saw.
                n = self.begin_reset()
            self._queue_to(ws, self._factory.reply_reset(n, parent))
            self.end_reset(n)

    def __repr__(self) -> str:
        port = self._port if self._port is not None else self._port_arg
        return f"RewarderServer({self.host}:{port}, env_id={self._env_id!r}, episode={self._episode_id})"
