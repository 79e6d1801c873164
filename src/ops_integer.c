/* ops_integer.c — int64-only elementwise ops with numpy broadcasting:
 * bitwise and, or, xor, the left and right shifts, gcd and lcm, their
 * tensor-scalar and in-place forms (nl_int_binary*). Not here: bitwise_not
 * (xor with -1, in Lua) and the casts that wrap to narrower integers
 * (shifts, in Lua); none of these has a gradient, so nothing is recorded. */
#include "internal.h"
#include "ops_integer.h"

#include <stdio.h>
#include <string.h>

static bool is_int_binary(int op) { return op >= NL_OP_BITWISE_AND && op <= NL_OP_LCM; }

/* Shift counts keep their low six bits (64 shifts by 0, -1 by 63), as
 * PyTorch 1.13's int64 shifts do on x86; the left shift wraps through
 * uint64, the right shift is arithmetic (the sign bit fills). */
static inline int64_t shl(int64_t x, int64_t y) { return (int64_t)((uint64_t)x << (y & 63)); }
static inline int64_t shr(int64_t x, int64_t y) { return x >> (y & 63); }

/* |x| wrapping: INT64_MIN stays INT64_MIN */
static inline int64_t wrap_abs(int64_t x) { return x < 0 ? (int64_t)(0 - (uint64_t)x) : x; }

/* Euclid's algorithm on |a| and |b| with C's truncating remainder, which
 * gives PyTorch 1.13's values, INT64_MIN's too (whose magnitude wraps to
 * itself: gcd(INT64_MIN, 0) = INT64_MIN, gcd(INT64_MIN, 6) = -2);
 * gcd(0, 0) = 0. (A divisor of -1 can only follow INT64_MIN's first
 * step; its remainder is 0, written out so that INT64_MIN % -1 cannot trap.) */
static inline int64_t igcd(int64_t a, int64_t b) {
    a = wrap_abs(a);
    b = wrap_abs(b);
    while (b != 0) {
        int64_t r = b == -1 ? 0 : a % b;
        a = b;
        b = r;
    }
    return a;
}

/* |a / gcd * b|, wrapping past 2^63; 0 when either is 0. (PyTorch 1.13
 * traps on lcm(INT64_MIN, INT64_MAX), whose gcd is -1: the quotient
 * INT64_MIN / -1 wraps to INT64_MIN here.) */
static inline int64_t ilcm(int64_t a, int64_t b) {
    int64_t g = igcd(a, b);
    if (g == 0) return 0;
    int64_t q = g == -1 ? (int64_t)(0 - (uint64_t)a) : a / g;
    return wrap_abs(nl_wrap_mul(q, b));
}

/* One loop per op; the contiguous and scalar cases get their own loops so
 * that the compiler vectorizes them (as ops_elementwise.c's BIN_LOOP). */
#define INT_LOOP(EXPR)                                                        \
    do {                                                                      \
        int64_t *o = (int64_t *)p[0];                                         \
        const int64_t *a = (const int64_t *)p[1], *b = (const int64_t *)p[2]; \
        int64_t so = s[0], sa = s[1], sb = s[2];                              \
        if (so == 1 && sa == 1 && sb == 1)                                    \
            for (int64_t i = 0; i < n; i++) { int64_t x = a[i], y = b[i]; o[i] = (EXPR); } \
        else if (so == 1 && sa == 1 && sb == 0) {                             \
            int64_t y = b[0];                                                 \
            for (int64_t i = 0; i < n; i++) { int64_t x = a[i]; o[i] = (EXPR); } \
        } else if (so == 1 && sa == 0 && sb == 1) {                           \
            int64_t x = a[0];                                                 \
            for (int64_t i = 0; i < n; i++) { int64_t y = b[i]; o[i] = (EXPR); } \
        } else                                                                \
            for (int64_t i = 0; i < n; i++) {                                 \
                int64_t x = a[i * sa], y = b[i * sb];                         \
                o[i * so] = (EXPR);                                           \
            }                                                                 \
    } while (0)

static void int_row(const void *ctx, char **p, const int64_t *s, int64_t n) {
    switch (*(const int *)ctx) {
    case NL_OP_BITWISE_AND: INT_LOOP(x & y); break;
    case NL_OP_BITWISE_OR: INT_LOOP(x | y); break;
    case NL_OP_BITWISE_XOR: INT_LOOP(x ^ y); break;
    case NL_OP_BITWISE_LEFT_SHIFT: INT_LOOP(shl(x, y)); break;
    case NL_OP_BITWISE_RIGHT_SHIFT: INT_LOOP(shr(x, y)); break;
    case NL_OP_GCD: INT_LOOP(igcd(x, y)); break;
    case NL_OP_LCM: INT_LOOP(ilcm(x, y)); break;
    }
}

/* The reference kernel: one element at a time through nl_get_index, for
 * the C tests to hold the row loops to. o: contiguous, of the broadcast
 * shape of a and b. */
void nl_int_binary_ref(int op, nl_tensor *o, nl_tensor *a, nl_tensor *b) {
    int64_t *out = o->data;
    int64_t sa[8], sb[8], idx[8] = { 0 };
    nl_broadcast_strides(a, o->ndim, o->sizes, sa);
    nl_broadcast_strides(b, o->ndim, o->sizes, sb);
    for (int64_t i = 0; i < o->numel; i++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < o->ndim; d++) { oa += idx[d] * sa[d]; ob += idx[d] * sb[d]; }
        int64_t x = ((const int64_t *)a->data)[oa], y = ((const int64_t *)b->data)[ob], r = 0;
        switch (op) {
        case NL_OP_BITWISE_AND: r = x & y; break;
        case NL_OP_BITWISE_OR: r = x | y; break;
        case NL_OP_BITWISE_XOR: r = x ^ y; break;
        case NL_OP_BITWISE_LEFT_SHIFT: r = shl(x, y); break;
        case NL_OP_BITWISE_RIGHT_SHIFT: r = shr(x, y); break;
        case NL_OP_GCD: r = igcd(x, y); break;
        case NL_OP_LCM: r = ilcm(x, y); break;
        }
        out[i] = r;
        for (int d = o->ndim - 1; d >= 0 && ++idx[d] == o->sizes[d]; d--) idx[d] = 0;
    }
}

/* o = a op b over o's shape, a and b broadcast to it; OpenMP-parallel
 * above the grain (gcd and lcm, a loop of divisions each, sooner) */
static void run_int(int op, nl_tensor *o, nl_tensor *a, nl_tensor *b) {
    int64_t st[4][8];
    memcpy(st[0], o->strides, sizeof(int64_t) * o->ndim);
    nl_broadcast_strides(a, o->ndim, o->sizes, st[1]);
    nl_broadcast_strides(b, o->ndim, o->sizes, st[2]);
    nl_iter it;
    nl_iter_init(&it, o->ndim, o->sizes, 3, (nl_tensor *[]){ o, a, b }, st);
    nl_for_each_row(&it, op >= NL_OP_GCD ? 1 << 11 : 1 << 15, int_row, &op);
}

/* the int64 check of an operand: float ones are refused, as PyTorch's
 * ('"bitwise_and_cpu" not implemented for 'Float'') */
static bool int_operand(const char *name, const char *what, const nl_tensor *t) {
    if (t->dtype == NL_INT64) return true;
    nl_set_error("%s: expected int64 operands, got %s %s of dtype %s (the op is defined for integers only)", name,
                 what, nl_shape_str(t), nl_dtype_name(t->dtype));
    return false;
}

/* a 0-dim int64 tensor holding s exactly (nl_full's double would round it) */
static nl_tensor *int_scalar(const char *name, int64_t s) {
    nl_tensor *t = nl_tensor_alloc(name, 0, NULL, NL_INT64);
    if (t) *(int64_t *)t->data = s;
    return t;
}

nl_tensor *nl_int_binary(int op, nl_tensor *a, nl_tensor *b) {
    NL_CHECK(is_int_binary(op), "int_binary: op %s is not one of nl_int_binary's", nl_op_name(op));
    const char *name = nl_op_name(op);
    NL_CHECK_TENSOR(name, a);
    NL_CHECK_TENSOR(name, b);
    if (!int_operand(name, "input", a) || !int_operand(name, "other", b)) return NULL;
    int64_t bs[8];
    int nd = nl_broadcast_shape(a->ndim, a->sizes, b->ndim, b->sizes, bs);
    NL_CHECK(nd >= 0, "%s: shapes %s and %s cannot be broadcast together", name, nl_shape_str(a), nl_shape_str(b));
    nl_tensor *out = nl_tensor_alloc(name, nd, bs, NL_INT64);
    if (out) run_int(op, out, a, b);
    return out;
}

nl_tensor *nl_int_binary_scalar(int op, nl_tensor *a, int64_t s, int scalar_first) {
    NL_CHECK(is_int_binary(op), "int_binary: op %s is not one of nl_int_binary's", nl_op_name(op));
    const char *name = nl_op_name(op);
    NL_CHECK_TENSOR(name, a);
    if (!int_operand(name, scalar_first ? "other" : "input", a)) return NULL;
    nl_tensor *cs = int_scalar(name, s);
    if (!cs) return NULL;
    nl_tensor *out = nl_tensor_alloc(name, a->ndim, a->sizes, NL_INT64);
    if (out) run_int(op, out, scalar_first ? cs : a, scalar_first ? a : cs);
    nl_release(cs);
    return out;
}

int nl_int_binary_(int op, nl_tensor *dst, nl_tensor *src) {
    NL_CHECK_INT(is_int_binary(op), "int_binary_: op %s is not one of nl_int_binary's", nl_op_name(op));
    char name[40];
    snprintf(name, sizeof name, "%s_", nl_op_name(op));
    NL_CHECK_TENSOR_INT(name, dst);
    NL_CHECK_TENSOR_INT(name, src);
    if (!int_operand(name, "input", dst) || !int_operand(name, "other", src)) return -1;
    NL_CHECK_WRITE_INT(name, dst, src);
    int64_t bs[8];
    int nd = nl_broadcast_shape(dst->ndim, dst->sizes, src->ndim, src->sizes, bs);
    NL_CHECK_INT(nd == dst->ndim && memcmp(bs, dst->sizes, sizeof(int64_t) * nd) == 0,
                 "%s: shape %s does not broadcast to the destination's shape %s", name, nl_shape_str(src),
                 nl_shape_str(dst));
    run_int(op, dst, dst, src);
    nl_bump_version(dst);
    return 0;
}

int nl_int_binary_scalar_(int op, nl_tensor *dst, int64_t s) {
    NL_CHECK_INT(is_int_binary(op), "int_binary_: op %s is not one of nl_int_binary's", nl_op_name(op));
    char name[40];
    snprintf(name, sizeof name, "%s_", nl_op_name(op));
    NL_CHECK_TENSOR_INT(name, dst);
    if (!int_operand(name, "input", dst)) return -1;
    NL_CHECK_WRITE_INT(name, dst, NULL);
    nl_tensor *cs = int_scalar(name, s);
    if (!cs) return -1;
    run_int(op, dst, dst, cs);
    nl_release(cs);
    nl_bump_version(dst);
    return 0;
}
