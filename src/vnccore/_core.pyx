# cython: language_level=3
"""vncenv's decode core: RFB FramebufferUpdate decoding into numpy framebuffers.

One extension, assembled from the units below (C declarations in cdefs.pxd).  Every decoder runs with the GIL released and writes straight
into the preallocated framebuffer.  See ARCHITECTURE.md for the contract.
"""

cimport numpy as cnp
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove, memset

from cdefs cimport *

import numpy as np

from vncenv.error import ProtocolError, UsageError

cnp.import_array()

INFLATER = VNC_INFLATER_NAME.decode()
vnc_shuffle_init()


def _shuffle_rows(on=None):
    """Whether palette rects (2-bit ZRLE tiles, Tight's 3-5 colours) go by
    byte shuffles (SSSE3); ``on`` switches it, and the 1-bit vectors with it
    (for tests: True only takes effect where the CPU has them)."""
    if on is not None:
        vnc_shuffle_use(bool(on))
    return bool(vnc_shuffle_on)


def _bit_vectors():
    """Whether 2-colour rows (1-bit indices) at least 32 pixels wide go by
    AVX2 vectors (switched with :func:`_shuffle_rows`)."""
    return bool(vnc_bits_on)

include "pixels.pxi"
include "framebuffer.pyx"
include "decoder.pyx"
include "rawrect.pyx"
include "zrle.pyx"
include "tight.pyx"
