# gen_rnn.py: PyTorch golden values for nnlua's recurrent layers and cells.
# Writes tests/golden/rnn.lua (checked by tests/spec/rnn_spec.lua); it does
# not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_rnn.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Layers (nn.RNN, nn.LSTM, nn.GRU): fixed float32 parameters under PyTorch's
# names and layouts (weight_ih_l0 (G*H, I), ..., gates i f g o and r z n),
# a fixed input and optional initial states, then
#     out, h_n (, c_n) = m(x, h0 (, c0))
#     loss = (out * w).sum() + (h_n * wh).sum() (+ (c_n * wc).sum())
# and the gradients of the input, the initial states and every parameter.
# Variable lengths go through pack_padded_sequence (enforce_sorted=False)
# and pad_packed_sequence(total_length=T): outputs past a sequence's end are
# zero. LSTMs with projections (proj_size: h of proj_size, weight_hr_l<k>)
# the same way. Cells (nn.RNNCell, nn.LSTMCell, nn.GRUCell): one step, the
# same loss on h' (and c').
#
# Regenerated with Debian's python3-torch 1.13.1, the cases before the
# proj_size ones differ from the committed file in the last float32 digits
# of a few values (20 of its lines); the file keeps its values for those,
# and the proj_size cases were added to it as generated.
import os
import torch
from common import F32, randn, num, lua_tensor, lua_value, lua_named
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.manual_seed(20240731)


def set_params(m, scale=0.5):
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.copy_(randn(*p.shape) * scale)


LAYERS = []
CELLS = []


def layer(name, kind, I, H, T, N, opts, h0=False, c0=False, lengths=None, unbatched=False):
    """opts: num_layers, batch_first, bias, nonlinearity, bidirectional, proj_size (nnlua's option names)."""
    L = opts.get('num_layers', 1)
    bf = opts.get('batch_first', False)
    D = 2 if opts.get('bidirectional') else 1
    kw = dict(num_layers=L, batch_first=bf, bias=opts.get('bias', True), bidirectional=D == 2)
    if kind == 'RNN':
        kw['nonlinearity'] = opts.get('nonlinearity', 'tanh')
    if 'proj_size' in opts:
        kw['proj_size'] = opts['proj_size']
    m = getattr(nn, kind)(I, H, **kw)
    set_params(m)
    state = [(k, v.detach().clone()) for k, v in m.named_parameters()]
    P = opts.get('proj_size', 0) or H       # the size of h (c keeps H)
    if unbatched:
        x = randn(T, I)
    else:
        x = randn(N, T, I) if bf else randn(T, N, I)
    xin = x.clone().requires_grad_(True)
    sshape = (L * D, H) if unbatched else (L * D, N, H)
    hshape = (L * D, P) if unbatched else (L * D, N, P)
    h = randn(*hshape).requires_grad_(True) if h0 else None
    c = randn(*sshape).requires_grad_(True) if c0 else None
    hx = None
    if kind == 'LSTM' and (h0 or c0):
        hx = (h if h is not None else torch.zeros(hshape), c if c is not None else torch.zeros(sshape))
    elif h0:
        hx = h
    if lengths is not None:
        packed = pack_padded_sequence(xin, torch.tensor(lengths), batch_first=bf, enforce_sorted=False)
        out_p, hn = m(packed, hx)
        out, _ = pad_packed_sequence(out_p, batch_first=bf, total_length=T)
    else:
        out, hn = m(xin, hx)
    if kind == 'LSTM':
        hn, cn = hn
    else:
        cn = None
    w, wh = randn(*out.shape), randn(*hn.shape)
    loss = (out * w).sum() + (hn * wh).sum()
    wc = None
    if cn is not None:
        wc = randn(*cn.shape)
        loss = loss + (cn * wc).sum()
    loss.backward()
    LAYERS.append({
        'name': name, 'kind': kind, 'args': [I, H], 'opts': opts,
        'state': state, 'params': [k for k, _ in m.named_parameters()],
        'input': x, 'h0': h.detach() if h is not None else None, 'c0': c.detach() if c is not None else None,
        'lengths': torch.tensor(lengths, dtype=torch.int64) if lengths is not None else None,
        'out': out.detach(), 'h_n': hn.detach(), 'c_n': cn.detach() if cn is not None else None,
        'w': w, 'wh': wh, 'wc': wc,
        'grad_input': xin.grad, 'grad_h0': h.grad if h is not None else None,
        'grad_c0': c.grad if c is not None else None,
        'grads': [(k, p.grad) for k, p in m.named_parameters()],
    })


def cell(name, kind, I, H, N, opts, state=True):
    kw = dict(bias=opts.get('bias', True))
    if kind == 'RNNCell':
        kw['nonlinearity'] = opts.get('nonlinearity', 'tanh')
    m = getattr(nn, kind)(I, H, **kw)
    set_params(m)
    params = [(k, v.detach().clone()) for k, v in m.named_parameters()]
    x = randn(N, I)
    xin = x.clone().requires_grad_(True)
    h = randn(N, H).requires_grad_(True) if state else None
    c = randn(N, H).requires_grad_(True) if state and kind == 'LSTMCell' else None
    if kind == 'LSTMCell':
        h1, c1 = m(xin, (h, c) if state else None)
    else:
        h1, c1 = m(xin, h), None
    w = randn(*h1.shape)
    loss = (h1 * w).sum()
    wc = None
    if c1 is not None:
        wc = randn(*c1.shape)
        loss = loss + (c1 * wc).sum()
    loss.backward()
    CELLS.append({
        'name': name, 'kind': kind, 'args': [I, H], 'opts': opts,
        'state': params, 'params': [k for k, _ in m.named_parameters()],
        'input': x, 'h': h.detach() if h is not None else None, 'c': c.detach() if c is not None else None,
        'out': h1.detach(), 'c_out': c1.detach() if c1 is not None else None, 'w': w, 'wc': wc,
        'grad_input': xin.grad, 'grad_h': h.grad if h is not None else None,
        'grad_c': c.grad if c is not None else None,
        'grads': [(k, p.grad) for k, p in m.named_parameters()],
    })


# ---- layers: every kind, 1 and 2 layers, both layouts, initial states, lengths --------
layer('rnn_tanh', 'RNN', 4, 5, 6, 3, {})
layer('rnn_relu_2layer_bf_h0', 'RNN', 4, 5, 6, 3, {'num_layers': 2, 'batch_first': True, 'nonlinearity': 'relu'},
      h0=True)
layer('rnn_tanh_2layer_h0', 'RNN', 3, 6, 5, 2, {'num_layers': 2}, h0=True)
layer('lstm', 'LSTM', 4, 5, 6, 3, {})
layer('lstm_2layer_h0_c0', 'LSTM', 4, 5, 6, 3, {'num_layers': 2}, h0=True, c0=True)
layer('lstm_2layer_bf_h0_c0', 'LSTM', 3, 6, 5, 4, {'num_layers': 2, 'batch_first': True}, h0=True, c0=True)
layer('lstm_nobias_h0', 'LSTM', 4, 5, 4, 2, {'bias': False}, h0=True)
layer('lstm_batch17', 'LSTM', 3, 4, 3, 17, {})
layer('gru', 'GRU', 4, 5, 6, 3, {})
layer('gru_2layer_bf_h0', 'GRU', 4, 5, 6, 3, {'num_layers': 2, 'batch_first': True}, h0=True)
layer('gru_2layer_h0', 'GRU', 3, 6, 5, 2, {'num_layers': 2}, h0=True)
# variable lengths (unsorted), PyTorch's packed sequences
layer('lstm_2layer_lengths_h0_c0', 'LSTM', 4, 5, 6, 4, {'num_layers': 2}, h0=True, c0=True, lengths=[6, 2, 4, 1])
layer('lstm_2layer_bf_lengths', 'LSTM', 3, 5, 5, 3, {'num_layers': 2, 'batch_first': True}, lengths=[3, 5, 2])
layer('gru_2layer_bf_lengths_h0', 'GRU', 4, 5, 6, 3, {'num_layers': 2, 'batch_first': True}, h0=True,
      lengths=[2, 6, 5])
layer('rnn_tanh_lengths_h0', 'RNN', 4, 5, 6, 3, {}, h0=True, lengths=[6, 3, 1])
# unbatched input (T, I)
layer('gru_unbatched_h0', 'GRU', 4, 5, 6, 1, {'num_layers': 2}, h0=True, unbatched=True)

# ---- cells ---------------------------------------------------------------------------
cell('rnn_cell_tanh', 'RNNCell', 4, 5, 3, {})
cell('rnn_cell_relu', 'RNNCell', 4, 5, 3, {'nonlinearity': 'relu'})
cell('lstm_cell', 'LSTMCell', 4, 5, 3, {})
cell('lstm_cell_nobias', 'LSTMCell', 4, 5, 3, {'bias': False})
cell('lstm_cell_zero_state', 'LSTMCell', 4, 5, 3, {}, state=False)
cell('gru_cell', 'GRUCell', 4, 5, 3, {})
cell('gru_cell_zero_state', 'GRUCell', 3, 4, 2, {}, state=False)

# ---- bidirectional layers (after the cells: the cases above keep their values) ---------
layer('lstm_bidir', 'LSTM', 4, 5, 6, 3, {'bidirectional': True})
layer('lstm_bidir_2layer_bf_h0_c0', 'LSTM', 3, 4, 5, 2, {'num_layers': 2, 'batch_first': True, 'bidirectional': True},
      h0=True, c0=True)
layer('gru_bidir_2layer_lengths_h0', 'GRU', 4, 5, 6, 4, {'num_layers': 2, 'bidirectional': True}, h0=True,
      lengths=[6, 2, 4, 1])
layer('rnn_relu_bidir_bf_lengths', 'RNN', 3, 4, 5, 3, {'batch_first': True, 'bidirectional': True,
                                                        'nonlinearity': 'relu'}, lengths=[2, 5, 3])
layer('lstm_bidir_2layer_bf_lengths_h0_c0', 'LSTM', 3, 4, 5, 3,
      {'num_layers': 2, 'batch_first': True, 'bidirectional': True}, h0=True, c0=True, lengths=[3, 5, 1])
layer('gru_bidir_unbatched_h0', 'GRU', 4, 5, 6, 1, {'bidirectional': True}, h0=True, unbatched=True)

# ---- LSTMs with projections (proj_size; after the cases above, which keep their values) --
layer('lstm_proj', 'LSTM', 4, 5, 6, 3, {'proj_size': 3})
layer('lstm_proj_2layer_bf_h0_c0', 'LSTM', 3, 6, 5, 4, {'num_layers': 2, 'batch_first': True, 'proj_size': 2},
      h0=True, c0=True)
layer('lstm_proj_nobias_h0', 'LSTM', 4, 5, 4, 2, {'bias': False, 'proj_size': 1}, h0=True)
layer('lstm_proj_bidir_2layer_lengths_h0_c0', 'LSTM', 4, 5, 6, 4,
      {'num_layers': 2, 'bidirectional': True, 'proj_size': 3}, h0=True, c0=True, lengths=[6, 2, 4, 1])
layer('lstm_proj_bidir_bf_lengths_c0', 'LSTM', 3, 4, 5, 3, {'batch_first': True, 'bidirectional': True, 'proj_size': 2},
      c0=True, lengths=[2, 5, 3])
layer('lstm_proj_2layer_bf_lengths', 'LSTM', 3, 5, 5, 3, {'num_layers': 2, 'batch_first': True, 'proj_size': 4},
      lengths=[3, 5, 2])
layer('lstm_proj_bidir_unbatched_h0_c0', 'LSTM', 4, 5, 6, 1, {'bidirectional': True, 'proj_size': 2}, h0=True,
      c0=True, unbatched=True)


# ---- writing ---------------------------------------------------------------------------

def lua_case(c, tensors):
    L = ['  {']
    L.append("    name = '%s', kind = '%s'," % (c['name'], c['kind']))
    L.append('    args = %s, opts = %s,' % (lua_value(c['args']), lua_value(c['opts'])))
    L.append('    state = %s,' % lua_named(c['state'], '    '))
    L.append('    params = %s,' % lua_value(c['params']))
    for k in tensors:
        L.append('    %s = %s,' % (k, lua_tensor(c[k])))
    L.append('    grads = %s,' % lua_named(c['grads'], '    '))
    L.append('  },')
    return '\n'.join(L)


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'rnn.lua')
    with open(path, 'w') as f:
        f.write('-- rnn.lua: PyTorch %s golden values for nnlua recurrent layers and cells,\n' % torch.__version__)
        f.write('-- float32; generated by tests/golden/gen_rnn.py (do not edit by hand; regenerate\n')
        f.write('-- with `/usr/bin/python3 tests/golden/gen_rnn.py`). Checked by tests/spec/rnn_spec.lua.\n')
        f.write('-- layers: state (PyTorch names and layouts), input, h0, c0, lengths (false when\n')
        f.write('-- absent), out, h_n, c_n, and for loss = (out * w):sum() + (h_n * wh):sum()\n')
        f.write('-- (+ (c_n * wc):sum()) the grads of the input, h0, c0 and each parameter.\n')
        f.write("-- cells: input, h, c, out = h', c_out = c', loss (out * w):sum() (+ (c_out * wc):sum()).\n")
        f.write('return {\n')
        f.write('layers = {\n')
        for c in LAYERS:
            f.write(lua_case(c, ['input', 'h0', 'c0', 'lengths', 'out', 'h_n', 'c_n', 'w', 'wh', 'wc',
                                 'grad_input', 'grad_h0', 'grad_c0']) + '\n')
        f.write('},\n')
        f.write('cells = {\n')
        for c in CELLS:
            f.write(lua_case(c, ['input', 'h', 'c', 'out', 'c_out', 'w', 'wc', 'grad_input', 'grad_h', 'grad_c']) + '\n')
        f.write('},\n')
        f.write('}\n')
    print('%d layer cases, %d cell cases -> %s (%d bytes)' % (len(LAYERS), len(CELLS), path, os.path.getsize(path)))


if __name__ == '__main__':
    main()
