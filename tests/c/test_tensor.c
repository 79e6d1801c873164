/* test_tensor.c — the tensor core from C: lifetime and byte accounting,
 * views sharing storage, broadcasting copies with dtype conversion,
 * elementwise kernels against libm, the RNG, and error returns. */
#include "check.h"

#include <string.h>

static nl_tensor *seq(int ndim, const int64_t *sizes, int dtype) {
    nl_tensor *t = nl_empty(ndim, sizes, dtype);
    for (int64_t i = 0; i < t->numel; i++) {
        if (dtype == NL_FLOAT32) ((float *)t->data)[i] = (float)i;
        else if (dtype == NL_FLOAT64) ((double *)t->data)[i] = (double)i;
        else ((int64_t *)t->data)[i] = i;
    }
    return t;
}

TEST(tensor_lifetime_returns_every_byte) {
    int64_t live0 = nl_mem()->live_bytes;
    int64_t sz[3] = { 5, 7, 3 };
    nl_tensor *t = nl_full(3, sz, 2.0, NL_FLOAT64);
    CHECK(t && t->numel == 105 && t->ndim == 3);
    CHECK(((uintptr_t)t->data & 63) == 0);                /* 64-byte aligned */
    CHECK(nl_mem()->live_bytes - live0 >= 105 * 8);
    nl_tensor *v = nl_transpose(t, 0, 2);
    nl_release(t);                                        /* the view keeps the storage */
    CHECK(test_get(v, 0) == 2.0);
    nl_ref r = { v };
    nl_ref_release(&r);
    nl_ref_release(&r);                                   /* twice is safe */
    CHECK(r.ptr == NULL);
    CHECK(nl_mem()->live_bytes == live0);
}

TEST(views_share_storage_and_compute_strides) {
    int64_t sz[3] = { 2, 3, 4 };
    nl_tensor *t = seq(3, sz, NL_FLOAT32);
    nl_tensor *p = nl_permute(t, 3, (int[]){ 2, 0, 1 });  /* (4,2,3) */
    CHECK(p->sizes[0] == 4 && p->strides[0] == 1 && p->strides[1] == 12 && p->strides[2] == 4);
    /* p[i][j][k] = t[j][k][i] */
    CHECK(test_get(p, 1 * 6 + 1 * 3 + 2) == 1 * 12 + 2 * 4 + 1);
    nl_tensor *n = nl_narrow(t, 2, 1, 2);                 /* (2,3,2) */
    CHECK(n->offset == 1 && !nl_is_contiguous(n));
    CHECK(test_get(n, 11) == 23 - 1);
    nl_tensor *s = nl_select(t, 1, 2);                    /* (2,4) */
    CHECK(s->ndim == 2 && test_get(s, 4) == 12 + 8);
    ((float *)t->data)[20] = -1;
    CHECK(test_get(s, 4) == -1);                          /* shared */
    nl_tensor *c = nl_contiguous(n);
    CHECK(c != n && nl_is_contiguous(c));
    for (int64_t i = 0; i < c->numel; i++) CHECK(test_get(c, i) == test_get(n, i));
    nl_tensor *same = nl_contiguous(t);
    CHECK(same == t);                                     /* no copy when contiguous */
    nl_release(same);
    int64_t e[3] = { 3, -1, 2 };
    nl_tensor *u = nl_unsqueeze(s, 0);                    /* (1,2,4) */
    nl_tensor *un = nl_narrow(u, 2, 0, 2);                /* (1,2,2) */
    nl_tensor *x = nl_expand(un, 3, e);                   /* (3,2,2), stride 0 in dim 0 */
    CHECK(x && x->sizes[0] == 3 && x->sizes[1] == 2 && x->strides[0] == 0);
    CHECK(test_get(x, 8 + 3) == test_get(un, 3));
    nl_release(x); nl_release(un);
    nl_release(u); nl_release(c); nl_release(s); nl_release(n); nl_release(p); nl_release(t);
}

/* as_strided reaches up to the last element a storage was made for, not
 * its buffer's padding: a host's buffer, a small one, a cache bucket, and
 * one resize_ grew (PyTorch 1.13 takes the last element and refuses the
 * next: 'out of bounds for storage of size ...') */
static int strided_at(nl_tensor *t, int64_t offset) {
    int64_t one = 1;
    nl_tensor *v = nl_as_strided(t, 1, &one, &one, offset);
    nl_release(v);
    return v != NULL;
}

TEST(as_strided_reaches_the_storage_elements_only) {
    float host[5] = { 0 };
    int64_t five = 5, three = 3, thousand = 1000, hundred = 100;
    nl_tensor *w = nl_tensor_wrap(1, &five, NL_FLOAT32, host, NULL, NULL);
    CHECK(strided_at(w, 4) && !strided_at(w, 5));
    CHECK(strstr(nl_error(), "as_strided") && strstr(nl_error(), "past the storage's 5 elements"));
    nl_tensor *s = nl_empty(1, &three, NL_FLOAT64);          /* 24 bytes in a 64-byte buffer */
    CHECK(strided_at(s, 2) && !strided_at(s, 3));
    nl_tensor *b = nl_empty(1, &thousand, NL_INT64);         /* a cache bucket */
    CHECK(strided_at(b, 999) && !strided_at(b, 1000));
    nl_tensor *r = nl_empty(1, &three, NL_FLOAT32);
    CHECK(nl_resize_(r, 1, &hundred) == 0);                  /* a new buffer */
    CHECK(strided_at(r, 99) && !strided_at(r, 100));
    CHECK(nl_resize_(r, 1, &three) == 0);                    /* shrinking keeps the storage */
    CHECK(strided_at(r, 99) && !strided_at(r, 100));
    nl_release(r); nl_release(b); nl_release(s); nl_release(w);
}

TEST(copy_broadcasts_and_converts) {
    int64_t row[1] = { 4 }, mat[2] = { 3, 4 };
    nl_tensor *r = seq(1, row, NL_INT64);
    nl_tensor *m = nl_full(2, mat, 0, NL_FLOAT64);
    CHECK(nl_copy_(m, r) == 0);
    for (int64_t i = 0; i < 12; i++) CHECK(test_get(m, i) == (double)(i % 4));
    nl_tensor *mt = nl_transpose(m, 0, 1);
    nl_tensor *f = nl_to_dtype(mt, NL_FLOAT32);
    CHECK(f->dtype == NL_FLOAT32 && nl_is_contiguous(f));
    for (int64_t i = 0; i < 12; i++) CHECK(test_get(f, i) == (double)(i / 3));
    CHECK(nl_copy_(r, m) == -1);                          /* [3,4] does not fit [4] */
    CHECK(strstr(nl_error(), "copy_") && strstr(nl_error(), "[3,4]"));
    nl_release(f); nl_release(mt); nl_release(m); nl_release(r);
}

TEST(elementwise_matches_libm_with_broadcasting) {
    unsigned long long st = 7;
    int64_t sa[2] = { 33, 1 }, sb[1] = { 65 };
    nl_tensor *a = nl_empty(2, sa, NL_FLOAT64), *b = nl_empty(1, sb, NL_FLOAT64);
    for (int i = 0; i < 33; i++) ((double *)a->data)[i] = test_rand(&st) * 3;
    for (int i = 0; i < 65; i++) ((double *)b->data)[i] = test_rand(&st) * 3 + 4;
    nl_tensor *s = nl_binary(NL_OP_DIV, a, b);
    CHECK(s->ndim == 2 && s->sizes[0] == 33 && s->sizes[1] == 65);
    for (int i = 0; i < 33; i++)
        for (int j = 0; j < 65; j++)
            CHECK_NEAR(test_get(s, i * 65 + j), test_get(a, i) / test_get(b, j), 0);
    nl_tensor *t = nl_unary(NL_OP_TANH, s);
    for (int64_t i = 0; i < t->numel; i++) CHECK_NEAR(test_get(t, i), tanh(test_get(s, i)), 1e-15);
    nl_tensor *w = nl_binary(NL_OP_ADD, a, a);            /* (33,1) + (33,1) */
    CHECK(w->sizes[1] == 1 && test_get(w, 5) == 2 * test_get(a, 5));
    nl_release(w); nl_release(t); nl_release(s); nl_release(b); nl_release(a);
}

TEST(large_elementwise_uses_threads_and_agrees) {
    int64_t n[1] = { 1 << 20 };
    nl_tensor *a = seq(1, n, NL_FLOAT32);
    int prev = nl_get_num_threads();
    nl_set_num_threads(1);
    nl_tensor *x1 = nl_unary(NL_OP_SIGMOID, a);
    nl_set_num_threads(2);
    nl_tensor *x2 = nl_unary(NL_OP_SIGMOID, a);
    nl_set_num_threads(prev);
    CHECK(memcmp(x1->data, x2->data, sizeof(float) << 20) == 0);
    nl_release(x1); nl_release(x2); nl_release(a);
}

TEST(rng_is_counter_based) {
    nl_generator g1 = { 42, 0 }, g2 = { 42, 0 };
    int64_t n6[1] = { 6 }, n3[1] = { 3 };
    nl_tensor *all = nl_rand(&g1, 1, n6, NL_FLOAT64);
    nl_tensor *h1 = nl_rand(&g2, 1, n3, NL_FLOAT64), *h2 = nl_rand(&g2, 1, n3, NL_FLOAT64);
    CHECK(g1.offset == 6 && g2.offset == 6);
    /* two draws of 3 equal one draw of 6 */
    for (int i = 0; i < 3; i++) {
        CHECK(test_get(all, i) == test_get(h1, i));
        CHECK(test_get(all, 3 + i) == test_get(h2, i));
    }
    nl_release(all); nl_release(h1); nl_release(h2);
}

/* nl_binomial: whole draws within [0, n] (0 at p = 0 and n = 0, n at p = 1,
 * NaN at p NaN), offset advanced by numel, the same draws on 1 and 2
 * threads, and bad arguments refused with the generator left as it was */
TEST(binomial_draws_and_refusals) {
    int64_t sz[1] = { 4096 };
    nl_tensor *n = nl_empty(1, sz, NL_FLOAT64), *p = nl_empty(1, sz, NL_FLOAT64);
    double *pn = n->data, *pp = p->data;
    const double ns[8] = { 0, 5, 5, 20, 1000, 1e6, 3, 1e15 }, ps[8] = { 0.3, 0, 1, 0.3, 0.97, 0.5, NAN, 0.2 };
    for (int i = 0; i < 4096; i++) { pn[i] = ns[i % 8]; pp[i] = ps[i % 8]; }
    int prev = nl_get_num_threads();
    nl_generator g1 = { 7, 3 }, g2 = { 7, 3 };
    nl_set_num_threads(1);
    nl_tensor *a = nl_binomial(&g1, n, p);
    nl_set_num_threads(2);
    nl_tensor *b = nl_binomial(&g2, n, p);
    nl_set_num_threads(prev);
    CHECK(a != NULL && b != NULL && a->dtype == NL_FLOAT64 && a->numel == 4096);
    CHECK(g1.offset == 3 + 4096 && g2.offset == 3 + 4096);
    CHECK(memcmp(a->data, b->data, 4096 * sizeof(double)) == 0);
    const double *x = a->data;
    for (int i = 0; i < 4096; i++) {
        if (i % 8 == 6) { CHECK(isnan(x[i])); continue; }
        CHECK(x[i] == floor(x[i]) && x[i] >= 0 && x[i] <= pn[i]);
        if (i % 8 == 0) CHECK(x[i] == 0);
        if (i % 8 == 1) CHECK(x[i] == 0);
        if (i % 8 == 2) CHECK(x[i] == 5);
    }
    int64_t one[1] = { 1 }, two[1] = { 2 };
    nl_tensor *z = nl_full(1, one, 0, NL_FLOAT64), *h = nl_full(1, one, 0.5, NL_FLOAT64);
    nl_tensor *zc = nl_binomial(&g1, z, h);
    CHECK(zc != NULL && test_get(zc, 0) == 0);
    nl_tensor *i64 = nl_full(1, one, 3, NL_INT64), *p2 = nl_full(1, two, 0.5, NL_FLOAT64);
    uint64_t at = g1.offset;
    CHECK(nl_binomial(NULL, z, h) == NULL && strstr(nl_error(), "binomial: no generator"));
    CHECK(nl_binomial(&g1, NULL, h) == NULL && strstr(nl_error(), "binomial: expected a tensor"));
    CHECK(nl_binomial(&g1, i64, h) == NULL && strstr(nl_error(), "binomial: expected float counts"));
    CHECK(nl_binomial(&g1, z, p2) == NULL && strstr(nl_error(), "binomial: counts [1] and probabilities [2]"));
    CHECK(g1.offset == at);
    nl_release(a); nl_release(b); nl_release(n); nl_release(p); nl_release(z); nl_release(h); nl_release(zc);
    nl_release(i64); nl_release(p2);
}

TEST(errors_name_the_op_and_return_null) {
    int64_t a[2] = { 4, 3 }, b[2] = { 4, 5 }, neg[2] = { 2, -1 };
    nl_tensor *x = nl_full(2, a, 1, NL_FLOAT32), *y = nl_full(2, b, 1, NL_FLOAT32);
    CHECK(nl_binary(NL_OP_ADD, x, y) == NULL);
    CHECK(strcmp(nl_error(), "add: shapes [4,3] and [4,5] cannot be broadcast together") == 0);
    CHECK(nl_full(2, neg, 0, NL_FLOAT32) == NULL && strstr(nl_error(), "negative size"));
    CHECK(nl_empty(9, a, NL_FLOAT32) == NULL && strstr(nl_error(), "9 dims"));
    CHECK(nl_empty(2, a, 7) == NULL && strstr(nl_error(), "invalid dtype"));
    CHECK(nl_unary(NL_OP_EXP, NULL) == NULL && strstr(nl_error(), "exp: expected a tensor"));
    CHECK(nl_binary(NL_OP_SUM, x, x) == NULL && strstr(nl_error(), "not a binary op"));
    CHECK(nl_transpose(x, 0, 5) == NULL && strstr(nl_error(), "transpose"));
    int64_t huge[3] = { 1LL << 40, 1LL << 40, 4 };
    CHECK(nl_empty(3, huge, NL_FLOAT32) == NULL && strstr(nl_error(), "too large"));
    nl_release(x); nl_release(y);
}

/* nl_scatter_reduce against a plain loop over the index (the reference),
 * for each reduce with and without include_self, on 1 thread and on 2,
 * along dim 1 of (6, 40) <- (6, 300); and its errors */
TEST(scatter_reduce_matches_a_plain_loop) {
    int64_t ts[2] = { 6, 40 }, ss[2] = { 6, 300 };
    nl_tensor *t = nl_empty(2, ts, NL_FLOAT64), *src = nl_empty(2, ss, NL_FLOAT64), *idx = nl_empty(2, ss, NL_INT64);
    unsigned long long st = 7;
    for (int64_t i = 0; i < t->numel; i++) ((double *)t->data)[i] = test_rand(&st);
    for (int64_t i = 0; i < src->numel; i++) {
        ((double *)src->data)[i] = test_rand(&st);
        ((int64_t *)idx->data)[i] = 1 + (int64_t)((test_rand(&st) + 1) * 20) % 40;
    }
    int prev = nl_get_num_threads();
    for (int reduce = 0; reduce < 5; reduce++) {
        for (int inc = 0; inc < 2; inc++) {
            double want[240], cnt[240];
            int hit[240] = { 0 };
            for (int i = 0; i < 240; i++) {
                want[i] = ((double *)t->data)[i];
                cnt[i] = inc;
            }
            for (int r = 0; r < 6; r++)
                for (int k = 0; k < 300; k++) {
                    int at = r * 40 + (int)((int64_t *)idx->data)[r * 300 + k] - 1;
                    double s = ((double *)src->data)[r * 300 + k];
                    if (!inc && !hit[at]) want[at] = s;
                    else if (reduce == 0 || reduce == 2) want[at] += s;
                    else if (reduce == 1) want[at] *= s;
                    else if (reduce == 3) want[at] = s > want[at] ? s : want[at];
                    else want[at] = s < want[at] ? s : want[at];
                    hit[at] = 1;
                    cnt[at]++;
                }
            if (reduce == 2)
                for (int i = 0; i < 240; i++) want[i] /= cnt[i] ? cnt[i] : 1;
            for (int nt = 1; nt <= 2; nt++) {
                nl_set_num_threads(nt);
                nl_tensor *r = nl_scatter_reduce(t, 1, idx, src, reduce, inc, 1);
                CHECK(r != NULL);
                double worst = 0;
                for (int i = 0; r && i < 240; i++) {
                    double e = fabs(test_get(r, i) - want[i]) / (1 + fabs(want[i]));
                    worst = e > worst ? e : worst;
                }
                CHECK(worst < 1e-12);
                nl_release(r);
            }
        }
    }
    nl_set_num_threads(prev);
    CHECK(nl_scatter_reduce(t, 1, idx, src, 5, 1, 1) == NULL && strstr(nl_error(), "scatter_reduce: reduce must be"));
    ((int64_t *)idx->data)[3] = 41;
    CHECK(nl_scatter_reduce(t, 1, idx, src, 0, 1, 1) == NULL &&
          strcmp(nl_error(), "scatter_reduce: index 41 out of range for dim 2 of shape [6,40]") == 0);
    nl_release(t); nl_release(src); nl_release(idx);
}
