-- nl_linear: nn.Linear on 2-D input, nn.functional.linear, and a Linear
-- followed by a ReLU inside nn.Sequential run as one op. Its values and
-- gradients must be those of nl_matmul, nl_add and nl_relu run in turn (each
-- tested against PyTorch and the plain loops elsewhere), bit for bit; and
-- float64 finite differences check its backward on their own.
local nl = require 'nnlua'
local S = require 'tests.spec.support'
local nn, F = nl.nn, nl.nn.functional

local function rand(shape, dtype)
  local t = nl.randn(shape)
  return dtype and t[dtype](t) or t
end

local same_bits = S.same_bits

describe('nl_linear', function()
  it('Linear and Sequential(Linear, ReLU) give the values and gradients of matmul, add and relu, bit for bit', function()
    -- the tile path (more than 4 rows), the small-row product and BLIS
    -- (512 x 512 on 3 threads; with AVX2 alone 300 x 900 x 20, whose packed
    -- A is over 1 MB, on 3) that keep their own loops, several k blocks
    -- (k = 600), two column blocks (n = 1100 on one thread), edge tiles,
    -- no bias, a transposed input view, NaN inputs, an infinite upstream
    -- gradient where the ReLU zeroes (0 in both, as PyTorch selects), float64
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    local cases = {
      { m = 6, k = 5, n = 7 },
      { m = 3, k = 9, n = 11 },
      { m = 37, k = 600, n = 50 },
      { m = 13, k = 33, n = 1100 },
      { m = 20, k = 17, n = 9, bias = false },
      { m = 9, k = 12, n = 40, transposed = true },
      { m = 512, k = 24, n = 512 },
      { m = 300, k = 900, n = 20 },
      { m = 8, k = 6, n = 5, dtype = 'double' },
    }
    local checked = 0
    for _, th in ipairs({ 1, 3 }) do
      nl.set_num_threads(th)
      for ci, c in ipairs(cases) do
        for _, relu in ipairs({ false, true }) do
          local what = ('case %d, relu %s, %d threads'):format(ci, tostring(relu), th)
          nl.manual_seed(100 + ci)
          local lin = nn.Linear(c.k, c.n, { bias = c.bias })
          if c.dtype then lin = lin[c.dtype](lin) end
          if lin.bias then nl.no_grad(function() lin.bias[c.n] = -50 end) end   -- the last column: all zeroed by a ReLU
          local x = c.transposed and rand({ c.k, c.m }, c.dtype):t() or rand({ c.m, c.k }, c.dtype)
          x[1][2] = 0 / 0
          local xa, xb = x:clone():requires_grad(), x:clone():requires_grad()
          if c.transposed then   -- strided views, like x: matmul's BLIS path reads the layout it is given
            xa, xb = x:t():clone():t():requires_grad(), x:t():clone():t():requires_grad()
          end
          local ya = relu and nn.Sequential(lin, nn.ReLU())(xa) or lin(xa)
          local up = rand({ c.m, c.n }, c.dtype)
          up[c.m][c.n] = 1 / 0
          ;(ya * up):sum():backward()
          local ga = { xa.grad, lin.weight.grad, lin.bias and lin.bias.grad }
          lin.weight.grad = nil
          if lin.bias then lin.bias.grad = nil end
          local yb = nl.matmul(xb, lin.weight:t())
          if lin.bias then yb = yb + lin.bias end
          if relu then yb = yb:relu() end
          ;(yb * up):sum():backward()
          local gb = { xb.grad, lin.weight.grad, lin.bias and lin.bias.grad }
          assert.are.equal('linear', ya:grad_fn(), what)
          same_bits(ya, yb, what .. ': output')
          for k, name in ipairs({ 'input', 'weight', 'bias' }) do
            if gb[k] then same_bits(ga[k], gb[k], what .. ': ' .. name .. ' gradient') end
          end
          checked = checked + 1
        end
      end
    end
    assert.are.equal(2 * 2 * #cases, checked)
  end)

  it('matches float64 arithmetic: the fused Linear and ReLU in float32 against the three ops in float64', function()
    nl.manual_seed(3)
    local lin = nn.Linear(300, 70)
    local seq = nn.Sequential(lin, nn.ReLU())
    local x = rand({ 33, 300 }):requires_grad()
    local y = seq(x)
    local up = rand(y:shape())
    ;(y * up):sum():backward()
    local w64, b64 = lin.weight:detach():double():requires_grad(), lin.bias:detach():double():requires_grad()
    local x64 = x:detach():double():requires_grad()
    local y64 = (nl.matmul(x64, w64:t()) + b64):relu()
    ;(y64 * up:double()):sum():backward()
    S.expect_close(y, y64, 'output', 1e-5, 1e-5)
    S.expect_close(x.grad, x64.grad, 'input gradient', 1e-4, 1e-5)
    S.expect_close(lin.weight.grad, w64.grad, 'weight gradient', 1e-4, 1e-4)
    S.expect_close(lin.bias.grad, b64.grad, 'bias gradient', 1e-4, 1e-4)
  end)

  it('has the gradients of float64 finite differences, with and without the ReLU and the bias', function()
    local tol = { eps = 1e-6, atol = 1e-5, rtol = 1e-5 }
    nl.manual_seed(4)
    local x, w, b = rand({ 5, 4 }, 'double'):requires_grad(), rand({ 3, 4 }, 'double'):requires_grad(),
      rand({ 3 }, 'double'):requires_grad()
    local ok, msg = nl.gradcheck(function(xx, ww, bb) return F.linear(xx, ww, bb) end, { x, w, b }, tol)
    assert.is_true(ok, msg)
    ok, msg = nl.gradcheck(function(xx, ww) return F.linear(xx, ww) end, { x, w }, tol)
    assert.is_true(ok, msg)
    local lin = nn.Linear(4, 3):double()
    local seq = nn.Sequential(lin, nn.ReLU())
    lin.weight, lin.bias = w, b
    assert.are.equal('linear', seq(x):grad_fn())
    ok, msg = nl.gradcheck(function(xx, ww, bb)
      lin.weight, lin.bias = ww, bb
      return seq(xx)
    end, { x, w, b }, tol)
    assert.is_true(ok, msg)
  end)

  -- ReLU's gradient was 0 at a NaN input; PyTorch's threshold_backward
  -- zeroes only where x <= 0, so NaN passes it (values from PyTorch 1.13)
  it('ReLU passes the gradient at NaN, alone and fused with Linear, as PyTorch', function()
    local x = nl.tensor({ 0 / 0, -1, 2, 0 }):requires_grad()
    nn.ReLU()(x):sum():backward()
    assert.are.same({ 1, 0, 1, 0 }, x.grad:totable())
    local s = nn.Sequential(nn.Linear(2, 2, { bias = false }), nn.ReLU())
    nl.no_grad(function() s[1].weight:zero_() end)
    local y = s(nl.tensor({ { 1, 2 }, { 0 / 0, 1 } }))
    assert.are.equal('linear', y:grad_fn())
    y:sum():backward()
    local g = s[1].weight.grad:totable()
    for r = 1, 2 do
      assert.is_true(g[r][1] ~= g[r][1], 'row ' .. r .. ': NaN')
      assert.are.equal(1, g[r][2])
    end
  end)

  it('nn.functional.linear agrees with Linear, and other input ranks keep working', function()
    nl.manual_seed(6)
    local lin = nn.Linear(4, 3)
    local x = rand({ 5, 4 })
    same_bits(F.linear(x, lin.weight, lin.bias), lin(x), 'F.linear')
    -- 1-D and 3-D input: rows through the same op, in PyTorch's shapes
    local x3 = rand({ 2, 5, 4 })
    local y3 = lin(x3)
    assert.are.same({ 2, 5, 3 }, y3:shape())
    same_bits(y3[2], lin(x3[2]), '3-D input, item 2')
    assert.are.same({ 3 }, lin(rand({ 4 })):shape())
    assert.are.same({ 2, 5, 3 }, F.linear(x3, lin.weight, lin.bias):shape())
  end)

  it('names the op and the shapes on bad input', function()
    local lin = nn.Linear(4, 3)
    local function err(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
    local e = err(function() return F.linear(nl.ones(5, 6), lin.weight, lin.bias) end)
    assert.is_truthy(e:find('linear: input of shape [5,6] does not fit weight [3,4]: expected (N, 4)', 1, true), e)
    e = err(function() return F.linear(nl.ones(5, 4), lin.weight, nl.ones(4)) end)
    assert.is_truthy(e:find('linear: bias of shape [4] does not fit weight [3,4]: expected (3)', 1, true), e)
    e = err(function() return F.linear(nl.ones(5, 4), nl.ones(3, 4, 1), nil) end)
    assert.is_truthy(e:find('linear: weight must be 2-D (out_features, in_features), got shape [3,4,1]', 1, true), e)
    e = err(function() return F.linear(nl.ones(5, 4, 'float64'), lin.weight, lin.bias) end)
    assert.is_truthy(e:find('linear: input, weight and bias must share a dtype, got float64, float32 and float32', 1, true), e)
    e = err(function() return F.linear(nl.ones(5, 4, 'int64'), lin.weight:long(), nil) end)
    assert.is_truthy(e:find('linear: expected a float32 or float64 input, got int64', 1, true), e)
    for _, f in ipairs({ lin, nn.Sequential(lin, nn.ReLU()) }) do
      e = err(function() return f(nl.ones(5, 6)) end)
      assert.is_truthy(e:find('Linear: input has 6 features in its last dim, expected 4 (input shape [5,6])', 1, true), e)
    end
    -- other input ranks: checked with the caller's shapes (a bias of
    -- another shape broadcast the output larger; dtypes mixed; the weight
    -- was named transposed, or as t's)
    local bad = {
      { rand({ 2, 2, 4 }), lin.weight, rand({ 3, 1, 1, 3 }), 'input float32 [2,2,4], weight float32 [3,4], bias float32 [3,1,1,3]' },
      { rand({ 4 }), lin.weight, rand({ 5, 3 }), 'input float32 [4], weight float32 [3,4], bias float32 [5,3]' },
      { rand({ 2, 2, 4 }), lin.weight, rand({ 3 }, 'double'), 'bias float64 [3]' },
      { rand({ 2, 2, 4 }), rand({ 3, 5 }), nil, 'input float32 [2,2,4], weight float32 [3,5]: expected input (..., in)' },
      { rand({ 2, 2, 4 }), rand({ 2, 3, 4 }), nil, 'weight float32 [2,3,4]' },
      { nl.ones(2, 2, 4, 'int64'), lin.weight:long(), nil, 'input int64 [2,2,4]' },
    }
    for _, c in ipairs(bad) do
      e = err(function() return F.linear(c[1], c[2], c[3]) end)
      assert.is_truthy(e:find('linear: ' .. c[4], 1, true) or e:find(c[4], 1, true), e)
      assert.is_truthy(e:find('linear: ', 1, true), e)
    end
    -- no input features on other ranks: the bias alone (-1 rows was ambiguous)
    assert.are.same({ { { 1, 2 }, { 1, 2 } } }, F.linear(nl.ones(1, 2, 0), nl.ones(2, 0), nl.tensor({ 1, 2 })):totable())
    assert.are.same({ 1, 2 }, F.linear(nl.ones(0), nl.ones(2, 0), nl.tensor({ 1, 2 })):totable())
    -- an empty batch is no error: (0, 3)
    assert.are.same({ 0, 3 }, lin(nl.ones(0, 4)):shape())
    assert.are.same({ 0, 3 }, nn.Sequential(lin, nn.ReLU())(nl.ones(0, 4)):shape())
  end)
end)
