-- The counter-based RNG: seeded, reproducible, independent of the thread
-- count, and distributed as it should be.
local nl = require 'nnlua'

local function max_abs_diff(a, b) return (a - b):abs():max():item() end

describe('rng', function()
  after_each(function() nl.set_num_threads(2) end)

  it('gives the same numbers for the same seed, whatever the thread count', function()
    local n = 300001                       -- above the parallel threshold
    nl.set_num_threads(1)
    nl.manual_seed(7)
    local a1, n1 = nl.rand(n), nl.randn(n, 'float64')
    nl.set_num_threads(2)
    nl.manual_seed(7)
    local a2, n2 = nl.rand(n), nl.randn(n, 'float64')
    assert.are.equal(0, max_abs_diff(a1, a2))
    assert.are.equal(0, max_abs_diff(n1, n2))
  end)

  it('advances between draws and differs between seeds', function()
    nl.manual_seed(1)
    local a, b = nl.rand(100), nl.rand(100)
    nl.manual_seed(2)
    local c = nl.rand(100)
    assert.is_true(max_abs_diff(a, b) > 0.1)
    assert.is_true(max_abs_diff(a, c) > 0.1)
    nl.manual_seed(1)
    assert.are.equal(0, max_abs_diff(a, nl.rand(100)))
  end)

  it('rand is uniform on [0,1) and randn is standard normal', function()
    nl.manual_seed(123)
    local n = 1000000
    local u = nl.rand(n, 'float64')
    assert.is_true(u:min():item() >= 0 and u:max():item() < 1)
    -- mean 1/2 and variance 1/12, within 5 standard errors
    assert.is_true(math.abs(u:mean():item() - 0.5) < 5 * math.sqrt(1 / 12 / n))
    local var = ((u - 0.5) ^ 2):mean():item()
    assert.is_true(math.abs(var - 1 / 12) < 0.001)
    local z = nl.randn(n, 'float64')
    assert.is_true(math.abs(z:mean():item()) < 5 / math.sqrt(n))
    assert.is_true(math.abs((z * z):mean():item() - 1) < 0.01)
    -- about 68.27% within one standard deviation
    local within = z:abs():le(1):sum():item() / n
    assert.is_true(math.abs(within - 0.6827) < 0.003)
    local f = nl.rand(n)
    assert.is_true(f:max():item() < 1)
  end)
end)
