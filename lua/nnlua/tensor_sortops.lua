-- tensor_sortops.lua: order statistics, scans that give indices, and
-- counting, as PyTorch 1.13's: cummax, cummin, logcumsumexp, kthvalue,
-- median, nanmedian, mode, nansum, nanmean, quantile, nanquantile,
-- searchsorted, bucketize, bincount, histc, unique, unique_consecutive and
-- count_nonzero; clamp and clip with tensor bounds, and div_ with a
-- rounding mode. Every index given or taken is 1-based, as argmax's and
-- sort's: a place in a sorted sequence (searchsorted, bucketize) is the
-- 1-based position it would be inserted at, 1 to n + 1. The kernels that
-- give indices are ops_sortops.c's and nl_argsort; the values are gathered
-- at the indices, so their gradients are gather's, as PyTorch's.
local ffi = require 'ffi'

return function(nl)
  local lib, Tensor = nl._lib, nl.Tensor
  local wrap, T, check, raise, cdim, argerror = nl._wrap, nl._T, nl._check, nl._raise, nl._cdim, nl._argerror
  local is_tensor, shape_str, describe = nl.is_tensor, nl._shape_str, nl._describe_arg
  local NaN = 0 / 0
  local groups_out = ffi.new('nl_tensor *[2]')     -- nl_unique_groups' inverse and counts

  -- ---- argument helpers -------------------------------------------------------

  local function flag(op, what, v)
    if v ~= nil and type(v) ~= 'boolean' then argerror(op, what .. ' as a boolean', v) end
    return v == true
  end
  -- v in a message: NaN as nan (tostring gives -nan for 0/0 here)
  local function num_str(v) return v ~= v and 'nan' or tostring(v) end
  local function whole(v) return type(v) == 'number' and v == math.floor(v) and math.abs(v) < 2 ^ 53 end
  -- p's dim d (1-based or negative) -> 0-based from the start; the size
  -- along it (a 0-dim tensor: 1)
  local function lane_dim(op, p, d)
    local c = cdim(d, op, p)
    if c < 0 then c = c + math.max(p.ndim, 1) end
    return c, p.ndim == 0 and 1 or tonumber(p.sizes[c])
  end
  local function shape_str_p(p)
    local s = {}
    for i = 0, p.ndim - 1 do s[i + 1] = tonumber(p.sizes[i]) end
    return '[' .. table.concat(s, ',') .. ']'
  end
  -- raises naming op when dim c (0-based) of p is empty: nothing to reduce
  local function nonempty(op, p, c, d)
    if p.ndim > 0 and p.sizes[c] == 0 then
      raise(('%s: cannot reduce dim %s of size 0 in shape %s'):format(op, tostring(d), shape_str_p(p)))
    end
  end
  -- dims for sum: nil, one dim, or a list, checked as op's
  local function check_dims(op, p, d)
    if d == nil then return end
    if type(d) ~= 'table' or is_tensor(d) then cdim(d, op, p); return end
    local n = nl._list_len(d)
    if not n then raise(op .. ': dims must be a list of integer dims, such as {2, 3}') end
    local seen = {}
    for i = 1, n do
      local c = lane_dim(op, p, d[i])
      if seen[c] then
        raise(('%s: dim %s appears more than once in the list of dims for shape %s'):format(op, tostring(d[i]),
                                                                                             shape_str_p(p)))
      end
      seen[c] = true
    end
  end
  local function isnan(t) return Tensor.ne(t, t) end
  -- the keepdim shape of p along dim c
  local function kept_shape(p, c)
    local s = {}
    for i = 0, p.ndim - 1 do s[i + 1] = i == c and 1 or tonumber(p.sizes[i]) end
    return s
  end
  -- f(t) for a t of at least one dim; a 0-dim t as one element along dim
  -- 1, its results (values, indices) made 0-dim again
  local function per_lane(t, p, f)
    if p.ndim > 0 then return f(t, p) end
    local t1 = Tensor.reshape(t, 1)
    local v, i = f(t1, T(t1))
    return Tensor.reshape(v, {}), Tensor.reshape(i, {})
  end
  -- the values at 1-based indices idx along dim c of t (gathered: the
  -- gradient goes back to those places), dim c dropped unless keepdim
  local function at_indices(t, c, idx, keepdim)
    local v = Tensor.gather(t, c + 1, idx)
    if keepdim then return v, idx end
    return Tensor.squeeze(v, c + 1), Tensor.squeeze(idx, c + 1)
  end
  -- the values and indices of t at the 1-based places pos (int64, the
  -- keepdim shape) of each lane along dim c in sort's stable ascending
  -- order (NaN last): PyTorch's median and kthvalue break ties by index
  local function at_sorted_places(t, c, pos, keepdim)
    local order = wrap(lib.nl_argsort(T(t, 'sort'), c, 0, 1))
    return at_indices(t, c, Tensor.gather(order, c + 1, pos), keepdim)
  end
  -- PyTorch's result_type of tensors and numbers (nil skipped): dimensioned
  -- tensors over 0-dim ones over numbers, a lower class winning only with
  -- a float dtype over int64 (a whole number is int64, another float32)
  local RANK, RANKED = { int64 = 0, float32 = 1, float64 = 2 }, { [0] = 'int64', 'float32', 'float64' }
  local function combine(hi, lo)
    if hi == nil then return lo end
    if lo == nil or hi >= 1 then return hi end
    return lo >= 1 and lo or hi
  end
  local function result_dtype(...)
    local dims, zero, num
    for i = 1, select('#', ...) do
      local x = select(i, ...)
      if is_tensor(x) then
        local r = RANK[Tensor.dtype(x)]
        if x.ptr.ndim > 0 then dims = math.max(dims or 0, r) else zero = math.max(zero or 0, r) end
      elseif type(x) == 'number' then
        num = math.max(num or 0, (x == math.floor(x) and x >= -2 ^ 63 and x < 2 ^ 63) and 0 or 1)
      end
    end
    return RANKED[combine(dims, combine(zero, num))]
  end
  -- the shape the tensors among ... broadcast to, or an error naming op
  local function broadcast(op, ...)
    local out, shapes = {}, {}
    for i = 1, select('#', ...) do
      local x = select(i, ...)
      if is_tensor(x) then
        local s = Tensor.shape(x)
        shapes[#shapes + 1] = '[' .. table.concat(s, ',') .. ']'
        local n = math.max(#out, #s)
        local o = {}
        for k = 1, n do
          local a, b = out[k - (n - #out)] or 1, s[k - (n - #s)] or 1
          if a ~= b and a ~= 1 and b ~= 1 then
            raise(('%s: shapes %s cannot be broadcast together'):format(op, table.concat(shapes, ', ')))
          end
          o[k] = a == 1 and b or a
        end
        out = o
      end
    end
    return out
  end
  -- (tensor_more.lua promotes and broadcasts as these do)
  nl._result_dtype, nl._broadcast_shape = result_dtype, broadcast
  -- f(...) with a C error that names from renamed to op (bucketize's
  -- checks are searchsorted's)
  local function renamed(op, from, f, ...)
    local res = { pcall(f, ...) }
    if not res[1] then raise((tostring(res[2]):gsub('^.-' .. from .. ':', op .. ':'))) end
    return unpack(res, 2, table.maxn(res))
  end
  -- the source of an in-place op refused when it requires grad: in-place
  -- ops are not recorded, so its gradient would be lost (tensor.lua's rule)
  local function in_place_source(op, what, x)
    if is_tensor(x) and bit.band(T(x, op).flags, 1) ~= 0 and lib.nl_is_grad_enabled() ~= 0 then
      raise(('%s: %s of shape %s requires grad, but in-place ops are not recorded, so its gradient would be lost; '
             .. 'use the out-of-place op, or detach() it'):format(op, what, shape_str(x)))
    end
  end

  -- ---- running extremes and logcumsumexp --------------------------------------

  -- cummax(dim), cummin(dim): the running max (min) along dim and the
  -- 1-based index where it was taken, a later equal value taking over and
  -- NaN propagating (its index the last NaN's), as PyTorch's; the
  -- gradient goes to those indices, added where one repeats
  for _, name in ipairs({ 'cummax', 'cummin' }) do
    local take_min = name == 'cummin' and 1 or 0
    Tensor[name] = function(t, d, ...)
      nl._no_extra_args(name, '(dim)', nil, ...)
      local p = T(t, name)
      local c = lane_dim(name, p, d)
      return per_lane(t, p, function(x, xp)
        local idx = wrap(lib.nl_cummax_indices(xp, c, take_min, 1))
        return Tensor.gather(x, c + 1, idx), idx
      end)
    end
    nl[name] = Tensor[name]
  end

  -- logcumsumexp(dim): log(cumsum(exp(t))) along dim, without overflow
  -- (PyTorch's running log-add-exp, in double); float input
  function Tensor.logcumsumexp(t, d, ...)
    nl._no_extra_args('logcumsumexp', '(dim)', nil, ...)
    local p = T(t, 'logcumsumexp')
    return wrap(lib.nl_logcumsumexp(p, (lane_dim('logcumsumexp', p, d))))
  end
  nl.logcumsumexp = Tensor.logcumsumexp

  -- ---- order statistics along a dim ---------------------------------------------

  -- kthvalue(k, [dim], [keepdim]): the k-th smallest value along dim (-1
  -- by default; k from 1, NaN larger than every number) and its index, of
  -- equal values the one sort puts k-th (PyTorch leaves ties unspecified)
  function Tensor.kthvalue(t, k, d, keepdim, ...)
    nl._no_extra_args('kthvalue', '(k, [dim], [keepdim])', nil, ...)
    local p = T(t, 'kthvalue')
    keepdim = flag('kthvalue', 'keepdim', keepdim)
    local c, n = lane_dim('kthvalue', p, d == nil and -1 or d)
    if not whole(k) or k < 1 or k > n then
      raise(('kthvalue: k must be a whole number from 1 to %d (the size of dim %s of shape %s), got %s'):format(
        n, tostring(d == nil and -1 or d), shape_str_p(p), describe(k)))
    end
    return per_lane(t, p, function(x, xp)
      return at_sorted_places(x, c, nl.full(kept_shape(xp, c), k, 'int64'), keepdim)
    end)
  end
  nl.kthvalue = Tensor.kthvalue

  -- the per-lane count of NaNs along dim c (keepdim shape, int64)
  local function nan_count(x, c)
    return Tensor.sum(Tensor.long(isnan(x)), c + 1, true)
  end

  -- a 0-dim tensor holding v (an element of t, or NaN) whose gradient is
  -- shared evenly among the elements of t equal to v (among its NaNs when
  -- v is NaN), PyTorch's evenly_distribute_backward of median(): the max
  -- of t with its other elements set to -inf (+inf and the min when v is
  -- -inf) is v, and max's backward shares so. The infinities are this
  -- op's own, which detect_anomaly leaves alone.
  local function evenly(op, t, v)
    local r = nl._without_anomaly(function()
      if v == -math.huge then return Tensor.min(nl.where(Tensor.eq(t, v), t, math.huge)) end
      return Tensor.max(nl.where(v ~= v and isnan(t) or Tensor.eq(t, v), t, -math.huge))
    end)
    return nl._anomaly_checked(r, op)
  end

  -- median() of all elements: the lower of the two middle values, NaN if
  -- any is NaN (nanmedian: of the numbers, NaN if none); NaN for an empty
  -- tensor. Its gradient is shared among the elements equal to it.
  local function median_all(op, t, p, ignore_nan)
    local n = tonumber(p.numel)
    if n == 0 then
      -- (PyTorch 1.13 gives INT64_MIN, NaN converted)
      if p.dtype == 2 then raise(op .. ': an empty int64 tensor has no median') end
      return nl.where(nl.tensor(0, 'int64'), Tensor.sum(t), NaN)
    end
    local flat = Tensor.reshape(t, -1)
    local nans = p.dtype == 2 and 0 or Tensor.item(Tensor.sum(Tensor.long(isnan(flat))))
    local v = NaN
    if nans == 0 or (ignore_nan and nans < n) then
      local k = math.floor(((ignore_nan and n - nans or n) - 1) / 2)
      local order = wrap(lib.nl_argsort(T(flat, op), 0, 0, 1))
      v = Tensor.gather(flat, 1, Tensor.narrow(order, 1, k + 1, 1))
      if p.dtype == 2 then return Tensor.reshape(v, {}) end
      v = Tensor.item(v)
    end
    return evenly(op, t, v)
  end

  -- median([dim], [keepdim]) and nanmedian: of all elements, one value;
  -- along dim, the values and indices, PyTorch's: the stable sort's
  -- element at (n - 1) / 2 (rounded down), or the first NaN of a lane
  -- that holds one (nanmedian: the middle of the lane's numbers, the first
  -- NaN when it has none); the gradient goes to the index
  for _, name in ipairs({ 'median', 'nanmedian' }) do
    local ignore_nan = name == 'nanmedian'
    Tensor[name] = function(t, d, keepdim, ...)
      nl._no_extra_args(name, '([dim], [keepdim])', nil, ...)
      local p = T(t, name)
      keepdim = flag(name, 'keepdim', keepdim)
      if d == nil then
        if keepdim then raise(name .. ': keepdim needs a dim (the median of all elements is one number)') end
        return median_all(name, t, p, ignore_nan)
      end
      if type(d) == 'table' and not is_tensor(d) then
        raise(('%s: takes one dim, not a list of dims, for shape %s'):format(name, shape_str_p(p)))
      end
      local c, n = lane_dim(name, p, d)
      nonempty(name, p, c, d)
      return per_lane(t, p, function(x)
        local nans = nan_count(x, c)
        local pos
        if ignore_nan then
          pos = Tensor.clamp(Tensor.div(n - nans - 1, 2, 'floor'), 0) + 1
        else
          pos = nl.where(Tensor.gt(nans, 0), n - nans + 1, math.floor((n - 1) / 2) + 1)
        end
        return at_sorted_places(x, c, pos, keepdim)
      end)
    end
    nl[name] = Tensor[name]
  end

  -- mode([dim], [keepdim]): the most frequent value along dim (-1 by
  -- default), the smallest of equally frequent ones, and its last index
  -- (PyTorch's on short lanes; on long ones its unstable sort gives any of
  -- them); each NaN counts on its own
  function Tensor.mode(t, d, keepdim, ...)
    nl._no_extra_args('mode', '([dim], [keepdim])', nil, ...)
    local p = T(t, 'mode')
    keepdim = flag('mode', 'keepdim', keepdim)
    local c = lane_dim('mode', p, d == nil and -1 or d)
    nonempty('mode', p, c, d == nil and -1 or d)
    return per_lane(t, p, function(x, xp)
      return at_indices(x, c, wrap(lib.nl_mode_indices(xp, c, 1)), keepdim)
    end)
  end
  nl.mode = Tensor.mode

  -- ---- sums and means that skip NaN, and counts ------------------------------------

  -- t converted to dtype when one is given (checked as op's)
  local function with_dtype(op, t, dtype)
    if dtype == nil then return t end
    nl._dtype_id(dtype, op)
    T(t, op)
    return Tensor.to(t, dtype)
  end

  -- nansum([dim], [keepdim], [dtype]): sum treating NaN as 0, over dim, a
  -- list of dims or all; the gradient is 0 at the NaNs, as PyTorch's
  function Tensor.nansum(t, d, keepdim, dtype, ...)
    nl._no_extra_args('nansum', '([dim], [keepdim], [dtype])', nil, ...)
    T(t, 'nansum')
    t = with_dtype('nansum', t, dtype)
    local p = T(t, 'nansum')
    flag('nansum', 'keepdim', keepdim)
    check_dims('nansum', p, d)
    if p.dtype ~= 2 then t = nl.where(isnan(t), 0, t) end
    return Tensor.sum(t, d, keepdim)
  end
  -- nanmean([dim], [keepdim], [dtype]): nansum over the count of numbers
  -- (NaN where there is none), float input, as PyTorch's
  function Tensor.nanmean(t, d, keepdim, dtype, ...)
    nl._no_extra_args('nanmean', '([dim], [keepdim], [dtype])', nil, ...)
    local p = T(t, 'nanmean')
    if p.dtype == 2 then raise('nanmean: expected a float input, got int64 ' .. shape_str_p(p)) end
    if dtype ~= nil and nl._dtype_id(dtype, 'nanmean') == 2 then
      raise("nanmean: dtype must be a float dtype ('float32' or 'float64'), got 'int64'")
    end
    local s = Tensor.nansum(t, d, keepdim, dtype)
    return s / Tensor.sum(Tensor.long(Tensor.eq(t, t)), d, keepdim)
  end
  nl.nansum, nl.nanmean = Tensor.nansum, Tensor.nanmean

  -- count_nonzero([dim]): the int64 count of nonzero elements (NaN counts)
  -- over dim, a list of dims or all
  function Tensor.count_nonzero(t, d, ...)
    nl._no_extra_args('count_nonzero', '([dim])', nil, ...)
    local p = T(t, 'count_nonzero')
    check_dims('count_nonzero', p, d)
    return Tensor.sum(Tensor.long(Tensor.ne(Tensor.detach(t), 0)), d)
  end
  nl.count_nonzero = Tensor.count_nonzero

  -- ---- quantiles ------------------------------------------------------------------

  -- PyTorch's lerp: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w)
  local function lerp(a, b, w)
    local diff = b - a
    return nl.where(Tensor.lt(Tensor.abs(w), 0.5), a + w * diff, b - diff * (1 - w))
  end

  local INTERPOLATION = { linear = true, lower = true, higher = true, midpoint = true, nearest = true }
  -- q as a 1-D tensor of dtype, and whether it was a scalar
  local function quantile_q(op, q, dtype)
    if type(q) == 'number' then
      if not (q >= 0 and q <= 1) then raise(('%s: q must be in [0, 1], got %s'):format(op, num_str(q))) end
      return nl.tensor({ q }, dtype), true
    end
    if type(q) == 'table' and not is_tensor(q) then
      local n = nl._list_len(q)
      if not n then argerror(op, 'q as a number, a list of numbers or a tensor', q) end
      for i = 1, n do
        if type(q[i]) ~= 'number' or not (q[i] >= 0 and q[i] <= 1) then
          raise(('%s: q must be in [0, 1], got %s at position %d'):format(op, describe(q[i]), i))
        end
      end
      return n == 0 and nl.zeros(0, dtype) or nl.tensor(q, dtype), false
    end
    if not is_tensor(q) then argerror(op, 'q as a number, a list of numbers or a tensor', q) end
    local qp = T(q, op)
    if qp.ndim > 1 then raise(('%s: q must be a number or a 0-D or 1-D tensor, got shape %s'):format(op, shape_str(q))) end
    if Tensor.dtype(q) ~= dtype then
      raise(('%s: q (%s) must have the dtype of the input (%s)'):format(op, Tensor.dtype(q), dtype))
    end
    local inside = nl.no_grad(function()
      return Tensor.item(Tensor.sum(Tensor.long(Tensor.ge(q, 0) * Tensor.le(q, 1))))
    end)
    if inside ~= tonumber(qp.numel) then raise(op .. ': q values must be in [0, 1]') end
    return Tensor.reshape(q, -1), qp.ndim == 0
  end

  -- quantile(q, [dim], [keepdim], [interpolation]) or quantile(q, {dim,
  -- keepdim, interpolation}), and nanquantile: PyTorch 1.13's composite,
  -- so its gradient follows: each lane sorted, q * (n - 1) its rank (n
  -- the count of numbers for nanquantile; the last place, a NaN, when a
  -- lane holds one for quantile), rounded by the interpolation ('lower',
  -- 'higher', 'nearest') or the neighbours lerped ('linear' by the
  -- fraction, 'midpoint' by 0.5), in the input's dtype. q: a number, a
  -- list or a 0-D or 1-D tensor of the input's dtype; a 1-D q adds a first dim.
  local function quantile(op, ignore_nan, t, q, d, keepdim, interpolation, ...)
    nl._no_extra_args(op, '(q, [dim], [keepdim], [interpolation])', nil, ...)
    d, keepdim, interpolation = nl._opts_or_args(op, 'dim keepdim:flag interpolation', d, keepdim, interpolation)
    local p = T(t, op)
    if p.dtype == 2 then raise(('%s: expected a float input (float32 or float64), got int64 %s'):format(op, shape_str_p(p))) end
    if p.numel == 0 then raise(op .. ': the input must not be empty, got shape ' .. shape_str_p(p)) end
    keepdim = flag(op, 'keepdim', keepdim)
    interpolation = interpolation == nil and 'linear' or interpolation
    if not INTERPOLATION[interpolation] then
      raise(("%s: interpolation must be 'linear', 'lower', 'higher', 'midpoint' or 'nearest', got %s"):format(op,
        describe(interpolation)))
    end
    local dtype = Tensor.dtype(t)
    local c, n
    if d ~= nil then c, n = lane_dim(op, p, d) end
    local qt, scalar_q = quantile_q(op, q, dtype)
    -- the lanes as rows: (L, n)
    local x
    if d == nil or p.ndim == 0 then x = Tensor.reshape(t, 1, -1)
    else x = Tensor.reshape(Tensor.movedim(t, c + 1, -1), -1, n) end
    n = Tensor.size(x, 2)
    if n > 2 ^ 24 then raise(('%s: %d elements along the dim; at most 2^24, as PyTorch'):format(op, n)) end
    local sorted = Tensor.sort(x, 2)
    local qrow = Tensor.reshape(qt, 1, -1)
    local ranks                                                  -- (L, Q)
    if ignore_nan then
      local numbers = Tensor.sum(Tensor.long(Tensor.eq(sorted, sorted)), 2, true)
      ranks = qrow * Tensor.to(numbers - 1, dtype)
      ranks = nl.where(Tensor.lt(ranks, 0), 0, ranks)
    else
      ranks = nl.where(Tensor.gt(nan_count(sorted, 1), 0), n - 1, qrow * (n - 1))
    end
    if interpolation == 'lower' then ranks = Tensor.floor(ranks)
    elseif interpolation == 'higher' then ranks = Tensor.ceil(ranks)
    elseif interpolation == 'nearest' then ranks = Tensor.round(ranks) end
    local below_at = Tensor.long(ranks)
    local r = Tensor.gather(sorted, 2, below_at + 1)
    if interpolation == 'linear' or interpolation == 'midpoint' then
      local w = interpolation == 'midpoint' and nl.full(Tensor.shape(ranks), 0.5, dtype)
                or ranks - Tensor.to(below_at, dtype)
      r = lerp(r, Tensor.gather(sorted, 2, Tensor.long(Tensor.ceil(ranks)) + 1), w)
    end
    -- (L, Q) -> (Q, the reduced shape)
    local shape = {}
    if not scalar_q then shape[1] = Tensor.size(r, 2) end
    for i = 0, p.ndim - 1 do
      if d ~= nil and i ~= c then shape[#shape + 1] = tonumber(p.sizes[i])
      elseif keepdim then shape[#shape + 1] = 1 end
    end
    return Tensor.reshape(Tensor.t(r), shape)
  end
  function Tensor.quantile(t, q, ...) return quantile('quantile', false, t, q, ...) end
  function Tensor.nanquantile(t, q, ...) return quantile('nanquantile', true, t, q, ...) end
  nl.quantile, nl.nanquantile = Tensor.quantile, Tensor.nanquantile

  -- ---- places in sorted sequences -------------------------------------------------

  -- the 1-based places of values in seq (searchsorted's, checked as op's)
  local function search(op, seq, values, right, side, sorter, out_int32)
    T(seq, op)
    flag(op, 'right', right)
    if side ~= nil and side ~= 'left' and side ~= 'right' then
      raise(("%s: side must be 'left' or 'right', got %s"):format(op, describe(side)))
    end
    if side == 'left' and right then raise(op .. ": side 'left' and right = true contradict each other") end
    if out_int32 then raise(op .. ': out_int32 is not supported: nnlua has no int32 dtype (the result is int64)') end
    if type(values) ~= 'number' and not is_tensor(values) then argerror(op, 'a tensor or a number as values', values) end
    if type(values) == 'number' and T(seq, op).ndim ~= 1 then
      raise(('%s: a number as values needs 1-D boundaries, got shape %s'):format(op, shape_str(seq)))
    end
    if sorter ~= nil then
      local sp = T(sorter, op)
      if sp.dtype ~= 2 or Tensor.shape(sorter)[1] == nil or shape_str(sorter) ~= shape_str(seq) then
        raise(('%s: sorter must be an int64 tensor of the shape %s of the sequence, got %s'):format(op,
          shape_str(seq), describe(sorter)))
      end
      local n = Tensor.size(seq, -1)
      if sp.numel > 0 and (Tensor.item(Tensor.min(sorter)) < 1 or Tensor.item(Tensor.max(sorter)) > n) then
        raise(('%s: sorter holds indices outside 1 to %d'):format(op, n))
      end
      seq = Tensor.gather(seq, -1, sorter)
    end
    local dt = result_dtype(seq, values)
    seq = Tensor.to(seq, dt)
    values = is_tensor(values) and Tensor.to(values, dt) or nl.tensor(values, dt)
    local r = lib.nl_searchsorted(T(seq, op), T(values, op), (side == 'right' or right) and 1 or 0, 1)
    if r == nil then raise((ffi.string(lib.nl_error()):gsub('^searchsorted:', op .. ':'))) end
    return wrap(r)
  end

  -- nl.searchsorted(sorted_sequence, values, [right], [side]) or
  -- (sorted_sequence, values, {right, side, sorter}): for each value, the
  -- 1-based place in the sequence (along its last dim; its other dims
  -- those of values, or 1-D) where it would be inserted to keep the order:
  -- before the first element >= it (right or side 'right': > it), 1 to
  -- n + 1 (PyTorch's 0-based place + 1); a NaN value goes last. sorter:
  -- the 1-based int64 indices that sort the sequence (argsort's). No
  -- gradient.
  function nl.searchsorted(seq, values, a, b, ...)
    nl._no_extra_args('searchsorted', '(sorted_sequence, values, [right], [side])', nil, ...)
    return search('searchsorted', seq, values, nl._opts_or_args('searchsorted',
      'right:flag side sorter out_int32:flag', a, b))
  end
  Tensor.searchsorted = nl.searchsorted

  -- t:bucketize(boundaries, [right]) or (boundaries, {right}): the 1-based
  -- bucket of each element among 1-D boundaries, searchsorted(boundaries,
  -- t, right): i where boundaries[i - 1] < x <= boundaries[i] (right:
  -- boundaries[i - 1] <= x < boundaries[i]), 1 to n + 1. t may be a number.
  function Tensor.bucketize(t, boundaries, right, ...)
    nl._no_extra_args('bucketize', '(boundaries, [right])', nil, ...)
    local out_int32
    if type(right) == 'table' and not is_tensor(right) then
      nl._check_opts('bucketize', right, { right = 'flag', out_int32 = 'flag' })
      right, out_int32 = right.right, right.out_int32
    end
    local bp = T(boundaries, 'bucketize')
    if bp.ndim ~= 1 then raise('bucketize: boundaries must be 1-D, got shape ' .. shape_str(boundaries)) end
    return search('bucketize', boundaries, t, right, nil, nil, out_int32)
  end
  nl.bucketize = Tensor.bucketize

  -- ---- counting ---------------------------------------------------------------------

  -- t:bincount([weights], [minlength]) or t:bincount{weights, minlength}:
  -- of a 1-D int64 tensor of 1-based bin indices (as nnlua's class labels
  -- and every other index), out[i] = the count of i (the sum of the
  -- weights where t is i): max(max(t), minlength) bins. int64 counts;
  -- weights sum in float32 for float32 weights, else float64, as PyTorch's.
  -- No gradient.
  function Tensor.bincount(t, weights, minlength, ...)
    nl._no_extra_args('bincount', '([weights], [minlength])', nil, ...)
    weights, minlength = nl._opts_or_args('bincount', 'weights minlength', weights, minlength)
    if minlength == nil then minlength = 0 end
    if not whole(minlength) or minlength < 0 or minlength >= 2 ^ 40 then
      raise('bincount: minlength must be a whole number >= 0, got ' .. describe(minlength))
    end
    local p = T(t, 'bincount')
    return wrap(lib.nl_bincount(p, weights ~= nil and T(weights, 'bincount') or nil, minlength, 1))
  end
  nl.bincount = Tensor.bincount

  -- t:histc([bins], [min], [max]) or t:histc{bins, min, max}: the counts
  -- of bins equal bins over [min, max] (the data's range when min == max,
  -- the defaults 100, 0, 0; widened by 1 each way when still equal), the
  -- last bin holding max; other elements and NaN are left out. Float
  -- input, counts of its dtype; no gradient, as PyTorch's.
  function Tensor.histc(t, bins, min, max, ...)
    nl._no_extra_args('histc', '([bins], [min], [max])', nil, ...)
    bins, min, max = nl._opts_or_args('histc', 'bins min max', bins, min, max)
    bins, min, max = bins == nil and 100 or bins, min == nil and 0 or min, max == nil and 0 or max
    if not whole(bins) or bins < 1 or bins >= 2 ^ 40 then
      raise('histc: bins must be a whole number > 0, got ' .. describe(bins))
    end
    if type(min) ~= 'number' then argerror('histc', 'a number as min', min) end
    if type(max) ~= 'number' then argerror('histc', 'a number as max', max) end
    return wrap(lib.nl_histc(T(t, 'histc'), bins, min, max))
  end
  nl.histc = Tensor.histc

  -- unique's groups of t's elements (d nil) or slices along d: the
  -- values, then the inverse (1-based) and counts that were asked for
  local function unique(op, consecutive, t, return_inverse, return_counts, d)
    local p = T(t, op)
    flag(op, 'return_inverse', return_inverse)
    flag(op, 'return_counts', return_counts)
    t = Tensor.detach(t)
    local rows, c
    if d == nil then
      rows = Tensor.reshape(t, -1, 1)
    else
      if p.ndim == 0 then raise(op .. ': a 0-dim tensor has no dim to take slices along') end
      local n
      c, n = lane_dim(op, p, d)
      local m = 1
      for i = 0, p.ndim - 1 do if i ~= c then m = m * tonumber(p.sizes[i]) end end
      -- the slices as rows in PyTorch's order, dim swapped with the first
      -- (1.13's transpose(dim, 0)), so that sorted rows compare as PyTorch's
      rows = Tensor.reshape(Tensor.transpose(t, 1, c + 1), n, m)
    end
    local first = lib.nl_unique_groups(T(rows, op), consecutive and 1 or 0, 1, groups_out, groups_out + 1)
    if first == nil then raise(ffi.string(lib.nl_error())) end
    local inverse, counts = wrap(groups_out[0]), wrap(groups_out[1])
    first = wrap(first)
    local values = Tensor.index_select(rows, 1, first)
    if d == nil then
      values = Tensor.reshape(values, -1)
      inverse = Tensor.reshape(inverse, Tensor.shape(t))
    else
      local shape = {}
      for i = 0, p.ndim - 1 do shape[i + 1] = tonumber(p.sizes[i]) end
      shape[c + 1] = shape[1]
      shape[1] = Tensor.size(values, 1)
      values = Tensor.transpose(Tensor.reshape(values, shape), 1, c + 1)
    end
    local out = { values }
    if return_inverse then out[#out + 1] = inverse end
    if return_counts then out[#out + 1] = counts end
    return unpack(out)
  end

  -- t:unique([sorted], [return_inverse], [return_counts], [dim]) or
  -- t:unique{sorted, return_inverse, return_counts, dim}: the distinct
  -- elements (or slices along dim) in ascending order (lexicographic for
  -- slices; NaN last, each NaN distinct), then, when asked for, the
  -- 1-based inverse (the place of each element, of t's shape, or of each
  -- slice, in the result) and the counts, as PyTorch's tuple. Always
  -- sorted (sorted = false allows any order in PyTorch). No gradient.
  function Tensor.unique(t, sorted, return_inverse, return_counts, d, ...)
    nl._no_extra_args('unique', '([sorted], [return_inverse], [return_counts], [dim])', nil, ...)
    sorted, return_inverse, return_counts, d = nl._opts_or_args('unique',
      'sorted:flag return_inverse:flag return_counts:flag dim', sorted, return_inverse, return_counts, d)
    flag('unique', 'sorted', sorted)
    return unique('unique', false, t, return_inverse, return_counts, d)
  end
  -- t:unique_consecutive([return_inverse], [return_counts], [dim]) or
  -- with those options: unique over runs of equal neighbours, in order
  function Tensor.unique_consecutive(t, return_inverse, return_counts, d, ...)
    nl._no_extra_args('unique_consecutive', '([return_inverse], [return_counts], [dim])', nil, ...)
    return unique('unique_consecutive', true, t, nl._opts_or_args('unique_consecutive',
      'return_inverse:flag return_counts:flag dim', return_inverse, return_counts, d))
  end
  nl.unique, nl.unique_consecutive = Tensor.unique, Tensor.unique_consecutive

  -- ---- clamp with tensor bounds, clip, div_ with a rounding mode ------------------

  -- clamp(t, min, max) with a tensor among the bounds (the other a tensor,
  -- a number or nil): PyTorch's, broadcast over all three, in their
  -- promoted dtype; NaN in any gives NaN, and min > max gives max. The
  -- gradient is PyTorch's clamp_backward_min_max: t's where min <= t <=
  -- max, min's where t < min < max, max's where t > max or max < min (both
  -- bounds; with one, t's where it holds and the bound's elsewhere), summed
  -- to each shape: each element picks one of them with nl.where, or a
  -- value with no gradient where PyTorch gives none (NaN; t < min = max).
  local function clamp_tensors(op, t, lo, hi)
    for _, b in ipairs({ { lo, 'min' }, { hi, 'max' } }) do
      if b[1] ~= nil and type(b[1]) ~= 'number' and not is_tensor(b[1]) then
        argerror(op, 'a number, a tensor or nil as ' .. b[2], b[1])
      end
      if is_tensor(b[1]) then T(b[1], op) end
    end
    T(t, op)
    broadcast(op, t, lo, hi)
    local dt = result_dtype(t, lo, hi)
    local function as(v)
      if v == nil then return nil end
      return is_tensor(v) and Tensor.to(v, dt) or nl.tensor(v, dt)
    end
    local x, a, b = Tensor.to(t, dt), as(lo), as(hi)
    -- (the sum that finds a NaN may overflow, which is no output of clamp's)
    local keep_x, keep_a, keep_b, other = nl._without_anomaly(nl.no_grad, function()
      local xd, ad, bd = Tensor.detach(x), a and Tensor.detach(a), b and Tensor.detach(b)
      if ad and bd then
        -- elsewhere: NaN somewhere, or t < min = max (the value max)
        local s = xd + ad + bd
        return Tensor.ge(xd, ad) * Tensor.le(xd, bd), Tensor.lt(xd, ad) * Tensor.lt(ad, bd),
               Tensor.gt(Tensor.gt(xd, bd) + Tensor.lt(bd, ad), 0), nl.where(isnan(s), s, bd)
      elseif ad then
        return Tensor.ge(xd, ad), Tensor.lt(xd, ad), nil, xd + ad
      end
      return Tensor.le(xd, bd), nil, Tensor.gt(xd, bd), xd + bd
    end)
    local r = other
    if b then r = nl.where(keep_b, b, r) end
    if a then r = nl.where(keep_a, a, r) end
    return nl.where(keep_x, x, r)
  end

  local clamp_numbers, clamp_numbers_ = Tensor.clamp, Tensor.clamp_
  -- clamp(min, max): numbers (tensor.lua's), or tensors (above)
  function Tensor.clamp(t, lo, hi, ...)
    if not (is_tensor(lo) or is_tensor(hi)) then return clamp_numbers(t, lo, hi, ...) end
    nl._no_extra_args('clamp', '(min, max)', nil, ...)
    return clamp_tensors('clamp', t, lo, hi)
  end
  -- clamp_(min, max) with tensor bounds: into t, whose shape and dtype the
  -- result must keep (a bound that broadcasts t larger, or a float result
  -- for int64 t, is refused, as PyTorch refuses them)
  function Tensor.clamp_(t, lo, hi, ...)
    if not (is_tensor(lo) or is_tensor(hi)) then return clamp_numbers_(t, lo, hi, ...) end
    nl._no_extra_args('clamp_', '(min, max)', nil, ...)
    check(lib.nl_inplace_check(T(t, 'clamp_'), 'clamp_'))
    in_place_source('clamp_', 'min', lo)
    in_place_source('clamp_', 'max', hi)
    local r = nl.no_grad(function() return clamp_tensors('clamp_', t, lo, hi) end)
    if shape_str(r) ~= shape_str(t) then
      raise(('clamp_: the bounds broadcast the result to shape %s, not the shape %s of the tensor'):format(
        shape_str(r), shape_str(t)))
    end
    if Tensor.dtype(t) == 'int64' and Tensor.dtype(r) ~= 'int64' then
      raise(('clamp_: result of %s bounds cannot be stored in an int64 destination'):format(Tensor.dtype(r)))
    end
    return Tensor.copy_(t, r)
  end
  nl.clamp = Tensor.clamp
  -- clip, clip_: PyTorch's aliases of clamp and clamp_
  Tensor.clip, Tensor.clip_, nl.clip = Tensor.clamp, Tensor.clamp_, Tensor.clamp

  -- div_(x, [rounding_mode]): t = div(t, x, rounding_mode) in place
  -- ('trunc' or 'floor'; nil: true division, tensor.lua's); the quotient
  -- must keep t's shape, and int64 t an int64 quotient, as PyTorch's
  local div_true_ = Tensor.div_
  function Tensor.div_(t, x, mode, ...)
    nl._no_extra_args('div_', '(x, [rounding_mode])', nil, ...)
    if mode == nil then return div_true_(t, x) end
    if mode ~= 'trunc' and mode ~= 'floor' then
      raise(("div_: rounding_mode must be 'trunc', 'floor' or nil, got %s"):format(describe(mode)))
    end
    check(lib.nl_inplace_check(T(t, 'div_'), 'div_'))
    if type(x) ~= 'number' and not is_tensor(x) then argerror('div_', 'a tensor or a number', x) end
    in_place_source('div_', 'the divisor', x)
    local q = renamed('div_', 'div', function() return nl.no_grad(function() return Tensor.div(t, x, mode) end) end)
    if shape_str(q) ~= shape_str(t) then
      raise(('div_: the divisor of shape %s broadcasts the result to shape %s, not the shape %s of the tensor'):format(
        is_tensor(x) and shape_str(x) or describe(x), shape_str(q), shape_str(t)))
    end
    if Tensor.dtype(t) == 'int64' and Tensor.dtype(q) ~= 'int64' then
      raise(('div_: result of a %s divisor cannot be stored in an int64 destination'):format(Tensor.dtype(q)))
    end
    return Tensor.copy_(t, q)
  end
end
