# gen_linalg_extra.py: PyTorch 1.13 golden values for nnlua's rest of
# torch.linalg (lua/nnlua/linalg_extra.lua): matrix_exp (random, large
# norm, diagonal, nilpotent, zero, batched), cond (every p, wide and
# singular matrices), multi_dot (1-D ends), chain_matmul,
# householder_product, tensorinv, tensorsolve (with dims), linalg.cross
# and torch.cross, vecdot, vander, linalg.diagonal, solve_ex (singular
# too), ldl_factor_ex and ldl_solve, in float32 and float64. Writes tests/golden/linalg_extra.lua
# (checked by tests/spec/linalg_extra_spec.lua); it does not test anything
# itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_linalg_extra.py
#
# Cases are common.method_case's: outs = op(inputs...), then the inputs'
# gradients of sum((out_i * w_i).sum()); ('const', t) inputs take none.
# args hold nnlua's 1-based dims. int64 outputs (solve_ex's info) are
# values, not indices. PyTorch 1.13's cond of p 'fro', 1, -1, inf, -inf has
# no working backward (an in-place masked_fill of inv_ex's result): those
# cases are values only. New cases go at the end.
import torch
from common import F32, F64, I64, method_case, lua_method_case, write_golden

torch.manual_seed(20261129)
CASES = []
INF = float('inf')


def case(name, op, fn, inputs, args=None, **kw):
    CASES.append(method_case(name, op, fn, inputs, args, **kw))


def rn(*shape, dtype=F64):
    return torch.randn(tuple(shape), dtype=F64).to(dtype)


def well(n, batch=(), dtype=F64):
    """well-conditioned matrices: random plus n on the diagonal"""
    return (torch.randn(*batch, n, n, dtype=F64) + n * torch.eye(n, dtype=F64)).to(dtype)


for dt, tag in ((F64, '64'), (F32, '32')):
    me = torch.linalg.matrix_exp
    case('matrix_exp ' + tag, 'matrix_exp', me, [rn(3, 3, dtype=dt)])
    case('matrix_exp batched ' + tag, 'matrix_exp', me, [rn(2, 3, 4, 4, dtype=dt)])
    case('matrix_exp large norm ' + tag, 'matrix_exp', me, [rn(4, 4, dtype=dt) * 6])
    case('matrix_exp mixed norms ' + tag, 'matrix_exp', me,
         [torch.stack([rn(3, 3) * 0.01, rn(3, 3) * 5, rn(3, 3) * 0.5]).to(dt)])
    case('matrix_exp diagonal ' + tag, 'matrix_exp', me, [torch.diag(torch.tensor([0.5, -2.0, 3.0, 0.0], dtype=dt))])
    case('matrix_exp nilpotent ' + tag, 'matrix_exp', me, [torch.triu(rn(4, 4, dtype=dt) * 3, 1)])
    case('matrix_exp zero ' + tag, 'matrix_exp', me, [torch.zeros(3, 3, dtype=dt)])
    case('matrix_exp 1x1 ' + tag, 'matrix_exp', me, [rn(2, 1, 1, dtype=dt)])
    case('matrix_exp method ' + tag, 'matrix_exp_method', lambda a: a.matrix_exp(), [rn(3, 3, dtype=dt)])

    for p in (None, 2, -2, 'fro', 'nuc', 1, -1, INF, -INF):
        # 1.13's backward of the p of inv_ex fails (an in-place masked_fill): values only there
        x = well(3, (2,), dt)
        case('cond %s %s' % (p, tag), 'cond', lambda a: torch.linalg.cond(a, p),
             [x if p in (None, 2, -2, 'nuc') else ('const', x)], {'p': p} if p is not None else {})
    case('cond wide ' + tag, 'cond', lambda a: torch.linalg.cond(a), [rn(2, 3, dtype=dt)])
    sing = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=dt)
    for p in ('fro', 1, -1, INF, -INF):
        case('cond singular %s %s' % (p, tag), 'cond', lambda a: torch.linalg.cond(a, p), [('const', sing)],
             {'p': p})
    case('cond zero 2 ' + tag, 'cond', lambda a: torch.linalg.cond(a), [('const', torch.zeros(2, 2, dtype=dt))])

    md = torch.linalg.multi_dot
    case('multi_dot vector ends ' + tag, 'multi_dot', lambda a, b, c, d: md([a, b, c, d]),
         [rn(3, dtype=dt), rn(3, 5, dtype=dt), rn(5, 2, dtype=dt), rn(2, dtype=dt)])
    case('multi_dot matrices ' + tag, 'multi_dot', lambda a, b, c, d: md([a, b, c, d]),
         [rn(6, 2, dtype=dt), rn(2, 7, dtype=dt), rn(7, 3, dtype=dt), rn(3, 5, dtype=dt)])
    case('multi_dot first vector ' + tag, 'multi_dot', lambda a, b, c: md([a, b, c]),
         [rn(4, dtype=dt), rn(4, 3, dtype=dt), rn(3, 2, dtype=dt)])
    case('multi_dot two vectors ' + tag, 'multi_dot', lambda a, b: md([a, b]), [rn(4, dtype=dt), rn(4, dtype=dt)])
    case('chain_matmul ' + tag, 'chain_matmul', lambda a, b, c: torch.chain_matmul(a, b, c),
         [rn(2, 3, dtype=dt), rn(3, 4, dtype=dt), rn(4, 2, dtype=dt)])

    hp = torch.linalg.householder_product
    case('householder_product ' + tag, 'householder_product', hp, [rn(5, 3, dtype=dt), rn(3, dtype=dt)])
    case('householder_product batched ' + tag, 'householder_product', hp,
         [rn(2, 4, 4, dtype=dt), rn(2, 2, dtype=dt)])
    A = rn(4, 3, dtype=dt)
    q, r = torch.geqrf(A)
    case('householder_product of geqrf ' + tag, 'householder_product', hp, [q, r])

    case('tensorinv ' + tag, 'tensorinv', lambda a: torch.linalg.tensorinv(a, ind=2),
         [(torch.randn(24, 24, dtype=F64) + 5 * torch.eye(24, dtype=F64)).reshape(4, 6, 8, 3).to(dt)], {'ind': 2})
    case('tensorinv ind 1 ' + tag, 'tensorinv', lambda a: torch.linalg.tensorinv(a, ind=1),
         [well(6, (), dt).reshape(6, 2, 3)], {'ind': 1})
    case('tensorsolve ' + tag, 'tensorsolve', lambda a, b: torch.linalg.tensorsolve(a, b),
         [well(6, (), dt).reshape(2, 3, 6), rn(2, 3, dtype=dt)])
    case('tensorsolve dims ' + tag, 'tensorsolve', lambda a, b: torch.linalg.tensorsolve(a, b, dims=(0,)),
         [well(6, (), dt).reshape(6, 2, 3).permute(0, 1, 2).contiguous(), rn(2, 3, dtype=dt)], {'dims': [1]})

    case('linalg.cross ' + tag, 'linalg_cross', lambda a, b: torch.linalg.cross(a, b),
         [rn(4, 3, dtype=dt), rn(4, 3, dtype=dt)])
    case('linalg.cross broadcast dim ' + tag, 'linalg_cross', lambda a, b: torch.linalg.cross(a, b, dim=0),
         [rn(3, 1, 2, dtype=dt), rn(3, 4, 2, dtype=dt)], {'dim': 1})
    case('torch.cross first dim of 3 ' + tag, 'cross', lambda a, b: torch.cross(a, b),
         [rn(2, 3, 3, dtype=dt), rn(2, 3, 3, dtype=dt)])
    case('vecdot ' + tag, 'vecdot', lambda a, b: torch.linalg.vecdot(a, b), [rn(3, 4, dtype=dt), rn(4, dtype=dt)])
    case('vecdot dim ' + tag, 'vecdot', lambda a, b: torch.linalg.vecdot(a, b, dim=0),
         [rn(3, 4, dtype=dt), rn(3, 4, dtype=dt)], {'dim': 1})
    case('vander ' + tag, 'vander', lambda x: torch.linalg.vander(x), [rn(2, 3, dtype=dt)])
    case('vander N ' + tag, 'vander', lambda x: torch.linalg.vander(x, N=5),
         [torch.tensor([0.0, 1.5, -2.0], dtype=dt)], {'N': 5})
    case('linalg.diagonal ' + tag, 'diagonal', lambda a: torch.linalg.diagonal(a, offset=1),
         [rn(2, 3, 4, dtype=dt)], {'offset': 1})
    case('linalg.diagonal dims ' + tag, 'diagonal', lambda a: torch.linalg.diagonal(a, offset=-1, dim1=0, dim2=2),
         [rn(3, 2, 4, dtype=dt)], {'offset': -1, 'dim1': 1, 'dim2': 3})

    def solve_ex(a, b, **kw):
        x, info = torch.linalg.solve_ex(a, b, **kw)
        return x, info.to(I64)
    case('solve_ex ' + tag, 'solve_ex', solve_ex, [well(3, (2,), dt), rn(2, 3, 2, dtype=dt)], int_values=True)
    case('solve_ex vector ' + tag, 'solve_ex', solve_ex, [well(3, (), dt), rn(3, dtype=dt)], int_values=True)
    case('solve_ex left false ' + tag, 'solve_ex', lambda a, b: solve_ex(a, b, left=False),
         [well(3, (), dt), rn(2, 3, dtype=dt)], {'left': False}, int_values=True)
    case('solve_ex singular ' + tag, 'solve_ex', solve_ex,
         [('const', torch.stack([well(2, (), dt), torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=dt)])),
          ('const', rn(2, 2, 1, dtype=dt))], int_values=True)


# LDL^T (Bunch-Kaufman): LD, pivots (LAPACK's, int32 there) and info as values; ldl_solve's X
def sym(*shape, dtype=F64, diag=0.0):
    a = torch.randn(*shape, dtype=F64)
    a = a + a.transpose(-1, -2) + diag * torch.eye(shape[-1], dtype=F64)
    return a.to(dtype)


def ldl_ex(a):
    LD, piv, info = torch.linalg.ldl_factor_ex(a)
    return LD, piv.to(I64), info.to(I64)


def ldl_solve(a, b):
    LD, piv = torch.linalg.ldl_factor(a)
    return torch.linalg.ldl_solve(LD, piv, b)


for dt, tag in ((F64, '64'), (F32, '32')):
    case('ldl_factor_ex ' + tag, 'ldl_factor_ex', ldl_ex, [('const', sym(5, 5, dtype=dt))], int_values=True)
    case('ldl_factor_ex batched ' + tag, 'ldl_factor_ex', ldl_ex, [('const', sym(3, 6, 6, dtype=dt))],
         int_values=True)
    case('ldl_factor_ex 2x2 pivots ' + tag, 'ldl_factor_ex', ldl_ex,
         [('const', torch.tensor([[0.0, 1, 2, 0], [1, 0, 3, 1], [2, 3, 0.01, 4], [0, 1, 4, 0]], dtype=dt))],
         int_values=True)
    case('ldl_factor_ex singular ' + tag, 'ldl_factor_ex', ldl_ex,
         [('const', torch.stack([torch.zeros(3, 3, dtype=dt), sym(3, 3, dtype=dt)]))], int_values=True)
    case('ldl_solve ' + tag, 'ldl_solve', ldl_solve, [('const', sym(2, 5, 5, dtype=dt)), ('const', rn(2, 5, 3, dtype=dt))])
    case('ldl_solve broadcast ' + tag, 'ldl_solve', ldl_solve, [('const', sym(4, 4, dtype=dt)), ('const', rn(3, 4, 2, dtype=dt))])
case('ldl_factor_ex blocked 70 64', 'ldl_factor_ex', ldl_ex, [('const', sym(70, 70))], int_values=True)

def main():
    for c in CASES:
        c['grads'] = [None if g is None else g.detach().clone(memory_format=torch.contiguous_format)
                      for g in c['grads']]
    write_golden('linalg_extra.lua', [
        'linalg_extra.lua: PyTorch %s golden values for lua/nnlua/linalg_extra.lua; generated by' % torch.__version__,
        'tests/golden/gen_linalg_extra.py (do not edit by hand). Checked by tests/spec/linalg_extra_spec.lua.',
        'Each case: inputs, args (1-based dims), w (one per float output, false for int64 ones), outs,',
        'and the grads of sum((out_i * w_i):sum()) for each input (false where it has none).',
    ], [lua_method_case(c, F64) for c in CASES])


if __name__ == '__main__':
    main()
