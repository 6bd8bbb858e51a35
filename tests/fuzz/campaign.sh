#!/bin/sh
# The fuzz campaign: every atheris target in tests/fuzz/ for RUNS executions.
#
#   sh tests/fuzz/campaign.sh [TARGET ...]      # default: every tests/fuzz/fuzz_*.py
#
# Environment (defaults in brackets):
#   RUNS      executions per target [1000000]
#   JOBS      targets run at the same time [1]
#   CORPUS    seed corpora, one folder per target [build/fuzz-corpus]; a missing
#             folder is made with make_corpus.py (from bench/corpus/*.fbs if there)
#   LOGS      one log per target, <target>.log [build/fuzz-logs]
#   CRASHES   libFuzzer's crash/timeout/oom reproducers, per target [build/fuzz-crashes]
#   TIMEOUT   seconds one input may take before it counts as a hang [60]
#   PYTHON    [python3];  NICE  prefix of every run ["nice -n 19"; "" for none]
#   EXTRA     more libFuzzer flags, e.g. "-max_len=65536 -seed=1"
#   ASAN_REPLAY=1  afterwards, run every input of the decoder targets' corpora
#             (seeds + what the campaign found) once through the AddressSanitizer
#             build of the core in ASAN_BUILD [build/asan: `make asan` makes it from
#             the committed sources].  atheris cannot fuzz with coverage on a
#             gcc ASan build (libasan takes over the coverage hooks), so this
#             replays instead; protocol and fbs stay out (pycryptodome's DES
#             cannot load under ASan).
#
# Each run writes the new inputs it finds into its corpus folder (the next
# campaign starts from them).  Prints a table: target, executions, exec/s,
# seconds, crashes; exits 1 when any target crashed or failed to run.
set -u

cd "$(dirname "$0")/../.." || exit 2
RUNS=${RUNS:-1000000}
JOBS=${JOBS:-1}
CORPUS=${CORPUS:-build/fuzz-corpus}
LOGS=${LOGS:-build/fuzz-logs}
CRASHES=${CRASHES:-build/fuzz-crashes}
TIMEOUT=${TIMEOUT:-60}
PYTHON=${PYTHON:-python3}
NICE=${NICE-nice -n 19}
EXTRA=${EXTRA:-}

if [ $# -gt 0 ]; then
    TARGETS="$*"
else
    TARGETS=$(for f in tests/fuzz/fuzz_*.py; do basename "$f" .py | sed 's/^fuzz_//'; done)
fi

missing=""
for t in $TARGETS; do
    if [ ! -f "tests/fuzz/fuzz_$t.py" ]; then
        echo "campaign: no target tests/fuzz/fuzz_$t.py" >&2
        exit 2
    fi
    [ -d "$CORPUS/$t" ] || missing="$missing,$t"
done
if [ -n "$missing" ]; then
    echo "campaign: making seeds for ${missing#,}" | tr ',' ' '
    $PYTHON tests/fuzz/make_corpus.py "$CORPUS" --targets "${missing#,}" || exit 2
fi
mkdir -p "$LOGS" "$CRASHES"

# run_target NAME: one libFuzzer run; writes $LOGS/NAME.result
run_target() {
    t=$1
    mkdir -p "$CORPUS/$t" "$CRASHES/$t"
    stamp="$LOGS/.$t.start"
    : > "$stamp"
    start=$(date +%s)
    # shellcheck disable=SC2086  # NICE and EXTRA are word lists
    $NICE $PYTHON "tests/fuzz/fuzz_$t.py" -runs="$RUNS" -print_final_stats=1 \
        -timeout="$TIMEOUT" -artifact_prefix="$CRASHES/$t/" $EXTRA "$CORPUS/$t" \
        > "$LOGS/$t.log" 2>&1
    rc=$?
    end=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOGS/$t.log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$LOGS/$t.log" | tail -n 1)
    crashes=$(find "$CRASHES/$t" -type f -newer "$stamp" | wc -l | tr -d ' ')
    rm -f "$stamp"
    echo "${execs:-0} $((end - start)) $rc $crashes" > "$LOGS/$t.result"
    echo "campaign: $t done (exit $rc, ${execs:-0} executions, $((end - start)) s)"
}

echo "campaign: RUNS=$RUNS JOBS=$JOBS targets: $(echo $TARGETS)"
running=0
for t in $TARGETS; do
    rm -f "$LOGS/$t.result"
    if [ "$JOBS" -gt 1 ]; then
        run_target "$t" &
        running=$((running + 1))
        if [ "$running" -ge "$JOBS" ]; then
            wait
            running=0
        fi
    else
        run_target "$t"
    fi
done
wait

status=0
echo
printf '%-14s %12s %9s %9s %8s  %s\n' target executions exec/s seconds crashes log
for t in $TARGETS; do
    if [ -f "$LOGS/$t.result" ]; then
        read -r execs secs rc crashes < "$LOGS/$t.result"
    else
        execs=0 secs=0 rc=255 crashes=0
    fi
    if [ "$secs" -gt 0 ]; then rate=$((execs / secs)); else rate=$execs; fi
    note=""
    if [ "$crashes" -gt 0 ] || [ "$rc" -ne 0 ]; then
        status=1
        note="  FAILED (exit $rc): see $CRASHES/$t/"
        [ "$crashes" -gt 0 ] || crashes=1
    fi
    printf '%-14s %12s %9s %9s %8s  %s%s\n' "$t" "$execs" "$rate" "$secs" "$crashes" "$LOGS/$t.log" "$note"
done

if [ "${ASAN_REPLAY:-0}" = 1 ]; then
    ASAN_BUILD=${ASAN_BUILD:-build/asan}
    libasan=$(gcc -print-file-name=libasan.so)
    if [ ! -f "$ASAN_BUILD/python/vncenv/_core.py" ] && ! ls "$ASAN_BUILD"/python/vncenv/_core*.so >/dev/null 2>&1; then
        echo "campaign: no ASan build in $ASAN_BUILD (make asan)" >&2
        exit 2
    fi
    echo
    printf '%-14s %8s  %s\n' target asan log
    for t in $TARGETS; do
        case $t in protocol|fbs|rewarder) continue ;; esac
        # shellcheck disable=SC2086
        ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$libasan" PYTHONPATH="$ASAN_BUILD/python" \
            $NICE $PYTHON "tests/fuzz/fuzz_$t.py" -runs=0 -timeout="$TIMEOUT" \
            -artifact_prefix="$CRASHES/$t/asan-" "$CORPUS/$t" > "$LOGS/$t.asan.log" 2>&1
        rc=$?
        if [ "$rc" -eq 0 ]; then
            verdict=ok
        else
            verdict="FAILED (exit $rc)"
            status=1
        fi
        printf '%-14s %8s  %s\n' "$t" "$verdict" "$LOGS/$t.asan.log"
    done
fi
exit $status
