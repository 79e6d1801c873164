/* ops_blas.h — what ops_blas.c shares with the tests: the plain reference
 * matmul the BLIS path is checked against. Not part of the public API. */
#ifndef NL_OPS_BLAS_H
#define NL_OPS_BLAS_H

#include "nnlua.h"

/* nl_matmul's shapes, dtypes and errors, computed by a naive serial triple
 * loop (float sums in double, int64 wrapping). Slow; for tests. */
nl_tensor *nl_matmul_reference(nl_tensor *a, nl_tensor *b);

#endif
