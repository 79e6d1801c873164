/* test_matmul.c — nl_matmul against a triple loop in double written here,
 * and against nl_matmul_reference: odd sizes, transposed, narrowed and
 * expanded operands, batches and their broadcasting, 1-D operands, float64,
 * int64, and the error messages. */
#include "check.h"
#include "../../src/ops_blas.h"
#include "../../src/sgemm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static nl_tensor *rand_tensor(int ndim, const int64_t *sizes, int dtype, unsigned long long *st) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= sizes[i];
    double *v = malloc(sizeof(double) * (n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = dtype == NL_INT64 ? floor(test_rand(st) * 100) : test_rand(st);
    nl_tensor *t = nl_from_doubles(ndim, sizes, dtype, v);
    free(v);
    return t;
}

static const char *shape_of(const nl_tensor *t) {
    static char buf[2][64];
    static int next;
    char *b = buf[next++ & 1];
    int n = snprintf(b, 64, "[");
    for (int i = 0; i < t->ndim && n < 50; i++) n += snprintf(b + n, 64 - n, i ? ",%lld" : "%lld", (long long)t->sizes[i]);
    snprintf(b + n, 64 - n, "]");
    return b;
}

static nl_tensor *rand2(int64_t r, int64_t c, int dtype, unsigned long long *st) {
    int64_t sz[2] = { r, c };
    return rand_tensor(2, sz, dtype, st);
}

/* relative accuracy expected of one product element, per unit of sum |a*b| */
static double eps_of(int dtype) {
    return dtype == NL_FLOAT32 ? 2e-6 : dtype == NL_FLOAT64 ? 1e-13 : 0;
}

/* Number of elements of c (m,n) that differ from a (m,k) @ b (k,n) summed in
 * double; any strides. */
static int mismatches_2d(const nl_tensor *a, const nl_tensor *b, const nl_tensor *c) {
    int64_t m = a->sizes[0], k = a->sizes[1], n = b->sizes[1];
    if (c->ndim != 2 || c->sizes[0] != m || c->sizes[1] != n || b->sizes[0] != k) return -1;
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0, mag = 0;
            for (int64_t p = 0; p < k; p++) {
                double x = test_get(a, i * k + p) * test_get(b, p * n + j);
                acc += x;
                mag += fabs(x);
            }
            if (!(fabs(test_get(c, i * n + j) - acc) <= eps_of(a->dtype) * mag)) bad++;
        }
    return bad;
}

/* c = nl_matmul(a, b) is 2-D and right */
static void check_mm_2d(nl_tensor *a, nl_tensor *b) {
    nl_tensor *c = nl_matmul(a, b);
    CHECK(c != NULL);
    if (!c) { fprintf(stderr, "  %s\n", nl_error()); return; }
    CHECK(c->dtype == a->dtype && nl_is_contiguous(c));
    int bad = mismatches_2d(a, b, c);
    CHECK(bad == 0);
    if (bad) fprintf(stderr, "  %s @ %s: %d mismatches\n", shape_of(a), shape_of(b), bad);
    nl_release(c);
}

/* a (m,k) and b (k,n) in several layouts: contiguous, transposed views,
 * narrowed views, a general stride (neither stride 1), expanded (stride 0). */
static void check_layouts(int64_t m, int64_t k, int64_t n, int dtype, unsigned long long *st) {
    nl_tensor *a = rand2(m, k, dtype, st), *b = rand2(k, n, dtype, st);
    check_mm_2d(a, b);

    nl_tensor *at0 = rand2(k, m, dtype, st), *bt0 = rand2(n, k, dtype, st);
    nl_tensor *at = nl_transpose(at0, 0, 1), *bt = nl_transpose(bt0, 0, 1);
    check_mm_2d(at, b);
    check_mm_2d(a, bt);
    check_mm_2d(at, bt);

    nl_tensor *aw = rand2(m + 3, k + 5, dtype, st), *bw = rand2(k + 2, n + 4, dtype, st);
    nl_tensor *an = nl_narrow(aw, 1, 2, k), *bn = nl_narrow(bw, 0, 1, k);
    nl_tensor *an2 = nl_narrow(an, 0, 3, m), *bn2 = nl_narrow(bn, 1, 4, n);
    check_mm_2d(an2, bn2);

    /* general stride (2k, 2): element 1 of the last dim of (m, k, 2) */
    int64_t sg[3] = { m, k, 2 };
    nl_tensor *ag0 = rand_tensor(3, sg, dtype, st), *ag = nl_select(ag0, 2, 1);
    check_mm_2d(ag, bt);

    /* expanded rows / columns have stride 0 */
    nl_tensor *arow = rand2(1, k, dtype, st), *bcol = rand2(k, 1, dtype, st);
    int64_t ea[2] = { m, k }, eb[2] = { k, n };
    nl_tensor *ae = nl_expand(arow, 2, ea), *be = nl_expand(bcol, 2, eb);
    check_mm_2d(ae, be);
    check_mm_2d(ae, b);

    nl_release(ae); nl_release(be); nl_release(arow); nl_release(bcol);
    nl_release(ag); nl_release(ag0);
    nl_release(an2); nl_release(bn2); nl_release(an); nl_release(bn); nl_release(aw); nl_release(bw);
    nl_release(at); nl_release(bt); nl_release(at0); nl_release(bt0);
    nl_release(a); nl_release(b);
}

TEST(matmul_2d_odd_sizes_float32) {
    unsigned long long st = 11;
    static const int64_t dims[4] = { 1, 7, 33, 257 };
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 4; l++) {
                if (dims[i] * dims[j] * dims[l] > 257 * 257) continue;   /* keep it quick */
                check_layouts(dims[i], dims[j], dims[l], NL_FLOAT32, &st);
            }
    /* k = 600 runs k blocks of 256, 256 and 88: the second reads C back and
     * fetches it ahead in its last steps; n = 1100 is a block of 1024
     * columns and one of 76 (two 32-column panels and an edge of 12);
     * m = 13 ends in a tile of one row. All layouts: row-major A goes
     * through the transposing pack, which fetches A's rows ahead. One
     * thread, so that one thread's columns span both blocks. */
    int prev = nl_get_num_threads();
    nl_set_num_threads(1);
    check_layouts(13, 600, 1100, NL_FLOAT32, &st);
    nl_set_num_threads(prev);
    /* On several threads, products with a small A hand their column panels
     * to the threads as they ask (sgemm_panels): right in every layout,
     * and bit for bit the product of one thread, as each element is summed
     * by one thread in the same order. */
    static const int64_t shapes[3][3] = { { 13, 600, 1100 }, { 128, 784, 500 }, { 512, 128, 784 } };
    for (int s = 0; s < 3; s++) {
        int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        nl_set_num_threads(3);
        if (s == 0) check_layouts(m, k, n, NL_FLOAT32, &st);
        nl_tensor *a = rand2(m, k, NL_FLOAT32, &st), *b0 = rand2(n, k, NL_FLOAT32, &st);
        nl_tensor *b = nl_transpose(b0, 0, 1);
        nl_tensor *c[3];
        for (int nt = 1; nt <= 3; nt++) {
            nl_set_num_threads(nt);
            c[nt - 1] = nl_matmul(a, b);
        }
        CHECK(c[0] && c[1] && c[2]);
        if (c[0] && c[1] && c[2]) {
            CHECK(mismatches_2d(a, b, c[2]) == 0);
            CHECK(memcmp(c[0]->data, c[1]->data, m * n * sizeof(float)) == 0);
            CHECK(memcmp(c[0]->data, c[2]->data, m * n * sizeof(float)) == 0);
        }
        for (int i = 0; i < 3; i++) nl_release(c[i]);
        nl_release(a); nl_release(b); nl_release(b0);
    }
    nl_set_num_threads(prev);
    /* 257^3, plain and with both operands transposed */
    nl_tensor *a = rand2(257, 257, NL_FLOAT32, &st), *b = rand2(257, 257, NL_FLOAT32, &st);
    nl_tensor *at = nl_transpose(a, 0, 1), *bt = nl_transpose(b, 0, 1);
    check_mm_2d(a, b);
    check_mm_2d(at, bt);
    nl_release(a); nl_release(b); nl_release(at); nl_release(bt);
}

TEST(matmul_2d_float64) {
    unsigned long long st = 12;
    check_layouts(7, 33, 1, NL_FLOAT64, &st);
    check_layouts(33, 257, 7, NL_FLOAT64, &st);
    check_layouts(1, 1, 1, NL_FLOAT64, &st);
    check_layouts(65, 70, 61, NL_FLOAT64, &st);
}

TEST(matmul_2d_int64) {
    unsigned long long st = 13;
    check_layouts(7, 33, 5, NL_INT64, &st);
    check_layouts(1, 257, 1, NL_INT64, &st);
    int64_t a[4] = { INT64_C(1) << 40, 3, -2, 5 }, b[2] = { 1 << 20, 7 };
    int64_t sa[2] = { 2, 2 }, sb[1] = { 2 };
    nl_tensor *ta = nl_from_data(2, sa, NL_INT64, a), *tb = nl_from_data(1, sb, NL_INT64, b);
    nl_tensor *c = nl_matmul(ta, tb);   /* exact past 2^53 */
    CHECK(c && c->dtype == NL_INT64 && c->ndim == 1 && c->sizes[0] == 2);
    if (c) {
        CHECK(((int64_t *)c->data)[0] == (INT64_C(1) << 60) + 21);
        CHECK(((int64_t *)c->data)[1] == -(INT64_C(1) << 21) + 35);
    }
    nl_release(c); nl_release(ta); nl_release(tb);
}

/* c (batch..., m, n) against each 2-D slice; a and b have 3-D or 2-D shapes
 * whose batch dim (if any) is 1 or nb. */
static void check_batched(nl_tensor *a, nl_tensor *b, int64_t nb) {
    nl_tensor *c = nl_matmul(a, b);
    CHECK(c && c->ndim == 3 && c->sizes[0] == nb);
    if (!c) { fprintf(stderr, "  %s\n", nl_error()); return; }
    int bad = 0;
    for (int64_t i = 0; i < nb; i++) {
        nl_tensor *ai = a->ndim == 3 ? nl_select(a, 0, a->sizes[0] == 1 ? 0 : i) : (nl_retain(a), a);
        nl_tensor *bi = b->ndim == 3 ? nl_select(b, 0, b->sizes[0] == 1 ? 0 : i) : (nl_retain(b), b);
        nl_tensor *ci = nl_select(c, 0, i);
        bad += mismatches_2d(ai, bi, ci) != 0;
        nl_release(ai); nl_release(bi); nl_release(ci);
    }
    CHECK(bad == 0);
    if (bad) fprintf(stderr, "  %s @ %s: %d bad batch items\n", shape_of(a), shape_of(b), bad);
    nl_release(c);
}

TEST(matmul_batched) {
    unsigned long long st = 14;
    for (int dt = 0; dt < 3; dt++) {
        /* small items go one to a thread; 70^3 goes to BLIS with all threads */
        int64_t shapes[2][3] = { { 5, 7, 9 }, { 70, 70, 70 } };
        for (int s = 0; s < (dt == NL_FLOAT32 ? 2 : 1); s++) {
            int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2], nb = 4;
            int64_t sa[3] = { nb, m, k }, sb[3] = { nb, k, n }, sa1[3] = { 1, m, k }, sb1[3] = { 1, k, n };
            nl_tensor *a = rand_tensor(3, sa, dt, &st), *b = rand_tensor(3, sb, dt, &st);
            nl_tensor *a1 = rand_tensor(3, sa1, dt, &st), *b1 = rand_tensor(3, sb1, dt, &st);
            nl_tensor *a2 = rand2(m, k, dt, &st), *b2 = rand2(k, n, dt, &st);
            check_batched(a, b, nb);
            check_batched(a1, b, nb);
            check_batched(a, b1, nb);
            check_batched(a, b2, nb);
            check_batched(a2, b, nb);
            /* transposed batch items: (nb, n, k) viewed as (nb, k, n) */
            int64_t sbt[3] = { nb, n, k };
            nl_tensor *bt0 = rand_tensor(3, sbt, dt, &st), *bt = nl_transpose(bt0, 1, 2);
            check_batched(a, bt, nb);
            /* batch dim last in memory: (m, nb, k) permuted to (nb, m, k) */
            int64_t sp[3] = { m, nb, k };
            int perm[3] = { 1, 0, 2 };
            nl_tensor *ap0 = rand_tensor(3, sp, dt, &st), *ap = nl_permute(ap0, 3, perm);
            check_batched(ap, bt, nb);
            nl_release(ap); nl_release(ap0); nl_release(bt); nl_release(bt0);
            nl_release(a); nl_release(b); nl_release(a1); nl_release(b1); nl_release(a2); nl_release(b2);
        }
    }
}

TEST(matmul_nd_broadcast) {
    unsigned long long st = 15;
    int64_t sa[4] = { 2, 1, 3, 4 }, sb[3] = { 5, 4, 6 };
    nl_tensor *a = rand_tensor(4, sa, NL_FLOAT32, &st), *b = rand_tensor(3, sb, NL_FLOAT32, &st);
    nl_tensor *c = nl_matmul(a, b);
    int64_t want[4] = { 2, 5, 3, 6 };
    CHECK(c && c->ndim == 4 && memcmp(c->sizes, want, sizeof want) == 0);
    int bad = 0;
    for (int64_t i = 0; c && i < 2; i++)
        for (int64_t j = 0; j < 5; j++) {
            nl_tensor *a0 = nl_select(a, 0, i), *ai = nl_select(a0, 0, 0), *bj = nl_select(b, 0, j);
            nl_tensor *c0 = nl_select(c, 0, i), *cij = nl_select(c0, 0, j);
            bad += mismatches_2d(ai, bj, cij) != 0;
            nl_release(a0); nl_release(ai); nl_release(bj); nl_release(c0); nl_release(cij);
        }
    CHECK(bad == 0);
    nl_release(c); nl_release(a); nl_release(b);
}

TEST(matmul_1d_operands) {
    unsigned long long st = 16;
    int64_t k = 33, m = 7, n = 5, nb = 3;
    nl_tensor *v = rand_tensor(1, &k, NL_FLOAT64, &st), *w = rand_tensor(1, &k, NL_FLOAT64, &st);
    nl_tensor *A = rand2(m, k, NL_FLOAT64, &st), *B = rand2(k, n, NL_FLOAT64, &st);
    int64_t s3[3] = { nb, k, n }, s3a[3] = { nb, m, k };
    nl_tensor *B3 = rand_tensor(3, s3, NL_FLOAT64, &st), *A3 = rand_tensor(3, s3a, NL_FLOAT64, &st);

    /* the 1-D operand as a (1,k) row or (k,1) column, via unsqueeze */
    nl_tensor *vrow = nl_unsqueeze(v, 0), *wcol = nl_unsqueeze(w, 1);

    nl_tensor *dot = nl_matmul(v, w);
    CHECK(dot && dot->ndim == 0 && dot->numel == 1);
    nl_tensor *dot2 = nl_matmul(vrow, wcol);
    if (dot && dot2) CHECK_NEAR(test_get(dot, 0), test_get(dot2, 0), 1e-13 * k);

    nl_tensor *vB = nl_matmul(v, B), *vB2 = nl_matmul(vrow, B);
    CHECK(vB && vB->ndim == 1 && vB->sizes[0] == n);
    for (int64_t j = 0; vB && vB2 && j < n; j++) CHECK_NEAR(test_get(vB, j), test_get(vB2, j), 1e-13 * k);
    if (vB2) CHECK(mismatches_2d(vrow, B, vB2) == 0);

    nl_tensor *Aw = nl_matmul(A, w), *Aw2 = nl_matmul(A, wcol);
    CHECK(Aw && Aw->ndim == 1 && Aw->sizes[0] == m);
    for (int64_t i = 0; Aw && Aw2 && i < m; i++) CHECK_NEAR(test_get(Aw, i), test_get(Aw2, i), 1e-13 * k);
    if (Aw2) CHECK(mismatches_2d(A, wcol, Aw2) == 0);

    nl_tensor *vB3 = nl_matmul(v, B3), *A3w = nl_matmul(A3, w);
    CHECK(vB3 && vB3->ndim == 2 && vB3->sizes[0] == nb && vB3->sizes[1] == n);
    CHECK(A3w && A3w->ndim == 2 && A3w->sizes[0] == nb && A3w->sizes[1] == m);
    for (int64_t b = 0; vB3 && A3w && b < nb; b++) {
        nl_tensor *Bb = nl_select(B3, 0, b), *Ab = nl_select(A3, 0, b);
        nl_tensor *r1 = nl_matmul(v, Bb), *r2 = nl_matmul(Ab, w);
        for (int64_t j = 0; j < n; j++) CHECK_NEAR(test_get(vB3, b * n + j), test_get(r1, j), 1e-13 * k);
        for (int64_t i = 0; i < m; i++) CHECK_NEAR(test_get(A3w, b * m + i), test_get(r2, i), 1e-13 * k);
        nl_release(Bb); nl_release(Ab); nl_release(r1); nl_release(r2);
    }

    /* a strided 1-D operand: a column of A's transpose */
    nl_tensor *At = nl_transpose(A, 0, 1), *col = nl_select(At, 1, 2);   /* row 2 of A, stride 1 */
    nl_tensor *colv = nl_select(A, 1, 3);                                /* column 3 of A, stride k */
    nl_tensor *r = nl_matmul(colv, A), *rr = nl_matmul_reference(colv, A);
    CHECK(r && rr && r->ndim == 1 && r->sizes[0] == k);
    for (int64_t j = 0; r && rr && j < k; j++) CHECK_NEAR(test_get(r, j), test_get(rr, j), 1e-13 * m);
    nl_tensor *d2 = nl_matmul(col, v);
    double want = 0;
    for (int64_t p = 0; p < k; p++) want += test_get(A, 2 * k + p) * test_get(v, p);
    CHECK(d2 && d2->ndim == 0);
    if (d2) CHECK_NEAR(test_get(d2, 0), want, 1e-13 * k);

    nl_release(d2); nl_release(r); nl_release(rr); nl_release(colv); nl_release(col); nl_release(At);
    nl_release(vB3); nl_release(A3w); nl_release(Aw); nl_release(Aw2); nl_release(vB); nl_release(vB2);
    nl_release(dot); nl_release(dot2); nl_release(vrow); nl_release(wcol);
    nl_release(B3); nl_release(A3); nl_release(A); nl_release(B); nl_release(v); nl_release(w);
}

TEST(matmul_empty_and_k0) {
    int64_t sa[2] = { 3, 0 }, sb[2] = { 0, 4 };
    for (int dt = 0; dt < 3; dt++) {
        /* fill a buffer with garbage and free it, so that a reused buffer shows */
        int64_t s[2] = { 3, 4 };
        nl_release(nl_full(2, s, 123, dt));
        nl_tensor *a = nl_empty(2, sa, dt), *b = nl_empty(2, sb, dt), *c = nl_matmul(a, b);
        CHECK(c && c->ndim == 2 && c->sizes[0] == 3 && c->sizes[1] == 4);
        for (int64_t i = 0; c && i < 12; i++) CHECK(test_get(c, i) == 0);
        nl_tensor *bt = nl_transpose(b, 0, 1), *d = nl_matmul(b, bt);   /* (0,4)@(4,0) -> (0,0) */
        CHECK(d && d->numel == 0 && d->ndim == 2);
        nl_release(d); nl_release(bt); nl_release(c); nl_release(a); nl_release(b);
    }
}

TEST(matmul_errors) {
    int64_t s43[2] = { 4, 3 }, s45[2] = { 4, 5 }, s234[3] = { 2, 3, 4 }, s345[3] = { 3, 4, 5 };
    nl_tensor *a = nl_full(2, s43, 1, NL_FLOAT32), *b = nl_full(2, s45, 1, NL_FLOAT32);
    nl_tensor *d = nl_full(2, s45, 1, NL_FLOAT64);
    CHECK(nl_matmul(a, b) == NULL);
    CHECK(strcmp(nl_error(), "matmul: shapes [4,3] and [4,5] do not align") == 0);
    CHECK(nl_matmul_reference(a, b) == NULL);
    CHECK(strcmp(nl_error(), "matmul: shapes [4,3] and [4,5] do not align") == 0);
    nl_tensor *at = nl_transpose(a, 0, 1);
    CHECK(nl_matmul(at, d) == NULL);
    CHECK(strcmp(nl_error(), "matmul: dtypes float32 and float64 differ") == 0);
    CHECK(nl_matmul(NULL, b) == NULL);
    CHECK(strcmp(nl_error(), "matmul: expected a tensor, got nil") == 0);
    CHECK(nl_matmul(a, NULL) == NULL);
    CHECK(strstr(nl_error(), "matmul") != NULL);
    nl_tensor *x = nl_full(3, s234, 1, NL_FLOAT32), *y = nl_full(3, s345, 1, NL_FLOAT32);
    CHECK(nl_matmul(x, y) == NULL);
    CHECK(strcmp(nl_error(), "matmul: batch dims of shapes [2,3,4] and [3,4,5] do not broadcast") == 0);
    int64_t one[1] = { 0 };
    nl_tensor *z = nl_full(0, one, 2, NL_FLOAT32);
    CHECK(nl_matmul(z, a) == NULL);
    CHECK(strstr(nl_error(), "matmul") && strstr(nl_error(), "[]") && strstr(nl_error(), "[4,3]"));
    int64_t k5 = 5;
    nl_tensor *v = nl_full(1, &k5, 1, NL_FLOAT32);
    CHECK(nl_matmul(a, v) == NULL);
    CHECK(strcmp(nl_error(), "matmul: shapes [4,3] and [5] do not align") == 0);
    nl_release(v); nl_release(z); nl_release(x); nl_release(y);
    nl_release(at); nl_release(a); nl_release(b); nl_release(d);
}

/* The BLIS path against the library's own naive kernel, on mixed layouts. */
TEST(matmul_matches_reference_kernel) {
    unsigned long long st = 17;
    for (int dt = 0; dt < 3; dt++) {
        int64_t sa[3] = { 3, 40, 33 }, sb[3] = { 3, 257, 33 };
        nl_tensor *a = rand_tensor(3, sa, dt, &st), *b0 = rand_tensor(3, sb, dt, &st);
        nl_tensor *b = nl_transpose(b0, 1, 2);                 /* (3, 33, 257) */
        nl_tensor *c = nl_matmul(a, b), *r = nl_matmul_reference(a, b);
        CHECK(c && r && c->numel == r->numel && c->numel == 3 * 40 * 257);
        int bad = 0;
        for (int64_t i = 0; c && r && i < c->numel; i++)
            if (!(fabs(test_get(c, i) - test_get(r, i)) <= eps_of(dt) * 33)) bad++;
        CHECK(bad == 0);
        nl_release(c); nl_release(r); nl_release(b); nl_release(b0); nl_release(a);
    }
}

TEST(matmul_same_for_one_and_two_threads) {
    unsigned long long st = 18;
    nl_tensor *a = rand2(257, 129, NL_FLOAT32, &st), *b = rand2(129, 257, NL_FLOAT32, &st);
    int64_t s3[3] = { 16, 9, 11 }, s3b[3] = { 16, 11, 13 };
    nl_tensor *x = rand_tensor(3, s3, NL_FLOAT32, &st), *y = rand_tensor(3, s3b, NL_FLOAT32, &st);
    int prev = nl_get_num_threads();
    nl_tensor *c[2], *z[2];
    for (int k = 0; k < 2; k++) {
        nl_set_num_threads(k + 1);
        c[k] = nl_matmul(a, b);
        z[k] = nl_matmul(x, y);
    }
    nl_set_num_threads(prev);
    CHECK(nl_get_num_threads() == prev);
    CHECK(c[0] && c[1] && z[0] && z[1]);
    int bad = 0;
    for (int64_t i = 0; c[0] && c[1] && i < c[0]->numel; i++)
        if (!(fabs(test_get(c[0], i) - test_get(c[1], i)) <= 2e-6 * 129)) bad++;
    for (int64_t i = 0; z[0] && z[1] && i < z[0]->numel; i++)
        if (!(fabs(test_get(z[0], i) - test_get(z[1], i)) <= 2e-6 * 11)) bad++;
    CHECK(bad == 0);
    for (int k = 0; k < 2; k++) { nl_release(c[k]); nl_release(z[k]); }
    nl_release(a); nl_release(b); nl_release(x); nl_release(y);
}

/* A host that calls nnlua from inside its own OpenMP region: the nested
 * region gets one thread, and BLIS, asking for the thread setting, aborted
 * the process ("A different number of threads was created than was
 * requested"). Inside, nnlua runs on one thread and gives the same product. */
TEST(matmul_inside_a_host_parallel_region) {
    unsigned long long st = 21;
    /* float64 goes to BLIS (float32 to nnlua's own kernel, which coped) */
    nl_tensor *a = rand2(600, 300, NL_FLOAT64, &st), *b = rand2(300, 500, NL_FLOAT64, &st);
    int prev = nl_get_num_threads();
    nl_set_num_threads(2);
    nl_tensor *want = nl_matmul(a, b), *got = NULL;
    int inside = 0;
    #pragma omp parallel num_threads(2)
    {
        #pragma omp master
        {
            inside = nl_get_num_threads();
            got = nl_matmul(a, b);
        }
    }
    nl_set_num_threads(prev);
    CHECK(inside == 1);
    CHECK(want && got);
    int bad = 0;
    for (int64_t i = 0; want && got && i < want->numel; i++)
        if (!(fabs(test_get(want, i) - test_get(got, i)) <= 1e-12 * 300)) bad++;
    CHECK(bad == 0);
    nl_release(want); nl_release(got); nl_release(a); nl_release(b);
}

/* A packed once (nl_sgemm_pack_a, a convolution's weights) gives the bits of
 * nl_sgemm packing it itself, with A row-major and transposed, beta 0 and
 * 1, on 1 to 3 threads: a conv forward's block (k blocks of 256 and 32), a
 * backward's gcol product, several column blocks and an edge tile of one
 * row, and a small A that the threads' panels share. */
TEST(sgemm_packed_a_same_bits) {
    if (!__builtin_cpu_supports("avx512f")) return;
    unsigned long long st = 21;
    static const int64_t shapes[4][3] = { { 64, 288, 588 }, { 288, 64, 392 }, { 13, 600, 1100 }, { 37, 300, 70 } };
    int prev = nl_get_num_threads(), checked = 0;
    for (int s = 0; s < 4; s++) {
        int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        nl_tensor *a = rand2(m, k, NL_FLOAT32, &st), *b = rand2(k, n, NL_FLOAT32, &st);
        nl_tensor *c0 = rand2(m, n, NL_FLOAT32, &st);
        float *ap = malloc(sizeof(float) * nl_sgemm_packed_a_floats(m, k) + 64);
        float *c1 = malloc(sizeof(float) * m * n), *c2 = malloc(sizeof(float) * m * n);
        for (int tr = 0; tr < 2; tr++) {
            /* tr: A read as the transpose of its (k, m) storage */
            int64_t rsa = tr ? 1 : k, csa = tr ? m : 1;
            nl_sgemm_pack_a(ap, m, k, a->data, rsa, csa);
            for (int nt = 1; nt <= 3; nt++)
                for (int beta = 0; beta <= 1; beta++) {
                    nl_set_num_threads(nt);
                    memcpy(c1, c0->data, sizeof(float) * m * n);
                    memcpy(c2, c0->data, sizeof(float) * m * n);
                    bool ok1 = nl_sgemm(m, n, k, a->data, rsa, csa, b->data, n, 1, (float)beta, c1, n, 1, nt);
                    bool ok2 = nl_sgemm_packed(m, n, k, ap, b->data, n, 1, (float)beta, c2, n, nt);
                    CHECK(ok1 && ok2);
                    CHECK(memcmp(c1, c2, sizeof(float) * m * n) == 0);
                    checked++;
                }
        }
        free(ap); free(c1); free(c2);
        nl_release(a); nl_release(b); nl_release(c0);
    }
    nl_set_num_threads(prev);
    CHECK(checked == 4 * 2 * 3 * 2);
}
