"""Golden values of torch_compat.lua's names from PyTorch 1.13: the Tensor
method forms of the pre-linalg linear algebra (t.lu(), b.lu_solve(LU,
pivots), t.symeig(), b.triangular_solve(A), t.geqrf(), t.orgqr(tau),
t.ormqr(tau, C)), igamma and igammac (functions, methods and their _
forms), t.prelu(weight), angle of real tensors (values and gradient), and
torch.frombuffer of bytes (count and offset; uint8, int8, int16, int32
and bool as their int64 values). Each case's outputs (every
member of a tuple return) and its inputs' gradients of sum((out_i *
w_i).sum()); pivots are 1-based, as PyTorch's. Writes
tests/golden/torch_compat.lua (checked by
tests/spec/torch_compat_spec.lua); run from the repository root with

    /usr/bin/python3 tests/golden/gen_torch_compat.py
"""
import struct
import warnings
import torch
from common import F32, F64, I64, sign_fixed_columns, method_case, lua_method_case, lua_tensor, write_golden, seed

warnings.filterwarnings('ignore')


def rn(*shape, dtype=F32):
    return torch.randn(shape, dtype=dtype)


def cases():
    out = []

    def case(name, op, fn, inputs, args=None, int_values=False):
        seed(name)
        out.append(method_case(name, op, fn, inputs(), args, int_values))

    # ---- linear algebra as methods (float64) ----
    case('lu', 'lu', lambda a: (lambda r: (r[0], r[1].long()))(a.lu()), lambda: [rn(2, 3, 3, dtype=F64)],
         {}, [False, True])
    case('lu_infos', 'lu', lambda a: (lambda r: (r[0], r[1].long(), r[2].long()))(a.lu(True, True)),
         lambda: [('const', torch.tensor([[1., 2.], [2., 4.]], dtype=F64))], {'get_infos': True}, [False, True, True])
    case('lu_solve', 'lu_solve', lambda b, a: b.lu_solve(*a.lu()), lambda: [rn(3, 2, dtype=F64), rn(3, 3, dtype=F64)])
    case('triangular_solve', 'triangular_solve', lambda b, a: b.triangular_solve(a, False, True),
         lambda: [rn(3, 2, dtype=F64), rn(3, 3, dtype=F64) + 3 * torch.eye(3, dtype=F64)],
         {'upper': False, 'transpose': True})
    case('symeig', 'symeig', lambda a: (lambda r: (r[0], sign_fixed_columns(r[1])))((a + a.T).symeig(True)),
         lambda: [rn(4, 4, dtype=F64)], {'eigenvectors': True})
    case('symeig_values', 'symeig', lambda a: (a + a.T).symeig(), lambda: [('const', rn(3, 3, dtype=F64))])
    case('geqrf', 'geqrf', lambda a: a.geqrf(), lambda: [('const', rn(4, 3, dtype=F64))])
    case('orgqr', 'orgqr', lambda a, t: a.orgqr(t), lambda: [rn(4, 3, dtype=F64), rn(3, dtype=F64)])
    case('ormqr', 'ormqr', lambda a, t, c: a.ormqr(t, c, False, True),
         lambda: [('const', rn(4, 3, dtype=F64)), ('const', rn(3, dtype=F64)), ('const', rn(2, 4, dtype=F64))],
         {'left': False, 'transpose': True})

    # ---- igamma, igammac: x's gradient (a's is not implemented in 1.13) ----
    def ax(dtype):
        return lambda: [('const', torch.rand(2, 3, dtype=dtype) * 4 + 0.1), torch.rand(3, dtype=dtype) * 5 + 0.05]
    for name in ('igamma', 'igammac'):
        case(name, name, lambda a, x, name=name: getattr(torch, name)(a, x), ax(F32), {'form': 'function'})
        case(name + '_method64', name, lambda a, x, name=name: getattr(a, name)(x), ax(F64), {'form': 'method'})
        case(name + '_', name, lambda a, x, name=name: getattr(a.clone(), name + '_')(x.detach()),
             lambda: [('const', torch.rand(2, 3) * 4 + 0.1), ('const', torch.rand(2, 3) * 5)], {'form': 'inplace'})

    # ---- prelu as a method ----
    case('prelu', 'prelu', lambda x, w: x.prelu(w), lambda: [rn(2, 3, 4), torch.tensor([0.25, -0.5, 1.5])])
    case('prelu_one', 'prelu', lambda x, w: x.prelu(w), lambda: [rn(5), torch.tensor([0.1])])

    # ---- angle: 0, pi, NaN; its gradient 0 ----
    special = torch.tensor([-2.0, -0.0, 0.0, 3.0, float('nan'), float('inf'), -float('inf'), -1e-30])
    case('angle', 'angle', lambda x: torch.angle(x), lambda: [special])
    case('angle64', 'angle', lambda x: x.angle(), lambda: [rn(3, 4, dtype=F64)])
    case('angle_int', 'angle', lambda x: torch.angle(x), lambda: [('const', torch.tensor([-3, 0, 7], dtype=I64))],
         {}, True)
    return out


def lua_bytes(b):
    return '"%s"' % ''.join('\\%d' % c for c in b)


def frombuffer_cases():
    """bytes of float32, float64 and int64 values, and what
    torch.frombuffer reads from them with count and offset"""
    lines = []
    seed('frombuffer')
    f32 = torch.randn(6).tolist()
    f64 = torch.randn(5, dtype=F64).tolist()
    i64 = [0, 1, -1, 2 ** 40 + 3, -(2 ** 50) - 7, 123456789]
    for name, fmt, vals, dtype in (('f32', '<6f', f32, F32), ('f64', '<5d', f64, F64), ('i64', '<6q', i64, I64)):
        b = struct.pack(fmt, *vals)
        size = {F32: 4, F64: 8, I64: 8}[dtype]
        dt = {F32: 'float32', F64: 'float64', I64: 'int64'}[dtype]
        for count, offset in ((-1, 0), (2, size), (-1, 2 * size), (1, 3 * size)):
            t = torch.frombuffer(bytearray(b), dtype=dtype, count=count, offset=offset)
            lines.append("  { name = '%s_%d_%d', bytes = %s, dtype = '%s', count = %d, offset = %d, want = %s },"
                         % (name, count, offset, lua_bytes(b), dt, count, offset, lua_tensor(t.clone())))
    # the narrow dtypes: nnlua reads them into int64 (their values)
    seed('frombuffer_narrow')
    b = bytes(torch.randint(0, 256, (16,), dtype=I64).tolist()) + bytes([0, 1, 127, 128, 255, 0, 0, 128])
    for dtype, size in ((torch.uint8, 1), (torch.int8, 1), (torch.int16, 2), (torch.int32, 4), (torch.bool, 1)):
        name = str(dtype).split('.')[1]
        for count, offset in ((-1, 0), (3, size), (-1, 4 * size), (1, 5 * size)):
            t = torch.frombuffer(bytearray(b), dtype=dtype, count=count, offset=offset).long()
            lines.append("  { name = '%s_%d_%d', bytes = %s, dtype = '%s', count = %d, offset = %d, want = %s },"
                         % (name, count, offset, lua_bytes(b), name, count, offset, lua_tensor(t)))
    return lines


def main():
    lines = ['cases = {'] + [lua_method_case(c) for c in cases()] + ['},', 'frombuffer = {'] + frombuffer_cases() + ['},']
    write_golden('torch_compat.lua', [
        "torch_compat.lua's names, PyTorch 1.13 values: written by tests/golden/gen_torch_compat.py",
        '(cases: inputs, outs (every member of a tuple), grads of sum((out_i * w_i):sum()); frombuffer:',
        'bytes and what torch.frombuffer reads from them)'], lines)


if __name__ == '__main__':
    main()
