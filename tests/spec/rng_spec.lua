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

  it('multinomial draws categories in proportion to the weights, as torch.multinomial', function()
    -- with replacement: the counts of 200,000 draws within 5 standard
    -- errors of n * p for each category; a zero weight is never drawn
    nl.manual_seed(7)
    local w = { 2, 0, 5, 1, 2 }                    -- sums to 10, need not sum to 1
    local n = 200000
    local draws = nl.tensor(w):multinomial(n, true)
    assert.are.same({ n }, draws:shape())
    assert.are.equal('int64', draws:dtype())
    local counts = { 0, 0, 0, 0, 0 }
    for _, k in ipairs(draws:totable()) do counts[k] = counts[k] + 1 end
    for k = 1, 5 do
      local p = w[k] / 10
      assert.is_true(math.abs(counts[k] - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1e-9,
        ('category %d: %d draws, expected %.0f'):format(k, counts[k], n * p))
    end
    assert.are.equal(0, counts[2])
    -- without replacement: a row of distinct categories, never a zero weight;
    -- all of them when num_samples is every category of positive weight
    for _ = 1, 50 do
      local row = nl.tensor(w):multinomial(4):totable()
      local seen = {}
      for _, k in ipairs(row) do
        assert.is_nil(seen[k])
        assert.are_not.equal(2, k)
        seen[k] = true
      end
    end
    -- the first draw without replacement follows the weights too
    local first = { 0, 0, 0, 0, 0 }
    local m = 20000
    for _, row in ipairs(nl.multinomial(nl.tensor(w):view(1, 5):expand(m, 5), 2):totable()) do
      first[row[1]] = first[row[1]] + 1
    end
    for k = 1, 5 do
      local p = w[k] / 10
      assert.is_true(math.abs(first[k] - m * p) <= 5 * math.sqrt(m * p * (1 - p)) + 1e-9)
    end
    -- (N, C): one row of draws per row of weights; float64 weights work alike
    local two = nl.multinomial(nl.tensor({ { 0, 0, 1 }, { 1, 0, 0 } }, 'float64'), 3, true)
    assert.are.same({ { 3, 3, 3 }, { 1, 1, 1 } }, two:totable())
  end)

  it('multinomial repeats under a seed, whatever the thread count, and refuses bad weights', function()
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    local function draw(threads)
      nl.set_num_threads(threads)
      nl.manual_seed(3)
      return nl.multinomial(nl.rand(64, 40), 10):totable()
    end
    assert.are.same(draw(1), draw(2))
    local bad = {
      { function() return nl.tensor({ 1, -1 }):multinomial(1) end, 'weight 2 of row 1 is %-1' },
      { function() return nl.tensor({ 1, 0 / 0 }):multinomial(1) end, 'weights must be finite and >= 0' },
      { function() return nl.tensor({ 1, math.huge }):multinomial(1) end, 'weights must be finite' },
      { function() return nl.tensor({ 0, 0 }):multinomial(1, true) end, 'row 1 has 0 categories' },
      { function() return nl.tensor({ 1, 0, 1 }):multinomial(3) end, '3 samples without replacement' },
      { function() return nl.tensor({ 1, 1 }):multinomial(3) end, '3 samples without replacement from 2 categories' },
      { function() return nl.tensor({ 1, 2 }, 'int64'):multinomial(1) end, 'expected float weights, got int64' },
      { function() return nl.ones(2, 2, 2):multinomial(1) end, 'expected weights of shape %(C%) or %(N, C%), got %[2,2,2%]' },
      { function() return nl.ones(3):multinomial(0) end, 'num_samples must be positive' },
      { function() return nl.ones(3):multinomial(1.5) end, 'multinomial' },
    }
    for _, case in ipairs(bad) do
      local ok, err = pcall(case[1])
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find(case[2]), tostring(err))
    end
  end)
end)
