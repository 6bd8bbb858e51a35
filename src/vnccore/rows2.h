/* 2-bit palette tiles (ZRLE's packed tiles of 3 or 4 colours), whole.
 *
 * On x86 with SSSE3, one byte of indices (4 pixels) becomes its 12 bytes of
 * RGB by one byte shuffle of the palette (4 colours x 3 bytes, in a
 * register) through a constant mask chosen by the byte: no per-palette
 * table to build, which matters where palettes change tile by tile.
 * vnc_rows2_simd says whether vnc_rows2_tile() may be called; without it
 * the callers go by nibble tables (pixels.pxi).
 *
 * vnc_rows2_uses_index3() checks a 3-colour tile's indices before it is
 * painted, so the painting loops carry no per-pixel check.
 */
#ifndef VNC_ROWS2_H
#define VNC_ROWS2_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Nonzero while the shuffle path is in use (vnc_rows2_init, vnc_rows2_use). */
static int vnc_rows2_simd = 0;
static int vnc_rows2_available = 0;

/* Use the shuffle path or not (the tests run both); returns whether it is used. */
static inline int vnc_rows2_use(int on)
{
    vnc_rows2_simd = on && vnc_rows2_available;
    return vnc_rows2_simd;
}

/* Does a w x h tile of 2-bit rows ((w + 3) / 4 bytes each) hold index 3
 * (past a 3-colour palette)?  The padding after a row's last pixel is not
 * looked at. */
static inline int vnc_rows2_uses_index3(const uint8_t *src, int w, int h)
{
    size_t rowbytes = ((size_t)w + 3) >> 2, i, n;
    uint64_t acc = 0, word;
    uint8_t last_mask, last, bytes_acc = 0;
    int row;
    if (w <= 0 || h <= 0)
        return 0;
    if ((w & 3) == 0) { /* no padding: the rows are one block */
        n = rowbytes * (size_t)h;
        for (i = 0; i + 8 <= n; i += 8) {
            memcpy(&word, src + i, 8);
            acc |= word & (word >> 1);
        }
        for (; i < n; i++)
            bytes_acc |= src[i] & (src[i] >> 1);
        return ((acc & 0x5555555555555555ULL) | (bytes_acc & 0x55)) != 0;
    }
    last_mask = (uint8_t)(0xFF << (8 - 2 * (w & 3)));
    for (row = 0; row < h; row++, src += rowbytes) {
        for (i = 0; i + 1 < rowbytes; i++)
            bytes_acc |= src[i] & (src[i] >> 1);
        last = src[rowbytes - 1] & last_mask;
        bytes_acc |= last & (last >> 1);
    }
    return (bytes_acc & 0x55) != 0;
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>

/* The shuffle mask of each byte of indices: output byte j (j < 12) is
 * byte 3 * index + j % 3 of the palette, index = the (j / 3)-th 2-bit field,
 * most significant first.  Bytes 12-15 repeat the first pixel (stores of
 * them are overwritten). */
static uint8_t vnc_rows2_masks[256][16] __attribute__((aligned(16)));

/* Decide once, at import, whether the shuffle path runs here. */
static inline int vnc_rows2_init(void)
{
    int byte, j, index;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("ssse3"))
        return vnc_rows2_use(0);
    for (byte = 0; byte < 256; byte++)
        for (j = 0; j < 16; j++) {
            index = (byte >> (6 - 2 * ((j % 12) / 3))) & 3;
            vnc_rows2_masks[byte][j] = (uint8_t)(3 * index + j % 3);
        }
    vnc_rows2_available = 1;
    return vnc_rows2_use(1);
}

/* Paint a w x h tile (w >= 1) of 2-bit rows from src, palette32 holding 4
 * entries (the 4th unused by a valid 3-colour tile).  Writes exactly the
 * tile's pixels. */
__attribute__((target("ssse3"))) static void vnc_rows2_tile(uint8_t *dst, ptrdiff_t pitch,
                                                          const uint8_t *src, int w, int h,
                                                          const uint32_t *palette32)
{
    uint8_t colours[20], tail[32];
    size_t rowbytes = ((size_t)w + 3) >> 2;
    /* bytes whose 16-byte store stays inside the row: 2 more pixels follow */
    int wide = w > 2 ? (w - 2) >> 2 : 0;
    int rest = w - 4 * wide; /* 1 to 5 pixels */
    int row, i, k;
    uint8_t *out;
    __m128i palette;
    for (k = 0; k < 4; k++)
        memcpy(colours + 3 * k, &palette32[k], 4);
    memset(colours + 12, 0, 8);
    palette = _mm_loadu_si128((const __m128i *)colours);
    for (row = 0; row < h; row++, src += rowbytes, dst += pitch) {
        out = dst;
        for (i = 0; i < wide; i++, out += 12)
            _mm_storeu_si128((__m128i *)out,
                             _mm_shuffle_epi8(palette, _mm_load_si128((const __m128i *)vnc_rows2_masks[src[i]])));
        _mm_storeu_si128((__m128i *)tail,
                         _mm_shuffle_epi8(palette, _mm_load_si128((const __m128i *)vnc_rows2_masks[src[wide]])));
        if (rest == 5)
            _mm_storeu_si128((__m128i *)(tail + 12),
                             _mm_shuffle_epi8(palette, _mm_load_si128((const __m128i *)vnc_rows2_masks[src[wide + 1]])));
        switch (rest) { /* fixed sizes: a move or two each */
        case 1: memcpy(out, tail, 3); break;
        case 2: memcpy(out, tail, 6); break;
        case 3: memcpy(out, tail, 9); break;
        case 4: memcpy(out, tail, 12); break;
        default: memcpy(out, tail, 15); break;
        }
    }
}

#else
static inline int vnc_rows2_init(void) { return vnc_rows2_use(0); }

static void vnc_rows2_tile(uint8_t *dst, ptrdiff_t pitch, const uint8_t *src, int w, int h,
                           const uint32_t *palette32)
{
    (void)dst; (void)pitch; (void)src; (void)w; (void)h; (void)palette32;
}
#endif

#endif
