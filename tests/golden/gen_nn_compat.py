# Golden data for tests/spec/nn_compat_spec.lua: PyTorch 1.13's values of
# the torch.nn names nnlua added for compatibility: fractional_max_pool3d
# (given _random_samples), the *_with_indices pools, the in-place
# functional activations, the deprecated upsample forms, NLLLoss2d, the
# truth for CrossMapLRN2d (F.local_response_norm, see the spec), RNNBase,
# BatchNorm as SyncBatchNorm computes it, native_channel_shuffle and
# multi_head_attention_forward. Outputs, indices (written 1-based) and the
# inputs' gradients of sum(out * w).
# Regenerate: /usr/bin/python3 tests/golden/gen_nn_compat.py
import torch
import torch.nn as nn
import torch.nn.functional as F
from common import F32, F64, I64, seed, method_case, lua_method_case, write_golden

cases = []


def x_of(name, shape, dtype=F32):
    seed(name)
    return torch.randn(shape, dtype=F64).to(dtype)


# ---- fractional_max_pool3d ----
def fmp3(name, shape, k, dtype=F32, output_size=None, output_ratio=None, samples=None):
    x = x_of(name, shape, dtype)
    n = shape[0] if len(shape) == 5 else 1
    if samples is None:
        samples = torch.rand((n, shape[-4], 3), dtype=F64)
    samples = torch.as_tensor(samples, dtype=F64).to(dtype)
    args = {'kernel_size': k, 'output_size': output_size, 'output_ratio': output_ratio}
    args = {a: v for a, v in args.items() if v is not None}
    cases.append(method_case(name, 'fractional_max_pool3d',
                             lambda x, s: F.fractional_max_pool3d(x, k, output_size, output_ratio, True, s),
                             [x, ('const', samples)], args))


fmp3('fmp3_size', (2, 2, 7, 6, 8), 2, output_size=(4, 3, 5))
fmp3('fmp3_ratio_k3', (1, 2, 9, 10, 8), 3, output_ratio=0.5)
fmp3('fmp3_float64_k123', (1, 3, 6, 7, 8), (1, 2, 3), F64, output_size=(5, 4, 3))
fmp3('fmp3_unbatched', (2, 6, 6, 6), 2, output_size=3)
fmp3('fmp3_ratio_triple_float64', (2, 1, 10, 9, 12), 2, F64, output_ratio=(0.3, 0.5, 0.7))
fmp3('fmp3_out_one', (1, 1, 4, 5, 7), 2, output_size=(1, 2, 5))
# float32 samples whose float32 window starts differ from float64's (as
# the 2-D generator's float32_rounding case): 7 -> 3 at 0.19999998807907104
fmp3('fmp3_float32_rounding', (1, 1, 7, 6, 7), 2, output_size=3,
     samples=[[[0.19999998807907104, 0.4999999701976776, 0.2499999850988388]]])


# ---- pools with indices ----
def pool_case(name, op, fn, shape, args):
    cases.append(method_case(name, op, fn, [x_of(name, shape)], args))


pool_case('max_pool1d_wi', 'max_pool1d_with_indices',
          lambda x: F.max_pool1d_with_indices(x, 3, 2, 1), (2, 3, 11), {'kernel_size': 3, 'stride': 2, 'padding': 1})
pool_case('max_pool2d_wi', 'max_pool2d_with_indices',
          lambda x: F.max_pool2d_with_indices(x, 2, 1, 0, 2), (2, 2, 7, 6),
          {'kernel_size': 2, 'stride': 1, 'padding': 0, 'dilation': 2})
pool_case('max_pool3d_wi', 'max_pool3d_with_indices',
          lambda x: F.max_pool3d_with_indices(x, 2, 2, 0, 1, True), (1, 2, 5, 5, 6),
          {'kernel_size': 2, 'stride': 2, 'padding': 0, 'dilation': 1, 'ceil_mode': True})
pool_case('adaptive_max_pool1d_wi', 'adaptive_max_pool1d_with_indices',
          lambda x: F.adaptive_max_pool1d_with_indices(x, 4), (2, 3, 9), {'output_size': 4})
pool_case('adaptive_max_pool2d_wi', 'adaptive_max_pool2d_with_indices',
          lambda x: F.adaptive_max_pool2d_with_indices(x, (3, 2)), (2, 2, 7, 5), {'output_size': [3, 2]})
pool_case('adaptive_max_pool3d_wi', 'adaptive_max_pool3d_with_indices',
          lambda x: F.adaptive_max_pool3d_with_indices(x, (2, 3, 2)), (1, 2, 5, 6, 4), {'output_size': [2, 3, 2]})
pool_case('fractional_max_pool2d_wi', 'fractional_max_pool2d_with_indices',
          lambda x: F.fractional_max_pool2d_with_indices(
              x, 2, (4, 3), None, False, torch.tensor([[[0.3, 0.7], [0.9, 0.1]]])), (1, 2, 8, 7),
          {'kernel_size': 2, 'output_size': [4, 3], 'samples': [[[0.3, 0.7], [0.9, 0.1]]]})


# ---- in-place activations: values (no gradient: the input is changed) ----
def inplace_case(name, op, fn, args):
    x = x_of(name, (3, 7)) * 2
    cases.append(method_case(name, op, lambda x: fn(x.clone()), [('const', x)], args))


inplace_case('relu_', 'relu_', F.relu_, {})
inplace_case('elu_', 'elu_', lambda x: F.elu_(x, 0.7), {'alpha': 0.7})
inplace_case('celu_', 'celu_', lambda x: F.celu_(x, 1.3), {'alpha': 1.3})
inplace_case('selu_', 'selu_', F.selu_, {})
inplace_case('leaky_relu_', 'leaky_relu_', lambda x: F.leaky_relu_(x, 0.2), {'negative_slope': 0.2})
inplace_case('hardtanh_', 'hardtanh_', lambda x: F.hardtanh_(x, -0.5, 1.5), {'min_val': -0.5, 'max_val': 1.5})
inplace_case('rrelu_eval', 'rrelu_', lambda x: F.rrelu_(x, 0.1, 0.3), {'lower': 0.1, 'upper': 0.3})
inplace_case('threshold_', 'threshold_', lambda x: F.threshold_(x, 0.25, -2.0), {'threshold': 0.25, 'value': -2.0})


# ---- deprecated upsample forms ----
def up_case(name, op, fn, shape, args):
    cases.append(method_case(name, op, fn, [x_of(name, shape)], args))


up_case('upsample_nearest_scale', 'upsample', lambda x: F.upsample(x, scale_factor=2), (1, 2, 3, 4),
        {'scale_factor': 2})
up_case('upsample_bilinear_size', 'upsample', lambda x: F.upsample(x, (5, 7), None, 'bilinear', False),
        (2, 1, 3, 4), {'size': [5, 7], 'mode': 'bilinear', 'align_corners': False})
up_case('upsample_linear_ac', 'upsample', lambda x: F.upsample(x, 9, None, 'linear', True),
        (1, 2, 4), {'size': 9, 'mode': 'linear', 'align_corners': True})
up_case('upsample_nearest_fn', 'upsample_nearest', lambda x: F.upsample_nearest(x, (4, 6, 2)),
        (1, 1, 2, 3, 2), {'size': [4, 6, 2]})
up_case('upsample_nearest_fn_scale', 'upsample_nearest', lambda x: F.upsample_nearest(x, None, 3),
        (1, 2, 5), {'scale_factor': 3})
up_case('upsample_bilinear_fn', 'upsample_bilinear', lambda x: F.upsample_bilinear(x, (5, 6)),
        (2, 2, 3, 4), {'size': [5, 6]})
up_case('upsample_bilinear_fn_scale', 'upsample_bilinear', lambda x: F.upsample_bilinear(x, None, 2),
        (1, 1, 3, 3), {'scale_factor': 2})


# ---- NLLLoss2d ----
def nll2d(name, shape, reduction='mean', weight=None, ignore_index=-100):
    x = x_of(name, shape).log_softmax(1)
    t = torch.randint(0, shape[1], (shape[0],) + shape[2:])
    if ignore_index >= 0:
        t[0, 0, 0] = ignore_index
    inputs = [x, ('index', t + 1)]
    args = {'reduction': reduction}
    if ignore_index >= 0:
        args['ignore_index'] = ignore_index + 1
    if weight is not None:
        inputs.append(('const', weight))
    m = nn.NLLLoss2d(weight=weight, ignore_index=ignore_index, reduction=reduction)
    cases.append(method_case(name, 'nll_loss2d', lambda x, t, *w: m(x, t), inputs, args))


nll2d('nll_loss2d_mean', (2, 3, 4, 5))
nll2d('nll_loss2d_sum_weight', (2, 4, 3, 3), 'sum', torch.tensor([0.5, 1.0, 2.0, 0.25]))
nll2d('nll_loss2d_none_ignore', (1, 3, 2, 4), 'none', None, 2)


# ---- CrossMapLRN2d: PyTorch 1.13's legacy function is not the documented
# sum over the window (see the spec), so the truth is F.local_response_norm
def lrn_case(name, shape, size, alpha, beta, k):
    cases.append(method_case(name, 'cross_map_lrn2d', lambda x: F.local_response_norm(x, size, alpha, beta, k),
                             [x_of(name, shape)], {'size': size, 'alpha': alpha, 'beta': beta, 'k': k}))


lrn_case('cross_map_lrn2d_3', (2, 5, 3, 4), 3, 0.5, 0.75, 2.0)
lrn_case('cross_map_lrn2d_4', (1, 6, 2, 3), 4, 1e-2, 1.5, 1.0)


# ---- RNNBase(mode, ...) ----
def rnn_case(name, mode, args, shape):
    torch.manual_seed(len(name))
    m = nn.RNNBase(mode, *args['sizes'], num_layers=args['num_layers'], bias=args['bias'],
                   batch_first=args['batch_first'], bidirectional=args['bidirectional']).double()
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone() for _, p in m.named_parameters()]
    x = x_of(name, shape, F64)
    # (PyTorch 1.13's RNNBase has no forward: the function its mode's
    # layer runs takes RNNBase's parameters, in their order)
    vf = {'LSTM': torch._VF.lstm, 'GRU': torch._VF.gru, 'RNN_TANH': torch._VF.rnn_tanh,
          'RNN_RELU': torch._VF.rnn_relu}[mode]
    D = 2 if args['bidirectional'] else 1
    N = shape[0] if args['batch_first'] else shape[1]
    h0 = torch.zeros(args['num_layers'] * D, N, args['sizes'][1], dtype=F64)

    def fn(x, *ps):
        hx = (h0, h0) if mode == 'LSTM' else h0
        res = vf(x, hx, list(ps), args['bias'], args['num_layers'], 0.0, True, args['bidirectional'],
                 args['batch_first'])
        return list(res)
    # (the same as the layer of that mode holding those parameters)
    cls = {'LSTM': nn.LSTM, 'GRU': nn.GRU, 'RNN_TANH': nn.RNN, 'RNN_RELU': nn.RNN}[mode]
    kw = {'nonlinearity': 'tanh' if mode == 'RNN_TANH' else 'relu'} if cls is nn.RNN else {}
    run = cls(*args['sizes'], num_layers=args['num_layers'], bias=args['bias'], batch_first=args['batch_first'],
              bidirectional=args['bidirectional'], **kw).double()
    run.load_state_dict(m.state_dict())
    assert torch.equal(run(x)[0], fn(x, *params)[0])
    a = dict(args)
    a['mode'] = mode
    a['names'] = names
    cases.append(method_case(name, 'rnn_base', fn, [x] + params, a))


rnn_case('rnn_base_lstm', 'LSTM', {'sizes': [3, 4], 'num_layers': 2, 'bias': True, 'batch_first': False,
                                   'bidirectional': True}, (5, 2, 3))
rnn_case('rnn_base_gru', 'GRU', {'sizes': [2, 3], 'num_layers': 1, 'bias': False, 'batch_first': True,
                                 'bidirectional': False}, (2, 4, 2))
rnn_case('rnn_base_relu', 'RNN_RELU', {'sizes': [3, 2], 'num_layers': 2, 'bias': True, 'batch_first': False,
                                       'bidirectional': False}, (4, 1, 3))
rnn_case('rnn_base_tanh', 'RNN_TANH', {'sizes': [2, 2], 'num_layers': 1, 'bias': True, 'batch_first': False,
                                       'bidirectional': True}, (3, 2, 2))


# ---- SyncBatchNorm, single process: BatchNorm's training step (PyTorch
# 1.13's SyncBatchNorm refuses CPU input, so the truth is F.batch_norm) ----
def bn_case(name, shape, momentum=0.1, eps=1e-5):
    x = x_of(name, shape)
    c = shape[1]
    seed(name + 'w')
    w, b = torch.rand(c) + 0.5, torch.randn(c)
    rm, rv = torch.randn(c), torch.rand(c) + 0.5

    def fn(x, w, b, rm, rv):
        m, v = rm.clone(), rv.clone()
        y = F.batch_norm(x, m, v, w, b, True, momentum, eps)
        return y, m, v
    cases.append(method_case(name, 'sync_batch_norm', fn, [x, w, b, ('const', rm), ('const', rv)],
                             {'momentum': momentum, 'eps': eps}))


bn_case('sync_bn_2d', (6, 3))
bn_case('sync_bn_3d', (2, 4, 5), 0.3)
bn_case('sync_bn_4d', (2, 3, 4, 2), 0.1, 1e-3)
bn_case('sync_bn_5d', (2, 2, 3, 2, 2))

# ---- native_channel_shuffle ----
cases.append(method_case('native_channel_shuffle', 'native_channel_shuffle',
                         lambda x: F.native_channel_shuffle(x, 3), [('const', x_of('ncs', (2, 6, 2, 3)))], {'groups': 3}))


# ---- multi_head_attention_forward (PyTorch 1.13's argument list) ----
def mha_case(name, L, S, N, E, H, kdim=None, vdim=None, bias=True, bias_kv=False, zero_attn=False,
             kpm=False, mask=False, need_weights=True, average=True):
    seed(name)
    kd, vd = kdim or E, vdim or E
    q, k, v = torch.randn(L, N, E), torch.randn(S, N, kd), torch.randn(S, N, vd)
    sep = kd != E or vd != E
    ins = [q, k, v]
    if sep:
        ins += [torch.randn(E, E) * 0.4, torch.randn(E, kd) * 0.4, torch.randn(E, vd) * 0.4]
    else:
        ins += [torch.randn(3 * E, E) * 0.4]
    ins += [torch.randn(3 * E) * 0.1 if bias else None]
    ins += [torch.randn(1, 1, E) if bias_kv else None, torch.randn(1, 1, E) if bias_kv else None]
    ins += [torch.randn(E, E) * 0.4, torch.randn(E) * 0.1 if bias else None]
    kpm_t = (torch.rand(N, S) < 0.3).long() if kpm else None
    if kpm_t is not None:
        kpm_t[:, 0] = 0
    mask_t = (torch.rand(L, S) < 0.3).long() if mask else None
    if mask_t is not None:
        mask_t[:, 0] = 0
    present = [t for t in ins if t is not None]
    slots = [i for i, t in enumerate(ins) if t is not None]
    consts = [('const', t) for t in (kpm_t, mask_t) if t is not None]

    def fn(*given):
        full = [None] * len(ins)
        for i, t in zip(slots, given[:len(present)]):
            full[i] = t
        rest = list(given[len(present):])
        kp = rest.pop(0).bool() if kpm else None
        am = rest.pop(0).bool() if mask else None
        q, k, v = full[:3]
        if sep:
            qw, kw, vw = full[3:6]
            ipw = None
            tail = full[6:]
        else:
            ipw = full[3]
            qw = kw = vw = None
            tail = full[4:]
        ipb, bk, bv, ow, ob = tail
        out, wts = F.multi_head_attention_forward(q, k, v, E, H, ipw, ipb, bk, bv, zero_attn, 0.0, ow, ob,
                                                  training=True, key_padding_mask=kp, need_weights=need_weights,
                                                  attn_mask=am, use_separate_proj_weight=sep, q_proj_weight=qw,
                                                  k_proj_weight=kw, v_proj_weight=vw,
                                                  average_attn_weights=average)
        return [out] if wts is None else [out, wts]
    args = {'embed_dim': E, 'num_heads': H, 'separate': sep, 'bias': bias, 'bias_kv': bias_kv,
            'add_zero_attn': zero_attn, 'kpm': kpm, 'mask': mask, 'need_weights': need_weights,
            'average': average}
    cases.append(method_case(name, 'multi_head_attention_forward', fn, present + consts, args))


mha_case('mha_self', 4, 4, 2, 6, 2)
mha_case('mha_cross_masks', 3, 5, 2, 4, 2, kpm=True, mask=True, average=False)
mha_case('mha_separate_kv_dims', 3, 4, 1, 4, 1, kdim=3, vdim=5, bias=False)
mha_case('mha_bias_kv_zero_attn', 2, 3, 2, 6, 3, bias_kv=True, zero_attn=True, kpm=True, need_weights=False)

write_golden('nn_compat.lua', ['Generated by gen_nn_compat.py (PyTorch %s).' % torch.__version__, 'Do not edit.'],
             [lua_method_case(c) for c in cases])
