# gen_ctc_norm.py: PyTorch 1.13 golden values for nnlua's nn/ctc.lua
# (F.ctc_loss), nn/param_norm.lua (nn.utils.weight_norm, spectral_norm and
# their removal) and nn/rnn_utils.lua (packed sequences through LSTM and
# GRU). Writes tests/golden/ctc_norm.lua (checked by
# tests/spec/ctc_norm_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_ctc_norm.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# CTC: logits x (T, N, C) go through log_softmax, then ctc_loss; the loss
# (times a fixed random w per sample for reduction 'none') is backpropagated
# to x (grad_x: PyTorch's own) and to the log-probabilities lp (grad_lp:
# PyTorch's lp gradient less exp(lp) * dL/dloss_b at the frames t <
# input_lengths[b] of the samples it does not zero, which is what its CPU
# kernel adds to the exact derivative; see ops_ctc.c). Labels and the blank
# are written 1-based.
# Parametrizations: the module's parameters after weight_norm / spectral_norm
# under PyTorch's names (state, in named_parameters' order; buffers after),
# the steps' inputs, outputs, the gradients of (out * w).sum() for x and
# every parameter, and for spectral_norm the buffers u and v after each
# step (training steps run the power iteration, the last step is in eval).
# Packed: a padded batch packed with enforce_sorted false (distinct
# lengths: PyTorch's sort leaves the order of equal ones unspecified), its
# data, batch_sizes and sorted_indices, then an RNN over it: the packed
# output's data, the final states, and the gradients of x and every weight.
# Each case draws from its own seed (a CRC of its name).
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence
from common import F32, F64, lua_tensor, lua_named, lua_value, seed, write_golden

CTC, NORM, PACKED = [], [], []


def ctc_case(name, T, N, C, targets, il, tl, blank=0, reduction='mean', zero_infinity=False, dtype=F64,
             layout='padded', unbatched=False):
    """targets: a list of the N label lists (0-based, PyTorch's), padded or
    concatenated as layout says"""
    seed(name)
    S = max([len(t) for t in targets] + [1])
    if layout == 'padded':
        tg = torch.zeros(N, S, dtype=torch.int64)
        for b, t in enumerate(targets):
            tg[b, :len(t)] = torch.tensor(t, dtype=torch.int64)
            tg[b, len(t):] = (blank + 1) % C         # padding past the length: a label, never read
    else:
        tg = torch.tensor([v for t in targets for v in t], dtype=torch.int64)
    x = torch.randn(T, N, C, dtype=F64).to(dtype)
    xl = x.clone().requires_grad_()
    lp = xl.log_softmax(2)
    lp.retain_grad()
    if unbatched:
        loss = F.ctc_loss(lp[:, 0], tg[0], torch.tensor(il[0]), torch.tensor(tl[0]), blank=blank,
                          reduction=reduction, zero_infinity=zero_infinity)
    else:
        loss = F.ctc_loss(lp, tg, torch.tensor(il), torch.tensor(tl), blank=blank, reduction=reduction,
                          zero_infinity=zero_infinity)
    w = torch.randn(loss.shape, dtype=F64).to(dtype) if reduction == 'none' else None
    (loss * w).sum().backward() if w is not None else loss.backward()
    # dL/dloss_b: w, 1, or 1 / (N max(tl_b, 1))
    if reduction == 'none':
        coef = w.reshape(-1).double()
    elif reduction == 'sum':
        coef = torch.ones(N, dtype=F64)
    else:
        coef = 1.0 / (N * torch.tensor(tl, dtype=F64).clamp(min=1))
    with torch.no_grad():
        per = F.ctc_loss(lp.detach().reshape(T, N, C), tg.reshape(N, -1) if layout == 'padded' else tg,
                         torch.tensor(il), torch.tensor(tl), blank=blank, reduction='none')
        extra = torch.zeros(T, N, C, dtype=F64)
        for b in range(N):
            if zero_infinity and per[b] == float('inf'):
                continue
            extra[:il[b], b] = lp.detach()[:il[b], b].double().exp() * coef[b]
        grad_lp = (lp.grad.double() - extra).to(dtype)
    tg_out = tg + 1
    CTC.append(dict(name=name, dtype=dtype, x=x, targets=tg_out[0] if unbatched else tg_out, il=il, tl=tl,
                    blank=blank + 1, reduction=reduction, zero_infinity=zero_infinity, unbatched=unbatched,
                    w=w, loss=loss.detach(), grad_x=xl.grad, grad_lp=grad_lp))


def ctc_cases():
    tg = [[1, 2, 2], [3, 1], [4]]
    for layout in ('padded', 'concat'):
        ctc_case('repeats_' + layout, 6, 3, 5, tg, [6, 5, 3], [3, 2, 1], reduction='none', layout=layout)
    ctc_case('blank_middle_mean_f32', 7, 3, 6, [[0, 1, 0], [3, 4, 5, 3], [1]], [7, 7, 4], [3, 4, 1], blank=2,
             dtype=F32)
    ctc_case('blank_last_sum', 8, 2, 5, [[0, 0, 0], [2, 3, 1, 0]], [8, 6], [3, 4], blank=4, reduction='sum')
    ctc_case('blank_last_sum_concat', 8, 2, 5, [[0, 0, 0], [2, 3, 1, 0]], [8, 6], [3, 4], blank=4, reduction='sum',
             layout='concat')
    # "aaa" needs 5 frames: 4 cannot hold it, nor 2 frames "bc d"
    imp = [[1, 1, 1], [2, 3, 4], [2]]
    ctc_case('impossible_zero_infinity_mean', 5, 3, 5, imp, [4, 2, 5], [3, 3, 1], zero_infinity=True)
    ctc_case('impossible_zero_infinity_none', 5, 3, 5, imp, [4, 2, 5], [3, 3, 1], zero_infinity=True,
             reduction='none')
    ctc_case('impossible_inf_none', 5, 3, 5, imp, [4, 5, 5], [3, 3, 1], reduction='none')
    ctc_case('empty_target_mean', 5, 3, 4, [[], [1, 2], [3]], [5, 4, 1], [0, 2, 1])
    ctc_case('empty_target_concat', 5, 3, 4, [[], [1, 2], [3]], [5, 4, 1], [0, 2, 1], layout='concat',
             reduction='sum', dtype=F32)
    ctc_case('unbatched_none', 6, 1, 4, [[2, 3, 3]], [6], [3], reduction='none', unbatched=True)
    ctc_case('unbatched_mean_f32', 6, 1, 4, [[2, 3, 3]], [5], [3], unbatched=True, dtype=F32)
    seed('wide')
    lens = [20, 17, 12, 9]
    tgw = [torch.randint(1, 8, (n,)).tolist() for n in (8, 6, 5, 2)]
    ctc_case('wide_f32', 20, 4, 8, tgw, lens, [len(t) for t in tgw], dtype=F32)
    ctc_case('wide_f64_none', 20, 4, 8, tgw, lens, [len(t) for t in tgw], reduction='none')


def params_of(m):
    return [(k, v.detach().clone()) for k, v in m.named_parameters()] + \
           [(k, v.detach().clone()) for k, v in m.named_buffers()]


def norm_case(name, kind, make, apply, xshape, steps=1, dtype=F64, eval_last=False, remove=None, spec=None):
    """make(): the torch module; apply(m): weight_norm / spectral_norm on
    it; steps forward calls (training), the last in eval with eval_last;
    remove(m): the removal, after them, whose weight is recorded"""
    seed(name)
    m = make().to(dtype)
    apply(m)
    state = params_of(m)
    names = [k for k, _ in m.state_dict().items()]
    out_steps = []
    for s in range(steps):
        m.train(not (eval_last and s == steps - 1))
        x = torch.randn(xshape, dtype=F64).to(dtype).requires_grad_()
        for p in m.parameters():
            p.grad = None
        y = m(x)
        w = torch.randn(y.shape, dtype=F64).to(dtype)
        (y * w).sum().backward()
        grads = [(k, p.grad.clone()) for k, p in m.named_parameters()]
        bufs = [(k, v.detach().clone()) for k, v in m.named_buffers()]
        out_steps.append(dict(x=x.detach(), w=w, y=y.detach(), grad_x=x.grad, grads=grads, buffers=bufs,
                              training=m.training))
    removed = None
    if remove:
        remove(m)
        removed = m.weight.detach().clone()
    NORM.append(dict(name=name, kind=kind, dtype=dtype, spec=spec, state=state, names=names, steps=out_steps,
                     removed=removed, param_names=[k for k, _ in m.named_parameters()]))


def norm_cases():
    wn, sn = nn.utils.weight_norm, nn.utils.spectral_norm
    norm_case('wn_linear', 'Linear', lambda: nn.Linear(5, 4), wn, (3, 5), remove=nn.utils.remove_weight_norm,
              spec={'fn': 'weight_norm', 'args': [5, 4]})
    norm_case('wn_conv_none', 'Conv2d', lambda: nn.Conv2d(2, 3, 3), lambda m: wn(m, dim=None), (2, 2, 5, 5),
              spec={'fn': 'weight_norm', 'args': [2, 3, 3], 'dim': False})
    norm_case('wn_conv_dim1_f32', 'Conv2d', lambda: nn.Conv2d(2, 3, 3), lambda m: wn(m, dim=1), (2, 2, 5, 5),
              dtype=F32, spec={'fn': 'weight_norm', 'args': [2, 3, 3], 'dim': 2})
    norm_case('wn_linear_dim1', 'Linear', lambda: nn.Linear(5, 4), lambda m: wn(m, dim=1), (3, 5),
              spec={'fn': 'weight_norm', 'args': [5, 4], 'dim': 2})
    norm_case('sn_linear', 'Linear', lambda: nn.Linear(5, 4), sn, (3, 5), steps=4, eval_last=True,
              remove=nn.utils.remove_spectral_norm, spec={'fn': 'spectral_norm', 'args': [5, 4]})
    norm_case('sn_conv_iters2', 'Conv2d', lambda: nn.Conv2d(2, 3, 3),
              lambda m: sn(m, n_power_iterations=2), (2, 2, 5, 5), steps=3,
              spec={'fn': 'spectral_norm', 'args': [2, 3, 3], 'n_power_iterations': 2})
    norm_case('sn_convT_default_dim', 'ConvTranspose2d', lambda: nn.ConvTranspose2d(2, 3, 3), sn, (2, 2, 4, 4),
              steps=3, spec={'fn': 'spectral_norm', 'args': [2, 3, 3]})
    norm_case('sn_linear_dim1_f32', 'Linear', lambda: nn.Linear(6, 3), lambda m: sn(m, dim=1, eps=1e-6), (4, 6),
              steps=3, dtype=F32, spec={'fn': 'spectral_norm', 'args': [6, 3], 'dim': 2, 'eps': 1e-6})


def packed_case(name, kind, lengths, batch_first=False, T=5, I=3, H=4, dtype=F64):
    seed(name)
    m = getattr(nn, kind)(I, H, batch_first=batch_first).to(dtype)
    N = len(lengths)
    x = torch.randn((N, T, I) if batch_first else (T, N, I), dtype=F64).to(dtype).requires_grad_()
    p = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, h = m(p)
    hs = list(h) if isinstance(h, tuple) else [h]
    w = torch.randn(out.data.shape, dtype=F64).to(dtype)
    ws = [torch.randn(t.shape, dtype=F64).to(dtype) for t in hs]
    loss = (out.data * w).sum() + sum((t * v).sum() for t, v in zip(hs, ws))
    loss.backward()
    PACKED.append(dict(name=name, kind=kind, dtype=dtype, lengths=lengths, batch_first=batch_first, I=I, H=H,
                       x=x.detach(), state=params_of(m), packed=p.data.detach(), batch_sizes=p.batch_sizes,
                       sorted_indices=p.sorted_indices + 1, out=out.data.detach(), hs=[t.detach() for t in hs],
                       w=w, ws=ws, grad_x=x.grad, grads=[(k, v.grad) for k, v in m.named_parameters()]))


def packed_cases():
    packed_case('lstm_unsorted', 'LSTM', [3, 5, 1, 4])
    packed_case('gru_batch_first', 'GRU', [2, 4, 5], batch_first=True)
    packed_case('rnn_f32', 'RNN', [5, 2, 3], dtype=F32)


def lua_opt(v):
    return 'nil' if v is None else lua_value(v, F64)


def main():
    ctc_cases()
    norm_cases()
    packed_cases()
    lines = ['  ctc = {']
    for c in CTC:
        lines.append('    {')
        lines.append("      name = '%s', reduction = '%s', zero_infinity = %s, unbatched = %s, blank = %d," % (
            c['name'], c['reduction'], lua_value(c['zero_infinity']), lua_value(c['unbatched']), c['blank']))
        lines.append('      il = %s, tl = %s,' % (lua_value(c['il']), lua_value(c['tl'])))
        for k in ('x', 'targets', 'w', 'loss', 'grad_x', 'grad_lp'):
            lines.append('      %s = %s,' % (k, lua_tensor(c[k])))
        lines.append('    },')
    lines.append('  },')
    lines.append('  norm = {')
    for c in NORM:
        sp = c['spec']
        lines.append('    {')
        lines.append("      name = '%s', kind = '%s', fn = '%s', args = %s, dim = %s, n_power_iterations = %s, "
                     "eps = %s, dtype = '%s'," % (c['name'], c['kind'], sp['fn'], lua_value(sp['args']),
                                                lua_opt(sp.get('dim')), lua_opt(sp.get('n_power_iterations')),
                                                lua_opt(sp.get('eps')),
                                                'float64' if c['dtype'] == F64 else 'float32'))
        lines.append('      names = %s,' % lua_value(c['names']))
        lines.append('      param_names = %s,' % lua_value(c['param_names']))
        lines.append('      state = %s,' % lua_named(c['state'], '      '))
        lines.append('      steps = {')
        for s in c['steps']:
            lines.append('        {')
            lines.append('          training = %s,' % lua_value(s['training']))
            for k in ('x', 'w', 'y', 'grad_x'):
                lines.append('          %s = %s,' % (k, lua_tensor(s[k])))
            lines.append('          grads = %s,' % lua_named(s['grads'], '          '))
            lines.append('          buffers = %s,' % lua_named(s['buffers'], '          '))
            lines.append('        },')
        lines.append('      },')
        lines.append('      removed = %s,' % lua_tensor(c['removed']))
        lines.append('    },')
    lines.append('  },')
    lines.append('  packed = {')
    for c in PACKED:
        lines.append('    {')
        lines.append("      name = '%s', kind = '%s', lengths = %s, batch_first = %s, I = %d, H = %d," % (
            c['name'], c['kind'], lua_value(c['lengths']), lua_value(c['batch_first']), c['I'], c['H']))
        for k in ('x', 'packed', 'batch_sizes', 'sorted_indices', 'out', 'w', 'grad_x'):
            lines.append('      %s = %s,' % (k, lua_tensor(c[k])))
        lines.append('      hs = { %s },' % ', '.join(lua_tensor(t) for t in c['hs']))
        lines.append('      ws = { %s },' % ', '.join(lua_tensor(t) for t in c['ws']))
        lines.append('      state = %s,' % lua_named(c['state'], '      '))
        lines.append('      grads = %s,' % lua_named(c['grads'], '      '))
        lines.append('    },')
    lines.append('  },')
    write_golden('ctc_norm.lua', ['PyTorch %s golden values for ctc_norm_spec.lua; made by gen_ctc_norm.py'
                                  % torch.__version__.split('a')[0]], lines)


if __name__ == '__main__':
    main()
