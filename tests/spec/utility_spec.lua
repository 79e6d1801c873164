-- PyTorch's top-level utilities (utility.lua): set_default_dtype, finfo
-- and iinfo (against torch 1.13's values), set_printoptions (against
-- torch 1.13's str() of the same tensors, tests/golden/gen_utility.py),
-- inference_mode and the mode flags.
local ffi = require 'ffi'
local S = require 'support'
local nl = require 'nnlua'
local nn = nl.nn
local golden = dofile(S.root .. '/tests/golden/utility.lua')

-- fn() with the default dtype dt, float32 again after
local function with_default(dt, fn)
  nl.set_default_dtype(dt)
  local ok, err = pcall(fn)
  nl.set_default_dtype('float32')
  if not ok then error(err, 0) end
end

describe('set_default_dtype', function()
  it('makes new float tensors and layer parameters of that dtype, and only float dtypes', function()
    assert.are.equal('float32', nl.get_default_dtype())
    with_default('float64', function()
      assert.are.equal('float64', nl.get_default_dtype())
      local made = {
        zeros = nl.zeros(2), ones = nl.ones(2, 2), empty = nl.empty(3), full = nl.full({ 2 }, 1.5),
        rand = nl.rand(2), randn = nl.randn(2), eye = nl.eye(2), tensor = nl.tensor({ 0.1, 0.2 }),
        number = nl.tensor(0.1), arange = nl.arange(0, 1, 0.25), linspace = nl.linspace(0, 1, 3),
        scalar_tensor = nl.scalar_tensor(0.5), normal = nl.normal(0, 1, { 2 }),
        weight = nn.Linear(3, 2).weight, conv = nn.Conv2d(1, 2, 3).weight, lstm = nn.LSTM(2, 3):parameters()[1],
      }
      for name, t in pairs(made) do assert.are.equal('float64', t:dtype(), name) end
      -- the value 0.1 itself, not float32's 0.100000001
      assert.are.equal(0.1, nl.tensor(0.1):item())
      -- explicit dtypes, and whole-number aranges, stay as asked
      assert.are.equal('float32', nl.zeros(2, 'float32'):dtype())
      assert.are.equal('int64', nl.arange(3):dtype())
      assert.are.equal('float32', nn.Linear(2, 2, { dtype = 'float32' }).weight:dtype())
      -- a float64 model trains on float64 data
      local m = nn.Linear(3, 1)
      local loss = nn.functional.mse_loss(m(nl.randn(4, 3)), nl.randn(4, 1))
      loss:backward()
      assert.are.equal('float64', m.weight.grad:dtype())
    end)
    assert.are.equal('float32', nl.zeros(1):dtype())
    assert.are.equal('float32', nn.Linear(2, 2).weight:dtype())
    assert.are.equal('float64', nn.Linear(2, 2, { dtype = 'float64' }).weight:dtype())
    S.contains(S.errmsg(nl.set_default_dtype, 'int64'), "set_default_dtype: only float dtypes can be the default")
    S.contains(S.errmsg(nl.set_default_dtype, nil), "set_default_dtype: only float dtypes")
    assert.are.equal('float32', nl.get_default_dtype())
  end)

  it("gives the default dtype where PyTorch's does: the causal mask, distributions of numbers, image datasets", function()
    local tmp = S.tmpdir()
    -- a 2-image IDX file of bytes (magic 0x0803, big-endian sizes 2, 2, 2)
    local idx = S.write(tmp .. '/img.idx', '\0\0\8\3' .. '\0\0\0\2\0\0\0\2\0\0\0\2' .. ('\0\255\1\128'):rep(2))
    local made = {}
    with_default('float64', function()
      made.mask = nn.Transformer.generate_square_subsequent_mask(3)
      made.normal = nl.distributions.Normal(0, 1):sample({ 2 })
      made.uniform = nl.distributions.Uniform(0, 1):rsample()
      made.bernoulli = nl.distributions.Bernoulli(0.3):sample()
      made.idx = nl.data.IdxDataset(idx):tensors()
      made.collate = nl.data.default_collate({ 0.5, 1.5 })
      made.positional_encoding = nn.PositionalEncoding(4, 8).pe
      local rows = { { nl.zeros(2), 0.5 }, { nl.zeros(2), 1 } }
      made.loader = select(2, nl.data.DataLoader(rows, { batch_size = 2 })())
      -- (torch 1.13 under set_default_dtype(torch.float64): float64 for each)
      for name, t in pairs(made) do assert.are.equal('float64', t:dtype(), name) end
      -- 1/255 as float64 holds it
      assert.are.equal(1 / 255, made.idx[1][3])
    end)
    assert.are.equal('float32', nn.Transformer.generate_square_subsequent_mask(3):dtype())
    assert.are.equal('float32', nl.distributions.Normal(0, 1):sample():dtype())
    assert.are.equal('float32', nl.data.IdxDataset(idx):tensors():dtype())
  end)

  it('is the dtype int64 becomes where an op needs a float, as PyTorch promotes', function()
    local i = nl.tensor({ 1, 2, 3 }, 'int64')
    -- torch 1.13 under set_default_dtype(torch.float64) gives float64 for
    -- each (float32 under the default float32)
    local ops = {
      add_fraction = function() return i + 0.5 end, div = function() return i / i end,
      div_number = function() return i / 3 end, sqrt = function() return i:sqrt() end,
      sigmoid = function() return i:sigmoid() end, clamp = function() return i:clamp(0.5, 2.5) end,
      where = function() return nl.where(i:gt(1), i, 0.5) end, erf = function() return nl.special.erf(i) end,
      atan2 = function() return nl.atan2(i, i) end, mean = function() return i:mean() end,
      mean_dim = function() return i:mean(1) end, pow_neg = function() return i ^ -1 end,
      range = function() return nl.range(0, 3) end, trapezoid = function() return nl.trapezoid(i) end,
      logit = function() return i:logit() end, sinc = function() return nl.sinc(i) end,
      logsumexp = function() return nl.logsumexp(i, 1) end, cov = function() return nl.cov(i:view(1, 3)) end,
      gradient = function() return nl.gradient(i)[1] end, xlogy = function() return nl.special.xlogy(i, i) end,
      angle = function() return nl.angle(i) end,
    }
    local got = {}
    with_default('float64', function()
      for name, f in pairs(ops) do got[name] = f():dtype() end
      -- 1/3 in float64, not float32's 0.3333333432674408
      assert.are.equal(1 / 3, (i / 3)[1])
      assert.are.equal(1 / 3, nl.tensor({ 1, 0, 0 }, 'int64'):mean():item())
    end)
    for name in pairs(ops) do assert.are.equal('float64', got[name], name) end
    for name, f in pairs(ops) do assert.are.equal('float32', f():dtype(), name) end
    -- whole numbers and int64 with int64 stay int64
    with_default('float64', function()
      assert.are.equal('int64', (i + 2):dtype())
      assert.are.equal('int64', (i * i):dtype())
      assert.are.equal('int64', i:sum():dtype())
    end)
  end)

  it('set_default_tensor_type takes the torch type names', function()
    nl.set_default_tensor_type('torch.DoubleTensor')
    local dt = nl.ones(1):dtype()
    nl.set_default_tensor_type('torch.FloatTensor')
    assert.are.equal('float64', dt)
    assert.are.equal('float32', nl.ones(1):dtype())
    S.contains(S.errmsg(nl.set_default_tensor_type, 'torch.LongTensor'), 'set_default_tensor_type: expected')
  end)
end)

describe('finfo and iinfo', function()
  it("give torch 1.13's values", function()
    for _, dt in ipairs({ 'float32', 'float64' }) do
      local f, want = nl.finfo(dt), golden['finfo_' .. dt]
      for k, v in pairs(want) do assert.are.equal(v, f[k], dt .. ' ' .. k) end
      assert.are.equal(dt, f.dtype)
    end
    -- (the default dtype's, as torch.finfo())
    assert.are.equal(golden.finfo_float32.eps, nl.finfo().eps)
    local i = nl.iinfo('int64')
    assert.are.equal(64, i.bits)
    assert.are.equal(golden.iinfo_int64.max .. 'LL', tostring(i.max))
    assert.are.equal(golden.iinfo_int64.min .. 'LL', tostring(i.min))
    assert.are.equal('int64', i.dtype)
    -- a float32 tensor holds max, and overflows past it; eps is the gap above 1
    assert.are.equal(golden.finfo_float32.max, nl.tensor(nl.finfo('float32').max):item())
    assert.are.equal(math.huge, (nl.tensor(nl.finfo('float32').max) * 2):item())
    assert.are.equal(1 + nl.finfo('float32').eps, nl.tensor(1 + nl.finfo('float32').eps):item())
    S.contains(S.errmsg(nl.finfo, 'int64'), "finfo: expected a float dtype ('float32' or 'float64'), got 'int64' (nl.iinfo")
    S.contains(S.errmsg(nl.iinfo, 'float32'), "iinfo: expected an integer dtype ('int64'), got 'float32' (nl.finfo")
    S.contains(S.errmsg(nl.finfo, 'half'), "finfo: expected a float dtype")
  end)
end)

describe('set_printoptions', function()
  local function restore() nl.set_printoptions({ profile = 'default' }) end

  it("prints tensors as torch 1.13's str() does under the same options", function()
    local ok, err = pcall(function()
      for _, c in ipairs(golden.print) do
        restore()
        nl.set_printoptions(c.opts)
        local t = nl.tensor(c.data, c.dtype):reshape(c.shape)
        local s = tostring(t)
        local body = s:match('^(.-), shape=%[')
        assert(body == c.want, ('%s:\n got %s\nwant %s'):format(c.name, tostring(body), c.want))
      end
    end)
    restore()
    if not ok then error(err, 0) end
  end)

  it('keeps the options not given, resets sci_mode, and refuses bad ones', function()
    local t = nl.tensor({ 1 / 3, 2 / 3 })
    nl.set_printoptions({ precision = 2, sci_mode = true })
    nl.set_printoptions({ threshold = 1000 })
    local s = tostring(t)
    restore()
    S.contains(s, 'tensor([0.33, 0.67]')             -- precision kept, sci_mode back to the values' choice
    S.contains(tostring(t), 'tensor([0.3333, 0.6667]')
    S.contains(S.errmsg(nl.set_printoptions, { precison = 2 }), "set_printoptions: unknown option 'precison'")
    S.contains(S.errmsg(nl.set_printoptions, { profile = 'long' }), "set_printoptions: profile must be 'default'")
    S.contains(S.errmsg(nl.set_printoptions, { precision = -1 }), 'set_printoptions: precision must be a whole number >= 0')
    S.contains(S.errmsg(nl.set_printoptions, { edgeitems = 1.5 }), 'set_printoptions: edgeitems must be a whole number')
    S.contains(S.errmsg(nl.set_printoptions, { sci_mode = 1 }), 'set_printoptions: sci_mode must be a boolean')
    S.contains(tostring(t), 'tensor([0.3333, 0.6667]')  -- a refused call changes nothing
  end)
end)

describe('modes and flags', function()
  it('inference_mode runs a function without grad and tells it', function()
    local w = nl.randn(3):requires_grad()
    assert.is_false(nl.is_inference_mode_enabled())
    local y, inside, grad_inside = nl.inference_mode(function()
      return w * 2, nl.is_inference_mode_enabled(), nl.is_grad_enabled()
    end)
    assert.is_true(inside)
    assert.is_false(grad_inside)
    assert.is_nil(y:grad_fn())
    assert.is_false(nl.is_inference_mode_enabled())
    assert.is_true(nl.is_grad_enabled())
    -- inference_mode(false, fn) inside: grad back on, as PyTorch's
    local on, grad_on = nl.inference_mode(function()
      return nl.inference_mode(false, function() return nl.is_inference_mode_enabled(), nl.is_grad_enabled() end)
    end)
    assert.is_false(on)
    assert.is_true(grad_on)
    -- the modes come back after an error
    S.contains(S.errmsg(nl.inference_mode, function() error('boom') end), 'boom')
    assert.is_false(nl.is_inference_mode_enabled())
    assert.is_true(nl.is_grad_enabled())
    S.contains(S.errmsg(nl.inference_mode, 3), 'inference_mode: expected a boolean mode or a function')
    S.contains(S.errmsg(nl.inference_mode, true), 'inference_mode: expected a function')
  end)

  it('is_anomaly_enabled and set_anomaly_enabled are detect_anomaly', function()
    assert.is_false(nl.is_anomaly_enabled())
    nl.set_anomaly_enabled(true)
    local on, nan = nl.autograd.is_anomaly_enabled(), nl.autograd.is_anomaly_check_nan_enabled()
    local x = nl.tensor({ -1 }):requires_grad()
    local msg = select(2, pcall(function() x:sqrt():sum():backward() end))
    nl.set_anomaly_enabled(true, false)
    local nan_off = nl.autograd.is_anomaly_check_nan_enabled()
    nl.set_anomaly_enabled(false)
    assert.is_true(on and nan)
    assert.is_false(nan_off)
    S.contains(tostring(msg), 'nan')
    assert.is_false(nl.is_anomaly_enabled())
    assert.is_false(nl.autograd.is_anomaly_enabled())
  end)

  it('records the deterministic, interop threads and warn_always flags', function()
    assert.is_false(nl.are_deterministic_algorithms_enabled())
    nl.use_deterministic_algorithms(true, { warn_only = true })
    local det, warn = nl.are_deterministic_algorithms_enabled(), nl.is_deterministic_algorithms_warn_only_enabled()
    nl.use_deterministic_algorithms(false)
    assert.is_true(det and warn)
    assert.is_false(nl.are_deterministic_algorithms_enabled())
    S.contains(S.errmsg(nl.use_deterministic_algorithms, 'yes'), 'use_deterministic_algorithms: expected a boolean')
    assert.are.equal(1, nl.get_num_interop_threads())
    nl.set_num_interop_threads(4)
    assert.are.equal(4, nl.get_num_interop_threads())
    nl.set_num_interop_threads(1)
    S.contains(S.errmsg(nl.set_num_interop_threads, 0), 'set_num_interop_threads: expected a whole number')
    assert.is_false(nl.is_warn_always_enabled())
    nl.set_warn_always(true)
    assert.is_true(nl.is_warn_always_enabled())
    nl.set_warn_always(false)
    assert.is_false(nl.is_warn_always_enabled())
  end)

  it("gives the same bits on a rerun at one thread count (what 'deterministic' means here)", function()
    local x, w = nl.randn(64, 3, 16, 16), nl.randn(8, 3, 3, 3):requires_grad()
    local function run()
      w.grad = nil
      local y = nn.functional.conv2d(x, w, nil, { padding = 1 })
      local l = (y:relu():sum(2) * 0.1):logsumexp(1):sum()
      l:backward()
      local g = w.grad:contiguous()
      return l:item(), ffi.string(g.ptr.data, g:numel() * 4)
    end
    local l1, g1 = run()
    local l2, g2 = run()
    assert.are.equal(l1, l2)
    assert.is_true(g1 == g2)
  end)

  it('typename and is_storage', function()
    assert.are.equal('torch.FloatTensor', nl.typename(nl.zeros(1)))
    assert.are.equal('torch.DoubleTensor', nl.typename(nl.zeros(1, 'float64')))
    assert.are.equal('torch.LongTensor', nl.typename(nl.zeros(1, 'int64')))
    assert.are.equal('nn.Linear', nl.typename(nn.Linear(1, 1)))
    assert.are.equal('number', nl.typename(3))
    assert.is_false(nl.is_storage(nl.zeros(1)))
  end)
end)
