/* check.h — the C unit tests' harness: TEST(name) registers a test, CHECK
 * and CHECK_NEAR record failures with file and line; main.c runs them all
 * and prints "N passed, N failed". */
#ifndef NL_CHECK_H
#define NL_CHECK_H

#include "nnlua.h"

#include <math.h>
#include <stdio.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
extern int test_failed_checks;   /* failures of the test that is running */

#define TEST(name)                                                           \
    static void name(void);                                                  \
    __attribute__((constructor)) static void name##_register(void) {         \
        test_register(#name, name);                                          \
    }                                                                        \
    static void name(void)

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            test_failed_checks++;                                            \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
        }                                                                    \
    } while (0)

#define CHECK_NEAR(got, want, tol)                                           \
    do {                                                                     \
        double g_ = (got), w_ = (want);                                      \
        if (!(fabs(g_ - w_) <= (tol))) {                                     \
            test_failed_checks++;                                            \
            fprintf(stderr, "  %s:%d: %s = %.9g, expected %.9g (tol %g)\n",   \
                    __FILE__, __LINE__, #got, g_, w_, (double)(tol));        \
        }                                                                    \
    } while (0)

/* element i (row-major) of any tensor, as double */
double test_get(const nl_tensor *t, int64_t i);
/* deterministic pseudo-random doubles in [-1, 1) for test data */
double test_rand(unsigned long long *state);

#endif
