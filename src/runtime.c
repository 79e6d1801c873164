/* runtime.c — process-wide settings and reporting: version, the error
 * message of the last failed call (per thread), op and dtype names, and the
 * one thread count shared by the OpenMP kernels and BLIS. No kernels here. */
#include "internal.h"

#include <assert.h>
#include <blis.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <errno.h>
#include <locale.h>
#include <string.h>
#include <unistd.h>

static __thread char err_msg[1024];

/* The C locale's numbers for everything nnlua writes, whatever LC_NUMERIC
 * the host program set: under setlocale(LC_ALL, "de_DE.UTF-8") snprintf
 * wrote 1,5000 in printed tensors, checkpoint names and messages, where
 * PyTorch and Python write 1.5000. The locale object is made once and
 * switched to for the calling thread alone (uselocale), then switched back. */
static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;
static void c_numeric_make(void) { c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

static int vformat_c(char *out, size_t cap, const char *fmt, va_list ap) {
    pthread_once(&c_numeric_once, c_numeric_make);
    locale_t prev = c_numeric ? uselocale(c_numeric) : (locale_t)0;
    int n = vsnprintf(out, cap, fmt, ap);
    if (c_numeric) uselocale(prev);
    return n;
}

void nl_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat_c(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
}

static int format_c(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vformat_c(out, cap, fmt, ap);
    va_end(ap);
    return n;
}

/* fmt must hold one conversion of a double (flags, width and precision as
 * digits, then one of eEfFgGaA) besides literal text and %%: another
 * conversion would read an argument that is not there */
static bool one_double_conversion(const char *fmt) {
    int convs = 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') continue;
        if (p[1] == '%') { p++; continue; }
        p++;
        while (*p && strchr("-+ #0", *p)) p++;
        while (*p >= '0' && *p <= '9') p++;
        if (*p == '.') for (p++; *p >= '0' && *p <= '9'; p++) {}
        if (!*p || !strchr("eEfFgGaA", *p)) return false;
        convs++;
    }
    return convs == 1;
}

int nl_format_double(char *out, size_t cap, const char *fmt, double v) {
    NL_CHECK_INT(out || cap == 0, "format_double: no buffer given");
    NL_CHECK_INT(fmt && one_double_conversion(fmt),
                 "format_double: the format '%.100s' must hold one conversion of a double (such as %%.4f)",
                 fmt ? fmt : "(null)");
    return format_c(out, cap, fmt, v);
}

const char *nl_error(void) { return err_msg; }

const char *nl_version(void) { return NL_VERSION_STRING; }

static const char *op_names[] = {
    "add", "sub", "mul", "div", "pow", "maximum", "minimum",
    "eq", "ne", "lt", "le", "gt", "ge",
    "neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "clamp",
    "sum", "mean", "max", "min", "argmax", "argmin",
    "softmax", "log_softmax",
    "matmul",
    "view", "transpose", "permute", "narrow", "select", "expand", "contiguous",
    "cat", "stack", "index_select", "where", "to_dtype",
    "gelu", "silu", "leaky_relu",
    "cross_entropy", "nll_loss",
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "lstm_cell", "gru_cell", "rnn_cell",
    "sin", "cos",
    "conv2d_pool", "linear",
    "floor", "ceil", "round", "trunc",
    "mse_loss",
    "bce_loss",
    "gelu_tanh",
    "gather", "scatter", "scatter_add", "index_add",
    "elu", "selu", "celu", "softplus", "mish",
    "hardtanh", "hardsigmoid", "hardswish", "logsigmoid",
    "softsign", "tanhshrink", "softshrink", "hardshrink",
    "conv_transpose2d",
    "adaptive_max_pool2d",
    "cumsum", "cumprod",
    "masked_select",
    "conv3d", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
    "interpolate",
    "logcumsumexp",
    "ctc_loss",
    "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
    "log1p", "expm1", "log2", "log10", "exp2",
    "erf", "erfc", "erfinv", "lgamma", "digamma", "polygamma",
    "atan2", "hypot", "fmod", "remainder",
    "linalg_lu_factor", "linalg_lu_solve", "linalg_inv", "linalg_solve", "linalg_det",
    "linalg_slogdet", "linalg_cholesky", "linalg_solve_triangular",
    "custom_function",
    "grid_sample",
    "flip",
    "prelu", "threshold",
    "conv_transpose3d",
    "layer_norm",
    "entr", "erfcx", "i0e", "i1", "i1e", "ndtri", "log_ndtr",
    "bessel_j0", "bessel_j1",
    "zeta", "gammainc", "gammaincc",
    "airy_ai", "bessel_y0", "bessel_y1", "modified_bessel_i0", "modified_bessel_i1",
    "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1", "spherical_bessel_j0",
    "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
    "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
    "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l",
    "legendre_polynomial_p",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift", "gcd", "lcm",
};
static_assert(sizeof op_names / sizeof op_names[0] == NL_OP_COUNT,
              "op_names must name every nl_op");

const char *nl_op_name(int op) {
    return (op >= 0 && op < NL_OP_COUNT) ? op_names[op] : "unknown_op";
}

static const char *dtype_names[] = { "float32", "float64", "int64" };
static const int64_t dtype_sizes[] = { 4, 8, 8 };
static_assert(sizeof dtype_names / sizeof dtype_names[0] == NL_DTYPE_COUNT,
              "dtype_names must name every nl_dtype");

const char *nl_dtype_name(int dtype) { return nl_valid_dtype(dtype) ? dtype_names[dtype] : "invalid"; }
int64_t (nl_dtype_size)(int dtype) { return nl_valid_dtype(dtype) ? dtype_sizes[dtype] : 0; }

int nl_wrap_dim(int dim, int ndim) {
    int n = ndim == 0 ? 1 : ndim;   /* a 0-dim tensor accepts dim 0 and -1 */
    if (dim < 0) dim += n;
    return (dim >= 0 && dim < n) ? dim : -1;
}

/* ---- CPU features (internal.h) ----
 * NNLUA_CPU_CAPABILITY, as PyTorch's ATEN_CPU_CAPABILITY, caps the kernels
 * below what the CPU has: avx2 turns the AVX-512 ones off, default the
 * AVX2 ones too; make test runs the paths without AVX-512 this way on a
 * machine that has it. Read once. */
enum { CPU_UNKNOWN = -1, CPU_BASE, CPU_AVX2, CPU_AVX512F, CPU_AVX512 };
static int cpu_level = CPU_UNKNOWN;

static int cpu_features(void) {
    int v = __atomic_load_n(&cpu_level, __ATOMIC_RELAXED);
    if (v != CPU_UNKNOWN) return v;
    __builtin_cpu_init();
    v = CPU_BASE;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) v = CPU_AVX2;
    if (v == CPU_AVX2 && __builtin_cpu_supports("avx512f"))
        v = __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl")
                ? CPU_AVX512
                : CPU_AVX512F;
    const char *cap = getenv("NNLUA_CPU_CAPABILITY");
    int most = !cap ? CPU_AVX512 : strcmp(cap, "default") == 0 ? CPU_BASE : strcmp(cap, "avx2") == 0 ? CPU_AVX2
                                                                                                : CPU_AVX512;
    if (v > most) v = most;
    __atomic_store_n(&cpu_level, v, __ATOMIC_RELAXED);
    return v;
}

bool nl_cpu_avx2(void) { return cpu_features() >= CPU_AVX2; }
bool nl_cpu_avx512f(void) { return cpu_features() >= CPU_AVX512F; }
bool nl_cpu_avx512(void) { return cpu_features() == CPU_AVX512; }

/* ---- threads ----
 * Debian's BLIS 0.9 does not know recent Xeons and falls back to its AVX2
 * (haswell) kernels; where the CPU has the AVX-512 subsets the skx kernels
 * need, ask for those before BLIS initializes, unless the user chose. */
__attribute__((constructor)) static void choose_blis_kernels(void) {
    if (getenv("BLIS_ARCH_TYPE")) return;
    if (nl_cpu_avx512()) setenv("BLIS_ARCH_TYPE", "skx", 0);
}

static int num_threads;
static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
/* Threads after fork(): libgomp's pool is the parent's, whose threads the
 * child lacks, and the child's first region of more than one thread
 * waited for them forever (an OpenResty worker forked after the master
 * ran a model, a script's own fork). team_started: a region of more than
 * one thread (ours or BLIS's) has run in this process; forked_team: this
 * process is a child forked after that, and keeps one thread. */
static int team_started, forked_team;

#define MAX_THREADS 1024   /* nl_set_num_threads's range, 1..MAX_THREADS */

/* n, or OMP_THREAD_LIMIT where that is lower: OpenMP makes no larger team,
 * and BLIS aborts the process when its team is smaller than it asked for
 * ("A different number of threads was created than was requested") */
static int within_thread_limit(int n) {
    int limit = omp_get_thread_limit();
    return limit >= 1 && n > limit ? limit : n;
}

/* in the child of a fork, before fork() returns there: only stores */
static void forked_child(void) {
    if (!__atomic_load_n(&team_started, __ATOMIC_RELAXED)) return;
    __atomic_store_n(&forked_team, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&num_threads, 1, __ATOMIC_RELAXED);
}

/* NNLUA_NUM_THREADS, where it is a whole number in 1..MAX_THREADS (atoi
 * wrapped 99999999999 to a billion threads, which OpenMP died allocating);
 * anything else leaves the machine's cores */
static void threads_init(void) {
    int n = omp_get_num_procs();
    const char *env = getenv("NNLUA_NUM_THREADS");
    if (env && *env) {
        char *end;
        errno = 0;
        long v = strtol(env, &end, 10);
        if (!errno && *end == '\0' && v >= 1 && v <= MAX_THREADS) n = (int)v;
    }
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    n = within_thread_limit(n);
    __atomic_store_n(&num_threads, n, __ATOMIC_RELAXED);
    bli_thread_set_num_threads(n);
    pthread_atfork(NULL, NULL, forked_child);
}

static int int_float = NL_FLOAT32;   /* nl_int_float_dtype's */

int nl_int_float_dtype(int dtype) {
    int old = int_float;
    if (dtype == NL_FLOAT32 || dtype == NL_FLOAT64) int_float = dtype;
    return old;
}

static int flush_denormal;   /* the mode nl_set_flush_denormal set */
static int flush_changed;    /* nl_set_flush_denormal has been called */

/* FTZ | DAZ in this thread's MXCSR as flush_denormal says */
static void apply_flush(void) {
#if defined(__SSE__)
    unsigned bits = 0x8040, csr = __builtin_ia32_stmxcsr();
    __builtin_ia32_ldmxcsr(flush_denormal ? csr | bits : csr & ~bits);
#endif
}

/* on the calling thread and on each of the team's (a region of n threads
 * runs one block on each) */
static void apply_flush_team(int n) {
    apply_flush();
    if (n > 1) {
        __atomic_store_n(&team_started, 1, __ATOMIC_RELAXED);
        _Pragma("omp parallel num_threads(n)")
        apply_flush();
    }
}

int nl_set_num_threads(int n) {
    pthread_once(&threads_once, threads_init);
    NL_CHECK_INT(n >= 1 && n <= MAX_THREADS, "set_num_threads: expected 1..%d threads, got %d", MAX_THREADS, n);
    NL_CHECK_INT(n == 1 || !__atomic_load_n(&forked_team, __ATOMIC_RELAXED),
                 "set_num_threads: this process was forked after its parent's OpenMP threads started, and "
                 "OpenMP (libgomp) cannot start threads in it; it runs on 1 thread, got %d", n);
    n = within_thread_limit(n);
    __atomic_store_n(&num_threads, n, __ATOMIC_RELAXED);
    bli_thread_set_num_threads(n);
    /* the team takes the current mode: the threads a larger team adds, and
     * the pool's idle ones, which kept the mode of when they last ran (a
     * mode turned off while the setting was 1 reached only this thread,
     * and then part of a 4-thread op still flushed) */
    if (flush_changed) apply_flush_team(n);
    return 0;
}

int nl_set_flush_denormal(int on) {
#if defined(__SSE__)
    flush_denormal = on != 0;
    flush_changed = 1;
    apply_flush_team(nl_get_num_threads());
    return 1;
#else
    (void)on;
    return 0;
#endif
}

/* 1 inside a parallel region (a host calling from its OpenMP loop; nnlua's
 * kernels read the setting before they open theirs): a nested region gets
 * one thread there, and the kernels that split work between k threads,
 * and BLIS, need the team they ask for */
int nl_get_num_threads(void) {
    pthread_once(&threads_once, threads_init);
    if (omp_in_parallel()) return 1;
    return __atomic_load_n(&num_threads, __ATOMIC_RELAXED);
}

int nl_threads_for(int64_t work, int64_t grain) {
    if (work < grain) return 1;
    int n = nl_get_num_threads();
    int64_t chunks = work / grain;
    return chunks < n ? (int)chunks : n;
}

int nl_team(int nt) {
    int n = nt > 1 ? nl_get_num_threads() : 1;
    if (n > 1 && !__atomic_load_n(&team_started, __ATOMIC_RELAXED))
        __atomic_store_n(&team_started, 1, __ATOMIC_RELAXED);
    return n;
}

int nl_team_for(int64_t work, int64_t grain) {
    int n = nl_get_num_threads();
    return n > 1 && work / grain >= (n + 1) / 2 ? n : 1;
}

const char *nl_blas_arch(void) {
    pthread_once(&threads_once, threads_init);
    return bli_arch_string(bli_arch_query_id());
}

double nl_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int nl_isatty(int fd) { return isatty(fd) == 1; }

