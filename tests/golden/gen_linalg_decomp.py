# gen_linalg_decomp.py: PyTorch 1.13 golden values for nnlua's orthogonal
# decompositions (lua/nnlua/linalg_decomp.lua, src/ops_linalg_decomp.c):
# torch.linalg's qr, eigh, eigvalsh, svd, svdvals, pinv, lstsq,
# matrix_rank, matrix_norm, vector_norm and norm, and torch.qr, torch.svd,
# torch.pinverse and torch.norm(x, 'nuc'), in float32 and float64, batched,
# tall, wide and square. Writes tests/golden/linalg_decomp.lua (checked by
# tests/spec/linalg_decomp_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_linalg_decomp.py
#
# Eigenvectors and singular vectors are unique up to sign only, so a case
# records sign-invariant forms of them: V * V and U * U elementwise (the
# squares of the entries), and U diag(S) Vh products; Q and R are
# LAPACK's, whose signs nnlua follows, and are recorded as they are. Each
# case's gradients are those of sum((out_i * w_i).sum()) over its float
# outputs, w_i fixed random tensors. Matrices are made with well separated
# eigenvalues and singular values, where the gradients of the vectors are
# defined. New cases go at the end: the random stream of the earlier ones
# stays as it was. PyTorch's lstsq of wide matrices (driver gelsy) varies
# in its last bits from call to call, so regenerating changes those digits
# of the 'lstsq wide batched' cases (well inside the spec's tolerance).
import torch
from common import F32, F64, I64, lua_list, lua_value, write_golden

torch.manual_seed(20261128)
CASES = []
inf = float('inf')


def spaced(*shape, dtype=F64, lo=1.0, step=0.7):
    """matrices of the given (m, n) shape whose singular values are lo,
    lo + step, ... (well apart), with random singular vectors"""
    *batch, m, n = shape
    k = min(m, n)
    U = torch.linalg.qr(torch.randn(*batch, m, m, dtype=F64))[0]
    V = torch.linalg.qr(torch.randn(*batch, n, n, dtype=F64))[0]
    s = lo + step * torch.arange(k, dtype=F64).flip(0)
    s = s * (1 + 0.1 * torch.rand(*batch, k, dtype=F64))
    return (U[..., :, :k] * s.unsqueeze(-2) @ V[..., :, :k].transpose(-1, -2)).to(dtype)


def sym(*shape, dtype=F64):
    """symmetric matrices with eigenvalues well apart, of either sign"""
    *batch, n, _ = shape
    V = torch.linalg.qr(torch.randn(*batch, n, n, dtype=F64))[0]
    L = torch.arange(n, dtype=F64) * 1.3 - n * 0.5 + 0.25 * torch.rand(*batch, n, dtype=F64)
    A = (V * L.unsqueeze(-2)) @ V.transpose(-1, -2)
    return ((A + A.transpose(-1, -2)) / 2).to(dtype)


def case(name, op, fn, inputs, args=None):
    xs = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    outs = fn(*xs)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    outs = list(outs)
    ws = [torch.randn(o.shape, dtype=o.dtype) if o.is_floating_point() and o.numel() > 0 else None for o in outs]
    loss = sum((o * w).sum() for o, w in zip(outs, ws) if w is not None)
    leaves = [x for x in xs if x.requires_grad]
    if torch.is_tensor(loss) and loss.requires_grad:
        gs = torch.autograd.grad(loss, leaves, allow_unused=True)
    else:
        gs = [None] * len(leaves)
    grads = []
    it = iter(gs)
    for x in xs:
        grads.append(next(it) if x.requires_grad else None)
    CASES.append('  { name = %s, op = %s, args = %s,\n    inputs = %s,\n    outs = %s,\n    w = %s,\n    grads = %s },'
                 % (lua_value(name), lua_value(op), lua_value(args or {}), lua_list(inputs), lua_list(outs),
                    lua_list(ws), lua_list(grads)))


def sq(x):
    return x * x


for dt, tag in ((F64, '64'), (F32, '32')):
    # QR: Q and R as LAPACK gives them
    case('qr reduced tall ' + tag, 'qr', lambda a: torch.linalg.qr(a), [spaced(5, 3, dtype=dt)], {'mode': 'reduced'})
    case('qr reduced square batched ' + tag, 'qr', lambda a: torch.linalg.qr(a), [spaced(2, 4, 4, dtype=dt)],
         {'mode': 'reduced'})
    case('qr reduced wide ' + tag, 'qr', lambda a: torch.linalg.qr(a), [spaced(3, 5, dtype=dt)], {'mode': 'reduced'})
    case('qr complete tall ' + tag, 'qr_nograd', lambda a: torch.linalg.qr(a.detach(), mode='complete'),
         [spaced(5, 3, dtype=dt)], {'mode': 'complete'})
    case('qr r ' + tag, 'qr_r', lambda a: torch.linalg.qr(a.detach(), mode='r')[1], [spaced(4, 3, dtype=dt)],
         {'mode': 'r'})
    case('torch.qr ' + tag, 'torch_qr', lambda a: torch.qr(a), [spaced(4, 2, dtype=dt)])
    # eigh: eigenvalues, V * V
    case('eigh ' + tag, 'eigh', lambda a: (lambda L, V: (L, sq(V)))(*torch.linalg.eigh(a)), [sym(4, 4, dtype=dt)],
         {'UPLO': 'L'})
    case('eigh batched ' + tag, 'eigh', lambda a: (lambda L, V: (L, sq(V)))(*torch.linalg.eigh(a)),
         [sym(2, 3, 5, 5, dtype=dt)], {'UPLO': 'L'})
    case('eigh upper ' + tag, 'eigh_nograd',
         lambda a: (lambda L, V: (L, sq(V)))(*torch.linalg.eigh(torch.triu(a.detach()) + 5 * torch.tril(a.detach(), -1), UPLO='U')),
         [sym(4, 4, dtype=dt)], {'UPLO': 'U'})
    case('eigvalsh ' + tag, 'eigvalsh', lambda a: torch.linalg.eigvalsh(a), [sym(6, 6, dtype=dt)])
    # SVD: S, U * U, Vh * Vh of the reduced factors, and U diag(S) Vh
    for shape, what in (((4, 4), 'square'), ((6, 3), 'tall'), ((3, 5), 'wide'), ((2, 5, 4), 'batched tall'),
                        ((2, 3, 4), 'batched wide')):
        case('svd %s %s' % (what, tag), 'svd',
             lambda a: (lambda U, S, Vh: (S, sq(U), sq(Vh)))(*torch.linalg.svd(a, full_matrices=False)),
             [spaced(*shape, dtype=dt)], {'full_matrices': False})
    case('svd full tall ' + tag, 'svd_full',
         lambda a: (lambda U, S, Vh: (S, sq(U[..., :, :3]), sq(Vh), U[..., :, :3] * S.unsqueeze(-2) @ Vh))(
             *torch.linalg.svd(a, full_matrices=True)), [spaced(5, 3, dtype=dt)], {'full_matrices': True})
    case('svd full wide ' + tag, 'svd_full_wide',
         lambda a: (lambda U, S, Vh: (S, sq(U), sq(Vh[..., :3, :])))(*torch.linalg.svd(a, full_matrices=True)),
         [spaced(3, 6, dtype=dt)], {'full_matrices': True})
    case('svdvals ' + tag, 'svdvals', lambda a: torch.linalg.svdvals(a), [spaced(2, 5, 3, dtype=dt)])
    case('torch.svd ' + tag, 'torch_svd', lambda a: (lambda U, S, V: (S, sq(U), sq(V)))(*torch.svd(a)),
         [spaced(5, 3, dtype=dt)])
    # pinv, lstsq, rank
    case('pinv tall ' + tag, 'pinv', lambda a: torch.linalg.pinv(a), [spaced(5, 3, dtype=dt)])
    case('pinv wide batched ' + tag, 'pinv', lambda a: torch.linalg.pinv(a), [spaced(2, 3, 4, dtype=dt)])
    case('pinv hermitian ' + tag, 'pinv_hermitian', lambda a: torch.linalg.pinv(a, hermitian=True),
         [sym(4, 4, dtype=dt)])
    case('pinverse ' + tag, 'pinverse', lambda a: torch.pinverse(a), [spaced(3, 4, dtype=dt)])
    rankdef = spaced(5, 4, dtype=dt)
    rankdef = (rankdef[:, :2] @ torch.randn(2, 4, dtype=dt)).detach()
    case('pinv rank deficient ' + tag, 'pinv_nograd', lambda a: torch.linalg.pinv(a.detach()), [rankdef])
    case('lstsq tall ' + tag, 'lstsq', lambda a, b: torch.linalg.lstsq(a, b),
         [spaced(6, 3, dtype=dt), torch.randn(6, 2, dtype=dt)])
    case('lstsq gelsd ' + tag, 'lstsq_gelsd', lambda a, b: torch.linalg.lstsq(a, b, driver='gelsd'),
         [spaced(6, 3, dtype=dt), torch.randn(6, 2, dtype=dt)], {'driver': 'gelsd'})
    case('lstsq wide batched ' + tag, 'lstsq', lambda a, b: torch.linalg.lstsq(a, b),
         [spaced(2, 3, 5, dtype=dt), torch.randn(2, 3, 2, dtype=dt)])
    case('matrix_rank ' + tag, 'matrix_rank', lambda a: torch.linalg.matrix_rank(a.detach()),
         [torch.stack([rankdef, spaced(5, 4, dtype=dt)])])
    # norms
    for ord_ in ('fro', 'nuc', 2, -2, 1, -1, inf, -inf):
        case('matrix_norm %s %s' % (ord_, tag), 'matrix_norm', lambda a: torch.linalg.matrix_norm(a, ord=ord_),
             [spaced(2, 4, 3, dtype=dt)], {'ord': ord_})
    case('matrix_norm dims keepdim ' + tag, 'matrix_norm_dims',
         lambda a: torch.linalg.matrix_norm(a, ord='nuc', dim=(0, 2), keepdim=True),
         [spaced(3, 2, 4, dtype=dt).permute(1, 0, 2).contiguous()], {'ord': 'nuc'})
    case('vector_norm ' + tag, 'vector_norm', lambda a: torch.linalg.vector_norm(a, ord=3, dim=1),
         [torch.randn(3, 4, dtype=dt)], {'ord': 3})
    case('norm matrix 2 ' + tag, 'norm', lambda a: torch.linalg.norm(a, 2), [spaced(4, 3, dtype=dt)], {'ord': 2})
    case('torch.norm nuc ' + tag, 'torch_norm_nuc', lambda a: torch.norm(a, 'nuc'), [spaced(4, 3, dtype=dt)])

write_golden('linalg_decomp.lua', [
    'PyTorch %s golden values for nnlua\'s orthogonal decompositions (qr, eigh, svd, pinv,' % torch.__version__,
    'lstsq, matrix_rank, matrix_norm, vector_norm, norm). Made by tests/golden/gen_linalg_decomp.py;',
    'checked by tests/spec/linalg_decomp_spec.lua. Do not edit.'], CASES)
