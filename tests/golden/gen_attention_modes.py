# Golden data for attention in the modes and options that
# gen_attention.py, gen_attention_extra.py and gen_transformer.py leave out:
# nn.MultiheadAttention without biases (bias=False, also with add_bias_kv),
# in eval mode with dropout > 0 (no dropout then), need_weights=False (no
# weights), a boolean mask beside a float one, and a row that every mask
# blocks (NaN, as PyTorch 1.13 gives it), a float key padding mask beside
# a boolean attn_mask (merged by logical_or: it blocks); the transformer layers and stacks
# in eval mode with dropout > 0, nn.TransformerEncoder with and without a
# final norm, layer_norm_eps, and F.gelu or an nn.PReLU module as the
# activation. Forward outputs, the weights, and the gradients of
# sum(out * w) for the inputs and every parameter (NaN where PyTorch gives
# NaN), from PyTorch 1.13 on weights drawn here, written by their
# state-dict names. Masks as nnlua takes them: a boolean one as int64 0/1
# (nonzero blocks), a float one (0, -inf, -1e9) as it is.
# Regenerate with Debian's python3-torch:
#   /usr/bin/python3 tests/golden/gen_attention_modes.py
import torch
import torch.nn.functional as Fn

from common import F32, F64, I64, lua_grad_lines, lua_tensor, lua_value, write_golden

torch.manual_seed(20261201)
E, H, FF = 6, 2, 8
NEG = float('-inf')


def perturb(module, dtype):
    """module in dtype, every parameter moved off its initial value"""
    module.to(dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return module


def bool_mask(*shape, p=0.3):
    """random blocks, the first key free in every row"""
    m = torch.rand(shape) < p
    m[..., 0] = False
    return m


def float_mask(*shape, p=0.3, big=NEG, dtype=F64):
    return torch.zeros(shape, dtype=dtype).masked_fill(bool_mask(*shape, p=p), big)


def for_nnlua(mask):
    return mask.to(I64) if mask.dtype == torch.bool else mask


def case(name, kind, module, inputs, masks, dtype, args, opts, mode='train', call=None, extra=None):
    """module(*inputs, **masks, **call) in mode; kind, args and opts: how
    nnlua builds it (its constructor's options)"""
    module.train(mode == 'train')
    module.zero_grad()
    xs = [x.to(dtype).clone().requires_grad_(True) for x in inputs]
    res = module(*xs, **masks, **(call or {}))
    weights, has_weights = None, isinstance(res, tuple)
    if has_weights:
        res, weights = res
    w = torch.randn(res.shape, dtype=dtype)
    (res * w).sum().backward()
    lines = ['  {']
    lines.append("    name = '%s', kind = '%s', dtype = '%s', mode = '%s'," % (
        name, kind, 'float64' if dtype == F64 else 'float32', mode))
    lines.append('    args = %s, opts = %s, call = %s,' % (lua_value(args), lua_value(opts, F64), lua_value(call or {})))
    for k, v in (extra or {}).items():
        lines.append('    %s = %s,' % (k, lua_value(v)))
    lines.append('    state = {')
    lines += ["      { name = '%s', t = %s }," % (k, lua_tensor(v, True)) for k, v in module.state_dict().items()]
    lines.append('    },')
    lines.append('    inputs = { %s },' % ', '.join(lua_tensor(x.detach(), True) for x in xs))
    lines.append('    masks = { %s },' % ', '.join('%s = %s' % (k, lua_tensor(for_nnlua(v), True))
                                                  for k, v in masks.items()))
    lines.append('    w = %s,' % lua_tensor(w, True))
    lines.append('    out = %s,' % lua_tensor(res.detach(), True))
    if has_weights:
        # false: PyTorch returned None (need_weights=False)
        lines.append('    weights = %s,' % lua_tensor(None if weights is None else weights.detach(), True))
    lines += lua_grad_lines(xs, module)
    lines.append('  },')
    return '\n'.join(lines)


cases = []
L, S, N = 4, 5, 3

# no biases (in_proj_bias and out_proj.bias absent), with bias_k / bias_v
# and kdim / vdim: q/k/v_proj_weight; a boolean attn_mask and key padding,
# the weights of each head
mha = perturb(torch.nn.MultiheadAttention(E, H, bias=False, add_bias_kv=True, kdim=5, vdim=3), F64)
cases.append(case('mha_no_bias_bias_kv_kdim', 'mha', mha,
                  [torch.randn(L, N, E), torch.randn(S, N, 5), torch.randn(S, N, 3)],
                  dict(attn_mask=bool_mask(L, S), key_padding_mask=bool_mask(N, S)), F64, [E, H],
                  dict(bias=False, add_bias_kv=True, kdim=5, vdim=3), call=dict(average_attn_weights=False)))

# eval mode with dropout 0.5 (none applies), batch_first, no biases, a 3-D
# float attn_mask (0 / -inf) beside a boolean key padding mask, and
# need_weights=False: no weights
mha = perturb(torch.nn.MultiheadAttention(E, H, bias=False, dropout=0.5, batch_first=True), F64)
cases.append(case('mha_eval_dropout_no_weights', 'mha', mha,
                  [torch.randn(N, L, E), torch.randn(N, S, E), torch.randn(N, S, E)],
                  dict(attn_mask=float_mask(N * H, L, S), key_padding_mask=bool_mask(N, S)), F64, [E, H],
                  dict(bias=False, dropout=0.5, batch_first=True), mode='eval', call=dict(need_weights=False)))

# eval mode with dropout, unbatched, add_zero_attn, a float key padding
# mask of 0 / -1e9 alone (PyTorch 1.13 adds it), the weights averaged
mha = perturb(torch.nn.MultiheadAttention(E, H, dropout=0.3, add_zero_attn=True), F64)
cases.append(case('mha_eval_unbatched_zero_attn_float_kpm', 'mha', mha,
                  [torch.randn(L, E), torch.randn(S, E), torch.randn(S, E)],
                  dict(key_padding_mask=float_mask(S, big=-1e9)), F64, [E, H],
                  dict(dropout=0.3, add_zero_attn=True), mode='eval'))

# a row that the masks block whole: query 2 of batch 1 by the attn_mask
# (3-D, per batch and head) and every query of batch 3 by key padding. PyTorch
# 1.13 gives NaN there, and NaN gradients for what those rows reach
mha = perturb(torch.nn.MultiheadAttention(E, H), F64)
am = bool_mask(N * H, L, S)
am[0:H, 1, :] = True
kpm = bool_mask(N, S)
kpm[2, :] = True
cases.append(case('mha_fully_masked_rows_nan', 'mha', mha, [torch.randn(L, N, E), torch.randn(S, N, E), torch.randn(S, N, E)],
                  dict(attn_mask=am, key_padding_mask=kpm), F64, [E, H], {}))

# TransformerEncoderLayer in eval mode with dropout 0.3, pre-norm,
# batch_first, layer_norm_eps 1e-3, F.gelu given as a function; a boolean
# src_mask and key padding
enc = perturb(torch.nn.TransformerEncoderLayer(E, H, dim_feedforward=FF, dropout=0.3, activation=Fn.gelu,
                                               layer_norm_eps=1e-3, batch_first=True, norm_first=True), F64)
cases.append(case('encoder_layer_eval_gelu_fn_eps', 'encoder_layer', enc, [torch.randn(N, S, E)],
                  dict(src_mask=bool_mask(S, S), src_key_padding_mask=bool_mask(N, S)), F64, [E, H],
                  dict(dim_feedforward=FF, dropout=0.3, layer_norm_eps=1e-3, batch_first=True, norm_first=True),
                  mode='eval', extra=dict(activation_fn='gelu')))

# TransformerEncoder, two post-norm layers with an nn.PReLU module as the
# activation (its weight a parameter of each layer), no final norm, a
# float key padding mask of 0 / -inf alone, training mode with dropout 0
enc = torch.nn.TransformerEncoderLayer(E, H, dim_feedforward=FF, dropout=0.0, activation=torch.nn.PReLU())
stack = perturb(torch.nn.TransformerEncoder(enc, 2, enable_nested_tensor=False), F64)
cases.append(case('encoder_prelu_no_norm_float_kpm', 'encoder', stack, [torch.randn(S, N, E)],
                  dict(src_key_padding_mask=float_mask(N, S)), F64, [E, H], dict(dim_feedforward=FF, dropout=0),
                  extra=dict(activation_fn='prelu', num_layers=2, final_norm=False)))

# TransformerEncoder with a final LayerNorm of eps 1e-3, eval mode with
# dropout 0.2, a causal mask (generate_square_subsequent_mask) and key padding
enc = torch.nn.TransformerEncoderLayer(E, H, dim_feedforward=FF, dropout=0.2, layer_norm_eps=1e-3)
stack = perturb(torch.nn.TransformerEncoder(enc, 2, norm=torch.nn.LayerNorm(E, eps=1e-3)), F64)
cases.append(case('encoder_norm_eval_causal', 'encoder', stack, [torch.randn(S, N, E)],
                  dict(mask=torch.nn.Transformer.generate_square_subsequent_mask(S).to(F64),
                       src_key_padding_mask=bool_mask(N, S)), F64, [E, H],
                  dict(dim_feedforward=FF, dropout=0.2, layer_norm_eps=1e-3), mode='eval',
                  extra=dict(num_layers=2, final_norm=True)))

# TransformerDecoder in eval mode with dropout 0.3, pre-norm, gelu,
# unbatched, every mask (1-D key padding)
T = 3
dec = torch.nn.TransformerDecoderLayer(E, H, dim_feedforward=FF, dropout=0.3, activation='gelu', norm_first=True)
stack = perturb(torch.nn.TransformerDecoder(dec, 2, norm=torch.nn.LayerNorm(E)), F64)
cases.append(case('decoder_eval_unbatched_gelu', 'decoder', stack, [torch.randn(T, E), torch.randn(S, E)],
                  dict(tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(T).to(F64),
                       memory_mask=bool_mask(T, S), tgt_key_padding_mask=torch.tensor([False, False, True]),
                       memory_key_padding_mask=torch.tensor([False, True, False, False, True])), F64, [E, H],
                  dict(dim_feedforward=FF, dropout=0.3, activation='gelu', norm_first=True), mode='eval',
                  extra=dict(num_layers=2, final_norm=True)))

# nn.Transformer in eval mode with dropout 0.2, batch_first, float32, a
# 3-D float memory mask, the others boolean
tr = perturb(torch.nn.Transformer(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=FF,
                                  dropout=0.2, batch_first=True), F32)
cases.append(case('transformer_eval_batch_first_f32', 'transformer', tr, [torch.randn(N, S, E), torch.randn(N, T, E)],
                  dict(src_mask=bool_mask(S, S), tgt_mask=bool_mask(T, T), memory_mask=float_mask(N * H, T, S, dtype=F32),
                       src_key_padding_mask=bool_mask(N, S), tgt_key_padding_mask=bool_mask(N, T),
                       memory_key_padding_mask=bool_mask(N, S)), F32, [],
                  dict(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=FF, dropout=0.2,
                       batch_first=True), mode='eval'))

# a float key padding mask (0 / -1e9) beside a boolean attn_mask: PyTorch
# 1.13 merges it into the mask by logical_or, so its -1e9 blocks as -inf
# (added alone, above, it is added): NaN for the sequence it pads whole
# (batch 2) and for query 1 of batch 1, whose one free key the attn_mask
# blocks; the others as the blocks give them
mha = perturb(torch.nn.MultiheadAttention(E, H), F64)
am = torch.zeros(L, S, dtype=torch.bool)
am[0, 1] = True
am[2, 3:] = True
kpm = torch.zeros(N, S, dtype=F64)
kpm[0, [0, 2, 3, 4]] = -1e9
kpm[1, :] = -1e9
kpm[2, 4] = -1e9
cases.append(case('mha_bool_mask_merges_float_kpm', 'mha', mha,
                  [torch.randn(L, N, E), torch.randn(S, N, E), torch.randn(S, N, E)],
                  dict(attn_mask=am, key_padding_mask=kpm), F64, [E, H], {}, call=dict(average_attn_weights=False)))

write_golden('attention_modes.lua', ['generated by tests/golden/gen_attention_modes.py (PyTorch %s); do not edit'
                                     % torch.__version__], cases)
