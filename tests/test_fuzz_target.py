"""The atheris target runs (without atheris) on its seeds and on mutations of them.

The real campaign runs the same function under atheris: see tests/fuzz/README.md.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fuzz"))

import fuzz_update  # noqa: E402
import make_corpus  # noqa: E402

import vncenv._reference as reference  # noqa: E402

pytestmark = pytest.mark.core_only
SEEDS = make_corpus.seeds()


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_decodes_alike(name):
    fuzz_update.run_one(SEEDS[name], reference)


def test_mutated_seeds_never_crash_or_disagree():
    rng = np.random.default_rng(1)
    seeds = list(SEEDS.values())
    for i in range(1500):
        data = bytearray(seeds[i % len(seeds)])
        for _ in range(int(rng.integers(1, 4))):
            op = rng.integers(0, 3)
            pos = int(rng.integers(3, len(data))) if len(data) > 3 else 0
            if op == 0 and data:
                data[pos % len(data)] = int(rng.integers(0, 256))
            elif op == 1:
                del data[pos : pos + int(rng.integers(1, 16))]
            else:
                data[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8).tobytes()
        fuzz_update.run_one(bytes(data), reference)
