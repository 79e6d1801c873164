"""Golden values of nl.lstm (torch.lstm on flat weights) with projections,
from PyTorch 1.13: h0 (L*D, N, P) and c0 (L*D, N, H) of different last
dims, each layer and direction listing w_ih, w_hh, [b_ih, b_hh,] w_hr.
Each case has the outputs (output, h_n, c_n) and the gradients of
sum(out_i * w_i) to the input, h0, c0 and every weight. Writes
tests/golden/lstm_proj.lua; run with /usr/bin/python3 (torch 1.13)."""
import warnings
import torch
from common import F32, F64, method_case, lua_method_case, write_golden, seed

warnings.filterwarnings('ignore')


def rn(*shape, dtype=F32):
    return torch.randn(shape, dtype=dtype)


def flat(inp, hid, proj, layers, dirs, bias, dtype):
    """PyTorch's flat weights of an LSTM with projections, scaled to keep
    the gates away from saturation"""
    ps = []
    for layer in range(layers):
        for _ in range(dirs):
            size = inp if layer == 0 else proj * dirs
            ps += [rn(4 * hid, size, dtype=dtype) * 0.5, rn(4 * hid, proj, dtype=dtype) * 0.5]
            if bias:
                ps += [rn(4 * hid, dtype=dtype) * 0.5, rn(4 * hid, dtype=dtype) * 0.5]
            ps.append(rn(proj, hid, dtype=dtype) * 0.5)
    return ps


def cases():
    out = []
    # name, (T, N, I), H, P, layers, directions, bias, batch_first, dtype
    specs = [
        ('proj_2layers_bidir', 4, 2, 3, 4, 2, 2, 2, True, False, F32),
        ('proj_nobias_batch_first', 5, 3, 3, 5, 2, 1, 1, False, True, F32),
        ('proj_2layers_batch_first', 3, 2, 2, 3, 1, 2, 1, True, True, F32),
        ('proj_bidir_nobias_f64', 3, 2, 3, 4, 3, 2, 2, False, False, F64),
    ]
    for name, T, N, I, H, P, L, D, bias, bf, dt in specs:
        seed(name)
        x = rn(N, T, I, dtype=dt) if bf else rn(T, N, I, dtype=dt)
        inputs = [x, rn(L * D, N, P, dtype=dt), rn(L * D, N, H, dtype=dt)] + flat(I, H, P, L, D, bias, dt)
        fn = (lambda x, h, c, *p, bias=bias, L=L, D=D, bf=bf:
              torch.lstm(x, (h, c), p, bias, L, 0.0, False, D == 2, bf))
        out.append(method_case(name, 'lstm', fn, inputs,
                               {'has_biases': bias, 'layers': L, 'bidir': D == 2, 'batch_first': bf}))
    return out


def main():
    write_golden('lstm_proj.lua', [
        'nl.lstm on flat weights with projections, PyTorch 1.13 values: written by tests/golden/gen_lstm_proj.py',
        '(inputs: x, h0, c0, then w_ih, w_hh, [b_ih, b_hh,] w_hr per layer and direction; outs: output, h_n, c_n;',
        'grads: of sum((out_i * w_i):sum()))'], [lua_method_case(c) for c in cases()])


if __name__ == '__main__':
    main()
