-- nl.detect_anomaly: the first op that produces NaN or Inf, in forward or
-- in backward, is named in an error; off, nothing is checked.
local nl = require 'nnlua'

describe('detect_anomaly', function()
  after_each(function() nl.detect_anomaly(false) end)

  it('names the forward op that made NaN or Inf', function()
    nl.detect_anomaly(true)
    local x = nl.tensor({ 1, 0, 2 })
    local ok, err = pcall(function() return (x * 2):log() end)
    assert.is_false(ok)
    assert.is_truthy(err:find('detect_anomaly: log produced NaN or Inf in its output %(shape %[3%]%)'), err)
    ok, err = pcall(function() return nl.tensor({ -1 }):sqrt() end)
    assert.is_truthy(err:find('detect_anomaly: sqrt produced'), err)
    -- finite results pass
    assert.are.same({ 2, 0, 4 }, (x * 2):totable())
  end)

  -- values the user gives (an -inf mask) are data, not an op's anomaly; a
  -- masked attention's -inf on the way to its softmax passes, and what
  -- comes out is checked (every masked layer failed in anomaly mode)
  it('lets user data and masked attention through, and checks what attention gives', function()
    nl.detect_anomaly(true)
    assert.are.same({ -math.huge, 0 }, nl.tensor({ -math.huge, 0 }):totable())
    assert.are.same({ -math.huge }, nl.full({ 1 }, -math.huge):totable())
    -- nl.empty's memory is not an op's output, whatever it held before (a
    -- layer's parameters are made empty and then filled: MultiheadAttention
    -- failed when the cache gave it the memory of a tensor of inf)
    do local inf = nl.full({ 12, 4 }, math.huge) inf = nil end
    collectgarbage()
    collectgarbage()
    assert.are.same({ 12, 4 }, nl.empty(12, 4):shape())
    local nn = nl.nn
    local m, x = nn.MultiheadAttention(4, 2), nl.randn(3, 1, 4)
    local mask = nl.tensor({ { 0, -math.huge, 0 }, { 0, 0, 0 }, { 0, 0, 0 } })
    local out = m(x, x, x, { is_causal = true, attn_mask = mask, key_padding_mask = nl.tensor({ { 0, 0, 1 } }) })
    out:sum():backward()
    assert.is_truthy(m.in_proj_weight.grad)
    local tel = nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 8 })
    tel(x, { is_causal = true }):sum():backward()
    -- every key blocked: NaN, which PyTorch's forward gives too, is named
    local ok, err = pcall(m, x, x, x, { key_padding_mask = nl.tensor({ { 1, 1, 1 } }) })
    assert.is_false(ok)
    assert.is_truthy(err:find('detect_anomaly: softmax produced NaN or Inf in its output (shape [2,3,3])', 1, true), err)
    -- views and copies of the data pass; an op on it is checked as before
    local data = nl.tensor({ { -math.huge, 1 }, { 2, 3 } })
    assert.are.same({ -math.huge, 2 }, data:t():contiguous():view(4):narrow(1, 1, 2):totable())
    assert.are.same({ 4, 2 }, nl.cat({ data, data:clone() }):shape())
    ok, err = pcall(function() return data:sqrt() end)
    assert.is_false(ok)
    assert.is_truthy(err:find('detect_anomaly: sqrt produced NaN or Inf', 1, true), err)
    -- an op whose output autograd saves (its alias shares the memory) is
    -- no view; a narrowing conversion that overflows makes its inf
    ok, err = pcall(function() return nl.tensor({ 1000 }):requires_grad():exp() end)
    assert.is_truthy(err:find('detect_anomaly: exp produced NaN or Inf', 1, true), err)
    ok, err = pcall(function() return (nl.tensor({ 1e300 }, 'float64') * 1):float() end)
    assert.is_truthy(err:find('detect_anomaly: to_dtype produced NaN or Inf', 1, true), err)
    -- a conversion of what already held an inf keeps it; a file's values are
    -- data, converted too; a loss's inf is its own (a float64 loss without
    -- reduction passed as a widening)
    assert.are.same({ -math.huge, -math.huge }, nl.full({ 2 }, -math.huge):double():float():totable())
    local csv = os.tmpname()
    local f = io.open(csv, 'w')
    f:write('a,b\n1,inf\n2,3\n')
    f:close()
    assert.are.same({ { 1, math.huge }, { 2, 3 } }, nl.data.load_csv(csv):totable())
    os.remove(csv)
    ok, err = pcall(nl.nn.functional.cross_entropy, nl.tensor({ { 0, -math.huge }, { 0, 1 } }, 'float64'),
                    nl.tensor({ 2, 1 }, 'int64'), { reduction = 'none' })
    assert.is_false(ok)
    assert.is_truthy(err:find('produced NaN or Inf', 1, true), err)
    local path = os.tmpname()
    nl.save_safetensors(path, { mask = nl.full({ 2 }, -math.huge) })
    assert.are.same({ -math.huge, -math.huge }, nl.load_safetensors(path).mask:totable())
    os.remove(path)
  end)

  it('names the backward op whose gradient is NaN or Inf', function()
    nl.detect_anomaly(true)
    local y = nl.tensor({ 1, 4 }):requires_grad()
    local z = ((y - 1):sqrt() * 3):sum()           -- finite forward, infinite d sqrt at 0
    local ok, err = pcall(function() z:backward() end)
    assert.is_false(ok)
    assert.is_truthy(err:find('detect_anomaly: the backward of sqrt produced NaN or Inf in the gradient of its input 1'), err)
  end)

  it('applies through nnlua required again after package.loaded was cleared (one instance per state)', function()
    -- a host reloading its scripts, or a test runner isolating its files,
    -- clears package.loaded: requiring again returns the same instance, so
    -- settings made through either reach every tensor
    local S = require 'support'
    local path = os.tmpname()
    S.write(path, S.path_prelude .. [[
      local nl1 = require 'nnlua'
      for k in pairs(package.loaded) do if k:match('^nnlua') then package.loaded[k] = nil end end
      local nl2 = require 'nnlua'
      nl2.detect_anomaly(true)
      local ok, err = pcall(function() return nl1.tensor({ -1 }):log() end)
      print('same', rawequal(nl1, nl2), 'caught', not ok and err:find('detect_anomaly: log') ~= nil)
    ]])
    local p = io.popen('luajit ' .. S.q(path) .. ' 2>&1')
    local out = p:read('*a')
    p:close()
    os.remove(path)
    assert.are.equal('same\ttrue\tcaught\ttrue\n', out)
  end)

  it('is off by default: NaN flows through without an error', function()
    local r = nl.tensor({ -1 }):sqrt()
    assert.is_true(r[1] ~= r[1])
    local y = nl.tensor({ 1 }):requires_grad()
    ;(y - 1):sqrt():sum():backward()
    assert.are.equal(math.huge, y.grad[1])
  end)
end)

-- PyTorch 1.13's anomaly mode, nl.autograd.set_detect_anomaly /
-- detect_anomaly / is_anomaly_enabled: which node's backward returned NaN
-- and at which output is PyTorch's (tests/golden/anomaly.lua, by
-- tests/golden/gen_anomaly.py on the same graphs, as are the gradients
-- with the mode off), and the error carries the forward traceback of the
-- op that made the node: a line of this file.
describe('nl.autograd anomaly mode (PyTorch 1.13)', function()
  local S = require 'support'
  local G = dofile(S.root .. '/tests/golden/anomaly.lua')
  local AG = nl.autograd
  local lib = nl._lib
  local INF = math.huge
  after_each(function() AG.set_detect_anomaly(false) end)

  local function leaf(v) return nl.tensor(v, 'float64'):requires_grad() end
  local function line() return debug.getinfo(2, 'l').currentline end
  -- PyTorch's node name as nnlua's op (SqrtBackward0 -> sqrt), a custom
  -- Function's (NanFnBackward) as its class name
  local function op_of(fn)
    local base = fn:gsub('Backward%d*$', '')
    return base == 'NanFn' and base or base:lower()
  end
  local ORD = { 'st', 'nd', 'rd' }
  -- the error run raises: it names golden case c's node and output
  -- (1-based), and the traceback after it starts at line fl of this file
  local function expect_nan_error(c, fl, run)
    local ok, err = pcall(run)
    assert.is_false(ok, 'no error')
    err = tostring(err)
    local want = ("Function '%s' returned nan values in its %d%s output."):format(op_of(c.fn), c.index + 1,
                                                                                  ORD[c.index + 1] or 'th')
    assert.is_truthy(err:find(want, 1, true), err)
    local tb = err:match('\nTraceback of forward call that caused the error:\n(.*)$')
    assert.is_truthy(tb, err)
    assert.is_truthy(tb:match('^%s*[^\n]*anomaly_spec%.lua:' .. fl .. ':'), err)
    return err
  end
  local function same(got, want, what)
    got = got:totable()
    assert.are.equal(#want, #got, what)
    for i, v in ipairs(want) do
      if v ~= v then assert.is_true(got[i] ~= got[i], ('%s %d: NaN expected, got %s'):format(what, i, got[i]))
      else assert.are.equal(v, got[i], what .. ' ' .. i) end
    end
  end

  -- gen_anomaly.py's graphs: each makes its forward and returns the line
  -- of the op whose backward gives NaN, a function running the backward,
  -- and the leaves whose gradients the golden holds
  local function w() return nl.tensor({ INF, 1 }, 'float64') end
  local CASES = {
    sqrt_at_zero = function()
      local x = leaf({ 0, 1 })
      local fl, y = line(), x:sqrt()
      return fl, function() (y * 0):sum():backward() end, { x }
    end,
    mul_first = function()
      local x = leaf({ 1, 2 })
      local fl, y = line(), x * w()
      return fl, function() (y * 0):sum():backward() end, { x }
    end,
    mul_second = function()
      local x = leaf({ 1, 2 })
      local fl, y = line(), w() * x
      return fl, function() (y * 0):sum():backward() end, { x }
    end,
    div_zero = function()
      local x, d = leaf({ 1, 2 }), leaf({ 0, 1 })
      local fl, y = line(), x / d
      return fl, function() (y * 0):sum():backward() end, { x, d }
    end,
  }

  for _, name in ipairs({ 'sqrt_at_zero', 'mul_first', 'mul_second', 'div_zero' }) do
    it(name .. ': backward names the node and output PyTorch names, with the forward line', function()
      AG.set_detect_anomaly(true)
      local fl, run = CASES[name]()
      expect_nan_error(G[name], fl, run)
      -- off, NaN flows into .grad as PyTorch's does, and nothing is raised
      AG.set_detect_anomaly(false)
      local _, run2, leaves = CASES[name]()
      run2()
      for i, x in ipairs(leaves) do same(x.grad, G[name].grads[i], name .. ' grad') end
    end)
  end

  it('is off by default, and set_detect_anomaly returns the previous setting', function()
    assert.is_false(AG.is_anomaly_enabled())
    assert.is_true(AG.is_anomaly_check_nan_enabled())
    local _, run, leaves = CASES.sqrt_at_zero()
    run()
    same(leaves[1].grad, G.sqrt_at_zero.grads[1], 'grad')
    assert.is_false(AG.set_detect_anomaly(true))
    assert.is_true(AG.is_anomaly_enabled())
    assert.is_true(AG.set_detect_anomaly(false))
    assert.is_false(AG.is_anomaly_enabled())
  end)

  it('nl.autograd.grad names the node too, without and with create_graph', function()
    AG.set_detect_anomaly(true)
    for _, name in ipairs({ 'grad_sqrt', 'create_graph_sqrt' }) do
      local x = leaf({ 0, 1 })
      local fl, y = line(), x:sqrt()
      local err = expect_nan_error(G[name], fl, function()
        return AG.grad((y * 0):sum(), x, { create_graph = name == 'create_graph_sqrt' })
      end)
      assert.is_truthy(err:find('grad: Function', 1, true), err)
    end
    AG.set_detect_anomaly(false)
    local x = leaf({ 0, 1 })
    same(AG.grad((x:sqrt() * 0):sum(), x)[1], G.grad_sqrt.grads[1], 'grad')
    same(AG.grad((x:sqrt() * 0):sum(), x, { create_graph = true })[1], G.create_graph_sqrt.grads[1], 'grad')
  end)

  -- the node that fails in the second backward was recorded by the first
  -- (create_graph) backward, for sqrt: its traceback is sqrt's forward
  -- call, as PyTorch traces it to its parent
  it('a double backward names the node the create_graph backward recorded, traced to its forward op', function()
    AG.set_detect_anomaly(true)
    local x = leaf({ 0, 1 })
    local fl, y = line(), x:sqrt()
    local g = AG.grad(y:sum(), x, { create_graph = true })[1]     -- inf at 0: no NaN yet
    assert.are.equal(INF, g[1])
    expect_nan_error(G.double_backward, fl, function() (g * 0):sum():backward() end)
    AG.set_detect_anomaly(false)
    x = leaf({ 0, 1 })
    g = AG.grad(x:sqrt():sum(), x, { create_graph = true })[1]
    ;(g * 0):sum():backward()
    same(x.grad, G.double_backward.grads[1], 'grad')
  end)

  it('a custom Function whose backward returns NaN is named by its class, in both backward walks', function()
    local NanFn = nl.autograd.Function:extend('NanFn')
    function NanFn.forward(_, x) return x * 2 end
    function NanFn.backward(_, g) return g * (0 / 0) end
    AG.set_detect_anomaly(true)
    for _, opts in ipairs({ {}, { create_graph = true } }) do
      local x = leaf({ 1, 2 })
      local fl, y = line(), NanFn.apply(x)
      expect_nan_error(G.custom_function, fl, function() y:sum():backward(opts) end)
    end
    AG.set_detect_anomaly(false)
    local x = leaf({ 1, 2 })
    NanFn.apply(x):sum():backward()
    same(x.grad, G.custom_function.grads[1], 'grad')
  end)

  it('check_nan = false lets NaN through; an error inside a backward still gets the forward traceback', function()
    AG.set_detect_anomaly(true, { check_nan = false })
    assert.is_true(AG.is_anomaly_enabled())
    assert.is_false(AG.is_anomaly_check_nan_enabled())
    local _, run, leaves = CASES.div_zero()
    run()
    same(leaves[1].grad, G.div_zero.grads[1], 'grad')
    local Boom = nl.autograd.Function:extend('Boom')
    function Boom.forward(_, x) return x * 2 end
    function Boom.backward() error('boom in backward') end
    for _, opts in ipairs({ {}, { create_graph = true } }) do
      local x = leaf({ 1, 2 })
      local fl, y = line(), Boom.apply(x)
      local ok, err = pcall(function() y:sum():backward(opts) end)
      assert.is_false(ok)
      assert.is_truthy(err:find('boom in backward', 1, true), err)
      assert.is_truthy(err:match('caused the error:\n%s*[^\n]*anomaly_spec%.lua:' .. fl .. ':'), err)
    end
  end)

  it('says so when the failing op was recorded before anomaly mode was on', function()
    local x = leaf({ 0, 1 })
    local y = x:sqrt()                  -- recorded with the mode off
    AG.set_detect_anomaly(true)
    local ok, err = pcall(function() (y * 0):sum():backward() end)
    assert.is_false(ok)
    assert.is_truthy(err:find("Function 'sqrt' returned nan values in its 1st output.\nNo forward pass information "
                              .. 'available', 1, true), err)
  end)

  it('detect_anomaly(fn) runs fn in anomaly mode and restores the mode, also when fn raises', function()
    AG.set_detect_anomaly(false, { check_nan = false })
    local a, b = AG.detect_anomaly(function()
      assert.is_true(AG.is_anomaly_enabled())
      assert.is_true(AG.is_anomaly_check_nan_enabled())
      return 1, 2
    end)
    assert.are.same({ 1, 2 }, { a, b })
    assert.is_false(AG.is_anomaly_enabled())
    assert.is_false(AG.is_anomaly_check_nan_enabled())
    AG.set_detect_anomaly(false)
    -- an anomaly inside, then a plain error: both propagate, the mode restored
    local fl
    local ok, err = pcall(AG.detect_anomaly, function()
      local x = leaf({ 0, 1 })
      fl = line(); local y = x:sqrt()
      ;(y * 0):sum():backward()
    end)
    assert.is_false(ok)
    expect_nan_error(G.sqrt_at_zero, fl, function() error(err, 0) end)
    assert.is_false(AG.is_anomaly_enabled())
    AG.set_detect_anomaly(true, { check_nan = false })
    ok, err = pcall(AG.detect_anomaly, function() error('inner') end, { check_nan = true })
    assert.is_truthy(tostring(err):find('inner', 1, true))
    assert.is_true(AG.is_anomaly_enabled())
    assert.is_false(AG.is_anomaly_check_nan_enabled())
    -- with check_nan = false inside, NaN passes
    AG.set_detect_anomaly(false)
    local _, run = CASES.sqrt_at_zero()
    AG.detect_anomaly(run, { check_nan = false })
  end)

  -- (the C references of dead handles go at the sweep after a collection)
  local function traced_now()
    for _ = 1, 2 do
      collectgarbage('collect')
      nl._settle()
    end
    return tonumber(lib.nl_anomaly_traced())
  end

  it('frees the tracebacks with the graph: after backward, when a kept graph dies, after a failure', function()
    local base = traced_now()
    AG.set_detect_anomaly(true)
    local x = leaf({ 1, 2 })
    local loss = ((x * 3):exp() + x):sum()                  -- 4 nodes
    assert.are.equal(base + 4, tonumber(lib.nl_anomaly_traced()))
    loss:backward()
    assert.are.equal(base, tonumber(lib.nl_anomaly_traced()))
    local kept = ((x * 3):exp() + x):sum()
    kept:backward({ retain_graph = true })
    assert.are.equal(base + 4, traced_now())
    kept, loss = nil, nil
    assert.are.equal(base, traced_now())
    -- failed backward walks, in C and in Lua (create_graph), leave none
    for _, opts in ipairs({ {}, { create_graph = true } }) do
      local _, run = CASES.sqrt_at_zero()
      local z = leaf({ 0 })
      local ok, err = pcall(function() AG.grad((z:sqrt() * 0):sum(), z, opts) end)
      assert.is_truthy(not ok and err:find("Function 'sqrt' returned nan", 1, true), err)
      assert.is_false(pcall(run))
    end
    assert.are.equal(base, traced_now())
    -- the mode off traces nothing
    AG.set_detect_anomaly(false)
    local y = (x * 3):exp()
    assert.are.equal(base, tonumber(lib.nl_anomaly_traced()))
    assert.is_true(lib.nl_anomaly_trace_of(y.ptr) == nil)
  end)

  it('refuses bad arguments by name', function()
    assert.has_error(function() AG.set_detect_anomaly(1) end,
                     'set_detect_anomaly: expected a boolean, got number')
    local ok, err = pcall(AG.set_detect_anomaly, true, { check_nan = 1 })
    assert.is_truthy(err:find('set_detect_anomaly: check_nan must be a boolean', 1, true), err)
    ok, err = pcall(AG.set_detect_anomaly, true, { checknan = true })
    assert.is_truthy(err:find("set_detect_anomaly: unknown option 'checknan'", 1, true), err)
    ok, err = pcall(AG.detect_anomaly, 3)
    assert.is_false(ok)
    assert.is_truthy(err:find('detect_anomaly: expected a function', 1, true), err)
    assert.is_false(AG.is_anomaly_enabled())
  end)

  it("README's example runs under bin/nnlua and prints what its comments say", function()
    local block = S.read(S.root .. '/README.md'):match('<!%-%- readme_spec: anomaly %-%->\n```lua\n(.-)\n```')
    assert.is_string(block)
    local path, out = os.tmpname() .. '.lua', os.tmpname()
    S.write(path, block)
    local rc = os.execute(('cd %s && bin/nnlua %s > %s 2>&1'):format(S.q(S.root), S.q(path), S.q(out)))
    local text = S.read(out)
    os.remove(path)
    os.remove(out)
    assert.are.equal(0, rc, text)
    assert.is_truthy(text:find(": backward: Function 'sqrt' returned nan values in its 1st output.\n"
                               .. 'Traceback of forward call that caused the error:\n', 1, true), text)
    assert.is_truthy(text:find('caused the error:\n%s*[^\n]*%.lua:3: in function'), text)
  end)

  it('leaves nl.detect_anomaly (NaN or Inf, forward too) working beside it', function()
    AG.set_detect_anomaly(true)
    nl.detect_anomaly(true)
    local ok, err = pcall(function() return nl.tensor({ -1 }):log() end)
    assert.is_truthy(tostring(err):find('detect_anomaly: log produced NaN or Inf', 1, true), err)
    nl.detect_anomaly(false)
    assert.is_true(AG.is_anomaly_enabled())
    local fl, run = CASES.sqrt_at_zero()
    expect_nan_error(G.sqrt_at_zero, fl, run)
  end)
end)
