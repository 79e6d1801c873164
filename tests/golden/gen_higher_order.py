# gen_higher_order.py: PyTorch golden values for higher-order gradients
# (backward and nl.autograd.grad with create_graph, lua/nnlua/autograd_higher.lua).
# Writes tests/golden/higher_order.lua (checked by
# tests/spec/higher_order_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_higher_order.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: a scalar function f of float64 leaves (the spec has the same
# function in nnlua under the case's name), the first gradients g_i =
# df/dx_i (with create_graph), and the Hessian-vector products
# d(sum_i <g_i, v_i>)/dx_j for random directions v_i. Two whole tasks
# besides: a WGAN-GP gradient penalty on a small MLP (the penalty and the
# parameters' gradients after its backward) and the second derivative in x
# of a tanh MLP u(x) (d2u/dx2, and the parameters' gradients of mean(d2u^2),
# a third derivative). dims and class labels in the spec are 1-based.
import torch
import torch.nn.functional as F
from common import F64, I64, lua_tensor, lua_value, write_golden

torch.manual_seed(20261128)


def rnd(*shape, lo=None):
    x = torch.randn(shape, dtype=F64)
    if lo is not None:                  # away from the kinks and the domain edge
        x = x.abs() + lo
    return x


def signed(*shape, gap=0.2):
    x = torch.randn(shape, dtype=F64)
    return torch.where(x >= 0, x + gap, x - gap)


TARGET = torch.tensor([2, 0, 1, 2], dtype=I64)

# name, inputs, f
CASES = [
    ('exp', [rnd(2, 3)], lambda x: (torch.exp(x) * x).sum()),
    ('log', [rnd(2, 3, lo=0.5)], lambda x: (torch.log(x) * x).sum()),
    ('sqrt', [rnd(2, 3, lo=0.5)], lambda x: (torch.sqrt(x) * x).sum()),
    ('sin_cos', [rnd(2, 3)], lambda x: (torch.sin(x) * torch.cos(2 * x)).sum()),
    ('tanh', [rnd(2, 3)], lambda x: (torch.tanh(x) * x).sum()),
    ('sigmoid', [rnd(2, 3)], lambda x: (torch.sigmoid(x) * x).sum()),
    ('relu', [signed(2, 3)], lambda x: (torch.relu(x) * x * x).sum()),
    ('abs', [signed(2, 3)], lambda x: (torch.abs(x) * x * x).sum()),
    ('neg_pow', [rnd(2, 3)], lambda x: (-(x ** 3) + x ** 2 * 0.5).sum()),
    ('pow_half', [rnd(2, 3, lo=0.5)], lambda x: (x ** 0.5 + x ** -1.5).sum()),
    ('leaky_relu', [signed(2, 3)], lambda x: (F.leaky_relu(x, 0.1) * x * x).sum()),
    ('elu', [signed(2, 3)], lambda x: (F.elu(x, 0.7) * x).sum()),
    ('selu', [signed(2, 3)], lambda x: (F.selu(x) * x).sum()),
    ('gelu', [rnd(2, 3)], lambda x: (F.gelu(x) * x).sum()),
    ('gelu_tanh', [rnd(2, 3)], lambda x: (F.gelu(x, approximate='tanh') * x).sum()),
    ('silu', [rnd(2, 3)], lambda x: (F.silu(x) * x).sum()),
    ('softplus', [rnd(2, 3)], lambda x: (F.softplus(x, 2.0) * x).sum()),
    ('logsigmoid', [rnd(2, 3)], lambda x: (F.logsigmoid(x) * x).sum()),
    ('softsign', [rnd(2, 3)], lambda x: (F.softsign(x) * x).sum()),
    # a (3, 4) with b (4) and c (3, 1): the gradients summed back over the broadcast dims
    ('broadcast', [rnd(3, 4), rnd(4, lo=0.5), rnd(3, 1)],
     lambda a, b, c: ((a * b - c) / b + a * c - (c - b) * a * a).sum()),
    ('scalars', [rnd(3, 4, lo=0.5)], lambda a: ((2 - a) * (a / 3) + 1.5 / a + (a + 1) * 2).sum()),
    ('matmul', [rnd(3, 4), rnd(4, 2)], lambda a, b: torch.tanh(a @ b).pow(2).sum()),
    ('matmul_batched', [rnd(2, 3, 4), rnd(4, 2)], lambda a, b: torch.sin(a @ b).sum()),
    ('matvec', [rnd(3, 4), rnd(4)], lambda a, b: torch.tanh(a @ b).sum() + torch.sin(b @ a.t()).sum()),
    ('linear', [rnd(4, 3), rnd(5, 3), rnd(5)], lambda x, w, b: torch.tanh(F.linear(x, w, b)).pow(2).sum()),
    ('linear_relu', [rnd(4, 3), rnd(5, 3), rnd(5)], lambda x, w, b: (F.relu(F.linear(x, w, b)) ** 3).sum()),
    ('sum_mean_dims', [rnd(2, 3, 4)],
     lambda x: (x.sum(1) ** 2).sum() + (x.mean(2, keepdim=True) * x).sum() + x.mean() ** 3 + (x.sum((0, 2)) ** 3).sum()),
    ('views', [rnd(2, 3, 4)],
     lambda x: (x.reshape(6, 4).t() ** 2 * x.view(4, 6)).sum() + (x.permute(2, 0, 1) * x.transpose(0, 2).transpose(1, 2) ** 2).sum()
     + (x.unsqueeze(1).expand(2, 5, 3, 4) ** 3).sum()),
    ('index', [rnd(4, 3)],
     lambda x: (x[1] ** 3).sum() + (x[1:3] ** 2 * x[0:2]).sum() + (x.index_select(0, torch.tensor([3, 0, 3])) ** 3).sum()),
    ('cat_stack', [rnd(2, 3), rnd(4, 3)],
     lambda a, b: (torch.cat([a, b, a * b[:2]], 0) ** 3).sum() + (torch.stack([a, b[1:3]], 1) ** 2 * a.unsqueeze(1)).sum()),
    ('softmax', [rnd(3, 4)], lambda x: (torch.softmax(x, 1) ** 2 * x).sum() + (torch.softmax(x, 0) * torch.arange(4.0, dtype=F64)).sum()),
    ('log_softmax', [rnd(3, 4)], lambda x: (torch.log_softmax(x, 1) ** 2).sum()),
    ('cross_entropy', [rnd(4, 3)], lambda x: F.cross_entropy(torch.tanh(x), TARGET) ** 2),
    ('cross_entropy_sum_ls', [rnd(4, 3)],
     lambda x: F.cross_entropy(x * x, TARGET, reduction='sum', label_smoothing=0.1)),
    ('cross_entropy_none', [rnd(4, 3)], lambda x: (F.cross_entropy(x, TARGET, reduction='none') ** 2).sum()),
    ('nll', [rnd(4, 3)], lambda x: F.nll_loss(torch.log_softmax(x, 1), TARGET) ** 2),
    ('mse', [rnd(3, 4), rnd(3, 4)], lambda a, b: F.mse_loss(torch.tanh(a), b) ** 2 + F.mse_loss(a * b, b, reduction='sum')),
    ('where_clamp_max', [signed(3, 4), signed(3, 4)],
     lambda a, b: (torch.where(a > 0, a * a, b ** 3)).sum() + (torch.clamp(a, -0.5, 0.8) * a * a).sum()
     + (torch.maximum(a, b) ** 3).sum() + (torch.minimum(a, b) * a * b).sum()),
]

IDX = torch.tensor([[0, 2], [1, 1], [3, 0]], dtype=I64)       # a repeat: gather and scatter_add only
IDX_UNIQUE = torch.tensor([[0, 2], [1, 3], [3, 0]], dtype=I64)
BCE_Y = torch.tensor([[0.1, 0.5, 0.9, 0.3], [0.7, 0.2, 0.6, 0.4]], dtype=F64)
BCE_W = torch.tensor([[1.0, 0.5, 2.0, 1.5], [0.25, 1.0, 3.0, 0.75]], dtype=F64)   # (no gradient in PyTorch)


def special(x):
    u = x.clamp(-0.9, 0.9)              # (x is drawn inside (-0.9, 0.9): clamp passes it whole)
    return (torch.tan(u) * u + torch.asin(u) + torch.acos(u) * u + torch.atan(u) * u + torch.sinh(u) * torch.cosh(u)
            + torch.asinh(u) * u + torch.acosh(u + 2) * u + torch.atanh(u) * u + torch.log1p(u) * u
            + torch.expm1(u) * u + torch.log2(u + 2) * u + torch.log10(u + 2) * u + torch.exp2(u) * u
            + torch.erf(u) * u + torch.erfc(u) * u).sum()


CASES += [
    ('special', [torch.rand(2, 3, dtype=F64) * 1.6 - 0.8], special),
    ('gather_scatter', [rnd(3, 4), rnd(3, 2), rnd(2, 4)],
     lambda x, y, z: (x.gather(1, IDX) ** 3).sum() + (x.scatter(1, IDX_UNIQUE, y) ** 2 * x).sum()
     + (x.scatter_add(1, IDX, y * y) ** 3).sum() + (x.index_add(0, torch.tensor([2, 0]), z, alpha=1.5) ** 3).sum()),
    ('max_min', [rnd(3, 4)],
     lambda x: (x.max(1).values ** 3).sum() + (x.min(0, keepdim=True).values * x).sum() + x.max() ** 3),
    ('bce_cumsum', [rnd(2, 4)],
     lambda x: F.binary_cross_entropy(torch.sigmoid(x), BCE_Y, weight=BCE_W) ** 2
     + F.binary_cross_entropy(torch.sigmoid(x * 0.5), BCE_Y, reduction='sum') + (x.cumsum(1) ** 3).sum()),
    ('more_activations', [signed(2, 4)],
     lambda x: (F.celu(x, 0.8) * x + F.tanhshrink(x) * x + F.hardtanh(x, -0.5, 0.7) * x * x
                + torch.floor(x * 3) * x * x).sum()),
]


# the rules of autograd_higher_ops.lua: activations away from their kinks
# (+-3, +-0.5), special functions inside their domains, the binary math
# ops, masked_select (a mask broadcast over x), cumprod (with an exact zero
# too) and logcumsumexp
ACT_X = torch.tensor([[-3.7, -2.1, -0.9, -0.3], [0.2, 0.8, 1.9, 3.6]], dtype=F64)
MASK = torch.tensor([[1, 0, 1, 1]], dtype=I64)
ZERO_X = torch.tensor([[0.7, -1.2, 0.0, 1.3, 0.9], [1.1, 0.0, -0.8, 0.0, 1.4]], dtype=F64)
CASES += [
    ('activations_hard', [ACT_X + 0.05 * torch.randn(2, 4, dtype=F64)],
     lambda x: (F.mish(x) * x + F.hardswish(x) * x + F.softshrink(x, 0.5) * x * x
                + F.hardshrink(x, 0.5) * x ** 3).sum()),
    # PyTorch 1.13 has no double backward of hardsigmoid: its clamp form
    # (whose 1/6 is exact where hardsigmoid's gradient's is a float's)
    ('hardsigmoid', [ACT_X + 0.05 * torch.randn(2, 4, dtype=F64)],
     lambda x: (torch.clamp(x + 3, 0, 6) / 6 * x * x).sum()),
    ('special_gamma', [torch.rand(2, 3, dtype=F64) * 1.5 + 0.5],
     lambda x: (torch.erfinv(x * 0.4) * x + torch.lgamma(x) * x + torch.digamma(x) * x * x
                + torch.polygamma(2, x) * x).sum()),
    ('atan2_hypot_mod', [rnd(3, 4), signed(3, 4, gap=0.5), rnd(4, lo=0.5)],
     lambda a, b, c: (torch.atan2(a, b) * a * b + torch.hypot(a, c) * b + torch.fmod(a * 3, b) * a * b
                      + torch.remainder(a * 3, c) * b * a).sum()),
    ('masked_scans', [rnd(3, 4)],
     lambda x: (x.masked_select(MASK.bool()) ** 3).sum() + (x.cumprod(1) * x).sum()
     + (torch.logcumsumexp(x, 1) ** 2).sum() + (torch.logcumsumexp(x * 2, 0) * x).sum()),
    ('cumprod_zero', [ZERO_X], lambda x: (x.cumprod(1) ** 2 * x).sum() + (x.cumprod(0) * x).sum()),
]

# convolutions and pools (autograd_higher_conv.lua): strides, padding,
# dilation and groups; conv1d and conv_transpose1d as the 2-D ops on
# (N, C, 1, L); pools with padding, ceil_mode, count_include_pad and
# divisor_override, and a small CNN
CASES += [
    ('conv2d', [rnd(1, 3, 5, 6), rnd(4, 3, 3, 2) * 0.5, rnd(4)],
     lambda x, w, b: (torch.tanh(F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2))) ** 2).sum()
     + (F.conv2d(x * x, w) * F.conv2d(x, w)).sum() * 0.1),
    ('conv2d_groups', [rnd(1, 4, 5, 5), rnd(6, 2, 3, 3) * 0.5],
     lambda x, w: (torch.sin(F.conv2d(x, w, stride=2, padding=1, groups=2)) * F.conv2d(x, w, stride=2, padding=1, groups=2)).sum()),
    ('conv1d', [rnd(1, 3, 9), rnd(4, 3, 3) * 0.5, rnd(4)],
     lambda x, w, b: (torch.tanh(F.conv1d(x, w, b, stride=2, padding=1, dilation=2)) ** 2).sum()
     + (F.conv1d(x, w, padding='same') ** 3).sum() * 0.05),
    ('conv_transpose', [rnd(1, 4, 3, 3), rnd(4, 3, 3, 2) * 0.5, rnd(3), rnd(2, 4, 5), rnd(4, 1, 3) * 0.5],
     lambda x, w, b, x1, w1: (torch.tanh(F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                                             dilation=(1, 2))) ** 2).sum()
     + (torch.sin(F.conv_transpose1d(x1, w1, stride=2, groups=2)) * x1.sum()).sum()),
    ('pools', [rnd(1, 2, 7, 6)],
     lambda x: (F.max_pool2d(x, 3, stride=2, padding=1) ** 3).sum()
     + (F.max_pool2d(x, (2, 3), stride=(2, 1), dilation=(2, 1), ceil_mode=True) ** 2 * 0.5).sum()
     + (F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False) ** 3).sum()
     + (F.avg_pool2d(x * x, 2, padding=1) * F.avg_pool2d(x, 2, divisor_override=3, padding=1)).sum()
     + (F.adaptive_avg_pool2d(x, (3, 4)) ** 3).sum() + (F.adaptive_max_pool2d(x, (2, 3)) ** 3).sum()),
    ('max_pools3d', [rnd(1, 2, 4, 5, 3)],
     lambda x: (F.max_pool3d(x, 2, stride=(1, 2, 1), padding=1) ** 3).sum()
     + (F.adaptive_max_pool3d(x * x, (2, 3, 2)) * F.adaptive_max_pool3d(x, (2, 3, 2))).sum()),
    ('conv3d', [rnd(1, 2, 3, 4, 3), rnd(3, 2, 2, 3, 2) * 0.5, rnd(3), rnd(1, 4, 3, 3, 3), rnd(2, 2, 2, 2, 2) * 0.5],
     lambda x, w, b, x2, w2: (torch.tanh(F.conv3d(x, w, b, stride=(1, 2, 1), padding=(1, 0, 1), dilation=(1, 1, 2))) ** 2).sum()
     + (torch.sin(F.conv3d(x2, w2, stride=2, padding=(1, 2, 0), groups=2)) * F.conv3d(x2 * x2, w2, stride=2, padding=(1, 2, 0), groups=2)).sum()),
    ('avg_pools3d', [rnd(1, 2, 5, 4, 6)],
     lambda x: (F.avg_pool3d(x, (2, 3, 2), stride=(2, 1, 2), padding=1, ceil_mode=True, count_include_pad=False) ** 3).sum()
     + (F.avg_pool3d(x * x, 2, padding=(1, 0, 1), divisor_override=5) * F.avg_pool3d(x, 2, padding=(1, 0, 1))).sum()
     + (F.adaptive_avg_pool3d(x, (3, 2, 4)) ** 3).sum()),
    ('interpolate', [rnd(1, 2, 4, 5), rnd(1, 2, 6), rnd(1, 1, 3, 4, 3)],
     lambda x, y, z: (F.interpolate(x, size=(7, 3), mode='bilinear') ** 3).sum()
     + (F.interpolate(x, scale_factor=1.7, mode='bicubic', align_corners=True) ** 2 * 0.5).sum()
     + (F.interpolate(x * x, size=(3, 8), mode='bilinear', antialias=True) * F.interpolate(x, size=(3, 8), mode='nearest')).sum()
     + (F.interpolate(y, scale_factor=1.7, mode='linear') ** 3).sum() + (F.interpolate(y, size=4, mode='nearest-exact') ** 3).sum()
     + (F.interpolate(z, size=(5, 2, 4), mode='trilinear', align_corners=True) ** 3).sum()),
]

CNN_T = torch.tensor([1, 2], dtype=I64)


def cnn(x, w1, b1, w2, wl):
    h = F.max_pool2d(torch.relu(F.conv2d(x, w1, b1, padding=1)), 2)
    h = F.adaptive_avg_pool2d(torch.tanh(F.conv2d(h, w2)), 1).flatten(1)
    return F.cross_entropy(h @ wl, CNN_T)


CASES.append(('cnn', [rnd(2, 1, 6, 6), rnd(3, 1, 3, 3) * 0.5, rnd(3) * 0.1, rnd(4, 3, 2, 2) * 0.5, rnd(4, 3)], cnn))


# recurrent cells (PyTorch's cell functions; nnlua's F.lstm_cell,
# F.gru_cell and F.rnn_cell take the pre-activations): two LSTM steps, and
# a GRU step then an Elman tanh and an Elman relu step
def lstm2(x, h, c, w_ih, w_hh, b_ih, b_hh):
    h1, c1 = torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    h2, c2 = torch.lstm_cell(x * 0.5, (h1, c1), w_ih, w_hh, b_ih, b_hh)
    return (h2 ** 2).sum() + (c2 * h1).sum()


def gru_rnn(x, h, w_ih, w_hh, b_ih, b_hh, wr_ih, wr_hh):
    h1 = torch.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    h2 = torch.rnn_tanh_cell(x, h1, wr_ih, wr_hh)
    h3 = torch.rnn_relu_cell(x * 0.5, h2, wr_ih, wr_hh)
    return (h3 ** 3).sum() + (h1 * h2).sum()


CASES += [
    ('lstm_cell', [rnd(2, 3), rnd(2, 3), rnd(2, 3), rnd(12, 3) * 0.5, rnd(12, 3) * 0.5, rnd(12) * 0.3, rnd(12) * 0.3],
     lstm2),
    ('gru_rnn_cells', [rnd(2, 3), rnd(2, 3), rnd(9, 3) * 0.5, rnd(9, 3) * 0.5, rnd(9) * 0.3, rnd(9) * 0.3,
                       rnd(3, 3) * 0.7, rnd(3, 3) * 0.7], gru_rnn),
]


# whole recurrent layers (nn.LSTM, nn.GRU, nn.RNN) with the weights as
# inputs, by PyTorch's functional forms (its modules' _VF calls); a GRU over
# sequences of lengths 3 and 2 (packed, padded back with zeros; batch_first)
def lstm_layer(x, h0, c0, *ws):
    out, hn, cn = torch.lstm(x, (h0, c0), list(ws), True, 1, 0.0, False, False, False)
    return (torch.tanh(out) ** 2).sum() + (hn ** 3).sum() + (cn * hn).sum()


def gru_layer_lengths(x, h0, *ws):
    pk = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor([3, 2]), batch_first=True)   # (sorted already)
    data, hn = torch.gru(pk.data, pk.batch_sizes, h0, list(ws), True, 1, 0.0, False, False)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(torch.nn.utils.rnn.PackedSequence(data, pk.batch_sizes),
                                                    batch_first=True, total_length=3)
    return (out ** 3).sum() + (hn ** 2).sum()


def rnn_relu_layer(x, *ws):
    out, hn = torch.rnn_relu(x, torch.zeros(1, 2, 4, dtype=F64), list(ws), False, 1, 0.0, False, False, False)
    return (out ** 3).sum() + (hn * hn).sum()


CASES += [
    ('lstm_layer', [rnd(3, 2, 3), rnd(1, 2, 4), rnd(1, 2, 4), rnd(16, 3) * 0.5, rnd(16, 4) * 0.5, rnd(16) * 0.3,
                    rnd(16) * 0.3], lstm_layer),
    ('gru_layer_lengths', [rnd(2, 3, 3), rnd(1, 2, 4), rnd(12, 3) * 0.5, rnd(12, 4) * 0.5, rnd(12) * 0.3,
                           rnd(12) * 0.3], gru_layer_lengths),
    ('rnn_relu_layer', [rnd(3, 2, 3), rnd(4, 3) * 0.7, rnd(4, 4) * 0.5], rnn_relu_layer),
]

# linear algebra: inv, solve, det, slogdet, cholesky, solve_triangular
# (upper, lower, unitriangular), batched too; matrices kept well
# conditioned (3 I added), cholesky's positive definite
EYE3 = torch.eye(3, dtype=F64)
LA = lambda a: a + 3 * EYE3


LU_C = torch.linalg.lu_factor(torch.tensor([[0.1, 2.0, 0.3], [1.5, 0.2, -0.4], [0.3, -0.6, 1.8]], dtype=F64))


def linalg_fn(a, b, m):
    A = LA(a)
    return ((torch.linalg.inv(A) ** 2).sum() + (torch.linalg.solve(A, b) ** 3).sum() + torch.linalg.det(A) ** 2
            + torch.linalg.slogdet(A * 0.5)[1] * 2 + (torch.linalg.cholesky(m @ m.mT + EYE3) ** 3).sum()
            + (torch.linalg.solve_triangular(A, b, upper=True) ** 3).sum()
            + (torch.linalg.solve_triangular(A, b * b, upper=False, unitriangular=True) ** 2).sum())


CASES += [
    ('linalg', [rnd(3, 3) * 0.5, rnd(3, 2), rnd(3, 3) * 0.5], linalg_fn),
    ('linalg_batched', [rnd(2, 3, 3) * 0.5, rnd(2, 3, 2)],
     lambda a, b: (torch.linalg.inv(LA(a)) ** 3).sum() + (torch.linalg.det(LA(a)) ** 3).sum()
     + (torch.linalg.solve(LA(a), b) * b).sum() + (torch.linalg.cholesky(a @ a.mT + EYE3) ** 2 * a).sum()),
    # (lu_solve's LU from a constant that pivots: no gradient to LU, and
    # none that central differences in the inputs could see)
    ('linalg_lu', [rnd(2, 3, 3) * 0.5, rnd(3, 2)],
     lambda a, b: (torch.linalg.lu_factor(a)[0] ** 3).sum() + (torch.linalg.lu_solve(*LU_C, b * b) ** 3).sum()
     + (torch.linalg.lu_solve(*LU_C, b, adjoint=True) * b).sum()),
]

# MAML: one inner SGD step on a linear model (its gradient with a graph),
# the outer loss of the stepped weights; its Hessian-vector product is a
# third derivative
def maml(w, x, y, x2, y2):
    (g,) = torch.autograd.grad(F.mse_loss(x @ w, y), w, create_graph=True)
    return F.mse_loss(torch.tanh(x2 @ (w - 0.1 * g)), y2)


CASES.append(('maml', [rnd(3, 1), rnd(5, 3), rnd(5, 1), rnd(4, 3), rnd(4, 1)], maml))

out = ['  cases = {']
for name, inputs, f in CASES:
    leaves = [x.clone().requires_grad_() for x in inputs]
    y = f(*leaves)
    gs = torch.autograd.grad(y, leaves, create_graph=True)
    vs = [torch.randn(x.shape, dtype=F64) for x in inputs]
    s = sum((g * v).sum() for g, v in zip(gs, vs))
    hv = torch.autograd.grad(s, leaves, allow_unused=True)
    hv = [h if h is not None else torch.zeros_like(x) for h, x in zip(hv, inputs)]
    out.append('    { name = %r,' % name)
    out.append('      inputs = { %s },' % ', '.join(lua_tensor(x, True) for x in inputs))
    out.append('      f = %s,' % lua_value(y.item(), F64, True))
    out.append('      g = { %s },' % ', '.join(lua_tensor(g.detach(), True) for g in gs))
    out.append('      v = { %s },' % ', '.join(lua_tensor(v, True) for v in vs))
    out.append('      hv = { %s },' % ', '.join(lua_tensor(h, True) for h in hv))
    out.append('    },')
out.append('  },')

# WGAN-GP: D = Linear(3, 8) -> tanh -> Linear(8, 1); x_hat = eps x_real +
# (1 - eps) x_fake; gp = 10 mean((|dD(x_hat)/dx_hat|_2 - 1)^2) (the norm as
# sqrt of the sum of squares); gp.backward() fills the parameters' grads.
W1, b1, W2, b2 = rnd(8, 3) * 0.7, rnd(8) * 0.3, rnd(1, 8) * 0.7, rnd(1) * 0.3
x_real, x_fake, eps = rnd(6, 3), rnd(6, 3), torch.rand(6, 1, dtype=F64)
ps = [p.clone().requires_grad_() for p in (W1, b1, W2, b2)]
x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_()
d_out = F.linear(torch.tanh(F.linear(x_hat, ps[0], ps[1])), ps[2], ps[3])
(gx,) = torch.autograd.grad(d_out, x_hat, grad_outputs=torch.ones_like(d_out), create_graph=True)
gp = 10 * ((gx.pow(2).sum(1).sqrt() - 1) ** 2).mean()
gp.backward()
out.append('  wgan = {')
for k, t in (('W1', W1), ('b1', b1), ('W2', W2), ('b2', b2), ('x_real', x_real), ('x_fake', x_fake), ('eps', eps),
             ('grad_x', gx.detach()), ('gp', gp.detach())):
    out.append('    %s = %s,' % (k, lua_tensor(t, True)))
out.append('    grads = { %s },' % ', '.join(lua_tensor(p.grad, True) for p in ps))
out.append('  },')

# d2u/dx2 of u(x) = W2 tanh(W1 x + b1) + b2 on x (5, 1), and the parameters'
# gradients of mean(d2u^2)
W1, b1, W2, b2 = rnd(8, 1), rnd(8) * 0.5, rnd(1, 8) * 0.5, rnd(1)
x = torch.linspace(-1, 1, 5, dtype=F64).reshape(5, 1)
ps = [p.clone().requires_grad_() for p in (W1, b1, W2, b2)]
xl = x.clone().requires_grad_()
u = F.linear(torch.tanh(F.linear(xl, ps[0], ps[1])), ps[2], ps[3])
(du,) = torch.autograd.grad(u.sum(), xl, create_graph=True)
(d2u,) = torch.autograd.grad(du.sum(), xl, create_graph=True)
loss = (d2u ** 2).mean()
loss.backward()
out.append('  pinn = {')
for k, t in (('W1', W1), ('b1', b1), ('W2', W2), ('b2', b2), ('x', x), ('du', du.detach()), ('d2u', d2u.detach()),
             ('loss', loss.detach())):
    out.append('    %s = %s,' % (k, lua_tensor(t, True)))
out.append('    grads = { %s },' % ', '.join(lua_tensor(p.grad, True) for p in ps))
out.append('  },')

write_golden('higher_order.lua',
             ['PyTorch 1.13 golden values for higher-order gradients (create_graph): written by',
              'tests/golden/gen_higher_order.py'], out)
