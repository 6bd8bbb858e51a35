#!/bin/sh
# Where vncenv's client spends its time, per recording: perf (cpu-clock
# sampling: this VM has no hardware counters) over `vncenv capture` sessions
# replayed from bench/replay_server.py, pinned to core 1: REPEAT (default 10)
# sessions in one process (bench/profile_driver.py), interpreter start-up and
# imports excluded (perf record -D).
#
#   sh bench/profile.sh [RECORDING-NAME ...]
#
# Default recordings: a ZRLE, a lossless Tight, a Tight JPEG and a rect-heavy
# stream.  Output: bench/out/profile/NAME.txt (perf report by DSO and
# symbol, self time) and NAME.data.  Needs linux-perf.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/out/profile
REPEAT=${REPEAT:-10}
mkdir -p "$OUT"
[ $# -gt 0 ] || set -- photo-pan-1280x720-xvnc-zrle photo-pan-1280x720-xvnc-tight \
    photo-pan-1280x720-xvnc-tight-jpeg8 animation-1280x720-xvnc-zrle terminal-1280x720-xvnc-tight
for name in "$@"; do
    fbs=$HERE/corpus/$name.fbs
    [ -f "$fbs" ] || { echo "missing $fbs (python3 bench/record_corpus.py --only $name)" >&2; exit 1; }
    case $name in
        *-tight-jpeg8) opts="--encoding tight --quality 8" ;;
        *-tight) opts="--encoding tight" ;;
        *) opts="--encoding zrle" ;;
    esac
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    taskset -c 0 python3 "$HERE/replay_server.py" "$fbs" <"$fifo" >"$OUT/$name.port" &
    server=$!
    exec 3>"$fifo"  # the server runs until this closes
    while ! grep -q PORT "$OUT/$name.port" 2>/dev/null; do sleep 0.1; done
    port=$(awk '/PORT/{print $2}' "$OUT/$name.port")
    perf record -q -e cpu-clock -F 20000 -g -D 1200 -o "$OUT/$name.data" -- taskset -c 1 \
        python3 "$HERE/profile_driver.py" "$REPEAT" capture "vnc://127.0.0.1:$port" $opts \
        --until-closed --stats-json /dev/null 2>/dev/null
    exec 3>&-
    wait $server || true
    rm -f "$fifo" "$OUT/$name.port"
    {
        echo "== $name: self time by DSO"
        perf report -i "$OUT/$name.data" --stdio --no-children --sort dso -g none --percent-limit 0.5 2>/dev/null \
            | grep -E '^ +[0-9]'
        echo "== $name: self time by symbol"
        perf report -i "$OUT/$name.data" --stdio --no-children --sort dso,sym -g none --percent-limit 0.4 2>/dev/null \
            | grep -E '^ +[0-9]'
    } >"$OUT/$name.txt"
    cat "$OUT/$name.txt"
done
