-- torch_ops.lua's torch.* functions: values, every member of the tuple
-- returns and the inputs' gradients against PyTorch 1.13
-- (tests/golden/torch_ops.lua, made by tests/golden/gen_torch_ops.py);
-- float64 finite differences where PyTorch 1.13 has no derivative (ormqr);
-- the random ones (dropouts, svd_lowrank, pca_lowrank) by what they must
-- give; bad arguments by their messages.
local S = require 'support'
local nl = require 'nnlua'

local cases = dofile(S.root .. '/tests/golden/torch_ops.lua')
local TOL = { float32 = { 2e-4, 2e-5 }, float64 = { 1e-9, 1e-11 } }

-- eigenvector columns with a nonnegative largest-magnitude entry, as the
-- generator writes them
local function signed(v)
  local i = v:abs():argmax(-2, true)
  return v * v:gather(-2, i):sign()
end

local ops = {
  batch_norm = function(x, a)
    if a.eval then return nl.batch_norm(x[1], x[2], x[3], x[4], x[5], false, 0.1, 1e-3, false) end
    return nl.batch_norm(x[1], x[2], x[3], nl.zeros(3), nl.ones(3), true, 0.1, 1e-5, false)
  end,
  instance_norm = function(x) return nl.instance_norm(x[1], x[2], x[3], nil, nil, true, 0.1, 1e-5, false) end,
  embedding = function(x, a) return nl.embedding(x[1], x[2], a.padding_idx) end,
  embedding_bag = function(x, a) return nl.embedding_bag(x[1], x[2], x[3], false, a.mode, false, x[4], a.last, a.pad) end,
  kl_div = function(x, a) return nl.kl_div(x[1], x[2], a.reduction, a.log_target) end,
  ctc_loss = function(x, a) return nl.ctc_loss(x[1]:log_softmax(3), x[2], a.il, a.tl, a.blank, a.reduction) end,
  cosine_embedding_loss = function(x, a)
    return nl.cosine_embedding_loss(x[1], x[2], nl.tensor(a.y), a.margin, a.reduction)
  end,
  hinge_embedding_loss = function(x, a) return nl.hinge_embedding_loss(x[1], nl.tensor(a.y), a.margin, a.reduction) end,
  margin_ranking_loss = function(x, a) return nl.margin_ranking_loss(x[1], x[2], nl.tensor(a.y), a.margin) end,
  poisson_nll_loss = function(x, a)
    return nl.poisson_nll_loss(x[1], x[2], a.log_input, a.full, a.eps or 1e-8, a.reduction)
  end,
  triplet_margin_loss = function(x, a)
    return nl.triplet_margin_loss(x[1], x[2], x[3], a.margin, a.p, 1e-6, a.swap, a.reduction)
  end,
  binary_cross_entropy_with_logits = function(x, a)
    return nl.binary_cross_entropy_with_logits(x[1], x[2], x[3], x[4], a.reduction)
  end,
  constant_pad_nd = function(x, a) return nl.constant_pad_nd(x[1], a.pad, a.value) end,
  convolution = function(x, a)
    return nl.convolution(x[1], x[2], x[3], a.stride, a.padding, a.dilation, a.transposed, a.output_padding, a.groups)
  end,
  conv_tbc = function(x, a) return nl.conv_tbc(x[1], x[2], x[3], a.pad) end,
  grid_sampler = function(x, a) return nl[a.which](x[1], x[2], a.mode, a.pad, a.ac) end,
  affine_grid_generator = function(x, a) return nl.affine_grid_generator(x[1], a.size, false) end,
  max_pool1d_with_indices = function(x, a)
    return { nl.max_pool1d_with_indices(x[1], a.k, a.stride, a.padding, a.dilation, a.ceil) }
  end,
  adaptive_max_pool1d = function(x, a) return { nl.adaptive_max_pool1d(x[1], a.n) } end,
  frobenius_norm = function(x, a) return nl.frobenius_norm(x[1], a.dim, a.keepdim) end,
  nuclear_norm = function(x, a)
    if a.dim then return nl.nuclear_norm(x[1], a.dim, a.keepdim) end
    return nl.nuclear_norm(x[1])
  end,
  norm_except_dim = function(x, a) return nl.norm_except_dim(x[1], a.pow, a.dim) end,
  native_layer_norm = function(x, a) return { nl.native_layer_norm(x[1], a.shape, x[2], x[3], 1e-5) } end,
  native_batch_norm = function(x, a)
    if a.training then return { nl.native_batch_norm(x[1], x[2], x[3], nl.zeros(3), nl.ones(3), true, 0.1, 1e-5) } end
    return { nl.native_batch_norm(x[1], x[2], x[3], x[4], x[5], false, 0.1, 1e-5) }
  end,
  native_group_norm = function(x) return { nl.native_group_norm(x[1], x[2], x[3], 2, 4, 6, 2, 1e-5) } end,
  lstm_cell = function(x) return { nl.lstm_cell(x[1], { x[2], x[3] }, x[4], x[5], x[6], x[7]) } end,
  gru_cell = function(x) return nl.gru_cell(x[1], x[2], x[3], x[4], x[5], x[6]) end,
  rnn_tanh_cell = function(x) return nl.rnn_tanh_cell(x[1], x[2], x[3], x[4], x[5], x[6]) end,
  rnn_relu_cell = function(x) return nl.rnn_relu_cell(x[1], x[2], x[3], x[4]) end,
  lstm = function(x, a)
    local p = {}
    for i = 4, #x do p[#p + 1] = x[i] end
    return { nl.lstm(x[1], { x[2], x[3] }, p, a.has_biases, a.layers, 0, false, a.bidir, a.batch_first) }
  end,
  gru = function(x, a)
    local p = {}
    for i = 3, #x do p[#p + 1] = x[i] end
    return { nl.gru(x[1], x[2], p, a.has_biases, a.layers, 0, false, a.bidir, a.batch_first) }
  end,
  rnn_tanh = function(x, a)
    local p = {}
    for i = 3, #x do p[#p + 1] = x[i] end
    return { nl.rnn_tanh(x[1], x[2], p, a.has_biases, a.layers, 0, false, a.bidir, a.batch_first) }
  end,
  rnn_relu = function(x, a)
    local p = {}
    for i = 3, #x do p[#p + 1] = x[i] end
    return { nl.rnn_relu(x[1], x[2], p, a.has_biases, a.layers, 0, false, a.bidir, a.batch_first) }
  end,
  lobpcg = function(x, a)
    local E, X = nl.lobpcg(x[1], a.k, nil, nil, nil, nil, nil, 1e-10, a.largest)
    if a.vectors then return { E, signed(X) } end
    return E
  end,
  lu = function(x, a) return { nl.lu(x[1], true, a.get_infos) } end,
  lu_solve = function(x) return nl.lu_solve(x[1], nl.lu(x[2])) end,
  lu_unpack = function(x, a)
    local lu, piv = nl.lu(x[1])
    return { nl.lu_unpack(lu, piv, a.data) }
  end,
  triangular_solve = function(x, a) return { nl.triangular_solve(x[1], x[2], a.upper, a.transpose, a.unitriangular) } end,
  symeig = function(x, a)
    if not a.eigenvectors then return { nl.symeig(x[1] + x[1]:transpose(-1, -2)) } end
    local L, V = nl.symeig(x[1], true, a.upper)
    return { L, signed(V) }
  end,
  geqrf = function(x) return { nl.geqrf(x[1]) } end,
  orgqr = function(x) return nl.orgqr(x[1], x[2]) end,
  ormqr = function(x, a) return nl.ormqr(x[1], x[2], x[3], a.left, a.transpose) end,
}

describe("torch_ops' torch.* functions against PyTorch 1.13", function()
  -- (lobpcg's vectors to its residual tolerance, 1e-10, over the eigengaps)
  local LOBPCG_TOL = { float64 = { 1e-7, 1e-8 } }
  S.golden_its(it, cases, ops, function(c, op) S.check_method_case(c, op, c.op == 'lobpcg' and LOBPCG_TOL or TOL) end)
end)

describe('torch_ops without goldens', function()
  it('ormqr has the gradient of Q C by finite differences (PyTorch 1.13 has none)', function()
    nl.manual_seed(3)
    for _, lt in ipairs({ { true, false }, { false, true } }) do
      local A, tau = S.randn64(4, 3), S.randn64(3)
      local C = lt[1] and S.randn64(4, 2) or S.randn64(2, 4)
      S.gradcheck(function(a, t, c) return nl.ormqr(a, t, c, lt[1], lt[2]) end, A, tau, C)
    end
  end)

  it('ormqr agrees with geqrf and orgqr: Q^T A is R', function()
    nl.manual_seed(4)
    local A = S.randn64(5, 3)
    local a, tau = nl.geqrf(A)
    local R = nl.ormqr(a, tau, A, true, true)
    S.expect_close(R:narrow(1, 1, 3), a:narrow(1, 1, 3):triu(), 'R', 1e-12, 1e-12)
    S.expect_close(R:narrow(1, 4, 2), nl.zeros({ 2, 3 }, 'float64'), 'below R', 0, 1e-12)
    S.expect_close(nl.matmul(nl.orgqr(a, tau), a:narrow(1, 1, 3):triu()), A, 'Q R', 1e-12, 1e-12)
  end)

  it('the cells and lu_unpack pass float64 gradient checks', function()
    nl.manual_seed(5)
    S.gradcheck(function(x, h, c, wi, wh) return nl.lstm_cell(x, { h, c }, wi, wh) end,
                S.randn64(2, 3), S.randn64(2, 2), S.randn64(2, 2), S.randn64(8, 3), S.randn64(8, 2))
    S.gradcheck(function(x, h, wi, wh, b) return nl.gru_cell(x, h, wi, wh, b, b) end,
                S.randn64(2, 3), S.randn64(2, 2), S.randn64(6, 3), S.randn64(6, 2), S.randn64(6))
    S.gradcheck(function(lu) local _, L, U = nl.lu_unpack(lu, nl.tensor({ 1, 2, 3 }, 'int64')) return L + U end,
                S.randn64(3, 3))
  end)

  it('svd_lowrank and pca_lowrank recover a matrix of rank q', function()
    nl.manual_seed(6)
    -- A = U0 diag(5, 3, 1) V0^T, U0 and V0 with orthonormal columns
    local U0 = nl.linalg.qr(S.randn64(12, 3))
    local V0 = nl.linalg.qr(S.randn64(7, 3))
    local A = nl.matmul(U0 * nl.tensor({ 5, 3, 1 }, 'float64'), V0:t())
    local U, Sv, V = nl.svd_lowrank(A, 3)
    assert.are.same({ 12, 3 }, U:shape())
    assert.are.same({ 7, 3 }, V:shape())
    S.expect_close(Sv, nl.tensor({ 5, 3, 1 }, 'float64'), 'singular values', 1e-10, 1e-10)
    S.expect_close(nl.matmul(U * Sv, V:t()), A, 'reconstruction', 1e-10, 1e-10)
    S.expect_close(nl.matmul(U:t(), U), nl.eye(3, 3, 'float64'), 'U orthonormal', 0, 1e-10)
    -- with M: the factors of A - M
    local M = S.randn64(12, 7)
    local _, Sm = nl.svd_lowrank(A + M, 3, 2, M)
    S.expect_close(Sm, nl.tensor({ 5, 3, 1 }, 'float64'), 'with M', 1e-10, 1e-10)
    -- pca: rows of a rank-2 cloud about a mean
    local X = nl.matmul(S.randn64(20, 2), S.randn64(2, 5)) + S.randn64(1, 5) * 10
    local Xc = X - X:mean(1, true)
    local Up, Sp, Vp = nl.pca_lowrank(X, 2)
    S.expect_close(Sp, nl.linalg.svdvals(Xc):narrow(1, 1, 2), 'pca singular values', 1e-10, 1e-10)
    S.expect_close(nl.matmul(Up * Sp, Vp:t()), Xc, 'pca reconstruction', 1e-9, 1e-9)
    assert.are.same({ 5, 5 }, select(3, nl.pca_lowrank(X)):shape())    -- q = min(6, m, n)
  end)

  it('lobpcg finds the extreme eigenpairs of A x = lambda B x and gives the eigenvalues the gradient x x^T', function()
    nl.manual_seed(8)
    local a = S.randn64(30, 30)
    local A = nl.matmul(a, a:t())
    local all, V = nl.linalg.eigh(A)
    local E, X = nl.lobpcg(A, { k = 3, tol = 1e-10 })
    S.expect_close(E, all:narrow(1, 28, 3):flip({ 1 }), 'largest', 1e-10, 1e-10)
    S.expect_close(nl.matmul(X:t(), X), nl.eye(3, 3, 'float64'), 'orthonormal', 0, 1e-10)
    local Es = nl.lobpcg(A, 2, nil, nil, 4, nil, -1, 1e-10, false)
    S.expect_close(Es, all:narrow(1, 1, 2), 'smallest, n = 4, no iteration limit', 1e-8, 1e-10)
    -- generalized: B = L L^T, the eigenvalues of L^-1 A L^-T
    local b = S.randn64(30, 30)
    local B = nl.matmul(b, b:t()) + nl.eye(30, 30, 'float64') * 30
    local Li = nl.linalg.inv(nl.linalg.cholesky(B))
    local Eb, Xb = nl.lobpcg(A, { k = 2, B = B, tol = 1e-10 })
    S.expect_close(Eb, nl.linalg.eigvalsh(nl.matmul(Li, nl.matmul(A, Li:t()))):narrow(1, 29, 2):flip({ 1 }), 'B',
                   1e-10, 1e-10)
    S.expect_close(nl.matmul(Xb:t(), nl.matmul(B, Xb)), nl.eye(2, 2, 'float64'), 'B-orthonormal', 0, 1e-10)
    -- with a preconditioner and a start X
    local Ep = nl.lobpcg(A, { X = S.randn64(30, 2), iK = nl.linalg.inv(A + nl.eye(30, 30, 'float64')), tol = 1e-10 })
    S.expect_close(Ep, all:narrow(1, 29, 2):flip({ 1 }), 'iK and X', 1e-10, 1e-10)
    -- dE_j/dA = x_j x_j^T, symmetric
    local Ag = A:clone():requires_grad()
    local w = nl.tensor({ 2, -1 }, 'float64')
    ;(nl.lobpcg(Ag, { k = 2, tol = 1e-10 }) * w):sum():backward()
    local v1, v2 = V:narrow(2, 30, 1), V:narrow(2, 29, 1)
    S.expect_close(Ag.grad, nl.matmul(v1, v1:t()) * 2 - nl.matmul(v2, v2:t()), 'gradient', 1e-7, 1e-9)
  end)

  it('the dropouts drop what they must, in place where named so', function()
    nl.manual_seed(7)
    local x = nl.ones(64, 8, 5)
    local y = nl.feature_dropout(x, 0.5, true)
    -- whole channels: each (sample, channel) row is all 0 or all 2
    local rows = y:sum(3)
    assert.are.equal(64 * 8, nl.eq(rows, 0):add(nl.eq(rows, 10)):sum():item())
    local kept = nl.eq(rows, 10):sum():item() / (64 * 8)
    assert.is_true(kept > 0.4 and kept < 0.6, tostring(kept))
    assert.are.equal(x, nl.feature_dropout(x, 0.5, false))
    local z = nl.ones(1000)
    assert.are.equal(z, nl.dropout_(z, 0.25, true))
    local zeros = nl.eq(z, 0):sum():item()
    assert.is_true(zeros > 200 and zeros < 300, tostring(zeros))
    S.expect_close(nl.where(nl.eq(z, 0), 4 / 3, z), nl.full({ 1000 }, 4 / 3), 'kept scaled', 1e-6, 0)
    local out, mask = nl.native_dropout(nl.full({ 100 }, 3), 0.5, true)
    S.expect_close(out, mask * 6, 'native_dropout', 1e-6, 0)
    local o2, m2 = nl.native_dropout(nl.full({ 3 }, 3), 0.5, false)
    S.expect_close(o2, nl.full({ 3 }, 3), 'eval output', 0, 0)
    S.expect_close(m2, nl.ones(3), 'eval mask', 0, 0)
    local t = nl.tensor({ -1, 0.5, 2 })
    nl.threshold_(t, 1, -5)
    S.expect_close(t, nl.tensor({ -5, -5, 2 }), 'threshold_', 0, 0)
    local r = nl.tensor({ -4, 2 })
    nl.rrelu_(r, 0.25, 0.25, true)
    S.expect_close(r, nl.tensor({ -1, 2 }), 'rrelu_', 1e-7, 0)
  end)

  it('one value per channel in training: the running mean moves, the running var is NaN, F.* still refuse', function()
    -- (as 1.13's: its unbiased variance of one value is 0/0)
    local rm, rv = nl.zeros(3), nl.ones(3)
    nl.batch_norm(nl.tensor({ { 1, 2, 3 } }), nil, nil, rm, rv, true, 0.1, 1e-5)
    S.expect_close(rm, nl.tensor({ 0.1, 0.2, 0.3 }), 'running_mean', 1e-6, 0)
    for i = 1, 3 do assert.is_true(rv[i] ~= rv[i], 'running_var NaN') end
    local irm, irv = nl.zeros(2), nl.ones(2)
    -- instance_norm's: 0.9 * 0 + 0.1 * the batch's mean of the instances' means
    nl.instance_norm(nl.tensor({ { { 1 }, { 2 } }, { { 3 }, { 5 } } }), nil, nil, irm, irv, true, 0.1, 1e-5)
    S.expect_close(irm, nl.tensor({ 0.2, 0.35 }), 'instance running_mean', 1e-6, 0)
    assert.is_true(irv[1] ~= irv[1], 'instance running_var NaN')
    S.contains(S.errmsg(nl.nn.functional.batch_norm, nl.ones(1, 3), nil, nil, nil, nil, true),
      'batch_norm: training needs more than one value per channel')
    S.contains(S.errmsg(nl.nn.functional.instance_norm, nl.ones(1, 2, 1)),
      'instance_norm: expected more than 1 spatial element when training')
  end)

  it('lu refuses pivot = false as PyTorch on the CPU, and the removed names point at linalg', function()
    S.contains(S.errmsg(nl.lu, nl.eye(2), false), 'lu: LU without pivoting is not implemented')
    S.contains(S.errmsg(nl.solve, nl.ones(2, 1), nl.eye(2)), 'solve: removed in PyTorch 1.9 (1.13 raises too); use nl.linalg.solve(A, B)')
    S.contains(S.errmsg(nl.lstsq, nl.ones(2, 1), nl.eye(2)), 'lstsq: removed')
    S.contains(S.errmsg(nl.matrix_rank, nl.eye(2)), 'use nl.linalg.matrix_rank(A)')
  end)

  it('names the op and the shapes on bad input', function()
    for _, c in ipairs({
      { function() return nl.lstm_cell(nl.ones(2, 3), { nl.ones(2, 4), nl.ones(2, 4) }, nl.ones(15, 3), nl.ones(16, 4)) end,
        'lstm_cell: expected input (N, I), hx (N, H), w_ih (4H, I), w_hh (4H, H) and biases (4H), got input [2,3], hx [2,4], w_ih [15,3]' },
      { function() return nl.lstm_cell(nl.ones(2, 3), nl.ones(2, 4), nl.ones(16, 3), nl.ones(16, 4)) end,
        'lstm_cell: hx must be a list {h, c} of two tensors' },
      { function() return nl.gru_cell(nl.ones(3), nl.ones(4), nl.ones(12, 3), nl.ones(12, 4)) end,
        'gru_cell: expected input (N, I), hx (N, H)' },
      { function() return nl.triangular_solve(nl.ones(4, 2), nl.ones(3, 3)) end,
        'triangular_solve: expected A square (..., n, n) and b (..., n, k), got A [3,3] and b [4,2]' },
      { function() return nl.geqrf(nl.ones(3)) end, 'geqrf: A must be a matrix or a batch of them (..., m, n), got shape [3]' },
      { function() return nl.ormqr(nl.ones(4, 3), nl.ones(3), nl.ones(3, 2)) end,
        'ormqr: A [4,3], tau [3] and C [3,2] do not fit' },
      { function() return nl.lu_unpack(nl.ones(3, 3), nl.ones(3)) end,
        'lu_unpack: LU_pivots must be int64 (..., 3) for LU_data [3,3], got float32 [3]' },
      { function() return nl.conv_tbc(nl.ones(5, 2, 3), nl.ones(3, 4, 4), nl.ones(4)) end,
        'conv_tbc: expected input (T, B, C), weight (k, C, O) and bias (O), got [5,2,3], [3,4,4] and [4]' },
      { function() return nl.convolution(nl.ones(1, 2, 5), nl.ones(3, 2, 3, 3), nil, { 1 }, { 0 }, { 1 }, false, { 0 }, 1) end,
        'convolution: expected input (N, C, *) and weight (O, C/groups, *) of 1 to 3 spatial dims, got input [1,2,5]' },
      { function() return nl.lstm(nl.ones(3, 2, 4), { nl.zeros(1, 2, 2), nl.zeros(1, 2, 2) }, { nl.ones(8, 4) }, false, 1) end,
        'lstm: expected 2 weights (2 per layer and direction), got 1' },
      { function() return nl.gru(nl.ones(3, 2, 4), nl.zeros(2, 2, 2), { nl.ones(6, 4), nl.ones(6, 2) }, false, 1) end,
        'gru: hidden state 1 must be (1, 2, H) for 1 layers, 1 directions and batch 2, got [2,2,2]' },
      { function() return nl.rnn_tanh(nl.ones(3, 2, 4), nl.zeros(1, 2, 2), { nl.ones(2, 3), nl.ones(2, 2) }, false, 1) end,
        'rnn_tanh: expected input (N, I), hx (N, H), w_ih (1H, I)' },
      { function() return nl.gru(nl.ones(2, 0, 4), nl.zeros(1, 2, 2), { nl.ones(6, 4), nl.ones(6, 2) }, false, 1, 0,
                                 false, false, true) end,
        'gru: empty input of shape [2,0,4] (no steps)' },
      { function() return nl.lobpcg(nl.eye(8), 3) end,
        'lobpcg: not applicable when A has fewer rows (8) than 3 x the number of vectors n (3)' },
      { function() return nl.lobpcg(nl.eye(9), { k = 2, B = nl.eye(8) }) end, "lobpcg: B must be a float32 tensor of A's shape [9,9]" },
      { function() return nl.lobpcg(nl.ones(9, 8)) end, 'lobpcg: A must be a square matrix (m, m), got shape [9,8]' },
      { function() return nl.kl_div(nl.ones(2), nl.ones(2), 3) end, 'kl_div: reduction must be 0 (none), 1 (mean) or 2 (sum), got 3' },
      { function() return nl.grid_sampler_2d(nl.ones(1, 1, 2, 2, 2), nl.ones(1, 1, 1, 1, 3), 0, 0, false) end,
        'grid_sampler_2d: expected a 4-D input, got shape [1,1,2,2,2]' },
      { function() return nl.grid_sampler(nl.ones(1, 1, 2, 2), nl.ones(1, 1, 1, 2), 3, 0, false) end,
        'grid_sampler: interpolation_mode must be 0 (bilinear), 1 (nearest) or 2 (bicubic), got 3' },
      { function() return nl.native_group_norm(nl.ones(2, 4, 3), nil, nil, 2, 4, 4, 2, 1e-5) end,
        'native_group_norm: N 2, C 4 and HxW 4 do not describe the input [2,4,3]' },
      { function() return nl.norm_except_dim(nl.ones(2, 3), 2, 3) end, 'norm_except_dim: dim must be a dim of v [2,3]' },
      { function() return nl.nuclear_norm(nl.ones(2, 3, 4)) end, 'nuclear_norm: expected a 2-D input without dims, got shape [2,3,4]' },
      { function() return nl.svd_lowrank(nl.ones(4, 3), 5) end, 'svd_lowrank: q must be an integer in 1..min(m, n) = 3 for A [4,3], got 5' },
      { function() return nl.symeig(nl.ones(2, 3), true) end, 'symeig:' },
      { function() return nl.embedding_bag(nl.ones(3, 2), nl.tensor({ 1 }, 'int64'), nl.tensor({ 1 }, 'int64'), false, 4) end,
        'embedding_bag: mode must be 0 (sum), 1 (mean) or 2 (max), got 4' },
      { function() return nl.batch_norm(nl.ones(2, 3), nil, nil, nl.zeros(4), nl.ones(4), true, 0.1, 1e-5, false, 1) end,
        'batch_norm:' },
    }) do
      S.contains(S.errmsg(c[1]), c[2])
    end
  end)
end)

-- nl.lstm with projections (h0 of proj_size, c0 of hidden_size; w_hr last
-- in each layer and direction), against PyTorch 1.13
-- (tests/golden/lstm_proj.lua, made by tests/golden/gen_lstm_proj.py)
describe('nl.lstm with projections', function()
  local proj_cases = dofile(S.root .. '/tests/golden/lstm_proj.lua')
  S.golden_its(it, proj_cases, { lstm = ops.lstm }, function(c, op) S.check_method_case(c, op, TOL) end)

  -- x (T, N, I), the flat weights of an LSTM(I, H, proj_size = P), L layers, D directions
  local function flat(I, H, P, L, D, bias)
    local ps = {}
    for l = 1, L do
      for _ = 1, D do
        ps[#ps + 1] = S.randn64(4 * H, l == 1 and I or D * P) * 0.5
        ps[#ps + 1] = S.randn64(4 * H, P) * 0.5
        if bias then
          ps[#ps + 1] = S.randn64(4 * H) * 0.5
          ps[#ps + 1] = S.randn64(4 * H) * 0.5
        end
        ps[#ps + 1] = S.randn64(P, H) * 0.5
      end
    end
    return ps
  end

  it('passes float64 gradient checks through output, h_n and c_n, and a second-order one', function()
    nl.manual_seed(11)
    local ps = flat(2, 3, 2, 1, 2, true)
    local function f(x, h0, c0, ...)
      local out, hn, cn = nl.lstm(x, { h0, c0 }, { ... }, true, 1, 0, false, true, false)
      return out:sum() + (hn * hn):sum() + (cn * cn * cn):sum()
    end
    S.gradcheck(f, S.randn64(3, 2, 2), S.randn64(2, 2, 2), S.randn64(2, 2, 3), unpack(ps))
    -- the second derivative along v by finite differences of the first
    local x, h0, c0 = S.randn64(2, 1, 2), S.randn64(2, 1, 2), S.randn64(2, 1, 3)
    local v = S.randn64(2, 1, 2)
    local function grad_dot(xx)
      xx = xx:detach():requires_grad()
      local g = nl.autograd.grad(f(xx, h0, c0, unpack(ps)), { xx }, { create_graph = true })[1]
      return g, (g * v):sum(), xx
    end
    local _, gv, xx = grad_dot(x)
    local hvp = nl.autograd.grad(gv, { xx })[1]
    local e = 1e-6
    local fd = (grad_dot(x + v * e) - grad_dot(x - v * e)) / (2 * e)
    S.expect_close(hvp, fd, 'Hessian-vector product', 1e-5, 1e-7)
  end)

  it('gives the values of nn.LSTM with proj_size on its weights', function()
    nl.manual_seed(12)
    local m = nl.nn.LSTM(3, 4, { num_layers = 2, proj_size = 2, bidirectional = true, batch_first = true }):double()
    local ps = {}
    for _, p in ipairs(m:parameters()) do ps[#ps + 1] = p end
    local x, h0, c0 = S.randn64(2, 5, 3), S.randn64(4, 2, 2), S.randn64(4, 2, 4)
    local out, hc = m(x, { h0, c0 })
    local fout, fh, fc = nl.lstm(x, { h0, c0 }, ps, true, 2, 0, false, true, true)
    S.expect_close(fout, out, 'output', 1e-12, 1e-12)
    S.expect_close(fh, hc[1], 'h_n', 1e-12, 1e-12)
    S.expect_close(fc, hc[2], 'c_n', 1e-12, 1e-12)
  end)

  it('names the op and the shapes on bad weights', function()
    local x, h0, c0 = nl.ones(3, 2, 4), nl.zeros(1, 2, 2), nl.zeros(1, 2, 3)
    local w = { nl.ones(12, 4), nl.ones(12, 2), nl.ones(12), nl.ones(12), nl.ones(2, 3) }
    S.contains(S.errmsg(nl.lstm, x, { h0, c0 }, { w[1], w[2], w[3], w[4] }, true, 1),
      'lstm: expected 5 weights (5 per layer and direction, w_hr last: h0 [1,2,2] and c0 [1,2,3] have projections), got 4')
    S.contains(S.errmsg(nl.lstm, x, { h0, c0 }, { w[1], w[2], w[3], w[4], nl.ones(3, 2) }, true, 1),
      'lstm: with projections (h0 of size P = 2, c0 of H = 3) layer and direction 1 expects w_ih (4H, I), w_hh (4H, P), '
      .. 'biases (4H) and w_hr (P, H), got input [2,4], w_ih [12,4], w_hh [12,2], b_ih [12], b_hh [12], w_hr [3,2]')
    S.contains(S.errmsg(nl.lstm, x, { h0, c0 }, { w[1], nl.ones(12, 3), w[5] }, false, 1),
      'got input [2,4], w_ih [12,4], w_hh [12,3], w_hr [2,3]')
    S.contains(S.errmsg(nl.lstm, x, { h0, nl.zeros(1, 3, 3) }, w, true, 1),
      'lstm: hidden state 2 must be (1, 2, H) for 1 layers, 1 directions and batch 2, got [1,3,3]')
  end)
end)
