-- The int64 ops of tensor_integer.lua and ops_integer.c: bitwise_and,
-- _or, _xor, _not, the shifts, gcd and lcm (nl functions, methods,
-- in-place methods, __and__-style aliases; tensor and number operands,
-- broadcasting) and the casts int, short, char, byte and bool, against
-- PyTorch 1.13's values (tests/golden/integer.lua, made by
-- tests/golden/gen_integer.py; int64 values exact, as int64 literals);
-- rsub and fill against PyTorch too; nextafter_ and empty_strided by what
-- they must be; and the errors for float operands and bad arguments.
local ffi = require 'ffi'
local nl = require 'nnlua'
local S = require 'support'

local errmsg, contains = S.errmsg, S.contains
-- asserts that message m contains each part
local function has(m, ...)
  for i = 1, select('#', ...) do contains(m, (select(i, ...))) end
end
local cases = dofile(S.root .. '/tests/golden/integer.lua')

-- a golden tensor: int64 exactly (its data are int64 literals), float as S.from_golden
local function G(g)
  if g.dtype ~= 'int64' then return S.from_golden(g) end
  local t = nl.zeros(g.shape, 'int64')
  local p = ffi.cast('int64_t *', t.ptr.data)
  for i, v in ipairs(g.data) do p[i - 1] = v end
  return t
end

-- got, an int64 tensor equal to golden want element for element, exactly
local function expect_int(got, want, what)
  assert.is_true(nl.is_tensor(got), what .. ': expected a tensor')
  assert.are.equal('int64', got:dtype(), what .. ': dtype')
  assert.are.same(want.shape, got:shape(), what .. ': shape')
  local c = got:contiguous()
  local p = ffi.cast('int64_t *', c.ptr.data)
  for i, w in ipairs(want.data) do
    if p[i - 1] ~= w then
      error(('%s: element %d (flat) is %s, expected %s'):format(what, i, tostring(p[i - 1]), tostring(w)), 2)
    end
  end
end

local OPS = { 'bitwise_and', 'bitwise_or', 'bitwise_xor', 'bitwise_left_shift', 'bitwise_right_shift', 'gcd', 'lcm' }
local ALIAS = { bitwise_and = 'and', bitwise_or = 'or', bitwise_xor = 'xor', bitwise_left_shift = 'lshift',
                bitwise_right_shift = 'rshift' }

local function of_kind(op, kind)
  local out = {}
  for _, c in ipairs(cases) do if c.op == op and c.kind == kind then out[#out + 1] = c end end
  return out
end

describe('bitwise ops, shifts, gcd and lcm', function()
  it('cover every op and kind in the golden file', function()
    for _, op in ipairs(OPS) do
      for _, kind in ipairs({ 'pairs', 'broadcast', 'transposed', 'scalar', 'scalar_first', 'inplace_scalar', 'inplace' }) do
        assert.is_true(#of_kind(op, kind) > 0, op .. ' ' .. kind)
      end
    end
  end)

  it("give PyTorch's values for every pair of edge values (near 2^63, negative, shifts by 0, 63, 64, -1)", function()
    for _, op in ipairs(OPS) do
      for _, c in ipairs(of_kind(op, 'pairs')) do
        local a, b = G(c.a), G(c.b)
        expect_int(nl[op](a, b), c.want, op .. ' pairs (nl)')
        expect_int(a[op](a, b), c.want, op .. ' pairs (method)')
        if ALIAS[op] then expect_int(a['__' .. ALIAS[op] .. '__'](a, b), c.want, op .. ' pairs (alias)') end
      end
      for _, c in ipairs(of_kind(op, 'min_first')) do expect_int(nl[op](G(c.a), G(c.b)), c.want, op .. ' min_first') end
    end
  end)

  it('broadcast, and read strided operands', function()
    for _, op in ipairs(OPS) do
      local c = of_kind(op, 'broadcast')[1]
      expect_int(nl[op](G(c.a), G(c.b)), c.want, op .. ' broadcast')
      c = of_kind(op, 'transposed')[1]
      local a = G(c.a):t()
      assert.is_false(a:is_contiguous())
      expect_int(nl[op](a, G(c.b)), c.want, op .. ' transposed')
    end
  end)

  it('take a number (a Lua number or an int64 cdata) on either side', function()
    for _, op in ipairs(OPS) do
      for _, c in ipairs(of_kind(op, 'scalar')) do
        local w = G(c.a)
        expect_int(nl[op](w, c.b), c.want, op .. ' scalar ' .. tostring(c.b))
        expect_int(w[op](w, c.b), c.want, op .. ' method scalar')
        if math.abs(tonumber(c.b)) < 2 ^ 53 then
          expect_int(nl[op](w, tonumber(c.b)), c.want, op .. ' Lua number ' .. tostring(c.b))
        end
      end
      for _, c in ipairs(of_kind(op, 'scalar_first')) do
        local w = G(c.b)
        expect_int(nl[op](c.a, w), c.want, op .. ' scalar first ' .. tostring(c.a))
        if ALIAS[op] then expect_int(w['__r' .. ALIAS[op] .. '__'](w, c.a), c.want, op .. ' reflected alias') end
      end
    end
  end)

  it('in place, with a number or a tensor broadcast to the destination', function()
    for _, op in ipairs(OPS) do
      for _, c in ipairs(of_kind(op, 'inplace_scalar')) do
        local w = G(c.a)
        local v = nl._lib.nl_tensor_version(w.ptr)
        assert.are.equal(w, w[op .. '_'](w, c.b))
        expect_int(w, c.want, op .. '_ scalar ' .. tostring(c.b))
        assert.is_true(nl._lib.nl_tensor_version(w.ptr) > v)
        if ALIAS[op] then
          local x = G(c.a)
          x['__i' .. ALIAS[op] .. '__'](x, c.b)
          expect_int(x, c.want, op .. ' in-place alias')
        end
      end
      for _, c in ipairs(of_kind(op, 'inplace')) do
        local w = G(c.a)
        w[op .. '_'](w, G(c.b))
        expect_int(w, c.want, op .. '_ tensor')
        -- through a transposed view: the destination's own strides
        local t = G(c.a):t():contiguous():t()
        t[op .. '_'](t, G(c.b))
        expect_int(t, c.want, op .. '_ strided destination')
      end
    end
  end)

  it('bitwise_not: ~x, as a function, a method, in place and __invert__', function()
    for _, c in ipairs(of_kind('bitwise_not', 'unary')) do
      local a = G(c.a)
      expect_int(nl.bitwise_not(a), c.want, 'bitwise_not')
      expect_int(a:__invert__(), c.want, '__invert__')
      assert.are.equal(a, a:bitwise_not_())
      expect_int(a, c.want, 'bitwise_not_')
    end
  end)

  it('are refused for float tensors and fractional numbers, naming the op and the dtype', function()
    local f, i = nl.tensor({ 1.5, 2 }), nl.tensor({ 1, 2 }, 'int64')
    for _, op in ipairs(OPS) do
      local m = errmsg(nl[op], f, i)
      has(m, op .. ':', 'float32', '[2]')
      m = errmsg(nl[op], i, f:double())
      has(m, op .. ':', 'float64')
      m = errmsg(nl[op], i, 1.5)
      has(m, op .. ':', '1.5')
      m = errmsg(nl[op], f, 2)
      has(m, op .. ':', 'float32')
      m = errmsg(function() return f[op .. '_'](f, 1) end)
      has(m, op .. '_:', 'float32')
      m = errmsg(nl[op], i, 2 ^ 63)
      has(m, op .. ':')
      m = errmsg(nl[op], i, 'x')
      has(m, op)
    end
    local m = errmsg(nl.bitwise_not, f)
    has(m, 'bitwise_not:', 'float32')
    m = errmsg(function() return f:__invert__() end)
    has(m, 'bitwise_not', 'float32')
  end)

  it('refuse shapes that do not broadcast, naming them', function()
    local a, b = nl.zeros({ 2, 3 }, 'int64'), nl.zeros({ 4 }, 'int64')
    local m = errmsg(nl.bitwise_and, a, b)
    has(m, 'bitwise_and:', '[2,3]', '[4]')
    -- in place: the result must keep the destination's shape
    m = errmsg(function() return nl.zeros({ 3 }, 'int64'):gcd_(nl.zeros({ 2, 3 }, 'int64')) end)
    has(m, 'gcd_:', '[2,3]', '[3]')
    -- an expanded destination repeats memory
    m = errmsg(function() return nl.zeros({ 3 }, 'int64'):expand(2, 3):bitwise_or_(1) end)
    has(m, 'bitwise_or_:', 'repeats')
  end)

  it('agree across thread counts on tensors past the parallel threshold', function()
    -- (ops_integer.c's row loops against its serial reference kernel: build/test_c)
    local a = nl.randint(-2 ^ 40, 2 ^ 40, { 300, 257 }, 'int64')
    local b = nl.randint(-70, 140, { 257 }, 'int64')
    local g = nl.randint(1, 10 ^ 6, { 300, 1 }, 'int64')
    local n0 = nl.get_num_threads()
    nl.set_num_threads(1)
    local r1 = { a:bitwise_xor(b), a:bitwise_left_shift(b), a:gcd(g), a:lcm(b) }
    nl.set_num_threads(4)
    local r4 = { a:bitwise_xor(b), a:bitwise_left_shift(b), a:gcd(g), a:lcm(b) }
    nl.set_num_threads(n0)
    for k = 1, #r1 do assert.is_true(nl.equal(r1[k], r4[k]), 'result ' .. k) end
    -- and gcd divides both operands: a closed form checked on every element
    local gd = a:gcd(g)
    assert.is_true(a:remainder(gd):eq(0):all():item() == 1 and g:remainder(gd):eq(0):all():item() == 1)
  end)
end)

describe('casts to the dtypes nnlua lacks', function()
  it("give PyTorch's int32, int16, int8, uint8 and bool values, as int64", function()
    local n = 0
    for _, c in ipairs(cases) do
      if c.kind == 'cast' then
        local x = G(c.a)
        expect_int(x[c.op](x), c.want, ('%s of %s'):format(c.op, x:dtype()))
        n = n + 1
      end
    end
    assert.is_true(n >= 16)
  end)

  it('leave the input alone and carry no gradient', function()
    local x = nl.tensor({ 300.5, -1.5 }):requires_grad()
    local b = x:byte()
    assert.are.equal(0, bit.band(b.ptr.flags, 1))     -- (NL_FLAG_REQUIRES_GRAD)
    assert.are.same({ 300.5, -1.5 }, x:totable())
  end)

  it('refuse half and bfloat16, naming the dtype', function()
    local x = nl.tensor({ 1, 2 })
    local m = errmsg(function() return x:half() end)
    has(m, 'half:', 'float16', 'not supported')
    m = errmsg(function() return x:bfloat16() end)
    has(m, 'bfloat16:', 'not supported')
  end)
end)

describe('rsub, fill, nextafter_ and empty_strided', function()
  it("rsub: other - alpha * input, PyTorch's values", function()
    local n = 0
    for _, c in ipairs(cases) do
      if c.op == 'rsub' then
        local got = nl.rsub(G(c.a), c.kind == 'rsub' and G(c.b) or c.b, c.alpha)
        if c.want.dtype == 'int64' then expect_int(got, c.want, 'rsub')
        else
          assert.are.equal(c.want.dtype or 'float32', got:dtype())
          S.expect_golden(got, c.want, 'rsub', { 1e-6, 1e-6 })
        end
        n = n + 1
      end
    end
    assert.is_true(n >= 9)
    local m = errmsg(nl.rsub, nl.zeros(2), nl.zeros(3))
    has(m, 'rsub:', '[2]', '[3]')
  end)

  it("fill: a new tensor of t's shape and dtype holding the value, as torch.fill", function()
    for _, c in ipairs(cases) do
      if c.op == 'fill' then
        local a = G(c.a)
        local before = a:clone()
        local got = nl.fill(a, c.b)
        if c.want.dtype == 'int64' then expect_int(got, c.want, 'fill')
        else S.expect_golden(got, c.want, 'fill') end
        assert.is_true(nl.equal(a, before))
        S.same_bits(a:fill(nl.tensor(c.b, a:dtype())), got, 'fill of a 0-dim tensor')
      end
    end
    local m = errmsg(nl.fill, nl.zeros(2), nl.zeros(2))
    has(m, 'fill:', '0-dim')
  end)

  it('fill: a 0-dim value that requires grad gets the sum of the gradient, as torch.fill', function()
    -- (the value was read with item(): the result had no gradient)
    S.gradcheck(function(v) return nl.fill(nl.zeros(2, 3, 'float64'), v) end, nl.tensor(0.7, 'float64'))
    local v = nl.tensor(3, 'float64'):requires_grad()
    local r = nl.fill(nl.zeros(2, 3, 'float64'), v)
    assert.are.same({ { 3, 3, 3 }, { 3, 3, 3 } }, r:totable())
    ;(r * nl.arange(1, 7, 'float64'):view(2, 3)):sum():backward()
    assert.are.equal(21, v.grad:item())
    -- an int64 result has none, as PyTorch's
    assert.is_false(nl.fill(nl.zeros({ 2 }, 'int64'), nl.tensor(2.5):requires_grad()).is_requires_grad)
  end)

  it('nextafter_: the next float toward other, in place', function()
    local x = nl.tensor({ 1, 1, 0, -2 })
    assert.are.equal(x, x:nextafter_(nl.tensor({ 2, 0, 1, -3 })))
    -- float32 spacing above 1 is 2^-23, below it 2^-24; the smallest subnormal 2^-149; below -2, 2^-22
    assert.are.same({ 1 + 2 ^ -23, 1 - 2 ^ -24, 2 ^ -149, -2 - 2 ^ -22 }, x:totable())
    local y = nl.tensor({ 1 }, 'float64')
    y:nextafter_(2)
    assert.are.equal(1 + 2 ^ -52, y:item())
    local m = errmsg(function() return nl.tensor({ 1 }):nextafter_(nl.tensor({ 1, 2 })) end)
    has(m, 'nextafter_:', '[2]')
  end)

  it('empty_strided: the strides given, over memory of their extent', function()
    -- (2, 3) with strides (1, 2): the transpose of a contiguous (3, 2)
    local e = nl.empty_strided({ 2, 3 }, { 1, 2 })
    assert.are.same({ 2, 3 }, e:shape())
    assert.are.equal(1, e:stride(1))
    assert.are.equal(2, e:stride(2))
    assert.is_false(e:is_contiguous())
    e:copy_(nl.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }))
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, e:totable())
    assert.are.same({ 1, 4, 2, 5, 3, 6 }, e:t():contiguous():view(6):totable())
    local z = nl.tensor({ 1.5 }, 'float64'):new_empty_strided({ 4, 2 }, { 2, 1 }, 'int64')
    assert.are.equal('int64', z:dtype())
    assert.is_true(z:is_contiguous())
    assert.are.equal('float64', nl.zeros(1, 'float64'):new_empty_strided({ 3 }, { 5 }):dtype())
    -- an empty size reaches no memory; a stride of 0 repeats an element
    assert.are.same({ 0, 3 }, nl.empty_strided({ 0, 3 }, { 5, 1 }):shape())
    local r = nl.empty_strided({ 2, 3 }, { 0, 1 })
    r[1]:copy_(nl.tensor({ 7, 8, 9 }))
    assert.are.same({ { 7, 8, 9 }, { 7, 8, 9 } }, r:totable())
    local m = errmsg(nl.empty_strided, { 2, 3 }, { 1 })
    has(m, 'empty_strided:')
    m = errmsg(nl.empty_strided, { 2, 3 }, { -1, 1 })
    has(m, 'empty_strided:', 'negative stride')
    m = errmsg(nl.empty_strided, { 2, -3 }, { 1, 1 })
    has(m, 'empty_strided:', 'negative size')
    m = errmsg(nl.empty_strided, { 2 ^ 40, 2 }, { 2 ^ 40, 2 ^ 40 })
    has(m, 'empty_strided:')
  end)
end)
