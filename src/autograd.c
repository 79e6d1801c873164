/* autograd.c — the tape: recording nodes on op outputs, the reverse
 * topological walk of nl_backward, gradient accumulation into leaves, and
 * version checks on saved tensors. The gradient formulas themselves are
 * the nl_<family>_backward kernels beside their forwards. */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* grad mode and the count of nodes made, per thread; side by side, so
 * that nl_record finds both at one thread-local address */
static __thread struct {
    int grad_disabled;               /* 0: grad mode on (the default) */
    uint32_t node_seq;               /* nodes made on this thread (nl_node.seq) */
} tls;
static __thread int detect_anomaly;      /* NL_ANOMALY_* bits */
static void anomaly_turned(int prev);

/* the profiler's events (nl_profiler_enable); an event that finds no
 * memory is dropped */
static __thread struct {
    int on;
    int64_t n, cap;
    nl_profiler_event *v;     /* (cap) */
} prof;

int nl_profiler_enable(int on) {
    int prev = prof.on;
    prof.on = on != 0;
    if (!prof.on) {
        free(prof.v);
        prof.v = NULL;
        prof.n = prof.cap = 0;
    }
    return prev;
}

const nl_profiler_event *nl_profiler_events(int64_t *n) {
    *n = prof.n;
    return prof.v;
}

void nl_profiler_clear(void) { prof.n = 0; }

static void prof_add(int op, double start) {
    if (prof.n == prof.cap) {
        int64_t cap = prof.cap ? 2 * prof.cap : 256;
        nl_profiler_event *v = realloc(prof.v, cap * sizeof *v);
        if (!v) return;
        prof.v = v;
        prof.cap = cap;
    }
    prof.v[prof.n++] = (nl_profiler_event){ .op = op, .start = start, .end = nl_time() };
}

int nl_set_detect_anomaly(int mode) {
    int prev = detect_anomaly;
    detect_anomaly = mode & (NL_ANOMALY_FINITE | NL_ANOMALY_TRACE | NL_ANOMALY_NAN);
    if ((prev ^ detect_anomaly) & NL_ANOMALY_TRACE) anomaly_turned(prev);
    return prev;
}

int nl_all_finite(const nl_tensor *t) {
    if (!t || t->dtype == NL_INT64) return 1;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = nl_get_flat(t, i);
        if (v != v || v == 1.0 / 0.0 || v == -1.0 / 0.0) return 0;
    }
    return 1;
}

int nl_has_nan(const nl_tensor *t) {
    if (!t || t->dtype == NL_INT64) return 0;
    if (nl_is_contiguous(t) && t->dtype == NL_FLOAT32) {
        const float *v = (const float *)t->data;       /* (numel) */
        for (int64_t i = 0; i < t->numel; i++) if (v[i] != v[i]) return 1;
        return 0;
    }
    if (nl_is_contiguous(t) && t->dtype == NL_FLOAT64) {
        const double *v = (const double *)t->data;     /* (numel) */
        for (int64_t i = 0; i < t->numel; i++) if (v[i] != v[i]) return 1;
        return 0;
    }
    for (int64_t i = 0; i < t->numel; i++) {
        double v = nl_get_flat(t, i);
        if (v != v) return 1;
    }
    return 0;
}

int nl_set_grad_enabled(int enabled) {
    int prev = !tls.grad_disabled;
    tls.grad_disabled = !enabled;
    return prev;
}

int nl_is_grad_enabled(void) { return !tls.grad_disabled; }


bool nl_inplace_ok(const char *op, nl_tensor *t) {
    if (!tls.grad_disabled && nl_requires_grad(t)) {
        nl_set_error("%s: in-place change of a tensor of shape %s that requires grad; "
                     "do it under nl.no_grad or on a detached tensor", op, nl_shape_str(t));
        return false;
    }
    if (!tls.grad_disabled && (t->flags & NL_FLAG_NOGRAD_VIEW)) {
        nl_set_error("%s: in-place change of a view (shape %s) made under no_grad of a tensor that requires grad; "
                     "change it under nl.no_grad too, or through a detached tensor", op, nl_shape_str(t));
        return false;
    }
    return true;
}

int nl_inplace_check(nl_tensor *t, const char *op) {
    NL_CHECK_INT(t != NULL, "%s: no tensor given", op ? op : "inplace_check");
    return nl_inplace_write_ok(op ? op : "inplace_check", t, NULL) ? 0 : -1;
}

/* out, a view of in: made with grad mode off of a tensor that requires
 * grad, or of such a view in any mode, it is flagged so that in-place ops
 * refuse it with grad mode on (x:add_(1) through it changed x without a
 * word). Copies (clone, contiguous, to) are not views and are not flagged. */
void nl_flag_view(nl_tensor *out, const nl_tensor *in) {
    if (out && ((in->flags & NL_FLAG_NOGRAD_VIEW) || (tls.grad_disabled && nl_requires_grad(in))))
        out->flags |= NL_FLAG_NOGRAD_VIEW;
}

/* t's elements fill a block of memory with no gaps and no repeats, in
 * some order of its dims (contiguous, transposed, permuted) */
static bool dense(const nl_tensor *t) {
    int64_t st[NL_MAX_DIMS], sz[NL_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->sizes[i] != 1) { st[n] = t->strides[i]; sz[n++] = t->sizes[i]; }
    for (int i = 1; i < n; i++)          /* by stride, smallest first */
        for (int j = i; j > 0 && st[j] < st[j - 1]; j--) {
            int64_t a = st[j]; st[j] = st[j - 1]; st[j - 1] = a;
            a = sz[j]; sz[j] = sz[j - 1]; sz[j - 1] = a;
        }
    int64_t want = 1;
    for (int i = 0; i < n; i++) {
        if (st[i] != want) return false;
        want *= sz[i];
    }
    return true;
}

/* An in-place op's element-by-element loop reads src while it writes dst:
 * where the two share memory in part, or dst repeats its own (an expanded
 * view), the result would depend on the order of the loop, as PyTorch
 * refuses too (its rules: only dense views are compared, and the very
 * same view is allowed). (A source that requires grad is refused in the
 * Lua layer: the ops here call these on their fresh outputs.) */
bool nl_inplace_write_ok(const char *op, nl_tensor *dst, nl_tensor *src) {
    if (!nl_inplace_ok(op, dst)) return false;
    if (nl_repeats_elements(dst)) {
        nl_set_error("%s: the destination of shape %s repeats elements in memory (an expanded view); "
                     "clone() it first", op, nl_shape_str(dst));
        return false;
    }
    if (!src) return true;
    if (src->storage != dst->storage || !src->numel || !dense(src) || !dense(dst)) return true;
    bool same = src->offset == dst->offset && src->ndim == dst->ndim &&
                !memcmp(src->sizes, dst->sizes, sizeof(int64_t) * src->ndim) &&
                !memcmp(src->strides, dst->strides, sizeof(int64_t) * src->ndim);
    int64_t s0 = src->offset, s1 = s0 + src->numel, d0 = dst->offset, d1 = d0 + dst->numel;
    if (!same && s0 < d1 && d0 < s1) {
        nl_set_error("%s: the source of shape %s and the destination of shape %s share memory in part, so the "
                     "result would depend on the order of the loop; clone() the source first", op,
                     nl_shape_str(src), nl_shape_str(dst));
        return false;
    }
    return true;
}

static bool graph_freed(const nl_tensor *t) { return t->flags & NL_FLAG_GRAPH_FREED; }

/* the op that made t, or -1 for a leaf */
static int maker_op(const nl_tensor *t) {
    if (t->node) return t->node->op;
    return graph_freed(t) ? (int)((uint32_t)t->flags >> NL_FLAG_OP_SHIFT) : -1;
}

int nl_is_leaf(const nl_tensor *t) { return t && maker_op(t) < 0; }

const char *nl_grad_fn_name(const nl_tensor *t) {
    return (t && maker_op(t) >= 0) ? nl_op_name(maker_op(t)) : NULL;
}

int nl_set_requires_grad(nl_tensor *t, int requires_grad) {
    NL_CHECK_TENSOR_INT("requires_grad", t);
    /* a tensor an op made requires grad already: asking for that again is
     * no change (PyTorch's requires_grad_(True) on a non-leaf); only false
     * is refused */
    if (requires_grad && maker_op(t) >= 0) return 0;
    NL_CHECK_INT(maker_op(t) < 0, "requires_grad: only leaf tensors can change requires_grad "
                 "(this one comes from %s); use detach()", nl_op_name(maker_op(t)));
    NL_CHECK_INT(!requires_grad || t->dtype != NL_INT64,
                 "requires_grad: only float tensors can require grad, got int64 %s", nl_shape_str(t));
    if (requires_grad) t->flags |= NL_FLAG_REQUIRES_GRAD;
    else t->flags &= ~NL_FLAG_REQUIRES_GRAD;
    return 0;
}

nl_tensor *nl_detach(nl_tensor *t) {
    NL_CHECK_TENSOR("detach", t);
    return nl_tensor_new_view(t, t->ndim, t->sizes, t->strides, t->offset);
}

/* t's elements at distinct places: a dim of stride 0 (t expanded) counts once */
static int64_t distinct_elements(const nl_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->strides[d] ? t->sizes[d] : 1;
    return n;
}

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* the element offsets of t (into its storage) in [lo, hi): marked in
 * bits (set), or tested there (test: true when one is marked); or, with
 * bits NULL, listed in list (*n of them) */
static bool walk_offsets(const nl_tensor *t, int64_t lo, int64_t hi, unsigned char *bits, bool test,
                         int64_t *list, int64_t *n) {
    /* a dim of stride 0 (t expanded) repeats its offsets: walked once */
    int64_t idx[8] = { 0 }, size[8], count = 1, off = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        size[d] = t->strides[d] ? t->sizes[d] : 1;
        count *= size[d];
    }
    for (int64_t k = 0; k < count; k++) {
        if (off >= lo && off < hi) {
            int64_t b = off - lo;
            if (!bits) list[(*n)++] = off;
            else if (test && (bits[b >> 3] >> (b & 7) & 1)) return true;
            else if (!test) bits[b >> 3] |= (unsigned char)(1 << (b & 7));
        }
        for (int d = t->ndim - 1; d >= 0; d--) {          /* the next index, last dim fastest */
            off += t->strides[d];
            if (++idx[d] < size[d]) break;
            off -= t->strides[d] * size[d];
            idx[d] = 0;
        }
    }
    return false;
}

/* a and b (of one storage) share an element: their ranges meet and, for
 * strided ones, an element of one is an element of the other (a column
 * beside another shares none) */
static bool elements_meet(const nl_tensor *a, const nl_tensor *b) {
    if (!a->numel || !b->numel) return false;
    int64_t a1 = a->offset + 1, b1 = b->offset + 1;
    for (int i = 0; i < a->ndim; i++) a1 += (a->sizes[i] - 1) * a->strides[i];
    for (int i = 0; i < b->ndim; i++) b1 += (b->sizes[i] - 1) * b->strides[i];
    if (!(a->offset < b1 && b->offset < a1)) return false;
    if (nl_is_contiguous(a) && nl_is_contiguous(b)) return true;
    int64_t lo = a->offset > b->offset ? a->offset : b->offset, hi = a1 < b1 ? a1 : b1;
    bool meet = true;                                    /* (no memory to tell: say they meet) */
    int64_t da = distinct_elements(a), db = distinct_elements(b);
    if ((hi - lo) / 64 <= da + db) {                     /* a bitmap of the range */
        unsigned char *bits = calloc((size_t)((hi - lo + 7) >> 3), 1);
        if (bits) {
            walk_offsets(a, lo, hi, bits, false, NULL, NULL);
            meet = walk_offsets(b, lo, hi, bits, true, NULL, NULL);
        }
        free(bits);
        return meet;
    }
    /* a sparse range (two far elements of a big storage): both lists, sorted, compared */
    int64_t *la = malloc(sizeof(int64_t) * (size_t)da), *lb = malloc(sizeof(int64_t) * (size_t)db);
    if (la && lb) {
        int64_t na = 0, nb = 0;
        walk_offsets(a, lo, hi, NULL, false, la, &na);
        walk_offsets(b, lo, hi, NULL, false, lb, &nb);
        qsort(la, (size_t)na, sizeof *la, cmp_i64);
        qsort(lb, (size_t)nb, sizeof *lb, cmp_i64);
        meet = false;
        for (int64_t i = 0, j = 0; i < na && j < nb && !meet;) {
            if (la[i] == lb[j]) meet = true;
            else if (la[i] < lb[j]) i++;
            else j++;
        }
    }
    free(la);
    free(lb);
    return meet;
}

int nl_set_grad(nl_tensor *t, nl_tensor *grad) {
    NL_CHECK_TENSOR_INT("grad", t);
    if (grad) {
        NL_CHECK_INT(nl_same_shape(t, grad), "grad: gradient of shape %s for a tensor of shape %s",
                     nl_shape_str(grad), nl_shape_str(t));
        NL_CHECK_INT(grad->dtype == t->dtype, "grad: gradient of dtype %s for a %s tensor",
                     nl_dtype_name(grad->dtype), nl_dtype_name(t->dtype));
        /* its own gradient held t for ever, and backward added into t;
         * one that repeats memory failed inside a later backward (named
         * add_, with other leaves' gradients already changed) */
        NL_CHECK_INT(!nl_repeats_elements(grad), "grad: a gradient of shape %s repeats elements in memory "
                     "(an expanded view); clone() it first", nl_shape_str(grad));
        NL_CHECK_INT(grad->storage != t->storage || !elements_meet(grad, t), "grad: a tensor of shape %s cannot "
                     "hold its own memory as its gradient", nl_shape_str(t));
        nl_retain(grad);
    }
    nl_release(t->grad);
    t->grad = grad;
    return 0;
}

int nl_mark_modified(nl_tensor *t, const char *op) {
    if (!op) op = "mark_modified";
    NL_CHECK_TENSOR_INT(op, t);
    NL_CHECK_INPLACE_INT(op, t);
    nl_bump_version(t);
    return 0;
}

/* ---- anomaly mode: the forward traceback of each node ----
 * With NL_ANOMALY_TRACE on, the binding gives each op's new nodes the
 * traceback of the call that made them; a backward that fails at a node
 * keeps its traceback for the error. The tracebacks live in a table by
 * node, outside the node (which stays 3 lines): a traced node's input
 * arrays are moved off the node, so that node_free_saved, which frees
 * those arrays with the graph, drops the traceback in the same branch,
 * and an untraced node pays nothing. */
typedef struct { int32_t refcount; char text[]; } trace_text;
typedef struct trace_entry { const nl_node *node; trace_text *t; struct trace_entry *next; } trace_entry;
static struct {
    pthread_mutex_t lock;
    trace_entry **v;                     /* (cap) chains by the node's address */
    int64_t cap;
} traces = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };
static int64_t traces_live;              /* entries (read without the lock) */
static __thread uint32_t trace_from;     /* node_seq when NL_ANOMALY_TRACE came on */
static __thread trace_text *failed;      /* the traceback of the node a backward failed at */
static __thread bool failed_set;

static void trace_release(trace_text *t) {
    if (t && nl_unref(&t->refcount)) free(t);
}

/* the link to n's entry, or the NULL at the end of its chain; lock held, cap > 0 */
static trace_entry **trace_slot(const nl_node *n) {
    uint64_t h = ((uintptr_t)n >> 6) * UINT64_C(0x9E3779B97F4A7C15);
    trace_entry **e = &traces.v[(h >> 32) & (uint64_t)(traces.cap - 1)];
    while (*e && (*e)->node != n) e = &(*e)->next;
    return e;
}

/* n's traceback, retained, or NULL */
static trace_text *trace_find(const nl_node *n) {
    if (!n || !__atomic_load_n(&traces_live, __ATOMIC_ACQUIRE)) return NULL;
    pthread_mutex_lock(&traces.lock);
    trace_entry *e = traces.cap ? *trace_slot(n) : NULL;
    trace_text *t = e ? e->t : NULL;
    if (t) nl_ref_add(&t->refcount);
    pthread_mutex_unlock(&traces.lock);
    return t;
}

static __attribute__((noinline, cold)) void trace_drop(const nl_node *n) {
    pthread_mutex_lock(&traces.lock);
    trace_entry **e = traces.cap ? trace_slot(n) : NULL, *dead = e ? *e : NULL;
    if (dead) {
        *e = dead->next;
        if (__atomic_sub_fetch(&traces_live, 1, __ATOMIC_RELEASE) == 0) {   /* the chains go too */
            free(traces.v);
            traces.v = NULL;
            traces.cap = 0;
        }
    }
    pthread_mutex_unlock(&traces.lock);
    if (dead) {
        trace_release(dead->t);
        free(dead);
    }
}

/* n gets t (retained); its input arrays move off the node */
static bool trace_put(nl_node *n, trace_text *t) {
    if (n->in == n->in_inline) {
        nl_tensor **ins = malloc(sizeof(nl_tensor *) * (size_t)n->n_in);
        uint32_t *vers = malloc(sizeof(uint32_t) * (size_t)n->n_in);    /* (no inputs past 32 inline) */
        if (!ins || !vers) {
            free(ins);
            free(vers);
            return false;
        }
        memcpy(ins, n->in, sizeof(nl_tensor *) * (size_t)n->n_in);
        memcpy(vers, n->in_version, sizeof(uint32_t) * (size_t)n->n_in);
        n->in = ins;
        n->in_version = vers;
    }
    trace_entry *e = malloc(sizeof *e);
    if (!e) return false;
    pthread_mutex_lock(&traces.lock);
    int64_t live = __atomic_load_n(&traces_live, __ATOMIC_RELAXED);
    if (live >= traces.cap) {            /* rehash into twice the chains */
        int64_t cap = traces.cap ? traces.cap * 2 : 64;
        trace_entry **v = calloc((size_t)cap, sizeof *v), **old = traces.v;
        if (!v) {
            pthread_mutex_unlock(&traces.lock);
            free(e);
            return false;
        }
        int64_t old_cap = traces.cap;
        traces.v = v;
        traces.cap = cap;
        for (int64_t i = 0; i < old_cap; i++)
            for (trace_entry *x = old[i], *next; x; x = next) {
                next = x->next;
                trace_entry **slot = trace_slot(x->node);
                x->next = NULL;
                *slot = x;
            }
        free(old);
    }
    nl_ref_add(&t->refcount);
    e->node = n;
    e->t = t;
    e->next = NULL;
    *trace_slot(n) = e;
    __atomic_add_fetch(&traces_live, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&traces.lock);
    return true;
}

/* made on this thread since NL_ANOMALY_TRACE came on, not yet freed, and
 * without a traceback (a node made before, or elsewhere, is left alone) */
static bool trace_wanted(const nl_node *n) {
    if (!n || n->freed || (int32_t)(n->seq - trace_from) <= 0 || (int32_t)(tls.node_seq - n->seq) < 0) return false;
    trace_text *t = trace_find(n);
    trace_release(t);
    return t == NULL;
}

int nl_anomaly_untraced(const nl_tensor *t) {
    return t && (detect_anomaly & NL_ANOMALY_TRACE) && trace_wanted(t->node);
}

int nl_anomaly_trace(const nl_tensor *t, const char *text, const nl_tensor *parent) {
    if (!nl_anomaly_untraced(t)) return 0;
    trace_text *tt = parent ? trace_find(parent->node) : NULL;
    if (!tt && text) {
        size_t len = strlen(text);
        tt = malloc(sizeof(trace_text) + len + 1);
        if (!tt) return 0;
        tt->refcount = 1;
        memcpy(tt->text, text, len + 1);
    }
    if (!tt) return 0;
    /* t's node and the new nodes behind it, each given the traceback when
     * pushed (a node met twice is given it once) */
    nl_node *inline_v[32], **stack = inline_v;
    int64_t n = 0, cap = 32;
    bool ok = trace_put(t->node, tt);
    if (ok) stack[n++] = t->node;
    while (ok && n) {
        nl_node *x = stack[--n];
        for (int i = 0; ok && i < x->n_in; i++) {
            nl_node *c = x->in[i]->node;
            if (!trace_wanted(c)) continue;
            if (n == cap) {
                nl_node **v = malloc(sizeof(nl_node *) * (size_t)cap * 2);
                if (!v) { ok = false; break; }
                memcpy(v, stack, sizeof(nl_node *) * (size_t)n);
                if (stack != inline_v) free(stack);
                stack = v;
                cap *= 2;
            }
            ok = trace_put(c, tt);
            if (ok) stack[n++] = c;
        }
    }
    if (stack != inline_v) free(stack);
    trace_release(tt);
    return 1;
}

int64_t nl_anomaly_traced(void) { return __atomic_load_n(&traces_live, __ATOMIC_ACQUIRE); }

const char *nl_anomaly_trace_of(const nl_tensor *t) {
    trace_text *tt = t ? trace_find(t->node) : NULL;
    /* (the node holds it while t lives) */
    trace_release(tt);
    return tt ? tt->text : NULL;
}

/* a backward failed at n: its traceback (or none) for the error */
static __attribute__((noinline, cold)) void anomaly_failed(const nl_node *n) {
    trace_text *t = trace_find(n);
    trace_release(failed);
    failed = t;
    failed_set = true;
}

const char *nl_anomaly_failed(void) {
    if (!failed_set) return NULL;
    return failed ? failed->text : "";
}

void nl_anomaly_failed_clear(void) {
    trace_release(failed);
    failed = NULL;
    failed_set = false;
}

/* NL_ANOMALY_TRACE came on (nodes made from now are traced) or went off */
static void anomaly_turned(int prev) {
    if (prev & NL_ANOMALY_TRACE) nl_anomaly_failed_clear();
    else trace_from = tls.node_seq;
}

static const char *ordinal_suffix(int k) {
    if (k % 100 >= 11 && k % 100 <= 13) return "th";
    return k % 10 == 1 ? "st" : k % 10 == 2 ? "nd" : k % 10 == 3 ? "rd" : "th";
}

/* after n's backward (anomaly mode): nnlua's NaN-or-Inf check of every
 * gradient it gave, then PyTorch's NaN check of those its inputs take */
static __attribute__((noinline, cold)) int anomaly_check(const char *who, const nl_node *n, nl_tensor *const *gin) {
    for (int i = 0; (detect_anomaly & NL_ANOMALY_FINITE) && i < n->n_in; i++) {
        if (gin[i] && !nl_all_finite(gin[i])) {
            nl_set_error("detect_anomaly: the backward of %s produced NaN or Inf in the gradient of "
                         "its input %d (shape %s)", nl_op_name(n->op), i + 1, nl_shape_str(gin[i]));
            goto fail;
        }
    }
    for (int i = 0; (detect_anomaly & NL_ANOMALY_NAN) && i < n->n_in; i++) {
        if (gin[i] && nl_node_wants(n, i) && nl_has_nan(gin[i])) {
            nl_set_error("%s: Function '%s' returned nan values in its %d%s output.", who, nl_op_name(n->op),
                         i + 1, ordinal_suffix(i + 1));
            goto fail;
        }
    }
    return 0;
fail:
    if (detect_anomaly & NL_ANOMALY_TRACE) anomaly_failed(n);
    return -1;
}

/* ---- nodes ---- */

_Static_assert(sizeof(nl_node) <= 192, "a node stays 3 cache lines (seq lives in the padding)");

nl_node *nl_record(int op, nl_tensor *out, int n_in, nl_tensor *const *in) {
    /* the thread's block, found once: in a shared library each lookup is a
     * call, which GCC repeated for the count (the empty asm makes the
     * address a value it keeps) */
    __typeof__(tls) *mode = &tls;
    __asm__("" : "+r"(mode));
    if (mode->grad_disabled || !out) return NULL;
    bool any = false;
    for (int i = 0; i < n_in; i++) any |= nl_requires_grad(in[i]);
    if (!any) return NULL;
    uint32_t seq = ++mode->node_seq;
    nl_node *n = nl_obj_alloc(NL_OBJ_NODE);
    if (!n) return NULL;                 /* no memory: the output has no graph */
    bool inline_in = n_in <= NL_NODE_INLINE;
    nl_tensor **ins = inline_in ? n->in_inline : malloc(sizeof(nl_tensor *) * n_in);
    /* past the inline arrays, the wants bits of inputs from 32 on follow the versions */
    int extra = n_in > 32 ? (n_in - 1) / 32 : 0;
    uint32_t *vers = inline_in ? n->version_inline : malloc(sizeof(uint32_t) * (n_in + extra));
    if (!ins || !vers) {
        if (!inline_in) { free(ins); free(vers); }
        nl_obj_free(NL_OBJ_NODE, n);
        return NULL;
    }
    n->refcount = 1;
    n->op = op;
    n->seq = seq;
    n->n_in = n_in;
    n->in = ins;
    n->in_version = vers;
    uint32_t wants = 0;
    for (int k = 0; k < extra; k++) vers[n_in + k] = 0;
    for (int i = 0; i < n_in; i++) {
        ins[i] = in[i];
        nl_retain(in[i]);
        vers[i] = in[i]->storage->version;
        uint32_t bit = (uint32_t)nl_requires_grad(in[i]) << (i & 31);
        if (i < 32) wants |= bit;
        else vers[n_in + ((i - 32) >> 5)] |= bit;
    }
    n->wants = wants;
    out->node = n;
    n->out = out;
    out->flags |= NL_FLAG_REQUIRES_GRAD;
    return n;
}

void nl_node_save(nl_node *n, nl_tensor *t) {
    nl_retain(t);
    n->saved = t;
    n->saved_version = t->storage->version;
}

void nl_node_save_output(nl_node *n, nl_tensor *out) {
    /* an alias without the node: the node must not own its own output */
    nl_tensor *alias = nl_tensor_new_view(out, out->ndim, out->sizes, out->strides, out->offset);
    if (alias) {
        nl_node_save(n, alias);
        nl_release(alias);
    }
}

static inline __attribute__((always_inline)) void node_free_saved(nl_node *n) {
    if (n->op == NL_OP_CUSTOM && !n->freed) nl_custom_node_free(n);   /* the binding's id is dead */
    for (int i = 0; i < n->n_in; i++) nl_release(n->in[i]);
    nl_release(n->saved);
    if (n->in != n->in_inline && n->in) {     /* (a freed node's are gone) */
        if (__atomic_load_n(&traces_live, __ATOMIC_RELAXED)) trace_drop(n);
        free(n->in);
        free(n->in_version);
    }
    n->in = NULL;
    n->in_version = NULL;
    n->wants = 0;
    n->saved = NULL;
    n->n_in = 0;
    n->freed = 1;
}

void nl_node_release(nl_node *n) {
    if (!n || !nl_unref(&n->refcount)) return;
    node_free_saved(n);
    nl_release(n->grad);
    nl_obj_free(NL_OBJ_NODE, n);
}

/* ---- gradient-ready hooks ---- */

#define MAX_HOOKS 8
static __thread struct { nl_grad_ready_fn fn; void *ctx; } hooks[MAX_HOOKS];
static __thread int n_hooks;

int nl_add_grad_ready_hook(nl_grad_ready_fn fn, void *ctx) {
    NL_CHECK_INT(fn != NULL, "add_grad_ready_hook: no function");
    NL_CHECK_INT(n_hooks < MAX_HOOKS, "add_grad_ready_hook: %d hooks are set already (the most)", MAX_HOOKS);
    hooks[n_hooks].fn = fn;
    hooks[n_hooks].ctx = ctx;
    n_hooks++;
    return 0;
}

void nl_remove_grad_ready_hook(nl_grad_ready_fn fn, void *ctx) {
    for (int i = 0; i < n_hooks; i++) {
        if (hooks[i].fn == fn && hooks[i].ctx == ctx) {
            hooks[i] = hooks[--n_hooks];
            return;
        }
    }
}

static void grad_ready(nl_tensor *leaf) {
    for (int i = 0; i < n_hooks; i++) hooks[i].fn(hooks[i].ctx, leaf);
}

/* ---- tensor hooks: the binding's, on tensors it marks ---- */

int nl_set_hooked(nl_tensor *t) {
    NL_CHECK_TENSOR_INT("register_hook", t);
    t->flags |= NL_FLAG_HOOKED;
    return 0;
}

/* the addresses of marked tensors that died on this thread, or (the low
 * bit set) whose node a backward freed, until the binding takes them */
static __thread struct { uintptr_t *v; int n, cap; } dead_hooked;

static __attribute__((noinline, cold)) void hooked_told(uintptr_t a) {
    if (dead_hooked.n == dead_hooked.cap) {
        int cap = dead_hooked.cap ? dead_hooked.cap * 2 : 64;
        uintptr_t *v = realloc(dead_hooked.v, sizeof(uintptr_t) * cap);
        if (!v) return;                  /* the binding keeps the hooks: never called */
        dead_hooked.v = v;
        dead_hooked.cap = cap;
    }
    dead_hooked.v[dead_hooked.n++] = a;
}

void nl_hooked_died(const nl_tensor *t) { hooked_told((uintptr_t)t); }

int nl_take_dead_hooked(uintptr_t *out, int max) {
    int n = dead_hooked.n < max ? dead_hooked.n : max;
    if (n <= 0) return 0;
    memcpy(out, dead_hooked.v + dead_hooked.n - n, sizeof(uintptr_t) * n);
    dead_hooked.n -= n;
    return n;
}

void nl_hooked_list_free(void) {
    free(dead_hooked.v);
    dead_hooked.v = NULL;
    dead_hooked.n = dead_hooked.cap = 0;
}

/* t's hooks on *g: a replacement the binding gives takes *g's place.
 * (The binding checks the replacement too, and names the hook.) */
static int call_hooks(nl_tensor_hook_fn fn, void *ctx, nl_tensor *t, nl_tensor **g) {
    nl_tensor *rep = NULL;
    if (fn(ctx, t, *g, &rep) != 0) {
        nl_release(rep);
        nl_set_error("backward: a hook of a tensor of shape %s failed", nl_shape_str(t));
        return -1;
    }
    if (!rep) return 0;
    if (!nl_same_shape(rep, t) || rep->dtype != t->dtype) {
        nl_set_error("backward: a hook gave a %s gradient of shape %s for a %s tensor of shape %s",
                     nl_dtype_name(rep->dtype), nl_shape_str(rep), nl_dtype_name(t->dtype), nl_shape_str(t));
        nl_release(rep);
        return -1;
    }
    nl_release(*g);
    *g = rep;
    return 0;
}

/* With grad-ready hooks or tensor hooks set, backward counts how many
 * gradients each leaf is still owed (one per edge from a node of the
 * graph): an open-addressing table keyed by the leaf's address, made for
 * one backward. A leaf with tensor hooks gathers this backward's gradient
 * in buf, which its hooks see whole when nothing more is owed. */
typedef struct { nl_tensor *key; int64_t owed; nl_tensor *buf; } owed_slot;
typedef struct { owed_slot *v; int64_t mask; } owed_table;

/* in[i] of n is a leaf that n's backward gives a gradient */
static bool is_hooked_leaf(const nl_node *n, int i) {
    const nl_tensor *x = n->in[i];
    return nl_node_wants(n, i) && !x->node && !graph_freed(x);
}

static owed_slot *owed_find(owed_table *t, const nl_tensor *x) {
    uint64_t h = ((uintptr_t)x >> 6) * UINT64_C(0x9E3779B97F4A7C15);
    for (int64_t i = (int64_t)(h >> 32) & t->mask;; i = (i + 1) & t->mask)
        if (t->v[i].key == x || t->v[i].key == NULL) return &t->v[i];
}

/* only (optional): the leaves owed, those it holds (backward's inputs);
 * the others get nothing, and no grad-ready hook runs for them */
static bool owed_init(owed_table *t, nl_node *const *order, int64_t n, owed_table *only) {
    int64_t edges = 0;
    for (int64_t k = 0; k < n; k++) edges += order[k]->n_in;
    int64_t cap = 16;
    while (cap < 2 * edges) cap *= 2;
    t->v = calloc((size_t)cap, sizeof(owed_slot));
    t->mask = cap - 1;
    if (!t->v) return false;
    for (int64_t k = 0; k < n; k++)
        for (int i = 0; i < order[k]->n_in; i++) {
            nl_tensor *x = order[k]->in[i];
            if (!is_hooked_leaf(order[k], i) || (only && !owed_find(only, x)->key)) continue;
            owed_slot *s = owed_find(t, x);
            s->key = x;
            s->owed++;
        }
    return true;
}

static int accumulate(nl_tensor **acc, nl_tensor *g, int dtype);

/* node n has given what it will give its inputs: leaves owed nothing more
 * are ready. A leaf's tensor hooks (fn) see the sum of this backward's
 * gradients, and what they give is added into .grad, before the grad-ready
 * hooks run. */
static int owed_paid(owed_table *t, const nl_node *n, nl_tensor_hook_fn fn, void *ctx) {
    for (int i = 0; i < n->n_in; i++) {
        nl_tensor *x = n->in[i];
        if (!is_hooked_leaf(n, i)) continue;
        owed_slot *s = owed_find(t, x);
        if (!s->key || --s->owed != 0) continue;
        if (s->buf) {
            int rc = call_hooks(fn, ctx, x, &s->buf);
            if (rc == 0) rc = accumulate(&x->grad, s->buf, x->dtype);
            nl_release(s->buf);
            s->buf = NULL;
            if (rc != 0) return -1;
        }
        if (n_hooks) grad_ready(x);
    }
    return 0;
}

static void owed_free(owed_table *t) {
    for (int64_t i = 0; t->v && i <= t->mask; i++) nl_release(t->v[i].buf);
    free(t->v);
}

/* ---- backward ---- */

static nl_backward_fn registered[NL_OP_COUNT];

void nl_register_backward(int op, nl_backward_fn fn) {
    if (op >= 0 && op < NL_OP_COUNT) registered[op] = fn;
}

static inline __attribute__((always_inline)) int dispatch(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    if (registered[n->op]) return registered[n->op](n, g, gin);
    switch (n->op) {
    case NL_OP_ADD: case NL_OP_SUB: case NL_OP_MUL: case NL_OP_DIV: case NL_OP_POW:
    case NL_OP_MAXIMUM: case NL_OP_MINIMUM:
        return nl_binary_backward(n, g, gin);
    case NL_OP_NEG: case NL_OP_EXP: case NL_OP_LOG: case NL_OP_SQRT: case NL_OP_ABS:
    case NL_OP_RELU: case NL_OP_SIGMOID: case NL_OP_TANH: case NL_OP_CLAMP:
    case NL_OP_GELU: case NL_OP_GELU_TANH: case NL_OP_SILU: case NL_OP_LEAKY_RELU: case NL_OP_SIN: case NL_OP_COS:
    case NL_OP_FLOOR: case NL_OP_CEIL: case NL_OP_ROUND: case NL_OP_TRUNC:
    case NL_OP_ELU: case NL_OP_SELU: case NL_OP_CELU: case NL_OP_SOFTPLUS: case NL_OP_MISH:
    case NL_OP_HARDTANH: case NL_OP_HARDSIGMOID: case NL_OP_HARDSWISH: case NL_OP_LOGSIGMOID:
    case NL_OP_SOFTSIGN: case NL_OP_TANHSHRINK: case NL_OP_SOFTSHRINK: case NL_OP_HARDSHRINK:
        return nl_unary_backward(n, g, gin);
    case NL_OP_CROSS_ENTROPY: case NL_OP_NLL_LOSS:
        return nl_loss_backward(n, g, gin);
    case NL_OP_WHERE:
        return nl_where_backward(n, g, gin);
    case NL_OP_SUM: case NL_OP_MEAN: case NL_OP_MAX: case NL_OP_MIN:
        return nl_reduce_backward(n, g, gin);
    case NL_OP_SOFTMAX: case NL_OP_LOG_SOFTMAX:
        return nl_softmax_backward(n, g, gin);
    case NL_OP_MATMUL:
        return nl_matmul_backward(n, g, gin);
    default:
        return nl_shape_backward(n, g, gin);
    }
}

/* dispatch, its time kept as a profiler event (the gradient formula only:
 * what backward adds into the inputs' gradients is its own time, as
 * PyTorch's AccumulateGrad is apart from MmBackward) */
static __attribute__((noinline, cold)) int dispatch_timed(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    double start = nl_time();
    int rc = dispatch(n, g, gin);
    if (n->op != NL_OP_CUSTOM) prof_add(n->op, start);
    return rc;
}

/* a growable list whose first 32 entries live inside it (small graphs
 * need no malloc); set up with list_init_spare, ended with list_keep_spare */
typedef struct { nl_node **v; int64_t n, cap; nl_node *inline_v[32]; } node_list;

static void list_init(node_list *l) {
    l->v = l->inline_v;
    l->n = 0;
    l->cap = 32;
}

/* The backward's three lists of a deep graph (4, 2 and 1 MB for 500k
 * nodes), kept per thread between calls: grown by doubling and freed at
 * every backward, they left holes among the heap's small blocks that grew
 * the process by 5 MB a backward while the memory in use stayed flat. A
 * list takes its slot's buffer and gives it back at the end (a backward
 * started from a hook meanwhile finds the slot empty and allocates); the
 * thread's exit frees them (nl_backward_spares_free, from alloc.c). */
enum { SPARE_ORDER, SPARE_STACK, SPARE_IDX };
static _Thread_local struct { nl_node **v; int64_t cap; } spare[3];

static void list_init_spare(node_list *l, int slot) {
    list_init(l);
    if (spare[slot].v) {
        l->v = spare[slot].v;
        l->cap = spare[slot].cap;
        spare[slot].v = NULL;
    }
}

void nl_backward_spares_free(void) {
    nl_anomaly_failed_clear();
    for (int i = 0; i < 3; i++) {
        free(spare[i].v);
        spare[i].v = NULL;
        spare[i].cap = 0;
    }
}

static void list_keep_spare(node_list *l, int slot) {
    if (l->v == l->inline_v) return;
    if (spare[slot].v) free(spare[slot].v);   /* a nested backward's, the smaller as a rule */
    spare[slot].v = l->v;
    spare[slot].cap = l->cap;
}

static bool push(node_list *l, nl_node *n) {
    if (l->n == l->cap) {
        int64_t cap = l->cap < 32 ? 64 : l->cap * 2;   /* (never below: told so for GCC's bounds check) */
        nl_node **v = l->v == l->inline_v ? malloc(sizeof(nl_node *) * cap)
                                          : realloc(l->v, sizeof(nl_node *) * cap);
        if (!v) return false;
        if (l->v == l->inline_v) memcpy(v, l->inline_v, sizeof l->inline_v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
    return true;
}

/* Node marks during a backward: on the DFS stack, done, (nl_grad) on a
 * path to an input, and (tensor hooks) its output held for its hooks. */
enum { MARK_STACK = 1, MARK_DONE = 2, MARK_NEEDED = 4, MARK_HELD = 8 };

/* appends the nodes reachable from root that no earlier call reached, in
 * DFS postorder (iterative: a deep graph needs no C stack); the caller
 * reverses the whole list once, which gives a reverse topological order of
 * every root's graph together */
static inline __attribute__((always_inline)) bool topo_append(nl_node *root, node_list *order) {
    if (root->mark) return true;            /* another root's graph holds it */
    node_list stack, idx;                   /* idx holds the next input index, cast */
    list_init_spare(&stack, SPARE_STACK);
    list_init_spare(&idx, SPARE_IDX);
    bool ok = push(&stack, root) && push(&idx, NULL);
    if (ok) root->mark = MARK_STACK;
    while (ok && stack.n) {
        nl_node *n = stack.v[stack.n - 1];
        intptr_t i = (intptr_t)idx.v[idx.n - 1];
        if (i < n->n_in) {
            idx.v[idx.n - 1] = (nl_node *)(i + 1);
            nl_node *c = n->in[i]->node;
            if (c && c->mark == 0 && nl_requires_grad(n->in[i])) {
                ok = push(&stack, c) && push(&idx, NULL);
                c->mark = MARK_STACK;
            }
        } else {
            n->mark = MARK_DONE;
            ok = push(order, n);
            /* held until backward ends: freeing saved inputs may drop the
             * last reference to a node still ahead in the order */
            if (ok) nl_ref_add(&n->refcount);
            stack.n--;
            idx.n--;
        }
    }
    /* out of memory: the nodes left on the stack are not in the order,
     * whose marks the caller clears (marked, a later backward skipped them) */
    for (int64_t k = 0; !ok && k < stack.n; k++) stack.v[k]->mark = 0;
    list_keep_spare(&stack, SPARE_STACK);
    list_keep_spare(&idx, SPARE_IDX);
    return ok;
}

static void reverse(node_list *l) {
    for (int64_t a = 0, b = l->n - 1; a < b; a++, b--) {
        nl_node *t = l->v[a];
        l->v[a] = l->v[b];
        l->v[b] = t;
    }
}

/* *acc += g (acc created as a copy when NULL) in acc_dtype */
static int accumulate(nl_tensor **acc, nl_tensor *g, int dtype) {
    if (*acc == NULL) {
        /* a gradient nobody else holds, contiguous and whole, is taken as
         * it is; anything else is copied */
        if (g->refcount == 1 && g->storage->refcount == 1 && g->dtype == dtype && nl_is_contiguous(g) &&
            g->offset == 0 && !g->node) {
            /* its storage is its own: no tensor that requires grad shares it */
            g->flags &= ~NL_FLAG_NOGRAD_VIEW;
            nl_retain(g);
            *acc = g;
            return 0;
        }
        nl_tensor *c = nl_to_dtype(g, dtype);   /* a fresh contiguous copy */
        if (!c) return -1;
        *acc = c;
        return 0;
    }
    return nl_add_scaled_(*acc, g, 1.0);
}

/* An intermediate gradient is only read by the node's backward: the first
 * one is kept as it is (any layout, maybe shared), later ones are added
 * out of place, so a tensor that also flows elsewhere is never written.
 * Takes over the caller's reference to *g (and clears *g) when it keeps
 * it: a move, not a retain and a release. */
static int accumulate_node(nl_tensor **acc, nl_tensor **g) {
    if (*acc == NULL) {
        *acc = *g;
        *g = NULL;
        return 0;
    }
    nl_tensor *sum = nl_binary(NL_OP_ADD, *acc, *g);
    if (!sum) return -1;
    nl_release(*acc);
    *acc = sum;
    return 0;
}

/* backward reached a part of a graph that an earlier backward freed */
static int freed_error(const char *who, int op) {
    nl_set_error("%s: the graph through %s was freed by an earlier backward; "
                 "pass retain_graph to backward twice", who, nl_op_name(op));
    return -1;
}

static bool versions_ok(nl_node *n) {
    for (int i = 0; i < n->n_in; i++) {
        /* past 32 inputs (cat, stack) no backward reads an input's values:
         * the shift by 32 or more was undefined (UBSan) */
        if (i < 32 && (n->needs_in >> i & 1) && n->in[i]->storage->version != n->in_version[i]) {
            nl_set_error("backward: input %d of %s (shape %s) was modified in place after it was used "
                         "(version %u, saved at %u)", i + 1, nl_op_name(n->op), nl_shape_str(n->in[i]),
                         n->in[i]->storage->version, n->in_version[i]);
            return false;
        }
    }
    if (n->saved && n->saved->storage->version != n->saved_version) {
        /* the output, or another tensor the op kept (index_select's index) */
        nl_set_error("backward: a tensor that %s saved for backward (its output, or an index it was given; "
                     "shape %s) was modified in place before backward "
                     "(version %u, saved at %u)", nl_op_name(n->op), nl_shape_str(n->saved),
                     n->saved->storage->version, n->saved_version);
        return false;
    }
    return true;
}

/* versions_ok for who: nl_grad's errors name grad */
static bool versions_ok_for(const char *who, nl_node *n) {
    if (versions_ok(n)) return true;
    if (strcmp(who, "backward") != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", nl_error() + strlen("backward: "));
        nl_set_error("%s: %s", who, msg);
    }
    return false;
}

/* What nl_grad asks of a backward: the gradients of its inputs, gathered
 * in got instead of any .grad. at maps an input to its index + 1 (in the
 * owed field: the table of the grad-ready hooks, another use). into_grad
 * (nl_backward_inputs, backward's inputs): the listed leaves' .grad takes
 * their gradients as backward gives them (hooks, grad-ready hooks), no
 * other leaf's changes, and a listed tensor an op made has its node run
 * (its hooks, PyTorch's retain_grad among them); got is unused. */
typedef struct {
    nl_tensor **got;              /* (n_in) the inputs' gradients */
    owed_table at;
    bool into_grad;
} grad_task;

/* x's index among nl_grad's inputs (its first, for one given twice), or -1 */
static int want_index(grad_task *task, const nl_tensor *x) {
    owed_slot *s = owed_find(&task->at, x);
    return s->key ? (int)s->owed - 1 : -1;
}

/* nl_grad runs only the nodes on a path to an input, as PyTorch's engine
 * does: the others' saved tensors are not read, so a part of the graph that
 * an earlier backward freed or an input changed in place there is no error.
 * An edge into a freed part may have led to an input (what lay past it is
 * gone): its node is needed, and refused as backward refuses it. With
 * into_grad, the node that made an input runs too, as PyTorch 1.13's
 * backward(inputs) runs it (its saved tensors freed, its checks made). */
static void mark_needed(grad_task *task, const node_list *order) {
    for (int64_t k = order->n - 1; k >= 0; k--) {      /* inputs' side first */
        nl_node *n = order->v[k];
        if (task->into_grad && n->out && want_index(task, n->out) >= 0) {
            n->mark |= MARK_NEEDED;
            continue;
        }
        for (int i = 0; i < n->n_in; i++) {
            nl_tensor *x = n->in[i];
            if (nl_node_wants(n, i) && (want_index(task, x) >= 0 || (x->node && (x->node->mark & MARK_NEEDED))
                                        || (!x->node && graph_freed(x)))) {
                n->mark |= MARK_NEEDED;
                break;
            }
        }
    }
}

static int later_first(const void *a, const void *b) {
    const nl_node *x = *(nl_node *const *)a, *y = *(nl_node *const *)b;
    int32_t d = (int32_t)(y->seq - x->seq);          /* (serial order: the count may wrap) */
    return d < 0 ? -1 : d > 0;
}

/* With tensor hooks: the outputs of nodes whose tensors have hooks are held
 * until backward ends (a backward that freed the node that used such a
 * tensor let it die when Lua held it no more, and its hooks never ran, where
 * PyTorch keeps a tensor's hooks on the node that made it). Returns whether
 * a tensor of the graph has hooks (*leaves: a leaf has), so that the nodes
 * run in PyTorch's order, the latest made first: the order of its ready
 * queue, where a node made later than every node left is always ready.
 * (Nodes made on several threads may not be numbered in the graph's order:
 * then the order stays the walk's.) */
static bool hold_hooked(node_list *order, bool *leaves) {
    bool any = false, numbered = true;
    *leaves = false;
    for (int64_t k = 0; k < order->n; k++) {
        nl_node *n = order->v[k];
        if (n->out && (n->out->flags & NL_FLAG_HOOKED)) {
            nl_retain(n->out);
            n->mark |= MARK_HELD;
            any = true;
        }
        for (int i = 0; i < n->n_in; i++) {
            nl_tensor *x = n->in[i];
            if (!nl_node_wants(n, i)) continue;
            if (!x->node) *leaves |= (x->flags & NL_FLAG_HOOKED) != 0;
            else if ((int32_t)(n->seq - x->node->seq) <= 0) numbered = false;
        }
    }
    any |= *leaves;
    if (any && numbered) qsort(order->v, (size_t)order->n, sizeof *order->v, later_first);
    return any;
}

/* A freed node holds nothing but its op: its output (n->out, whose node
 * it is) keeps the op in its flags and lets the node go now, not when the
 * output dies, so a loop's nodes are reused while still in cache. The
 * caller holds n too. */
static void node_detach_freed(nl_node *n) {
    nl_tensor *out = n->out;
    /* no backward reaches its hooks again (one through it is refused):
     * the binding lets them go, and what they hold (often out itself) */
    if (__builtin_expect(out->flags & NL_FLAG_HOOKED, 0)) hooked_told((uintptr_t)out | 1);
    out->flags |= NL_FLAG_GRAPH_FREED | (int32_t)((uint32_t)n->op << NL_FLAG_OP_SHIFT);
    out->node = NULL;
    n->out = NULL;
    /* two references, the output's and the caller's: nobody else holds it */
    if (__atomic_load_n(&n->refcount, __ATOMIC_ACQUIRE) == 2) n->refcount = 1;
    else nl_node_release(n);
}

/* A given root gradient as the walk takes it (a new reference): the
 * tensor itself where nothing can write into it while the walk reads it,
 * else a fresh contiguous copy in dtype, as every one was before. An op's
 * backward only reads its gradient, and accumulate never makes a tensor
 * held elsewhere a leaf's .grad (with our reference the caller's makes two),
 * so the walk writes into g only through another holder of its memory:
 * a leaf's .grad that is g or a view of it (x:backward(x.grad), or a graph
 * whose gradient reaches that leaf by two paths), which the test of the
 * references rules out; or user code given g: tensor hooks (user_code),
 * a custom function's backward (user_code). A gradient that requires grad,
 * or with gaps or repeated elements in memory, is copied too. */
static nl_tensor *seed_of(nl_tensor *given, int dtype, bool user_code) {
    if (!user_code && given->dtype == dtype && given->refcount == 1 && given->storage->refcount == 1 &&
        !given->node && !nl_requires_grad(given) && dense(given)) {
        nl_retain(given);
        return given;
    }
    return nl_to_dtype(given, dtype);
}

/* The reverse walk of nl_backward (task NULL) and nl_grad: the roots'
 * gradients (grads[r], or 1 for a one-element root) flow back to the
 * leaves' .grad, or to task's inputs. The roots are checked by the caller.
 * Inlined into each, so that nl_backward's copy, where task is NULL, has
 * none of nl_grad's tests (they cost a backward of five small ops 1%). */
static inline __attribute__((always_inline)) int run_backward(int n_roots, nl_tensor *const *roots, nl_tensor *const *grads, int retain_graph,
                        grad_task *task, nl_tensor_hook_fn fn, void *ctx) {
    const char *who = task && !task->into_grad ? "grad" : "backward";
    /* leaves' .grad take gradients: all (backward) or the inputs' (into_grad) */
    grad_task *only = task && task->into_grad ? task : NULL;
    /* grad mode off before the root's gradient is made: a given gradient
     * that requires grad was copied with a node, and the views of it the
     * backward made were flagged as made under no_grad of a tensor that
     * requires grad, which left a leaf's .grad refusing zero_() */
    int prev = nl_set_grad_enabled(0);
    int rc = 0;
    node_list order;
    list_init_spare(&order, SPARE_ORDER);
    bool custom = false;                    /* a node of order is a binding's (user code) */
    bool given = false;                     /* a root's gradient is given (else custom stays unread) */
    for (int r = 0; grads && r < n_roots; r++) given |= grads[r] != NULL;
    for (int r = 0; rc == 0 && r < n_roots; r++) {
        nl_tensor *root = roots[r];
        int64_t had = order.n;
        if (root->node && !topo_append(root->node, &order)) {
            nl_set_error("%s: out of memory", who);
            rc = -1;
            break;
        }
        for (int64_t k = had; given && k < order.n; k++) custom |= order.v[k]->op == NL_OP_CUSTOM;
        nl_tensor *g = grads && grads[r] ? seed_of(grads[r], root->dtype, fn != NULL || custom)
                                         : nl_full(root->ndim, root->sizes, 1.0, root->dtype);
        if (!g) {
            rc = -1;
            break;
        }
        int j = task ? want_index(task, root) : -1;
        if (root->node) {
            rc = accumulate_node(&root->node->grad, &g);   /* our reference to g: moved in */
        } else if (graph_freed(root) && (j < 0 || only)) {
            rc = freed_error(who, maker_op(root));
        } else if (task && (!only || j < 0)) {   /* an input itself: 1 (or its grad_outputs) */
            if (j >= 0) rc = accumulate(&task->got[j], g, root->dtype);
        } else {                            /* a leaf: its own gradient */
            if (fn && (root->flags & NL_FLAG_HOOKED)) rc = call_hooks(fn, ctx, root, &g);
            if (rc == 0) rc = accumulate(&root->grad, g, root->dtype);
            if (rc == 0 && n_hooks) grad_ready(root);
        }
        if (g) nl_release(g);               /* (moved into the root's node, as a rule) */
    }
    reverse(&order);
    bool hooked_leaves = false;
    if (fn && rc == 0) hold_hooked(&order, &hooked_leaves);
    if (rc == 0 && task) mark_needed(task, &order);
    owed_table owed = { NULL, 0 };
    if (rc == 0 && (n_hooks || hooked_leaves) && (!task || only) &&
        !owed_init(&owed, order.v, order.n, only ? &only->at : NULL)) {
        nl_set_error("%s: out of memory", who);
        rc = -1;
    }
    /* what can fail is checked before any gradient is computed, so that a
     * backward that raises leaves every .grad as it was (a freed part of
     * the graph, met after one path had already reached a leaf, left that
     * leaf with one path's share): freed nodes and inputs, inputs changed
     * in place */
    for (int64_t k = 0; rc == 0 && k < order.n; k++) {
        nl_node *n = order.v[k];
        if (task && !(n->mark & MARK_NEEDED)) continue;
        if (n->freed) rc = freed_error(who, n->op);
        else if (!versions_ok_for(who, n)) rc = -1;
        for (int i = 0; rc == 0 && i < n->n_in; i++) {
            nl_tensor *x = n->in[i];
            if (nl_requires_grad(x) && !x->node && graph_freed(x) && !(task && !only && want_index(task, x) >= 0))
                rc = freed_error(who, maker_op(x));
        }
    }
    nl_tensor *gin_small[4];
    for (int64_t k = 0; rc == 0 && k < order.n; k++) {
        nl_node *n = order.v[k];
        nl_tensor *gn = n->grad;
        if (!gn) {                          /* no gradient reached it: it pays nothing */
            if (owed.v && (rc = owed_paid(&owed, n, fn, ctx)) != 0) break;
            continue;
        }
        if (task) {                         /* an input that an op made: its gradient is complete */
            int j = n->out && !only ? want_index(task, n->out) : -1;
            if (j >= 0 && (rc = accumulate(&task->got[j], gn, n->out->dtype)) != 0) break;
            if (!(n->mark & MARK_NEEDED)) continue;
        }
        /* the hooks of the tensor the node made, on its whole gradient (a
         * version check follows: they may change the graph's inputs) */
        if (fn && (n->mark & MARK_HELD)) {
            if ((rc = call_hooks(fn, ctx, n->out, &n->grad)) != 0) break;
            gn = n->grad;
        }
        /* freed nodes and inputs were refused above; versions again, as a
         * grad-ready hook may run user code between nodes */
        if (!versions_ok_for(who, n)) { rc = -1; break; }
        nl_tensor **gin = n->n_in <= 4 ? gin_small : calloc(n->n_in, sizeof(nl_tensor *));
        if (!gin) { nl_set_error("%s: out of memory", who); rc = -1; break; }
        memset(gin, 0, sizeof(nl_tensor *) * n->n_in);
        if ((prof.on ? dispatch_timed(n, gn, gin) : dispatch(n, gn, gin)) != 0) {
            /* keep the kernel's message; say it came from backward */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", nl_error());
            nl_set_error("backward of %s: %s", nl_op_name(n->op), msg);
            rc = -1;
            if (detect_anomaly & NL_ANOMALY_TRACE) anomaly_failed(n);
        }
        /* drop our hold on the output's gradient first, so an input's
         * gradient that is a view of it can be taken without a copy */
        nl_release(n->grad);
        n->grad = NULL;
        if (rc == 0 && detect_anomaly) rc = anomaly_check(who, n, gin);
        for (int i = 0; i < n->n_in; i++) {
            nl_tensor *x = n->in[i];
            if (rc == 0 && gin[i] && nl_node_wants(n, i)) {
                if (!nl_same_shape(gin[i], x)) {
                    nl_set_error("backward of %s: gradient of shape %s for input %d of shape %s",
                                 nl_op_name(n->op), nl_shape_str(gin[i]), i + 1, nl_shape_str(x));
                    rc = -1;
                    if (detect_anomaly & NL_ANOMALY_TRACE) anomaly_failed(n);
                } else if (x->node) {
                    /* a gradient in the input's own dtype, as PyTorch's: a
                     * float64 one reaching a float32 op's backward would be
                     * read as float32 by its kernels */
                    if (gin[i]->dtype != x->dtype) {
                        nl_tensor *c = nl_to_dtype(gin[i], x->dtype);
                        nl_release(gin[i]);
                        gin[i] = c;
                    }
                    rc = gin[i] ? accumulate_node(&x->node->grad, &gin[i]) : -1;
                } else if (task && (!only || want_index(task, x) < 0)) {   /* a leaf: only an input's is kept */
                    int j = only ? -1 : want_index(task, x);
                    if (j >= 0) rc = accumulate(&task->got[j], gin[i], x->dtype);
                } else if (fn && (x->flags & NL_FLAG_HOOKED) && owed.v) {
                    /* gathered for its hooks (as a node's: the first kept, any layout) */
                    owed_slot *sl = owed_find(&owed, x);
                    if (sl->key) {
                        if (gin[i]->dtype != x->dtype) {
                            nl_tensor *c = nl_to_dtype(gin[i], x->dtype);
                            nl_release(gin[i]);
                            gin[i] = c;
                        }
                        rc = gin[i] ? accumulate_node(&sl->buf, &gin[i]) : -1;
                    } else {
                        rc = accumulate(&x->grad, gin[i], x->dtype);
                    }
                } else {
                    rc = accumulate(&x->grad, gin[i], x->dtype);
                }
            }
            nl_release(gin[i]);
        }
        if (gin != gin_small) free(gin);
        if (rc == 0 && owed.v) rc = owed_paid(&owed, n, fn, ctx);   /* before the inputs are let go */
        if (!retain_graph) node_free_saved(n);
    }
    owed_free(&owed);
    for (int64_t k = 0; k < order.n; k++) {
        nl_node *n = order.v[k];
        nl_tensor *held = fn && (n->mark & MARK_HELD) ? n->out : NULL;
        n->mark = 0;
        nl_release(n->grad);
        n->grad = NULL;
        if (!retain_graph && n->freed && n->out && n->out->node == n) node_detach_freed(n);
        if (held) nl_release(held);
        nl_node_release(n);
    }
    list_keep_spare(&order, SPARE_ORDER);
    nl_set_grad_enabled(prev);
    return rc;
}

int nl_node_read(const nl_tensor *t, const char *who, nl_node_info *info) {
    if (!who) who = "backward";
    NL_CHECK_INT(t != NULL && info != NULL, "%s: no tensor given", who);
    nl_node *n = t->node;
    if (!n) return graph_freed(t) ? freed_error(who, maker_op(t)) : 0;
    if (n->freed) return freed_error(who, n->op);
    if (!versions_ok_for(who, n)) return -1;
    info->id = n;
    info->op = n->op;
    info->n_in = n->n_in;
    info->in = n->in;
    info->saved = n->saved;
    memcpy(info->s, n->s, sizeof info->s);
    memcpy(info->a, n->a, sizeof info->a);
    return 1;
}

/* the nodes that made outputs[0..n) let what they saved go, as a backward
 * without retain_graph frees the nodes it ran: each output keeps only its
 * op's name, and a later backward through it is refused */
int nl_free_nodes(int n, nl_tensor *const *outputs) {
    NL_CHECK_INT(n >= 0 && (n == 0 || outputs), "free_nodes: no outputs given");
    nl_node **nodes = malloc(sizeof(nl_node *) * (size_t)(n ? n : 1));
    NL_CHECK_INT(nodes != NULL, "free_nodes: out of memory");
    /* all held first: freeing one node's inputs may drop the last
     * reference to an output further on */
    for (int k = 0; k < n; k++) {
        nodes[k] = outputs[k] ? outputs[k]->node : NULL;
        if (nodes[k]) nl_ref_add(&nodes[k]->refcount);
    }
    for (int k = 0; k < n; k++)
        if (nodes[k] && !nodes[k]->freed) node_free_saved(nodes[k]);
    for (int k = 0; k < n; k++) {
        nl_node *nd = nodes[k];
        if (!nd) continue;
        if (nd->out && nd->out->node == nd) node_detach_freed(nd);
        nl_node_release(nd);
    }
    free(nodes);
    return 0;
}

int nl_node_input_wanted(const nl_tensor *t, int i) {
    return t && t->node && i >= 0 && nl_node_wants(t->node, i);
}

/* the root and gradient backward takes */
static int check_root(nl_tensor *root, nl_tensor *grad) {
    NL_CHECK_TENSOR_INT("backward", root);
    NL_CHECK_INT(nl_requires_grad(root), "backward: the tensor of shape %s does not require grad "
                 "(no input of the ops that made it requires grad)", nl_shape_str(root));
    if (grad) {
        NL_CHECK_INT(nl_same_shape(grad, root), "backward: gradient of shape %s for a tensor of shape %s",
                     nl_shape_str(grad), nl_shape_str(root));
    } else {
        NL_CHECK_INT(root->numel == 1, "backward: a gradient is needed for a non-scalar tensor of shape %s",
                     nl_shape_str(root));
    }
    return 0;
}

int nl_backward(nl_tensor *root, nl_tensor *grad, int retain_graph) {
    if (check_root(root, grad) != 0) return -1;
    uint64_t prev = nl_custom_pass_enter();
    int rc = run_backward(1, &root, &grad, retain_graph, NULL, NULL, NULL);
    nl_custom_pass_leave(prev);
    return rc;
}

int nl_backward_hooked(nl_tensor *root, nl_tensor *grad, int retain_graph, nl_tensor_hook_fn fn, void *ctx) {
    NL_CHECK_INT(fn != NULL, "backward: no hook function given");
    if (check_root(root, grad) != 0) return -1;
    uint64_t prev = nl_custom_pass_enter();
    int rc = run_backward(1, &root, &grad, retain_graph, NULL, fn, ctx);
    nl_custom_pass_leave(prev);
    return rc;
}

/* at: each input -> its index + 1 (the first, for one given twice) */
static bool task_inputs(grad_task *task, int n_in, nl_tensor *const *inputs) {
    int64_t cap = 16;
    while (cap < 2 * (int64_t)n_in) cap *= 2;
    task->at.v = calloc((size_t)cap, sizeof(owed_slot));
    task->at.mask = cap - 1;
    if (!task->at.v) return false;
    for (int j = 0; j < n_in; j++) {
        owed_slot *s = owed_find(&task->at, inputs[j]);
        if (!s->key) {
            s->key = inputs[j];
            s->owed = j + 1;
        }
    }
    return true;
}

int nl_backward_inputs(nl_tensor *root, nl_tensor *grad, int n_in, nl_tensor *const *inputs, int retain_graph,
                       nl_tensor_hook_fn fn, void *ctx) {
    if (check_root(root, grad) != 0) return -1;
    NL_CHECK_INT(n_in > 0 && inputs, "backward: inputs is empty (give the tensors whose .grad takes the gradient)");
    for (int j = 0; j < n_in; j++) {
        NL_CHECK_INT(inputs[j] != NULL, "backward: input %d: expected a tensor, got nil", j + 1);
        NL_CHECK_INT(nl_requires_grad(inputs[j]), "backward: input %d (shape %s) does not require grad",
                     j + 1, nl_shape_str(inputs[j]));
    }
    grad_task task = { NULL, { NULL, 0 }, true };
    NL_CHECK_INT(task_inputs(&task, n_in, inputs), "backward: out of memory");
    uint64_t prev = nl_custom_pass_enter();
    int rc = run_backward(1, &root, &grad, retain_graph, &task, fn, ctx);
    nl_custom_pass_leave(prev);
    free(task.at.v);
    return rc;
}

int nl_grad(int n_out, nl_tensor *const *outputs, nl_tensor *const *grad_outputs, int n_in,
            nl_tensor *const *inputs, nl_tensor **grads, int retain_graph, nl_tensor_hook_fn fn, void *ctx) {
    NL_CHECK_INT(n_out > 0 && outputs, "grad: no outputs given");
    NL_CHECK_INT(n_in > 0 && inputs && grads, "grad: no inputs given");
    for (int j = 0; j < n_out; j++) {
        nl_tensor *o = outputs[j], *g = grad_outputs ? grad_outputs[j] : NULL;
        NL_CHECK_INT(o != NULL, "grad: output %d: expected a tensor, got nil", j + 1);
        NL_CHECK_INT(nl_requires_grad(o), "grad: output %d (shape %s) does not require grad "
                     "(no input of the ops that made it requires grad)", j + 1, nl_shape_str(o));
        if (g) {
            NL_CHECK_INT(nl_same_shape(g, o), "grad: grad_outputs %d has shape %s, but output %d has shape %s",
                         j + 1, nl_shape_str(g), j + 1, nl_shape_str(o));
        } else {
            NL_CHECK_INT(o->numel == 1, "grad: output %d of shape %s is not a scalar: give its gradient "
                         "in grad_outputs", j + 1, nl_shape_str(o));
        }
    }
    for (int j = 0; j < n_in; j++) {
        NL_CHECK_INT(inputs[j] != NULL, "grad: input %d: expected a tensor, got nil", j + 1);
        NL_CHECK_INT(nl_requires_grad(inputs[j]), "grad: input %d (shape %s) does not require grad",
                     j + 1, nl_shape_str(inputs[j]));
        grads[j] = NULL;
    }
    grad_task task = { grads, { NULL, 0 }, false };
    NL_CHECK_INT(task_inputs(&task, n_in, inputs), "grad: out of memory");
    uint64_t prev = nl_custom_pass_enter();
    int rc = run_backward(n_out, outputs, grad_outputs, retain_graph, &task, fn, ctx);
    nl_custom_pass_leave(prev);
    for (int j = 0; j < n_in; j++) {
        int first = want_index(&task, inputs[j]);
        if (rc == 0 && first != j) {        /* given twice: the same gradient */
            grads[j] = grads[first];
            nl_retain(grads[j]);
        }
    }
    if (rc != 0) {
        for (int j = 0; j < n_in; j++) {
            nl_release(grads[j]);
            grads[j] = NULL;
        }
    }
    free(task.at.v);
    return rc;
}
