/* dist.c — the part of nl.dist (data-parallel runs on Open MPI) that must be
 * C: the exit handler that outlives the Lua state. It ends MPI cleanly when
 * the process exits with status 0 and aborts the whole job otherwise. No MPI
 * is linked here: lua/nnlua/dist.lua loads libmpi and hands its functions in. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a rank that leaves while others wait ----
 * A rank that exits cleanly (or finalizes) while another waits in a
 * collective it will never join left that one waiting forever, and the job
 * with it (Open MPI's finalize waits for every rank, too). Now it first
 * sends every other rank, on a duplicate of the world communicator, its
 * rank and the number of collectives it started. A wait polls for these
 * notices: once a rank has left before starting the collective waited for,
 * the wait fails with an error, the rank exits with a failure, and the
 * exit handler's MPI_Abort ends the job. A notice from a rank that took
 * part in the collective does not: its part is on the way. */
#define EXIT_TAG 7471

static int64_t dist_seq;           /* collectives this process started */
static int64_t *left_after;        /* per rank: collectives it started before it left; -1: still here */
static int left_n;

int64_t nl_dist_next_seq(void) { return ++dist_seq; }

int nl_dist_announce_exit(const nl_dist_mpi *m) {
    NL_CHECK_INT(m && m->send && m->ctl && m->int64, "dist: no MPI_Send or control communicator to announce the exit");
    int64_t msg[2] = { m->rank, dist_seq };
    for (int r = 0; r < m->size; r++) {
        if (r == m->rank) continue;
        int e = m->send(msg, 2, m->int64, r, EXIT_TAG, m->ctl);
        NL_CHECK_INT(e == 0, "dist: MPI_Send of the exit notice to rank %d failed (error %d)", r, e);
    }
    return 0;
}

/* reads the notices that have come; -1 when out of memory */
static int read_notices(const nl_dist_mpi *m) {
    if (!left_after) {
        left_after = malloc(sizeof *left_after * (size_t)(m->size > 0 ? m->size : 1));
        NL_CHECK_INT(left_after, "dist: out of memory");
        left_n = m->size;
        for (int r = 0; r < left_n; r++) left_after[r] = -1;
    }
    for (;;) {
        int flag = 0;
        if (m->iprobe(-1 /* MPI_ANY_SOURCE */, EXIT_TAG, m->ctl, &flag, NULL) != 0 || !flag) return 0;
        int64_t msg[2];
        if (m->recv(msg, 2, m->int64, -1, EXIT_TAG, m->ctl, NULL) != 0) return 0;
        if (msg[0] >= 0 && msg[0] < left_n) left_after[msg[0]] = msg[1];
    }
}

int nl_dist_wait(const nl_dist_mpi *m, void **request, int64_t seq, const char *op) {
    NL_CHECK_INT(m && request, "%s: no request to wait for", op);
    for (;;) {
        int done = 0;
        int e = m->test(request, &done, NULL);
        NL_CHECK_INT(e == 0, "%s: MPI_Test failed (error %d)", op, e);
        if (done) return 0;
        if (!m->iprobe || !m->recv || !m->ctl) continue;   /* no notices to look for */
        if (read_notices(m) != 0) return -1;
        for (int r = 0; r < left_n; r++) {
            if (left_after[r] >= 0 && left_after[r] < seq) {
                nl_set_error("%s: rank %d of %d has exited after %lld collectives, while this rank waits in "
                             "collective %lld, which it never started: every rank must make the same "
                             "collective calls (and, under DataParallel, the same number of steps)",
                             op, r, m->size, (long long)left_after[r], (long long)seq);
                return -1;
            }
        }
    }
}

/* Runs at exit(), after the runner has reported any error and closed its
 * Lua state. A rank that failed must not call MPI_Finalize: Open MPI's
 * finalize waits for every rank, and the others wait in a collective for
 * this one, so the job would hang. MPI_Abort makes the launcher kill them.
 * A clean exit tells the others it leaves first (see above). */
static void dist_at_exit(int status, void *arg)
{
    nl_dist_exit *h = arg;
    int done = 1;
    if (h->finalized(&done) == 0 && !done) {
        if (status == 0 && (!h->mpi.send || nl_dist_announce_exit(&h->mpi) == 0)) {
            h->finalize();
        } else {
            fflush(stdout);
            fprintf(stderr, "nnlua: rank %d of %d exited with status %d; aborting the job\n",
                    h->rank, h->size, status);
            fflush(stderr);
            h->abort(h->comm, status ? status : 1);
        }
    }
    free(h);
}

int nl_dist_on_exit(const nl_dist_exit *hooks)
{
    NL_CHECK_INT(hooks != NULL && hooks->finalized != NULL && hooks->finalize != NULL &&
                 hooks->abort != NULL, "dist: nl_dist_on_exit needs MPI_Finalized, MPI_Finalize and MPI_Abort");
    nl_dist_exit *copy = malloc(sizeof *copy);
    NL_CHECK_INT(copy != NULL, "dist: out of memory");
    *copy = *hooks;
    if (on_exit(dist_at_exit, copy) != 0) {
        free(copy);
        nl_set_error("dist: cannot register the exit handler (on_exit failed)");
        return -1;
    }
    return 0;
}

/* ---- gradient averaging that overlaps backward ----
 * The parameters go in buckets, numbered in the order backward is expected
 * to finish them (the last parameters first). A gradient-ready hook copies
 * each parameter's gradient into its bucket's flat buffer as backward
 * finishes it; a full bucket starts its non-blocking allreduce at once,
 * provided every bucket before it has started, so all ranks start them in
 * one order whatever order their gradients come in. Backward then goes on
 * while the sums travel; MPI_Test in later hooks moves them along (Open
 * MPI progresses only inside its calls). finish() starts the rest, waits,
 * and writes the averages back. After the values, each bucket's buffer
 * holds one slot per parameter: 1 on a rank that had a gradient for it,
 * so the sum says whether any rank had one. */

typedef struct {
    int dtype;
    int64_t numel;                /* gradient elements; the slots follow */
    int first, count;             /* its parameters: order[first .. first+count) */
    int ready;                    /* parameters whose gradient is in */
    int started;
    void *request;                /* MPI_Request: a pointer in Open MPI */
    int64_t seq;                  /* its number among the collectives (nl_dist_next_seq) */
    nl_tensor *flat;              /* (numel + count) elements */
} dp_bucket;

struct nl_dist_reducer {
    nl_dist_mpi mpi;
    int n, nb;
    nl_tensor **params;           /* (n) retained, in bucket order */
    int *bucket_of;               /* (n) per parameter, in bucket order */
    int64_t *offset;              /* (n) first element in the bucket's buffer */
    unsigned char *ready;         /* (n) */
    dp_bucket *buckets;           /* (nb) */
    int next;                     /* the first bucket not started */
    int armed;
    int overlap;                  /* armed to start buckets inside backward, not only to watch */
    int touched;                  /* a backward since arm() finished one of the gradients */
    int early;                    /* buckets started during the last backward */
    int failed;                   /* a hook failed: finish() reports failed_msg */
    char failed_msg[512];
    int64_t mask;                 /* the address table: index + 1, 0 empty */
    int *table;
};

static int64_t slot_of(const nl_dist_reducer *r, const nl_tensor *t) {
    uint64_t h = ((uintptr_t)t >> 6) * UINT64_C(0x9E3779B97F4A7C15);
    int64_t i = (int64_t)(h >> 32) & r->mask;
    while (r->table[i] && r->params[r->table[i] - 1] != t) i = (i + 1) & r->mask;
    return i;
}

static void *mpi_dtype(const nl_dist_reducer *r, int dtype) {
    return dtype == NL_FLOAT32 ? r->mpi.float32 : r->mpi.float64;
}

/* p's part of a bucket's buffer, shaped as p */
static nl_tensor *flat_view(dp_bucket *b, const nl_tensor *p, int64_t offset) {
    int64_t st[8];
    nl_contiguous_strides(p->ndim, p->sizes, st);
    return nl_tensor_new_view(b->flat, p->ndim, p->sizes, st, offset);
}

/* the gradient of parameter i (or zeros) and its slot into the buffer */
static int pack(nl_dist_reducer *r, int i) {
    dp_bucket *b = &r->buckets[r->bucket_of[i]];
    nl_tensor *p = r->params[i], *g = p->grad;
    int64_t es = nl_dtype_size(b->dtype);
    char *dst = (char *)b->flat->data + r->offset[i] * es;
    char *slot = (char *)b->flat->data + (b->numel + (i - b->first)) * es;
    if (g && g->dtype == b->dtype && nl_is_contiguous(g) && g->numel == p->numel) {
        memcpy(dst, g->data, (size_t)(p->numel * es));
    } else if (g) {
        nl_tensor *view = flat_view(b, p, r->offset[i]);
        if (!view) return -1;
        int rc = nl_copy_(view, g);
        nl_release(view);
        if (rc != 0) return -1;
    } else {
        memset(dst, 0, (size_t)(p->numel * es));
    }
    if (b->dtype == NL_FLOAT32) *(float *)slot = g ? 1.0f : 0.0f;
    else *(double *)slot = g ? 1.0 : 0.0;
    return 0;
}

static int start(nl_dist_reducer *r, dp_bucket *b) {
    int64_t count = b->numel + b->count;
    NL_CHECK_INT(count <= INT32_MAX, "DataParallel: a bucket of %lld elements is more than one MPI call takes",
                 (long long)count);
    b->seq = nl_dist_next_seq();
    int rc = r->mpi.iallreduce((const void *)1 /* MPI_IN_PLACE */, b->flat->data, (int)count,
                               mpi_dtype(r, b->dtype), r->mpi.sum, r->mpi.comm, &b->request);
    NL_CHECK_INT(rc == 0, "DataParallel: MPI_Iallreduce failed (error %d)", rc);
    b->started = 1;
    return 0;
}

/* starts the full buckets next in line, and moves the started ones along */
static int advance(nl_dist_reducer *r) {
    while (r->next < r->nb && r->buckets[r->next].ready == r->buckets[r->next].count) {
        if (start(r, &r->buckets[r->next]) != 0) return -1;
        r->next++;
    }
    for (int k = 0; k < r->next; k++) {
        dp_bucket *b = &r->buckets[k];
        if (!b->request) continue;
        int done = 0;
        int rc = r->mpi.test(&b->request, &done, NULL);
        NL_CHECK_INT(rc == 0, "DataParallel: MPI_Test failed (error %d)", rc);
    }
    return 0;
}

/* a hook cannot return an error: keep the message for finish() */
static void hook_failed(nl_dist_reducer *r) {
    r->failed = 1;
    snprintf(r->failed_msg, sizeof r->failed_msg, "%s", nl_error());
}

static void on_grad_ready(void *ctx, nl_tensor *leaf) {
    nl_dist_reducer *r = ctx;
    if (r->failed) return;
    int64_t s = slot_of(r, leaf);
    int i = r->table[s] - 1;
    if (i < 0) return;
    r->touched = 1;
    if (!r->overlap || r->ready[i]) return;
    r->ready[i] = 1;
    int started = r->next;
    if (pack(r, i) != 0) { hook_failed(r); return; }
    r->buckets[r->bucket_of[i]].ready++;
    if (advance(r) != 0) { hook_failed(r); return; }
    r->early += r->next - started;
}

void nl_dist_reducer_free(nl_dist_reducer *r) {
    if (!r) return;
    if (r->armed) nl_remove_grad_ready_hook(on_grad_ready, r);
    for (int i = 0; i < r->n; i++) nl_release(r->params ? r->params[i] : NULL);
    for (int k = 0; k < r->nb && r->buckets; k++) nl_release(r->buckets[k].flat);
    free(r->params);
    free(r->bucket_of);
    free(r->offset);
    free(r->ready);
    free(r->buckets);
    free(r->table);
    free(r);
}

nl_dist_reducer *nl_dist_reducer_new(const nl_dist_mpi *mpi, int n, nl_tensor *const *params,
                                     const int *bucket) {
    NL_CHECK(mpi && mpi->iallreduce && mpi->test && mpi->size > 0,
             "DataParallel: the reducer needs MPI_Iallreduce, MPI_Test and the world size");
    NL_CHECK(n > 0 && params && bucket, "DataParallel: the reducer needs parameters and their buckets");
    int nb = 0;
    for (int i = 0; i < n; i++) {
        NL_CHECK_TENSOR("DataParallel", params[i]);
        NL_CHECK(params[i]->dtype == NL_FLOAT32 || params[i]->dtype == NL_FLOAT64,
                 "DataParallel: parameter %d is %s; gradients are averaged for float tensors", i + 1,
                 nl_dtype_name(params[i]->dtype));
        NL_CHECK(bucket[i] == nb - 1 || bucket[i] == nb, "DataParallel: parameter %d has bucket %d after bucket %d "
                 "(buckets number the parameters in order, from 0)", i + 1, bucket[i], nb - 1);
        if (bucket[i] == nb) nb++;
        NL_CHECK(i == 0 || bucket[i] != bucket[i - 1] || params[i]->dtype == params[i - 1]->dtype,
                 "DataParallel: bucket %d mixes dtypes", bucket[i]);
    }
    nl_dist_reducer *r = calloc(1, sizeof *r);
    NL_CHECK(r != NULL, "DataParallel: out of memory");
    r->mpi = *mpi;
    r->n = n;
    r->nb = nb;
    int64_t cap = 16;
    while (cap < 2 * (int64_t)n) cap *= 2;
    r->mask = cap - 1;
    r->params = calloc((size_t)n, sizeof *r->params);
    r->bucket_of = malloc(sizeof *r->bucket_of * (size_t)n);
    r->offset = malloc(sizeof *r->offset * (size_t)n);
    r->ready = calloc((size_t)n, 1);
    r->buckets = calloc((size_t)nb, sizeof *r->buckets);
    r->table = calloc((size_t)cap, sizeof *r->table);
    if (!r->params || !r->bucket_of || !r->offset || !r->ready || !r->buckets || !r->table) {
        nl_dist_reducer_free(r);
        NL_CHECK(0, "DataParallel: out of memory");
    }
    for (int i = 0; i < n; i++) {
        dp_bucket *b = &r->buckets[bucket[i]];
        if (b->count == 0) { b->first = i; b->dtype = params[i]->dtype; }
        r->offset[i] = b->numel;
        b->numel += params[i]->numel;
        b->count++;
        r->bucket_of[i] = bucket[i];
        nl_retain(params[i]);
        r->params[i] = params[i];
        int64_t s = slot_of(r, params[i]);
        if (r->table[s] != 0) {
            nl_dist_reducer_free(r);
            NL_CHECK(0, "DataParallel: parameter %d is listed twice", i + 1);
        }
        r->table[s] = i + 1;
    }
    for (int k = 0; k < nb; k++) {
        dp_bucket *b = &r->buckets[k];
        int64_t sz = b->numel + b->count;
        b->flat = nl_empty(1, &sz, b->dtype);
        if (!b->flat) { nl_dist_reducer_free(r); return NULL; }
    }
    return r;
}

int nl_dist_reducer_arm(nl_dist_reducer *r, int overlap) {
    NL_CHECK_INT(r != NULL, "DataParallel: no reducer");
    if (r->armed) {                          /* no backward reached it yet: it may change its mode */
        if (!r->touched) r->overlap = overlap != 0;
        return 0;
    }
    if (nl_add_grad_ready_hook(on_grad_ready, r) != 0) return -1;
    r->armed = 1;
    r->overlap = overlap != 0;
    r->touched = 0;
    r->early = 0;
    r->failed = 0;
    return 0;
}

int nl_dist_reducer_touched(const nl_dist_reducer *r) { return r ? r->touched : 0; }

int nl_dist_reducer_finish(nl_dist_reducer *r) {
    NL_CHECK_INT(r != NULL, "DataParallel: no reducer");
    if (r->armed) nl_remove_grad_ready_hook(on_grad_ready, r);
    r->armed = 0;
    r->touched = 0;
    int rc = 0;
    if (r->failed) {
        nl_set_error("%s", r->failed_msg);
        rc = -1;
    }
    /* what backward did not hand over: the gradients as they are now */
    for (int i = 0; rc == 0 && i < r->n; i++) {
        if (r->ready[i]) continue;
        if (pack(r, i) != 0) rc = -1;
        else r->buckets[r->bucket_of[i]].ready++;
    }
    if (rc == 0 && advance(r) != 0) rc = -1;
    /* every rank must take part in every bucket, even after an error here */
    for (int k = 0; k < r->nb; k++) {
        dp_bucket *b = &r->buckets[k];
        if (!b->started && start(r, b) != 0) rc = -1;
        if (b->request) {
            /* a rank that left is an error at once: its bucket would never come */
            if (nl_dist_wait(&r->mpi, &b->request, b->seq, "DataParallel") != 0) return -1;
            b->request = NULL;
        }
    }
    double inv = 1.0 / r->mpi.size;
    for (int i = 0; rc == 0 && i < r->n; i++) {
        dp_bucket *b = &r->buckets[r->bucket_of[i]];
        nl_tensor *p = r->params[i];
        int64_t es = nl_dtype_size(b->dtype);
        char *src = (char *)b->flat->data + r->offset[i] * es;
        char *slot = (char *)b->flat->data + (b->numel + (i - b->first)) * es;
        double had = b->dtype == NL_FLOAT32 ? *(float *)slot : *(double *)slot;
        if (had <= 0) continue;                 /* no rank had a gradient: none */
        if (b->dtype == NL_FLOAT32) {
            float *v = (float *)src, s = (float)inv;
            for (int64_t j = 0; j < p->numel; j++) v[j] *= s;
        } else {
            double *v = (double *)src;
            for (int64_t j = 0; j < p->numel; j++) v[j] *= inv;
        }
        nl_tensor *avg = flat_view(b, p, r->offset[i]);
        if (!avg) { rc = -1; break; }
        if (p->grad) {
            rc = nl_copy_(p->grad, avg);
        } else {
            nl_tensor *g = nl_clone(avg);
            rc = g ? nl_set_grad(p, g) : -1;
            nl_release(g);
        }
        nl_release(avg);
    }
    for (int i = 0; i < r->n; i++) r->ready[i] = 0;
    for (int k = 0; k < r->nb; k++) { r->buckets[k].ready = 0; r->buckets[k].started = 0; }
    r->next = 0;
    r->failed = 0;
    return rc;
}

int nl_dist_reducer_early(const nl_dist_reducer *r) { return r ? r->early : 0; }
