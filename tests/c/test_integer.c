/* test_integer.c — nl_int_binary's row loops (contiguous, scalar and
 * strided cases, OpenMP above the grain) against ops_integer.c's serial
 * reference kernel, on full-range int64 draws and broadcast shapes, at 1
 * and 4 threads; the in-place and scalar forms against the same; and
 * nl_empty_strided's strides. */
#include "check.h"
#include "../../src/ops_integer.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* full-range int64 draws (xorshift64*) with bits = 64, else bits-bit
 * draws centred on 0, in [-2^(bits-1), 2^(bits-1)) (counts and factors) */
static nl_tensor *draws(int ndim, const int64_t *sizes, uint64_t *st, int bits) {
    nl_tensor *t = nl_empty(ndim, sizes, NL_INT64);
    int64_t *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        *st ^= *st >> 12;
        *st ^= *st << 25;
        *st ^= *st >> 27;
        uint64_t r = *st * 0x2545F4914F6CDD1DULL;
        p[i] = bits == 64 ? (int64_t)r : (int64_t)(r >> (64 - bits)) - ((int64_t)1 << (bits - 1));
    }
    return t;
}

/* element i (row-major) of an int64 tensor, exactly */
static int64_t iget(const nl_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->sizes[d]) * t->strides[d];
        i /= t->sizes[d];
    }
    return ((const int64_t *)t->data)[off];
}

static bool same_ints(const nl_tensor *a, const nl_tensor *b) {
    if (!a || !b || a->numel != b->numel || a->ndim != b->ndim) return false;
    for (int64_t i = 0; i < a->numel; i++)
        if (iget(a, i) != iget(b, i)) return false;
    return true;
}

static nl_tensor *reference(int op, nl_tensor *a, nl_tensor *b) {
    int64_t bs[8];
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;     /* numpy's broadcast shape */
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t sa = ia >= 0 ? a->sizes[ia] : 1, sb = ib >= 0 ? b->sizes[ib] : 1;
        bs[i] = sa == 1 ? sb : sa;
    }
    nl_tensor *o = nl_empty(nd, bs, NL_INT64);
    nl_int_binary_ref(op, o, a, b);
    return o;
}

TEST(int_binary_matches_reference) {
    uint64_t st = 0x9E3779B97F4A7C15ULL;
    int64_t sa[2] = { 301, 257 }, sb[1] = { 257 }, sc[2] = { 301, 1 }, small[2] = { 3, 5 };
    int prev = nl_set_num_threads(1);
    for (int threads = 1; threads <= 4; threads += 3) {
        nl_set_num_threads(threads);
        for (int op = NL_OP_BITWISE_AND; op <= NL_OP_LCM; op++) {
            bool shift = op == NL_OP_BITWISE_LEFT_SHIFT || op == NL_OP_BITWISE_RIGHT_SHIFT;
            bool div = op == NL_OP_GCD || op == NL_OP_LCM;
            nl_tensor *a = draws(2, sa, &st, div ? 24 : 64);
            nl_tensor *b = draws(1, sb, &st, shift ? 9 : div ? 20 : 64);     /* counts in [-256, 256) */
            nl_tensor *c = draws(2, sc, &st, div ? 16 : 64);
            nl_tensor *at = nl_transpose(a, 0, 1);                          /* strided: (257, 301) */
            nl_tensor *ct = nl_transpose(c, 0, 1);                          /* (1, 301) */
            nl_tensor *s = draws(2, small, &st, shift ? 8 : 64);
            /* (301, 257) op (257): contiguous with a row broadcast; (301, 257)
             * op (301, 1): a column; a transposed operand; and a small one */
            nl_tensor *got[4] = { nl_int_binary(op, a, b), nl_int_binary(op, a, c), nl_int_binary(op, at, ct),
                                  nl_int_binary(op, s, s) };
            nl_tensor *want[4] = { reference(op, a, b), reference(op, a, c), reference(op, at, ct),
                                   reference(op, s, s) };
            for (int k = 0; k < 4; k++) {
                CHECK(same_ints(got[k], want[k]));
                if (!same_ints(got[k], want[k])) fprintf(stderr, "  op %s case %d threads %d\n", nl_op_name(op), k, threads);
                nl_release(got[k]);
                nl_release(want[k]);
            }
            /* scalar forms, either side, and in place */
            nl_tensor *s7 = nl_empty(0, NULL, NL_INT64);
            *(int64_t *)s7->data = shift ? 65 : -7;
            nl_tensor *g1 = nl_int_binary_scalar(op, a, shift ? 65 : -7, 0), *w1 = reference(op, a, s7);
            nl_tensor *g2 = nl_int_binary_scalar(op, a, shift ? 65 : -7, 1), *w2 = reference(op, s7, a);
            CHECK(same_ints(g1, w1));
            CHECK(same_ints(g2, w2));
            nl_tensor *d = nl_clone(a), *w3 = reference(op, a, b);
            CHECK(nl_int_binary_(op, d, b) == 0 && same_ints(d, w3));
            nl_tensor *e = nl_clone(a), *et = nl_transpose(e, 0, 1), *w4 = reference(op, at, s7);
            CHECK(nl_int_binary_scalar_(op, et, shift ? 65 : -7) == 0 && same_ints(et, w4));   /* strided */
            nl_release(w4);
            nl_release(et);
            nl_release(e);
            e = nl_clone(a);
            CHECK(nl_int_binary_scalar_(op, e, shift ? 65 : -7) == 0 && same_ints(e, w1));
            nl_release(g1); nl_release(w1); nl_release(g2); nl_release(w2); nl_release(d); nl_release(w3);
            nl_release(e); nl_release(s7);
            nl_release(a); nl_release(b); nl_release(c); nl_release(at); nl_release(ct); nl_release(s);
        }
    }
    nl_set_num_threads(prev);
}

TEST(int_binary_refuses_floats_and_bad_shapes) {
    int64_t s3[1] = { 3 }, s4[1] = { 4 };
    nl_tensor *f = nl_full(1, s3, 1.5, NL_FLOAT32), *i3 = nl_full(1, s3, 2, NL_INT64), *i4 = nl_full(1, s4, 2, NL_INT64);
    CHECK(nl_int_binary(NL_OP_GCD, f, i3) == NULL && strstr(nl_error(), "gcd:") && strstr(nl_error(), "float32"));
    CHECK(nl_int_binary_scalar(NL_OP_BITWISE_AND, f, 1, 0) == NULL && strstr(nl_error(), "bitwise_and:"));
    CHECK(nl_int_binary(NL_OP_BITWISE_OR, i3, i4) == NULL && strstr(nl_error(), "[3]") && strstr(nl_error(), "[4]"));
    CHECK(nl_int_binary_(NL_OP_LCM, i3, f) == -1 && strstr(nl_error(), "lcm_:"));
    CHECK(nl_int_binary(NL_OP_ADD, i3, i3) == NULL && strstr(nl_error(), "add"));
    CHECK(nl_int_binary(NL_OP_GCD, NULL, i3) == NULL);
    nl_release(f); nl_release(i3); nl_release(i4);
}

TEST(empty_strided_strides) {
    int64_t sz[2] = { 2, 3 }, st[2] = { 1, 2 }, neg[2] = { 1, -1 }, zero[2] = { 0, 3 };
    nl_tensor *t = nl_empty_strided(2, sz, st, NL_FLOAT64);
    CHECK(t && t->strides[0] == 1 && t->strides[1] == 2 && t->numel == 6 && t->storage);
    nl_tensor *z = nl_empty_strided(2, zero, st, NL_INT64);
    CHECK(z && z->numel == 0);
    CHECK(nl_empty_strided(2, sz, neg, NL_FLOAT32) == NULL && strstr(nl_error(), "negative stride"));
    nl_release(t); nl_release(z);
}
