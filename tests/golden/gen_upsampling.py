# gen_upsampling.py: PyTorch golden values for nnlua's resampling and
# sliding-window ops: F.interpolate (every mode), nn.Upsample and its fixed
# forms, pixel (un)shuffle, channel shuffle, unfold / fold, the LP pools
# and F.pad's 3-D non-constant modes with the 3-D padding modules. Writes
# tests/golden/upsampling.lua (checked by tests/spec/upsampling_spec.lua);
# it does not test anything itself. Regenerate, from the repository root,
# with
#
#     /usr/bin/python3 tests/golden/gen_upsampling.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Three kinds of case, each in float32 or float64 (then written in full):
#   fn: nnlua's F[op](x, unpack(args)) against the PyTorch call beside it;
#       out, and the input's gradient of (out * w).sum() for a fixed random
#       w of out's shape.
#   layer: nnlua's nn[module](unpack(args)) (no parameters), the same.
#   index: the pixel each output of nearest / nearest-exact reads, over
#       many sizes (x = 0, 1, ..., n - 1 along one dim), compared exactly.
# With transposed = true the op sees x.transpose(-1, -2) of the stored
# `input` (a non-contiguous view); grad_input is the stored tensor's.
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
import common
from common import F32, F64, randn, uniform, write_golden

torch.manual_seed(20250611)
torch.set_num_threads(1)
# float64s as their shortest round-trip digits, the numbers of options as float64s
num, lua_tensor, lua_value, _ = common.shortest_writers()

CASES = []
INDEX = []


def run(f, x, transposed, grad=None):
    """out = f(x') for x' the op's view of x, and the stored input's
    gradient of (out * w).sum(); grad: another function whose autograd
    gives that gradient (for an op without a derivative in PyTorch 1.13)"""
    leaf = x.clone().requires_grad_(True)
    xin = leaf.transpose(-1, -2) if transposed else leaf
    out = f(xin.detach() if grad else xin)
    w = torch.randn(out.shape, dtype=out.dtype)
    if grad:
        same = grad(xin)
        assert torch.allclose(same.detach(), out, rtol=1e-6, atol=1e-6), 'the gradient formula computes another function'
        (same * w).sum().backward()
    else:
        (out * w).sum().backward()
    return out.detach(), w, leaf.grad


def case(kind, name, what, args, f, x, dtype=F32, transposed=False, grad=None):
    x = x.to(dtype)
    out, w, gx = run(f, x, transposed, grad)
    CASES.append({'kind': kind, 'name': name, 'what': what, 'args': args, 'dtype': dtype, 'input': x,
                  'transposed': transposed, 'w': w, 'out': out, 'grad_input': gx})


def fn(name, op, args, f, x, **kw):
    case('fn', name, op, args, f, x, **kw)


def layer(name, module, args, m, x, **kw):
    case('layer', name, module, args, m, x, **kw)


def opts(**kw):
    """an nnlua options table (a dict, in a fixed order)"""
    return dict(sorted(kw.items()))


def interp(name, x, dtype=F32, transposed=False, grad=None, **kw):
    fn(name, 'interpolate', [opts(**kw)], lambda t: F.interpolate(t, **kw), x, dtype=dtype, transposed=transposed,
       grad=grad)


def as_matrix(f, shape):
    """f (linear in its input, of shape) as M @ t.flatten(): M from f of each
    basis tensor, so that autograd gives f's own derivative, M^T w"""
    n = math.prod(shape)
    basis = torch.eye(n, dtype=F64).view(n, *shape)
    cols = torch.stack([f(b).reshape(-1) for b in basis], 1)
    return lambda t: (cols.to(t.dtype) @ t.reshape(-1)).view(f(t.detach()).shape)


# ---- F.interpolate -----------------------------------------------------------------------------------
for dt in (F32, F64):
    s = '' if dt == F32 else '_f64'
    interp('nearest_1d_size' + s, randn(2, 3, 5), dt, size=7)
    interp('nearest_2d_scale2' + s, randn(2, 2, 3, 4), dt, scale_factor=2)
    interp('nearest_2d_fraction' + s, randn(1, 2, 5, 6), dt, scale_factor=[1.5, 0.6])
    interp('nearest_3d_size' + s, randn(1, 2, 2, 3, 4), dt, size=[3, 4, 5])
    interp('nearest_exact_2d_size' + s, randn(2, 1, 4, 5), dt, size=[5, 7], mode='nearest-exact')
    interp('nearest_exact_1d_scale' + s, randn(1, 3, 7), dt, scale_factor=1.7, mode='nearest-exact')
    interp('linear_size' + s, randn(2, 3, 5), dt, size=9, mode='linear')
    interp('linear_align' + s, randn(2, 3, 5), dt, size=9, mode='linear', align_corners=True)
    interp('linear_down' + s, randn(1, 2, 10), dt, scale_factor=0.6, mode='linear')
    interp('bilinear_size' + s, randn(2, 2, 3, 4), dt, size=[5, 7], mode='bilinear')
    interp('bilinear_align' + s, randn(2, 2, 3, 4), dt, size=[5, 7], mode='bilinear', align_corners=True)
    interp('bilinear_scale' + s, randn(1, 3, 4, 3), dt, scale_factor=2.5, mode='bilinear')
    interp('bicubic_size' + s, randn(2, 2, 4, 5), dt, size=[6, 9], mode='bicubic')
    interp('bicubic_align' + s, randn(2, 2, 4, 5), dt, size=[6, 9], mode='bicubic', align_corners=True)
    interp('bicubic_scale' + s, randn(1, 2, 4, 4), dt, scale_factor=1.75, mode='bicubic')
    interp('bicubic_down' + s, randn(1, 2, 7, 9), dt, size=[3, 2], mode='bicubic')
    interp('trilinear_size' + s, randn(1, 2, 2, 3, 4), dt, size=[3, 4, 6], mode='trilinear')
    interp('trilinear_align' + s, randn(1, 2, 2, 3, 4), dt, size=[3, 4, 6], mode='trilinear', align_corners=True)
    interp('trilinear_scale' + s, randn(2, 1, 3, 2, 3), dt, scale_factor=[1.5, 2, 0.7], mode='trilinear')
interp('linear_same_size_scale', randn(1, 2, 5), scale_factor=1.1, mode='linear')        # PyTorch copies
# bicubic does not copy at the same size, in forward; 1.13's backward does
# copy the gradient there, which is not the forward's derivative: the
# gradient here is the forward's, through its matrix
interp('bicubic_same_size_scale', randn(1, 2, 5, 5), scale_factor=1.1, mode='bicubic',
       grad=as_matrix(lambda t: F.interpolate(t, scale_factor=1.1, mode='bicubic'), (1, 2, 5, 5)))
interp('bilinear_recompute', randn(1, 2, 5, 6), scale_factor=[0.5, 1.5], mode='bilinear', recompute_scale_factor=True)
interp('bilinear_to_one', randn(2, 2, 4, 5), size=1, mode='bilinear')
interp('bilinear_to_one_align', randn(2, 2, 4, 5), size=1, mode='bilinear', align_corners=True)
interp('bicubic_from_one', randn(1, 2, 1, 1), scale_factor=3, mode='bicubic')
interp('nearest_recompute', randn(1, 1, 7, 7), scale_factor=1.3, recompute_scale_factor=True)
interp('area_1d', randn(2, 2, 7), size=3, mode='area')
interp('area_2d_scale', randn(1, 2, 6, 8), scale_factor=0.5, mode='area')
interp('bilinear_transposed', randn(2, 2, 5, 3), transposed=True, size=[4, 7], mode='bilinear')
interp('bicubic_transposed', randn(1, 3, 6, 4), transposed=True, scale_factor=[1.5, 0.75], mode='bicubic',
       align_corners=True)
interp('nearest_transposed', randn(2, 2, 3), transposed=True, size=5)
interp('trilinear_transposed', randn(1, 2, 2, 4, 3), transposed=True, size=[3, 5, 5], mode='trilinear')

# ---- the modules ---------------------------------------------------------------------------------------
layer('upsample_bilinear', 'Upsample', [opts(scale_factor=2, mode='bilinear', align_corners=True)],
      nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True), randn(2, 2, 3, 3))
layer('upsample_trilinear', 'Upsample', [opts(size=[3, 4, 2], mode='trilinear')],
      nn.Upsample(size=(3, 4, 2), mode='trilinear'), randn(1, 2, 2, 2, 3))
layer('upsample_nearest_1d', 'Upsample', [opts(scale_factor=3)], nn.Upsample(scale_factor=3), randn(2, 2, 4))
layer('upsamplingnearest2d', 'UpsamplingNearest2d', [opts(size=[5, 3])], nn.UpsamplingNearest2d(size=(5, 3)),
      randn(2, 3, 2, 2))
layer('upsamplingbilinear2d', 'UpsamplingBilinear2d', [opts(scale_factor=2)],
      nn.UpsamplingBilinear2d(scale_factor=2), randn(1, 2, 3, 4))
layer('upsamplingbilinear2d_f64', 'UpsamplingBilinear2d', [opts(size=[4, 6])],
      nn.UpsamplingBilinear2d(size=(4, 6)), randn(1, 2, 3, 4), dtype=F64)

# ---- pixel shuffle, channel shuffle ---------------------------------------------------------------------
fn('pixel_shuffle', 'pixel_shuffle', [2], lambda t: F.pixel_shuffle(t, 2), randn(2, 8, 3, 2))
fn('pixel_shuffle_5d', 'pixel_shuffle', [3], lambda t: F.pixel_shuffle(t, 3), randn(2, 3, 9, 2, 2))
fn('pixel_shuffle_unbatched_transposed', 'pixel_shuffle', [2], lambda t: F.pixel_shuffle(t, 2), randn(4, 3, 2),
   transposed=True)
fn('pixel_unshuffle', 'pixel_unshuffle', [2], lambda t: F.pixel_unshuffle(t, 2), randn(2, 2, 4, 6))
fn('pixel_unshuffle_f64', 'pixel_unshuffle', [3], lambda t: F.pixel_unshuffle(t, 3), randn(1, 2, 3, 6), dtype=F64)
layer('pixelshuffle', 'PixelShuffle', [2], nn.PixelShuffle(2), randn(1, 12, 2, 3))
layer('pixelunshuffle', 'PixelUnshuffle', [2], nn.PixelUnshuffle(2), randn(1, 3, 4, 2))


def shuffled(t, g):
    """channel_shuffle by views (PyTorch 1.13's has no derivative)"""
    n, c = t.shape[0], t.shape[1]
    return t.reshape(n, g, c // g, -1).transpose(1, 2).reshape(t.shape)


fn('channel_shuffle', 'channel_shuffle', [3], lambda t: F.channel_shuffle(t, 3), randn(2, 6, 3),
   grad=lambda t: shuffled(t, 3))
fn('channel_shuffle_4d_transposed', 'channel_shuffle', [2], lambda t: F.channel_shuffle(t, 2), randn(1, 4, 2, 3),
   transposed=True, grad=lambda t: shuffled(t, 2))
layer('channelshuffle', 'ChannelShuffle', [2], nn.ChannelShuffle(2), randn(2, 4, 2, 2, 2),
      grad=lambda t: shuffled(t, 2))

# ---- unfold, fold ---------------------------------------------------------------------------------------------
fn('unfold', 'unfold', [2], lambda t: F.unfold(t, 2), randn(2, 3, 4, 5))
fn('unfold_options', 'unfold', [[2, 3], opts(dilation=[2, 1], padding=[1, 2], stride=[2, 1])],
   lambda t: F.unfold(t, (2, 3), dilation=(2, 1), padding=(1, 2), stride=(2, 1)), randn(2, 2, 6, 5))
fn('unfold_unbatched', 'unfold', [3, opts(padding=1)], lambda t: F.unfold(t, 3, padding=1), randn(2, 4, 5))
fn('unfold_transposed_f64', 'unfold', [[3, 2], opts(stride=2)], lambda t: F.unfold(t, (3, 2), stride=2),
   randn(1, 2, 6, 7), transposed=True, dtype=F64)
fn('fold', 'fold', [[4, 5], 2], lambda t: F.fold(t, (4, 5), 2), randn(2, 12, 12))
fn('fold_options', 'fold', [[6, 5], [2, 3], opts(dilation=[2, 1], padding=[1, 2], stride=[2, 1])],
   lambda t: F.fold(t, (6, 5), (2, 3), dilation=(2, 1), padding=(1, 2), stride=(2, 1)), randn(2, 12, 21))
fn('fold_unbatched', 'fold', [[4, 5], 3, opts(padding=1)], lambda t: F.fold(t, (4, 5), 3, padding=1), randn(18, 20))
fn('fold_transposed_f64', 'fold', [[6, 7], [3, 2], opts(stride=2)], lambda t: F.fold(t, (6, 7), (3, 2), stride=2),
   randn(1, 6, 12), transposed=True, dtype=F64)
layer('unfold_module', 'Unfold', [[2, 2], opts(stride=2)], nn.Unfold((2, 2), stride=2), randn(1, 3, 4, 4))
layer('fold_module', 'Fold', [[3, 3], 2, opts(dilation=1)], nn.Fold((3, 3), 2, dilation=1), randn(2, 8, 4))

# ---- LP pools ---------------------------------------------------------------------------------------------------
fn('lp_pool1d_p2', 'lp_pool1d', [2, 3, 2], lambda t: F.lp_pool1d(t, 2, 3, 2), randn(2, 3, 8))
fn('lp_pool1d_p3_ceil', 'lp_pool1d', [3, 2, opts(ceil_mode=True)], lambda t: F.lp_pool1d(t, 3, 2, ceil_mode=True),
   uniform((2, 2, 7), 0.2, 2))
fn('lp_pool2d_p2', 'lp_pool2d', [2, 2], lambda t: F.lp_pool2d(t, 2, 2), randn(2, 2, 4, 6))
fn('lp_pool2d_p1_5', 'lp_pool2d', [1.5, [3, 2], opts(stride=[1, 2])], lambda t: F.lp_pool2d(t, 1.5, (3, 2), (1, 2)),
   uniform((1, 3, 5, 6), 0.2, 2))
fn('lp_pool2d_f64_transposed', 'lp_pool2d', [2, 2, 1], lambda t: F.lp_pool2d(t, 2, 2, 1), randn(2, 2, 4, 3),
   dtype=F64, transposed=True)
layer('lppool1d', 'LPPool1d', [2, 2], nn.LPPool1d(2, 2), randn(3, 6))
layer('lppool2d', 'LPPool2d', [3, 2, opts(ceil_mode=True)], nn.LPPool2d(3, 2, ceil_mode=True),
      uniform((2, 5, 5), 0.2, 2))

# ---- 3-D padding -------------------------------------------------------------------------------------------------
for dt in (F32, F64):
    s = '' if dt == F32 else '_f64'
    fn('pad_reflect_3d' + s, 'pad', [[1, 2, 2, 1, 1, 2], 'reflect'],
       lambda t: F.pad(t, (1, 2, 2, 1, 1, 2), 'reflect'), randn(1, 2, 3, 4, 5), dtype=dt)
    fn('pad_replicate_3d' + s, 'pad', [[2, 0, 1, 3, 2, 1], 'replicate'],
       lambda t: F.pad(t, (2, 0, 1, 3, 2, 1), 'replicate'), randn(2, 1, 2, 3, 3), dtype=dt)
    fn('pad_circular_3d' + s, 'pad', [[1, 2, 2, 1, 1, 2], 'circular'],
       lambda t: F.pad(t, (1, 2, 2, 1, 1, 2), 'circular'), randn(1, 2, 3, 4, 3), dtype=dt)
fn('pad_reflect_3d_unbatched', 'pad', [[2, 1, 0, 1, 1, 1], 'reflect'], lambda t: F.pad(t, (2, 1, 0, 1, 1, 1), 'reflect'),
   randn(2, 3, 2, 4))
fn('pad_replicate_3d_crop', 'pad', [[-1, 2, 1, -1, 0, 2], 'replicate'],
   lambda t: F.pad(t, (-1, 2, 1, -1, 0, 2), 'replicate'), randn(1, 2, 2, 3, 4))
fn('pad_reflect_3d_transposed', 'pad', [[1, 1, 2, 0, 1, 2], 'reflect'],
   lambda t: F.pad(t, (1, 1, 2, 0, 1, 2), 'reflect'), randn(1, 1, 3, 4, 3), transposed=True)
layer('reflectionpad3d', 'ReflectionPad3d', [1], nn.ReflectionPad3d(1), randn(1, 2, 2, 3, 3))
layer('replicationpad3d', 'ReplicationPad3d', [[1, 0, 2, 1, 0, 3]], nn.ReplicationPad3d((1, 0, 2, 1, 0, 3)),
      randn(2, 2, 3, 2))
layer('constantpad3d', 'ConstantPad3d', [[1, 2, 0, 1, 2, 0], 0.5], nn.ConstantPad3d((1, 2, 0, 1, 2, 0), 0.5),
      randn(1, 2, 2, 2, 3))

# ---- float32 sample places over long lines: PyTorch computes the source
# index in double (acc_type) before the weights; rounded to float32 it moved
# them by up to 1e-4 (an alternating +-1 line of 1000 down to 77)
alternating = (torch.arange(1000.) % 2) * 2 - 1
interp('linear_long_align', alternating.view(1, 1, 1000), size=77, mode='linear', align_corners=True)
interp('linear_long_half', alternating.view(1, 1, 1000), size=77, mode='linear')
# (PyTorch 1.13's bicubic backward places its taps in float32, unlike its
# forward, so the gradient is the forward's own derivative, through its matrix)
# (value: the float32 forward's; gradient: the matrix's)
bicubic_long = lambda t: F.interpolate(t, size=[1, 77], mode='bicubic', align_corners=True)
# (the matrix of the float32 forward: its scale is a float32, the float64
# forward's a double, which moves the taps by 1e-5)
bicubic_long_cols = torch.stack([bicubic_long(b).reshape(-1) for b in torch.eye(1000, dtype=F32).view(1000, 1, 1, 1, 1000)], 1)
bicubic_long_matrix = lambda t: (bicubic_long_cols @ t.reshape(-1)).view(1, 1, 1, 77)
interp('bicubic_long_align', alternating.view(1, 1, 1, 1000), size=[1, 77], mode='bicubic', align_corners=True,
       grad=lambda t: bicubic_long(t.detach()) + (bicubic_long_matrix(t) - bicubic_long_matrix(t).detach()))
interp('bilinear_long_half', alternating.view(1, 1, 1, 1000).repeat(1, 1, 3, 1), size=[2, 61], mode='bilinear')

# ---- an output size of 0: area mode and the adaptive pools give an empty
# tensor, where the other modes refuse it. The gradient is zero: PyTorch
# 1.13's 3-D pools give it; its 2-D backward (1-D and 2-D area, the 1-D
# and 2-D pools) refuses an empty grad_output, so there the gradient is
# taken through an empty slice of the input (grad=)
def empty_like_slice(*sl):
    return lambda t: t[(Ellipsis,) + sl]


interp('area_1d_size0', randn(1, 2, 4), size=0, mode='area', grad=empty_like_slice(slice(0, 0)))
interp('area_2d_size0', randn(1, 2, 4, 5), size=[2, 0], mode='area', grad=empty_like_slice(slice(0, 2), slice(0, 0)))
interp('area_3d_size0', randn(1, 2, 4, 5, 6), size=[0, 2, 2], mode='area')
interp('area_1d_scale_to0', randn(2, 1, 4), scale_factor=0.1, mode='area', grad=empty_like_slice(slice(0, 0)))
fn('adaptive_avg_pool1d_size0', 'adaptive_avg_pool1d', [0], lambda t: F.adaptive_avg_pool1d(t, 0), randn(1, 2, 4),
   grad=empty_like_slice(slice(0, 0)))
fn('adaptive_max_pool1d_size0', 'adaptive_max_pool1d', [0], lambda t: F.adaptive_max_pool1d(t, 0), randn(1, 2, 4),
   grad=empty_like_slice(slice(0, 0)))
fn('adaptive_avg_pool2d_size0', 'adaptive_avg_pool2d', [[0, 2]], lambda t: F.adaptive_avg_pool2d(t, (0, 2)),
   randn(1, 2, 4, 5), grad=empty_like_slice(slice(0, 0), slice(0, 2)))
fn('adaptive_max_pool2d_size0', 'adaptive_max_pool2d', [[2, 0]], lambda t: F.adaptive_max_pool2d(t, (2, 0)),
   randn(1, 2, 4, 5), grad=empty_like_slice(slice(0, 2), slice(0, 0)))
fn('adaptive_avg_pool3d_size0', 'adaptive_avg_pool3d', [[2, 0, 2]], lambda t: F.adaptive_avg_pool3d(t, (2, 0, 2)),
   randn(1, 2, 4, 5, 6))
fn('adaptive_max_pool3d_size0', 'adaptive_max_pool3d', [[1, 1, 0]], lambda t: F.adaptive_max_pool3d(t, (1, 1, 0)),
   randn(2, 4, 5, 6))
layer('adaptiveavgpool3d_size0', 'AdaptiveAvgPool3d', [[0, 1, 1]], nn.AdaptiveAvgPool3d((0, 1, 1)),
      randn(1, 2, 3, 4, 5))
layer('adaptivemaxpool2d_size0', 'AdaptiveMaxPool2d', [[0, 3]], nn.AdaptiveMaxPool2d((0, 3)), randn(2, 4, 5),
      grad=empty_like_slice(slice(0, 0), slice(0, 3)))

# ---- which pixel nearest and nearest-exact read --------------------------------------------------------------------
for dt in (F32, F64):
    for mode in ('nearest', 'nearest-exact'):
        for n in (3, 7, 13, 14):
            x = torch.arange(n, dtype=dt).view(1, 1, n)
            for size in (1, 4, 9, 29, 46):
                y = F.interpolate(x, size=size, mode=mode)
                INDEX.append({'mode': mode, 'dtype': dt, 'n': n, 'size': size, 'scale_factor': None,
                              'idx': [int(v) for v in y.view(-1).tolist()]})
            for sf in (0.3, 0.7, 1.3, 1.7, 2.5, 3.3):
                if math.floor(n * sf) < 1:
                    continue
                y = F.interpolate(x, scale_factor=sf, mode=mode)
                INDEX.append({'mode': mode, 'dtype': dt, 'n': n, 'size': None, 'scale_factor': sf,
                              'idx': [int(v) for v in y.view(-1).tolist()]})

# nearest of one channel in 2-D and 3-D copies a dim whose size a
# scale_factor keeps and halves the index of one it doubles (PyTorch 1.13's
# channels-last kernel, which such contiguous input runs, and its nearest_idx), not
# floor(o / scale): 3 * 1.25 -> 3 reads 0, 1, 2; 5 * 2.1 -> 10 reads o >> 1.
# Two channels place by floor(o / scale), there as everywhere else; 1.13's
# backward there uses nearest_idx, which is not that forward's derivative:
# the gradient here is the forward's, through its matrix
interp('nearest_2d_scale_kept_size', randn(2, 1, 3, 5), scale_factor=[1.25, 2.1])
interp('nearest_3d_scale_kept_size_f64', randn(1, 1, 4, 3, 5), F64, scale_factor=[1.25, 1.25, 2.1])
interp('nearest_2d_scale_kept_size_2ch', randn(1, 2, 3, 5), scale_factor=[1.25, 2.1],
       grad=as_matrix(lambda t: F.interpolate(t, scale_factor=[1.25, 2.1]), (1, 2, 3, 5)))
# one channel seen through a transpose is not channels-last: floor(o / scale)
interp('nearest_2d_scale_kept_size_transposed', randn(1, 1, 5, 3), transposed=True, scale_factor=[1.25, 2.1],
       grad=as_matrix(lambda t: F.interpolate(t.transpose(-1, -2).contiguous().transpose(-1, -2),
                                              scale_factor=[1.25, 2.1]), (1, 1, 3, 5)))

# ---- writing ------------------------------------------------------------------------------------

def lua_case(c):
    L = ['  {']
    L.append("    name = '%s', kind = '%s', %s = '%s', dtype = '%s', transposed = %s," % (
        c['name'], c['kind'], 'op' if c['kind'] == 'fn' else 'module', c['what'], common.dtype_name(c['dtype']),
        num(c['transposed'])))
    L.append('    args = %s,' % lua_value(c['args']))
    L += common.lua_io_lines(c, shortest=True)
    L.append('  },')
    return '\n'.join(L)


def lua_index(c):
    what = ('size = %d' % c['size']) if c['size'] is not None else ('scale_factor = %s' % num(c['scale_factor'], F64))
    return "  { kind = 'index', mode = '%s', dtype = '%s', n = %d, %s, idx = %s }," % (
        c['mode'], common.dtype_name(c['dtype']), c['n'], what, lua_value(c['idx']))


def main():
    write_golden('upsampling.lua', [
        'upsampling.lua: PyTorch %s golden values for nnlua F.interpolate, nn.Upsample' % torch.__version__,
        'and its fixed forms, pixel (un)shuffle, channel shuffle, unfold / fold, the LP',
        "pools and F.pad's 3-D modes; generated by tests/golden/gen_upsampling.py (do",
        'not edit by hand; regenerate with `/usr/bin/python3 tests/golden/gen_upsampling.py`).',
        'Checked by tests/spec/upsampling_spec.lua. fn: F[op](x, unpack(args)); layer:',
        'nn[module](unpack(args)); each: input, out, and the gradient of the input for',
        '(out * w):sum(); transposed: the op saw input:transpose(-1, -2). index: the',
        'pixel (0-based) each output of a mode reads along a dim of n.',
    ], [lua_case(c) for c in CASES] + [lua_index(c) for c in INDEX])


if __name__ == '__main__':
    main()
