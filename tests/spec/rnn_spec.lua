-- Recurrent layers and cells (nn.RNN, nn.LSTM, nn.GRU, nn.*Cell and the
-- fused C ops under them), three ways (STYLE 12):
--   * against PyTorch golden values (tests/golden/rnn.lua, made by
--     tests/golden/gen_rnn.py): outputs, final states and the gradients of
--     the input, the initial states and every parameter; 1 and 2 layers,
--     both layouts, initial states, unsorted variable lengths (PyTorch's
--     packed sequences), unbatched input; each layer through the optimized
--     kernels and through the plain reference loops;
--   * the optimized kernels against the reference loops on sizes that hit
--     every tail of the GEMM tiles and the batch padding;
--   * float64 finite-difference gradchecks of each cell op and of short
--     multi-layer sequences, with and without lengths.
-- Then what lengths mean, thread-count independence, and error messages.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local RTOL, ATOL = 1e-5, 2e-6          -- float32 against PyTorch
local TOL = { eps = 1e-6, atol = 1e-5, rtol = 1e-5 }

local golden = dofile(S.root .. '/tests/golden/rnn.lua')

local from_golden = S.from_golden

-- got equals want within the tolerances (rtol, atol: this file's by default)
local function expect_close(got, want, what, rtol, atol)
  S.expect_close(got, want, what, rtol or RTOL, atol or ATOL)
end

local error_of, has = S.errmsg, S.contains

-- ---- golden layers -------------------------------------------------------------

local function make_layer(c, reference)
  local opts = {}
  for k, v in pairs(c.opts) do opts[k] = v end
  opts.reference = reference
  local m = nn[c.kind](c.args[1], c.args[2], opts)
  for _, s in ipairs(c.state) do nl.no_grad(function() m[s.name]:copy_(from_golden(s.t)) end) end
  return m
end

-- runs case c; returns out, h_n, c_n and the leaves
local function run_layer(c, reference)
  local m = make_layer(c, reference)
  local x = from_golden(c.input):requires_grad()
  local h0 = c.h0 and from_golden(c.h0):requires_grad() or nil
  local c0 = c.c0 and from_golden(c.c0):requires_grad() or nil
  local hx = h0
  if c.kind == 'LSTM' then
    hx = (h0 or c0) and { h0 or nl.zeros(from_golden(c.h_n):shape()), c0 or nl.zeros(from_golden(c.c_n):shape()) } or nil
  end
  local lengths = from_golden(c.lengths)
  local out, hn = m(x, hx, lengths and { lengths = lengths } or nil)
  local cn
  if c.kind == 'LSTM' then hn, cn = hn[1], hn[2] end
  local loss = (out * from_golden(c.w)):sum() + (hn * from_golden(c.wh)):sum()
  if cn then loss = loss + (cn * from_golden(c.wc)):sum() end
  loss:backward()
  return m, out, hn, cn, x, h0, c0
end

describe('recurrent layers against PyTorch', function()
  for _, c in ipairs(golden.layers) do
    it(c.name .. ': parameter names and order are PyTorch\'s', function()
      local m = make_layer(c, false)
      local names = {}
      for i, kv in ipairs(m:named_parameters()) do names[i] = kv[1] end
      assert.are.same(c.params, names)
    end)
    for _, impl in ipairs({ 'optimized', 'reference' }) do
      it(c.name .. ': forward and backward (' .. impl .. ' kernels)', function()
        local m, out, hn, cn, x, h0, c0 = run_layer(c, impl == 'reference')
        expect_close(out, c.out, c.name .. ' output')
        expect_close(hn, c.h_n, c.name .. ' h_n')
        if c.c_n then expect_close(cn, c.c_n, c.name .. ' c_n') end
        expect_close(x.grad, c.grad_input, c.name .. ' grad of the input')
        if c.grad_h0 then expect_close(h0.grad, c.grad_h0, c.name .. ' grad of h0') end
        if c.grad_c0 then expect_close(c0.grad, c.grad_c0, c.name .. ' grad of c0') end
        for _, g in ipairs(c.grads) do
          assert.is_not_nil(m[g.name].grad, c.name .. ': ' .. g.name .. ' has no grad')
          expect_close(m[g.name].grad, g.t, c.name .. ' grad of ' .. g.name)
        end
      end)
    end
  end
end)

-- ---- golden cells ------------------------------------------------------------------

describe('recurrent cells against PyTorch', function()
  for _, c in ipairs(golden.cells) do
    it(c.name .. ': forward and backward', function()
      local m = nn[c.kind](c.args[1], c.args[2], c.opts)
      local names = {}
      for i, kv in ipairs(m:named_parameters()) do names[i] = kv[1] end
      assert.are.same(c.params, names)
      for _, s in ipairs(c.state) do nl.no_grad(function() m[s.name]:copy_(from_golden(s.t)) end) end
      local x = from_golden(c.input):requires_grad()
      local h = c.h and from_golden(c.h):requires_grad() or nil
      local cc = c.c and from_golden(c.c):requires_grad() or nil
      local h1, c1
      if c.kind == 'LSTMCell' then h1, c1 = m(x, h and { h, cc }) else h1 = m(x, h) end
      expect_close(h1, c.out, c.name .. " h'")
      local loss = (h1 * from_golden(c.w)):sum()
      if c1 then
        expect_close(c1, c.c_out, c.name .. " c'")
        loss = loss + (c1 * from_golden(c.wc)):sum()
      end
      loss:backward()
      expect_close(x.grad, c.grad_input, c.name .. ' grad of the input')
      if h then expect_close(h.grad, c.grad_h, c.name .. ' grad of h') end
      if cc then expect_close(cc.grad, c.grad_c, c.name .. ' grad of c') end
      for _, g in ipairs(c.grads) do expect_close(m[g.name].grad, g.t, c.name .. ' grad of ' .. g.name) end
    end)
  end
end)

-- ---- optimized kernels against the reference loops ------------------------------------

-- output, final states and all gradients of a fresh module pair on the same data
local function both_ways(kind, I, H, T, N, opts, dtype, with_lengths)
  local results = {}
  nl.manual_seed(42)
  local x = nl.randn(opts.batch_first and { N, T, I } or { T, N, I }, dtype)
  local L = opts.num_layers or 1
  local h0, c0 = nl.randn(L, N, H, dtype), nl.randn(L, N, H, dtype)
  local lengths
  if with_lengths then
    lengths = {}
    for b = 1, N do lengths[b] = 1 + (b * 7) % T end
  end
  local w, wh = nil, nil
  local state
  for _, ref in ipairs({ false, true }) do
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.reference = ref
    nl.manual_seed(7)
    local m = nn[kind](I, H, o)
    if dtype == 'float64' then m:double() end
    if state then m:load_state_dict(state) else state = m:state_dict() end
    local xl, h0l, c0l = x:clone():requires_grad(), h0:clone():requires_grad(), c0:clone():requires_grad()
    local out, hn = m(xl, kind == 'LSTM' and { h0l, c0l } or h0l, { lengths = lengths })
    local cn
    if kind == 'LSTM' then hn, cn = hn[1], hn[2] end
    w = w or nl.randn(out:shape(), dtype)
    wh = wh or nl.randn(hn:shape(), dtype)
    local loss = (out * w):sum() + (hn * wh):sum()
    if cn then loss = loss + (cn * wh):sum() * 0.5 end
    loss:backward()
    local r = { out = out, hn = hn, cn = cn, dx = xl.grad, dh0 = h0l.grad, dc0 = kind == 'LSTM' and c0l.grad or nil }
    for _, kv in ipairs(m:named_parameters()) do r[kv[1]] = kv[2].grad end
    results[#results + 1] = r
  end
  return results[1], results[2]
end

describe('optimized recurrent kernels', function()
  local cases = {
    -- kind, I, H, T, N, opts: GEMM rows G*H of 4*19 = 76 (6 tiles of 12 + 4), batch 37
    -- padded to 48 (a 32-column tile and a 16-column one), batch 5 (masked columns)
    { 'LSTM', 13, 19, 7, 37, {} },
    { 'LSTM', 3, 5, 4, 5, { num_layers = 2, batch_first = true } },
    -- dW's k in blocks of 8 steps (more than 16 steps): 40 = 5 whole blocks
    { 'LSTM', 13, 19, 40, 37, {} },
    { 'GRU', 13, 19, 6, 37, { num_layers = 2 } },
    { 'GRU', 7, 3, 5, 2, { batch_first = true } },
    { 'GRU', 7, 3, 18, 2, {} },
    { 'RNN', 13, 23, 6, 33, { nonlinearity = 'relu' } },
    { 'RNN', 70, 17, 4, 16, { num_layers = 2, batch_first = true } },
    -- 28 units: two chunks of 12 and one of 4 (the 4-row tile), the upper
    -- layer's dx in tiles of 12, 12 and 4
    { 'LSTM', 70, 28, 6, 20, { num_layers = 2 } },
    -- batches of 1 and 3: on AVX2 the products of a whole panel against
    -- the batch's columns, rows across the lanes
    { 'LSTM', 13, 19, 7, 1, {} },
    { 'RNN', 13, 23, 6, 3, { num_layers = 2 } },
  }
  for _, cs in ipairs(cases) do
    for _, dtype in ipairs({ 'float32', 'float64' }) do
      for _, lens in ipairs({ false, true }) do
        local name = ('%s I=%d H=%d T=%d N=%d%s %s%s'):format(cs[1], cs[2], cs[3], cs[4], cs[5],
          cs[6].num_layers and ' 2 layers' or '', dtype, lens and ' with lengths' or '')
        it('match the reference loops: ' .. name, function()
          local a, b = both_ways(cs[1], cs[2], cs[3], cs[4], cs[5], cs[6], dtype, lens)
          local rtol, atol = dtype == 'float32' and 1e-4 or 1e-10, dtype == 'float32' and 1e-5 or 1e-12
          for k, v in pairs(b) do expect_close(a[k], v, name .. ' ' .. k, rtol, atol) end
        end)
      end
    end
  end

  it('give the same results on 1 and 2 threads', function()
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    local res = {}
    for _, nt in ipairs({ 1, 2 }) do
      nl.set_num_threads(nt)
      -- large enough that the step GEMMs, the gate kernels and dW all split
      res[nt] = { both_ways('LSTM', 64, 128, 5, 32, {}, 'float32', true) }
    end
    for k, v in pairs(res[1][1]) do expect_close(res[2][1][k], v, 'threads: ' .. k, 1e-6, 1e-7) end
  end)

  it('run every cell kind the same, bit for bit, on 1, 2 and 3 threads', function()
    -- sizes whose steps split between 3 threads (chunks of 12 units taken
    -- from each other's ranges as threads finish), the upper layer's dx
    -- rows among them; lengths, so finished sequences keep their states
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    local cases = { { 'LSTM', 160, 100, 6, 32 }, { 'GRU', 60, 160, 6, 30 }, { 'RNN', 40, 300, 5, 32 } }
    for _, cs in ipairs(cases) do
      local res = {}
      for _, nt in ipairs({ 1, 2, 3 }) do
        nl.set_num_threads(nt)
        nl.manual_seed(3)
        local m = nn[cs[1]](cs[2], cs[3], { num_layers = 2 })
        local x = nl.randn(cs[4], cs[5], cs[2]):requires_grad()
        local lengths = {}
        for b = 1, cs[5] do lengths[b] = 1 + (b * 5) % cs[4] end
        local out = m(x, { lengths = lengths })
        local loss = (out * nl.randn(out:shape())):sum()
        loss:backward()
        local r = { out = S.flat(out), dx = S.flat(x.grad) }
        for _, kv in ipairs(m:named_parameters()) do r[kv[1]] = S.flat(kv[2].grad) end
        res[nt] = r
      end
      for _, nt in ipairs({ 2, 3 }) do
        for k, v in pairs(res[1]) do assert.are.same(v, res[nt][k], cs[1] .. ' ' .. k .. ' on ' .. nt .. ' threads') end
      end
    end
  end)

  it('dW over many steps, k in blocks of steps: the reference values, and the same bits on 1 to 8 threads', function()
    -- T = 21: two whole blocks of 8 steps and a part; G*H = 160 rows of dW
    -- (14 row tiles: on 8 threads, fewer than twice the threads, so column
    -- groups); dW_hh's 40 columns a 32-column tile and an 8-column one
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    local res = {}
    for _, nt in ipairs({ 1, 2, 3, 8 }) do
      nl.set_num_threads(nt)
      local fast, ref = both_ways('LSTM', 13, 40, 21, 20, {}, 'float32', true)
      res[nt] = fast
      if nt == 1 then
        for k, v in pairs(ref) do expect_close(fast[k], v, 'k blocks: ' .. k, 1e-4, 1e-5) end
      end
    end
    for _, nt in ipairs({ 2, 3, 8 }) do
      for _, name in ipairs({ 'weight_ih_l0', 'weight_hh_l0' }) do
        assert.are.same(S.flat(res[1][name]), S.flat(res[nt][name]), name .. ' on ' .. nt .. ' threads')
      end
    end
  end)
end)

describe('recurrent activations over the float range', function()
  -- tanh through an RNN step (h = tanh(x)) and sigmoid through an LSTM
  -- step's cell (gates i = x, f on c0 = 0, g = tanh(20) = 1: c = sigmoid(x)),
  -- in each kernel set, against libm in double: the polynomials' clamps,
  -- the switch of tanh's two forms at |x| = 0.625, and NaN passing through
  -- (relu's too)
  local nan, inf = 0 / 0, math.huge
  local vals = { 0, 1e-8, -1e-8, 0.3, -0.3, 0.6249, -0.6249, 0.625, -0.625, 0.6251, -0.6251, 1, -1, 5, -5, 9, -9,
                 20, -20, 44, -44, 80, -80, 87.5, -87.5, 88.5, -88.5, 89, -89, 100, -100, 1e30, -1e30, nan }
  local function input(list)
    local t = {}
    for i, v in ipairs(list) do t[i] = { v } end
    return nl.tensor({ t })
  end
  local function near(got, want, what)
    if want ~= want then return assert.is_true(got ~= got, what .. ': NaN expected, got ' .. tostring(got)) end
    if got == want then return end   -- the infinities
    local tol = 1e-6 * math.abs(want) + 1e-7   -- a few float32 ulp
    assert.is_true(math.abs(got - want) <= tol, ('%s: %.9g, libm %.9g'):format(what, got, want))
  end
  for _, ref in ipairs({ false, true }) do
    it((ref and 'reference loops' or 'optimized kernels') .. ': tanh and sigmoid against libm', function()
      local rnn = nn.RNN(1, 1, { reference = ref })
      nl.no_grad(function()
        rnn.weight_ih_l0:fill_(1)
        rnn.weight_hh_l0:fill_(0)
        rnn.bias_ih_l0:fill_(0)
        rnn.bias_hh_l0:fill_(0)
      end)
      local with_inf = { inf, -inf }
      for _, v in ipairs(vals) do with_inf[#with_inf + 1] = v end
      local h = S.flat(rnn(input(with_inf)))
      for i, v in ipairs(with_inf) do near(h[i], math.tanh(v), 'tanh(' .. v .. ')') end
      -- relu: NaN passes, as in PyTorch's relu RNN and nl.relu
      local relu = nn.RNN(1, 1, { nonlinearity = 'relu', reference = ref })
      relu:load_state_dict(rnn:state_dict())
      h = S.flat(relu(input(with_inf)))
      for i, v in ipairs(with_inf) do
        near(h[i], v ~= v and v or math.max(v, 0), 'relu(' .. v .. ')')
      end
      local lstm = nn.LSTM(1, 1, { reference = ref })
      nl.no_grad(function()
        lstm.weight_ih_l0:copy_(nl.tensor({ { 1 }, { 0 }, { 0 }, { 0 } }))
        lstm.weight_hh_l0:fill_(0)
        lstm.bias_ih_l0:copy_(nl.tensor({ 0, 0, 20, 0 }))
        lstm.bias_hh_l0:fill_(0)
      end)
      local _, hc = lstm(input(vals))
      local c = S.flat(hc[2])
      for i, v in ipairs(vals) do near(c[i], 1 / (1 + math.exp(-v)), 'sigmoid(' .. v .. ')') end
    end)
  end
end)

-- ---- float64 gradchecks ----------------------------------------------------------------------

local U = S.rng(4242)
-- a float64 leaf of the given shape, values in [-1, 1)
local function rand64(...)
  local shape = { ... }
  return nl.tensor(S.nested(shape, function() return U(-1, 1) end), 'float64'):requires_grad()
end
-- the same in [-2, 2): pre-activations that reach the flat parts of sigmoid and tanh
local function wide64(...)
  local shape = { ... }
  return nl.tensor(S.nested(shape, function() return U(-2, 2) end), 'float64'):requires_grad()
end

local function check(f, inputs)
  local ok, msg = nl.gradcheck(f, inputs, TOL)
  assert.is_true(ok, msg)
end

describe('recurrent gradchecks (float64)', function()
  it('lstm_cell: gates and c', function()
    check(function(g, c)
      local h1, c1 = nn.functional.lstm_cell(g, c)
      return nl.cat({ h1, c1 }, 2)
    end, { wide64(3, 8), rand64(3, 2) })
  end)

  it('gru_cell: gi, gh and h', function()
    check(nn.functional.gru_cell, { wide64(3, 9), wide64(3, 9), rand64(3, 3) })
  end)

  it('rnn_cell: tanh and relu, with and without gh', function()
    check(function(a, b) return nn.functional.rnn_cell(a, b, 'tanh') end, { wide64(3, 4), rand64(3, 4) })
    check(function(a, b) return nn.functional.rnn_cell(a, b, 'relu') end, { wide64(3, 4), rand64(3, 4) })
    check(function(a) return nn.functional.rnn_cell(a, nil, 'tanh') end, { rand64(2, 5) })
    -- any other name ran relu
    local ok, err = pcall(nn.functional.rnn_cell, nl.tensor({ { -1, 2 } }), nil, 'sigmoid')
    assert.is_false(ok)
    assert.is_truthy(err:find("rnn_cell: nonlinearity must be 'tanh' or 'relu', got sigmoid"), err)
  end)

  for _, kind in ipairs({ 'LSTMCell', 'GRUCell', 'RNNCell' }) do
    it(kind .. ': input, state and every parameter', function()
      local m = nn[kind](3, 4):double()
      local x, h, c = rand64(2, 3), rand64(2, 4), rand64(2, 4)
      local ins = { x, h, c }
      for _, p in ipairs(m:parameters()) do ins[#ins + 1] = p end
      check(function()
        if kind == 'LSTMCell' then
          local h1, c1 = m(x, { h, c })
          return nl.cat({ h1, c1 }, 2)
        end
        return m(x, h)
      end, ins)
    end)
  end

  for _, kind in ipairs({ 'LSTM', 'GRU', 'RNN' }) do
    for _, lens in ipairs({ false, true }) do
      for _, bf in ipairs({ false, true }) do
        local name = ('%s, 2 layers, T=4 N=3%s%s: input, initial states and every parameter'):format(
          kind, bf and ', batch_first' or '', lens and ', lengths {4, 1, 3}' or '')
        it(name, function()
          local m = nn[kind](3, 2, { num_layers = 2, batch_first = bf }):double()
          local x = bf and rand64(3, 4, 3) or rand64(4, 3, 3)
          local h0, c0 = rand64(2, 3, 2), rand64(2, 3, 2)
          local ins = { x, h0 }
          if kind == 'LSTM' then ins[#ins + 1] = c0 end
          for _, p in ipairs(m:parameters()) do ins[#ins + 1] = p end
          local opts = lens and { lengths = { 4, 1, 3 } } or nil
          check(function()
            local out, hn = m(x, kind == 'LSTM' and { h0, c0 } or h0, opts)
            local parts = { out:reshape(-1) }
            if kind == 'LSTM' then
              parts[2], parts[3] = hn[1]:reshape(-1), hn[2]:reshape(-1)
            else
              parts[2] = hn:reshape(-1)
            end
            return nl.cat(parts, 1)
          end, ins)
        end)
      end
    end
  end

  -- both directions, and the reverse one's per-sequence turn with lengths
  for _, kind in ipairs({ 'LSTM', 'GRU' }) do
    it(kind .. ', bidirectional, 2 layers, lengths {3, 1, 4}: input, initial states and every parameter', function()
      local m = nn[kind](3, 2, { num_layers = 2, bidirectional = true, batch_first = true }):double()
      local x, h0, c0 = rand64(3, 4, 3), rand64(4, 3, 2), rand64(4, 3, 2)
      local ins = { x, h0 }
      if kind == 'LSTM' then ins[#ins + 1] = c0 end
      for _, p in ipairs(m:parameters()) do ins[#ins + 1] = p end
      check(function()
        local out, hn = m(x, kind == 'LSTM' and { h0, c0 } or h0, { lengths = { 3, 1, 4 } })
        if kind == 'LSTM' then hn = nl.cat({ hn[1], hn[2] }, 1) end
        return nl.cat({ out:reshape(-1), hn:reshape(-1) }, 1)
      end, ins)
    end)
  end

  it('relu RNN and a layer without biases', function()
    for _, m in ipairs({ nn.RNN(3, 3, { nonlinearity = 'relu' }):double(), nn.LSTM(2, 3, { bias = false }):double() }) do
      local x = rand64(3, 2, m.input_size)
      local ins = { x }
      for _, p in ipairs(m:parameters()) do ins[#ins + 1] = p end
      check(function() return (m(x)) end, ins)
    end
  end)
end)

-- ---- semantics ---------------------------------------------------------------------------------

describe('recurrent layers', function()
  it('with lengths: zero output past each end, final state from each last step, padding ignored', function()
    nl.manual_seed(3)
    for _, kind in ipairs({ 'LSTM', 'GRU', 'RNN' }) do
      local m = nn[kind](4, 6, { batch_first = true })
      local x = nl.randn(3, 5, 4)
      local lens = { 5, 2, 3 }
      local out, hn = m(x, { lengths = nl.tensor(lens, 'int64') })
      if kind == 'LSTM' then hn = hn[1] end
      for b = 1, 3 do
        -- the sequence alone, unpadded, gives the same outputs and final state
        local alone, hb = m(x:narrow(1, b, 1):narrow(2, 1, lens[b]))
        if kind == 'LSTM' then hb = hb[1] end
        expect_close(out:narrow(1, b, 1):narrow(2, 1, lens[b]), alone, kind .. ' sequence ' .. b, 1e-6, 1e-7)
        expect_close(hn:narrow(2, b, 1), hb, kind .. ' h_n of sequence ' .. b, 1e-6, 1e-7)
        if lens[b] < 5 then
          local rest = out:narrow(1, b, 1):narrow(2, lens[b] + 1, 5 - lens[b])
          assert.are.equal(0, rest:abs():sum():item(), kind .. ': output past the end of sequence ' .. b)
        end
      end
    end
  end)

  it('an LSTM learns a running sum: Adam takes the loss below a fiftieth', function()
    nl.manual_seed(11)
    local m = nn.LSTM(2, 8)
    local head = nn.Linear(8, 1)
    local params = m:parameters()
    for _, p in ipairs(head:parameters()) do params[#params + 1] = p end
    local opt = nl.optim.Adam(params, { lr = 0.02 })
    -- running sum of the first input channel
    local x = nl.randn(6, 16, 2) * 0.5
    local y = nl.zeros(6, 16, 1)
    nl.no_grad(function()
      local acc = nl.zeros(16, 1)
      for t = 1, 6 do
        acc = acc + x[t]:narrow(2, 1, 1)
        y[t] = acc
      end
    end)
    local first, last
    for step = 1, 150 do
      local out = m(x)
      local loss = nn.functional.mse_loss(head(out), y)
      opt:zero_grad()
      loss:backward()
      opt:step()
      first = first or loss:item()
      last = loss:item()
    end
    assert.is_true(last < first * 0.02, ('loss %.4f -> %.4f'):format(first, last))
  end)

  it('dropout acts between layers in training only', function()
    nl.manual_seed(5)
    local m = nn.GRU(3, 8, { num_layers = 2, dropout = 0.5 })
    local x = nl.randn(4, 2, 3)
    m:eval()
    local a, b = m(x), m(x)
    expect_close(a, b, 'eval mode is deterministic', 0, 0)
    m:train()
    local c = m(x)
    assert.is_true((c - a):abs():max():item() > 1e-3, 'dropout changes the training output')
    local one = nn.GRU(3, 8, { dropout = 0.5 })       -- a single layer has nothing to drop
    expect_close(one(x), one(x), 'one layer, training', 0, 0)
  end)

  it('saves and loads: same outputs after nn.load', function()
    local m = nn.LSTM(3, 5, { num_layers = 2, batch_first = true })
    local path = os.tmpname()
    m:save(path)
    local m2 = nn.load(path)
    os.remove(path)
    local x = nl.randn(2, 4, 3)
    local o1, hc1 = m(x)
    local o2, hc2 = m2(x)
    expect_close(o2, o1, 'output after load', 0, 0)
    expect_close(hc2[2], hc1[2], 'c_n after load', 0, 0)
  end)

  it('backward twice with retain_graph doubles the gradients', function()
    local m = nn.LSTM(3, 4)
    local x = nl.randn(5, 2, 3):requires_grad()
    local out = m(x)
    local loss = (out * out):sum()
    loss:backward({ retain_graph = true })
    local g1, w1 = x.grad:clone(), m.weight_hh_l0.grad:clone()
    loss:backward()
    expect_close(x.grad, g1 * 2, 'input grad', 1e-6, 1e-7)
    expect_close(m.weight_hh_l0.grad, w1 * 2, 'weight_hh grad', 1e-6, 1e-7)
  end)

  it('bidirectional: saves and loads, prints, counts PyTorch\'s parameters, takes an empty batch', function()
    local m = nn.GRU(64, 128, { num_layers = 2, bidirectional = true })
    -- PyTorch: GRU(64, 128, num_layers=2, bidirectional=True): 445440 parameters
    assert.are.equal('GRU(64, 128, num_layers=2, bidirectional=true)', m:repr())
    assert.are.equal(445440, m:num_parameters())
    assert.are.same({ 3 * 128, 256 }, m.weight_ih_l1_reverse:shape())
    local path = os.tmpname()
    m:save(path)
    local m2 = nn.load(path)
    os.remove(path)
    local x = nl.randn(3, 2, 64)
    local o1, h1 = m(x)
    local o2, h2 = m2(x)
    assert.are.same({ 3, 2, 256 }, o1:shape())
    assert.are.same({ 4, 2, 128 }, h1:shape())
    expect_close(o2, o1, 'output after load', 0, 0)
    expect_close(h2, h1, 'h_n after load', 0, 0)
    local e, eh = m(nl.zeros(3, 0, 64))
    assert.are.same({ 3, 0, 256 }, e:shape())
    assert.are.same({ 4, 0, 128 }, eh:shape())
    has(error_of(function() m(x, nl.zeros(2, 2, 128)) end),
        'h0 has shape [2,2,128], expected [4,2,128] (2 * num_layers, batch, hidden_size)')
  end)

  it("flatten_parameters() does nothing, as PyTorch's on the CPU, for every layer", function()
    nl.manual_seed(13)
    local x = nl.randn(4, 2, 3)
    for _, m in ipairs({ nn.LSTM(3, 4, { num_layers = 2 }), nn.GRU(3, 4), nn.RNN(3, 4),
                         nn.LSTM(3, 4, { proj_size = 2, bidirectional = true }) }) do
      local before = m(x)
      assert.is_nil(m:flatten_parameters(), m:repr())
      expect_close(m(x), before, m:repr() .. ' output after flatten_parameters', 0, 0)
    end
    has(error_of(function() nn.GRU(3, 4):flatten_parameters(1) end), 'GRU:flatten_parameters: takes (), got 1 argument')
  end)

  it('unbatched input and states drop the batch dim', function()
    local m = nn.GRU(3, 4, { num_layers = 2 })
    local out, hn = m(nl.randn(5, 3), nl.zeros(2, 4))
    assert.are.same({ 5, 4 }, out:shape())
    assert.are.same({ 2, 4 }, hn:shape())
    local l = nn.LSTM(3, 4)
    local o2, hc = l(nl.randn(5, 3))
    assert.are.same({ 5, 4 }, o2:shape())
    assert.are.same({ 1, 4 }, hc[2]:shape())
  end)

  it('prints its configuration and counts PyTorch\'s parameters', function()
    local m = nn.LSTM(64, 256, { num_layers = 2, batch_first = true })
    assert.are.equal('LSTM(64, 256, num_layers=2, batch_first=true)', m:repr())
    -- PyTorch: sum(p.numel() for p in nn.LSTM(64, 256, 2).parameters()) == 856064
    assert.are.equal(856064, m:num_parameters())
    assert.are.equal(4 * 256, m.weight_ih_l1:size(1))
  end)

  it('initializes every parameter in U(-1/sqrt(H), 1/sqrt(H))', function()
    local m = nn.GRU(10, 25)
    for _, kv in ipairs(m:named_parameters()) do
      local t = kv[2]
      assert.is_true(t:abs():max():item() <= 0.2, kv[1])
      assert.is_true(t:abs():max():item() > 0.15, kv[1] .. ' spans the range')
    end
  end)
end)

describe('recurrent layer errors', function()
  it('a wrong input size names the layer and both sizes', function()
    local m = nn.LSTM(64, 32, { num_layers = 2 })
    local msg = error_of(function() m(nl.randn(5, 3, 48)) end)
    has(msg, 'LSTM')
    has(msg, 'layer 1 (weight_ih_l0)')
    has(msg, 'input size 64')
    has(msg, 'got 48')
    has(msg, '[5,3,48]')
    msg = error_of(function() nn.GRUCell(10, 4)(nl.randn(2, 7)) end)
    has(msg, 'GRUCell: expects input size 10, got 7')
  end)

  it('lengths given as a table must be whole numbers, named with the layer', function()
    local x = nl.randn(5, 3, 2)
    -- (1.5 ran as a length of 1)
    has(error_of(function() nn.GRU(2, 3)(x, { lengths = { 1.5, 2, 3 } }) end),
        'GRU: lengths[1] must be a whole number, got 1.5')
    has(error_of(function() nn.LSTM(2, 3, { proj_size = 1 })(x, { lengths = { 3, 2.5, 3 } }) end),
        'LSTM: lengths[2] must be a whole number, got 2.5')
    has(error_of(function() nn.RNN(2, 3)(x, { lengths = { 3, 2, 0 / 0 } }) end), 'RNN: lengths[3] must be a whole number')
    has(error_of(function() nn.RNN(2, 3)(x, { lengths = { 3, '2', 1 } }) end), 'RNN: lengths[2] must be a whole number')
  end)

  it("a state of another dtype than the input names the layer or cell and the state", function()
    local x = nl.zeros(5, 2, 3)
    local f64 = function(...) return nl.zeros({ ... }, 'float64') end
    local proj = nn.LSTM(3, 4, { proj_size = 2 })
    has(error_of(function() proj(x, { f64(1, 2, 2), nl.zeros(1, 2, 4) }) end),
        'LSTM: h0 of dtype float64 for float32 input and weights (convert it: h0:float())')
    has(error_of(function() proj(x, { nl.zeros(1, 2, 2), f64(1, 2, 4) }) end), 'LSTM: c0 of dtype float64 for float32')
    has(error_of(function() nn.LSTM(3, 4)(x, { nl.zeros(1, 2, 4), f64(1, 2, 4) }) end), 'LSTM: c0 of dtype float64')
    has(error_of(function() nn.GRU(3, 4)(x, nl.zeros({ 1, 2, 4 }, 'int64')) end),
        'GRU: h0 of dtype int64 for float32 input and weights')
    has(error_of(function() nn.RNN(3, 4):double()(x:double(), nl.zeros(1, 2, 4)) end),
        'RNN: h0 of dtype float32 for float64 input and weights (convert it: h0:double())')
    has(error_of(function() nn.LSTMCell(3, 4)(nl.zeros(2, 3), { nl.zeros(2, 4), f64(2, 4) }) end),
        'LSTMCell: c of dtype float64 for float32 input and weights (convert it: c:float())')
    has(error_of(function() nn.RNNCell(3, 4)(nl.zeros(2, 3), f64(2, 4)) end), 'RNNCell: h of dtype float64')
    has(error_of(function() nn.GRUCell(3, 4)(nl.zeros(3), f64(4)) end), 'GRUCell: h of dtype float64')
  end)

  -- an empty batch, as PyTorch's (the C layer refused it): empty outputs
  -- and states, zero weight gradients; no time steps stay an error
  it('takes an empty batch', function()
    local g = nn.GRU(2, 3, { num_layers = 2 })
    local o, h = g(nl.zeros(4, 0, 2))
    assert.are.same({ 4, 0, 3 }, o:shape())
    assert.are.same({ 2, 0, 3 }, h:shape())
    o:sum():backward()
    assert.are.equal(0, g.weight_ih_l1.grad:abs():max():item())
    assert.are.same({ 9 }, g.bias_hh_l0.grad:shape())
    local l = nn.LSTM(2, 3, { batch_first = true })
    local lo, hc = l(nl.zeros(0, 4, 2), { nl.zeros(1, 0, 3), nl.zeros(1, 0, 3) })
    assert.are.same({ 0, 4, 3 }, lo:shape())
    assert.are.same({ 1, 0, 3 }, hc[2]:shape())
    has(error_of(function() nn.GRU(2, 3)(nl.zeros(0, 2, 2)) end), 'empty input of shape [0,2,2]')
  end)

  -- an unbatched input was named with the batch of one made for it
  -- ([7,1,3], [1,4]); an unbatched cell input takes an unbatched state, as
  -- PyTorch's (a [1,H] state was taken)
  it('names an unbatched input and state with the shapes the caller gave', function()
    has(error_of(function() nn.LSTM(4, 5)(nl.randn(7, 3)) end),
        'LSTM: layer 1 (weight_ih_l0) expects input size 4, got 3 (input shape [7,3])')
    has(error_of(function() nn.GRU(4, 5, { batch_first = true })(nl.randn(7, 3)) end), '(input shape [7,3])')
    has(error_of(function() nn.LSTMCell(3, 5)(nl.randn(3), { nl.randn(4), nl.randn(5) }) end),
        'LSTMCell: h has shape [4], expected [5]')
    has(error_of(function() nn.GRUCell(3, 5)(nl.randn(3), nl.randn(1, 5)) end), 'GRUCell: h has shape [1,5], expected [5]')
    has(error_of(function() nn.RNNCell(3, 5)(nl.randn(2, 3), nl.randn(5)) end), 'RNNCell: h has shape [5], expected [2,5]')
    has(error_of(function() nn.GRUCell(3, 5)(nl.randn(2)) end), 'GRUCell: expects input size 3, got 2 (input shape [2])')
    local cell = nn.LSTMCell(3, 5)
    local h, c = cell(nl.randn(3), { nl.randn(5), nl.randn(5) })
    assert.are.same({ 5 }, h:shape())
    assert.are.same({ 5 }, c:shape())
  end)

  it('the C layer op checks its arguments and names the op and the shapes', function()
    local lib, ffi = nl._lib, require('ffi')
    local function c_error(...)
      assert.is_true(lib.nl_rnn_layer(...) == nil, 'expected an error')
      return ffi.string(lib.nl_error())
    end
    local x, wi, wh = nl.randn(5, 2, 3), nl.randn(16, 4), nl.randn(16, 4)
    has(c_error(2, x.ptr, wi.ptr, wh.ptr, nil, nil, nil, nil, nil, 0, 0),
        'lstm: input has 3 features, w_ih expects 4 (input [5,2,3], w_ih [16,4])')
    has(c_error(3, x.ptr, nl.randn(12, 3).ptr, nl.randn(12, 5).ptr, nil, nil, nil, nil, nil, 0, 0),
        'gru: w_hh must be float32 (3*hidden, hidden), got float32 [12,5]')
    has(c_error(0, x.ptr, nl.randn(4, 3).ptr, nl.randn(4, 4).ptr, nil, nil, nl.zeros(3, 4).ptr, nil, nil, 0, 0),
        'rnn_tanh: h0 has shape [3,4], expected [2,4]')
    has(c_error(0, x.ptr, nl.randn(4, 3).ptr, nl.randn(4, 4).ptr, nl.zeros(4).ptr, nil, nil, nil, nil, 0, 0),
        'give both biases')
    has(c_error(1, x.ptr, nl.randn(4, 3).ptr, nl.randn(4, 4).ptr, nil, nil, nil, nl.zeros(2, 4).ptr, nil, 0, 0),
        'c0 is for LSTM only')
    has(c_error(0, x.ptr, nl.randn(4, 3, 'float64').ptr, nl.randn(4, 4).ptr, nil, nil, nil, nil, nil, 0, 0),
        'w_ih must be float32')
    has(c_error(0, x.ptr, nl.randn(4, 3).ptr, nl.randn(4, 4).ptr, nil, nil, nil, nil, nl.tensor({ 1, 2 }).ptr, 0, 0),
        'lengths must be an int64 vector of the batch size 2, got float32 [2]')
    has(c_error(7, x.ptr, wi.ptr, wh.ptr, nil, nil, nil, nil, nil, 0, 0), 'rnn_layer: unknown mode 7')
    local g = nn.functional
    has(error_of(function() g.lstm_cell(nl.randn(2, 7), nl.randn(2, 2)) end), 'lstm_cell: gates has shape [2,7], expected [2,8]')
    has(error_of(function() g.gru_cell(nl.randn(2, 6), nl.randn(3, 6), nl.randn(2, 2)) end),
        'gru_cell: gh has shape [3,6], expected [2,6]')
  end)

  it('wrong states, lengths and options are errors that name them', function()
    local m = nn.GRU(3, 4, { num_layers = 2 })
    has(error_of(function() m(nl.randn(5, 2, 3), nl.zeros(1, 2, 4)) end), 'h0 has shape [1,2,4], expected [2,2,4]')
    has(error_of(function() m(nl.randn(5, 2, 3), nil, { lengths = { 5, 6 } }) end),
        'length 6 of sequence 2 is outside 1..5')
    has(error_of(function() m(nl.randn(5, 2, 3), nil, { lengths = { 5 } }) end), 'lengths has shape [1]')
    has(error_of(function() m(nl.randn(5, 2, 3), nil, { lengths = { 0, 1 } }) end), 'outside 1..5')
    has(error_of(function() m(nl.randn(5)) end), 'GRU: input must be')
    has(error_of(function() nn.LSTM(3, 4)(nl.randn(5, 2, 3), nl.zeros(1, 2, 4)) end),
        'LSTM: the initial state must be a table {h0, c0}')
    has(error_of(function() nn.RNN(3, 4, { nonlinearity = 'sigmoid' }) end), "nonlinearity must be 'tanh' or 'relu'")
    has(error_of(function() nn.LSTM(3, 0) end), 'LSTM: expected positive integer input_size and hidden_size')
    -- a float64 input to a float32 layer blamed w_hh
    has(error_of(function() nn.LSTM(3, 4)(nl.randn(5, 2, 3, 'float64')) end),
        'LSTM: input of dtype float64 for a layer of float32 weights')
  end)

  -- an option a layer does not read was once dropped without a word; as
  -- PyTorch's (a TypeError there), each is now an error naming it
  it('options a layer, a cell or forward does not read are errors that name them', function()
    has(error_of(function() nn.LSTMCell(4, 3, { proj_size = 2 }) end), "LSTMCell: unknown option 'proj_size'")
    has(error_of(function() nn.LSTM(4, 3, { nonlinearity = 'relu' }) end), "LSTM: unknown option 'nonlinearity'")
    has(error_of(function() nn.GRU(4, 3, { batchfirst = true }) end), "GRU: unknown option 'batchfirst'")
    has(error_of(function() nn.GRUCell(4, 3, { nonlinearity = 'tanh' }) end), "GRUCell: unknown option 'nonlinearity'")
    has(error_of(function() nn.LSTMCell(4, 3, { num_layers = 2 }) end), "LSTMCell: unknown option 'num_layers'")
    -- every option each one reads is still taken
    local rnn = nn.RNN(4, 3, { num_layers = 2, bias = false, batch_first = true, dropout = 0, bidirectional = false,
                               reference = true, nonlinearity = 'relu' })
    assert.are.equal("RNN(4, 3, nonlinearity='relu', num_layers=2, bias=false, batch_first=true)", rnn:repr())
    assert.are.equal("RNNCell(4, 3, nonlinearity='relu', bias=false)",
                     nn.RNNCell(4, 3, { nonlinearity = 'relu', bias = false }):repr())
    -- forward's options: a misspelt lengths, given in hx's place or after it
    local x = nl.randn(5, 2, 4)
    has(error_of(function() nn.LSTM(4, 3)(x, { lenghts = { 5, 3 } }) end), "LSTM: unknown option 'lenghts'")
    has(error_of(function() nn.GRU(4, 3)(x, nil, { length = { 5, 3 } }) end), "GRU: unknown option 'length'")
    local out = nn.LSTM(4, 3)(x, { lengths = { 5, 3 } })
    assert.are.same({ 0, 0, 0 }, out[4][2]:totable())       -- sequence 2 ends after step 3
  end)
end)

-- ---- LSTM with projections (proj_size) -----------------------------------------------------
-- (the golden lstm_proj_* cases above check the values against PyTorch)

describe('LSTM with proj_size', function()
  local function golden_case(name)
    for _, c in ipairs(golden.layers) do if c.name == name then return c end end
    error('no golden case ' .. name)
  end

  it("loads a PyTorch state dict by its names (weight_hr_l<k>{_reverse}) and gives PyTorch's outputs", function()
    local c = golden_case('lstm_proj_bidir_2layer_lengths_h0_c0')
    local m = nn.LSTM(c.args[1], c.args[2], c.opts)
    S.golden_state(m, c, true)
    local out, hc = m(from_golden(c.input), { from_golden(c.h0), from_golden(c.c0) },
                      { lengths = from_golden(c.lengths) })
    expect_close(out, c.out, 'output')
    expect_close(hc[1], c.h_n, 'h_n')
    expect_close(hc[2], c.c_n, 'c_n')
    assert.are.same({ 3, 5 }, m.weight_hr_l1_reverse:shape())
    assert.are.same({ 20, 3 }, m.weight_hh_l0:shape())
    assert.are.same({ 20, 6 }, m.weight_ih_l1:shape())
  end)

  for _, bidir in ipairs({ false, true }) do
    for _, bf in ipairs({ false, true }) do
      for _, lens in ipairs({ false, true }) do
        local name = ('2 layers, proj_size 2 of 3%s%s%s: input, initial states and every parameter'):format(
          bidir and ', bidirectional' or '', bf and ', batch_first' or '', lens and ', lengths {4, 1, 3}' or '')
        it('gradcheck (float64): ' .. name, function()
          local m = nn.LSTM(3, 3, { num_layers = 2, proj_size = 2, bidirectional = bidir, batch_first = bf }):double()
          local D = bidir and 2 or 1
          local x = bf and rand64(3, 4, 3) or rand64(4, 3, 3)
          local h0, c0 = rand64(2 * D, 3, 2), rand64(2 * D, 3, 3)
          local ins = { x, h0, c0 }
          for _, p in ipairs(m:parameters()) do ins[#ins + 1] = p end
          local opts = lens and { lengths = { 4, 1, 3 } } or nil
          check(function()
            local out, hc = m(x, { h0, c0 }, opts)
            return nl.cat({ out:reshape(-1), hc[1]:reshape(-1), hc[2]:reshape(-1) }, 1)
          end, ins)
        end)
      end
    end
  end

  it('gradcheck (float64): no biases, unbatched, zero initial states', function()
    local m = nn.LSTM(2, 4, { proj_size = 1, bias = false }):double()
    local x = rand64(3, 2)
    local ins = { x }
    for _, p in ipairs(m:parameters()) do ins[#ins + 1] = p end
    check(function()
      local out, hc = m(x)
      return nl.cat({ out:reshape(-1), hc[1]:reshape(-1), hc[2]:reshape(-1) }, 1)
    end, ins)
  end)

  it('shapes: outputs and h of proj_size, c of hidden_size; a packed batch gives what lengths give', function()
    local m = nn.LSTM(3, 5, { num_layers = 2, proj_size = 2, bidirectional = true, batch_first = true })
    local x = nl.randn(3, 6, 3)
    local out, hc = m(x, { lengths = { 6, 2, 4 } })
    assert.are.same({ 3, 6, 4 }, out:shape())
    assert.are.same({ 4, 3, 2 }, hc[1]:shape())
    assert.are.same({ 4, 3, 5 }, hc[2]:shape())
    -- past each sequence's end the outputs are (+)zeros
    assert.are.same({ 0, 0, 0, 0 }, out[2][3]:totable())
    assert.are.equal(math.huge, 1 / out[2][6][1])
    local R = nn.utils.rnn
    local pout, phc = m(R.pack_padded_sequence(x, { 6, 2, 4 }, true, false))
    assert.is_true(R.is_packed(pout))
    S.same_bits(R.pad_packed_sequence(pout, true), out, 'outputs')
    S.same_bits(phc[1], hc[1], 'h_n')
    S.same_bits(phc[2], hc[2], 'c_n')
    -- an empty batch, and unbatched input
    local e, ehc = m(nl.zeros(0, 6, 3))
    assert.are.same({ 0, 6, 4 }, e:shape())
    assert.are.same({ 4, 0, 2 }, ehc[1]:shape())
    assert.are.same({ 4, 0, 5 }, ehc[2]:shape())
    local u, uhc = m(nl.randn(6, 3), { nl.zeros(4, 2), nl.zeros(4, 5) })
    assert.are.same({ 6, 4 }, u:shape())
    assert.are.same({ 4, 2 }, uhc[1]:shape())
  end)

  it('prints, counts PyTorch\'s parameters, initializes in U(-1/sqrt(H), 1/sqrt(H)), saves and loads', function()
    local m = nn.LSTM(64, 256, { num_layers = 2, proj_size = 128, bidirectional = true })
    assert.are.equal('LSTM(64, 256, num_layers=2, bidirectional=true, proj_size=128)', m:repr())
    -- PyTorch: nn.LSTM(64, 256, num_layers=2, proj_size=128, bidirectional=True): 1318912 parameters
    assert.are.equal(1318912, m:num_parameters())
    assert.is_true(m.weight_hr_l0:abs():max():item() <= 1 / 16)
    assert.is_true(m.weight_hr_l0:abs():max():item() > 0.9 / 16)
    local small = nn.LSTM(3, 4, { proj_size = 2, batch_first = true })
    local path = os.tmpname()
    small:save(path)
    local m2 = nn.load(path)
    os.remove(path)
    local x = nl.randn(2, 5, 3)
    local o1, h1 = small(x)
    local o2, h2 = m2(x)
    S.same_bits(o2, o1, 'output after load')
    S.same_bits(h2[1], h1[1], 'h_n after load')
  end)

  it("refuses PyTorch's bad proj_size values and wrong state shapes, naming them", function()
    has(error_of(function() nn.LSTM(4, 3, { proj_size = 3 }) end),
        'LSTM: proj_size has to be smaller than hidden_size, got proj_size 3 and hidden_size 3')
    has(error_of(function() nn.LSTM(4, 3, { proj_size = 5 }) end), 'proj_size has to be smaller than hidden_size')
    has(error_of(function() nn.LSTM(4, 3, { proj_size = -1 }) end),
        'LSTM: proj_size should be a positive integer or zero to disable projections, got -1')
    has(error_of(function() nn.LSTM(4, 3, { proj_size = 1.5 }) end), 'proj_size should be a positive integer')
    has(error_of(function() nn.LSTM(4, 3, { proj_size = '2' }) end), 'proj_size should be a positive integer')
    has(error_of(function() nn.GRU(4, 3, { proj_size = 2 }) end),
        'GRU: proj_size argument is only supported for LSTM, not RNN or GRU')
    has(error_of(function() nn.RNN(4, 3, { proj_size = 0 }) end),
        'RNN: proj_size argument is only supported for LSTM, not RNN or GRU')
    -- proj_size = 0 is a plain LSTM
    local plain = nn.LSTM(4, 3, { proj_size = 0 })
    assert.is_nil(rawget(plain, 'weight_hr_l0'))
    assert.are.equal('LSTM(4, 3)', plain:repr())
    local m = nn.LSTM(4, 3, { proj_size = 2, num_layers = 2 })
    local x = nl.randn(5, 2, 4)
    has(error_of(function() m(x, { nl.zeros(2, 2, 3), nl.zeros(2, 2, 3) }) end),
        'LSTM: h0 has shape [2,2,3], expected [2,2,2] (num_layers, batch, proj_size)')
    has(error_of(function() m(x, { nl.zeros(2, 2, 2), nl.zeros(2, 2, 2) }) end),
        'LSTM: c0 has shape [2,2,2], expected [2,2,3] (num_layers, batch, hidden_size)')
    has(error_of(function() m(x, { lengths = { 5, 6 } }) end),
        "LSTM: length 6 of sequence 2 is outside 1..5 (the input's steps)")
    has(error_of(function() m(x, { lengths = { 0, 5 } }) end), 'length 0 of sequence 1 is outside 1..5')
    has(error_of(function() m(nl.randn(5, 2, 3)) end), 'LSTM: layer 1 (weight_ih_l0) expects input size 4, got 3')
    -- no steps: PyTorch's "Expected sequence length to be larger than 0", as the C layer's
    has(error_of(function() m(nl.zeros(0, 2, 4)) end), 'LSTM: empty input of shape [0,2,4] (no steps)')
    has(error_of(function() m(nl.zeros(0, 4)) end), 'LSTM: empty input of shape [0,4] (no steps)')
    has(error_of(function() m(nl.zeros(0, 0, 4)) end), 'LSTM: empty input of shape [0,0,4] (no steps)')
  end)
end)
