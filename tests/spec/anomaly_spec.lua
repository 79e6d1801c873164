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

  it('is off by default: NaN flows through without an error', function()
    local r = nl.tensor({ -1 }):sqrt()
    assert.is_true(r[1] ~= r[1])
    local y = nl.tensor({ 1 }):requires_grad()
    ;(y - 1):sqrt():sum():backward()
    assert.are.equal(math.huge, y.grad[1])
  end)
end)
