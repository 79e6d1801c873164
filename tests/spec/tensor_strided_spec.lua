-- The ops of lua/nnlua/tensor_strided.lua and the element callbacks of
-- tensor_random.lua: as_strided, the *_scatter ops, the *_copy forms, put,
-- resize_, Tensor.histogram and apply_/map_/map2_ against PyTorch golden
-- values (tests/golden/tensor_strided.lua, made by
-- tests/golden/gen_tensor_strided.py) with their gradients; float64
-- gradchecks of the scatters in both inputs; views that share memory;
-- Torch7's apply/map/map2; and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/tensor_strided.lua')
local TOL = { float32 = { 1e-6, 1e-7 }, float64 = { 1e-12, 1e-13 } }

local FN = {
  piecewise = function(v) if v > 0 then return v * v - 1 end return 0.5 * v end,
  mul_add = function(a, b) return a * b + 1 end,
  fma = function(a, b, c) return a + b * c end,
  affine = function(v) return v * 1.5 - 2 end,
}

local ops = {
  as_strided = function(x, a) return x[1]:as_strided(a.size, a.stride, a.offset) end,
  as_strided_view = function(x, a) return x[1]:narrow(2, 2, 2):as_strided(a.size, a.stride, a.offset) end,
  as_strided_copy = function(x, a) return nl.as_strided_copy(x[1], a.size, a.stride, a.offset) end,
  slice_scatter = function(x, a) return nl.slice_scatter(x[1], x[2], a.dim, a.start, a.stop, a.step) end,
  select_scatter = function(x, a) return nl.select_scatter(x[1], x[2], a.dim, a.index) end,
  diagonal_scatter = function(x, a) return x[1]:diagonal_scatter(x[2], a.offset, a.dim1, a.dim2) end,
  as_strided_scatter = function(x, a) return nl.as_strided_scatter(x[1], x[2], a.size, a.stride, a.offset) end,
  view_copy = function(x, a) return nl.view_copy(x[1], a.size) end,
  permute_copy = function(x, a) return nl.permute_copy(x[1], unpack(a.dims)) end,
  transpose_copy = function(x, a) return nl.transpose_copy(x[1], a.dim0, a.dim1) end,
  t_copy = function(x) return nl.t_copy(x[1]) end,
  diagonal_copy = function(x, a) return nl.diagonal_copy(x[1], a.offset, a.dim1, a.dim2) end,
  expand_copy = function(x, a) return nl.expand_copy(x[1], a.size) end,
  select_copy = function(x, a) return nl.select_copy(x[1], a.dim, a.index) end,
  slice_copy = function(x, a) return nl.slice_copy(x[1], a.dim, a.start, a.stop, a.step) end,
  squeeze_copy = function(x, a) return nl.squeeze_copy(x[1], a.dim) end,
  unsqueeze_copy = function(x, a) return nl.unsqueeze_copy(x[1], a.dim) end,
  unbind_copy = function(x, a) return nl.unbind_copy(x[1], a.dim) end,
  split_copy = function(x, a) return nl.split_copy(x[1], a.size, a.dim) end,
  split_with_sizes_copy = function(x, a) return nl.split_with_sizes_copy(x[1], a.sizes, a.dim) end,
  detach_copy = function(x) return nl.detach_copy(x[1]) end,
  alias_copy = function(x) return nl.alias_copy(x[1]) end,
  unfold_copy = function(x, a) return nl.unfold_copy(x[1], a.dim, a.size, a.step) end,
  put = function(x, a) return nl.put(x[1], x[2], x[3], a.accumulate) end,
  resize_ = function(x, a)
    local t = x[1]:clone()
    if a.first then t:resize_(a.first) end
    assert.are.equal(t, t:resize_(unpack(a.size)))
    return t
  end,
  resize_as_ = function(x) return x[1]:clone():resize_as_(x[2]) end,
  histogram = function(x, a)
    local hist, edges = x[1]:histogram(a.bins, { range = a.range, weight = a.weighted and x[2] or nil,
                                                 density = a.density })
    return { hist, edges }
  end,
  apply_ = function(x, a) return x[1]:clone():apply_(FN[a.fn]) end,
  map_ = function(x, a) return x[1]:clone():map_(x[2], FN[a.fn]) end,
  map2_ = function(x, a) return x[1]:clone():map2_(x[2], x[3], FN[a.fn]) end,
  segment_reduce = function(x, a)
    if a.offsets then return nl.segment_reduce(x[1], a.reduce, { offsets = x[2] }) end
    if a.initial then return nl.segment_reduce(x[1], a.reduce, { lengths = x[2], initial = a.initial }) end
    return nl.segment_reduce(x[1], a.reduce, x[2])
  end,
}

describe('tensor_strided golden values (PyTorch 1.13)', function()
  S.golden_its(it, cases, ops, function(c, op) S.check_golden_case(c, op, TOL) end)
end)

describe('stride', function()
  it('gives every stride as a list without a dim, as PyTorch 1.13\'s tuple', function()
    -- torch 1.13: zeros(3, 1).expand(3, 4).view(3, 2, 2).stride() is (1, 0, 0);
    -- arange(24).view(2, 3, 4).transpose(0, 1).view(3, 2, 2, 2) (4, 12, 2, 1);
    -- .permute(2, 0, 1).view(4, 6) (1, 4); a 0-dim tensor's ()
    local x = nl.arange(0, 24):float():view(2, 3, 4)
    assert.are.same({ 1, 0, 0 }, nl.zeros(3, 1):expand(3, 4):view(3, 2, 2):stride())
    assert.are.same({ 4, 12, 2, 1 }, x:transpose(1, 2):view(3, 2, 2, 2):stride())
    assert.are.same({ 1, 4 }, x:permute(3, 1, 2):view(4, 6):stride())
    assert.are.same({}, nl.tensor(2):stride())
    assert.are.equal(12, x:transpose(1, 2):stride(2))
    assert.are.equal(1, x:stride(-1))
    local msg = S.errmsg(function() return x:stride(4) end)
    S.contains(msg, 'stride: dim 4 out of range for shape [2,3,4]')
  end)
end)

describe('as_strided', function()
  it('is a view of the storage: writes through it reach the tensor', function()
    local x = nl.zeros(3, 4)
    local v = x:as_strided({ 2, 2 }, { 4, 1 }, 5)
    v:fill_(7)
    assert.are.same({ 0, 0, 0, 0, 0, 7, 7, 0, 0, 7, 7, 0 }, x:reshape(-1):totable())
    assert.are.equal(5, v:storage_offset())
    assert.are.same({ 4, 1 }, { v:stride(1), v:stride(2) })
  end)
  it('takes its offset from the storage start, defaulting to the input\'s', function()
    local base = nl.arange(0, 12)
    local x = base:narrow(1, 4, 6)
    assert.are.same({ 3, 4 }, x:as_strided({ 2 }, { 1 }):totable())
    assert.are.same({ 0, 1 }, x:as_strided({ 2 }, { 1 }, 0):totable())
  end)
  it('passes gradcheck through a transposed, overlapping view', function()
    S.gradcheck(function(x) return x:t():as_strided({ 3, 3 }, { 1, 2 }, 1) end, S.randn64(3, 4))
  end)
  it('as_strided_ changes the tensor itself', function()
    local x = nl.arange(0, 10)
    assert.are.equal(x, x:as_strided_({ 2, 3 }, { 3, 1 }, 1))
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, x:totable())
  end)
  it('refuses views past the storage and negative strides', function()
    assert.truthy(S.errmsg(function() nl.zeros(40):as_strided({ 100000 }, { 1 }) end):find('as_strided: .*past the'))
    assert.truthy(S.errmsg(function() nl.zeros(4):as_strided({ 2 }, { -1 }, 3) end):find('as_strided: strides %[%-1%] must lie in'))
    assert.truthy(S.errmsg(function() nl.zeros(4):as_strided({ 2, 2 }, { 1 }) end):find('as_strided: size'))
    -- ((size - 1) * stride past 2^63 wrapped to a negative end that passed
    -- the bounds check: a segmentation fault reading the view)
    assert.truthy(S.errmsg(function() nl.zeros(4):as_strided({ 2 ^ 20 }, { 2 ^ 46 }) end):find('as_strided: .*past the'))
    assert.truthy(S.errmsg(function() nl.zeros(4):as_strided({ 2 ^ 17, 2 ^ 17 + 1 }, { 2 ^ 46, 2 ^ 46 }) end)
                    :find('as_strided: .*past the'))
    -- (an infinite size reached C as INT64_MIN: 'negative size in [-9223372036854775808]')
    assert.truthy(S.errmsg(function() nl.zeros(4):as_strided({ math.huge }, { 1 }) end)
                    :find('as_strided: size entry 1 is inf, not a whole number', 1, true))
    assert.truthy(S.errmsg(function() nl.zeros(4):as_strided({ 2 }, { 1 }, -1) end)
                    :find('as_strided: expected a whole storage offset >= 0, got -1', 1, true))
    assert.truthy(S.errmsg(function() nl.empty_strided({ 2 }, { 0 / 0 }) end)
                    :find('empty_strided: stride entry 1 is nan', 1, true))
  end)
  it('refuses views past the elements into the padding of the memory, as PyTorch', function()
    -- (the bound was the buffer's capacity: a 64-byte small buffer or a
    -- cache bucket; the view read leftover bytes there)
    assert.truthy(S.errmsg(function() nl.zeros(3):as_strided({ 2 }, { 2 }, 1) end)
                    :find("as_strided: .* reach element 3, past the storage's 3 elements"))
    assert.truthy(S.errmsg(function() nl.zeros(1000, 'float64'):as_strided({ 1 }, { 1 }, 1000) end)
                    :find("past the storage's 1000 elements"))
    assert.truthy(S.errmsg(function() nl.arange(0, 10):narrow(1, 5, 3):as_strided({ 4 }, { 2 }) end)
                    :find("reach element 10, past the storage's 10 elements"))
    assert.truthy(S.errmsg(function() nl.zeros(2, 3):as_strided_({ 7 }, { 1 }, 0) end)
                    :find("as_strided_: .*past the storage's 6 elements"))
    -- a resize_ within the memory's capacity makes the storage that long
    local x = nl.arange(0, 3):float()
    x:resize_(5)
    assert.are.same({ 0, 1, 2 }, x:as_strided({ 3 }, { 1 }):totable())
    assert.are.same({ 5 }, x:as_strided({ 5 }, { 1 }):shape())
  end)
  -- torch 1.13.1 (as_strided(t, (1,), (1,), offset)): each storage below
  -- takes its last element and refuses the next ('requiring a storage
  -- size of ... out of bounds for storage of size ...'); empty_strided
  -- ((2,), (3,)) holds 4 elements, a shrunk tensor keeps its 10, a view
  -- grown from 8 by 4 makes 12, an expanded one has its 1, a clone of a
  -- transposed or expanded tensor its own 6 or 4, a narrow's clone its 3
  -- and its contiguous() (itself) the base's 10, frombuffer count
  -- elements, torch.load of a saved tensor its own
  it('every way a storage is made or grown: its last element, not one past it', function()
    local function bound(t, n)
      local v = t:as_strided({ 1 }, { 1 }, n - 1)
      assert.are.same({ 1 }, v:shape())
      S.contains(S.errmsg(function() t:as_strided({ 1 }, { 1 }, n) end),
                 ("reach element %d, past the storage's %d elements"):format(n, n))
    end
    bound(nl.zeros(3), 3)                                  -- the 64-byte small buffer
    bound(nl.zeros(8, 'float64'), 8)                       -- all of it
    bound(nl.zeros({ 5 }, 'int64'), 5)
    bound(nl.zeros(9, 'float64'), 9)                       -- a cache bucket
    bound(nl.zeros(1000), 1000)
    local a = nl.zeros(1024)
    a = nil
    collectgarbage()
    collectgarbage()
    bound(nl.ones({ 1000 }, 'int64'), 1000)                -- a bucket used before
    bound(nl.empty_strided({ 2 }, { 3 }), 4)
    local g = nl.zeros(3, 'float64')
    g:resize_(100)                                         -- past the capacity: a new buffer
    bound(g, 100)
    g:resize_(2)                                           -- shrinking keeps the storage
    bound(g, 100)
    local v = nl.arange(0, 10):float():narrow(1, 9, 2)
    v:resize_(4)                                           -- within the capacity, from offset 8
    bound(v, 12)
    bound(nl.tensor({ 7 }):expand(4), 1)
    bound(nl.tensor({ 7 }):expand(4):clone(), 4)
    bound(nl.tensor({ 7 }):expand(4):contiguous(), 4)
    local tr = nl.arange(0, 6):view(2, 3):t()
    bound(tr, 6)
    bound(tr:clone(), 6)
    bound(tr:contiguous(), 6)
    local n = nl.arange(0, 10):narrow(1, 3, 3)
    bound(n, 10)
    bound(n:clone(), 3)
    bound(n:contiguous(), 10)
    bound(n:as_strided({ 2 }, { 2 }, 1), 10)
    bound(nl.frombuffer(string.rep('\0', 16), 'float32', 2, 4), 2)
    bound(nl.frombuffer(string.rep('\0', 24), 'float64'), 3)
    bound(nl.frombuffer(string.rep('\0', 24), 'int64'), 3)
    bound(nl.frombuffer(require('ffi').new('float[5]'), 'float32'), 5)
    -- (uint8 was a narrow of its 8 fields a word: as_strided read a 0
    -- past the buffer's bytes)
    bound(nl.frombuffer('abc', 'uint8'), 3)
    bound(nl.frombuffer('abc', 'int8'), 3)
    bound(nl.frombuffer('abc', 'bool'), 3)
    local dir = S.tmpdir()
    nl.save({ w = nl.arange(0, 5):double() }, dir .. '/t.pt')
    bound(nl.load(dir .. '/t.pt').w, 5)
    os.remove(dir .. '/t.pt')
    os.remove(dir)
  end)
  it('as_strided_ makes a graph that saved the tensor refuse backward, as PyTorch', function()
    -- (the graph ran on the new shape: the matmul here said its shapes do
    -- not align; elementwise ones gave wrong gradients)
    local x = nl.arange(1, 13):float():view(3, 4)
    local w = nl.ones(3, 4):requires_grad()
    local y = (x * w):sum()
    x:as_strided_({ 3, 4 }, { 0, 1 }, 0)
    assert.truthy(S.errmsg(function() y:backward() end):find('was modified in place after it was used'))
  end)
end)

describe('the scatters', function()
  it('pass float64 gradchecks in both inputs', function()
    S.gradcheck(function(x, s) return nl.slice_scatter(x, s, 2, 2, 5, 2) end, S.randn64(3, 6), S.randn64(3, 2))
    S.gradcheck(function(x, s) return nl.select_scatter(x, s, 1, -1) end, S.randn64(3, 4), S.randn64(4))
    S.gradcheck(function(x, s) return nl.diagonal_scatter(x, s, -1, 2, 3) end, S.randn64(2, 3, 3), S.randn64(2, 2))
    S.gradcheck(function(x, s) return nl.as_strided_scatter(x, s, { 2, 2 }, { 3, 1 }, 1) end, S.randn64(3, 3),
                S.randn64(2, 2))
  end)
  it('leave the input untouched', function()
    local x = nl.zeros(3, 3)
    nl.diagonal_scatter(x, nl.ones(3))
    assert.are.equal(0, x:sum():item())
  end)
  it('name the op and the shapes on a src of the wrong shape or dtype', function()
    assert.truthy(S.errmsg(function() nl.slice_scatter(nl.zeros(4, 4), nl.ones(3, 4), 1, 1, 4, 2) end)
                    :find('slice_scatter: expected src of shape %[2,4%]'))
    assert.truthy(S.errmsg(function() nl.select_scatter(nl.zeros(3), nl.ones(1), 1, 1) end)
                    :find('select_scatter: expected src of shape %[%]'))
    assert.truthy(S.errmsg(function() nl.diagonal_scatter(nl.zeros(3, 3), nl.ones(3, 'float64')) end)
                    :find('diagonal_scatter: src of dtype float64'))
    assert.truthy(S.errmsg(function() nl.as_strided_scatter(nl.zeros(2, 2), nl.ones(2), { 2 }, { 4 }) end)
                    :find('as_strided_scatter: .*reach past the 4 elements'))
    -- (a table offset raised Lua's 'attempt to perform arithmetic on local ...';
    -- size and stride of two lengths reached the bounds check)
    assert.truthy(S.errmsg(function() nl.as_strided_scatter(nl.zeros(2, 2), nl.ones(2), { 2 }, { 1 }, {}) end)
                    :find('as_strided_scatter: expected a whole storage offset >= 0, got table', 1, true))
    assert.truthy(S.errmsg(function() nl.as_strided_scatter(nl.zeros(2, 2), nl.ones(2, 2), { 2, 2 }, { 1 }) end)
                    :find('as_strided_scatter: size [2,2] and stride [1] differ in length', 1, true))
    assert.truthy(S.errmsg(function() nl.slice_scatter(nl.zeros(4), nl.ones(4), 1, 1, 4, 0) end)
                    :find('slice_scatter: step must be'))
  end)
  it('as_strided_scatter refuses a view that reaches an element twice, as PyTorch', function()
    -- (one of the values written there was kept, whichever the scatter wrote last)
    assert.truthy(S.errmsg(function()
      nl.as_strided_scatter(nl.zeros(3, 4), nl.tensor({ { 1, 2 }, { 3, 4 } }), { 2, 2 }, { 0, 0 }, 1)
    end):find('as_strided_scatter: size [2,2], stride [0,0] and offset 1 reach an element of input [3,4] more than once',
              1, true))
    assert.truthy(S.errmsg(function() nl.as_strided_scatter(nl.zeros(6), nl.ones(2, 2), { 2, 2 }, { 1, 1 }) end)
                    :find('more than once', 1, true))
    -- a stride 0 over a dim of size 1 reaches each element once
    assert.are.same({ { 0, 5, 6 }, { 0, 0, 0 } },
                    nl.as_strided_scatter(nl.zeros(2, 3), nl.tensor({ { 5, 6 } }), { 1, 2 }, { 0, 1 }, 1):totable())
  end)
end)

describe('the _copy forms', function()
  it('give contiguous tensors that share no memory with the input', function()
    local x = nl.arange(0, 12):view(3, 4)
    local c = nl.transpose_copy(x, 1, 2)
    assert.is_true(c:is_contiguous())
    c:fill_(0)
    assert.are.equal(66, x:sum():item())
    local parts = nl.unbind_copy(x, 2)
    assert.are.equal(4, #parts)
    parts[1]:fill_(-1)
    assert.are.equal(0, x[1][1])
    local d = nl.detach_copy(nl.ones(2):requires_grad())
    assert.is_false(d.is_requires_grad)
  end)
end)

describe('resize_', function()
  it('keeps the first elements when it grows past its memory', function()
    local x = nl.arange(0, 40):float()
    x:resize_(2, 3)
    assert.are.same({ { 0, 1, 2 }, { 3, 4, 5 } }, x:totable())
    x:resize_(100)
    assert.are.same({ 100 }, x:shape())
    assert.are.same({ 0, 1, 2, 3, 4, 5 }, x:narrow(1, 1, 6):totable())
    x:narrow(1, 95, 6):fill_(1)        -- the new memory is writable
    assert.are.equal(6, x:narrow(1, 95, 6):sum():item())
  end)
  it('refuses tensors that require grad and growing shared memory', function()
    local w = nl.zeros(3):requires_grad()
    assert.truthy(S.errmsg(function() w:resize_(4) end):find('resize_: cannot resize a tensor that requires grad'))
    local x = nl.zeros(4)
    local v = x:view(2, 2)
    assert.truthy(S.errmsg(function() x:resize_(1000) end):find('resize_: cannot grow %[4%] to %[1000%]'))
    assert.are.same({ 2, 2 }, v:shape())
    assert.truthy(S.errmsg(function() x:resize_(-1) end):find('resize_: negative size'))
  end)
  it('to its own shape changes nothing, its strides neither, as PyTorch', function()
    -- (it took contiguous strides: a transposed tensor's values moved, an
    -- expanded one read past its one element)
    local t = nl.arange(0, 6):view(2, 3):t()
    assert.are.equal(t, t:resize_(3, 2))
    assert.are.same({ { 0, 3 }, { 1, 4 }, { 2, 5 } }, t:totable())
    local e = nl.tensor({ 7 }):expand(4)
    e:resize_(4)
    assert.are.same({ 7, 7, 7, 7 }, e:totable())
    assert.are.equal(0, e:stride(1))
    -- nor does it count as a change: a graph that saved it still runs
    local x = nl.tensor({ { 1, 2 }, { 3, 4 } })
    local w = nl.ones(2, 2):requires_grad()
    local y = (x * w):sum()
    x:resize_(2, 2)
    y:backward()
    assert.are.same({ { 1, 2 }, { 3, 4 } }, w.grad:totable())
  end)
end)

describe('segment_reduce', function()
  it('passes float64 gradchecks', function()
    local L = nl.tensor({ 1, 0, 3, 2 }, 'int64')
    for _, r in ipairs({ 'sum', 'mean', 'max', 'min', 'prod' }) do
      S.gradcheck(function(x) return nl.segment_reduce(x, r, { lengths = L, initial = 0.5 }) end, S.randn64(6, 2))
    end
  end)
  it('splits a max or min gradient evenly among ties, whatever its sign (1.13 only for a positive one)', function()
    -- (1.13 gives a negative gradient in full to each tied element: -1 to
    -- each of two ties, a gradient twice the max's; nnlua gives -0.5)
    for _, r in ipairs({ 'max', 'min' }) do
      local s = r == 'max' and 1 or -1
      local x = nl.tensor({ 1 * s, 3 * s, 3 * s, 2 * s, -1 }):requires_grad()
      nl.segment_reduce(x, r, nl.tensor({ 4, 1 }, 'int64')):backward(nl.tensor({ -1, 1 }))
      S.expect_close(x.grad, nl.tensor({ 0, -0.5, -0.5, 0, 1 }), r .. ' ties', 0, 0)
    end
  end)
  it('refuses lengths that do not cover the data, bad reductions and axes', function()
    local d = nl.zeros(5)
    assert.truthy(S.errmsg(function() nl.segment_reduce(d, 'sum', nl.tensor({ 2, 2 }, 'int64')) end)
                    :find('segment_reduce: the segments of lengths cover 4 slices; data %[5%] has 5'))
    assert.truthy(S.errmsg(function() nl.segment_reduce(d, 'sum', nl.tensor({ 6, -1 }, 'int64')) end)
                    :find('segment_reduce: lengths must give segment lengths >= 0'))
    assert.truthy(S.errmsg(function() nl.segment_reduce(d, 'median', nl.tensor({ 5 }, 'int64')) end)
                    :find("segment_reduce: reduce must be 'sum'"))
    assert.truthy(S.errmsg(function() nl.segment_reduce(d, 'sum', { lengths = nl.tensor({ 5 }), axis = 1 }) end)
                    :find('segment_reduce: expected a 1%-D int64 tensor as lengths'))
    assert.truthy(S.errmsg(function()
      nl.segment_reduce(nl.zeros(2, 5), 'sum', { lengths = nl.tensor({ 5 }, 'int64'), axis = 2 })
    end):find('segment_reduce: axis must be 1'))
    assert.truthy(S.errmsg(function() nl.segment_reduce(d, 'sum', { offsets = nl.tensor({ 1, 5 }, 'int64') }) end)
                    :find('segment_reduce: offsets must start at 0'))
  end)
end)

describe('apply, map and map2', function()
  it('Torch7 forms keep an element where f returns nil and return the tensor', function()
    local x = nl.tensor({ 1, -2, 3, -4 })
    assert.are.equal(x, x:apply(function(v) if v < 0 then return 0 end end))
    assert.are.same({ 1, 0, 3, 0 }, x:totable())
    -- map: the other of the same element count, read in its own order
    local y = nl.tensor({ { 10, 20 }, { 30, 40 } })
    x:map(y, function(a, b) return a + b end)
    assert.are.same({ 11, 20, 33, 40 }, x:totable())
    x:map2(y, nl.ones(4), function(a, b, c) if a > 30 then return b * c end end)
    assert.are.same({ 11, 20, 30, 40 }, x:totable())
  end)
  it('write through non-contiguous views in their row-major order', function()
    local base = nl.zeros(3, 4)
    local v = base:t():narrow(1, 2, 2)           -- columns 2 and 3 of base, as rows
    local k = 0
    v:apply_(function() k = k + 1 return k end)
    assert.are.same({ { 0, 1, 4, 0 }, { 0, 2, 5, 0 }, { 0, 3, 6, 0 } }, base:totable())
  end)
  it('refuse tensors that require grad, bad results and non-broadcasting operands', function()
    local w = nl.zeros(2):requires_grad()
    assert.truthy(S.errmsg(function() w:apply_(function(v) return v end) end)
                    :find('apply_: cannot call apply_ on a tensor that requires grad'))
    assert.truthy(S.errmsg(function() nl.zeros(2):map_(w, function(a) return a end) end)
                    :find('map_: argument 1 %(shape %[2%]%) requires grad'))
    assert.truthy(S.errmsg(function() nl.zeros(2):apply_(function() return nil end) end)
                    :find('apply_: the function returned nil for element 1; expected a number'))
    assert.truthy(S.errmsg(function() nl.zeros(2, 3):map_(nl.zeros(6), function(a) return a end) end)
                    :find('map_: argument 1 of shape %[6%] does not broadcast to the shape %[2,3%]'))
    assert.truthy(S.errmsg(function() nl.zeros(2):map_(nl.zeros(2, 'int64'), function(a) return a end) end)
                    :find('map_: expected float32 for argument 1, got int64'))
    assert.truthy(S.errmsg(function() nl.zeros(2):apply(5) end):find('apply: expected a function'))
  end)
end)
