-- tensor_linalg.lua: more Tensor ops from PyTorch, each a composition of
-- the C ops tensor.lua exposes, so that autograd follows them with no
-- backward of its own: logsumexp, tril and triu, flip, fliplr, flipud,
-- roll, repeat_interleave, outer, lerp, diag, diagonal, diag_embed, trace,
-- meshgrid, isclose, allclose, equal, cdist, einsum, addmm, addmv,
-- baddbmm and addbmm. It holds no C and no kernel; where a result is
-- copied that PyTorch gives as a view (diagonal), README says so.
return function(nl)
  local Tensor = nl.Tensor
  local raise, T, argerror, is_tensor = nl._raise, nl._T, nl._argerror, nl.is_tensor
  local shape_str, describe = nl._shape_str, nl._describe_arg
  local DTYPE = { [0] = 'float32', [1] = 'float64', [2] = 'int64' }

  -- ---- argument helpers ---------------------------------------------------------

  local function no_extra(op, takes, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
  end
  -- v, a whole number (of either sign) small enough for int64 index math
  -- in doubles (below 2^53), or with any, a finite one
  local function whole(op, what, v, any)
    if type(v) ~= 'number' or v ~= math.floor(v) or v == math.huge or v == -math.huge then
      raise(('%s: expected %s, got %s'):format(op, what, describe(v)))
    end
    if not any and (v >= 2 ^ 53 or v <= -2 ^ 53) then
      raise(('%s: expected %s, got %s, past 2^53'):format(op, what, describe(v)))
    end
    return v
  end
  -- the 0-based dim of p that Lua dim d names (negative from the end);
  -- more: dims past the last allowed (an output's extra dims)
  local function pdim(d, op, p, more)
    local c = nl._cdim(d, op, p, more)
    return c < 0 and c + math.max(p.ndim + (more or 0), 1) or c
  end
  local function sizes(p)
    local s = {}
    for i = 0, p.ndim - 1 do s[i + 1] = tonumber(p.sizes[i]) end
    return s
  end
  -- a number or a list of numbers -> a list (nil when it is neither)
  local function as_list(v)
    if type(v) == 'number' then return { v } end
    local n = nl._list_len(v)
    if not n or is_tensor(v) then return nil end
    return v
  end
  -- the shape a and b broadcast to (tables), or an error naming op
  local function broadcast(op, a, b, an, bn)
    local n, out = math.max(#a, #b), {}
    for i = 1, n do
      local x, y = a[i - (n - #a)] or 1, b[i - (n - #b)] or 1
      if x ~= y and x ~= 1 and y ~= 1 then
        raise(('%s: shapes [%s] of %s and [%s] of %s do not broadcast'):format(op, table.concat(a, ','), an,
                                                                              table.concat(b, ','), bn))
      end
      out[i] = x == 1 and y or x
    end
    return out
  end
  -- q, given the graph of a zero gradient to the tensors of list that
  -- require grad (PyTorch's zero gradients where an op ignores an input):
  -- q where an all-false condition picks it over their sum
  local function with_zero_grad(q, list)
    if nl._lib.nl_is_grad_enabled() == 0 then return q end
    local carrier
    for _, x in ipairs(list) do
      if is_tensor(x) and bit.band(x.ptr.flags, 1) ~= 0 then
        local s = Tensor.sum(x)
        carrier = carrier and carrier + s or s
      end
    end
    if not carrier then return q end
    return nl.where(nl.zeros(Tensor.shape(q), 'int64'), carrier, q)
  end
  -- the tensor of x, which must be a float tensor, or an error naming op
  local function float_tensor(op, x, what)
    if not is_tensor(x) then argerror(op, 'a tensor as ' .. what, x) end
    local p = T(x, op)
    if p.dtype == 2 then raise(('%s: expected a float tensor as %s, got int64 %s'):format(op, what, shape_str(x))) end
    return p
  end
  local function same_dtype(op, a, an, b, bn)
    if a.ptr.dtype ~= b.ptr.dtype then
      raise(('%s: %s (%s) and %s (%s) must have the same dtype'):format(op, an, DTYPE[a.ptr.dtype], bn,
                                                                       DTYPE[b.ptr.dtype]))
    end
  end
  -- (n, m): 1 where column - row compares with k as cmp ('le', 'ge' or
  -- 'eq') says, else 0; in float32 where its whole numbers are exact
  -- (row + k below 2^24), half the bytes of an int64 mask; k clamped to
  -- [-n, m], which keeps the result and the sums small
  local function band(n, m, k, cmp)
    local dt = n + m < 2 ^ 24 and 'float32' or 'float64'
    k = math.max(-n, math.min(m, k))
    local cols = nl.arange(0, m, 1, dt):view(1, m)
    return Tensor[cmp](cols, nl.arange(0, n, 1, dt):view(n, 1) + k)
  end
  -- 1-based int64 indices 1 + start, 1 + start + step, ... (n of them)
  local function steps(n, start, step)
    local i = nl.arange(0, n, 1, 'int64')
    if step ~= 1 then i = i * step end
    return i + (start + 1)
  end

  -- ---- logsumexp ----------------------------------------------------------------

  -- logsumexp(dim, [keepdim]): log(sum(exp(t))) over dim (or a list of
  -- dims), computed as PyTorch's: the max m over the dims taken out first,
  -- log(sum(exp(t - m))) + m, m replaced by 0 where it is infinite (a row
  -- of -inf gives -inf, one holding inf gives inf, not NaN). m is made
  -- without a graph: the gradient is softmax over the dims. int64 gives
  -- float32, as PyTorch's.
  function Tensor.logsumexp(t, d, keepdim, ...)
    no_extra('logsumexp', '(dim, [keepdim])', ...)
    local p = T(t, 'logsumexp')
    if keepdim ~= nil and type(keepdim) ~= 'boolean' then argerror('logsumexp', 'keepdim as a boolean', keepdim) end
    if d == nil then raise('logsumexp: a dim or a list of dims is needed, as in PyTorch') end
    local list = as_list(d)
    if not list or #list == 0 then argerror('logsumexp', 'a dim or a non-empty list of dims', d) end
    local seen, empty, dims = {}, false, {}
    for i, v in ipairs(list) do
      local c = pdim(v, 'logsumexp', p)
      if seen[c] then
        raise(('logsumexp: dim %s appears more than once in the list of dims for shape %s'):format(describe(v),
                                                                                                  shape_str(t)))
      end
      seen[c] = true
      dims[i] = c + 1
      if p.ndim > 0 and p.sizes[c] == 0 then empty = true end
    end
    if p.dtype == 2 then t = Tensor.to(t, nl._default_float()) end
    if empty then return Tensor.sum(Tensor.exp(t), dims, keepdim):log() end -- -inf, as PyTorch's
    local m = nl.no_grad(function()
      local m = t:detach()
      for _, c in ipairs(dims) do m = Tensor.max(m, c, true) end
      return nl.where(Tensor.eq(Tensor.abs(m), math.huge), 0, m)
    end)
    -- m's dims taken out as the sum's (a sum over dims of size 1 is m)
    return Tensor.sum(Tensor.exp(t - m), dims, keepdim):log() + Tensor.sum(m, dims, keepdim)
  end
  nl.logsumexp = Tensor.logsumexp

  -- ---- tril, triu -----------------------------------------------------------------

  -- tril([diagonal]) and triu: t with the elements above (below) the
  -- diagonal-th diagonal of its last two dims set to 0 (diagonal 0 the
  -- main one, > 0 above it), as PyTorch's; the gradient passes where kept
  local function triangle(op, t, k, ...)
    no_extra(op, '([diagonal])', ...)
    local p = T(t, op)
    if p.ndim < 2 then raise(('%s: expected a tensor of 2 or more dims, got shape %s'):format(op, shape_str(t))) end
    k = k == nil and 0 or whole(op, 'an integer diagonal', k, true)
    local n, m = tonumber(p.sizes[p.ndim - 2]), tonumber(p.sizes[p.ndim - 1])
    return nl.where(band(n, m, k, op == 'tril' and 'le' or 'ge'), t, 0)
  end
  function Tensor.tril(t, k, ...) return triangle('tril', t, k, ...) end
  function Tensor.triu(t, k, ...) return triangle('triu', t, k, ...) end
  nl.tril, nl.triu = Tensor.tril, Tensor.triu

  -- ---- flip, fliplr, flipud, roll ---------------------------------------------------

  -- flip(dims): a copy of t with the order of each dim of dims reversed;
  -- dims as a list, one dim, or dims one after another (t:flip(1, 2))
  local function flip(op, t, dims)
    local p = T(t, op)
    local seen, mask = {}, 0
    for _, d in ipairs(dims) do
      local c = pdim(d, op, p)
      if seen[c] then raise(('%s: dim %s appears more than once in the list of dims'):format(op, describe(d))) end
      seen[c] = true
      -- (one C copy for all the dims: an index_select each was 4x PyTorch's time)
      if p.ndim > 0 and p.sizes[c] > 1 then mask = bit.bor(mask, bit.lshift(1, c)) end
    end
    if mask == 0 then return Tensor.clone(t) end
    return nl._wrap(nl._lib.nl_flip(p, mask))
  end
  function Tensor.flip(t, ...)
    local first = ...
    local dims = select('#', ...) == 1 and type(first) == 'table' and first or { ... }
    if not nl._list_len(dims) then argerror('flip', 'a dim or a list of dims', first) end
    return flip('flip', t, dims)
  end
  -- fliplr(): flip(2), of a tensor of 2 or more dims; flipud(): flip(1)
  function Tensor.fliplr(t, ...)
    no_extra('fliplr', '()', ...)
    if T(t, 'fliplr').ndim < 2 then
      raise('fliplr: expected a tensor of 2 or more dims, got shape ' .. shape_str(t))
    end
    return flip('fliplr', t, { 2 })
  end
  function Tensor.flipud(t, ...)
    no_extra('flipud', '()', ...)
    if T(t, 'flipud').ndim < 1 then raise('flipud: expected a tensor of 1 or more dims, got a 0-dim tensor') end
    return flip('flipud', t, { 1 })
  end
  nl.flip, nl.fliplr, nl.flipud = Tensor.flip, Tensor.fliplr, Tensor.flipud

  -- roll(shifts, [dims]): the elements moved shifts places along each dim
  -- of dims (a number or a list, one shift each), those pushed past the end
  -- coming back at the start; without dims, along t flattened, then t's
  -- shape again. Two narrows and a cat per dim.
  local function roll_dim(x, c, s)
    local n = tonumber(x.ptr.sizes[c])
    if n == 0 then return x end
    s = s % n
    if s == 0 then return x end
    return nl.cat({ Tensor.narrow(x, c + 1, n - s + 1, s), Tensor.narrow(x, c + 1, 1, n - s) }, c + 1)
  end
  function Tensor.roll(t, shifts, dims, ...)
    no_extra('roll', '(shifts, [dims])', ...)
    local p = T(t, 'roll')
    local sl = as_list(shifts)
    if not sl then argerror('roll', 'a shift or a list of shifts', shifts) end
    for _, s in ipairs(sl) do whole('roll', 'integer shifts', s) end
    if dims == nil then
      if #sl ~= 1 then raise(('roll: %d shifts need as many dims, got none'):format(#sl)) end
      local r = roll_dim(Tensor.reshape(t, -1), 0, sl[1])
      return Tensor.view(r, sizes(p))
    end
    local dl = as_list(dims)
    if not dl then argerror('roll', 'a dim or a list of dims', dims) end
    if #dl ~= #sl then raise(('roll: %d shifts and %d dims; give one shift per dim'):format(#sl, #dl)) end
    if p.ndim == 0 then raise('roll: a 0-dim tensor has no dim to roll; give no dims') end
    local r = t
    for i, d in ipairs(dl) do r = roll_dim(r, pdim(d, 'roll', p), sl[i]) end
    return r == t and Tensor.clone(t) or r
  end
  nl.roll = Tensor.roll

  -- ---- repeat_interleave ------------------------------------------------------------

  -- repeat_interleave(repeats, [dim]): each slice along dim repeated
  -- repeats times in place (a number, or a list or int64 tensor of one
  -- count per slice, or of one count for all); without dim, t flattened.
  -- For counts r the 1-based source index of output j is the number of
  -- slices starting at or before j: ones scattered at each slice's start
  -- (the exclusive running sum of r), then summed running, in C.
  function Tensor.repeat_interleave(t, repeats, d, ...)
    no_extra('repeat_interleave', '(repeats, [dim])', ...)
    local op = 'repeat_interleave'
    local p = T(t, op)
    local x, c
    if d == nil then
      x, c = Tensor.reshape(t, -1), 0
    else
      if p.ndim == 0 then raise(op .. ': a 0-dim tensor has no dim to repeat along; give no dim') end
      x, c = t, pdim(d, op, p)
    end
    local n = tonumber(x.ptr.sizes[c])
    if type(repeats) == 'table' and not is_tensor(repeats) then
      local k = nl._list_len(repeats)
      if not k then argerror(op, 'a count, a list of counts or an int64 tensor as repeats', repeats) end
      for i = 1, k do whole(op, 'whole-number repeats', repeats[i]) end
      repeats = nl.tensor(repeats, 'int64')
    end
    local idx
    if type(repeats) == 'number' then
      local r = whole(op, 'a whole number of repeats', repeats)
      if r < 0 then raise(('%s: repeats must not be negative, got %s'):format(op, describe(r))) end
      idx = nl.arange(1, n + 1, 1, 'int64'):view(n, 1):expand(n, r):reshape(n * r)
    else
      if not is_tensor(repeats) then argerror(op, 'a count, a list of counts or an int64 tensor as repeats', repeats) end
      local rp = T(repeats, op)
      if rp.dtype ~= 2 or rp.ndim > 1 then
        raise(('%s: repeats must be a 0-dim or 1-D int64 tensor, got %s %s'):format(op, DTYPE[rp.dtype],
                                                                                  shape_str(repeats)))
      end
      local k = tonumber(rp.numel)
      if k == 1 then return Tensor.repeat_interleave(t, Tensor.item(repeats), d) end
      if k ~= n then
        raise(('%s: %d repeats for %d slices along dim %d of shape %s'):format(op, k, n, c + 1,
          shape_str(d == nil and x or t)))
      end
      if n > 0 and Tensor.item(Tensor.min(repeats)) < 0 then raise(op .. ': repeats must not be negative') end
      local total = n == 0 and 0 or Tensor.item(Tensor.sum(repeats))
      local starts = Tensor.cumsum(repeats, 1) - repeats
      -- the slices repeated 0 times at the end start at total: none of the output
      starts = Tensor.masked_select(starts, Tensor.lt(starts, total))
      local marks = Tensor.scatter_add(nl.zeros(total, 'int64'), 1, starts + 1, nl.ones(Tensor.size(starts, 1), 'int64'))
      idx = Tensor.cumsum(marks, 1)
    end
    return Tensor.index_select(x, c + 1, idx)
  end
  nl.repeat_interleave = Tensor.repeat_interleave

  -- ---- outer, lerp --------------------------------------------------------------------

  -- outer(v): the (n, m) products a[i] * v[j] of two 1-D tensors, their
  -- dtypes promoted as in a * v
  function Tensor.outer(a, b, ...)
    no_extra('outer', '(vec2)', ...)
    local pa = T(a, 'outer')
    if not is_tensor(b) then argerror('outer', 'a tensor', b) end
    local pb = T(b, 'outer')
    if pa.ndim ~= 1 or pb.ndim ~= 1 then
      raise(('outer: expected two 1-D tensors, got shapes %s and %s'):format(shape_str(a), shape_str(b)))
    end
    return Tensor.view(a, -1, 1) * Tensor.view(b, 1, -1)
  end
  nl.outer = Tensor.outer

  -- lerp(end, weight): t + weight * (end - t), as PyTorch's: below 0.5 in
  -- magnitude that form, else end - (end - t) * (1 - weight), so that a
  -- weight of 1 gives end exactly; weight a number or a tensor; t, end
  -- and a weight tensor float of one dtype, broadcast together
  function Tensor.lerp(t, e, w, ...)
    no_extra('lerp', '(end, weight)', ...)
    float_tensor('lerp', t, 'start')
    float_tensor('lerp', e, 'end')
    same_dtype('lerp', t, 'start', e, 'end')
    local out = broadcast('lerp', Tensor.shape(t), Tensor.shape(e), 'start', 'end')
    if type(w) == 'number' then
      if math.abs(w) < 0.5 then return t + (e - t) * w end
      return e - (e - t) * (1 - w)
    end
    if not is_tensor(w) then argerror('lerp', 'a number or a tensor as weight', w) end
    float_tensor('lerp', w, 'weight')
    same_dtype('lerp', t, 'start', w, 'weight')
    broadcast('lerp', out, Tensor.shape(w), 'start and end', 'weight')
    -- each form with a weight masked to where it is taken: the form not
    -- taken sends w a zero gradient only if its factor is finite (0 times
    -- an infinite end - start gave w NaN where PyTorch gives inf)
    local diff = e - t
    local small = Tensor.lt(Tensor.abs(w), 0.5)
    return nl.where(small, t + nl.where(small, w, 0) * diff, e - diff * (1 - nl.where(small, 1, w)))
  end
  nl.lerp = Tensor.lerp

  -- ---- diagonals ----------------------------------------------------------------------

  -- (offset, dim1, dim2) from those numbers or a table of PyTorch's keywords
  local function diag_args(op, offset, d1, d2, default1, default2)
    offset, d1, d2 = nl._opts_or_args(op, 'offset dim1 dim2', offset, d1, d2)
    offset = offset == nil and 0 or whole(op, 'an integer offset', offset)
    return offset, d1 == nil and default1 or d1, d2 == nil and default2 or d2
  end

  -- diagonal([offset], [dim1], [dim2]) or diagonal({offset, dim1, dim2}):
  -- the elements [i, i + offset] of dims dim1 and dim2 (1 and 2 by
  -- default), those dims removed and the diagonal appended as the last,
  -- as PyTorch's; a copy, not PyTorch's view. Picked by index_select from
  -- the two dims flattened into one (a view when t is contiguous).
  function Tensor.diagonal(t, offset, d1, d2, ...)
    no_extra('diagonal', '([offset], [dim1], [dim2])', ...)
    local p = T(t, 'diagonal')
    if p.ndim < 2 then raise('diagonal: expected a tensor of 2 or more dims, got shape ' .. shape_str(t)) end
    local k
    k, d1, d2 = diag_args('diagonal', offset, d1, d2, 1, 2)
    local c1, c2 = pdim(d1, 'diagonal', p), pdim(d2, 'diagonal', p)
    if c1 == c2 then raise(('diagonal: dim1 %s and dim2 %s are the same dim'):format(describe(d1), describe(d2))) end
    local x = Tensor.movedim(t, { c1 + 1, c2 + 1 }, { p.ndim - 1, p.ndim })
    local s = sizes(p)
    local n, m = s[c1 + 1], s[c2 + 1]
    local len, first
    if k >= 0 then len, first = math.max(0, math.min(n, m - k)), k
    else len, first = math.max(0, math.min(n + k, m)), -k * m end
    local shape = {}
    for i = 1, p.ndim - 2 do shape[i] = tonumber(x.ptr.sizes[i - 1]) end
    shape[#shape + 1] = n * m
    return Tensor.index_select(Tensor.reshape(x, shape), -1, steps(len, first, m + 1))
  end
  nl.diagonal = Tensor.diagonal

  -- diag_embed([offset], [dim1], [dim2]) or diag_embed({...}): the last
  -- dim of t (n) as the offset-th diagonal of new (N, N) dims, N = n +
  -- |offset|, the rest 0, those dims at dim1 and dim2 (-2 and -1 by
  -- default) of the result, which has one dim more than t
  function Tensor.diag_embed(t, offset, d1, d2, ...)
    no_extra('diag_embed', '([offset], [dim1], [dim2])', ...)
    local p = T(t, 'diag_embed')
    if p.ndim < 1 then raise('diag_embed: expected a tensor of 1 or more dims, got a 0-dim tensor') end
    local k
    k, d1, d2 = diag_args('diag_embed', offset, d1, d2, -2, -1)
    local c1, c2 = pdim(d1, 'diag_embed', p, 1), pdim(d2, 'diag_embed', p, 1)
    if c1 == c2 then raise(('diag_embed: dim1 %s and dim2 %s are the same dim'):format(describe(d1), describe(d2))) end
    local s = sizes(p)
    local n = s[#s]
    local pad = math.abs(k)
    local big = n + pad
    if pad >= 2 ^ 31 or big * big * math.max(1, tonumber(p.numel) / math.max(n, 1)) >= 2 ^ 50 then
      raise(('diag_embed: offset %d makes too large a result for shape %s'):format(k, shape_str(t)))
    end
    local vals = t
    if pad > 0 then
      s[#s] = pad
      vals = nl.cat({ t, nl.zeros(s, DTYPE[p.dtype]) }, -1)
    end
    -- row i of the (N, N) dims holds vals[i] (offset >= 0), column j vals[j]
    vals = Tensor.unsqueeze(vals, k >= 0 and -1 or -2)
    local r = nl.where(band(big, big, k, 'eq'), vals, 0)
    return Tensor.movedim(r, { p.ndim, p.ndim + 1 }, { c1 + 1, c2 + 1 })
  end
  nl.diag_embed = Tensor.diag_embed

  -- diag([diagonal]): of a 1-D tensor, the square matrix with it on the
  -- diagonal-th diagonal; of a 2-D one, that diagonal as a 1-D tensor
  function Tensor.diag(t, k, ...)
    no_extra('diag', '([diagonal])', ...)
    local p = T(t, 'diag')
    k = k == nil and 0 or whole('diag', 'an integer diagonal', k)
    if p.ndim == 1 then return Tensor.diag_embed(t, k) end
    if p.ndim == 2 then return Tensor.diagonal(t, k) end
    raise('diag: expected a 1-D or 2-D tensor, got shape ' .. shape_str(t))
  end
  nl.diag = Tensor.diag

  -- trace(): the sum of a 2-D tensor's main diagonal, in its dtype
  function Tensor.trace(t, ...)
    no_extra('trace', '()', ...)
    if T(t, 'trace').ndim ~= 2 then raise('trace: expected a 2-D tensor, got shape ' .. shape_str(t)) end
    return Tensor.sum(Tensor.diagonal(t))
  end
  nl.trace = Tensor.trace

  -- ---- meshgrid -----------------------------------------------------------------------

  -- nl.meshgrid(t1, t2, ..., [{indexing}]) or nl.meshgrid({t1, t2, ...},
  -- [{indexing}]): a list of tensors of shape (n1, n2, ...), the i-th
  -- holding ti along dim i (0-dim or 1-D tensors of one dtype); indexing
  -- 'xy' swaps the first two dims, as numpy's. 'ij' by default, which is
  -- PyTorch 1.13's (it warns that it will change). Expanded views.
  function nl.meshgrid(...)
    local n, first = select('#', ...), ...
    local list, opts
    if n == 0 then raise('meshgrid: expected one or more tensors') end
    if type(first) == 'table' and not is_tensor(first) then
      if n > 2 then raise('meshgrid: give a list of tensors and options, or tensors one after another') end
      list, opts = first, select(2, ...)
    else
      list = { ... }
      local last = select(n, ...)
      if n > 0 and type(last) == 'table' and not is_tensor(last) then
        opts = last
        list[n] = nil
      end
    end
    local k = nl._list_len(list)
    if not k then argerror('meshgrid', 'tensors or a list of tensors', first) end
    if k == 0 then raise('meshgrid: expected one or more tensors') end
    opts = nl._opts('meshgrid', opts)
    nl._check_opts('meshgrid', opts, { indexing = 1 })
    local indexing = opts.indexing == nil and 'ij' or opts.indexing
    if indexing ~= 'ij' and indexing ~= 'xy' then
      raise(("meshgrid: indexing must be 'ij' or 'xy', got %s"):format(describe(indexing)))
    end
    local shape = {}
    for i = 1, k do
      local x = list[i]
      if not is_tensor(x) then argerror('meshgrid', 'a tensor as tensor ' .. i, x) end
      local p = T(x, 'meshgrid')
      if p.ndim > 1 then raise(('meshgrid: expected 0-dim or 1-D tensors, got shape %s as tensor %d'):format(shape_str(x), i)) end
      if p.dtype ~= list[1].ptr.dtype then
        raise(('meshgrid: tensors must have one dtype, got %s and %s'):format(DTYPE[list[1].ptr.dtype], DTYPE[p.dtype]))
      end
      shape[i] = tonumber(p.numel)
    end
    if k > 8 then raise('meshgrid: ' .. k .. ' tensors make ' .. k .. ' dims; tensors have at most 8') end
    local at = {}                 -- the dim tensor i runs along
    for i = 1, k do at[i] = i end
    if indexing == 'xy' and k >= 2 then
      at[1], at[2] = 2, 1
      shape[1], shape[2] = shape[2], shape[1]
    end
    local out = {}
    for i = 1, k do
      local v = {}
      for j = 1, k do v[j] = 1 end
      v[at[i]] = shape[at[i]]
      out[i] = Tensor.expand(Tensor.reshape(list[i], v), shape)
    end
    return out
  end

  -- ---- isclose, allclose, equal ---------------------------------------------------------

  -- (rtol, atol, equal_nan) from those or a table of PyTorch's keywords
  local function close_args(op, rtol, atol, equal_nan)
    rtol, atol, equal_nan = nl._opts_or_args(op, 'rtol atol equal_nan:flag', rtol, atol, equal_nan)
    rtol, atol = rtol == nil and 1e-5 or rtol, atol == nil and 1e-8 or atol
    for name, v in pairs({ rtol = rtol, atol = atol }) do
      if type(v) ~= 'number' or not (v >= 0) then
        raise(('%s: expected %s a number >= 0, got %s'):format(op, name, describe(v)))
      end
    end
    if equal_nan ~= nil and type(equal_nan) ~= 'boolean' then argerror(op, 'equal_nan as a boolean', equal_nan) end
    return rtol, atol, equal_nan == true
  end
  -- isclose(other, [rtol], [atol], [equal_nan]) or isclose(other, {...}):
  -- 1 where |t - other| <= atol + rtol * |other| (or t equals other, for
  -- the infinities), 0 elsewhere and at NaN (unless equal_nan, where both
  -- are NaN), as PyTorch's; of t's dtype (nnlua has no bool, as its
  -- comparisons); t and other of one dtype, broadcast; no gradient
  local function isclose(op, a, b, rtol, atol, equal_nan)
    local pa = T(a, op)
    if not is_tensor(b) then argerror(op, 'a tensor as other', b) end
    T(b, op)
    same_dtype(op, a, 'the tensor', b, 'other')
    broadcast(op, Tensor.shape(a), Tensor.shape(b), 'the tensor', 'other')
    rtol, atol, equal_nan = close_args(op, rtol, atol, equal_nan)
    return nl.no_grad(function()
      local close = Tensor.eq(a, b)
      if equal_nan then close = Tensor.maximum(close, Tensor.ne(a, a) * Tensor.ne(b, b)) end
      if rtol ~= 0 or atol ~= 0 then
        local err = Tensor.abs(a - b)
        local within = Tensor.le(err, Tensor.abs(b * rtol) + atol) * Tensor.lt(err, math.huge)
        close = Tensor.maximum(close, within)
      end
      return Tensor.to(close, DTYPE[pa.dtype])
    end)
  end
  function Tensor.isclose(t, other, rtol, atol, equal_nan, ...)
    no_extra('isclose', '(other, [rtol], [atol], [equal_nan])', ...)
    return isclose('isclose', t, other, rtol, atol, equal_nan)
  end
  -- allclose(...): isclose(...) everywhere, as a Lua boolean
  function Tensor.allclose(t, other, rtol, atol, equal_nan, ...)
    no_extra('allclose', '(other, [rtol], [atol], [equal_nan])', ...)
    local c = isclose('allclose', t, other, rtol, atol, equal_nan)
    return Tensor.item(Tensor.sum(Tensor.eq(c, 0):long())) == 0
  end
  -- equal(other): true when t and other have one shape and equal
  -- elements (dtypes promoted, NaN equal to nothing), as torch.equal
  function Tensor.equal(t, other, ...)
    no_extra('equal', '(other)', ...)
    local p = T(t, 'equal')
    if not is_tensor(other) then argerror('equal', 'a tensor as other', other) end
    local q = T(other, 'equal')
    if p.ndim ~= q.ndim then return false end
    for i = 0, p.ndim - 1 do if p.sizes[i] ~= q.sizes[i] then return false end end
    return nl.no_grad(function() return Tensor.item(Tensor.sum(Tensor.ne(t, other):long())) == 0 end)
  end
  nl.isclose, nl.allclose, nl.equal = Tensor.isclose, Tensor.allclose, Tensor.equal

  -- ---- cdist --------------------------------------------------------------------------

  local CDIST_MODES = { use_mm_for_euclid_dist_if_necessary = 0, use_mm_for_euclid_dist = 1,
                        donot_use_mm_for_euclid_dist = 2 }
  -- PyTorch's _euclidean_dist: |a|^2 - 2 a.b + |b|^2 by one matmul of
  -- padded rows, clamped at 0, then the root (with the gradient 0 at 0,
  -- as PyTorch's _euclidean_dist_backward masks it)
  local function euclid_mm(x1, x2)
    local n1 = Tensor.sum(x1 * x1, -1, true)
    local n2 = Tensor.sum(x2 * x2, -1, true)
    local a = nl.cat({ x1 * -2, n1, nl.ones(Tensor.shape(n1), Tensor.dtype(x1)) }, -1)
    local b = nl.cat({ x2, nl.ones(Tensor.shape(n2), Tensor.dtype(x2)), n2 }, -1)
    return nl._root_or_zero(Tensor.clamp(nl.matmul(a, Tensor.transpose(b, -1, -2)), 0), 2)
  end
  -- nl.cdist(x1, x2, [p], [compute_mode]) or nl.cdist(x1, x2, {p,
  -- compute_mode}): the p-norm distances (B.., P, R) between the rows of
  -- x1 (B.., P, M) and x2 (B.., R, M), batch dims broadcast, as PyTorch's:
  -- p >= 0 (0 counts the differing entries, inf takes the largest), the
  -- gradient 0 where a distance is 0. For p = 2 with more than 25 rows on
  -- either side (or compute_mode 'use_mm_for_euclid_dist') the distances
  -- come from one matmul, as PyTorch's (faster, less exact). Otherwise the
  -- differences (B.., P, R, M) are held in memory, each a float of x1's dtype.
  function nl.cdist(x1, x2, p, mode, ...)
    no_extra('cdist', '(x1, x2, [p], [compute_mode])', ...)
    p, mode = nl._opts_or_args('cdist', 'p compute_mode', p, mode)
    local a, b = float_tensor('cdist', x1, 'x1'), float_tensor('cdist', x2, 'x2')
    same_dtype('cdist', x1, 'x1', x2, 'x2')
    if a.ndim < 2 or b.ndim < 2 then
      raise(('cdist: expected x1 and x2 of 2 or more dims, got shapes %s and %s'):format(shape_str(x1), shape_str(x2)))
    end
    p = p == nil and 2 or p
    if type(p) ~= 'number' or not (p >= 0) then raise('cdist: expected p a number >= 0, got ' .. describe(p)) end
    local m = mode == nil and 0 or CDIST_MODES[mode]
    if not m then
      raise(("cdist: compute_mode must be 'use_mm_for_euclid_dist_if_necessary', 'use_mm_for_euclid_dist' or "
             .. "'donot_use_mm_for_euclid_dist', got %s"):format(describe(mode)))
    end
    local s1, s2 = sizes(a), sizes(b)
    local cols = s1[#s1]
    if cols ~= s2[#s2] then
      raise(('cdist: x1 and x2 must have the same number of columns, got shapes %s and %s'):format(shape_str(x1),
                                                                                                shape_str(x2)))
    end
    local r1, r2 = s1[#s1 - 1], s2[#s2 - 1]
    local b1, b2 = {}, {}
    for i = 1, #s1 - 2 do b1[i] = s1[i] end
    for i = 1, #s2 - 2 do b2[i] = s2[i] end
    local batch = broadcast('cdist', b1, b2, 'the batch dims of x1', 'the batch dims of x2')
    local out = {}
    for i, v in ipairs(batch) do out[i] = v end
    out[#out + 1], out[#out + 2] = r1, r2
    if #out > 8 then raise('cdist: the result would have more than 8 dims') end
    local count = 1
    for _, v in ipairs(out) do count = count * v end
    if count == 0 or cols == 0 then return with_zero_grad(nl.zeros(out, DTYPE[a.dtype]), { x1, x2 }) end
    if p == 2 and (m == 1 or m == 0 and (r1 > 25 or r2 > 25)) then
      local e1, e2 = {}, {}
      for i, v in ipairs(batch) do e1[i], e2[i] = v, v end
      e1[#e1 + 1], e1[#e1 + 2] = r1, cols
      e2[#e2 + 1], e2[#e2 + 2] = r2, cols
      return euclid_mm(Tensor.expand(x1, e1), Tensor.expand(x2, e2))
    end
    local d = Tensor.unsqueeze(x1, -2) - Tensor.unsqueeze(x2, -3)       -- (B.., P, R, M)
    local ad = Tensor.abs(d)
    if p == 0 then
      local q = nl.no_grad(function() return Tensor.sum(Tensor.ne(d, 0), -1) end)
      return with_zero_grad(q, { x1, x2 })
    elseif p == 1 then
      return Tensor.sum(ad, -1)
    elseif p == 2 then
      return nl._root_or_zero(Tensor.sum(d * d, -1), 2)
    elseif p == math.huge then
      -- the gradient sign(d) at every entry that ties for the largest, as
      -- PyTorch's: a term of value 0 (the ties' sum less itself unrecorded)
      -- carries it, where that sum is finite
      local top = nl.no_grad(function() return Tensor.max(ad, -1, true) end)
      local s = Tensor.sum(ad * Tensor.eq(ad, top), -1)
      local sd = s:detach()
      local dist = Tensor.squeeze(top, -1)
      return nl.where(Tensor.lt(Tensor.abs(sd), math.huge), dist + (s - sd), dist)
    end
    -- |d|^p with 0 at d = 0 and a zero gradient there (pow's slope at 0 is
    -- infinite below p = 1, and 0 * inf was NaN), as PyTorch's
    local z = Tensor.eq(d, 0)
    local powered = nl.where(z, 0, Tensor.pow(nl.where(z, 1, ad), p))
    return nl._root_or_zero(Tensor.sum(powered, -1), p)
  end

  -- ---- einsum -------------------------------------------------------------------------

  -- the labels of one term of an equation: letters, and '...' once as
  -- one '.' entry
  local function einsum_term(term, which)
    local labels, i, ell = {}, 1, false
    while i <= #term do
      local ch = term:sub(i, i)
      if ch:match('%a') then
        labels[#labels + 1] = ch
        i = i + 1
      elseif term:sub(i, i + 2) == '...' then
        if ell then raise(('einsum: more than one ellipsis (...) in %s'):format(which)) end
        ell = true
        labels[#labels + 1] = '.'
        i = i + 3
      elseif ch == '.' then
        raise(("einsum: found '.' in %s that is not part of an ellipsis (...)"):format(which))
      else
        raise(("einsum: invalid subscript %q in %s (subscripts are letters, and ... once)"):format(ch, which))
      end
    end
    return labels, ell
  end

  -- a list of (x, labels) operands to one: x summed over the labels that
  -- keep (a set) lacks; returns x, its labels
  local function sum_out(x, labels, keep)
    local drop, kept = {}, {}
    for i, l in ipairs(labels) do
      if keep[l] then kept[#kept + 1] = l else drop[#drop + 1] = i end
    end
    if #drop == 0 then return x, labels end
    return Tensor.sum(x, drop), kept
  end

  -- x permuted so that its labels come in the order of want (a list
  -- holding each of x's labels once)
  local function arranged(x, labels, want)
    local where, perm, same = {}, {}, true
    for i, l in ipairs(labels) do where[l] = i end
    for i, l in ipairs(want) do
      perm[i] = where[l]
      if perm[i] ~= i then same = false end
    end
    if same then return x end
    return Tensor.permute(x, perm)
  end

  -- two operands (x, labels, size of each label) contracted over the
  -- labels they share that needed (a set) lacks, by one batched matmul:
  -- x as (batch, left, shared), y as (batch, shared, right); with none to
  -- sum over, by a broadcast product
  local function contract(x, xl, y, yl, size, needed)
    local iny = {}
    for _, l in ipairs(yl) do iny[l] = true end
    local inx = {}
    for _, l in ipairs(xl) do inx[l] = true end
    local batch, left, shared, right = {}, {}, {}, {}
    for _, l in ipairs(xl) do
      if not iny[l] then left[#left + 1] = l
      elseif needed[l] then batch[#batch + 1] = l
      else shared[#shared + 1] = l end
    end
    for _, l in ipairs(yl) do if not inx[l] then right[#right + 1] = l end end
    local function dims(...)
      local shape, n = {}, 1
      for _, group in ipairs({ ... }) do
        for _, l in ipairs(group) do
          shape[#shape + 1] = size[l]
        end
      end
      for _, v in ipairs(shape) do n = n * v end
      return shape, n
    end
    local function order(...)
      local o = {}
      for _, group in ipairs({ ... }) do for _, l in ipairs(group) do o[#o + 1] = l end end
      return o
    end
    -- size-1 dims broadcast against the other operand's: expanded first
    local xs, ys = {}, {}
    for _, l in ipairs(order(batch, left, shared)) do xs[#xs + 1] = size[l] end
    for _, l in ipairs(order(batch, shared, right)) do ys[#ys + 1] = size[l] end
    x = Tensor.expand(arranged(x, xl, order(batch, left, shared)), xs)
    y = Tensor.expand(arranged(y, yl, order(batch, shared, right)), ys)
    local _, nb = dims(batch)
    local _, nl_ = dims(left)
    local _, ns = dims(shared)
    local _, nr = dims(right)
    local r
    if #shared == 0 then
      -- nothing to sum: the products broadcast (a matmul of k = 1 each)
      r = Tensor.reshape(x, nb, nl_, 1) * Tensor.reshape(y, nb, 1, nr)
    elseif #batch == 0 then
      r = nl.matmul(Tensor.reshape(x, nl_, ns), Tensor.reshape(y, ns, nr))
    else
      r = nl.matmul(Tensor.reshape(x, nb, nl_, ns), Tensor.reshape(y, nb, ns, nr))
    end
    local outl = order(batch, left, right)
    local shape = dims(batch, left, right)
    if #shape > 8 then raise('einsum: an intermediate result would have more than 8 dims') end
    return Tensor.reshape(r, shape), outl
  end

  -- nl.einsum(equation, t1, t2, ...) or nl.einsum(equation, {t1, t2,
  -- ...}): PyTorch's einsum. Terms of letters (case matters) and one
  -- '...' each, separated by commas; '->' and the output's term, or
  -- none: then the ellipsis dims and the letters that appear once, in
  -- ASCII order (upper case first), as PyTorch's. A letter repeated in one
  -- term takes the diagonal; letters not in the output are summed;
  -- size-1 dims broadcast. Each operand is first summed over the letters
  -- only it has, then they are contracted left to right, each pair by one
  -- (batched) matmul over the letters they share, of one dtype; no
  -- search for a cheaper order (PyTorch 1.13 asks opt_einsum for one
  -- where it is installed).
  function nl.einsum(eq, ...)
    if type(eq) ~= 'string' then argerror('einsum', 'an equation string first', eq) end
    local ops = { ... }
    if select('#', ...) == 1 and type(ops[1]) == 'table' and not is_tensor(ops[1]) then ops = ops[1] end
    local nops = nl._list_len(ops)
    if not nops then argerror('einsum', 'tensors or a list of tensors after the equation', ...) end
    local src = eq:gsub('%s', '')
    local lhs, rhs = src:match('^(.-)%->(.*)$')
    if not lhs then lhs = src end
    if rhs and rhs:find('->', 1, true) then raise("einsum: more than one '->' in the equation") end
    local terms = {}
    for term in (lhs .. ','):gmatch('([^,]*),') do terms[#terms + 1] = term end
    if #terms ~= nops then
      raise(('einsum: the equation %q has %d operand%s, got %d tensor%s'):format(eq, #terms, #terms == 1 and '' or 's',
                                                                              nops, nops == 1 and '' or 's'))
    end
    if nops == 0 then raise('einsum: expected one or more tensors') end
    -- each operand's labels, the ellipsis as '.1' .. '.E' right-aligned
    local xs, labels, count = {}, {}, {}
    local nell = 0
    local parsed = {}
    for k = 1, nops do
      local x = ops[k]
      if not is_tensor(x) then argerror('einsum', 'a tensor as operand ' .. k, x) end
      local p = T(x, 'einsum')
      if p.dtype ~= ops[1].ptr.dtype then
        raise(('einsum: operands must have one dtype, got %s (operand 1) and %s (operand %d)'):format(
          DTYPE[ops[1].ptr.dtype], DTYPE[p.dtype], k))
      end
      local ls, ell = einsum_term(terms[k], 'operand ' .. k)
      local letters = #ls - (ell and 1 or 0)
      if (ell and p.ndim < letters) or (not ell and p.ndim ~= letters) then
        raise(('einsum: operand %d has %d dims (shape %s), but its term %q names %s%d'):format(k, p.ndim,
          shape_str(x), terms[k], ell and 'at least ' or '', letters))
      end
      parsed[k] = { ls = ls, ne = p.ndim - letters }
      if p.ndim - letters > nell then nell = p.ndim - letters end
    end
    local size = {}
    for k = 1, nops do
      local x, ls, ne = ops[k], parsed[k].ls, parsed[k].ne
      local full = {}
      for _, l in ipairs(ls) do
        if l == '.' then
          for e = nell - ne + 1, nell do full[#full + 1] = '.' .. e end
        else
          full[#full + 1] = l
        end
      end
      -- (counted as written: 'ii' is a trace, whose i appears twice)
      for _, l in ipairs(full) do count[l] = (count[l] or 0) + 1 end
      -- a label twice in one operand: the diagonal of those dims
      local s = sizes(x.ptr)
      local i = 1
      while i <= #full do
        local l, dup = full[i], nil
        for j = i + 1, #full do if full[j] == l then dup = j; break end end
        if dup then
          if s[i] ~= s[dup] then
            raise(('einsum: subscript %s is repeated for operand %d but the sizes differ, %d and %d'):format(l, k,
                                                                                                        s[i], s[dup]))
          end
          x = Tensor.diagonal(x, 0, i, dup)
          table.remove(full, dup)
          table.remove(full, i)
          full[#full + 1] = l
          s = sizes(x.ptr)
        else
          i = i + 1
        end
      end
      for j, l in ipairs(full) do
        local v = s[j]
        if size[l] == nil or size[l] == 1 then size[l] = v
        elseif v ~= 1 and v ~= size[l] then
          raise(('einsum: subscript %s has size %d for operand %d, which does not broadcast with size %d before'):format(
            l:sub(1, 1) == '.' and '...' or l, v, k, size[l]))
        end
      end
      xs[k], labels[k] = x, full
    end
    -- the output's labels
    local out = {}
    if rhs then
      local ls = einsum_term(rhs, 'the output')
      local seen = {}
      for _, l in ipairs(ls) do
        if l == '.' then
          for e = 1, nell do out[#out + 1] = '.' .. e end
        else
          if seen[l] then raise(('einsum: output subscript %s appears more than once'):format(l)) end
          if not count[l] then raise(('einsum: output subscript %s appears in no operand'):format(l)) end
          seen[l] = true
          out[#out + 1] = l
        end
      end
    else
      for e = 1, nell do out[#out + 1] = '.' .. e end
      local once = {}
      for l, c in pairs(count) do if c == 1 and l:sub(1, 1) ~= '.' then once[#once + 1] = l end end
      table.sort(once)
      for _, l in ipairs(once) do out[#out + 1] = l end
    end
    if #out > 8 then raise('einsum: the output would have more than 8 dims') end
    local in_out = {}
    for _, l in ipairs(out) do in_out[l] = true end
    -- the labels each operand k shares with the output or operands after it
    local function needed_after(k)
      local need = {}
      for l in pairs(in_out) do need[l] = true end
      for j = k + 1, nops do for _, l in ipairs(labels[j]) do need[l] = true end end
      return need
    end
    local x, xl = sum_out(xs[1], labels[1], needed_after(1))
    for k = 2, nops do
      local need = needed_after(k)
      local keep_x, keep_y = {}, {}
      for l in pairs(need) do keep_x[l], keep_y[l] = true, true end
      for _, l in ipairs(labels[k]) do keep_x[l] = true end
      for _, l in ipairs(xl) do keep_y[l] = true end
      x, xl = sum_out(x, xl, keep_x)
      local y, yl = sum_out(xs[k], labels[k], keep_y)
      x, xl = contract(x, xl, y, yl, size, need)
    end
    x, xl = sum_out(x, xl, in_out)
    -- dims of size 1 broadcast to an output label's size
    local shape = {}
    for i, l in ipairs(out) do shape[i] = size[l] end
    local r = arranged(x, xl, out)
    return Tensor.expand(r, shape)
  end

  -- ---- addmm, addmv, baddbmm, addbmm -------------------------------------------------------

  -- beta * input + alpha * product, as PyTorch's: beta 0 ignores input
  -- (NaN in it too, and gives it a zero gradient), alpha 0 the product;
  -- input must expand to the product's shape; one dtype; whole beta and
  -- alpha for int64 (PyTorch cuts a fraction silently)
  local function scaled_sum(op, input, prod_fn, want, mats, opts)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { beta = 1, alpha = 1 })
    local beta, alpha = opts.beta == nil and 1 or opts.beta, opts.alpha == nil and 1 or opts.alpha
    if type(beta) ~= 'number' then argerror(op, 'a number as beta', beta) end
    if type(alpha) ~= 'number' then argerror(op, 'a number as alpha', alpha) end
    local ip = T(input, op)
    for _, m in ipairs(mats) do same_dtype(op, input, 'input', m[1], m[2]) end
    if ip.dtype == 2 and (beta ~= math.floor(beta) or alpha ~= math.floor(alpha)) then
      raise(('%s: beta %s and alpha %s must be whole numbers for int64 tensors'):format(op, describe(beta),
                                                                                     describe(alpha)))
    end
    local s = sizes(ip)
    local fits = #s <= #want
    for i = 1, fits and #s or 0 do
      local v = s[#s - i + 1]
      fits = fits and (v == 1 or v == want[#want - i + 1])
    end
    if not fits then
      raise(('%s: input of shape %s does not expand to the shape [%s] of the product'):format(op, shape_str(input),
                                                                                          table.concat(want, ',')))
    end
    -- alpha 0: zeros in place of the product, the matrices' gradient zero
    -- (0 * a NaN or inf of theirs made NaN where PyTorch gives input)
    local prod
    if alpha == 0 then
      local list = {}
      for i, m in ipairs(mats) do list[i] = m[1] end
      prod = with_zero_grad(nl.zeros(want, Tensor.dtype(input)), list)
    else
      prod = prod_fn()
      if alpha ~= 1 then prod = prod * alpha end
    end
    if beta == 0 then return with_zero_grad(Tensor.expand(prod, want), { input }) end
    return (beta == 1 and input or input * beta) + prod
  end
  local function need_dims(op, x, what, n)
    if not is_tensor(x) then argerror(op, 'a tensor as ' .. what, x) end
    if T(x, op).ndim ~= n then
      raise(('%s: expected %s to be %d-D, got shape %s'):format(op, what, n, shape_str(x)))
    end
    return sizes(x.ptr)
  end

  -- addmm(mat1, mat2, [{beta, alpha}]): beta * t + alpha * (mat1 @ mat2),
  -- mat1 (n, m), mat2 (m, p), t expanding to (n, p)
  function Tensor.addmm(t, m1, m2, opts, ...)
    no_extra('addmm', '(mat1, mat2, [{beta, alpha}])', ...)
    T(t, 'addmm')
    local a, b = need_dims('addmm', m1, 'mat1', 2), need_dims('addmm', m2, 'mat2', 2)
    if a[2] ~= b[1] then
      raise(('addmm: mat1 %s and mat2 %s cannot be multiplied'):format(shape_str(m1), shape_str(m2)))
    end
    return scaled_sum('addmm', t, function() return nl.matmul(m1, m2) end, { a[1], b[2] },
                      { { m1, 'mat1' }, { m2, 'mat2' } }, opts)
  end
  -- addmv(mat, vec, [{beta, alpha}]): beta * t + alpha * (mat @ vec), mat
  -- (n, m), vec (m), t expanding to (n)
  function Tensor.addmv(t, m, v, opts, ...)
    no_extra('addmv', '(mat, vec, [{beta, alpha}])', ...)
    T(t, 'addmv')
    local a, b = need_dims('addmv', m, 'mat', 2), need_dims('addmv', v, 'vec', 1)
    if a[2] ~= b[1] then
      raise(('addmv: mat %s and vec %s cannot be multiplied'):format(shape_str(m), shape_str(v)))
    end
    return scaled_sum('addmv', t, function() return nl.matmul(m, v) end, { a[1] },
                      { { m, 'mat' }, { v, 'vec' } }, opts)
  end
  -- the sizes of batch1 (b, n, m) and batch2 (b, m, p), checked for op
  local function batches(op, b1, b2)
    local a, b = need_dims(op, b1, 'batch1', 3), need_dims(op, b2, 'batch2', 3)
    if a[1] ~= b[1] or a[3] ~= b[2] then
      raise(('%s: batch1 %s and batch2 %s cannot be multiplied (expected (b, n, m) and (b, m, p))'):format(op,
        shape_str(b1), shape_str(b2)))
    end
    return a, b
  end
  -- baddbmm(batch1, batch2, [{beta, alpha}]): beta * t + alpha *
  -- (batch1 @ batch2), batch1 (b, n, m), batch2 (b, m, p), t expanding
  -- to (b, n, p)
  function Tensor.baddbmm(t, b1, b2, opts, ...)
    no_extra('baddbmm', '(batch1, batch2, [{beta, alpha}])', ...)
    T(t, 'baddbmm')
    local a, b = batches('baddbmm', b1, b2)
    return scaled_sum('baddbmm', t, function() return nl.matmul(b1, b2) end, { a[1], a[2], b[3] },
                      { { b1, 'batch1' }, { b2, 'batch2' } }, opts)
  end
  -- addbmm(batch1, batch2, [{beta, alpha}]): beta * t + alpha * the sum
  -- over b of batch1[b] @ batch2[b], t expanding to (n, p): one matmul of
  -- (n, b * m) by (b * m, p)
  function Tensor.addbmm(t, b1, b2, opts, ...)
    no_extra('addbmm', '(batch1, batch2, [{beta, alpha}])', ...)
    T(t, 'addbmm')
    local a, b = batches('addbmm', b1, b2)
    return scaled_sum('addbmm', t, function()
      return nl.matmul(Tensor.reshape(Tensor.permute(b1, 2, 1, 3), a[2], a[1] * a[3]),
                       Tensor.reshape(b2, b[1] * b[2], b[3]))
    end, { a[2], b[3] }, { { b1, 'batch1' }, { b2, 'batch2' } }, opts)
  end
  nl.addmm, nl.addmv, nl.baddbmm, nl.addbmm = Tensor.addmm, Tensor.addmv, Tensor.baddbmm, Tensor.addbmm

  -- Each op above as itself, but an error raised inside it by an op it is
  -- made of names it first: repeat_interleave(2^40) failed as "reshape: out
  -- of memory allocating [2,1099511627776] int64", which named no op the
  -- caller wrote; now "repeat_interleave: reshape: out of memory ...".
  -- (nl._as_op: tensor_more.lua and tensor_combine.lua, loaded after this
  -- file, wrap their ops in it too; every result is passed on)
  local function named(op, ok, ...)
    if ok then return ... end
    local msg = tostring((...))
    -- (the caller's position: a script without .lua, or nnlua -e's
    -- '(command line):1: ', kept it and named it twice)
    msg = msg:match('^[^\n]-%.lua:%d+: (.*)$') or msg:match('^%[string [^\n]-%]:%d+: (.*)$')
          or msg:match('^[^:\n]+:%d+: (.*)$') or msg
    -- (an in-place op's message from the op it runs, 'atan2: ...', is
    -- renamed: it was prefixed, 'atan2_: atan2: ...')
    local base = op:match('^(.-)_$')
    if base and msg:sub(1, #base + 1) == base .. ':' then msg = op .. msg:sub(#base + 1) end
    if msg:sub(1, #op + 1) ~= op .. ':' then msg = op .. ': ' .. msg end
    raise(msg)
  end
  local function as_op(op, f)
    return function(...) return named(op, pcall(f, ...)) end
  end
  nl._as_op = as_op
  nl._scaled_sum = scaled_sum      -- (tensor_compat.lua's addr)
  for _, name in ipairs({ 'logsumexp', 'tril', 'triu', 'flip', 'fliplr', 'flipud', 'roll', 'repeat_interleave',
                          'outer', 'lerp', 'diag', 'diagonal', 'diag_embed', 'trace', 'isclose', 'allclose',
                          'equal', 'addmm', 'addmv', 'baddbmm', 'addbmm' }) do
    Tensor[name] = as_op(name, Tensor[name])
    nl[name] = Tensor[name]
  end
  for _, name in ipairs({ 'meshgrid', 'cdist', 'einsum' }) do nl[name] = as_op(name, nl[name]) end
end
