-- tensor_strided.lua: PyTorch 1.13's strided views (as_strided,
-- as_strided_, empty_strided), the *_scatter ops
-- (slice_scatter, select_scatter, diagonal_scatter, as_strided_scatter),
-- the *_copy forms of the view ops (a view op, then a contiguous copy),
-- resize_ and resize_as_, segment_reduce, and the torch.* names put and
-- Tensor.histogram. The scatters write src into a copy of input at the
-- places the view would read, found by taking the view of a tensor of
-- flat positions: scatter and index_select then carry the gradients of
-- both inputs. One of the Tensor extras (init.lua's TENSOR_EXTRAS):
-- loaded on first use.
return function(nl)
  local Tensor, T, raise, argerror, shape_str = nl.Tensor, nl._T, nl._raise, nl._argerror, nl._shape_str
  local lib, wrap, check, as_op, is_tensor = nl._lib, nl._wrap, nl._check, nl._as_op, nl.is_tensor
  local ffi, no_extra_args = require 'ffi', nl._no_extra_args

  local function define(name, f)
    Tensor[name] = as_op(name, f)
    nl[name] = Tensor[name]
  end
  local sizes_buf, strides_buf = ffi.new('int64_t[8]'), ffi.new('int64_t[8]')
  -- a list of whole numbers of at most 2^53 (a size or a stride; a number:
  -- a list of one), or an error naming op
  local function int_list(op, what, xs)
    if type(xs) == 'number' then xs = { xs } end
    local n = nl._list_len(xs)
    if not n or is_tensor(xs) then argerror(op, 'a table of whole numbers as ' .. what, xs) end
    if n > 8 then raise(('%s: %s has %d entries; tensors have at most 8 dims'):format(op, what, n)) end
    for i = 1, n do
      local v = xs[i]
      if type(v) ~= 'number' or v ~= math.floor(v) or math.abs(v) > 2 ^ 53 then
        raise(('%s: %s entry %d is %s, not a whole number within +-2^53'):format(op, what, i, nl._describe_arg(v)))
      end
    end
    return xs, n
  end
  local function list_str(xs) return '[' .. table.concat(xs, ',') .. ']' end
  -- size and stride lists of one length, or an error naming op
  local function size_stride(op, size, stride)
    local sz, n = int_list(op, 'size', size)
    local st, m = int_list(op, 'stride', stride)
    if n ~= m then
      raise(('%s: size %s and stride %s differ in length'):format(op, list_str(sz), list_str(st)))
    end
    for i = 1, n do sizes_buf[i - 1], strides_buf[i - 1] = sz[i], st[i] end
    return sz, st, n
  end
  -- a storage offset (a whole number >= 0), or an error naming op
  local function storage_offset(op, offset)
    if type(offset) ~= 'number' or offset ~= math.floor(offset) or offset < 0 or offset > 2 ^ 53 then
      raise(('%s: expected a whole storage offset >= 0, got %s'):format(op, nl._describe_arg(offset)))
    end
    return offset
  end
  local function grad_on() return lib.nl_is_grad_enabled() ~= 0 end

  -- nl.empty_strided(size, stride, [dtype]), t:new_empty_strided(size,
  -- stride, [dtype]) (t's dtype by default): uninitialized memory seen
  -- through the strides given (in elements, >= 0; a stride of 0 repeats
  -- an element), as PyTorch's
  function nl.empty_strided(size, stride, dtype, ...)
    no_extra_args('empty_strided', '(size, stride, [dtype])', nil, ...)
    local _, _, n = size_stride('empty_strided', size, stride)
    return wrap(lib.nl_empty_strided(n, sizes_buf, strides_buf, nl._dtype_id(dtype, 'empty_strided')), nil, true)
  end
  function Tensor.new_empty_strided(t, size, stride, dtype, ...)
    no_extra_args('new_empty_strided', '(size, stride, [dtype])', nil, ...)
    T(t, 'new_empty_strided')
    return nl.empty_strided(size, stride, dtype or Tensor.dtype(t))
  end

  -- ---- as_strided -------------------------------------------------------------------

  -- the storage view of sizes, strides and offset (elements from the
  -- storage's start; default t's own), no gradient
  local function strided_view(op, t, size, stride, offset)
    local p = T(t, op)
    if offset == nil then offset = tonumber(p.offset) end
    storage_offset(op, offset)
    local sz, _, n = size_stride(op, size, stride)
    return wrap(lib.nl_as_strided(p, n, sizes_buf, strides_buf, offset)), sz
  end
  -- nl.as_strided(t, size, stride, [storage_offset]) / t:as_strided: a view
  -- of t's storage. A t that requires grad (in grad mode) gets a copy of
  -- those elements instead, whose gradient flows back to t's (PyTorch's is
  -- a view); the storage elements it reads that are not t's (t a view of a
  -- larger tensor) are copied from the storage and get no gradient, as in
  -- 1.13, whose gradient reaches only the input's elements.
  define('as_strided', function(t, size, stride, offset, ...)
    no_extra_args('as_strided', '(size, stride, [storage_offset])', nil, ...)
    local v, sz = strided_view('as_strided', t, size, stride, offset)
    if not (t.is_requires_grad and grad_on()) then return v end
    -- each storage element's place in t (-1: none of t's), then t's
    -- places that the view reads
    local p = T(t)
    local span = 0
    for i = 0, p.ndim - 1 do
      if p.sizes[i] == 0 then span = -1 break end
      span = span + tonumber((p.sizes[i] - 1) * p.strides[i])
    end
    local vp = v.ptr
    local vend = tonumber(vp.offset)
    for i = 0, vp.ndim - 1 do vend = vend + tonumber((vp.sizes[i] - 1) * vp.strides[i]) end
    local top = math.max(tonumber(p.offset) + math.max(span, 0), vend) + 1
    return nl.no_grad(function()
      local where = nl.full({ top }, -1, 'int64')
      if span >= 0 and Tensor.numel(t) > 0 then
        local st = {}
        for i = 0, p.ndim - 1 do st[i + 1] = tonumber(p.strides[i]) end
        local mine = strided_view('as_strided', nl.arange(0, top, 'int64'), Tensor.shape(t), st, tonumber(p.offset))
        where:scatter_(1, mine:reshape(-1) + 1, nl.arange(0, Tensor.numel(t), 'int64'))
      end
      local read = strided_view('as_strided', nl.arange(0, top, 'int64'), sz, stride, tonumber(vp.offset))
      return where:index_select(1, read:reshape(-1) + 1)
    end), sz, v
  end)
  do
    local plain = Tensor.as_strided
    local function as_strided(t, ...)
      local r, sz, v = plain(t, ...)
      if sz == nil then return r end
      -- (with grad: r holds the positions in t, -1 for an element not t's;
      -- t's elements gathered at them, the others the storage's, v's)
      if Tensor.numel(r) == 0 or Tensor.min(r):item() >= 0 then
        return Tensor.reshape(Tensor.index_select(Tensor.reshape(t, -1), 1, r + 1), sz)
      end
      local outside = nl.no_grad(function() return Tensor.clone(v) end)
      if Tensor.numel(t) == 0 then return outside end
      local mine = r:ge(0)
      local got = Tensor.index_select(Tensor.reshape(t, -1), 1, nl.where(mine, r, 0) + 1)
      return nl.where(Tensor.reshape(mine, sz), Tensor.reshape(got, sz), outside)
    end
    Tensor.as_strided, nl.as_strided = as_strided, as_strided
  end
  -- t:as_strided_(size, stride, [storage_offset]): t itself takes that
  -- view's shape, strides and offset, where nl._check_view_inplace
  -- (tensor_compat.lua) allows it
  Tensor.as_strided_ = as_op('as_strided_', function(t, size, stride, offset, ...)
    no_extra_args('as_strided_', '(size, stride, [storage_offset])', nil, ...)
    local p = T(t, 'as_strided_')
    nl._check_view_inplace('as_strided_', 'as_strided', t)
    local q = T(strided_view('as_strided_', t, size, stride, offset))
    -- (a new version: a graph that saved t refuses to run backward on it)
    check(lib.nl_mark_modified(p, 'as_strided_'))
    p.ndim = q.ndim
    for i = 0, q.ndim - 1 do p.sizes[i], p.strides[i] = q.sizes[i], q.strides[i] end
    p.numel, p.offset, p.data = q.numel, q.offset, q.data
    return t
  end)
  nl.as_strided_ = Tensor.as_strided_
  -- nl.as_strided_copy: as_strided, then a contiguous copy
  define('as_strided_copy', function(t, ...) return Tensor.clone(Tensor.as_strided(t, ...)) end)

  -- ---- the scatters -----------------------------------------------------------------

  -- a copy of input with src written where places (int64 flat positions
  -- from 0 in input's row-major order, of src's shape) point
  local function write_at(op, input, src, places)
    T(src, op)
    if Tensor.dtype(src) ~= Tensor.dtype(input) then
      raise(('%s: src of dtype %s differs from the input\'s %s'):format(op, Tensor.dtype(src), Tensor.dtype(input)))
    end
    if shape_str(src) ~= shape_str(places) then
      raise(('%s: expected src of shape %s (the view of input %s), got %s'):format(op, shape_str(places),
            shape_str(input), shape_str(src)))
    end
    local flat = Tensor.reshape(input, -1)
    if Tensor.numel(places) == 0 then return Tensor.clone(input) end
    return Tensor.view(Tensor.scatter(flat, 1, Tensor.reshape(places, -1) + 1, Tensor.reshape(src, -1)),
                       Tensor.shape(input))
  end
  local function positions(input)
    return nl.arange(0, Tensor.numel(input), 'int64'):view(Tensor.shape(input))
  end
  -- the places input:slice(dim, start, end, step) reads: start from 1,
  -- end inclusive (both default to the dim's ends; negative ones count
  -- from the end, -1 the last), step >= 1
  local function sliced(op, x, dim, first, last, step)
    dim = dim or 1
    if type(dim) ~= 'number' then argerror(op, 'a dim', dim) end
    local nd = Tensor.dim(x)
    local d = dim < 0 and dim + nd + 1 or dim
    if d < 1 or d > nd or d ~= math.floor(d) then
      raise(('%s: dim %s out of range for shape %s'):format(op, tostring(dim), shape_str(x)))
    end
    local size = Tensor.size(x, d)
    -- a place clamped to [0, hi]: a start past the end (hi = size + 1)
    -- selects nothing, as 1.13's start >= size
    local function place(v, default, what, hi)
      if v == nil then return default end
      if type(v) ~= 'number' or v ~= math.floor(v) then argerror(op, 'a whole ' .. what, v) end
      if v < 0 then v = v + size + 1 end
      return math.max(0, math.min(v, hi))
    end
    local a, b = place(first, 1, 'start', size + 1), place(last, size, 'end', size)
    step = step or 1
    if type(step) ~= 'number' or step < 1 or step ~= math.floor(step) then
      raise(('%s: step must be a whole number >= 1, got %s'):format(op, nl._describe_arg(step)))
    end
    if a < 1 then a = 1 end
    local idx = b >= a and nl.arange(a, b + 1, step, 'int64') or nl.zeros({ 0 }, 'int64')
    return Tensor.index_select(x, d, idx)
  end
  -- nl.slice_scatter(input, src, [dim = 1], [start], [end], [step = 1])
  define('slice_scatter', function(input, src, dim, first, last, step, ...)
    no_extra_args('slice_scatter', '(input, src, [dim], [start], [end], [step])', nil, ...)
    T(input, 'slice_scatter')
    return write_at('slice_scatter', input, src, sliced('slice_scatter', positions(input), dim, first, last, step))
  end)
  -- nl.select_scatter(input, src, dim, index): src into input:select(dim, index)
  define('select_scatter', function(input, src, dim, index, ...)
    no_extra_args('select_scatter', '(input, src, dim, index)', nil, ...)
    T(input, 'select_scatter')
    return write_at('select_scatter', input, src, Tensor.select(positions(input), dim, index))
  end)
  -- nl.diagonal_scatter(input, src, [offset = 0], [dim1 = 1], [dim2 = 2])
  define('diagonal_scatter', function(input, src, offset, d1, d2, ...)
    no_extra_args('diagonal_scatter', '(input, src, [offset], [dim1], [dim2])', nil, ...)
    T(input, 'diagonal_scatter')
    return write_at('diagonal_scatter', input, src, Tensor.diagonal(positions(input), offset, d1, d2))
  end)
  -- nl.as_strided_scatter(input, src, size, stride, [storage_offset = 0]):
  -- src written into a contiguous copy of input through that view of it,
  -- which must not reach an element twice
  define('as_strided_scatter', function(input, src, size, stride, offset, ...)
    no_extra_args('as_strided_scatter', '(input, src, size, stride, [storage_offset])', nil, ...)
    T(input, 'as_strided_scatter')
    local sz, st, n = size_stride('as_strided_scatter', size, stride)
    offset = storage_offset('as_strided_scatter', offset or 0)
    local last = offset
    for i = 1, n do
      if sz[i] == 0 then last = -1 break end
      last = last + (sz[i] - 1) * st[i]
    end
    if last >= Tensor.numel(input) then
      raise(('as_strided_scatter: size %s, stride %s and offset %s reach past the %d elements of input %s'):format(
        list_str(sz), list_str(st), tostring(offset), Tensor.numel(input), shape_str(input)))
    end
    local v = strided_view('as_strided_scatter', nl.arange(0, math.max(Tensor.numel(input), 1), 'int64'), sz, st,
                           offset)
    -- a view that reaches an element twice (a stride 0, or strides that
    -- overlap) has no one result, which PyTorch refuses too
    local k = Tensor.numel(v)
    if k > 1 then
      local hits = Tensor.index_add(nl.zeros({ Tensor.numel(input) }, 'int64'), 1, Tensor.reshape(v, -1) + 1,
                                    nl.ones({ k }, 'int64'))
      if Tensor.item(Tensor.max(hits)) > 1 then
        raise(('as_strided_scatter: size %s, stride %s and offset %s reach an element of input %s more than once, '
               .. 'so the result would depend on the order of the writes'):format(list_str(sz), list_str(st),
               tostring(offset), shape_str(input)))
      end
    end
    return write_at('as_strided_scatter', input, src, v)
  end)
  Tensor.slice_scatter, Tensor.select_scatter = nl.slice_scatter, nl.select_scatter
  Tensor.diagonal_scatter, Tensor.as_strided_scatter = nl.diagonal_scatter, nl.as_strided_scatter

  -- ---- the *_copy forms -------------------------------------------------------------

  local function copy_of(name, view)
    define(name, function(...) return Tensor.clone(view(...)) end)
  end
  local function copies_of(name, view)
    define(name, function(...)
      local r = view(...)
      for i = 1, #r do r[i] = Tensor.clone(r[i]) end
      return r
    end)
  end
  copy_of('view_copy', Tensor.view)
  copy_of('permute_copy', Tensor.permute)
  copy_of('transpose_copy', Tensor.transpose)
  copy_of('t_copy', Tensor.t)
  copy_of('diagonal_copy', Tensor.diagonal)
  copy_of('expand_copy', Tensor.expand)
  copy_of('select_copy', Tensor.select)
  copy_of('squeeze_copy', Tensor.squeeze)
  copy_of('unsqueeze_copy', Tensor.unsqueeze)
  copy_of('unfold_copy', Tensor.unfold)
  copy_of('detach_copy', Tensor.detach)
  copy_of('alias_copy', function(t, ...)
    no_extra_args('alias_copy', '()', nil, ...)
    T(t, 'alias_copy')
    return t
  end)
  -- slice_copy(t, [dim = 1], [start], [end], [step = 1]): start from 1, end
  -- inclusive (PyTorch's exclusive 0-based end is the same number)
  define('slice_copy', function(t, dim, first, last, step, ...)
    no_extra_args('slice_copy', '([dim], [start], [end], [step])', nil, ...)
    T(t, 'slice_copy')
    return sliced('slice_copy', t, dim, first, last, step)
  end)
  copies_of('unbind_copy', Tensor.unbind)
  copies_of('split_copy', Tensor.split)
  copies_of('split_with_sizes_copy', Tensor.split_with_sizes)

  -- ---- resize_ ----------------------------------------------------------------------

  -- t:resize_(sizes...) or t:resize_{sizes}: t takes that shape
  -- (contiguous), its first elements kept, new ones uninitialized; refused
  -- where t requires grad
  Tensor.resize_ = as_op('resize_', function(t, size, ...)
    local p = T(t, 'resize_')
    local sz
    if type(size) == 'table' and not is_tensor(size) then
      no_extra_args('resize_', '(size)', nil, ...)
      sz = size
    else
      sz = { size, ... }
    end
    local _, n = int_list('resize_', 'size', sz)
    for i = 1, n do sizes_buf[i - 1] = sz[i] end
    check(lib.nl_resize_(p, n, sizes_buf))
    return t
  end)
  -- t:resize_as_(other): t:resize_(other's shape)
  Tensor.resize_as_ = as_op('resize_as_', function(t, other, ...)
    no_extra_args('resize_as_', '(other)', nil, ...)
    T(other, 'resize_as_')
    return Tensor.resize_(t, Tensor.shape(other))
  end)

  -- ---- segment_reduce ---------------------------------------------------------------

  -- nl.segment_reduce(data, reduce, lengths) or (data, reduce, {lengths |
  -- offsets, axis = 1, initial, unsafe}): data's slices along dim 1 reduced
  -- ('sum', 'mean', 'max', 'min', 'prod') over consecutive segments of the
  -- given lengths (1-D int64, summing to data's size; offsets: the segment
  -- starts from 0 and the end). An empty segment gives initial, else 0,
  -- NaN, -inf, inf and 1; initial joins every segment (mean: its sum,
  -- not its count, as PyTorch's). index_add and index_reduce carry the
  -- gradient (max and min: split evenly among ties whatever its sign,
  -- where 1.13 gives a negative one in full to each tie).
  local SEGMENT = { sum = true, mean = true, max = 'amax', min = 'amin', prod = 'prod' }
  local EMPTY = { max = -math.huge, min = math.huge, prod = 1 }
  nl.segment_reduce = as_op('segment_reduce', function(data, reduce, opts, ...)
    local op = 'segment_reduce'
    no_extra_args(op, '(data, reduce, lengths or {lengths, offsets, axis, initial, unsafe})', nil, ...)
    T(data, op)
    if Tensor.dtype(data) == 'int64' then raise(op .. ': expected float data, got int64 ' .. shape_str(data)) end
    if Tensor.dim(data) == 0 then raise(op .. ': expected data of 1 or more dims, got a 0-dim tensor') end
    if not SEGMENT[reduce] then
      raise(("%s: reduce must be 'sum', 'mean', 'max', 'min' or 'prod', got %s"):format(op, nl._describe_arg(reduce)))
    end
    if is_tensor(opts) then opts = { lengths = opts } end
    if type(opts) ~= 'table' then argerror(op, 'lengths (a tensor) or an options table', opts) end
    for k in pairs(opts) do
      if k ~= 'lengths' and k ~= 'offsets' and k ~= 'axis' and k ~= 'initial' and k ~= 'unsafe' then
        raise(('%s: unknown option %s'):format(op, nl._describe_arg(k)))
      end
    end
    if (opts.lengths == nil) == (opts.offsets == nil) then raise(op .. ': give either lengths or offsets') end
    local axis = opts.axis or 1
    if axis ~= 1 and axis ~= -Tensor.dim(data) then
      raise(('%s: axis must be 1, the dim the 1-D lengths run along (PyTorch\'s 0), got %s'):format(op,
            nl._describe_arg(axis)))
    end
    local initial = opts.initial
    if initial ~= nil and type(initial) ~= 'number' then argerror(op, 'a number as initial', initial) end
    local which = opts.lengths ~= nil and 'lengths' or 'offsets'
    local given = opts[which]
    if not is_tensor(given) or Tensor.dtype(given) ~= 'int64' or Tensor.dim(given) ~= 1 then
      argerror(op, 'a 1-D int64 tensor as ' .. which, given)
    end
    local lengths = given
    if which == 'offsets' then
      if Tensor.numel(given) < 1 then raise(op .. ': offsets must hold at least the end') end
      local k = Tensor.numel(given)
      lengths = Tensor.narrow(given, 1, 2, k - 1) - Tensor.narrow(given, 1, 1, k - 1)
      if Tensor.item(Tensor.select(given, 1, 1)) ~= 0 then raise(op .. ': offsets must start at 0') end
    end
    local n = Tensor.size(data, 1)
    if Tensor.numel(lengths) > 0 and Tensor.item(Tensor.min(lengths)) < 0 then
      raise(('%s: %s must give segment lengths >= 0'):format(op, which))
    end
    local total = Tensor.numel(lengths) > 0 and Tensor.item(Tensor.sum(lengths)) or 0
    if total ~= n then
      raise(('%s: the segments of %s cover %d slices; data %s has %d along dim 1'):format(op, which, total,
            shape_str(data), n))
    end
    local segs = Tensor.numel(lengths)
    local shape = Tensor.shape(data)
    shape[1] = segs
    local seg = segs > 0 and nl.repeat_interleave(nl.arange(1, segs + 1, 'int64'), lengths)
                or nl.zeros({ 0 }, 'int64')
    local dt = Tensor.dtype(data)
    if reduce == 'sum' or reduce == 'mean' then
      local s = Tensor.index_add(nl.full(shape, initial or 0, dt), 1, seg, data)
      if reduce == 'sum' then return s end
      local count = Tensor.to(lengths, dt)
      if initial ~= nil then count = Tensor.clamp(count, 1) end
      local cshape = { segs }
      for i = 2, #shape do cshape[i] = 1 end
      return s / Tensor.view(count, cshape)
    end
    local base = nl.full(shape, initial == nil and EMPTY[reduce] or initial, dt)
    if n == 0 then return base end
    return Tensor.index_reduce(base, 1, seg, data, SEGMENT[reduce], { include_self = initial ~= nil })
  end)

  -- ---- torch.* names ----------------------------------------------------------------

  nl.put = Tensor.put
  Tensor.histogram = nl.histogram
end
