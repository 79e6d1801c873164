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
