/* fuzz_idx.c — libFuzzer harness of the IDX reader. The first byte picks
 * the options: bits 0-1 the dtype asked for (the file's, float32, float64,
 * int64), bit 2 whether the rest is gzip-compressed before it is written
 * (otherwise it is written as it is, so a corrupt gzip stream is fuzzed
 * too); the rest is the file. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const int dtypes[4] = { -1, NL_FLOAT32, NL_FLOAT64, NL_INT64 };
    int dtype = dtypes[data[0] & 3];
    const char *path;
    if (data[0] & 4) {
        size_t n;
        uint8_t *gz = fuzz_gzip(data + 1, size - 1, &n);
        path = fuzz_file(gz, n);
        free(gz);
    } else {
        path = fuzz_file(data + 1, size - 1);
    }
    nl_tensor *t = nl_load_idx(path, dtype);
    if (!t) {
        fuzz_expect_error("load_idx");
        return 0;
    }
    fuzz_check_tensor(t, dtype);
    nl_release(t);
    return 0;
}
