# gen_integer.py: PyTorch 1.13 golden values for nnlua's int64 ops:
# bitwise_and, _or, _xor, _not, bitwise_left_shift and _right_shift, gcd
# and lcm (each pair of edge values, broadcast draws, tensor-scalar and
# scalar-tensor forms, in-place forms), and the casts int(), short(),
# char(), byte() and bool() (their values; nnlua keeps them in int64).
# int64 values are written as LuaJIT int64 literals (123LL), exact past
# 2^53. Writes tests/golden/integer.lua (checked by
# tests/spec/tensor_integer_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_integer.py
import torch
from common import F32, F64, I64, num, seed, write_golden

MIN, MAX = -2 ** 63, 2 ** 63 - 1
EDGE = [0, 1, -1, 2, -2, 5, -5, 6, -6, 12, -18, 255, -256, 3 ** 39, -(3 ** 39), 2 ** 62, -2 ** 62,
        2 ** 62 + 1, MAX - 1, MAX, MIN + 1, MIN]
SHIFTS = [0, 1, 2, 31, 32, 62, 63, 64, 65, 100, 127, 128, 129, -1, -2, -63, -64, -65, MIN, MAX]


def lua_int(t):
    """an int64 tensor: { shape = {...}, data = {...LL} }, exact"""
    shape = ', '.join(str(s) for s in t.shape)
    return "{ shape = { %s }, data = { %s }, dtype = 'int64' }" % (shape, ', '.join('%dLL' % v for v in t.reshape(-1).tolist()))


def lua_any(t):
    if t.dtype == I64:
        return lua_int(t)
    dt = ", dtype = 'float64'" if t.dtype == F64 else ''
    shape = ', '.join(str(s) for s in t.shape)
    return '{ shape = { %s }, data = { %s }%s }' % (shape, ', '.join(num(v, t.dtype) for v in t.reshape(-1).tolist()), dt)


def lua_scalar(v):
    return '%dLL' % v


def draws(name, shape, lo, hi):
    seed(name)
    return torch.randint(lo, hi, shape, dtype=I64)


OPS = {
    'bitwise_and': torch.bitwise_and, 'bitwise_or': torch.bitwise_or, 'bitwise_xor': torch.bitwise_xor,
    'bitwise_left_shift': torch.bitwise_left_shift, 'bitwise_right_shift': torch.bitwise_right_shift,
    'gcd': torch.gcd, 'lcm': torch.lcm,
}
SHIFT_OPS = ('bitwise_left_shift', 'bitwise_right_shift')

lines = []


def case(op, kind, a, b, out):
    """a and b: tensors, or ints (a scalar operand)"""
    fa = lua_int(a) if isinstance(a, torch.Tensor) else lua_scalar(a)
    fb = lua_int(b) if isinstance(b, torch.Tensor) else lua_scalar(b)
    lines.append("  { op = '%s', kind = '%s', a = %s, b = %s, want = %s }," % (op, kind, fa, fb, lua_int(out)))


edge = torch.tensor(EDGE, dtype=I64)
for op, f in OPS.items():
    # every pair of edge values: a (n, 1) against b (m), broadcast to (n, m)
    b = torch.tensor(SHIFTS, dtype=I64) if op in SHIFT_OPS else edge
    a = edge
    if op == 'lcm':
        # PyTorch 1.13 dies of SIGFPE on lcm(INT64_MIN, y) where gcd is -1
        # (INT64_MIN / -1): INT64_MIN as the first operand is left to the
        # pairs below
        a = edge[edge != MIN]
    case(op, 'pairs', a.view(-1, 1), b, f(a.view(-1, 1), b))
    # broadcast draws: (3, 1, 4) with (5, 1), and a transposed (4, 3) with (3)
    if op in SHIFT_OPS:
        x, y = draws(op + 'x', (3, 1, 4), MIN, MAX), draws(op + 'y', (5, 1), -70, 140)
        u, v = draws(op + 'u', (3, 4), -1000, 1000), draws(op + 'v', (3,), 0, 64)
    elif op in ('gcd', 'lcm'):
        x = draws(op + 'x', (3, 1, 4), -500, 500) * draws(op + 'xf', (3, 1, 4), 1, 40)
        y = draws(op + 'y', (5, 1), -500, 500) * 12
        u, v = draws(op + 'u', (3, 4), -10 ** 6, 10 ** 6), draws(op + 'v', (3,), -10 ** 6, 10 ** 6)
    else:
        x, y = draws(op + 'x', (3, 1, 4), MIN, MAX), draws(op + 'y', (5, 1), MIN, MAX)
        u, v = draws(op + 'u', (3, 4), MIN, MAX), draws(op + 'v', (3,), -100, 100)
    case(op, 'broadcast', x, y, f(x, y))
    case(op, 'transposed', u, v, f(u.t(), v))        # (a is given as (3, 4), used transposed)
    # tensor-scalar and scalar-tensor, and the in-place forms
    scalars = [0, 3, 63, 64, -1, 200] if op in SHIFT_OPS else [0, 3, -7, 12, MAX, MIN]
    if op == 'lcm':
        scalars = [0, 3, -7, 12, MAX]
    w = draws(op + 'w', (2, 3), -10 ** 4, 10 ** 4)
    for s in scalars:
        # (torch.gcd(tensor, int) is refused: the number as a 0-dim tensor)
        st = torch.tensor(s)
        case(op, 'scalar', w, s, f(w, st))
        case(op, 'inplace_scalar', w, s, getattr(w.clone(), op + '_')(st))
        case(op, 'scalar_first', s, w, f(st, w))
    r = draws(op + 'r', (3,), -50, 50) if op not in SHIFT_OPS else draws(op + 'r', (3,), -2, 66)
    case(op, 'inplace', w, r, getattr(w.clone(), op + '_')(r))

# lcm with INT64_MIN first, where PyTorch 1.13 gives a value
for y in [0, 1, -1, 2, 6, 2 ** 62, MIN]:
    a, b = torch.tensor([MIN]), torch.tensor([y])
    case('lcm', 'min_first', a, b, torch.lcm(a, b))

# bitwise_not
nots = [edge, draws('not', (3, 4), MIN, MAX)]
for t in nots:
    lines.append("  { op = 'bitwise_not', kind = 'unary', a = %s, want = %s }," % (lua_int(t), lua_int(torch.bitwise_not(t))))

# the casts: their values (PyTorch's dtype int32, int16, int8, uint8, bool)
ints = torch.tensor(EDGE + [300, -129, 128, 127, 2 ** 31, 2 ** 31 - 1, -2 ** 31, -2 ** 31 - 1, 2 ** 15, 2 ** 16 + 7,
                            2 ** 40 + 5, 65535, 65536, -32769], dtype=I64)
floats = torch.tensor([0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.7, -2.7, 127.9, 128.2, 255.5, 256.5, 300.2, -129.0, -200.7,
                       32767.5, 32768.5, -32769.2, 65535.9, 1e6 + 0.25, -1e6, 2147483520.0, -2147483648.0], dtype=F64)
for cast in ('int', 'short', 'char', 'byte', 'bool'):
    for t in (ints, floats, floats.float()):
        r = getattr(t, cast)()
        lines.append("  { op = '%s', kind = 'cast', a = %s, want = %s }," % (cast, lua_any(t), lua_int(r.to(I64))))
nan = torch.tensor([float('nan'), float('inf'), -float('inf'), 1e-30, -0.0], dtype=F32)
lines.append("  { op = 'bool', kind = 'cast', a = %s, want = %s }," % (lua_any(nan), lua_int(nan.bool().to(I64))))

# rsub(input, other, alpha) = other - alpha * input, and fill
seed('rsub')
x32, y32 = torch.randn(3, 1), torch.randn(4)
xi, yi = torch.tensor([[4], [-7]]), torch.tensor([2, 3, 100])
for x, y, alpha in [(x32, y32, 1), (x32, y32, 2.5), (xi, yi, 3), (xi, yi, -1)]:
    lines.append("  { op = 'rsub', kind = 'rsub', a = %s, b = %s, alpha = %s, want = %s }," % (
        lua_any(x), lua_any(y), num(alpha), lua_any(torch.rsub(x, y, alpha=alpha))))
for x, v in [(xi, 3), (xi, 3.5), (xi, -2.9), (x32, 2.25), (x32.double(), -1e300)]:
    lines.append("  { op = 'rsub', kind = 'rsub_scalar', a = %s, b = %s, want = %s }," % (
        lua_any(x), num(v, F64), lua_any(torch.rsub(x, v))))
    lines.append("  { op = 'fill', kind = 'fill', a = %s, b = %s, want = %s }," % (
        lua_any(x), num(v, F64), lua_any(torch.fill(x, v))))

write_golden('integer.lua', ['PyTorch 1.13 int64 bitwise ops, shifts, gcd, lcm and the narrow integer casts',
                             '(tests/golden/gen_integer.py)'], lines)
