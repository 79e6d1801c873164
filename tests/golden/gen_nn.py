# gen_nn.py: PyTorch golden values for nnlua's nn layers, a small MLP, and
# the losses. Writes tests/golden/nn.lua (checked by
# tests/spec/nn_golden_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_nn.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Layers: fixed float32 parameters and buffers (PyTorch's layout and
# state-dict names: Linear weight is (out, in)), a fixed input, out = m(x),
# then the loss (out * w).sum() with a fixed random w of out's shape, and the
# gradients of the input and of every parameter. BatchNorm1d in train mode
# also records its running statistics after the step.
# Losses: input, target, the loss value and the gradient of the input (of
# the loss itself for 'mean'/'sum'; of (loss * w).sum() for 'none'); the
# later ones (class dims, class probabilities, the composed losses) also a
# third tensor, the target's and the third's gradients, float64 cases and
# non-contiguous ones (see loss_ex).
# Everything that nnlua counts from 1 is written 1-based: dims, class
# targets, embedding ids, Sequential children in Lua (state-dict names keep
# PyTorch's 0-based "0.weight").
import os
import warnings
import torch
from common import F32, randn, uniform, away_from, lua_tensor, lua_value, lua_named
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20240612)


LAYERS = []
LOSSES = []


def set_state(m, scale=0.5):
    """Fixed random values for every parameter and float buffer of m; returns
    the state dict (names -> tensors) as it was before the step."""
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(randn(*p.shape) * scale)
        for name, b in m.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(randn(*b.shape) * 0.3)
            elif name.endswith('running_var'):
                b.copy_(uniform(b.shape, 0.5, 2.0))
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def layer(name, kind, args, m, x, mode='train', int_input=False, opts=None):
    """m: a torch module whose parameters are already set; x the input."""
    m.train(mode == 'train')
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    names = [k for k, _ in m.named_parameters()]
    buffers = [k for k, _ in m.named_buffers()]
    if int_input:
        xin = x
    else:
        xin = x.clone().requires_grad_(True)
    out = m(xin)
    assert out.dtype == F32, name
    w = randn(*out.shape)
    (out * w).sum().backward()
    c = {
        'name': name, 'kind': kind, 'args': args, 'opts': opts or {}, 'mode': mode,
        'state': [(k, state[k]) for k in names + buffers],
        'params': names,
        'input': (x + 1) if int_input else x.detach(),
        'int_input': int_input,
        'w': w, 'out': out.detach(),
        'grad_input': None if int_input else xin.grad,
        'grads': [(k, p.grad) for k, p in m.named_parameters()],
    }
    for k, p in m.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
    if mode == 'train' and buffers:
        c['after'] = [(k, v.detach().clone()) for k, v in m.named_buffers()]
    LAYERS.append(c)


# ---- Linear -------------------------------------------------------------------------
def linear(i, o, bias=True):
    m = nn.Linear(i, o, bias=bias)
    set_state(m)
    return m


layer('linear_2d', 'Linear', [4, 3], linear(4, 3), randn(5, 4))
layer('linear_2d_nobias', 'Linear', [4, 3], linear(4, 3, False), randn(5, 4), opts={'bias': False})
layer('linear_3d', 'Linear', [4, 3], linear(4, 3), randn(2, 5, 4))
layer('linear_3d_nobias', 'Linear', [6, 2], linear(6, 2, False), randn(3, 2, 6), opts={'bias': False})

# ---- activations ----------------------------------------------------------------------
layer('relu', 'ReLU', [], nn.ReLU(), away_from(randn(3, 4), [0.0]))
layer('relu_3d', 'ReLU', [], nn.ReLU(), away_from(randn(2, 3, 4), [0.0]))
layer('sigmoid', 'Sigmoid', [], nn.Sigmoid(), randn(3, 4) * 2)
layer('tanh', 'Tanh', [], nn.Tanh(), randn(3, 4) * 1.5)
layer('gelu', 'GELU', [], nn.GELU(approximate='none'), randn(3, 5) * 2)
layer('silu', 'SiLU', [], nn.SiLU(), randn(3, 5) * 2)
layer('leaky_relu', 'LeakyReLU', [0.2], nn.LeakyReLU(0.2), away_from(randn(3, 4), [0.0]))
layer('softmax_dim2', 'Softmax', [2], nn.Softmax(dim=1), randn(3, 4))
layer('softmax_dim1_3d', 'Softmax', [1], nn.Softmax(dim=0), randn(2, 3, 4))
layer('softmax_neg1_3d', 'Softmax', [-1], nn.Softmax(dim=-1), randn(2, 3, 4))
layer('log_softmax_dim2', 'LogSoftmax', [2], nn.LogSoftmax(dim=1), randn(3, 4))
layer('log_softmax_dim2_3d', 'LogSoftmax', [2], nn.LogSoftmax(dim=1), randn(2, 3, 4))
layer('log_softmax_neg1', 'LogSoftmax', [-1], nn.LogSoftmax(dim=-1), randn(4, 5) * 3)


# ---- BatchNorm1d ----------------------------------------------------------------------
def bn(c, momentum=0.1):
    m = nn.BatchNorm1d(c, momentum=momentum)
    set_state(m)
    with torch.no_grad():
        m.weight.copy_(uniform((c,), 0.5, 1.5))
    return m


layer('batchnorm1d_train_2d', 'BatchNorm1d', [3], bn(3), randn(6, 3) * 2 + 0.5)
layer('batchnorm1d_train_3d', 'BatchNorm1d', [3], bn(3), randn(4, 3, 5) * 1.5 - 0.3)
layer('batchnorm1d_train_momentum', 'BatchNorm1d', [4], bn(4, 0.3), randn(5, 4), opts={'momentum': 0.3})
layer('batchnorm1d_eval_2d', 'BatchNorm1d', [3], bn(3), randn(6, 3) * 2 + 0.5, mode='eval')
layer('batchnorm1d_eval_3d', 'BatchNorm1d', [3], bn(3), randn(4, 3, 5), mode='eval')


# ---- LayerNorm ------------------------------------------------------------------------
def ln(shape):
    m = nn.LayerNorm(shape)
    set_state(m)
    with torch.no_grad():
        m.weight.copy_(uniform(m.weight.shape, 0.5, 1.5))
    return m


layer('layernorm_2d', 'LayerNorm', [5], ln(5), randn(3, 5) * 2 + 1)
layer('layernorm_3d', 'LayerNorm', [5], ln(5), randn(2, 3, 5))
layer('layernorm_last_two', 'LayerNorm', [[3, 5]], ln([3, 5]), randn(2, 3, 5) * 1.5)

# ---- Embedding (ids written 1-based) ----------------------------------------------------
emb = nn.Embedding(6, 4)
set_state(emb, 1.0)
layer('embedding', 'Embedding', [6, 4], emb, torch.tensor([[1, 3, 3, 0, 5], [5, 3, 2, 2, 1]]), int_input=True)
emb1 = nn.Embedding(5, 3)
set_state(emb1, 1.0)
layer('embedding_1d', 'Embedding', [5, 3], emb1, torch.tensor([4, 0, 4, 4]), int_input=True)

# ---- Flatten, Dropout(eval) --------------------------------------------------------------
layer('flatten', 'Flatten', [], nn.Flatten(), randn(2, 3, 4))
layer('flatten_2_3', 'Flatten', [2, 3], nn.Flatten(1, 2), randn(2, 3, 4, 2))
layer('dropout_eval', 'Dropout', [0.5], nn.Dropout(0.5), randn(4, 5), mode='eval')
layer('dropout_p0_train', 'Dropout', [0.0], nn.Dropout(0.0), randn(4, 5))

# ---- Sequential MLPs ---------------------------------------------------------------------
# The spec builds the same stack in nnlua and loads the weights with
# load_state_dict under PyTorch's names ("0.weight", "2.bias", ...).
mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
set_state(mlp)
layer('mlp', 'MLP', [], mlp, randn(5, 6))

# with BatchNorm1d (its buffers go through load_state_dict too) and Dropout:
# p = 0 in the train-mode case (a p > 0 mask would be random), p = 0.3 in eval.
def mlp_bn(p):
    m = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.GELU(), nn.Dropout(p), nn.Linear(6, 2))
    set_state(m)
    with torch.no_grad():
        m[1].weight.add_(1.0)
    return m


layer('mlp_bn_train', 'MLP_BN', [], mlp_bn(0.0), randn(7, 5), opts={'dropout_p': 0.0})
layer('mlp_bn_eval', 'MLP_BN', [], mlp_bn(0.3), randn(7, 5), mode='eval', opts={'dropout_p': 0.3})


# ---- losses ------------------------------------------------------------------------------
def loss(name, kind, opts, fn, x, target, pre=None, topts=None):
    """fn(input, target) -> loss; pre: 'log_softmax' applies it to x first
    (the gradient is then of the logits x); topts: options that are tensors
    (class or element weights), written beside opts."""
    xin = x.clone().requires_grad_(True)
    inp = torch.log_softmax(xin, dim=1) if pre == 'log_softmax' else xin
    val = fn(inp, target)
    w = None
    if val.dim() > 0:
        w = randn(*val.shape)
        (val * w).sum().backward()
    else:
        val.backward()
    tgt = target
    if target.dtype == torch.int64:
        tgt = target + 1
    LOSSES.append({
        'name': name, 'kind': kind, 'opts': opts, 'pre': pre, 'topts': topts or {},
        'input': x.detach(), 'target': tgt, 'w': w,
        'out': val.detach(), 'grad_input': xin.grad,
    })


def reds(name, kind, x, target, extra=None, pre=None, make=None, topts=None):
    extra = extra or {}
    for r in ['mean', 'sum', 'none']:
        opts = dict(extra)
        opts['reduction'] = r
        loss('%s_%s' % (name, r), kind, opts, make(r), x, target, pre, topts)


reds('mse', 'MSELoss', randn(4, 3), randn(4, 3), make=lambda r: nn.MSELoss(reduction=r))
reds('mse_1d', 'MSELoss', randn(6), randn(6), make=lambda r: nn.MSELoss(reduction=r))
xt = randn(4, 3)
reds('l1', 'L1Loss', away_from(randn(4, 3), [0.0]) + xt, xt, make=lambda r: nn.L1Loss(reduction=r))
xt = randn(5, 3)
d = away_from(randn(5, 3) * 1.5, [-1.0, 0.0, 1.0])
reds('huber', 'HuberLoss', xt + d, xt, {'delta': 1.0}, make=lambda r: nn.HuberLoss(reduction=r, delta=1.0))
d = away_from(randn(5, 3), [-0.5, 0.0, 0.5])
reds('huber_d05', 'HuberLoss', xt + d, xt, {'delta': 0.5}, make=lambda r: nn.HuberLoss(reduction=r, delta=0.5))

logits = randn(6, 4) * 2
tgt = torch.tensor([0, 3, 1, 1, 2, 3])
reds('cross_entropy', 'CrossEntropyLoss', logits, tgt, make=lambda r: nn.CrossEntropyLoss(reduction=r))
reds('cross_entropy_ls', 'CrossEntropyLoss', logits, tgt, {'label_smoothing': 0.1},
     make=lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.1))
reds('cross_entropy_c7', 'CrossEntropyLoss', randn(3, 7), torch.tensor([6, 0, 2]),
     make=lambda r: nn.CrossEntropyLoss(reduction=r))
reds('nll', 'NLLLoss', logits, tgt, pre='log_softmax', make=lambda r: nn.NLLLoss(reduction=r))
reds('nll_raw', 'NLLLoss', -uniform((5, 3), 0.1, 3.0), torch.tensor([2, 0, 1, 2, 2]),
     make=lambda r: nn.NLLLoss(reduction=r))

p = uniform((4, 3), 0.05, 0.95)
y = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=F32)
reds('bce', 'BCELoss', p, y, make=lambda r: nn.BCELoss(reduction=r))
reds('bce_soft', 'BCELoss', uniform((5,), 0.05, 0.95), uniform((5,), 0.0, 1.0), make=lambda r: nn.BCELoss(reduction=r))
reds('bce_logits', 'BCEWithLogitsLoss', randn(4, 3) * 3, y, make=lambda r: nn.BCEWithLogitsLoss(reduction=r))
reds('bce_logits_soft', 'BCEWithLogitsLoss', randn(2, 5) * 2, uniform((2, 5), 0.0, 1.0),
     make=lambda r: nn.BCEWithLogitsLoss(reduction=r))

# Options that are tensors, and the edges: probabilities of exactly 0 and 1
# (a saturated float32 sigmoid), logits of exactly 0 (a zero-initialised
# output layer), class weights and an ignored class. ignore_index is the
# target value as each side writes it: class 2 counted from 0 in PyTorch,
# 3 in nnlua.
p_sat = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.3, 1.0, 0.0, 0.999]], dtype=F32)
y_sat = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 0.25, 0.0, 1.0]], dtype=F32)
reds('bce_saturated', 'BCELoss', p_sat, y_sat, make=lambda r: nn.BCELoss(reduction=r))
w_el = uniform((4, 3), 0.2, 2.0)
reds('bce_weight', 'BCELoss', p, y, make=lambda r: nn.BCELoss(reduction=r, weight=w_el), topts={'weight': w_el})
w_col = uniform((3,), 0.2, 2.0)
reds('bce_weight_bcast', 'BCELoss', p, y, make=lambda r: nn.BCELoss(reduction=r, weight=w_col),
     topts={'weight': w_col})
x0 = torch.cat([torch.zeros(1, 3), randn(3, 3) * 2])
reds('bce_logits_zero', 'BCEWithLogitsLoss', x0, y, make=lambda r: nn.BCEWithLogitsLoss(reduction=r))
pw = uniform((3,), 0.5, 3.0)
reds('bce_logits_pos_weight', 'BCEWithLogitsLoss', x0, y,
     make=lambda r: nn.BCEWithLogitsLoss(reduction=r, pos_weight=pw, weight=w_el),
     topts={'pos_weight': pw, 'weight': w_el})
cw = uniform((4,), 0.2, 2.0)
reds('cross_entropy_weight', 'CrossEntropyLoss', logits, tgt, make=lambda r: nn.CrossEntropyLoss(reduction=r, weight=cw),
     topts={'weight': cw})
reds('cross_entropy_ignore', 'CrossEntropyLoss', logits, tgt, {'ignore_index': 3},
     make=lambda r: nn.CrossEntropyLoss(reduction=r, ignore_index=2))
reds('cross_entropy_weight_ignore_ls', 'CrossEntropyLoss', logits, tgt, {'ignore_index': 2, 'label_smoothing': 0.2},
     make=lambda r: nn.CrossEntropyLoss(reduction=r, weight=cw, ignore_index=1, label_smoothing=0.2),
     topts={'weight': cw})
reds('nll_weight_ignore', 'NLLLoss', logits, tgt, {'ignore_index': 4}, pre='log_softmax',
     make=lambda r: nn.NLLLoss(reduction=r, weight=cw, ignore_index=3), topts={'weight': cw})


# ---- more losses: class dims, probability targets, the composed losses ----------------
# Each record may carry, beside input and target: third (a third tensor:
# GaussianNLLLoss's var, the second input of MarginRankingLoss and
# CosineEmbeddingLoss, TripletMarginLoss's negative), grad_target and
# grad_third (the gradients of those, where PyTorch gives one), dtype
# ('float64': values written to 17 digits) and strided (the spec gives the
# loss views of non-contiguous memory with these values). Inputs are
# listed in PyTorch's order: input, target, third.
F64 = torch.float64
# KLDivLoss's 'mean' is recorded on purpose
warnings.filterwarnings('ignore', message="reduction: 'mean' divides the total loss")


def loss_ex(name, kind, opts, fn, args, pre=None, topts=None, nograd=(), strided=False):
    """args: the tensors fn takes, in order; the gradient of each float one
    whose position is not in nograd is recorded"""
    ins = []
    for i, a in enumerate(args):
        ins.append(a.clone().requires_grad_(True) if a.is_floating_point() and i not in nograd else a)
    first = torch.log_softmax(ins[0], dim=1) if pre == 'log_softmax' else ins[0]
    val = fn(first, *ins[1:])
    w = None
    if val.dim() > 0:
        w = randn(*val.shape).to(val.dtype)
        (val * w).sum().backward()
    else:
        val.backward()
    grads = [t.grad if t.requires_grad else None for t in ins]
    shown = [a + 1 if a.dtype == torch.int64 else a.detach() for a in args]
    LOSSES.append({
        'name': name, 'kind': kind, 'opts': opts, 'pre': pre, 'topts': topts or {},
        'input': shown[0], 'target': shown[1], 'third': shown[2] if len(args) > 2 else None,
        'w': w, 'out': val.detach(), 'grad_input': grads[0],
        'grad_target': grads[1], 'grad_third': grads[2] if len(args) > 2 else None,
        'dtype': 'float64' if args[0].dtype == F64 else None, 'strided': strided,
    })


def reds_ex(name, kind, args, extra=None, make=None, rs=('mean', 'sum', 'none'), **kw):
    for r in rs:
        opts = dict(extra or {})
        opts['reduction'] = r
        loss_ex('%s_%s' % (name, r), kind, opts, make(r), args, **kw)


def f64(*ts):
    return [t.to(F64) if t.is_floating_point() else t for t in ts]


# cross-entropy and NLL over (N, C, d1, d2) with targets (N, d1, d2), and
# unbatched (C) with a 0-dim target; one logit of -inf (a masked class)
x4 = randn(2, 4, 3, 2) * 2
x4[1, 2, 0, 1] = float('-inf')
t4 = torch.tensor([[[0, 3], [1, 1], [2, 0]], [[3, 3], [0, 1], [1, 2]]])
cw4 = uniform((4,), 0.2, 2.0)
reds_ex('cross_entropy_4d', 'CrossEntropyLoss', [x4, t4], make=lambda r: nn.CrossEntropyLoss(reduction=r))
reds_ex('cross_entropy_4d_strided', 'CrossEntropyLoss', [x4, t4], make=lambda r: nn.CrossEntropyLoss(reduction=r),
        strided=True)
x3 = randn(3, 5, 4)
t3 = torch.tensor([[0, 4, 2, 2], [1, 1, 3, 0], [4, 2, 2, 1]])
cw5 = uniform((5,), 0.2, 2.0)
reds_ex('cross_entropy_3d_weight_ignore_ls', 'CrossEntropyLoss', [x3, t3], {'ignore_index': 3, 'label_smoothing': 0.15},
        make=lambda r: nn.CrossEntropyLoss(reduction=r, weight=cw5, ignore_index=2, label_smoothing=0.15),
        topts={'weight': cw5}, strided=True)
reds_ex('cross_entropy_3d_ls', 'CrossEntropyLoss', [x3, t3], {'label_smoothing': 0.3},
        make=lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.3))
reds_ex('cross_entropy_3d_f64', 'CrossEntropyLoss', f64(x3, t3), {'ignore_index': 2, 'label_smoothing': 0.1},
        make=lambda r: nn.CrossEntropyLoss(reduction=r, weight=cw5.to(F64), ignore_index=1, label_smoothing=0.1),
        topts={'weight': cw5.to(F64)})
reds_ex('cross_entropy_unbatched', 'CrossEntropyLoss', [randn(5) * 2, torch.tensor(3)],
        make=lambda r: nn.CrossEntropyLoss(reduction=r))
xu = randn(5)
reds_ex('cross_entropy_unbatched_weight_ls', 'CrossEntropyLoss', [xu, torch.tensor(1)], {'label_smoothing': 0.2},
        make=lambda r: nn.CrossEntropyLoss(reduction=r, weight=cw5, label_smoothing=0.2), topts={'weight': cw5})
reds_ex('nll_4d', 'NLLLoss', [x4, t4], pre='log_softmax', make=lambda r: nn.NLLLoss(reduction=r))
reds_ex('nll_3d_weight_ignore', 'NLLLoss', [x3, t3], {'ignore_index': 1}, pre='log_softmax',
        make=lambda r: nn.NLLLoss(reduction=r, weight=cw5, ignore_index=0), topts={'weight': cw5}, strided=True)
reds_ex('nll_3d_f64', 'NLLLoss', f64(-uniform((2, 3, 4), 0.1, 3.0), torch.tensor([[0, 2, 1, 1], [2, 2, 0, 1]])),
        make=lambda r: nn.NLLLoss(reduction=r))
reds_ex('nll_unbatched_weight', 'NLLLoss', [-uniform((4,), 0.1, 3.0), torch.tensor(2)],
        make=lambda r: nn.NLLLoss(reduction=r, weight=cw4), topts={'weight': cw4})

# class probabilities: a float target of the input's shape (rows that need
# not sum to 1), with label smoothing and weight
pt = torch.softmax(randn(4, 3) * 2, dim=1)
xp = randn(4, 3) * 2
reds_ex('cross_entropy_probs', 'CrossEntropyLoss', [xp, pt], make=lambda r: nn.CrossEntropyLoss(reduction=r))
cw3 = uniform((3,), 0.2, 2.0)
reds_ex('cross_entropy_probs_weight_ls', 'CrossEntropyLoss', [xp, pt], {'label_smoothing': 0.2},
        make=lambda r: nn.CrossEntropyLoss(reduction=r, weight=cw3, label_smoothing=0.2), topts={'weight': cw3},
        strided=True)
p3 = uniform((2, 3, 4), 0.0, 1.0)
reds_ex('cross_entropy_probs_3d', 'CrossEntropyLoss', [randn(2, 3, 4), p3], {'label_smoothing': 0.1},
        make=lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.1))
reds_ex('cross_entropy_probs_f64', 'CrossEntropyLoss', f64(xp, pt), {'label_smoothing': 0.05},
        make=lambda r: nn.CrossEntropyLoss(reduction=r, weight=cw3.to(F64), label_smoothing=0.05),
        topts={'weight': cw3.to(F64)})
reds_ex('cross_entropy_probs_unbatched', 'CrossEntropyLoss', [randn(4), uniform((4,), 0.0, 1.0)],
        make=lambda r: nn.CrossEntropyLoss(reduction=r))

# SmoothL1Loss: differences of exactly 0 and +-beta (the gradient's kinks,
# where PyTorch's branches decide: targets in eighths, so that each sum
# and difference is exact), beta = 0 (the L1 loss)
ys = torch.round(randn(3, 4) * 8) / 8
ds = torch.tensor([[0.0, 1.0, -1.0, 0.3], [2.5, -0.7, 0.25, -3.0], [1.5, -1.2, 0.9, 0.05]])
reds_ex('smooth_l1', 'SmoothL1Loss', [ys + ds, ys], make=lambda r: nn.SmoothL1Loss(reduction=r))
ds2 = torch.tensor([[0.0, 0.5, -0.5, 0.3], [2.5, -0.2, 0.25, -3.0], [0.6, -1.2, 0.1, 0.05]])
reds_ex('smooth_l1_beta05', 'SmoothL1Loss', [ys + ds2, ys], {'beta': 0.5},
        make=lambda r: nn.SmoothL1Loss(reduction=r, beta=0.5), strided=True)
# (at beta = 0 PyTorch gives a difference of 0 the gradient -1 for the
# input and -1 for the target too, its backward called with the two
# swapped: nnlua's target gradient there is +1, the negated input's)
reds_ex('smooth_l1_beta0', 'SmoothL1Loss', [ys + ds, ys], {'beta': 0.0}, make=lambda r: nn.SmoothL1Loss(reduction=r, beta=0.0),
        nograd=(1,))
reds_ex('smooth_l1_f64', 'SmoothL1Loss', f64(ys + ds2 * 2, ys), {'beta': 2.0},
        make=lambda r: nn.SmoothL1Loss(reduction=r, beta=2.0))

# KLDivLoss: log-probabilities against probabilities with zeros (0 log 0 =
# 0; PyTorch's target gradient there is NaN, so not recorded), log targets
kx = randn(3, 4)
kt = torch.softmax(randn(3, 4), dim=1)
kt0 = kt.clone()
kt0[0, 1] = 0.0
kt0[2, 3] = 0.0
KL_REDS = ('mean', 'sum', 'none', 'batchmean')
reds_ex('kl_div', 'KLDivLoss', [kx, kt], pre='log_softmax', make=lambda r: nn.KLDivLoss(reduction=r), rs=KL_REDS)
reds_ex('kl_div_zeros', 'KLDivLoss', [kx, kt0], pre='log_softmax', make=lambda r: nn.KLDivLoss(reduction=r),
        rs=KL_REDS, nograd=(1,), strided=True)
reds_ex('kl_div_log_target', 'KLDivLoss', [kx, torch.log_softmax(randn(3, 4), dim=1)], {'log_target': True},
        pre='log_softmax', make=lambda r: nn.KLDivLoss(reduction=r, log_target=True), rs=KL_REDS)
reds_ex('kl_div_f64', 'KLDivLoss', f64(kx, kt), pre='log_softmax', make=lambda r: nn.KLDivLoss(reduction=r), rs=KL_REDS)

# MarginRankingLoss: (input1, target, input2) in the record's order
# input, target, third; a tie at the margin (gradient 1, PyTorch's clamp_min)
def ranking(r, **o):
    m = nn.MarginRankingLoss(reduction=r, **o)
    return lambda a, y, b: m(a, b, y)


ra, rb = randn(6), randn(6)
rb[0] = ra[0]
ry = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
reds_ex('margin_ranking', 'MarginRankingLoss', [ra, ry, rb], make=lambda r: ranking(r), nograd=(1,))
rb2 = ra.clone()
rb2[1:] = randn(5)
reds_ex('margin_ranking_margin', 'MarginRankingLoss', [ra, ry, rb2], {'margin': 0.5},
        make=lambda r: ranking(r, margin=0.5))
reds_ex('margin_ranking_f64', 'MarginRankingLoss', f64(randn(2, 3), torch.tensor([[1.0, -1, 1], [-1, -1, 1]]), randn(2, 3)),
        {'margin': 0.2}, make=lambda r: ranking(r, margin=0.2), strided=True)

# HingeEmbeddingLoss: an input at the margin, a target of 0 (PyTorch adds
# both terms for a target other than +-1)
hx = torch.tensor([[0.3, 1.0, 2.0, -0.5], [0.7, 0.0, 1.5, 1.0]])
hy = torch.tensor([[1.0, -1.0, -1.0, -1.0], [1.0, -1.0, 0.0, 1.0]])
reds_ex('hinge_embedding', 'HingeEmbeddingLoss', [hx, hy], make=lambda r: nn.HingeEmbeddingLoss(reduction=r), nograd=(1,))
reds_ex('hinge_embedding_margin', 'HingeEmbeddingLoss', [randn(3, 4), torch.where(randn(3, 4) > 0, 1.0, -1.0)],
        {'margin': 0.5}, make=lambda r: nn.HingeEmbeddingLoss(reduction=r, margin=0.5), nograd=(1,), strided=True)
reds_ex('hinge_embedding_f64', 'HingeEmbeddingLoss', f64(randn(5) * 2, torch.tensor([1.0, -1, -1, 1, -1])),
        make=lambda r: nn.HingeEmbeddingLoss(reduction=r), nograd=(1,))

# SoftMarginLoss: a margin of exactly 0 (gradient -y/2), |y x| of 30
sx = torch.tensor([[0.0, 1.5, -2.0], [30.0, -30.0, 0.25]])
sy = torch.tensor([[1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])
reds_ex('soft_margin', 'SoftMarginLoss', [sx, sy], make=lambda r: nn.SoftMarginLoss(reduction=r), nograd=(1,),
        strided=True)
reds_ex('soft_margin_f64', 'SoftMarginLoss', f64(randn(4) * 3, torch.tensor([1.0, -1, -1, 1])),
        make=lambda r: nn.SoftMarginLoss(reduction=r), nograd=(1,))

# CosineEmbeddingLoss: (input1, target, input2); a zero row (PyTorch's
# 1e-12 keeps it finite), a target of 0 (no loss), unbatched
def cosine(r, **o):
    m = nn.CosineEmbeddingLoss(reduction=r, **o)
    return lambda a, y, b: m(a, b, y)


ca, cb = randn(5, 3), randn(5, 3)
ca[4] = 0.0
cy = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])
reds_ex('cosine_embedding', 'CosineEmbeddingLoss', [ca, cy, cb], make=lambda r: cosine(r), nograd=(1,))
cy2 = torch.tensor([1.0, -1.0, 0.0, -1.0, -1.0])
reds_ex('cosine_embedding_margin', 'CosineEmbeddingLoss', [randn(5, 3), cy2, randn(5, 3)], {'margin': -0.3},
        make=lambda r: cosine(r, margin=-0.3), nograd=(1,), strided=True)
reds_ex('cosine_embedding_unbatched', 'CosineEmbeddingLoss', [randn(4), torch.tensor(-1.0), randn(4)], {'margin': 0.1},
        make=lambda r: cosine(r, margin=0.1), nograd=(1,))
reds_ex('cosine_embedding_f64', 'CosineEmbeddingLoss', f64(randn(3, 4), torch.tensor([1.0, -1, -1]), randn(3, 4)),
        make=lambda r: cosine(r), nograd=(1,))

# PoissonNLLLoss: log input; rates with one of 0 (eps keeps the log
# finite); full with targets of 0, 1 and above (Stirling's term)
py = torch.tensor([[0.0, 1.0, 2.0, 5.0], [3.0, 0.0, 1.5, 7.0]])
reds_ex('poisson_nll', 'PoissonNLLLoss', [randn(2, 4), py], make=lambda r: nn.PoissonNLLLoss(reduction=r))
prate = uniform((2, 4), 0.1, 4.0)
prate[0, 0] = 0.0
# (PyTorch's target gradient is NaN at a target of 0 with full: the
# masked Stirling term's 0 * log(0) in backward; loss_spec checks nnlua's
# by finite differences)
reds_ex('poisson_nll_rate_full', 'PoissonNLLLoss', [prate, py], {'log_input': False, 'full': True, 'eps': 1e-4},
        make=lambda r: nn.PoissonNLLLoss(reduction=r, log_input=False, full=True, eps=1e-4), nograd=(1,), strided=True)
reds_ex('poisson_nll_full', 'PoissonNLLLoss', [randn(2, 4), py], {'full': True},
        make=lambda r: nn.PoissonNLLLoss(reduction=r, full=True), nograd=(1,))
reds_ex('poisson_nll_f64', 'PoissonNLLLoss', f64(uniform((2, 4), 0.2, 3.0), py), {'log_input': False, 'full': True},
        make=lambda r: nn.PoissonNLLLoss(reduction=r, log_input=False, full=True), nograd=(1,))

# GaussianNLLLoss: var of the input's shape with entries below eps (the
# clamp, with the unclamped gradient), one var per row (N) and (N, 1)
gx, gy = randn(4, 3), randn(4, 3)
gv = uniform((4, 3), 0.1, 2.0)
gv[0, 0] = 0.0
gv[2, 1] = 1e-8
reds_ex('gaussian_nll', 'GaussianNLLLoss', [gx, gy, gv], make=lambda r: nn.GaussianNLLLoss(reduction=r))
reds_ex('gaussian_nll_rowvar_full', 'GaussianNLLLoss', [gx, gy, uniform((4,), 0.2, 2.0)], {'full': True},
        make=lambda r: nn.GaussianNLLLoss(reduction=r, full=True))
reds_ex('gaussian_nll_colvar_eps', 'GaussianNLLLoss', [gx, gy, uniform((4, 1), 0.0, 0.3)], {'eps': 0.1},
        make=lambda r: nn.GaussianNLLLoss(reduction=r, eps=0.1), strided=True)
reds_ex('gaussian_nll_f64', 'GaussianNLLLoss', f64(gx, gy, gv), {'full': True},
        make=lambda r: nn.GaussianNLLLoss(reduction=r, full=True))

# MultiMarginLoss: a term of exactly 0 (x[i] = x[y] - margin: counted for
# neither value nor gradient), p = 2, class weights, unbatched
mx = randn(4, 5)
mt = torch.tensor([2, 0, 4, 1])
mx[0, 2], mx[0, 3] = 0.5, -0.5
reds_ex('multi_margin', 'MultiMarginLoss', [mx, mt], make=lambda r: nn.MultiMarginLoss(reduction=r))
reds_ex('multi_margin_p2_weight', 'MultiMarginLoss', [mx, mt], {'p': 2, 'margin': 0.7},
        make=lambda r: nn.MultiMarginLoss(reduction=r, p=2, margin=0.7, weight=cw5), topts={'weight': cw5},
        strided=True)
reds_ex('multi_margin_unbatched', 'MultiMarginLoss', [randn(5), torch.tensor(3)], {'margin': 2.0},
        make=lambda r: nn.MultiMarginLoss(reduction=r, margin=2.0))
reds_ex('multi_margin_f64', 'MultiMarginLoss', f64(mx, mt), {'p': 2},
        make=lambda r: nn.MultiMarginLoss(reduction=r, p=2, weight=cw5.to(F64)), topts={'weight': cw5.to(F64)})

# TripletMarginLoss: (anchor, positive, negative); swap, p = 1 and 3, an
# anchor equal to its positive (the distance is eps's)
ta, tp, tn = randn(4, 3), randn(4, 3), randn(4, 3)
tp[1] = ta[1]
reds_ex('triplet_margin', 'TripletMarginLoss', [ta, tp, tn], make=lambda r: nn.TripletMarginLoss(reduction=r))
reds_ex('triplet_margin_swap_p1', 'TripletMarginLoss', [ta, tp, tn], {'swap': True, 'p': 1, 'margin': 2.0},
        make=lambda r: nn.TripletMarginLoss(reduction=r, swap=True, p=1, margin=2.0), strided=True)
reds_ex('triplet_margin_p3_eps', 'TripletMarginLoss', [ta, tp, tn], {'p': 3, 'eps': 0.01, 'margin': 1.5},
        make=lambda r: nn.TripletMarginLoss(reduction=r, p=3, eps=0.01, margin=1.5))
reds_ex('triplet_margin_unbatched', 'TripletMarginLoss', [randn(5), randn(5), randn(5)], {'swap': True},
        make=lambda r: nn.TripletMarginLoss(reduction=r, swap=True))
reds_ex('triplet_margin_f64', 'TripletMarginLoss', f64(ta, tp, tn), {'swap': True, 'margin': 3.0},
        make=lambda r: nn.TripletMarginLoss(reduction=r, swap=True, margin=3.0))


# ---- writing ------------------------------------------------------------------------------

def lua_layer(c):
    L = ['  {']
    L.append("    name = '%s', kind = '%s', mode = '%s'," % (c['name'], c['kind'], c['mode']))
    L.append('    args = %s, opts = %s,' % (lua_value(c['args']), lua_value(c['opts'])))
    L.append('    state = %s,' % lua_named(c['state'], '    '))
    L.append('    params = %s,' % lua_value(c['params']))
    L.append('    input = %s,' % lua_tensor(c['input']))
    L.append('    w = %s,' % lua_tensor(c['w']))
    L.append('    out = %s,' % lua_tensor(c['out']))
    L.append('    grad_input = %s,' % lua_tensor(c['grad_input']))
    L.append('    grads = %s,' % lua_named(c['grads'], '    '))
    if 'after' in c:
        L.append('    after = %s,' % lua_named(c['after'], '    '))
    L.append('  },')
    return '\n'.join(L)


def lua_loss(c):
    L = ['  {']
    L.append("    name = '%s', kind = '%s', opts = %s,%s%s%s" % (
        c['name'], c['kind'], lua_value(c['opts']), " pre = '%s'," % c['pre'] if c['pre'] else '',
        " dtype = '%s'," % c['dtype'] if c.get('dtype') else '', ' strided = true,' if c.get('strided') else ''))
    if c['topts']:
        L.append('    topts = { %s },' % ', '.join('%s = %s' % (k, lua_tensor(v)) for k, v in c['topts'].items()))
    L.append('    input = %s,' % lua_tensor(c['input']))
    L.append('    target = %s,' % lua_tensor(c['target']))
    if c.get('third') is not None:
        L.append('    third = %s,' % lua_tensor(c['third']))
    L.append('    w = %s,' % lua_tensor(c['w']))
    L.append('    out = %s,' % lua_tensor(c['out']))
    L.append('    grad_input = %s,' % lua_tensor(c['grad_input']))
    if c.get('grad_target') is not None:
        L.append('    grad_target = %s,' % lua_tensor(c['grad_target']))
    if c.get('grad_third') is not None:
        L.append('    grad_third = %s,' % lua_tensor(c['grad_third']))
    L.append('  },')
    return '\n'.join(L)


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'nn.lua')
    with open(path, 'w') as f:
        f.write('-- nn.lua: PyTorch %s golden values for nnlua layers and losses, float32 unless marked;\n' % torch.__version__)
        f.write('-- generated by tests/golden/gen_nn.py (do not edit by hand; regenerate with\n')
        f.write('-- `/usr/bin/python3 tests/golden/gen_nn.py`). Checked by tests/spec/nn_golden_spec.lua.\n')
        f.write('-- layers: state (parameters then buffers, PyTorch names and layout, before the\n')
        f.write('-- step), input (int64 ids 1-based), out = m(input), and for (out * w):sum() the\n')
        f.write('-- grads of the input and of each parameter; after: buffers after a train step.\n')
        f.write('-- losses: input, target (class targets 1-based), out = loss, grad_input of out\n')
        f.write("-- (of (out * w):sum() for reduction 'none'); pre: applied to input first; third,\n")
        f.write('-- grad_target, grad_third: a third tensor and the gradients of target and third;\n')
        f.write("-- dtype: 'float64' cases; strided: given to the loss as non-contiguous views.\n")
        f.write('return {\n')
        f.write('layers = {\n')
        for c in LAYERS:
            f.write(lua_layer(c) + '\n')
        f.write('},\n')
        f.write('losses = {\n')
        for c in LOSSES:
            f.write(lua_loss(c) + '\n')
        f.write('},\n')
        f.write('}\n')
    print('%d layer cases, %d loss cases -> %s (%d bytes)' % (len(LAYERS), len(LOSSES), path, os.path.getsize(path)))


if __name__ == '__main__':
    main()
