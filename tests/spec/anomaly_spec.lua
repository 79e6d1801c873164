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
