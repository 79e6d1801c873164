-- nn.CTCLoss / F.ctc_loss (nn/ctc.lua, src/ops_ctc.c), nn.utils.weight_norm
-- and spectral_norm with their removal (nn/param_norm.lua), and
-- nn.utils.rnn's padded and packed sequences through the RNN layers
-- (nn/rnn_utils.lua), checked against PyTorch 1.13 golden values and
-- gradients (tests/golden/ctc_norm.lua, made by gen_ctc_norm.py, with
-- PyTorch's weights, buffers u and v included, loaded through the state
-- dict under PyTorch's names), float64 finite differences, closed forms
-- (CTC of one or two frames by hand, lengths of 0, pad and pack by index),
-- and the errors, each naming the op.
-- Tolerance against PyTorch: |got - want| <= RTOL * |want| + ATOL
-- elementwise, float32 RTOL 1e-5, ATOL 1e-5 (CTC: nnlua's recursions run
-- in double, PyTorch's in float); float64 RTOL 1e-10, ATOL 1e-12.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn
local F = nn.functional
local R = nn.utils.rnn

local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-10, 1e-12 } }
local golden = dofile(S.root .. '/tests/golden/ctc_norm.lua')
local G, errmsg, has = S.from_golden, S.errmsg, S.contains

-- got against want within dtype's tolerance; NaN only where want is NaN
local function close(got, want, what, dt)
  local tol = TOL[dt or got:dtype()]
  local w = nl.is_tensor(want) and want or G(want)
  assert.are.same(w:shape(), got:shape(), what .. ': shape')
  local g, e = S.flat(got), S.flat(w)
  for i = 1, #g do
    local ok = (e[i] ~= e[i] and g[i] ~= g[i]) or S.close(g[i], e[i], tol[1], tol[2])
    assert.is_true(ok, ('%s: element %d is %.17g, expected %.17g'):format(what, i, g[i], e[i]))
  end
end

-- name -> tensor of a golden list of {name, t}
local function named(list)
  local out = {}
  for _, kv in ipairs(list) do out[kv.name] = G(kv.t) end
  return out
end

describe('ctc_loss against PyTorch 1.13', function()
  for _, c in ipairs(golden.ctc) do
    it(c.name, function()
      local x = G(c.x):requires_grad()
      local lp = x:log_softmax(3)
      lp:retain_grad()
      local opts = { blank = c.blank, reduction = c.reduction, zero_infinity = c.zero_infinity }
      local loss
      if c.unbatched then
        loss = F.ctc_loss(lp:select(2, 1), G(c.targets), nl.tensor(c.il[1], 'int64'), c.tl[1], opts)
      else
        loss = F.ctc_loss(lp, G(c.targets), c.il, nl.tensor(c.tl, 'int64'), opts)
      end
      close(loss, c.loss, 'loss')
      local w = G(c.w)
      if w then (loss * w):sum():backward() else loss:backward() end
      close(x.grad, c.grad_x, 'gradient of the logits')
      close(lp.grad, c.grad_lp, 'gradient of log_probs (exact)')
    end)
  end

  it('the module is the function with its options', function()
    local c = golden.ctc[3]
    local lp = G(c.x):log_softmax(3)
    local crit = nn.CTCLoss({ blank = c.blank })
    close(crit(lp, G(c.targets), c.il, c.tl), c.loss, 'CTCLoss')
    assert.are.equal('CTCLoss()', tostring(crit):match('^[^\n]*'))
  end)
end)

describe('ctc_loss by hand', function()
  local function lp_of(rows)
    return nl.tensor(rows, 'float64'):log():view(#rows, 1, #rows[1])
  end

  it('one frame of one label is -log p', function()
    local lp = lp_of({ { 0.2, 0.5, 0.3 } })
    local l = F.ctc_loss(lp, nl.tensor({ { 3 } }, 'int64'), { 1 }, { 1 }, { reduction = 'sum' })
    assert.is_true(math.abs(l:item() + math.log(0.3)) < 1e-15)
  end)

  it('two frames of one label sum three paths (a_, _a, aa), blank anywhere', function()
    local p = { { 0.2, 0.5, 0.3 }, { 0.6, 0.1, 0.3 } }
    -- label 2, blank 1: a_ + _a + aa
    local want = -math.log(p[1][2] * p[2][1] + p[1][1] * p[2][2] + p[1][2] * p[2][2])
    local l = F.ctc_loss(lp_of(p), nl.tensor({ 2 }, 'int64'), { 2 }, { 1 }, { reduction = 'none' })
    assert.is_true(math.abs(l:item() - want) < 1e-14)
    -- blank 3, label 1
    want = -math.log(p[1][1] * p[2][3] + p[1][3] * p[2][1] + p[1][1] * p[2][1])
    l = F.ctc_loss(lp_of(p), nl.tensor({ 1 }, 'int64'), { 2 }, { 1 }, { reduction = 'none', blank = 3 })
    assert.is_true(math.abs(l:item() - want) < 1e-14)
  end)

  it('a repeated label needs a blank between: "aa" in two frames is impossible, in three one path', function()
    local p = { { 0.2, 0.5, 0.3 }, { 0.6, 0.1, 0.3 }, { 0.25, 0.25, 0.5 } }
    local tg = nl.tensor({ 2, 2 }, 'int64')
    local l2 = F.ctc_loss(lp_of(p), tg, { 2 }, { 2 }, { reduction = 'sum' })
    assert.are.equal(math.huge, l2:item())
    local l3 = F.ctc_loss(lp_of(p), tg, { 3 }, { 2 }, { reduction = 'sum' })
    assert.is_true(math.abs(l3:item() + math.log(p[1][2] * p[2][1] * p[3][2])) < 1e-14)
    local z = F.ctc_loss(lp_of(p), tg, { 2 }, { 2 }, { reduction = 'sum', zero_infinity = true })
    assert.are.equal(0, z:item())
  end)

  it('no frames: 0 for an empty target, inf (or 0 with zero_infinity) for another, zero gradients', function()
    local x = nl.randn(3, 2, 4):double():requires_grad()
    local tg = nl.tensor({ { 2 }, { 3 } }, 'int64')
    local l = F.ctc_loss(x:log_softmax(3), tg, { 0, 0 }, { 0, 1 }, { reduction = 'none' })
    assert.are.same({ 0, math.huge }, l:totable())
    local z = F.ctc_loss(x:log_softmax(3), tg, { 0, 0 }, { 0, 1 }, { reduction = 'sum', zero_infinity = true })
    assert.are.equal(0, z:item())
    z:backward()
    assert.are.equal(0, x.grad:abs():max():item())
  end)

  it("'mean' divides each loss by its target length (at least 1), then averages", function()
    local lp = nl.randn(6, 3, 5):double():log_softmax(3)
    local tg = nl.tensor({ { 2, 3, 3 }, { 4, 2, 2 }, { 5, 5, 5 } }, 'int64')
    local il, tl = { 6, 5, 4 }, { 3, 0, 1 }
    local each = F.ctc_loss(lp, tg, il, tl, { reduction = 'none' }):totable()
    local mean = F.ctc_loss(lp, tg, il, tl):item()
    assert.is_true(math.abs(mean - (each[1] / 3 + each[2] / 1 + each[3] / 1) / 3) < 1e-14)
    local sum = F.ctc_loss(lp, tg, il, tl, { reduction = 'sum' }):item()
    assert.is_true(math.abs(sum - (each[1] + each[2] + each[3])) < 1e-13)
  end)

  it('padded and concatenated targets give the same losses and gradients', function()
    local x = nl.randn(7, 3, 7):double()
    local a, b = x:clone():requires_grad(), x:clone():requires_grad()
    local la = F.ctc_loss(a:log_softmax(3), nl.tensor({ { 2, 2, 4 }, { 3, 1, 1 }, { 6, 5, 1 } }, 'int64'),
                          { 7, 6, 3 }, { 3, 1, 2 }, { reduction = 'sum', blank = 7 })
    local lb = F.ctc_loss(b:log_softmax(3), nl.tensor({ 2, 2, 4, 3, 6, 5 }, 'int64'), { 7, 6, 3 }, { 3, 1, 2 },
                          { reduction = 'sum', blank = 7 })
    la:backward()
    lb:backward()
    assert.are.equal(la:item(), lb:item())
    S.same_bits(a.grad, b.grad, 'gradients')
  end)
end)

describe('ctc_loss gradients by finite differences (float64)', function()
  local function check(T, N, C, tg, il, tl, opts)
    local lp = (nl.randn(T, N, C):double() * 2):log_softmax(3):detach():requires_grad()
    assert.is_true(nl.gradcheck(function(a) return F.ctc_loss(a, tg, il, tl, opts) end, { lp }))
    -- and through log_softmax, from raw logits
    local x = nl.randn(T, N, C):double():requires_grad()
    assert.is_true(nl.gradcheck(function(a) return F.ctc_loss(a:log_softmax(3), tg, il, tl, opts) end, { x }))
  end
  it('padded, repeats, shorter inputs, mean', function()
    check(6, 3, 5, nl.tensor({ { 2, 2, 3 }, { 4, 1, 1 }, { 5, 1, 1 } }, 'int64'), { 6, 5, 2 }, { 3, 1, 1 })
  end)
  it('concatenated, blank in the middle, sum', function()
    check(5, 2, 4, nl.tensor({ 1, 4, 4, 2 }, 'int64'), { 5, 4 }, { 3, 1 }, { blank = 3, reduction = 'sum' })
  end)
  it('an impossible sample zeroed, none', function()
    local tg = nl.tensor({ { 2, 2, 2 }, { 3, 4, 2 } }, 'int64')
    local lp = nl.randn(4, 2, 4):double():log_softmax(3):detach():requires_grad()
    assert.is_true(nl.gradcheck(function(a)
      return F.ctc_loss(a, tg, { 4, 4 }, { 3, 3 }, { reduction = 'none', zero_infinity = true }) * nl.tensor({ 1, 2 },
        'float64')
    end, { lp }))
  end)
  it('unbatched', function()
    local lp = nl.randn(5, 4):double():log_softmax(2):detach():requires_grad()
    assert.is_true(nl.gradcheck(function(a) return F.ctc_loss(a, nl.tensor({ 3, 2 }, 'int64'), 5, 2) end, { lp }))
  end)
end)

describe('ctc_loss threads', function()
  it('one thread and several give the same bits', function()
    local x = nl.randn(30, 16, 12):requires_grad()
    local tg = nl.randint(2, 13, { 16, 10 })
    local il, tl = {}, {}
    for b = 1, 16 do il[b], tl[b] = 30 - b, 1 + b % 10 end
    local function run(n)
      local prev = nl.get_num_threads()
      nl.set_num_threads(n)
      x.grad = nil
      local l = F.ctc_loss(x:log_softmax(3), tg, il, tl, { reduction = 'none' })
      l:sum():backward()
      nl.set_num_threads(prev)
      return l, x.grad
    end
    local l1, g1 = run(1)
    local l2, g2 = run(4)
    S.same_bits(l1, l2, 'losses')
    S.same_bits(g1, g2, 'gradients')
  end)
end)

describe('ctc_loss errors', function()
  local lp = nl.randn(5, 2, 4):log_softmax(3)
  local tg = nl.tensor({ { 2, 3 }, { 4, 2 } }, 'int64')
  local cases = {
    { 'log_probs of one dim', function() F.ctc_loss(nl.randn(5), tg, { 5, 5 }, { 2, 2 }) end, 'log_probs must be a float tensor' },
    { 'int64 log_probs', function() F.ctc_loss(lp:long(), tg, { 5, 5 }, { 2, 2 }) end, 'log_probs must be a float tensor' },
    { 'float targets', function() F.ctc_loss(lp, tg:double(), { 5, 5 }, { 2, 2 }) end, 'targets must be an int64 tensor' },
    { 'targets of another batch', function() F.ctc_loss(lp, tg:narrow(1, 1, 1), { 5, 5 }, { 2, 2 }) end, 'targets must be an int64 tensor' },
    { 'blank outside the classes', function() F.ctc_loss(lp, tg, { 5, 5 }, { 2, 2 }, { blank = 5 }) end, 'blank 5 is not a class of 4' },
    { 'blank 0', function() F.ctc_loss(lp, tg, { 5, 5 }, { 2, 2 }, { blank = 0 }) end, 'blank must be a class index from 1' },
    { 'a label equal to the blank', function() F.ctc_loss(lp, tg, { 5, 5 }, { 2, 2 }, { blank = 3 }) end, 'is the blank' },
    { 'a label past the classes', function() F.ctc_loss(lp, nl.tensor({ { 2, 5 }, { 4, 2 } }, 'int64'), { 5, 5 }, { 2, 2 }) end, 'label 5 at position 2 of sample 1' },
    { 'label 0', function() F.ctc_loss(lp, nl.tensor({ { 2, 0 }, { 4, 2 } }, 'int64'), { 5, 5 }, { 2, 2 }) end, 'is not a class' },
    { 'an input length past T', function() F.ctc_loss(lp, tg, { 6, 5 }, { 2, 2 }) end, 'input length 6 of sample 1 is outside [0, 5]' },
    { 'a negative input length', function() F.ctc_loss(lp, tg, nl.tensor({ -1, 5 }, 'int64'), { 2, 2 }) end, 'input length -1' },
    { 'a negative length in a list', function() F.ctc_loss(lp, tg, { 5, 5 }, { -1, 2 }) end, 'target_lengths[1] must be a whole number >= 0' },
    { 'a target length past S', function() F.ctc_loss(lp, tg, { 5, 5 }, { 3, 2 }) end, 'target length 3 of sample 1 is outside [0, 2]' },
    { 'concatenated labels too few', function() F.ctc_loss(lp, nl.tensor({ 2, 3, 4 }, 'int64'), { 5, 5 }, { 2, 2 }) end, 'target length 2 of sample 2' },
    { 'concatenated labels too many', function() F.ctc_loss(lp, nl.tensor({ 2, 3, 4, 2, 2 }, 'int64'), { 5, 5 }, { 2, 2 }) end, 'hold 5 labels, but target_lengths sum to 4' },
    { 'lengths of another batch', function() F.ctc_loss(lp, tg, { 5, 5, 5 }, { 2, 2 }) end, 'input_lengths holds 3 lengths for a batch of 2' },
    { 'float lengths', function() F.ctc_loss(lp, tg, nl.tensor({ 5, 5 }), { 2, 2 }) end, 'input_lengths must be an int64 tensor' },
    { 'fractional lengths', function() F.ctc_loss(lp, tg, { 5, 4.5 }, { 2, 2 }) end, 'input_lengths[2] must be a whole number' },
    { 'lengths as a string', function() F.ctc_loss(lp, tg, 'five', { 2, 2 }) end, 'ctc_loss: expected input_lengths' },
    { 'an unbatched input with 2-D targets', function() F.ctc_loss(lp:select(2, 1), tg, 5, 2) end, 'takes a 1-D target' },
    { 'a bad reduction', function() F.ctc_loss(lp, tg, { 5, 5 }, { 2, 2 }, { reduction = 'max' }) end, "reduction must be 'mean', 'sum' or 'none'" },
    { 'an unknown option', function() F.ctc_loss(lp, tg, { 5, 5 }, { 2, 2 }, { blnk = 2 }) end, "unknown option 'blnk'" },
    { 'zero_infinity not a boolean', function() F.ctc_loss(lp, tg, { 5, 5 }, { 2, 2 }, { zero_infinity = 1 }) end, 'zero_infinity must be a boolean' },
    { 'an extra argument', function() F.ctc_loss(lp, tg, { 5, 5 }, { 2, 2 }, {}, 1) end, 'ctc_loss: takes' },
    { 'the module given options at the call', function() nn.CTCLoss()(lp, tg, { 5, 5 }, { 2, 2 }, {}) end, 'give options to the constructor' },
    { 'the module with a bad blank', function() nn.CTCLoss({ blank = 1.5 }) end, 'CTCLoss: blank must be' },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local msg = errmsg(c[2])
      has(msg, c[3])
      assert.is_truthy(msg:find('ctc_loss', 1, true) or msg:find('CTCLoss', 1, true), msg)
    end)
  end
end)

-- ---- weight_norm and spectral_norm ----

local function build(c)
  local m = nn[c.kind]((table.unpack or unpack)(c.args))
  if c.dtype == 'float64' then m:double() end
  if c.fn == 'weight_norm' then
    if c.dim ~= nil then nn.utils.weight_norm(m, 'weight', c.dim) else nn.utils.weight_norm(m) end
  else
    nn.utils.spectral_norm(m, { n_power_iterations = c.n_power_iterations, eps = c.eps, dim = c.dim })
  end
  return m
end

describe('weight_norm and spectral_norm against PyTorch 1.13', function()
  for _, c in ipairs(golden.norm) do
    it(c.name, function()
      local m = build(c)
      assert.are.same(c.names, m:state_names())
      local pn = {}
      for _, kv in ipairs(m:named_parameters()) do pn[#pn + 1] = kv[1] end
      local want_pn = {}
      for _, s in ipairs(c.state) do
        if not s.name:match('_[uv]$') or c.fn == 'weight_norm' then want_pn[#want_pn + 1] = s.name end
      end
      assert.are.same(want_pn, pn)
      m:load_state_dict(named(c.state))
      for k, step in ipairs(c.steps) do
        m:train(step.training)
        m:zero_grad()
        local x = G(step.x):requires_grad()
        local y = m(x)
        close(y, step.y, ('step %d output'):format(k))
        local lw = (y * G(step.w)):sum()
        lw:backward()
        close(x.grad, step.grad_x, ('step %d input gradient'):format(k))
        for name, g in pairs(named(step.grads)) do
          close(rawget(m, name).grad, g, ('step %d gradient of %s'):format(k, name))
        end
        for name, b in pairs(named(step.buffers)) do close(rawget(m, name), b, ('step %d buffer %s'):format(k, name)) end
      end
      if c.removed then
        local remove = c.fn == 'weight_norm' and nn.utils.remove_weight_norm or nn.utils.remove_spectral_norm
        remove(m)
        close(m.weight, c.removed, 'weight after the removal')
        assert.are.same(c.param_names, S.names_of(m:named_parameters()))
        assert.is_true(m.weight.is_requires_grad and m.weight:is_leaf())
      end
    end)
  end
end)

describe('weight_norm and spectral_norm', function()
  it('weight_norm gradients by finite differences (float64), dims 1, 2, -1 and the whole tensor', function()
    for _, dim in ipairs({ 1, 2, -1, false }) do
      local m = nn.utils.weight_norm(nn.Conv2d(2, 3, 2):double(), 'weight', dim)
      local g, v = m.weight_g:detach():clone():requires_grad(), m.weight_v:detach():clone():requires_grad()
      local x = nl.randn(1, 2, 3, 3):double()
      assert.is_true(nl.gradcheck(function(gg, vv)
        m.weight_g, m.weight_v = gg, vv
        return m(x)
      end, { g, v }))
    end
  end)

  it('weight_norm: the weight is g times v over its norm, each row of norm g', function()
    local m = nn.utils.weight_norm(nn.Linear(5, 4):double())
    local w = m(nl.randn(2, 5):double()) and m.weight
    local rows = (w * w):sum(2):sqrt()
    S.expect_close(rows:view(-1), m.weight_g:abs():view(-1), 'row norms', 1e-12, 1e-14)
    local whole = nn.utils.weight_norm(nn.Linear(5, 4):double(), 'weight', false)
    assert.are.equal(0, whole.weight_g:dim())
    whole(nl.randn(1, 5):double())
    assert.is_true(math.abs((whole.weight * whole.weight):sum():sqrt():item() - whole.weight_g:item()) < 1e-12)
  end)

  it('spectral_norm: the power iteration converges to the largest singular value, and eval leaves u and v', function()
    local m = nn.utils.spectral_norm(nn.Linear(4, 3):double(), { n_power_iterations = 50 })
    nl.no_grad(function() m.weight_orig:copy_(nl.tensor({ { 3, 0, 0, 0 }, { 0, 2, 0, 0 }, { 0, 0, 1, 0 } }, 'float64')) end)
    m(nl.randn(1, 4):double())
    -- the weight over sigma = 3: its largest singular value is 1
    assert.is_true(math.abs(m.weight[1][1] - 1) < 1e-12)
    m:eval()
    local u = m.weight_u:clone()
    m(nl.randn(1, 4):double())
    S.same_bits(u, m.weight_u, 'u in eval')
  end)

  it('spectral_norm of a subclass of ConvTranspose2d takes its default dim 2, as PyTorch isinstance', function()
    local MyCT = nn.ConvTranspose2d:extend('CtcNormMyCT')
    nl.manual_seed(6)
    local m = nn.utils.spectral_norm(MyCT(2, 3, 3):double(), { n_power_iterations = 50 })
    -- PyTorch 1.13: weight_u over the 3 output channels (its dim=1)
    assert.are.same({ 3 }, m.weight_u:shape())
    for _ = 1, 20 do m(nl.randn(1, 2, 4, 4):double()) end
    -- the weight as a matrix over its output channels has the largest singular value 1
    local top = nl.linalg.svdvals(m.weight:transpose(1, 2):reshape(3, -1)):max():item()
    assert.is_true(math.abs(top - 1) < 1e-8, tostring(top))
  end)

  it('spectral_norm gradients by finite differences (float64, eval: u and v fixed)', function()
    local m = nn.utils.spectral_norm(nn.Conv2d(2, 3, 2):double())
    m(nl.randn(1, 2, 3, 3):double())
    m:eval()
    local w = m.weight_orig:detach():clone():requires_grad()
    local x = nl.randn(1, 2, 3, 3):double()
    assert.is_true(nl.gradcheck(function(ww)
      m.weight_orig = ww
      return m(x)
    end, { w }))
  end)

  it('weight_norm and spectral_norm models save, load and clone', function()
    local dir = S.tmpdir()
    local model = nn.Sequential(nn.utils.weight_norm(nn.Linear(4, 5)), nn.ReLU(),
                                nn.utils.spectral_norm(nn.Linear(5, 2)))
    local x = nl.randn(3, 4)
    local u0 = model[3].weight_u:clone()
    model(x)
    -- the hooks run inside a Sequential (which fuses plain Linear + ReLU)
    assert.is_true((model[3].weight_u - u0):abs():max():item() > 0)
    S.expect_close(model[1].weight, model[1].weight_v * (model[1].weight_g / (model[1].weight_v ^ 2):sum(2, true):sqrt()),
                   'weight of the first layer', 1e-6, 1e-7)
    model:eval()
    local want = model(x)
    model:save(dir .. '/m.safetensors')
    local back = nn.load(dir .. '/m.safetensors')
    back:eval()
    S.same_bits(back(x), want, 'loaded')
    assert.are.same(model:state_names(), back:state_names())
    local copy = model:clone()
    copy:eval()
    S.same_bits(copy(x), want, 'clone')
    assert.are.same({ '0.bias', '0.weight_g', '0.weight_v', '2.bias', '2.weight_orig', '2.weight_u', '2.weight_v' },
                    model:state_names())
  end)

  it('the optimizer trains g and v', function()
    local m = nn.utils.weight_norm(nn.Linear(3, 1))
    local opt = nl.optim.SGD(m:parameters(), { lr = 0.1 })
    local x, y = nl.randn(8, 3), nl.randn(8, 1)
    local first
    for i = 1, 20 do
      opt:zero_grad()
      local l = F.mse_loss(m(x), y)
      if i == 1 then first = l:item() end
      l:backward()
      opt:step()
    end
    assert.is_true(F.mse_loss(m(x), y):item() < first)
  end)

  local cases = {
    { 'weight_norm twice', function() nn.utils.weight_norm(nn.utils.weight_norm(nn.Linear(2, 2))) end, 'weight_norm: weight of Linear is already reparametrized' },
    { 'spectral_norm after weight_norm', function() nn.utils.spectral_norm(nn.utils.weight_norm(nn.Linear(2, 2))) end, 'spectral_norm: weight of Linear is already reparametrized' },
    { 'no such parameter', function() nn.utils.weight_norm(nn.Linear(2, 2), 'kernel') end, 'weight_norm: Linear has no parameter kernel' },
    { 'not a module', function() nn.utils.weight_norm(nl.randn(2, 2)) end, 'weight_norm: expected a module' },
    { 'a dim past the weight', function() nn.utils.weight_norm(nn.Linear(2, 2), 'weight', 3) end, 'weight_norm: dim must be a dim' },
    { 'dim 0', function() nn.utils.spectral_norm(nn.Linear(2, 2), { dim = 0 }) end, 'spectral_norm: dim must be a dim' },
    { 'n_power_iterations 0', function() nn.utils.spectral_norm(nn.Linear(2, 2), 'weight', 0) end, 'n_power_iterations must be a whole number in 1..10000, got 0' },
    { 'eps 0', function() nn.utils.spectral_norm(nn.Linear(2, 2), { eps = 0 }) end, 'spectral_norm: eps must be a number > 0' },
    { 'an unknown option', function() nn.utils.spectral_norm(nn.Linear(2, 2), { iters = 2 }) end, "spectral_norm: unknown option 'iters'" },
    { 'too many arguments', function() nn.utils.weight_norm(nn.Linear(2, 2), 'weight', 1, 2) end, 'weight_norm: takes (module, name, dim)' },
    { 'remove_weight_norm without it', function() nn.utils.remove_weight_norm(nn.Linear(2, 2)) end, "remove_weight_norm: weight_norm of 'weight' not found in Linear" },
    { 'remove_spectral_norm of a weight_norm', function() nn.utils.remove_spectral_norm(nn.utils.weight_norm(nn.Linear(2, 2))) end, "remove_spectral_norm: spectral_norm of 'weight' not found" },
  }
  for _, c in ipairs(cases) do
    it('refuses ' .. c[1], function()
      local msg = errmsg(c[2])
      has(msg, c[3])
    end)
  end
end)

-- ---- padded and packed sequences ----

describe('packed sequences through RNN, LSTM and GRU against PyTorch 1.13', function()
  for _, c in ipairs(golden.packed) do
    it(c.name, function()
      local m = nn[c.kind](c.I, c.H, { batch_first = c.batch_first })
      local x0 = G(c.x)
      if x0:dtype() == 'float64' then m:double() end
      m:load_state_dict(named(c.state))
      local x = x0:requires_grad()
      local p = R.pack_padded_sequence(x, c.lengths, c.batch_first, false)
      close(p.data, c.packed, 'packed data')
      assert.are.same(G(c.batch_sizes):totable(), p.batch_sizes:totable())
      assert.are.same(G(c.sorted_indices):totable(), p.sorted_indices:totable())
      local out, h = m(p)
      assert.is_true(R.is_packed(out))
      close(out.data, c.out, 'output data')
      local hs = c.kind == 'LSTM' and h or { h }
      local loss = (out.data * G(c.w)):sum()
      for i, t in ipairs(hs) do
        close(t, c.hs[i], 'state ' .. i)
        loss = loss + (t * G(c.ws[i])):sum()
      end
      loss:backward()
      close(x.grad, c.grad_x, 'input gradient')
      for _, kv in ipairs(c.grads) do close(rawget(m, kv.name).grad, kv.t, 'gradient of ' .. kv.name) end
    end)
  end
end)

describe('pad_sequence, pack_padded_sequence, pad_packed_sequence, pack_sequence', function()
  it('pad_sequence puts each sequence in its column, padding_value after', function()
    local a, b = nl.tensor({ { 1, 2 } }), nl.tensor({ { 3, 4 }, { 5, 6 }, { 7, 8 } })
    assert.are.same({ { { 1, 2 }, { 3, 4 } }, { { -1, -1 }, { 5, 6 } }, { { -1, -1 }, { 7, 8 } } },
                    R.pad_sequence({ a, b }, false, -1):totable())
    assert.are.same({ { { 1, 2 }, { 0, 0 }, { 0, 0 } }, { { 3, 4 }, { 5, 6 }, { 7, 8 } } },
                    R.pad_sequence({ a, b }, { batch_first = true }):totable())
  end)

  it('packs time-major by decreasing length and pads back in batch order', function()
    local x = nl.arange(0, 12):view(4, 3, 1)
    local p = R.pack_padded_sequence(x, { 2, 4, 2 }, false, false)
    -- torch: data [1, 0, 2, 4, 3, 5, 7, 10], batch_sizes [3, 3, 1, 1], sorted_indices [1, 0, 2] (0-based)
    assert.are.same({ 1, 0, 2, 4, 3, 5, 7, 10 }, p.data:view(-1):totable())
    assert.are.same({ 3, 3, 1, 1 }, p.batch_sizes:totable())
    assert.are.same({ 2, 1, 3 }, p.sorted_indices:totable())
    assert.are.same({ 2, 1, 3 }, p.unsorted_indices:totable())
    local y, l = R.pad_packed_sequence(p, { padding_value = -1, total_length = 5 })
    assert.are.same({ { 0, 1, 2 }, { 3, 4, 5 }, { -1, 7, -1 }, { -1, 10, -1 }, { -1, -1, -1 } }, y:view(5, 3):totable())
    assert.are.same({ 2, 4, 2 }, l:totable())
    local yb = R.pad_packed_sequence(p, true)
    assert.are.same({ { 0, 3, 0, 0 }, { 1, 4, 7, 10 }, { 2, 5, 0, 0 } }, yb:view(3, 4):totable())
    local s = R.pack_sequence({ nl.tensor({ 1, 2, 3 }), nl.tensor({ 4, 5 }) })
    assert.are.same({ 1, 4, 2, 5, 3 }, s.data:totable())
    assert.is_nil(s.sorted_indices)
  end)

  it('gradients flow through pack and pad (float64 finite differences)', function()
    local x = nl.randn(4, 3, 2):double():requires_grad()
    assert.is_true(nl.gradcheck(function(a)
      local p = R.pack_padded_sequence(a, { 3, 4, 1 }, false, false)
      local y = R.pad_packed_sequence(p:_with(p.data * p.data), true)
      return y
    end, { x }))
  end)

  it('an RNN over a packed batch gives what it gives with lengths', function()
    local lstm = nn.LSTM(3, 4, { num_layers = 2, bidirectional = true })
    local x = nl.randn(5, 3, 3)
    local out, hc = lstm(R.pack_padded_sequence(x, { 5, 2, 4 }, false, false))
    local ref, rhc = lstm(x, { lengths = { 5, 2, 4 } })
    local y = R.pad_packed_sequence(out)
    S.same_bits(y, ref, 'outputs')
    S.same_bits(hc[1], rhc[1], 'h_n')
    S.same_bits(hc[2], rhc[2], 'c_n')
  end)

  it('unpad_sequence and unpack_sequence give back the sequences, as copies, with their gradients', function()
    local seqs = { nl.randn(2, 3), nl.randn(4, 3), nl.randn(1, 3) }
    for _, bf in ipairs({ false, true }) do
      local padded = R.pad_sequence(seqs, bf, -7)
      for _, lens in ipairs({ { 2, 4, 1 }, nl.tensor({ 2, 4, 1 }, 'int64') }) do
        local back = R.unpad_sequence(padded, lens, bf)
        assert.are.equal(3, #back)
        for i = 1, 3 do S.same_bits(back[i], seqs[i], 'unpad_sequence sequence ' .. i) end
      end
      local back = R.unpack_sequence(R.pack_padded_sequence(padded, { 2, 4, 1 }, bf, false))
      for i = 1, 3 do S.same_bits(back[i], seqs[i], 'unpack_sequence sequence ' .. i) end
      -- copies: writing one leaves the padded tensor as it was
      local before = padded:clone()
      R.unpad_sequence(padded, { 2, 4, 1 }, { batch_first = bf })[2]:fill_(5)
      S.same_bits(padded, before, 'the padded input')
    end
    -- a length of 0 gives an empty sequence (as PyTorch's)
    assert.are.same({ 0, 3 }, R.unpad_sequence(R.pad_sequence(seqs), { 0, 4, 1 })[1]:shape())
    -- gradient 1 on every step kept, 0 on the padding
    local x = nl.randn(3, 2, 1):requires_grad()
    local parts = R.unpad_sequence(x, { 1, 3 })
    ;(parts[1]:sum() + parts[2]:sum() * 2):backward()
    assert.are.same({ { { 1 }, { 2 } }, { { 0 }, { 2 } }, { { 0 }, { 2 } } }, x.grad:totable())
  end)

  local x = nl.randn(4, 3, 2)
  local cases = {
    { 'unsorted lengths by default', function() R.pack_padded_sequence(x, { 2, 4, 1 }) end, 'pack_padded_sequence: lengths must be sorted in decreasing order' },
    { 'a length of 0', function() R.pack_padded_sequence(x, { 4, 2, 0 }) end, 'lengths[3] is 0, outside 1..4' },
    { 'a length past T', function() R.pack_padded_sequence(x, { 5, 2, 1 }) end, 'lengths[1] is 5, outside 1..4' },
    { 'lengths of another batch', function() R.pack_padded_sequence(x, { 4, 2 }) end, '2 lengths for a batch of 3' },
    { 'float lengths', function() R.pack_padded_sequence(x, nl.tensor({ 4, 2, 1 })) end, 'lengths must be a 1-D int64 tensor' },
    { 'a flag that is not a boolean', function() R.pack_padded_sequence(x, { 4, 2, 1 }, 1) end, 'batch_first must be a boolean' },
    { 'a short total_length', function() R.pad_packed_sequence(R.pack_padded_sequence(x, { 4, 2, 1 }), false, 0, 3) end, 'total_length must be a whole number at least the longest length 4' },
    { 'a tensor for pad_packed_sequence', function() R.pad_packed_sequence(x) end, 'pad_packed_sequence: expected a PackedSequence' },
    { 'sequences of other trailing shapes', function() R.pad_sequence({ nl.randn(2, 3), nl.randn(2, 4) }) end, 'pad_sequence: sequence 2 has steps of shape [4], sequence 1 of [3]' },
    { 'an empty list', function() R.pad_sequence({}) end, 'pad_sequence: expected a non-empty list' },
    { 'pack_sequence of an empty sequence', function() R.pack_sequence({ nl.randn(2, 3), nl.randn(0, 3) }, false) end, 'pack_sequence: sequence 2 has no steps (shape [0,3];' },
    { 'pack_sequence unsorted by default', function() R.pack_sequence({ nl.randn(2, 3), nl.randn(3, 3) }) end, 'pack_sequence: lengths must be sorted in decreasing order' },
    { 'unpad_sequence past the steps', function() R.unpad_sequence(x, { 5, 2, 1 }) end, "unpad_sequence: lengths[1] is 5, outside 0..4 (the input's steps)" },
    { 'unpad_sequence lengths of another batch', function() R.unpad_sequence(x, { 4, 2 }) end, 'unpad_sequence: 2 lengths for a batch of 3' },
    { 'unpack_sequence of a tensor', function() R.unpack_sequence(x) end, 'unpack_sequence: expected a PackedSequence' },
    { 'lengths beside a packed input', function() nn.GRU(2, 3)(R.pack_padded_sequence(x, { 4, 2, 1 }), { lengths = { 4, 2, 1 } }) end, "GRU: unknown option 'lengths' (a PackedSequence carries its lengths)" },
  }
  for _, c in ipairs(cases) do
    it('refuses ' .. c[1], function()
      local msg = errmsg(c[2])
      has(msg, c[3])
    end)
  end
end)
