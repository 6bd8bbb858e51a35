/* zlib-ng's native inflate over the same records (see limits.c). */
#include <string.h>
#include <zlib-ng.h>
#include "limits.h"

unsigned long long run_zlibng(void)
{
    zng_stream zrle, tight[4];
    unsigned long long total = 0;
    memset(&zrle, 0, sizeof zrle);
    memset(tight, 0, sizeof tight);
    if (zng_inflateInit(&zrle) != Z_OK)
        die("zng_inflateInit");
    for (int i = 0; i < 4; i++)
        if (zng_inflateInit(&tight[i]) != Z_OK)
            die("zng_inflateInit");
    for (size_t i = 0; i < nrecs; i++) {
        rec *r = &recs[i];
        zng_stream *zs;
        if (r->kind == K_TIGHT_RESET) {
            for (int s = 0; s < 4; s++)
                if (r->resets & (1 << s))
                    zng_inflateReset(&tight[s]);
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
    zng_inflateEnd(&zrle);
    for (int i = 0; i < 4; i++)
        zng_inflateEnd(&tight[i]);
    return total;
}
