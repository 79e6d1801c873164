"""Shared by the golden-value generators (gen_*.py): float32 inputs and
the writing of Lua literals (tensors as { shape = {...}, data = {...} })."""
import torch

F32 = torch.float32


def randn(*shape):
    return torch.randn(tuple(shape), dtype=F32)


def uniform(shape, lo, hi):
    return torch.rand(tuple(shape), dtype=F32) * (hi - lo) + lo


def away_from(x, points, gap=0.05):
    """Move entries of x closer than gap to any of points out by 2*gap."""
    for p in points:
        near = (x - p).abs() < gap
        x = torch.where(near, torch.where(x >= p, x + 2 * gap, x - 2 * gap), x)
    return x


def num(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    return '%.9g' % v          # 9 significant digits round-trip a float32


def lua_tensor(t):
    if t is None:
        return 'false'
    shape = ', '.join(str(s) for s in t.shape)
    flat = t.detach().reshape(-1).tolist()
    dt = ", dtype = 'int64'" if t.dtype == torch.int64 else ''
    return '{ shape = { %s }, data = { %s }%s }' % (shape, ', '.join(num(v) for v in flat), dt)


def lua_value(v):
    if isinstance(v, (list, tuple)):
        return '{ %s }' % ', '.join(lua_value(x) for x in v)
    if isinstance(v, dict):
        return '{ %s }' % ', '.join('%s = %s' % (k, lua_value(x)) for k, x in v.items())
    if isinstance(v, str):
        return "'%s'" % v
    if v is None:
        return 'nil'
    return num(v)


def lua_named(pairs, indent):
    """an ordered list { {name = 'x', t = {...}}, ... } (order is checked)"""
    if not pairs:
        return '{}'
    lines = ['{']
    lines += ["%s  { name = '%s', t = %s }," % (indent, k, lua_tensor(v)) for k, v in pairs]
    lines.append(indent + '}')
    return '\n'.join(lines)
