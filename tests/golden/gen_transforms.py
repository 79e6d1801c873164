# gen_transforms.py: PyTorch 1.13 golden values for nnlua's data.transforms,
# the deterministic ones (Normalize, Pad, CenterCrop, Resize,
# ConvertImageDtype) and RandomResizedCrop's fallback box. torchvision is
# not installed here, so this file follows torchvision 0.14's tensor
# functionals (transforms/functional.py and functional_tensor.py) with
# plain torch ops: torch.nn.functional.pad and interpolate, and its own
# code for the 'symmetric' padding, the center crop's offsets (Python's
# round: halves to even), the resized output size and the fallback box.
# Writes tests/golden/transforms.lua (checked by
# tests/spec/transforms_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_transforms.py
import math

import torch
import torch.nn.functional as F
from common import F32, F64, I64, seed, randn, lua_tensor, lua_value, write_golden


# ---- torchvision 0.14's tensor functionals, in plain torch --------------------

def normalize(x, mean, std):
    mean = torch.as_tensor(mean, dtype=x.dtype).view(-1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype).view(-1, 1, 1)
    return (x - mean) / std


def parse_padding(p):
    """left, top, right, bottom of torchvision's padding argument"""
    if isinstance(p, int):
        return p, p, p, p
    if len(p) == 1:
        return p[0], p[0], p[0], p[0]
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    return p[0], p[1], p[2], p[3]


def pad_symmetric(img, l, t, r, b):
    """functional_tensor._pad_symmetric for non-negative padding"""
    def idx(n, lo, hi):
        return torch.tensor(list(range(lo - 1, -1, -1)) + list(range(n)) + [-(i + 1) for i in range(hi)])
    x = img[..., :, idx(img.shape[-1], l, r)]
    return x[..., idx(img.shape[-2], t, b), :]


def pad(img, padding, fill=0, mode='constant'):
    l, t, r, b = parse_padding(padding)
    if mode == 'symmetric':
        return pad_symmetric(img, l, t, r, b)
    torch_mode = {'constant': 'constant', 'edge': 'replicate', 'reflect': 'reflect'}[mode]
    squeeze = img.dim() == 3 and torch_mode != 'constant'
    x = img.unsqueeze(0) if squeeze else img
    if torch_mode == 'constant':
        x = F.pad(x, [l, r, t, b], mode='constant', value=fill)
    else:
        # (torchvision pads an integer image as float32 and casts back)
        x = F.pad(x.to(F32) if not x.is_floating_point() else x, [l, r, t, b], mode=torch_mode).to(x.dtype)
    return x.squeeze(0) if squeeze else x


def center_crop(img, size):
    ch, cw = (size, size) if isinstance(size, int) else (size[0], size[-1])
    h, w = img.shape[-2], img.shape[-1]
    if cw > w or ch > h:
        ltrb = [(cw - w) // 2 if cw > w else 0, (ch - h) // 2 if ch > h else 0,
                (cw - w + 1) // 2 if cw > w else 0, (ch - h + 1) // 2 if ch > h else 0]
        img = pad(img, ltrb, fill=0)
        h, w = img.shape[-2], img.shape[-1]
        if cw == w and ch == h:
            return img
    top = int(round((h - ch) / 2.0))
    left = int(round((w - cw) / 2.0))
    return img[..., top:top + ch, left:left + cw]


def resized_size(h, w, size, max_size=None):
    """functional._compute_resized_output_size: (new_h, new_w)"""
    if isinstance(size, int) or len(size) == 1:
        s = size if isinstance(size, int) else size[0]
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = s, int(s * long / short)
        if max_size is not None and new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        return new_h, new_w
    return size[0], size[1]


def resize(img, size, interpolation='bilinear', antialias=False, max_size=None):
    oh, ow = resized_size(img.shape[-2], img.shape[-1], size, max_size)
    out_dtype = img.dtype
    x = img if img.is_floating_point() else img.to(F32)
    squeeze = x.dim() == 3
    if squeeze:
        x = x.unsqueeze(0)
    align = False if interpolation in ('bilinear', 'bicubic') else None
    x = F.interpolate(x, size=[oh, ow], mode=interpolation, align_corners=align, antialias=antialias)
    if squeeze:
        x = x.squeeze(0)
    if not out_dtype.is_floating_point:
        x = torch.round(x).to(out_dtype)
    return x


def convert_image_dtype(img, dtype):
    """functional_tensor.convert_image_dtype for uint8 <-> float"""
    if img.is_floating_point():
        if dtype.is_floating_point:
            return img.to(dtype)
        return img.mul(255 + 1.0 - 1e-3).to(dtype)
    return img.to(dtype).div_(255)


def rrc_fallback(height, width, ratio):
    """RandomResizedCrop.get_params' central crop, after its 10 tries fail"""
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


# ---- the cases ----------------------------------------------------------------

lines = []


def case(name, t, args, x, out, extra=None):
    """args: the transform's arguments as nnlua takes them (a list; a last
    table of options written as a dict)"""
    a = ', '.join(lua_value(v, F64, shortest=True) for v in args)
    more = ''.join(', %s = %s' % (k, lua_value(v, F64, shortest=True)) for k, v in (extra or {}).items())
    lines.append("  { name = '%s', t = '%s', args = { %s },\n    input = %s,\n    out = %s%s }," %
                 (name, t, a, lua_tensor(x), lua_tensor(out), more))


seed('normalize')
x = randn(3, 4, 5)
case('normalize', 'Normalize', [[0.1, 0.2, 0.3], [0.5, 1.0, 2.0]], x, normalize(x, [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]))
xb = randn(2, 3, 4, 5)
case('normalize batch', 'Normalize', [[0.1, -0.2, 0.3], [0.25, 1.5, 2.0]], xb,
     normalize(xb, [0.1, -0.2, 0.3], [0.25, 1.5, 2.0]))
case('normalize one value', 'Normalize', [[0.5], [0.25]], x, normalize(x, [0.5], [0.25]))
x64 = torch.randn(2, 3, 3, dtype=F64)
case('normalize float64', 'Normalize', [[0.1, 0.7], [0.3, 1.1]], x64, normalize(x64, [0.1, 0.7], [0.3, 1.1]))

seed('pad')
x = randn(2, 5, 6)
for mode in ('constant', 'edge', 'reflect', 'symmetric'):
    for p in (2, [1, 3], [1, 2, 3, 4], [0, 4, 2, 0]):
        opts = {'padding_mode': mode}
        if mode == 'constant':
            opts['fill'] = 0.5
        case('pad %s %s' % (mode, p), 'Pad', [p, opts], x, pad(x, p, opts.get('fill', 0), mode))
xb = randn(3, 2, 4, 5)
for mode in ('constant', 'edge', 'reflect', 'symmetric'):
    case('pad batch %s' % mode, 'Pad', [[1, 2, 3, 0], {'padding_mode': mode}], xb, pad(xb, [1, 2, 3, 0], 0, mode))
xi = torch.randint(0, 256, (1, 3, 4), dtype=I64)
case('pad int64 constant', 'Pad', [[1, 2], {'fill': 7}], xi, pad(xi, [1, 2], 7))
case('pad int64 reflect', 'Pad', [[2, 1], {'padding_mode': 'reflect'}], xi, pad(xi, [2, 1], 0, 'reflect'))
x2 = randn(4, 5)
case('pad H x W', 'Pad', [[1, 2, 0, 1], {'padding_mode': 'symmetric'}], x2, pad(x2, [1, 2, 0, 1], 0, 'symmetric'))

seed('center_crop')
x = randn(2, 7, 9)
for s in (4, [3, 6], [4, 5], [7, 9], [1, 1], [5]):
    case('center_crop %s' % s, 'CenterCrop', [s], x, center_crop(x, s))
x5 = randn(1, 5, 5)
case('center_crop half to even 0.5', 'CenterCrop', [4], x5, center_crop(x5, 4))
x9 = randn(1, 9, 11)
case('center_crop half to even 2.5', 'CenterCrop', [[4, 6]], x9, center_crop(x9, [4, 6]))
x = randn(2, 5, 6)
for s in ([8, 9], [3, 10], [9, 4], 6):
    case('center_crop pads %s' % s, 'CenterCrop', [s], x, center_crop(x, s))
xb = randn(3, 2, 6, 7)
case('center_crop batch', 'CenterCrop', [[3, 4]], xb, center_crop(xb, [3, 4]))

seed('resize')
x = randn(2, 8, 10)
for size, opts in [([5, 7], {}), (4, {}), ([12, 15], {}), ([5, 7], {'interpolation': 'nearest'}),
                   ([16, 20], {'interpolation': 'nearest'}), ([5, 7], {'interpolation': 'bicubic'}),
                   ([11, 13], {'interpolation': 'bicubic'}), ([3, 4], {'antialias': True}),
                   ([3, 4], {'interpolation': 'bicubic', 'antialias': True}), (8, {}),
                   (4, {'max_size': 6}), ([3], {})]:
    case('resize %s %s' % (size, ' '.join('%s=%s' % kv for kv in sorted(opts.items()))), 'Resize', [size, opts] if opts else [size], x,
         resize(x, size, opts.get('interpolation', 'bilinear'), opts.get('antialias', False), opts.get('max_size')))
xt = randn(1, 10, 7)
case('resize tall', 'Resize', [6], xt, resize(xt, 6))
xw = randn(1, 8, 20)
case('resize max_size', 'Resize', [4, {'max_size': 5}], xw, resize(xw, 4, max_size=5))
xb = randn(3, 2, 6, 9)
case('resize batch', 'Resize', [[4, 5]], xb, resize(xb, [4, 5]))
case('resize batch bicubic antialias', 'Resize', [3, {'interpolation': 'bicubic', 'antialias': True}], xb,
     resize(xb, 3, 'bicubic', True))
# an int64 image is resampled in float32 and rounded: drawn until no
# float result lies within 1e-3 of a half, where a last-bit difference
# of the float kernels would round the other way
while True:
    xi = torch.randint(0, 256, (1, 6, 7), dtype=I64)
    y = F.interpolate(xi.to(F32).unsqueeze(0), size=[4, 9], mode='bilinear', align_corners=False)
    if ((y - y.floor() - 0.5).abs() > 1e-3).all():
        break
case('resize int64', 'Resize', [[4, 9]], xi, resize(xi, [4, 9]))
x64 = torch.randn(1, 5, 6, dtype=F64)
case('resize float64', 'Resize', [[7, 4], {'interpolation': 'bicubic'}], x64, resize(x64, [7, 4], 'bicubic'))

seed('convert')
xu = torch.randint(0, 256, (2, 3, 4), dtype=torch.uint8)
case('convert bytes to float32', 'ConvertImageDtype', ['float32'], xu.to(I64), convert_image_dtype(xu, F32))
case('convert bytes to float64', 'ConvertImageDtype', ['float64'], xu.to(I64), convert_image_dtype(xu, F64))
xf = torch.rand(2, 3, 4, dtype=F32)
xf[0, 0, 0], xf[0, 0, 1] = 1.0, 0.0
case('convert float32 to bytes', 'ConvertImageDtype', ['int64'], xf, convert_image_dtype(xf, torch.uint8).to(I64))
case('convert float32 to float64', 'ConvertImageDtype', ['float64'], xf, convert_image_dtype(xf, F64))

# RandomResizedCrop's fallback: boxes no try can find (0-based top, left)
for h, w, scale, ratio in [(10, 100, [0.9, 1.0], [1.0, 1.0]), (100, 10, [0.9, 1.0], [1.0, 1.0]),
                           (9, 40, [0.95, 1.0], [0.5, 2.0]), (40, 9, [0.95, 1.0], [0.75, 1.3333333333333333]),
                           (7, 11, [1.0, 1.0], [1.0, 1.0])]:
    i, j, bh, bw = rrc_fallback(h, w, ratio)
    lines.append('  { name = %s, t = \'RandomResizedCrop fallback\', height = %d, width = %d, scale = %s, ratio = %s, '
                 'box = { %d, %d, %d, %d } },' % (lua_value('fallback %dx%d' % (h, w)), h, w,
                                                  lua_value(scale, F64, True), lua_value(ratio, F64, True),
                                                  i, j, bh, bw))

write_golden('transforms.lua', ['torchvision 0.14 transforms of tensors, in PyTorch 1.13 ops '
                                '(tests/golden/gen_transforms.py)'], lines)
