/* fuzz_csv.c — libFuzzer harness of the CSV reader. The first byte picks
 * the options: b % 5 the delimiter (, ; tab | space), b / 5 % 3 the lines
 * skipped, b / 15 % 2 whether the last skipped line is copied out as the
 * header (into 4096 bytes, or 16 when b / 30 % 2, to reach the too-long
 * case), b / 60 % 2 whether the rest is gzip-compressed; the rest is the
 * file. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char delims[5] = { ',', ';', '\t', '|', ' ' };
    int b = data[0];
    int delim = delims[b % 5], skip = b / 5 % 3;
    int64_t cap = b / 30 % 2 ? 16 : 4096;
    char *header = skip > 0 && b / 15 % 2 ? malloc((size_t)cap) : NULL;
    const char *path;
    if (b / 60 % 2) {
        size_t n;
        uint8_t *gz = fuzz_gzip(data + 1, size - 1, &n);
        path = fuzz_file(gz, n);
        free(gz);
    } else {
        path = fuzz_file(data + 1, size - 1);
    }
    nl_tensor *t = nl_load_csv(path, delim, skip, header, cap);
    if (!t) {
        fuzz_expect_error("load_csv");
    } else {
        if (t->ndim != 2) abort();
        fuzz_check_tensor(t, NL_FLOAT64);
        if (header && !memchr(header, '\0', (size_t)cap)) abort();
        nl_release(t);
    }
    free(header);
    return 0;
}
