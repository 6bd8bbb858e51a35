/* One streaming-inflate API over the inflater chosen at build time.
 *
 * RFB's zlib streams (one for ZRLE, four for Tight) live for the whole
 * connection and are sync-flushed after each rect, so a rect's compressed
 * bytes inflate to exactly that rect's data.  vnc_inflate() consumes all the
 * input it is given and reports whether the output fitted exactly.
 *
 * Backends, chosen by setup.py: VNC_INFLATE_ZLIBNG (zlib-ng's native zng_
 * API, built from source by scripts/build-zlib-ng.sh), VNC_INFLATE_ISAL
 * (Intel ISA-L, libisal) or VNC_INFLATE_ZLIB (the system zlib).  zlib and
 * zlib-ng share one implementation through the VNC_Z() name macro.
 */
#ifndef VNC_INFLATE_H
#define VNC_INFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
    VNC_INFLATE_OK = 0,     /* all input consumed, no output pending */
    VNC_INFLATE_LONG = 1,   /* output buffer full and more data remains */
    VNC_INFLATE_ERROR = -1, /* corrupt stream */
};

#if defined(VNC_INFLATE_ISAL)
#include <isa-l/igzip_lib.h>
#define VNC_INFLATER_NAME "isal"

typedef struct {
    struct inflate_state st;
    int ready;
} vnc_inflater;

static inline void vnc_inflater_reset(vnc_inflater *s)
{
    isal_inflate_init(&s->st);
    s->st.crc_flag = ISAL_ZLIB;
    s->ready = 1;
}

static inline void vnc_inflater_free(vnc_inflater *s) { s->ready = 0; }

static inline int vnc_isal_step(vnc_inflater *s, const uint8_t *in, size_t in_len,
                                uint8_t *out, size_t out_cap, size_t *produced)
{
    int rc;
    s->st.next_in = (uint8_t *)in;
    s->st.avail_in = (uint32_t)in_len;
    s->st.next_out = out;
    s->st.avail_out = (uint32_t)out_cap;
    rc = isal_inflate(&s->st);
    *produced = out_cap - s->st.avail_out;
    return rc;
}

static inline int vnc_inflate(vnc_inflater *s, const uint8_t *in, size_t in_len,
                              uint8_t *out, size_t out_cap, size_t *produced)
{
    uint8_t probe;
    size_t extra = 0;
    int rc;
    if (!s->ready)
        vnc_inflater_reset(s);
    if (in_len > 0xFFFFFFFFu || out_cap > 0xFFFFFFFFu)
        return VNC_INFLATE_ERROR;
    rc = vnc_isal_step(s, in, in_len, out, out_cap, produced);
    if (rc < 0)
        return VNC_INFLATE_ERROR;
    /* ISA-L reads ahead into its bit buffer: bytes after the stream's end
     * may sit there rather than in avail_in. */
    if (s->st.block_state == ISAL_BLOCK_FINISH && (s->st.avail_in > 0 || s->st.read_in_length >= 8))
        return VNC_INFLATE_ERROR;
    if (s->st.avail_in > 0)
        return s->st.avail_out == 0 ? VNC_INFLATE_LONG : VNC_INFLATE_ERROR;
    if (*produced == out_cap && s->st.block_state != ISAL_BLOCK_FINISH) {
        /* Output is exactly full: is more pending inside the inflater? */
        rc = vnc_isal_step(s, NULL, 0, &probe, 1, &extra);
        if (rc < 0)
            return VNC_INFLATE_ERROR;
        if (extra)
            return VNC_INFLATE_LONG;
    }
    return VNC_INFLATE_OK;
}

#else /* zlib or zlib-ng */
#if defined(VNC_INFLATE_ZLIBNG)
#include <zlib-ng.h>
#define VNC_INFLATER_NAME "zlib-ng"
#define VNC_Z(name) zng_##name
typedef zng_stream vnc_z_stream;
#else
#include <zlib.h>
#define VNC_INFLATER_NAME "zlib"
#define VNC_Z(name) name
typedef z_stream vnc_z_stream;
#endif

typedef struct {
    vnc_z_stream zs;
    int ready;
} vnc_inflater;

static inline void vnc_inflater_reset(vnc_inflater *s)
{
    if (s->ready) {
        VNC_Z(inflateReset)(&s->zs);
        return;
    }
    memset(&s->zs, 0, sizeof(s->zs));
    s->ready = VNC_Z(inflateInit)(&s->zs) == Z_OK;
}

static inline void vnc_inflater_free(vnc_inflater *s)
{
    if (s->ready)
        VNC_Z(inflateEnd)(&s->zs);
    s->ready = 0;
}

static inline int vnc_inflate(vnc_inflater *s, const uint8_t *in, size_t in_len,
                              uint8_t *out, size_t out_cap, size_t *produced)
{
    uint8_t probe;
    int rc;
    if (!s->ready) {
        vnc_inflater_reset(s);
        if (!s->ready)
            return VNC_INFLATE_ERROR;
    }
    if (in_len > 0xFFFFFFFFu || out_cap > 0xFFFFFFFFu)
        return VNC_INFLATE_ERROR;
    s->zs.next_in = (const uint8_t *)in;
    s->zs.avail_in = (uint32_t)in_len;
    s->zs.next_out = out;
    s->zs.avail_out = (uint32_t)out_cap;
    rc = VNC_Z(inflate)(&s->zs, Z_SYNC_FLUSH);
    *produced = out_cap - s->zs.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && in_len == 0))
        return VNC_INFLATE_ERROR;
    if (s->zs.avail_in > 0)
        return s->zs.avail_out == 0 ? VNC_INFLATE_LONG : VNC_INFLATE_ERROR;
    if (s->zs.avail_out == 0 && rc != Z_STREAM_END) {
        /* Output is exactly full: is more pending inside the inflater? */
        s->zs.next_out = &probe;
        s->zs.avail_out = 1;
        rc = VNC_Z(inflate)(&s->zs, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return VNC_INFLATE_ERROR;
        if (s->zs.avail_out == 0)
            return VNC_INFLATE_LONG;
    }
    return VNC_INFLATE_OK;
}
#endif

#endif
