"""Docker remotes against a real Docker engine (docker_support.py sets it up).

The runtime image is built by docker/build.py (cached on the engine); the
tests start remotes in containers, play ALE Pong in sync mode through them,
kill a container and see it replaced, reuse containers by client_id, reap
orphans, and check that nothing is left after close.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import pytest
from procs import alive, descendants

from docker_support import docker_client, docker_image  # noqa: F401  (session fixtures)
from vncenv.error import Error, Timeout, UsageError
from vncenv.remotes import build
from vncenv.remotes import docker as dockerremotes
from vncenv.remotes.docker import DockerManager, managed_containers, reap
from vncenv.rewarder import RewarderClient
from vncenv.runtimes.metadata import decode_strip
from vncenv.vnc.session import VNCSession

# The first test also builds the image when its inputs changed (minutes, once).
pytestmark = pytest.mark.timeout(900)

ENV = "ALE/Pong-v5"


def _play(remote, steps: int = 20) -> int:
    """Reset, send ``steps`` sync actions, and see the last frame's id on screen."""
    with VNCSession.connect(remote.host, remote.vnc_port, password=remote.password, encoding="zrle") as vnc, \
            RewarderClient.connect(remote.host, remote.rewarder_port, password=remote.password,
                                   start_timeout=30) as rewarder:  # fmt: skip
        rewarder.reset(ENV, seed=1, timeout=30)

        def act(n: int) -> dict:
            before = rewarder.stats()["received"].get("v0.env.reward", 0)
            for _ in range(n):
                rewarder.send_action({"action": 2})
            rewarder.wait_for(lambda c: c.stats()["received"].get("v0.env.reward", 0) >= before + n, timeout=30)
            return rewarder.pop()[2]

        def screen_shows(frame_id: int) -> None:
            deadline = time.monotonic() + 15
            while (meta := decode_strip(vnc.snapshot())) is None or meta.frame_id != frame_id:
                assert time.monotonic() < deadline, f"{remote.name}: screen shows {meta}, expected frame {frame_id}"
                try:
                    vnc.wait_for_update(timeout=0.2)
                except Timeout:
                    pass

        first = act(1)["env_info"]["frame_id"]
        screen_shows(first)
        info = act(steps)
        assert info["reward_count"] == steps
        assert info["env_info"]["frame_id"] == first + steps
        screen_shows(first + steps)
        return first + steps


def _host_processes(needles: list[str]) -> dict[int, str]:
    """Host processes whose command line contains one of ``needles``."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            found[int(entry)] = cmdline
    return found


def _mine(client) -> list:
    return managed_containers(client, owner_pid=str(os.getpid()))


def test_two_remotes_play_a_killed_one_is_replaced_and_close_leaves_nothing(docker_client, docker_image):
    t0 = time.monotonic()
    manager = build("docker://2", env_id=ENV, mode="sync", scale=1, image=docker_image)
    try:
        remotes = manager.ready(timeout=180)
        print(f"2 docker remotes ready in {time.monotonic() - t0:.1f} s")
        assert len(remotes) == 2 and len({r.name for r in remotes}) == 2
        assert len({r.vnc_port for r in remotes} | {r.rewarder_port for r in remotes}) == 4
        assert all(manager.health().values())

        # labelled, published on 127.0.0.1 with ports Docker chose
        for r in remotes:
            c = manager.container(r)
            assert c.labels["vncenv.managed"] == "1" and c.labels["vncenv.env_id"] == ENV
            assert c.labels["vncenv.owner_pid"] == str(os.getpid())
            bindings = c.attrs["NetworkSettings"]["Ports"]
            assert {b["HostIp"] for key in ("5900/tcp", "15900/tcp") for b in bindings[key]} == {"127.0.0.1"}
            assert (r.host, r.vnc_port) == ("127.0.0.1", int(bindings["5900/tcp"][0]["HostPort"]))
        for r in remotes:
            _play(r)

        # kill one: health reports it, replace gives a fresh working one
        victim, survivor = remotes
        manager.container(victim).kill()
        deadline = time.monotonic() + 20
        while manager.health()[victim.name]:
            assert time.monotonic() < deadline, "health() still reports the killed container alive"
            time.sleep(0.2)
        assert manager.health()[survivor.name]
        t1 = time.monotonic()
        fresh = manager.replace(victim, timeout=180)
        print(f"replacement ready in {time.monotonic() - t1:.1f} s")
        assert fresh.name not in (victim.name, survivor.name)
        assert manager.health() == {fresh.name: True, survivor.name: True}
        assert victim.name not in {c.name for c in managed_containers(docker_client)}  # the dead one is removed
        _play(fresh)
        _play(survivor, steps=5)

        # what must be gone after close: the containers, their processes, docker-proxy for their ports
        containers = [manager.container(r) for r in (fresh, survivor)]
        ports = [str(p) for r in (fresh, survivor) for p in (r.vnc_port, r.rewarder_port)]
        pids = set()
        for c in containers:
            c.reload()
            pids |= descendants(c.attrs["State"]["Pid"], include_self=True)
        pids |= set(_host_processes([c.id for c in containers] + [f"-host-port {p} " for p in ports]))
        assert len(pids) >= 4  # per container at least: docker-init, the runtime, Xvnc
    finally:
        manager.close()
    assert _mine(docker_client) == []
    deadline = time.monotonic() + 20
    while left := [p for p in pids if alive(p)]:
        assert time.monotonic() < deadline, {p: _host_processes([""]).get(p) for p in left}
        time.sleep(0.2)
    with pytest.raises(UsageError):
        manager.allocate(1)


def test_reuse_by_client_id(docker_client, docker_image):
    client_id = f"test-{os.getpid()}-{time.monotonic_ns()}"
    first = DockerManager(ENV, mode="sync", scale=1, client_id=client_id, keep=True, image=docker_image)
    try:
        first.allocate(1)
        (r1,) = first.ready(timeout=180)
        assert first.container(r1).labels["vncenv.client_id"] == client_id
        first.close()  # keep=True: left running for the next manager with this client_id
        assert [c.name for c in managed_containers(docker_client, client_id=client_id, all=False)] == [r1.name]

        t0 = time.monotonic()
        second = DockerManager(ENV, mode="sync", scale=1, client_id=client_id, image=docker_image)
        second.allocate(1)
        (r2,) = second.ready(timeout=60)
        reuse_time = time.monotonic() - t0
        assert (r2.name, r2.vnc_port, r2.password) == (r1.name, r1.vnc_port, r1.password)
        assert reuse_time < 10, reuse_time
        # another configuration (realtime) does not adopt it; nor does a second manager while it is held
        other = DockerManager(ENV, mode="realtime", scale=1, client_id=client_id, image=docker_image)
        assert other._adopt(1) == []
        third = DockerManager(ENV, mode="sync", scale=1, client_id=client_id, image=docker_image)
        assert third._adopt(1) == []
        _play(r2, steps=5)
        second.close()  # an adopted container stays unless asked
        assert [c.name for c in managed_containers(docker_client, client_id=client_id, all=False)] == [r1.name]

        last = DockerManager(ENV, mode="sync", scale=1, client_id=client_id, remove_reused=True, image=docker_image)
        last.allocate(1)
        assert last.ready(timeout=60)[0].name == r1.name
        last.close()
        assert managed_containers(docker_client, client_id=client_id) == []
    finally:
        for c in managed_containers(docker_client, client_id=client_id):
            c.remove(force=True)


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_reaper_removes_stale_containers_only(docker_client, docker_image):
    base = docker_client.images.get(docker_image).labels.get("vncenv.base", "vncenv-base:bookworm")
    me = dockerremotes._owner_labels()
    dead = {**me, "vncenv.owner_pid": str(_dead_pid()), "vncenv.owner_start": "1"}
    elsewhere = {**dead, "vncenv.owner_host": "some-other-machine/0"}
    tag = f"reaper-{os.getpid()}-{time.monotonic_ns()}"
    cases = {  # name: (labels, command, expect reaped)
        "orphan": ({**dead}, ["sleep", "600"], True),
        "stopped": ({**me}, ["true"], True),
        "mine": ({**me}, ["sleep", "600"], False),
        "parked": ({**dead, "vncenv.client_id": tag}, ["sleep", "600"], False),
        "elsewhere": ({**elsewhere}, ["sleep", "600"], False),
    }
    made = {}
    try:
        for name, (labels, command, _) in cases.items():
            made[name] = docker_client.containers.run(
                base, command, detach=True, name=f"{tag}-{name}", init=True,
                labels={**dockerremotes.MANAGED, "vncenv.test": tag, **labels},
            )  # fmt: skip
        made["stopped"].wait(timeout=30)
        removed = set(reap(docker_client))
        left = {c.name for c in managed_containers(docker_client, test=tag)}
        assert {f"{tag}-{n}" for n, case in cases.items() if case[2]} <= removed
        assert left == {f"{tag}-{n}" for n, case in cases.items() if not case[2]}
        assert set(reap(docker_client, include_client_ids=True)) >= {f"{tag}-parked"}
    finally:
        for c in made.values():
            try:
                c.remove(force=True)
            except Exception:
                pass


class _TcpToUnix:
    """DOCKER_HOST=tcp://127.0.0.1:PORT in front of the local engine's socket."""

    def __init__(self, path: str = "/var/run/docker.sock") -> None:
        self.path = path
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.path)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


def test_tcp_docker_host(docker_client, docker_image):
    if (os.environ.get("DOCKER_HOST") or "unix://").split("://")[0] != "unix":
        pytest.fail("this test puts a tcp:// endpoint in front of a local unix socket engine")
    proxy = _TcpToUnix((os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")[len("unix://"):])
    try:
        with DockerManager(ENV, mode="sync", scale=1, docker_host=f"tcp://127.0.0.1:{proxy.port}",
                           image=docker_image) as manager:  # fmt: skip
            manager.allocate(1)
            (remote,) = manager.ready(timeout=180)
            assert remote.host == "127.0.0.1"
            _play(remote, steps=5)
        assert _mine(docker_client) == []
    finally:
        proxy.close()


def test_where_remotes_are_reached_for_each_docker_host():
    def where(url, **kw):
        m = DockerManager.__new__(DockerManager)
        m.docker_host, m.bind, m._tunnel = url, kw.get("bind", "127.0.0.1"), False
        return m._where(kw.get("connect_host")), m._tunnel

    assert where("unix:///var/run/docker.sock") == ("127.0.0.1", False)
    assert where("unix:///var/run/docker.sock", bind="0.0.0.0") == ("127.0.0.1", False)
    assert where("tcp://127.0.0.1:2375") == ("127.0.0.1", False)
    assert where("tcp://engine.example:2376", bind="0.0.0.0") == ("engine.example", False)
    assert where("tcp://engine.example:2376", bind="10.0.0.5") == ("10.0.0.5", False)
    assert where("ssh://me@engine.example:2222") == ("127.0.0.1", True)  # tunnels
    assert where("ssh://engine.example", bind="0.0.0.0") == ("engine.example", False)
    assert where("tcp://engine.example:2376", connect_host="gw") == ("gw", False)
    with pytest.raises(UsageError, match="cannot be reached from here"):
        where("tcp://engine.example:2376")


def test_clear_errors(docker_client, docker_image):
    with pytest.raises(Error, match=r"cannot reach the Docker engine at unix:///nonexistent/docker.sock"):
        DockerManager(ENV, docker_host="unix:///nonexistent/docker.sock")
    with pytest.raises(Error, match=r"is not on the Docker engine.*python3 docker/build.py"):
        DockerManager(ENV, image="vncenv-runtime:no-such-version")
    with pytest.raises(UsageError):
        build("docker://0", env_id=ENV)
    with pytest.raises(UsageError, match="keep=True needs a client_id"):
        DockerManager(ENV, keep=True, image=docker_image)
