"""The one background asyncio loop that all rewarder clients of a process share.

It starts on first use (never on import: ``import vncenv`` starts no thread)
as a daemon thread named ``vncenv-rewarder-loop``, and stops at interpreter
exit or on :func:`shutdown`.  After a ``fork`` the child starts its own.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..error import Timeout

__all__ = ["get_loop", "submit", "run", "shutdown", "running"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pid: int | None = None
_atexit_registered = False

THREAD_NAME = "vncenv-rewarder-loop"


def _run_loop(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    try:
        loop.run_forever()
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def get_loop() -> asyncio.AbstractEventLoop:
    """The shared loop, started on first call."""
    global _loop, _thread, _pid, _atexit_registered
    with _lock:
        if _loop is not None and _pid == os.getpid() and _thread is not None and _thread.is_alive():
            return _loop
        loop = asyncio.new_event_loop()
        started = threading.Event()
        thread = threading.Thread(target=_run_loop, args=(loop, started), name=THREAD_NAME, daemon=True)
        thread.start()
        started.wait()
        _loop, _thread, _pid = loop, thread, os.getpid()
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return loop


def running() -> bool:
    """True when the shared loop's thread is alive (in this process)."""
    with _lock:
        return _thread is not None and _thread.is_alive() and _pid == os.getpid()


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule ``coro`` on the shared loop; returns a thread-safe future."""
    return asyncio.run_coroutine_threadsafe(coro, get_loop())


def run(coro: Coroutine[Any, Any, T], timeout: float | None, what: str = "operation") -> T:
    """Run ``coro`` on the shared loop and wait for its result.

    :raises vncenv.error.Timeout: not done in ``timeout`` seconds (the
        coroutine is then cancelled).
    """
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("a blocking rewarder call was made from the rewarder loop itself")
    fut = submit(coro)
    try:
        return fut.result(timeout)
    except concurrent.futures.TimeoutError:
        fut.cancel()
        raise Timeout(f"{what} did not finish within {timeout} s") from None


def shutdown(timeout: float = 5.0) -> None:
    """Stop the shared loop: cancel its tasks, close it, join its thread.

    Clients still open lose their connection.  The next use starts a new loop.
    """
    global _loop, _thread, _pid
    with _lock:
        loop, thread, pid = _loop, _thread, _pid
        _loop = _thread = _pid = None
    if loop is None or thread is None or pid != os.getpid():
        return
    if thread.is_alive():
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            pass
        thread.join(timeout)
