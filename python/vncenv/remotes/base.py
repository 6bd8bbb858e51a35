"""What every remote manager offers: allocate, ready, health, replace, close."""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Remote", "RemoteManager", "DEFAULT_REWARDER_PORT"]

DEFAULT_REWARDER_PORT = 15900


@dataclass(frozen=True)
class Remote:
    """One VNC server plus its rewarder, ready to be played.

    ``password`` opens both the VNC server and the rewarder (None: no auth).
    ``rewarder_port`` is None for a VNC-only remote.
    """

    name: str
    host: str
    vnc_port: int
    rewarder_port: int | None
    password: str | None = field(default=None, repr=False)
    env_id: str | None = None

    @property
    def vnc_address(self) -> str:
        return f"vnc://{self.host}:{self.vnc_port}"

    @property
    def address(self) -> str:
        rewarder = f"+{self.rewarder_port}" if self.rewarder_port is not None else ""
        return f"vnc://{self.host}:{self.vnc_port}{rewarder}"


class RemoteManager(abc.ABC):
    """Allocates remotes and keeps them alive.

    ``allocate(n)`` starts n remotes without waiting; ``ready(timeout)``
    waits for every allocated remote and returns them, in allocation order.
    A remote that died is reported by ``health()`` and swapped for a fresh one
    by ``replace(remote)``.  ``close()`` stops everything the manager started
    (also at interpreter exit); managers are context managers.
    """

    @abc.abstractmethod
    def allocate(self, n: int) -> None: ...

    @abc.abstractmethod
    def ready(self, timeout: float | None = None) -> list[Remote]: ...

    @abc.abstractmethod
    def health(self) -> dict[str, bool]:
        """Remote name -> whether it is alive."""

    @abc.abstractmethod
    def replace(self, remote: Remote, timeout: float | None = None) -> Remote: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> RemoteManager:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class StartedRemotes(RemoteManager):
    """A manager of remotes it starts itself (processes, containers).

    Each started remote is a record with ``remote`` and ``ready``;
    subclasses list them (``_started``) and wait for one (``_wait``).
    """

    start_timeout: float

    @abc.abstractmethod
    def _started(self) -> list[Any]:
        """The records of the remotes started, in allocation order."""

    @abc.abstractmethod
    def _wait(self, started: Any, timeout: float) -> None:
        """Block until one started remote answers; mark it ready."""

    def ready(self, timeout: float | None = None) -> list[Remote]:
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        started = self._started()
        for s in started:
            if not s.ready:
                self._wait(s, max(0.1, deadline - time.monotonic()))
        return [s.remote for s in started]
