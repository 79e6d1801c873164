-- nn layers, a small MLP and the losses against PyTorch golden values
-- (STYLE 12): tests/golden/nn.lua, made by tests/golden/gen_nn.py. Each layer
-- gets PyTorch's weights (copy_ under no_grad, or load_state_dict with
-- PyTorch's state-dict names for the Sequential MLPs), then its forward
-- output, the gradients of (out * w):sum() for the input and every
-- parameter, and for BatchNorm1d the running statistics after the step.
-- Tolerance: |got - want| <= RTOL * |want| + ATOL elementwise (RTOL 1e-5,
-- ATOL 1e-6), float32; 1e-10 and 1e-12 for the float64 loss cases;
-- shapes must match exactly. Losses marked strided get their tensors as
-- non-contiguous views.
-- The second half checks the module API: parameter names and order,
-- state dicts, train/eval, printing, Sequential, nn.init, error messages.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local RTOL, ATOL = 1e-5, 1e-6

local golden = dofile(S.root .. '/tests/golden/nn.lua')

local from_golden = S.from_golden
local flat = S.flat

-- got equals want within the tolerances (rtol, atol: this file's by default)
local function expect_close(got, want, what, rtol, atol)
  S.expect_close(got, want, what, rtol or RTOL, atol or ATOL)
end

local names_of = S.names_of

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- the message of the error f(...) raises; fails the test when none is raised
local error_of, has = S.errmsg, S.contains

-- ---- layers ------------------------------------------------------------------

-- golden kind -> the nnlua module (a = args, o = opts as in nn.lua)
local build = {
  Linear     = function(a, o) return nn.Linear(a[1], a[2], o) end,
  ReLU       = function() return nn.ReLU() end,
  Sigmoid    = function() return nn.Sigmoid() end,
  Tanh       = function() return nn.Tanh() end,
  GELU       = function() return nn.GELU() end,
  SiLU       = function() return nn.SiLU() end,
  LeakyReLU  = function(a) return nn.LeakyReLU(a[1]) end,
  Softmax    = function(a) return nn.Softmax(a[1]) end,
  LogSoftmax = function(a) return nn.LogSoftmax(a[1]) end,
  BatchNorm1d = function(a, o) return nn.BatchNorm1d(a[1], o) end,
  LayerNorm  = function(a) return nn.LayerNorm(a[1]) end,
  Embedding  = function(a) return nn.Embedding(a[1], a[2]) end,
  Flatten    = function(a) return nn.Flatten(a[1], a[2]) end,
  Dropout    = function(a) return nn.Dropout(a[1]) end,
  MLP        = function()
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
  end,
  MLP_BN     = function(_, o)
    return nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.GELU(), nn.Dropout(o.dropout_p), nn.Linear(6, 2))
  end,
}
-- these take PyTorch's state dict through load_state_dict; the rest copy_
local via_state_dict = { MLP = true, MLP_BN = true }

-- the tensor of m called name ("weight", "running_mean", "2.bias", ...),
-- itself (keep_vars: its grad is read)
local function tensor_named(m, name)
  local sd = m:state_dict({ keep_vars = true })
  assert.is_true(nl.is_tensor(sd[name]), 'module has no tensor named ' .. name)
  return sd[name]
end

-- a fresh module for case c with PyTorch's parameters and buffers, in c's mode
local function make(c) return S.golden_module(c, build, via_state_dict) end

local function input_of(c, with_grad)
  local x = from_golden(c.input)
  if with_grad and x:dtype() ~= 'int64' then x:requires_grad() end
  return x
end

describe('nn layers against PyTorch golden values', function()
  it('has a builder for every golden layer kind and a golden case for every builder', function()
    local seen = {}
    for _, c in ipairs(golden.layers) do
      assert.is_function(build[c.kind], 'no nnlua module for golden kind ' .. c.kind)
      seen[c.kind] = true
    end
    for kind in pairs(build) do assert.is_true(seen[kind], 'no golden case for ' .. kind) end
  end)

  for _, c in ipairs(golden.layers) do
    it(c.name .. ': parameter and state-dict names are PyTorch\'s', function()
      local m = make(c)
      assert.are.same(c.params, names_of(m:named_parameters()))
      local want = {}
      for _, s in ipairs(c.state) do want[#want + 1] = s.name end
      table.sort(want)
      assert.are.same(want, sorted_keys(m:state_dict()))
    end)

    it(c.name .. ': forward (' .. c.mode .. ' mode)', function()
      local m = make(c)
      local out = m(input_of(c, false))
      expect_close(out, c.out, c.name .. ' out')
      if c.after then
        for _, s in ipairs(c.after) do expect_close(tensor_named(m, s.name), s.t, c.name .. ' ' .. s.name .. ' after the step') end
      elseif c.mode == 'eval' then
        -- eval mode leaves running statistics alone
        for _, s in ipairs(c.state) do
          if not s.name:match('weight$') and not s.name:match('bias$') then
            expect_close(tensor_named(m, s.name), s.t, c.name .. ' ' .. s.name .. ' (unchanged in eval)')
          end
        end
      end
    end)

    it(c.name .. ': backward', function()
      local m = make(c)
      local x = input_of(c, true)
      local out = m(x)
      expect_close(out, c.out, c.name .. ' out (with grad)')
      ;(out * from_golden(c.w)):sum():backward()
      if c.grad_input then
        assert.is_not_nil(x.grad, c.name .. ': the input has no grad')
        expect_close(x.grad, c.grad_input, c.name .. ' grad of the input')
      end
      for _, g in ipairs(c.grads) do
        local p = tensor_named(m, g.name)
        assert.is_not_nil(p.grad, c.name .. ': ' .. g.name .. ' has no grad')
        expect_close(p.grad, g.t, c.name .. ' grad of ' .. g.name)
      end
    end)
  end

  it('Dropout in eval mode returns its input unchanged, and drops about p of it in training', function()
    local d = nn.Dropout(0.5)
    local x = nl.randn(200, 50)
    d:eval()
    assert.are.same(flat(x), flat(d(x)))
    d:train()
    local y = flat(d(x))
    local xs, zeros = flat(x), 0
    for i = 1, #y do
      if y[i] == 0 then zeros = zeros + 1
      else assert.is_true(S.close(y[i], 2 * xs[i], 1e-6, 0), 'kept values are scaled by 1/(1-p)') end
    end
    assert.is_true(math.abs(zeros / #y - 0.5) < 0.02, 'dropped fraction ' .. zeros / #y)
  end)
end)

-- ---- losses ----------------------------------------------------------------------

local losses = {
  MSELoss             = { nn.MSELoss, nn.functional.mse_loss },
  L1Loss              = { nn.L1Loss, nn.functional.l1_loss },
  HuberLoss           = { nn.HuberLoss, nn.functional.huber_loss },
  CrossEntropyLoss    = { nn.CrossEntropyLoss, nn.functional.cross_entropy },
  NLLLoss             = { nn.NLLLoss, nn.functional.nll_loss },
  BCELoss             = { nn.BCELoss, nn.functional.binary_cross_entropy },
  BCEWithLogitsLoss   = { nn.BCEWithLogitsLoss, nn.functional.binary_cross_entropy_with_logits },
  SmoothL1Loss        = { nn.SmoothL1Loss, nn.functional.smooth_l1_loss },
  KLDivLoss           = { nn.KLDivLoss, nn.functional.kl_div },
  HingeEmbeddingLoss  = { nn.HingeEmbeddingLoss, nn.functional.hinge_embedding_loss },
  SoftMarginLoss      = { nn.SoftMarginLoss, nn.functional.soft_margin_loss },
  PoissonNLLLoss      = { nn.PoissonNLLLoss, nn.functional.poisson_nll_loss },
  MultiMarginLoss     = { nn.MultiMarginLoss, nn.functional.multi_margin_loss },
  GaussianNLLLoss     = { nn.GaussianNLLLoss, nn.functional.gaussian_nll_loss },
  TripletMarginLoss   = { nn.TripletMarginLoss, nn.functional.triplet_margin_loss },
  -- the golden record's order is input, target, third; these take the
  -- target last, as PyTorch's
  MarginRankingLoss   = { nn.MarginRankingLoss, nn.functional.margin_ranking_loss, target_last = true },
  CosineEmbeddingLoss = { nn.CosineEmbeddingLoss, nn.functional.cosine_embedding_loss, target_last = true },
}

-- t with its values in memory of other strides: a transpose of a
-- transposed copy where its first and last dims are longer than 1, else
-- every other element of t and a copy stacked beside it; a tensor of one
-- element as it is
local function strided(t)
  local d = t:dim()
  if t:numel() <= 1 then return t end
  local s
  if d >= 2 and t:size(1) > 1 and t:size(d) > 1 then s = t:transpose(1, d):contiguous():transpose(1, d)
  else s = nl.stack({ t, t }, d + 1):select(d + 1, 1) end
  assert.is_false(s:is_contiguous())
  return s
end

describe('losses against PyTorch golden values', function()
  it('has a module and a functional form for every golden loss, and a case for each', function()
    local seen = {}
    for _, c in ipairs(golden.losses) do
      assert.is_table(losses[c.kind], 'no nnlua loss for golden kind ' .. c.kind)
      assert.is_function(losses[c.kind][2], 'no nn.functional form of ' .. c.kind)
      seen[c.kind] = true
    end
    for kind in pairs(losses) do assert.is_true(seen[kind], 'no golden case for ' .. kind) end
  end)

  for _, c in ipairs(golden.losses) do
    -- float64 cases, written to 17 digits, to what float64 rounding leaves
    local rtol, atol = RTOL, ATOL
    if c.dtype == 'float64' then rtol, atol = 1e-10, 1e-12 end
    local function prepare(x)
      if c.pre == 'log_softmax' then return x:log_softmax(2) end
      return x
    end
    -- the options, with those that are tensors (weights) made tensors
    local function options()
      local o = {}
      for k, v in pairs(c.opts) do o[k] = v end
      for k, v in pairs(c.topts or {}) do o[k] = from_golden(v) end
      return o
    end
    -- the case's tensors (input, target, third), views of other strides for a strided case
    local function args()
      local out = {}
      for i, k in ipairs({ 'input', 'target', 'third' }) do
        out[i] = c[k] and from_golden(c[k])
        if out[i] and c.strided then out[i] = strided(out[i]) end
      end
      return out
    end
    -- the call in the loss's own order
    local function call(fn, a, ...)
      if losses[c.kind].target_last then return fn(a[1], a[3], a[2], ...) end
      if a[3] then return fn(a[1], a[2], a[3], ...) end
      return fn(a[1], a[2], ...)
    end

    it(c.name .. ': module value and gradients', function()
      local a = args()
      a[1]:requires_grad()
      if c.grad_target then a[2]:requires_grad() end
      if c.grad_third then a[3]:requires_grad() end
      local x = a[1]
      a[1] = prepare(x)
      local crit = losses[c.kind][1](options())
      local out = call(function(...) return crit(...) end, a)
      expect_close(out, c.out, c.name .. ' loss', rtol, atol)
      if c.w then out = (out * from_golden(c.w)):sum() end
      out:backward()
      assert.is_not_nil(x.grad, c.name .. ': the input has no grad')
      expect_close(x.grad, c.grad_input, c.name .. ' grad of the input', rtol, atol)
      if c.grad_target then expect_close(a[2].grad, c.grad_target, c.name .. ' grad of the target', rtol, atol) end
      if c.grad_third then expect_close(a[3].grad, c.grad_third, c.name .. ' grad of the third tensor', rtol, atol) end
    end)

    it(c.name .. ': nn.functional value', function()
      local a = args()
      a[1] = prepare(a[1])
      local out = call(losses[c.kind][2], a, options())
      expect_close(out, c.out, c.name .. ' functional loss', rtol, atol)
    end)
  end
end)

-- ---- module API --------------------------------------------------------------------

local Net = nn.Module:extend('Net')
function Net:init(d_in, d_hidden, d_out)
  self.encoder = nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_hidden))
  self.norm = nn.BatchNorm1d(d_hidden)
  self.drop = nn.Dropout(0.5)
  self.head = nn.Linear(d_hidden, d_out)
  self.scale = nl.ones(d_out):requires_grad()
end
function Net:forward(x)
  return self.head(self.drop(self.norm(self.encoder(x)))) * self.scale
end

local NET_NAMES = { 'encoder.0.weight', 'encoder.0.bias', 'encoder.2.weight', 'encoder.2.bias',
                    'norm.weight', 'norm.bias', 'head.weight', 'head.bias', 'scale' }
local NET_SHAPES = { { 8, 4 }, { 8 }, { 8, 8 }, { 8 }, { 8 }, { 8 }, { 3, 8 }, { 3 }, { 3 } }
local NET_COUNT = 4 * 8 + 8 + 8 * 8 + 8 + 8 + 8 + 8 * 3 + 3 + 3   -- 158

describe('nn.Module API', function()
  it('named_parameters of a nested custom module: dotted names in assignment order, Sequential children from 0', function()
    local net = Net(4, 8, 3)
    local np = net:named_parameters()
    assert.are.same(NET_NAMES, names_of(np))
    for i, kv in ipairs(np) do
      assert.are.same(NET_SHAPES[i], kv[2]:shape(), kv[1] .. ' shape')
      assert.is_true(kv[2].is_requires_grad, kv[1] .. ' requires grad')
    end
  end)

  -- a module used twice (tied weights): its tensors once in parameters(),
  -- as PyTorch's, so the count is right and an optimizer takes the list
  -- (it refused it: 'a parameter appears more than once'); the state dict
  -- keeps both names, as PyTorch's does
  it('parameters() lists a shared module\'s tensors once', function()
    local l = nn.Linear(2, 2)
    local m = nn.Sequential(l, nn.ReLU(), l)
    assert.are.equal(2, #m:parameters())
    assert.are.same({ '0.weight', '0.bias' }, names_of(m:named_parameters()))
    assert.are.equal(6, m:num_parameters())
    assert.are.equal(3, #m:modules())                  -- the Sequential, l, the ReLU
    assert.are.same({ '0.bias', '0.weight', '2.bias', '2.weight' }, sorted_keys(m:state_dict()))
    local opt = nl.optim.SGD(m:parameters(), { lr = 0.1 })
    -- positive weights and inputs: the ReLU passes everything (a random
    -- draw could block it all, and the step then changed nothing)
    nl.no_grad(function() l.weight:copy_(nl.tensor({ { 0.5, 0.25 }, { 0.125, 1 } })); l.bias:fill_(0.1) end)
    local before = flat(l.weight)
    opt:zero_grad()
    m(nl.ones(3, 2)):sum():backward()
    opt:step()
    assert.are_not.same(before, flat(l.weight))
  end)

  it('parameters() holds the model\'s own tensors, one per parameter', function()
    local net = Net(4, 8, 3)
    local ps = net:parameters()
    assert.are.equal(#NET_NAMES, #ps)
    assert.are.equal(NET_COUNT, net:num_parameters())
    -- writing through parameters() changes the model: all zero -> output zero
    nl.no_grad(function() for _, p in ipairs(ps) do p:fill_(0) end end)
    net:eval()
    local y = flat(net(nl.randn(5, 4)))
    for i = 1, #y do assert.are.equal(0, y[i]) end
  end)

  it('state_dict holds parameters and buffers, and load_state_dict copies them into another model', function()
    local net = Net(4, 8, 3)
    local sd = net:state_dict()
    local want = {}
    for _, n in ipairs(NET_NAMES) do want[#want + 1] = n end
    for _, n in ipairs({ 'norm.running_mean', 'norm.running_var', 'norm.num_batches_tracked' }) do want[#want + 1] = n end
    table.sort(want)
    assert.are.same(want, sorted_keys(sd))
    net(nl.randn(6, 4))     -- a training step moves the running statistics
    local other = Net(4, 8, 3)
    other:load_state_dict(net:state_dict())
    net:eval(); other:eval()
    local x = nl.randn(5, 4)
    assert.are.same(flat(net(x)), flat(other(x)))
    assert.are.same(flat(net.norm.running_var), flat(other.norm.running_var))
    assert.are.equal(1, other.norm.num_batches_tracked:item())
  end)

  it('load_state_dict takes PyTorch\'s names for nn.Sequential ("0.weight", "2.bias")', function()
    local seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    seq:load_state_dict({
      ['0.weight'] = nl.tensor({ 1, 0, 0, 1, 1, 1 }):view(3, 2),
      ['0.bias'] = nl.tensor({ 0, 0, -10 }),
      ['2.weight'] = nl.tensor({ 1, 2, 3 }):view(1, 3),
      ['2.bias'] = nl.tensor({ 0.5 }),
    })
    -- x = (1, 2): hidden relu(1, 2, -7) = (1, 2, 0); out = 1 + 4 + 0 + 0.5
    assert.are.equal(5.5, seq(nl.tensor({ { 1, 2 } })):item())
  end)

  it('load_state_dict errors on a missing key, naming it', function()
    local net = Net(4, 8, 3)
    local sd = net:state_dict()
    sd['head.bias'] = nil
    local msg = error_of(function() Net(4, 8, 3):load_state_dict(sd) end)
    has(msg, 'head.bias'); has(msg, 'missing')
  end)

  it('load_state_dict errors on an unexpected key, naming it', function()
    local sd = Net(4, 8, 3):state_dict()
    sd['extra.weight'] = nl.zeros(2)
    local msg = error_of(function() Net(4, 8, 3):load_state_dict(sd) end)
    has(msg, 'extra.weight'); has(msg, 'unexpected')
  end)

  it('load_state_dict with strict = false skips missing and unexpected keys', function()
    local net = Net(4, 8, 3)
    net:load_state_dict({ ['head.bias'] = nl.tensor({ 1, 2, 3 }), ['nope'] = nl.zeros(1) }, false)
    assert.are.same({ 1, 2, 3 }, net.head.bias:totable())
  end)

  it('load_state_dict errors on a shape mismatch, naming the key and both shapes', function()
    local sd = Net(4, 8, 3):state_dict()
    sd['head.weight'] = nl.zeros(3, 7)
    local msg = error_of(function() Net(4, 8, 3):load_state_dict(sd) end)
    has(msg, 'head.weight')
    assert.is_truthy(msg:find('%[3, ?8%]'), 'message should give the model\'s shape [3,8]: ' .. msg)
    assert.is_truthy(msg:find('%[3, ?7%]'), 'message should give the state dict\'s shape [3,7]: ' .. msg)
  end)

  it('train() and eval() reach every submodule and change what they compute', function()
    local net = Net(4, 8, 3)
    local function all_modes()
      local seen = {}
      for _, m in ipairs({ net, net.encoder, net.encoder[1], net.encoder[2], net.encoder[3], net.norm, net.drop, net.head }) do
        seen[#seen + 1] = m.training
      end
      return seen
    end
    assert.are.same({ true, true, true, true, true, true, true, true }, all_modes())
    assert.are.equal(net, net:eval())
    assert.are.same({ false, false, false, false, false, false, false, false }, all_modes())
    -- eval: no dropout, running statistics fixed -> the same output twice
    local x = nl.randn(6, 4)
    local rm = flat(net.norm.running_mean)
    assert.are.same(flat(net(x)), flat(net(x)))
    assert.are.same(rm, flat(net.norm.running_mean))
    assert.are.equal(net, net:train())
    assert.are.same({ true, true, true, true, true, true, true, true }, all_modes())
    net(x)
    assert.are_not.same(rm, flat(net.norm.running_mean))
  end)

  it('tostring(model) lists each child by name with its settings, and the parameter count', function()
    local s = tostring(Net(4, 8, 3))
    for _, part in ipairs({ 'Net', '(encoder): Sequential', '(0): Linear(in_features=4, out_features=8, bias=true)',
                            '(1): ReLU', '(2): Linear(in_features=8, out_features=8, bias=true)', '(norm): BatchNorm1d',
                            '(drop): Dropout', '(head): Linear(in_features=8, out_features=3, bias=true)' }) do
      has(s, part)
    end
    assert.is_truthy(s:find('%f[%d]158%f[%D]'), 'parameter count 158 not shown in:\n' .. s)
    local big = tostring(nn.Sequential(nn.Linear(100, 20)))   -- 2020 parameters
    assert.is_truthy(big:gsub(',', ''):find('%f[%d]2020%f[%D]'), 'parameter count 2020 not shown in:\n' .. big)
  end)

  it('Sequential: seq[i] is the i-th module, #seq counts them, seq:add appends one that forward then runs', function()
    local l1, relu = nn.Linear(3, 4), nn.ReLU()
    local seq = nn.Sequential(l1, relu)
    assert.are.equal(l1, seq[1])
    assert.are.equal(relu, seq[2])
    assert.is_nil(seq[3])
    assert.are.equal(2, #seq)
    local l2 = nn.Linear(4, 2)
    assert.are.equal(seq, seq:add(l2))
    assert.are.equal(3, #seq)
    assert.are.equal(l2, seq[3])
    assert.are.same({ 5, 2 }, seq(nl.randn(5, 3)):shape())
    assert.are.same({ '0.weight', '0.bias', '2.weight', '2.bias' }, names_of(seq:named_parameters()))
  end)

  it('Sequential rejects a non-module', function()
    local msg = error_of(function() nn.Sequential(nn.ReLU(), 42) end)
    has(msg, 'Sequential')
  end)
  -- :double() and :float() replaced every parameter: tied weights came
  -- apart (2 parameters), a frozen weight thawed, and a tensor already of
  -- the dtype got a new handle
  it('double() and float() keep tied weights tied, frozen ones frozen, and tensors of the dtype', function()
    local T = nn.Module:extend('NnGoldenSpecTied')
    function T:init()
      self.emb = nn.Embedding(5, 3)
      self.out = nn.Linear(3, 5, { bias = false })
      self.out.weight = self.emb.weight
      self.head = nn.Linear(3, 2)
    end
    local t = T()
    t.head.weight:requires_grad(false)
    local bias = t.head.bias
    t:float()
    assert.is_true(rawequal(bias, t.head.bias))
    t:double()
    assert.is_true(rawequal(t.out.weight, t.emb.weight))
    assert.are.equal(3, #t:parameters())
    assert.are.equal('float64', t.emb.weight:dtype())
    assert.is_false(t.head.weight.is_requires_grad)
    assert.is_true(t.head.bias.is_requires_grad)
  end)

  -- register_buffer took a number (left out of the state dict), a dotted
  -- name and a method's name; load_state_dict took {strict = false} as
  -- strict
  it('register_buffer checks its name and value; load_state_dict takes {strict = false}', function()
    local M = nn.Module:extend('NnGoldenSpecBuffers')
    function M:init() self.w = nl.zeros(2):requires_grad() end
    local m = M()
    for _, c in ipairs({ { 'z', 5, 'must be a tensor or nil' }, { 'a.b', nl.zeros(1), 'without dots' },
                         { 'w', nl.zeros(1), 'already names' }, { 'forward', nl.zeros(1), 'already names' } }) do
      local ok, err = pcall(m.register_buffer, m, c[1], c[2])
      assert.is_false(ok)
      assert.is_truthy(err:find(c[3], 1, true), err)
    end
    m:register_buffer('b', nl.zeros(1))
    m:register_buffer('b', nl.ones(1))
    assert.are.same({ 'w', 'b' }, m:state_names())
    local l = nn.Linear(2, 2)
    l:load_state_dict({ weight = nl.ones(2, 2) }, { strict = false })
    assert.are.same({ { 1, 1 }, { 1, 1 } }, l.weight:totable())
    local ok, err = pcall(l.load_state_dict, l, { weight = nl.ones(2, 2) }, { strict = true })
    assert.is_truthy(err:find('missing keys {bias}', 1, true), err)
    ok, err = pcall(l.load_state_dict, l, { weight = nl.ones(2, 2) }, 'no')
    assert.is_false(ok)
  end)

  -- a nil among Sequential's arguments dropped every module after it
  it('Sequential and ModuleList refuse a nil among their modules', function()
    local ok, err = pcall(nn.Sequential, nn.Linear(4, 8), nil, nn.Linear(8, 2))
    assert.is_false(ok)
    assert.is_truthy(err:find('Sequential: argument 2 is not a module (nil)', 1, true), err)
    ok, err = pcall(nn.ModuleList, { nn.Linear(1, 1), nil, nn.Linear(1, 1) })
    assert.is_truthy(err:find('ModuleList: argument 2 is not a module (nil)', 1, true), err)
  end)

  -- the items were counted with every field ever set: s.name = 'enc'
  -- made forward call a nil, and add then left a hole (2.weight, no 1)
  it('Sequential and ModuleList count their numbered items only, whatever else is set on them', function()
    nl.manual_seed(4)
    local s = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    local x = nl.randn(4, 2)
    local want = s(x):totable()
    s.name = 'enc'
    assert.are.same(want, s(x):totable())
    assert.are.equal(2, s:size())
    s:add(nn.Linear(3, 1))
    assert.are.same({ '0.weight', '0.bias', '2.weight', '2.bias' }, s:state_names())
    assert.are.equal(3, s:size())
    local Block = nn.Sequential:extend('FieldBlock')
    function Block:init(n)
      nn.Sequential.init(self, nn.Linear(n, n))
      self.width = n
    end
    assert.are.same({ 2, 3 }, Block(3)(nl.randn(2, 3)):shape())
    local ml = nn.ModuleList({ nn.Linear(1, 1) })
    ml.tag = 'a'
    ml:append(nn.Linear(1, 2))
    assert.are.equal(2, ml:size())
    assert.are.same({ '0.weight', '0.bias', '1.weight', '1.bias' }, ml:state_names())
    -- a module under a name never runs in a Sequential: said, not skipped
    local s3 = nn.Sequential(nn.Linear(2, 2))
    s3.head = nn.Linear(2, 2)
    local ok, err = pcall(s3, x)
    assert.is_false(ok)
    assert.is_truthy(err:find("Sequential: the module under the name 'head' would not run", 1, true), err)
    -- an item set by hand past the end: add refuses the gap (it filled it,
    -- out of order, from a count kept since the last add)
    local s5 = nn.Sequential(nn.Linear(2, 2))
    s5[3] = nn.Tanh()
    ok, err = pcall(s5.add, s5, nn.ReLU())
    assert.is_truthy(not ok and err:find('Sequential:add: item 2 is nil', 1, true), err)
    -- more than 64 items save and load (the structure's cap refused them)
    local many = {}
    for i = 1, 70 do many[i] = nn.ReLU() end
    local path = os.tmpname()
    nn.Sequential(unpack(many)):save(path)
    assert.are.equal(70, nn.load(path):size())
    os.remove(path)
    local s4 = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    s4[2] = nil
    ok, err = pcall(s4, x)
    assert.is_truthy(err:find('Sequential: item 2 is nil; the items must be modules numbered 1 to 3', 1, true), err)
  end)

  -- apply ran parents first, so an init of a block's own weights was then
  -- overwritten by its layers'; named_children listed a shared module twice
  it("apply visits children before their parent, each once, and named_children lists a module once, as PyTorch's", function()
    local l = nn.Linear(1, 1)
    local inner = nn.Sequential(l, nn.ReLU())
    local s = nn.Sequential(inner, nn.Tanh(), l)
    local order = {}
    s:apply(function(m) order[#order + 1] = m end)
    assert.are.same({ l, inner[2], inner, s[2], s }, order)
    local names = {}
    for _, kv in ipairs(nn.Sequential(l, nn.ReLU(), l):named_children()) do names[#names + 1] = kv[1] end
    assert.are.same({ '0', '1' }, names)
    -- named_modules as PyTorch's: pre-order, each once under its first name
    -- (torch: ['', '0', '0.0', '0.1', '1'] for this s)
    names = {}
    for _, kv in ipairs(s:named_modules()) do names[#names + 1] = kv[1] end
    assert.are.same({ '', '0', '0.0', '0.1', '1' }, names)
    assert.are.equal(5, #s:modules())
    -- printing still shows each entry, a shared one under each name, as PyTorch prints it
    local r = nn.Sequential(l, l):repr()
    assert.is_truthy(r:find('(0): Linear', 1, true) and r:find('(1): Linear', 1, true), r)
  end)

  -- Identity takes any arguments, as PyTorch's; trailing nils are no arguments
  it('Identity takes any arguments, and trailing nils count for none', function()
    assert.are.equal(3, nn.Identity(54, 'unused')(3))
    assert.are.same({ 2, 3 }, nn.Linear(4, 3, nil, nil)(nl.ones(2, 4)):shape())
  end)

  -- Dropout passes int64 through where nothing is dropped, as PyTorch
  it('Dropout in eval mode or with p = 0 passes an int64 input through', function()
    local x = nl.tensor({ 1, 2 }, 'int64')
    local d = nn.Dropout(0.5)
    d:eval()
    assert.are.equal('int64', d(x):dtype())
    assert.are.same({ 1, 2 }, nn.Dropout(0)(x):totable())
    -- p = 1 zeroes without a random draw, int64 too, as PyTorch
    assert.are.same({ 0, 0 }, nn.Dropout(1)(x):totable())
    assert.are.same({ 0, 0 }, nn.Dropout2d(1)(nl.ones(1, 2, 1, 1, 'int64')):view(-1):totable())
    assert.are.equal('int64', nn.ReLU()(x):dtype())
  end)

  -- GELU('tanh') gave erf's values, and other arguments were dropped;
  -- PyTorch's inplace flag is taken (computed out of place)
  it("activations: GELU's approximate = 'tanh' as PyTorch, inplace taken, other arguments refused", function()
    local x = nl.tensor({ -3, 0.5, 2, -0.25 }):requires_grad()
    local y = nn.GELU('tanh')(x)
    y:sum():backward()
    local want = { -0.0036374330520629883, 0.3457140028476715, 1.9545977115631104, -0.10032464563846588 }
    local want_g = { -0.011584296822547913, 0.8673698902130127, 1.0860992670059204, 0.3046458959579468 }
    for i = 1, 4 do
      assert.is_true(S.close(y[i], want[i], 1e-5, 1e-6), 'value ' .. i)
      assert.is_true(S.close(x.grad[i], want_g[i], 1e-5, 1e-6), 'gradient ' .. i)
    end
    assert.are.same(y:totable(), nn.GELU({ approximate = 'tanh' })(x):totable())
    assert.are.equal("GELU(approximate='tanh')", nn.GELU('tanh'):repr())
    -- one C op: in place too, and an infinite upstream gradient at a
    -- saturated input gives inf, as PyTorch's (composed of ops, NaN)
    local z = nl.tensor({ -3, 0.5, 2, -0.25 })
    z:gelu_('tanh')
    assert.are.same(y:detach():totable(), z:totable())
    assert.are.equal('gelu_tanh', y:grad_fn())
    local big = nl.tensor({ 100, 3 }):requires_grad()
    big:gelu('tanh'):exp():sum():backward()
    assert.are.equal(math.huge, big.grad[1])
    assert.is_true(S.close(big.grad[2], 20.2444, 1e-4))
    assert.are.same({ 0, 2 }, nn.ReLU(true)(nl.tensor({ -1, 2 })):totable())
    assert.are.same({ -0.5, 2 }, nn.LeakyReLU(0.5, true)(nl.tensor({ -1, 2 })):totable())
    for _, c in ipairs({ { nn.Sigmoid, 1 }, { nn.Tanh, true }, { nn.ReLU, 5 }, { nn.GELU, 'fast' } }) do
      assert.is_false((pcall(c[1], c[2])))
    end
    local ok, err = pcall(nn.GELU, 'tanh', nil, 5)
    assert.is_truthy(not ok and err:find('GELU: takes at most 1 argument, got 3', 1, true), err)
  end)
end)

-- ---- initialization -------------------------------------------------------------------

local function max_abs(t) return t:abs():max():item() end
local function rms(t) return (t * t):mean():sqrt():item() end

describe('nn.init', function()
  it('xavier_uniform_ fills U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))', function()
    local t = nl.empty(200, 300)
    local a = math.sqrt(6 / 500)
    assert.are.equal(t, nn.init.xavier_uniform_(t))
    assert.is_true(max_abs(t) <= a * (1 + 1e-6), 'beyond the bound: ' .. max_abs(t) .. ' > ' .. a)
    assert.is_true(max_abs(t) >= 0.99 * a, 'does not reach the bound: ' .. max_abs(t))
    assert.is_true(math.abs(rms(t) - a / math.sqrt(3)) < 0.01 * a, 'std of U(-a,a) is a/sqrt(3)')
    nn.init.xavier_uniform_(t, 2)
    assert.is_true(max_abs(t) <= 2 * a * (1 + 1e-6) and max_abs(t) >= 1.98 * a, 'gain 2 doubles the bound')
  end)

  it('kaiming_normal_ has std gain / sqrt(fan) (relu gain sqrt 2; fan_in default, fan_out on request)', function()
    local t = nl.empty(1000, 500)         -- fan_in 500, fan_out 1000; 500k samples: std within ~0.1%
    nn.init.kaiming_normal_(t)
    local want = math.sqrt(2 / 500)
    assert.is_true(math.abs(rms(t) / want - 1) < 0.01, ('std %g, want %g'):format(rms(t), want))
    assert.is_true(math.abs(t:mean():item()) < 0.01 * want, 'mean ' .. t:mean():item())
    nn.init.kaiming_normal_(t, { mode = 'fan_out', nonlinearity = 'relu' })
    want = math.sqrt(2 / 1000)
    assert.is_true(math.abs(rms(t) / want - 1) < 0.01, ('fan_out std %g, want %g'):format(rms(t), want))
    -- the mode in any case, as PyTorch's (any mode but 'fan_in' was read as 'fan_out')
    nn.init.kaiming_normal_(t, { mode = 'Fan_In', nonlinearity = 'relu' })
    want = math.sqrt(2 / 500)
    assert.is_true(math.abs(rms(t) / want - 1) < 0.01, ('Fan_In std %g, want %g'):format(rms(t), want))
  end)

  it('kaiming_* refuse an unknown mode or option; calculate_gain knows the linear functions of PyTorch', function()
    local t = nl.empty(4, 3)
    local msg = error_of(function() nn.init.kaiming_uniform_(t, { mode = 'fan_avg' }) end)
    has(msg, 'init.kaiming_uniform_'); has(msg, 'fan_avg')
    has(error_of(function() nn.init.kaiming_normal_(t, { nonlinearty = 'relu' }) end),
        "init.kaiming_normal_: unknown option 'nonlinearty'")
    for _, f in ipairs({ 'conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d', 'conv_transpose3d' }) do
      assert.are.equal(1, nn.init.calculate_gain(f))
    end
    -- a slope that is not a number (a string was read as its number, false
    -- as the default; a table failed in arithmetic), as PyTorch refuses it
    assert.are.equal(math.sqrt(2 / 1.04), nn.init.calculate_gain('leaky_relu', 0.2))
    has(error_of(function() nn.init.calculate_gain('leaky_relu', '0.2') end),
        "calculate_gain: negative_slope must be a number, got '0.2'")
    has(error_of(function() nn.init.calculate_gain('leaky_relu', false) end), 'negative_slope must be a number')
    has(error_of(function() nn.init.kaiming_normal_(t, { a = {} }) end), 'init.kaiming_normal_: expected a number a')
    -- no elements: left as it is, as PyTorch (a fan of 0 gave an infinite bound)
    assert.are.same({ 4, 0 }, nn.init.kaiming_uniform_(nl.empty(4, 0)):shape())
    assert.are.same({ 0 }, nn.init.kaiming_normal_(nl.empty(0)):shape())
  end)

  -- the truncated normal's mean and std by Simpson's rule over [a, b] of
  -- the normal density, against 240k draws (their standard errors ~0.2%)
  it('trunc_normal_ draws N(mean, std) truncated to [a, b]: the bounds held, the moments of the truncation', function()
    local function moments(mu, sd, a, b)
      local n, h = 2000, (b - a) / 2000
      local z, m1, m2 = 0, 0, 0
      for i = 0, n do
        local x = a + i * h
        local w = (i == 0 or i == n) and 1 or (i % 2 == 1 and 4 or 2)
        local f = w * math.exp(-0.5 * ((x - mu) / sd) ^ 2)
        z, m1, m2 = z + f, m1 + f * x, m2 + f * x * x
      end
      local m = m1 / z
      return m, math.sqrt(m2 / z - m * m)
    end
    nl.manual_seed(5)
    for _, c in ipairs({ { 0, 1, -2, 2 }, { 0.5, 2, -1, 3 }, { 0, 0.02, -0.04, 0.04 }, { 0, 1, 1.5, 4 } }) do
      local t = nl.empty(400, 600)
      assert.are.equal(t, nn.init.trunc_normal_(t, c[1], c[2], c[3], c[4]))
      local m, sd = moments(c[1], c[2], c[3], c[4])
      local got_m = t:double():mean():item()
      local got_sd = t:double():std():item()
      local where = ('N(%g, %g) on [%g, %g]'):format(c[1], c[2], c[3], c[4])
      assert.is_true(t:min():item() >= c[3] and t:max():item() <= c[4], where .. ': a draw outside the bounds')
      assert.is_true(math.abs(got_m - m) < 0.01 * sd, ('%s: mean %g, want %g'):format(where, got_m, m))
      assert.is_true(math.abs(got_sd / sd - 1) < 0.01, ('%s: std %g, want %g'):format(where, got_sd, sd))
    end
    -- PyTorch's defaults: mean 0, std 1, [-2, 2]
    local t = nn.init.trunc_normal_(nl.empty(100, 100))
    assert.is_true(t:min():item() >= -2 and t:max():item() <= 2 and t:max():item() > 1.9)
    has(error_of(function() nn.init.trunc_normal_(t, 0, 1, 2, -2) end), 'init.trunc_normal_: needs std > 0 and a < b')
    has(error_of(function() nn.init.trunc_normal_(t, 0, 1, 50, 60) end), 'too far in the tail')
  end)

  it('orthogonal_ gives orthonormal rows or columns (of the flattened tensor) times gain; eye_ the identity', function()
    nl.manual_seed(6)
    for _, shape in ipairs({ { 40, 40 }, { 64, 3, 3, 3 }, { 10, 50 }, { 1, 5 }, { 5, 1 } }) do
      local t = nn.init.orthogonal_(nl.empty(shape), 1.5)
      local f = t:reshape(shape[1], -1):double()
      local g = f:size(1) >= f:size(2) and nl.matmul(f:t(), f) or nl.matmul(f, f:t())
      local err = (g - nl.eye(g:size(1), g:size(1), 'float64') * 2.25):abs():max():item()
      assert.is_true(err < 1e-5, nl._shape_str(t) .. ': Q^T Q - gain^2 I reaches ' .. err)
    end
    -- two draws differ (a fresh normal matrix each time)
    local a, b = nn.init.orthogonal_(nl.empty(6, 6)), nn.init.orthogonal_(nl.empty(6, 6))
    assert.is_true((a - b):abs():max():item() > 0.01)
    has(error_of(function() nn.init.orthogonal_(nl.empty(5)) end), 'init.orthogonal_: needs a tensor of at least 2 dims, got [5]')
    local e = nn.init.eye_(nl.empty(2, 3))
    assert.are.same({ { 1, 0, 0 }, { 0, 1, 0 } }, e:totable())
    has(error_of(function() nn.init.eye_(nl.empty(2, 3, 4)) end), 'init.eye_: needs a 2-D tensor, got [2,3,4]')
  end)

  it('zeros_ and ones_ fill a parameter in place, outside autograd', function()
    local p = nl.randn(3, 4):requires_grad()
    assert.are.equal(p, nn.init.zeros_(p))
    for _, v in ipairs(flat(p)) do assert.are.equal(0, v) end
    nn.init.ones_(p)
    for _, v in ipairs(flat(p)) do assert.are.equal(1, v) end
    assert.is_true(p:is_leaf() and p.is_requires_grad, 'still a leaf that requires grad')
  end)

  it('Linear\'s default weight and bias lie in [-1/sqrt(in), 1/sqrt(in)] and spread over it', function()
    local lin = nn.Linear(400, 50)
    local bound = 1 / math.sqrt(400)
    assert.is_true(max_abs(lin.weight) <= bound * (1 + 1e-6), 'weight beyond 1/sqrt(in): ' .. max_abs(lin.weight))
    assert.is_true(max_abs(lin.weight) >= 0.99 * bound, 'weight does not fill the range: ' .. max_abs(lin.weight))
    assert.is_true(max_abs(lin.bias) <= bound * (1 + 1e-6), 'bias beyond 1/sqrt(in): ' .. max_abs(lin.bias))
    assert.is_true(max_abs(lin.bias) >= 0.5 * bound, 'bias does not fill the range: ' .. max_abs(lin.bias))
    assert.are_not.same(flat(lin.weight), flat(nn.Linear(400, 50).weight))
  end)
end)

-- ---- bad input ---------------------------------------------------------------------------

describe('nn error messages', function()
  it('Linear with the wrong feature count names Linear and both sizes', function()
    local msg = error_of(function() return nn.Linear(4, 3)(nl.zeros(2, 5)) end)
    has(msg, 'Linear')
    assert.is_truthy(msg:find('%f[%d]5%f[%D]'), 'should name the input size 5: ' .. msg)
    assert.is_truthy(msg:find('%f[%d]4%f[%D]'), 'should name the expected size 4: ' .. msg)
  end)

  for _, bad in ipairs({ 0, 5 }) do
    it('CrossEntropyLoss with label ' .. bad .. ' for 4 classes names the label and the range 1..4', function()
      local target = nl.tensor({ 1, bad, 2 }, 'int64')
      local msg = error_of(function() return nn.CrossEntropyLoss()(nl.zeros(3, 4), target) end)
      has(msg, 'cross_entropy')
      assert.is_truthy(msg:find('%f[%d]' .. bad .. '%f[%D]'), 'should name the label ' .. bad .. ': ' .. msg)
      assert.is_truthy(msg:find('1 to 4') or msg:find('%[1, ?4%]') or msg:find('1%.%.4'),
                       'should name the range 1..4: ' .. msg)
    end)
  end

  it('NLLLoss with label 0 errors too', function()
    local msg = error_of(function() return nn.NLLLoss()(nl.zeros(2, 3), nl.tensor({ 0, 1 }, 'int64')) end)
    has(msg, 'nll_loss')
  end)

  it('CrossEntropyLoss with float targets says they must be int64', function()
    local msg = error_of(function() return nn.CrossEntropyLoss()(nl.zeros(2, 3), nl.tensor({ 1, 2 })) end)
    has(msg, 'int64')
  end)

  it('MSELoss with different batch sizes names both shapes', function()
    local msg = error_of(function() return nn.MSELoss()(nl.zeros(4, 3), nl.zeros(5, 3)) end)
    has(msg, 'mse_loss')
    assert.is_truthy(msg:find('%[4, ?3%]'), 'should name the input shape [4,3]: ' .. msg)
    assert.is_truthy(msg:find('%[5, ?3%]'), 'should name the target shape [5,3]: ' .. msg)
  end)

  it('Embedding with float ids says it needs int64', function()
    local msg = error_of(function() return nn.Embedding(6, 4)(nl.tensor({ 1, 2 })) end)
    has(msg, 'Embedding'); has(msg, 'int64')
  end)

  it('Embedding with an id out of range errors instead of reading outside the table', function()
    error_of(function() return nn.Embedding(6, 4)(nl.tensor({ 7 }, 'int64')) end)
    error_of(function() return nn.Embedding(6, 4)(nl.tensor({ 0 }, 'int64')) end)
  end)

  it('a loss with an unknown reduction names the choices', function()
    local msg = error_of(function() return nn.MSELoss({ reduction = 'avg' }) end)
    has(msg, 'avg'); has(msg, 'mean')
  end)

  -- an option a loss does not know was once dropped without a word, so a
  -- misspelt one, or one of PyTorch's it lacked, changed nothing
  it('a loss with an unknown option names it, module and functional form alike', function()
    has(error_of(function() return nn.CrossEntropyLoss({ ignore_idx = 3 }) end), "cross_entropy: unknown option 'ignore_idx'")
    has(error_of(function() return nn.BCEWithLogitsLoss({ posweight = nl.ones(3) }) end), "unknown option 'posweight'")
    has(error_of(function() return nn.MSELoss({ delta = 1 }) end), "mse_loss: unknown option 'delta'")
    has(error_of(function() return nn.functional.l1_loss(nl.zeros(2), nl.zeros(2), { weight = nl.ones(2) }) end),
        "l1_loss: unknown option 'weight'")
  end)

  it('a class weight of the wrong length, and an ignored-class target out of range, name the problem', function()
    local x = nl.zeros(3, 4)
    local msg = error_of(function() return nn.CrossEntropyLoss({ weight = nl.ones(3) })(x, nl.tensor({ 1, 2, 3 }, 'int64')) end)
    has(msg, 'cross_entropy'); has(msg, 'weight'); has(msg, '4 classes')
    msg = error_of(function() return nn.CrossEntropyLoss({ ignore_index = 1 })(x, nl.tensor({ 1, 5, 2 }, 'int64')) end)
    has(msg, 'cross_entropy'); has(msg, 'class 5')
    -- the ignored value itself may lie outside 1..C, as PyTorch's -100
    local l = nn.CrossEntropyLoss({ ignore_index = -100 })(x, nl.tensor({ -100, 2, 2 }, 'int64'))
    assert.is_true(math.abs(l:item() - math.log(4)) < 1e-6)
  end)

  it('BCELoss with an input outside [0, 1] names the op and the shape', function()
    local msg = error_of(function() return nn.BCELoss()(nl.tensor({ 0.5, 1.5 }), nl.tensor({ 0, 1 })) end)
    has(msg, 'binary_cross_entropy'); has(msg, '[0, 1]'); has(msg, '[2]')
  end)
end)

-- ---- options -----------------------------------------------------------------

-- an option a layer does not read was once dropped without a word: a
-- misspelt one, or one of PyTorch's nnlua lacks, changed nothing. Each is
-- now an error naming it (PyTorch raises a TypeError for the same calls).
describe('nn options', function()
  it('a layer or save given an option it does not read names it', function()
    has(error_of(function() return nn.Linear(3, 2, { biases = false }) end), "Linear: unknown option 'biases'")
    has(error_of(function() return nn.BatchNorm1d(3, { eps = 1e-3, momentom = 0.2 }) end),
        "BatchNorm1d: unknown option 'momentom'")
    has(error_of(function() return nn.LayerNorm(3, { affine = false }) end), "LayerNorm: unknown option 'affine'")
    -- (max_norm and norm_type, once among these, are read now; so are
    -- scale_grad_by_freq, taken only as false by EmbeddingBag, and add_bias_kv)
    has(error_of(function() return nn.EmbeddingBag(5, 2, { scale_grad_by_freq = true }) end),
        'EmbeddingBag: scale_grad_by_freq is not supported (only false)')
    -- (kdim and average_attn_weights, once among these, are read now)
    has(error_of(function() return nn.MultiheadAttention(4, 2, { add_biaskv = false }) end),
        "MultiheadAttention: unknown option 'add_biaskv'")
    local mha = nn.MultiheadAttention(4, 2)
    local x = nl.randn(3, 2, 4)
    has(error_of(function() return mha(x, x, x, { average_weights = false }) end),
        "MultiheadAttention: unknown option 'average_weights'")
    has(error_of(function() return nn.TransformerEncoderLayer(4, 2, { dim_ff = 8 }) end),
        "TransformerEncoderLayer: unknown option 'dim_ff'")
    local tel = nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 8, dropout = 0, norm_first = false, batch_first = false,
                                                   layer_norm_eps = 1e-6, activation = 'gelu' })
    has(error_of(function() return tel(x, { mask = nn.causal_mask(3) }) end),
        "TransformerEncoderLayer: unknown option 'mask'")
    assert.are.same({ 3, 2, 4 }, tel(x, { src_mask = nn.causal_mask(3), src_key_padding_mask = nl.zeros(2, 3),
                                          is_causal = false }):shape())
    has(error_of(function() return nn.PositionalEncoding(4, 10, { dropout = 0.1 }) end),
        "PositionalEncoding: unknown option 'dropout'")
    local path = os.tmpname()
    has(error_of(function() return nn.Linear(2, 2):save(path, { optimiser = 1 }) end), "save: unknown option 'optimiser'")
    os.remove(path)
  end)

  -- PyTorch: BatchNorm1d(3, track_running_stats=False) keeps no running
  -- statistics (state dict: weight, bias) and normalizes with the batch's
  -- own in eval mode; values from torch 1.13 for this input
  it('BatchNorm1d with track_running_stats=false keeps no running stats and uses the batch in eval mode', function()
    local bn = nn.BatchNorm1d(3, { track_running_stats = false })
    assert.are.same({ 'weight', 'bias' }, bn:state_names())
    assert.are.equal('BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=true, track_running_stats=false)', bn:repr())
    local x = nl.tensor({ { 1, 2, 3 }, { 4, 0, -1 }, { 2, 2, 2 }, { 0, 1, 5 } })
    local want = nl.tensor({ { -0.5071, 0.9045, 0.3464 }, { 1.5213, -1.5075, -1.5011 },
                             { 0.1690, 0.9045, -0.1155 }, { -1.1832, -0.3015, 1.2702 } })
    bn:eval()
    expect_close(bn(x), want, 'eval', 0, 1e-4)
    bn:train()
    expect_close(bn(x), want, 'train', 0, 1e-4)
    -- a (N, C, L) input, eval mode: each channel over N and L
    local x3 = nl.tensor({ { { 1, 3 }, { 0, 0 } }, { { 5, 7 }, { 2, 4 } } })
    bn = nn.BatchNorm1d(2, { track_running_stats = false, affine = false }):eval()
    local s1, s2 = 1 / math.sqrt(5 + 1e-5), 1 / math.sqrt(2.75 + 1e-5)
    expect_close(bn(x3), nl.tensor({ { { -3 * s1, -1 * s1 }, { -1.5 * s2, -1.5 * s2 } },
                                     { { 1 * s1, 3 * s1 }, { 0.5 * s2, 2.5 * s2 } } }), 'eval (N, C, L)')
    -- as PyTorch's: one value per channel is an error in eval mode too
    has(error_of(function() return bn(nl.zeros(1, 2, 1)) end), 'more than one value per channel')
    -- an empty batch, as PyTorch's (it was refused): an empty output, zero
    -- weight and bias gradients, the running statistics kept, the batch
    -- counted (torch: running_mean zeros, num_batches_tracked 1)
    assert.are.same({ 0, 2, 1 }, bn(nl.zeros(0, 2, 1)):shape())
    local bt = nn.BatchNorm1d(3)
    local ye = bt(nl.zeros(0, 3))
    assert.are.same({ 0, 3 }, ye:shape())
    ye:sum():backward()
    assert.are.same({ 0, 0, 0 }, bt.weight.grad:totable())
    assert.are.same({ 0, 0, 0 }, bt.bias.grad:totable())
    assert.are.same({ 0, 0, 0 }, bt.running_mean:totable())
    assert.are.same({ 1, 1, 1 }, bt.running_var:totable())
    assert.are.equal(1, bt.num_batches_tracked:item())
    -- the default still tracks them
    assert.are.same({ 'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked' },
                    nn.BatchNorm1d(3):state_names())
  end)

  -- PyTorch: the padding row starts as zeros and its gradient stays zero;
  -- its values are still read (here set to 5s), as torch 1.13's
  it('Embedding padding_idx: a zero row that gets no gradient, 1-based, negative from the end', function()
    nl.manual_seed(3)
    local e = nn.Embedding(4, 3, { padding_idx = 2 })
    assert.are.same({ 0, 0, 0 }, e.weight[2]:totable())
    assert.are.equal('Embedding(4, 3, padding_idx=2)', e:repr())
    nl.no_grad(function() e.weight[2]:fill_(5) end)
    local ids = nl.tensor({ 1, 2, 1, 4, 2 }, 'int64')
    local out = e(ids)
    assert.are.same({ 5, 5, 5 }, out[2]:totable())
    assert.are.same(e.weight[1]:totable(), out[3]:totable())
    local w = nl.arange(0, 15):float():view(5, 3)
    ;(out * w):sum():backward()
    assert.are.same({ { 6, 8, 10 }, { 0, 0, 0 }, { 0, 0, 0 }, { 9, 10, 11 } }, e.weight.grad:totable())
    assert.are.equal(4, nn.Embedding(4, 3, { padding_idx = -1 }).padding_idx)
    assert.are.equal(1, nn.Embedding(4, 3, { padding_idx = -4 }).padding_idx)
    has(error_of(function() return nn.Embedding(4, 3, { padding_idx = 5 }) end), 'padding_idx')
    has(error_of(function() return nn.Embedding(4, 3, { padding_idx = -5 }) end), 'padding_idx')
    has(error_of(function() return nn.Embedding(4, 3, { padding_idx = 0 }) end), 'padding_idx')
  end)
end)
