#!/bin/sh
# Build inflate_bench against system zlib, ISA-L and zlib-ng into bench/out/inflate/bin/.
#
# zlib-ng comes from scripts/build-zlib-ng.sh (the source bundled in the
# `zlib-ng` PyPI sdist, built into third_party/zlib-ng/); without it the
# zlib-ng bench is skipped.  Needs: gcc, zlib1g-dev, libisal-dev (cmake for zlib-ng).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$ROOT/bench/out/inflate/bin
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

if ! ZNG_BUILD=$("$ROOT/scripts/build-zlib-ng.sh"); then
    echo "zlib-ng bench skipped (scripts/build-zlib-ng.sh failed)" >&2
    exit 0
fi
build zlib-ng -DBENCH_ZLIBNG -I"$ZNG_BUILD" "$ZNG_BUILD/libz-ng.a"
