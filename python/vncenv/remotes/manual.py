"""Manual remotes: servers someone else runs, named by address.

The grammar is ``vnc://HOST[:VNCPORT][+REWARDERPORT][,HOST...][?password=PW]``:
a comma-separated list of servers (each may repeat the ``vnc://`` prefix),
one optional password for all of them.  VNCPORT defaults to 5900; without
``+REWARDERPORT`` the remote has no rewarder.
"""

from __future__ import annotations

from ..error import UsageError
from ..vnc.address import parse_address
from .base import Remote, RemoteManager
from .probe import rfb_banner, wait_ready

__all__ = ["ManualManager", "parse_remotes"]


def parse_remotes(spec: str) -> list[Remote]:
    """Parse the manual grammar; :class:`UsageError` says exactly what is wrong."""
    if not isinstance(spec, str) or not spec.startswith("vnc://"):
        raise UsageError(f"manual remotes must start with vnc://, got {spec!r}")
    body, sep, query = spec[len("vnc://") :].partition("?")
    if not body:
        raise UsageError(f"no server in {spec!r}: expected vnc://HOST[:PORT][+REWARDERPORT]")
    remotes = []
    for i, item in enumerate(body.split(",")):
        item = item.strip()
        if item.startswith("vnc://"):
            item = item[len("vnc://") :]
        if not item:
            raise UsageError(f"empty server at position {i + 1} in {spec!r}")
        address = parse_address("vnc://" + item + (sep + query if sep else ""))
        remotes.append(
            Remote(f"manual-{i}-{address.host}:{address.port}", address.host, address.port,
                   address.rewarder_port, address.password)  # fmt: skip
        )
    servers = [(r.host, r.vnc_port) for r in remotes]
    if len(set(servers)) != len(servers):
        raise UsageError(f"the same server is listed twice in {spec!r}")
    return remotes


class ManualManager(RemoteManager):
    """Remotes at fixed addresses: nothing to start, nothing to stop.

    ``allocate(n)`` checks that the list holds at least n remotes; ``replace``
    waits for the same address to come back.
    """

    def __init__(self, spec: str, start_timeout: float = 60.0) -> None:
        self.remotes = parse_remotes(spec)
        self.start_timeout = start_timeout
        self._count = 0

    def allocate(self, n: int) -> None:
        if self._count + n > len(self.remotes):
            raise UsageError(f"asked for {self._count + n} remotes but the address list names {len(self.remotes)}")
        self._count += n

    def ready(self, timeout: float | None = None) -> list[Remote]:
        timeout = self.start_timeout if timeout is None else timeout
        chosen = self.remotes[: self._count]
        for r in chosen:
            wait_ready(r.host, r.vnc_port, r.rewarder_port, r.password, timeout, what=r.name)
        return chosen

    def health(self) -> dict[str, bool]:
        return {r.name: rfb_banner(r.host, r.vnc_port) is not None for r in self.remotes[: self._count]}

    def replace(self, remote: Remote, timeout: float | None = None) -> Remote:
        timeout = self.start_timeout if timeout is None else timeout
        wait_ready(remote.host, remote.vnc_port, remote.rewarder_port, remote.password, timeout, what=remote.name)
        return remote

    def close(self) -> None:
        self._count = 0
