# gen_argmax.py: PyTorch 1.13 golden values for argmax, argmin and max /
# min with indices along a dim (and argmax / argmin of everything), on
# inputs of few distinct values (ties everywhere) with NaNs placed in some
# rows, float32, float64 and int64, rows shorter and longer than the
# kernels' block of 256, the reduced dim last, first and in the middle,
# strided (transposed) inputs, keepdim, negative dims and 0-d tensors; and
# the accuracy metric's hits, (scores.argmax(1) == labels).sum(). Indices
# are written 1-based, as nnlua gives them. Writes tests/golden/argmax.lua
# (checked by tests/spec/argmax_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_argmax.py
import torch
from common import F32, F64, I64, lua_tensor, seed, write_golden


def tied(name, shape, dtype, nan_rows=()):
    """values in -3..3 (ties in every row), NaN at a drawn place of each
    row (along the last dim) listed in nan_rows, and NaN first in the
    first of them when there are two or more"""
    seed(name)
    x = torch.randint(-3, 4, shape, dtype=I64).to(dtype)
    if dtype != I64:
        flat = x.reshape(-1, shape[-1])
        for k, r in enumerate(nan_rows):
            flat[r, torch.randint(0, shape[-1], ()).item()] = float('nan')
            if k == 0 and len(nan_rows) > 1:
                flat[r, 0] = float('nan')
    return x


# name, input, dim (1-based, nnlua's; None: every element), keepdim, transposed
CASES = [
    ('f32_32x10_dim2', tied('f32_32x10', (32, 10), F32, (3, 17, 31)), 2, False, False),
    ('f32_32x10_dim1', tied('f32_32x10', (32, 10), F32, (3, 17, 31)), 1, False, False),
    ('f32_128x10_dim-1_keep', tied('f32_128x10', (128, 10), F32, (5, 100)), -1, True, False),
    ('f32_6x300_dim2', tied('f32_6x300', (6, 300), F32, (1, 4)), 2, False, False),
    ('f32_6x300_dim1', tied('f32_6x300', (6, 300), F32, (1, 4)), 1, False, False),
    ('f32_3x700_dim2', tied('f32_3x700', (3, 700), F32, (2,)), 2, False, False),
    ('f32_3x700_all', tied('f32_3x700', (3, 700), F32, ()), None, False, False),
    ('f32_700x3_t_dim2', tied('f32_700x3', (700, 3), F32, (9,)), 2, False, True),
    ('f32_700x3_t_dim1', tied('f32_700x3', (700, 3), F32, (9,)), 1, False, True),
    ('f32_4x5x6_dim2', tied('f32_4x5x6', (4, 5, 6), F32, (2, 11)), 2, False, False),
    ('f32_4x5x6_dim-3_keep', tied('f32_4x5x6', (4, 5, 6), F32, (2, 11)), -3, True, False),
    ('f64_7x300_dim2', tied('f64_7x300', (7, 300), F64, (0, 6)), 2, False, False),
    ('f64_7x300_dim1', tied('f64_7x300', (7, 300), F64, (0, 6)), 1, False, False),
    ('f64_10x8_t_dim2', tied('f64_10x8', (10, 8), F64, (1, 7)), 2, True, True),
    ('i64_9x40_dim2', tied('i64_9x40', (9, 40), I64), 2, False, False),
    ('i64_9x40_dim1', tied('i64_9x40', (9, 40), I64), 1, False, False),
    ('i64_5x700_dim2', tied('i64_5x700', (5, 700), I64), 2, False, False),
    ('i64_5x700_t_dim2', tied('i64_5x700', (5, 700), I64), 2, False, True),
    ('f32_0d_dim1', torch.tensor(2.5), 1, False, False),
    ('f32_0d_dim-1_keep', torch.tensor(float('nan')), -1, True, False),
]


def outs(x, dim, keep):
    """argmax, argmin, max's values and indices, min's (the last four
    absent over every element); indices 1-based"""
    if dim is None:
        return [x.argmax() + 1, x.argmin() + 1]
    d = dim - 1 if dim > 0 else dim
    mv, mi = x.max(d, keepdim=keep)
    nv, ni = x.min(d, keepdim=keep)
    return [x.argmax(d, keepdim=keep) + 1, x.argmin(d, keepdim=keep) + 1, mv, mi + 1, nv, ni + 1]


lines = []
for name, x, dim, keep, tr in CASES:
    xin = x.t() if tr else x
    lines.append('  {')
    lines.append("    name = '%s', dim = %s, keepdim = %s, transposed = %s," % (
        name, 'nil' if dim is None else dim, 'true' if keep else 'false', 'true' if tr else 'false'))
    lines.append('    input = %s,' % lua_tensor(x))
    lines.append('    outs = { %s },' % ', '.join(lua_tensor(o) for o in outs(xin, dim, keep)))
    lines.append('  },')

# accuracy's hits: scores (N, C[, d1]), labels 1-based (N[, d1])
HITS = [
    ('hits_32x10', (32, 10), F32, (4, 20), False),
    ('hits_32x10_t', (32, 10), F32, (7,), True),
    ('hits_16x600', (16, 600), F32, (2, 9), False),
    ('hits_8x5x7', (8, 5, 7), F32, (3, 30), False),
    ('hits_20x4_f64', (20, 4), F64, (1,), False),
]
hit_lines = []
for name, shape, dtype, nan_rows, tr in HITS:
    x = tied(name, shape, dtype, nan_rows)
    scores = x.t().contiguous().t() if tr else x
    seed(name + '_labels')
    lab_shape = (shape[0],) + tuple(shape[2:])
    labels = torch.randint(0, shape[1], lab_shape, dtype=I64)
    # half the labels set to the argmax, so that hits are many and not all
    am = scores.argmax(1)
    take = torch.rand(lab_shape) < 0.5
    labels = torch.where(take, am, labels)
    hits = (scores.argmax(1) == labels).sum().item()
    hit_lines.append("    { name = '%s', transposed = %s, scores = %s, labels = %s, hits = %d }," % (
        name, 'true' if tr else 'false', lua_tensor(x), lua_tensor(labels + 1), hits))

lines.append('  hits = {')
lines += hit_lines
lines.append('  },')
write_golden('argmax.lua', ['PyTorch 1.13 argmax / argmin / max / min along a dim, and accuracy hits',
                            'generated by tests/golden/gen_argmax.py; do not edit'], lines)
