-- The counter-based RNG: seeded, reproducible, independent of the thread
-- count, distributed as it should be, Philox4x32-10 by its known answer,
-- and its vector fills bit for bit the plain loop's.
local nl = require 'nnlua'
local ffi = require 'ffi'
local lib = nl._lib

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

  it('is Philox4x32-10: Random123\'s known answer for counter 0 and key 0', function()
    -- philox4x32_10({0, 0, 0, 0}, {0, 0}) = {6627e8d5, e169c58d, bc57ac4c,
    -- 9b00dbd8} (Random123's kat_vectors); seed 0's first draw is that counter,
    -- alone (the plain loop) and first of eight (a vector block on AVX2)
    local function unit53(hi, lo) return (hi * 2 ^ 32 + lo - lo % 2048) * 2 ^ -64 end
    local z = math.sqrt(-2 * math.log(1 - unit53(0x6627e8d5, 0xe169c58d)))
              * math.cos(6.283185307179586 * unit53(0xbc57ac4c, 0x9b00dbd8))
    for _, n in ipairs({ 1, 8 }) do
      nl.manual_seed(0)
      assert.are.equal(unit53(0x6627e8d5, 0xe169c58d), nl.rand(n, 'float64'):totable()[1])
      nl.manual_seed(0)
      assert.is_true(math.abs(nl.randn(n, 'float64'):totable()[1] - z) < 1e-15)
    end
  end)

  -- ---- the vector fills against the plain loop ----------------------------
  -- nl_uniform_reference_ / nl_normal_reference_ run the plain loop, one
  -- Philox call per element: every fill must give its bits, whatever the
  -- path the CPU takes (eight counters at a time on AVX2, the tail by the
  -- loop), the seed, the offset (blocks across 2^32 and 2^64), the size,
  -- the dtype and the thread count, and advance the generator alike.
  local function same_bits(a, b)
    local bytes = a:numel() * (a:dtype() == 'float32' and 4 or 8)
    return a:dtype() == b:dtype() and a:numel() == b:numel()
           and ffi.C.memcmp(a.ptr.data, b.ptr.data, bytes) == 0
  end
  pcall(ffi.cdef, 'int memcmp(const void *, const void *, size_t);')

  it('the fast fills give the plain loop\'s bits for every seed, offset, size, dtype and thread count', function()
    local seeds = { 0ULL, 1ULL, 7ULL, 0x2545F4914F6CDD1DULL, 0xFFFFFFFFFFFFFFFFULL, 0x00000001FFFFFFFFULL }
    local offsets = { 0ULL, 3ULL, 0xFFFFFFF9ULL, 0xFFFFFFFCULL, 0xFFFFFFFFULL, 0x100000000ULL, 0x1FFFFFFFDULL,
                      0xFFFFFFFFFFFFFFFBULL, 0xFFFFFFFFFFFFFFFFULL }
    local sizes = { 0, 1, 7, 8, 9, 1000, 100003 }
    local kinds = {
      { 'uniform_', 'nl_uniform_', 'nl_uniform_reference_', 0, 1 },
      { 'uniform_ [-3, 1.5)', 'nl_uniform_', 'nl_uniform_reference_', -3, 1.5 },
      -- float32 rounds half of these up to 1 + 2^-23, the bound, which the fix takes back to 1
      { 'uniform_ [1, 1 + 2^-23)', 'nl_uniform_', 'nl_uniform_reference_', 1, 1 + 2 ^ -23 },
      { 'normal_', 'nl_normal_', 'nl_normal_reference_', 0, 1 },
      { 'normal_(2, 0.5)', 'nl_normal_', 'nl_normal_reference_', 2, 0.5 },
    }
    local checked = 0
    for _, threads in ipairs({ 1, 2 }) do
      nl.set_num_threads(threads)
      for si, seed in ipairs(seeds) do
        for oi, off in ipairs(offsets) do
          for _, n in ipairs(sizes) do
            -- the largest size on a few seeds and offsets: each is 2 x 100003 draws a kind
            if n < 100000 or (si <= 2 and (oi == 1 or oi == 5 or oi == 9)) then
              for _, dt in ipairs({ 'float32', 'float64' }) do
                for _, k in ipairs(kinds) do
                  local g1 = ffi.new('nl_generator', { seed, off })
                  local g2 = ffi.new('nl_generator', { seed, off })
                  local a, b = nl.empty(n, dt), nl.empty(n, dt)
                  nl._check(lib[k[2]](a.ptr, g1, k[4], k[5]))
                  nl._check(lib[k[3]](b.ptr, g2, k[4], k[5]))
                  local what = ('%s %s n=%d seed=%s offset=%s threads=%d'):format(k[1], dt, n, tostring(seed),
                    tostring(off), threads)
                  assert.is_true(same_bits(a, b), what)
                  assert.is_true(g1.offset == g2.offset and g1.offset == off + n, what)
                  checked = checked + 1
                end
              end
            end
          end
        end
      end
    end
    assert.are.equal(2 * 6 * 9 * 6 * 10 + 2 * 2 * 3 * 10, checked)
    -- the public draws are those fills: rand and randn, a transposed view
    -- (filled through a contiguous copy) and the float32 bound kept open
    nl.set_num_threads(2)
    local g = nl._generator
    for _, dt in ipairs({ 'float32', 'float64' }) do
      nl.manual_seed(11)
      local r, z = nl.rand(300, 70, dt), nl.randn(30001, dt)
      local gr = ffi.new('nl_generator', { 11ULL, 0ULL })
      local r2, z2 = nl.empty(300, 70, dt), nl.empty(30001, dt)
      nl._check(lib.nl_uniform_reference_(r2.ptr, gr, 0, 1))
      nl._check(lib.nl_normal_reference_(z2.ptr, gr, 0, 1))
      assert.is_true(same_bits(r, r2) and same_bits(z, z2), dt)
      assert.is_true(g.offset == gr.offset)
      local tv, tr = nl.empty(70, 300, dt), nl.empty(70, 300, dt)
      nl.manual_seed(5)
      tv:t():uniform_(-1, 1)
      nl._check(lib.nl_uniform_reference_(tr:t().ptr, ffi.new('nl_generator', { 5ULL, 0ULL }), -1, 1))
      assert.is_true(same_bits(tv, tr), dt .. ' transposed')
    end
    local f = nl.empty(100003):uniform_(1, 1 + 2 ^ -23)
    assert.are.equal(1, f:max():item())
  end)

  it('randperm and multinomial use the plain loop\'s draws as they did one at a time', function()
    -- Fisher-Yates and the inverse CDF written out in Lua over draws of the
    -- reference loop, against the C functions that now take them in runs
    local function ref_draws(seed, off, m)
      local u = nl.empty(math.max(m, 1), 'float64')
      nl._check(lib.nl_uniform_reference_(u.ptr, ffi.new('nl_generator', { seed, off }), 0, 1))
      return u:totable()
    end
    for _, off in ipairs({ 0ULL, 0xFFFFFFFBULL, 0xFFFFFFFFFFFFFF00ULL }) do
      for _, n in ipairs({ 0, 1, 2, 9, 256, 257, 1000 }) do
        local u = ref_draws(3ULL, off, n - 1)
        local p, d = {}, 1
        for i = 1, n do p[i] = i end
        for i = n - 1, 1, -1 do             -- 0-based i, as the C loop
          local j = math.floor(u[d] * (i + 1))
          d = d + 1
          if j > i then j = i end
          p[i + 1], p[j + 1] = p[j + 1], p[i + 1]
        end
        nl.manual_seed(3)
        nl._generator.offset = off
        assert.are.same(p, nl.randperm(n):totable(), ('randperm(%d) offset %s'):format(n, tostring(off)))
        assert.is_true(nl._generator.offset == off + math.max(n - 1, 0))
      end
      -- two rows of 40 weights (some zero), 300 draws a row: runs of 256 and a tail
      nl.manual_seed(9)
      local w = nl.rand(2, 40, 'float64') * nl.rand(2, 40, 'float64'):gt(0.2):double()
      local rows = w:totable()
      for _, replacement in ipairs({ true, false }) do
        local ns = replacement and 300 or 25
        nl.manual_seed(4)
        nl._generator.offset = off
        local got = nl.multinomial(w, ns, replacement):totable()
        assert.is_true(nl._generator.offset == off + 2 * ns)
        for r = 1, 2 do
          local u = ref_draws(4ULL, off + (r - 1) * ns, ns)
          local row, want = {}, {}
          for k = 1, 40 do row[k] = rows[r][k] end
          local total = 0
          for k = 1, 40 do total = total + row[k] end
          for j = 1, ns do
            local k
            if replacement then               -- the first running sum above u * total
              local acc = 0
              for c = 1, 40 do
                acc = acc + row[c]
                if acc > u[j] * total and not k then k = c end
              end
              k = k or 40
              while row[k] == 0 do k = k - 1 end
            else                              -- the walk over the weights left
              local x, acc, last = u[j] * total, 0, nil
              for c = 1, 40 do
                if row[c] > 0 then
                  last = c
                  acc = acc + row[c]
                  if x < acc then k = c break end
                end
              end
              k = k or last
              total = total - row[k]
              row[k] = 0
            end
            want[j] = k
          end
          assert.are.same(want, got[r], ('multinomial replacement=%s row %d'):format(tostring(replacement), r))
        end
      end
    end
  end)
end)
