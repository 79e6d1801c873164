/* test_reduce.c — reductions (sum, mean, max, min, argmax, argmin) over all
 * elements and along each dim, and softmax / log_softmax, checked against
 * plain double-precision loops over the same elements written here. */
#include "check.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* values in [-scale, scale); integers in [-1000, 1000) for int64 */
static nl_tensor *rand_scaled(int ndim, const int64_t *sizes, int dtype, double scale,
                              unsigned long long *st) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= sizes[i];
    double *v = malloc(sizeof(double) * (n ? n : 1));
    for (int64_t i = 0; i < n; i++)
        v[i] = dtype == NL_INT64 ? floor(test_rand(st) * 1000) : test_rand(st) * scale;
    nl_tensor *t = nl_from_doubles(ndim, sizes, dtype, v);
    free(v);
    return t;
}

static nl_tensor *rand_tensor(int ndim, const int64_t *sizes, int dtype, unsigned long long *st) {
    return rand_scaled(ndim, sizes, dtype, 1.0, st);
}

static bool shape_is(const nl_tensor *t, int ndim, const int64_t *sizes) {
    if (!t || t->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (t->sizes[i] != sizes[i]) return false;
    return true;
}

/* t viewed as (outer, n, inner) around dim d */
static void split(const nl_tensor *t, int d, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = *inner = 1;
    *n = t->sizes[d];
    for (int i = 0; i < t->ndim; i++) {
        if (i < d) *outer *= t->sizes[i];
        if (i > d) *inner *= t->sizes[i];
    }
}

/* Checks nl_reduce(op, t, d, keepdim) element by element against a scan in
 * double; tol_rel scales with the sum of magnitudes. */
static void check_reduce_dim(int op, nl_tensor *t, int d, int keepdim, int64_t base, double tol_rel) {
    int64_t outer, n, inner;
    split(t, d, &outer, &n, &inner);
    nl_tensor *idx = NULL;
    nl_tensor *r = nl_reduce(op, t, d, keepdim, base, (op == NL_OP_MAX || op == NL_OP_MIN) ? &idx : NULL);
    CHECK(r != NULL);
    if (!r) return;
    int64_t want_sz[8];
    int wn = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i != d) want_sz[wn++] = t->sizes[i];
        else if (keepdim) want_sz[wn++] = 1;
    }
    CHECK(shape_is(r, wn, want_sz));
    bool is_arg = op == NL_OP_ARGMAX || op == NL_OP_ARGMIN;
    int want_dtype = is_arg ? NL_INT64 : (op == NL_OP_MEAN && t->dtype == NL_INT64) ? NL_FLOAT32 : t->dtype;
    if (want_dtype == NL_FLOAT32 && tol_rel < 1e-6) tol_rel = 1e-6;   /* int64 mean is float32 */
    CHECK(r->dtype == want_dtype);
    if (op == NL_OP_MAX || op == NL_OP_MIN) CHECK(idx && shape_is(idx, wn, want_sz) && idx->dtype == NL_INT64);
    int bad = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double sum = 0, mag = 0, best = 0;
            int64_t at = 0;
            for (int64_t j = 0; j < n; j++) {
                double v = test_get(t, (o * n + j) * inner + i);
                sum += v;
                mag += fabs(v);
                bool mx = op == NL_OP_MAX || op == NL_OP_ARGMAX;
                if (j == 0 || (mx ? v > best : v < best)) { best = v; at = j; }
            }
            double got = test_get(r, o * inner + i), want;
            switch (op) {
            case NL_OP_SUM: want = sum; break;
            case NL_OP_MEAN: want = sum / n; mag /= n; break;
            case NL_OP_MAX: case NL_OP_MIN: want = best; break;
            default: want = (double)(at + base); break;
            }
            if (!(fabs(got - want) <= tol_rel * mag)) bad++;
            if (idx && test_get(idx, o * inner + i) != (double)(at + base)) bad++;
        }
    CHECK(bad == 0);
    if (bad) fprintf(stderr, "  %s dim %d keepdim %d of %s: %d mismatches\n", nl_op_name(op), d,
                     keepdim, nl_dtype_name(t->dtype), bad);
    nl_release(r);
    nl_release(idx);
}

static void check_all_dims(nl_tensor *t, double tol_rel) {
    static const int ops[] = { NL_OP_SUM, NL_OP_MEAN, NL_OP_MAX, NL_OP_MIN, NL_OP_ARGMAX, NL_OP_ARGMIN };
    for (int k = 0; k < 6; k++)
        for (int d = 0; d < t->ndim; d++)
            for (int keep = 0; keep < 2; keep++)
                check_reduce_dim(ops[k], t, d, keep, keep, tol_rel);
}

TEST(reduce_dims_float32_float64) {
    unsigned long long st = 1;
    int64_t sz[3] = { 5, 7, 9 };
    nl_tensor *f = rand_tensor(3, sz, NL_FLOAT32, &st);
    nl_tensor *g = rand_tensor(3, sz, NL_FLOAT64, &st);
    check_all_dims(f, 1e-6);
    check_all_dims(g, 1e-13);
    nl_release(f);
    nl_release(g);
}

/* inner > 64 with a partial block of lanes, and a long reduced last dim */
TEST(reduce_dims_wide_and_long) {
    unsigned long long st = 2;
    int64_t wide[3] = { 3, 6, 130 }, longrow[2] = { 2, 40000 };
    nl_tensor *w = rand_tensor(3, wide, NL_FLOAT32, &st);
    nl_tensor *l = rand_tensor(2, longrow, NL_FLOAT32, &st);
    check_all_dims(w, 1e-6);
    check_all_dims(l, 1e-6);
    nl_release(w);
    nl_release(l);
}

TEST(reduce_dims_noncontiguous) {
    unsigned long long st = 3;
    int64_t sz[3] = { 6, 8, 70 };
    nl_tensor *t = rand_tensor(3, sz, NL_FLOAT32, &st);
    nl_tensor *tr = nl_transpose(t, 0, 2);          /* (70, 8, 6) */
    nl_tensor *nar = nl_narrow(tr, 1, 2, 5);        /* (70, 5, 6) */
    CHECK(tr && nar && !nl_is_contiguous(tr) && !nl_is_contiguous(nar));
    check_all_dims(tr, 1e-6);
    check_all_dims(nar, 1e-6);
    nl_release(nar);
    nl_release(tr);
    nl_release(t);
}

TEST(reduce_dims_int64) {
    unsigned long long st = 4;
    int64_t sz[2] = { 9, 11 };
    nl_tensor *t = rand_tensor(2, sz, NL_INT64, &st);
    check_all_dims(t, 0);   /* exact, but for the float32 mean */
    nl_release(t);
}

TEST(reduce_negative_dim_and_zero_dim) {
    double v[6] = { 1, 2, 3, 4, 5, 6 };
    int64_t sz[2] = { 2, 3 };
    nl_tensor *t = nl_from_doubles(2, sz, NL_FLOAT32, v);
    nl_tensor *s = nl_reduce(NL_OP_SUM, t, -1, 0, 0, NULL);
    CHECK(s && s->ndim == 1 && s->sizes[0] == 2);
    if (s) { CHECK_NEAR(test_get(s, 0), 6, 0); CHECK_NEAR(test_get(s, 1), 15, 0); }
    nl_release(s);
    int64_t none[1] = { 0 };
    double seven = 7;
    nl_tensor *z = nl_from_doubles(0, none, NL_FLOAT64, &seven);
    nl_tensor *zs = nl_reduce(NL_OP_SUM, z, 0, 1, 0, NULL);
    nl_tensor *za = nl_reduce(NL_OP_ARGMAX, z, -1, 0, 1, NULL);
    CHECK(zs && zs->ndim == 0 && test_get(zs, 0) == 7);
    CHECK(za && za->ndim == 0 && test_get(za, 0) == 1);
    nl_release(zs);
    nl_release(za);
    nl_release(z);
    nl_release(t);
}

TEST(reduce_all_matches_double) {
    unsigned long long st = 5;
    int64_t sz[2] = { 301, 333 };                     /* 100233: several chunks */
    for (int dt = 0; dt < 2; dt++) {
        nl_tensor *c = rand_tensor(2, sz, dt, &st);
        nl_tensor *t = nl_transpose(c, 0, 1);
        double sum = 0, mag = 0, mx = -INFINITY, mn = INFINITY;
        int64_t amx = 0, amn = 0;
        for (int64_t i = 0; i < t->numel; i++) {
            double v = test_get(t, i);
            sum += v;
            mag += fabs(v);
            if (v > mx) { mx = v; amx = i; }
            if (v < mn) { mn = v; amn = i; }
        }
        double tol = (dt == NL_FLOAT32 ? 1e-6 : 1e-13) * mag;
        nl_tensor *r[6];
        for (int k = 0; k < 6; k++) {
            r[k] = nl_reduce_all(NL_OP_SUM + k, t, 1);
            CHECK(r[k] && r[k]->ndim == 0 && r[k]->numel == 1);
            if (!r[k]) return;
        }
        CHECK(r[0]->dtype == dt && r[1]->dtype == dt && r[4]->dtype == NL_INT64);
        CHECK_NEAR(test_get(r[0], 0), sum, tol);
        CHECK_NEAR(test_get(r[1], 0), sum / t->numel, tol / t->numel);
        CHECK(test_get(r[2], 0) == mx && test_get(r[3], 0) == mn);
        CHECK(test_get(r[4], 0) == amx + 1 && test_get(r[5], 0) == amn + 1);
        for (int k = 0; k < 6; k++) nl_release(r[k]);
        nl_release(t);
        nl_release(c);
    }
}

/* A 1-D reduce over dim 0 goes through the chunked path: same as reduce_all. */
TEST(reduce_long_vector_dim0) {
    unsigned long long st = 6;
    int64_t n = 70001;
    nl_tensor *t = rand_tensor(1, &n, NL_FLOAT32, &st);
    nl_tensor *a = nl_reduce_all(NL_OP_SUM, t, 0), *b = nl_reduce(NL_OP_SUM, t, 0, 0, 0, NULL);
    nl_tensor *idx = NULL, *m = nl_reduce(NL_OP_MIN, t, 0, 1, 0, &idx);
    nl_tensor *am = nl_reduce_all(NL_OP_ARGMIN, t, 0);
    CHECK(a && b && b->ndim == 0 && test_get(a, 0) == test_get(b, 0));
    CHECK(m && m->ndim == 1 && m->sizes[0] == 1 && idx && test_get(idx, 0) == test_get(am, 0));
    CHECK(m && test_get(m, 0) == test_get(t, (int64_t)test_get(am, 0)));
    nl_release(a); nl_release(b); nl_release(m); nl_release(idx); nl_release(am);
    nl_release(t);
}

TEST(reduce_int64_exact) {
    int64_t big = (INT64_C(1) << 53) + 1;   /* not a double */
    int64_t data[4] = { big, 2, -5, big };
    int64_t sz[1] = { 4 };
    nl_tensor *t = nl_from_data(1, sz, NL_INT64, data);
    nl_tensor *s = nl_reduce_all(NL_OP_SUM, t, 0), *mx = nl_reduce_all(NL_OP_MAX, t, 0);
    nl_tensor *am = nl_reduce_all(NL_OP_ARGMAX, t, 0), *mean = nl_reduce_all(NL_OP_MEAN, t, 0);
    CHECK(s && s->dtype == NL_INT64 && ((int64_t *)s->data)[0] == 2 * big - 3);
    CHECK(mx && ((int64_t *)mx->data)[0] == big);
    CHECK(am && ((int64_t *)am->data)[0] == 0);    /* first of equal maxima */
    CHECK(mean && mean->dtype == NL_FLOAT32);
    if (mean) CHECK_NEAR(test_get(mean, 0), (2.0 * big - 3) / 4, 1e-6 * big);
    nl_release(s); nl_release(mx); nl_release(am); nl_release(mean);
    nl_release(t);
}

TEST(reduce_nan_propagates) {
    double v[6] = { 1, NAN, 3, 4, 2, NAN };
    int64_t sz[2] = { 2, 3 };
    nl_tensor *t = nl_from_doubles(2, sz, NL_FLOAT32, v);
    nl_tensor *mx = nl_reduce_all(NL_OP_MAX, t, 0), *amn = nl_reduce_all(NL_OP_ARGMIN, t, 0);
    CHECK(mx && isnan(test_get(mx, 0)));
    CHECK(amn && test_get(amn, 0) == 1);           /* the first NaN */
    nl_tensor *idx = NULL, *rmn = nl_reduce(NL_OP_MIN, t, 1, 0, 0, &idx);
    CHECK(rmn && isnan(test_get(rmn, 0)) && isnan(test_get(rmn, 1)));
    CHECK(idx && test_get(idx, 0) == 1 && test_get(idx, 1) == 2);
    nl_tensor *cmx = nl_reduce(NL_OP_MAX, t, 0, 0, 0, NULL);   /* columns: {1,4} {NaN,2} {3,NaN} */
    CHECK(cmx && test_get(cmx, 0) == 4 && isnan(test_get(cmx, 1)) && isnan(test_get(cmx, 2)));
    nl_release(mx); nl_release(amn); nl_release(idx); nl_release(rmn); nl_release(cmx);
    nl_release(t);
}

/* max, min, argmax and argmin of t along d against a plain loop here: the
 * first of equal values, the first NaN winning over everything */
static int check_best_dim(nl_tensor *t, int d) {
    int64_t outer, n, inner;
    split(t, d, &outer, &n, &inner);
    int bad = 0;
    for (int k = 0; k < 4; k++) {
        int op = (int[]){ NL_OP_MAX, NL_OP_MIN, NL_OP_ARGMAX, NL_OP_ARGMIN }[k];
        bool mx = op == NL_OP_MAX || op == NL_OP_ARGMAX, arg = k >= 2;
        nl_tensor *idx = NULL, *r = nl_reduce(op, t, d, 0, 1, arg ? NULL : &idx);
        if (!r || (!arg && !idx)) { bad++; continue; }
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = 0;
                double best = test_get(t, o * n * inner + i);
                for (int64_t j = 1; j < n && !isnan(best); j++) {
                    double v = test_get(t, (o * n + j) * inner + i);
                    if (isnan(v) || (mx ? v > best : v < best)) { best = v; at = j; }
                }
                int64_t p = o * inner + i;
                if (arg) bad += test_get(r, p) != (double)(at + 1);
                else {
                    bad += test_get(idx, p) != (double)(at + 1);
                    double got = test_get(r, p);
                    bad += !(got == best || (isnan(got) && isnan(best)));
                }
            }
        nl_release(r);
        nl_release(idx);
    }
    return bad;
}

/* Rows of lengths about the kernels' block (256) and the one-row scan, of
 * few distinct values (ties everywhere) and some NaNs, along the last dim
 * (a row at a time) and the first (lanes), at one and two threads (64
 * rows of 1000 split over two) */
TEST(reduce_best_ties_nan_lengths) {
    unsigned long long st = 11;
    static const int64_t lens[] = { 1, 2, 10, 255, 256, 257, 513, 1000 };
    int prev = nl_get_num_threads();
    for (int dt = 0; dt < 3; dt++)
        for (int li = 0; li < 8; li++) {
            int64_t sz[2] = { 64, lens[li] }, n = sz[0] * sz[1];
            double *v = malloc(sizeof(double) * n);
            for (int64_t i = 0; i < n; i++) {
                v[i] = floor(test_rand(&st) * 4);                 /* -4 .. 3 */
                if (dt != NL_INT64 && test_rand(&st) > 0.998) v[i] = NAN;
            }
            v[3] = dt == NL_INT64 ? 9 : NAN;                      /* a row's first element */
            nl_tensor *t = nl_from_doubles(2, sz, dt, v);
            nl_tensor *tr = nl_transpose(t, 0, 1);                /* strided input */
            for (int th = 1; th <= 2; th++) {
                nl_set_num_threads(th);
                int bad = check_best_dim(t, 1) + check_best_dim(t, 0) + check_best_dim(tr, 0) +
                          check_best_dim(tr, 1);
                CHECK(bad == 0);
                if (bad) fprintf(stderr, "  %s rows of %lld, %d threads: %d mismatches\n", nl_dtype_name(dt),
                                 (long long)lens[li], th, bad);
            }
            nl_release(tr);
            nl_release(t);
            free(v);
        }
    nl_set_num_threads(prev);
}

/* accuracy's hits against argmax over dim 1 compared here, scores
 * (N, C, d1) strided, labels from base 1; shapes that do not fit refused */
TEST(argmax_hits_matches_argmax) {
    unsigned long long st = 12;
    int64_t sz[3] = { 4, 5, 6 }, lsz[2] = { 6, 4 };
    nl_tensor *t = rand_scaled(3, sz, NL_FLOAT32, 2.0, &st);
    nl_tensor *s = nl_transpose(t, 0, 2);                  /* (6, 5, 4), strided */
    nl_tensor *c = nl_contiguous(s);
    CHECK(!nl_is_contiguous(s));
    double lv[24];
    for (int i = 0; i < 24; i++) lv[i] = 1 + floor((test_rand(&st) + 1) * 2.5);
    nl_tensor *y = nl_from_doubles(2, lsz, NL_INT64, lv);
    nl_tensor *am = nl_reduce(NL_OP_ARGMAX, c, 1, 0, 1, NULL);
    int64_t want = 0;
    for (int i = 0; i < 24; i++) want += test_get(am, i) == lv[i];
    CHECK(want > 0 && want < 24);
    CHECK(nl_argmax_hits(s, y, 1) == want);
    CHECK(nl_argmax_hits(c, y, 1) == want);
    nl_tensor *flat = nl_reshape(y, 1, (int64_t[]){ 24 });
    CHECK(nl_argmax_hits(c, flat, 1) == -1);
    CHECK(strcmp(nl_error(), "argmax_hits: takes scores (N, C, d1, ...) and int64 labels (N, d1, ...), got "
                             "float32 [6,5,4] and int64 [24]") == 0);
    nl_release(flat); nl_release(am); nl_release(y); nl_release(c); nl_release(s);
    nl_release(t);
}

TEST(reduce_empty) {
    int64_t sz[2] = { 0, 3 };
    nl_tensor *t = nl_empty(2, sz, NL_FLOAT32);
    nl_tensor *s = nl_reduce_all(NL_OP_SUM, t, 0), *m = nl_reduce_all(NL_OP_MEAN, t, 0);
    CHECK(s && test_get(s, 0) == 0);
    CHECK(m && isnan(test_get(m, 0)));
    CHECK(nl_reduce_all(NL_OP_MAX, t, 0) == NULL);
    CHECK(strcmp(nl_error(), "max: cannot reduce an empty tensor of shape [0,3]") == 0);
    nl_tensor *s0 = nl_reduce(NL_OP_SUM, t, 0, 0, 0, NULL), *m0 = nl_reduce(NL_OP_MEAN, t, 0, 0, 0, NULL);
    CHECK(s0 && s0->ndim == 1 && s0->sizes[0] == 3 && test_get(s0, 2) == 0);
    CHECK(m0 && isnan(test_get(m0, 1)));
    CHECK(nl_reduce(NL_OP_ARGMIN, t, 0, 0, 0, NULL) == NULL);
    CHECK(strstr(nl_error(), "argmin") && strstr(nl_error(), "[0,3]"));
    nl_tensor *s1 = nl_reduce(NL_OP_MAX, t, 1, 0, 0, NULL);   /* reduces size 3: empty result */
    CHECK(s1 && s1->ndim == 1 && s1->sizes[0] == 0);
    nl_release(s); nl_release(m); nl_release(s0); nl_release(m0); nl_release(s1);
    nl_release(t);
}

TEST(reduce_errors) {
    int64_t sz[2] = { 2, 3 };
    nl_tensor *t = nl_full(2, sz, 1, NL_FLOAT32);
    CHECK(nl_reduce(NL_OP_SUM, t, 3, 0, 0, NULL) == NULL);
    CHECK(strcmp(nl_error(), "sum: dim 3 out of range for shape [2,3]") == 0);
    CHECK(nl_reduce(NL_OP_ARGMAX, t, -3, 0, 0, NULL) == NULL);
    CHECK(strcmp(nl_error(), "argmax: dim -3 out of range for shape [2,3]") == 0);
    CHECK(nl_reduce_all(NL_OP_ADD, t, 0) == NULL);
    CHECK(strcmp(nl_error(), "reduce: op add is not a reduction") == 0);
    nl_tensor *idx = t;
    CHECK(nl_reduce(NL_OP_SOFTMAX, t, 0, 0, 0, &idx) == NULL && idx == NULL);
    CHECK(strcmp(nl_error(), "reduce: op softmax is not a reduction") == 0);
    CHECK(nl_reduce_all(NL_OP_MEAN, NULL, 0) == NULL);
    CHECK(strcmp(nl_error(), "mean: expected a tensor, got nil") == 0);
    CHECK(nl_softmax(t, 2) == NULL);
    CHECK(strcmp(nl_error(), "softmax: dim 2 out of range for shape [2,3]") == 0);
    nl_tensor *i = nl_full(2, sz, 1, NL_INT64);
    CHECK(nl_log_softmax(i, 0) == NULL);
    CHECK(strstr(nl_error(), "log_softmax") && strstr(nl_error(), "int64"));
    nl_release(i);
    nl_release(t);
}

TEST(reduce_same_for_one_and_two_threads) {
    unsigned long long st = 7;
    int64_t sz[2] = { 257, 1031 };
    nl_tensor *t = rand_tensor(2, sz, NL_FLOAT32, &st);
    int prev = nl_get_num_threads();
    nl_tensor *r[2][4];
    for (int k = 0; k < 2; k++) {
        nl_set_num_threads(k + 1);
        r[k][0] = nl_reduce_all(NL_OP_SUM, t, 0);
        r[k][1] = nl_reduce(NL_OP_SUM, t, 0, 0, 0, NULL);
        r[k][2] = nl_reduce(NL_OP_MEAN, t, 1, 0, 0, NULL);
        r[k][3] = nl_softmax(t, 0);
    }
    nl_set_num_threads(prev);
    CHECK(nl_get_num_threads() == prev);
    for (int j = 0; j < 4; j++) {
        CHECK(r[0][j] && r[1][j] && r[0][j]->numel == r[1][j]->numel);
        if (r[0][j] && r[1][j])
            CHECK(memcmp(r[0][j]->data, r[1][j]->data, r[0][j]->numel * 4) == 0);
        nl_release(r[0][j]);
        nl_release(r[1][j]);
    }
    nl_release(t);
}

/* softmax along d against exp(x - logsumexp) in double */
static void check_softmax(nl_tensor *t, int d, double tol) {
    int64_t outer, n, inner;
    split(t, d, &outer, &n, &inner);
    nl_tensor *s = nl_softmax(t, d), *ls = nl_log_softmax(t, d);
    CHECK(s && ls && shape_is(s, t->ndim, t->sizes) && nl_is_contiguous(s) && nl_is_contiguous(ls));
    if (!s || !ls) return;
    CHECK(s->dtype == t->dtype && ls->dtype == t->dtype);
    int bad = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double mx = -INFINITY, sum = 0, total = 0;
            for (int64_t j = 0; j < n; j++) mx = fmax(mx, test_get(t, (o * n + j) * inner + i));
            for (int64_t j = 0; j < n; j++) sum += exp(test_get(t, (o * n + j) * inner + i) - mx);
            double lse = mx + log(sum);
            for (int64_t j = 0; j < n; j++) {
                int64_t at = (o * n + j) * inner + i;
                double x = test_get(t, at);
                if (!(fabs(test_get(s, at) - exp(x - lse)) <= tol)) bad++;
                if (!(fabs(test_get(ls, at) - (x - lse)) <= tol * (1 + fabs(x - lse)))) bad++;
                total += test_get(s, at);
            }
            if (!(fabs(total - 1) <= tol * n)) bad++;
        }
    CHECK(bad == 0);
    nl_release(s);
    nl_release(ls);
}

TEST(softmax_matches_double) {
    unsigned long long st = 8;
    int64_t sz[3] = { 4, 37, 70 };
    for (int dt = 0; dt < 2; dt++) {
        nl_tensor *scaled = rand_scaled(3, sz, dt, 20.0, &st);   /* spread: [-20, 20) */
        nl_tensor *tr = nl_transpose(scaled, 0, 2);
        double tol = dt == NL_FLOAT32 ? 1e-6 : 1e-13;
        for (int d = 0; d < 3; d++) {
            check_softmax(scaled, d, tol);
            check_softmax(tr, d, tol);
        }
        nl_release(tr);
        nl_release(scaled);
    }
}

TEST(softmax_stable_for_large_inputs) {
    double v[3] = { 1000, -1000, 0 };
    int64_t n = 3;
    nl_tensor *t = nl_from_doubles(1, &n, NL_FLOAT32, v);
    nl_tensor *ls = nl_log_softmax(t, 0), *s = nl_softmax(t, -1);
    CHECK(ls && s);
    if (ls && s) {
        CHECK_NEAR(test_get(ls, 0), 0, 1e-6);
        CHECK_NEAR(test_get(ls, 1), -2000, 1e-3);
        CHECK_NEAR(test_get(ls, 2), -1000, 1e-3);
        CHECK_NEAR(test_get(s, 0), 1, 1e-7);
        CHECK(test_get(s, 1) == 0 && test_get(s, 2) == 0);
    }
    nl_release(ls); nl_release(s);
    double w[2] = { 1000, 1000 };
    int64_t two = 2;
    nl_tensor *u = nl_from_doubles(1, &two, NL_FLOAT64, w), *su = nl_softmax(u, 0);
    CHECK(su && test_get(su, 0) == 0.5 && test_get(su, 1) == 0.5);
    nl_release(su); nl_release(u);
    double q[6] = { 1, NAN, 2, 3, 4, 5 };   /* a NaN spoils its own row only */
    int64_t s23[2] = { 2, 3 };
    nl_tensor *tq = nl_from_doubles(2, s23, NL_FLOAT32, q), *sq = nl_softmax(tq, 1), *lq = nl_log_softmax(tq, 1);
    CHECK(sq && lq);
    for (int i = 0; sq && lq && i < 3; i++) CHECK(isnan(test_get(sq, i)) && isnan(test_get(lq, i)));
    if (sq) CHECK_NEAR(test_get(sq, 3) + test_get(sq, 4) + test_get(sq, 5), 1, 1e-6);
    nl_release(sq); nl_release(lq); nl_release(tq);
    int64_t none[1] = { 0 };
    double x = 3;
    nl_tensor *z = nl_from_doubles(0, none, NL_FLOAT32, &x), *sz = nl_softmax(z, 0), *lz = nl_log_softmax(z, -1);
    CHECK(sz && sz->ndim == 0 && test_get(sz, 0) == 1);
    CHECK(lz && lz->ndim == 0 && test_get(lz, 0) == 0);
    nl_release(sz); nl_release(lz); nl_release(z);
    nl_release(t);
}
