#!/bin/sh
# Build zlib-ng (static, native zng_ API) into third_party/zlib-ng/ for the core.
#
# Debian 12 has no zlib-ng C package.  Its C source is bundled in the sdist of
# the `zlib-ng` PyPI package (pinned and hash-checked below): pip fetches it,
# cmake builds it.  Nothing from it is committed (third_party/ is ignored);
# a finished build is reused.  Prints the build folder.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZNG=${ZLIBNG_DIR:-$ROOT/third_party/zlib-ng}
SDIST=zlib_ng-1.1.0.tar.gz   # bundles zlib-ng 2.3.3
SHA256=08a3a8468d4f130e3dc80d28ec42fcc7a878a57dfed616233e791066327d78a3
PYTHON=${PYTHON:-python3}

if [ -f "$ZNG/build/libz-ng.a" ] && [ -f "$ZNG/build/zlib-ng.h" ]; then
    echo "$ZNG/build"
    exit 0
fi
command -v cmake >/dev/null || { echo "cmake is missing: apt-get install cmake" >&2; exit 1; }
mkdir -p "$ZNG"
if [ ! -f "$ZNG/$SDIST" ]; then
    # quietly: pip warns about every index location it skips; its log is shown on failure
    "$PYTHON" -m pip download -q --no-deps --no-binary zlib-ng "zlib-ng==1.1.0" -d "$ZNG" >"$ZNG/pip.log" 2>&1 \
        || { cat "$ZNG/pip.log" >&2; exit 1; }
fi
echo "$SHA256  $ZNG/$SDIST" | sha256sum -c - >&2
rm -rf "$ZNG/src" "$ZNG/build"
mkdir -p "$ZNG/src"
tar -xzf "$ZNG/$SDIST" -C "$ZNG/src" --strip-components=4 zlib_ng-1.1.0/src/zlib_ng/zlib-ng
cmake -S "$ZNG/src" -B "$ZNG/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DZLIB_COMPAT=OFF -DWITH_GZFILEOP=OFF \
    -DWITH_GTEST=OFF -DBUILD_TESTING=OFF >"$ZNG/cmake.log" 2>&1
cmake --build "$ZNG/build" -j "$(nproc)" --target zlib-ng >>"$ZNG/cmake.log" 2>&1
echo "$ZNG/build"
