#!/usr/bin/env python3
"""Build vncenv's runtime image, ``vncenv-runtime:<version>``, without a registry.

    python3 docker/build.py [--image TAG] [--docker-host URL] [--mirror URL] [--force]

Three steps, each skipped when its result is already there:

1. **Base image** (the tag in the Dockerfile's ``FROM``, ``vncenv-base:bookworm``):
   ``debootstrap --variant=minbase bookworm`` from this machine's Debian
   mirror (read from /etc/apt/sources.list[.d], or ``--mirror`` /
   ``$VNCENV_DEBIAN_MIRROR``), then ``docker import``.  Needs root and
   debootstrap; about 40 s.  Kept until someone removes the tag.
2. **Wheelhouse** in ``build/docker-context/wheels`` (git-ignored): the
   project's wheel, built on the host from a copy of its sources (against the
   host's libturbojpeg, zlib-ng linked statically from
   ``scripts/build-zlib-ng.sh``), and wheels of the runtime dependencies at
   the versions installed on the host.  pip inside ``docker build`` cannot
   verify TLS on every machine; an offline install also makes the image
   reproducible.  The image's Python is Debian bookworm's 3.11, so this runs
   under a Python 3.11.
3. **Image**: ``docker build --network host`` (apt reaches the mirror) of
   ``docker/Dockerfile``, labelled ``vncenv.inputs=<sha256>`` of everything
   that goes in (Dockerfile, entrypoint, the package's sources, the pinned
   dependencies, the base image's id).  When an image with the same label
   exists, nothing is rebuilt.

Works against any ``DOCKER_HOST`` (the context is uploaded).  Importable:
``build(image=..., docker_host=..., force=False) -> image tag``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER_DIR = ROOT / "docker"
BUILD_DIR = ROOT / "build"
CONTEXT = BUILD_DIR / "docker-context"
WHEELS = CONTEXT / "wheels"
SOURCE_COPY = BUILD_DIR / "docker-src"
STATE = BUILD_DIR / "docker-state.json"
BASE_DIR = BUILD_DIR / "docker-base"
IMAGE_PYTHON = (3, 11)  # Debian bookworm's python3
SUITE = "bookworm"

# What the project's wheel is made of (sources only: no build products).
SOURCE_ROOT_FILES = ("pyproject.toml", "setup.py", "README.md", "MANIFEST.in", "LICENSE")
SOURCE_TREES = ("python", "src/vnccore")
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".c", ".html", ".o")


def log(message: str) -> None:
    print(f"[docker/build] {message}", flush=True)


class BuildError(Exception):
    pass


# -- inputs ---------------------------------------------------------------------


def version() -> str:
    text = (ROOT / "python" / "vncenv" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M)[1]


def default_image() -> str:
    return f"vncenv-runtime:{version()}"


def base_tag() -> str:
    """The tag the Dockerfile's FROM names: the base image is made under it."""
    for line in (DOCKER_DIR / "Dockerfile").read_text().splitlines():
        if line.strip().upper().startswith("FROM "):
            return line.split()[1]
    raise BuildError("docker/Dockerfile has no FROM line")


def source_files() -> list[Path]:
    files = [ROOT / name for name in SOURCE_ROOT_FILES if (ROOT / name).is_file()]
    for tree in SOURCE_TREES:
        for path in sorted((ROOT / tree).rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_file() and not SKIP_PARTS & set(rel.parts) and not path.name.endswith(SKIP_SUFFIXES):
                files.append(path)
    return files


def runtime_requirements() -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["runtime"]]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def host_constraints() -> str:
    """``name==version`` for the runtime requirements and what they need, as
    installed on the host: the image gets the versions the tests ran against.
    Distributions the host has from a local folder or VCS are not pinned."""
    installed = {}
    for dist in importlib.metadata.distributions():
        if dist.metadata["Name"]:
            installed.setdefault(_name(dist.metadata["Name"]), dist)
    pins, todo, seen = {}, [_name(r) for r in runtime_requirements()], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in installed:
            continue
        seen.add(name)
        dist = installed[name]
        direct = dist.read_text("direct_url.json") or ""
        if not any(k in direct for k in ('"dir_info"', '"vcs_info"', '"file://')):
            pins[name] = f"{dist.metadata['Name']}=={dist.version}"
        todo += [_name(r) for r in dist.requires or [] if "extra ==" not in r.replace("extra==", "extra ==")]
    return "".join(f"{pins[k]}\n" for k in sorted(pins))


def digest(paths: list[Path], *extra: str) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.relative_to(ROOT)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    for item in extra:
        h.update(item.encode() + b"\0")
    return h.hexdigest()


def load_state() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def save_state(state: dict) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=1))


def run(args: list[str], *, log_path: Path | None = None, env: dict | None = None, what: str = "") -> str:
    """Run a command; its output goes to ``log_path`` (shown on failure) or is returned."""
    t0 = time.monotonic()
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as out:
            rc = subprocess.call(args, stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        output = log_path.read_text(errors="replace")
    else:
        r = subprocess.run(args, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
        rc, output = r.returncode, r.stdout + r.stderr
    if rc != 0:
        tail = "\n".join(output.splitlines()[-30:])
        raise BuildError(f"{what or args[0]} failed (exit {rc}): {' '.join(map(str, args))}\n{tail}")
    if what:
        log(f"{what}: done in {time.monotonic() - t0:.1f} s")
    return output


# -- 1. the base image ------------------------------------------------------------


def debian_mirror() -> str:
    """The Debian archive this machine's apt uses for bookworm (one-line and deb822 sources)."""
    configured = os.environ.get("VNCENV_DEBIAN_MIRROR")
    if configured:
        return configured
    apt = Path("/etc/apt")
    files = [apt / "sources.list"] + sorted((apt / "sources.list.d").glob("*.list")) + sorted(
        (apt / "sources.list.d").glob("*.sources"))  # fmt: skip
    entries: list[tuple[str, list[str]]] = []  # (uri, suites)
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if line.strip().startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.split()
                if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
                    entries += [(uri, fields.get("suites", [])) for uri in fields.get("uris", [])]
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    entries.append((words[1], [words[2]]))
    for uri, suites in entries:
        if SUITE in suites:
            return uri.rstrip("/")
    raise BuildError(f"no Debian {SUITE} mirror in /etc/apt/sources.list[.d]: pass --mirror URL "
                     "(or set VNCENV_DEBIAN_MIRROR)")  # fmt: skip


def ensure_base(client, tag: str, mirror: str | None) -> str:
    """Make the base image unless the tag exists; return its id."""
    docker = _sdk()
    try:
        image = client.images.get(tag)
        log(f"base image {tag}: exists ({image.short_id}), kept")
        return image.id
    except docker.errors.ImageNotFound:
        pass
    if os.geteuid() != 0:
        raise BuildError(f"making the base image {tag} needs root (debootstrap)")
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is missing: apt-get install debootstrap")
    mirror = mirror or debian_mirror()
    rootfs = BASE_DIR / "rootfs"
    shutil.rmtree(BASE_DIR, ignore_errors=True)
    BASE_DIR.mkdir(parents=True)
    log(f"base image {tag}: debootstrap --variant=minbase {SUITE} from {mirror} (log {BASE_DIR}/debootstrap.log)")
    t0 = time.monotonic()
    try:
        run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), mirror],
            log_path=BASE_DIR / "debootstrap.log", what="debootstrap")  # fmt: skip
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (rootfs / leftover).glob("*"):
                if p.is_file():
                    p.unlink()
        repository, _, version_tag = tag.rpartition(":")
        log(f"base image {tag}: docker import")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        try:
            client.api.import_image_from_stream(tar.stdout, repository=repository, tag=version_tag)
        finally:
            tar.stdout.close()
            if tar.wait() != 0:
                raise BuildError(f"tar of {rootfs} failed (exit {tar.returncode})")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    image = client.images.get(tag)
    log(f"base image {tag}: made ({image.short_id}) in {time.monotonic() - t0:.1f} s")
    return image.id


# -- 2. the wheelhouse --------------------------------------------------------------


def build_wheels(state: dict, src_hash: str, deps_hash: str, constraints: str) -> None:
    if sys.version_info[:2] != IMAGE_PYTHON:
        raise BuildError(f"the image's Python is Debian {SUITE}'s {IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]}: run this "
                         f"script with a Python {IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]} (this is {sys.version.split()[0]})")  # fmt: skip
    WHEELS.mkdir(parents=True, exist_ok=True)
    project_wheels = list(WHEELS.glob("vncenv-*.whl"))
    if state.get("project_wheel") == src_hash and len(project_wheels) == 1:
        log(f"wheelhouse: {project_wheels[0].name} is up to date")
    else:
        zng = run(["sh", str(ROOT / "scripts" / "build-zlib-ng.sh")],
                  env=dict(os.environ, PYTHON=sys.executable)).strip().splitlines()[-1]  # fmt: skip
        shutil.rmtree(SOURCE_COPY, ignore_errors=True)
        for path in source_files():
            target = SOURCE_COPY / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        for old in project_wheels:
            old.unlink()
        log("wheelhouse: building the vncenv wheel (Cython core, zlib-ng from {})".format(zng))
        env = dict(os.environ, VNCENV_INFLATE="zlib-ng", VNCENV_ZLIBNG_BUILD=zng, PIP_DISABLE_PIP_VERSION_CHECK="1")
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(WHEELS), str(SOURCE_COPY)],
            log_path=BUILD_DIR / "docker-wheel.log", env=env, what="vncenv wheel")  # fmt: skip
        shutil.rmtree(SOURCE_COPY, ignore_errors=True)
        state["project_wheel"] = src_hash
        save_state(state)
    if state.get("deps") == deps_hash and any(p for p in WHEELS.glob("*.whl") if not p.name.startswith("vncenv-")):
        log("wheelhouse: dependency wheels are up to date")
        return
    for old in WHEELS.glob("*.whl"):
        if not old.name.startswith("vncenv-"):
            old.unlink()
    cfile = BUILD_DIR / "docker-constraints.txt"
    cfile.write_text(constraints)
    reqs = runtime_requirements()
    log(f"wheelhouse: dependency wheels for {', '.join(reqs)} (host versions)")
    args = [sys.executable, "-m", "pip", "wheel", "-w", str(WHEELS), *reqs]
    try:
        run([*args, "-c", str(cfile)], log_path=BUILD_DIR / "docker-deps.log", what="dependency wheels")
    except BuildError as exc:
        log(f"wheelhouse: pinned versions failed ({str(exc).splitlines()[-1]}); resolving without pins")
        run(args, log_path=BUILD_DIR / "docker-deps.log", what="dependency wheels")
    state["deps"] = deps_hash
    save_state(state)


# -- 3. the image ---------------------------------------------------------------------


def _sdk():
    try:
        import docker
    except ImportError:
        raise BuildError("the docker SDK is missing: pip install 'docker>=7' (or '.[docker]')") from None
    if not hasattr(docker, "DockerClient"):
        raise BuildError(f"`import docker` found {docker!r}, not the docker SDK: pip install 'docker>=7'")
    return docker


def connect(docker_host: str | None = None):
    """A client on ``docker_host`` (default ``$DOCKER_HOST``), checked with a ping.
    (The same rules as vncenv.remotes.docker.connect; this script does not
    import vncenv, so it runs before the package is built.)"""
    docker = _sdk()
    url = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    kwargs = docker.utils.kwargs_from_env(environment=dict(os.environ, DOCKER_HOST=url))
    if url.startswith("ssh://"):  # the SDK needs paramiko installed; prefer the ssh command
        kwargs["use_ssh_client"] = shutil.which("ssh") is not None and os.environ.get("VNCENV_DOCKER_SSH") != "paramiko"
    try:
        client = docker.DockerClient(timeout=600, **kwargs)
        client.ping()
    except Exception as exc:
        raise BuildError(f"cannot reach the Docker engine at {url}: {exc}. Is dockerd running?") from exc
    return client


def docker_build(client, tag: str, labels: dict[str, str]) -> str:
    for name in ("Dockerfile", "entrypoint.py"):
        shutil.copy2(DOCKER_DIR / name, CONTEXT / name)
    old = None
    try:
        old = client.images.get(tag).id
    except _sdk().errors.ImageNotFound:
        pass
    log(f"image {tag}: docker build --network host (log {BUILD_DIR}/docker-image.log)")
    t0 = time.monotonic()
    image_id = None
    with open(BUILD_DIR / "docker-image.log", "w") as out:
        stream = client.api.build(path=str(CONTEXT), tag=tag, network_mode="host", labels=labels, rm=True,
                                  forcerm=True, pull=False, decode=True)  # fmt: skip
        for chunk in stream:
            if "error" in chunk:
                out.write(chunk["error"])
                out.flush()
                tail = "\n".join((BUILD_DIR / "docker-image.log").read_text().splitlines()[-30:])
                raise BuildError(f"docker build failed: {chunk['error'].strip()}\n{tail}")
            text = chunk.get("stream", "")
            out.write(text)
            for line in text.splitlines():
                if line.startswith("Step ") or "Using cache" in line:
                    log(f"  {line.strip()}")
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    image = client.images.get(tag)
    log(f"image {tag}: built ({image.short_id}) in {time.monotonic() - t0:.1f} s")
    if old and old != image.id:
        try:  # the previous build of this tag (with vfs it holds a full copy per layer)
            client.images.remove(old)
            log(f"image {tag}: removed the previous build {old[7:19]}")
        except Exception as exc:
            log(f"image {tag}: kept the previous build {old[7:19]} ({exc})")
    return image_id or image.id


def build(image: str | None = None, *, docker_host: str | None = None, mirror: str | None = None,
          force: bool = False) -> str:  # fmt: skip
    """Make sure ``image`` (default ``vncenv-runtime:<version>``) is built from
    the current inputs; return its tag."""
    image = image or default_image()
    t0 = time.monotonic()
    client = connect(docker_host)
    base = base_tag()
    base_id = ensure_base(client, base, mirror)
    constraints = host_constraints()
    deps_hash = hashlib.sha256(("\n".join(runtime_requirements()) + "\0" + constraints).encode()).hexdigest()
    sources = source_files()
    src_hash = digest(sources)
    inputs = digest([DOCKER_DIR / "Dockerfile", DOCKER_DIR / "entrypoint.py", *sources], deps_hash, base_id,
                    f"python{IMAGE_PYTHON}")  # fmt: skip
    docker = _sdk()
    try:
        current = client.images.get(image)
        if current.labels.get("vncenv.inputs") == inputs and not force:
            log(f"image {image}: up to date ({current.short_id}, inputs {inputs[:12]}); "
                f"checked in {time.monotonic() - t0:.1f} s")  # fmt: skip
            return image
        log(f"image {image}: inputs changed ({current.labels.get('vncenv.inputs', '?')[:12]} -> {inputs[:12]})"
            if not force else f"image {image}: --force")  # fmt: skip
    except docker.errors.ImageNotFound:
        log(f"image {image}: not built yet (inputs {inputs[:12]})")
    state = load_state()
    build_wheels(state, src_hash, deps_hash, constraints)
    docker_build(client, image, {"vncenv.inputs": inputs})  # one label: one more step
    log(f"done in {time.monotonic() - t0:.1f} s")
    return image


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--image", help="tag to build (default vncenv-runtime:<version>)")
    p.add_argument("--docker-host", help="the engine (default $DOCKER_HOST)")
    p.add_argument("--mirror", help="Debian mirror for the base image (default: this machine's apt source)")
    p.add_argument("--force", action="store_true", help="build the image even if its inputs did not change")
    args = p.parse_args(argv)
    try:
        build(args.image, docker_host=args.docker_host, mirror=args.mirror, force=args.force)
    except BuildError as exc:
        print(f"[docker/build] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
