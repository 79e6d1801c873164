/* ops_elementwise.c — elementwise ops with numpy broadcasting: binary
 * arithmetic and comparisons, unary math and activations, clamp, where,
 * their in-place forms, and the OpenMP row driver they share.
 * Backward kernels join these with the autograd issue. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* dtype rules: float64 > float32 > int64 */
static int promote(int a, int b) {
    if (a == NL_FLOAT64 || b == NL_FLOAT64) return NL_FLOAT64;
    if (a == NL_FLOAT32 || b == NL_FLOAT32) return NL_FLOAT32;
    return NL_INT64;
}

/* ... of two operands, as PyTorch's: a 0-dim tensor beside a dimensioned
 * one of its kind (float or integer) does not widen it (float32 [n] times
 * a float64 0-dim tensor is float32; it was float64), and a float 0-dim
 * beside an integer tensor gives its own dtype */
static int promote_operands(const nl_tensor *a, const nl_tensor *b) {
    if ((a->ndim == 0) != (b->ndim == 0)) {
        const nl_tensor *d = a->ndim ? a : b, *z = a->ndim ? b : a;
        return d->dtype != NL_INT64 || z->dtype == NL_INT64 ? d->dtype : z->dtype;
    }
    return promote(a->dtype, b->dtype);
}

static bool is_binary(int op) { return op >= NL_OP_ADD && op <= NL_OP_GE; }
static bool is_unary(int op) {
    return (op >= NL_OP_NEG && op <= NL_OP_TANH) || op == NL_OP_GELU || op == NL_OP_GELU_TANH || op == NL_OP_SILU ||
           op == NL_OP_SIN || op == NL_OP_COS || (op >= NL_OP_FLOOR && op <= NL_OP_TRUNC);
}

/* ---- binary kernels ----
 * One loop per op and dtype; the contiguous and scalar cases get their own
 * loops so the compiler vectorizes them. */
#define BIN_LOOP(T, EXPR)                                                     \
    do {                                                                      \
        T *o = (T *)p[0];                                                     \
        const T *a = (const T *)p[1], *b = (const T *)p[2];                   \
        int64_t so = s[0], sa = s[1], sb = s[2];                              \
        if (so == 1 && sa == 1 && sb == 1)                                    \
            for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (EXPR); } \
        else if (so == 1 && sa == 1 && sb == 0) {                             \
            T y = b[0];                                                       \
            for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (EXPR); }    \
        } else if (so == 1 && sa == 0 && sb == 1) {                           \
            T x = a[0];                                                       \
            for (int64_t i = 0; i < n; i++) { T y = b[i]; o[i] = (EXPR); }    \
        } else                                                                \
            for (int64_t i = 0; i < n; i++) {                                 \
                T x = a[i * sa], y = b[i * sb];                               \
                o[i * so] = (EXPR);                                           \
            }                                                                 \
    } while (0)

/* int64 power; wraps past 2^63 as the other int64 ops do */
static int64_t ipow(int64_t x, int64_t y) {
    if (y < 0) return x == 1 ? 1 : (x == -1 ? ((y & 1) ? -1 : 1) : 0);
    uint64_t r = 1, b = (uint64_t)x;
    while (y) {
        if (y & 1) r *= b;
        b *= b;
        y >>= 1;
    }
    return (int64_t)r;
}

#define PLUS(x, y) ((x) + (y))
#define MINUS(x, y) ((x) - (y))
#define TIMES(x, y) ((x) * (y))

#define BIN_OPS(T, ADDF, SUBF, MULF, POW, MAXF, MINF)                         \
    switch (op) {                                                             \
    case NL_OP_ADD: BIN_LOOP(T, ADDF(x, y)); break;                           \
    case NL_OP_SUB: BIN_LOOP(T, SUBF(x, y)); break;                           \
    case NL_OP_MUL: BIN_LOOP(T, MULF(x, y)); break;                           \
    case NL_OP_DIV: BIN_LOOP(T, x / y); break;                                \
    case NL_OP_POW: BIN_LOOP(T, POW(x, y)); break;                            \
    case NL_OP_MAXIMUM: BIN_LOOP(T, MAXF(x, y)); break;                       \
    case NL_OP_MINIMUM: BIN_LOOP(T, MINF(x, y)); break;                       \
    case NL_OP_EQ: BIN_LOOP(T, (T)(x == y)); break;                           \
    case NL_OP_NE: BIN_LOOP(T, (T)(x != y)); break;                           \
    case NL_OP_LT: BIN_LOOP(T, (T)(x < y)); break;                            \
    case NL_OP_LE: BIN_LOOP(T, (T)(x <= y)); break;                           \
    case NL_OP_GT: BIN_LOOP(T, (T)(x > y)); break;                            \
    case NL_OP_GE: BIN_LOOP(T, (T)(x >= y)); break;                           \
    }

/* maximum/minimum propagate NaN, as PyTorch does */
#define FMAX_NAN(x, y) ((x) != (x) || (x) > (y) ? (x) : (y))
#define FMIN_NAN(x, y) ((x) != (x) || (x) < (y) ? (x) : (y))
#define IMAX(x, y) ((x) > (y) ? (x) : (y))
#define IMIN(x, y) ((x) < (y) ? (x) : (y))

/* Python's a // b of floats, as PyTorch's div(a, b, rounding_mode='floor')
 * (div_floor_floating): the quotient of a - fmod(a, b), one less where the
 * remainder's sign differs from b's, then floored, and rounded up when
 * that cut more than half (the division of a - mod is inexact); a zero
 * keeps the sign of a / b, and b = 0 gives a / b. floor(a / b) was off
 * where a / b rounds up to a whole number: 1 // 0.1 is 9, not 10. */
#define FLOOR_DIV(T, FMOD, FLOOR, COPYSIGN)                                   \
    static inline T floor_div_##T(T a, T b) {                                 \
        if (b == 0) return a / b;                                             \
        T mod = FMOD(a, b), div = (a - mod) / b;                              \
        if (mod != 0 && (b < 0) != (mod < 0)) div -= (T)1;                    \
        if (div == 0) return COPYSIGN((T)0, a / b);                           \
        T fl = FLOOR(div);                                                    \
        return div - fl > (T)0.5 ? fl + (T)1 : fl;                            \
    }
FLOOR_DIV(float, fmodf, floorf, copysignf)
FLOOR_DIV(double, fmod, floor, copysign)

/* root: a float tensor to the power of the scalar 0.5 (1) or -0.5 (-1),
 * which PyTorch computes as sqrt and 1/sqrt: pow(-inf, 0.5) is +inf where
 * sqrt gives NaN, and pow(-0, 0.5) +0 where sqrt gives -0; floor_div: a
 * float DIV is Python's a // b instead (nl_div_floor) */
typedef struct { int op, dtype, root, floor_div; } bin_ctx;

static void binary_row(const void *vctx, char **p, const int64_t *s, int64_t n) {
    const bin_ctx *ctx = vctx;
    int op = ctx->op;
    if (ctx->floor_div) {
        if (ctx->dtype == NL_FLOAT32) BIN_LOOP(float, floor_div_float(x, y));
        else BIN_LOOP(double, floor_div_double(x, y));
        return;
    }
    if (ctx->root) {
        if (ctx->dtype == NL_FLOAT32) {
            if (ctx->root > 0) BIN_LOOP(float, ((void)y, sqrtf(x)));
            else BIN_LOOP(float, ((void)y, 1.0f / sqrtf(x)));
        } else {
            if (ctx->root > 0) BIN_LOOP(double, ((void)y, sqrt(x)));
            else BIN_LOOP(double, ((void)y, 1.0 / sqrt(x)));
        }
        return;
    }
    if (ctx->dtype == NL_FLOAT32) {
        BIN_OPS(float, PLUS, MINUS, TIMES, powf, FMAX_NAN, FMIN_NAN)
    } else if (ctx->dtype == NL_FLOAT64) {
        BIN_OPS(double, PLUS, MINUS, TIMES, pow, FMAX_NAN, FMIN_NAN)
    } else {
        BIN_OPS(int64_t, nl_wrap_add, nl_wrap_sub, nl_wrap_mul, ipow, IMAX, IMIN)
    }
}

/* o = a op b over a shape both broadcast to; all three of ctx's dtype */
static void run_binary_ctx(bin_ctx ctx, nl_tensor *o, nl_tensor *a, nl_tensor *b) {
    int op = ctx.op;
    if (o->numel <= 4096 && nl_is_contiguous(o) && nl_is_contiguous(a) && (a->numel == o->numel) &&
        nl_is_contiguous(b) && (b->numel == o->numel || b->numel == 1)) {
        /* small and contiguous: one row, no iterator, no threads */
        char *p[3] = { o->data, a->data, b->data };
        int64_t s[3] = { 1, 1, b->numel == o->numel ? 1 : 0 };
        binary_row(&ctx, p, s, o->numel);
        return;
    }
    int64_t st[4][8];
    memcpy(st[0], o->strides, sizeof(int64_t) * o->ndim);
    nl_broadcast_strides(a, o->ndim, o->sizes, st[1]);
    nl_broadcast_strides(b, o->ndim, o->sizes, st[2]);
    nl_tensor *ops[3] = { o, a, b };
    nl_iter it;
    nl_iter_init(&it, o->ndim, o->sizes, 3, ops, st);
    int64_t grain = (op == NL_OP_POW || ctx.floor_div) ? 1 << 13 : 1 << 15;
    nl_for_each_row(&it, grain, binary_row, &ctx);
}

static void run_binary_root(int op, int dtype, int root, nl_tensor *o, nl_tensor *a, nl_tensor *b) {
    run_binary_ctx((bin_ctx){ op, dtype, root, 0 }, o, a, b);
}

static void run_binary(int op, int dtype, nl_tensor *o, nl_tensor *a, nl_tensor *b) {
    run_binary_root(op, dtype, 0, o, a, b);
}

/* t converted to dtype, or t retained when it already is */
static nl_tensor *as_dtype(nl_tensor *t, int dtype) {
    if (t->dtype == dtype) { nl_retain(t); return t; }
    return nl_to_dtype(t, dtype);
}

/* a and b of one dtype (the op's own), and b of a's shape or one element
 * broadcast to it (a tensor times a scalar): the output has a's shape, with
 * no broadcast shape to work out and no conversion */
static bool simple_operands(int op, const nl_tensor *a, const nl_tensor *b) {
    if (a->dtype != b->dtype || (a->dtype == NL_INT64 && op == NL_OP_DIV)) return false;
    if (b->numel == 1 && b->ndim <= a->ndim) {
        for (int i = 0; i < b->ndim; i++) if (b->sizes[i] != 1) return false;
        return true;
    }
    return a->ndim == b->ndim && memcmp(a->sizes, b->sizes, sizeof(int64_t) * a->ndim) == 0;
}

/* the node of out = a op b; comparisons have no gradient */
static void record_binary(int op, nl_tensor *out, nl_tensor *a, nl_tensor *b) {
    if (op >= NL_OP_EQ) return;
    nl_node *n = nl_record(op, out, 2, (nl_tensor *[]){ a, b });
    if (n) {
        /* needs_in bit i: backward reads in[i]. a*b reads a only for b's
         * gradient and b only for a's, a/b b for a's and both for b's: an
         * input no gradient reads may change before backward, as in PyTorch */
        bool ra = nl_requires_grad(a), rb = nl_requires_grad(b);
        if (op == NL_OP_ADD || op == NL_OP_SUB) n->needs_in = 0;
        else if (op == NL_OP_MUL) n->needs_in = (rb ? 1 : 0) | (ra ? 2 : 0);
        else if (op == NL_OP_DIV) n->needs_in = (ra ? 2 : 0) | (rb ? 3 : 0);
        else n->needs_in = 3;
        if (op == NL_OP_POW) nl_node_save_output(n, out);
    }
}

nl_tensor *nl_binary(int op, nl_tensor *a, nl_tensor *b) {
    NL_CHECK(is_binary(op), "binary: op %s is not a binary op", nl_op_name(op));
    const char *name = nl_op_name(op);
    NL_CHECK_TENSOR(name, a);
    NL_CHECK_TENSOR(name, b);
    if (simple_operands(op, a, b)) {
        nl_tensor *out = nl_tensor_alloc(name, a->ndim, a->sizes, a->dtype);
        if (!out) return NULL;
        run_binary(op, a->dtype, out, a, b);
        record_binary(op, out, a, b);
        return out;
    }
    int64_t bs[8];
    int nd = nl_broadcast_shape(a->ndim, a->sizes, b->ndim, b->sizes, bs);
    NL_CHECK(nd >= 0, "%s: shapes %s and %s cannot be broadcast together", name, nl_shape_str(a),
             nl_shape_str(b));
    int dt = promote_operands(a, b);
    /* int64 / int64 is float, as PyTorch's; int64 ^ int64 stays int64 (ipow) */
    if (dt == NL_INT64 && op == NL_OP_DIV) dt = nl_int_float_dtype(-1);
    nl_tensor *out = nl_tensor_alloc(name, nd, bs, dt);
    nl_tensor *ca = out ? as_dtype(a, dt) : NULL, *cb = ca ? as_dtype(b, dt) : NULL;
    if (cb) run_binary(op, dt, out, ca, cb);
    nl_release(ca);
    nl_release(cb);
    if (!cb) { nl_release(out); return NULL; }
    record_binary(op, out, a, b);
    return out;
}

nl_tensor *nl_div_floor(nl_tensor *a, nl_tensor *b) {
    NL_CHECK_TENSOR("div", a);
    NL_CHECK_TENSOR("div", b);
    int64_t bs[8];
    int nd = nl_broadcast_shape(a->ndim, a->sizes, b->ndim, b->sizes, bs);
    NL_CHECK(nd >= 0, "div: shapes %s and %s cannot be broadcast together", nl_shape_str(a), nl_shape_str(b));
    int dt = promote_operands(a, b);
    NL_CHECK(dt != NL_INT64, "div: rounding_mode 'floor' here takes a float operand, got int64 %s and %s",
             nl_shape_str(a), nl_shape_str(b));
    nl_tensor *out = nl_tensor_alloc("div", nd, bs, dt);
    nl_tensor *ca = out ? as_dtype(a, dt) : NULL, *cb = ca ? as_dtype(b, dt) : NULL;
    if (cb) run_binary_ctx((bin_ctx){ NL_OP_DIV, dt, 0, 1 }, out, ca, cb);
    nl_release(ca);
    nl_release(cb);
    if (!cb) { nl_release(out); return NULL; }
    return out;
}

/* a 0-dim tensor holding s */
static nl_tensor *scalar_tensor(double s, int dtype) { return nl_full(0, NULL, s, dtype); }

nl_tensor *nl_binary_scalar(int op, nl_tensor *a, double s, int scalar_first) {
    NL_CHECK(is_binary(op), "binary: op %s is not a binary op", nl_op_name(op));
    NL_CHECK_TENSOR(nl_op_name(op), a);
    int dt = a->dtype;
    /* a fraction, an infinity or a number past int64's range makes int64
     * float (the default dtype), as in PyTorch (inf and 1e20 were refused,
     * naming 'full') */
    if (dt == NL_INT64 && (op == NL_OP_DIV || s != floor(s) || !nl_fits_int64(s) ||
                           (op == NL_OP_POW && !scalar_first && s < 0)))
        dt = nl_int_float_dtype(-1);
    nl_tensor *out = nl_tensor_alloc(nl_op_name(op), a->ndim, a->sizes, dt);
    nl_tensor *ca = out ? as_dtype(a, dt) : NULL, *cs = ca ? scalar_tensor(s, dt) : NULL;
    if (cs) {
        int root = op == NL_OP_POW && !scalar_first && dt != NL_INT64 && (s == 0.5 || s == -0.5) ? (s > 0 ? 1 : -1) : 0;
        if (scalar_first) run_binary(op, dt, out, cs, ca);
        else run_binary_root(op, dt, root, out, ca, cs);
    }
    nl_release(ca);
    nl_release(cs);
    if (!cs) { nl_release(out); return NULL; }
    if (op < NL_OP_EQ) {
        nl_node *n = nl_record(op, out, 1, &a);
        if (n) {
            n->s[0] = s;
            n->a[0] = 1;
            n->a[1] = scalar_first;
            /* a + s, a - s, a * s and a / s: the gradient does not read a */
            n->needs_in = (op == NL_OP_ADD || op == NL_OP_SUB || op == NL_OP_MUL ||
                           (op == NL_OP_DIV && !scalar_first)) ? 0 : 1;
            if (op == NL_OP_POW && scalar_first) nl_node_save_output(n, out);
        }
    }
    return out;
}

int nl_binary_(int op, nl_tensor *dst, nl_tensor *src) {
    NL_CHECK_INT(is_binary(op), "binary_: op %s is not a binary op", nl_op_name(op));
    NL_CHECK_TENSOR_INT(nl_op_name(op), dst);
    NL_CHECK_TENSOR_INT(nl_op_name(op), src);
    char name[40];
    snprintf(name, sizeof name, "%s_", nl_op_name(op));
    NL_CHECK_WRITE_INT(name, dst, src);
    int64_t bs[8];
    int nd = nl_broadcast_shape(dst->ndim, dst->sizes, src->ndim, src->sizes, bs);
    NL_CHECK_INT(nd == dst->ndim && memcmp(bs, dst->sizes, sizeof(int64_t) * nd) == 0,
                 "%s_: shape %s does not broadcast to the destination's shape %s", nl_op_name(op),
                 nl_shape_str(src), nl_shape_str(dst));
    NL_CHECK_INT(!(dst->dtype == NL_INT64 && src->dtype != NL_INT64) && !(dst->dtype == NL_INT64 && op == NL_OP_DIV),
                 "%s_: result of dtype %s cannot be stored in an int64 destination", nl_op_name(op),
                 nl_dtype_name(src->dtype == NL_INT64 ? nl_int_float_dtype(-1) : src->dtype));
    nl_tensor *cs = as_dtype(src, dst->dtype);
    if (!cs) return -1;
    run_binary(op, dst->dtype, dst, dst, cs);
    nl_release(cs);
    nl_bump_version(dst);
    return 0;
}

int nl_binary_scalar_(int op, nl_tensor *dst, double s) {
    NL_CHECK_INT(is_binary(op), "binary_: op %s is not a binary op", nl_op_name(op));
    NL_CHECK_TENSOR_INT(nl_op_name(op), dst);
    char name[40];
    snprintf(name, sizeof name, "%s_", nl_op_name(op));
    NL_CHECK_WRITE_INT(name, dst, NULL);
    NL_CHECK_INT(dst->dtype != NL_INT64 || (op != NL_OP_DIV && s == floor(s) && nl_fits_int64(s)),
                 "%s_: result of a float scalar cannot be stored in an int64 destination", nl_op_name(op));
    nl_tensor *cs = scalar_tensor(s, dst->dtype);
    if (!cs) return -1;
    run_binary(op, dst->dtype, dst, dst, cs);
    nl_release(cs);
    nl_bump_version(dst);
    return 0;
}

/* ---- unary kernels ---- */

#define UN_LOOP(T, EXPR)                                                      \
    do {                                                                      \
        T *o = (T *)p[0];                                                     \
        const T *a = (const T *)p[1];                                         \
        int64_t so = s[0], sa = s[1];                                         \
        if (so == 1 && sa == 1)                                               \
            for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (EXPR); }    \
        else                                                                  \
            for (int64_t i = 0; i < n; i++) { T x = a[i * sa]; o[i * so] = (EXPR); } \
    } while (0)

/* PyTorch's SELU constants, and its ELU coefficients rounded to T as its
 * kernel rounds them: elu(x) = x > 0 ? x * pos : (exp(x * ins) - 1) * neg,
 * SELU being ELU with (alpha, scale) = (SELU_ALPHA, SELU_SCALE) and CELU
 * with input scale 1 / alpha */
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946
#define ELU_COEFS(T, op, alpha, neg, pos, ins)                                \
    T neg = (op) == NL_OP_SELU ? (T)SELU_ALPHA * (T)SELU_SCALE : (T)(alpha);  \
    T pos = (op) == NL_OP_SELU ? (T)SELU_SCALE : (T)1;                        \
    T ins = (op) == NL_OP_CELU ? (T)(1.0 / (alpha)) : (T)1;
/* min(max(t, 0), 6) passing NaN, as hardsigmoid's and hardswish's */
#define CLAMP06(T, t) ((t) < (T)0 ? (T)0 : ((t) > (T)6 ? (T)6 : (t)))

#define UN_FLOAT_OPS(T, EXP, LOG, SQRT, ABS, TANH, ERF, SIN, COS, FLOOR, CEIL, RINT, TRUNC, LOG1P)  \
    switch (op) {                                                             \
    case NL_OP_NEG: UN_LOOP(T, -x); break;                                    \
    case NL_OP_EXP: UN_LOOP(T, EXP(x)); break;                                \
    case NL_OP_LOG: UN_LOOP(T, LOG(x)); break;                                \
    case NL_OP_SQRT: UN_LOOP(T, SQRT(x)); break;                              \
    case NL_OP_ABS: UN_LOOP(T, ABS(x)); break;                                \
    case NL_OP_RELU: UN_LOOP(T, x > 0 ? x : (x != x ? x : 0)); break;          \
    case NL_OP_SIGMOID: UN_LOOP(T, (T)1 / ((T)1 + EXP(-x))); break;            \
    case NL_OP_TANH: UN_LOOP(T, TANH(x)); break;                              \
    case NL_OP_GELU: UN_LOOP(T, (T)0.5 * x * ((T)1 + ERF(x * (T)0.70710678118654752))); break; \
    case NL_OP_GELU_TANH:                                                     \
        UN_LOOP(T, (T)0.5 * x * ((T)1 + TANH((T)0.79788456080286536 * (x + (T)0.044715 * x * x * x)))); break; \
    case NL_OP_SILU: UN_LOOP(T, x / ((T)1 + EXP(-x))); break;                   \
    case NL_OP_SIN: UN_LOOP(T, SIN(x)); break;                                \
    case NL_OP_COS: UN_LOOP(T, COS(x)); break;                                \
    case NL_OP_FLOOR: UN_LOOP(T, FLOOR(x)); break;                            \
    case NL_OP_CEIL: UN_LOOP(T, CEIL(x)); break;                              \
    case NL_OP_ROUND: UN_LOOP(T, RINT(x)); break;                             \
    case NL_OP_TRUNC: UN_LOOP(T, TRUNC(x)); break;                            \
    case NL_OP_LEAKY_RELU: { T sl = (T)ctx->lo; UN_LOOP(T, x > 0 ? x : x * sl); break; } \
    case NL_OP_CLAMP: {                                                       \
        T lo = (T)ctx->lo, hi = (T)ctx->hi;                                   \
        if (ctx->has_lo && ctx->has_hi) UN_LOOP(T, x < lo ? lo : (x > hi ? hi : x)); \
        else if (ctx->has_lo) UN_LOOP(T, x < lo ? lo : x);                    \
        else UN_LOOP(T, x > hi ? hi : x);                                     \
        break;                                                                \
    }                                                                         \
    /* nl_activation's: p0 in lo, p1 in hi; NaN as PyTorch gives it */       \
    case NL_OP_ELU: case NL_OP_SELU: case NL_OP_CELU: {                       \
        ELU_COEFS(T, op, ctx->lo, neg, pos, ins)                              \
        UN_LOOP(T, x > 0 ? x * pos : (EXP(x * ins) - (T)1) * neg);            \
        break;                                                                \
    }                                                                         \
    case NL_OP_SOFTPLUS: {               /* linear above the threshold */     \
        T beta = (T)ctx->lo, th = (T)ctx->hi;                                 \
        UN_LOOP(T, x * beta > th ? x : LOG1P(EXP(x * beta)) / beta);          \
        break;                                                                \
    }                                                                         \
    case NL_OP_MISH: UN_LOOP(T, x * TANH(LOG1P(EXP(x)))); break;              \
    case NL_OP_HARDTANH: {   /* min(max(x, lo), hi), NaN if any is NaN */ \
        T lo = (T)ctx->lo, hi = (T)ctx->hi;                                   \
        if (lo != lo || hi != hi) UN_LOOP(T, x != x ? x : lo + hi);           \
        else UN_LOOP(T, x < lo ? (lo > hi ? hi : lo) : (x > hi ? hi : x));   \
        break;                                                                \
    }                                                                         \
    case NL_OP_HARDSIGMOID: UN_LOOP(T, CLAMP06(T, x + (T)3) / (T)6); break;   \
    case NL_OP_HARDSWISH: UN_LOOP(T, x * CLAMP06(T, x + (T)3) / (T)6); break; \
    /* min(x, 0) - log(1 + exp(-|x|)): no exp of a large x either side */  \
    case NL_OP_LOGSIGMOID: UN_LOOP(T, (x < 0 ? x : (T)0) - LOG1P(EXP(-ABS(x)))); break; \
    case NL_OP_SOFTSIGN: UN_LOOP(T, x / (ABS(x) + (T)1)); break;              \
    case NL_OP_TANHSHRINK: UN_LOOP(T, x - TANH(x)); break;                    \
    case NL_OP_SOFTSHRINK: {             /* NaN gives 0, as PyTorch 1.13's */ \
        T l = (T)ctx->lo;                                                     \
        UN_LOOP(T, x > l ? x - l : (x < -l ? x + l : (T)0));                  \
        break;                                                                \
    }                                                                         \
    case NL_OP_HARDSHRINK: {                                                  \
        T l = (T)ctx->lo;                                                     \
        UN_LOOP(T, x >= -l && x <= l ? (T)0 : x);                             \
        break;                                                                \
    }                                                                         \
    }

typedef struct { int op, dtype, has_lo, has_hi; double lo, hi; } un_ctx;

static void unary_row(const void *vctx, char **p, const int64_t *s, int64_t n) {
    const un_ctx *ctx = vctx;
    int op = ctx->op;
    if (ctx->dtype == NL_FLOAT32) {
        UN_FLOAT_OPS(float, expf, logf, sqrtf, fabsf, tanhf, erff, sinf, cosf, floorf, ceilf, nearbyintf, truncf, log1pf)
    } else if (ctx->dtype == NL_FLOAT64) {
        UN_FLOAT_OPS(double, exp, log, sqrt, fabs, tanh, erf, sin, cos, floor, ceil, nearbyint, trunc, log1p)
    } else {
        switch (op) {
        case NL_OP_NEG: UN_LOOP(int64_t, nl_wrap_sub(0, x)); break;
        case NL_OP_ABS: UN_LOOP(int64_t, x < 0 ? nl_wrap_sub(0, x) : x); break;
        case NL_OP_RELU: UN_LOOP(int64_t, x > 0 ? x : 0); break;
        case NL_OP_FLOOR: case NL_OP_CEIL: case NL_OP_ROUND: case NL_OP_TRUNC: UN_LOOP(int64_t, x); break;
        case NL_OP_CLAMP: {
            int64_t lo = ctx->has_lo ? nl_sat_i64(ceil(ctx->lo)) : INT64_MIN;
            int64_t hi = ctx->has_hi ? nl_sat_i64(floor(ctx->hi)) : INT64_MAX;
            UN_LOOP(int64_t, x < lo ? lo : (x > hi ? hi : x));
            break;
        }
        }
    }
}

static void run_unary(const un_ctx *ctx, nl_tensor *o, nl_tensor *a) {
    int64_t st[4][8];
    memcpy(st[0], o->strides, sizeof(int64_t) * o->ndim);
    memcpy(st[1], a->strides, sizeof(int64_t) * a->ndim);
    nl_tensor *ops[2] = { o, a };
    nl_iter it;
    nl_iter_init(&it, o->ndim, o->sizes, 2, ops, st);
    int op = ctx->op;
    bool cheap = op == NL_OP_NEG || op == NL_OP_ABS || op == NL_OP_RELU || op == NL_OP_CLAMP ||
                 op == NL_OP_HARDTANH || op == NL_OP_HARDSIGMOID || op == NL_OP_HARDSWISH ||
                 op == NL_OP_SOFTSIGN || op == NL_OP_SOFTSHRINK || op == NL_OP_HARDSHRINK;
    nl_for_each_row(&it, cheap ? 1 << 15 : 1 << 12, unary_row, ctx);
}

/* ops that keep int64 as int64; the others compute in the default float
 * dtype (nl_int_float_dtype) */
static bool int_closed(int op) {
    return op == NL_OP_NEG || op == NL_OP_ABS || op == NL_OP_RELU || op == NL_OP_CLAMP ||
           (op >= NL_OP_FLOOR && op <= NL_OP_TRUNC);
}

static nl_tensor *unary(const un_ctx *c0, nl_tensor *a) {
    un_ctx ctx = *c0;
    const char *name = nl_op_name(ctx.op);
    NL_CHECK_TENSOR(name, a);
    ctx.dtype = (a->dtype == NL_INT64 && !int_closed(ctx.op)) ? nl_int_float_dtype(-1) : a->dtype;
    nl_tensor *out = nl_tensor_alloc(name, a->ndim, a->sizes, ctx.dtype);
    nl_tensor *ca = out ? as_dtype(a, ctx.dtype) : NULL;
    if (ca) run_unary(&ctx, out, ca);
    nl_release(ca);
    if (!ca) { nl_release(out); return NULL; }
    nl_node *n = nl_record(ctx.op, out, 1, &a);
    if (n) {
        /* backward reads the output where the math allows, else the input */
        int op = ctx.op;
        if (op == NL_OP_EXP || op == NL_OP_SQRT || op == NL_OP_SIGMOID || op == NL_OP_TANH)
            nl_node_save_output(n, out);
        else if (op != NL_OP_NEG && !(op >= NL_OP_FLOOR && op <= NL_OP_TRUNC))   /* those: a zero gradient */
            n->needs_in = 1;
        n->s[0] = ctx.lo;
        n->s[1] = ctx.hi;
        n->a[0] = ctx.has_lo;
        n->a[1] = ctx.has_hi;
    }
    return out;
}

nl_tensor *nl_unary(int op, nl_tensor *a) {
    NL_CHECK(is_unary(op), "unary: op %s is not a unary op", nl_op_name(op));
    un_ctx ctx = { op, 0, 0, 0, 0, 0 };
    return unary(&ctx, a);
}

nl_tensor *nl_clamp(nl_tensor *a, double lo, double hi) {
    NL_CHECK(!(lo > hi), "clamp: min %g is greater than max %g", lo, hi);
    un_ctx ctx = { NL_OP_CLAMP, 0, lo == lo, hi == hi, lo, hi };
    if (!ctx.has_lo && !ctx.has_hi) {
        NL_CHECK_TENSOR("clamp", a);
        return nl_clone(a);
    }
    return unary(&ctx, a);
}

nl_tensor *nl_leaky_relu(nl_tensor *a, double negative_slope) {   /* NaN taken, as PyTorch */
    NL_CHECK_TENSOR("leaky_relu", a);
    NL_CHECK(a->dtype != NL_INT64, "leaky_relu: expected a float tensor, got int64 %s", nl_shape_str(a));
    un_ctx ctx = { NL_OP_LEAKY_RELU, 0, 0, 0, negative_slope, 0 };
    return unary(&ctx, a);
}

static bool is_activation(int op) { return op >= NL_OP_ELU && op <= NL_OP_HARDSHRINK; }

/* PyTorch 1.13's checks of an activation's parameters: CELU's alpha not
 * 0, softshrink's lambd >= 0 (NaN refused); NaN and +-inf elsewhere taken,
 * and hardtanh's min_val above max_val (it gives max_val); false with the
 * error set (name: the op's, or its in-place form's) */
static bool activation_params_ok(int op, const char *name, double p0, double p1) {
    (void)p1;
    if (op == NL_OP_CELU && p0 == 0) nl_set_error("%s: alpha cannot be 0 (CELU divides by it)", name);
    else if (op == NL_OP_SOFTSHRINK && p0 != p0) nl_set_error("%s: lambd must be >= 0, got nan", name);
    else if (op == NL_OP_SOFTSHRINK && p0 < 0) nl_set_error("%s: lambd must be >= 0, got %g", name, p0);
    else return true;
    return false;
}

nl_tensor *nl_activation(int op, nl_tensor *a, double p0, double p1) {
    NL_CHECK(is_activation(op), "activation: op %s is not one of nl_activation's", nl_op_name(op));
    const char *name = nl_op_name(op);
    NL_CHECK_TENSOR(name, a);
    if (!activation_params_ok(op, name, p0, p1)) return NULL;
    NL_CHECK(a->dtype != NL_INT64 || op == NL_OP_SOFTSIGN || op == NL_OP_TANHSHRINK,
             "%s: expected a float input, got int64 %s", name, nl_shape_str(a));
    un_ctx ctx = { op, 0, 0, 0, p0, p1 };
    return unary(&ctx, a);
}

int nl_activation_(int op, nl_tensor *dst, double p0, double p1) {
    NL_CHECK_INT(is_activation(op), "activation_: op %s is not one of nl_activation's", nl_op_name(op));
    NL_CHECK_TENSOR_INT(nl_op_name(op), dst);
    char name[40];
    snprintf(name, sizeof name, "%s_", nl_op_name(op));
    NL_CHECK_WRITE_INT(name, dst, NULL);
    if (!activation_params_ok(op, name, p0, p1)) return -1;
    NL_CHECK_INT(dst->dtype != NL_INT64, "%s: expected a float tensor, got int64 %s", name, nl_shape_str(dst));
    un_ctx ctx = { op, dst->dtype, 0, 0, p0, p1 };
    run_unary(&ctx, dst, dst);
    nl_bump_version(dst);
    return 0;
}

int nl_unary_(int op, nl_tensor *dst) {
    NL_CHECK_INT(is_unary(op), "unary_: op %s is not a unary op", nl_op_name(op));
    NL_CHECK_TENSOR_INT(nl_op_name(op), dst);
    char name[40];
    snprintf(name, sizeof name, "%s_", nl_op_name(op));
    NL_CHECK_WRITE_INT(name, dst, NULL);
    NL_CHECK_INT(dst->dtype != NL_INT64 || int_closed(op),
                 "%s_: a float result cannot be stored in an int64 tensor", nl_op_name(op));
    un_ctx ctx = { op, dst->dtype, 0, 0, 0, 0 };
    run_unary(&ctx, dst, dst);
    nl_bump_version(dst);
    return 0;
}

/* ---- dst += alpha * src ---- */

typedef struct { double alpha; int dtype; } axpy_ctx;

static void axpy_row(const void *vctx, char **p, const int64_t *s, int64_t n) {
    const axpy_ctx *ctx = vctx;
    if (ctx->dtype == NL_FLOAT32) {
        float *o = (float *)p[0], al = (float)ctx->alpha;
        const float *a = (const float *)p[1];
        if (s[0] == 1 && s[1] == 1) for (int64_t i = 0; i < n; i++) o[i] += al * a[i];
        else for (int64_t i = 0; i < n; i++) o[i * s[0]] += al * a[i * s[1]];
    } else if (ctx->dtype == NL_FLOAT64) {
        double *o = (double *)p[0], al = ctx->alpha;
        const double *a = (const double *)p[1];
        for (int64_t i = 0; i < n; i++) o[i * s[0]] += al * a[i * s[1]];
    } else {
        int64_t *o = (int64_t *)p[0], al = nl_sat_i64(ctx->alpha);
        const int64_t *a = (const int64_t *)p[1];
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = nl_wrap_add(o[i * s[0]], nl_wrap_mul(al, a[i * s[1]]));
    }
}

int nl_add_scaled_(nl_tensor *dst, nl_tensor *src, double alpha) {
    NL_CHECK_TENSOR_INT("add_", dst);
    NL_CHECK_TENSOR_INT("add_", src);
    NL_CHECK_WRITE_INT("add_", dst, src);
    if (dst->dtype == src->dtype && dst->dtype != NL_INT64 && dst->numel <= 4096 && nl_same_shape(dst, src) &&
        nl_is_contiguous(dst) && nl_is_contiguous(src)) {
        /* small, dense, one shape: one row */
        axpy_ctx ctx = { alpha, dst->dtype };
        char *p[2] = { dst->data, src->data };
        int64_t s[2] = { 1, 1 };
        axpy_row(&ctx, p, s, dst->numel);
        nl_bump_version(dst);
        return 0;
    }
    int64_t bs[8];
    int nd = nl_broadcast_shape(dst->ndim, dst->sizes, src->ndim, src->sizes, bs);
    NL_CHECK_INT(nd == dst->ndim && memcmp(bs, dst->sizes, sizeof(int64_t) * nd) == 0,
                 "add_: shape %s does not broadcast to the destination's shape %s", nl_shape_str(src),
                 nl_shape_str(dst));
    NL_CHECK_INT(dst->dtype != NL_INT64 || (src->dtype == NL_INT64 && alpha == floor(alpha)),
                 "add_: a float result cannot be stored in an int64 tensor");
    nl_tensor *cs = as_dtype(src, dst->dtype);
    if (!cs) return -1;
    int64_t st[4][8];
    memcpy(st[0], dst->strides, sizeof(int64_t) * dst->ndim);
    nl_broadcast_strides(cs, dst->ndim, dst->sizes, st[1]);
    nl_tensor *ops[2] = { dst, cs };
    nl_iter it;
    nl_iter_init(&it, dst->ndim, dst->sizes, 2, ops, st);
    axpy_ctx ctx = { alpha, dst->dtype };
    nl_for_each_row(&it, 1 << 15, axpy_row, &ctx);
    nl_release(cs);
    nl_bump_version(dst);
    return 0;
}

/* ---- where ---- */

typedef struct { int dtype, cdtype; } where_ctx;

static void where_row(const void *vctx, char **p, const int64_t *s, int64_t n) {
    const where_ctx *ctx = vctx;
    int64_t eo = nl_dtype_size(ctx->dtype), ec = nl_dtype_size(ctx->cdtype);
    for (int64_t i = 0; i < n; i++) {
        bool c = nl_load(p[1] + i * s[1] * ec, ctx->cdtype) != 0;
        const char *src = c ? p[2] + i * s[2] * eo : p[3] + i * s[3] * eo;
        memcpy(p[0] + i * s[0] * eo, src, eo);
    }
}

nl_tensor *nl_where(nl_tensor *cond, nl_tensor *a, nl_tensor *b) {
    NL_CHECK_TENSOR("where", cond);
    NL_CHECK_TENSOR("where", a);
    NL_CHECK_TENSOR("where", b);
    int64_t s1[8], s2[8];
    int n1 = nl_broadcast_shape(cond->ndim, cond->sizes, a->ndim, a->sizes, s1);
    int n2 = n1 < 0 ? -1 : nl_broadcast_shape(n1, s1, b->ndim, b->sizes, s2);
    NL_CHECK(n2 >= 0, "where: shapes %s, %s and %s cannot be broadcast together", nl_shape_str(cond),
             nl_shape_str(a), nl_shape_str(b));
    int dt = promote_operands(a, b);
    nl_tensor *out = nl_tensor_alloc("where", n2, s2, dt);
    nl_tensor *ca = out ? as_dtype(a, dt) : NULL, *cb = ca ? as_dtype(b, dt) : NULL;
    if (cb) {
        int64_t st[4][8];
        memcpy(st[0], out->strides, sizeof(int64_t) * n2);
        nl_broadcast_strides(cond, n2, s2, st[1]);
        nl_broadcast_strides(ca, n2, s2, st[2]);
        nl_broadcast_strides(cb, n2, s2, st[3]);
        nl_tensor *ops[4] = { out, cond, ca, cb };
        nl_iter it;
        nl_iter_init(&it, n2, s2, 4, ops, st);
        where_ctx ctx = { dt, cond->dtype };
        nl_for_each_row(&it, 1 << 14, where_row, &ctx);
    }
    nl_release(ca);
    nl_release(cb);
    if (!cb) { nl_release(out); return NULL; }
    /* recorded for a and b only: a condition that requires grad made the
     * output (int64 too) require grad, and a backward through it pass
     * without a word, where no gradient can reach it (PyTorch: none) */
    nl_node *n = nl_requires_grad(a) || nl_requires_grad(b)
                     ? nl_record(NL_OP_WHERE, out, 3, (nl_tensor *[]){ cond, a, b }) : NULL;
    if (n) n->needs_in = 1;
    return out;
}

/* ---- backward ----
 * Formulas in terms of the ops above, run with grad mode off. Broadcast
 * inputs get their gradient summed back to their own shape. */

static nl_tensor *B(int op, nl_tensor *a, nl_tensor *b) { return nl_binary(op, a, b); }
static nl_tensor *S(int op, nl_tensor *a, double s) { return nl_binary_scalar(op, a, s, 0); }

/* 0 where cond holds, else x (x's dtype): PyTorch's pow gradients are 0
 * where the formula meets 0 * inf (an exponent of 0 at a base of 0, a
 * base of 0 under an exponent >= 0), which would otherwise be NaN */
static nl_tensor *zero_where(nl_tensor *cond, nl_tensor *x) {
    if (!cond || !x) return NULL;
    nl_tensor *z = nl_full(0, NULL, 0.0, x->dtype);
    nl_tensor *r = z ? nl_where(cond, z, x) : NULL;
    nl_release(z);
    return r;
}

/* The gradients of a * b when g, a and b are small, contiguous and of one
 * shape and float dtype: g*b and g*a in one pass, with no broadcast to sum
 * back. False when that does not apply; gin[i] NULL after true means out
 * of memory. */
static bool mul_backward_small(nl_tensor *g, nl_tensor *a, nl_tensor *b, bool need_a, bool need_b,
                               nl_tensor **gin) {
    int dt = g->dtype;
    if (g->numel > 4096 || (dt != NL_FLOAT32 && dt != NL_FLOAT64) || a->dtype != dt || b->dtype != dt ||
        !nl_same_shape(g, a) || !nl_same_shape(g, b) ||
        !nl_is_contiguous(g) || !nl_is_contiguous(a) || !nl_is_contiguous(b))
        return false;
    nl_tensor *ga = need_a ? nl_tensor_alloc("mul", a->ndim, a->sizes, dt) : NULL;
    nl_tensor *gb = need_b ? nl_tensor_alloc("mul", b->ndim, b->sizes, dt) : NULL;
    if ((need_a && !ga) || (need_b && !gb)) {
        nl_release(ga);
        nl_release(gb);
        return true;
    }
    int64_t n = g->numel;
#define MUL_GRADS(T)                                                          \
    do {                                                                      \
        const T *gp = g->data, *ap = a->data, *bp = b->data;                  \
        T *gap = ga ? ga->data : NULL, *gbp = gb ? gb->data : NULL;           \
        if (gap) for (int64_t i = 0; i < n; i++) gap[i] = gp[i] * bp[i];      \
        if (gbp) for (int64_t i = 0; i < n; i++) gbp[i] = gp[i] * ap[i];      \
    } while (0)
    if (dt == NL_FLOAT32) MUL_GRADS(float);
    else MUL_GRADS(double);
#undef MUL_GRADS
    gin[0] = ga;
    gin[1] = gb;
    return true;
}

int nl_binary_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *a = n->in[0], *ga = NULL, *gb = NULL;
    bool need_a = nl_node_wants(n, 0);
    if (n->a[0]) {                       /* tensor op scalar, or scalar op tensor */
        double s = n->s[0];
        bool first = n->a[1];
        switch (n->op) {
        case NL_OP_ADD: ga = g; break;
        case NL_OP_SUB: ga = first ? TMP(nl_unary(NL_OP_NEG, g)) : g; break;
        case NL_OP_MUL: ga = TMP(S(NL_OP_MUL, g, s)); break;
        case NL_OP_DIV:                  /* a/s -> g/s;  s/a -> -g*s/a^2 */
            ga = first ? TMP(B(NL_OP_DIV, TMP(S(NL_OP_MUL, g, -s)), TMP(B(NL_OP_MUL, a, a))))
                       : TMP(S(NL_OP_DIV, g, s));
            break;
        case NL_OP_POW:                  /* a^s -> g*s*a^(s-1), 0 for s = 0;  s^a -> g*out*log(s) */
            if (first) {
                /* the factor out*log(s), 0 for 0^a where a >= 0, times g last,
                 * as PyTorch's: an infinite g there gives NaN, not 0 */
                nl_tensor *fac = TMP(S(NL_OP_MUL, n->saved, log(s)));
                if (s == 0) fac = TMP(zero_where(TMP(S(NL_OP_GE, a, 0)), fac));
                ga = TMP(B(NL_OP_MUL, g, fac));
            } else if (s == 0) {
                ga = TMP(nl_full(g->ndim, g->sizes, 0.0, g->dtype));
            } else {
                ga = TMP(B(NL_OP_MUL, g, TMP(S(NL_OP_MUL, TMP(S(NL_OP_POW, a, s - 1)), s))));
            }
            break;
        case NL_OP_MAXIMUM:
        case NL_OP_MINIMUM: {            /* as the tensor form below, s the other side */
            nl_tensor *base = TMP(nl_where(TMP(S(NL_OP_EQ, a, s)), TMP(S(NL_OP_MUL, g, 0.5)), g));
            ga = TMP(zero_where(TMP(S(n->op == NL_OP_MAXIMUM ? NL_OP_LT : NL_OP_GT, a, s)), base));
            break;
        }
        default: break;
        }
        if (ga) gin[0] = nl_keep_ref(ga);
        nl_temps_free(&tmps);
        return 0;
    }
    nl_tensor *b = n->in[1];
    bool need_b = nl_node_wants(n, 1);
    switch (n->op) {
    case NL_OP_ADD: ga = g; gb = g; break;
    case NL_OP_SUB: ga = g; if (need_b) gb = TMP(nl_unary(NL_OP_NEG, g)); break;
    case NL_OP_MUL:
        if (mul_backward_small(g, a, b, need_a, need_b, gin))
            return ((need_a && !gin[0]) || (need_b && !gin[1])) ? -1 : 0;
        if (need_a) ga = TMP(B(NL_OP_MUL, g, b));
        if (need_b) gb = TMP(B(NL_OP_MUL, g, a));
        break;
    case NL_OP_DIV:                      /* a/b -> g/b, -g*(a/b)/b */
        /* b's as PyTorch's, g times a/b first: (g/b)*a overflowed to
         * inf * 0 = NaN for a = 0 and a tiny b (1e-310) */
        ga = TMP(B(NL_OP_DIV, g, b));
        if (need_b)
            gb = TMP(nl_unary(NL_OP_NEG, TMP(B(NL_OP_DIV, TMP(B(NL_OP_MUL, g, TMP(B(NL_OP_DIV, a, b)))), b))));
        break;
    case NL_OP_POW:                      /* a^b -> g*b*a^(b-1), g*out*log(a); 0s as PyTorch's */
        if (need_a) {
            ga = TMP(B(NL_OP_MUL, g, TMP(B(NL_OP_MUL, b, TMP(B(NL_OP_POW, a, TMP(S(NL_OP_SUB, b, 1))))))));
            ga = TMP(zero_where(TMP(S(NL_OP_EQ, b, 0)), ga));             /* b = 0 */
        }
        if (need_b) {
            /* g times the factor out*log(a), 0 where a = 0 and b >= 0: g
             * multiplied last, as PyTorch's (an infinite g gives NaN there) */
            nl_tensor *fac = TMP(B(NL_OP_MUL, n->saved, TMP(nl_unary(NL_OP_LOG, a))));
            nl_tensor *base0 = TMP(B(NL_OP_MUL, TMP(S(NL_OP_EQ, a, 0)), TMP(S(NL_OP_GE, b, 0))));
            gb = TMP(B(NL_OP_MUL, g, TMP(zero_where(base0, fac))));
        }
        break;
    case NL_OP_MAXIMUM:
    case NL_OP_MINIMUM: {
        /* PyTorch's: g, halved where a == b, zeroed where the other side
         * wins. Selected, not multiplied by a 0/1 mask (an infinite g gave
         * inf * 0 = NaN where the other side won), and a NaN, which every
         * comparison fails, takes g on both sides (it took none) */
        int loses_a = n->op == NL_OP_MAXIMUM ? NL_OP_LT : NL_OP_GT;
        int loses_b = n->op == NL_OP_MAXIMUM ? NL_OP_GT : NL_OP_LT;
        nl_tensor *base = TMP(nl_where(TMP(B(NL_OP_EQ, a, b)), TMP(S(NL_OP_MUL, g, 0.5)), g));
        if (need_a) ga = TMP(zero_where(TMP(B(loses_a, a, b)), base));
        if (need_b) gb = TMP(zero_where(TMP(B(loses_b, a, b)), base));
        break;
    }
    default: break;
    }
    if (need_a && ga) gin[0] = nl_sum_to(ga, a->ndim, a->sizes);
    if (need_b && gb) gin[1] = nl_sum_to(gb, b->ndim, b->sizes);
    nl_temps_free(&tmps);
    return ((need_a && ga && !gin[0]) || (need_b && gb && !gin[1])) ? -1 : 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}

/* gx = g * f'(x) for the smooth activations, one fused pass */
#define ACT_GRAD(T, EXP, ERF, TANHF)                                          \
    do {                                                                      \
        T *o = (T *)gx->data;                                                 \
        const T *gp = (const T *)gc->data, *xp = (const T *)xc->data;         \
        T sl = (T)slope;                                                      \
        NL_PARALLEL_FOR(nt, i, n,                                             \
            T v = xp[i], d;                                                   \
            if (op == NL_OP_GELU_TANH) {                                      \
                /* the local derivative first, then times g: composed of  \
                 * ops, inf * (1 - tanh^2 = 0) was NaN where PyTorch's is   \
                 * inf */                                                   \
                T u = (T)0.79788456080286536 * (v + (T)0.044715 * v * v * v); \
                T th = TANHF(u);                                              \
                d = (T)0.5 * ((T)1 + th) + (T)0.5 * v * ((T)1 - th * th) *   \
                    (T)0.79788456080286536 * ((T)1 + (T)0.134145 * v * v);   \
            } else if (op == NL_OP_GELU)                                      \
                d = (T)0.5 * ((T)1 + ERF(v * (T)0.70710678118654752)) +      \
                    v * EXP((T)-0.5 * v * v) * (T)0.39894228040143268;        \
            else if (op == NL_OP_SILU) {                                      \
                T sg = (T)1 / ((T)1 + EXP(-v));                               \
                d = sg * ((T)1 + v * ((T)1 - sg));                            \
            } else if (op == NL_OP_RELU) {                                    \
                /* selected, not multiplied: an infinite g where x <= 0  \
                 * gives 0, not inf * 0 = NaN; NaN passes g (PyTorch's) */ \
                o[i] = v <= 0 ? (T)0 : gp[i];                                 \
                continue;                                                     \
            } else d = v > 0 ? (T)1 : sl;                                     \
            o[i] = gp[i] * d;);                                               \
    } while (0)

/* gx = g where x > 0, else 0 (relu's gradient): selected, as ACT_GRAD's;
 * both read whatever the test gives, so the loops vectorize */
#define RELU_CHUNK 8192
static void relu_grad_f32(float *restrict o, const float *restrict g, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float gv = g[i];
        o[i] = x[i] <= 0 ? 0.0f : gv;
    }
}
static void relu_grad_f64(double *restrict o, const double *restrict g, const double *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double gv = g[i];
        o[i] = x[i] <= 0 ? 0.0 : gv;
    }
}

int nl_activation_grad(int op, double slope, nl_tensor *gx, nl_tensor *g, nl_tensor *x) {
    nl_tensor *gc = nl_contiguous(g);
    nl_tensor *xc = !gc ? NULL : x->dtype == g->dtype ? nl_contiguous(x) : nl_to_dtype(x, g->dtype);
    if (!xc) { nl_release(gc); return -1; }
    int64_t n = gx->numel;
    int nt = nl_threads_for(n, 1 << 13);
    if (op == NL_OP_RELU) {
        /* ACT_GRAD's relu selection in loops of their own, which vectorize
         * (inside ACT_GRAD, beside the other ops' calls, it ran element by
         * element: 10 instructions an element, the linear layers' fused
         * relu backward 2% of an MLP's step); gx is a fresh tensor */
        int64_t chunks = (n + RELU_CHUNK - 1) / RELU_CHUNK;
        NL_PARALLEL_FOR(nt, c, chunks,
            int64_t lo = c * RELU_CHUNK, len = n - lo < RELU_CHUNK ? n - lo : RELU_CHUNK;
            if (gx->dtype == NL_FLOAT32)
                relu_grad_f32((float *)gx->data + lo, (const float *)gc->data + lo, (const float *)xc->data + lo, len);
            else
                relu_grad_f64((double *)gx->data + lo, (const double *)gc->data + lo, (const double *)xc->data + lo, len);
        );
    } else if (gx->dtype == NL_FLOAT32) ACT_GRAD(float, expf, erff, tanhf);
    else ACT_GRAD(double, exp, erf, tanh);
    nl_release(gc);
    nl_release(xc);
    return 0;
}

/* gx = g * f'(x) for nl_activation's ops (p0, p1 their parameters), one
 * pass with the op chosen outside the loop. The formulas are PyTorch 1.13's
 * as its vectorized CPU kernels evaluate them, the path every element of a
 * tensor takes but a tail of under 16 (its scalar tail differs at NaN,
 * which passes g there, and hardswish's at 3, 1.5 g there): the subgradient
 * at each kink, NaN, and an infinite g (selected, not multiplied by 0, where
 * PyTorch selects) come out as PyTorch's. softsign's and tanhshrink's are
 * those of the ops PyTorch composes them of, in its order. */
#define PGRAD_LOOP(T, STMT)                                                   \
    NL_PARALLEL_FOR(nt, i, n, T v = xp[i], gv = gp[i], r; STMT; o[i] = r;)

#define PARAM_GRAD(T, EXP, LOG1P, TANH, ABS)                                  \
    do {                                                                      \
        T *o = (T *)gx->data;                                                 \
        const T *gp = (const T *)gc->data, *xp = (const T *)xc->data;         \
        switch (op) {                                                         \
        case NL_OP_ELU: case NL_OP_SELU: case NL_OP_CELU: {                   \
            ELU_COEFS(T, op, p0, neg, pos, ins)                               \
            PGRAD_LOOP(T, r = v > 0 ? gv * pos : gv * ins * neg * EXP(v * ins)); \
            break;                                                            \
        }                                                                     \
        case NL_OP_SOFTPLUS: {                                                \
            T beta = (T)p0, th = (T)p1;                                       \
            PGRAD_LOOP(T, T z = EXP(v * beta); r = v * beta > th ? gv : gv * z / (z + (T)1)); \
            break;                                                            \
        }                                                                     \
        case NL_OP_MISH:                                                      \
            PGRAD_LOOP(T, T sg = (T)1 / ((T)1 + EXP(-v)); T tsp = TANH(LOG1P(EXP(v))); \
                       r = gv * (tsp + v * sg * ((T)1 - tsp * tsp)));          \
            break;                                                            \
        case NL_OP_HARDTANH: {           /* 0 at both bounds and at NaN */    \
            T lo = (T)p0, hi = (T)p1;                                         \
            PGRAD_LOOP(T, r = v > lo && v < hi ? gv : (T)0);                  \
            break;                                                            \
        }                                                                     \
        case NL_OP_HARDSIGMOID: {        /* PyTorch's 1/6 is a float's, in float64 too */ \
            T sixth = (T)(1.0f / 6.0f);                                       \
            PGRAD_LOOP(T, r = v > (T)-3 && v < (T)3 ? gv * sixth : (T)0);     \
            break;                                                            \
        }                                                                     \
        case NL_OP_HARDSWISH:            /* -g/2 at -3, g at 3, NaN at NaN */ \
            PGRAD_LOOP(T, r = v < (T)-3 ? (T)0 : (v >= (T)3 ? gv : gv * (v / (T)3 + (T)0.5))); \
            break;                                                            \
        case NL_OP_LOGSIGMOID:           /* sigmoid(-x), from exp(-|x|) */    \
            PGRAD_LOOP(T, T z = EXP(-ABS(v)); bool ng = v < 0;                \
                       r = ((ng ? (T)1 : (T)0) - (ng ? (T)1 : (T)-1) * (z / ((T)1 + z))) * gv); \
            break;                                                            \
        case NL_OP_SOFTSIGN:             /* x / (|x| + 1): div's and abs's */ \
            PGRAD_LOOP(T, T b = ABS(v) + (T)1; T sgn = v > 0 ? (T)1 : (v < 0 ? (T)-1 : (T)0); \
                       r = gv / b + (-gv * ((v / b) / b)) * sgn);              \
            break;                                                            \
        case NL_OP_TANHSHRINK:           /* x - tanh(x): sub's and tanh's */  \
            PGRAD_LOOP(T, T t = TANH(v); r = gv + (-gv) * ((T)1 - t * t));    \
            break;                                                            \
        case NL_OP_SOFTSHRINK: case NL_OP_HARDSHRINK: {  /* 0 at +-lambd, NaN */ \
            T l = (T)p0;                                                      \
            PGRAD_LOOP(T, r = v < -l || v > l ? gv : (T)0);                   \
            break;                                                            \
        }                                                                     \
        default: break;                                                       \
        }                                                                     \
    } while (0)

static int activation_param_grad(int op, double p0, double p1, nl_tensor *gx, nl_tensor *g, nl_tensor *x) {
    nl_tensor *gc = nl_contiguous(g);
    nl_tensor *xc = !gc ? NULL : x->dtype == g->dtype ? nl_contiguous(x) : nl_to_dtype(x, g->dtype);
    if (!xc) { nl_release(gc); return -1; }
    int64_t n = gx->numel;
    int nt = nl_threads_for(n, 1 << 13);
    if (gx->dtype == NL_FLOAT32) PARAM_GRAD(float, expf, log1pf, tanhf, fabsf);
    else PARAM_GRAD(double, exp, log1p, tanh, fabs);
    nl_release(gc);
    nl_release(xc);
    return 0;
}

int nl_unary_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = n->in[0], *y = n->saved, *gx = NULL;
    switch (n->op) {
    case NL_OP_NEG: gx = TMP(nl_unary(NL_OP_NEG, g)); break;
    case NL_OP_EXP: gx = TMP(B(NL_OP_MUL, g, y)); break;
    case NL_OP_LOG: gx = TMP(B(NL_OP_DIV, g, x)); break;
    case NL_OP_SQRT: gx = TMP(B(NL_OP_DIV, TMP(S(NL_OP_MUL, g, 0.5)), y)); break;
    case NL_OP_ABS:
        gx = TMP(B(NL_OP_MUL, g, TMP(B(NL_OP_SUB, TMP(S(NL_OP_GT, x, 0)), TMP(S(NL_OP_LT, x, 0))))));
        break;
    case NL_OP_SIGMOID:                  /* g*y*(1-y) */
        gx = TMP(B(NL_OP_MUL, TMP(B(NL_OP_MUL, g, y)), TMP(nl_binary_scalar(NL_OP_SUB, y, 1, 1))));
        break;
    case NL_OP_TANH:                     /* g*(1-y^2) */
        gx = TMP(B(NL_OP_MUL, g, TMP(nl_binary_scalar(NL_OP_SUB, TMP(B(NL_OP_MUL, y, y)), 1, 1))));
        break;
    case NL_OP_SIN: gx = TMP(B(NL_OP_MUL, g, TMP(nl_unary(NL_OP_COS, x)))); break;
    case NL_OP_COS: gx = TMP(B(NL_OP_MUL, g, TMP(nl_unary(NL_OP_NEG, TMP(nl_unary(NL_OP_SIN, x)))))); break;
    case NL_OP_FLOOR: case NL_OP_CEIL: case NL_OP_ROUND: case NL_OP_TRUNC:   /* steps: zero almost everywhere */
        gx = TMP(nl_full(x->ndim, x->sizes, 0.0, g->dtype));
        break;
    case NL_OP_GELU:                     /* g * (Phi(x) + x * phi(x)) */
    case NL_OP_GELU_TANH:
    case NL_OP_SILU:                     /* g * s * (1 + x * (1 - s)), s = sigmoid(x) */
    case NL_OP_LEAKY_RELU:
    case NL_OP_RELU:                     /* g where not x <= 0 (NaN passes), one pass */
        gx = TMP(nl_tensor_alloc(nl_op_name(n->op), x->ndim, x->sizes, g->dtype));
        if (!gx || nl_activation_grad(n->op, n->op == NL_OP_RELU ? 0.0 : n->s[0], gx, g, x) != 0) goto fail;
        break;
    case NL_OP_ELU: case NL_OP_SELU: case NL_OP_CELU: case NL_OP_SOFTPLUS: case NL_OP_MISH:
    case NL_OP_HARDTANH: case NL_OP_HARDSIGMOID: case NL_OP_HARDSWISH: case NL_OP_LOGSIGMOID:
    case NL_OP_SOFTSIGN: case NL_OP_TANHSHRINK: case NL_OP_SOFTSHRINK: case NL_OP_HARDSHRINK:
        gx = TMP(nl_tensor_alloc(nl_op_name(n->op), x->ndim, x->sizes, g->dtype));
        if (!gx || activation_param_grad(n->op, n->s[0], n->s[1], gx, g, x) != 0) goto fail;
        break;
    case NL_OP_CLAMP: {                  /* passes where lo <= x <= hi, selected (inf * 0 was NaN) */
        nl_tensor *m = TMP(nl_full(x->ndim, x->sizes, 1.0, g->dtype));
        if (n->a[0]) m = TMP(B(NL_OP_MUL, m, TMP(S(NL_OP_GE, x, n->s[0]))));
        if (n->a[1]) m = TMP(B(NL_OP_MUL, m, TMP(S(NL_OP_LE, x, n->s[1]))));
        gx = TMP(nl_where(m, g, TMP(nl_full(0, NULL, 0.0, g->dtype))));
        break;
    }
    default: break;
    }
    if (gx) gin[0] = nl_keep_ref(gx);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}

int nl_where_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *cond = n->in[0], *zero = TMP(nl_full(0, NULL, 0.0, g->dtype));
    for (int i = 1; i <= 2; i++) {
        nl_tensor *x = n->in[i];
        if (!nl_node_wants(n, i)) continue;
        nl_tensor *gx = TMP(i == 1 ? nl_where(cond, g, zero) : nl_where(cond, zero, g));
        if (!(gin[i] = nl_sum_to(gx, x->ndim, x->sizes))) goto fail;
    }
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
