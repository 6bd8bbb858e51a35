#!/bin/sh
# Build inflate_bench against system zlib, ISA-L and zlib-ng into bench/out/inflate/bin/.
#
# zlib-ng has no Debian package: its C source is the copy bundled in the
# sdist of the `zlib-ng` PyPI package (pinned and hash-checked below).  It is
# fetched with pip and built static, native zng_ API, into bench/out/zlib-ng/
# (git-ignored, reused on later runs).  Without pip or cmake the zlib-ng
# bench is skipped.  Needs: gcc, zlib1g-dev, libisal-dev (cmake for zlib-ng).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$ROOT/bench/out/inflate/bin
ZNG=$ROOT/bench/out/zlib-ng
ZNG_SDIST=zlib_ng-1.1.0.tar.gz   # bundles zlib-ng 2.3.3
ZNG_SHA256=08a3a8468d4f130e3dc80d28ec42fcc7a878a57dfed616233e791066327d78a3
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2 -std=gnu11 -Wall -Wextra}
mkdir -p "$BIN"

build() {  # build NAME FLAGS... (extra flags and libraries after the source)
    name=$1; shift
    $CC $CFLAGS -I"$ROOT/src/vnccore" -o "$BIN/$name" "$HERE/inflate_bench.c" "$@"
    echo "built $BIN/$name"
}

build zlib -DBENCH_ZLIB -lz
build zlib-inflate.h -DVIA_INFLATE_H -DBENCH_ZLIB -lz
build isal -DBENCH_ISAL -lisal
build isal-inflate.h -DVIA_INFLATE_H -DBENCH_ISAL -lisal

if [ ! -f "$ZNG/build/libz-ng.a" ]; then
    if ! command -v cmake >/dev/null; then
        echo "cmake missing: zlib-ng bench skipped (apt-get install cmake)" >&2
        exit 0
    fi
    mkdir -p "$ZNG"
    if [ ! -f "$ZNG/$ZNG_SDIST" ]; then
        python3 -m pip download -q --no-deps --no-binary zlib-ng "zlib-ng==1.1.0" -d "$ZNG"
    fi
    echo "$ZNG_SHA256  $ZNG/$ZNG_SDIST" | sha256sum -c -
    rm -rf "$ZNG/src" "$ZNG/build"
    mkdir -p "$ZNG/src"
    tar -xzf "$ZNG/$ZNG_SDIST" -C "$ZNG/src" --strip-components=4 zlib_ng-1.1.0/src/zlib_ng/zlib-ng
    cmake -S "$ZNG/src" -B "$ZNG/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DZLIB_COMPAT=OFF -DWITH_GZFILEOP=OFF \
        -DWITH_GTEST=OFF -DBUILD_TESTING=OFF >"$ZNG/cmake.log"
    cmake --build "$ZNG/build" -j "$(nproc)" --target zlib-ng >>"$ZNG/cmake.log"
fi
build zlib-ng -DBENCH_ZLIBNG -I"$ZNG/build" "$ZNG/build/libz-ng.a"
