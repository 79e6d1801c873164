-- Tensor creation, shapes, views sharing storage, indexing, conversion,
-- cat/stack/index_select and printing.
local nl = require 'nnlua'

-- body(dtype, threads) for float32, float64 and int64 on one and two
-- threads, the thread count put back after (in an it)
local function each_dtype_on_threads(body)
  local prev = nl.get_num_threads()
  finally(function() nl.set_num_threads(prev) end)
  for _, threads in ipairs({ 1, 2 }) do
    nl.set_num_threads(threads)
    for _, dtype in ipairs({ 'float32', 'float64', 'int64' }) do body(dtype, threads) end
  end
end
local function all_eq(a, b, what) assert.is_true(a:eq(b):all():item() == 1, what) end

describe('creation', function()
  it('builds tensors from nested tables and numbers', function()
    local t = nl.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.are.same({ 2, 3 }, t:shape())
    assert.are.equal(2, t:dim())
    assert.are.equal(6, t:numel())
    assert.are.equal('float32', t:dtype())
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t:totable())
    local s = nl.tensor(2.5)
    assert.are.equal(0, s:dim())
    assert.are.equal(2.5, s:item())
    assert.are.equal('int64', nl.tensor({ 1, 2 }, 'int64'):dtype())
    assert.are.equal(2 ^ 40 + 1, nl.tensor({ 2 ^ 40 + 1 }, 'int64')[1])
    -- booleans are 1 and 0, as comparisons' masks (they were refused)
    local b = nl.tensor({ { true, false }, { false, true } })
    assert.are.equal('float32', b:dtype())
    assert.are.same({ { 1, 0 }, { 0, 1 } }, b:totable())
    assert.are.same({ 0, 1 }, nl.tensor({ false, true }, 'int64'):totable())
    assert.are.equal(1, nl.tensor(true):item())
    assert.are.same({ 0, 2, 0 }, nl.tensor({ 1, 2, 3 }):masked_fill(nl.tensor({ true, false, true }), 0):totable())
    assert.has_error(function() nl.tensor({ 1, 'a' }) end, 'tensor: expected numbers or booleans, found string')
  end)

  -- a 0-dim tensor is one element along its dim 1: C refused it, naming
  -- a dim 0 the caller never wrote (PyTorch: index 0 gives it back)
  -- a list's 1.9 was truncated to 1 (t[1.5] and select(1, 1.5) are refused)
  it('index_select refuses a fractional index in a list', function()
    local ok, err = pcall(function() return nl.arange(6):view(2, 3):index_select(2, { 1.9, 2 }) end)
    assert.is_false(ok)
    assert.is_truthy(err:find('index_select: expected whole-number indices, got 1.9 at position 1', 1, true), err)
    assert.are.same({ { 2, 0 }, { 5, 3 } }, nl.arange(6):view(2, 3):index_select(2, { 3, 1 }):totable())
  end)

  it('index_select of a 0-dim tensor with index 1 gives it back', function()
    local x = nl.tensor(2.5):requires_grad()
    local y = x:index_select(1, { 1 })
    assert.are.equal(0, y:dim())
    assert.are.equal(2.5, y:item())
    ;(y * 3):backward()
    assert.are.equal(3, x.grad:item())
    local ok, err = pcall(function() return x:index_select(1, { 2 }) end)
    assert.is_false(ok)
    assert.is_truthy(err:find('index_select: a 0-dim tensor takes one index, 1', 1, true), err)
  end)

  -- PyTorch's __setitem__ drops the value's leading size-1 dims; they were
  -- refused as not broadcasting
  it('t[i] = v drops the leading size-1 dims of v', function()
    local a = nl.zeros(3, 4)
    a[2] = nl.tensor({ { 1, 2, 3, 4 } })
    assert.are.same({ { 0, 0, 0, 0 }, { 1, 2, 3, 4 }, { 0, 0, 0, 0 } }, a:totable())
    local b = nl.zeros(3)
    b[2] = nl.tensor({ 7 })
    assert.are.same({ 0, 7, 0 }, b:totable())
    assert.is_false((pcall(function() a[1] = nl.ones(2, 4) end)))
  end)

  it('an int64 tensor truncates fractions toward zero, as PyTorch does', function()
    -- torch.tensor([2.5, -2.5], dtype=torch.int64) is [2, -2]; full, fill_ and
    -- stores likewise (they used to refuse some and saturate others)
    assert.are.same({ 2, -2 }, nl.tensor({ 2.5, -2.5 }, 'int64'):totable())
    assert.are.same({ 2, 2 }, nl.full({ 2 }, 2.7, 'int64'):totable())
    assert.are.same({ -2, -2 }, nl.zeros(2, 'int64'):fill_(-2.7):totable())
    local t = nl.zeros(3, 'int64')
    t[1], t[2] = 2.5, -1.5
    assert.are.same({ 2, -1, 0 }, t:totable())
    assert.are.same({ -2 ^ 63 }, nl.tensor({ -2 ^ 63 }, 'int64'):totable())
    -- and int64's lowest stays int64 as a scalar operand (it became float32)
    local u = nl.zeros(1, 'int64')
    assert.are.equal('int64', (u + (-2 ^ 63)):dtype())
    u:add_(-2 ^ 63)
    assert.are.same({ -2 ^ 63 }, u:totable())
    -- keys that are not list positions are left alone, as before
    assert.are.same({ 1, 2, 3 }, nl.tensor({ 1, 2, 3, name = 'x', [0] = 9 }):totable())
  end)

  it('zeros, ones, full, empty, eye, arange', function()
    assert.are.same({ { 0, 0 }, { 0, 0 } }, nl.zeros(2, 2):totable())
    assert.are.same({ 1, 1, 1 }, nl.ones({ 3 }):totable())
    assert.are.same({ { 7, 7 } }, nl.full({ 1, 2 }, 7):totable())
    assert.are.same({ 4, 5 }, nl.empty(4, 5):shape())
    assert.are.same({ { 1, 0, 0 }, { 0, 1, 0 } }, nl.eye(2, 3):totable())
    assert.are.same({ 0, 1, 2, 3 }, nl.arange(4):totable())
    assert.are.equal('int64', nl.arange(4):dtype())
    assert.are.same({ 1, 1.5, 2, 2.5 }, nl.arange(1, 3, 0.5):totable())
    assert.are.equal('float32', nl.arange(1, 3, 0.5):dtype())
    assert.are.same({ 5, 3, 1 }, nl.arange(5, 0, -2):totable())
    -- int64 steps in int64 arithmetic: in doubles the values past 2^53 repeated
    -- (the differences are taken in int64, exactly; totable would round)
    local big = nl.arange(2 ^ 53, 2 ^ 53 + 4)
    assert.are.same({ 0, 1, 2, 3 }, (big - big:narrow(1, 1, 1)):totable())
    local steps = nl.arange(2 ^ 60, 2 ^ 60 + 512, 128)
    assert.are.same({ 0, 128, 256, 384 }, (steps - steps:narrow(1, 1, 1)):totable())
    -- whole numbers past int64 make float32, as PyTorch's (they were
    -- wrapped or clamped int64); an int64 range past its limits, a step
    -- that is 0 as an int64, are refused; start and step go toward zero
    local huge = nl.arange(0, 1.5e19, 4e18)
    assert.are.equal('float32', huge:dtype())
    for i, want in ipairs({ 0, 4e18, 8e18, 1.2e19 }) do
      assert.is_true(math.abs(huge:totable()[i] - want) <= want * 1e-7, tostring(huge:totable()[i]))
    end
    for _, c in ipairs({ { 0, 1.5e19, 4e18, 'do not fit int64' }, { 2 ^ 62, 2 ^ 63 - 1024, 2 ^ 62, nil },
                         { 0, 3, 0.5, 'step 0.5 is 0 as an int64' } }) do
      local ok, err = pcall(nl.arange, c[1], c[2], c[3], 'int64')
      if c[4] then
        assert.is_truthy(not ok and err:find('arange: ', 1, true) and err:find(c[4], 1, true), err)
      else
        assert.is_true(ok, err)
      end
    end
    assert.are.same({ 0, 1, 2 }, nl.arange(0.5, 3, 1, 'int64'):totable())
    -- end and step as int64 before counting, as PyTorch's (0, 2.5 gave 0, 1, 2)
    assert.are.same({ 0, 1 }, nl.arange(0, 2.5, 1, 'int64'):totable())
    assert.are.same({ 0, 1, 2 }, nl.arange(0, 3, 1.5, 'int64'):totable())
    assert.are.same({ 0 }, nl.arange(0.5, 0.7, 1, 'int64'):shape())
    assert.are.same({ -2, -1, 0, 1 }, nl.arange(-2.5, 2, 1, 'int64'):totable())
    assert.are.equal('float64', nl.zeros(2, 'float64'):dtype())
    assert.are.same({ 0 }, nl.zeros(0):shape())
    assert.are.equal(0, nl.zeros(0):sum():item())
  end)
end)

describe('views', function()
  -- squeeze with nothing to squeeze gave the tensor itself, so marking the
  -- result as requiring grad marked the input and its .grad was shared
  it('squeeze with nothing to squeeze gives a new view, as PyTorch', function()
    local x = nl.zeros(2, 3)
    local y = x:squeeze(1)
    y:requires_grad()
    local z = y * 2
    z:sum():backward()
    assert.is_nil(x.grad)
    assert.is_false(x.is_requires_grad)
    x[1][1] = 5
    assert.are.equal(5, y[1][1])           -- still a view
  end)

  -- a dtype after the sizes was dropped (view(6, 'int64') gave float32);
  -- type(d) gave the name, to() float32
  it('view, reshape and expand refuse a dtype; type(d) converts; to() wants a dtype', function()
    local t = nl.ones(2, 3)
    for _, f in ipairs({ 'view', 'reshape', 'expand' }) do
      local ok, err
      if f == 'expand' then ok, err = pcall(t[f], t, 2, 3, 'int64') else ok, err = pcall(t[f], t, 6, 'int64') end
      assert.is_false(ok)
      assert.is_truthy(err:find(f .. ': takes sizes only, not a dtype', 1, true), err)
    end
    assert.are.equal('float64', nl.ones(2, 'int64'):type('float64'):dtype())
    assert.are.equal('int64', nl.ones(2, 'int64'):type())
    local ok, err = pcall(t.to, t)
    assert.is_truthy(not ok and err:find('to: expected a dtype', 1, true), err)
  end)

  it('view, reshape, transpose, permute, narrow, select and expand share storage', function()
    local t = nl.arange(24, 'float32')
    local v = t:view(2, 3, 4)
    v[2][3][4] = 100
    assert.are.equal(100, t[24])
    local tr = v:transpose(1, 3)                       -- (4,3,2)
    assert.are.same({ 4, 3, 2 }, tr:shape())
    assert.are.equal(100, tr[4][3][2])
    assert.are.equal(v[1][2][3], tr[3][2][1])
    local p = v:permute(3, 1, 2)                       -- (4,2,3)
    assert.are.same({ 4, 2, 3 }, p:shape())
    assert.are.equal(v[2][1][4], p[4][2][1])
    local n = v:narrow(3, 2, 2)                        -- (2,3,2)
    assert.are.same({ 2, 3, 2 }, n:shape())
    n:fill_(-1)
    assert.are.same({ 0, -1, -1, 3 }, t:narrow(1, 1, 4):totable())
    local s = v:select(2, 3)                           -- (2,4)
    assert.are.same({ 8, -1, -1, 11 }, s[1]:totable())
    local e = nl.tensor({ 1, 2, 3 }):view(3, 1):expand(3, 2)
    assert.are.same({ { 1, 1 }, { 2, 2 }, { 3, 3 } }, e:totable())
    assert.are.same({ 6, 4 }, v:reshape(-1, 4):shape())
  end)

  it('narrow and select count a negative start or index from the end; an empty narrow may start past the end', function()
    local t = nl.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.are.same({ { 3 }, { 6 } }, t:narrow(2, -1, 1):totable())
    assert.are.same({ { 2, 3 }, { 5, 6 } }, t:narrow(2, -2, 2):totable())
    assert.are.same({ 2, 0 }, t:narrow(2, 4, 0):shape())
    assert.are.same({ 1, 2, 3 }, t:select(1, -2):totable())
    assert.are.same({ 3, 6 }, t:select(2, -1):totable())
    assert.are.same({ 2, 3, 1 }, t:unsqueeze(-1):shape())
    assert.are.same({ 2, 3, 2 }, nl.stack({ t, t }, -1):shape())
  end)

  it('narrow takes a 0-dim int64 tensor as start, as PyTorch 1.13 (torch.arange(5.).narrow(0, tensor(2), 2) is [2, 3])', function()
    local t = nl.arange(0, 5):float()
    assert.are.same({ 2, 3 }, t:narrow(1, nl.tensor(3, 'int64'), 2):totable())
    assert.are.same({ 3, 4 }, t:narrow(1, nl.tensor(-2, 'int64'), 2):totable())
    -- a float or a 1-D start is still refused
    for _, bad in ipairs({ nl.tensor(3), nl.tensor({ 3 }, 'int64') }) do
      local ok, err = pcall(t.narrow, t, 1, bad, 2)
      assert.is_false(ok)
      assert.truthy(tostring(err):find('narrow: expected an integer start', 1, true))
    end
  end)

  it('contiguous copies only when needed; reshape copies where view cannot', function()
    local t = nl.rand(3, 4)
    local c = t:contiguous()
    c[1][1] = 42
    assert.are.equal(42, t[1][1])                      -- same storage: no copy
    local tt = t:t()
    assert.is_false(tt:is_contiguous())
    local cc = tt:contiguous()
    assert.is_true(cc:is_contiguous())
    cc[1][1] = -5
    assert.are.equal(42, t[1][1])                      -- a copy
    assert.has_error(function() tt:view(12) end)
    assert.are.same(tt:contiguous():view(12):totable(), tt:reshape(12):totable())
    -- a view of a non-contiguous tensor where the strides allow it
    local w = nl.arange(24):view(2, 3, 4):transpose(1, 2)   -- (3,2,4)
    assert.are.same({ 3, 2, 2, 2 }, w:view(3, 2, 2, 2):shape())
    assert.are.same(w:contiguous():view(3, 2, 2, 2):totable(), w:view(3, 2, 2, 2):totable())
  end)

  it('squeeze and unsqueeze', function()
    local t = nl.zeros(2, 1, 3)
    assert.are.same({ 2, 3 }, t:squeeze():shape())
    assert.are.same({ 2, 3 }, t:squeeze(2):shape())
    assert.are.same({ 2, 1, 3 }, t:squeeze(1):shape())
    assert.are.same({ 1, 2, 1, 3 }, t:unsqueeze(1):shape())
    assert.are.same({ 2, 1, 3, 1 }, t:unsqueeze(-1):shape())
  end)
end)

describe('indexing', function()
  it('reads and writes with 1-based and negative indices', function()
    local t = nl.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } })
    assert.are.equal(3, #t)
    assert.are.same({ 3, 4 }, t[2]:totable())
    assert.are.equal(6, t[-1][-1])
    t[1] = 9
    assert.are.same({ 9, 9 }, t[1]:totable())
    t[2] = nl.tensor({ 7, 8 })
    assert.are.same({ 7, 8 }, t[2]:totable())
    t[3][1] = 0.5
    assert.are.equal(0.5, t[3][1])
  end)

  -- t[tensor] gave nil without a word, so x[x:argmax()] failed later
  -- a 1-D index keeps its dim in PyTorch, so only a 0-dim one is a number
  it('takes a 0-dim int64 tensor or an int64 cdata as an index, and refuses other keys', function()
    local t = nl.tensor({ 10, 20, 30 })
    assert.are.equal(20, t[nl.tensor(2, 'int64')])
    assert.are.equal(30, t[t:argmax()])
    assert.are.equal(20, t[2LL])
    t[nl.tensor(1, 'int64')] = 5
    assert.are.same({ 5, 20, 30 }, t:totable())
    assert.are.same({ 4, 5, 6 }, nl.arange(1, 7):view(2, 3)[nl.tensor(2, 'int64')]:totable())
    for _, k in ipairs({ nl.tensor(1.0), nl.tensor({ 1 }, 'int64'), nl.tensor({ 1, 2 }, 'int64'), {}, true }) do
      local ok, err = pcall(function() return t[k] end)
      assert.is_false(ok)
      assert.is_truthy(err:find('index: expected an integer index or a 0-dim int64 tensor', 1, true), err)
    end
    -- infinities passed the whole-number test and printed as INT64_MIN
    local ok, err = pcall(function() return t[1 / 0] end)
    assert.is_truthy(not ok and err:find('index: expected an integer index, got inf', 1, true), err)
    ok, err = pcall(function() return t:select(1, -1 / 0) end)
    assert.is_truthy(not ok and err:find('select: expected an integer index, got -inf', 1, true), err)
  end)

  -- PyTorch refuses to store a finite number past float32's range where
  -- it fills or stores (full, fill_, t[i] = v): it became inf here
  it('refuses to fill or store a float32 past its range, where arithmetic overflows to inf', function()
    local t2 = nl.zeros(2, 2)
    for _, f in ipairs({ function() return nl.full({ 2 }, 1e40) end, function() return nl.zeros(2):fill_(-1e40) end,
                         function() local t = nl.zeros(3); t[1] = 1e40 end, function() t2[1] = 1e40 end }) do
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.is_truthy(err:find('cannot be stored in float32 without overflow', 1, true), err)
    end
    for _, f in ipairs({ function() return nl.zeros(2):clamp(1e40) end, function() return nl.zeros(2):clamp(nil, -1e40) end,
                         function() return nl.where(nl.ones(2), nl.zeros(2), 1e40) end }) do
      local ok, err = pcall(f)
      assert.is_truthy(not ok and err:find('cannot be stored in float32 without overflow', 1, true), err)
    end
    assert.are.equal(math.huge, nl.full({ 1 }, math.huge)[1])
    assert.are.equal(math.huge, (nl.ones(1) * 1e40)[1])
    assert.are.equal(1e40, nl.full({ 1 }, 1e40, 'float64')[1])
  end)

  it('index_select, cat and stack', function()
    local t = nl.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.are.same({ { 3, 1 }, { 6, 4 } }, t:index_select(2, { 3, 1 }):totable())
    assert.are.same({ { 4, 5, 6 }, { 4, 5, 6 } }, t:index_select(1, nl.tensor({ 2, 2 }, 'int64')):totable())
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 }, { 1, 2, 3 }, { 4, 5, 6 } }, nl.cat({ t, t }, 1):totable())
    assert.are.same({ 2, 6 }, nl.cat({ t, t }, 2):shape())
    assert.are.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, nl.cat({ t:t():narrow(2, 1, 1), t:t():narrow(2, 2, 1) }, 2):totable())
    assert.are.same({ 2, 2, 3 }, nl.stack({ t, t }):shape())
    assert.are.same({ 2, 3, 2 }, nl.stack({ t, t * 2 }, 3):shape())
    assert.are.same({ 2, 4 }, nl.stack({ t, t * 2 }, 3)[1][2]:totable())
  end)

  it('index_select copies big blocks right on one and two threads, for every dim and dtype', function()
    -- big enough to run on the threads: each element of the result is
    -- checked against the element it came from (x[i][j][k] = i*10^4+j*100+k)
    each_dtype_on_threads(function(dtype, threads)
      local x = (nl.arange(0, 40, 1, dtype) * 10000):view(40, 1, 1) + (nl.arange(0, 60, 1, dtype) * 100):view(1, 60, 1)
        + nl.arange(0, 70, 1, dtype):view(1, 1, 70)
      assert.are.equal(dtype, x:dtype())
      for d = 1, 3 do
       local size = x:size(d)
       -- (and one of 30 entries: the block copies prefetch the rows 8 entries ahead)
       local long = {}
       for i = 1, 30 do long[i] = (i * 7) % size + 1 end
       for _, idx in ipairs({ { size, 1, 3, size, 2 }, long }) do
        local y = x:index_select(d, idx)
        local s = y:shape()
        assert.are.equal(#idx, s[d])
        local flat_y = y:contiguous():view(-1)
        local mid = { 2, 5, 3 }
        mid[d] = #idx - 1
        for _, at in ipairs({ { 1, 1, 1 }, { s[1], s[2], s[3] }, { 2, 5, 3 }, mid, { s[1], 1, s[3] } }) do
          local src = { at[1], at[2], at[3] }
          src[d] = idx[at[d]]
          local want = (src[1] - 1) * 10000 + (src[2] - 1) * 100 + (src[3] - 1)
          local pos = ((at[1] - 1) * s[2] + (at[2] - 1)) * s[3] + at[3]
          assert.are.equal(want, flat_y[pos], ('%s dim %d at %d,%d,%d'):format(dtype, d, at[1], at[2], at[3]))
        end
        -- every row: the slices of y along d against x's
        for k = 1, #idx do
          assert.is_true(y:select(d, k):eq(x:select(d, idx[k])):all():item() == 1, ('%s dim %d entry %d'):format(dtype, d, k))
        end
       end
      end
    end)
  end)
end)

-- copies of 8 MB and more store around the caches (copy_stream in
-- tensor.c), 16 bytes at a time after a head that aligns the destination
-- and before a tail: each element checked, with sources and destinations
-- off the alignment and lengths that leave a tail, on one and two threads
describe('big copies', function()
  it('clone, contiguous and copy_ of 8 MB and more keep every element in place', function()
    each_dtype_on_threads(function(dtype, threads)
      local n = 2 ^ 21 + 37                       -- 8 MB and 148 bytes in float32
      local x = nl.arange(0, n, 1, dtype)
      local what = ('%s on %d threads'):format(dtype, threads)
      local c = x:clone()
      all_eq(c, x, 'clone ' .. what)
      assert.are.equal(n - 1, c[n])
      local v = x:narrow(1, 2, n - 1)             -- a source one element on
      all_eq(v:clone(), nl.arange(1, n, 1, dtype), 'clone of a narrowed view ' .. what)
      local m = x:view(n, 1):expand(n, 2):select(2, 1)
      all_eq(m:contiguous(), x, 'contiguous ' .. what)
      local d = nl.full({ n + 2 }, -1, dtype)      -- a destination one element on
      d:narrow(1, 2, n):copy_(x)
      all_eq(d:narrow(1, 2, n), x, 'copy_ ' .. what)
      assert.are.same({ -1, -1 }, { d[1], d[n + 2] })
    end)
  end)
end)

-- the last dim of a contiguous tensor has kernels of its own (a gather
-- in each row, a reversed run for flip's index; gather's rows when the
-- tensor's last stride is 1): each element against the one it came from,
-- on one and two threads, big enough to split (12000 rows)
describe('index_select, gather and flip along the last dim', function()
  local S = require 'support'
  it('take each element from its place, on one and two threads, for every dtype', function()
    each_dtype_on_threads(function(dtype, threads)
      local function value(i, j, k)    -- x[i][j][k] = i*10^4 + j*100 + k, 0-based, of the given sizes
        return (i * 10000):view(-1, 1, 1) + (j * 100):view(1, -1, 1) + k:view(1, 1, -1)
      end
      local I, J, K = nl.arange(0, 300, 1, dtype), nl.arange(0, 40, 1, dtype), nl.arange(0, 70, 1, dtype)
      local x = value(I, J, K)
      local what = ('%s on %d threads'):format(dtype, threads)
      -- reversed (flip's), a gather of repeats and a run forward
      for _, idx in ipairs({ nl.arange(70, 0, -1, 'int64'), nl.tensor({ 70, 1, 3, 70, 2, 2 }, 'int64'),
                             nl.arange(5, 40, 1, 'int64'), nl.arange(0, 100, 1, 'int64') * 37 % 70 + 1 }) do
        all_eq(x:index_select(3, idx), value(I, J, (idx - 1):to(dtype)), 'index_select ' .. what)
        all_eq(x:index_select(-1, idx:view(-1, 1):expand(idx:numel(), 2):select(2, 1)),    -- a strided index
               value(I, J, (idx - 1):to(dtype)), 'index_select, strided index, ' .. what)
      end
      all_eq(x:flip(3), value(I, J, nl.arange(69, -1, -1, dtype)), 'flip ' .. what)
      -- rows of 70000 (past 256 kB: read ahead of the gather) by 200 places, 8 rows
      local wide = nl.arange(0, 8 * 70000, 1, dtype):view(8, 70000)
      local far = nl.arange(0, 200, 1, 'int64') * 3499 % 70000 + 1
      all_eq(wide:index_select(2, far), (nl.arange(0, 8, 1, dtype) * 70000):view(8, 1) + (far - 1):to(dtype):view(1, 200),
             'index_select of wide rows ' .. what)
      -- gather: an index smaller than x in the leading dims, over x and a view whose rows are strided
      local gi = (nl.arange(0, 250 * 30 * 9, 1, 'int64') * 7 % 70 + 1):view(250, 30, 9)
      local want = (nl.arange(0, 250, 1, dtype) * 10000):view(-1, 1, 1) + (nl.arange(0, 30, 1, dtype) * 100):view(1, -1, 1)
        + (gi - 1):to(dtype)
      all_eq(x:gather(3, gi), want, 'gather ' .. what)
      local xv = x:narrow(1, 1, 250):narrow(2, 1, 30)          -- not contiguous, last stride 1
      assert.is_false(xv:is_contiguous())
      all_eq(xv:gather(3, gi), want, 'gather of a view ' .. what)
      all_eq(x:gather(3, gi:transpose(1, 2):contiguous():transpose(1, 2)), want, 'gather by a strided index ' .. what)
      -- its entries are checked as they are read: a bad one is named, whichever thread read it
      local bad = gi:clone()
      bad[250][30][9] = 71
      S.contains(S.errmsg(function() return x:gather(3, bad) end), 'gather: index 71 out of range for dim 3 of shape [300,40,70]')
      bad[250][30][9], bad[1][1][1] = 1, 0
      S.contains(S.errmsg(function() return x:gather(3, bad) end), 'gather: index 0 out of range for dim 3 of shape [300,40,70]')
    end)
  end)
end)

describe('NaN payloads', function()
  it('reads every NaN, whatever its bits, as a Lua NaN (item, indexing, totable, printing)', function()
    -- LuaJIT keeps its other values inside NaNs: a NaN with the sign set and
    -- payload bits, read from C as a number, came out as nil (or a pointer)
    local ffi = require 'ffi'
    local patterns32 = { 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFF00000, 0xFFFFFFFF, 0xFF812345, 0x7FFFFFFF }
    local t = nl.zeros(#patterns32 + 2)
    local w = ffi.cast('uint32_t *', nl._T(t, 'test').data)
    for i, b in ipairs(patterns32) do w[i - 1] = b end
    w[#patterns32] = 0x7F800000                            -- +inf and 1.5 stay what they are
    t[#patterns32 + 2] = 1.5
    local d = nl.zeros(4, 'float64')
    local w64 = ffi.cast('uint32_t *', nl._T(d, 'test').data)
    w64[0], w64[1] = 0x00000001, 0xFFF80000               -- payload in the low word, sign set
    w64[2], w64[3] = 0x00000000, 0xFFFF0000               -- the high bits a tagged value would use
    w64[4], w64[5] = 0xDEADBEEF, 0x7FF00000
    w64[6], w64[7] = 0x00000000, 0x7FF00000               -- +inf
    for rep = 1, 60 do                                    -- the interpreter, then compiled traces
      local vals = t:totable()
      for i = 1, #patterns32 do
        assert.are.equal('number', type(vals[i]), 'float32 pattern ' .. i)
        assert.is_true(vals[i] ~= vals[i], 'float32 pattern ' .. i)
        local v = t[i]
        assert.is_true(type(v) == 'number' and v ~= v, 'float32 index ' .. i)
      end
      assert.are.equal(math.huge, vals[#patterns32 + 1])
      assert.are.equal(1.5, vals[#patterns32 + 2])
      local dv = d:totable()
      for i = 1, 3 do assert.is_true(type(dv[i]) == 'number' and dv[i] ~= dv[i], 'float64 pattern ' .. i) end
      assert.are.equal(math.huge, dv[4])
      local one = t:narrow(1, 4, 1):view({})
      local x = one:item()
      assert.is_true(type(x) == 'number' and x ~= x, 'item')
    end
    assert.is_truthy(tostring(t):find('nan', 1, true))
    assert.is_truthy(tostring(d):find('inf', 1, true))
    assert.is_truthy(debug.traceback('after reading them'):find('after reading them', 1, true))
    -- a gradient's NaN payload propagates into clip_grad_norm's total
    local p = nl.zeros(3):requires_grad()
    p.grad = d:narrow(1, 1, 3):float()
    local gw = ffi.cast('uint32_t *', nl._T(p.grad, 'test').data)
    gw[0] = 0xFFF12345
    local norm = nl.optim.clip_grad_norm({ p }, 1.0)
    assert.is_true(type(norm) == 'number' and norm ~= norm, 'clip_grad_norm total')
  end)
end)

describe('dtype conversion', function()
  it('float, double and long convert and truncate', function()
    local t = nl.tensor({ 1.75, -2.5, 3 })
    assert.are.equal('float64', t:double():dtype())
    assert.are.same({ 1, -2, 3 }, t:long():totable())
    assert.are.equal('float32', t:long():float():dtype())
    assert.are.equal(t, t:float())                     -- already float32: the same tensor
    assert.are.same({ 1.75, -2.5, 3 }, t:to('float64'):totable())
  end)
end)

describe('printing', function()
  it('prints like PyTorch, with shape and dtype', function()
    assert.are.equal('tensor([[1., 2.],\n        [3., 4.]], shape=[2,2], dtype=float32)',
                     tostring(nl.tensor({ { 1, 2 }, { 3, 4 } })))
    assert.are.equal('tensor([0.5000, 0.2500], shape=[2], dtype=float64)',
                     tostring(nl.tensor({ 0.5, 0.25 }, 'float64')))
    assert.are.equal('tensor([ 1, -2], shape=[2], dtype=int64)', tostring(nl.tensor({ 1, -2 }, 'int64')))
    -- PyTorch's column width counts a float tensor's nonzero values: a -0.
    -- widened the column (tensor([-0.,  1.]))
    assert.are.equal('tensor([-0., 1.], shape=[2], dtype=float32)', tostring(nl.tensor({ -0.0, 1 })))
    assert.are.equal('tensor([-0.0000, 0.5000], shape=[2], dtype=float32)', tostring(nl.tensor({ -0.0, 0.5 })))
    assert.are.equal('tensor([ 0, -5], shape=[2], dtype=int64)', tostring(nl.tensor({ 0, -5 }, 'int64')))
    assert.are.equal('tensor(3.5000, shape=[], dtype=float32)', tostring(nl.tensor(3.5)))
    assert.are.equal('tensor([1.0000e-05, 1.0000e+03], shape=[2], dtype=float32)',
                     tostring(nl.tensor({ 1e-5, 1e3 })))
    assert.are.equal('tensor([nan, inf, 1.], shape=[3], dtype=float32)', tostring(nl.tensor({ 0 / 0, 1 / 0, 1 })))
    assert.are.equal('tensor([    nan, -1.5000, 10.0000], shape=[3], dtype=float32)',
                     tostring(nl.tensor({ 0 / 0, -1.5, 10 })))
    assert.are.equal('tensor([-3.0000e+00,  0.0000e+00,  1.0000e-05], shape=[3], dtype=float32)',
                     tostring(nl.tensor({ -3, 0, 1e-5 })))
  end)

  it('abbreviates long tensors', function()
    local s = tostring(nl.arange(2000):view(2, 1000))
    -- torch.arange(2000).view(2, 1000) prints the elision as ' ...'
    assert.are.equal('tensor([[   0,    1,    2,  ...,  997,  998,  999],\n'
                  .. '        [1000, 1001, 1002,  ..., 1997, 1998, 1999]], shape=[2,1000], dtype=int64)', s)
    local big = tostring(nl.zeros(100, 100))
    assert.is_truthy(big:find('...', 1, true))
    assert.is_true(#big < 1000)
    -- a large view is read where it lies, not copied whole first (this
    -- expand once took 1.5 GB and over a second to show 36 values)
    local t0 = os.clock()
    local huge = tostring(nl.ones(1, 1):expand(20000, 20000))
    assert.is_true(os.clock() - t0 < 0.1, 'printing took ' .. (os.clock() - t0) .. ' s')
    assert.is_truthy(huge:find('shape=[20000,20000]', 1, true))
  end)

  -- as PyTorch: ties rounded to even (LuaJIT's own format rounded 0.03125
  -- to 0.0313), an empty tensor as [] whatever its shape (a [100000, 0]
  -- printed 100,000 lines), and grad_fn or requires_grad shown
  it('rounds ties to even, prints empty tensors as [], and shows grad_fn and requires_grad', function()
    assert.are.equal('tensor([0.0312, 0.1562], shape=[2], dtype=float32)', tostring(nl.tensor({ 0.03125, 0.15625 })))
    assert.are.equal('tensor([], shape=[3,0], dtype=float32)', tostring(nl.zeros(3, 0)))
    assert.are.equal('tensor([], shape=[2,0,3], dtype=int64)', tostring(nl.zeros({ 2, 0, 3 }, 'int64')))
    local a = nl.ones(2):requires_grad()
    assert.are.equal('tensor([1., 1.], shape=[2], dtype=float32, requires_grad=true)', tostring(a))
    assert.are.equal('tensor([2., 2.], shape=[2], dtype=float32, grad_fn=<mul>)', tostring(a * 2))
    assert.are.equal('tensor([2., 2.], shape=[2], dtype=float32)', tostring((a * 2):detach()))
  end)
end)

-- README: "An argument past those a method takes is an error, not
-- dropped". These dropped one without a word (x:matmul(W, b) gave x W
-- with no bias, x:unsqueeze(1, 3) one dim, F.mse_loss(a, b, {}, 'sum')
-- the mean). Each call runs as it should, and with one argument more is
-- refused naming the op.
describe('one argument too many', function()
  local F, optim = nl.nn.functional, nl.optim
  local x, W = nl.randn(2, 3), nl.randn(3, 3)
  local idx = nl.tensor({ 1, 2 }, 'int64')
  local p = nl.zeros(3):requires_grad()
  local function grad_p() p.grad = nl.ones(3); return { p } end
  -- op named in the message, and a call of the arguments the op takes
  -- followed by ... (the extra argument)
  local cases = {
    { 'matmul', function(...) return x:matmul(W, ...) end },
    { 'matmul', function(...) return nl.matmul(x, W, ...) end },
    { 'unsqueeze', function(...) return x:unsqueeze(1, ...) end },
    { 'select', function(...) return x:select(1, 2, ...) end },
    { 'index_select', function(...) return x:index_select(2, idx, ...) end },
    { 'softmax', function(...) return x:softmax(2, 'float64', ...) end },
    { 'log_softmax', function(...) return x:log_softmax(2, nil, ...) end },
    { 'softmin', function(...) return nl.softmin(x, 2, nil, ...) end },
    { 'gelu', function(...) return x:gelu('tanh', ...) end },
    { 'gelu_', function(...) return x:clone():gelu_(nil, ...) end },
    { 'float', function(...) return x:float(...) end },
    { 'double', function(...) return x:double(...) end },
    { 'long', function(...) return x:long(...) end },
    { 'to', function(...) return x:to('float64', ...) end },
    { 'detach', function(...) return x:detach(...) end },
    { 'clone', function(...) return x:clone(...) end },
    { 'contiguous', function(...) return x:contiguous(...) end },
    { 'zero_', function(...) return x:clone():zero_(...) end },
    { 'numel', function(...) return x:numel(...) end },
    { 'dim', function(...) return x:dim(...) end },
    { 'size', function(...) return x:size(2, ...) end },
    { 'type_as', function(...) return x:type_as(W, ...) end },
    { 'view_as', function(...) return x:view_as(x, ...) end },
    { 'reshape_as', function(...) return x:reshape_as(x, ...) end },
    { 'expand_as', function(...) return x:expand_as(x, ...) end },
    { 'linear', function(...) return F.linear(x, W, nil, ...) end },
    { 'pad', function(...) return F.pad(x, { 1, 1 }, 'constant', 0, ...) end },
    { 'clip_grad_value', function(...) return optim.clip_grad_value(grad_p(), 1, ...) end },
    { 'clip_grad_norm', function(...) return optim.clip_grad_norm(grad_p(), 1, 2, false, ...) end },
  }
  for _, n in ipairs({ 'neg', 'exp', 'log', 'sqrt', 'abs', 'relu', 'sigmoid', 'tanh', 'silu', 'sin', 'cos', 'floor',
                       'ceil', 'trunc' }) do
    cases[#cases + 1] = { n, function(...) return x[n](x, ...) end }
    cases[#cases + 1] = { n, function(...) return nl[n](x, ...) end }
    cases[#cases + 1] = { n .. '_', function(...) local c = x:clone(); return c[n .. '_'](c, ...) end }
  end
  -- (round takes its decimals)
  cases[#cases + 1] = { 'round', function(...) return x:round(0, ...) end }
  cases[#cases + 1] = { 'round', function(...) return nl.round(x, 1, ...) end }
  cases[#cases + 1] = { 'round_', function(...) local c = x:clone(); return c:round_(2, ...) end }
  local y = nl.rand(2, 3)
  local ids, pos = nl.tensor({ 1, 3 }, 'int64'), nl.tensor({ 1, -1 })
  for _, c in ipairs({
    { 'mse_loss', { x, y } }, { 'l1_loss', { x, y } }, { 'huber_loss', { x, y } }, { 'smooth_l1_loss', { x, y } },
    { 'cross_entropy', { x, ids } }, { 'nll_loss', { x, ids } }, { 'binary_cross_entropy', { y, y } },
    { 'binary_cross_entropy_with_logits', { x, y } }, { 'kl_div', { x, y } }, { 'soft_margin_loss', { x, y } },
    { 'hinge_embedding_loss', { x, y } }, { 'poisson_nll_loss', { x, y } }, { 'multi_margin_loss', { x, ids } },
    { 'margin_ranking_loss', { x, y, y } }, { 'cosine_embedding_loss', { x, y, pos } },
    { 'gaussian_nll_loss', { x, y, y + 1 } }, { 'triplet_margin_loss', { x, y, y } } }) do
    local a = c[2]
    cases[#cases + 1] = { c[1], function(...)
      if #a == 2 then return F[c[1]](a[1], a[2], {}, ...) end
      return F[c[1]](a[1], a[2], a[3], {}, ...)
    end }
  end

  it('runs each call, and refuses it with one more argument, naming the op', function()
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[2])
      assert(ok, c[1] .. ': ' .. tostring(err))
      for _, extra in ipairs({ 'sum', 3, false }) do
        ok, err = pcall(c[2], extra)
        assert(not ok, c[1] .. ' took an extra ' .. tostring(extra))
        assert(tostring(err):find(c[1] .. ': takes (', 1, true), c[1] .. ': ' .. tostring(err))
      end
    end
    assert.has_error(function() x:exp(1) end, 'exp: takes (), got 1 argument')
    assert.has_error(function() x:unsqueeze(1, 3) end, 'unsqueeze: takes (dim), got 2 arguments; unsqueeze one dim at a time')
    assert.has_error(function() F.mse_loss(x, y, {}, 'sum') end,
                     'mse_loss: takes (input, target, opts), got 4 arguments; give reduction and the rest in the options table')
  end)

  -- Lua calls __unm with its operand twice: -x is not an extra argument
  it('leaves unary minus working', function()
    assert.are.same(x:neg():totable(), (-x):totable())
  end)
end)

-- round(decimals) and %, against PyTorch 1.13 (tests/golden/round_mod.lua,
-- made by tests/golden/gen_round_mod.py): decimals were refused as an extra
-- argument, and a % b was a Lua arithmetic error
describe('round with decimals and the % operator', function()
  local S = require 'support'
  local cases = dofile(S.root .. '/tests/golden/round_mod.lua')
  it("give PyTorch's values, NaN and the infinities included", function()
    assert.is_true(#cases >= 15)
    for i, c in ipairs(cases) do
      local got
      if c.op == 'round' then got = S.from_golden(c.input):round(c.decimals)
      else got = S.from_golden(c.a) % (type(c.b) == 'number' and c.b or S.from_golden(c.b)) end
      local want = S.from_golden(c.want)
      assert.are.equal(want:dtype(), got:dtype(), 'case ' .. i)
      local g, w = got:totable(), want:totable()
      for k = 1, #w do
        local same = (g[k] ~= g[k] and w[k] ~= w[k]) or g[k] == w[k]
        assert.is_true(same, ('case %d (%s) element %d: %s, want %s'):format(i, c.op, k, tostring(g[k]), tostring(w[k])))
      end
    end
  end)

  it('round(d) has a zero gradient, works in place and takes {decimals}; refuses int64 and fractions', function()
    local z = nl.tensor({ 1.26, 2.5 }, 'float64'):requires_grad()
    z:round(1):sum():backward()
    assert.are.same({ 0, 0 }, z.grad:totable())
    local w = nl.tensor({ 1.234, 5.678 }, 'float64')
    assert.is_true(rawequal(w, w:round_(1)))
    assert.are.same({ 1.2, 5.7 }, w:totable())
    assert.are.same({ 1.2, 5.7 }, nl.tensor({ 1.234, 5.678 }, 'float64'):round({ decimals = 1 }):totable())
    assert.has_error(function() nl.tensor({ 1 }, 'int64'):round(1) end, 'round: expected a float input, got int64 [1]')
    assert.has_error(function() nl.tensor({ 1 }):round(1.5) end)
  end)
end)
