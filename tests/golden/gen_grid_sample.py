# gen_grid_sample.py: PyTorch golden values for nnlua's F.grid_sample and
# F.affine_grid. Writes tests/golden/grid_sample.lua (checked by
# tests/spec/grid_sample_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_grid_sample.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# grid_sample cases: every mode x padding_mode x align_corners on 4-D
# inputs (bicubic is 4-D only) and 5-D ones, float32 and float64, the grids
# reaching past [-1, 1] (to +-1.6, and +-4 for the reflections' several
# flips); out, and the gradients of (out * w).sum() to the input and the
# grid. affine_grid cases: 2-D and 3-D thetas with both align_corners,
# the grid and theta's gradient of (grid * w).sum(), and a spatial
# transformer (affine_grid then grid_sample) with theta's gradient.
import torch
import torch.nn.functional as F
import common
from common import F32, F64, write_golden

torch.manual_seed(20261128)
torch.set_num_threads(1)
num, lua_tensor, lua_value, _ = common.shortest_writers()

CASES = []


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def sample(name, x, grid, dtype, mode, padding_mode, align_corners):
    common.seed(name)
    x, grid = leaf(x.to(dtype)), leaf(grid.to(dtype))
    out = F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    w = torch.randn(out.shape, dtype=dtype)
    (out * w).sum().backward()
    CASES.append({'kind': 'grid_sample', 'name': name, 'dtype': dtype,
                  'args': {'mode': mode, 'padding_mode': padding_mode, 'align_corners': align_corners},
                  'tensors': [('input', x.detach()), ('grid', grid.detach()), ('w', w), ('out', out.detach()),
                              ('grad_input', x.grad), ('grad_grid', grid.grad)]})


def uniform(shape, lo, hi):
    return torch.rand(tuple(shape), dtype=F64) * (hi - lo) + lo


for dt in (F32, F64):
    s = '' if dt == F32 else '_f64'
    for mode in ('bilinear', 'nearest', 'bicubic'):
        for pad in ('zeros', 'border', 'reflection'):
            for ac in (False, True):
                name = '%s_%s_%s%s' % (mode, pad, 'align' if ac else 'noalign', s)
                common.seed(name + '_data')
                sample('2d_' + name, torch.randn(2, 3, 5, 7, dtype=F64), uniform((2, 4, 6, 2), -1.6, 1.6), dt, mode,
                       pad, ac)
                if mode != 'bicubic':
                    sample('3d_' + name, torch.randn(2, 2, 4, 5, 3, dtype=F64), uniform((2, 3, 4, 2, 3), -1.6, 1.6),
                           dt, mode, pad, ac)
for mode in ('bilinear', 'nearest', 'bicubic'):
    for ac in (False, True):
        name = 'far_%s_reflection_%s' % (mode, 'align' if ac else 'noalign')
        common.seed(name + '_data')
        sample('2d_' + name, torch.randn(1, 2, 4, 6, dtype=F64), uniform((1, 5, 5, 2), -4, 4), F32, mode,
               'reflection', ac)
common.seed('one_pixel')
sample('2d_one_pixel_wide', torch.randn(1, 2, 3, 1, dtype=F64), uniform((1, 2, 3, 2), -1.5, 1.5), F64, 'bilinear',
       'reflection', True)


def affine(name, theta, size, dtype, align_corners):
    common.seed(name)
    theta = leaf(theta.to(dtype))
    grid = F.affine_grid(theta, size, align_corners=align_corners)
    w = torch.randn(grid.shape, dtype=dtype)
    (grid * w).sum().backward()
    CASES.append({'kind': 'affine_grid', 'name': name, 'dtype': dtype,
                  'args': {'size': list(size), 'align_corners': align_corners},
                  'tensors': [('theta', theta.detach()), ('w', w), ('out', grid.detach()),
                              ('grad_theta', theta.grad)]})


def transformer(name, x, theta, dtype, align_corners):
    common.seed(name)
    x, theta = leaf(x.to(dtype)), leaf(theta.to(dtype))
    grid = F.affine_grid(theta, list(x.shape), align_corners=align_corners)
    out = F.grid_sample(x, grid, align_corners=align_corners)
    w = torch.randn(out.shape, dtype=dtype)
    (out * w).sum().backward()
    CASES.append({'kind': 'transformer', 'name': name, 'dtype': dtype,
                  'args': {'align_corners': align_corners},
                  'tensors': [('input', x.detach()), ('theta', theta.detach()), ('w', w), ('out', out.detach()),
                              ('grad_input', x.grad), ('grad_theta', theta.grad)]})


for dt in (F32, F64):
    s = '' if dt == F32 else '_f64'
    for ac in (False, True):
        a = 'align' if ac else 'noalign'
        common.seed('theta2_' + a + s)
        affine('affine_2d_%s%s' % (a, s), torch.randn(2, 2, 3, dtype=F64), [2, 3, 4, 5], dt, ac)
        common.seed('theta3_' + a + s)
        affine('affine_3d_%s%s' % (a, s), torch.randn(2, 3, 4, dtype=F64), [2, 1, 3, 4, 2], dt, ac)
        common.seed('theta1_' + a + s)
        affine('affine_2d_one_row_%s%s' % (a, s), torch.randn(1, 2, 3, dtype=F64), [1, 1, 1, 4], dt, ac)
        common.seed('stn_' + a + s)
        rot = torch.tensor([[[0.8, -0.5, 0.1], [0.6, 0.9, -0.2]], [[1.1, 0.2, 0.3], [-0.1, 0.7, 0.0]]], dtype=F64)
        transformer('stn_%s%s' % (a, s), torch.randn(2, 3, 6, 5, dtype=F64), rot, dt, ac)


def lua_case(c):
    L = ['  {']
    L.append("    kind = '%s', name = '%s', dtype = '%s'," % (c['kind'], c['name'], common.dtype_name(c['dtype'])))
    L.append('    args = %s,' % lua_value(c['args']))
    L += ['    %s = %s,' % (k, lua_tensor(t)) for k, t in c['tensors']]
    L.append('  },')
    return '\n'.join(L)


def main():
    write_golden('grid_sample.lua', [
        'grid_sample.lua: PyTorch %s golden values for nnlua F.grid_sample and F.affine_grid;' % torch.__version__,
        'generated by tests/golden/gen_grid_sample.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_grid_sample.py`). Checked by tests/spec/grid_sample_spec.lua.',
        'kind grid_sample: F.grid_sample(input, grid, args), out and the gradients of (out * w):sum();',
        'affine_grid: F.affine_grid(theta, args.size, args), out and theta\'s gradient; transformer:',
        'grid_sample(input, affine_grid(theta, input\'s size)), both with args.align_corners.',
    ], [lua_case(c) for c in CASES])


if __name__ == '__main__':
    main()
