-- Reductions, softmax and matmul through the Lua layer: 1-based dims and
-- indices, keepdim, values against float64 loops in Lua.
local nl = require 'nnlua'
local S = require 'support'

local rnd = S.rng(99)

describe('reductions', function()
  local shape = { 3, 4, 5 }
  local x = nl.tensor(S.nested(shape, function() return rnd(-3, 3) end))
  local tx = x:totable()

  it('sum and mean over everything match float64 accumulation', function()
    local s = 0
    for _, idx in ipairs(S.indices(shape)) do s = s + S.get(tx, idx) end
    assert.is_true(S.close(x:sum():item(), s, 1e-6, 1e-6))
    assert.is_true(S.close(x:mean():item(), s / 60, 1e-6, 1e-6))
    assert.are.equal(0, x:sum():dim())
  end)

  it("mean over everything passes g / numel back, divided in the input's dtype", function()
    -- exactly the quotient that dividing an expanded g by 15 gives, in the
    -- gradient's dtype (the fill that replaced expand, copy and divide)
    for _, dt in ipairs({ 'float32', 'float64' }) do
      local a = nl.zeros({ 5, 3 }, dt):requires_grad()
      ;(a:mean() * 0.7):backward()
      local want = nl.full({ 5, 3 }, 0.7, dt) / 15
      assert.are.same(S.flat(want), S.flat(a.grad))
      assert.are.equal(dt, a.grad:dtype())
    end
  end)

  it('sum, mean, max, min, argmax over each dim, with keepdim', function()
    for d = 1, 3 do
      local sums, maxs, mins = x:sum(d), x:max(d), x:min(d)
      local mv, mi = x:max(d)
      local nv, ni = x:min(d)
      local am = x:argmax(d)
      local keep = x:sum(d, true)
      local ks = {}
      for i = 1, 3 do ks[i] = i == d and 1 or shape[i] end
      assert.are.same(ks, keep:shape())
      local rshape = {}
      for i = 1, 3 do if i ~= d then rshape[#rshape + 1] = shape[i] end end
      assert.are.same(rshape, sums:shape())
      for _, ridx in ipairs(S.indices(rshape)) do
        local acc, best, besti, worst, worsti = 0, -math.huge, 0, math.huge, 0
        for k = 1, shape[d] do
          local full, j = {}, 1
          for i = 1, 3 do
            if i == d then full[i] = k else full[i] = ridx[j]; j = j + 1 end
          end
          local v = S.get(tx, full)
          acc = acc + v
          if v > best then best, besti = v, k end
          if v < worst then worst, worsti = v, k end
        end
        assert.is_true(S.close(S.get(sums:totable(), ridx), acc, 1e-6, 1e-6))
        assert.is_true(S.close(S.get(x:mean(d):totable(), ridx), acc / shape[d], 1e-6, 1e-6))
        assert.are.equal(best, S.get(mv:totable(), ridx))
        assert.are.equal(besti, S.get(mi:totable(), ridx))         -- 1-based
        assert.are.equal(besti, S.get(am:totable(), ridx))
        assert.are.equal(worst, S.get(nv:totable(), ridx))
        assert.are.equal(worsti, S.get(ni:totable(), ridx))
      end
      assert.are.same(maxs:shape(), mins:shape())
    end
  end)

  it('argmax over everything is a 1-based flat index', function()
    local t = nl.tensor({ { 1, 9, 3 }, { 4, 5, 6 } })
    assert.are.equal(2, t:argmax():item())
    assert.are.equal(1, t:argmin():item())
    assert.are.same({ 2, 3 }, t:argmax(2):totable())
    assert.are.same({ 2, 1, 2 }, t:argmax(1):totable())
    assert.are.same({ 9, 6 }, t:t():max(1):totable())
    assert.are.equal(9, t:max():item())
    -- keepdim without a dim keeps every dim as 1, as PyTorch's (it was ignored)
    assert.are.same({ { 28 } }, t:sum(nil, true):totable())
    assert.are.same({ { 2 } }, t:argmax(nil, true):totable())
    assert.are.same({ 1, 1 }, t:mean(nil, true):shape())
    local ok, err = pcall(t.max, t, nil, true)
    assert.is_truthy(not ok and err:find('max: keepdim needs a dim', 1, true), err)
  end)

  -- the mean of int64 (a float32) divided the wrapped int64 sum: two values
  -- of 2^62 had a mean of -4.6e18
  it('the mean of int64 values whose sum passes 2^63 is right, on every path', function()
    local big = 2 ^ 62                                   -- exact in float32
    assert.are.equal(big, nl.tensor({ big, big }, 'int64'):mean():item())
    local t = nl.full({ 3, 4 }, big, 'int64')
    assert.are.same({ big, big, big, big }, t:mean(1):totable())      -- lanes
    assert.are.same({ big, big, big }, t:mean(2):totable())           -- runs
    local long = nl.full({ 40000, 3 }, big, 'int64')                  -- chunks
    assert.are.equal(big, long:mean():item())
    assert.are.same({ big, big, big }, long:mean(1):totable())
    assert.are.same({ big, big, big }, long:t():mean(2):totable())
    assert.are.equal('float32', long:mean():dtype())
    assert.are.equal(0.5, nl.tensor({ -3, 4 }, 'int64'):mean():item())
    -- the sum of int64 still wraps as int64 arithmetic does
    assert.are.equal(-2 ^ 63, nl.tensor({ big, big }, 'int64'):sum():item())
  end)
end)

describe('var and std', function()
  -- rows {1, 2, 3, 4} and {2, 4, 6, 9}: deviations from the means 2.5 and
  -- 5.25 give squared sums 5 and 26.75; all eight: mean 3.875, sum 46.875
  local x = nl.tensor({ { 1, 2, 3, 4 }, { 2, 4, 6, 9 } }, 'float64')

  it('divide the squared deviations by n - 1 (unbiased), n, or n - correction, over a dim or all', function()
    assert.are.equal(46.875 / 7, x:var():item())
    assert.are.equal(math.sqrt(46.875 / 7), x:std():item())
    assert.are.equal(46.875 / 8, x:var({ unbiased = false }):item())
    assert.are.same({ 5 / 3, 26.75 / 3 }, x:var(2):totable())
    assert.are.same({ 5 / 2, 26.75 / 2 }, nl.var(x, -1, { correction = 2 }):totable())
    assert.are.same({ { 0.5, 2, 4.5, 12.5 } }, x:var(1, true, true):totable())
    -- a boolean after the dim is unbiased, as PyTorch's x.var(1, False)
    assert.are.same({ 5 / 4, 26.75 / 4 }, x:var(2, false):totable())
    assert.are.equal(46.875 / 8, x:var(false):item())
    assert.are.same({ 1, 1 }, x:std({ keepdim = true }):shape())
    assert.are.same({ { 0.5, 1, 1.5, 2.5 } }, x:std(1, { correction = 0, keepdim = true }):totable())
    -- one element, unbiased: 0 / 0, as PyTorch gives NaN
    local v = nl.tensor({ 5 }):var():item()
    assert.is_true(v ~= v)
  end)

  it('have the gradient of their formula (float64 finite differences)', function()
    local a = nl.randn({ 3, 4 }, 'float64'):requires_grad()
    assert.is_true(nl.gradcheck(function(t) return t:var(2) end, { a }))
    assert.is_true(nl.gradcheck(function(t) return t:std(1, { unbiased = false }) end, { a }))
    assert.is_true(nl.gradcheck(function(t) return t:std() end, { a }))
  end)

  -- torch: x.std(1).sum().backward() gives [[0, 0, 0], [-0.5, 0, 0.5]]:
  -- PyTorch masks the gradient where the std is 0 (it was NaN here)
  it('std has the gradient 0 where the std is 0', function()
    local a = nl.tensor({ { 1, 1, 1 }, { 1, 2, 3 } }, 'float64'):requires_grad()
    a:std(2):sum():backward()
    assert.are.same({ { 0, 0, 0 }, { -0.5, 0, 0.5 } }, a.grad:totable())
  end)

  it('refuse an int64 tensor, a bad dim or option, with the op named', function()
    local ok, err = pcall(function() return nl.tensor({ 1, 2 }, 'int64'):var() end)
    assert.is_false(ok); assert.is_truthy(err:find('var: needs a floating point tensor, got int64 [2]', 1, true), err)
    ok, err = pcall(function() return x:std(3) end)
    assert.is_false(ok); assert.is_truthy(err:find('std: dim 3 out of range for shape [2,4]', 1, true), err)
    ok, err = pcall(function() return x:var({ unbiased = false, correction = 0 }) end)
    assert.is_false(ok); assert.is_truthy(err:find('var: give unbiased or correction, not both', 1, true), err)
    ok, err = pcall(function() return x:var({ correction = -1 }) end)
    assert.is_false(ok); assert.is_truthy(err:find('var: expected a non-negative integer correction', 1, true), err)
  end)
end)

describe('softmax', function()
  it('rows sum to 1 and match exp(x - logsumexp) in float64', function()
    local x = nl.tensor({ { 1, 2, 3 }, { 1000, 1000, -1000 }, { -5, 0, 5 } })
    local sm, lsm = x:softmax(2), x:log_softmax(2)
    local t = x:totable()
    for i = 1, 3 do
      local m = math.max(t[i][1], t[i][2], t[i][3])
      local lse = m + math.log(math.exp(t[i][1] - m) + math.exp(t[i][2] - m) + math.exp(t[i][3] - m))
      for j = 1, 3 do
        assert.is_true(S.close(sm[i][j], math.exp(t[i][j] - lse), 1e-6, 1e-7))
        assert.is_true(S.close(lsm[i][j], t[i][j] - lse, 1e-6, 1e-5))
      end
    end
    assert.is_true(S.close(x:softmax(1):sum(1)[2], 1, 1e-6))
  end)
end)

describe('matmul', function()
  local function ref(a, b)        -- float64 triple loop on Lua tables
    local ta, tb = a:totable(), b:totable()
    local m, k, n = #ta, #tb, #tb[1]
    local out = {}
    for i = 1, m do
      out[i] = {}
      for j = 1, n do
        local s = 0
        for l = 1, k do s = s + ta[i][l] * tb[l][j] end
        out[i][j] = s
      end
    end
    return out
  end
  local function expect(got, want, k)
    local g = got:totable()
    for i = 1, #want do
      for j = 1, #want[1] do
        assert.is_true(S.close(g[i][j], want[i][j], 1e-5, 1e-5 * math.sqrt(k)),
          string.format('at %d,%d: %.8g vs %.8g', i, j, g[i][j], want[i][j]))
      end
    end
  end

  -- an outer product (k = 1) lost a NaN times 0 in the last column of an
  -- odd n (BLIS's small-matrix path): nan nan 0, where every column is NaN
  it('keeps NaN times 0 in every column of an outer product (k = 1)', function()
    for _, dt in ipairs({ 'float32', 'float64' }) do
      for _, n in ipairs({ 1, 3, 4, 7, 33 }) do
        for _, m in ipairs({ 2, 9, 40 }) do
          local a = nl.ones(m, 1, dt)
          a[1][1] = 0 / 0
          local c = nl.matmul(a, nl.zeros(1, n, dt)):totable()
          for j = 1, n do
            assert.is_true(c[1][j] ~= c[1][j], ('%s m %d n %d column %d: %s'):format(dt, m, n, j, c[1][j]))
            assert.are.equal(0, c[2][j])
          end
          -- a product of -0 is the +0 a sum gives (1 / it was -inf)
          local z = nl.matmul(nl.zeros(m, 1, dt), nl.full({ 1, n }, -1, dt)):totable()
          assert.are.equal(math.huge, 1 / z[m][n])
          local b = nl.tensor(S.nested({ 1, n }, rnd), dt)
          local want = b:totable()[1]
          local got = nl.matmul(nl.ones(m, 1, dt) * 2, b):totable()
          for j = 1, n do assert.are.equal(2 * want[j], got[m][j]) end
        end
      end
    end
  end)

  it('matches a float64 loop on odd sizes and transposed operands', function()
    for _, sz in ipairs({ { 1, 1, 1 }, { 7, 3, 5 }, { 33, 17, 9 }, { 5, 65, 2 } }) do
      local m, k, n = sz[1], sz[2], sz[3]
      local a = nl.tensor(S.nested({ m, k }, rnd))
      local b = nl.tensor(S.nested({ k, n }, rnd))
      expect(nl.matmul(a, b), ref(a, b), k)
      local at = nl.tensor(S.nested({ k, m }, rnd)):t()       -- (m,k) transposed view
      local bt = nl.tensor(S.nested({ n, k }, rnd)):t()
      expect(nl.matmul(at, bt), ref(at, bt), k)
      expect(at:matmul(b), ref(at, b), k)
    end
  end)

  it('float32 products of every layout, edge and k block match float64 BLIS, on 1 to 3 threads', function()
    -- sizes around the float32 kernel's blocks (12-row, 32-column tiles
    -- with AVX-512, 6-row, 16-column ones with AVX2 alone; k in blocks of
    -- 256, rows in blocks of 144, columns in blocks of 1024), the AVX2
    -- tile's edges (1 to 5 rows past the last whole tile; 1, 4, 6, 8, 13
    -- and 15 columns), and its split by columns or rows; the 600 x 64 x 600 one
    -- (both sides of C >= 512) runs on it at 1 and 2 threads and on BLIS at
    -- 3. BLIS also takes the products with a side under 16 on AVX2, those
    -- on 2 or 3 threads whose packed A is over 1 MB (600 x 600 x 40), and
    -- every one where neither instruction set is there.
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    nl.manual_seed(5)
    local function layouts(r, c)   -- an (r, c) operand: row-major, column-major, strided both ways
      return { nl.rand(r, c) * 2 - 1, (nl.rand(c, r) * 2 - 1):t(), (nl.rand(r, c, 2) * 2 - 1):select(3, 1) }
    end
    for _, sz in ipairs({ { 13, 300, 33 }, { 150, 257, 70 }, { 5, 16, 1 }, { 40, 600, 3 }, { 130, 40, 520 },
                          { 20, 40, 2100 }, { 600, 64, 600 }, { 160, 200, 144 }, { 29, 270, 45 }, { 27, 20, 47 },
                          { 19, 33, 17 }, { 600, 600, 40 } }) do
      local m, k, n = sz[1], sz[2], sz[3]
      for ia, a in ipairs(layouts(m, k)) do
        for ib, b in ipairs(layouts(k, n)) do
          local want = nl.matmul(a:double(), b:double())
          for _, threads in ipairs({ 1, 2, 3 }) do
            nl.set_num_threads(threads)
            local got = nl.matmul(a, b)
            assert.are.same({ m, n }, got:shape())
            local err = (got:double() - want):abs():max():item()
            assert.is_true(err <= 2e-6 * math.sqrt(k) * 4, ('%dx%dx%d layouts %d,%d threads %d: error %g'):format(
              m, k, n, ia, ib, threads, err))
          end
        end
      end
    end
  end)

  it('batches 3-D operands and drops 1-D dims as numpy does', function()
    local a = nl.tensor(S.nested({ 2, 3, 4 }, rnd))
    local b = nl.tensor(S.nested({ 2, 4, 5 }, rnd))
    local c = nl.matmul(a, b)
    assert.are.same({ 2, 3, 5 }, c:shape())
    for i = 1, 2 do expect(c[i], ref(a[i], b[i]), 4) end
    local v = nl.tensor({ 1, 2, 3, 4 })
    assert.are.same({ 2, 3 }, nl.matmul(a, v):shape())
    assert.are.same({}, nl.matmul(v, v):shape())
    assert.are.equal(30, nl.matmul(v, v):item())
  end)
end)
