"""The benchmark of issue 3: vncenv against libvncclient and vncdotool.

    python3 bench/run.py [--quick] [--reps N] [--only SUBSTRING ...]
                         [--no-scaling] [--seconds S]

(``make bench`` runs it with the defaults.)  Steps, all in one run:

1. Build, into bench/out/bin (git-ignored): the libvncclient harness
   (bench/libvnc/harness.c, -O2, Debian's libvncclient) and the limits
   program (bench/limits/limits.c: zlib, ISA-L through the core's inflate.h,
   zlib-ng as scripts/build-zlib-ng.sh builds it for the core, TurboJPEG).
2. Record the corpus into bench/corpus/ if recordings are missing
   (bench/record_corpus.py).
3. For every recording, replay it over loopback from its own server process
   (bench/replay_server.py, pinned to core 0) as fast as the client reads,
   and run, alternating the order every repetition (default 3; --quick: 1),
   each pinned to core 1 with ``taskset -c 1``:

   * vncenv: ``python3 -m vncenv.cli capture ADDR --until-closed
     --stats-json -`` with the recording's encoding options;
   * libvncclient: bench/libvnc/harness.c, same pixel format and encodings;
   * vncdotool (ZRLE recordings only: it has no Tight): bench/vncdotool_client.py;
   * in-process: bench/inproc.py, ``StreamDecoder.feed`` of the whole stream
     (a warm-up pass, then the median of 3, as the limits are measured);
   * the limits: bench/limits/limits.c on the recording's extracted payloads;
   * for recordings with JPEG: vncenv and libvncclient again without
     pinning (both cores), for the wall-clock figure.

   A peer's "CPU s" is its own count of user+system CPU seconds of the whole
   process from just before it connects until the session ends (imports and
   interpreter start-up excluded; the child's full rusage is kept in the
   JSON as process_cpu_s).  Throughputs divide the recording's bytes,
   updates, pixels and rects (counted by bench/rfbwalk.py) by that time.
4. Scaling: bench/scaling.py, N = 1, 2, 4, 8 concurrent streams in one
   process, in process (StreamDecoder threads) and as VNCSession clients of
   N replay servers.
5. Write bench/results.json (every sample) and the generated section of
   bench/RESULTS.md (other sections of that file are kept).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
BIN = os.path.join(OUT, "bin")
CORPUS = os.path.join(HERE, "corpus")
PY = sys.executable
CLIENT_CPU = "1"
SERVER_CPU = "0"
MD_BEGIN = "<!-- bench/run.py: generated section begins; edit bench/run.py, not this -->"
MD_END = "<!-- bench/run.py: generated section ends -->"

sys.path.insert(0, HERE)
import record_corpus  # noqa: E402
from procstat import stat_fields  # noqa: E402

DEFAULT_SCALING = [
    "photo-pan-1280x720-xvnc-zrle",
    "photo-pan-1280x720-xvnc-tight-jpeg8",
    "animation-1280x720-xvnc-zrle",
]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------


def _stale(target: str, sources: list[str]) -> bool:
    if not os.path.exists(target):
        return True
    t = os.path.getmtime(target)
    return any(os.path.getmtime(s) > t for s in sources)


def _pkg(args: list[str], fallback: list[str]) -> list[str]:
    try:
        out = subprocess.run(["pkg-config", *args], capture_output=True, text=True, check=True).stdout
        return out.split()
    except (OSError, subprocess.CalledProcessError):
        return fallback


def build() -> dict:
    os.makedirs(BIN, exist_ok=True)
    info: dict = {}
    harness = os.path.join(BIN, "libvnc-harness")
    src = os.path.join(HERE, "libvnc", "harness.c")
    if _stale(harness, [src]):
        cmd = ["gcc", "-O2", "-Wall", "-o", harness, src, *_pkg(["--cflags", "--libs", "libvncclient"], ["-lvncclient"])]
        log("building " + " ".join(cmd))
        subprocess.run(cmd, check=True)
    # zlib-ng as the core links it (scripts/build-zlib-ng.sh prints its build folder)
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts", "build-zlib-ng.sh")], capture_output=True, text=True)
    zng = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else ""
    have_zng = bool(zng) and os.path.exists(os.path.join(zng, "libz-ng.a"))
    if not have_zng:
        log("WARNING: zlib-ng did not build (scripts/build-zlib-ng.sh); the limits go without it, so "
            "'limit' falls back to the slower inflaters:\n" + r.stderr[-2000:])
    limits = os.path.join(BIN, "limits")
    lsrc = [os.path.join(HERE, "limits", f) for f in ("limits.c", "limits.h", "limits_zng.c")]
    lsrc.append(os.path.join(ROOT, "src", "vnccore", "inflate.h"))
    marker = limits + (".zng" if have_zng else ".nozng")
    if _stale(limits, lsrc) or not os.path.exists(marker):
        cmd = ["gcc", "-O2", "-std=gnu11", "-Wall", "-I" + os.path.join(ROOT, "src", "vnccore"),
               "-I" + os.path.join(HERE, "limits"), "-o", limits, lsrc[0]]  # fmt: skip
        if have_zng:
            cmd += ["-DHAVE_ZLIBNG", "-I" + zng, lsrc[2], os.path.join(zng, "libz-ng.a")]
        cmd += ["-lturbojpeg", "-lisal", "-lz"]
        log("building " + " ".join(cmd))
        subprocess.run(cmd, check=True)
        for m in (limits + ".zng", limits + ".nozng"):
            if os.path.exists(m):
                os.unlink(m)
        open(marker, "w").close()
    info["zlib_ng"] = have_zng
    return info


# --------------------------------------------------------------------------
# Machine
# --------------------------------------------------------------------------


def _cmd(args: list[str]) -> str:
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=20)
        return (r.stdout or r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _dpkg(pkg: str) -> str:
    return _cmd(["dpkg-query", "-W", "-f=${Version}", pkg]) or "?"


def _pip(pkg: str) -> str:
    try:
        from importlib.metadata import version

        return version(pkg)
    except Exception:
        return "?"


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import vncenv.decode as vd

    so = vd.UpdateDecoder.__module__
    so_path = getattr(sys.modules.get(so), "__file__", None) or ""
    so_info = {}
    if so_path and os.path.exists(so_path):
        with open(so_path, "rb") as f:
            so_info = {"path": os.path.relpath(so_path, ROOT), "sha256": hashlib.sha256(f.read()).hexdigest()[:16],
                       "mtime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.path.getmtime(so_path)))}  # fmt: skip
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "vncenv_backend": vd.BACKEND,
        "vncenv_inflater": vd.INFLATER,
        "vncenv_core": so_info,
        "git_head": _cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        "libvncclient": _dpkg("libvncclient1"),
        "libturbojpeg": _dpkg("libturbojpeg0"),
        "libisal": _dpkg("libisal2"),
        "zlib": _dpkg("zlib1g"),
        "tigervnc": _dpkg("tigervnc-standalone-server"),
        "x11vnc": _dpkg("x11vnc"),
        "vncdotool": _pip("vncdotool"),
        "loadavg_start": os.getloadavg(),
    }


def _mine(pid: int) -> bool:
    """True for this process and its descendants."""
    me = os.getpid()
    for _ in range(64):
        if pid == me:
            return True
        if pid <= 1:
            return False
        try:
            pid = int(stat_fields(pid)[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def busy_processes() -> list[str]:
    """Other processes (not this benchmark's) using CPU right now, for the noise note."""
    out = _cmd(["ps", "-eo", "pcpu,pid,args", "--sort=-pcpu", "--no-headers"])
    rows = []
    for line in out.splitlines()[:10]:
        parts = line.split(None, 2)
        if len(parts) == 3 and float(parts[0]) >= 10 and not _mine(int(parts[1])):
            rows.append(parts[2][:70])
    return rows


# --------------------------------------------------------------------------
# Running peers
# --------------------------------------------------------------------------


class ReplayServer:
    """bench/replay_server.py in its own process, pinned to SERVER_CPU."""

    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, PY, os.path.join(HERE, "replay_server.py"), path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"replay server for {path} did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        proc = self.proc
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.terminate()  # by pid
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_child(cmd: list[str], timeout: float) -> dict:
    """Run cmd; parse the last JSON line of its stdout; add its rusage."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            try:
                proc.kill()
            except OSError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        t0 = time.perf_counter()
        out = proc.stdout.read()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    sample: dict = {}
    text = out.decode("utf-8", "replace").strip()
    if text:
        try:
            sample = json.loads(text[text.find("{") :])
        except ValueError:
            sample = {"unparsed_stdout": text[-500:]}
    sample["process_cpu_s"] = round(ru.ru_utime + ru.ru_stime, 6)
    sample["process_wall_s"] = round(wall, 6)
    sample["returncode"] = proc.returncode
    if killed.is_set():
        sample["error"] = f"timeout after {timeout:.0f} s"
    elif proc.returncode != 0 and "error" not in sample:
        sample["error"] = f"exit status {proc.returncode}: {stderr.strip()[-300:]}"
    if stderr.strip() and "Traceback" in stderr:
        sample.setdefault("stderr_tail", stderr.strip()[-800:])
    return sample


def pin(cmd: list[str]) -> list[str]:
    return ["taskset", "-c", CLIENT_CPU, *cmd]


def peer_commands(rec: dict, port: int, path: str, lim: str) -> dict[str, list[str]]:
    opts = rec["options"]
    enc = opts["encoding"]
    q = opts.get("quality_level")
    addr = f"vnc://127.0.0.1:{port}"
    vncenv = [PY, "-m", "vncenv.cli", "capture", addr, "--encoding", enc, "--until-closed", "--stats-json", "-",
              "--timeout", "30"]  # fmt: skip
    if q is not None:
        vncenv += ["--quality", str(q)]
    libvnc_enc = "tight zrle raw copyrect" if enc == "tight" else "zrle raw copyrect"
    libvnc = [os.path.join(BIN, "libvnc-harness"), "127.0.0.1", str(port), libvnc_enc,
              str(q if q is not None else -1), "-1"]  # fmt: skip
    cmds = {
        "vncenv": pin(vncenv),
        "libvncclient": pin(libvnc),
        "inproc": pin([PY, os.path.join(HERE, "inproc.py"), path]),
        "limits": pin([os.path.join(BIN, "limits"), lim, "-r", "3"]),
    }
    if enc == "zrle":
        cmds["vncdotool"] = pin([PY, os.path.join(HERE, "vncdotool_client.py"), "127.0.0.1", str(port), "zrle"])
    if rec.get("jpeg_bytes", 0) > 0:
        cmds["vncenv-2core"] = vncenv
        cmds["libvncclient-2core"] = libvnc
    return cmds


def check_sample(peer: str, s: dict, rec: dict) -> None:
    """Mark a sample ok unless it failed or saw a different number of updates."""
    if "error" in s or s.get("returncode", 0) != 0 or s.get("exit_status", 0) != 0:
        s["ok"] = False
        return
    if peer == "limits":
        s["ok"] = "passes" in s
        return
    want = rec["updates"]
    got = s.get("updates")
    s["ok"] = got == want
    if not s["ok"]:
        s["error"] = f"saw {got} updates, the recording has {want}"


def extract_limits(path: str, name: str) -> str:
    lim = os.path.join(OUT, "limits", name + ".lim")
    os.makedirs(os.path.dirname(lim), exist_ok=True)
    if _stale(lim, [path, os.path.join(HERE, "limits", "extract.py"), os.path.join(HERE, "rfbwalk.py")]):
        subprocess.run([PY, os.path.join(HERE, "limits", "extract.py"), path, lim], check=True, capture_output=True)
    return lim


def core_hash() -> str:
    """Short sha256 of the core extension now (it may be rebuilt during a run)."""
    import glob

    paths = glob.glob(os.path.join(ROOT, "python", "vncenv", "_core*.so"))
    if not paths:
        return "?"
    with open(paths[0], "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def core_sources_hash() -> str:
    """Short sha256 of the core's sources (src/vnccore, setup.py; not the generated _core.c)."""
    import glob

    h = hashlib.sha256()
    files = sorted(glob.glob(os.path.join(ROOT, "src", "vnccore", "*")))
    for path in files + [os.path.join(ROOT, "setup.py")]:
        if path.endswith((".c", ".html")) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\0" + f.read())
    return h.hexdigest()[:16]


SHORT_RECORDING_BYTES = 1 << 20


def reps_for(rec: dict, reps: int) -> int:
    """Repetitions for one recording: 3x for the noisiest figures -- sessions
    of a few milliseconds (recordings under 1 MiB), where one scheduling
    hiccup moves a median of 3 -- and 5/3x for recordings with JPEG data
    (their 2-core wall-clock runs are not pinned)."""
    if rec["bytes"] < SHORT_RECORDING_BYTES:
        return 3 * reps
    if rec.get("jpeg_bytes", 0) > 0:
        return -(-5 * reps // 3)
    return reps


def bench_recording(name: str, rec: dict, reps: int, budget: float, timeout: float) -> dict:
    path = os.path.join(CORPUS, rec["file"])
    lim = extract_limits(path, name)
    server = ReplayServer(path)
    samples: dict[str, list[dict]] = {}
    skipped: dict[str, str] = {}
    try:
        cmds = peer_commands(rec, server.port, path, lim)
        peers = list(cmds)
        for rep in range(reps_for(rec, reps)):
            order = peers[rep % len(peers) :] + peers[: rep % len(peers)]
            for peer in order:
                if peer in skipped:
                    continue
                s = run_child(cmds[peer], timeout)
                s["rep"] = rep
                check_sample(peer, s, rec)
                samples.setdefault(peer, []).append(s)
                if peer == "vncdotool" and s.get("process_wall_s", 0) > budget and rep == 0:
                    skipped[peer] = f"one repetition only: a run takes {s['process_wall_s']:.0f} s (> --vncdotool-budget {budget:.0f} s)"
                if not s["ok"]:
                    log(f"  {name} {peer} rep {rep}: {s.get('error')}")
    finally:
        server.stop()
    return {"samples": samples, "notes": skipped}


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(name: str, rec: dict, result: dict) -> dict:
    samples = result["samples"]
    peers: dict[str, dict] = {}
    for peer, ss in samples.items():
        if peer == "limits":
            continue
        good = [s for s in ss if s["ok"]]
        if not good:
            peers[peer] = {"ok": False, "error": ss[0].get("error") if ss else "no sample"}
            continue
        cpu = med([s["cpu_seconds"] for s in good])
        wall = med([s.get("wall_seconds") for s in good])
        peers[peer] = {
            "ok": True,
            "n": len(good),
            "cpu_s": cpu,
            "process_cpu_s": med([s["process_cpu_s"] for s in good]),
            "wall_s": wall,
            "mb_per_s": rec["bytes"] / 1e6 / cpu if cpu else None,
            "updates_per_s": rec["updates"] / cpu if cpu else None,
            "mpx_per_s": rec["pixels"] / 1e6 / cpu if cpu else None,
            "us_per_rect": cpu / rec["rects"] * 1e6 if rec["rects"] else None,
        }
    # paired ratios: vncenv against each peer within the same repetition
    ratios = {}
    venv = {s["rep"]: s for s in samples.get("vncenv", []) if s["ok"]}
    for peer in ("libvncclient", "vncdotool", "inproc"):
        if peers.get(peer, {}).get("ok") and peers.get("vncenv", {}).get("ok"):
            paired = [s["cpu_seconds"] / venv[s["rep"]]["cpu_seconds"] for s in samples[peer] if s["ok"] and s["rep"] in venv]
            ratios[peer] = {"of_medians": peers[peer]["cpu_s"] / peers["vncenv"]["cpu_s"], "paired_median": med(paired)}
    if peers.get("libvncclient-2core", {}).get("ok") and peers.get("vncenv-2core", {}).get("ok"):
        ratios["libvncclient-2core-wall"] = {
            "of_medians": peers["libvncclient-2core"]["wall_s"] / peers["vncenv-2core"]["wall_s"]
        }
    # limits: medians of the per-repetition medians
    lim_samples = [s for s in samples.get("limits", []) if s["ok"]]
    limits: dict = {}
    if lim_samples:
        passes = set().union(*(s["passes"].keys() for s in lim_samples))
        limits["counts"] = lim_samples[0]["counts"]
        limits["passes"] = {p: med([s["passes"][p]["median_s"] for s in lim_samples if p in s["passes"]]) for p in sorted(passes)}
        lp = limits["passes"]
        # zlib-ng the faster way: per rect, or ZRLE runs in one call (the core's way)
        zng = [lp[k] for k in ("inflate:zlib-ng", "inflate:zlib-ng-runs") if lp.get(k)]
        inflate = min(zng) if zng else lp.get("inflate:isal") or 0.0
        limits["limit_s"] = inflate + (lp.get("jpeg") or 0.0) + (lp.get("memcpy") or 0.0)
        limits["limit_inflater"] = "zlib-ng" if "inflate:zlib-ng" in lp else "isal"
        limits["limit_isal_s"] = (lp.get("inflate:isal") or 0.0) + (lp.get("jpeg") or 0.0) + (lp.get("memcpy") or 0.0)
    return {"peers": peers, "ratios": ratios, "limits": limits, "notes": result["notes"]}


# --------------------------------------------------------------------------
# Scaling
# --------------------------------------------------------------------------


def run_scaling(names: list[str], manifest: dict, reps: int) -> dict:
    out = {}
    for name in names:
        rec = manifest["recordings"].get(name)
        if rec is None:
            continue
        path = os.path.join(CORPUS, rec["file"])
        entry = {}
        for mode in ("inproc", "session"):
            cmd = [PY, os.path.join(HERE, "scaling.py"), mode, path, "--reps", str(reps),
                   "--encoding", rec["options"]["encoding"]]  # fmt: skip
            if rec["options"].get("quality_level") is not None:
                cmd += ["--quality", str(rec["options"]["quality_level"])]
            log(f"scaling {mode} {name}")
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
            if r.returncode != 0:
                entry[mode] = {"error": r.stderr[-1000:]}
                log(f"  failed: {r.stderr[-300:]}")
                continue
            entry[mode] = json.loads(r.stdout)
        entry["machine_control"] = machine_control(name, rec, reps)
        out[name] = entry
    return out


def machine_control(name: str, rec: dict, reps: int) -> dict:
    """How much two cores give for independent C work on this machine: the
    recording's main limits pass, alone on core 1, then one process on each
    core at once.  (If the two vCPUs share a physical core, or the host is
    busy, this is well under 2.)"""
    lim = os.path.join(OUT, "limits", name + ".lim")
    what = "jpeg" if rec.get("jpeg_bytes") else "inflate:zlib-ng" if os.path.exists(os.path.join(BIN, "limits.zng")) else "inflate:isal"
    cmd = [os.path.join(BIN, "limits"), lim, "-r", "5", "-p", what]

    def secs(sample: dict) -> float:
        return sample["passes"][what]["median_s"]

    alone, pair = [], []
    for _ in range(max(1, reps)):
        alone.append(secs(run_child(["taskset", "-c", "1", *cmd], 600)))
        results: list[dict] = [{}, {}]
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, run_child(["taskset", "-c", str(i), *cmd], 600)))
                   for i in range(2)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pair.append(statistics.mean(secs(r) for r in results))
    a, b = statistics.median(alone), statistics.median(pair)
    log(f"machine control {name} ({what}): alone {a:.3f} s, each of two at once {b:.3f} s -> {2 * a / b:.2f}x")
    return {"pass": what, "alone_s": a, "pair_each_s": b, "speedup_2": 2 * a / b, "alone": alone, "pair": pair}


# --------------------------------------------------------------------------
# Targets and report
# --------------------------------------------------------------------------


def _fmt(v, spec: str = ".3g", none: str = "—") -> str:
    if v is None:
        return none
    if isinstance(v, str):
        return v
    return format(v, spec)


def targets(recs: dict, summaries: dict, scaling: dict) -> list[dict]:
    rows = []

    def ratio_rows(encoding_name: str, label: str) -> None:
        vals = []
        for name, s in summaries.items():
            if recs[name]["encoding"] == encoding_name and "libvncclient" in s["ratios"]:
                # the best ratio possible: vncenv running at the measured limit of this data
                lim = s["limits"].get("limit_s") if s["limits"] else None
                best = s["peers"]["libvncclient"]["cpu_s"] / lim if lim else None
                vals.append((name, s["ratios"]["libvncclient"]["of_medians"], best))
        if vals:
            worst = min(v for _, v, _ in vals)
            rows.append({"target": label, "goal": ">= 2.0x",
                         "measured": ", ".join(f"{n}: {v:.2f}x (at the limit: {_fmt(b, '.2f')}x)" for n, v, b in vals),
                         "worst": worst, "met": worst >= 2.0})  # fmt: skip

    ratio_rows("zrle", "ZRLE: vncenv throughput vs libvncclient, 1 core (CPU)")
    ratio_rows("tight", "lossless Tight: vncenv throughput vs libvncclient, 1 core (CPU)")
    jpeg = []
    wall = []
    for name, s in summaries.items():
        r = recs[name]
        lim = s["limits"]
        if r["encoding"] != "tight-jpeg8" or not lim or not lim["passes"].get("jpeg"):
            continue
        jp = lim["counts"]["jpeg_pixels"]
        if jp < 0.5 * r["pixels"]:
            continue  # JPEG is not what this recording is made of
        v = s["peers"].get("vncenv", {})
        if v.get("ok"):
            jpeg.append((name, v["cpu_s"] / lim["passes"]["jpeg"]))
        if "libvncclient-2core-wall" in s["ratios"]:
            wall.append((name, s["ratios"]["libvncclient-2core-wall"]["of_medians"]))
    if jpeg:
        worst = max(v for _, v in jpeg)
        rows.append({"target": "Tight JPEG, CPU: vncenv session / libjpeg-turbo decode of the same JPEG data",
                     "goal": "<= 1.1x", "measured": ", ".join(f"{n}: {v:.2f}x" for n, v in jpeg),
                     "worst": worst, "met": worst <= 1.1})  # fmt: skip
    if wall:
        worst = min(v for _, v in wall)
        rows.append({"target": "Tight JPEG, wall clock, 2 cores: vncenv vs libvncclient",
                     "goal": ">= 1.7x", "measured": ", ".join(f"{n}: {v:.2f}x" for n, v in wall),
                     "worst": worst, "met": worst >= 1.7})  # fmt: skip
    per_rect = []
    for name, s in summaries.items():
        r = recs[name]
        # x11vnc (-noscr, polling) sends its terminal as big rects (ZRLE: one full-screen rect an update;
        # Tight: the screen cut into ~70 pieces): rect-heavy are Xvnc's, which sends what changed.
        heavy = r["server"] == "xvnc" and r["rects"] >= 10 * r["updates"]
        if r["scene"] in ("animation", "terminal") and heavy and s["peers"].get("vncenv", {}).get("ok"):
            floor = s["limits"]["limit_s"] / r["rects"] * 1e6 if s["limits"] else None
            per_rect.append((name, s["peers"]["vncenv"]["us_per_rect"], floor))
    if per_rect:
        worst = max(v for _, v, _ in per_rect)
        rows.append({"target": "per rect on rect-heavy streams (animation, terminal; from Xvnc): "
                     "vncenv session CPU / rects",
                     "goal": "< 2 us", "measured": ", ".join(f"{n}: {v:.2f} us (limit {_fmt(f, '.2f')} us)" for n, v, f in per_rect),
                     "worst": worst, "met": worst < 2.0})  # fmt: skip
    inproc = []
    for name, s in summaries.items():
        lim = s["limits"]
        p = s["peers"].get("inproc", {})
        if p.get("ok") and lim and lim.get("limit_s"):
            inproc.append((name, p["cpu_s"] / lim["limit_s"]))
    if inproc:
        worst = max(v for _, v in inproc)
        rows.append({"target": "in-process stream decode / limit (inflate + JPEG + pixel writes)",
                     "goal": "<= 1.5x", "measured": ", ".join(f"{n}: {v:.2f}x" for n, v in inproc),
                     "worst": worst, "met": worst <= 1.5})  # fmt: skip
    for mode in ("session", "inproc"):
        vals = []
        for name, e in scaling.items():
            m = e.get(mode, {}).get("median", {})
            if "4" in m:
                vals.append((name, m["4"]["speedup"]))
        if vals:
            worst = min(v for _, v in vals)
            what = "VNCSession clients" if mode == "session" else "in-process StreamDecoders"
            rows.append({"target": f"2 cores, 4 concurrent streams ({what}): aggregate vs 1 stream",
                         "goal": ">= 1.8x", "measured": ", ".join(f"{n}: {v:.2f}x" for n, v in vals),
                         "worst": worst, "met": worst >= 1.8})  # fmt: skip
    return rows


def render_md(results: dict) -> str:
    m = results["machine"]
    recs = results["recordings"]
    L: list[str] = [MD_BEGIN, "", "## Benchmark: vncenv vs libvncclient and vncdotool (issue 3)", ""]
    L += [
        f"Run {results['started']} .. {results['finished']}, {results['reps']} repetition(s), "
        f"core `{m['vncenv_core'].get('sha256', '?')}` built {m['vncenv_core'].get('mtime', '?')} "
        f"(backend {m['vncenv_backend']}, inflater {m['vncenv_inflater']}), git {m['git_head']}.",
        "",
        "Command:",
        "",
        "```",
        results["command"],
        "```",
        "",
        "### Machine",
        "",
        f"- {m['nproc']} cores, {m['cpu_model']}, Linux {m['kernel']}, Python {m['python']}",
        f"- libvncclient {m['libvncclient']}, libturbojpeg {m['libturbojpeg']}, ISA-L {m['libisal']}, "
        f"zlib {m['zlib']}, zlib-ng "
        + ("2.3.3 (scripts/build-zlib-ng.sh, as the core links it)" if results["build"].get("zlib_ng") else "not built"),
        f"- servers: TigerVNC {m['tigervnc']}, x11vnc {m['x11vnc']}; vncdotool {m['vncdotool']}",
        f"- load average at start {', '.join(f'{x:.2f}' for x in m['loadavg_start'])}, "
        f"at end {', '.join(f'{x:.2f}' for x in results['loadavg_end'])}",
    ]
    src0, src1 = results.get("core_sources_start"), results.get("core_sources_end")
    if src0 and src0 == src1:
        L.append(f"- core sources (src/vnccore, setup.py) `{src0}` unchanged during the run")
    elif src0:
        L.append(f"- **the core's sources changed during the run** (`{src0}` -> `{src1}`): the figures mix two versions")
    if results.get("core_sha256_end") and results["core_sha256_end"] != m["vncenv_core"].get("sha256"):
        if src0 and src0 == src1:
            L.append("- the core's binary was rebuilt from those same sources during the run (other engineers' "
                     "builds); binary hashes per part are in results.json")
            builds = None
        else:
            builds = {}
    else:
        builds = None
    if builds is not None:
        for n, r in recs.items():
            builds.setdefault(r.get("core", "?"), []).append(n)
        if results.get("scaling_core"):
            builds.setdefault(results["scaling_core"], []).append("scaling")
        L.append(f"- **The core was rebuilt during this run** (`{m['vncenv_core'].get('sha256')}` at the start, "
                 f"`{results['core_sha256_end']}` at the end). Core build per part: "
                 + "; ".join(f"`{h}`: {', '.join(ns) if len(ns) < 6 else f'{len(ns)} recordings'}" for h, ns in builds.items()))
    busy = results.get("busy_processes") or []
    if busy:
        L.append(
            "- **Other work was running on this 2-core machine during the run** (other engineers' jobs; "
            f"{len(busy)} other commands above 10% CPU at the checks between recordings, e.g. "
            + "; ".join(f"`{b}`" for b in busy[:6]) + "). "
            "CPU-second figures are less affected than wall-clock ones; all figures are medians."
        )
    L += [
        "",
        "### How it is measured",
        "",
        "- Each recording is replayed over loopback by `bench/replay_server.py` (its own process, pinned to "
        "core 0) as fast as the client reads; every client runs pinned to core 1 (`taskset -c 1`) and reads "
        "until the server closes. Peers run one after another, the order rotating every repetition.",
        "- **CPU s** is the client's user+system CPU time from just before it connects until the session ends, "
        "counted by the client itself (imports and interpreter start-up excluded: vncenv's "
        "`capture --stats-json` cpu_seconds, the harness's getrusage, vncdotool's process_time). "
        "Whole-process CPU (child rusage) is in results.json as `process_cpu_s`.",
        "- MB/s, updates/s, Mpx/s and µs/rect divide the recording's encoded bytes, updates, pixels (area of "
        "pixel rects) and rects (LastRect markers excluded), counted by `bench/rfbwalk.py`, by CPU s. "
        "Ratios are vncenv's throughput over the peer's (= peer CPU s / vncenv CPU s, medians of the same run).",
        "- Repetitions: the run's count (above) for most recordings; 3x that for recordings under 1 MiB "
        "(sessions of a few ms), 5/3x for recordings with JPEG data (their 2-core wall-clock runs are not pinned). "
        "Each peer's figure is the median of its repetitions.",
        "- **in-proc** is `vncenv.decode.StreamDecoder.feed` of the whole stream in 256 KiB pieces, with back-to-back "
        "updates coalesced as the session does (CPU around the feed only); like the limits, one untimed warm-up pass, "
        "then the median of 3 passes, each with a new decoder that has had the handshake and whose framebuffer's "
        "pages were touched before the clock starts, as the limits' framebuffer is memset before theirs (the cold "
        "first pass is `first_pass_cpu_seconds` in results.json).",
        "- **Limits** (`bench/limits/limits.c`, same run, same data, pinned to core 1): inflate of every zlib "
        "payload as the client inflates it (zlib 1.2.13, zlib-ng native, ISA-L through the core's "
        "`inflate.h`), zlib-ng again with each run of consecutive ZRLE rects of an update gathered and "
        "inflated by one call as the core does (*runs*), `tjDecompress2` of every JPEG rect into an RGB framebuffer "
        "at its pitch, and memcpy of the pixels every non-JPEG rect writes (3 bytes a pixel, row by row). "
        "limit = zlib-ng inflate (the faster of per rect and runs) + JPEG + memcpy.",
        "- vncdotool has no Tight (n/a); its ZRLE decoder misreads packed-palette tiles (no row padding) and "
        "fails on these streams, so the peer uses vncdotool's own ZRLE method with only that corrected "
        "(bench/vncdotool_client.py). Slow vncdotool runs get one repetition (see notes).",
        "- The 2-core JPEG runs are not pinned; the replay server stays on core 0 and takes about 0.1 s of CPU "
        "per 72 MB replay, so vncenv's JPEG pool shares that core with it (libvncclient is single-threaded).",
        "- \"at the limit\" in the targets: the ratio vncenv would reach if its session cost exactly the "
        "measured limit of that data (peer CPU s / limit s); \"limit\" for µs/rect: limit s / rects.",
        "",
        "### Per recording (1 core)",
        "",
        "| recording | MB | updates | rects | peer | CPU s | MB/s | updates/s | Mpx/s | µs/rect | vncenv ratio |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in recs.items():
        s = r["summary"]
        first = True
        for peer in ("vncenv", "libvncclient", "vncdotool", "inproc"):
            p = s["peers"].get(peer)
            head = f"| {name} | {r['bytes'] / 1e6:.2f} | {r['updates']} | {r['rects']} " if first else "| | | | "
            first = False
            if p is None:
                L.append(head + f"| {peer} | n/a | | | | | |")
                continue
            if not p.get("ok"):
                L.append(head + f"| {peer} | failed: {str(p.get('error'))[:60]} | | | | | |")
                continue
            ratio = ""
            if peer == "inproc" and peer in s["ratios"]:
                ratio = f"(session {1 / s['ratios'][peer]['of_medians']:.2f}x in-proc CPU)"
            elif peer in s["ratios"]:
                ratio = f"{s['ratios'][peer]['of_medians']:.2f}x"
            L.append(
                head + f"| {peer} | {p['cpu_s']:.4f} | {_fmt(p['mb_per_s'], '.1f')} | {_fmt(p['updates_per_s'], '.0f')} "
                f"| {_fmt(p['mpx_per_s'], '.1f')} | {_fmt(p['us_per_rect'], '.2f')} | {ratio} |"
            )
    L += ["", "vncenv ratio = vncenv's throughput / that peer's, i.e. peer CPU s / vncenv CPU s (> 1: vncenv is faster). "
          "On the in-proc row: the whole vncenv session's CPU over the bare in-process decode's.", ""]
    notes = [(n, r["summary"]["notes"]) for n, r in recs.items() if r["summary"]["notes"]]
    for n, nt in notes:
        for peer, why in nt.items():
            L.append(f"- {n}, {peer}: {why}")
    if notes:
        L.append("")
    L += [
        "### Limits (same run, same data, 1 core)",
        "",
        "| recording | zlib in MB | inflated MB | JPEG rects | JPEG Mpx | memcpy MB | zlib s | zlib-ng s | zlib-ng runs s | ISA-L s | JPEG s | memcpy s | limit s | in-proc s | in-proc / limit | vncenv s | vncenv / limit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in recs.items():
        lim = r["summary"]["limits"]
        if not lim:
            continue
        c, p = lim["counts"], lim["passes"]
        ip = r["summary"]["peers"].get("inproc", {})
        ve = r["summary"]["peers"].get("vncenv", {})
        ip_s = ip.get("cpu_s") if ip.get("ok") else None
        ve_s = ve.get("cpu_s") if ve.get("ok") else None
        L.append(
            f"| {name} | {c['zlib_in_bytes'] / 1e6:.2f} | {c['zlib_out_bytes'] / 1e6:.2f} | {c['jpeg_rects']} | "
            f"{c['jpeg_pixels'] / 1e6:.1f} | {c['memcpy_bytes'] / 1e6:.1f} | {_fmt(p.get('inflate:zlib'), '.4f')} | "
            f"{_fmt(p.get('inflate:zlib-ng'), '.4f')} | {_fmt(p.get('inflate:zlib-ng-runs'), '.4f')} | "
            f"{_fmt(p.get('inflate:isal'), '.4f')} | {_fmt(p.get('jpeg'), '.4f')} | "
            f"{_fmt(p.get('memcpy'), '.4f')} | {lim['limit_s']:.4f} | {_fmt(ip_s, '.4f')} | "
            f"{_fmt(ip_s / lim['limit_s'] if ip_s and lim['limit_s'] else None, '.2f')} | {_fmt(ve_s, '.4f')} | "
            f"{_fmt(ve_s / lim['limit_s'] if ve_s and lim['limit_s'] else None, '.2f')} |"
        )
    jp = [(n, r) for n, r in recs.items() if "libvncclient-2core-wall" in r["summary"]["ratios"]]
    if jp:
        L += [
            "",
            "### Tight JPEG, wall clock on 2 cores (no pinning)",
            "",
            "| recording | vncenv wall s | vncenv CPU s | libvncclient wall s | libvncclient CPU s | vncenv speed-up |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for n, r in jp:
            pe = r["summary"]["peers"]
            a, b = pe["vncenv-2core"], pe["libvncclient-2core"]
            L.append(
                f"| {n} | {a['wall_s']:.4f} | {a['cpu_s']:.4f} | {b['wall_s']:.4f} | {b['cpu_s']:.4f} | "
                f"{r['summary']['ratios']['libvncclient-2core-wall']['of_medians']:.2f}x |"
            )
    if results.get("scaling"):
        L += [
            "",
            "### Scaling: N concurrent streams in one Python process (2 cores)",
            "",
            "| recording | mode | N=1 MB/s | N=2 | N=4 | N=8 | speed-up at N=2 / 4 / 8 | cores busy at N=1 / 2 / 4 / 8 |",
            "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for name, e in results["scaling"].items():
            for mode in ("inproc", "session"):
                med_ = e.get(mode, {}).get("median")
                if not med_:
                    L.append(f"| {name} | {mode} | failed | | | | |")
                    continue
                vals = [med_.get(k, {}).get("mb_per_s") for k in ("1", "2", "4", "8")]
                sp = [med_.get(k, {}).get("speedup") for k in ("2", "4", "8")]
                busy_cores = [med_[k]["cpu_seconds"] / med_[k]["wall_seconds"] if k in med_ else None for k in ("1", "2", "4", "8")]
                busy = " / ".join(_fmt(v, '.2f') for v in busy_cores)
                if mode == "session" and all("server_cpu_seconds" in med_.get(k, {}) for k in ("1", "2", "4", "8")):
                    servers = [med_[k]["server_cpu_seconds"] / med_[k]["wall_seconds"] for k in ("1", "2", "4", "8")]
                    busy += " (replay servers: " + " / ".join(_fmt(v, '.2f') for v in servers) + ")"
                L.append(
                    f"| {name} | {mode} | " + " | ".join(_fmt(v, '.1f') for v in vals) + " | "
                    + " / ".join(_fmt(v, '.2f') for v in sp) + " | " + busy + " |"
                )
            mc = e.get("machine_control")
            if mc:
                L.append(f"| {name} | control: 2 independent C processes ({mc['pass']}) | — | — | — | — | {mc['speedup_2']:.2f} / — / — | |")
        L += ["", "inproc: one StreamDecoder thread per stream, each on its own copy; session: one VNCSession "
              "per stream against its own replay server process (the servers share the 2 cores). "
              "control: the same recording's main limits pass (bench/limits/limits.c) alone on core 1, then "
              "one process on each core at once: what 2 cores give independent C work on this machine. "
              "cores busy: the benchmark process's CPU seconds / wall seconds (below N and 2 with other jobs "
              "on the machine, or when the GIL serialises the work); in brackets, the replay servers' own "
              "(from /proc), which the clients' 2 cores share with them."]
    L += ["", "### Targets (current core)", "", "| target | goal | worst | met? | measured |", "| --- | --- | ---: | --- | --- |"]
    for t in results["targets"]:
        L.append(f"| {t['target']} | {t['goal']} | {t['worst']:.2f} | {'yes' if t['met'] else '**no**'} | {t['measured']} |")
    L += ["", MD_END, ""]
    return "\n".join(L)


def write_md(path: str, section: str) -> None:
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if MD_BEGIN in text and MD_END in text:
        a = text.index(MD_BEGIN)
        b = text.index(MD_END) + len(MD_END)
        text = text[:a] + section.rstrip("\n") + text[b:]
    else:
        if not text:
            text = "# Benchmark results\n\n"
        text = text.rstrip("\n") + "\n\n" + section
    with open(path + ".tmp", "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    os.replace(path + ".tmp", path)


# --------------------------------------------------------------------------


def run_command(args: list[str]) -> str:
    """How this run was started, as one would type it again."""
    joined = " ".join(shlex.quote(a) for a in args)
    if os.environ.get("MAKELEVEL"):
        return "make bench" + (f" BENCH_ARGS={shlex.quote(joined)}" if args else "")
    return "python3 bench/run.py" + (f" {joined}" if args else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one repetition (and one for scaling)")
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 3; --quick: 1)")
    p.add_argument("--only", action="append", help="recordings whose name contains this (repeatable)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of new recordings")
    p.add_argument("--no-record", action="store_true", help="never record; use what the corpus has")
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument("--scaling", action="append", help="recordings for the scaling runs (default: 3)")
    p.add_argument("--vncdotool-budget", type=float, default=60.0,
                   help="after a vncdotool run longer than this (s), no more repetitions of it")  # fmt: skip
    p.add_argument("--timeout", type=float, default=900.0, help="limit for one client run, s")
    p.add_argument("--json", default=os.path.join(HERE, "results.json"))
    p.add_argument("--md", default=os.path.join(HERE, "RESULTS.md"))
    args = p.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    for tool in ("taskset", "gcc"):
        if shutil.which(tool) is None:
            sys.exit(f"bench needs {tool}")
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    build_info = build()
    manifest = record_corpus.load_manifest(CORPUS)
    wanted = [record_corpus.recording_name(*i) for i in record_corpus.planned(args.only)]
    missing = [n for n in wanted if n not in manifest["recordings"] or not os.path.exists(os.path.join(CORPUS, n + ".fbs"))]
    if missing and not args.no_record:
        log(f"recording {len(missing)} missing recording(s) into {CORPUS}")
        cmd = [PY, os.path.join(HERE, "record_corpus.py"), "--missing", "--seconds", str(args.seconds)]
        for n in missing:
            cmd += ["--only", n]
        subprocess.run(cmd, check=False)
        manifest = record_corpus.load_manifest(CORPUS)
    names = [n for n in wanted if n in manifest["recordings"] and os.path.exists(os.path.join(CORPUS, n + ".fbs"))]
    results: dict = {
        "started": started,
        "command": run_command(argv if argv is not None else sys.argv[1:]),
        "reps": reps,
        "machine": machine(),
        "core_sources_start": core_sources_hash(),
        "build": build_info,
        "recordings": {},
    }
    busy: list[str] = busy_processes()
    for i, name in enumerate(names):
        rec = manifest["recordings"][name]
        log(f"[{i + 1}/{len(names)}] {name}: {rec['bytes'] / 1e6:.1f} MB, {rec['updates']} updates, {rec['rects']} rects")
        h0 = core_hash()
        res = bench_recording(name, rec, reps, args.vncdotool_budget, args.timeout)
        res["core"] = h0 if core_hash() == h0 else f"{h0} -> {core_hash()} (rebuilt during this recording)"
        summary = summarize(name, rec, res)
        keep = {k: rec[k] for k in ("scene", "server", "encoding", "options", "width", "height", "bytes", "updates",
                                    "rects", "pixels", "zlib_bytes", "jpeg_bytes", "tight_kinds", "rects_by_encoding")}  # fmt: skip
        results["recordings"][name] = {**keep, "core": res["core"], "samples": res["samples"], "summary": summary}
        v = summary["peers"].get("vncenv", {})
        lv = summary["peers"].get("libvncclient", {})
        log(f"    vncenv {_fmt(v.get('cpu_s'), '.4f')} s, libvncclient {_fmt(lv.get('cpu_s'), '.4f')} s")
        busy += [b for b in busy_processes() if b not in busy]
    scaling = {}
    if not args.no_scaling:
        h0 = core_hash()
        scaling = run_scaling(args.scaling or DEFAULT_SCALING, manifest, reps)
        results["scaling_core"] = h0 if core_hash() == h0 else f"{h0} -> {core_hash()} (rebuilt during scaling)"
        busy += [b for b in busy_processes() if b not in busy]
    results["scaling"] = scaling
    results["busy_processes"] = busy
    results["loadavg_end"] = os.getloadavg()
    results["core_sources_end"] = core_sources_hash()
    core = results["machine"]["vncenv_core"]
    if core.get("path"):
        with open(os.path.join(ROOT, core["path"]), "rb") as f:
            results["core_sha256_end"] = hashlib.sha256(f.read()).hexdigest()[:16]
        if results["core_sha256_end"] != core.get("sha256"):
            log("WARNING: the core (.so) changed during the run; the figures mix two builds")
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    results["targets"] = targets(results["recordings"], {n: r["summary"] for n, r in results["recordings"].items()}, scaling)
    with open(args.json + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(args.json + ".tmp", args.json)
    write_md(args.md, render_md(results))
    log(f"wrote {os.path.relpath(args.json)} and {os.path.relpath(args.md)}")
    for t in results["targets"]:
        log(f"  {'MET ' if t['met'] else 'MISS'} {t['target']}: worst {t['worst']:.2f} (goal {t['goal']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
