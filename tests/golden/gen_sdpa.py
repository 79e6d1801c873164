# Golden data for F.scaled_dot_product_attention (tests/spec/sdpa_spec.lua).
# PyTorch 1.13 has no public scaled_dot_product_attention: the reference is
# PyTorch 2.x's definition, softmax(q k^T * scale + bias) v, bias the float
# mask or -inf where a boolean mask is false or is_causal blocks (j > i),
# computed in float64 torch with autograd for the gradients to q, k, v and
# a float mask. Each case without a scale is also checked here against
# 1.13's private torch.nn.functional._scaled_dot_product_attention (its
# bool and float masks, is_causal), which must agree to 1e-12.
# Inputs are float32 values (stored as float64); outputs and gradients
# float64. Regenerate: /usr/bin/python3 tests/golden/gen_sdpa.py
import math
import torch
from functools import partial
from common import F32, F64, I64, seed, lua_tensor, lua_value, write_golden

lua_tensor = partial(lua_tensor, shortest=True)   # float32 inputs in 9 digits or fewer

NEG = float('-inf')


def reference(q, k, v, mask, is_causal, scale):
    L, S = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    bias = torch.zeros(L, S, dtype=q.dtype)
    if is_causal:
        bias = bias.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), NEG)
    if mask is not None:
        bias = bias.masked_fill(~mask, NEG) if mask.dtype == torch.bool else bias + mask
    scores = q @ k.transpose(-2, -1) * scale + bias
    # PyTorch 2.5's _safe_softmax: a row whose scores are all -inf gets
    # weights 0 (2.0-2.4: NaN); its backward sees those zeros, so no
    # gradient passes there
    blocked = scores.isneginf().all(-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(blocked, 0), -1).masked_fill(blocked, 0)
    return weights @ v


def private_113(q, k, v, mask, is_causal):
    """1.13's private function (q scaled before the product)"""
    out, _ = torch.nn.functional._scaled_dot_product_attention(q, k, v, mask, 0.0, False, is_causal)
    return out


cases = []


def case(name, qs, ks, vs, mask=None, bool_mask=None, is_causal=False, scale=None, grads=True, dtype=F32,
         blocked_row=None):
    seed(name)
    leaves = [torch.randn(s, dtype=dtype).to(F64).requires_grad_() for s in (qs, ks, vs)]
    fmask = None
    if mask is not None:
        fmask = torch.randn(mask, dtype=dtype).to(F64)
        if blocked_row is not None:
            fmask[..., blocked_row, :] = NEG
        fmask.requires_grad_()
    bmask = None
    if bool_mask is not None:
        bmask = torch.rand(bool_mask[0]) > 0.3 if isinstance(bool_mask, tuple) else bool_mask
    m = fmask if fmask is not None else bmask
    out = reference(*leaves, m, is_causal, scale)
    if scale is None:
        alt = private_113(*[x.detach() for x in leaves], None if m is None else m.detach(), is_causal)
        d = (alt - out.detach()).abs()
        assert bool(((d < 1e-12) | (alt.isnan() & (out == 0))).all()), name
    w = torch.randn(out.shape, dtype=F32).to(F64)
    g = [None] * 4
    if grads:
        (out * w).sum().backward()
        g = [x.grad for x in leaves] + [fmask.grad if fmask is not None else None]
    args = {}
    if is_causal:
        args['is_causal'] = True
    if scale is not None:
        args['scale'] = scale
    lines = ['  {', "    name = '%s', dtype = '%s'," % (name, 'float32' if dtype == F32 else 'float64')]
    lines.append('    q = %s, k = %s, v = %s,' % tuple(lua_tensor(x.detach()) for x in leaves))
    lines.append('    float_mask = %s,' % lua_tensor(None if fmask is None else fmask.detach()))
    lines.append('    bool_mask = %s,' % lua_tensor(None if bmask is None else bmask.to(I64)))
    lines.append('    args = %s,' % lua_value(args, F64))
    lines.append('    w = %s,' % lua_tensor(w))
    lines.append('    out = %s,' % lua_tensor(out.detach()))
    lines.append('    grads = { %s },' % ', '.join(lua_tensor(x) for x in g))
    lines.append('  },')
    cases.append('\n'.join(lines))


case('plain_4d', (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6))
case('plain_4d_f64', (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), dtype=F64)
case('unbatched_2d', (4, 8), (5, 8), (5, 3))
case('batch_broadcast', (2, 1, 4, 8), (3, 5, 8), (1, 3, 5, 6))
case('bool_mask_2d', (2, 2, 4, 8), (2, 2, 5, 8), (2, 2, 5, 6), bool_mask=((4, 5),))
case('bool_mask_4d', (2, 2, 4, 8), (2, 2, 5, 8), (2, 2, 5, 6), bool_mask=((2, 1, 4, 5),))
case('float_mask_2d', (2, 2, 4, 8), (2, 2, 5, 8), (2, 2, 5, 6), mask=(4, 5))
case('float_mask_bcast', (2, 2, 4, 8), (2, 2, 5, 8), (2, 2, 5, 6), mask=(2, 1, 1, 5))
case('float_mask_f64', (2, 4, 8), (2, 5, 8), (2, 5, 6), mask=(2, 4, 5), dtype=F64)
case('causal_square', (2, 2, 5, 8), (2, 2, 5, 8), (2, 2, 5, 6), is_causal=True)
case('causal_more_keys', (2, 4, 8), (2, 6, 8), (2, 6, 6), is_causal=True)
case('causal_fewer_keys', (2, 6, 8), (2, 3, 8), (2, 3, 6), is_causal=True)
case('scale_given', (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), scale=0.7)
case('scale_and_float_mask', (3, 4, 8), (3, 5, 8), (3, 5, 6), mask=(4, 5), scale=1.5)
# a query row that no key may attend (row 2 of the mask false throughout;
# row 3 of a float mask -inf throughout): 0 there and no gradient, as
# PyTorch 2.5 and later (2.0-2.4's math path gave NaN)
full = torch.ones(4, 5, dtype=torch.bool)
full[1] = False
full[3, 0] = False
case('fully_masked_row', (2, 4, 8), (2, 5, 8), (2, 5, 6), bool_mask=full)
case('float_mask_blocked_row', (2, 4, 8), (2, 5, 8), (2, 5, 6), mask=(4, 5), blocked_row=2)

write_golden('sdpa.lua', [
    'Golden values for F.scaled_dot_product_attention: PyTorch 2.x\'s definition in float64',
    'torch 1.13 (checked against its private _scaled_dot_product_attention); see gen_sdpa.py.',
    'Regenerate: /usr/bin/python3 tests/golden/gen_sdpa.py',
], cases)
