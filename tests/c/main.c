/* main.c — runs every registered C test and prints "N passed, N failed";
 * the exit status is non-zero when any test failed. A test name given as
 * an argument runs only the tests whose names contain it. */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TESTS 1024

static struct { const char *name; test_fn fn; } tests[MAX_TESTS];
static int ntests;
int test_failed_checks;

void test_register(const char *name, test_fn fn) {
    if (ntests < MAX_TESTS) {
        tests[ntests].name = name;
        tests[ntests++].fn = fn;
    }
}

double test_get(const nl_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->sizes[d]) * t->strides[d];
        i /= t->sizes[d];
    }
    switch (t->dtype) {
    case NL_FLOAT32: return ((const float *)t->data)[off];
    case NL_FLOAT64: return ((const double *)t->data)[off];
    default: return (double)((const int64_t *)t->data)[off];
    }
}

double test_rand(unsigned long long *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) / (double)(1ULL << 52) - 1.0;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1])) continue;
        test_failed_checks = 0;
        tests[i].fn();
        if (test_failed_checks) {
            failed++;
            printf("FAIL %s\n", tests[i].name);
        } else {
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
