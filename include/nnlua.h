/* nnlua.h — the public C API of the nnlua runtime.
 *
 * Tensors, their ops and the settings of the runtime. This header is also the
 * single source of the LuaJIT FFI declarations: everything between the
 * NL_CDEF_BEGIN and NL_CDEF_END markers is fed to ffi.cdef as it stands
 * (the build extracts it into lua/nnlua/cdef.lua), so that part holds no
 * macros, no #if and no inline code.
 *
 * Conventions
 *   - Every function that makes a tensor returns a new reference, or NULL on
 *     error; every function that returns int returns 0 on success and -1 on
 *     error. After an error, nl_error() gives a message that names the op and
 *     the shapes ("matmul: shapes [4,3] and [4,5] do not align"). Nothing in
 *     the library aborts or exits.
 *   - Dimensions and indices are 0-based here (the Lua layer is 1-based);
 *     negative dims count from the end. Functions that read or write index
 *     tensors take an index `base` (0 for C, 1 for Lua).
 *   - Tensors are reference counted: nl_retain / nl_release. Views share the
 *     storage of the tensor they were taken from.
 *
 * A first program:
 *
 *     int64_t sz[2] = {2, 3};
 *     nl_tensor *a = nl_full(2, sz, 1.5, NL_FLOAT32);
 *     nl_tensor *b = nl_binary_scalar(NL_OP_MUL, a, 2.0, 0);   // a * 2
 *     nl_tensor *s = nl_reduce_all(NL_OP_SUM, b, 0);           // 18
 *     printf("%g\n", ((float *)s->data)[0]);
 *     nl_release(s); nl_release(b); nl_release(a);
 */
#ifndef NNLUA_H
#define NNLUA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NL_MAX_DIMS 8
#define NL_VERSION_STRING "0.1.0"

/* NL_CDEF_BEGIN */

/* ---- dtypes ------------------------------------------------------------ */

typedef enum {
    NL_FLOAT32 = 0,
    NL_FLOAT64 = 1,
    NL_INT64 = 2,
    NL_DTYPE_COUNT = 3
} nl_dtype;

/* ---- ops ---------------------------------------------------------------
 * One enum for every op the runtime knows; nl_op_name() gives its name.
 * New ops go at the end, before NL_OP_COUNT. */
typedef enum {
    /* binary elementwise, numpy broadcasting */
    NL_OP_ADD = 0, NL_OP_SUB, NL_OP_MUL, NL_OP_DIV, NL_OP_POW,
    NL_OP_MAXIMUM, NL_OP_MINIMUM,
    NL_OP_EQ, NL_OP_NE, NL_OP_LT, NL_OP_LE, NL_OP_GT, NL_OP_GE,
    /* unary elementwise */
    NL_OP_NEG, NL_OP_EXP, NL_OP_LOG, NL_OP_SQRT, NL_OP_ABS,
    NL_OP_RELU, NL_OP_SIGMOID, NL_OP_TANH, NL_OP_CLAMP,
    /* reductions */
    NL_OP_SUM, NL_OP_MEAN, NL_OP_MAX, NL_OP_MIN, NL_OP_ARGMAX, NL_OP_ARGMIN,
    /* along a dim */
    NL_OP_SOFTMAX, NL_OP_LOG_SOFTMAX,
    /* linear algebra */
    NL_OP_MATMUL,
    /* shape and data movement */
    NL_OP_VIEW, NL_OP_TRANSPOSE, NL_OP_PERMUTE, NL_OP_NARROW, NL_OP_SELECT,
    NL_OP_EXPAND, NL_OP_CONTIGUOUS, NL_OP_CAT, NL_OP_STACK,
    NL_OP_INDEX_SELECT, NL_OP_WHERE, NL_OP_TO_DTYPE,
    /* activations (unary; leaky_relu takes its slope) */
    NL_OP_GELU, NL_OP_SILU, NL_OP_LEAKY_RELU,
    /* losses */
    NL_OP_CROSS_ENTROPY, NL_OP_NLL_LOSS,
    /* vision and sequence layers */
    NL_OP_CONV2D, NL_OP_MAX_POOL2D, NL_OP_AVG_POOL2D, NL_OP_ADAPTIVE_AVG_POOL2D,
    NL_OP_LSTM_CELL, NL_OP_GRU_CELL, NL_OP_RNN_CELL,
    /* more unary math */
    NL_OP_SIN, NL_OP_COS,
    /* conv2d, a 2x2 max pool and optionally ReLU as one op (nl_conv2d_pool) */
    NL_OP_CONV2D_POOL,
    /* x @ weight^T + bias, optionally ReLU, as one op (nl_linear) */
    NL_OP_LINEAR,
    /* rounding to an integer value, float in and out (int64 passes); the
     * gradient is zero, as in PyTorch. round: halves to even. */
    NL_OP_FLOOR, NL_OP_CEIL, NL_OP_ROUND, NL_OP_TRUNC,
    /* mean squared error, summed or averaged, as one op (nl_mse_loss) */
    NL_OP_MSE_LOSS,
    /* binary cross-entropy on probabilities, optionally weighted (nl_bce_loss) */
    NL_OP_BCE_LOSS,
    /* PyTorch's GELU with approximate = 'tanh' (unary) */
    NL_OP_GELU_TANH,
    /* along a dim by an index tensor (nl_gather, nl_scatter, nl_index_add) */
    NL_OP_GATHER, NL_OP_SCATTER, NL_OP_SCATTER_ADD, NL_OP_INDEX_ADD,
    /* more activations, each one C op with its backward (nl_activation):
     * the ELU family, softplus, mish, the hard forms (ReLU6 is hardtanh
     * on [0, 6]), logsigmoid, softsign and the shrinks */
    NL_OP_ELU, NL_OP_SELU, NL_OP_CELU, NL_OP_SOFTPLUS, NL_OP_MISH,
    NL_OP_HARDTANH, NL_OP_HARDSIGMOID, NL_OP_HARDSWISH, NL_OP_LOGSIGMOID,
    NL_OP_SOFTSIGN, NL_OP_TANHSHRINK, NL_OP_SOFTSHRINK, NL_OP_HARDSHRINK,
    /* the input gradient of a convolution, as an op (nl_conv_transpose2d) */
    NL_OP_CONV_TRANSPOSE2D,
    /* max over adaptive_avg_pool2d's windows (nl_adaptive_max_pool2d) */
    NL_OP_ADAPTIVE_MAX_POOL2D,
    /* running sums and products along a dim (nl_cumsum, nl_cumprod) */
    NL_OP_CUMSUM, NL_OP_CUMPROD,
    /* the elements where a mask is nonzero, as a 1-D tensor (nl_masked_select) */
    NL_OP_MASKED_SELECT,
    /* volumes (N, C, D, H, W): ops_conv3d.c */
    NL_OP_CONV3D, NL_OP_MAX_POOL3D, NL_OP_AVG_POOL3D, NL_OP_ADAPTIVE_AVG_POOL3D, NL_OP_ADAPTIVE_MAX_POOL3D,
    /* resampling over the last 1 to 3 dims (nl_interpolate) */
    NL_OP_INTERPOLATE,
    /* log of the running sum of exp along a dim (nl_logcumsumexp) */
    NL_OP_LOGCUMSUMEXP,
    /* connectionist temporal classification, per sample (nl_ctc_loss) */
    NL_OP_CTC_LOSS,
    /* special functions (nl_math) and their binary kin (nl_math2): ops_math.c */
    NL_OP_TAN, NL_OP_ASIN, NL_OP_ACOS, NL_OP_ATAN, NL_OP_SINH, NL_OP_COSH, NL_OP_ASINH, NL_OP_ACOSH, NL_OP_ATANH,
    NL_OP_LOG1P, NL_OP_EXPM1, NL_OP_LOG2, NL_OP_LOG10, NL_OP_EXP2,
    NL_OP_ERF, NL_OP_ERFC, NL_OP_ERFINV, NL_OP_LGAMMA, NL_OP_DIGAMMA, NL_OP_POLYGAMMA,
    NL_OP_ATAN2, NL_OP_HYPOT, NL_OP_FMOD, NL_OP_REMAINDER,
    /* linear algebra, the LU and Cholesky family (ops_linalg.c) */
    NL_OP_LINALG_LU_FACTOR, NL_OP_LINALG_LU_SOLVE, NL_OP_LINALG_INV, NL_OP_LINALG_SOLVE, NL_OP_LINALG_DET,
    NL_OP_LINALG_SLOGDET, NL_OP_LINALG_CHOLESKY, NL_OP_LINALG_SOLVE_TRIANGULAR,
    /* a binding's own differentiable function, its backward in the binding
     * (nl_custom_record: autograd_function.c) */
    NL_OP_CUSTOM,
    /* an input read at a grid's points (nl_grid_sample: ops_grid_sample.c) */
    NL_OP_GRID_SAMPLE,
    /* t with some dims reversed (nl_flip: tensor.c) */
    NL_OP_FLIP,
    /* PReLU and threshold (nl_prelu, nl_threshold: ops_rectifier.c) */
    NL_OP_PRELU, NL_OP_THRESHOLD,
    /* the input gradient of a 3-D convolution, as an op (nl_conv_transpose3d) */
    NL_OP_CONV_TRANSPOSE3D,
    /* layer normalization, one fused op (nl_layer_norm: ops_norm.c) */
    NL_OP_LAYER_NORM,
    /* torch.special's own functions (nl_math, nl_math2: ops_math.c) */
    NL_OP_ENTR, NL_OP_ERFCX, NL_OP_I0E, NL_OP_I1, NL_OP_I1E, NL_OP_NDTRI, NL_OP_LOG_NDTR,
    NL_OP_BESSEL_J0, NL_OP_BESSEL_J1,
    NL_OP_ZETA, NL_OP_GAMMAINC, NL_OP_GAMMAINCC,
    /* torch.special's Airy and Bessel functions, no gradient (nl_math:
     * special_kernels.c) */
    NL_OP_AIRY_AI, NL_OP_BESSEL_Y0, NL_OP_BESSEL_Y1, NL_OP_MODIFIED_BESSEL_I0, NL_OP_MODIFIED_BESSEL_I1,
    NL_OP_MODIFIED_BESSEL_K0, NL_OP_MODIFIED_BESSEL_K1, NL_OP_SCALED_MODIFIED_BESSEL_K0,
    NL_OP_SCALED_MODIFIED_BESSEL_K1, NL_OP_SPHERICAL_BESSEL_J0,
    /* torch.special's orthogonal polynomials p_n(x), no gradient (nl_math2:
     * special_kernels.c) */
    NL_OP_CHEBYSHEV_POLYNOMIAL_T, NL_OP_CHEBYSHEV_POLYNOMIAL_U, NL_OP_CHEBYSHEV_POLYNOMIAL_V,
    NL_OP_CHEBYSHEV_POLYNOMIAL_W, NL_OP_SHIFTED_CHEBYSHEV_POLYNOMIAL_T, NL_OP_SHIFTED_CHEBYSHEV_POLYNOMIAL_U,
    NL_OP_SHIFTED_CHEBYSHEV_POLYNOMIAL_V, NL_OP_SHIFTED_CHEBYSHEV_POLYNOMIAL_W, NL_OP_HERMITE_POLYNOMIAL_H,
    NL_OP_HERMITE_POLYNOMIAL_HE, NL_OP_LAGUERRE_POLYNOMIAL_L, NL_OP_LEGENDRE_POLYNOMIAL_P,
    /* int64 only, no gradient (nl_int_binary: ops_integer.c) */
    NL_OP_BITWISE_AND, NL_OP_BITWISE_OR, NL_OP_BITWISE_XOR, NL_OP_BITWISE_LEFT_SHIFT, NL_OP_BITWISE_RIGHT_SHIFT,
    NL_OP_GCD, NL_OP_LCM,
    NL_OP_COUNT
} nl_op;

/* ---- tensors -----------------------------------------------------------
 * The struct is public so that bindings can read shapes and data without a
 * call; only the library writes it. */
typedef struct nl_storage nl_storage;   /* refcounted, 64-byte aligned buffer */
typedef struct nl_node nl_node;         /* autograd node (autograd.c) */

typedef struct nl_tensor {
    int64_t sizes[8];        /* (ndim) size of each dim; NL_MAX_DIMS = 8 */
    int64_t strides[8];      /* (ndim) step of each dim, in elements */
    int64_t offset;          /* first element's index into the storage */
    int64_t numel;           /* product of sizes (1 for a 0-dim tensor) */
    void *data;              /* address of the first element */
    nl_storage *storage;
    struct nl_tensor *grad;  /* optional: accumulated gradient */
    nl_node *node;           /* optional: the autograd node that made it */
    int32_t ndim;            /* 0..8 */
    int32_t dtype;           /* an nl_dtype */
    int32_t refcount;
    int32_t flags;           /* NL_FLAG_* bits */
} nl_tensor;

/* NL_FLAG_GRAPH_FREED: the tensor came from an op, but backward has freed
 * its node (without retain_graph); the op's id is kept in the flags' upper
 * bits (NL_FLAG_OP_SHIFT), for grad_fn and for the error a second backward
 * through it gets. NL_FLAG_NOGRAD_VIEW: a view made with grad mode off of
 * a tensor that requires grad; in-place changes through it are refused
 * with grad mode on, as the tensor's own are. NL_FLAG_VIEW: made as a view
 * of another tensor's memory. NL_FLAG_HOOKED: a binding holds tensor hooks
 * for it (nl_set_hooked). */
enum { NL_FLAG_REQUIRES_GRAD = 1, NL_FLAG_GRAPH_FREED = 2, NL_FLAG_NOGRAD_VIEW = 4, NL_FLAG_VIEW = 8,
       NL_FLAG_HOOKED = 16, NL_FLAG_OP_SHIFT = 16 };

/* A binding's handle: owns one reference to ptr. nl_ref_release drops it
 * and clears ptr, so calling it twice is safe (it is LuaJIT's ffi.gc
 * finalizer). The field's name stays clear of the Lua methods' names. */
typedef struct nl_ref {
    nl_tensor *ptr;
} nl_ref;

void nl_ref_release(nl_ref *r);
void nl_retain(nl_tensor *t);
void nl_release(nl_tensor *t);
/* nl_release of each of ts[0..n), prefetching ahead: a binding's GC hands
 * over its dead handles' references in one batch */
void nl_release_many(nl_tensor *const *ts, int64_t n);

/* ---- runtime -------------------------------------------------------------- */

const char *nl_version(void);
const char *nl_error(void);               /* last error on this thread */
const char *nl_op_name(int op);           /* "add", "matmul", ... */
const char *nl_dtype_name(int dtype);     /* "float32", "float64", "int64" */
int64_t nl_dtype_size(int dtype);

/* One thread count for the OpenMP kernels and BLIS together.
 * Default: NNLUA_NUM_THREADS, else the number of cores. */
int nl_set_num_threads(int n);
int nl_get_num_threads(void);
/* Subnormal floats as zero (the SSE unit's FTZ and DAZ modes) on the
 * calling thread and every thread of nnlua's team, as PyTorch's
 * torch.set_flush_denormal: off by default (IEEE arithmetic). A momentum
 * buffer decaying through the subnormal range runs the optimizer step
 * several times slower. Returns 1, or 0 where the CPU has no such mode. */
int nl_set_flush_denormal(int on);
/* The float dtype an int64 operand becomes where an op needs a float
 * (int64 / int64, int64 with a fraction, sqrt or the mean of int64):
 * NL_FLOAT32, or NL_FLOAT64 after nl.set_default_dtype('float64'), as
 * PyTorch's default dtype. Sets it to dtype (a float dtype; -1 only
 * reads it) and returns the one before. */
int nl_int_float_dtype(int dtype);
const char *nl_blas_arch(void);           /* BLIS kernel set in use, e.g. "skx" */
double nl_time(void);                     /* monotonic wall-clock seconds */
int nl_isatty(int fd);                    /* 1 when fd is a terminal */
/* Writes n bytes to path whole or not at all: a temp file beside it,
 * fsync, rename. An existing file stays intact on failure. */
int nl_write_file(const char *path, const void *data, size_t n);
/* Appends n bytes to path (made when missing) whole or not at all: a
 * failed write (a full disk) cuts the file back to its old length.
 * Returns the file's length after the append, -1 on failure. */
int64_t nl_append_file(const char *path, const void *data, size_t n);
/* snprintf of one double with '.' as the decimal point whatever locale
 * the host set (as Python prints): fmt holds one conversion of a double
 * (%.4f, %10.3e, ...) and literal text. Returns snprintf's count, -1 on
 * a bad format. nnlua's printed tensors and file names come from it. */
int nl_format_double(char *out /* out */, size_t cap, const char *fmt, double v);

/* Allocator accounting. A binding paces its GC with these: the growth of
 * live_bytes since its last collection, plus object_bytes handed out since
 * then (the structs of tensors that Lua may still hold). */
typedef struct nl_mem_stats {
    int64_t live_bytes;     /* bytes held by live storages */
    int64_t peak_bytes;     /* highest live_bytes so far */
    int64_t allocated;      /* bytes handed out since start, never decreases */
    int64_t cached_bytes;   /* freed buffers kept for reuse */
    int64_t object_bytes;   /* tensor, storage and node structs handed out
                             * since start (in allocated too), never decreases */
} nl_mem_stats;

const nl_mem_stats *nl_mem(void);
void nl_mem_trim(void);                   /* return cached buffers to the OS */
/* From now, the calling thread may allocate bytes more: past them its
 * allocations fail (their op: "out of memory"); 0 lifts the limit.
 * Returns what was left of the limit before (0: none), to restore. nn.load
 * sets one while it builds a model from a file's description. */
int64_t nl_mem_set_limit(int64_t bytes);
/* The binding calls this after each collection it runs: cached buffers not
 * reused since the one before go back to the OS. */
void nl_mem_tick(void);

/* ---- creation ------------------------------------------------------------- */

nl_tensor *nl_empty(int ndim, const int64_t *sizes, int dtype);
/* uninitialized, with the given strides (in elements, >= 0; elements may
 * share memory where they overlap) over fresh memory of the extent they
 * reach, as PyTorch's empty_strided */
nl_tensor *nl_empty_strided(int ndim, const int64_t *sizes, const int64_t *strides, int dtype);
nl_tensor *nl_full(int ndim, const int64_t *sizes, double value, int dtype);
nl_tensor *nl_from_data(int ndim, const int64_t *sizes, int dtype,
                        const void *data /* numel elements of dtype, copied */);
nl_tensor *nl_from_doubles(int ndim, const int64_t *sizes, int dtype,
                           const double *values /* numel values, converted */);
nl_tensor *nl_arange(double start, double end, double step, int dtype);
nl_tensor *nl_eye(int64_t n, int64_t m, int dtype);

/* Seeded, counter-based RNG: element i of a draw depends only on
 * (seed, offset + i), so results do not depend on the thread count.
 * Each draw advances offset by the number of elements it used. */
typedef struct nl_generator {
    uint64_t seed;
    uint64_t offset;
} nl_generator;

nl_tensor *nl_rand(nl_generator *g, int ndim, const int64_t *sizes, int dtype);   /* U[0,1) */
nl_tensor *nl_randn(nl_generator *g, int ndim, const int64_t *sizes, int dtype);  /* N(0,1) */
nl_tensor *nl_randperm(nl_generator *g, int64_t n, int64_t base);  /* int64: base .. base+n-1 shuffled */
/* Draws num_samples category indices (int64, from base) per row of probs
 * (C) or (N, C): weights >= 0, finite, with a positive sum per row (they
 * need not sum to 1). Without replacement, each draw removes its category;
 * then num_samples may not exceed a row's categories of positive weight.
 * The result is (num_samples) or (N, num_samples). */
nl_tensor *nl_multinomial(nl_generator *g, nl_tensor *probs, int64_t num_samples, int replacement,
                          int64_t base);
/* Binomial draws (float64, count's shape): element i from count[i] trials
 * of success probability probs[i] (float tensors of one shape), as
 * PyTorch's sample_binomial: inversion where n min(p, 1 - p) < 10,
 * Hormann's BTRS above, so the cost does not grow with the count; 0 where
 * count <= 0 or p <= 0, count where p >= 1, NaN where p is NaN. Element
 * i's uniforms come from counter offset + i (then its sub-counters), so a
 * draw does not depend on the thread count; offset advances by numel. */
nl_tensor *nl_binomial(nl_generator *g, nl_tensor *count, nl_tensor *probs);
/* PyTorch's random_: whole numbers from + [0, to - from), or, without
 * to (has_to 0), from .. the dtype's largest whole number below which
 * every one is exact (2^24 float32, 2^53 float64, 2^63 - 1 int64), into t
 * of any dtype; float tensors take ranges within that bound. */
int nl_random_(nl_tensor *t /* out */, nl_generator *g, int64_t from, int64_t to, int has_to);
/* nl_random_dist_'s distributions: Cauchy (a median, b sigma > 0),
 * geometric (a: p in (0, 1]; the trials up to the first success, >= 1;
 * int64 tensors too), log-normal (exp of normal draws of mean a, std b > 0) */
typedef enum { NL_RANDOM_CAUCHY = 0, NL_RANDOM_GEOMETRIC = 1, NL_RANDOM_LOG_NORMAL = 2 } nl_random_kind;
int nl_random_dist_(nl_tensor *t /* out */, nl_generator *g, int kind, double a, double b);
/* Poisson draws of rates (float, finite, >= 0), in rates' dtype and
 * shape: counted uniform products below rate 10, Hormann's PTRS above.
 * Element i's uniforms come from counter offset + i; offset advances by
 * numel. */
nl_tensor *nl_poisson(nl_generator *g, nl_tensor *rates);
int nl_uniform_(nl_tensor *t /* out */, nl_generator *g, double lo, double hi);
int nl_normal_(nl_tensor *t /* out */, nl_generator *g, double mean, double std);
/* nl_uniform_ and nl_normal_ by the plain loop, one Philox call per
 * element, whatever the CPU: the reference their vector paths are tested
 * against (the same bits, the same advance of g). Slower; for tests. */
int nl_uniform_reference_(nl_tensor *t /* out */, nl_generator *g, double lo, double hi);
int nl_normal_reference_(nl_tensor *t /* out */, nl_generator *g, double mean, double std);

/* ---- views and copies ----------------------------------------------------- */

/* sizes may hold one -1, inferred. view fails where the strides cannot
 * express the new shape; reshape copies then. */
nl_tensor *nl_view(nl_tensor *t, int ndim, const int64_t *sizes);
nl_tensor *nl_reshape(nl_tensor *t, int ndim, const int64_t *sizes);
nl_tensor *nl_transpose(nl_tensor *t, int d0, int d1);
nl_tensor *nl_permute(nl_tensor *t, int ndim, const int *dims);
nl_tensor *nl_narrow(nl_tensor *t, int dim, int64_t start, int64_t length);
nl_tensor *nl_select(nl_tensor *t, int dim, int64_t index);
nl_tensor *nl_expand(nl_tensor *t, int ndim, const int64_t *sizes /* -1 keeps */);
nl_tensor *nl_squeeze(nl_tensor *t, int dim);
nl_tensor *nl_unsqueeze(nl_tensor *t, int dim);
int nl_is_contiguous(const nl_tensor *t);
/* A view of t's storage with any sizes, strides (>= 0) and offset (from
 * the storage's start, not t's), as PyTorch's as_strided; every element
 * it reaches must lie within the elements the storage was made for (not
 * the padding of its buffer). Records no node. */
nl_tensor *nl_as_strided(nl_tensor *t, int ndim, const int64_t *sizes, const int64_t *strides, int64_t offset);
/* PyTorch's resize_: t takes sizes, contiguous strides from its offset,
 * its first elements kept; the storage grows (bytes kept) where it is too
 * small, which only a storage that no view shares may. t's own sizes
 * change nothing (its strides stay). Refused where t requires grad. The
 * new elements are uninitialized. */
int nl_resize_(nl_tensor *t, int ndim, const int64_t *sizes);

/* 1 when t is a view of another tensor's memory, or is held elsewhere too
 * (an op that gave back its input): its values are not new */
int nl_holds_shared(const nl_tensor *t);
nl_tensor *nl_contiguous(nl_tensor *t);   /* t itself (retained) when already contiguous */
nl_tensor *nl_clone(nl_tensor *t);
nl_tensor *nl_to_dtype(nl_tensor *t, int dtype);
nl_tensor *nl_cat(int n, nl_tensor *const *ts, int dim);
nl_tensor *nl_stack(int n, nl_tensor *const *ts, int dim);
nl_tensor *nl_index_select(nl_tensor *t, int dim, nl_tensor *index /* int64, 1-D */, int64_t base);
/* a contiguous copy of t with the dims whose bit is set in mask reversed
 * (bit d: dim d, 0-based): index_select by a reversed index along each */
nl_tensor *nl_flip(nl_tensor *t, int mask);
/* PyTorch's gather, scatter, scatter_add and index_add, index int64 counted
 * from base. index has t's number of dims, and no dim but dim larger than
 * t's (nor than src's, for scatter); any strides.
 * gather: out (index's shape) [.., i, ..] = t[.., index[.., i, ..], ..] along dim.
 * scatter: a copy of t with out[.., index[.., i, ..], ..] = src[.., i, ..] for
 * each place of index (add: += instead of =; with add 0, an index repeated
 * along dim leaves the last write). index_add: a copy of t with
 * out.select(dim, index[i]) += alpha * src.select(dim, i), index 1-D, src of
 * t's shape but index's length along dim. Gradients: t's and src's (scatter:
 * t's except at the places written; gather's t: g added back at index). */
nl_tensor *nl_gather(nl_tensor *t, int dim, nl_tensor *index, int64_t base);
nl_tensor *nl_scatter(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, int add, int64_t base);
/* scatter and scatter_add in place (into t itself, no graph recorded: the
 * binding's scatter_ and scatter_add_ where no gradient is needed): 0, or
 * -1 with t untouched */
int nl_scatter_(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, int add, int64_t base);
nl_tensor *nl_index_add(nl_tensor *t, int dim, nl_tensor *index /* int64, 1-D */, nl_tensor *src, double alpha,
                        int64_t base);
/* index_add in place (into t itself, no graph recorded): 0, or -1 with t
 * untouched */
int nl_index_add_(nl_tensor *t, int dim, nl_tensor *index /* int64, 1-D */, nl_tensor *src, double alpha,
                  int64_t base);
/* PyTorch's index_copy_ (fill 0) and index_fill_ (fill 1), in place:
 * t.select(dim, index[i]) = src.select(dim, i) (src of t's shape but the
 * index's length along dim, t's dtype), or = the 0-dim src of t's dtype;
 * index int64, 0-D or 1-D, counted from base, or -1 .. -size from the end.
 * index_copy refuses an index given twice. No graph is recorded; 0, or -1
 * with t untouched. */
int nl_index_put_(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, int fill, int64_t base);
/* PyTorch's scatter_reduce: a contiguous copy of t with each src[.., i, ..]
 * reduced into out[.., index[.., i, ..], ..] along dim (shapes as
 * nl_scatter's): reduce 0 sum, 1 prod, 2 mean, 3 amax, 4 amin (NaN
 * propagates). include_self 0: a place written starts from its first
 * value (mean: counts only those), the other places keep t's. Int64 mean
 * rounds down, as PyTorch's. Lanes along dim in parallel (each writes its
 * own places). Records no node: the binding (tensor_scatter.lua) gives
 * the gradient. */
nl_tensor *nl_scatter_reduce(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, int reduce, int include_self,
                             int64_t base);
/* The int64 indices (from base) that sort t along dim, ascending or
 * descending, stable (equal values keep their order, PyTorch's
 * stable=True); NaN counts as larger than every number, as PyTorch's.
 * No gradient: the sorted values are t gathered at them. */
nl_tensor *nl_argsort(nl_tensor *t, int dim, int descending, int64_t base);
/* Order statistics and counting (ops_sortops.c), indices from base. The
 * ops that give indices have no gradient: a binding gathers the values.
 * nl_cummax_indices: of t's shape, the index of the running max (take_min:
 * min) along dim, a later equal value or NaN taking over (PyTorch's
 * cummax). nl_mode_indices: t's shape with dim of size 1, the index of the
 * most frequent value of each lane (the smallest of equally frequent
 * ones; its last place; each NaN counts on its own). nl_searchsorted:
 * int64 of values' shape, the place in sorted (along its last dim, whose
 * other dims match values', or 1-D) where each value would go: before
 * the first boundary >= it (right: > it); sorted and values of one dtype.
 * nl_bincount: counts (or sums of weights, optional, of input's length)
 * of the values of a 1-D int64 input, bin v - base for value v (>= base),
 * max(largest - base + 1, minlength) bins. nl_histc: the counts of t's
 * elements in bins equal parts of [min, max] (the data's range when min
 * == max), float input.
 * nl_unique_groups: the groups of equal rows of rows (n, m), ascending
 * (consecutive: runs of neighbours); gives the first row of each group
 * (k), *inverse (n) each row's group and *counts (k) each group's rows. */
nl_tensor *nl_cummax_indices(nl_tensor *t, int dim, int take_min, int64_t base);
nl_tensor *nl_mode_indices(nl_tensor *t, int dim, int64_t base);
nl_tensor *nl_searchsorted(nl_tensor *sorted, nl_tensor *values, int right, int64_t base);
nl_tensor *nl_bincount(nl_tensor *input, nl_tensor *weights /* optional */, int64_t minlength, int64_t base);
nl_tensor *nl_histc(nl_tensor *t, int64_t bins, double min, double max);
nl_tensor *nl_unique_groups(nl_tensor *rows, int consecutive, int64_t base, nl_tensor **inverse /* out */,
                            nl_tensor **counts /* out */);
/* log(cumsum(exp(t))) along dim, stably (PyTorch's logcumsumexp), float
 * input; its gradient is PyTorch 1.13's, in log space. */
nl_tensor *nl_logcumsumexp(nl_tensor *t, int dim);
/* op: NL_OP_TAN .. NL_OP_POLYGAMMA, PyTorch 1.13's functions of those
 * names (its erfinv, digamma, trigamma and zeta kernels), or NL_OP_ENTR
 * .. NL_OP_BESSEL_J1 or NL_OP_AIRY_AI .. NL_OP_SPHERICAL_BESSEL_J0,
 * torch.special's (computed in double; bessel_j0, bessel_j1 and the
 * latter are not recorded, having no gradient in PyTorch 1.13);
 * int64 input gives float32; n: polygamma's order (>= 0), else ignored. */
nl_tensor *nl_math(int op, nl_tensor *a, int64_t n);
/* op: NL_OP_ATAN2 .. NL_OP_REMAINDER, NL_OP_ZETA .. NL_OP_GAMMAINCC
 * (torch.special's zeta(x, q), gammainc(a, x), gammaincc(a, x); their
 * gradient is the second operand's only, as PyTorch's) or
 * NL_OP_CHEBYSHEV_POLYNOMIAL_T .. NL_OP_LEGENDRE_POLYNOMIAL_P (of x = a
 * and n = b, in double; not recorded, having no gradient in 1.13) of a and b
 * broadcast, both of one dtype (the caller promotes): atan2, hypot and
 * the special ones give float32 for int64, fmod (C's, toward zero) and
 * remainder (Python's, the divisor's sign) keep int64 and refuse a zero
 * divisor there. */
nl_tensor *nl_math2(int op, nl_tensor *a, nl_tensor *b);

/* ---- elementwise ---------------------------------------------------------- */

/* op: NL_OP_ADD .. NL_OP_GE. Comparisons give 1 or 0 in the promoted dtype.
 * int64 with int64 stays int64, except DIV which gives float32 (the
 * default float dtype: nl_int_float_dtype). */
nl_tensor *nl_binary(int op, nl_tensor *a, nl_tensor *b);
/* a op s, or s op a when scalar_first; the result keeps a's dtype
 * (int64 with a fractional s, or DIV, gives float32: nl_int_float_dtype) */
nl_tensor *nl_binary_scalar(int op, nl_tensor *a, double s, int scalar_first);
/* Python's a // b (PyTorch's div(a, b, rounding_mode='floor')) of float
 * operands, broadcast and promoted as nl_binary's (int64 with int64 is
 * refused); not recorded: the caller gives it its zero gradient */
nl_tensor *nl_div_floor(nl_tensor *a, nl_tensor *b);
/* op: NL_OP_NEG .. NL_OP_TANH, NL_OP_GELU, NL_OP_GELU_TANH, NL_OP_SILU, NL_OP_SIN, NL_OP_COS,
 * NL_OP_FLOOR .. NL_OP_TRUNC; int64 input to a float function gives float32 */
nl_tensor *nl_unary(int op, nl_tensor *a);
nl_tensor *nl_leaky_relu(nl_tensor *a, double negative_slope);
/* op: NL_OP_BITWISE_AND .. NL_OP_LCM of int64 a and b broadcast, as
 * PyTorch 1.13's (float operands are refused; not recorded): and, or,
 * xor; the shifts take the count's low six bits (64 shifts by 0, -1 by
 * 63, as PyTorch's int64 shifts on x86), the left one wrapping, the right
 * one arithmetic; gcd of |a| and |b| (gcd(0, 0) = 0) and lcm |a / gcd * b|
 * (0 where either is 0), wrapping past 2^63 (INT64_MIN's magnitude is
 * itself, so gcd(INT64_MIN, 6) = -2, as PyTorch's). */
nl_tensor *nl_int_binary(int op, nl_tensor *a, nl_tensor *b);
/* a op s, or s op a when scalar_first; of a's shape */
nl_tensor *nl_int_binary_scalar(int op, nl_tensor *a, int64_t s, int scalar_first);
/* dst = dst op src in place (src broadcast to dst's shape), or dst op s */
int nl_int_binary_(int op, nl_tensor *dst, nl_tensor *src);
int nl_int_binary_scalar_(int op, nl_tensor *dst, int64_t s);
/* op: NL_OP_ELU .. NL_OP_HARDSHRINK, PyTorch's functions of those names;
 * p0, p1 their parameters (ignored where an op has fewer, none NaN):
 *   elu (alpha), selu, celu (alpha, not 0), softplus (beta, threshold:
 *   x itself where beta * x > threshold), mish, hardtanh (min <= max),
 *   hardsigmoid, hardswish, logsigmoid, softsign, tanhshrink,
 *   softshrink (lambd >= 0), hardshrink (lambd).
 * Float input; int64 is refused, except by softsign and tanhshrink,
 * which give float32 (PyTorch composes those two of ops that do). */
nl_tensor *nl_activation(int op, nl_tensor *a, double p0, double p1);
nl_tensor *nl_clamp(nl_tensor *a, double lo, double hi);  /* NaN bound: none */
nl_tensor *nl_where(nl_tensor *cond, nl_tensor *a, nl_tensor *b);
/* PReLU: x where x > 0, else weight x; weight of x's float dtype, 0-dim or
 * 1-D, of one slope or of one per channel (x's dim 1, 0-based) */
nl_tensor *nl_prelu(nl_tensor *x, nl_tensor *weight);
/* PyTorch's threshold: value where x <= threshold, else x (int64 kept) */
nl_tensor *nl_threshold(nl_tensor *x, double threshold, double value);
/* Layer normalization over x's last k dims (N elements a row): y = (x -
 * mean) / sqrt(var + eps) * weight + bias, mean and biased var of each row
 * (in double); flags NL_NORM_RMS: no mean taken (root mean square, RMSNorm).
 * weight, bias: of x's float dtype and its last k sizes. Its node keeps
 * flags | NL_NORM_WEIGHT | NL_NORM_BIAS for the inputs given. */
enum { NL_NORM_RMS = 1, NL_NORM_WEIGHT = 2, NL_NORM_BIAS = 4 };
nl_tensor *nl_layer_norm(nl_tensor *x, int k, nl_tensor *weight /* optional */, nl_tensor *bias /* optional */,
                         double eps, int flags);

/* In place: dst = dst op src, src broadcast to dst's shape. */
int nl_binary_(int op, nl_tensor *dst /* in, out */, nl_tensor *src);
int nl_binary_scalar_(int op, nl_tensor *dst /* in, out */, double s);
int nl_unary_(int op, nl_tensor *dst /* in, out */);
int nl_activation_(int op, nl_tensor *dst /* in, out */, double p0, double p1);  /* float dst */
int nl_add_scaled_(nl_tensor *dst /* in, out */, nl_tensor *src, double alpha); /* dst += alpha*src */
int nl_fill_(nl_tensor *dst /* out */, double value);
int nl_copy_(nl_tensor *dst /* out */, nl_tensor *src);  /* broadcast, converts dtype */

/* ---- reductions ----------------------------------------------------------- */

/* op: NL_OP_SUM, MEAN, MAX, MIN, ARGMAX, ARGMIN; a 0-dim result.
 * Arg results are int64 indices into the flattened tensor, from base. */
nl_tensor *nl_reduce_all(int op, nl_tensor *t, int64_t base);
/* Over one dim. For MAX and MIN, indices (optional) receives the argmax or
 * argmin, int64, from base. */
nl_tensor *nl_reduce(int op, nl_tensor *t, int dim, int keepdim, int64_t base,
                     nl_tensor **indices /* out, optional */);
/* Accuracy's hits: how many (o, i) have the argmax over dim 1 of scores
 * (N, C, d1, ...), from base, equal to labels[o, i] (int64, (N, d1, ...));
 * argmax(1):eq(labels):sum() without its tensors. -1 on error. */
int64_t nl_argmax_hits(nl_tensor *scores, nl_tensor *labels, int64_t base);
nl_tensor *nl_softmax(nl_tensor *t, int dim);
nl_tensor *nl_log_softmax(nl_tensor *t, int dim);
/* Running sum and product along dim, of t's shape and dtype (PyTorch's
 * cumsum and cumprod): out[.., i, ..] = x[.., 0, ..] + ... + x[.., i, ..].
 * float32 accumulates in double, int64 wraps. Gradients: the reversed
 * running sum of g; for cumprod, PyTorch 1.13's exact formula, right where
 * the input holds zeros. */
nl_tensor *nl_cumsum(nl_tensor *t, int dim);
nl_tensor *nl_cumprod(nl_tensor *t, int dim);
/* (n, ndim) int64: the indices, from base, of t's n nonzero elements (NaN
 * counts), in row-major order (PyTorch's nonzero); no gradient. */
nl_tensor *nl_nonzero(nl_tensor *t, int64_t base);
/* 1-D: the elements of t where mask (any dtype, nonzero for true) is set,
 * both broadcast to one shape, in row-major order (PyTorch's
 * masked_select). Gradient: g back at the selected places of t. */
nl_tensor *nl_masked_select(nl_tensor *t, nl_tensor *mask);

/* ---- linear algebra ------------------------------------------------------- */

/* (m,k)@(k,n); (b,m,k)@(b,k,n) with b broadcast when one side has no batch
 * or batch 1; 1-D operands as in numpy. Strided operands go to BLIS as they
 * are: transposed views cost no copy. */
nl_tensor *nl_matmul(nl_tensor *a, nl_tensor *b);
/* A linear layer: x (N, in) @ weight (out, in)^T + bias (out; optional),
 * then, when relu, nl_relu: (N, out), float32 or float64. The values and
 * gradients of nl_matmul, nl_add and nl_relu in turn, bit for bit; for
 * float32 on AVX-512 the bias and ReLU are applied to each tile of the
 * product before it is stored, and the backward takes the ReLU's mask from
 * the output. Its grad_fn is "linear". nn.Linear uses it for 2-D input, and
 * nn.Sequential for a Linear followed by a ReLU. */
nl_tensor *nl_linear(nl_tensor *x, nl_tensor *weight, nl_tensor *bias /* optional */, int relu);
/* Orthogonal decompositions (ops_linalg_decomp.c) of the matrices in a's
 * last two dims (m, n), batched over the others; float32 or float64, both
 * computed in float64, results in a's dtype. No gradient: the Lua layer
 * (nl.linalg) composes it. nl_linalg_qr: Householder QR, R's diagonal
 * signs as LAPACK's (PyTorch's); R (*, k, n) and *q (*, m, k) with k =
 * min(m, n), or with complete k = m; q NULL for R alone. nl_linalg_eigh:
 * the eigenvalues (*, n) ascending of the symmetric a, from its lower
 * (upper: upper) triangle, and *vectors (*, n, n) the unit eigenvectors as
 * columns, each with its largest-magnitude entry positive. nl_linalg_svd:
 * the singular values (*, k) descending, and *u (*, m, k or m when full)
 * and *vh (*, k or n, n), both or neither; V's column i (Vh's row i) has
 * its largest-magnitude entry positive (u and vh NULL: the values alone,
 * by bidiagonalization, faster). NaN or inf input, or no
 * convergence, is an error ("did not converge"). nl_linalg_triu_inverse:
 * the inverse of the square upper-triangular r (its upper triangle read). */
nl_tensor *nl_linalg_qr(nl_tensor *a, int complete, nl_tensor **q /* out, optional */);
nl_tensor *nl_linalg_eigh(nl_tensor *a, int upper, nl_tensor **vectors /* out, optional */);
nl_tensor *nl_linalg_svd(nl_tensor *a, int full, nl_tensor **u /* out, optional */, nl_tensor **vh /* out, optional */);
nl_tensor *nl_linalg_triu_inverse(nl_tensor *r);

/* ---- embedding -----------------------------------------------------------
 * A host without Lua of its own opens a vm, runs a script and calls its
 * global functions with tensors; nl_tensor_wrap lends the host's buffers
 * without a copy. A vm is used by one thread at a time; several vms may
 * run in several threads at once. Errors: -1 or NULL, and nl_vm_error
 * (or nl_error when there is no vm) says what happened; the host goes on.
 *
 *     nl_vm *vm = nl_vm_open(NULL);
 *     if (nl_vm_dofile(vm, "model.lua") != 0) puts(nl_vm_error(vm));
 *     nl_tensor *in = nl_tensor_wrap(2, sizes, NL_FLOAT32, pixels, NULL, NULL), *out;
 *     if (nl_vm_call(vm, "classify", 1, &in, 1, &out) == 0) ... nl_release(out);
 *     nl_release(in);
 *     nl_vm_close(vm);
 */
typedef struct nl_vm nl_vm;
typedef struct nl_vm_options {
    int num_threads;                                /* 0: keep the current setting */
    void (*log)(void *ctx, const char *line);       /* optional: receives print() */
    void *log_ctx;
} nl_vm_options;

nl_vm *nl_vm_open(const nl_vm_options *opts /* optional */);
int nl_vm_dofile(nl_vm *vm, const char *path);
int nl_vm_dostring(nl_vm *vm, const char *code);
/* calls the global function fn(args...) and takes nresults tensors back
 * (new references, released by the host; results may be the args array).
 * Grad mode and anomaly mode are the vm's own, on any thread. */
int nl_vm_call(nl_vm *vm, const char *fn, int nargs, nl_tensor *const *args,
               int nresults, nl_tensor **results /* out */);
const char *nl_vm_error(const nl_vm *vm);
void nl_vm_close(nl_vm *vm);

/* A tensor over the host's contiguous buffer (zero-copy). release (optional)
 * runs when the last view of it dies; without it the host keeps ownership
 * and must keep the buffer alive as long as any tensor uses it. */
nl_tensor *nl_tensor_wrap(int ndim, const int64_t *sizes, int dtype, void *data,
                          void (*release)(void *ctx, void *data) /* optional */, void *ctx);

/* ---- autograd ------------------------------------------------------------
 * Ops whose inputs require grad record a node on their output while grad
 * mode is on; nl_backward walks the nodes in reverse topological order and
 * adds (+=) into the .grad of leaves. Without retain_graph, backward frees
 * each node it ran (the output keeps only the op's name, see
 * NL_FLAG_GRAPH_FREED); other nodes die with their outputs. */

int nl_set_grad_enabled(int enabled);     /* per thread; returns the previous setting */
int nl_is_grad_enabled(void);
/* 0 when op may change t in place now; else -1 and nl_error says why (t
 * requires grad, or is a view made under no_grad of one that does, and
 * grad mode is on; or t repeats elements, an expanded view): the check
 * every in-place op makes first */
int nl_inplace_check(nl_tensor *t, const char *op);
/* Leaves only (tensors no op made), float dtypes only; 1 on a tensor an op
 * made is no change (it requires grad), 0 an error. */
int nl_set_requires_grad(nl_tensor *t, int requires_grad);
int nl_is_leaf(const nl_tensor *t);
const char *nl_grad_fn_name(const nl_tensor *t);   /* "mul", ...; NULL for a leaf */
nl_tensor *nl_detach(nl_tensor *t);       /* shares storage, no graph */
/* grad: optional, of root's shape; NULL means 1 for a one-element root */
int nl_backward(nl_tensor *root, nl_tensor *grad, int retain_graph);
int nl_set_grad(nl_tensor *t, nl_tensor *grad /* optional: NULL clears */);
/* Gradient-ready hooks (per thread): during backward, fn(ctx, leaf) runs
 * once for each leaf that requires grad, as soon as the last gradient this
 * backward sends it has been added to leaf->grad, while backward goes on
 * with the rest of the graph (nn.DataParallel starts averaging a bucket of
 * gradients there). At most 8 hooks; adding a ninth fails. */
typedef void (*nl_grad_ready_fn)(void *ctx, nl_tensor *leaf);
int nl_add_grad_ready_hook(nl_grad_ready_fn fn, void *ctx);
void nl_remove_grad_ready_hook(nl_grad_ready_fn fn, void *ctx);
/* Tensor hooks. A binding that keeps hooks of its own for a tensor marks
 * it with nl_set_hooked (NL_FLAG_HOOKED, for the tensor's life); then
 * nl_backward_hooked calls fn(ctx, t, grad, &replacement) once for each
 * marked tensor that the backward reaches: for a tensor an op made, with
 * its whole gradient, before that op's backward runs; for a leaf, with the
 * sum of what this backward sends it, before that is added into .grad. fn
 * returns 0, having set *replacement to a new reference (of grad's shape
 * and dtype) to go on with in grad's place, or left it NULL; or -1 to stop
 * the backward (the binding keeps its own message). With a marked tensor
 * in the graph, the nodes run in PyTorch's order: the latest made first,
 * and a leaf as soon as its gradient is complete. nl_take_dead_hooked
 * gives the addresses (at most max) of marked tensors that died on this
 * thread since its last call, so that the binding can drop their hooks,
 * and with the low bit set those of marked tensors whose node a backward
 * freed (no backward runs their hooks again). */
typedef int (*nl_tensor_hook_fn)(void *ctx, nl_tensor *t, nl_tensor *grad, nl_tensor **replacement /* out */);
int nl_set_hooked(nl_tensor *t);
int nl_take_dead_hooked(uintptr_t *out /* out: max */, int max);
int nl_backward_hooked(nl_tensor *root, nl_tensor *grad, int retain_graph, nl_tensor_hook_fn fn, void *ctx);
/* PyTorch's torch.autograd.grad: the gradients of the outputs (weighted by
 * grad_outputs; an entry NULL means 1 for a one-element output) with
 * respect to each input, in grads (new references; NULL for an input the
 * outputs do not reach). No .grad is touched; only the nodes on a path to
 * an input run. Without retain_graph the nodes that ran are freed, as
 * backward frees them. fn: the hooks of the tensors that ops made, as in
 * nl_backward_hooked; as in PyTorch 1.13, an input's gradient is taken
 * before its own hooks run, and a leaf's hooks do not run. */
int nl_grad(int n_out, nl_tensor *const *outputs, nl_tensor *const *grad_outputs /* optional, entries optional */,
            int n_in, nl_tensor *const *inputs, nl_tensor **grads /* out: n_in */, int retain_graph,
            nl_tensor_hook_fn fn /* optional */, void *ctx);
/* PyTorch's backward(inputs = ...): nl_backward_hooked (fn optional) whose
 * gradients go only to the inputs. A leaf among them adds its gradient
 * into .grad (its hooks and the grad-ready hooks run as backward's); no
 * other leaf's .grad changes. A tensor an op made among them has its
 * node run, as PyTorch 1.13's does (its saved tensors freed without
 * retain_graph), and its hooks see its gradient, but C keeps nothing of
 * it: PyTorch makes it retain_grad, the binding's hook. Only the nodes on
 * a path to an input run. */
int nl_backward_inputs(nl_tensor *root, nl_tensor *grad /* optional */, int n_in, nl_tensor *const *inputs,
                       int retain_graph, nl_tensor_hook_fn fn /* optional */, void *ctx);
/* Anomaly mode (per thread), a set of bits: NL_ANOMALY_FINITE (nnlua's
 * nl.detect_anomaly): backward fails at the first op whose gradient holds
 * NaN or Inf, naming it. NL_ANOMALY_TRACE (PyTorch's, with NL_ANOMALY_NAN
 * for its check_nan): the binding gives each new node the traceback of the
 * call that made it (nl_anomaly_trace), freed with the node's saved
 * tensors; a backward or grad that fails at a node (its backward's error,
 * or with NL_ANOMALY_NAN a produced gradient holding NaN: "Function 'mul'
 * returned nan values in its 1st output.") leaves that node's traceback
 * for nl_anomaly_failed: the text, "" for a node without one, NULL when
 * no node failed since nl_anomaly_failed_clear. nl_all_finite: 1 when t
 * holds neither NaN nor Inf; nl_has_nan: 1 when it holds a NaN.
 * nl_last_op: the op that made the newest tensor on this thread. */
enum { NL_ANOMALY_FINITE = 1, NL_ANOMALY_TRACE = 2, NL_ANOMALY_NAN = 4 };
int nl_set_detect_anomaly(int mode);      /* returns the previous bits */
int nl_all_finite(const nl_tensor *t);
int nl_has_nan(const nl_tensor *t);
/* 1 when t's node was made with NL_ANOMALY_TRACE on and has no traceback yet */
int nl_anomaly_untraced(const nl_tensor *t);
/* gives t's node, and the nodes made for it since the last call (a C op's
 * inner steps), the traceback of parent's node when it has one (ops a
 * create_graph backward records for it), else text; 1 when it gave one */
int nl_anomaly_trace(const nl_tensor *t, const char *text /* optional */, const nl_tensor *parent /* optional */);
const char *nl_anomaly_trace_of(const nl_tensor *t);   /* t's node's traceback, or NULL */
const char *nl_anomaly_failed(void);
void nl_anomaly_failed_clear(void);
int64_t nl_anomaly_traced(void);          /* nodes holding a traceback now, on all threads */
const char *nl_last_op(void);
/* The profiler's record of backward (per thread; nl.profiler): while it is
 * on, each node a backward runs (but a binding's own, NL_OP_CUSTOM) adds
 * an event: its op, and the start and end of its gradient formula in
 * nl_time's seconds (adding the gradients into the inputs' is not in it).
 * The binding reads them (*n of them, valid until the next backward or
 * clear) and drops them. Off, the default, backward only tests the flag. */
typedef struct nl_profiler_event {
    int32_t op;               /* an nl_op */
    int32_t pad;
    double start, end;
} nl_profiler_event;
int nl_profiler_enable(int on);           /* returns the previous setting; off drops the events */
const nl_profiler_event *nl_profiler_events(int64_t *n /* out */);
void nl_profiler_clear(void);
/* A binding is about to write t's elements through t->data: bump its
 * version (and refuse, like every in-place op, when t requires grad in
 * grad mode). op names the binding's operation in the error (NULL:
 * "mark_modified"). */
int nl_mark_modified(nl_tensor *t, const char *op);
/* The node that made t, read by a binding that builds a backward out of
 * differentiable ops (create_graph: gradients with a graph of their own,
 * for higher-order gradients). Returns 1 with *info filled (its pointers
 * borrowed: t's node holds them), 0 for a leaf, and -1 with the error set
 * where a backward would refuse the node: freed by an earlier backward, or
 * an input or saved tensor changed in place since (who names the caller). */
typedef struct nl_node_info {
    const void *id;           /* the node: a key for the walk */
    int32_t op;               /* an nl_op */
    int32_t n_in;
    nl_tensor *const *in;     /* (n_in) the op's inputs */
    nl_tensor *saved;         /* optional: the output's alias, indices, softmax, ... */
    double s[2];              /* the op's scalars (operand, bounds, slope) */
    int64_t a[8];             /* the op's ints (0-based dims, flags, reduction) */
} nl_node_info;
int nl_node_read(const nl_tensor *t, const char *who, nl_node_info *info /* out */);
/* 1 when backward gives input i of the node that made t a gradient */
int nl_node_input_wanted(const nl_tensor *t, int i);
/* The nodes that made outputs[0..n) (entries optional) free what they
 * saved, as a backward without retain_graph frees the nodes it ran: the
 * walk of a create_graph backward told retain_graph = false */
int nl_free_nodes(int n, nl_tensor *const *outputs);

/* ---- losses (ops_loss.c) ------------------------------------------------ */

typedef enum { NL_REDUCE_NONE = 0, NL_REDUCE_MEAN = 1, NL_REDUCE_SUM = 2 } nl_reduction;

/* logits (N, C) and class targets (N) int64 counted from base: log-softmax
 * and negative log-likelihood in one pass, with optional label smoothing. */
nl_tensor *nl_cross_entropy(nl_tensor *logits, nl_tensor *target, int64_t base,
                            int reduction, double label_smoothing);
/* log-probabilities (N, C) and class targets (N) int64 counted from base */
nl_tensor *nl_nll_loss(nl_tensor *logp, nl_tensor *target, int64_t base, int reduction);
/* sum or mean (NL_REDUCE_SUM, NL_REDUCE_MEAN) of (input - target)^2 over
 * two float tensors of one shape and dtype, in one pass; the gradients
 * 2 (input - target) g (/ numel) in one more. Its values are those of the
 * ops it replaces (sub, mul, sum or mean) bit for bit. */
nl_tensor *nl_mse_loss(nl_tensor *input, nl_tensor *target, int reduction);
/* PyTorch's binary cross-entropy: -w (y log p + (1 - y) log(1 - p)) per
 * element, each log clamped at -100, over input p (probabilities in
 * [0, 1]), target y and weight w (NULL: 1) of one shape and float dtype;
 * reduced as reduction says. Gradients: p's w (p - y) / max(p (1 - p),
 * 1e-12), finite where p is exactly 0 or 1; y's and w's too. */
nl_tensor *nl_bce_loss(nl_tensor *input, nl_tensor *target, nl_tensor *weight, int reduction);
/* CTC (ops_ctc.c): each sample's negative log-likelihood (N), in
 * log_probs' dtype, of its target over all alignments of its input frames.
 * log_probs (T, N, C) float; targets int64 labels from base, (N, S) padded
 * or 1-D concatenated in sample order; input_lengths and target_lengths
 * (N) int64 (0 <= input length <= T); blank a class from base, in no
 * target. zero_infinity: a sample no alignment fits gets 0 and a zero
 * gradient (else inf, and NaN gradients, as PyTorch's). Backward: the exact
 * gradient of log_probs (PyTorch's adds exp(log_probs) * g, which
 * log_softmax's backward removes), zero past each input's length. */
nl_tensor *nl_ctc_loss(nl_tensor *log_probs, nl_tensor *targets, nl_tensor *input_lengths,
                       nl_tensor *target_lengths, int64_t blank, int64_t base, int zero_infinity);

/* ---- files: IDX, CSV, safetensors (io.c) -------------------------------
 * Readers take untrusted files: sizes and offsets are checked against the
 * file, and a bad file is an error naming the loader and the path. A gzip
 * file is read as Python's gzip module reads one: its members one after
 * another, zero padding skipped, any other bytes after them an error. */

/* An IDX file (MNIST's format), gzip-compressed or plain, as a tensor of
 * dtype; dtype -1 keeps the file's kind: float -> float32, double ->
 * float64, integer types -> int64; a value int64 does not hold (a
 * fraction, NaN, past 2^63) is an error. Truncated files and trailing data
 * are errors. */
nl_tensor *nl_load_idx(const char *path, int dtype /* or -1 */);

/* An IDX file of unsigned bytes (type 08, as images come) kept as its
 * bytes, a quarter of a float32 copy; rows converts the rows a batch needs.
 * Datasets that hold images this way (data.IdxDataset) keep a training
 * set's memory near the file's size. Freed by nl_bytes_free. */
typedef struct nl_bytes nl_bytes;
nl_bytes *nl_load_idx_bytes(const char *path);
void nl_bytes_free(nl_bytes *b);
int nl_bytes_ndim(const nl_bytes *b);
int64_t nl_bytes_size(const nl_bytes *b, int dim);
/* rows index (1-D int64, counted from base) along dim 0, as a new tensor
 * (n, sizes[1], ...) of dtype float32 or float64 holding byte / divisor,
 * computed in the dtype: the values of converting and then dividing. */
nl_tensor *nl_bytes_rows(const nl_bytes *b, nl_tensor *index, int64_t base, double divisor, int dtype);

/* A numeric CSV file (gzip or plain) as a float64 (rows, columns) tensor.
 * The first skip_lines lines are skipped; when header is given, the names
 * of the last of them go into it, read as fields are (unquoted, trimmed),
 * each followed by a NUL (a quoted name may hold a line end; the line may
 * take at most header_cap - 1 bytes), and fix the number of columns. A
 * quoted field may span lines, as RFC 4180's. Errors name the line and column of
 * a field that is not a number, and rows of the wrong length. */
nl_tensor *nl_load_csv(const char *path, int delimiter, int skip_lines,
                       char *header /* out, optional */, int64_t header_cap);

/* Writes tensors (each made contiguous, little-endian F32, F64 or I64) and
 * string metadata as a safetensors file, in the order given. Atomic: the
 * file is written beside path, synced and renamed over it, so a failure
 * leaves an existing file at path as it was. */
int nl_save_safetensors(const char *path, int n, const char *const *names,
                        nl_tensor *const *tensors, int n_meta,
                        const char *const *meta_keys, const char *const *meta_values);

/* Reading: open checks the whole header (JSON, dtypes, shapes, offsets
 * tiling the data exactly) and reads no tensor data. get copies tensor i
 * out into a new tensor: F32, F64, I64 as they are, F16 and BF16 as
 * float32, I32, I16, I8, U8, U16, U32 and BOOL as int64. Names and
 * metadata strings live until close. */
typedef struct nl_st_file nl_st_file;
nl_st_file *nl_st_open(const char *path);
int nl_st_count(const nl_st_file *f);
const char *nl_st_name(const nl_st_file *f, int i);
nl_tensor *nl_st_get(nl_st_file *f, int i);
int nl_st_meta_count(const nl_st_file *f);
const char *nl_st_meta_key(const nl_st_file *f, int i);
const char *nl_st_meta_value(const nl_st_file *f, int i);
void nl_st_close(nl_st_file *f);

/* ---- optimizers (optim.c) ------------------------------------------------
 * One call applies one optimizer step to one parameter, in place and in one
 * pass, with the formulas of PyTorch's torch.optim (single-tensor code).
 * param, grad and the state tensors share one shape and one float dtype;
 * param and the state are contiguous. The caller creates the state, zeros
 * (Adagrad's sum: initial_accumulator_value), and counts this parameter's
 * steps from 1. These writes bypass autograd (they update leaves that
 * require grad) and bump the storage versions, so a graph that saved a
 * parameter before the step refuses to run backward after it. */

/* SGD: d = grad + weight_decay*param; with momentum, buf = d when init_buf
 * (the buffer's first step; its old contents are ignored), else
 * buf = momentum*buf + (1-dampening)*d; then d = buf (nesterov: d + momentum*buf);
 * param -= lr*d. A momentum of 0 is a plain step, nesterov or not. */
int nl_sgd_step(nl_tensor *param /* in, out */,
                nl_tensor *momentum_buf /* in, out; optional: NULL when momentum is 0 */,
                nl_tensor *grad, double lr, double momentum, double dampening,
                double weight_decay, int nesterov, int init_buf);
/* Adam (weight_decay added to the gradient), or AdamW when decoupled
 * (param *= 1 - lr*weight_decay first). max_exp_avg_sq: amsgrad. */
int nl_adam_step(nl_tensor *param /* in, out */, nl_tensor *exp_avg /* in, out */,
                 nl_tensor *exp_avg_sq /* in, out */,
                 nl_tensor *max_exp_avg_sq /* in, out; optional: amsgrad */,
                 nl_tensor *grad, double lr, double beta1, double beta2, double eps,
                 double weight_decay, int decoupled, int64_t step);
/* RMSprop; grad_avg makes it centered. */
int nl_rmsprop_step(nl_tensor *param /* in, out */, nl_tensor *square_avg /* in, out */,
                    nl_tensor *momentum_buf /* in, out; optional: NULL when momentum is 0 */,
                    nl_tensor *grad_avg /* in, out; optional: centered */,
                    nl_tensor *grad, double lr, double alpha, double eps,
                    double weight_decay, double momentum);
/* Adagrad: the step's lr is lr / (1 + (step-1)*lr_decay). */
int nl_adagrad_step(nl_tensor *param /* in, out */, nl_tensor *state_sum /* in, out */,
                    nl_tensor *grad, double lr, double lr_decay, double weight_decay,
                    double eps, int64_t step);
/* Adamax: exp_inf = max(beta2*exp_inf, |g| + eps); param -= lr/(1-beta1^step) * exp_avg/exp_inf. */
int nl_adamax_step(nl_tensor *param /* in, out */, nl_tensor *exp_avg /* in, out */,
                   nl_tensor *exp_inf /* in, out */, nl_tensor *grad, double lr, double beta1,
                   double beta2, double eps, double weight_decay, int64_t step);
/* NAdam with PyTorch 1.13's momentum schedule; mu_product (1 before the
 * first step) is the running product of the momentum factors, a float32
 * value as 1.13 keeps it, updated here. */
int nl_nadam_step(nl_tensor *param /* in, out */, nl_tensor *exp_avg /* in, out */,
                  nl_tensor *exp_avg_sq /* in, out */, nl_tensor *grad, double lr, double beta1,
                  double beta2, double eps, double weight_decay, double momentum_decay,
                  double *mu_product /* in, out */, int64_t step);
/* RAdam: the rectified adaptive step once its variance is defined
 * (rho_t > 5), a bias-corrected momentum step before. */
int nl_radam_step(nl_tensor *param /* in, out */, nl_tensor *exp_avg /* in, out */,
                  nl_tensor *exp_avg_sq /* in, out */, nl_tensor *grad, double lr, double beta1,
                  double beta2, double eps, double weight_decay, int64_t step);
/* Adadelta: delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g; param -= lr*delta. */
int nl_adadelta_step(nl_tensor *param /* in, out */, nl_tensor *square_avg /* in, out */,
                     nl_tensor *acc_delta /* in, out */, nl_tensor *grad, double lr, double rho,
                     double eps, double weight_decay);
/* Rprop: step_size (the caller fills it with lr) grows by etaplus where
 * the gradient kept its sign, shrinks by etaminus where it flipped, within
 * [step_size_min, step_size_max]; param -= sign(g)*step_size, no step
 * where it flipped. prev: the last gradient, 0 where it flipped. */
int nl_rprop_step(nl_tensor *param /* in, out */, nl_tensor *prev /* in, out */,
                  nl_tensor *step_size /* in, out */, nl_tensor *grad, double etaminus,
                  double etaplus, double step_size_min, double step_size_max);
/* ASGD: param = param*(1 - lambd*eta) - eta*g; ax averages param with
 * weight mu; then eta and mu become the next step's (float32 values, as
 * 1.13 keeps them; eta starts at lr, mu at 1). */
int nl_asgd_step(nl_tensor *param /* in, out */, nl_tensor *ax /* in, out */, nl_tensor *grad,
                 double lr, double lambd, double alpha, double t0, double weight_decay,
                 double *eta /* in, out */, double *mu /* in, out */, int64_t step);
/* total = the norm_type-norm of all n gradients together (norm_type
 * inf: max |g|); when max_norm/(total + 1e-6) < 1 each gradient is
 * multiplied by it in place (PyTorch's clip_grad_norm_). With
 * error_if_nonfinite, a NaN or infinite total is an error and no
 * gradient changes. */
int nl_clip_grad_norm(int n, nl_tensor *const *grads /* (n) in, out */, double max_norm,
                      double norm_type, int error_if_nonfinite, double *total_norm /* out */);

/* ---- convolution and pooling (ops_conv.c) ----------------------------------
 * Images are (N, C, H, W), float32 or float64. Each output size is PyTorch's
 *     out = floor((in + 2*pad - dilation*(kernel-1) - 1) / stride) + 1
 * (ceil_mode: rounded up, but no window starts in the right padding); one
 * below 1 is an error. Backward: gradients of the input, weight and bias. */

/* x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O) -> (N, O, Ho, Wo);
 * zero padding. im2col and BLIS GEMM, the images shared among the threads. */
nl_tensor *nl_conv2d(nl_tensor *x, nl_tensor *weight, nl_tensor *bias /* optional */,
                     int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                     int64_t dilation_h, int64_t dilation_w, int64_t groups);
/* x (N, Ci, H, W), weight (Ci, Co/groups, kh, kw), bias (Co) -> (N, Co,
 * out_h, out_w): the transposed convolution (PyTorch's conv_transpose2d),
 * which is the input gradient of nl_conv2d with the same stride, padding,
 * dilation and groups over an (N, Co, out_h, out_w) input, at output
 * gradient x. out_h, out_w: a size whose convolution has x's H, W, e.g.
 * (H-1)*stride - 2*pad + dilation*(kh-1) + 1 + output_padding. */
nl_tensor *nl_conv_transpose2d(nl_tensor *x, nl_tensor *weight, nl_tensor *bias /* optional */,
                               int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                               int64_t dilation_h, int64_t dilation_w, int64_t groups, int64_t out_h,
                               int64_t out_w);
/* nl_conv2d, then nl_max_pool2d with a 2x2 kernel and stride 2, then, when
 * relu, nl_relu: the same values and gradients, bit for bit, but for
 * float32 on AVX2 or AVX-512 the pooling and ReLU run on each block of the
 * convolution's output while it is in cache, and its gradient is rebuilt
 * there, so the full-size output never goes to memory. Its grad_fn is
 * "conv2d_pool". nn.Sequential uses it for Conv2d, MaxPool2d(2) and ReLU. */
nl_tensor *nl_conv2d_pool(nl_tensor *x, nl_tensor *weight, nl_tensor *bias /* optional */,
                          int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                          int64_t dilation_h, int64_t dilation_w, int64_t groups, int relu);
/* The plain loops nl_conv2d is tested against: *out = conv2d(x, weight,
 * bias) and, when gout (N, O, Ho, Wo) is given, the gradients of
 * sum(out * gout) in *gx, *gw, *gb (each optional). No autograd; sums in
 * double; slow. */
int nl_conv2d_reference(nl_tensor *x, nl_tensor *weight, nl_tensor *bias /* optional */,
                        nl_tensor *gout /* optional */, int64_t stride_h, int64_t stride_w,
                        int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                        int64_t groups, nl_tensor **out /* out */, nl_tensor **gx /* out, optional */,
                        nl_tensor **gw /* out, optional */, nl_tensor **gb /* out, optional */);
/* Max over each window (padding, at most half the kernel, never wins; NaN
 * does). indices (optional) receives, int64 from base, the position of each
 * maximum in its (H, W) plane, h*W + w (PyTorch's return_indices). */
nl_tensor *nl_max_pool2d(nl_tensor *x, int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
                         int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                         int64_t dilation_w, int ceil_mode, nl_tensor **indices /* out, optional */,
                         int64_t base);
/* Mean over each window; the divisor counts the padding when
 * count_include_pad (PyTorch's default), else only input pixels;
 * divisor_override > 0 replaces it. */
nl_tensor *nl_avg_pool2d(nl_tensor *x, int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
                         int64_t stride_w, int64_t pad_h, int64_t pad_w, int ceil_mode,
                         int count_include_pad, int64_t divisor_override /* 0: none */);
/* (N, C, out_h, out_w): output i of n over an input dim of size s averages
 * [floor(i*s/n), ceil((i+1)*s/n)). */
nl_tensor *nl_adaptive_avg_pool2d(nl_tensor *x, int64_t out_h, int64_t out_w);
/* (N, C, out_h, out_w): the maximum of nl_adaptive_avg_pool2d's windows
 * (NaN wins, the first of equal maxima); indices (optional) receives, int64
 * from base, each maximum's position h*W + w in its plane. */
nl_tensor *nl_adaptive_max_pool2d(nl_tensor *x, int64_t out_h, int64_t out_w,
                                  nl_tensor **indices /* out, optional */, int64_t base);

/* ---- 3-D convolution and pooling (ops_conv3d.c) ------------------------------
 * The 2-D ops above for volumes (N, C, D, H, W), float32 or float64, with
 * the same output sizes, rules and errors; sizes go (d, h, w). Backward:
 * gradients of the input, weight and bias. */

/* x (N, C, D, H, W), weight (O, C/groups, kd, kh, kw), bias (O) -> (N, O,
 * Do, Ho, Wo); zero padding. vol2col and GEMM, the images shared among the
 * threads (or each product on all of them, for a batch smaller than the
 * threads); the result does not depend on the thread count. */
nl_tensor *nl_conv3d(nl_tensor *x, nl_tensor *weight, nl_tensor *bias /* optional */,
                     int64_t stride_d, int64_t stride_h, int64_t stride_w, int64_t pad_d, int64_t pad_h,
                     int64_t pad_w, int64_t dilation_d, int64_t dilation_h, int64_t dilation_w, int64_t groups);
/* x (N, Ci, D, H, W), weight (Ci, Co/groups, kd, kh, kw), bias (Co) -> (N,
 * Co, out_d, out_h, out_w): nl_conv_transpose2d for volumes, the input
 * gradient of nl_conv3d by weight (same stride, padding, dilation, groups)
 * at output gradient x, run by nl_conv3d's kernels. out_d, out_h, out_w: a
 * size whose convolution has x's D, H, W, e.g. (D-1)*stride - 2*pad +
 * dilation*(kd-1) + 1 + output_padding. */
nl_tensor *nl_conv_transpose3d(nl_tensor *x, nl_tensor *weight, nl_tensor *bias /* optional */,
                               int64_t stride_d, int64_t stride_h, int64_t stride_w, int64_t pad_d,
                               int64_t pad_h, int64_t pad_w, int64_t dilation_d, int64_t dilation_h,
                               int64_t dilation_w, int64_t groups, int64_t out_d, int64_t out_h, int64_t out_w);
/* nl_max_pool2d over volumes; indices: the place (d*H + h)*W + w from base */
nl_tensor *nl_max_pool3d(nl_tensor *x, int64_t kernel_d, int64_t kernel_h, int64_t kernel_w, int64_t stride_d,
                         int64_t stride_h, int64_t stride_w, int64_t pad_d, int64_t pad_h, int64_t pad_w,
                         int64_t dilation_d, int64_t dilation_h, int64_t dilation_w, int ceil_mode,
                         nl_tensor **indices /* out, optional */, int64_t base);
/* nl_avg_pool2d over volumes */
nl_tensor *nl_avg_pool3d(nl_tensor *x, int64_t kernel_d, int64_t kernel_h, int64_t kernel_w, int64_t stride_d,
                         int64_t stride_h, int64_t stride_w, int64_t pad_d, int64_t pad_h, int64_t pad_w,
                         int ceil_mode, int count_include_pad, int64_t divisor_override /* 0: none */);
/* nl_adaptive_avg_pool2d and nl_adaptive_max_pool2d over volumes */
nl_tensor *nl_adaptive_avg_pool3d(nl_tensor *x, int64_t out_d, int64_t out_h, int64_t out_w);
nl_tensor *nl_adaptive_max_pool3d(nl_tensor *x, int64_t out_d, int64_t out_h, int64_t out_w,
                                  nl_tensor **indices /* out, optional */, int64_t base);
/* ---- interpolation (ops_interp.c) ----------------------------------------
 * F.interpolate's modes over the last 1, 2 or 3 dims of a float
 * (N, C, [D, [H,]] W) input, as PyTorch 1.13 computes them: NEAREST reads
 * floor(o * scale), NEAREST_EXACT the pixel whose centre is nearest,
 * LINEAR the two nearest pixels in each dim (linear, bilinear, trilinear),
 * CUBIC four in each with PyTorch's A = -0.75 and the border repeated
 * (bicubic). LINEAR_AA and CUBIC_AA (4-D only): bilinear and bicubic with
 * antialias, PyTorch's _upsample_bilinear2d_aa and _upsample_bicubic2d_aa,
 * a triangle or Keys' cubic (A = -0.5) widened by the scale when
 * downsampling, its weights normalized to sum to 1. */
typedef enum {
    NL_INTERP_NEAREST = 0, NL_INTERP_NEAREST_EXACT = 1, NL_INTERP_LINEAR = 2, NL_INTERP_CUBIC = 3,
    NL_INTERP_LINEAR_AA = 4, NL_INTERP_CUBIC_AA = 5
} nl_interp_mode;
/* (N, C, out sizes): of (out_d, out_h, out_w) and (scale_d, scale_h,
 * scale_w) the last x->ndim - 2 are read. A scale > 0 is the user's scale
 * factor, whose inverse spaces the samples (PyTorch's scale_factor without
 * recompute_scale_factor); 0: in / out. align_corners (LINEAR and CUBIC):
 * the corner pixels' centres line up, scales unread. Gradient: each
 * output's back to its taps with the same weights. */
nl_tensor *nl_interpolate(nl_tensor *x, int mode, int64_t out_d, int64_t out_h, int64_t out_w,
                          double scale_d, double scale_h, double scale_w, int align_corners);

/* ---- grid sampling (ops_grid_sample.c) -----------------------------------
 * F.grid_sample as PyTorch 1.13 computes it: x (N, C, H, W) read at grid
 * (N, Ho, Wo, 2) -> (N, C, Ho, Wo), or x (N, C, D, H, W) at grid (N, Do,
 * Ho, Wo, 3) -> (N, C, Do, Ho, Wo); a grid point (x, y[, z]) in [-1, 1]
 * spans the input's width, height and depth (the corner pixels' centres
 * with align_corners, else their outer edges). BICUBIC (4-D only): 4 x 4
 * pixels, A = -0.75. Padding: ZEROS reads 0 off the input, BORDER the
 * nearest edge pixel, REFLECTION the position reflected at the edges.
 * x and grid share one float dtype. Gradients to x and to the grid
 * (nearest: zero for the grid). */
typedef enum { NL_GRID_BILINEAR = 0, NL_GRID_NEAREST = 1, NL_GRID_BICUBIC = 2 } nl_grid_mode;
typedef enum { NL_GRID_ZEROS = 0, NL_GRID_BORDER = 1, NL_GRID_REFLECTION = 2 } nl_grid_padding;
nl_tensor *nl_grid_sample(nl_tensor *x, nl_tensor *grid, int mode, int padding_mode, int align_corners);

/* ---- recurrent cells (ops_rnn.c) ----------------------------------------
 * Elman (tanh or relu), LSTM and GRU with PyTorch's formulas, gate order
 * and weight layouts: w_ih (G*H, I), w_hh (G*H, H), b_ih and b_hh (G*H),
 * with G = 4 for LSTM (gates i, f, g, o), 3 for GRU (r, z, n), 1 otherwise.
 * All tensors of one call share one float dtype. */
typedef enum { NL_RNN_TANH = 0, NL_RNN_RELU = 1, NL_RNN_LSTM = 2, NL_RNN_GRU = 3 } nl_rnn_mode;

/* One step from gate pre-activations that matmul made.
 * LSTM: gates (N, 4H) = x w_ih^T + b_ih + h w_hh^T + b_hh, c (N, H)
 * -> (N, 2H) = [h' | c'] (take the halves with narrow). */
nl_tensor *nl_lstm_cell(nl_tensor *gates, nl_tensor *c);
/* GRU: gi = x w_ih^T + b_ih, gh = h w_hh^T + b_hh, both (N, 3H); h (N, H)
 * -> h' (N, H); n = tanh(gi_n + r * gh_n): r scales gh's bias too. */
nl_tensor *nl_gru_cell(nl_tensor *gi, nl_tensor *gh, nl_tensor *h);
/* Elman: mode NL_RNN_TANH or NL_RNN_RELU, h' = act(gi + gh), (N, H). */
nl_tensor *nl_rnn_cell(nl_tensor *gi, nl_tensor *gh /* optional */, int mode);
/* One layer over a whole sequence, backward through time included.
 * x (T, N, I), or (N, T, I) when batch_first; h0, c0 (N, H), zeros when
 * NULL (c0: LSTM only); lengths (N) int64 in 1..T: sequence b ends after
 * lengths[b] steps, its later outputs are zero and its final state is that
 * of its last step (PyTorch's packed sequences). The result is flat:
 * the output (T, N, H) or (N, T, H), then h_n (N, H), then for LSTM c_n
 * (N, H); views of it carry the gradients. reference: plain loops instead
 * of the optimized kernels (for tests). */
nl_tensor *nl_rnn_layer(int mode, nl_tensor *x, nl_tensor *w_ih, nl_tensor *w_hh,
                        nl_tensor *b_ih /* optional */, nl_tensor *b_hh /* optional */,
                        nl_tensor *h0 /* optional */, nl_tensor *c0 /* optional */,
                        nl_tensor *lengths /* optional */, int batch_first, int reference);

/* ---- data-parallel runs (dist.c) -----------------------------------------
 * nnlua does not link MPI; nl.dist loads Open MPI's libmpi at run time and
 * hands its functions in. */
typedef struct nl_dist_mpi {
    int (*iallreduce)(const void *sendbuf, void *recvbuf, int count, void *datatype, void *op,
                      void *comm, void **request /* out */);   /* MPI_Iallreduce */
    int (*test)(void **request, int *flag /* out */, void *status);   /* MPI_Test */
    void *comm, *sum, *float32, *float64;   /* MPI_COMM_WORLD, MPI_SUM, MPI_FLOAT, MPI_DOUBLE */
    int size;                                /* ranks in comm */
    /* a rank that exits while others wait: notices on ctl, a duplicate of
     * comm (MPI_Comm_dup), that the waits below look for */
    int (*iprobe)(int source, int tag, void *comm, int *flag /* out */, void *status);  /* MPI_Iprobe */
    int (*recv)(void *buf, int count, void *datatype, int source, int tag, void *comm,
                void *status);                                     /* MPI_Recv */
    int (*send)(const void *buf, int count, void *datatype, int dest, int tag, void *comm);  /* MPI_Send */
    void *ctl, *int64;                       /* the duplicate communicator; MPI_INT64_T */
    int rank;                                /* this process's rank in comm */
} nl_dist_mpi;

/* After MPI_Init nl.dist registers what the process does at exit: when it
 * exits with status 0, a notice to every other rank (nl_dist_announce_exit)
 * and MPI_Finalize; else a line on stderr and MPI_Abort, so a failed rank
 * ends the job instead of leaving the others waiting in a collective.
 * Nothing happens when MPI was finalized already. The struct is copied. */
typedef struct nl_dist_exit {
    int (*finalized)(int *flag /* out */);    /* MPI_Finalized */
    int (*finalize)(void);                    /* MPI_Finalize */
    int (*abort)(void *comm, int errorcode);  /* MPI_Abort */
    void *comm;                               /* the communicator to abort: MPI_COMM_WORLD */
    int rank;                                 /* this process's rank in comm, for the message */
    int size;                                 /* ranks in comm */
    nl_dist_mpi mpi;                          /* for the notices */
} nl_dist_exit;
int nl_dist_on_exit(const nl_dist_exit *hooks);

/* Collectives are numbered as this process starts them (every rank starts
 * them in one order): nl_dist_next_seq gives the next number. A rank that
 * leaves cleanly tells the others how many it started
 * (nl_dist_announce_exit); nl_dist_wait completes request, the collective
 * numbered seq, or returns -1 (op named in nl_error) once a rank has left
 * before starting it: it would wait forever. */
int64_t nl_dist_next_seq(void);
int nl_dist_announce_exit(const nl_dist_mpi *mpi);
int nl_dist_wait(const nl_dist_mpi *mpi, void **request, int64_t seq, const char *op);

/* nn.DataParallel's gradient averaging, overlapped with backward. The
 * parameters go in buckets (bucket[i] for parameter i: 0, 0, 1, 1, 1, 2,
 * ... one float dtype each, numbered in the order backward should finish
 * them). arm() before backward sets a gradient-ready hook: as backward
 * finishes a parameter, its gradient is copied into its bucket, and a full
 * bucket starts its MPI_Iallreduce at once, in bucket order on every rank.
 * arm(r, 0) only watches: touched() says whether a backward since arm()
 * reached any of the parameters (a backward that does not leaves the
 * averaging for a later one); arm() again before one does sets the mode.
 * finish() after backward adds what backward did not hand over (the
 * gradients as they are), starts the rest, waits, and sets each gradient
 * to the average over the ranks (a rank without one counts zeros; none
 * anywhere leaves none), and disarms. MPI's functions come from the
 * binding, as above; handles are pointers (Open MPI's ABI). */
typedef struct nl_dist_reducer nl_dist_reducer;
nl_dist_reducer *nl_dist_reducer_new(const nl_dist_mpi *mpi, int n, nl_tensor *const *params,
                                     const int *bucket);
int nl_dist_reducer_arm(nl_dist_reducer *r, int overlap);
int nl_dist_reducer_touched(const nl_dist_reducer *r);
int nl_dist_reducer_finish(nl_dist_reducer *r);
int nl_dist_reducer_early(const nl_dist_reducer *r);   /* buckets started inside the last backward */
void nl_dist_reducer_free(nl_dist_reducer *r);

/* ---- linear algebra: the LU and Cholesky family (ops_linalg.c) -----------
 * Square matrices batched over the leading dims, A (..., n, n), float32 or
 * float64; a right side B (..., n, k) has A's batch dims and dtype (the
 * Lua layer broadcasts them and takes vectors). Errors name the op as
 * PyTorch does ("linalg.inv: ..."), a batch element counted from 1.
 * nl_linalg_lu_factor: A (..., m, n), square or not, = P L U packed (L
 * (m, k) unit lower, its diagonal implied; U (k, n); k = min(m, n)), with
 * *pivots (int64 (..., k), 1-based: row i was swapped with row pivots[i])
 * and *info (optional: int64 (...), 0 or the first zero of U's diagonal,
 * 1-based); check: an error for a singular matrix. Gradient: A's, PyTorch
 * 1.13's. nl_linalg_lu_permutation: P (..., m, m) of the pivots (..., k).
 * nl_linalg_lu_solve: X = A^-1 B (adjoint: A^-T B) from the LU; gradients
 * to LU (PyTorch 1.13's) and B. nl_linalg_inv, nl_linalg_solve (X = A^-1 B): singular -> error
 * (inv: unless check is 0; *info as lu_factor's). nl_linalg_det, and
 * nl_linalg_slogdet (log|det|, *sign -1, 0 or 1): no error when singular.
 * nl_linalg_cholesky: L lower with A = L L^T from A's lower triangle;
 * check: an error naming the first leading minor that is not
 * positive-definite (*info: its order, or 0). nl_linalg_solve_triangular:
 * X = A^-1 B for A lower or upper, its diagonal taken as ones when
 * unitriangular. Gradients to every float input. */
nl_tensor *nl_linalg_lu_factor(nl_tensor *a, int check, nl_tensor **pivots /* out */,
                               nl_tensor **info /* out, optional */);
nl_tensor *nl_linalg_lu_permutation(nl_tensor *pivots, int64_t m, int dtype);
nl_tensor *nl_linalg_lu_solve(nl_tensor *lu, nl_tensor *pivots, nl_tensor *b, int adjoint);
nl_tensor *nl_linalg_inv(nl_tensor *a, int check, nl_tensor **info /* out, optional */);
nl_tensor *nl_linalg_solve(nl_tensor *a, nl_tensor *b);
nl_tensor *nl_linalg_det(nl_tensor *a);
nl_tensor *nl_linalg_slogdet(nl_tensor *a, nl_tensor **sign /* out */);
nl_tensor *nl_linalg_cholesky(nl_tensor *a, int check, nl_tensor **info /* out, optional */);
nl_tensor *nl_linalg_solve_triangular(nl_tensor *a, nl_tensor *b, int upper, int unitriangular);
/* nl_linalg_ldl_factor (ops_linalg_ldl.c): A (..., n, n) symmetric (its
 * lower triangle read) = P L D L^T P^T by Bunch-Kaufman pivoting, as
 * LAPACK's sytrf (uplo 'L'): LD (..., n, n) holds L below the diagonal
 * (its unit diagonal implied) and D's 1x1 and 2x2 blocks on the diagonal
 * and first subdiagonal, zero above; *pivots int64 (..., n) in LAPACK's
 * 1-based form (p > 0: a 1x1 block, rows k and p swapped; -p on k and k+1:
 * a 2x2 block, rows k+1 and p swapped); *info (optional) int64 (...), 0
 * or the first zero block of D; check: an error for a singular D.
 * nl_linalg_ldl_solve: X = A^-1 B (B (..., n, k), A's batch dims) from
 * them. No gradients. */
nl_tensor *nl_linalg_ldl_factor(nl_tensor *a, int check, nl_tensor **pivots /* out */,
                                nl_tensor **info /* out, optional */);
nl_tensor *nl_linalg_ldl_solve(nl_tensor *ld, nl_tensor *pivots, nl_tensor *b);

/* ---- custom autograd functions (autograd_function.c) --------------------
 * A function whose forward and backward a binding computes (nnlua's Lua
 * nl.autograd.Function, PyTorch's torch.autograd.Function). The binding
 * runs the forward itself, then nl_custom_record puts the graph over its
 * n_out float outputs: results (out: n_out, new references) are new tensors
 * over the outputs' memory that carry it (one node of op NL_OP_CUSTOM over
 * the n_in tensor inputs; with several outputs, one more node per output
 * that hands its gradient on), and the outputs themselves stay without a
 * graph (a binding that keeps them for backward makes no cycle). Backward
 * calls fn(id, n_out, grad_outputs, n_in, inputs, grad_inputs) once for the
 * node, with grad mode off: grad_outputs[j] (borrowed) is output j's
 * gradient, or NULL where none reached it; inputs are the node's; fn puts
 * in grad_inputs[i] (NULL on entry) a reference to input i's gradient or
 * leaves it NULL, and returns 0, or nl_custom_error(msg)'s -1, which
 * backward reports as the node's error.
 * fn is called only from nl_backward, nl_backward_hooked and nl_grad,
 * never when the node dies: a dead node's id goes on a list (per thread)
 * that nl_take_dead_custom hands back (those of fn only; returns how many,
 * at most max), so the binding frees what it keeps for the id.
 * nl_tensor_version: the count of in-place changes of t's memory, which a
 * binding compares to tell a saved tensor changed. */
typedef int (*nl_custom_backward_fn)(int64_t id, int n_out, nl_tensor *const *grad_outputs, int n_in,
                                     nl_tensor *const *inputs, nl_tensor **grad_inputs);
int nl_custom_record(nl_custom_backward_fn fn, int64_t id, int n_in, nl_tensor *const *inputs, int n_out,
                     nl_tensor *const *outputs, nl_tensor **results /* out: n_out */);
int nl_custom_error(const char *msg);
int nl_take_dead_custom(nl_custom_backward_fn fn, int64_t *ids /* out: max */, int max);
uint32_t nl_tensor_version(const nl_tensor *t);

/* NL_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* NNLUA_H */
