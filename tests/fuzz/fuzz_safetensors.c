/* fuzz_safetensors.c — libFuzzer harness of the safetensors reader: the
 * input is the file. nl_st_open checks the header; every tensor it lists
 * is then read with nl_st_get, and every name and metadata string used. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    nl_st_file *f = nl_st_open(path);
    if (!f) {
        fuzz_expect_error("load_safetensors");
        return 0;
    }
    volatile size_t chars = 0;
    for (int i = 0; i < nl_st_meta_count(f); i++)
        chars += strlen(nl_st_meta_key(f, i)) + strlen(nl_st_meta_value(f, i));
    for (int i = 0; i < nl_st_count(f); i++) {
        chars += strlen(nl_st_name(f, i));
        nl_tensor *t = nl_st_get(f, i);
        if (!t) {
            fuzz_expect_error("load_safetensors");
            continue;
        }
        fuzz_check_tensor(t, -1);
        nl_release(t);
    }
    if (nl_st_get(f, nl_st_count(f)) != NULL || nl_st_get(f, -1) != NULL) abort();  /* out of range */
    nl_st_close(f);
    return 0;
}
