/* Palette rects by byte shuffles, whole: ZRLE's 2-bit tiles (3 or 4
 * colours) and Tight's palette rects of 3 to 5 colours (a byte an index);
 * and, with AVX2, 1-bit rows (2 colours: ZRLE tiles, Tight rects).
 *
 * On x86 with SSSE3 the palette (up to 5 colours x 3 bytes) sits in a
 * register and one byte shuffle through a mask makes the RGB bytes of 4
 * (2-bit) or 5 (8-bit indices) pixels: no per-palette table to build, which
 * matters where palettes change rect by rect.  A 2-bit byte picks its
 * constant mask; 8-bit indices are spread and scaled into one.
 * vnc_shuffle_on says whether the shuffle functions may be called; without
 * it the callers go by tables (pixels.pxi).
 *
 * The callers check indices before painting (vnc_rows2_uses_index3,
 * vnc_max_index), so the painting loops carry no per-pixel check.
 */
#ifndef VNC_PALETTE_ROWS_H
#define VNC_PALETTE_ROWS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Nonzero while the shuffle path (SSSE3) and the 1-bit path (AVX2) are in
 * use (vnc_shuffle_init, vnc_shuffle_use). */
static int vnc_shuffle_on = 0;
static int vnc_shuffle_available = 0;
static int vnc_bits_on = 0;
static int vnc_bits_available = 0;

/* Use the shuffle and 1-bit paths or not (the tests run both ways); returns
 * whether the shuffle path is used. */
static inline int vnc_shuffle_use(int on)
{
    vnc_shuffle_on = on && vnc_shuffle_available;
    vnc_bits_on = on && vnc_bits_available;
    return vnc_shuffle_on;
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

/* Copy k (1 to 5) 3-byte pixels exactly (fixed sizes: a move or two each). */
static inline void vnc_copy_pixels(uint8_t *dst, const uint8_t *src, int k)
{
    switch (k) {
    case 1: memcpy(dst, src, 3); break;
    case 2: memcpy(dst, src, 6); break;
    case 3: memcpy(dst, src, 9); break;
    case 4: memcpy(dst, src, 12); break;
    default: memcpy(dst, src, 15); break;
    }
}

/* Copy n (1 to 96) bytes exactly, by fixed-size moves that may overlap
 * (no library call for a row's tail: the 1-bit vectors, block fills). */
static inline void vnc_copy_short(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t i;
    if (n >= 32) {
        for (i = 0; i + 32 < n; i += 32)
            memcpy(dst + i, src + i, 32);
        memcpy(dst + n - 32, src + n - 32, 32);
    } else if (n >= 16) {
        memcpy(dst, src, 16);
        memcpy(dst + n - 16, src + n - 16, 16);
    } else if (n >= 8) {
        memcpy(dst, src, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + n - 4, src + n - 4, 4);
    } else {
        dst[0] = src[0];
        if (n > 1)
            memcpy(dst + n - 2, src + n - 2, 2);
    }
}

/* The largest of n > 0 index bytes (a loop the compiler vectorises). */
static inline uint8_t vnc_max_index(const uint8_t *src, size_t n)
{
    uint8_t top = 0;
    size_t i;
    for (i = 0; i < n; i++)
        top = src[i] > top ? src[i] : top;
    return top;
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>

/* The shuffle mask of each byte of indices: output byte j (j < 12) is
 * byte 3 * index + j % 3 of the palette, index = the (j / 3)-th 2-bit field,
 * most significant first.  Bytes 12-15 repeat the first pixel (stores of
 * them are overwritten). */
static uint8_t vnc_rows2_masks[256][16] __attribute__((aligned(16)));

/* The first n (<= 5) palette32 entries as RGB bytes in a register, the rest 0. */
__attribute__((target("ssse3"))) static inline __m128i vnc_palette_vector(const uint32_t *palette32, int n)
{
    uint8_t bytes[20];
    int k;
    for (k = 0; k < n; k++)
        memcpy(bytes + 3 * k, &palette32[k], 4);
    memset(bytes + 3 * n, 0, sizeof(bytes) - 3 * n);
    return _mm_loadu_si128((const __m128i *)bytes);
}

/* For a 32-pixel group of 1-bit indices (4 bytes, 96 output bytes, three
 * 32-byte vectors k): output byte J = 32k + j is colour byte J % 3 of pixel
 * J / 3, whose index is bit 7 - (J / 3) % 8 of index byte (J / 3) / 8. */
static uint8_t vnc_rows1_byte[3][32] __attribute__((aligned(32)));
static uint8_t vnc_rows1_bit[3][32] __attribute__((aligned(32)));
static uint8_t vnc_rows1_channel[3][32] __attribute__((aligned(32)));

/* Decide once, at import, whether the shuffle and 1-bit paths run here. */
static inline int vnc_shuffle_init(void)
{
    int byte, j, k, index, pixel;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("ssse3"))
        return vnc_shuffle_use(0);
    for (byte = 0; byte < 256; byte++)
        for (j = 0; j < 16; j++) {
            index = (byte >> (6 - 2 * ((j % 12) / 3))) & 3;
            vnc_rows2_masks[byte][j] = (uint8_t)(3 * index + j % 3);
        }
    vnc_shuffle_available = 1;
    if (__builtin_cpu_supports("avx2")) {
        for (k = 0; k < 3; k++)
            for (j = 0; j < 32; j++) {
                pixel = (32 * k + j) / 3;
                vnc_rows1_byte[k][j] = (uint8_t)(pixel / 8);
                vnc_rows1_bit[k][j] = (uint8_t)(0x80 >> (pixel % 8));
                vnc_rows1_channel[k][j] = (uint8_t)((32 * k + j) % 3);
            }
        vnc_bits_available = 1;
    }
    return vnc_shuffle_use(1);
}

/* Paint a w x h rect (w >= 1) of 1-bit rows ((w + 7) / 8 bytes each, most
 * significant bit first) from src in the colours palette32[0] and [1], 32
 * pixels a step: each index byte is spread over its pixels' bytes by a
 * shuffle and tested against its bit, which blends colour 0 or 1 in.
 * Writes exactly the rect's pixels; reads exactly its rows. */
__attribute__((target("avx2"))) static void vnc_rows1_rect(uint8_t *dst, ptrdiff_t pitch,
                                                         const uint8_t *src, int w, int h,
                                                         const uint32_t *palette32)
{
    uint8_t tail[96];
    uint32_t word;
    size_t rowbytes = ((size_t)w + 7) >> 3;
    int groups = w >> 5, rest = w & 31, row, g, k;
    const uint8_t *in;
    uint8_t *out;
    __m256i byte_sel[3], bit[3], colour0[3], colour1[3], spread;
    const __m256i c0 = _mm256_set1_epi32((int)palette32[0]);
    const __m256i c1 = _mm256_set1_epi32((int)palette32[1]);
    for (k = 0; k < 3; k++) {
        const __m256i channel = _mm256_load_si256((const __m256i *)vnc_rows1_channel[k]);
        byte_sel[k] = _mm256_load_si256((const __m256i *)vnc_rows1_byte[k]);
        bit[k] = _mm256_load_si256((const __m256i *)vnc_rows1_bit[k]);
        colour0[k] = _mm256_shuffle_epi8(c0, channel);
        colour1[k] = _mm256_shuffle_epi8(c1, channel);
    }
/* the 32-byte vector k of the group whose 4 index bytes are broadcast in v */
#define VNC_BITS_VECTOR(v, k)                                                           \
    _mm256_blendv_epi8(colour0[k], colour1[k],                                       \
                       _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8((v), byte_sel[k]), bit[k]), \
                                         bit[k]))
    for (row = 0; row < h; row++, src += rowbytes, dst += pitch) {
        in = src;
        out = dst;
        for (g = 0; g < groups; g++, in += 4, out += 96) {
            memcpy(&word, in, 4);
            spread = _mm256_set1_epi32((int)word);
            _mm256_storeu_si256((__m256i *)out, VNC_BITS_VECTOR(spread, 0));
            _mm256_storeu_si256((__m256i *)(out + 32), VNC_BITS_VECTOR(spread, 1));
            _mm256_storeu_si256((__m256i *)(out + 64), VNC_BITS_VECTOR(spread, 2));
        }
        if (rest) {
            word = 0;
            switch ((rest + 7) >> 3) { /* the row's last 1-4 index bytes */
            case 1: memcpy(&word, in, 1); break;
            case 2: memcpy(&word, in, 2); break;
            case 3: memcpy(&word, in, 3); break;
            default: memcpy(&word, in, 4); break;
            }
            spread = _mm256_set1_epi32((int)word);
            _mm256_storeu_si256((__m256i *)tail, VNC_BITS_VECTOR(spread, 0));
            _mm256_storeu_si256((__m256i *)(tail + 32), VNC_BITS_VECTOR(spread, 1));
            _mm256_storeu_si256((__m256i *)(tail + 64), VNC_BITS_VECTOR(spread, 2));
            vnc_copy_short(out, tail, (size_t)rest * 3);
        }
    }
#undef VNC_BITS_VECTOR
}

/* Paint a w x h tile (w >= 1) of 2-bit rows from src, palette32 holding 4
 * entries (the 4th unused by a valid 3-colour tile).  Writes exactly the
 * tile's pixels. */
__attribute__((target("ssse3"))) static void vnc_rows2_tile(uint8_t *dst, ptrdiff_t pitch,
                                                          const uint8_t *src, int w, int h,
                                                          const uint32_t *palette32)
{
    uint8_t tail[32];
    size_t rowbytes = ((size_t)w + 3) >> 2;
    /* bytes whose 16-byte store stays inside the row: 2 more pixels follow */
    int wide = w > 2 ? (w - 2) >> 2 : 0;
    int rest = w - 4 * wide; /* 1 to 5 pixels */
    int row, i;
    uint8_t *out;
    const __m128i palette = vnc_palette_vector(palette32, 4);
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
        vnc_copy_pixels(out, tail, rest);
    }
}

/* Paint a w x h rect (w >= 1) of 8-bit indices (rows of w bytes from src),
 * all below colours <= 5.  Writes exactly the rect's pixels; reads nothing
 * past the rect's w * h indices. */
__attribute__((target("ssse3"))) static void vnc_index_rect(uint8_t *dst, ptrdiff_t pitch,
                                                          const uint8_t *src, int w, int h,
                                                          const uint32_t *palette32, int colours)
{
    uint8_t tail[16];
    uint64_t word;
    const uint8_t *end = src + (size_t)w * h, *in;
    int row, g, rest;
    /* 5-pixel groups whose 16-byte store stays in the row: another pixel follows */
    int wide = (w - 1) / 5;
    uint8_t *out;
    /* output byte j takes palette byte 3 * index[j / 3] + j % 3 */
    const __m128i times3 = _mm_setr_epi8(0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45);
    const __m128i spread = _mm_setr_epi8(0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4);
    const __m128i channel = _mm_setr_epi8(0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0);
    const __m128i palette = vnc_palette_vector(palette32, colours);
    __m128i v;
/* the 5 pixels of the indices in the low bytes of v (bytes 5-15: any index) */
#define VNC_INDEX_PIXELS(v) \
    _mm_shuffle_epi8(palette, _mm_add_epi8(_mm_shuffle_epi8(_mm_shuffle_epi8(times3, (v)), spread), channel))
    for (row = 0; row < h; row++, src += w, dst += pitch) {
        in = src;
        out = dst;
        for (g = 0; g < wide; g++, in += 5, out += 15) {
            if (in + 8 <= end) {
                v = _mm_loadl_epi64((const __m128i *)in);
            } else { /* the last row's last groups: 6 bytes are the row's */
                word = 0;
                memcpy(&word, in, 6);
                v = _mm_cvtsi64_si128((long long)word);
            }
            _mm_storeu_si128((__m128i *)out, VNC_INDEX_PIXELS(v));
        }
        rest = w - 5 * wide; /* 1 to 5 pixels */
        word = 0;
        switch (rest) {
        case 1: memcpy(&word, in, 1); break;
        case 2: memcpy(&word, in, 2); break;
        case 3: memcpy(&word, in, 3); break;
        case 4: memcpy(&word, in, 4); break;
        default: memcpy(&word, in, 5); break;
        }
        _mm_storeu_si128((__m128i *)tail, VNC_INDEX_PIXELS(_mm_cvtsi64_si128((long long)word)));
        vnc_copy_pixels(out, tail, rest);
    }
#undef VNC_INDEX_PIXELS
}

#else
static inline int vnc_shuffle_init(void) { return vnc_shuffle_use(0); }

static void vnc_rows1_rect(uint8_t *dst, ptrdiff_t pitch, const uint8_t *src, int w, int h,
                           const uint32_t *palette32)
{
    (void)dst; (void)pitch; (void)src; (void)w; (void)h; (void)palette32;
}

static void vnc_rows2_tile(uint8_t *dst, ptrdiff_t pitch, const uint8_t *src, int w, int h,
                           const uint32_t *palette32)
{
    (void)dst; (void)pitch; (void)src; (void)w; (void)h; (void)palette32;
}

static void vnc_index_rect(uint8_t *dst, ptrdiff_t pitch, const uint8_t *src, int w, int h,
                           const uint32_t *palette32, int colours)
{
    (void)dst; (void)pitch; (void)src; (void)w; (void)h; (void)palette32; (void)colours;
}
#endif

#endif
