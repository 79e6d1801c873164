#ifndef NNLUA_SGEMM_H
#define NNLUA_SGEMM_H
/* float32 GEMM with AVX-512 (sgemm.c): c (m, n) = a (m, k) @ b (k, n) +
 * beta c, each operand with row and column strides; c row- or
 * column-major. nt threads at most. Returns false, having done nothing,
 * where it cannot take the call (no AVX-512, another layout of c, no
 * memory for its buffers): the caller then uses BLIS. */
#include <stdbool.h>
#include <stdint.h>

bool nl_sgemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t rsb,
              int64_t csb, float beta, float *c, int64_t rsc, int64_t csc, int nt);
/* A linear layer: c (m, n) row-major with row stride ldc = a @ b + bias
 * (n entries, or NULL), then ReLU when relu, applied to each tile as it is
 * stored (nl_linear). The same values as nl_sgemm, then the bias added and
 * the ReLU taken in float32. false where nl_sgemm would be. */
bool nl_sgemm_linear(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                     int64_t rsb, int64_t csb, const float *bias, bool relu, float *c, int64_t ldc, int nt);
/* A packed once for several products (a convolution's weights over its
 * blocks of images): nl_sgemm_pack_a writes a (m, k) into dst, which holds
 * nl_sgemm_packed_a_floats(m, k) floats; nl_sgemm_packed is nl_sgemm with
 * that A and c row-major (row stride ldc), the same values, and false
 * where nl_sgemm would be (the caller then uses a itself). */
int64_t nl_sgemm_packed_a_floats(int64_t m, int64_t k);
void nl_sgemm_pack_a(float *dst, int64_t m, int64_t k, const float *a, int64_t rsa, int64_t csa);
bool nl_sgemm_packed(int64_t m, int64_t n, int64_t k, const float *apack, const float *b, int64_t rsb, int64_t csb,
                     float beta, float *c, int64_t ldc, int nt);
#endif
