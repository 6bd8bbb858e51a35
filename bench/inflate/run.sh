#!/bin/sh
# Run every built inflate_bench on every data set, pinned to one core, check
# that all inflaters give byte-identical output, and print a summary table.
#   sh bench/inflate/build.sh && python3 bench/inflate/make_data.py && sh bench/inflate/run.sh
# Environment: ROUNDS (default 5): rounds of one process per inflater and
# data set, interleaved so that host noise hits all inflaters alike;
# RUNS (default 7): timed passes per process (its median is the process's
# figure); CPU (core to pin to, default 1).  Raw lines go to
# bench/out/inflate/results.txt; the table is the median over the rounds.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/../out/inflate
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-7}
CPU=${CPU:-1}
RESULTS=$OUT/results.txt
: >"$RESULTS"

# Correctness: every inflater's output, byte for byte.
for data in "$OUT"/*.rfbz; do
    name=$(basename "$data" .rfbz)
    ref=""
    for bench in "$OUT"/bin/*; do
        dump=$OUT/$name.$(basename "$bench").out
        "$bench" "$data" -r 1 -o "$dump" >/dev/null
        if [ -z "$ref" ]; then
            ref=$dump
        elif ! cmp -s "$ref" "$dump"; then
            echo "MISMATCH: $dump differs from $ref" >&2
            exit 1
        fi
    done
    rm -f "$OUT/$name".*.out
    echo "$name: all $(ls "$OUT"/bin | wc -l) inflaters give identical output"
done

round=1
while [ "$round" -le "$ROUNDS" ]; do
    for data in "$OUT"/*.rfbz; do
        for bench in "$OUT"/bin/*; do
            taskset -c "$CPU" "$bench" "$data" -r "$RUNS" >>"$RESULTS"
        done
    done
    echo "round $round/$ROUNDS done" >&2
    round=$((round + 1))
done
python3 "$HERE/summarize.py" "$RESULTS"
