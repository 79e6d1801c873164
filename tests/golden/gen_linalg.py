# gen_linalg.py: PyTorch 1.13 golden values for nnlua's LU and Cholesky
# family (lua/nnlua/linalg.lua, src/ops_linalg.c): linalg.inv, solve (vector
# and matrix right sides, broadcast batch dims, left = false), det, slogdet,
# logdet, lu_factor, lu, lu_solve (adjoint, left = false), cholesky (upper
# too), solve_triangular (upper, lower, unitriangular, left = false),
# matrix_power (positive, negative, zero), cholesky_solve and
# cholesky_inverse, in float64 and float32, single and batched, with
# ill-conditioned (but invertible) matrices among them; non-square
# lu_factor, lu_factor_ex and lu, and lu_solve's gradient to LU.
# Writes tests/golden/linalg.lua (checked by tests/spec/linalg_spec.lua);
# it does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_linalg.py
#
# Each case: inputs (those in `grad` require grad), options, outs =
# op(inputs...), and the gradients of sum((out_i * w_i).sum()) over the
# float outputs, w_i fixed random tensors. Pivots are 1-based in both. New
# cases go at the end: the random stream of the earlier ones stays as it was.
import torch
from common import F32, F64, lua_tensor, lua_value, write_golden

torch.manual_seed(20261128)
CASES = []


def well(n, *batch, dtype=F64):
    """a random matrix with a strong diagonal: well conditioned"""
    return (torch.randn(*batch, n, n, dtype=F64) + 2 * torch.eye(n, dtype=F64)).to(dtype)


def spd(n, *batch, dtype=F64):
    x = torch.randn(*batch, n, n, dtype=F64)
    return (x @ x.mT + n * torch.eye(n, dtype=F64)).to(dtype)


def ill(n, cond, dtype=F64):
    """Q diag(1 .. 1/cond) Q^T with Q orthogonal: condition number cond"""
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=F64))
    s = torch.logspace(0, -torch.log10(torch.tensor(float(cond))).item(), n, dtype=F64)
    return (q @ torch.diag(s) @ q.T).to(dtype)


def case(name, op, fn, inputs, grad, opts=None):
    leaves = [x.clone().requires_grad_(i in grad) for i, x in enumerate(inputs)]
    outs = fn(*leaves)
    if not isinstance(outs, tuple):
        outs = (outs,)
    ws, loss = [], 0
    for o in outs:
        if o.dtype.is_floating_point and o.requires_grad:
            w = torch.randn(o.shape, dtype=o.dtype)
            loss = loss + (o * w).sum()
            ws.append(w)
        else:
            ws.append(None)
    grads = [None] * len(leaves)
    if grad:
        loss.backward()
        grads = [x.grad if i in grad else None for i, x in enumerate(leaves)]
    outs = [o.long() if o.dtype == torch.int32 else o for o in outs]
    CASES.append('  { name = %s, op = %s, opts = %s,\n    inputs = { %s },\n    grad = %s,\n    outs = { %s },\n'
                 '    w = { %s },\n    grads = { %s } },' % (
                     lua_value(name), lua_value(op), lua_value(opts or {}),
                     ', '.join(lua_tensor(x.detach()) for x in inputs),
                     '{ %s }' % ', '.join(str(i + 1) for i in sorted(grad)),
                     ', '.join(lua_tensor(o.detach()) for o in outs),
                     ', '.join(lua_tensor(w) for w in ws),
                     ', '.join(lua_tensor(g) for g in grads)))


L = torch.linalg
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    case('inv 4x4 ' + tag, 'inv', L.inv, [well(4, dtype=dt)], {0})
    case('inv batched 2x3 of 3x3 ' + tag, 'inv', L.inv, [well(3, 2, 3, dtype=dt)], {0})
    case('inv 1x1 ' + tag, 'inv', L.inv, [well(1, dtype=dt)], {0})
    case('det 4x4 ' + tag, 'det', L.det, [well(4, dtype=dt)], {0})
    case('det batched 3 of 5x5 ' + tag, 'det', L.det, [well(5, 3, dtype=dt)], {0})
    case('slogdet 4x4 negative ' + tag, 'slogdet', L.slogdet, [-well(4, dtype=dt) if L.det(well(4)) > 0 else well(4, dtype=dt)], {0})
    case('slogdet batched ' + tag, 'slogdet', L.slogdet, [well(3, 4, dtype=dt)], {0})
    case('logdet spd ' + tag, 'logdet', torch.logdet, [spd(4, dtype=dt)], {0})
    case('solve vector ' + tag, 'solve', L.solve, [well(4, dtype=dt), torch.randn(4, dtype=dt)], {0, 1})
    case('solve batched vector ' + tag, 'solve', L.solve, [well(3, 2, dtype=dt), torch.randn(2, 3, dtype=dt)], {0, 1})
    case('solve broadcast ' + tag, 'solve', L.solve, [well(3, 2, 1, dtype=dt), torch.randn(4, 3, 2, dtype=dt)], {0, 1})
    case('solve left=false ' + tag, 'solve', lambda a, b: L.solve(a, b, left=False),
         [well(3, dtype=dt), torch.randn(2, 3, dtype=dt)], {0, 1}, {'left': False})
    case('lu_factor ' + tag, 'lu_factor', L.lu_factor, [torch.randn(5, 5, dtype=dt)], {0})
    case('lu_factor batched ' + tag, 'lu_factor', L.lu_factor, [torch.randn(2, 4, 4, dtype=dt)], {0})
    case('lu ' + tag, 'lu', L.lu, [torch.randn(4, 4, dtype=dt)], {0})
    case('lu batched ' + tag, 'lu', L.lu, [torch.randn(3, 3, 3, dtype=dt)], {0})
    case('lu_solve ' + tag, 'lu_solve', lambda a, b: L.lu_solve(*L.lu_factor(a), b),
         [well(4, dtype=dt), torch.randn(4, 2, dtype=dt)], {1})
    case('lu_solve adjoint ' + tag, 'lu_solve', lambda a, b: L.lu_solve(*L.lu_factor(a), b, adjoint=True),
         [well(4, dtype=dt), torch.randn(4, 3, dtype=dt)], {1}, {'adjoint': True})
    case('lu_solve left=false batched ' + tag, 'lu_solve', lambda a, b: L.lu_solve(*L.lu_factor(a), b, left=False),
         [well(3, 2, dtype=dt), torch.randn(2, 2, 3, dtype=dt)], {1}, {'left': False})
    case('cholesky ' + tag, 'cholesky', L.cholesky, [spd(4, dtype=dt)], {0})
    case('cholesky batched ' + tag, 'cholesky', L.cholesky, [spd(3, 2, dtype=dt)], {0})
    case('cholesky upper ' + tag, 'cholesky', lambda a: L.cholesky(a, upper=True), [spd(4, dtype=dt)], {0},
         {'upper': True})
    for upper in (False, True):
        for left in (True, False):
            for unit in (False, True):
                o = {'upper': upper, 'left': left, 'unitriangular': unit}
                b = torch.randn(4, 2, dtype=dt) if left else torch.randn(2, 4, dtype=dt)
                case('solve_triangular %s %s' % (' '.join('%s=%s' % kv for kv in o.items()), tag), 'solve_triangular',
                     lambda a, b, o=o: L.solve_triangular(a, b, **o), [well(4, dtype=dt), b], {0, 1}, o)
    case('solve_triangular broadcast ' + tag, 'solve_triangular', lambda a, b: L.solve_triangular(a, b, upper=False),
         [well(3, 2, 1, dtype=dt), torch.randn(3, 3, 2, dtype=dt)], {0, 1}, {'upper': False})
    case('matrix_power 3 ' + tag, 'matrix_power', lambda a: L.matrix_power(a, 3), [well(3, dtype=dt) / 2], {0}, {'k': 3})
    case('matrix_power -2 batched ' + tag, 'matrix_power', lambda a: L.matrix_power(a, -2), [well(3, 2, dtype=dt)],
         {0}, {'k': -2})
    case('matrix_power 0 ' + tag, 'matrix_power', lambda a: L.matrix_power(a, 0), [well(3, dtype=dt)], set(), {'k': 0})
    case('cholesky_solve ' + tag, 'cholesky_solve', lambda b, l: torch.cholesky_solve(b, l),
         [torch.randn(4, 2, dtype=dt), L.cholesky(spd(4, dtype=dt))], {0, 1})
    case('cholesky_solve upper ' + tag, 'cholesky_solve', lambda b, u: torch.cholesky_solve(b, u, upper=True),
         [torch.randn(3, 2, dtype=dt), L.cholesky(spd(3, dtype=dt)).mT.contiguous()], {0, 1}, {'upper': True})
    case('cholesky_inverse ' + tag, 'cholesky_inverse', torch.cholesky_inverse, [L.cholesky(spd(4, dtype=dt))], {0})
# ill-conditioned but invertible: float64, condition numbers 1e6 and 1e8
case('inv ill-conditioned 1e6 f64', 'inv', L.inv, [ill(6, 1e6)], {0})
case('solve ill-conditioned 1e8 f64', 'solve', L.solve, [ill(5, 1e8), torch.randn(5, 2, dtype=F64)], {0, 1})
case('det ill-conditioned 1e6 f64', 'det', L.det, [ill(6, 1e6)], {0})
case('cholesky ill-conditioned 1e6 f64', 'cholesky', L.cholesky, [ill(5, 1e6)], {0})
case('inv ill-conditioned 1e3 f32', 'inv', L.inv, [ill(4, 1e3, F32)], {0})
# non-square LU (lu_factor, lu_factor_ex, lu: wide and tall, batched, a
# rank-deficient one with its info) and lu_solve's gradient to LU (given
# LU and pivots, or through lu_factor of A), each side and adjoint
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    case('lu_factor wide 3x5 ' + tag, 'lu_factor', L.lu_factor, [torch.randn(3, 5, dtype=dt)], {0})
    case('lu_factor tall 5x3 ' + tag, 'lu_factor', L.lu_factor, [torch.randn(5, 3, dtype=dt)], {0})
    case('lu_factor wide batched 2x2x4x6 ' + tag, 'lu_factor', L.lu_factor, [torch.randn(2, 2, 4, 6, dtype=dt)], {0})
    case('lu_factor tall batched 3x6x2 ' + tag, 'lu_factor', L.lu_factor, [torch.randn(3, 6, 2, dtype=dt)], {0})
    case('lu wide 2x3x4 ' + tag, 'lu', L.lu, [torch.randn(2, 3, 4, dtype=dt)], {0})
    case('lu tall 2x5x2 ' + tag, 'lu', L.lu, [torch.randn(2, 5, 2, dtype=dt)], {0})
    case('lu wide 1x4 ' + tag, 'lu', L.lu, [torch.randn(1, 4, dtype=dt)], {0})
    case('lu tall 4x1 ' + tag, 'lu', L.lu, [torch.randn(4, 1, dtype=dt)], {0})
case('lu_factor_ex rank-deficient wide f64', 'lu_factor_ex', L.lu_factor_ex,
     [torch.tensor([[1., 2, 3, 4], [2, 4, 6, 8], [1, 0, 1, 0]], dtype=F64)], set())
case('lu_factor_ex rank-deficient tall f64', 'lu_factor_ex', L.lu_factor_ex,
     [torch.tensor([[1., 2], [2, 4], [3, 6], [-1, -2]], dtype=F64)], set())
# lu_solve's gradient to LU
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    for left in (True, False):
        for adjoint in (False, True):
            o = {'left': left, 'adjoint': adjoint}
            b = torch.randn(2, 4, 3, dtype=dt) if left else torch.randn(2, 3, 4, dtype=dt)
            lu, piv = L.lu_factor(well(4, 2, dtype=dt))
            case('lu_solve grad LU left=%s adjoint=%s %s' % (left, adjoint, tag), 'lu_solve_lu',
                 lambda lu, piv, b, o=o: L.lu_solve(lu, piv.int(), b, **o), [lu, piv.long(), b], {0, 2}, o)
            case('lu_solve through lu_factor left=%s adjoint=%s %s' % (left, adjoint, tag), 'lu_solve_a',
                 lambda a, b, o=o: L.lu_solve(*L.lu_factor(a), b, **o), [well(4, dtype=dt), b[0]], {0, 1}, o)
    lu, piv = L.lu_factor(well(3, dtype=dt))
    case('lu_solve grad LU broadcast over B ' + tag, 'lu_solve_lu', lambda lu, piv, b: L.lu_solve(lu, piv.int(), b),
         [lu, piv.long(), torch.randn(2, 3, 2, dtype=dt)], {0, 2})
write_golden('linalg.lua', ['PyTorch %s golden values for nnlua.linalg, written by tests/golden/gen_linalg.py' %
                            torch.__version__.split('+')[0]], CASES)
