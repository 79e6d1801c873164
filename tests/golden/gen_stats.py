# gen_stats.py: PyTorch 1.13 golden values for lua/nnlua/stats.lua:
# torch.cov (correction, fweights, aweights, 1-D), corrcoef, histogram
# (bins as a count or edges, range, weight, density), i0 (random and edge
# values; not inf, where 1.13 gives NaN and nnlua inf), frexp (random magnitudes from 1e-30 to 1e30, subnormals, 0,
# -0, inf, NaN, the largest finite) and nextafter (toward both sides,
# zeros, powers of two, the infinities, NaN), in float32 and float64.
# Writes tests/golden/stats.lua (checked by tests/spec/stats_spec.lua); it
# does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_stats.py
#
# Cases are common.method_case's: outs = op(inputs...), then the inputs'
# gradients of sum((out_i * w_i).sum()); ('const', t) inputs take none.
# frexp's exponent (int32 in PyTorch) is written as int64 values. New
# cases go at the end.
import torch
from common import F32, F64, I64, method_case, lua_method_case, write_golden

torch.manual_seed(20261130)
CASES = []
INF, NAN = float('inf'), float('nan')


def case(name, op, fn, inputs, args=None, **kw):
    CASES.append(method_case(name, op, fn, inputs, args, **kw))


def rn(*shape, dtype=F64):
    return torch.randn(tuple(shape), dtype=F64).to(dtype)


for dt, tag in ((F64, '64'), (F32, '32')):
    finfo = torch.finfo(dt)
    case('cov ' + tag, 'cov', lambda x: torch.cov(x), [rn(3, 6, dtype=dt)])
    case('cov 1-D ' + tag, 'cov', lambda x: torch.cov(x), [rn(7, dtype=dt)])
    case('cov correction 0 ' + tag, 'cov', lambda x: torch.cov(x, correction=0), [rn(2, 5, dtype=dt)],
         {'correction': 0})
    fw = torch.tensor([1, 3, 0, 2, 1], dtype=I64)
    case('cov fweights ' + tag, 'cov_fw', lambda x, f: torch.cov(x, fweights=f), [rn(3, 5, dtype=dt), ('const', fw)])
    case('cov aweights ' + tag, 'cov_aw', lambda x, a: torch.cov(x, aweights=a),
         [rn(3, 5, dtype=dt), torch.rand(5, dtype=F64).to(dt) + 0.1])
    case('cov both weights correction 2 ' + tag, 'cov_both', lambda x, f, a: torch.cov(x, correction=2, fweights=f,
                                                                                          aweights=a),
         [rn(2, 5, dtype=dt), ('const', fw), torch.rand(5, dtype=F64).to(dt) + 0.1], {'correction': 2})
    case('cov no degrees of freedom ' + tag, 'cov', lambda x: torch.cov(x, correction=3), [('const', rn(2, 3, dtype=dt))],
         {'correction': 3})
    case('corrcoef ' + tag, 'corrcoef', torch.corrcoef, [rn(4, 7, dtype=dt)])
    case('corrcoef 1-D ' + tag, 'corrcoef', torch.corrcoef, [('const', rn(5, dtype=dt))])

    x = rn(50, dtype=dt)
    case('histogram bins ' + tag, 'histogram', lambda x: torch.histogram(x, 7), [('const', x)], {'bins': 7})
    case('histogram range ' + tag, 'histogram', lambda x: torch.histogram(x, 5, range=(-1.0, 1.5)),
         [('const', rn(4, 10, dtype=dt))], {'bins': 5, 'range': [-1.0, 1.5]})
    case('histogram weight density ' + tag, 'histogram_w',
         lambda x, w: torch.histogram(x, 6, weight=w, density=True),
         [('const', x), ('const', torch.rand(50, dtype=F64).to(dt))], {'bins': 6})
    case('histogram edges ' + tag, 'histogram_edges', lambda x, e: torch.histogram(x, e),
         [('const', torch.tensor([0.0, 1, 1, 2, 2.5, 3, 3.5, -1, 7, 3.0], dtype=dt)),
          ('const', torch.tensor([0.0, 1, 2, 3.5], dtype=dt))])
    case('histogram edges density ' + tag, 'histogram_edges_density',
         lambda x, e: torch.histogram(x, e, density=True),
         [('const', x), ('const', torch.tensor([-2.0, -0.5, 0, 0.3, 2], dtype=dt))])
    case('histogram one value ' + tag, 'histogram', lambda x: torch.histogram(x, 4),
         [('const', torch.full((3,), 2.0, dtype=dt))], {'bins': 4})

    case('i0 ' + tag, 'i0', torch.i0, [rn(20, dtype=dt) * 6])
    case('i0 edges ' + tag, 'i0', torch.i0,
         [('const', torch.tensor([0.0, -0.0, 8.0, -8.0, 7.999, 8.001, 30.0, -30.0, 85.0, 700.0, 800.0, NAN],
                                 dtype=dt))])

    def frexp(x):
        m, e = torch.frexp(x)
        return m, e.to(I64)
    mag = torch.pow(10.0, torch.rand(30, dtype=F64) * 60 - 30) * torch.randn(30, dtype=F64).sign()
    case('frexp ' + tag, 'frexp', frexp, [mag.to(dt)], int_values=True)
    edges = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, 0.75, finfo.max, -finfo.max, finfo.tiny, finfo.tiny / 8,
             -finfo.tiny / 1024, 2 ** 100 - 2 ** 60, INF, -INF, NAN]
    case('frexp edges ' + tag, 'frexp', frexp, [('const', torch.tensor(edges, dtype=dt))], int_values=True)

    a = rn(20, dtype=dt)
    b = rn(20, dtype=dt)
    case('nextafter ' + tag, 'nextafter', torch.nextafter, [('const', a), ('const', b)])
    ea = torch.tensor([0.0, 0.0, -0.0, 1.0, 1.0, 2.0, -2.0, 0.5, finfo.max, finfo.max, INF, -INF, 1.0, NAN, 1.0,
                       finfo.tiny, -finfo.tiny, 3.0, 1e-40, 1e-310], dtype=dt)
    eb = torch.tensor([1.0, -1.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, INF, 0.0, 0.0, 0.0, 1.0, 1.0, NAN,
                       0.0, 0.0, INF, 1.0, 0.0], dtype=dt)
    case('nextafter edges ' + tag, 'nextafter', torch.nextafter, [('const', ea), ('const', eb)])


def main():
    for c in CASES:
        c['grads'] = [None if g is None else g.detach().clone(memory_format=torch.contiguous_format)
                      for g in c['grads']]
    write_golden('stats.lua', [
        'stats.lua: PyTorch %s golden values for lua/nnlua/stats.lua; generated by' % torch.__version__,
        'tests/golden/gen_stats.py (do not edit by hand). Checked by tests/spec/stats_spec.lua.',
        'Each case: inputs, args, w (one per float output, false for int64 ones), outs,',
        'and the grads of sum((out_i * w_i).sum()) for each input (false where it has none).',
    ], [lua_method_case(c, F64) for c in CASES])


if __name__ == '__main__':
    main()
