"""Serve your own program as a remote: any X program on Xvnc, plus a reward function.

    python examples/custom_runtime.py              # 5 seconds
    python examples/custom_runtime.py --seconds 20 --program xclock

A remote is a VNC server plus a rewarder.  This file builds one from parts,
then plays it:

The remote (what a runtime does; it could run on another machine)
    * ``Xvnc``: an X display with a VNC server built in (loopback, password);
    * ``xeyes`` on it -- any X program works: xterm, xclock, a game, a browser;
    * a ``RewarderServer`` that publishes, ten times a second, a reward
      computed from something observable: how close the X pointer is to a
      target square (``+1`` inside it, otherwise ``-distance / diagonal``).
      When the pointer has stayed on the target for half a second the episode
      is done and the remote resets itself (the pointer jumps back to the
      corner); a client's reset does the same.

The agent (what an RL client does)
    * a ``VNCSession`` sees the screen and moves the pointer;
    * a ``RewarderClient`` resets the episode and collects the rewards.
    It steers the pointer to the target, ten steps a second, and prints what
    it got.  (``gymnasium.make("vncenv/...")`` / ``VNCEnv`` serve the
    gym-core runtime's games; for your own program, these two clients are
    the API.)

Everything it started is stopped at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import subprocess
import threading
import time

from Xlib import display as xdisplay

from vncenv.rewarder import RewarderClient, RewarderServer
from vncenv.runtimes.xvnc import Xvnc
from vncenv.vnc.session import VNCSession

WIDTH, HEIGHT = 320, 240
TARGET = (240, 160, 40)  # x, y, side of the target square
START = (10, 10)  # where each episode puts the pointer
HZ = 10  # rewards (and agent steps) per second


class PointerGame:
    """The reward function, read from the X server: where is the pointer?"""

    def __init__(self, display_name: str) -> None:
        self._x = xdisplay.Display(display_name)
        self._root = self._x.screen().root
        self._lock = threading.Lock()  # the reward thread and the reset callback share the connection
        self.on_target_since: float | None = None

    def pointer(self) -> tuple[int, int]:
        with self._lock:
            p = self._root.query_pointer()
            return p.root_x, p.root_y

    def reward(self) -> tuple[float, bool]:
        x, y = self.pointer()
        tx, ty, side = TARGET
        inside = tx <= x < tx + side and ty <= y < ty + side
        now = time.monotonic()
        if not inside:
            self.on_target_since = None
            dx, dy = tx + side / 2 - x, ty + side / 2 - y
            return -((dx * dx + dy * dy) ** 0.5) / (WIDTH * WIDTH + HEIGHT * HEIGHT) ** 0.5, False
        if self.on_target_since is None:
            self.on_target_since = now
        return 1.0, now - self.on_target_since >= 0.5

    def reset(self) -> None:
        with self._lock:
            self._root.warp_pointer(*START)
            self._x.sync()
        self.on_target_since = None

    def close(self) -> None:
        with self._lock:
            self._x.close()


def serve_rewards(server: RewarderServer, game: PointerGame, stop: threading.Event) -> None:
    """The remote's reward loop: publish a reward ten times a second; reset when done."""
    while not stop.wait(1.0 / HZ):
        reward, done = game.reward()
        server.publish_reward(reward, done=done, info={"pointer": game.pointer()})
        if done:
            with server.resetting():
                game.reset()


def play(vnc: VNCSession, rewarder: RewarderClient, seconds: float) -> None:
    """The agent: steer the pointer towards the target; print what came back."""
    episode = rewarder.reset(timeout=10)
    x, y = START
    tx, ty, side = TARGET
    total, steps, episodes = 0.0, 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        # policy: 12 px a step towards the target's centre
        gx, gy = tx + side // 2, ty + side // 2
        x += max(-12, min(12, gx - x))
        y += max(-12, min(12, gy - y))
        vnc.pointer_event(x, y)
        time.sleep(1.0 / HZ)
        reward, done, info = rewarder.pop()
        total += reward
        steps += 1
        if done:
            episodes += 1
            print(f"episode {episode} done after {steps} steps: pointer on the target, reward so far {total:+.2f}")
            episode = rewarder.reset(timeout=10)  # the remote has reset already; this asks for a fresh one
            x, y = START
    screen = vnc.snapshot()
    print(f"agent: {steps} steps, {episodes} episode(s) done, total reward {total:+.2f}, "
          f"screen {screen.shape[1]}x{screen.shape[0]}, {vnc.stats().updates} VNC updates")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="Any X program as a vncenv remote, with a reward function.")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--program", default="xeyes", help="the X program to serve (default: %(default)s)")
    args = parser.parse_args()
    if shutil.which(args.program) is None:
        raise SystemExit(f"{args.program} is not installed (apt-get install x11-apps)")
    password = secrets.token_hex(4)

    with contextlib.ExitStack() as stack:
        # -- the remote ------------------------------------------------------
        xvnc = stack.enter_context(Xvnc(WIDTH, HEIGHT, password=password))
        program = subprocess.Popen([args.program], env=xvnc.env(), stdin=subprocess.DEVNULL)
        stack.callback(program.wait)
        stack.callback(program.terminate)
        game = PointerGame(xvnc.display)
        stack.callback(game.close)
        game.reset()
        server = stack.enter_context(RewarderServer(
            port=0, password=password, env_id="PointerToTarget-v0", fps=HZ, on_reset=lambda *_: game.reset(),
        ))  # fmt: skip
        stop = threading.Event()
        loop = threading.Thread(target=serve_rewards, args=(server, game, stop), daemon=True)
        loop.start()
        stack.callback(loop.join)
        stack.callback(stop.set)
        print(f"remote: {args.program} on Xvnc {xvnc.display}, "
              f"vnc://127.0.0.1:{xvnc.port}+{server.port}?password={password}")  # fmt: skip

        # -- the agent -------------------------------------------------------
        vnc = stack.enter_context(VNCSession.connect("127.0.0.1", xvnc.port, password=password, timeout=10))
        rewarder = stack.enter_context(
            RewarderClient.connect("127.0.0.1", server.port, password=password, start_timeout=10)
        )
        vnc.wait_for_update(timeout=10, after=0)  # the first picture (it may have come already)
        play(vnc, rewarder, args.seconds)
    print("stopped the remote: Xvnc, the program, the rewarder")


if __name__ == "__main__":
    main()
