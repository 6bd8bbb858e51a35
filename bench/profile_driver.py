"""Run `vncenv capture` sessions in one process, for bench/profile.sh.

    python3 bench/profile_driver.py REPEAT CAPTURE-ARGS...

Imports everything first, sleeps 1.5 s (perf record -D skips that part:
start-up and imports are not the session), then runs REPEAT captures
(``vncenv.cli.main(CAPTURE-ARGS)``) back to back.
"""

import sys
import time

import vncenv.cli as cli
import vncenv.vnc.session  # noqa: F401  (what capture imports lazily)
import vncenv.vnc.address  # noqa: F401

repeat = int(sys.argv[1])
args = sys.argv[2:]
time.sleep(1.5)
for _ in range(repeat):
    status = cli.main(args)
    if status != 0:
        sys.exit(status)
