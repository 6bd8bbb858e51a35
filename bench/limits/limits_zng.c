/* zlib-ng's native inflate over the same records (see limits.c): per rect,
 * and with each run of ZRLE or Tight rects (extract.py) gathered and
 * inflated by one call a stream, as the decode core does. */
#include <stdlib.h>
#include <string.h>
#include <zlib-ng.h>
#include "limits.h"

/* The connection's streams: one for ZRLE, four for Tight. */
static void open_streams(zng_stream *zrle, zng_stream *tight)
{
    memset(zrle, 0, sizeof *zrle);
    memset(tight, 0, 4 * sizeof *tight);
    if (zng_inflateInit(zrle) != Z_OK)
        die("zng_inflateInit");
    for (int i = 0; i < 4; i++)
        if (zng_inflateInit(&tight[i]) != Z_OK)
            die("zng_inflateInit");
}

static void reset_streams(zng_stream *tight, int mask)
{
    for (int s = 0; s < 4; s++)
        if (mask & (1 << s))
            zng_inflateReset(&tight[s]);
}

static void close_streams(zng_stream *zrle, zng_stream *tight)
{
    zng_inflateEnd(zrle);
    for (int i = 0; i < 4; i++)
        zng_inflateEnd(&tight[i]);
}

unsigned long long run_zlibng(void)
{
    zng_stream zrle, tight[4];
    unsigned long long total = 0;
    open_streams(&zrle, tight);
    for (size_t i = 0; i < nrecs; i++) {
        rec *r = &recs[i];
        zng_stream *zs;
        if (r->kind == K_TIGHT_RESET) {
            reset_streams(tight, r->resets);
            continue;
        }
        if (r->kind == K_ZRLE)
            zs = &zrle;
        else if (r->kind == K_TIGHT_ZLIB)
            zs = &tight[r->stream & 3];
        else
            continue;
        zs->next_in = r->data;
        zs->avail_in = r->inlen;
        zs->next_out = outbuf;
        zs->avail_out = r->outlen;
        int rc = zng_inflate(zs, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            die("zlib-ng inflate error");
        total += r->outlen - zs->avail_out;
    }
    close_streams(&zrle, tight);
    return total;
}

static uint8_t *gathered, *runout;
static size_t gathered_cap, runout_cap;

static void reserve(uint8_t **buf, size_t *cap, size_t size)
{
    if (size > *cap && !(*buf = realloc(*buf, *cap = size)))
        die("out of memory");
}

/* Inflate n bytes at in on zs, into runout + at (room for cap bytes): the bytes made. */
static size_t inflate_piece(zng_stream *zs, const uint8_t *in, size_t n, size_t at, size_t cap)
{
    zs->next_in = in;
    zs->avail_in = (uint32_t)n;
    zs->next_out = runout + at;
    zs->avail_out = (uint32_t)cap;
    int rc = zng_inflate(zs, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        die("zlib-ng inflate error");
    return cap - zs->avail_out;
}

/* Does recs[j] join the run of the record at i (same kind, marked by extract.py)? */
static int joins(size_t j, int kind)
{
    return recs[j].kind == kind && (kind == K_ZRLE ? recs[j].stream != 0 : (recs[j].stream & 0x80) != 0);
}

unsigned long long run_zlibng_runs(void)
{
    zng_stream zrle, tight[4];
    unsigned long long total = 0;
    open_streams(&zrle, tight);
    for (size_t i = 0; i < nrecs; i++) {
        rec *r = &recs[i];
        if (r->kind == K_TIGHT_RESET) {
            reset_streams(tight, r->resets);
            continue;
        }
        if (r->kind != K_ZRLE && r->kind != K_TIGHT_ZLIB)
            continue;
        /* the run: this record and the records of its kind after it that join
         * it (other kinds between are the run's pixel and JPEG records); per
         * stream (ZRLE: stream 0) its input gathered and its output bound */
        size_t in[4] = {0}, out[4] = {0}, at_in[4], at_out[4], last = i, sum_in = 0, sum_out = 0;
        int tight_run = r->kind == K_TIGHT_ZLIB;
        for (size_t j = i; j < nrecs; j++) {
            if (recs[j].kind != r->kind)
                continue;
            if (j > i && !joins(j, r->kind))
                break;
            int s = tight_run ? recs[j].stream & 3 : 0;
            in[s] += recs[j].inlen;
            out[s] += recs[j].outlen;
            last = j;
        }
        for (int s = 0; s < 4; s++) {
            at_in[s] = sum_in;
            at_out[s] = sum_out;
            sum_in += in[s];
            sum_out += out[s] + 1;
        }
        reserve(&gathered, &gathered_cap, sum_in);
        reserve(&runout, &runout_cap, sum_out);
        size_t fill[4] = {0};
        for (size_t j = i; j <= last; j++)
            if (recs[j].kind == r->kind) {
                int s = tight_run ? recs[j].stream & 3 : 0;
                memcpy(gathered + at_in[s] + fill[s], recs[j].data, recs[j].inlen);
                fill[s] += recs[j].inlen;
            }
        for (int s = 0; s < 4; s++)
            if (in[s])
                total += inflate_piece(tight_run ? &tight[s] : &zrle, gathered + at_in[s], in[s], at_out[s], out[s] + 1);
        i = last;
    }
    close_streams(&zrle, tight);
    return total;
}
