#ifndef NNLUA_SGEMM_H
#define NNLUA_SGEMM_H
/* float32 GEMM with AVX-512, or AVX2 and FMA (sgemm.c): c (m, n) = a
 * (m, k) @ b (k, n) + beta c, each operand with row and column strides; c
 * row- or column-major. nt threads at most. Returns false, having done
 * nothing, where it cannot take the call (neither instruction set; with
 * AVX2 alone, a side under 16 or, on more than one thread, an A too large
 * for each thread to pack whole; another layout of c; no memory for its
 * buffers): the caller then uses BLIS. The packed A, the B segments and
 * the rows of C below are AVX-512's alone. */
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
/* c (m, n) row-major, row stride ldc = a (m, k) @ B + beta c, where B
 * (k, n) is read where it lies, as 32-column panels: B stacks nimg blocks
 * of kimg rows (k = nimg * kimg); block s's panel p starts at img + s *
 * img_stride + poff[p], its rows 32 floats apart in runs of seg rows, each
 * run's first row skip floats after the row that would follow the last.
 * A convolution's input laid out channels last, 32 channels a row, is
 * such a B for the weight gradient (ops_conv.c). One thread; abuf holds
 * nl_sgemm_bsegs_floats() floats. Returns false, having done nothing,
 * without AVX-512 or where n is not a multiple of 32. */
typedef struct nl_bsegs {
    int64_t nimg, kimg;
    int64_t seg, skip;
    const float *img;
    int64_t img_stride;
    const int64_t *poff;     /* n / 32 of them */
} nl_bsegs;
int64_t nl_sgemm_bsegs_floats(void);
bool nl_sgemm_bsegs(int64_t m, int64_t n, const float *a, int64_t rsa, int64_t csa, const nl_bsegs *b, float beta,
                    float *c, int64_t ldc, float *abuf);
/* B packed once for several products (nl_sgemm_pack_b: b (k, n), n a
 * multiple of 32, into nl_sgemm_packed_b_floats(k, n) floats), and
 * c's row r at crow[r] + cofs (n floats) += a @ b, with a packed by
 * nl_sgemm_pack_a: a convolution's input gradient, each tap's product
 * added into the rows its outputs meet (ops_conv.c). One thread. Returns
 * false, having done nothing, without AVX-512 or where n is not a
 * multiple of 32. */
int64_t nl_sgemm_packed_b_floats(int64_t k, int64_t n);
void nl_sgemm_pack_b(float *dst, int64_t k, int64_t n, const float *b, int64_t rsb, int64_t csb);
bool nl_sgemm_crows(int64_t m, int64_t n, int64_t k, const float *apack, const float *bpack, float *const *crow,
                    int64_t cofs);
#endif
