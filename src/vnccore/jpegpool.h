/* Parallel JPEG decoding for Tight: the JPEG rects of one update are
 * independent, so they are decoded by the calling thread together with a
 * small process-wide pool of worker threads, each with its own TurboJPEG
 * handle.
 *
 * A batch is an array of jobs owned by the caller.  vnc_jpeg_run() publishes
 * the batch, decodes jobs itself until none is left to claim, and returns
 * once every job is done.  The workers are started on first use (never at
 * import) and live for the process.  The caller keeps rects whose regions
 * overlap in order by running a batch before a conflicting rect.
 */
#ifndef VNC_JPEGPOOL_H
#define VNC_JPEGPOOL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>

#define VNC_JPEG_MAX_WORKERS 16

typedef struct {
    const uint8_t *jpeg;
    unsigned long size;
    uint8_t *dst;
    int x, y, w, h, pitch;
    int index;       /* the rect's index in its update, for error messages */
    int failed;
    char error[160];
} vnc_jpeg_job;

typedef struct vnc_jpeg_batch {
    vnc_jpeg_job *jobs;
    int count;
    atomic_int next;  /* next job to claim */
    int done;         /* jobs finished (under the pool lock) */
    int users;        /* workers holding the batch (under the pool lock) */
    struct vnc_jpeg_batch *link;
} vnc_jpeg_batch;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;  /* a batch was published */
    pthread_cond_t idle;  /* a batch finished */
    vnc_jpeg_batch *head;
    int workers;
    int started;
} vnc_jpeg_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0};

/* Does the JPEG define its own quantization and Huffman tables before its
 * scan?  A decoder handle keeps tables from earlier images, so an image that
 * leans on them would decode differently on each worker: refuse it. */
static int vnc_jpeg_has_tables(const uint8_t *p, unsigned long n)
{
    unsigned long pos = 2;
    int dqt = 0, dht = 0;
    if (n < 4 || p[0] != 0xFF || p[1] != 0xD8)
        return 0;
    while (pos + 4 <= n) {
        uint8_t marker;
        if (p[pos] != 0xFF)
            return 0;
        marker = p[pos + 1];
        if (marker == 0xFF) {  /* fill byte */
            pos++;
            continue;
        }
        if (marker == 0xDA)  /* start of scan */
            return dqt && dht;
        if (marker == 0xDB)
            dqt = 1;
        else if (marker == 0xC4)
            dht = 1;
        pos += 2 + (((unsigned long)p[pos + 2] << 8) | p[pos + 3]);
    }
    return 0;
}

/* Decode one job with `handle`: the JPEG must be exactly w x h. */
static void vnc_jpeg_decode_job(tjhandle handle, vnc_jpeg_job *job)
{
    int jw = 0, jh = 0, subsamp = 0, colorspace = 0;
    if (handle == NULL) {
        job->failed = 1;
        snprintf(job->error, sizeof(job->error), "cannot initialise the JPEG decoder");
        return;
    }
    if (!vnc_jpeg_has_tables(job->jpeg, job->size)) {
        job->failed = 1;
        snprintf(job->error, sizeof(job->error),
                 "JPEG lacks its own quantization or Huffman tables before the scan");
        return;
    }
    /* a warning (e.g. stray bytes before a marker) still gives the size */
    if (tjDecompressHeader3(handle, job->jpeg, job->size, &jw, &jh, &subsamp, &colorspace) != 0
        && (tjGetErrorCode(handle) != TJERR_WARNING || jw <= 0 || jh <= 0)) {
        job->failed = 1;
        snprintf(job->error, sizeof(job->error), "bad JPEG header: %s", tjGetErrorStr2(handle));
        return;
    }
    if (jw != job->w || jh != job->h) {
        job->failed = 1;
        snprintf(job->error, sizeof(job->error), "JPEG image is %dx%d, the rect %dx%d", jw, jh, job->w, job->h);
        return;
    }
    /* Any failure of the decode, warnings included, fails the rect: TurboJPEG 2.1
     * reports a fatal libjpeg error that follows a warning as a warning (its
     * flag is never cleared), with no pixel written; real encoders never
     * produce a JPEG that warns. */
    if (tjDecompress2(handle, job->jpeg, job->size, job->dst, job->w, job->pitch, job->h, TJPF_RGB, 0) != 0) {
        job->failed = 1;
        snprintf(job->error, sizeof(job->error), "JPEG decode failed: %s", tjGetErrorStr2(handle));
    }
}

/* Claim and decode jobs of `batch` until none is left; return how many. */
static int vnc_jpeg_work_on(vnc_jpeg_batch *batch, tjhandle handle)
{
    int i, n = 0;
    while ((i = atomic_fetch_add(&batch->next, 1)) < batch->count) {
        vnc_jpeg_decode_job(handle, &batch->jobs[i]);
        n++;
    }
    return n;
}

/* Account for n finished jobs; `worker` releases its hold on the batch. */
static void vnc_jpeg_finish(vnc_jpeg_batch *batch, int n, int worker)
{
    pthread_mutex_lock(&vnc_jpeg_pool.lock);
    batch->done += n;
    batch->users -= worker;
    pthread_cond_broadcast(&vnc_jpeg_pool.idle);
    pthread_mutex_unlock(&vnc_jpeg_pool.lock);
}

static void *vnc_jpeg_worker(void *unused)
{
    tjhandle handle = tjInitDecompress();
    vnc_jpeg_batch *batch;
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&vnc_jpeg_pool.lock);
        for (;;) {
            /* drop fully claimed batches from the list, hold the first open one */
            while (vnc_jpeg_pool.head && atomic_load(&vnc_jpeg_pool.head->next) >= vnc_jpeg_pool.head->count)
                vnc_jpeg_pool.head = vnc_jpeg_pool.head->link;
            batch = vnc_jpeg_pool.head;
            if (batch) {
                batch->users++;  /* the caller waits for this before reusing it */
                break;
            }
            pthread_cond_wait(&vnc_jpeg_pool.work, &vnc_jpeg_pool.lock);
        }
        pthread_mutex_unlock(&vnc_jpeg_pool.lock);
        vnc_jpeg_finish(batch, vnc_jpeg_work_on(batch, handle), 1);
    }
    return NULL;
}

/* A forked child has none of the parent's workers: start afresh. */
static void vnc_jpeg_after_fork_in_child(void)
{
    pthread_mutex_init(&vnc_jpeg_pool.lock, NULL);
    pthread_cond_init(&vnc_jpeg_pool.work, NULL);
    pthread_cond_init(&vnc_jpeg_pool.idle, NULL);
    vnc_jpeg_pool.head = NULL;
    vnc_jpeg_pool.workers = 0;
    vnc_jpeg_pool.started = 0;
}

/* The CPUs this process may run on (its affinity mask: taskset, cpusets),
 * else the online ones. */
static long vnc_usable_cpus(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/* Start the workers once: one fewer than the usable CPUs (none on one CPU). */
static void vnc_jpeg_start_pool(void)
{
    static int fork_handler;
    long cpus;
    int i;
    pthread_t thread;
    pthread_attr_t attr;
    pthread_mutex_lock(&vnc_jpeg_pool.lock);
    if (!fork_handler) {
        fork_handler = 1;
        pthread_atfork(NULL, NULL, vnc_jpeg_after_fork_in_child);
    }
    if (!vnc_jpeg_pool.started) {
        vnc_jpeg_pool.started = 1;
        cpus = vnc_usable_cpus();
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        for (i = 0; i < cpus - 1 && i < VNC_JPEG_MAX_WORKERS; i++)
            if (pthread_create(&thread, &attr, vnc_jpeg_worker, NULL) == 0)
                vnc_jpeg_pool.workers++;
        pthread_attr_destroy(&attr);
    }
    pthread_mutex_unlock(&vnc_jpeg_pool.lock);
}

/* Decode every job of `batch`; with `parallel`, the pool's workers help. */
static void vnc_jpeg_run(vnc_jpeg_batch *batch, tjhandle handle, int parallel)
{
    vnc_jpeg_batch **tail;
    int published = 0, n;
    atomic_store(&batch->next, 0);
    batch->done = 0;
    batch->users = 0;
    batch->link = NULL;
    if (parallel && batch->count > 1) {
        vnc_jpeg_start_pool();
        if (vnc_jpeg_pool.workers > 0) {
            pthread_mutex_lock(&vnc_jpeg_pool.lock);
            for (tail = &vnc_jpeg_pool.head; *tail; tail = &(*tail)->link)
                ;
            *tail = batch;
            pthread_cond_broadcast(&vnc_jpeg_pool.work);
            pthread_mutex_unlock(&vnc_jpeg_pool.lock);
            published = 1;
        }
    }
    n = vnc_jpeg_work_on(batch, handle);
    if (!published) {
        batch->done = n;
        return;
    }
    pthread_mutex_lock(&vnc_jpeg_pool.lock);
    batch->done += n;
    /* unlink it (if no worker has) so no worker can take it any more */
    for (tail = &vnc_jpeg_pool.head; *tail; tail = &(*tail)->link)
        if (*tail == batch) {
            *tail = batch->link;
            break;
        }
    while (batch->done < batch->count || batch->users > 0)
        pthread_cond_wait(&vnc_jpeg_pool.idle, &vnc_jpeg_pool.lock);
    pthread_mutex_unlock(&vnc_jpeg_pool.lock);
}

#endif
