/* io.c — tensors in and out of files: the IDX reader (MNIST-style, gzip or
 * plain), a numeric CSV reader, and safetensors checkpoints (an atomic
 * writer, a reader that checks the whole header before any data is read).
 * No file is trusted: every length and offset is checked against the
 * file's size before it is used, and a bad file gives an error naming the
 * loader and the path. No math here beyond scaling bytes; the Lua side
 * picks columns and labels. */
#include "internal.h"
#include "transpose16.h"

#include <errno.h>
#include <immintrin.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "io.c reads and writes safetensors data in the host's byte order");

#define PATH_FMT "'%.300s'"          /* paths in messages, bounded */
#define ST_HEADER_MAX (100LL << 20)  /* safetensors JSON header cap: 100 MB */
#define MAX_NUMEL (INT64_C(1) << 46)

/* ---- gzip-or-plain reading ----
 * Our own loop over zlib's inflate, not gzread: gzread stopped at the
 * first bytes after a member that were not a gzip header and dropped
 * them without a word (trailing garbage read as if it were not there,
 * and a member after zero padding lost). As Python's gzip module reads a
 * file: members one after another as one stream, zero bytes between and
 * after them skipped as padding, anything else after them an error. A
 * file that does not open with gzip's magic (1f 8b) is read as it is. */

typedef struct {
    int fd;
    bool direct;          /* a plain file: its bytes as they are */
    bool in_member;       /* inside a gzip member (inflate has not ended it) */
    bool eof;             /* fd read to its end */
    int64_t consumed;     /* bytes of the file before next_in */
    z_stream z;
    unsigned char buf[1 << 17];   /* input read ahead, z.next_in .. + z.avail_in */
} gz_in;

static void gz_close(gz_in *g) {
    if (!g) return;
    if (!g->direct) inflateEnd(&g->z);
    close(g->fd);
    free(g);
}

/* Reads more input after what is left in g->buf (moved to its front), up
 * to at least want bytes in all unless the file ends first; -1 with the
 * error set. */
static int gz_fill(gz_in *g, unsigned want, const char *op, const char *path) {
    if (g->z.avail_in && g->z.next_in != g->buf) memmove(g->buf, g->z.next_in, g->z.avail_in);
    g->z.next_in = g->buf;
    while (g->z.avail_in < want && !g->eof) {
        ssize_t r = read(g->fd, g->buf + g->z.avail_in, sizeof g->buf - g->z.avail_in);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            nl_set_error("%s: cannot read " PATH_FMT ": %s", op, path, strerror(errno));
            return -1;
        }
        if (r == 0) g->eof = true;
        g->z.avail_in += (unsigned)r;
    }
    return 0;
}

static void gz_take(gz_in *g, unsigned k) {
    g->z.next_in += k;
    g->z.avail_in -= k;
    g->consumed += k;
}

/* Reads up to n bytes; returns how many (short only at end of file), or -1
 * with the error set. */
static int64_t gz_read_full(gz_in *g, void *buf, int64_t n, const char *op, const char *path) {
    unsigned char *out = buf;
    int64_t got = 0;
    while (got < n) {
        if (!g->z.avail_in && gz_fill(g, 1, op, path) < 0) return -1;
        if (g->direct) {
            if (!g->z.avail_in) break;
            unsigned k = n - got < g->z.avail_in ? (unsigned)(n - got) : g->z.avail_in;
            memcpy(out + got, g->z.next_in, k);
            gz_take(g, k);
            got += k;
            continue;
        }
        if (!g->in_member) {
            /* between members: zeros are padding; then the end, or a member */
            while (g->z.avail_in && g->z.next_in[0] == 0) gz_take(g, 1);
            if (!g->z.avail_in) {
                if (g->eof) break;
                continue;
            }
            if (g->z.avail_in < 2 && gz_fill(g, 2, op, path) < 0) return -1;
            if (g->z.avail_in < 2 || g->z.next_in[0] != 0x1f || g->z.next_in[1] != 0x8b) {
                nl_set_error("%s: " PATH_FMT " has data after its gzip data that is neither zero padding nor "
                             "another gzip member (from byte %lld of the file)", op, path,
                             (long long)g->consumed + 1);
                return -1;
            }
            inflateReset(&g->z);
            g->in_member = true;
        }
        if (!g->z.avail_in) {
            nl_set_error("%s: " PATH_FMT " is truncated or corrupt: unexpected end of file", op, path);
            return -1;
        }
        int64_t want = n - got > (1 << 30) ? (1 << 30) : n - got;
        unsigned before = g->z.avail_in;
        g->z.next_out = out + got;
        g->z.avail_out = (unsigned)want;
        int ret = inflate(&g->z, Z_NO_FLUSH);
        g->consumed += before - g->z.avail_in;
        got += want - g->z.avail_out;
        if (ret == Z_STREAM_END) g->in_member = false;
        else if (ret == Z_MEM_ERROR) {
            nl_set_error("%s: out of memory reading " PATH_FMT, op, path);
            return -1;
        } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
            nl_set_error("%s: cannot read " PATH_FMT ": %s", op, path,
                         g->z.msg ? g->z.msg : "corrupt gzip data");
            return -1;
        }
    }
    return got;
}

/* Opened with O_NONBLOCK, then made blocking again: a FIFO that no
 * process writes opens at once and reads as empty (its open waited for a
 * writer forever), while a pipe with a writer (a shell's <(zcat f.gz))
 * is read as before. */
static gz_in *gz_open(const char *op, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        nl_set_error("%s: cannot open " PATH_FMT ": %s", op, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        nl_set_error("%s: " PATH_FMT " is a directory", op, path);
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
        nl_set_error("%s: cannot open " PATH_FMT ": %s", op, path, strerror(errno));
        close(fd);
        return NULL;
    }
    gz_in *g = calloc(1, sizeof *g);
    if (!g) {
        nl_set_error("%s: cannot open " PATH_FMT ": out of memory", op, path);
        close(fd);
        return NULL;
    }
    g->fd = fd;
    g->direct = true;                 /* (until inflate is set up) */
    g->z.next_in = g->buf;
    if (gz_fill(g, 2, op, path) < 0) { gz_close(g); return NULL; }
    if (g->z.avail_in >= 2 && g->buf[0] == 0x1f && g->buf[1] == 0x8b) {
        unsigned char *next = g->z.next_in;
        unsigned avail = g->z.avail_in;
        if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {   /* gzip only */
            nl_set_error("%s: cannot open " PATH_FMT ": out of memory", op, path);
            gz_close(g);
            return NULL;
        }
        g->z.next_in = next;
        g->z.avail_in = avail;
        g->direct = false;
    }
    return g;
}

/* Reads exactly n bytes (no more, no less) of what follows in gz into a new
 * buffer. The buffer grows as data arrives, so a header that claims more
 * than the file holds costs an error, not an allocation of that size. */
static unsigned char *gz_read_exact(gz_in *gz, int64_t n, const char *op, const char *path,
                                    const char *what) {
    int64_t cap = n < (16 << 20) ? n : (16 << 20), got = 0;
    unsigned char *buf = malloc(cap > 0 ? cap : 1);
    if (!buf) { nl_set_error("%s: out of memory reading " PATH_FMT, op, path); return NULL; }
    while (got < n) {
        if (got == cap) {
            int64_t ncap = cap * 2 < n ? cap * 2 : n;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) { free(buf); nl_set_error("%s: out of memory reading " PATH_FMT, op, path); return NULL; }
            buf = nb;
            cap = ncap;
        }
        int64_t r = gz_read_full(gz, buf + got, cap - got, op, path);
        if (r < 0) { free(buf); return NULL; }
        got += r;
        if (got < cap) break;   /* end of file */
    }
    if (got < n) {
        nl_set_error("%s: " PATH_FMT " is truncated: %s needs %lld bytes of data, the file has %lld",
                     op, path, what, (long long)n, (long long)got);
        free(buf);
        return NULL;
    }
    unsigned char extra;
    int64_t r = gz_read_full(gz, &extra, 1, op, path);
    if (r != 0) {
        if (r > 0)
            nl_set_error("%s: " PATH_FMT " has data after the %lld bytes that %s needs", op, path,
                         (long long)n, what);
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- IDX ----
 * magic: 0, 0, element type, ndim; then ndim big-endian int32 sizes; then
 * the elements, big-endian, row-major. */

static int idx_elem_size(int code) {
    switch (code) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
    }
}

static const char *idx_type_name(int code) {
    switch (code) {
    case 0x08: return "ubyte";
    case 0x09: return "sbyte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    default: return "double";
    }
}

static inline uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline double idx_value(const unsigned char *p, int code) {
    switch (code) {
    case 0x08: return p[0];
    case 0x09: return (int8_t)p[0];
    case 0x0B: return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C: return (int32_t)be32(p);
    case 0x0D: { uint32_t u = be32(p); float f; memcpy(&f, &u, 4); return f; }
    default: {
        uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    }
}

/* An IDX file's header and elements: the element type's code, the dims and
 * the raw (big-endian) element bytes in a new buffer; NULL with the error
 * set (naming op and path) for a file that is not a whole IDX file. */
static unsigned char *idx_read(const char *op, const char *path, int *code_out, int *nd_out,
                               int64_t *sizes, int64_t *numel_out) {
    gz_in *gz = gz_open(op, path);
    if (!gz) return NULL;
    unsigned char *data = NULL, hdr[4 * NL_MAX_DIMS];
    int64_t r = gz_read_full(gz, hdr, 4, op, path);
    if (r < 0) goto done;
    if (r < 4) {
        nl_set_error("%s: " PATH_FMT " is too short for an IDX file (%lld bytes)", op, path, (long long)r);
        goto done;
    }
    int code = hdr[2], nd = hdr[3], es = idx_elem_size(code);
    if (hdr[0] != 0 || hdr[1] != 0 || es == 0) {
        nl_set_error("%s: " PATH_FMT " is not an IDX file (magic bytes %02x %02x %02x %02x; "
                     "expected 00 00 then a type code 08, 09, 0b, 0c, 0d or 0e)",
                     op, path, hdr[0], hdr[1], hdr[2], hdr[3]);
        goto done;
    }
    if (nd > NL_MAX_DIMS) {
        nl_set_error("%s: " PATH_FMT " has %d dims; nnlua tensors have at most %d", op, path, nd, NL_MAX_DIMS);
        goto done;
    }
    r = gz_read_full(gz, hdr, 4 * nd, op, path);
    if (r < 0) goto done;
    if (r < 4 * nd) {
        nl_set_error("%s: " PATH_FMT " is truncated in its header (%d dims announced)", op, path, nd);
        goto done;
    }
    for (int i = 0; i < nd; i++) {
        uint32_t s = be32(hdr + 4 * i);
        if (s > INT32_MAX) {
            nl_set_error("%s: " PATH_FMT " has a negative size in dim %d", op, path, i + 1);
            goto done;
        }
        sizes[i] = s;
    }
    /* all dims read before the product is checked: the message prints
     * the whole shape (it printed unset dims past the one that overflowed) */
    int64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        int64_t s = sizes[i];
        if (s && numel > MAX_NUMEL / s) {
            nl_set_error("%s: " PATH_FMT ": shape %s is too large", op, path, nl_sizes_str(nd, sizes));
            goto done;
        }
        numel *= s;
    }
    char what[200];
    snprintf(what, sizeof what, "shape %s of %s", nl_sizes_str(nd, sizes), idx_type_name(code));
    data = gz_read_exact(gz, numel * es, op, path, what);
    *code_out = code;
    *nd_out = nd;
    *numel_out = numel;
done:
    gz_close(gz);
    return data;
}

nl_tensor *nl_load_idx(const char *path, int dtype) {
    NL_CHECK(path != NULL, "load_idx: no path given");
    NL_CHECK(dtype == -1 || nl_valid_dtype(dtype), "load_idx: invalid dtype %d", dtype);
    int code, nd;
    int64_t sizes[NL_MAX_DIMS], numel;
    unsigned char *data = idx_read("load_idx", path, &code, &nd, sizes, &numel);
    if (!data) return NULL;
    int es = idx_elem_size(code);
    if (dtype == -1) dtype = code == 0x0D ? NL_FLOAT32 : code == 0x0E ? NL_FLOAT64 : NL_INT64;
    nl_tensor *t = nl_tensor_alloc("load_idx", nd, sizes, dtype);
    if (!t) goto done;
    if (code == 0x08 && dtype == NL_FLOAT32) {          /* images: the common case */
        float *o = t->data;
        for (int64_t i = 0; i < numel; i++) o[i] = data[i];
    } else if (dtype == NL_INT64) {
        int64_t *o = t->data;
        for (int64_t i = 0; i < numel; i++) {
            double v = idx_value(data + i * es, code);
            /* a fraction too: it was truncated without a word (1.5 -> 1) */
            if (!(v >= -0x1p63 && v < 0x1p63) || v != trunc(v)) {
                nl_set_error("load_idx: " PATH_FMT ": element %lld (counting from 1) holds %.17g, which %s; "
                             "load it as float32 or float64", path, (long long)i + 1, v,
                             v == v && v == trunc(v) ? "does not fit in int64" : "is not a whole number");
                nl_release(t);
                t = NULL;
                goto done;
            }
            o[i] = (int64_t)v;
        }
    } else {
        char *o = t->data;
        int64_t os = nl_dtype_size(dtype);
        for (int64_t i = 0; i < numel; i++) nl_store(o + i * os, dtype, idx_value(data + i * es, code));
    }
done:
    free(data);
    return t;
}

/* ---- IDX bytes kept as bytes ----
 * Images come as unsigned bytes; a float32 copy of them is four times the
 * file. A dataset keeps these and converts one batch of rows at a time. */

struct nl_bytes {
    int ndim;
    int64_t sizes[NL_MAX_DIMS];
    unsigned char *data;
    int64_t counted;   /* bytes added to the live count (nl_mem_count) */
};

nl_bytes *nl_load_idx_bytes(const char *path) {
    NL_CHECK(path != NULL, "load_idx_bytes: no path given");
    nl_bytes *b = calloc(1, sizeof *b);
    NL_CHECK(b != NULL, "load_idx_bytes: out of memory");
    int code;
    int64_t numel;
    b->data = idx_read("load_idx_bytes", path, &code, &b->ndim, b->sizes, &numel);
    if (b->data && code != 0x08)
        nl_set_error("load_idx_bytes: " PATH_FMT " holds %s elements, not unsigned bytes; "
                     "data.load_idx reads every element type", path, idx_type_name(code));
    else if (b->data && b->ndim == 0)
        nl_set_error("load_idx_bytes: " PATH_FMT " has 0 dims; rows need at least 1", path);
    else if (b->data) {
        /* counted live: a data set built in a loop (malloc'd, unseen by the
         * allocator) piled up, 47 MB each for Fashion-MNIST, the GC unpaced */
        b->counted = numel;
        nl_mem_count(numel);
        return b;
    }
    nl_bytes_free(b);
    return NULL;
}

void nl_bytes_free(nl_bytes *b) {
    if (!b) return;
    nl_mem_count(-b->counted);
    free(b->data);
    free(b);
}

int nl_bytes_ndim(const nl_bytes *b) { return b ? b->ndim : 0; }

int64_t nl_bytes_size(const nl_bytes *b, int d) { return b && d >= 0 && d < b->ndim ? b->sizes[d] : 0; }

/* rows of bytes as floats, the division vectorized (exact, so every lane
 * width gives the same values) */
#define BYTES_TO(name, T)                                                              \
    static void name(T *restrict d, const unsigned char *restrict s, int64_t n, T div) { \
        for (int64_t j = 0; j < n; j++) d[j] = (T)s[j] / div;                          \
    }
BYTES_TO(bytes_to_f32, float)
BYTES_TO(bytes_to_f64, double)

/* With AVX-512, v / div as v * r corrected once by FMA (r = 1 / div):
 * q = v r, q += (v - q div) r. That is a fraction of a division's cost,
 * and for the byte values it is the quotient rounded once, which
 * fma_divides() checks for all 256 of them before it is used. */
__attribute__((target("avx512f,avx512vl,avx512bw")))
static void bytes_to_f32_fma(float *restrict d, const unsigned char *restrict s, int64_t n, float div) {
    __m512 vd = _mm512_set1_ps(div), vr = _mm512_set1_ps(1.0f / div);
    int64_t j = 0;
    for (; j < n; j += 16) {
        __mmask16 m = first_lanes(n - j);
        __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, s + j)));
        __m512 q = _mm512_mul_ps(v, vr);
        q = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, vd, v), vr, q);
        _mm512_mask_storeu_ps(d + j, m, q);
    }
}

static bool fma_divides(float div) {
    /* the last divisor's answer (a data loader asks for every batch with the
     * same one): its bits above, 1 + the answer below, 0 for none yet */
    static uint64_t last;
    uint32_t bits;
    memcpy(&bits, &div, sizeof bits);
    uint64_t seen = __atomic_load_n(&last, __ATOMIC_RELAXED);
    if (seen && seen >> 32 == bits) return (seen & 3) == 2;
    float r = 1.0f / div;
    bool ok = true;
    for (int v = 0; v < 256 && ok; v++) {
        float q = (float)v * r;
        ok = fmaf(fmaf(-q, div, (float)v), r, q) == (float)v / div;
    }
    __atomic_store_n(&last, (uint64_t)bits << 32 | (ok ? 2 : 1), __ATOMIC_RELAXED);
    return ok;
}

nl_tensor *nl_bytes_rows(const nl_bytes *b, nl_tensor *index, int64_t base, double divisor, int dtype) {
    const char *op = "bytes_rows";
    NL_CHECK(b != NULL, "%s: no bytes given", op);
    NL_CHECK_TENSOR(op, index);
    NL_CHECK(index->dtype == NL_INT64 && index->ndim <= 1, "%s: index must be a 1-D int64 tensor, got %s %s",
             op, nl_dtype_name(index->dtype), nl_shape_str(index));
    NL_CHECK(dtype == NL_FLOAT32 || dtype == NL_FLOAT64, "%s: dtype must be float32 or float64, got %s", op,
             nl_valid_dtype(dtype) ? nl_dtype_name(dtype) : "an invalid dtype");
    NL_CHECK(divisor > 0 && isfinite(divisor), "%s: divisor must be a positive number, got %g", op, divisor);
    int64_t rows = b->sizes[0], n = index->numel, len = 1;
    for (int d = 1; d < b->ndim; d++) len *= b->sizes[d];
    for (int64_t i = 0; i < n; i++) {
        int64_t k = nl_get_index(index, i, base);
        NL_CHECK(k >= 0 && k < rows, "%s: row %lld out of range for shape %s", op, (long long)(k + base),
                 nl_sizes_str(b->ndim, b->sizes));
    }
    int64_t sz[NL_MAX_DIMS];
    memcpy(sz, b->sizes, sizeof sz);
    sz[0] = n;
    nl_tensor *r = nl_tensor_alloc(op, b->ndim, sz, dtype);
    if (!r) return NULL;
    /* byte / divisor in the dtype's arithmetic: the values of converting the
     * bytes and then dividing the tensor (div_) */
    float fdiv = (float)divisor;
    bool fma = dtype == NL_FLOAT32 && nl_cpu_avx512() && fma_divides(fdiv);
    /* rows drawn at random come from memory, not cache: two threads paid
     * from W1's batch (128 x 784 bytes), 56 us a batch on one thread and
     * 41 us on two, at grains of 2^14 and 2^15 alike */
    int nt = nl_threads_for(n * len, 1 << 15);
    NL_PARALLEL_FOR(nt, i, n,
        const unsigned char *s = b->data + nl_get_index(index, i, base) * len;
        if (dtype == NL_FLOAT64) bytes_to_f64((double *)r->data + i * len, s, len, divisor);
        else if (fma) bytes_to_f32_fma((float *)r->data + i * len, s, len, fdiv);
        else bytes_to_f32((float *)r->data + i * len, s, len, fdiv);
    );
    return r;
}

/* ---- CSV ----
 * Numbers separated by one delimiter character; spaces and tabs around a
 * field and a pair of double quotes around it are ignored; blank lines are
 * skipped; LF, CRLF and lone CR line ends and a UTF-8 byte order mark are
 * accepted. A number is what strtod reads, less its hex and nan(...)
 * forms, which Python and numpy refuse (a hex ID column became numbers). */

static inline bool csv_space(char c, int delim) {
    return (c == ' ' || c == '\t') && c != delim;
}

/* The end of the field that starts at s: its delimiter, or e. A field
 * that opens with a double quote (after spaces) runs to the quote that
 * closes it, "" inside standing for one quote, so a delimiter there is
 * part of the field ("Price, USD" is one header name, as pandas and
 * spreadsheets write it); a quote anywhere else is a plain character, as
 * RFC 4180 and Python's csv module read it (one in the middle of a name
 * hid every later delimiter of the line). */
static char *csv_field_end(char *s, const char *e, int delim) {
    while (s < e && csv_space(*s, delim)) s++;
    if (s < e && *s == '"')
        for (s++; s < e; s++)
            if (*s == '"') {
                if (s + 1 < e && s[1] == '"') s++;
                else { s++; break; }
            }
    while (s < e && *s != delim) s++;
    return s;
}

/* the number of fields of a line [s, e) */
static int csv_count_fields(char *s, const char *e, int delim) {
    int n = 1;
    for (s = csv_field_end(s, e, delim); s < e; s = csv_field_end(s + 1, e, delim)) n++;
    return n;
}

/* The record at p: its end, in *next where the next one starts, and in
 * *breaks the line ends inside its quoted fields. A record ends at LF,
 * CRLF or a lone CR (a file with CR line ends read as one line: its
 * header took the data as names, and no rows were left) outside quotes:
 * a field that opens with a double quote runs to the quote that closes
 * it, line ends included, as RFC 4180 and Python's csv module read it (a
 * header name holding a line end was cut there, and the rest of the
 * header taken for a data row). NULL when a quote is never closed. */
static char *csv_record(char *p, char *end, int delim, char **next, int64_t *breaks) {
    char *s = p;
    *breaks = 0;
    for (;;) {
        while (s < end && csv_space(*s, delim)) s++;
        if (s < end && *s == '"')
            for (s++;; s++) {
                if (s >= end) return NULL;
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') s++;
                    else { s++; break; }
                } else if (*s == '\n' || (*s == '\r' && !(s + 1 < end && s[1] == '\n'))) {
                    ++*breaks;
                }
            }
        while (s < end && *s != delim && *s != '\n' && *s != '\r') s++;
        if (s < end && *s == delim) s++;
        else break;
    }
    *next = s == end ? end : s + 1 + (*s == '\r' && s + 1 < end && s[1] == '\n');
    return s;
}

/* The names of a header record [p, e), each read as a row's field is: a
 * quoted one unquoted ("" inside is one quote), spaces around trimmed; into
 * out, which has room for the record, each followed by a NUL (a quoted
 * name may hold a line end, which separated them before). (The Lua layer
 * split the line again by a rule of its own, which drifted from this one:
 * a tab delimiter was skipped as a space.) */
static void csv_header_names(char *p, char *e, int delim, char *out) {
    char *o = out;
    for (char *f = p;;) {
        char *fe = csv_field_end(f, e, delim), *a = f, *name = o;
        while (a < fe && csv_space(*a, delim)) a++;
        if (a < fe && *a == '"')
            for (a++; a < fe; a++) {
                if (*a != '"') *o++ = *a;
                else if (a + 1 < fe && a[1] == '"') *o++ = *a++;
                else { a++; break; }
            }
        while (a < fe) *o++ = *a++;
        while (o > name && (o[-1] == ' ' || o[-1] == '\t')) o--;
        char *s = name;
        while (s < o && (*s == ' ' || *s == '\t')) s++;
        memmove(name, s, (size_t)(o - s));
        o -= s - name;
        *o++ = '\0';
        if (fe >= e) break;
        f = fe + 1;
    }
}

/* a line [p, e) of only spaces and tabs */
static bool csv_blank(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    return p == e;
}

nl_tensor *nl_load_csv(const char *path, int delimiter, int skip_lines, char *header, int64_t header_cap) {
    NL_CHECK(path != NULL, "load_csv: no path given");
    NL_CHECK(delimiter > 0 && delimiter < 128 && delimiter != '\n' && delimiter != '\r' && delimiter != '"',
             "load_csv: invalid delimiter (code %d); use one ASCII character such as ',' ';' or '\\t'", delimiter);
    NL_CHECK(skip_lines >= 0, "load_csv: negative number of lines to skip (%d)", skip_lines);
    NL_CHECK(header == NULL || skip_lines > 0, "load_csv: a header needs at least one skipped line");
    NL_CHECK(header == NULL || header_cap > 0, "load_csv: no room for the header line");
    gz_in *gz = gz_open("load_csv", path);
    if (!gz) return NULL;
    /* Numbers are read in the C locale, as Python's float() reads them,
     * whatever LC_NUMERIC the host program set: strtod follows the
     * thread's locale, and under de_DE '1.5' was not a number while
     * '"1,5"' was 1.5. (uselocale is the thread's alone, and undone at
     * the end.) */
    locale_t c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t prev_locale = c_numeric ? uselocale(c_numeric) : (locale_t)0;
    /* the whole file, NUL-terminated */
    int64_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    double *vals = NULL;
    nl_tensor *t = NULL;
    if (!buf) { nl_set_error("load_csv: out of memory reading " PATH_FMT, path); goto done; }
    for (;;) {
        if (cap - len < 2) {
            char *nb = cap < (INT64_C(1) << 40) ? realloc(buf, cap * 2) : NULL;
            if (!nb) { nl_set_error("load_csv: out of memory reading " PATH_FMT, path); goto done; }
            buf = nb;
            cap *= 2;
        }
        int64_t r = gz_read_full(gz, buf + len, cap - len - 1, "load_csv", path);
        if (r < 0) goto done;
        /* checked as it comes: /dev/zero was read until memory ran out */
        if (memchr(buf + len, '\0', r)) {
            nl_set_error("load_csv: " PATH_FMT " holds a NUL byte; it is not a text file", path);
            goto done;
        }
        len += r;
        if (len < cap - 1) break;
    }
    buf[len] = '\0';
    char *p = buf, *end = buf + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    int64_t line = 0, breaks = 0, ncol = -1, ncol_line = 0, nrows = 0, nvals = 0, vcap = 0;
    for (int i = 0; i < skip_lines; i++) {
        if (p >= end) {
            /* (it said "has 1 lines; expected at least 1 header lines" of
             * a file of one blank line) */
            if (header && line == 0)
                nl_set_error("load_csv: " PATH_FMT " has no header line: the file is empty", path);
            else if (header)
                nl_set_error("load_csv: " PATH_FMT " has no header line: its %lld line%s blank", path,
                             (long long)line, line == 1 ? " is" : "s are");
            else
                nl_set_error("load_csv: " PATH_FMT " has %lld line%s; expected at least %d to skip",
                             path, (long long)line, line == 1 ? "" : "s", skip_lines);
            goto done;
        }
        char *next, *e = csv_record(p, end, delimiter, &next, &breaks);
        if (!e) goto unclosed;
        line++;
        if (header && csv_blank(p, e)) {      /* blank lines before the header, as before data rows */
            p = next;
            i--;
            continue;
        }
        if (i == skip_lines - 1 && header) {
            if (e - p >= header_cap) {
                nl_set_error("load_csv: " PATH_FMT ": the header line is longer than %lld bytes",
                             path, (long long)header_cap - 1);
                goto done;
            }
            csv_header_names(p, e, delimiter, header);
            ncol = csv_count_fields(p, e, delimiter);
            ncol_line = line;
        }
        line += breaks;
        p = next;
    }
    while (p < end) {
        char *next, *e = csv_record(p, end, delimiter, &next, &breaks);
        if (!e) goto unclosed;
        line++;
        if (csv_blank(p, e)) { p = next; continue; }
        int64_t nf = csv_count_fields(p, e, delimiter);
        if (ncol < 0) { ncol = nf; ncol_line = line; }
        if (nf != ncol) {
            nl_set_error("load_csv: " PATH_FMT " line %lld has %lld field%s, expected %lld as on line %lld",
                         path, (long long)line, (long long)nf, nf == 1 ? "" : "s", (long long)ncol,
                         (long long)ncol_line);
            goto done;
        }
        if (nvals + nf > vcap) {
            int64_t ncap = vcap ? vcap * 2 : 4096;
            while (ncap < nvals + nf) ncap *= 2;
            double *nv = realloc(vals, sizeof(double) * ncap);
            if (!nv) { nl_set_error("load_csv: out of memory reading " PATH_FMT, path); goto done; }
            vals = nv;
            vcap = ncap;
        }
        char *f = p;
        for (int64_t col = 1; col <= nf; col++) {
            char *fe = csv_field_end(f, e, delimiter);
            char *a = f, *b = fe;
            while (a < b && csv_space(*a, delimiter)) a++;
            while (b > a && csv_space(b[-1], delimiter)) b--;
            if (b - a >= 2 && *a == '"' && b[-1] == '"') { a++; b--; }
            char saved = *b, *stop = NULL;
            *b = '\0';
            double v = b > a ? strtod(a, &stop) : 0;
            bool ok = b > a && stop == b && !csv_space(*a, delimiter) && !strpbrk(a, "xX(");
            if (!ok) {
                nl_set_error(b > a ? "load_csv: " PATH_FMT " line %lld, column %lld: '%.40s' is not a number"
                                   : "load_csv: " PATH_FMT " line %lld, column %lld: empty field%.0s",
                             path, (long long)line, (long long)col, a);
                goto done;
            }
            *b = saved;
            vals[nvals++] = v;
            f = fe + 1;
        }
        nrows++;
        line += breaks;
        p = next;
    }
    int64_t sizes[2] = { nrows, ncol < 0 ? 0 : ncol };
    t = nl_tensor_alloc("load_csv", 2, sizes, NL_FLOAT64);
    if (t && nvals) memcpy(t->data, vals, sizeof(double) * nvals);
    goto done;
unclosed:
    nl_set_error("load_csv: " PATH_FMT " line %lld: the row that starts there has a quoted field that is "
                 "never closed (the file ends inside it)", path, (long long)line + 1);
done:
    if (c_numeric) {
        uselocale(prev_locale);
        freelocale(c_numeric);
    }
    free(vals);
    free(buf);
    gz_close(gz);
    return t;
}

/* ---- safetensors: dtypes ---- */

typedef enum { ST_F32, ST_F64, ST_I64, ST_F16, ST_BF16, ST_I32, ST_I16, ST_I8, ST_U8,
               ST_U16, ST_U32, ST_BOOL, ST_COUNT } st_code;

static const struct { const char *name; int size; int dtype; } st_types[ST_COUNT] = {
    [ST_F32] = { "F32", 4, NL_FLOAT32 },  [ST_F64] = { "F64", 8, NL_FLOAT64 },
    [ST_I64] = { "I64", 8, NL_INT64 },    [ST_F16] = { "F16", 2, NL_FLOAT32 },
    [ST_BF16] = { "BF16", 2, NL_FLOAT32 }, [ST_I32] = { "I32", 4, NL_INT64 },
    [ST_I16] = { "I16", 2, NL_INT64 },    [ST_I8] = { "I8", 1, NL_INT64 },
    [ST_U8] = { "U8", 1, NL_INT64 },      [ST_U16] = { "U16", 2, NL_INT64 },
    [ST_U32] = { "U32", 4, NL_INT64 },    [ST_BOOL] = { "BOOL", 1, NL_INT64 },
};

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    float f;
    if (e == 0) {                              /* zero or subnormal: m * 2^-24 */
        f = ldexpf((float)m, -24);
        return sign ? -f : f;
    }
    uint32_t u = e == 31 ? sign | 0x7F800000u | m << 13      /* inf, NaN */
                         : sign | (e + 112) << 23 | m << 13;
    memcpy(&f, &u, 4);
    return f;
}

/* n elements of code at src (any alignment) into dst of code's nl dtype */
static void st_convert(void *dst, const unsigned char *src, int code, int64_t n) {
    float *of = dst;
    int64_t *oi = dst;
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *p = src + i * st_types[code].size;
        switch (code) {
        case ST_F16: { uint16_t h; memcpy(&h, p, 2); of[i] = half_to_float(h); break; }
        case ST_BF16: { uint16_t h; memcpy(&h, p, 2); uint32_t u = (uint32_t)h << 16; memcpy(of + i, &u, 4); break; }
        case ST_I32: { int32_t v; memcpy(&v, p, 4); oi[i] = v; break; }
        case ST_I16: { int16_t v; memcpy(&v, p, 2); oi[i] = v; break; }
        case ST_I8: oi[i] = (int8_t)p[0]; break;
        case ST_U8: oi[i] = p[0]; break;
        case ST_U16: { uint16_t v; memcpy(&v, p, 2); oi[i] = v; break; }
        case ST_U32: { uint32_t v; memcpy(&v, p, 4); oi[i] = v; break; }
        default: oi[i] = p[0] != 0; break;     /* BOOL */
        }
    }
}

/* ---- safetensors: strings ---- */

static bool utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i];
        if (c < 0x80) { i++; continue; }
        int len;
        uint32_t min;
        if ((c & 0xE0) == 0xC0) { len = 2; c &= 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; c &= 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; c &= 0x07; min = 0x10000; }
        else return false;
        if (i + len > n) return false;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            c = c << 6 | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

/* a growable byte string; oom sticks */
typedef struct { char *p; size_t n, cap; bool oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* s as a JSON string literal */
static void sb_json_string(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') sb_put(b, "\\\"", 2);
        else if (c == '\\') sb_put(b, "\\\\", 2);
        else if (c < 0x20) sb_printf(b, "\\u%04x", c);
        else sb_put(b, p, 1);
    }
    sb_put(b, "\"", 1);
}

/* ---- safetensors: writing ---- */

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* the first name that occurs twice in names, or NULL (or (char *)-1 when out of memory) */
static const char *find_duplicate(int n, const char *const *names) {
    if (n < 2) return NULL;
    const char **s = malloc(sizeof(char *) * n);
    if (!s) return (const char *)-1;
    memcpy(s, names, sizeof(char *) * n);
    qsort(s, n, sizeof(char *), cmp_str_ptr);
    const char *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0) dup = s[i];
    free(s);
    return dup;
}

static bool check_text(const char *what, const char *s, int i) {
    if (!s) {
        nl_set_error("save_safetensors: %s %d is missing", what, i + 1);
        return false;
    }
    if (!utf8_valid((const unsigned char *)s, strlen(s))) {
        nl_set_error("save_safetensors: %s '%.200s' is not valid UTF-8", what, s);
        return false;
    }
    return true;
}

static bool write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        c += w;
        n -= (size_t)w;
    }
    return true;
}

static void fsync_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* ---- whole-or-nothing writes ----
 * A temporary file beside the destination (O_EXCL, so two writers never
 * share one; its name keeps at most 200 bytes of the last component, so
 * that a name near NAME_MAX still has one), filled, fsynced, renamed over
 * it, then the directory fsynced: a reader finds the old file or the new
 * one, whole. The destination is path, or the file a symlink at path
 * names (the rename replaced the link, leaving its target old); a file
 * replaced keeps its mode (and, for root, its owner); a directory, FIFO
 * or device at path is refused (it was replaced by a plain file). */
typedef struct {
    int fd;
    char *tmp;      /* the temporary file's name */
    char *dest;     /* where it goes */
} pending_file;

static void pending_free(pending_file *pf) {
    free(pf->tmp);
    free(pf->dest);
}

/* the file a symlink at link names: its target, relative to the link's
 * directory unless absolute; malloc'd, NULL with errno set */
static char *link_target(const char *link) {
    char buf[4096];
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    if (n < 0) return NULL;
    if (n == (ssize_t)sizeof buf - 1) { errno = ENAMETOOLONG; return NULL; }
    buf[n] = '\0';
    const char *slash = strrchr(link, '/');
    size_t dir = buf[0] == '/' || !slash ? 0 : (size_t)(slash - link) + 1;
    char *t = malloc(dir + (size_t)n + 1);
    if (!t) return NULL;
    memcpy(t, link, dir);
    memcpy(t + dir, buf, (size_t)n + 1);
    return t;
}

/* the destination for path, malloc'd, and what is there now (st_mode 0:
 * nothing yet): symlinks followed to the file they name, which may not
 * exist yet (it is made, as open() makes it); NULL and an error when the
 * destination cannot take a file */
static char *destination_of(const char *op, const char *path, struct stat *st) {
    char *dest = strdup(path);
    for (int hops = 0;; hops++) {
        memset(st, 0, sizeof *st);
        if (!dest) {
            nl_set_error("%s: out of memory", op);
            return NULL;
        }
        if (lstat(dest, st) != 0) {
            if (errno == ENOENT) {
                memset(st, 0, sizeof *st);
                return dest;
            }
            nl_set_error("%s: cannot write " PATH_FMT ": %s", op, path, strerror(errno));
            free(dest);
            return NULL;
        }
        if (!S_ISLNK(st->st_mode)) break;
        if (hops == 40) {
            nl_set_error("%s: cannot write " PATH_FMT ": %s", op, path, strerror(ELOOP));
            free(dest);
            return NULL;
        }
        char *next = link_target(dest);
        if (!next && errno != ENOMEM) {
            nl_set_error("%s: cannot write " PATH_FMT ": %s", op, path, strerror(errno));
            free(dest);
            return NULL;
        }
        free(dest);
        dest = next;
    }
    if (!S_ISREG(st->st_mode)) {
        nl_set_error("%s: cannot write " PATH_FMT ": it is %s, not a regular file", op, path,
                     S_ISDIR(st->st_mode) ? "a directory" : S_ISFIFO(st->st_mode) ? "a FIFO"
                     : S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device" : "a special file");
        free(dest);
        return NULL;
    }
    return dest;
}

static int tmp_open(const char *op, const char *path, pending_file *pf) {
    static int counter;
    struct stat old;
    pf->fd = -1;
    pf->tmp = NULL;
    pf->dest = destination_of(op, path, &old);
    if (!pf->dest) return -1;
    const char *dst = pf->dest;
    const char *slash = strrchr(dst, '/');
    size_t dir_len = slash ? (size_t)(slash - dst) + 1 : 0;
    size_t base_len = strlen(dst + dir_len);
    if (base_len > 200) base_len = 200;
    size_t cap = dir_len + base_len + 64;
    pf->tmp = malloc(cap);
    if (!pf->tmp) {
        nl_set_error("%s: out of memory", op);
        pending_free(pf);
        return -1;
    }
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(pf->tmp, cap, "%.*s%.*s.tmp-%ld-%d", (int)dir_len, dst, (int)base_len, dst + dir_len,
                 (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        fd = open(pf->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        bool linked = strcmp(dst, path) != 0;
        nl_set_error("%s: cannot create a file beside " PATH_FMT "%s%s%s: %s", op, path,
                     linked ? " (a symlink to '" : "", linked ? dst : "",
                     linked ? "': the file is made beside it)" : "", strerror(errno));
        pending_free(pf);
        return -1;
    }
    if (old.st_mode) {
        /* as the file it replaces: a private checkpoint stays private */
        if (geteuid() == 0) (void)!fchown(fd, old.st_uid, old.st_gid);
        (void)fchmod(fd, old.st_mode & 07777);
    }
    pf->fd = fd;
    return 0;
}

/* the temporary file given up: closed, removed, its names freed */
static void tmp_abort(pending_file *pf) {
    close(pf->fd);
    unlink(pf->tmp);
    pending_free(pf);
}

/* fsync, close, rename over the destination, fsync the directory; on a
 * failure the temporary file is removed and the destination left as it was */
static int tmp_commit(const char *op, pending_file *pf, const char *path) {
    int err = 0;
    if (fsync(pf->fd) != 0) err = errno;
    if (close(pf->fd) != 0 && !err) err = errno;
    if (!err && rename(pf->tmp, pf->dest) != 0) err = errno;
    if (err) {
        unlink(pf->tmp);
        pending_free(pf);
        nl_set_error("%s: cannot write " PATH_FMT ": %s", op, path, strerror(err));
        return -1;
    }
    fsync_dir_of(pf->dest);
    pending_free(pf);
    return 0;
}

int nl_write_file(const char *path, const void *data, size_t n) {
    NL_CHECK_INT(path && *path, "write_file: empty path");
    NL_CHECK_INT(data || n == 0, "write_file: no data given");
    pending_file pf;
    if (tmp_open("write_file", path, &pf) != 0) return -1;
    if (!write_all(pf.fd, data, n)) {
        nl_set_error("write_file: writing " PATH_FMT " failed: %s", path, strerror(errno));
        tmp_abort(&pf);
        return -1;
    }
    return tmp_commit("write_file", &pf, path);
}

/* An append is whole or nothing too: the bytes a failed write left (a
 * full disk took part of a line) are cut off again, so a log never ends
 * in a torn line. O_NONBLOCK: a FIFO is refused, not waited on. */
int64_t nl_append_file(const char *path, const void *data, size_t n) {
    NL_CHECK_INT(path && *path, "append_file: empty path");
    NL_CHECK_INT(data || n == 0, "append_file: no data given");
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0666);
    if (fd < 0) {
        nl_set_error("append_file: cannot open " PATH_FMT ": %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        nl_set_error("append_file: cannot append to " PATH_FMT ": %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        nl_set_error("append_file: cannot append to " PATH_FMT ": it is not a regular file", path);
        return -1;
    }
    int err = 0;
    if (!write_all(fd, data, n) || fsync(fd) != 0) err = errno;
    if (err) (void)!ftruncate(fd, st.st_size);
    if (close(fd) != 0 && !err) {
        err = errno;
        (void)!truncate(path, st.st_size);
    }
    if (err) {
        nl_set_error("append_file: writing " PATH_FMT " failed: %s", path, strerror(err));
        return -1;
    }
    return (int64_t)st.st_size + (int64_t)n;
}

int nl_save_safetensors(const char *path, int n, const char *const *names, nl_tensor *const *tensors,
                        int n_meta, const char *const *meta_keys, const char *const *meta_values) {
    NL_CHECK_INT(path != NULL && *path, "save_safetensors: no path given");
    NL_CHECK_INT(n >= 0 && n_meta >= 0, "save_safetensors: negative count");
    NL_CHECK_INT(n == 0 || (names && tensors), "save_safetensors: names or tensors missing");
    NL_CHECK_INT(n_meta == 0 || (meta_keys && meta_values), "save_safetensors: metadata keys or values missing");
    for (int i = 0; i < n; i++) {
        if (!check_text("tensor name", names[i], i)) return -1;
        NL_CHECK_INT(strcmp(names[i], "__metadata__") != 0,
                     "save_safetensors: '__metadata__' is reserved and cannot name a tensor");
        NL_CHECK_INT(tensors[i] != NULL, "save_safetensors: tensor '%.200s' is missing", names[i]);
        NL_CHECK_INT(nl_valid_dtype(tensors[i]->dtype), "save_safetensors: tensor '%.200s' has an invalid dtype",
                     names[i]);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!check_text("metadata key", meta_keys[i], i)) return -1;
        if (!check_text("metadata value", meta_values[i], i)) return -1;
    }
    const char *dup = find_duplicate(n, names);
    NL_CHECK_INT(dup != (const char *)-1, "save_safetensors: out of memory");
    NL_CHECK_INT(!dup, "save_safetensors: tensor name '%.200s' appears twice", dup);
    dup = find_duplicate(n_meta, meta_keys);
    NL_CHECK_INT(dup != (const char *)-1, "save_safetensors: out of memory");
    NL_CHECK_INT(!dup, "save_safetensors: metadata key '%.200s' appears twice", dup);

    /* the header: metadata first, then the tensors in the order given */
    sbuf h = { 0 };
    sb_put(&h, "{", 1);
    if (n_meta > 0) {
        sb_put(&h, "\"__metadata__\":{", 16);
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_put(&h, ",", 1);
            sb_json_string(&h, meta_keys[i]);
            sb_put(&h, ":", 1);
            sb_json_string(&h, meta_values[i]);
        }
        sb_put(&h, "}", 1);
    }
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const nl_tensor *t = tensors[i];
        if (i || n_meta > 0) sb_put(&h, ",", 1);
        sb_json_string(&h, names[i]);
        sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", t->dtype == NL_FLOAT32 ? "F32"
                                                      : t->dtype == NL_FLOAT64 ? "F64" : "I64");
        for (int d = 0; d < t->ndim; d++) sb_printf(&h, d ? ",%lld" : "%lld", (long long)t->sizes[d]);
        int64_t nbytes = t->numel * nl_dtype_size(t->dtype);
        sb_printf(&h, "],\"data_offsets\":[%lld,%lld]}", (long long)offset, (long long)(offset + nbytes));
        offset += nbytes;
    }
    sb_put(&h, "}", 1);
    while (!h.oom && h.n % 8) sb_put(&h, " ", 1);
    if (h.oom) {
        free(h.p);
        nl_set_error("save_safetensors: out of memory building the header");
        return -1;
    }
    if ((long long)h.n > ST_HEADER_MAX) {
        free(h.p);
        nl_set_error("save_safetensors: the header would be %zu bytes, over the %lld MB that readers accept",
                     h.n, ST_HEADER_MAX >> 20);
        return -1;
    }

    pending_file pf;
    if (tmp_open("save_safetensors", path, &pf) != 0) {
        free(h.p);
        return -1;
    }
    int fd = pf.fd;
    unsigned char len8[8];
    uint64_t hl = h.n;
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
    bool ok = write_all(fd, len8, 8) && write_all(fd, h.p, h.n);
    free(h.p);
    if (!ok) goto write_error;
    for (int i = 0; i < n; i++) {
        nl_tensor *c = nl_contiguous(tensors[i]);
        if (!c) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s", nl_error());
            nl_set_error("save_safetensors: tensor '%.200s': %s", names[i], msg);
            tmp_abort(&pf);
            return -1;
        }
        ok = write_all(fd, c->data, (size_t)(c->numel * nl_dtype_size(c->dtype)));
        nl_release(c);
        if (!ok) goto write_error;
    }
    return tmp_commit("save_safetensors", &pf, path);
write_error:
    nl_set_error("save_safetensors: writing " PATH_FMT " failed: %s", path, strerror(errno));
    tmp_abort(&pf);
    return -1;
}

/* ---- safetensors: reading ---- */

typedef struct {
    char *name;
    int code;                 /* st_code */
    int ndim;
    int64_t sizes[NL_MAX_DIMS];
    int64_t begin, end;       /* byte range in the data buffer */
} st_entry;

struct nl_st_file {
    int fd;
    char *path;
    int64_t data_start;       /* 8 + header length */
    int64_t data_len;
    int n, cap;
    st_entry *e;              /* (n) in header order */
    int n_meta, meta_cap;
    char **meta_keys, **meta_values;   /* (n_meta) */
};

/* the JSON parser's state; errors name the byte where parsing stopped */
typedef struct {
    const char *p, *end, *start;
    const char *path;
} jp;

static bool jp_fail(jp *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool jp_fail(jp *j, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nl_set_error("load_safetensors: " PATH_FMT ": bad header at byte %lld: %s", j->path,
                 (long long)(j->p - j->start) + 8, msg);
    return false;
}

static void jp_ws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static bool jp_expect(jp *j, char c) {
    jp_ws(j);
    if (j->p >= j->end) return jp_fail(j, "expected '%c', found the end of the header", c);
    if (*j->p != c) return jp_fail(j, "expected '%c', found '%c'", c, *j->p);
    j->p++;
    return true;
}

/* the next non-space character, not consumed; 0 at the end */
static char jp_peek(jp *j) {
    jp_ws(j);
    return j->p < j->end ? *j->p : 0;
}

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* a JSON string into a new NUL-terminated UTF-8 buffer */
static bool jp_string(jp *j, char **out) {
    *out = NULL;
    if (!jp_expect(j, '"')) return false;
    const char *s = j->p, *q = s;
    while (q < j->end && *q != '"') q += *q == '\\' ? 2 : 1;
    if (q >= j->end) return jp_fail(j, "unterminated string");
    char *o = malloc(q - s + 1), *w = o;
    if (!o) return jp_fail(j, "out of memory");
    while (j->p < q) {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) { free(o); return jp_fail(j, "control character 0x%02x in a string", c); }
        if (c != '\\') { *w++ = (char)c; j->p++; continue; }
        char esc = j->p[1];
        j->p += 2;
        switch (esc) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            int u = j->p + 4 <= q ? hex4(j->p) : -1;
            if (u < 0) { free(o); return jp_fail(j, "bad \\u escape"); }
            j->p += 4;
            uint32_t cp = (uint32_t)u;
            if (cp >= 0xDC00 && cp <= 0xDFFF) { free(o); return jp_fail(j, "lone low surrogate in \\u escape"); }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = j->p + 6 <= q && j->p[0] == '\\' && j->p[1] == 'u' ? hex4(j->p + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) { free(o); return jp_fail(j, "unpaired surrogate in \\u escape"); }
                j->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            }
            if (cp == 0) { free(o); return jp_fail(j, "NUL character (\\u0000) in a string"); }
            if (cp < 0x80) *w++ = (char)cp;
            else if (cp < 0x800) { *w++ = (char)(0xC0 | cp >> 6); *w++ = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) {
                *w++ = (char)(0xE0 | cp >> 12);
                *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *w++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *w++ = (char)(0xF0 | cp >> 18);
                *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *w++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            free(o);
            j->p -= 2;
            return jp_fail(j, "invalid escape in a string");
        }
    }
    j->p = q + 1;
    *w = '\0';
    if (!utf8_valid((unsigned char *)o, w - o)) { free(o); return jp_fail(j, "string is not valid UTF-8"); }
    *out = o;
    return true;
}

/* a non-negative integer below 2^53, no sign, fraction or exponent */
static bool jp_uint(jp *j, int64_t *out) {
    jp_ws(j);
    const char *s = j->p;
    int64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (v > ((INT64_C(1) << 53) - 10) / 10) return jp_fail(j, "integer too large");
        v = v * 10 + (*j->p++ - '0');
    }
    if (j->p == s) return jp_fail(j, "expected a non-negative integer");
    if (j->p - s > 1 && *s == '0') return jp_fail(j, "integer with a leading zero");
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return jp_fail(j, "expected an integer, found a fraction or exponent");
    *out = v;
    return true;
}

/* [uint, uint, ...] with at most max entries; *n receives the count */
static bool jp_uint_array(jp *j, int64_t *v, int max, int *n, const char *what) {
    *n = 0;
    if (!jp_expect(j, '[')) return false;
    if (jp_peek(j) == ']') { j->p++; return true; }
    for (;;) {
        if (*n == max) return jp_fail(j, "%s has more than %d entries", what, max);
        if (!jp_uint(j, &v[(*n)++])) return false;
        char c = jp_peek(j);
        if (c == ',') { j->p++; continue; }
        if (c == ']') { j->p++; return true; }
        return jp_fail(j, "expected ',' or ']' in %s", what);
    }
}

static bool jp_tensor(jp *j, st_entry *e) {
    bool have_dtype = false, have_shape = false, have_off = false;
    if (!jp_expect(j, '{')) return false;
    if (jp_peek(j) == '}') return jp_fail(j, "tensor '%.200s' has no dtype, shape or data_offsets", e->name);
    for (;;) {
        char *key;
        if (!jp_string(j, &key)) return false;
        if (!jp_expect(j, ':')) { free(key); return false; }
        bool ok = true;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            char *dt;
            ok = jp_string(j, &dt);
            if (ok) {
                e->code = -1;
                for (int c = 0; c < ST_COUNT; c++)
                    if (strcmp(dt, st_types[c].name) == 0) e->code = c;
                if (e->code < 0)
                    ok = jp_fail(j, "tensor '%.200s' has dtype '%.20s', which nnlua cannot load "
                                 "(F32, F64, I64, F16, BF16, I32, I16, I8, U8, U16, U32, BOOL)", e->name, dt);
                free(dt);
            }
            have_dtype = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            ok = jp_uint_array(j, e->sizes, NL_MAX_DIMS, &e->ndim, "shape");
            have_shape = true;
        } else if (strcmp(key, "data_offsets") == 0 && !have_off) {
            int64_t v[2];
            int cnt;
            ok = jp_uint_array(j, v, 2, &cnt, "data_offsets");
            if (ok && cnt != 2) ok = jp_fail(j, "data_offsets of tensor '%.200s' must have 2 entries", e->name);
            e->begin = v[0];
            e->end = v[1];
            have_off = true;
        } else {
            bool dup = !strcmp(key, "dtype") || !strcmp(key, "shape") || !strcmp(key, "data_offsets");
            ok = jp_fail(j, "%s field '%.40s' in tensor '%.200s'", dup ? "repeated" : "unknown", key, e->name);
        }
        free(key);
        if (!ok) return false;
        char c = jp_peek(j);
        if (c == ',') { j->p++; continue; }
        if (c == '}') { j->p++; break; }
        return jp_fail(j, "expected ',' or '}' in tensor '%.200s'", e->name);
    }
    if (!have_dtype || !have_shape || !have_off)
        return jp_fail(j, "tensor '%.200s' lacks its %s", e->name,
                       !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return true;
}

static bool jp_metadata(jp *j, nl_st_file *f) {
    if (jp_peek(j) == 'n') {
        if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) { j->p += 4; return true; }
        return jp_fail(j, "__metadata__ must be an object of strings");
    }
    if (!jp_expect(j, '{')) return false;
    if (jp_peek(j) == '}') { j->p++; return true; }
    for (;;) {
        if (f->n_meta == f->meta_cap) {
            int cap = f->meta_cap ? f->meta_cap * 2 : 8;
            char **k = realloc(f->meta_keys, sizeof(char *) * cap);
            if (k) f->meta_keys = k;
            char **v = realloc(f->meta_values, sizeof(char *) * cap);
            if (v) f->meta_values = v;
            if (!k || !v) return jp_fail(j, "out of memory");
            f->meta_cap = cap;
        }
        char *key, *val;
        if (!jp_string(j, &key)) return false;
        if (!jp_expect(j, ':')) { free(key); return false; }
        if (jp_peek(j) != '"') {
            bool r = jp_fail(j, "__metadata__ value of '%.200s' is not a string", key);
            free(key);
            return r;
        }
        if (!jp_string(j, &val)) { free(key); return false; }
        f->meta_keys[f->n_meta] = key;
        f->meta_values[f->n_meta++] = val;
        char c = jp_peek(j);
        if (c == ',') { j->p++; continue; }
        if (c == '}') { j->p++; return true; }
        return jp_fail(j, "expected ',' or '}' in __metadata__");
    }
}

static bool jp_header(jp *j, nl_st_file *f) {
    bool seen_meta = false;
    if (!jp_expect(j, '{')) return false;
    if (jp_peek(j) == '}') j->p++;
    else for (;;) {
        char *key;
        if (!jp_string(j, &key)) return false;
        if (!jp_expect(j, ':')) { free(key); return false; }
        if (strcmp(key, "__metadata__") == 0) {
            free(key);
            if (seen_meta) return jp_fail(j, "__metadata__ appears twice");
            seen_meta = true;
            if (!jp_metadata(j, f)) return false;
        } else {
            if (f->n == f->cap) {
                int cap = f->cap ? f->cap * 2 : 16;
                st_entry *e = realloc(f->e, sizeof(st_entry) * cap);
                if (!e) { free(key); return jp_fail(j, "out of memory"); }
                f->e = e;
                f->cap = cap;
            }
            st_entry *e = &f->e[f->n++];
            memset(e, 0, sizeof *e);
            e->name = key;
            if (!jp_tensor(j, e)) return false;
        }
        char c = jp_peek(j);
        if (c == ',') { j->p++; continue; }
        if (c == '}') { j->p++; break; }
        return jp_fail(j, "expected ',' or '}' between entries");
    }
    jp_ws(j);
    if (j->p != j->end) return jp_fail(j, "unexpected data after the header's closing '}'");
    return true;
}

void nl_st_close(nl_st_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    for (int i = 0; i < f->n; i++) free(f->e[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->e);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    free(f);
}

static bool pread_all(int fd, void *buf, int64_t n, int64_t off) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n > (1 << 30) ? (1 << 30) : (size_t)n, off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= r;
        off += r;
    }
    return true;
}

static int cmp_entry_begin(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* offsets in range, sizes matching dtype and shape, names unique, and the
 * tensors tiling the data buffer exactly (as the reference implementation
 * requires): no overlap, no gap, nothing after the last one. */
static bool st_validate(nl_st_file *f) {
    const char *path = f->path;
    for (int i = 0; i < f->n; i++) {
        st_entry *e = &f->e[i];
        int64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            if (e->sizes[d] && numel > MAX_NUMEL / e->sizes[d]) {
                nl_set_error("load_safetensors: " PATH_FMT ": tensor '%.200s' has a shape too large, %s",
                             path, e->name, nl_sizes_str(e->ndim, e->sizes));
                return false;
            }
            numel *= e->sizes[d];
        }
        if (e->begin > e->end || e->end > f->data_len) {
            nl_set_error("load_safetensors: " PATH_FMT ": tensor '%.200s' has data_offsets [%lld, %lld] "
                         "outside the %lld bytes of data (truncated or corrupt file)", path, e->name,
                         (long long)e->begin, (long long)e->end, (long long)f->data_len);
            return false;
        }
        int64_t want = numel * st_types[e->code].size;
        if (e->end - e->begin != want) {
            nl_set_error("load_safetensors: " PATH_FMT ": tensor '%.200s' has data_offsets [%lld, %lld] "
                         "(%lld bytes), but %s of shape %s takes %lld bytes", path, e->name,
                         (long long)e->begin, (long long)e->end, (long long)(e->end - e->begin),
                         st_types[e->code].name, nl_sizes_str(e->ndim, e->sizes), (long long)want);
            return false;
        }
    }
    if (f->n == 0) {
        if (f->data_len != 0) {
            nl_set_error("load_safetensors: " PATH_FMT ": %lld bytes of data but no tensors", path,
                         (long long)f->data_len);
            return false;
        }
        return true;
    }
    st_entry **s = malloc(sizeof(st_entry *) * f->n);
    const char **names = malloc(sizeof(char *) * f->n);
    bool ok = false;
    if (!s || !names) { nl_set_error("load_safetensors: out of memory"); goto done; }
    for (int i = 0; i < f->n; i++) { s[i] = &f->e[i]; names[i] = f->e[i].name; }
    const char *dup = find_duplicate(f->n, names);
    if (dup == (const char *)-1) { nl_set_error("load_safetensors: out of memory"); goto done; }
    if (dup) {
        nl_set_error("load_safetensors: " PATH_FMT ": tensor name '%.200s' appears twice", path, dup);
        goto done;
    }
    qsort(s, f->n, sizeof(st_entry *), cmp_entry_begin);
    int64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        if (s[i]->begin < at) {
            nl_set_error("load_safetensors: " PATH_FMT ": tensors '%.200s' [%lld, %lld] and '%.200s' "
                         "[%lld, %lld] overlap", path, s[i - 1]->name, (long long)s[i - 1]->begin,
                         (long long)s[i - 1]->end, s[i]->name, (long long)s[i]->begin, (long long)s[i]->end);
            goto done;
        }
        if (s[i]->begin > at) {
            nl_set_error("load_safetensors: " PATH_FMT ": %lld unused bytes before tensor '%.200s' "
                         "(data_offsets must tile the data)", path, (long long)(s[i]->begin - at), s[i]->name);
            goto done;
        }
        at = s[i]->end;
    }
    if (at != f->data_len) {
        nl_set_error("load_safetensors: " PATH_FMT ": %lld bytes after the last tensor's data", path,
                     (long long)(f->data_len - at));
        goto done;
    }
    ok = true;
done:
    free(s);
    free(names);
    return ok;
}

nl_st_file *nl_st_open(const char *path) {
    NL_CHECK(path != NULL, "load_safetensors: no path given");
    nl_st_file *f = calloc(1, sizeof *f);
    NL_CHECK(f != NULL, "load_safetensors: out of memory");
    f->fd = -1;
    char *hdr = NULL;
    f->path = strdup(path);
    if (!f->path) { nl_set_error("load_safetensors: out of memory"); goto fail; }
    /* O_NONBLOCK: a FIFO is refused below (its open waited for a writer
     * forever); it changes nothing for a regular file */
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0) {
        nl_set_error("load_safetensors: cannot open " PATH_FMT ": %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        nl_set_error("load_safetensors: cannot read " PATH_FMT ": %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        nl_set_error("load_safetensors: " PATH_FMT " is %s", path,
                     S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
        goto fail;
    }
    int64_t size = st.st_size;
    unsigned char len8[8];
    if (size < 8 || !pread_all(f->fd, len8, 8, 0)) {
        nl_set_error("load_safetensors: " PATH_FMT " is too short for a safetensors file (%lld bytes)",
                     path, (long long)size);
        goto fail;
    }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | len8[i];
    if (hl > (uint64_t)ST_HEADER_MAX) {
        nl_set_error("load_safetensors: " PATH_FMT ": header length %llu is over the %lld MB limit "
                     "(corrupt, or not a safetensors file)", path, (unsigned long long)hl, ST_HEADER_MAX >> 20);
        goto fail;
    }
    if ((int64_t)hl > size - 8) {
        nl_set_error("load_safetensors: " PATH_FMT ": header length %llu runs past the end of the file "
                     "(%lld bytes; truncated or corrupt)", path, (unsigned long long)hl, (long long)size);
        goto fail;
    }
    if (hl < 2) {
        nl_set_error("load_safetensors: " PATH_FMT ": header length %llu is too short for a header",
                     path, (unsigned long long)hl);
        goto fail;
    }
    hdr = malloc(hl);
    if (!hdr) { nl_set_error("load_safetensors: out of memory reading " PATH_FMT, path); goto fail; }
    if (!pread_all(f->fd, hdr, (int64_t)hl, 8)) {
        nl_set_error("load_safetensors: cannot read the header of " PATH_FMT, path);
        goto fail;
    }
    f->data_start = 8 + (int64_t)hl;
    f->data_len = size - f->data_start;
    jp j = { .p = hdr, .end = hdr + hl, .start = hdr, .path = path };
    if (jp_peek(&j) != '{') {
        nl_set_error("load_safetensors: " PATH_FMT " is not a safetensors file (its header is not a JSON object)",
                     path);
        goto fail;
    }
    if (!jp_header(&j, f) || !st_validate(f)) goto fail;
    free(hdr);
    return f;
fail:
    free(hdr);
    nl_st_close(f);
    return NULL;
}

int nl_st_count(const nl_st_file *f) { return f ? f->n : 0; }
int nl_st_meta_count(const nl_st_file *f) { return f ? f->n_meta : 0; }

const char *nl_st_name(const nl_st_file *f, int i) {
    NL_CHECK(f && i >= 0 && i < f->n, "load_safetensors: tensor index %d out of range", i);
    return f->e[i].name;
}
const char *nl_st_meta_key(const nl_st_file *f, int i) {
    NL_CHECK(f && i >= 0 && i < f->n_meta, "load_safetensors: metadata index %d out of range", i);
    return f->meta_keys[i];
}
const char *nl_st_meta_value(const nl_st_file *f, int i) {
    NL_CHECK(f && i >= 0 && i < f->n_meta, "load_safetensors: metadata index %d out of range", i);
    return f->meta_values[i];
}

nl_tensor *nl_st_get(nl_st_file *f, int i) {
    NL_CHECK(f && i >= 0 && i < f->n, "load_safetensors: tensor index %d out of range", i);
    const st_entry *e = &f->e[i];
    nl_tensor *t = nl_tensor_alloc("load_safetensors", e->ndim, e->sizes, st_types[e->code].dtype);
    if (!t) return NULL;
    int64_t nbytes = e->end - e->begin;
    bool native = e->code == ST_F32 || e->code == ST_F64 || e->code == ST_I64;
    void *buf = native ? t->data : malloc(nbytes > 0 ? nbytes : 1);
    if (!buf) {
        nl_release(t);
        nl_set_error("load_safetensors: out of memory reading tensor '%.200s'", e->name);
        return NULL;
    }
    if (!pread_all(f->fd, buf, nbytes, f->data_start + e->begin)) {
        nl_set_error("load_safetensors: " PATH_FMT " ended or failed while reading tensor '%.200s' "
                     "(changed since it was opened?)", f->path, e->name);
        if (!native) free(buf);
        nl_release(t);
        return NULL;
    }
    if (!native) {
        st_convert(t->data, buf, e->code, t->numel);
        free(buf);
    }
    return t;
}
