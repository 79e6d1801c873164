# Golden data for the transformer: nn.MultiheadAttention with kdim / vdim,
# per-head weights, 3-D masks and unbatched input; nn.TransformerEncoderLayer
# unbatched; nn.TransformerDecoderLayer, nn.TransformerDecoder and
# nn.Transformer post-norm and pre-norm, sequence-first and batch_first,
# relu, gelu and a function as the activation, with every mask (boolean
# ones, written as int64 0/1, and generate_square_subsequent_mask's 0/-inf),
# unbatched too. Forward outputs, and the gradients of sum(out * w) for the
# inputs and every parameter, from PyTorch with dropout 0 in training mode
# (off its inference fast paths) on weights drawn here and written out by
# their state-dict names. Most cases are float64, so that nnlua is held to
# PyTorch's values within float64 rounding; two are float32.
# Regenerate with Debian's python3-torch:  /usr/bin/python3 tests/golden/gen_transformer.py
import torch

from common import F32, F64, I64, lua_tensor, lua_value, write_golden

torch.manual_seed(20270301)
E, H, FF = 6, 2, 8


def perturb(module, dtype):
    """module in dtype, every parameter moved off its initial value (biases
    not 0, LayerNorm weights not 1)"""
    module.to(dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return module


def bool_mask(*shape, p=0.3):
    return torch.rand(shape) < p


def causal_float(n, dtype):
    return torch.nn.Transformer.generate_square_subsequent_mask(n).to(dtype)


def for_nnlua(mask):
    """a mask as nnlua takes it: a boolean one as int64 0/1 (nonzero blocks),
    a float one as it is"""
    return mask.to(I64) if mask.dtype == torch.bool else mask


def case(name, kind, module, inputs, masks, dtype, args, opts, call=None, extra=None):
    """module(*inputs, **masks, **call) in training mode; kind, args and opts
    say how nnlua builds it (nnlua's constructor options)"""
    module.train()
    module.zero_grad()
    xs = [x.to(dtype).clone().requires_grad_(True) for x in inputs]
    res = module(*xs, **masks, **(call or {}))
    weights = None
    if isinstance(res, tuple):
        res, weights = res
    w = torch.randn(res.shape, dtype=dtype)
    (res * w).sum().backward()
    c = dict(name=name, kind=kind, dtype=dtype, args=args, opts=opts,
             state=[(k, v.detach().clone()) for k, v in module.state_dict().items()],
             inputs=[x.detach() for x in xs], masks={k: for_nnlua(v) for k, v in masks.items()},
             call=call or {}, w=w, out=res.detach(), weights=weights,
             input_grads=[x.grad for x in xs],
             param_grads=[(k, p.grad) for k, p in module.named_parameters()])
    c.update(extra or {})
    return c


def lua_case(c):
    dt = c['dtype']
    lines = ['  {']
    lines.append("    name = '%s', kind = '%s', dtype = '%s'," % (c['name'], c['kind'], 'float64' if dt == F64 else 'float32'))
    lines.append('    args = %s, opts = %s, call = %s,' % (lua_value(c['args']), lua_value(c['opts']), lua_value(c['call'])))
    if 'activation_fn' in c:
        lines.append("    activation_fn = '%s'," % c['activation_fn'])
    lines.append('    state = {')
    lines += ["      { name = '%s', t = %s }," % (k, lua_tensor(v, True)) for k, v in c['state']]
    lines.append('    },')
    lines.append('    inputs = {')
    lines += ['      %s,' % lua_tensor(x, True) for x in c['inputs']]
    lines.append('    },')
    lines.append('    masks = {')
    lines += ['      %s = %s,' % (k, lua_tensor(v, True)) for k, v in c['masks'].items()]
    lines.append('    },')
    lines.append('    w = %s,' % lua_tensor(c['w'], True))
    lines.append('    out = %s,' % lua_tensor(c['out'], True))
    if c['weights'] is not None:
        lines.append('    weights = %s,' % lua_tensor(c['weights'].detach(), True))
    lines.append('    input_grads = {')
    lines += ['      %s,' % lua_tensor(g, True) for g in c['input_grads']]
    lines.append('    },')
    lines.append('    param_grads = {')
    lines += ["      { name = '%s', t = %s }," % (k, lua_tensor(g, True)) for k, g in c['param_grads']]
    lines.append('    },')
    lines.append('  },')
    return '\n'.join(lines)


cases = []
L, S, N = 4, 5, 3

# MultiheadAttention: key and value of their own widths (q/k/v_proj_weight),
# the weights of each head, a boolean attn_mask and key padding
mha = perturb(torch.nn.MultiheadAttention(E, H, kdim=5, vdim=3), F64)
pad = torch.zeros(N, S, dtype=torch.bool)
pad[0, 4] = True
pad[2, 1] = True
am = torch.zeros(L, S, dtype=torch.bool)
am[0, 2] = True
am[3, 0] = True
cases.append(case('mha_kdim_vdim_per_head', 'mha', mha, [torch.randn(L, N, E), torch.randn(S, N, 5), torch.randn(S, N, 3)],
                  dict(attn_mask=am, key_padding_mask=pad), F64, [E, H], dict(kdim=5, vdim=3),
                  call=dict(average_attn_weights=False)))

# unbatched (batch_first does not apply), a 3-D (num_heads, L, S) mask and a
# 1-D key padding mask
mha_u = perturb(torch.nn.MultiheadAttention(E, H, batch_first=True), F64)
am3 = bool_mask(H, L, S, p=0.25)
am3[:, :, 0] = False
pad1 = torch.tensor([False, False, False, True, False])
cases.append(case('mha_unbatched_3d_mask', 'mha', mha_u, [torch.randn(L, E), torch.randn(S, E), torch.randn(S, E)],
                  dict(attn_mask=am3, key_padding_mask=pad1), F64, [E, H], dict(batch_first=True)))

# float32: a 3-D (N * num_heads, L, L) float mask of 0 / -inf
mha_f = perturb(torch.nn.MultiheadAttention(E, H), F32)
am3f = torch.zeros(N * H, L, L)
am3f[bool_mask(N * H, L, L, p=0.3)] = float('-inf')
am3f[:, :, 1] = 0
x = torch.randn(L, N, E)
cases.append(case('mha_3d_float_mask_f32', 'mha', mha_f, [x, x, x], dict(attn_mask=am3f), F32, [E, H], {}))

# TransformerEncoderLayer on unbatched input
enc_u = perturb(torch.nn.TransformerEncoderLayer(E, H, dim_feedforward=FF, dropout=0.0), F64)
cases.append(case('encoder_layer_unbatched', 'encoder_layer', enc_u, [torch.randn(S, E)],
                  dict(src_mask=causal_float(S, F64), src_key_padding_mask=torch.tensor([False, False, True, False, False])),
                  F64, [E, H], dict(dim_feedforward=FF, dropout=0)))

# TransformerDecoderLayer, post-norm (the default), every mask
T = 4
dec = perturb(torch.nn.TransformerDecoderLayer(E, H, dim_feedforward=FF, dropout=0.0), F64)
tpad = torch.zeros(N, T, dtype=torch.bool)
tpad[1, 3] = True
tpad[2, 2:] = True
mpad = torch.zeros(N, S, dtype=torch.bool)
mpad[0, 4] = True
mpad[1, 0] = True
mmask = bool_mask(T, S, p=0.3)
mmask[:, 2] = False
dec_masks = dict(tgt_mask=causal_float(T, F64), memory_mask=mmask, tgt_key_padding_mask=tpad,
                 memory_key_padding_mask=mpad)
cases.append(case('decoder_layer_postnorm_masks', 'decoder_layer', dec, [torch.randn(T, N, E), torch.randn(S, N, E)],
                  dec_masks, F64, [E, H], dict(dim_feedforward=FF, dropout=0)))

# pre-norm, batch_first, gelu, a boolean causal mask and memory padding
dec_b = perturb(torch.nn.TransformerDecoderLayer(E, H, dim_feedforward=FF, dropout=0.0, activation='gelu',
                                                 batch_first=True, norm_first=True), F64)
causal_bool = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
cases.append(case('decoder_layer_prenorm_batch_first_gelu', 'decoder_layer', dec_b,
                  [torch.randn(N, T, E), torch.randn(N, S, E)],
                  dict(tgt_mask=causal_bool, memory_key_padding_mask=mpad), F64, [E, H],
                  dict(dim_feedforward=FF, dropout=0, activation='gelu', batch_first=True, norm_first=True)))

# TransformerDecoder: two layers (their own weights) and a final LayerNorm
stack = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(E, H, dim_feedforward=FF, dropout=0.0), 2,
                                    norm=torch.nn.LayerNorm(E))
perturb(stack, F64)
cases.append(case('decoder_stack_norm_masks', 'decoder', stack, [torch.randn(T, N, E), torch.randn(S, N, E)],
                  dec_masks, F64, [E, H], dict(dim_feedforward=FF, dropout=0), extra=dict()))
cases[-1]['opts']['num_layers'] = 2


def transformer(layers=1, **kw):
    return torch.nn.Transformer(d_model=E, nhead=H, num_encoder_layers=layers, num_decoder_layers=layers,
                                dim_feedforward=FF, dropout=0.0, **kw)


TOPTS = dict(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF, dropout=0)

# nn.Transformer, post-norm, sequence-first, all six masks, two layers each
# (the others have one)
spad = torch.zeros(N, S, dtype=torch.bool)
spad[0, 3] = True
spad[2, 4] = True
smask = bool_mask(S, S, p=0.2)
smask.fill_diagonal_(False)
smask[:, 0] = False
tr = perturb(transformer(2), F64)
cases.append(case('transformer_postnorm_all_masks', 'transformer', tr, [torch.randn(S, N, E), torch.randn(T, N, E)],
                  dict(src_mask=smask, tgt_mask=causal_float(T, F64), memory_mask=mmask, src_key_padding_mask=spad,
                       tgt_key_padding_mask=tpad, memory_key_padding_mask=spad), F64, [],
                  dict(TOPTS, num_encoder_layers=2, num_decoder_layers=2)))

# pre-norm, batch_first, gelu, layer_norm_eps 1e-6
tr_b = perturb(transformer(norm_first=True, batch_first=True, activation='gelu', layer_norm_eps=1e-6), F64)
cases.append(case('transformer_prenorm_batch_first_gelu', 'transformer', tr_b,
                  [torch.randn(N, S, E), torch.randn(N, T, E)],
                  dict(tgt_mask=causal_float(T, F64), src_key_padding_mask=spad, memory_key_padding_mask=spad),
                  F64, [], dict(TOPTS, norm_first=True, batch_first=True, activation='gelu', layer_norm_eps=1e-6)))

# unbatched src (S, E) and tgt (T, E), 1-D key padding masks
tr_u = perturb(transformer(), F64)
cases.append(case('transformer_unbatched', 'transformer', tr_u, [torch.randn(S, E), torch.randn(T, E)],
                  dict(tgt_mask=causal_float(T, F64), src_key_padding_mask=torch.tensor([False, True, False, False, False]),
                       memory_key_padding_mask=torch.tensor([False, True, False, False, False])), F64, [], TOPTS))

# float32, a function as the activation (tanh), pre-norm, sequence-first
tr_f = perturb(transformer(activation=torch.tanh, norm_first=True), F32)
cases.append(case('transformer_tanh_function_f32', 'transformer', tr_f, [torch.randn(S, N, E), torch.randn(T, N, E)],
                  dict(tgt_mask=causal_float(T, F32), memory_mask=mmask), F32, [], dict(TOPTS, norm_first=True),
                  extra=dict(activation_fn='tanh')))

write_golden('transformer.lua', ['generated by tests/golden/gen_transformer.py (PyTorch %s); do not edit' % torch.__version__],
             [lua_case(c) for c in cases])
