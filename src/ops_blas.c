/* ops_blas.c — matrix products: nl_matmul through BLIS for float32 and
 * float64, a plain OpenMP loop for int64, and nl_matmul_reference, the naive
 * triple loop the tests check them against (declared in ops_blas.h).
 * Backward kernels are not here yet. */
#include "internal.h"
#include "ops_blas.h"
#include "sgemm.h"

#include <blis.h>
#include <string.h>

/* Batch items below this many multiply-adds each run one to a thread. */
#define SMALL_GEMM (1 << 18)
/* Multiply-adds per thread before BLIS gets another one. */
#define GEMM_GRAIN (1 << 16)

/* ---- shapes ----
 * Both operands are seen as a batch of matrices: a 1-D a is one row (1,k),
 * a 1-D b one column (k,1). Batch dims broadcast as in numpy. */

typedef struct mm_operand {
    nl_tensor *t;           /* where the data is: the argument or a contiguous copy */
    bool owned;             /* t is a copy this call must release */
    int64_t rows, cols;     /* matrix sizes */
    int64_t rs, cs;         /* matrix strides, in elements */
    int64_t bstride[6];     /* (plan bnd) batch strides, 0 where broadcast */
} mm_operand;

typedef struct mm_plan {
    int bnd;                /* batch dims of the result */
    int64_t bsizes[6];      /* (bnd) */
    int64_t batch;          /* product of bsizes */
    int64_t m, n, k;
    int ond;                /* the result's dims */
    int64_t osizes[8];      /* (ond) */
    mm_operand a, b;
} mm_plan;

/* Fill o from t: its last two dims (a 1-D t is a row when is_a, else a
 * column) and its batch strides in p's batch shape. */
static void operand_init(mm_operand *o, nl_tensor *t, bool is_a, const mm_plan *p) {
    int nd = t->ndim;
    o->t = t;
    o->owned = false;
    if (nd == 1) {
        int64_t len = t->sizes[0], st = t->strides[0];
        o->rows = is_a ? 1 : len;
        o->cols = is_a ? len : 1;
        o->rs = is_a ? len * st : st;
        o->cs = is_a ? st : 1;
    } else {
        o->rows = t->sizes[nd - 2];
        o->cols = t->sizes[nd - 1];
        o->rs = t->strides[nd - 2];
        o->cs = t->strides[nd - 1];
    }
    int tbnd = nd > 2 ? nd - 2 : 0;
    for (int i = 0; i < p->bnd; i++) {
        int it = i - (p->bnd - tbnd);
        o->bstride[i] = (it >= 0 && t->sizes[it] != 1) ? t->strides[it] : 0;
    }
}

/* Check a and b and work out the result's shape. False, with the error
 * set, when they cannot be multiplied. */
static bool plan_init(mm_plan *p, nl_tensor *a, nl_tensor *b) {
    if (!a || !b) {
        nl_set_error("matmul: expected a tensor, got nil");
        return false;
    }
    if (a->dtype != b->dtype) {
        nl_set_error("matmul: dtypes %s and %s differ", nl_dtype_name(a->dtype), nl_dtype_name(b->dtype));
        return false;
    }
    if (a->ndim == 0 || b->ndim == 0) {
        nl_set_error("matmul: shapes %s and %s: both need at least 1 dim", nl_shape_str(a), nl_shape_str(b));
        return false;
    }
    int abnd = a->ndim > 2 ? a->ndim - 2 : 0, bbnd = b->ndim > 2 ? b->ndim - 2 : 0;
    int64_t ka = a->sizes[a->ndim - 1], kb = b->sizes[b->ndim == 1 ? 0 : b->ndim - 2];
    if (ka != kb) {
        nl_set_error("matmul: shapes %s and %s do not align", nl_shape_str(a), nl_shape_str(b));
        return false;
    }
    p->bnd = nl_broadcast_shape(abnd, a->sizes, bbnd, b->sizes, p->bsizes);
    if (p->bnd < 0) {
        nl_set_error("matmul: batch dims of shapes %s and %s do not broadcast",
                     nl_shape_str(a), nl_shape_str(b));
        return false;
    }
    operand_init(&p->a, a, true, p);
    operand_init(&p->b, b, false, p);
    p->m = p->a.rows;
    p->k = ka;
    p->n = p->b.cols;
    p->batch = 1;
    p->ond = 0;
    for (int i = 0; i < p->bnd; i++) {
        p->batch *= p->bsizes[i];
        p->osizes[p->ond++] = p->bsizes[i];
    }
    if (a->ndim >= 2) p->osizes[p->ond++] = p->m;
    if (b->ndim >= 2) p->osizes[p->ond++] = p->n;
    return true;
}

/* Element offsets of batch item bi in a and b. */
static void batch_offsets(const mm_plan *p, int64_t bi, int64_t *oa, int64_t *ob) {
    *oa = *ob = 0;
    for (int d = p->bnd - 1; d >= 0; d--) {
        int64_t i = bi % p->bsizes[d];
        bi /= p->bsizes[d];
        *oa += i * p->a.bstride[d];
        *ob += i * p->b.bstride[d];
    }
}

/* ---- reference: naive triple loop ---- */

/* c (batch, m, n) contiguous = a @ b as planned; float sums in double. */
static void matmul_forward_naive(void *c, const mm_plan *p, int dtype) {
    int64_t es = nl_dtype_size(dtype);
    const mm_operand *A = &p->a, *B = &p->b;
    for (int64_t bi = 0; bi < p->batch; bi++) {
        int64_t oa, ob;
        batch_offsets(p, bi, &oa, &ob);
        const char *a = (const char *)A->t->data + oa * es;
        const char *b = (const char *)B->t->data + ob * es;
        for (int64_t i = 0; i < p->m; i++)
            for (int64_t j = 0; j < p->n; j++) {
                char *o = (char *)c + ((bi * p->m + i) * p->n + j) * es;
                if (dtype == NL_INT64) {
                    uint64_t acc = 0;
                    for (int64_t q = 0; q < p->k; q++)
                        acc += (uint64_t)((const int64_t *)a)[i * A->rs + q * A->cs] *
                               (uint64_t)((const int64_t *)b)[q * B->rs + j * B->cs];
                    *(int64_t *)o = (int64_t)acc;
                } else {
                    double acc = 0;
                    for (int64_t q = 0; q < p->k; q++)
                        acc += nl_load(a + (i * A->rs + q * A->cs) * es, dtype) *
                               nl_load(b + (q * B->rs + j * B->cs) * es, dtype);
                    nl_store(o, dtype, acc);
                }
            }
    }
}

/* ---- int64: a plain loop, rows in parallel ---- */

/* c (batch, m, n) contiguous = a @ b, wrapping like int64 arithmetic. */
static void matmul_forward_i64(int64_t *c, const mm_plan *p) {
    const mm_operand *A = &p->a, *B = &p->b;
    int64_t rows = p->batch * p->m;
    int nt = nl_threads_for(rows * p->n * p->k, GEMM_GRAIN);
    NL_PARALLEL_FOR(nt, r, rows,
        int64_t bi = r / p->m, i = r % p->m, oa, ob;
        batch_offsets(p, bi, &oa, &ob);
        const int64_t *a = (const int64_t *)A->t->data + oa + i * A->rs;   /* row i of a */
        const int64_t *b = (const int64_t *)B->t->data + ob;
        uint64_t *o = (uint64_t *)c + r * p->n;
        for (int64_t j = 0; j < p->n; j++) o[j] = 0;
        for (int64_t q = 0; q < p->k; q++) {
            uint64_t av = (uint64_t)a[q * A->cs];
            const int64_t *brow = b + q * B->rs;
            for (int64_t j = 0; j < p->n; j++) o[j] += av * (uint64_t)brow[j * B->cs];
        }
        );
}

/* ---- float32 / float64: nnlua's float32 kernel (sgemm.c) where it takes the call, else BLIS ---- */

/* Strides BLIS can take for a rows x cols matrix: both positive, not
 * overlapping. A size-1 dim's stride is free, so it is set to fit. */
static bool blis_strides(int64_t rows, int64_t cols, int64_t *rs, int64_t *cs) {
    if (rows == 1 && cols == 1) { *rs = *cs = 1; return true; }
    if (rows == 1) *rs = cols * *cs;
    if (cols == 1) *cs = rows * *rs;
    return *rs >= 1 && *cs >= 1 && (*rs >= cols * *cs || *cs >= rows * *rs);
}

/* A few rows of a against a whole b (a layer applied to one sample, a
 * recurrent step): BLIS would pack all of b for each call, costing more
 * than the product. Streams b once, as dot products with its columns when
 * they are contiguous (x @ W^T), or as row updates when its rows are.
 * Returns false when the layout suits neither. */
#define SMALL_M 4
#define GEMM_SMALL(T)                                                                  \
    static bool gemm_small_##T(int64_t m, int64_t n, int64_t k, const T *a, int64_t rsa, \
                               int64_t csa, const T *b, int64_t rsb, int64_t csb, T *c,  \
                               int64_t rsc, int64_t csc, int nt) {                       \
        if (csa != 1 || (rsb != 1 && csb != 1) || k > 16384) return false;              \
        if (rsb == 1) {                      /* column j of b is contiguous */          \
            NL_PARALLEL_FOR(nt, j, n,                                                    \
                const T *bj = b + j * csb;                                               \
                for (int64_t i = 0; i < m; i++) {                                        \
                    const T *ai = a + i * rsa;                                           \
                    T acc = 0;                                                           \
                    _Pragma("omp simd reduction(+:acc)")                                 \
                    for (int64_t q = 0; q < k; q++) acc += ai[q] * bj[q];                \
                    c[i * rsc + j * csc] = acc;                                          \
                });                                                                      \
            return true;                                                                 \
        }                                    /* row q of b is contiguous */             \
        if (csc != 1) return false;                                                      \
        for (int64_t i = 0; i < m; i++) {                                                \
            T *ci = c + i * rsc;                                                         \
            const T *ai = a + i * rsa;                                                   \
            for (int64_t j = 0; j < n; j++) ci[j] = 0;                                   \
            for (int64_t q = 0; q < k; q++) {                                            \
                T aq = ai[q];                                                            \
                const T *bq = b + q * rsb;                                               \
                for (int64_t j = 0; j < n; j++) ci[j] += aq * bq[j];                     \
            }                                                                            \
        }                                                                                \
        return true;                                                                     \
    }
GEMM_SMALL(float)
GEMM_SMALL(double)

/* BLIS sends a product with a side under its thresholds to its small-
 * matrix path (sup), which skips packing; on zen3 the float32 thresholds are
 * m < 512, n < 200 or k < 240, so every product of W1's step went there. On
 * a Zen 3 CPU (AVX2) that path ran the products with one side transposed,
 * a layer's x W^T and its gradient's g^T x, 5-39% slower than the packed
 * path once every side was 128 or more (W1's 784-512-256 layers at batch
 * 128 and the cubes 256 and 128 x 512 x 128, on one and two threads), while
 * on row-major operands and where a side is small (the 10-wide output
 * layer: 2-3x) sup was as fast or faster. Such products go to the packed
 * path. nl_sgemm now takes float32 first on AVX2 CPUs too, so this is left
 * to the products it declines there with every side 128 or more: on two
 * or more threads those whose packed A is over 1 MB, and on more than two
 * those with both sides of C 512 or more. */
static bool sup_slower(int dtype, int64_t m, int64_t n, int64_t k, int64_t csa, int64_t csb) {
    return dtype == NL_FLOAT32 && !nl_cpu_avx512f() && (csa != 1 || csb != 1) && m >= 128 && n >= 128 &&
           k >= 128 && m * n * k >= (1 << 22);
}

/* k = 1, an outer product: c[i][j] = 0 + a[i] b[j] in a plain loop (the
 * 0 + makes a product of -0 the +0 a sum gives, as BLIS's and PyTorch's).
 * BLIS's small-matrix path lost a NaN of a times a 0 of b in the last
 * column of an odd n (nan nan 0 where PyTorch gives nan nan nan), and
 * which columns kept it depended on n and on the CPU. */
#define GEMM_OUTER(T)                                                                    \
    static void gemm_outer_##T(int64_t m, int64_t n, const T *a, int64_t rsa, const T *b, \
                               int64_t csb, T *c, int64_t rsc, int64_t csc) {            \
        for (int64_t i = 0; i < m; i++) {                                                \
            T ai = a[i * rsa];                                                           \
            for (int64_t j = 0; j < n; j++) c[i * rsc + j * csc] = (T)0 + ai * b[j * csb]; \
        }                                                                                \
    }
GEMM_OUTER(float)
GEMM_OUTER(double)

static void gemm_one(int dtype, int64_t m, int64_t n, int64_t k, void *a, int64_t rsa, int64_t csa,
                     void *b, int64_t rsb, int64_t csb, void *c, int64_t rsc, int64_t csc, int nt) {
    if (k == 1) {
        if (dtype == NL_FLOAT32) gemm_outer_float(m, n, a, rsa, b, csb, c, rsc, csc);
        else gemm_outer_double(m, n, a, rsa, b, csb, c, rsc, csc);
        return;
    }
    if (m <= SMALL_M) {
        bool done = dtype == NL_FLOAT32
            ? gemm_small_float(m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc, nt)
            : gemm_small_double(m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc, nt);
        if (done) return;
    }
    if (dtype == NL_FLOAT32 && nl_sgemm(m, n, k, a, rsa, csa, b, rsb, csb, 0, c, rsc, csc, nt)) return;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(nl_team(nt), &rntm);   /* the same team for every region */
    if (sup_slower(dtype, m, n, k, csa, csb)) bli_rntm_disable_l3_sup(&rntm);
    if (dtype == NL_FLOAT32) {
        float one = 1, zero = 0;
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, a, rsa, csa, b, rsb, csb,
                     &zero, c, rsc, csc, NULL, &rntm);
    } else {
        double one = 1, zero = 0;
        bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, a, rsa, csa, b, rsb, csb,
                     &zero, c, rsc, csc, NULL, &rntm);
    }
}

/* c (batch, m, n) contiguous = a @ b; the operands' strides have passed
 * blis_strides. Small batched products run one item to a thread, the rest
 * one BLIS call each with all threads. */
static void matmul_forward_blis(void *c, const mm_plan *p, int dtype) {
    int64_t es = nl_dtype_size(dtype);
    int64_t ars = p->a.rs, acs = p->a.cs, brs = p->b.rs, bcs = p->b.cs, crs = p->n, ccs = 1;
    blis_strides(p->m, p->k, &ars, &acs);
    blis_strides(p->k, p->n, &brs, &bcs);
    blis_strides(p->m, p->n, &crs, &ccs);
    const char *a = p->a.t->data, *b = p->b.t->data;
    int64_t work = p->m * p->n * p->k;
    if (p->batch > 1 && work < SMALL_GEMM) {
        int nt = nl_threads_for(p->batch * work, GEMM_GRAIN);
        NL_PARALLEL_FOR(nt, bi, p->batch,
            int64_t oa, ob;
            batch_offsets(p, bi, &oa, &ob);
            gemm_one(dtype, p->m, p->n, p->k, (void *)(a + oa * es), ars, acs, (void *)(b + ob * es),
                     brs, bcs, (char *)c + bi * p->m * p->n * es, crs, ccs, 1);
                );
    } else {
        int nt = nl_team_for(work, GEMM_GRAIN);
        for (int64_t bi = 0; bi < p->batch; bi++) {
            int64_t oa, ob;
            batch_offsets(p, bi, &oa, &ob);
            gemm_one(dtype, p->m, p->n, p->k, (void *)(a + oa * es), ars, acs, (void *)(b + ob * es),
                     brs, bcs, (char *)c + bi * p->m * p->n * es, crs, ccs, nt);
        }
    }
}

/* Replace o's data by a contiguous copy when BLIS cannot take its strides
 * (an expanded operand has stride 0). 0, or -1 on error. */
static int fit_for_blis(mm_operand *o, bool is_a, const mm_plan *p) {
    int64_t rs = o->rs, cs = o->cs;
    if (blis_strides(o->rows, o->cols, &rs, &cs)) return 0;
    nl_tensor *c = nl_contiguous(o->t);
    if (!c) return -1;
    operand_init(o, c, is_a, p);
    o->owned = true;
    return 0;
}

/* ---- public entry points ---- */

static nl_tensor *matmul_run(nl_tensor *a, nl_tensor *b, bool reference) {
    mm_plan p;
    if (!plan_init(&p, a, b)) return NULL;
    nl_tensor *out = nl_tensor_alloc("matmul", p.ond, p.osizes, a->dtype);
    if (!out || out->numel == 0) return out;
    if (p.k == 0) {
        memset(out->data, 0, out->numel * nl_dtype_size(out->dtype));   /* 0.0 is all zero bits */
        return out;
    }
    if (reference) {
        matmul_forward_naive(out->data, &p, a->dtype);
    } else if (a->dtype == NL_INT64) {
        matmul_forward_i64(out->data, &p);
    } else {
        int ok = fit_for_blis(&p.a, true, &p) == 0 && fit_for_blis(&p.b, false, &p) == 0;
        if (ok) matmul_forward_blis(out->data, &p, a->dtype);
        if (p.a.owned) nl_release(p.a.t);
        if (p.b.owned) nl_release(p.b.t);
        if (!ok) {
            nl_release(out);
            return NULL;
        }
    }
    return out;
}

nl_tensor *nl_matmul(nl_tensor *a, nl_tensor *b) {
    nl_tensor *out = matmul_run(a, b, false);
    nl_node *n = nl_record(NL_OP_MATMUL, out, 2, (nl_tensor *[]){ a, b });
    if (n) n->needs_in = 3;
    return out;
}

/* a (.., m, k) @ b (.., k, n) = c:  ga = g @ b^T,  gb = a^T @ g, each summed
 * over the batch dims it was broadcast along. A 1-D operand is a row (a) or
 * a column (b) whose dim the output dropped. */
int nl_matmul_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *a = n->in[0], *b = n->in[1];
    nl_tensor *a2 = a, *b2 = b, *g2 = g;
    if (a->ndim == 1) {
        a2 = TMP(nl_unsqueeze(a, 0));
        g2 = TMP(nl_unsqueeze(g2, g2->ndim - (b->ndim == 1 ? 0 : 1)));
    }
    if (b->ndim == 1) {
        b2 = TMP(nl_unsqueeze(b, 1));
        g2 = TMP(nl_unsqueeze(g2, g2->ndim));
    }
    if (nl_node_wants(n, 0)) {
        nl_tensor *ga = TMP(nl_matmul(g2, TMP(nl_transpose(b2, -1, -2))));
        ga = TMP(nl_sum_to(ga, a2->ndim, a2->sizes));
        if (!(gin[0] = nl_reshape(ga, a->ndim, a->sizes))) goto fail;
    }
    if (nl_node_wants(n, 1)) {
        /* a b that is a transposed matrix (x @ W^T) gets its gradient made
         * in W's own layout, (g^T a)^T, so no strided copy follows */
        bool bt = b2->ndim == 2 && b2->strides[0] == 1 && b2->strides[1] == b2->sizes[0] && g2->ndim == 2;
        nl_tensor *gb = bt ? TMP(nl_transpose(TMP(nl_matmul(TMP(nl_transpose(g2, 0, 1)), a2)), 0, 1))
                           : TMP(nl_matmul(TMP(nl_transpose(a2, -1, -2)), g2));
        gb = TMP(nl_sum_to(gb, b2->ndim, b2->sizes));
        if (!(gin[1] = nl_reshape(gb, b->ndim, b->sizes))) goto fail;
    }
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}

nl_tensor *nl_matmul_reference(nl_tensor *a, nl_tensor *b) {
    return matmul_run(a, b, true);
}

/* ---- linear layer: x @ weight^T + bias, then ReLU, as one op ---- */

nl_tensor *nl_linear(nl_tensor *x, nl_tensor *weight, nl_tensor *bias, int relu) {
    const char *op = "linear";
    NL_CHECK_TENSOR(op, x);
    NL_CHECK_TENSOR(op, weight);
    NL_CHECK(x->dtype == NL_FLOAT32 || x->dtype == NL_FLOAT64, "%s: expected a float32 or float64 input, got %s",
             op, nl_dtype_name(x->dtype));
    NL_CHECK(weight->dtype == x->dtype && (!bias || bias->dtype == x->dtype),
             "%s: input, weight and bias must share a dtype, got %s, %s and %s", op, nl_dtype_name(x->dtype),
             nl_dtype_name(weight->dtype), bias ? nl_dtype_name(bias->dtype) : "none");
    NL_CHECK(weight->ndim == 2, "%s: weight must be 2-D (out_features, in_features), got shape %s", op,
             nl_shape_str(weight));
    NL_CHECK(x->ndim == 2 && x->sizes[1] == weight->sizes[1],
             "%s: input of shape %s does not fit weight %s: expected (N, %lld)", op, nl_shape_str(x),
             nl_shape_str(weight), (long long)weight->sizes[1]);
    NL_CHECK(!bias || (bias->ndim == 1 && bias->sizes[0] == weight->sizes[0]),
             "%s: bias of shape %s does not fit weight %s: expected (%lld)", op, bias ? nl_shape_str(bias) : "",
             nl_shape_str(weight), (long long)weight->sizes[0]);
    int64_t m = x->sizes[0], n = weight->sizes[0], k = x->sizes[1];
    NL_TEMPS(tmps);
    nl_tensor *bc = bias ? TMP(nl_contiguous(bias)) : NULL;
    nl_tensor *out = NULL;
    /* float32: the tiles take the bias and ReLU as they are stored, on the
     * path nl_matmul would take (its small-m loop and BLIS keep theirs) */
    if (x->dtype == NL_FLOAT32 && m > SMALL_M && k > 0) {
        int64_t osz[2] = { m, n };
        out = TMP(nl_tensor_alloc(op, 2, osz, x->dtype));
        if (out->numel > 0 &&
            !nl_sgemm_linear(m, n, k, x->data, x->strides[0], x->strides[1], weight->data, weight->strides[1],
                             weight->strides[0], bc ? bc->data : NULL, relu != 0, out->data, n,
                             nl_team_for(m * n * k, GEMM_GRAIN)))
            out = NULL;
    }
    if (!out) {
        /* the product as nl_matmul makes it, then a pass for the rest */
        int64_t ts[2] = { weight->sizes[1], weight->sizes[0] }, tst[2] = { weight->strides[1], weight->strides[0] };
        nl_tensor *wt = TMP(nl_tensor_new_view(weight, 2, ts, tst, weight->offset));
        out = TMP(matmul_run(x, wt, false));
        /* in place, as nl_add and nl_relu compute them (out needs no grad) */
        if (out->numel > 0 &&
            ((bc && nl_binary_(NL_OP_ADD, out, bc) != 0) || (relu && nl_unary_(NL_OP_RELU, out) != 0)))
            goto fail;
    }
    nl_node *nd = nl_record(NL_OP_LINEAR, out, bias ? 3 : 2, (nl_tensor *[]){ x, weight, bias });
    if (nd) {
        nd->needs_in = 3;                /* backward reads the input and the weight */
        nd->a[0] = relu != 0;
        if (relu) nl_node_save_output(nd, out);
    }
    out = nl_keep_ref(out);
    nl_temps_free(&tmps);
    return out;
fail:
    nl_temps_free(&tmps);
    return NULL;
}

static int linear_backward_node(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL, *g2 = g;
    if (nd->a[0]) {   /* nl_relu's gradient, from the output: positive exactly where its input was */
        g2 = TMP(nl_tensor_alloc("linear", g->ndim, g->sizes, g->dtype));
        if (nl_activation_grad(NL_OP_RELU, 0.0, g2, g, nd->saved) != 0) goto fail;
    }
    /* as nl_matmul's backward gives them for x @ weight^T (weight's in its
     * own layout), and nl_add's for the bias */
    if (nl_node_wants(nd, 0) && !(gin[0] = nl_matmul(g2, w))) goto fail;
    if (nl_node_wants(nd, 1) && !(gin[1] = nl_matmul(TMP(nl_transpose(g2, 0, 1)), x))) goto fail;
    if (nl_node_wants(nd, 2) && !(gin[2] = nl_sum_to(g2, 1, b->sizes))) goto fail;
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_LINEAR, linear_backward_node)
