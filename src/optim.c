/* optim.c — fused optimizer updates: one call applies one step of SGD,
 * Adam / AdamW, RMSprop, Adagrad, Adamax, NAdam, RAdam, Adadelta, Rprop or
 * ASGD to one parameter in place, in one pass,
 * with PyTorch 1.13's single-tensor formulas (torch/optim: sgd.py, adam.py, ...); and
 * gradient clipping by norm. Param groups, step counts, state creation and
 * LR schedules live in lua/nnlua/optim/. Nothing here records autograd nodes. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Elements per thread before another thread pays for itself. */
#define OPTIM_GRAIN (1 << 15)
/* Kernels that take a square root work through a chunk BLOCK elements at a
 * time: one loop writes the radicands to a stack buffer, a vector sqrt runs
 * over it, a second loop finishes the update. sqrtf inside the update loop
 * would keep GCC from vectorizing it (errno), at 4x the cost. */
#define BLOCK 256
/* clip_grad_norm sums fixed chunks and adds the chunks' sums in order, so
 * the norm does not depend on the thread count. */
#define NORM_CHUNK (1 << 14)

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- square roots of a block, in place ----
 * Vector and scalar square roots are both correctly rounded (IEEE 754), so
 * the vector path gives the plain loop's results bit for bit. */

static void sqrt_block_f32(float *x /* (n) */, int n) {
    int i = 0;
#if defined(__AVX__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
#endif
#if defined(__SSE2__)
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#endif
    for (; i < n; i++) x[i] = sqrtf(x[i]);
}

static void sqrt_block_f64(double *x /* (n) */, int n) {
    int i = 0;
#if defined(__AVX__)
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(x + i, _mm256_sqrt_pd(_mm256_loadu_pd(x + i)));
#endif
#if defined(__SSE2__)
    for (; i + 2 <= n; i += 2) _mm_storeu_pd(x + i, _mm_sqrt_pd(_mm_loadu_pd(x + i)));
#endif
    for (; i < n; i++) x[i] = sqrt(x[i]);
}

/* ---- argument checks ---- */

/* param: a float tensor that repeats no element in memory (any other
 * layout is updated through a contiguous copy: done_with, below); grad: of
 * its shape and dtype. */
static bool check_param(const char *op, nl_tensor *param, nl_tensor *grad) {
    if (!param || !grad) {
        nl_set_error("%s: expected a tensor, got nil (%s)", op, param ? "grad" : "parameter");
        return false;
    }
    if (param->dtype != NL_FLOAT32 && param->dtype != NL_FLOAT64) {
        nl_set_error("%s: parameter of dtype %s (optimizers update float32 or float64)",
                     op, nl_dtype_name(param->dtype));
        return false;
    }
    if (nl_repeats_elements(param)) {
        nl_set_error("%s: parameter of shape %s repeats elements in memory (an expanded view); "
                     "clone() it first", op, nl_shape_str(param));
        return false;
    }
    if (!nl_same_shape(param, grad)) {
        nl_set_error("%s: grad of shape %s for a parameter of shape %s",
                     op, nl_shape_str(grad), nl_shape_str(param));
        return false;
    }
    if (grad->dtype != param->dtype) {
        nl_set_error("%s: grad of dtype %s for a %s parameter",
                     op, nl_dtype_name(grad->dtype), nl_dtype_name(param->dtype));
        return false;
    }
    return true;
}

/* A state tensor: contiguous, of param's shape and dtype; NULL only when
 * it is optional here. */
static bool check_state(const char *op, const char *name, nl_tensor *param, nl_tensor *s,
                        bool required) {
    if (!s) {
        if (!required) return true;
        nl_set_error("%s: %s is required here, got nil", op, name);
        return false;
    }
    if (!nl_same_shape(param, s)) {
        nl_set_error("%s: %s of shape %s for a parameter of shape %s",
                     op, name, nl_shape_str(s), nl_shape_str(param));
        return false;
    }
    if (s->dtype != param->dtype) {
        nl_set_error("%s: %s of dtype %s for a %s parameter",
                     op, name, nl_dtype_name(s->dtype), nl_dtype_name(param->dtype));
        return false;
    }
    if (!nl_is_contiguous(s)) {
        nl_set_error("%s: %s of shape %s is not contiguous", op, name, nl_shape_str(s));
        return false;
    }
    if (s->storage == param->storage) {
        nl_set_error("%s: %s shares its storage with the parameter", op, name);
        return false;
    }
    return true;
}

/* param and grad, then one or two required states (name2 NULL: one): how
 * each step opens but SGD's, Adam's and RMSprop's, whose states are optional. */
static bool check_args(const char *op, nl_tensor *param, nl_tensor *grad,
                       const char *name1, nl_tensor *s1, const char *name2, nl_tensor *s2) {
    return check_param(op, param, grad) && check_state(op, name1, param, s1, true) &&
           (!name2 || check_state(op, name2, param, s2, true));
}

static bool check_step(const char *op, int64_t step) {
    if (step >= 1) return true;
    nl_set_error("%s: step must be >= 1, got %lld", op, (long long)step);
    return false;
}

static bool check_betas(const char *op, double beta1, double beta2) {
    if (beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1) return true;
    nl_set_error("%s: betas must lie in [0, 1), got (%g, %g)", op, beta1, beta2);
    return false;
}

/* ---- the update loop ----
 * An update reads its arguments from a struct and processes elements
 * [i0, i0+n) of every buffer; run_update splits the parameter among the
 * threads. Elements are independent, so the thread count changes nothing. */
typedef void (*update_fn)(const void *args, int64_t i0, int64_t n);

static void run_update(update_fn fn, const void *args, int64_t numel) {
    int nt = nl_threads_for(numel, OPTIM_GRAIN);
    int64_t chunk = (numel + nt - 1) / nt;
    chunk = (chunk + 63) / 64 * 64;          /* whole cache lines per thread */
    NL_PARALLEL_FOR(nt, c, nt,
        int64_t start = c * chunk;
        if (start < numel) fn(args, start, min64(chunk, numel - start));
    );
}

static void bump(nl_tensor *t) { if (t) nl_bump_version(t); }

/* run_update with the kernel NAME_f32 or NAME_f64 that param's dtype takes */
#define RUN_KERNEL(NAME, param, args) \
    run_update((param)->dtype == NL_FLOAT32 ? NAME##_f32 : NAME##_f64, (args), (param)->numel)

/* What an update reads and writes: *g the gradient, contiguous, and *w
 * the parameter, or where it is not contiguous (a leaf made from a
 * transposed view, which PyTorch's optimizers update as well) a copy that
 * done_with writes back; 0, or -1 with neither taken. */
static int take_work(nl_tensor *param, nl_tensor *grad, nl_tensor **g, nl_tensor **w) {
    if (!(*g = nl_contiguous(grad))) return -1;
    if (!(*w = nl_contiguous_raw(param))) {
        nl_release(*g);
        return -1;
    }
    return 0;
}

/* Writes w back to param where it is a copy, releases both, and bumps the
 * versions of param and of the states s1 and s2 the update wrote (NULL: none). */
static void done_with(nl_tensor *param, nl_tensor *g, nl_tensor *w, nl_tensor *s1,
                      nl_tensor *s2) {
    nl_release(g);
    if (w != param) nl_copy_raw(param, w);
    nl_release(w);
    bump(param);
    bump(s1);
    bump(s2);
}

/* ---- SGD ----
 * d = grad (+ weight_decay * param)
 * with momentum: buf = d when init_buf (the buffer's first step), else
 *                momentum*buf + (1-dampening)*d;
 *                d = buf, or d + momentum*buf (nesterov)
 * param += -lr * d */
typedef struct {
    void *param;        /* (numel) */
    void *buf;          /* (numel) optional: the momentum buffer */
    const void *grad;   /* (numel) */
    double lr, momentum, dampening, weight_decay;
    bool nesterov, first;
} sgd_args;

#define DEFINE_SGD(SUF, T)                                                    \
    static void sgd_##SUF(const void *args, int64_t i0, int64_t n) {          \
        const sgd_args *a = args;                                             \
        T *p = (T *)a->param + i0;                                            \
        const T *g = (const T *)a->grad + i0;                                 \
        T *b = a->buf ? (T *)a->buf + i0 : NULL;                              \
        const T wd = (T)a->weight_decay, mom = (T)a->momentum;                \
        const T keep = (T)(1 - a->dampening), step = (T)-a->lr;               \
        const bool has_wd = a->weight_decay != 0, first = a->first;           \
        const bool nesterov = a->nesterov;                                    \
        if (!b) {                                                             \
            if (has_wd) for (int64_t i = 0; i < n; i++) p[i] = p[i] + step * (g[i] + wd * p[i]); \
            else for (int64_t i = 0; i < n; i++) p[i] = p[i] + step * g[i];  \
            return;                                                           \
        }                                                                     \
        for (int64_t i = 0; i < n; i++) {                                     \
            T d = has_wd ? g[i] + wd * p[i] : g[i];                           \
            T bi = first ? d : b[i] * mom + keep * d;                         \
            b[i] = bi;                                                        \
            d = nesterov ? d + mom * bi : bi;                                 \
            p[i] = p[i] + step * d;                                           \
        }                                                                     \
    }
DEFINE_SGD(f32, float)
DEFINE_SGD(f64, double)

int nl_sgd_step(nl_tensor *param, nl_tensor *momentum_buf, nl_tensor *grad, double lr,
                double momentum, double dampening, double weight_decay, int nesterov,
                int init_buf) {
    const char *op = "sgd";
    if (!check_param(op, param, grad)) return -1;
    if (!check_state(op, "momentum_buffer", param, momentum_buf, momentum != 0)) return -1;
    /* (a momentum of 0 is a plain step, nesterov or not, as PyTorch's: a
     * momentum schedule, CyclicLR's or OneCycleLR's, may reach 0) */
    NL_CHECK_INT(!nesterov || momentum == 0 || (momentum > 0 && dampening == 0),
                 "%s: Nesterov momentum requires a momentum and zero dampening", op);
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    sgd_args a = {
        .param = w->data, .buf = momentum != 0 ? momentum_buf->data : NULL, .grad = g->data,
        .lr = lr, .momentum = momentum, .dampening = dampening, .weight_decay = weight_decay,
        .nesterov = nesterov != 0, .first = init_buf != 0,
    };
    RUN_KERNEL(sgd, param, &a);
    done_with(param, g, w, NULL, NULL);
    if (momentum != 0) bump(momentum_buf);
    return 0;
}

/* ---- Adam and AdamW ----
 * g = grad (+ weight_decay * param: Adam)     param *= 1 - lr*weight_decay (AdamW)
 * m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g;  amsgrad: vmax = max(vmax, v)
 * param += -(lr / (1-beta1^t)) * m / (sqrt(v or vmax) / sqrt(1-beta2^t) + eps) */
typedef struct {
    void *param, *m, *v;   /* (numel) each */
    void *vmax;            /* (numel) optional: amsgrad */
    const void *grad;      /* (numel) */
    double beta1, beta2, eps;
    double l2;             /* Adam's weight_decay, added to the gradient; 0 for AdamW */
    double decay;          /* AdamW's factor 1 - lr*weight_decay; 1 for Adam */
    double step_size;      /* lr / (1 - beta1^t) */
    double bc2_sqrt;       /* sqrt(1 - beta2^t) */
} adam_args;

#define DEFINE_ADAM(SUF, T)                                                   \
    static void adam_##SUF(const void *args, int64_t i0, int64_t n) {         \
        const adam_args *a = args;                                            \
        T *p = (T *)a->param + i0, *m = (T *)a->m + i0, *v = (T *)a->v + i0;  \
        T *vmax = a->vmax ? (T *)a->vmax + i0 : NULL;                         \
        const T *g = (const T *)a->grad + i0;                                 \
        const T b1 = (T)a->beta1, b2 = (T)a->beta2;                           \
        const T a1 = (T)(1 - a->beta1), a2 = (T)(1 - a->beta2);               \
        const T l2 = (T)a->l2, decay = (T)a->decay, eps = (T)a->eps;          \
        const T bc2 = (T)a->bc2_sqrt, step = (T)-a->step_size;                \
        const bool has_l2 = a->l2 != 0, has_decay = a->decay != 1;            \
        T den[BLOCK];                                                         \
        for (int64_t j = 0; j < n; j += BLOCK) {                              \
            int len = (int)min64(BLOCK, n - j);                               \
            T *pj = p + j, *mj = m + j, *vj = v + j;                          \
            const T *gj = g + j;                                              \
            if (has_decay) for (int k = 0; k < len; k++) pj[k] = pj[k] * decay; \
            for (int k = 0; k < len; k++) {                                   \
                T gk = has_l2 ? gj[k] + l2 * pj[k] : gj[k];                   \
                mj[k] = mj[k] * b1 + a1 * gk;                                 \
                den[k] = vj[k] = vj[k] * b2 + a2 * gk * gk;                   \
            }                                                                 \
            if (vmax) {                                                       \
                T *xj = vmax + j;                                             \
                for (int k = 0; k < len; k++) {                               \
                    T x = xj[k] >= den[k] ? xj[k] : den[k];                   \
                    den[k] = xj[k] = x;                                       \
                }                                                             \
            }                                                                 \
            sqrt_block_##SUF(den, len);                                       \
            for (int k = 0; k < len; k++)                                     \
                pj[k] = pj[k] + step * (mj[k] / (den[k] / bc2 + eps));        \
        }                                                                     \
    }
DEFINE_ADAM(f32, float)
DEFINE_ADAM(f64, double)

int nl_adam_step(nl_tensor *param, nl_tensor *exp_avg, nl_tensor *exp_avg_sq,
                 nl_tensor *max_exp_avg_sq, nl_tensor *grad, double lr, double beta1,
                 double beta2, double eps, double weight_decay, int decoupled, int64_t step) {
    const char *op = decoupled ? "adamw" : "adam";
    if (!check_param(op, param, grad)) return -1;
    if (!check_state(op, "exp_avg", param, exp_avg, true)) return -1;
    if (!check_state(op, "exp_avg_sq", param, exp_avg_sq, true)) return -1;
    if (!check_state(op, "max_exp_avg_sq", param, max_exp_avg_sq, false)) return -1;
    if (!check_step(op, step) || !check_betas(op, beta1, beta2)) return -1;
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    double t = (double)step;
    adam_args a = {
        .param = w->data, .m = exp_avg->data, .v = exp_avg_sq->data,
        .vmax = max_exp_avg_sq ? max_exp_avg_sq->data : NULL, .grad = g->data,
        .beta1 = beta1, .beta2 = beta2, .eps = eps,
        .l2 = decoupled ? 0 : weight_decay,
        .decay = decoupled ? 1 - lr * weight_decay : 1,
        .step_size = lr / (1 - pow(beta1, t)),
        .bc2_sqrt = sqrt(1 - pow(beta2, t)),
    };
    RUN_KERNEL(adam, param, &a);
    done_with(param, g, w, exp_avg, exp_avg_sq);
    bump(max_exp_avg_sq);
    return 0;
}

/* ---- RMSprop ----
 * g = grad (+ weight_decay * param)
 * sq = alpha*sq + (1-alpha)*g*g
 * avg = sqrt(sq) + eps, or centered: ga = alpha*ga + (1-alpha)*g, avg = sqrt(sq - ga*ga) + eps
 * momentum > 0: buf = momentum*buf + g/avg, param += -lr*buf;  else param += -lr * g/avg */
typedef struct {
    void *param, *sq;      /* (numel) each */
    void *buf;             /* (numel) optional: momentum buffer */
    void *gavg;            /* (numel) optional: centered */
    const void *grad;      /* (numel) */
    double lr, alpha, eps, weight_decay, momentum;
} rmsprop_args;

#define DEFINE_RMSPROP(SUF, T)                                                \
    static void rmsprop_##SUF(const void *args, int64_t i0, int64_t n) {      \
        const rmsprop_args *a = args;                                         \
        T *p = (T *)a->param + i0, *sq = (T *)a->sq + i0;                     \
        T *buf = a->buf ? (T *)a->buf + i0 : NULL;                            \
        T *ga = a->gavg ? (T *)a->gavg + i0 : NULL;                           \
        const T *g = (const T *)a->grad + i0;                                 \
        const T al = (T)a->alpha, a1 = (T)(1 - a->alpha), eps = (T)a->eps;    \
        const T wd = (T)a->weight_decay, mom = (T)a->momentum, step = (T)-a->lr; \
        const bool has_wd = a->weight_decay != 0;                             \
        T den[BLOCK];                                                         \
        for (int64_t j = 0; j < n; j += BLOCK) {                              \
            int len = (int)min64(BLOCK, n - j);                               \
            T *pj = p + j, *sqj = sq + j;                                     \
            const T *gj = g + j;                                              \
            for (int k = 0; k < len; k++) {                                   \
                T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];                   \
                den[k] = sqj[k] = sqj[k] * al + a1 * gk * gk;                 \
            }                                                                 \
            if (ga) {                                                         \
                T *gaj = ga + j;                                              \
                for (int k = 0; k < len; k++) {                               \
                    T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];               \
                    T x = gaj[k] = gaj[k] * al + a1 * gk;                     \
                    /* inf - inf (a gradient past ~1e19 in float32) keeps \
                     * inf, as PyTorch's fused addcmul: the step is 0, not NaN */ \
                    T d = den[k] - x * x;                                     \
                    den[k] = d == d ? d : den[k];                             \
                }                                                             \
            }                                                                 \
            sqrt_block_##SUF(den, len);                                       \
            if (buf) {                                                        \
                T *bj = buf + j;                                              \
                for (int k = 0; k < len; k++) {                               \
                    T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];               \
                    bj[k] = bj[k] * mom + gk / (den[k] + eps);                \
                    pj[k] = pj[k] + step * bj[k];                             \
                }                                                             \
            } else {                                                          \
                for (int k = 0; k < len; k++) {                               \
                    T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];               \
                    pj[k] = pj[k] + step * (gk / (den[k] + eps));             \
                }                                                             \
            }                                                                 \
        }                                                                     \
    }
DEFINE_RMSPROP(f32, float)
DEFINE_RMSPROP(f64, double)

int nl_rmsprop_step(nl_tensor *param, nl_tensor *square_avg, nl_tensor *momentum_buf,
                    nl_tensor *grad_avg, nl_tensor *grad, double lr, double alpha, double eps,
                    double weight_decay, double momentum) {
    const char *op = "rmsprop";
    if (!check_param(op, param, grad)) return -1;
    if (!check_state(op, "square_avg", param, square_avg, true)) return -1;
    if (!check_state(op, "momentum_buffer", param, momentum_buf, momentum > 0)) return -1;
    if (!check_state(op, "grad_avg", param, grad_avg, false)) return -1;
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    rmsprop_args a = {
        .param = w->data, .sq = square_avg->data,
        .buf = momentum > 0 ? momentum_buf->data : NULL,
        .gavg = grad_avg ? grad_avg->data : NULL, .grad = g->data,
        .lr = lr, .alpha = alpha, .eps = eps, .weight_decay = weight_decay, .momentum = momentum,
    };
    RUN_KERNEL(rmsprop, param, &a);
    done_with(param, g, w, square_avg, NULL);
    if (momentum > 0) bump(momentum_buf);
    bump(grad_avg);
    return 0;
}

/* ---- Adagrad ----
 * g = grad (+ weight_decay * param);  sum += g*g
 * param += -(lr / (1 + (t-1)*lr_decay)) * g / (sqrt(sum) + eps) */
typedef struct {
    void *param, *sum;     /* (numel) each */
    const void *grad;      /* (numel) */
    double clr, weight_decay, eps;
} adagrad_args;

#define DEFINE_ADAGRAD(SUF, T)                                                \
    static void adagrad_##SUF(const void *args, int64_t i0, int64_t n) {      \
        const adagrad_args *a = args;                                         \
        T *p = (T *)a->param + i0, *s = (T *)a->sum + i0;                     \
        const T *g = (const T *)a->grad + i0;                                 \
        const T wd = (T)a->weight_decay, eps = (T)a->eps, step = (T)-a->clr;  \
        const bool has_wd = a->weight_decay != 0;                             \
        T den[BLOCK];                                                         \
        for (int64_t j = 0; j < n; j += BLOCK) {                              \
            int len = (int)min64(BLOCK, n - j);                               \
            T *pj = p + j, *sj = s + j;                                       \
            const T *gj = g + j;                                              \
            for (int k = 0; k < len; k++) {                                   \
                T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];                   \
                den[k] = sj[k] = sj[k] + gk * gk;                             \
            }                                                                 \
            sqrt_block_##SUF(den, len);                                       \
            for (int k = 0; k < len; k++) {                                   \
                T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];                   \
                pj[k] = pj[k] + step * (gk / (den[k] + eps));                 \
            }                                                                 \
        }                                                                     \
    }
DEFINE_ADAGRAD(f32, float)
DEFINE_ADAGRAD(f64, double)

int nl_adagrad_step(nl_tensor *param, nl_tensor *state_sum, nl_tensor *grad, double lr,
                    double lr_decay, double weight_decay, double eps, int64_t step) {
    const char *op = "adagrad";
    if (!check_args(op, param, grad, "sum", state_sum, NULL, NULL)) return -1;
    if (!check_step(op, step)) return -1;
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    adagrad_args a = {
        .param = w->data, .sum = state_sum->data, .grad = g->data,
        .clr = lr / (1 + (double)(step - 1) * lr_decay),
        .weight_decay = weight_decay, .eps = eps,
    };
    RUN_KERNEL(adagrad, param, &a);
    done_with(param, g, w, state_sum, NULL);
    return 0;
}

/* ---- Adamax ----
 * g = grad (+ weight_decay * param)
 * m = beta1*m + (1-beta1)*g;  u = max(beta2*u, |g| + eps)   (a NaN in either wins, as amax)
 * param += (-(lr / (1-beta1^t)) * m) / u */
typedef struct {
    void *param, *m, *u;   /* (numel) each */
    const void *grad;      /* (numel) */
    double beta1, beta2, eps, weight_decay;
    double clr;            /* lr / (1 - beta1^t) */
} adamax_args;

#define DEFINE_ADAMAX(SUF, T, ABS)                                            \
    static void adamax_##SUF(const void *args, int64_t i0, int64_t n) {       \
        const adamax_args *a = args;                                          \
        T *p = (T *)a->param + i0, *m = (T *)a->m + i0, *u = (T *)a->u + i0;  \
        const T *g = (const T *)a->grad + i0;                                 \
        const T b1 = (T)a->beta1, b2 = (T)a->beta2, a1 = (T)(1 - a->beta1);   \
        const T eps = (T)a->eps, wd = (T)a->weight_decay, step = (T)-a->clr;  \
        const bool has_wd = a->weight_decay != 0;                             \
        for (int64_t i = 0; i < n; i++) {                                     \
            T gi = has_wd ? g[i] + wd * p[i] : g[i];                          \
            T mi = m[i] = m[i] * b1 + a1 * gi;                                \
            T x = u[i] * b2, y = ABS(gi) + eps;                               \
            T ui = u[i] = (x > y || x != x) ? x : y;                          \
            p[i] = p[i] + step * mi / ui;                                     \
        }                                                                     \
    }
DEFINE_ADAMAX(f32, float, fabsf)
DEFINE_ADAMAX(f64, double, fabs)

int nl_adamax_step(nl_tensor *param, nl_tensor *exp_avg, nl_tensor *exp_inf, nl_tensor *grad,
                   double lr, double beta1, double beta2, double eps, double weight_decay,
                   int64_t step) {
    const char *op = "adamax";
    if (!check_args(op, param, grad, "exp_avg", exp_avg, "exp_inf", exp_inf)) return -1;
    if (!check_step(op, step) || !check_betas(op, beta1, beta2)) return -1;
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    adamax_args a = {
        .param = w->data, .m = exp_avg->data, .u = exp_inf->data, .grad = g->data,
        .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay,
        .clr = lr / (1 - pow(beta1, (double)step)),
    };
    RUN_KERNEL(adamax, param, &a);
    done_with(param, g, w, exp_avg, exp_inf);
    return 0;
}

/* ---- NAdam ----
 * g = grad (+ weight_decay * param)
 * m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g;  d = sqrt(v / (1-beta2^t)) + eps
 * param += (c1 * g) / d;  param += (c2 * m) / d
 * with mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay)), mu_product *= mu_t,
 * c1 = -lr (1 - mu_t) / (1 - mu_product),
 * c2 = -lr mu_{t+1} / (1 - mu_product mu_t mu_{t+1}): PyTorch 1.13's
 * mu_product_next counts mu_t twice (nadam.py), and its mu_product is a
 * float32 tensor whatever the parameter's dtype, rounded at each product;
 * both kept here, so float64 runs follow 1.13's to the last bits. */
typedef struct {
    void *param, *m, *v;   /* (numel) each */
    const void *grad;      /* (numel) */
    double beta1, beta2, eps, weight_decay;
    double bc2;            /* 1 - beta2^t */
    double c1, c2;
} nadam_args;

#define DEFINE_NADAM(SUF, T)                                                  \
    static void nadam_##SUF(const void *args, int64_t i0, int64_t n) {        \
        const nadam_args *a = args;                                           \
        T *p = (T *)a->param + i0, *m = (T *)a->m + i0, *v = (T *)a->v + i0;  \
        const T *g = (const T *)a->grad + i0;                                 \
        const T b1 = (T)a->beta1, b2 = (T)a->beta2;                           \
        const T a1 = (T)(1 - a->beta1), a2 = (T)(1 - a->beta2);               \
        const T eps = (T)a->eps, wd = (T)a->weight_decay, bc2 = (T)a->bc2;    \
        const T c1 = (T)a->c1, c2 = (T)a->c2;                                 \
        const bool has_wd = a->weight_decay != 0;                             \
        T den[BLOCK];                                                         \
        for (int64_t j = 0; j < n; j += BLOCK) {                              \
            int len = (int)min64(BLOCK, n - j);                               \
            T *pj = p + j, *mj = m + j, *vj = v + j;                          \
            const T *gj = g + j;                                              \
            for (int k = 0; k < len; k++) {                                   \
                T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];                   \
                mj[k] = mj[k] * b1 + a1 * gk;                                 \
                vj[k] = vj[k] * b2 + a2 * gk * gk;                            \
                den[k] = vj[k] / bc2;                                         \
            }                                                                 \
            sqrt_block_##SUF(den, len);                                       \
            for (int k = 0; k < len; k++) {                                   \
                T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];                   \
                T d = den[k] + eps;                                           \
                T pk = pj[k] + c1 * gk / d;                                   \
                pj[k] = pk + c2 * mj[k] / d;                                  \
            }                                                                 \
        }                                                                     \
    }
DEFINE_NADAM(f32, float)
DEFINE_NADAM(f64, double)

int nl_nadam_step(nl_tensor *param, nl_tensor *exp_avg, nl_tensor *exp_avg_sq, nl_tensor *grad,
                  double lr, double beta1, double beta2, double eps, double weight_decay,
                  double momentum_decay, double *mu_product, int64_t step) {
    const char *op = "nadam";
    if (!check_args(op, param, grad, "exp_avg", exp_avg, "exp_avg_sq", exp_avg_sq)) return -1;
    NL_CHECK_INT(mu_product != NULL, "%s: mu_product is required, got NULL", op);
    if (!check_step(op, step) || !check_betas(op, beta1, beta2)) return -1;
    double t = (double)step;
    double mu = beta1 * (1 - 0.5 * pow(0.96, t * momentum_decay));
    double mu_next = beta1 * (1 - 0.5 * pow(0.96, (t + 1) * momentum_decay));
    float prod = (float)*mu_product * (float)mu;          /* float32 products, as 1.13's */
    float prod_next = prod * (float)mu * (float)mu_next;
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    nadam_args a = {
        .param = w->data, .m = exp_avg->data, .v = exp_avg_sq->data, .grad = g->data,
        .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay,
        .bc2 = 1 - pow(beta2, t),
        .c1 = -lr * (1 - mu) / (1 - (double)prod),
        .c2 = -lr * mu_next / (1 - (double)prod_next),
    };
    RUN_KERNEL(nadam, param, &a);
    done_with(param, g, w, exp_avg, exp_avg_sq);
    *mu_product = prod;
    return 0;
}

/* ---- RAdam ----
 * g = grad (+ weight_decay * param)
 * m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g;  mc = m / (1-beta1^t)
 * rho_inf = 2/(1-beta2) - 1,  rho_t = rho_inf - 2 t beta2^t / (1-beta2^t)
 * rho_t > 5: param -= ((mc*lr) * (sqrt(1-beta2^t) / (sqrt(v) + eps))) * rect,
 *            rect = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
 * else:      param -= mc*lr */
typedef struct {
    void *param, *m, *v;   /* (numel) each */
    const void *grad;      /* (numel) */
    double lr, beta1, beta2, eps, weight_decay;
    double bc1;            /* 1 - beta1^t */
    double bc2_sqrt;       /* sqrt(1 - beta2^t) */
    double rect;           /* the rectification term; 0: rho_t <= 5, no adaptive step */
} radam_args;

#define DEFINE_RADAM(SUF, T)                                                  \
    static void radam_##SUF(const void *args, int64_t i0, int64_t n) {        \
        const radam_args *a = args;                                           \
        T *p = (T *)a->param + i0, *m = (T *)a->m + i0, *v = (T *)a->v + i0;  \
        const T *g = (const T *)a->grad + i0;                                 \
        const T b1 = (T)a->beta1, b2 = (T)a->beta2;                           \
        const T a1 = (T)(1 - a->beta1), a2 = (T)(1 - a->beta2);               \
        const T eps = (T)a->eps, wd = (T)a->weight_decay, lr = (T)a->lr;      \
        const T bc1 = (T)a->bc1, bc2 = (T)a->bc2_sqrt, rect = (T)a->rect;     \
        const bool has_wd = a->weight_decay != 0, adaptive = a->rect != 0;    \
        T den[BLOCK];                                                         \
        for (int64_t j = 0; j < n; j += BLOCK) {                              \
            int len = (int)min64(BLOCK, n - j);                               \
            T *pj = p + j, *mj = m + j, *vj = v + j;                          \
            const T *gj = g + j;                                              \
            for (int k = 0; k < len; k++) {                                   \
                T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];                   \
                mj[k] = mj[k] * b1 + a1 * gk;                                 \
                den[k] = vj[k] = vj[k] * b2 + a2 * gk * gk;                   \
            }                                                                 \
            if (!adaptive) {                                                  \
                for (int k = 0; k < len; k++) pj[k] = pj[k] - mj[k] / bc1 * lr; \
                continue;                                                     \
            }                                                                 \
            sqrt_block_##SUF(den, len);                                       \
            for (int k = 0; k < len; k++)                                     \
                pj[k] = pj[k] - mj[k] / bc1 * lr * (bc2 / (den[k] + eps)) * rect; \
        }                                                                     \
    }
DEFINE_RADAM(f32, float)
DEFINE_RADAM(f64, double)

int nl_radam_step(nl_tensor *param, nl_tensor *exp_avg, nl_tensor *exp_avg_sq, nl_tensor *grad,
                  double lr, double beta1, double beta2, double eps, double weight_decay,
                  int64_t step) {
    const char *op = "radam";
    if (!check_args(op, param, grad, "exp_avg", exp_avg, "exp_avg_sq", exp_avg_sq)) return -1;
    if (!check_step(op, step) || !check_betas(op, beta1, beta2)) return -1;
    double t = (double)step, bc2 = 1 - pow(beta2, t);
    double rho_inf = 2 / (1 - beta2) - 1;
    double rho_t = rho_inf - 2 * t * pow(beta2, t) / bc2;
    double rect = 0;
    if (rho_t > 5)
        rect = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t));
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    radam_args a = {
        .param = w->data, .m = exp_avg->data, .v = exp_avg_sq->data, .grad = g->data,
        .lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay,
        .bc1 = 1 - pow(beta1, t), .bc2_sqrt = sqrt(bc2), .rect = rect,
    };
    RUN_KERNEL(radam, param, &a);
    done_with(param, g, w, exp_avg, exp_avg_sq);
    return 0;
}

/* ---- Adadelta ----
 * g = grad (+ weight_decay * param)
 * sq = rho*sq + (1-rho)*g*g;  delta = sqrt(acc + eps) / sqrt(sq + eps) * g
 * acc = rho*acc + (1-rho)*delta*delta;  param += -lr * delta */
typedef struct {
    void *param, *sq, *acc;   /* (numel) each */
    const void *grad;         /* (numel) */
    double lr, rho, eps, weight_decay;
} adadelta_args;

#define DEFINE_ADADELTA(SUF, T)                                               \
    static void adadelta_##SUF(const void *args, int64_t i0, int64_t n) {     \
        const adadelta_args *a = args;                                        \
        T *p = (T *)a->param + i0, *sq = (T *)a->sq + i0;                     \
        T *acc = (T *)a->acc + i0;                                            \
        const T *g = (const T *)a->grad + i0;                                 \
        const T rho = (T)a->rho, r1 = (T)(1 - a->rho), eps = (T)a->eps;       \
        const T wd = (T)a->weight_decay, step = (T)-a->lr;                    \
        const bool has_wd = a->weight_decay != 0;                             \
        T num[BLOCK], den[BLOCK];                                             \
        for (int64_t j = 0; j < n; j += BLOCK) {                              \
            int len = (int)min64(BLOCK, n - j);                               \
            T *pj = p + j, *sqj = sq + j, *accj = acc + j;                    \
            const T *gj = g + j;                                              \
            for (int k = 0; k < len; k++) {                                   \
                T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];                   \
                sqj[k] = sqj[k] * rho + r1 * gk * gk;                         \
                den[k] = sqj[k] + eps;                                        \
                num[k] = accj[k] + eps;                                       \
            }                                                                 \
            sqrt_block_##SUF(den, len);                                       \
            sqrt_block_##SUF(num, len);                                       \
            for (int k = 0; k < len; k++) {                                   \
                T gk = has_wd ? gj[k] + wd * pj[k] : gj[k];                   \
                T d = num[k] / den[k] * gk;                                   \
                accj[k] = accj[k] * rho + r1 * d * d;                         \
                pj[k] = pj[k] + step * d;                                     \
            }                                                                 \
        }                                                                     \
    }
DEFINE_ADADELTA(f32, float)
DEFINE_ADADELTA(f64, double)

int nl_adadelta_step(nl_tensor *param, nl_tensor *square_avg, nl_tensor *acc_delta,
                     nl_tensor *grad, double lr, double rho, double eps, double weight_decay) {
    const char *op = "adadelta";
    if (!check_args(op, param, grad, "square_avg", square_avg, "acc_delta", acc_delta)) return -1;
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    adadelta_args a = {
        .param = w->data, .sq = square_avg->data, .acc = acc_delta->data, .grad = g->data,
        .lr = lr, .rho = rho, .eps = eps, .weight_decay = weight_decay,
    };
    RUN_KERNEL(adadelta, param, &a);
    done_with(param, g, w, square_avg, acc_delta);
    return 0;
}

/* ---- Rprop ----
 * s = sign(grad * prev) (0 for NaN, as torch.sign);
 * step_size = clamp(step_size * (s > 0: etaplus, s < 0: etaminus, else 1), min, max)
 * where s < 0 the gradient counts as 0: param -= sign(g) * step_size, prev = g */
typedef struct {
    void *param, *prev, *step_size;   /* (numel) each */
    const void *grad;                 /* (numel) */
    double etaminus, etaplus, step_min, step_max;
} rprop_args;

#define DEFINE_RPROP(SUF, T)                                                  \
    static void rprop_##SUF(const void *args, int64_t i0, int64_t n) {        \
        const rprop_args *a = args;                                           \
        T *p = (T *)a->param + i0, *prev = (T *)a->prev + i0;                 \
        T *ss = (T *)a->step_size + i0;                                       \
        const T *g = (const T *)a->grad + i0;                                 \
        const T em = (T)a->etaminus, ep = (T)a->etaplus;                      \
        const T lo = (T)a->step_min, hi = (T)a->step_max;                     \
        for (int64_t i = 0; i < n; i++) {                                     \
            T s = g[i] * prev[i], gi = g[i];                                  \
            T f = s > 0 ? ep : (s < 0 ? em : (T)1);                           \
            T x = ss[i] * f;                                                  \
            x = x < lo ? lo : x;                                              \
            x = x > hi ? hi : x;                                              \
            ss[i] = x;                                                        \
            if (s < 0) gi = 0;                                                \
            T sg = (T)((gi > 0) - (gi < 0));                                  \
            p[i] = p[i] - sg * x;                                             \
            prev[i] = gi;                                                     \
        }                                                                     \
    }
DEFINE_RPROP(f32, float)
DEFINE_RPROP(f64, double)

int nl_rprop_step(nl_tensor *param, nl_tensor *prev, nl_tensor *step_size, nl_tensor *grad,
                  double etaminus, double etaplus, double step_size_min, double step_size_max) {
    const char *op = "rprop";
    if (!check_args(op, param, grad, "prev", prev, "step_size", step_size)) return -1;
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    rprop_args a = {
        .param = w->data, .prev = prev->data, .step_size = step_size->data, .grad = g->data,
        .etaminus = etaminus, .etaplus = etaplus, .step_min = step_size_min, .step_max = step_size_max,
    };
    RUN_KERNEL(rprop, param, &a);
    done_with(param, g, w, prev, step_size);
    return 0;
}

/* ---- ASGD ----
 * g = grad (+ weight_decay * param)
 * param *= 1 - lambd*eta;  param += -eta * g
 * ax = param (mu = 1), else ax += (param - ax) * mu
 * then eta = lr / (1 + lambd*lr*t)^alpha, mu = 1 / max(1, t - t0): the
 * next step's, rounded to float32 as 1.13's state tensors are whatever
 * the parameter's dtype. */
typedef struct {
    void *param, *ax;      /* (numel) each */
    const void *grad;      /* (numel) */
    double decay;          /* 1 - lambd*eta */
    double eta, mu, weight_decay;
} asgd_args;

#define DEFINE_ASGD(SUF, T)                                                   \
    static void asgd_##SUF(const void *args, int64_t i0, int64_t n) {         \
        const asgd_args *a = args;                                            \
        T *p = (T *)a->param + i0, *ax = (T *)a->ax + i0;                     \
        const T *g = (const T *)a->grad + i0;                                 \
        const T decay = (T)a->decay, step = (T)-a->eta, mu = (T)a->mu;        \
        const T wd = (T)a->weight_decay;                                      \
        const bool has_wd = a->weight_decay != 0, copy = a->mu == 1;          \
        for (int64_t i = 0; i < n; i++) {                                     \
            T gi = has_wd ? g[i] + wd * p[i] : g[i];                          \
            T pi = p[i] * decay;                                              \
            pi = pi + step * gi;                                              \
            p[i] = pi;                                                        \
            ax[i] = copy ? pi : ax[i] + (pi - ax[i]) * mu;                    \
        }                                                                     \
    }
DEFINE_ASGD(f32, float)
DEFINE_ASGD(f64, double)

int nl_asgd_step(nl_tensor *param, nl_tensor *ax, nl_tensor *grad, double lr, double lambd,
                 double alpha, double t0, double weight_decay, double *eta, double *mu,
                 int64_t step) {
    const char *op = "asgd";
    if (!check_args(op, param, grad, "ax", ax, NULL, NULL)) return -1;
    NL_CHECK_INT(eta != NULL && mu != NULL, "%s: eta and mu are required, got NULL", op);
    if (!check_step(op, step)) return -1;
    nl_tensor *g, *w;
    if (take_work(param, grad, &g, &w) != 0) return -1;
    asgd_args a = {
        .param = w->data, .ax = ax->data, .grad = g->data,
        .decay = 1 - lambd * *eta, .eta = *eta, .mu = *mu, .weight_decay = weight_decay,
    };
    RUN_KERNEL(asgd, param, &a);
    done_with(param, g, w, ax, NULL);
    double t = (double)step, past = t - t0;
    *eta = (float)(lr / pow(1 + lambd * lr * t, alpha));
    *mu = (float)(1 / (past > 1 ? past : 1));
    return 0;
}

/* ---- gradient clipping ----
 * total = (sum over all elements of |g|^p)^(1/p), max |g| for p = inf;
 * each tensor's part is summed in double over fixed chunks. PyTorch
 * (clip_grad_norm_) then multiplies every grad by min(1, max_norm/(total+1e-6)). */

/* sum of |x|^p (p = 2 and 1 spelled out), or max |x| when p is inf */
#define DEFINE_NORM_RUN(SUF, T)                                               \
    static double norm_run_##SUF(const T *x, int64_t n, double p) {           \
        double acc = 0;                                                       \
        if (isinf(p)) {                                                       \
            for (int64_t i = 0; i < n; i++) {                                 \
                double a = fabs((double)x[i]);                                \
                if (a != a) return a;          /* NaN wins, and stays */      \
                if (a > acc) acc = a;                                         \
            }                                                                 \
        } else if (p == 2) {                                                  \
            for (int64_t i = 0; i < n; i++) acc += (double)x[i] * (double)x[i]; \
        } else if (p == 1) {                                                  \
            for (int64_t i = 0; i < n; i++) acc += fabs((double)x[i]);        \
        } else {                                                              \
            for (int64_t i = 0; i < n; i++) acc += pow(fabs((double)x[i]), p); \
        }                                                                     \
        return acc;                                                           \
    }
DEFINE_NORM_RUN(f32, float)
DEFINE_NORM_RUN(f64, double)

static double combine(double acc, double part, double p) {
    if (isinf(p)) return (part > acc || part != part) ? part : acc;
    return acc + part;
}

/* sum of |g|^p (or max |g|) over one contiguous tensor */
static double tensor_norm_part(const nl_tensor *t, double p) {
    int64_t n = t->numel, nchunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    int nt = nl_threads_for(n, OPTIM_GRAIN);
    if (nt <= 1 || nchunks <= 1) {
        double acc = 0;
        for (int64_t c = 0; c < nchunks; c++) {
            int64_t s = c * NORM_CHUNK, len = min64(NORM_CHUNK, n - s);
            double part = t->dtype == NL_FLOAT32 ? norm_run_f32((const float *)t->data + s, len, p)
                                                 : norm_run_f64((const double *)t->data + s, len, p);
            acc = combine(acc, part, p);
        }
        return acc;
    }
    double *parts = malloc(sizeof(double) * nchunks);
    if (!parts) return NAN;
    NL_PARALLEL_FOR(nt, c, nchunks,
        int64_t s = c * NORM_CHUNK, len = min64(NORM_CHUNK, n - s);
        parts[c] = t->dtype == NL_FLOAT32 ? norm_run_f32((const float *)t->data + s, len, p)
                                          : norm_run_f64((const double *)t->data + s, len, p);
    );
    double acc = 0;
    for (int64_t c = 0; c < nchunks; c++) acc = combine(acc, parts[c], p);
    free(parts);
    return acc;
}

typedef struct {
    void *x;        /* (numel) */
    double s;
} scale_args;

#define DEFINE_SCALE(SUF, T)                                                  \
    static void scale_##SUF(const void *args, int64_t i0, int64_t n) {        \
        const scale_args *a = args;                                           \
        T *x = (T *)a->x + i0;                                                \
        const T s = (T)a->s;                                                  \
        for (int64_t i = 0; i < n; i++) x[i] = x[i] * s;                      \
    }
DEFINE_SCALE(f32, float)
DEFINE_SCALE(f64, double)

int nl_clip_grad_norm(int n, nl_tensor *const *grads, double max_norm, double norm_type,
                      int error_if_nonfinite, double *total_norm) {
    const char *op = "clip_grad_norm";
    NL_CHECK_INT(n >= 0 && (n == 0 || grads), "%s: expected a list of gradients", op);
    NL_CHECK_INT(norm_type > 0, "%s: norm_type must be > 0 (or inf), got %g", op, norm_type);
    NL_CHECK_INT(!isnan(max_norm), "%s: max_norm is NaN", op);
    for (int i = 0; i < n; i++) {
        NL_CHECK_INT(grads[i] != NULL, "%s: gradient %d is nil", op, i + 1);
        NL_CHECK_INT(grads[i]->dtype == NL_FLOAT32 || grads[i]->dtype == NL_FLOAT64,
                     "%s: gradient %d of dtype %s (expected float32 or float64)",
                     op, i + 1, nl_dtype_name(grads[i]->dtype));
    }
    double acc = 0;
    for (int i = 0; i < n; i++) {
        nl_tensor *g = nl_contiguous(grads[i]);
        if (!g) return -1;
        acc = combine(acc, tensor_norm_part(g, norm_type), norm_type);
        nl_release(g);
    }
    double total = isinf(norm_type) ? acc : pow(acc, 1 / norm_type);
    if (total_norm) *total_norm = total;
    /* (1.13's message; the caller asked for it not to be scaled by NaN) */
    NL_CHECK_INT(!error_if_nonfinite || isfinite(total),
                 "%s: the total norm of order %g for gradients from parameters is non-finite (%g), so it cannot "
                 "be clipped; to scale the gradients by the non-finite norm anyway, set error_if_nonfinite = false",
                 op, norm_type, total);
    double coef = max_norm / (total + 1e-6);
    if (coef >= 1) return 0;      /* PyTorch clamps coef to 1: a no-op (NaN scales) */
    for (int i = 0; i < n; i++) {
        nl_tensor *g = grads[i];
        if (nl_is_contiguous(g)) {
            scale_args a = { g->data, coef };
            run_update(g->dtype == NL_FLOAT32 ? scale_f32 : scale_f64, &a, g->numel);
            nl_bump_version(g);
        } else if (nl_binary_scalar_(NL_OP_MUL, g, coef) != 0) {
            return -1;
        }
    }
    return 0;
}
