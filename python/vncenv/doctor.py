"""``vncenv doctor``: is this machine ready for vncenv, and what to do if not.

Each check reports ``ok``, ``missing`` (an essential piece: local remotes or
the decoder cannot work without it) or ``warn`` (an optional piece: Docker
remotes, the test suite's second server, the demo's MP4, the PPO example),
and for every problem the command that fixes it.  The exit status is 1 when
an essential piece is missing, else 0.

``make install`` (as root on Debian 12) installs everything; the per-check
fixes name the single package.  Checks only look: nothing is installed, and
nothing is started unless ``--live`` asks for a one-second Xvnc session.
"""

from __future__ import annotations

import ctypes.util
import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable

__all__ = ["Check", "run_checks", "main"]

APT = "apt-get install -y --no-install-recommends"


@dataclass
class Check:
    name: str
    status: str  # "ok", "missing", "warn"
    detail: str
    fix: str | None = None
    essential: bool = True


def _version(args: list[str], timeout: float = 5.0) -> str:
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = [line.strip() for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _program(name: str, package: str, what: str, essential: bool, version_args: list[str] | None = None,
             alternatives: tuple[str, ...] = ()) -> Check:  # fmt: skip
    path = next((p for p in (shutil.which(n) for n in (name, *alternatives)) if p), None)
    if path is None:
        return Check(name, "missing" if essential else "warn", f"not found ({what})", f"{APT} {package}", essential)
    version = _version([path, *version_args]) if version_args else ""
    return Check(name, "ok", f"{version + ' ' if version else ''}({path})", None, essential)


def check_core() -> Check:
    """The compiled decode core, its inflater and the backend in use."""
    backend = os.environ.get("VNCENV_DECODER", "core").strip().lower() or "core"
    try:
        core = importlib.import_module("vncenv._core")
    except ImportError as exc:
        return Check("decode core", "missing", f"vncenv._core does not import: {exc}",
                     "make install (or `make build` after editing src/vnccore/)")  # fmt: skip
    where = os.path.basename(getattr(core, "__file__", "") or "?")
    detail = f"{where}, inflater {core.INFLATER}; decoder in use: {backend}"
    if backend != "core":
        return Check("decode core", "warn", detail + " (VNCENV_DECODER selects the slow reference)",
                     "unset VNCENV_DECODER", essential=False)  # fmt: skip
    return Check("decode core", "ok", detail)


def _mapped(fragment: str) -> str | None:
    """The path of a shared library mapped into this process whose name holds ``fragment``."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if fragment in os.path.basename(path):
                    return path
    except OSError:
        pass
    return None


def check_turbojpeg() -> Check:
    """libturbojpeg: the core links it for Tight JPEG."""
    path = _mapped("libturbojpeg") or ctypes.util.find_library("turbojpeg")
    if path is None:
        return Check("libturbojpeg", "missing", "not found (Tight JPEG decoding)", f"{APT} libturbojpeg0")
    try:
        ctypes.CDLL(path if os.path.sep in path else path)
    except OSError as exc:
        return Check("libturbojpeg", "missing", f"{path} does not load: {exc}", f"{APT} libturbojpeg0")
    return Check("libturbojpeg", "ok", path)


def _module(module: str, pip: str, what: str, essential: bool, load: bool = True) -> Check:
    """A Python package: found, and (``load``) importable."""
    if importlib.util.find_spec(module) is None:
        return Check(pip, "missing" if essential else "warn", f"not installed ({what})",
                     f"make install (or pip install '{pip}')", essential)  # fmt: skip
    if load:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # keep stdout ours (--json)
        try:
            importlib.import_module(module)
        except Exception as exc:  # present but broken
            return Check(pip, "missing" if essential else "warn", f"does not import: {exc}",
                         f"make install (or pip install --force-reinstall '{pip}')", essential)  # fmt: skip
    try:
        version = importlib.metadata.version(pip)
    except importlib.metadata.PackageNotFoundError:
        version = ""
    return Check(pip, "ok", f"{version} ({what})".strip(), None, essential)


def check_ale_roms() -> Check:
    """ale-py and its ROMs (ale-py >= 0.9 ships them)."""
    if importlib.util.find_spec("ale_py") is None:
        return Check("ale-py ROMs", "missing", "ale-py is not installed (the ALE games)",
                     "make install (or pip install ale-py)")  # fmt: skip
    try:
        import ale_py.roms as roms

        path = roms.get_rom_path("pong")
    except Exception as exc:
        return Check("ale-py ROMs", "missing", f"cannot look up ROMs: {exc}", "pip install --upgrade 'ale-py>=0.10'")
    if not path or not os.path.exists(path):
        return Check("ale-py ROMs", "missing", "no Pong ROM in ale-py", "pip install --upgrade 'ale-py>=0.10'")
    import ale_py

    count = len(roms.get_all_rom_ids()) if hasattr(roms, "get_all_rom_ids") else "?"
    return Check("ale-py ROMs", "ok", f"ale-py {ale_py.__version__}, {count} ROMs ({os.path.dirname(path)})")


def check_docker(timeout: float = 5.0) -> Check:
    """The docker CLI/SDK and whether the engine answers (optional: Docker remotes)."""
    fix_daemon = "start the engine: `systemctl start docker`, or as root `dockerd --storage-driver vfs &`"
    if importlib.util.find_spec("docker") is None:
        return Check("Docker", "warn", "the docker SDK is not installed (remotes='docker://N')",
                     "pip install 'vncenv[docker]'", essential=False)  # fmt: skip
    if shutil.which("dockerd") is None and shutil.which("docker") is None and not os.environ.get("DOCKER_HOST"):
        return Check("Docker", "warn", "no Docker engine installed (remotes='docker://N')",
                     f"{APT} docker.io", essential=False)  # fmt: skip
    try:
        from .error import Error
        from .remotes.docker import DEFAULT_IMAGE, connect

        client = connect(timeout=timeout)
    except Error as exc:
        return Check("Docker", "warn", f"the engine does not answer ({str(exc).split(': ', 1)[0]})",
                     fix_daemon, essential=False)  # fmt: skip
    except Exception as exc:
        return Check("Docker", "warn", f"the engine does not answer: {exc}", fix_daemon, essential=False)
    try:
        version = client.version().get("Version", "?")
        try:
            client.images.get(DEFAULT_IMAGE)
            image = f"image {DEFAULT_IMAGE} present"
        except Exception:
            return Check("Docker", "warn", f"engine {version} answers; image {DEFAULT_IMAGE} not built",
                         "python3 docker/build.py  (from a vncenv checkout)", essential=False)  # fmt: skip
    finally:
        client.close()
    return Check("Docker", "ok", f"engine {version} answers; {image}", None, essential=False)


def check_live(timeout: float = 20.0) -> Check:
    """Start an Xvnc for a moment and read its screen through the decode core."""
    try:
        from .runtimes.xvnc import Xvnc
        from .vnc.session import VNCSession

        with Xvnc(64, 48, password="doctor") as server:
            with VNCSession.connect("127.0.0.1", server.port, password="doctor", encoding="tight",
                                    timeout=timeout) as vnc:  # fmt: skip
                vnc.wait_for_update(timeout=timeout)
                shape = vnc.snapshot().shape
    except Exception as exc:
        return Check("live session", "missing", f"Xvnc + VNC session failed: {exc}", "make install")
    return Check("live session", "ok", f"Xvnc started, {shape[1]}x{shape[0]} screen decoded, stopped")


def run_checks(docker: bool = True, live: bool = False) -> list[Check]:
    """Every check, in order."""
    checks: list[Callable[[], Check]] = [
        lambda: Check("python", "ok", f"{sys.version.split()[0]} ({sys.executable})"),
        check_core,
        check_turbojpeg,
        lambda: _program("Xvnc", "tigervnc-standalone-server", "local remotes' VNC server", True, ["-version"]),
        lambda: _program("vncpasswd", "tigervnc-tools", "VNC passwords for local remotes", True,
                         alternatives=("tigervncpasswd",)),  # fmt: skip
        lambda: _program("xrandr", "x11-xserver-utils", "resizing the remote's screen", False),
        lambda: _program("x11vnc", "x11vnc xvfb", "the test suite's second VNC server", False, ["-version"]),
        lambda: _module("gymnasium", "gymnasium", "the Gymnasium API", True),
        check_ale_roms,
        lambda: _module("Xlib", "python-xlib", "the gym-core runtime's window", True),
        lambda: _module("pygame", "pygame", "classic-control envs' drawing", False),
        lambda: _module("websockets", "websockets", "the rewarder protocol", True),
        lambda: _module("rich", "rich", "the demo's status line", False),
        lambda: _module("imageio_ffmpeg", "imageio-ffmpeg", "the demo's MP4; GIF without it", False),
        lambda: _module("stable_baselines3", "stable-baselines3", "examples/train_ppo.py", False, load=False),
    ]
    if docker:
        checks.append(check_docker)
    if live:
        checks.append(check_live)
    results = []
    for check in checks:
        try:
            results.append(check())
        except Exception as exc:  # a check must never take the doctor down
            results.append(Check(getattr(check, "__name__", "check"), "warn", f"check failed: {exc}", None, False))
    return results


def main(argv: list[str] | None = None, *, args: Any = None) -> int:
    import argparse

    if args is None:
        parser = argparse.ArgumentParser(prog="vncenv doctor", description=__doc__.split("\n\n")[0])
        add_arguments(parser)
        args = parser.parse_args(argv)
    from . import __version__

    results = run_checks(docker=not args.no_docker, live=args.live)
    missing = [c for c in results if c.status == "missing"]
    warned = [c for c in results if c.status == "warn"]
    if args.json:
        print(json.dumps({"vncenv": __version__, "ok": not missing, "checks": [asdict(c) for c in results]}, indent=2))
        return 1 if missing else 0
    print(f"vncenv {__version__} doctor")
    width = max(len(c.name) for c in results)
    for c in results:
        print(f"  {c.status:8s}{c.name:{width}s}  {c.detail}")
        if c.fix:
            print(f"  {'':8s}{'':{width}s}  fix: {c.fix}")
    if missing:
        print(f"{len(missing)} essential piece(s) missing: {', '.join(c.name for c in missing)}. "
              "`make install` (as root on Debian 12) installs everything.")  # fmt: skip
        return 1
    tail = f" ({len(warned)} optional piece(s) need attention)" if warned else ""
    print(f"everything essential is in place{tail}.")
    return 0


def add_arguments(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--live", action="store_true", help="also start an Xvnc for a second and decode its screen")
    parser.add_argument("--no-docker", action="store_true", help="skip the Docker check (it waits up to 5 s)")


if __name__ == "__main__":
    sys.exit(main())
