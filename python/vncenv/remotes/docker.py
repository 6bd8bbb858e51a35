"""Docker remotes: one container of the runtime image per remote.

:class:`DockerManager` talks to the Docker engine through the docker SDK
(``pip install 'vncenv[docker]'``).  Each remote is one container of
``vncenv-runtime:<version>`` (built from ``docker/`` by
``python3 docker/build.py``), which serves VNC on 5900 and the rewarder on
15900 inside the container.  The manager publishes both on ``bind``
(127.0.0.1 by default) with host ports that Docker chooses, reads them back
after the start, and waits with the same readiness probe as local remotes
(:func:`vncenv.remotes.probe.wait_ready`).

Labels
    Every container carries ``vncenv.managed=1``, ``vncenv.env_id``,
    ``vncenv.runtime``, ``vncenv.mode``, ``vncenv.fps``, ``vncenv.scale``, and
    its owner: ``vncenv.owner_pid``, ``vncenv.owner_host`` (this machine's
    hostname and boot id) and ``vncenv.owner_start`` (the owner's start time,
    so a recycled pid is not taken for the owner); ``vncenv.client_id`` when a
    ``client_id`` is given.  ``docker ps --filter label=vncenv.managed=1``
    lists them.

Reuse by ``client_id``
    A manager with a ``client_id`` first adopts running containers labelled
    with the same ``client_id`` that serve the same env, runtime, mode, fps
    and scale from the same image (and the same password, if one is given),
    and that no live process on this machine owns (its owner died, or it is
    this process and no other manager here uses it).  ``keep=True`` leaves the
    containers running at :meth:`~DockerManager.close` so that the next run
    with the same ``client_id`` finds them ready; one ``client_id`` is meant
    for one client process at a time.  The password of an adopted container
    is read from its environment (whoever can inspect containers on the
    engine can enter them anyway).

Reaper
    :func:`reap` (run by every new manager unless ``reap=False``) removes
    managed containers that stopped, and running ones whose owner ran on this
    machine and is gone, unless they carry a ``client_id`` (those are kept
    for reuse; ``reap(client, include_client_ids=True)`` removes them too).
    Owners on other machines are never judged.  ``python -m
    vncenv.remotes.docker ls|reap`` does the same from a shell.

Engine restarts
    A dockerd that stops takes its containers with it (unless it runs with
    ``live-restore``): their remotes die, and :meth:`~DockerManager.replace`
    re-allocates them -- it waits (within its timeout) for the engine to
    answer again, removes the dead container and starts a new one; the
    docker client reconnects by itself.

``DOCKER_HOST``
    ``unix://`` (the default socket), ``tcp://HOST:PORT`` (TLS from
    ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH`` as the docker CLI reads them)
    and ``ssh://[USER@]HOST[:PORT]`` all work; the ``docker_host`` argument
    overrides the environment.  ssh needs paramiko (``pip install paramiko``:
    the SDK imports it for every ssh:// engine) and then talks through the
    ``ssh`` command when there is one (``VNCENV_DOCKER_SSH=paramiko`` forces
    paramiko); login must be key-based and non-interactive, the host known,
    and the docker CLI installed on the engine's host (``docker system
    dial-stdio``).
    Where the remotes are reached:

    * the engine is on this machine (unix, or tcp/ssh to a loopback host):
      at ``bind`` (127.0.0.1);
    * ``ssh://HOST`` with a loopback ``bind``: through one ``ssh -N -L``
      tunnel per remote (local ports on 127.0.0.1), so nothing is published
      beyond the engine host's loopback;
    * ``tcp://HOST`` or ``ssh://HOST`` with ``bind="0.0.0.0"`` (or an address
      of that host): at HOST (or ``bind``) directly -- mind that this exposes
      the remotes to that network (they are password-protected);
    * ``connect_host`` overrides the address in every case.

    A loopback ``bind`` on a remote tcp engine is refused up front: nothing
    here could reach those ports.
"""

from __future__ import annotations

import atexit
import datetime
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import weakref
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..error import Error, Timeout, UsageError
from .base import Remote, StartedRemotes
from .probe import wait_ready

__all__ = [
    "DockerManager",
    "DEFAULT_IMAGE",
    "BUILD_COMMAND",
    "connect",
    "reap",
    "managed_containers",
    "LABEL_PREFIX",
]

DEFAULT_IMAGE = f"vncenv-runtime:{__version__}"
BUILD_COMMAND = "python3 docker/build.py"  # from a vncenv checkout
VNC_PORT, REWARDER_PORT = 5900, 15900  # inside the container
LABEL_PREFIX = "vncenv."
MANAGED = {"vncenv.managed": "1"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "ip6-localhost"}
_CREATED_GRACE = 60.0  # a container that never started is stale after this long

_managers: weakref.WeakSet[DockerManager] = weakref.WeakSet()
_in_use: set[str] = set()  # ids of containers a live manager of this process holds
_in_use_lock = threading.Lock()


# -- the engine -----------------------------------------------------------------


def _sdk() -> Any:
    try:
        import docker
    except ImportError as exc:
        raise Error("docker remotes need the docker SDK: pip install 'vncenv[docker]' (or docker>=7)") from exc
    if not hasattr(docker, "DockerClient"):  # e.g. a folder named docker/ shadowing the SDK
        raise Error(f"`import docker` found {getattr(docker, '__path__', docker)!r}, not the docker SDK: "
                    "pip install 'docker>=7'")  # fmt: skip
    return docker


def _default_docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(docker_host: str | None = None, *, timeout: float = 120.0) -> Any:
    """A ``docker.DockerClient`` for ``docker_host`` (default ``$DOCKER_HOST``),
    checked with a ping.

    :raises vncenv.error.Error: the SDK is missing or the engine does not answer.
    """
    docker = _sdk()
    url = docker_host or _default_docker_host()
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("unix", "tcp", "ssh", "http", "https", "npipe"):
        raise UsageError(f"DOCKER_HOST {url!r}: expected unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]")
    environment = dict(os.environ, DOCKER_HOST=url)
    kwargs = docker.utils.kwargs_from_env(environment=environment)
    if scheme == "ssh":
        try:  # the SDK's ssh transport imports paramiko even when it shells out to ssh
            import paramiko  # noqa: F401
        except ImportError:
            raise Error(f"DOCKER_HOST={url} needs paramiko: pip install paramiko (or 'docker[ssh]')") from None
        # The ssh command honours ~/.ssh/config, agents and known_hosts in full,
        # and the tunnels to the remotes use it too; paramiko is the fallback.
        kwargs["use_ssh_client"] = shutil.which("ssh") is not None and os.environ.get("VNCENV_DOCKER_SSH") != "paramiko"
    try:
        client = docker.DockerClient(timeout=int(timeout), **kwargs)
        client.ping()
    except Exception as exc:
        hint = ""
        if scheme == "unix":
            hint = " Is dockerd running (e.g. `dockerd --storage-driver vfs &` as root), and may you use its socket?"
        raise Error(f"cannot reach the Docker engine at {url}: {exc}.{hint}") from exc
    return client


def _host_identity() -> str:
    """This machine, as owners are labelled: hostname and kernel boot id."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()[:8]
    except OSError:
        boot = "?"
    return f"{socket.gethostname()}/{boot}"


def _process_start(pid: int) -> str | None:
    """A process's start time (clock ticks since boot), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def _owner_alive(labels: dict[str, str]) -> bool | None:
    """Whether a container's owner still runs; None when it ran on another machine."""
    if labels.get("vncenv.owner_host") != _host_identity():
        return None
    try:
        pid = int(labels.get("vncenv.owner_pid", ""))
    except ValueError:
        return None
    start = _process_start(pid)
    if start is None:
        return False
    return labels.get("vncenv.owner_start") in (None, "", start)


def _owner_labels() -> dict[str, str]:
    pid = os.getpid()
    return {"vncenv.owner_pid": str(pid), "vncenv.owner_host": _host_identity(),
            "vncenv.owner_start": _process_start(pid) or ""}  # fmt: skip


def managed_containers(client: Any, *, all: bool = True, **labels: str) -> list[Any]:
    """Containers labelled ``vncenv.managed=1`` (and ``vncenv.<key>=<value>``
    for each keyword), stopped ones too unless ``all=False``."""
    filters = [f"{k}={v}" for k, v in MANAGED.items()]
    filters += [f"{LABEL_PREFIX}{k}={v}" for k, v in labels.items()]
    return client.containers.list(all=all, filters={"label": filters}, ignore_removed=True)


def _created_age(container: Any) -> float:
    created = container.attrs.get("Created", "")
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", created)
    if not m:
        return 0.0
    then = datetime.datetime.fromisoformat(m[1]).replace(tzinfo=datetime.timezone.utc)
    return (datetime.datetime.now(datetime.timezone.utc) - then).total_seconds()


def _stale(container: Any, include_client_ids: bool) -> str | None:
    """Why ``container`` should be reaped, or None."""
    status, labels = container.status, container.labels
    if status in ("exited", "dead"):
        return status
    if status == "created" and _created_age(container) > _CREATED_GRACE:
        return "never started"
    if status in ("running", "paused", "restarting") and _owner_alive(labels) is False:
        if labels.get("vncenv.client_id") and not include_client_ids:
            return None  # parked for reuse by its client_id
        return f"owner pid {labels.get('vncenv.owner_pid')} is gone"
    return None


def reap(client: Any, *, include_client_ids: bool = False, verbose: bool = False) -> list[str]:
    """Remove stale managed containers (see the module docstring); returns their names.

    Containers a live manager of this process holds are never touched.
    """
    removed = []
    for container in managed_containers(client):
        with _in_use_lock:
            if container.id in _in_use:
                continue
        why = _stale(container, include_client_ids)
        if why is None:
            continue
        try:
            container.remove(force=True)
        except Exception as exc:  # gone already, or being removed by someone else
            if verbose:
                print(f"vncenv: could not remove {container.name}: {exc}", file=sys.stderr)
            continue
        removed.append(container.name)
        if verbose:
            print(f"vncenv: reaped {container.name} ({why})", file=sys.stderr)
    return removed


_reap = reap  # DockerManager's `reap` argument shadows the name


# -- where the remotes are reached ----------------------------------------------


def _engine_host(url: str) -> tuple[str, str | None, int | None, str | None]:
    """(scheme, host, port, user) of a DOCKER_HOST url."""
    parsed = urllib.parse.urlsplit(url)
    return parsed.scheme, parsed.hostname, parsed.port, parsed.username


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return True
    if host in _LOOPBACK or host.startswith("127."):
        return True
    return False


def _unspecified(bind: str) -> bool:
    return bind in ("", "0.0.0.0", "::")


# -- the manager ----------------------------------------------------------------


@dataclass
class _Container:
    remote: Remote
    container: Any
    reused: bool
    tunnel: subprocess.Popen | None = None
    ready: bool = False


class DockerManager(StartedRemotes):
    """Run remotes as containers of the runtime image (see the module docstring).

    :param env_id: the Gymnasium id every remote serves.
    :param runtime: the runtime to serve (``"gym-core"``).
    :param fps: frames per second (realtime mode).
    :param mode: ``"realtime"`` or ``"sync"``.
    :param scale: upscaling of the env's frames on screen.
    :param password: the remotes' password; None makes a random one each.
    :param client_id: label the containers with it and adopt running ones
        that carry it.
    :param image: the runtime image (``python3 docker/build.py`` builds it).
    :param docker_host: the engine; default ``$DOCKER_HOST``, else the local socket.
    :param bind: the host address Docker publishes the ports on.
    :param connect_host: the address clients use (default: see the module docstring).
    :param start_timeout: seconds a remote may take to become ready.
    :param reap: reap stale containers when the manager starts.
    :param keep: leave the containers running at :meth:`close` (for reuse
        by ``client_id``).
    :param remove_reused: :meth:`close` also removes adopted containers.
    :param run_options: extra keyword arguments for ``containers.run``
        (e.g. ``mem_limit``, ``cpuset_cpus``).
    :param parallel_starts: how many containers :meth:`allocate` creates at once.
    """

    def __init__(
        self,
        env_id: str,
        *,
        runtime: str = "gym-core",
        fps: float = 60.0,
        mode: str = "realtime",
        scale: int = 2,
        password: str | None = None,
        client_id: str | None = None,
        image: str = DEFAULT_IMAGE,
        docker_host: str | None = None,
        bind: str = "127.0.0.1",
        connect_host: str | None = None,
        start_timeout: float = 120.0,
        reap: bool = True,
        keep: bool = False,
        remove_reused: bool = False,
        run_options: dict[str, Any] | None = None,
        parallel_starts: int = 4,
    ) -> None:
        if runtime != "gym-core":
            raise UsageError(f"unknown runtime {runtime!r}; the runtime image serves 'gym-core'")
        if mode not in ("realtime", "sync"):
            raise UsageError(f"mode must be 'realtime' or 'sync', not {mode!r}")
        if keep and not client_id:
            raise UsageError("keep=True needs a client_id: kept containers are found again by it")
        self.env_id, self.runtime, self.mode = env_id, runtime, mode
        self.fps, self.scale = float(fps), int(scale)
        self.password, self.client_id, self.image = password, client_id, image
        self.docker_host = docker_host or _default_docker_host()
        self.bind, self.start_timeout = bind, start_timeout
        self.keep, self.remove_reused = keep, remove_reused
        self.run_options = dict(run_options or {})
        self.parallel_starts = max(1, int(parallel_starts))
        self._tunnel = False
        self.connect_host = self._where(connect_host)
        self.client = connect(self.docker_host)
        docker = _sdk()
        try:
            self.image_id = self.client.images.get(image).id
        except docker.errors.ImageNotFound:
            self.client.close()
            raise Error(
                f"image {image!r} is not on the Docker engine at {self.docker_host}: build it with "
                f"`{BUILD_COMMAND}` from a vncenv checkout (see docker/Dockerfile)"
            ) from None
        self._containers: list[_Container] = []
        self._lock = threading.Lock()
        self._closed = False
        _managers.add(self)
        if reap:
            _reap(self.client)

    def _where(self, connect_host: str | None) -> str:
        """The address clients reach published ports at; decides on ssh tunnels."""
        scheme, host, _, _ = _engine_host(self.docker_host)
        local = scheme in ("unix", "npipe") or _is_loopback(host)
        if connect_host:
            return connect_host
        if local:
            return "127.0.0.1" if _unspecified(self.bind) else self.bind
        if _unspecified(self.bind):
            return host
        if _is_loopback(self.bind):
            if scheme == "ssh":
                if shutil.which("ssh") is None:
                    raise Error("ssh:// remotes on a loopback bind are reached through ssh tunnels: install ssh")
                self._tunnel = True
                return "127.0.0.1"
            raise UsageError(
                f"bind={self.bind!r} publishes the remotes on the loopback of {host}, which cannot be reached "
                f"from here: pass bind='0.0.0.0' (or an address of {host}), or use DOCKER_HOST=ssh://{host} "
                "(tunnels), or connect_host=... if you forward the ports yourself"
            )
        return self.bind

    # -- allocation -------------------------------------------------------------

    def allocate(self, n: int) -> None:
        if self._closed:
            raise UsageError("the manager is closed")
        if n < 0:
            raise UsageError(f"cannot allocate {n} remotes")
        adopted = self._adopt(n) if self.client_id else []
        with self._lock:
            self._containers.extend(adopted)
        todo = n - len(adopted)
        if todo <= 1:
            started = [self._start() for _ in range(todo)]
        else:  # overlap them: with vfs here two took about as long as one (9 s vs 8 s)
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(todo, self.parallel_starts)) as pool:
                futures = [pool.submit(self._start) for _ in range(todo)]
            started, errors = [], []
            for f in futures:
                try:
                    started.append(f.result())
                except BaseException as exc:
                    errors.append(exc)
            if errors:
                for c in started:
                    self._release(c, remove=True)
                raise errors[0]
        with self._lock:
            self._containers.extend(started)

    def _labels(self) -> dict[str, str]:
        labels = {**MANAGED, "vncenv.env_id": self.env_id, "vncenv.runtime": self.runtime,
                  "vncenv.mode": self.mode, "vncenv.fps": repr(self.fps), "vncenv.scale": str(self.scale),
                  **_owner_labels()}  # fmt: skip
        if self.client_id:
            labels["vncenv.client_id"] = self.client_id
        return labels

    def _start(self) -> _Container:
        docker = _sdk()
        password = self.password if self.password is not None else secrets.token_urlsafe(6)[:8]
        slug = re.sub(r"[^a-z0-9]+", "-", self.env_id.lower()).strip("-")[:40] or "env"
        environment = {"VNCENV_ENV_ID": self.env_id, "VNCENV_PASSWORD": password, "VNCENV_MODE": self.mode,
                       "VNCENV_FPS": repr(self.fps), "VNCENV_SCALE": str(self.scale),
                       "VNCENV_RUNTIME": self.runtime}  # fmt: skip
        options = {"init": True, **self.run_options}
        for _ in range(5):
            name = f"vncenv-{slug}-{secrets.token_hex(4)}"
            try:
                container = self.client.containers.run(
                    self.image_id, detach=True, name=name, labels=self._labels(), environment=environment,
                    ports={f"{VNC_PORT}/tcp": (self.bind, None), f"{REWARDER_PORT}/tcp": (self.bind, None)},
                    **options,
                )  # fmt: skip
                break
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and "already in use" in str(exc):
                    continue  # a name clash: draw another
                raise Error(f"could not start a container of {self.image}: {exc}") from exc
            except Exception as exc:  # the engine went away (requests' ConnectionError, ...)
                raise Error(f"could not start a container of {self.image} on {self.docker_host}: {exc}") from exc
        else:
            raise Error("could not find a free container name")
        with _in_use_lock:
            _in_use.add(container.id)
        try:
            return self._attach(container, password, reused=False)
        except BaseException:
            _remove(container)
            raise

    def _attach(self, container: Any, password: str, *, reused: bool) -> _Container:
        """Read the published ports back (and open a tunnel if needed)."""
        deadline = time.monotonic() + 10
        while True:
            container.reload()
            ports = container.ports or {}
            try:
                vnc = int(ports[f"{VNC_PORT}/tcp"][0]["HostPort"])
                rewarder = int(ports[f"{REWARDER_PORT}/tcp"][0]["HostPort"])
                break
            except (KeyError, IndexError, TypeError, ValueError):
                if container.status not in ("created", "running") or time.monotonic() > deadline:
                    raise Error(f"container {container.name} ({container.status}) published no ports: "
                                f"{ports}\n{_logs(container)}") from None  # fmt: skip
                time.sleep(0.05)
        tunnel = None
        if self._tunnel:
            tunnel, vnc, rewarder = self._open_tunnel(vnc, rewarder)
        remote = Remote(container.name, self.connect_host, vnc, rewarder, password, self.env_id)
        return _Container(remote, container, reused, tunnel)

    def _open_tunnel(self, vnc: int, rewarder: int) -> tuple[subprocess.Popen, int, int]:
        from ..runtimes.xvnc import free_tcp_ports

        _, host, port, user = _engine_host(self.docker_host)
        local_vnc, local_rewarder = free_tcp_ports(2)
        args = ["ssh", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes",
                "-L", f"127.0.0.1:{local_vnc}:{self.bind}:{vnc}",
                "-L", f"127.0.0.1:{local_rewarder}:{self.bind}:{rewarder}"]  # fmt: skip
        if port:
            args += ["-p", str(port)]
        args.append(f"{user}@{host}" if user else host)
        tunnel = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
        return tunnel, local_vnc, local_rewarder

    def _adopt(self, n: int) -> list[_Container]:
        """Running containers of our client_id and configuration that nobody uses."""
        want = self._labels()
        adopted: list[_Container] = []
        for container in managed_containers(self.client, all=False, client_id=self.client_id):
            if len(adopted) >= n:
                break
            labels = container.labels
            if any(labels.get(k) != want[k] for k in ("vncenv.env_id", "vncenv.runtime", "vncenv.mode",
                                                      "vncenv.fps", "vncenv.scale")):  # fmt: skip
                continue
            if container.attrs.get("Image") != self.image_id or container.status != "running":
                continue
            if _owner_alive(labels) and labels.get("vncenv.owner_pid") != str(os.getpid()):
                continue  # another live process on this machine holds it
            env = dict(e.split("=", 1) for e in container.attrs.get("Config", {}).get("Env") or [] if "=" in e)
            password = env.get("VNCENV_PASSWORD")
            if not password or (self.password is not None and password != self.password):
                continue
            with _in_use_lock:
                if container.id in _in_use:
                    continue
                _in_use.add(container.id)
            try:
                adopted.append(self._attach(container, password, reused=True))
            except Error:
                with _in_use_lock:
                    _in_use.discard(container.id)
        return adopted

    # -- readiness ----------------------------------------------------------------

    def _started(self) -> list[_Container]:
        with self._lock:
            return list(self._containers)

    def _wait(self, c: _Container, timeout: float) -> None:
        r = c.remote
        checked = [0.0, True]

        def alive() -> bool:  # one engine call per half second at most
            now = time.monotonic()
            if now - checked[0] >= 0.5:
                checked[0], checked[1] = now, self._alive(c)
            return checked[1]

        try:
            wait_ready(r.host, r.vnc_port, r.rewarder_port, r.password, timeout, alive=alive, what=r.name)
        except Error as exc:
            raise type(exc)(f"{exc}; container {c.container.name} ({self._status(c)}) log:\n"
                            f"{_logs(c.container)}{_tunnel_error(c)}") from exc  # fmt: skip
        c.ready = True

    # -- health -----------------------------------------------------------------

    def _status(self, c: _Container) -> str:
        try:
            c.container.reload()
        except Exception:
            return "removed"
        return c.container.status

    def _alive(self, c: _Container) -> bool:
        if c.tunnel is not None and c.tunnel.poll() is not None:
            return False
        return self._status(c) == "running"

    def health(self) -> dict[str, bool]:
        with self._lock:
            containers = list(self._containers)
        return {c.remote.name: self._alive(c) for c in containers}

    def container(self, remote: Remote) -> Any:
        """The docker SDK ``Container`` behind ``remote``."""
        return self._find(remote)[1].container

    def logs(self, remote: Remote, tail: int = 100) -> str:
        return _logs(self.container(remote), tail)

    def _find(self, remote: Remote) -> tuple[int, _Container]:
        with self._lock:
            for i, c in enumerate(self._containers):
                if c.remote.name == remote.name:
                    return i, c
        raise UsageError(f"{remote.name} is not one of this manager's remotes")

    def replace(self, remote: Remote, timeout: float | None = None) -> Remote:
        """Remove ``remote``'s container (dead or not) and start a fresh one in its place.

        An engine that does not answer (dockerd restarting: its containers
        died with it unless it runs with live-restore) is waited for, within
        ``timeout``; the client reconnects by itself once it answers.
        """
        if self._closed:
            raise UsageError("the manager is closed")
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        index, old = self._find(remote)
        self._wait_engine(deadline)
        self._release(old, remove=True)
        fresh = self._start()
        with self._lock:
            self._containers[index] = fresh
        self._wait(fresh, max(0.1, deadline - time.monotonic()))
        return fresh.remote

    def _wait_engine(self, deadline: float) -> None:
        """Return once the engine answers a ping; :class:`Error` if it does not by ``deadline``."""
        delay = 0.1
        while True:
            try:
                self.client.ping()
                return
            except Exception as exc:  # refused, reset, no socket file: dockerd is down or starting
                if time.monotonic() + delay > deadline:
                    raise Error(f"the Docker engine at {self.docker_host} does not answer: {exc}") from exc
            time.sleep(delay)
            delay = min(2 * delay, 1.0)

    # -- teardown ---------------------------------------------------------------

    def _release(self, c: _Container, *, remove: bool) -> None:
        if c.tunnel is not None and c.tunnel.poll() is None:
            c.tunnel.terminate()
            try:
                c.tunnel.wait(5)
            except subprocess.TimeoutExpired:
                c.tunnel.kill()
                c.tunnel.wait()
        if remove:
            _remove(c.container)
        with _in_use_lock:
            _in_use.discard(c.container.id)

    def close(self, remove_reused: bool | None = None) -> None:
        """Remove the containers this manager started (all of them if
        ``remove_reused``; none with ``keep=True``); idempotent."""
        self._closed = True
        remove_reused = self.remove_reused if remove_reused is None else remove_reused
        with self._lock:
            containers, self._containers = self._containers, []
        threads = []
        for c in containers:
            remove = not self.keep and (remove_reused or not c.reused)
            t = threading.Thread(target=self._release, args=(c,), kwargs={"remove": remove}, daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(60)
        self.client.close()  # its connections (and, for ssh, its ssh processes)

    def __repr__(self) -> str:
        return f"<DockerManager {self.env_id} on {self.docker_host} remotes={len(self._containers)}>"


def _remove(container: Any) -> None:
    """Kill and remove a container; fine if it is gone already."""
    try:
        container.remove(force=True)
    except Exception as exc:
        if getattr(exc, "status_code", None) not in (404, 409):  # gone, or removal under way
            print(f"vncenv: could not remove container {container.name}: {exc}", file=sys.stderr)


def _logs(container: Any, tail: int = 40) -> str:
    try:
        return container.logs(tail=tail).decode("utf-8", "replace")
    except Exception as exc:
        return f"(no log: {exc})"


def _tunnel_error(c: _Container) -> str:
    if c.tunnel is None or c.tunnel.poll() is None:
        return ""
    err = c.tunnel.stderr.read().decode("utf-8", "replace") if c.tunnel.stderr else ""
    return f"\nssh tunnel exited with {c.tunnel.returncode}: {err.strip()}"


@atexit.register
def _close_all() -> None:
    for manager in list(_managers):
        try:
            manager.close()
        except Exception:
            pass


# -- command line ---------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m vncenv.remotes.docker ls|reap [--all]``."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m vncenv.remotes.docker", description="vncenv's Docker remotes")
    p.add_argument("--docker-host", help="the engine (default $DOCKER_HOST)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("ls", help="list the managed containers")
    r = sub.add_parser("reap", help="remove stale managed containers")
    r.add_argument("--include-client-ids", action="store_true",
                   help="also containers kept for reuse by a client_id whose owner is gone")  # fmt: skip
    r.add_argument("--all", action="store_true", help="remove every managed container, stale or not")
    args = p.parse_args(argv)
    try:
        client = connect(args.docker_host)
    except Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "ls":
        for c in managed_containers(client):
            labels = c.labels
            alive = {True: "alive", False: "gone", None: "elsewhere"}[_owner_alive(labels)]
            print(f"{c.name}\t{c.status}\t{labels.get('vncenv.env_id')}\tclient_id={labels.get('vncenv.client_id', '')}"
                  f"\towner={labels.get('vncenv.owner_pid')} ({alive})\tstale={_stale(c, False) or 'no'}")  # fmt: skip
        return 0
    if args.all:
        for c in managed_containers(client):
            _remove(c)
            print(f"removed {c.name}")
        return 0
    removed = reap(client, include_client_ids=args.include_client_ids, verbose=True)
    print(f"reaped {len(removed)} container(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
