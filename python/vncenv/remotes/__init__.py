"""Remote managers: where the programs agents play come from.

``build(remotes, ...)`` picks the manager from ``remotes``:

* an int N or ``"local://N"`` -- N local processes (:class:`LocalManager`);
* ``"docker://N"`` -- N containers on the Docker engine of ``DOCKER_HOST``;
* ``"vnc://HOST[:PORT][+RPORT][,...][?password=PW]"`` -- servers run elsewhere.
"""

from __future__ import annotations

import re
from typing import Any

from ..error import UsageError
from .base import Remote, RemoteManager

__all__ = ["build", "Remote", "RemoteManager"]

_COUNT = re.compile(r"^(local|docker)://(\d+)$")


def build(remotes: int | str, *, env_id: str | None = None, runtime: str = "gym-core", **options: Any) -> RemoteManager:
    """A manager for ``remotes``, with its remotes allocated (not yet ready:
    call ``manager.ready(timeout)``)."""
    if isinstance(remotes, bool):
        raise UsageError("remotes must be an int or a string, not a bool")
    if isinstance(remotes, int):
        kind, count = "local", remotes
    elif isinstance(remotes, str) and (m := _COUNT.match(remotes.strip())):
        kind, count = m[1], int(m[2])
    elif isinstance(remotes, str) and remotes.strip().startswith("vnc://"):
        from .manual import ManualManager

        manager = ManualManager(remotes.strip(), start_timeout=options.get("start_timeout", 60.0))
        manager.allocate(len(manager.remotes))
        return manager
    else:
        raise UsageError(
            f"remotes={remotes!r}: expected an int, 'local://N', 'docker://N' or 'vnc://HOST:PORT+RPORT,...'"
        )
    if count < 1:
        raise UsageError(f"remotes={remotes!r}: at least one remote is needed")
    if env_id is None:
        raise UsageError(f"{kind} remotes need an env_id to serve")
    manager: RemoteManager
    if kind == "local":
        from .local import LocalManager

        manager = LocalManager(env_id, runtime=runtime, **options)
    else:
        from .docker import DockerManager

        manager = DockerManager(env_id, runtime=runtime, **options)
    manager.allocate(count)
    return manager
