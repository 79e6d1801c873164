"""Shared by the golden-value generators (gen_*.py): float32 inputs and
the writing of Lua literals (tensors as { shape = {...}, data = {...} })
and of the golden files."""
import os
import zlib
from functools import partial
import torch

F32, F64, I64 = torch.float32, torch.float64, torch.int64


def randn(*shape):
    return torch.randn(tuple(shape), dtype=F32)


def uniform(shape, lo, hi):
    return torch.rand(tuple(shape), dtype=F32) * (hi - lo) + lo


def seed(name):
    """Seeds torch from a CRC of a case's name: each case its own draws."""
    torch.manual_seed(zlib.crc32(name.encode()))


def randn_cast(shape, dtype):
    """torch.randn drawn in float64, then cast to dtype (the same draws in
    float32 and float64)"""
    return torch.randn(tuple(shape), dtype=F64).to(dtype)


def away_from(x, points, gap=0.05):
    """Move entries of x closer than gap to any of points out by 2*gap."""
    for p in points:
        near = (x - p).abs() < gap
        x = torch.where(near, torch.where(x >= p, x + 2 * gap, x - 2 * gap), x)
    return x


def num(v, dtype=F32, shortest=False):
    """v as a Lua literal. 9 significant digits round-trip a float32 and 17 a
    float64; with shortest, a float64 as Python's repr, the shortest digits
    that round-trip it (the same double read back, fewer bytes). NaN and the
    infinities as Lua expressions ('nan' and 'inf' would read as nil)."""
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    if v != v:
        return '0/0'
    if v in (float('inf'), float('-inf')):
        return 'math.huge' if v > 0 else '-math.huge'
    if dtype == F64:
        return repr(v) if shortest else '%.17g' % v
    return '%.9g' % v


def lua_tensor(t, shortest=False):
    """{ shape = {...}, data = {...} }, with the dtype unless float32"""
    if t is None:
        return 'false'
    shape = ', '.join(str(s) for s in t.shape)
    flat = t.detach().reshape(-1).tolist()
    dt = {F64: ", dtype = 'float64'", I64: ", dtype = 'int64'"}.get(t.dtype, '')
    return '{ shape = { %s }, data = { %s }%s }' % (shape, ', '.join(num(v, t.dtype, shortest) for v in flat), dt)


def lua_list(ts, shortest=False):
    """a list of tensors (false for None)"""
    return '{ %s }' % ', '.join(lua_tensor(t, shortest) for t in ts)


def lua_value(v, dtype=F32, shortest=False):
    """lists, dicts (in their order), strings, None and numbers, the floats
    written as of dtype"""
    if isinstance(v, (list, tuple)):
        return '{ %s }' % ', '.join(lua_value(x, dtype, shortest) for x in v)
    if isinstance(v, dict):
        return '{ %s }' % ', '.join('%s = %s' % (k, lua_value(x, dtype, shortest)) for k, x in v.items())
    if isinstance(v, str):
        return "'%s'" % v
    if v is None:
        return 'nil'
    return num(v, dtype, shortest)


def lua_named(pairs, indent, shortest=False):
    """an ordered list { {name = 'x', t = {...}}, ... } (order is checked)"""
    if not pairs:
        return '{}'
    lines = ['{']
    lines += ["%s  { name = '%s', t = %s }," % (indent, k, lua_tensor(v, shortest)) for k, v in pairs]
    lines.append(indent + '}')
    return '\n'.join(lines)


def method_case(name, op, fn, inputs, args=None, int_values=False):
    """A case of gen_tensor_ops.py or gen_tensor_extra.py (as lua_method_case
    writes it): outs = fn(*inputs) and the inputs' gradients of
    sum((out_i * w_i).sum()), w_i random of the float outputs' shapes and
    dtypes. inputs: float tensors (requiring grad), or ('index', t) (t
    1-based, given to fn 0-based) or ('const', t) for ones that take none;
    fn's result: a tensor, or a tuple or list of them; its int64 outputs are
    indices (written 1-based) unless int_values (a bool, or one for each
    output)."""
    if not isinstance(int_values, list):
        int_values = [int_values] * 8
    leaves, given = [], []
    for x in inputs:
        if isinstance(x, tuple) and x[0] == 'index':
            leaves.append(x[1] - 1)
            given.append(x[1])
        elif isinstance(x, tuple):
            leaves.append(x[1])
            given.append(x[1])
        else:
            leaf = x.clone().requires_grad_(x.is_floating_point())
            leaves.append(leaf)
            given.append(leaf)
    res = fn(*leaves)
    if isinstance(res, torch.Tensor):
        res = [res]
    res = list(res)
    ws, loss = [], None
    for r in res:
        if r.is_floating_point():
            w = torch.randn(r.shape, dtype=r.dtype)
            ws.append(w)
            term = (r * w).sum()
            loss = term if loss is None else loss + term
        else:
            ws.append(None)
    if loss is not None and loss.requires_grad:
        loss.backward()
    grads = [x.grad if isinstance(x, torch.Tensor) and x.requires_grad else None for x in leaves]
    return {
        'name': name, 'op': op,
        'inputs': [g.detach() for g in given],
        'args': args or {},
        'w': ws,
        'outs': [r.detach() if r.is_floating_point() or int_values[j] else r + 1 for j, r in enumerate(res)],
        'grads': grads,
    }


def lua_method_case(c, scalars=F32):
    """a case of gen_tensor_ops.py or gen_tensor_extra.py: inputs, args (their
    floats as of scalars), w and outs (lists of tensors), grads"""
    lines = ['  {']
    lines.append("    name = '%s', op = '%s'," % (c['name'], c['op']))
    lines.append('    inputs = {')
    lines += ['      %s,' % lua_tensor(x) for x in c['inputs']]
    lines.append('    },')
    args = ', '.join('%s = %s' % (k, lua_value(v, scalars)) for k, v in c['args'].items())
    lines.append('    args = { %s },' % args)
    lines.append('    w = %s,' % lua_list(c['w']))
    lines.append('    outs = %s,' % lua_list(c['outs']))
    lines.append('    grads = {')
    lines += ['      %s,' % lua_tensor(g) for g in c['grads']]
    lines.append('    },')
    lines.append('  },')
    return '\n'.join(lines)


def shortest_writers():
    """num, lua_tensor, lua_value and lua_named writing float64s as their
    shortest round-trip digits, lua_value the numbers of options as
    float64s (gen_conv3d.py's and gen_conv_extra.py's)."""
    return (partial(num, shortest=True), partial(lua_tensor, shortest=True),
            partial(lua_value, dtype=F64, shortest=True), partial(lua_named, shortest=True))


def dtype_name(dt):
    """'float32' or 'float64', the name nnlua gives a float dtype"""
    return 'float32' if dt == F32 else 'float64'


def lua_io_lines(c, shortest=False):
    """the lines input, w, out and grad_input of case c (its tensors of those
    names, as run_with_grad gives them), as the specs' cases write them"""
    return ['    %s = %s,' % (k, lua_tensor(c[k], shortest)) for k in ('input', 'w', 'out', 'grad_input')]


def run_with_grad(f, x, transposed):
    """out = f(x'), x' the input as the op sees it (x.transpose(-1, -2) of a
    leaf copy of x with transposed); returns out, the indices where f gives
    (out, indices) else None, w = torch.randn(out.shape) (from the global
    generator) and the stored input's gradient of (out * w).sum()"""
    leaf = x.clone().requires_grad_(True)
    xin = leaf.transpose(-1, -2) if transposed else leaf
    res = f(xin)
    out, idx = res if isinstance(res, tuple) else (res, None)
    w = torch.randn(out.shape, dtype=out.dtype)
    (out * w).sum().backward()
    return out, idx, w, leaf.grad


def sign_fixed_columns(v):
    """eigenvector columns with a nonnegative largest-magnitude entry (their
    sign is the solver's choice)"""
    i = v.abs().argmax(-2, keepdim=True)
    return v * torch.sign(torch.gather(v, -2, i))


def lua_grad_lines(xs, module):
    """A case's input_grads (each of xs' .grad) and param_grads (module's
    parameters' .grad by name) fields, as Lua lines."""
    return (['    input_grads = { %s },' % ', '.join(lua_tensor(x.grad, True) for x in xs), '    param_grads = {']
            + ["      { name = '%s', t = %s }," % (k, lua_tensor(p.grad, True)) for k, p in module.named_parameters()]
            + ['    },'])


def write_golden(name, header, lines):
    """Writes tests/golden/<name>: the header's lines as Lua comments, then
    `return {`, the lines, `}`."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    with open(path, 'w') as f:
        f.writelines('-- %s\n' % h for h in header)
        f.write('return {\n')
        f.writelines(line + '\n' for line in lines)
        f.write('}\n')
    print('%s (%d bytes)' % (path, os.path.getsize(path)))
