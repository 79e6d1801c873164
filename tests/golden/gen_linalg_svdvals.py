# gen_linalg_svdvals.py: PyTorch 1.13 golden values for nnlua's
# svdvals (src/ops_linalg_decomp.c's values-only path: Householder
# bidiagonalization, R first for tall matrices, and the bidiagonal
# implicit QR) on adversarial matrices: graded singular values spanning
# 1..1e-12 (square, tall, wide), rank-deficient, repeated values, tiny and
# huge scales, batched, float32, and graded bidiagonal and diagonal
# matrices whose tiny values are determined to high relative accuracy.
# Each case holds the input A, PyTorch's torch.linalg.svdvals(A) and,
# where A was built as U diag(s) V^T in float64, the closed form s.
# Writes tests/golden/linalg_svdvals.lua (checked by
# tests/spec/linalg_decomp_svdvals_spec.lua). Regenerate, from the
# repository root, with
#
#     /usr/bin/python3 tests/golden/gen_linalg_svdvals.py
import torch
from common import F32, F64, lua_tensor, lua_value, write_golden

torch.manual_seed(20261128)
CASES = []


def orth(*shape):
    """matrices with orthonormal columns, (..., m, k)"""
    *batch, m, k = shape
    return torch.linalg.qr(torch.randn(*batch, m, m, dtype=F64))[0][..., :k]


def built(m, n, s):
    """U diag(s) V^T (m, n) in float64 with random orthonormal U and V"""
    k = min(m, n)
    return (orth(m, k) * s) @ orth(n, k).T


def case(name, A, s=None, relative=False):
    """relative: the values are determined to high relative accuracy by
    A's entries (bidiagonal and diagonal A), so each is checked to a
    relative tolerance, not one scaled by the largest"""
    want = torch.linalg.svdvals(A)
    CASES.append('  { name = %s, relative = %s,\n    A = %s,\n    torch = %s,\n    s = %s },'
                 % (lua_value(name), lua_value(relative), lua_tensor(A), lua_tensor(want),
                    lua_tensor(s) if s is not None else 'false'))


def graded(k, lo=1e-12):
    return torch.logspace(0, torch.log10(torch.tensor(lo)).item(), k, dtype=F64)


s = graded(24)
case('graded 1..1e-12 square 24', built(24, 24, s), s)
s = graded(12)
case('graded tall 40x12 (R first)', built(40, 12, s), s)
case('graded wide 12x40 (R first)', built(12, 40, s), s)
s = graded(16)
case('graded tall 20x16 (no R first)', built(20, 16, s), s)
case('rank 5 of 20x15', torch.randn(20, 5, dtype=F64) @ torch.randn(5, 15, dtype=F64))
case('rank 1 of 9x30', torch.randn(9, 1, dtype=F64) @ torch.randn(1, 30, dtype=F64))
s = torch.tensor([3, 3, 3, 1, 1, 1e-8, 1e-8], dtype=F64)
case('repeated values 9x7', built(9, 7, s), s)
s = graded(10, 1e-6) * 1e-290
case('tiny scale 1e-290', built(10, 10, s), s)
s = graded(10, 1e-6) * 1e290
case('huge scale 1e290', built(13, 10, s), s)
case('batched 3x2 of 10x6', torch.randn(3, 2, 10, 6, dtype=F64))
case('batched wide 4 of 5x9', torch.randn(4, 5, 9, dtype=F64))
case('zeros 6x4 and a zero column', torch.cat([torch.zeros(6, 1, dtype=F64), torch.randn(6, 3, dtype=F64)], 1))
# bidiagonal and diagonal: the small values to high relative accuracy
d = torch.tensor([10.0 ** (-8 * i) for i in range(12)], dtype=F64)
B = torch.diag(d) + torch.diag(d[:-1] * 0.7, 1)
case('graded bidiagonal 1..1e-88', B, relative=True)
B = torch.diag(d.flip(0)) + torch.diag(d.flip(0)[1:] * 0.3, 1)
case('graded bidiagonal 1e-88..1 (bottom up)', B, relative=True)
case('diagonal 1e-300..1 unsorted', torch.diag(torch.tensor([1e-300, 1, 1e-150, 3e-20, 2, 1e-5], dtype=F64)),
     relative=True)
# float32 (LAPACK's sgesdd here; nnlua computes in float64 and rounds)
s = graded(16, 1e-5)
case('float32 graded 16', built(16, 16, s).to(F32), s)
case('float32 random 12x20', torch.randn(12, 20, dtype=F32))
case('float32 batched 3 of 7x5', torch.randn(3, 7, 5, dtype=F32))
# bidiagonals with zeros (dqds splits at a zero e; a zero d makes a zero value) and clusters
B = torch.diag(torch.tensor([1, 0, 1, 2, 0.5, 3], dtype=F64)) + torch.diag(torch.tensor([1, 1, 1, 0, 2], dtype=F64), 1)
case('bidiagonal with zeros on both diagonals', B)
s = torch.tensor([2, 1 + 1e-10, 1, 1 - 1e-10, 1e-3, 1e-3 * (1 + 1e-12)], dtype=F64)
case('clustered values 1 +- 1e-10', built(8, 6, s), s)
B = torch.diag(torch.full((40,), 1.0, dtype=F64)) + torch.diag(torch.full((39,), 1e-9, dtype=F64), 1)
case('bidiagonal of ones with 1e-9 above', B, relative=True)

write_golden('linalg_svdvals.lua',
             ['PyTorch %s golden values for nnlua\'s svdvals on adversarial matrices.' % torch.__version__,
              'Made by tests/golden/gen_linalg_svdvals.py; checked by',
              'tests/spec/linalg_decomp_svdvals_spec.lua. Do not edit.'], CASES)
