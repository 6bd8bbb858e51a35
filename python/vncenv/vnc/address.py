"""VNC server addresses, as users type them.

Accepted forms (one server):

* ``vnc://HOST[:PORT][+REWARDERPORT][?password=PW]`` -- PORT defaults to 5900;
* ``HOST::PORT`` -- a TCP port, as vncviewer and vncdotool write it;
* ``HOST:DISPLAY`` -- display number N means port 5900 + N;
* ``HOST`` -- port 5900.

HOST may be a name, an IPv4 address or a bracketed IPv6 address (``[::1]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from ..error import UsageError

__all__ = ["VNCAddress", "parse_address", "DEFAULT_VNC_PORT"]

DEFAULT_VNC_PORT = 5900

_HOST = r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+)"
_URL = re.compile(
    rf"^vnc://{_HOST}(?::(?P<port>\d+))?(?:\+(?P<rport>\d+))?/?(?:\?(?P<query>.*))?$"
)
_DOUBLE_COLON = re.compile(rf"^{_HOST}::(?P<port>\d+)$")
_DISPLAY = re.compile(rf"^{_HOST}(?::(?P<display>\d+))?$")


@dataclass(frozen=True)
class VNCAddress:
    """A parsed server address."""

    host: str
    port: int
    rewarder_port: int | None = None
    password: str | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        rewarder = f"+{self.rewarder_port}" if self.rewarder_port is not None else ""
        return f"vnc://{host}:{self.port}{rewarder}"


def _port(text: str, what: str, address: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise UsageError(f"{what} {value} in {address!r} is outside 1..65535")
    return value


def parse_address(address: str) -> VNCAddress:
    """Parse one server address; :class:`UsageError` says exactly what is wrong."""
    if not isinstance(address, str) or not address.strip():
        raise UsageError(f"empty VNC address {address!r}")
    text = address.strip()
    if text.startswith("vnc://"):
        m = _URL.match(text)
        if not m:
            raise UsageError(
                f"bad VNC address {address!r}: expected vnc://HOST[:PORT][+REWARDERPORT][?password=PW]"
            )
        password = None
        if m["query"]:
            query = parse_qs(m["query"], keep_blank_values=True, strict_parsing=False)
            unknown = set(query) - {"password"}
            if unknown:
                raise UsageError(f"unknown option(s) {sorted(unknown)} in {address!r}; only password= is known")
            if "password" in query:
                password = unquote(query["password"][-1])
        return VNCAddress(
            host=m["host"].strip("[]"),
            port=_port(m["port"], "port", address) if m["port"] else DEFAULT_VNC_PORT,
            rewarder_port=_port(m["rport"], "rewarder port", address) if m["rport"] else None,
            password=password,
        )
    if "://" in text:
        raise UsageError(f"bad VNC address {address!r}: only the vnc:// scheme is known")
    m = _DOUBLE_COLON.match(text)
    if m:
        return VNCAddress(host=m["host"].strip("[]"), port=_port(m["port"], "port", address))
    m = _DISPLAY.match(text)
    if m:
        display = int(m["display"]) if m["display"] else 0
        return VNCAddress(host=m["host"].strip("[]"), port=_port(str(DEFAULT_VNC_PORT + display), "port", address))
    raise UsageError(
        f"bad VNC address {address!r}: expected vnc://HOST:PORT, HOST::PORT or HOST:DISPLAY"
    )
