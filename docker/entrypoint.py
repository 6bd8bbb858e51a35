"""The runtime image's entrypoint: serve one env on the container's fixed ports.

``vncenv serve gym-core`` listens on loopback only (right for local remotes);
in a container the published ports reach the container's own address, so this
calls the same ``serve`` on all interfaces: VNC on 5900, the rewarder on 15900.
Settings come from ``VNCENV_*`` environment variables (see docker/Dockerfile)
or the equivalent options.  SIGTERM (``docker stop``) stops Xvnc and the game.
Started as root, it first becomes the unprivileged user ``vncenv`` (a USER
line in the Dockerfile would cost one more full copy of the filesystem per
build with the vfs storage driver).
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys

VNC_PORT, REWARDER_PORT = 5900, 15900


def drop_privileges(user: str = "vncenv") -> None:
    if os.getuid() != 0:
        return
    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    os.environ.update(HOME=entry.pw_dir, USER=user, LOGNAME=user)
    os.chdir(entry.pw_dir)


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="vncenv-runtime", description=__doc__.splitlines()[0])
    p.add_argument("--runtime", default=env("VNCENV_RUNTIME", "gym-core"), choices=["gym-core"])
    p.add_argument("--env", default=env("VNCENV_ENV_ID"), help="Gymnasium id (default $VNCENV_ENV_ID)")
    # taken out of the environment, so Xvnc and the game do not inherit it
    p.add_argument("--password", default=os.environ.pop("VNCENV_PASSWORD", None) or None)
    p.add_argument("--mode", default=env("VNCENV_MODE", "realtime"), choices=["realtime", "sync"])
    p.add_argument("--fps", type=float, default=float(env("VNCENV_FPS", "60")))
    p.add_argument("--scale", type=int, default=int(env("VNCENV_SCALE", "2")))
    args = p.parse_args(argv)
    if not args.env:
        p.error("no env id: set VNCENV_ENV_ID or pass --env")

    drop_privileges()
    from vncenv.error import Error
    from vncenv.runtimes.gym_core.serve import serve

    try:
        return serve(args.env, vnc_port=VNC_PORT, rewarder_port=REWARDER_PORT, password=args.password,
                     fps=args.fps, mode=args.mode, scale=args.scale, host="0.0.0.0")  # fmt: skip
    except Error as exc:
        print(f"vncenv-runtime: {exc}", file=sys.stderr, flush=True)
        return 3


if __name__ == "__main__":
    sys.exit(main())
