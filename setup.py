"""Build the decode core, vncenv._core, from src/vnccore/.

Environment switches:

* ``VNCENV_INFLATE=auto|zlib-ng|isal|zlib`` -- the inflater the core links
  (``auto``: zlib-ng when ``scripts/build-zlib-ng.sh`` has built it into
  ``third_party/zlib-ng/build`` -- or ``$VNCENV_ZLIBNG_BUILD`` -- else the
  system zlib).  See bench/RESULTS.md for why.
* ``VNCENV_DEBUG=1`` -- asserts on, no optimisation, Cython line tracing and
  an annotated HTML next to each .pyx.
* ``VNCENV_ASAN=1`` -- build with AddressSanitizer (run with
  ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
CORE = HERE / "src" / "vnccore"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _inflater() -> tuple[str, list[str], list[str], list[str], list[str]]:
    """(name, macros, libraries, include dirs, extra objects) of the configured inflater."""
    choice = os.environ.get("VNCENV_INFLATE", "auto").strip().lower()
    zng = Path(os.environ.get("VNCENV_ZLIBNG_BUILD", HERE / "third_party" / "zlib-ng" / "build"))
    have_zng = (zng / "libz-ng.a").exists() and (zng / "zlib-ng.h").exists()
    have_isal = Path("/usr/include/isa-l/igzip_lib.h").exists()
    if choice == "auto":
        choice = "zlib-ng" if have_zng else "zlib"
    if choice == "zlib-ng":
        if not have_zng:
            sys.exit(f"VNCENV_INFLATE=zlib-ng but {zng}/libz-ng.a is missing: run scripts/build-zlib-ng.sh")
        return "zlib-ng", ["VNC_INFLATE_ZLIBNG"], [], [str(zng)], [str(zng / "libz-ng.a")]
    if choice == "isal":
        if not have_isal:
            sys.exit("VNCENV_INFLATE=isal but ISA-L headers are missing: apt-get install libisal-dev")
        return "isal", ["VNC_INFLATE_ISAL"], ["isal"], [], []
    if choice == "zlib":
        return "zlib", ["VNC_INFLATE_ZLIB"], ["z"], [], []
    sys.exit(f"VNCENV_INFLATE must be auto, zlib-ng, isal or zlib, not {choice!r}")


debug = _flag("VNCENV_DEBUG")
asan = _flag("VNCENV_ASAN")
inflater, inflate_macros, inflate_libs, inflate_includes, inflate_objects = _inflater()

macros = [(m, "1") for m in inflate_macros] + [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
compile_args = ["-std=gnu11"]
link_args: list[str] = []
if debug:
    macros += [("CYTHON_TRACE_NOGIL", "1"), ("VNC_DEBUG", "1")]
    compile_args += ["-O0", "-g", "-UNDEBUG"]
else:
    compile_args += ["-O3"]
if asan:
    compile_args += ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-UNDEBUG"]
    link_args += ["-fsanitize=address"]

extensions = [
    Extension(
        "vncenv._core",
        [str((CORE / "_core.pyx").relative_to(HERE))],
        include_dirs=[str(CORE.relative_to(HERE)), *inflate_includes, numpy.get_include()],
        libraries=["turbojpeg", *inflate_libs],
        extra_objects=inflate_objects,
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        depends=[str(p.relative_to(HERE)) for p in CORE.glob("*.[hp]*")],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": debug,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": debug,
            "linetrace": debug,
            "freethreading_compatible": True,
        },
        annotate=debug,
    ),
)
