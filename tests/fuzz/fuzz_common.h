/* fuzz_common.h — what the libFuzzer harnesses of tests/fuzz share: the
 * input written to an in-memory file the loaders open by path, gzip
 * compression of an input, and checks that a loaded tensor is well formed
 * (every element read, so ASan sees any read past the buffer) or that a
 * failure left an error naming the loader. A check that fails aborts,
 * which libFuzzer reports as a crash. */
#ifndef NL_FUZZ_COMMON_H
#define NL_FUZZ_COMMON_H

#define _GNU_SOURCE
#include "nnlua.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

/* the loaders take a path: one memfd per process, rewritten per input */
static const char *fuzz_file(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("nnlua-fuzz", 0);
        if (fd < 0) { perror("memfd_create"); abort(); }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    return path;
}

/* data gzip-compressed into a new buffer (*n: its length) */
static uint8_t *fuzz_gzip(const uint8_t *data, size_t size, size_t *n) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, size) + 32;
    uint8_t *out = malloc(cap);
    if (!out) abort();
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *n = z.total_out;
    deflateEnd(&z);
    return out;
}

/* a failure must leave an error that names the loader */
static void fuzz_expect_error(const char *loader) {
    const char *e = nl_error();
    if (!e || strncmp(e, loader, strlen(loader)) != 0 || e[strlen(loader)] != ':') {
        fprintf(stderr, "the error does not name %s: %s\n", loader, e ? e : "(none)");
        abort();
    }
}

/* a loaded tensor: fields consistent, every element readable */
static void fuzz_check_tensor(const nl_tensor *t, int want_dtype) {
    if (t->ndim < 0 || t->ndim > NL_MAX_DIMS || t->refcount != 1) abort();
    if (want_dtype >= 0 && t->dtype != want_dtype) abort();
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->sizes[i] < 0) abort();
        n *= t->sizes[i];
    }
    if (n != t->numel || !nl_is_contiguous(t)) abort();
    volatile double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case NL_FLOAT32: sum += ((const float *)t->data)[i]; break;
        case NL_FLOAT64: sum += ((const double *)t->data)[i]; break;
        case NL_INT64: sum += (double)((const int64_t *)t->data)[i]; break;
        default: abort();
        }
    }
    (void)sum;
}

#endif
