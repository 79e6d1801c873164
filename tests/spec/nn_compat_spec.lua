-- The torch.nn names of PyTorch 1.13 that nnlua added for old code and
-- as aliases (nn/functional_extra.lua, nn/legacy.lua, fractional_pool.lua's
-- 3-D pool), against PyTorch 1.13 (tests/golden/gen_nn_compat.py):
-- outputs, 1-based indices and input gradients; float64 gradchecks; the
-- in-place forms' rules; RNNBase as nn.LSTM; SyncBatchNorm and
-- convert_sync_batchnorm; misuse.
local nl = require 'nnlua'
local nn = nl.nn
local F = nn.functional
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/nn_compat.lua')
-- (float32 values are written in 9 digits; indices compared exactly)
local EXACT = { float32 = { 1e-7, 0 }, float64 = { 0, 0 } }
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-13 } }

local function pair(...) return { ... } end

-- the arguments of multi_head_attention_forward from a case's inputs (in
-- the generator's order) and args
local function mha_call(x, a)
  local i = 4
  local function nxt() local t = x[i]; i = i + 1; return t end
  local q, k, v = x[1], x[2], x[3]
  local ipw, qw, kw, vw
  if a.separate then qw, kw, vw = nxt(), nxt(), nxt() else ipw = nxt() end
  local ipb = a.bias and nxt() or nil
  local bk, bv
  if a.bias_kv then bk, bv = nxt(), nxt() end
  local ow = nxt()
  local ob = a.bias and nxt() or nil
  local kpm = a.kpm and nxt() or nil
  local mask = a.mask and nxt() or nil
  return pair(F.multi_head_attention_forward(q, k, v, a.embed_dim, a.num_heads, ipw, ipb, bk, bv, a.add_zero_attn, 0,
    ow, ob, true, kpm, a.need_weights, mask, a.separate, qw, kw, vw, nil, nil, a.average))
end

local OPS = {
  fractional_max_pool3d = function(x, a)
    return pair(F.fractional_max_pool3d(x[1], a.kernel_size, { output_size = a.output_size,
      output_ratio = a.output_ratio, return_indices = true, _random_samples = x[2] }))
  end,
  max_pool1d_with_indices = function(x, a)
    return pair(F.max_pool1d_with_indices(x[1], a.kernel_size, a.stride, a.padding))
  end,
  max_pool2d_with_indices = function(x, a)
    return pair(F.max_pool2d_with_indices(x[1], a.kernel_size, a.stride, a.padding, a.dilation))
  end,
  max_pool3d_with_indices = function(x, a)
    return pair(F.max_pool3d_with_indices(x[1], a.kernel_size, { stride = a.stride, padding = a.padding,
                                                                 dilation = a.dilation, ceil_mode = a.ceil_mode }))
  end,
  adaptive_max_pool1d_with_indices = function(x, a) return pair(F.adaptive_max_pool1d_with_indices(x[1], a.output_size)) end,
  adaptive_max_pool2d_with_indices = function(x, a) return pair(F.adaptive_max_pool2d_with_indices(x[1], a.output_size)) end,
  adaptive_max_pool3d_with_indices = function(x, a) return pair(F.adaptive_max_pool3d_with_indices(x[1], a.output_size)) end,
  fractional_max_pool2d_with_indices = function(x, a)
    return pair(F.fractional_max_pool2d_with_indices(x[1], a.kernel_size, a.output_size, nil, false,
                                                     nl.tensor(a.samples)))
  end,
  relu_ = function(x) return F.relu_(x[1]) end,
  selu_ = function(x) return F.selu_(x[1]) end,
  elu_ = function(x, a) return F.elu_(x[1], a.alpha) end,
  celu_ = function(x, a) return F.celu_(x[1], { alpha = a.alpha }) end,
  leaky_relu_ = function(x, a) return F.leaky_relu_(x[1], a.negative_slope) end,
  hardtanh_ = function(x, a) return F.hardtanh_(x[1], a.min_val, a.max_val) end,
  rrelu_ = function(x, a) return F.rrelu_(x[1], a.lower, a.upper) end,
  threshold_ = function(x, a) return F.threshold_(x[1], a.threshold, a.value) end,
  upsample = function(x, a) return F.upsample(x[1], a.size, a.scale_factor, a.mode, a.align_corners) end,
  upsample_nearest = function(x, a) return F.upsample_nearest(x[1], a.size, a.scale_factor) end,
  upsample_bilinear = function(x, a) return F.upsample_bilinear(x[1], { size = a.size, scale_factor = a.scale_factor }) end,
  nll_loss2d = function(x, a)
    return nn.NLLLoss2d({ reduction = a.reduction, weight = x[3], ignore_index = a.ignore_index })(x[1], x[2])
  end,
  cross_map_lrn2d = function(x, a) return nn.CrossMapLRN2d(a.size, a.alpha, a.beta, a.k)(x[1]) end,
  rnn_base = function(x, a)
    local m = nn.RNNBase(a.mode, a.sizes[1], a.sizes[2], a.num_layers, a.bias, a.batch_first, 0, a.bidirectional)
    m:double()
    for i, name in ipairs(a.names) do m[name] = x[i + 1] end
    local y, h = m(x[1])
    if type(h) == 'table' and not nl.is_tensor(h) then return { y, h[1], h[2] } end
    return { y, h }
  end,
  sync_batch_norm = function(x, a)
    local m = nn.SyncBatchNorm(x[1]:size(2), { momentum = a.momentum, eps = a.eps })
    m.weight, m.bias = x[2], x[3]
    nl.no_grad(function()
      m.running_mean:copy_(x[4])
      m.running_var:copy_(x[5])
    end)
    return { m(x[1]), m.running_mean, m.running_var }
  end,
  native_channel_shuffle = function(x, a) return F.native_channel_shuffle(x[1], a.groups) end,
  multi_head_attention_forward = mha_call,
}

local function tol_of(c)
  if c.op:match('^fractional') or c.op:match('pool') or c.op == 'native_channel_shuffle' then return EXACT end
  return TOL
end

describe('nn compat names', function()
  S.golden_its(it, golden, OPS, function(c, op) S.check_golden_case(c, op, tol_of(c)) end)

  it('fractional_max_pool3d: the module and the functional forms agree, and samples come from the generator', function()
    for _, c in ipairs(golden) do
      if c.op == 'fractional_max_pool3d' then
        local a = c.args
        local x, s = S.from_golden(c.inputs[1]), S.from_golden(c.inputs[2])
        local m = nn.FractionalMaxPool3d(a.kernel_size, { output_size = a.output_size, output_ratio = a.output_ratio,
                                                          return_indices = true, _random_samples = s })
        local y, i = m(x)
        S.expect_golden(y, c.outs[1], c.name .. ' module', EXACT[x:dtype()])
        S.expect_golden(i, c.outs[2], c.name .. ' module indices')
        local y2, i2 = F.fractional_max_pool3d_with_indices(x, a.kernel_size, a.output_size, a.output_ratio, false, s)
        S.expect_golden(y2, c.outs[1], c.name .. ' _with_indices', EXACT[x:dtype()])
        S.expect_golden(i2, c.outs[2], c.name .. ' _with_indices indices')
        assert.is_true(nl.is_tensor(F.fractional_max_pool3d(x, a.kernel_size, a.output_size, a.output_ratio, false, s)))
      end
    end
    local x = nl.randn(2, 3, 7, 8, 9)
    nl.manual_seed(5)
    local y1, i1 = F.fractional_max_pool3d(x, 2, { output_ratio = 0.5, return_indices = true })
    nl.manual_seed(5)
    local y2 = F.fractional_max_pool3d(x, 2, { output_ratio = 0.5, _random_samples = nl.rand({ 2, 3, 3 }) })
    S.same_bits(y1, y2, 'drawn samples')
    assert.are.same({ 2, 3, 3, 4, 4 }, y1:shape())
    S.same_bits(x:reshape(2, 3, 504):gather(3, i1:reshape(2, 3, 48)):reshape(2, 3, 3, 4, 4), y1, 'values at indices')
  end)

  it('fractional_max_pool3d passes float64 gradchecks', function()
    nl.manual_seed(3)
    local s = nl.rand({ 1, 2, 3 }, 'float64')
    S.gradcheck(function(x) return F.fractional_max_pool3d(x, { 2, 1, 3 }, { output_size = { 3, 4, 2 },
                                                                             _random_samples = s }) end,
                S.randn64(1, 2, 5, 6, 6))
    local s1 = nl.rand({ 1, 2, 3 }, 'float64')
    S.gradcheck(function(x) return nn.FractionalMaxPool3d(2, { output_size = 2, _random_samples = s1 })(x) end,
                S.randn64(2, 4, 4, 4))
  end)

  it('fractional_max_pool3d refuses bad sizes and inputs as PyTorch 1.13', function()
    local op = 'fractional_max_pool3d'
    local x = nl.randn(1, 1, 4, 6, 6)
    -- PyTorch's 3-D kernel wants out + k - 1 < in (its 2-D one takes =)
    S.contains(S.errmsg(F.fractional_max_pool3d, x, 2, { output_size = { 3, 5, 5 } }), op .. ': pool time 2 too large')
    S.contains(S.errmsg(F.fractional_max_pool3d, x, 2, { output_size = { 2, 5, 5 } }), op .. ': pool width 2 too large')
    S.contains(S.errmsg(F.fractional_max_pool3d, nl.randn(4, 6, 6), 2, { output_size = 2 }),
               op .. ': expected input (N, C, T, H, W) or (C, T, H, W), got shape [4,6,6]')
    S.contains(S.errmsg(F.fractional_max_pool3d, x, 2, { output_size = 2, _random_samples = nl.rand(1, 1, 2) }),
               op .. ': _random_samples must be a float32 tensor of shape [1,1,3]')
    S.contains(S.errmsg(F.fractional_max_pool3d, x, { 2, 2 }, { output_size = 2 }), op .. ': kernel_size must be')
    S.contains(S.errmsg(nn.FractionalMaxPool3d, 2), 'FractionalMaxPool3d: requires specifying either')
    S.contains(S.errmsg(F.fractional_max_pool2d_with_indices, nl.randn(1, 1, 4, 4), 2, {}),
               'fractional_max_pool2d_with_indices: requires specifying')
  end)

  it('the *_with_indices pools return the indices whatever return_indices says, and name themselves', function()
    local x = nl.randn(1, 2, 6, 6)
    local y, i = F.max_pool2d_with_indices(x, 2, { return_indices = false })
    local y2, i2 = F.max_pool2d(x, 2, { return_indices = true })
    S.same_bits(y, y2, 'values')
    S.same_bits(i, i2, 'indices')
    -- an empty table: no options (PyTorch's stride=[], the kernel size);
    -- it was taken for a stride, and refused
    local y3, i3 = F.max_pool2d_with_indices(x, 2, {})
    S.same_bits(y3, y2, 'values, {}')
    S.same_bits(i3, i2, 'indices, {}')
    local _, ia = F.adaptive_max_pool2d_with_indices(x, 3, false)
    assert.equals('int64', ia:dtype())
    S.contains(S.errmsg(F.max_pool2d_with_indices, nl.randn(3), 2), 'max_pool2d_with_indices:')
    S.contains(S.errmsg(F.adaptive_max_pool3d_with_indices, nl.randn(3), 2), 'adaptive_max_pool3d_with_indices:')
  end)

  it('the in-place activations change their input, and refuse a tensor that requires grad', function()
    local names = { relu_ = { 'relu' }, selu_ = { 'selu' }, elu_ = { 'elu', 0.5 }, celu_ = { 'celu', 0.5 },
                    leaky_relu_ = { 'leaky_relu', 0.1 }, hardtanh_ = { 'hardtanh', -0.5, 0.5 },
                    rrelu_ = { 'rrelu', 0.1, 0.2 }, threshold_ = { 'threshold', 0.1, 7 } }
    for op, f in pairs(names) do
      local x = nl.randn(4, 5)
      local want = F[f[1]](x, f[2], f[3])
      local r = F[op](x, f[2], f[3])
      assert.equals(x, r, op .. ' returns its input')
      S.same_bits(x, want, op)
      -- a leaf that requires grad, as PyTorch ("a leaf Variable that requires grad is being used in an
      -- in-place operation"); a tensor in a graph too (nnlua records no in-place op)
      local leaf = nl.randn(3):requires_grad()
      S.contains(S.errmsg(F[op], leaf, f[2], f[3]), op .. ': in-place change of a tensor of shape [3] that requires grad')
      S.contains(S.errmsg(F[op], leaf * 2, f[2], f[3]), op .. ': in-place change')
      -- under no_grad it is a plain write
      nl.no_grad(function() F[op](leaf, f[2], f[3]) end)
    end
    -- rrelu_ in training: the slopes drawn as F.rrelu draws them
    local x = nl.randn(50)
    nl.manual_seed(9)
    local want = F.rrelu(x, 0.1, 0.4, true)
    nl.manual_seed(9)
    F.rrelu_(x, { lower = 0.1, upper = 0.4, training = true })
    S.same_bits(x, want, 'rrelu_ training')
    S.contains(S.errmsg(F.threshold_, nl.randn(2), 0.5), "threshold_: expected a number as value")
    S.contains(S.errmsg(F.elu_, nl.randn(2), 1, 2), 'elu_:')
    -- int64: the float-only ones name themselves (leaky_relu_ named
    -- leaky_relu), the others run as 1.13's
    for _, op in ipairs({ 'selu_', 'elu_', 'celu_', 'leaky_relu_', 'rrelu_' }) do
      S.contains(S.errmsg(F[op], nl.tensor({ 1, 2 }, 'int64')), op .. ': expected a float')
    end
    S.contains(S.errmsg(nl.Tensor.leaky_relu_, nl.tensor({ 1, 2 }, 'int64')), 'leaky_relu_: expected a float')
    assert.are.same({ 0, 2 }, F.relu_(nl.tensor({ -1, 2 }, 'int64')):totable())
    assert.are.same({ -1, 1 }, F.hardtanh_(nl.tensor({ -1, 2 }, 'int64')):totable())
    assert.are.same({ 0, 2 }, F.threshold_(nl.tensor({ -1, 2 }, 'int64'), 0, 0):totable())
  end)

  it('upsample forms name themselves in errors', function()
    S.contains(S.errmsg(F.upsample, nl.randn(1, 1, 3, 3), nil, nil, 'bogus'), 'upsample:')
    S.contains(S.errmsg(F.upsample_bilinear, nl.randn(1, 3, 3), { 4 }), 'upsample_bilinear:')
    S.contains(S.errmsg(F.upsample_nearest, nl.randn(1, 1, 3), 4, 2, 1), 'upsample_nearest:')
  end)

  it('native_channel_shuffle has channel_shuffle\'s gradient (float64 gradcheck)', function()
    S.gradcheck(function(x) return F.native_channel_shuffle(x, 2) end, S.randn64(2, 4, 3))
    S.contains(S.errmsg(F.native_channel_shuffle, nl.randn(1, 5, 2), 2), 'native_channel_shuffle:')
  end)

  it('NLLLoss2d is an NLLLoss; CrossMapLRN2d takes 4-D input only', function()
    assert.is_true(nn._is_instance(nn.NLLLoss2d(), { [nn.NLLLoss] = true }))
    S.contains(S.errmsg(nn.CrossMapLRN2d(3), nl.randn(2, 3, 4)),
               'CrossMapLRN2d: expected a 4-D input (N, C, H, W), got shape [2,3,4]')
    S.contains(S.errmsg(nn.CrossMapLRN2d, 0), 'CrossMapLRN2d: size must be')
    S.gradcheck(function(x) return nn.CrossMapLRN2d(2, 0.3, 0.6, 1.5)(x) end, S.randn64(2, 4, 2, 3))
    S.contains(tostring(nn.CrossMapLRN2d(3)), 'CrossMapLRN2d(3, alpha=0.0001, beta=0.75, k=1)')
  end)

  it('Container takes its children by name and has no forward', function()
    local c = nn.Container({ enc = nn.Linear(2, 3), act = nn.ReLU() })
    local names = {}
    for _, kv in ipairs(c:named_children()) do names[#names + 1] = kv[1] end
    assert.are.same({ 'act', 'enc' }, names)
    assert.equals(2, #c:parameters())
    S.contains(S.errmsg(c, nl.randn(2)), 'Container: forward is not implemented')
    S.contains(S.errmsg(nn.Container, { enc = 5 }), 'Container:')
  end)

  it('RNNBase(mode, ...) builds what nn.LSTM, nn.GRU and nn.RNN build, and they are RNNBases', function()
    local pairs_of = { { 'LSTM', nn.LSTM, {} }, { 'GRU', nn.GRU, {} }, { 'RNN_TANH', nn.RNN, {} },
                       { 'RNN_RELU', nn.RNN, { nonlinearity = 'relu' } } }
    local x = nl.randn(4, 2, 3)
    for _, p in ipairs(pairs_of) do
      nl.manual_seed(11)
      local a = nn.RNNBase(p[1], 3, 5, { num_layers = 2, bidirectional = true })
      local o = { num_layers = 2, bidirectional = true }
      for k, v in pairs(p[3]) do o[k] = v end
      nl.manual_seed(11)
      local b = p[2](3, 5, o)
      local na, nb = a:named_parameters(), b:named_parameters()
      assert.equals(#nb, #na)
      for i = 1, #na do
        assert.equals(nb[i][1], na[i][1])
        S.same_bits(na[i][2], nb[i][2], p[1] .. ' ' .. na[i][1])
      end
      S.same_bits(a(x), b(x), p[1] .. ' output')
      assert.is_true(nn._is_instance(b, { [nn.RNNBase] = true }), p[1] .. ' is an RNNBase')
    end
    assert.is_true(nn._is_instance(nn.LSTMCell(2, 3), { [nn.RNNCellBase] = true }))
    assert.is_false(nn._is_instance(nn.LSTMCell(2, 3), { [nn.RNNBase] = true }))
    S.contains(S.errmsg(nn.RNNBase, 'LSTMX', 3, 4), "RNNBase: unrecognized RNN mode 'LSTMX'")
    S.contains(S.errmsg(nn.RNNBase, 'GRU', 3, 4, { proj_size = 2 }), 'RNNBase: proj_size argument is only supported')
    -- a saved RNNBase comes back as one
    local path = os.tmpname()
    local m = nn.RNNBase('GRU', 2, 3, 1, true, true)
    m:save(path)
    local back = nn.load(path)
    os.remove(path)
    local xb = nl.randn(2, 4, 2)
    S.same_bits(back(xb), m(xb), 'loaded RNNBase')
    assert.is_true(back.batch_first)
  end)

  it('RNNCellBase has PyTorch\'s parameters and no forward', function()
    local c = nn.RNNCellBase(3, 4, true, 2)
    assert.are.same({ 8, 3 }, c.weight_ih:shape())
    assert.are.same({ 8, 4 }, c.weight_hh:shape())
    assert.are.same({ 8 }, c.bias_hh:shape())
    assert.is_nil(rawget(nn.RNNCellBase(3, 4, false, 1), 'bias_ih'))
    local bound = 1 / math.sqrt(4)
    assert.is_true(c.weight_ih:abs():max():item() <= bound)
    S.contains(S.errmsg(c, nl.randn(3)), 'RNNCellBase: forward is not implemented')
    S.contains(S.errmsg(nn.RNNCellBase, 3, 4, true, 0), 'RNNCellBase: num_chunks must be a positive whole number')
  end)

  it('SyncBatchNorm is BatchNorm over any rank >= 2; eval uses the running statistics', function()
    local m = nn.SyncBatchNorm(3)
    local x = nl.randn(4, 3, 2, 2, 2, 2)
    local y = m(x)
    -- each channel normalized over every other dim
    local mean = y:transpose(1, 2):reshape(3, -1):mean(2)
    assert.is_true(mean:abs():max():item() < 1e-5)
    m:eval()
    local bn = nn.BatchNorm3d(3)
    bn.running_mean, bn.running_var = m.running_mean, m.running_var
    bn:eval()
    local x5 = nl.randn(2, 3, 2, 2, 2)
    S.same_bits(m(x5), bn(x5), 'eval')
    S.contains(S.errmsg(m, nl.randn(4)), 'SyncBatchNorm: expected input (N, 3, *) of 2 or more dims, got shape [4]')
    S.contains(S.errmsg(nn.SyncBatchNorm, 3, { process_group = 'world' }), 'SyncBatchNorm: process_group must be nil')
    assert.is_false(nn.SyncBatchNorm(2, { momentum = false }).momentum)
  end)

  it('convert_sync_batchnorm swaps every BatchNorm for a SyncBatchNorm with the same tensors', function()
    local model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3),
                                nn.Sequential(nn.Flatten(), nn.BatchNorm1d(12, { momentum = 0.3, affine = false })))
    local bn2, bn1 = model[2], model[3][2]
    bn2:eval()
    local x = nl.randn(2, 2, 4, 4)
    nl.no_grad(function() bn2.running_mean:add_(0.5) end)
    local before = model(x)
    local out = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert.equals(model, out)
    local s2, s1 = model[2], model[3][2]
    assert.equals('SyncBatchNorm', s2.__name)
    assert.equals('SyncBatchNorm', s1.__name)
    assert.equals(bn2.weight, s2.weight)
    assert.equals(bn2.running_mean, s2.running_mean)
    assert.is_false(s2.training)
    assert.is_true(s1.training)
    assert.equals(0.3, s1.momentum)
    assert.is_nil(rawget(s1, 'weight'))
    S.same_bits(model(x), before, 'converted model')
    -- a BatchNorm itself is returned converted
    assert.equals('SyncBatchNorm', nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm3d(2)).__name)
    -- the parameters stay the model's: an optimizer made before still trains them
    local names = {}
    for _, kv in ipairs(model:named_parameters()) do names[#names + 1] = kv[1] end
    assert.are.same({ '0.weight', '0.bias', '1.weight', '1.bias' }, names)
  end)

  it('multi_head_attention_forward takes a table of options and refuses static_k', function()
    local c
    for _, g in ipairs(golden) do if g.name == 'mha_self' then c = g end end
    local x = {}
    for i, t in ipairs(c.inputs) do x[i] = S.from_golden(t) end
    local out, w = F.multi_head_attention_forward(x[1], x[2], x[3], { embed_dim_to_check = 6, num_heads = 2,
      in_proj_weight = x[4], in_proj_bias = x[5], out_proj_weight = x[6], out_proj_bias = x[7] })
    S.expect_golden(out, c.outs[1], 'table form', TOL.float32)
    S.expect_golden(w, c.outs[2], 'table form weights', TOL.float32)
    S.contains(S.errmsg(F.multi_head_attention_forward, x[1], x[2], x[3], { embed_dim_to_check = 6, num_heads = 2,
      in_proj_weight = x[4], out_proj_weight = x[6], static_k = x[1] }), 'multi_head_attention_forward: static_k')
    S.contains(S.errmsg(F.multi_head_attention_forward, x[1], x[2], x[3], 8, 2, x[4], nil, nil, nil, false, 0, x[6]),
               'multi_head_attention_forward: was expecting embedding dimension of 8, but got 6')
    S.contains(S.errmsg(F.multi_head_attention_forward, x[1], x[2]:narrow(2, 1, 1), x[3], 6, 2, x[4], nil, nil, nil,
                        false, 0, x[6]), 'multi_head_attention_forward:')
  end)
end)
