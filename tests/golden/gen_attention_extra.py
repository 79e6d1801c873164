# Golden data for nn.MultiheadAttention beyond gen_attention.py and
# gen_transformer.py: float masks that require grad (PyTorch 1.13 adds a
# float attn_mask or key_padding_mask to the scores, so its gradient is the
# scores' gradient, at its 0 entries too). Forward outputs, attention
# weights and the gradients of sum(out * w) for the inputs, the masks and
# every parameter, float64, in training mode with dropout 0.
# Regenerate with Debian's python3-torch:
#   /usr/bin/python3 tests/golden/gen_attention_extra.py
import torch

from common import F64, I64, lua_grad_lines, lua_tensor, lua_value, write_golden

torch.manual_seed(20261129)
E, H, L, S, N = 6, 2, 4, 5, 3
NEG = float('-inf')


def perturb(module):
    """module in float64, every parameter moved off its initial value"""
    module.to(F64)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return module


def float_mask(*shape, p=0.25, big=NEG):
    """zeros, big (-inf or -1e9) at a fraction p of the places, no row all
    big"""
    m = torch.zeros(shape, dtype=F64)
    where = torch.rand(shape) < p
    where[..., 0] = False
    return m.masked_fill(where, big)


def case(name, module, inputs, masks, args, opts, call=None):
    """module(*inputs, **masks, **call); masks: name -> (tensor, whether it
    requires grad); args, opts: nnlua's constructor arguments"""
    module.train()
    module.zero_grad()
    xs = [x.to(F64).clone().requires_grad_(True) for x in inputs]
    ms = {k: (t.clone().requires_grad_(True) if g else t) for k, (t, g) in masks.items()}
    out, weights = module(*xs, **ms, **(call or {}))
    w = torch.randn(out.shape, dtype=F64)
    (out * w).sum().backward()
    lines = ['  {', "    name = '%s'," % name]
    lines.append('    args = %s, opts = %s, call = %s,' % (lua_value(args), lua_value(opts), lua_value(call or {})))
    lines.append('    state = {')
    lines += ["      { name = '%s', t = %s }," % (k, lua_tensor(v, True)) for k, v in module.state_dict().items()]
    lines.append('    },')
    lines.append('    inputs = { %s },' % ', '.join(lua_tensor(x.detach(), True) for x in xs))
    lines.append('    masks = {')
    for k, t in ms.items():
        t = t.detach()
        lines.append('      %s = %s,' % (k, lua_tensor(t.to(I64) if t.dtype == torch.bool else t, True)))
    lines.append('    },')
    lines.append('    mask_grads = {')
    lines += ['      %s = %s,' % (k, lua_tensor(t.grad, True)) for k, t in ms.items() if t.requires_grad]
    lines.append('    },')
    lines.append('    w = %s,' % lua_tensor(w, True))
    lines.append('    out = %s,' % lua_tensor(out.detach(), True))
    lines.append('    weights = %s,' % lua_tensor(weights.detach(), True))
    lines += lua_grad_lines(xs, module)
    lines.append('  },')
    return '\n'.join(lines)


cases = []
x, kv = torch.randn(L, N, E), torch.randn(S, N, E)
mha = perturb(torch.nn.MultiheadAttention(E, H))
# a float attn_mask (0 and -inf) that requires grad, beside a boolean
# key-padding mask (nnlua: int64 0/1)
kpm = torch.rand(N, S) < 0.25
kpm[:, 0] = False
cases.append(case('mha_float_attn_mask_grad', mha, [x, kv, kv],
                  dict(attn_mask=(float_mask(L, S), True), key_padding_mask=(kpm, False)), [E, H], {}))
# a float key-padding mask of 0 and -1e9 that requires grad, 3-D float
# attn_mask absent (PyTorch 1.13 adds it alone)
cases.append(case('mha_float_kpm_grad', mha, [x, kv, kv], dict(key_padding_mask=(float_mask(N, S, big=-1e9), True)),
                  [E, H], {}, dict(average_attn_weights=False)))
# a 3-D float attn_mask (N * H, L, S) that requires grad, unbatched: (H, L, S)
cases.append(case('mha_unbatched_3d_float_mask_grad', mha, [torch.randn(L, E), torch.randn(S, E), torch.randn(S, E)],
                  dict(attn_mask=(float_mask(H, L, S), True)), [E, H], {}))

# add_bias_kv: bias_k and bias_v, one more key and value; add_zero_attn:
# one more of zeros; the masks padded with a key that takes part
mha_b = perturb(torch.nn.MultiheadAttention(E, H, add_bias_kv=True))
cases.append(case('mha_add_bias_kv_masks', mha_b, [x, kv, kv],
                  dict(attn_mask=(torch.rand(L, S) < 0.2, False), key_padding_mask=(kpm, False)), [E, H],
                  dict(add_bias_kv=True)))
mha_z = perturb(torch.nn.MultiheadAttention(E, H, add_zero_attn=True, batch_first=True))
cases.append(case('mha_add_zero_attn_batch_first', mha_z, [x.transpose(0, 1), kv.transpose(0, 1), kv.transpose(0, 1)],
                  dict(key_padding_mask=(float_mask(N, S), True)), [E, H], dict(add_zero_attn=True, batch_first=True),
                  dict(average_attn_weights=False)))
mha_bz = perturb(torch.nn.MultiheadAttention(E, H, add_bias_kv=True, add_zero_attn=True, kdim=4, vdim=3))
cases.append(case('mha_bias_kv_zero_attn_kdim', mha_bz, [x, torch.randn(S, N, 4), torch.randn(S, N, 3)],
                  dict(attn_mask=(float_mask(N * H, L, S), True)), [E, H],
                  dict(add_bias_kv=True, add_zero_attn=True, kdim=4, vdim=3)))
cases.append(case('mha_bias_kv_zero_attn_unbatched', mha_bz, [torch.randn(L, E), torch.randn(S, 4), torch.randn(S, 3)],
                  dict(attn_mask=(torch.rand(H, L, S) < 0.2, False), key_padding_mask=(torch.rand(S) < 0.2, False)),
                  [E, H], dict(add_bias_kv=True, add_zero_attn=True, kdim=4, vdim=3), dict(average_attn_weights=False)))

write_golden('attention_extra.lua', [
    'Golden values for nn.MultiheadAttention from PyTorch 1.13 (float masks that require grad,',
    'add_bias_kv, add_zero_attn);',
    'see gen_attention_extra.py. Regenerate: /usr/bin/python3 tests/golden/gen_attention_extra.py',
], cases)
