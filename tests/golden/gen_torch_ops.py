"""Golden values of torch_ops.lua's torch.* functions from PyTorch 1.13:
the native forms of the functional ops, the RNN cells on explicit weights
and the pre-linalg linear algebra, each case's outputs (every member of a
tuple return) and its inputs' gradients of sum((out_i * w_i).sum()).
Class ids and indices are written 1-based (nnlua's). Writes
tests/golden/torch_ops.lua; run with /usr/bin/python3 (torch 1.13)."""
import warnings
import torch
from common import F32, F64, I64, sign_fixed_columns, method_case, lua_method_case, write_golden, seed

warnings.filterwarnings('ignore')


def rn(*shape, dtype=F32):
    return torch.randn(shape, dtype=dtype)


def pos_def(n, dtype=F64):
    a = torch.randn(n, n, dtype=dtype)
    return a @ a.T + n * torch.eye(n, dtype=dtype)


def cases():
    out = []

    def case(name, op, fn, inputs, args=None, int_values=False):
        seed(name)
        inputs = inputs() if callable(inputs) else inputs
        out.append(method_case(name, op, fn, inputs, args, int_values))

    def mk(f):
        return f

    # ---- functional ops in torch's argument order ----
    case('batch_norm_train', 'batch_norm',
         lambda x, w, b: torch.batch_norm(x, w, b, torch.zeros(3), torch.ones(3), True, 0.1, 1e-5, False),
         lambda: [rn(4, 3, 5), rn(3), rn(3)])
    case('batch_norm_eval', 'batch_norm',
         lambda x, w, b, rm, rv: torch.batch_norm(x, w, b, rm, rv, False, 0.1, 1e-3, False),
         lambda: [rn(4, 3, 2, 2), rn(3), rn(3), ('const', rn(3)), ('const', torch.rand(3) + 0.5)], {'eval': True})
    case('instance_norm', 'instance_norm',
         lambda x, w, b: torch.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
         lambda: [rn(2, 3, 6), rn(3), rn(3)])
    # one value per channel (spatial element) in training: the torch.* forms
    # give the bias (F.batch_norm and F.instance_norm refuse it)
    case('batch_norm_train_one', 'batch_norm',
         lambda x, w, b: torch.batch_norm(x, w, b, torch.zeros(3), torch.ones(3), True, 0.1, 1e-5, False),
         lambda: [rn(1, 3), rn(3), rn(3)])
    case('instance_norm_one', 'instance_norm',
         lambda x, w, b: torch.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
         lambda: [rn(2, 3, 1), rn(3), rn(3)])
    case('embedding', 'embedding', lambda w, i: torch.embedding(w, i, 2),
         lambda: [rn(5, 3), ('index', torch.tensor([[1, 3, 3], [5, 2, 4]]))], {'padding_idx': 3})
    case('embedding_nopad', 'embedding', lambda w, i: torch.embedding(w, i),
         lambda: [rn(5, 3), ('index', torch.tensor([1, 3, 3, 5]))], {'padding_idx': -1})
    for mode in (0, 1, 2):
        case('embedding_bag_%d' % mode, 'embedding_bag',
             lambda w, i, o, m=mode: torch.embedding_bag(w, i, o, False, m)[0],
             lambda: [rn(10, 3), ('index', torch.tensor([2, 3, 5, 6, 5, 4, 3, 10])), ('index', torch.tensor([1, 5, 7]))],
             {'mode': mode})
    case('embedding_bag_psw', 'embedding_bag',
         lambda w, i, o, p: torch.embedding_bag(w, i, o, False, 0, False, p, True)[0],
         lambda: [rn(6, 2), ('index', torch.tensor([2, 3, 5, 6, 1])), ('index', torch.tensor([1, 3, 6])), rn(5)],
         {'mode': 0, 'last': True})
    # torch.embedding_bag's padding_idx -1 is the last row (torch.embedding's
    # -1 is none); nnlua's 1-based padding_idx -1 the same row
    for pad, mode in ((-1, 1), (-1, 2), (2, 0)):
        case('embedding_bag_pad%d_%d' % (pad, mode), 'embedding_bag',
             lambda w, i, o, p=pad, m=mode: torch.embedding_bag(w, i, o, False, m, False, None, False, p)[0],
             lambda: [rn(4, 3), ('index', torch.tensor([4, 1, 3, 4, 2, 4, 3])), ('index', torch.tensor([1, 3, 6, 7]))],
             {'mode': mode, 'pad': pad + 1 if pad >= 0 else pad})
    for r in (0, 1, 2):
        case('kl_div_%d' % r, 'kl_div', lambda x, y, r=r: torch.kl_div(x, y, r),
             lambda: [torch.log_softmax(rn(3, 4), 1), ('const', torch.softmax(rn(3, 4), 1))], {'reduction': r})
    case('kl_div_log_target', 'kl_div', lambda x, y: torch.kl_div(x, y, 2, log_target=True),
         lambda: [torch.log_softmax(rn(3, 4), 1), torch.log_softmax(rn(3, 4), 1)], {'reduction': 2, 'log_target': True})
    for r in (0, 1, 2):
        case('ctc_loss_%d' % r, 'ctc_loss',
             lambda x, t, r=r: torch.ctc_loss(torch.log_softmax(x, 2), t, [6, 5], [3, 2], 0, r),
             lambda: [rn(6, 2, 4), ('index', torch.tensor([[2, 3, 3], [4, 2, 2]]))],
             {'reduction': r, 'il': [6, 5], 'tl': [3, 2], 'blank': 1})
    case('cosine_embedding_loss', 'cosine_embedding_loss', lambda a, b: torch.cosine_embedding_loss(
        a, b, torch.tensor([1., -1., 1., -1.]), 0.2, 0), lambda: [rn(4, 3), rn(4, 3)],
        {'y': [1, -1, 1, -1], 'margin': 0.2, 'reduction': 0})
    case('hinge_embedding_loss', 'hinge_embedding_loss', lambda x: torch.hinge_embedding_loss(
        x, torch.tensor([1., -1., -1., 1., -1.]), 0.5, 2), lambda: [rn(5)],
        {'y': [1, -1, -1, 1, -1], 'margin': 0.5, 'reduction': 2})
    # (left out, the reduction of 1.13's torch.* losses is none)
    case('hinge_embedding_loss_default', 'hinge_embedding_loss', lambda x: torch.hinge_embedding_loss(
        x, torch.tensor([1., -1., -1., 1., -1.])), lambda: [rn(5)], {'y': [1, -1, -1, 1, -1]})
    case('margin_ranking_loss', 'margin_ranking_loss', lambda a, b: torch.margin_ranking_loss(
        a, b, torch.tensor([1., -1., -1., 1., -1.]), 0.1), lambda: [rn(5), rn(5)],
        {'y': [1, -1, -1, 1, -1], 'margin': 0.1})
    case('poisson_nll_loss_log', 'poisson_nll_loss', lambda x, y: torch.poisson_nll_loss(x, y, True, True, 1e-8, 1),
         lambda: [rn(2, 3), ('const', torch.rand(2, 3) * 4)], {'log_input': True, 'full': True, 'reduction': 1})
    case('poisson_nll_loss_lin', 'poisson_nll_loss', lambda x, y: torch.poisson_nll_loss(x, y, False, False, 0.1, 0),
         lambda: [torch.rand(2, 3) + 0.2, ('const', torch.rand(2, 3) * 4)],
         {'log_input': False, 'full': False, 'eps': 0.1, 'reduction': 0})
    case('triplet_margin_loss', 'triplet_margin_loss',
         lambda a, p, n: torch.triplet_margin_loss(a, p, n, 1.5, 1.0, 1e-6, True, 0),
         lambda: [rn(4, 3), rn(4, 3), rn(4, 3)], {'margin': 1.5, 'p': 1, 'swap': True, 'reduction': 0})
    case('bce_with_logits', 'binary_cross_entropy_with_logits',
         lambda x, y, w, pw: torch.binary_cross_entropy_with_logits(x, y, w, pw, 2),
         lambda: [rn(3, 4), ('const', torch.rand(3, 4)), ('const', torch.rand(3, 4)), ('const', torch.rand(4) + 0.5)],
         {'reduction': 2})
    case('constant_pad_nd', 'constant_pad_nd', lambda x: torch.constant_pad_nd(x, [1, -1, 2, 0], 0.5),
         lambda: [rn(2, 3, 4)], {'pad': [1, -1, 2, 0], 'value': 0.5})
    case('convolution_2d', 'convolution', lambda x, w, b: torch.convolution(
        x, w, b, [2, 1], [1, 2], [1, 2], False, [0, 0], 2), lambda: [rn(2, 4, 6, 7), rn(6, 2, 3, 3), rn(6)],
        {'stride': [2, 1], 'padding': [1, 2], 'dilation': [1, 2], 'transposed': False, 'output_padding': [0, 0],
         'groups': 2})
    case('convolution_t2d', 'convolution', lambda x, w, b: torch.convolution(
        x, w, b, [2, 2], [1, 0], [1, 1], True, [1, 0], 1), lambda: [rn(1, 3, 4, 5), rn(3, 2, 3, 2), rn(2)],
        {'stride': [2, 2], 'padding': [1, 0], 'dilation': [1, 1], 'transposed': True, 'output_padding': [1, 0],
         'groups': 1})
    case('convolution_1d', 'convolution', lambda x, w: torch.convolution(
        x, w, None, [1], [1], [2], False, [0], 1), lambda: [rn(2, 3, 9), rn(4, 3, 3)],
        {'stride': [1], 'padding': [1], 'dilation': [2], 'transposed': False, 'output_padding': [0], 'groups': 1})
    case('convolution_3d', 'convolution', lambda x, w, b: torch.convolution(
        x, w, b, [1, 1, 1], [0, 1, 0], [1, 1, 1], False, [0, 0, 0], 1), lambda: [rn(1, 2, 3, 4, 4), rn(2, 2, 2, 3, 2), rn(2)],
        {'stride': [1, 1, 1], 'padding': [0, 1, 0], 'dilation': [1, 1, 1], 'transposed': False,
         'output_padding': [0, 0, 0], 'groups': 1})
    case('conv_tbc', 'conv_tbc', lambda x, w, b: torch.conv_tbc(x, w, b, 1),
         lambda: [rn(7, 2, 3), rn(3, 3, 4), rn(4)], {'pad': 1})
    # an output of length 0: T + 2 pad = k - 1
    case('conv_tbc_empty', 'conv_tbc', lambda x, w, b: torch.conv_tbc(x, w, b, 1),
         lambda: [rn(1, 2, 3), rn(4, 3, 4), rn(4)], {'pad': 1})
    for m in (0, 1, 2):
        for p in (0, 1, 2):
            case('grid_sampler_%d_%d' % (m, p), 'grid_sampler', lambda x, g, m=m, p=p: torch.grid_sampler(
                x, g, m, p, p == 1), lambda: [rn(1, 2, 4, 5), torch.rand(1, 3, 2, 2) * 2.4 - 1.2],
                {'mode': m, 'pad': p, 'ac': p == 1, 'which': 'grid_sampler'})
    case('grid_sampler_3d', 'grid_sampler', lambda x, g: torch.grid_sampler_3d(x, g, 0, 0, False),
         lambda: [rn(1, 1, 3, 4, 4), torch.rand(1, 2, 2, 2, 3) * 2 - 1],
         {'mode': 0, 'pad': 0, 'ac': False, 'which': 'grid_sampler_3d'})
    case('affine_grid_generator', 'affine_grid_generator',
         lambda t: torch.affine_grid_generator(t, [2, 1, 3, 4], False), lambda: [rn(2, 2, 3)], {'size': [2, 1, 3, 4]})
    case('max_pool1d_with_indices', 'max_pool1d_with_indices',
         lambda x: torch.max_pool1d_with_indices(x, [3], [2], [1], [1], True), lambda: [rn(2, 3, 8)],
         {'k': [3], 'stride': [2], 'padding': [1], 'dilation': [1], 'ceil': True})
    case('adaptive_max_pool1d', 'adaptive_max_pool1d', lambda x: torch.adaptive_max_pool1d(x, [3]),
         lambda: [rn(2, 3, 8)], {'n': [3]})
    case('frobenius_norm', 'frobenius_norm', lambda x: torch.frobenius_norm(x), lambda: [rn(2, 3, 4)], {})
    case('frobenius_norm_dim', 'frobenius_norm', lambda x: torch.frobenius_norm(x, [0, 2], True),
         lambda: [rn(2, 3, 4)], {'dim': [1, 3], 'keepdim': True})
    case('nuclear_norm', 'nuclear_norm', lambda x: torch.nuclear_norm(x), lambda: [rn(3, 4, dtype=F64)], {})
    case('nuclear_norm_dim', 'nuclear_norm', lambda x: torch.nuclear_norm(x, [0, 2], True),
         lambda: [rn(3, 2, 4, dtype=F64)], {'dim': [1, 3], 'keepdim': True})
    case('norm_except_dim_0', 'norm_except_dim', lambda v: torch.norm_except_dim(v, 2, 0), lambda: [rn(3, 2, 4)],
         {'pow': 2, 'dim': 1})
    case('norm_except_dim_1', 'norm_except_dim', lambda v: torch.norm_except_dim(v, 3, 1), lambda: [rn(3, 2, 4)],
         {'pow': 3, 'dim': 2})
    case('norm_except_dim_all', 'norm_except_dim', lambda v: torch.norm_except_dim(v, 2, -1), lambda: [rn(3, 2)],
         {'pow': 2, 'dim': -1})
    # ---- the native norms' tuples ----
    case('native_layer_norm', 'native_layer_norm', lambda x, w, b: torch.native_layer_norm(x, [3, 4], w, b, 1e-5),
         lambda: [rn(2, 3, 4), rn(3, 4), rn(3, 4)], {'shape': [3, 4]})
    case('native_batch_norm_train', 'native_batch_norm', lambda x, w, b: torch.native_batch_norm(
        x, w, b, torch.zeros(3), torch.ones(3), True, 0.1, 1e-5), lambda: [rn(4, 3, 5), rn(3), rn(3)],
        {'training': True})
    case('native_batch_norm_train_one', 'native_batch_norm', lambda x, w, b: torch.native_batch_norm(
        x, w, b, torch.zeros(3), torch.ones(3), True, 0.1, 1e-5), lambda: [rn(1, 3, 1), rn(3), rn(3)],
        {'training': True})
    case('native_batch_norm_eval', 'native_batch_norm', lambda x, w, b, rm, rv: torch.native_batch_norm(
        x, w, b, rm, rv, False, 0.1, 1e-5), lambda: [rn(4, 3, 5), rn(3), rn(3), ('const', rn(3)),
                                                     ('const', torch.rand(3) + 0.5)], {'training': False})
    case('native_group_norm', 'native_group_norm', lambda x, w, b: torch.native_group_norm(
        x, w, b, 2, 4, 6, 2, 1e-5), lambda: [rn(2, 4, 3, 2), rn(4), rn(4)], {})
    # ---- the RNN cells ----
    case('lstm_cell', 'lstm_cell', lambda x, h, c, wi, wh, bi, bh: torch.lstm_cell(x, [h, c], wi, wh, bi, bh),
         lambda: [rn(2, 3), rn(2, 4), rn(2, 4), rn(16, 3), rn(16, 4), rn(16), rn(16)], {})
    case('lstm_cell_nobias', 'lstm_cell', lambda x, h, c, wi, wh: torch.lstm_cell(x, [h, c], wi, wh),
         lambda: [rn(1, 3), rn(1, 2), rn(1, 2), rn(8, 3), rn(8, 2)], {})
    case('gru_cell', 'gru_cell', lambda x, h, wi, wh, bi, bh: torch.gru_cell(x, h, wi, wh, bi, bh),
         lambda: [rn(2, 3), rn(2, 4), rn(12, 3), rn(12, 4), rn(12), rn(12)], {})
    case('rnn_tanh_cell', 'rnn_tanh_cell', lambda x, h, wi, wh, bi, bh: torch.rnn_tanh_cell(x, h, wi, wh, bi, bh),
         lambda: [rn(2, 3), rn(2, 4), rn(4, 3), rn(4, 4), rn(4), rn(4)], {})
    case('rnn_relu_cell', 'rnn_relu_cell', lambda x, h, wi, wh: torch.rnn_relu_cell(x, h, wi, wh),
         lambda: [rn(2, 3), rn(2, 4), rn(4, 3), rn(4, 4)], {})
    # ---- the multi-layer RNNs on flat weights: 2 layers, both directions ----
    def flat(gates, inp, hid, layers, dirs, bias):
        ps = []
        for layer in range(layers):
            for _ in range(dirs):
                size = inp if layer == 0 else hid * dirs
                ps += [rn(gates * hid, size) * 0.5, rn(gates * hid, hid) * 0.5]
                if bias:
                    ps += [rn(gates * hid) * 0.5, rn(gates * hid) * 0.5]
        return ps
    case('lstm_flat', 'lstm', lambda x, h, c, *p: torch.lstm(x, (h, c), p, True, 2, 0.0, False, True, False),
         lambda: [rn(4, 2, 3), rn(4, 2, 2), rn(4, 2, 2)] + flat(4, 3, 2, 2, 2, True),
         {'has_biases': True, 'layers': 2, 'bidir': True, 'batch_first': False})
    case('lstm_batch_first', 'lstm', lambda x, h, c, *p: torch.lstm(x, (h, c), p, False, 1, 0.0, True, False, True),
         lambda: [rn(2, 5, 3), rn(1, 2, 4), rn(1, 2, 4)] + flat(4, 3, 4, 1, 1, False),
         {'has_biases': False, 'layers': 1, 'bidir': False, 'batch_first': True})
    for name, g in (('gru', 3), ('rnn_tanh', 1), ('rnn_relu', 1)):
        case('%s_flat' % name, name, lambda x, h, *p, name=name: getattr(torch, name)(
            x, h, p, True, 2, 0.0, False, True, True), lambda g=g: [rn(2, 4, 3), rn(4, 2, 2)] + flat(g, 3, 2, 2, 2, True),
            {'has_biases': True, 'layers': 2, 'bidir': True, 'batch_first': True})

    # ---- linear algebra (float64) ----
    case('lu', 'lu', lambda a: (lambda r: (r[0], r[1].long()))(torch.lu(a)), lambda: [rn(2, 4, 4, dtype=F64)],
         {}, [False, True])
    case('lu_infos', 'lu', lambda a: (lambda r: (r[0], r[1].long(), r[2].long()))(torch.lu(a, get_infos=True)),
         lambda: [('const', torch.tensor([[1., 2., 3.], [2., 4., 6.], [1., 0., 1.]], dtype=F64))],
         {'get_infos': True}, [False, True, True])
    case('lu_rect', 'lu', lambda a: (lambda r: (r[0], r[1].long()))(torch.lu(a)), lambda: [rn(3, 5, dtype=F64)],
         {}, [False, True])
    case('lu_solve', 'lu_solve', lambda b, a: torch.lu_solve(b, *torch.lu(a)),
         lambda: [rn(2, 3, 2, dtype=F64), rn(2, 3, 3, dtype=F64)], {})
    case('lu_unpack', 'lu_unpack', lambda a: torch.lu_unpack(*torch.lu(a)), lambda: [rn(4, 3, dtype=F64)], {})
    case('lu_unpack_wide', 'lu_unpack', lambda a: torch.lu_unpack(*torch.lu(a)), lambda: [rn(2, 3, 5, dtype=F64)], {})
    case('lu_unpack_parts', 'lu_unpack', lambda a: torch.lu_unpack(*torch.lu(a), False, True),
         lambda: [('const', rn(3, 3, dtype=F64))], {'data': False})
    for up in (True, False):
        for tr in (True, False):
            for un in (True, False):
                case('triangular_solve_%d%d%d' % (up, tr, un), 'triangular_solve',
                     lambda b, a, up=up, tr=tr, un=un: torch.triangular_solve(b, a, up, tr, un),
                     lambda: [rn(3, 2, dtype=F64), rn(3, 3, dtype=F64) + 3 * torch.eye(3, dtype=F64)],
                     {'upper': up, 'transpose': tr, 'unitriangular': un})
    case('triangular_solve_batch', 'triangular_solve', lambda b, a: torch.triangular_solve(b, a),
         lambda: [rn(3, 2, dtype=F64), rn(2, 3, 3, dtype=F64) + 3 * torch.eye(3, dtype=F64)], {})
    case('symeig_values', 'symeig', lambda a: torch.symeig(a + a.transpose(-1, -2)),
         lambda: [('const', rn(2, 4, 4, dtype=F64))], {})
    case('symeig_vectors', 'symeig', lambda a: (lambda r: (r[0], sign_fixed_columns(r[1])))(torch.symeig(a, True, False)),
         lambda: [rn(4, 4, dtype=F64)], {'eigenvectors': True, 'upper': False})
    case('symeig_upper', 'symeig', lambda a: (lambda r: (r[0], sign_fixed_columns(r[1])))(torch.symeig(a, True)),
         lambda: [rn(4, 4, dtype=F64)], {'eigenvectors': True, 'upper': True})
    for shape in ((5, 3), (3, 5), (2, 4, 4)):
        case('geqrf_%s' % 'x'.join(map(str, shape)), 'geqrf', lambda a: torch.geqrf(a),
             lambda s=shape: [('const', rn(*s, dtype=F64))], {})
    case('geqrf_zero_tail', 'geqrf', lambda a: torch.geqrf(a),
         lambda: [('const', torch.tensor([[2., 1.], [0., 3.], [0., 4.]], dtype=F64))], {})
    case('orgqr', 'orgqr', lambda a, t: torch.orgqr(a, t), lambda: [rn(5, 3, dtype=F64), rn(3, dtype=F64)], {})
    for left in (True, False):
        for tr in (True, False):
            case('ormqr_%d%d' % (left, tr), 'ormqr', lambda a, t, c, left=left, tr=tr: torch.ormqr(a, t, c, left, tr),
                 lambda left=left: [('const', rn(4, 3, dtype=F64)), ('const', rn(3, dtype=F64)),
                                    ('const', rn(4, 2, dtype=F64) if left else rn(2, 4, dtype=F64))],
                 {'left': left, 'transpose': tr})
    # lobpcg: converged eigenpairs (no randomness left in them); the
    # eigenvalues' gradient to A
    spd = lambda: (lambda a: a @ a.T + torch.diag(torch.arange(1., 19., dtype=F64)))(rn(18, 18, dtype=F64))
    for largest in (True, False):
        case('lobpcg_values_%d' % largest, 'lobpcg', lambda a, lg=largest: torch.lobpcg(
            a, 3, None, None, None, None, None, 1e-10, lg)[0], lambda: [spd()], {'k': 3, 'largest': largest})
        case('lobpcg_vectors_%d' % largest, 'lobpcg', lambda a, lg=largest: (lambda r: (r[0], sign_fixed_columns(r[1])))(
            torch.lobpcg(a, 2, None, None, None, None, None, 1e-10, lg)), lambda: [('const', spd())],
            {'k': 2, 'largest': largest, 'vectors': True})
    return out


def main():
    write_golden('torch_ops.lua', [
        'torch_ops.lua\'s torch.* functions, PyTorch 1.13 values: written by tests/golden/gen_torch_ops.py',
        '(inputs: float tensors, or int64 ids/offsets written 1-based; outs: every member of the tuple;',
        'grads: of sum((out_i * w_i):sum()))'], [lua_method_case(c) for c in cases()])


if __name__ == '__main__':
    main()
