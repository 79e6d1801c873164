-- tensor_combine.lua: PyTorch 1.13's functions that combine, split and
-- index tensors: cross, tensordot, kron, block_diag, cartesian_prod,
-- combinations, tril_indices, triu_indices, diff, gradient, rot90, vander,
-- atleast_1d/2d/3d, broadcast_tensors, hstack, vstack, row_stack, dstack,
-- column_stack, tensor_split, hsplit, vsplit, dsplit, isin and
-- unravel_index (torch 2.2's). Each is composed of existing ops, so
-- autograd follows it; the index outputs count from 1. scatter_reduce and
-- index_reduce (a C kernel) are in tensor_scatter.lua. Loaded lazily
-- after the other Tensor extras (init.lua's TENSOR_EXTRAS).
return function(nl)
  local Tensor = nl.Tensor
  local T, raise, argerror, cdim = nl._T, nl._raise, nl._argerror, nl._cdim
  local is_tensor, shape_str, describe = nl.is_tensor, nl._shape_str, nl._describe_arg
  local result_dtype, broadcast = nl._result_dtype, nl._broadcast_shape

  local function no_extra(op, takes, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
  end
  local function tensor_arg(op, x, what)
    if not is_tensor(x) then argerror(op, 'a tensor' .. (what and ' as ' .. what or ''), x) end
    T(x, op)
    return x
  end
  -- dim d (Lua, negative from the end) of x as a positive Lua dim
  local function dim_of(op, x, d, more)
    local p = T(x, op)
    local c = cdim(d, op, p, more)
    return c < 0 and c + math.max(p.ndim + (more or 0), 1) + 1 or c + 1
  end
  local function whole(op, what, v, lo)
    if type(v) ~= 'number' or v ~= math.floor(v) or v < (lo or -2 ^ 53) or v > 2 ^ 53 then
      raise(('%s: expected %s, got %s'):format(op, what, describe(v)))
    end
    return v
  end
  -- f as op: an error an inner op raises names op first (tensor_linalg.lua's)
  local as_op = nl._as_op
  -- the tensors of a call f(t1, t2, ...) or f({t1, t2, ...}), each checked
  local function tensors_of(op, ...)
    local first = ...
    local list = select('#', ...) == 1 and type(first) == 'table' and not is_tensor(first) and first or { ... }
    local n = nl._list_len(list)
    if not n then argerror(op, 'tensors or a list of tensors', first) end
    for i = 1, n do
      if not is_tensor(list[i]) then raise(('%s: element %d is not a tensor (%s)'):format(op, i, describe(list[i]))) end
      T(list[i], op)
    end
    return list, n
  end
  -- the list's tensors converted to their promoted dtype
  local function promoted(list)
    local dt = result_dtype(unpack(list))
    local out = {}
    for i, x in ipairs(list) do out[i] = Tensor.dtype(x) == dt and x or Tensor.to(x, dt) end
    return out, dt
  end
  local function prod(s, from, to)
    local n = 1
    for i = from or 1, to or #s do n = n * s[i] end
    return n
  end

  -- ---- products -----------------------------------------------------------------------

  -- a:cross(b, [dim]): the cross product of 3-vectors along dim (a and b
  -- broadcast; by default the first dim of a of size 3, as 1.13's)
  Tensor.cross = as_op('cross', function(a, b, d, ...)
    no_extra('cross', '(other, [dim])', ...)
    tensor_arg('cross', a)
    tensor_arg('cross', b, 'other')
    local shape = broadcast('cross', a, b)
    local as = Tensor.shape(a)
    if d == nil then
      for i = 1, #as do if as[i] == 3 then d = i + #shape - #as break end end
      if d == nil then raise('cross: no dim of size 3 in the input of shape ' .. shape_str(a)) end
    else
      -- (a dim of the broadcast shape)
      local n = #shape
      if type(d) ~= 'number' or d ~= math.floor(d) or d == 0 or d > n or d < -n then
        raise(('cross: dim %s out of range for shape [%s] (dims 1 to %d, or -1 to -%d)'):format(describe(d),
          table.concat(shape, ','), n, n))
      end
      d = d < 0 and d + n + 1 or d
    end
    local bs = Tensor.shape(b)
    if (as[d - #shape + #as] or 1) ~= 3 or (bs[d - #shape + #bs] or 1) ~= 3 then
      raise(('cross: dim %d must have size 3 in both inputs, got shapes %s and %s'):format(d, shape_str(a), shape_str(b)))
    end
    local x, y = unpack((promoted({ a, b })))
    x, y = Tensor.expand(x, shape), Tensor.expand(y, shape)
    local x1, x2, x3 = Tensor.narrow(x, d, 1, 1), Tensor.narrow(x, d, 2, 1), Tensor.narrow(x, d, 3, 1)
    local y1, y2, y3 = Tensor.narrow(y, d, 1, 1), Tensor.narrow(y, d, 2, 1), Tensor.narrow(y, d, 3, 1)
    return nl.cat({ x2 * y3 - x3 * y2, x3 * y1 - x1 * y3, x1 * y2 - x2 * y1 }, d)
  end)
  nl.cross = Tensor.cross

  -- nl.tensordot(a, b, [dims]): the sum over dims of a paired with dims of
  -- b; dims a number n (a's last n with b's first n; 2 by default) or a
  -- pair of lists {{dims of a}, {dims of b}} (1-based, negative from the
  -- end); the free dims of a, then those of b. One matmul.
  local function dim_list(op, x, v, what)
    if type(v) == 'number' then v = { v } end
    local n = nl._list_len(v)
    if not n then argerror(op, 'a list of dims as ' .. what, v) end
    local out, seen = {}, {}
    for i = 1, n do
      local d = dim_of(op, x, v[i])
      if seen[d] then raise(('%s: dim %s appears twice in %s'):format(op, describe(v[i]), what)) end
      seen[d], out[i] = true, d
    end
    return out, seen
  end
  nl.tensordot = as_op('tensordot', function(a, b, dims, ...)
    no_extra('tensordot', '(a, b, [dims])', ...)
    tensor_arg('tensordot', a)
    tensor_arg('tensordot', b)
    local as, bs = Tensor.shape(a), Tensor.shape(b)
    local da, db
    if dims == nil then dims = 2 end
    if type(dims) == 'number' then
      whole('tensordot', 'dims a number of 0 or more, or a pair of lists of dims', dims, 0)
      if dims > #as or dims > #bs then
        raise(('tensordot: cannot contract %d dims of shapes %s and %s'):format(dims, shape_str(a), shape_str(b)))
      end
      da, db = {}, {}
      for i = 1, dims do da[i], db[i] = #as - dims + i, i end
    else
      if type(dims) ~= 'table' or is_tensor(dims) or nl._list_len(dims) ~= 2 then
        argerror('tensordot', 'dims a number or a pair of lists of dims', dims)
      end
      da = dim_list('tensordot', a, dims[1], 'the dims of a')
      db = dim_list('tensordot', b, dims[2], 'the dims of b')
      if #da ~= #db then
        raise(('tensordot: %d dims of a against %d dims of b'):format(#da, #db))
      end
    end
    local used_a, used_b = {}, {}
    for i = 1, #da do
      if as[da[i]] ~= bs[db[i]] then
        raise(('tensordot: dim %d of a (size %d) and dim %d of b (size %d) differ, shapes %s and %s'):format(
          da[i], as[da[i]], db[i], bs[db[i]], shape_str(a), shape_str(b)))
      end
      used_a[da[i]], used_b[db[i]] = true, true
    end
    local pa, pb, out_shape, m, k, n = {}, {}, {}, 1, 1, 1
    for i = 1, #as do if not used_a[i] then pa[#pa + 1] = i; out_shape[#out_shape + 1] = as[i]; m = m * as[i] end end
    for i = 1, #da do pa[#pa + 1] = da[i]; k = k * as[da[i]] end
    for i = 1, #db do pb[#pb + 1] = db[i] end
    for i = 1, #bs do if not used_b[i] then pb[#pb + 1] = i; out_shape[#out_shape + 1] = bs[i]; n = n * bs[i] end end
    local x, y = unpack((promoted({ a, b })))
    if #pa > 0 then x = Tensor.permute(x, pa) end
    if #pb > 0 then y = Tensor.permute(y, pb) end
    local r = nl.matmul(Tensor.reshape(x, m, k), Tensor.reshape(y, k, n))
    return Tensor.reshape(r, out_shape)
  end)

  -- nl.kron(a, b): the Kronecker product, a's shape times b's (the
  -- shorter padded with leading 1s)
  nl.kron = as_op('kron', function(a, b, ...)
    no_extra('kron', '(a, b)', ...)
    tensor_arg('kron', a)
    tensor_arg('kron', b, 'other')
    local as, bs = Tensor.shape(a), Tensor.shape(b)
    local nd = math.max(#as, #bs)
    local sa, sb, out = {}, {}, {}
    for i = 1, nd do
      local x, y = as[i - nd + #as] or 1, bs[i - nd + #bs] or 1
      sa[2 * i - 1], sa[2 * i] = x, 1
      sb[2 * i - 1], sb[2 * i] = 1, y
      out[i] = x * y
    end
    if nd == 0 then return a * b end
    return Tensor.reshape(Tensor.reshape(a, sa) * Tensor.reshape(b, sb), out)
  end)
  Tensor.kron = nl.kron

  -- ---- building matrices and index lists ------------------------------------------------

  -- nl.block_diag(t1, t2, ...) (or a list): the tensors (0-D, 1-D as a
  -- row, 2-D) on the diagonal of a matrix of zeros, of their promoted dtype
  nl.block_diag = as_op('block_diag', function(...)
    local list, n = tensors_of('block_diag', ...)
    if n == 0 then return nl.zeros(1, 0) end
    local blocks, dt = promoted(list)
    local width = 0
    for i, x in ipairs(blocks) do
      local nd = Tensor.dim(x)
      if nd > 2 then
        raise(('block_diag: expected tensors of 2 or fewer dims, got shape %s as tensor %d'):format(shape_str(x), i))
      end
      if nd < 2 then blocks[i] = Tensor.reshape(x, 1, Tensor.numel(x)) end
      width = width + Tensor.size(blocks[i], 2)
    end
    local rows, left = {}, 0
    for i, x in ipairs(blocks) do
      local r, c = Tensor.size(x, 1), Tensor.size(x, 2)
      local parts = {}
      if left > 0 then parts[#parts + 1] = nl.zeros({ r, left }, dt) end
      parts[#parts + 1] = x
      if width - left - c > 0 then parts[#parts + 1] = nl.zeros({ r, width - left - c }, dt) end
      rows[i] = #parts == 1 and x or nl.cat(parts, 2)
      left = left + c
    end
    return n == 1 and Tensor.clone(rows[1]) or nl.cat(rows, 1)
  end)

  -- nl.cartesian_prod(t1, t2, ...) (or a list): every combination of one
  -- element of each 1-D tensor, one row each, in row-major order
  nl.cartesian_prod = as_op('cartesian_prod', function(...)
    local list, n = tensors_of('cartesian_prod', ...)
    if n == 0 then raise('cartesian_prod: expected one or more tensors') end
    for i = 1, n do
      if Tensor.dim(list[i]) ~= 1 then
        raise(('cartesian_prod: expected 1-D tensors, got shape %s as tensor %d'):format(shape_str(list[i]), i))
      end
    end
    if n == 1 then return list[1] end
    local grids = nl.meshgrid(list, { indexing = 'ij' })
    for i = 1, n do grids[i] = Tensor.reshape(grids[i], -1) end
    return nl.stack(grids, 2)
  end)

  -- nl.combinations(t, [r], [with_replacement]): the r-element
  -- combinations of a 1-D t's elements (r = 2), one row each, in
  -- lexicographic order of their places
  nl.combinations = as_op('combinations', function(t, r, with_replacement, ...)
    no_extra('combinations', '(t, [r], [with_replacement])', ...)
    if type(r) == 'table' and with_replacement == nil then
      nl._check_opts('combinations', r, { r = 1, with_replacement = 'flag' })
      r, with_replacement = r.r, r.with_replacement
    end
    tensor_arg('combinations', t)
    if Tensor.dim(t) ~= 1 then raise('combinations: expected a 1-D tensor, got shape ' .. shape_str(t)) end
    r = r == nil and 2 or whole('combinations', 'r a whole number of 0 or more', r, 0)
    if with_replacement ~= nil and type(with_replacement) ~= 'boolean' then
      argerror('combinations', 'with_replacement as a boolean', with_replacement)
    end
    if r == 0 then return Tensor.narrow(t, 1, 1, 0) * 1 end
    local n = Tensor.numel(t)
    -- the number of rows, C(n, r) or C(n + r - 1, r), checked before any
    -- is made: a Lua loop made one row at a time (combinations(t, 5) of
    -- 10000 elements ran for hours, r = 1e7 overflowed the stack)
    local top = with_replacement and n + r - 1 or n
    local count = 1
    if r > top then count = 0 end
    local k = math.min(r, top - r)    -- at most n
    for i = 1, k do
      if count == 0 or count == math.huge then break end
      count = count * (top - k + i) / i
    end
    count = math.floor(count + 0.5)
    if count == 0 then return Tensor.reshape(Tensor.narrow(t, 1, 1, 0) * 1, 0, r) end
    if count * r > 2 ^ 46 then
      raise(('combinations: C(%d, %d) = %s rows of %d elements are too many'):format(top, r,
        count >= 2 ^ 53 and ('%.4g'):format(count) or ('%d'):format(count), r))
    end
    -- the rows' places, one column added at a time: each row so far
    -- beside every place past its last (or from it, with_replacement),
    -- which keeps the rows in lexicographic order
    local idx = Tensor.reshape(nl.arange(1, n + 1, 'int64'), n, 1)
    local places = Tensor.reshape(nl.arange(1, n + 1, 'int64'), 1, n, 1)
    for j = 2, r do
      local m = Tensor.size(idx, 1)
      local last = Tensor.narrow(idx, 2, j - 1, 1)
      local keep = with_replacement and Tensor.ge(places, Tensor.unsqueeze(last, 2))
                   or Tensor.gt(places, Tensor.unsqueeze(last, 2))
      local pairs3 = nl.cat({ Tensor.expand(Tensor.unsqueeze(idx, 2), m, n, j - 1),
                              Tensor.expand(places, m, n, 1) }, 3)
      idx = Tensor.reshape(Tensor.masked_select(pairs3, Tensor.expand(keep, m, n, j)), -1, j)
    end
    return Tensor.reshape(Tensor.index_select(t, 1, Tensor.reshape(idx, -1)), count, r)
  end)

  -- nl.tril_indices(rows, cols, [offset]) and triu_indices: the 1-based
  -- (row, col) places of the lower (upper) triangle of a rows x cols
  -- matrix, offset above (below) the main diagonal, as a (2, N) int64
  -- tensor in row-major order
  for _, name in ipairs({ 'tril_indices', 'triu_indices' }) do
    nl[name] = as_op(name, function(rows, cols, offset, ...)
      no_extra(name, '(rows, cols, [offset])', ...)
      whole(name, 'a number of rows of 0 or more', rows, 0)
      whole(name, 'a number of columns of 0 or more', cols, 0)
      offset = offset == nil and 0 or whole(name, 'a whole offset', offset)
      if rows == 0 or cols == 0 then return nl.zeros({ 2, 0 }, 'int64') end
      local i = Tensor.expand(Tensor.reshape(nl.arange(1, rows + 1, 'int64'), rows, 1), rows, cols)
      local j = Tensor.expand(Tensor.reshape(nl.arange(1, cols + 1, 'int64'), 1, cols), rows, cols)
      local mask = name == 'tril_indices' and Tensor.le(j - i, offset) or Tensor.ge(j - i, offset)
      return nl.stack({ Tensor.masked_select(i, mask), Tensor.masked_select(j, mask) }, 1)
    end)
  end

  -- ---- differences ----------------------------------------------------------------------

  -- t:diff([n], [dim], [prepend], [append]) or t:diff({n, dim, prepend,
  -- append}): the n-th forward difference along dim (-1), prepend and
  -- append joined at its ends first
  Tensor.diff = as_op('diff', function(t, n, d, prepend, append, ...)
    no_extra('diff', '([n], [dim], [prepend], [append])', ...)
    n, d, prepend, append = nl._opts_or_args('diff', 'n dim prepend append', n, d, prepend, append)
    tensor_arg('diff', t)
    if Tensor.dim(t) == 0 then raise('diff: expected a tensor of 1 or more dims, got a 0-dim tensor') end
    n = n == nil and 1 or whole('diff', 'n a whole number of 0 or more', n, 0)
    d = dim_of('diff', t, d == nil and -1 or d)
    local parts = {}
    for _, e in ipairs({ { prepend, 'prepend' }, { t }, { append, 'append' } }) do
      local x = e[1]
      if x ~= nil then
        tensor_arg('diff', x, e[2])
        if e[2] and Tensor.dim(x) ~= Tensor.dim(t) then
          raise(('diff: %s of shape %s must have as many dims as the input of shape %s'):format(e[2], shape_str(x),
                                                                                                shape_str(t)))
        end
        parts[#parts + 1] = x
      end
    end
    local x = #parts == 1 and t or nl.cat((promoted(parts)), d)
    for _ = 1, n do
      local len = Tensor.size(x, d)
      if len == 0 then break end
      x = Tensor.narrow(x, d, 2, len - 1) - Tensor.narrow(x, d, 1, len - 1)
    end
    return x
  end)
  nl.diff = Tensor.diff

  -- nl.gradient(t, [{spacing, dim, edge_order}]): a list of the estimated
  -- derivatives of t along each dim (all, or dim: one or a list) by
  -- central differences inside and one-sided ones (of edge_order 1 or 2)
  -- at the ends; spacing a number, a number per dim or a 1-D tensor of
  -- coordinates per dim. Int64 input gives float32. PyTorch's formulas.
  local GRADIENT_KNOWN = { spacing = 1, dim = 1, edge_order = 1 }
  nl.gradient = as_op('gradient', function(t, opts, ...)
    no_extra('gradient', '(t, [{spacing, dim, edge_order}])', ...)
    tensor_arg('gradient', t)
    opts = nl._opts('gradient', opts)
    nl._check_opts('gradient', opts, GRADIENT_KNOWN)
    local nd = Tensor.dim(t)
    if nd == 0 then raise('gradient: expected a tensor of 1 or more dims, got a 0-dim tensor') end
    local dims = {}
    if opts.dim == nil then
      for i = 1, nd do dims[i] = i end
    else
      dims = dim_list('gradient', t, opts.dim, 'dim')
    end
    local edge = opts.edge_order == nil and 1 or opts.edge_order
    if edge ~= 1 and edge ~= 2 then raise('gradient: edge_order must be 1 or 2, got ' .. describe(edge)) end
    local sp = opts.spacing == nil and 1 or opts.spacing
    local spacing = {}
    if type(sp) == 'number' then
      for i = 1, #dims do spacing[i] = sp end
    elseif is_tensor(sp) then
      argerror('gradient', 'spacing a number, a list of numbers or a list of 1-D tensors', sp)
    else
      local k = nl._list_len(sp)
      if not k then argerror('gradient', 'spacing a number, a list of numbers or a list of 1-D tensors', sp) end
      if k ~= #dims then
        raise(('gradient: spacing has %d entries, expected one for each of the %d dims'):format(k, #dims))
      end
      for i = 1, k do
        if type(sp[i]) ~= 'number' and not is_tensor(sp[i]) then
          argerror('gradient', 'numbers or 1-D tensors as spacing', sp[i])
        end
        spacing[i] = sp[i]
      end
    end
    local x = Tensor.dtype(t) == 'int64' and Tensor.to(t, nl._default_float()) or t
    local shape = Tensor.shape(t)
    local out = {}
    for i, d in ipairs(dims) do
      local n = shape[d]
      if n < edge + 1 then
        raise(('gradient: dim %d of shape %s has size %d, expected at least edge_order + 1 = %d'):format(
          d, shape_str(t), n, edge + 1))
      end
      local function sl(from, len) return Tensor.narrow(x, d, from, len) end
      local h = spacing[i]
      local pre, center, app
      if type(h) == 'number' then
        center = (sl(3, n - 2) - sl(1, n - 2)) / h / 2
        if edge == 1 then
          pre = (sl(2, 1) - sl(1, 1)) / h
          app = (sl(n, 1) - sl(n - 1, 1)) / h
        else
          pre = (-1.5 * sl(1, 1) + 2 * sl(2, 1) - 0.5 * sl(3, 1)) / h
          app = (0.5 * sl(n - 2, 1) - 2 * sl(n - 1, 1) + 1.5 * sl(n, 1)) / h
        end
      else
        if Tensor.dim(h) ~= 1 or Tensor.numel(h) ~= n then
          raise(('gradient: the coordinates for dim %d have shape %s, expected [%d]'):format(d, shape_str(h), n))
        end
        if Tensor.dtype(h) == 'int64' then h = Tensor.to(h, nl._default_float()) end
        local dx = Tensor.diff(h)
        local dx1, dx2 = Tensor.narrow(dx, 1, 1, n - 2), Tensor.narrow(dx, 1, 2, n - 2)
        local cs = {}
        for q = 1, nd do cs[q] = q == d and n - 2 or 1 end
        local a = Tensor.reshape(-dx2 / (dx1 * (dx1 + dx2)), cs)
        local b = Tensor.reshape((dx2 - dx1) / (dx1 * dx2), cs)
        local c = Tensor.reshape(dx1 / (dx2 * (dx1 + dx2)), cs)
        center = a * sl(1, n - 2) + b * sl(2, n - 2) + c * sl(3, n - 2)
        local one = {}
        for q = 1, nd do one[q] = 1 end
        local function at(k) return Tensor.reshape(Tensor.narrow(dx, 1, k, 1), one) end
        local d0, d1, dl, dm = at(1), at(math.min(2, n - 1)), at(n - 1), at(math.max(n - 2, 1))
        if edge == 1 then
          pre = (sl(2, 1) - sl(1, 1)) / d0
          app = (sl(n, 1) - sl(n - 1, 1)) / dl
        else
          pre = -(2.0 * d0 + d1) / (d0 * (d0 + d1)) * sl(1, 1) + (d0 + d1) / (d0 * d1) * sl(2, 1)
                + -d0 / (d1 * (d0 + d1)) * sl(3, 1)
          app = dl / (dm * (dl + dm)) * sl(n - 2, 1) + -(dl + dm) / (dl * dm) * sl(n - 1, 1)
                + (2 * dl + dm) / (dl * (dl + dm)) * sl(n, 1)
        end
      end
      out[i] = nl.cat({ pre, center, app }, d)
    end
    return out
  end)

  -- t:rot90([k], [dims]): rotated by k quarter turns (1) in the plane of
  -- dims ({1, 2}), from the first dim toward the second
  Tensor.rot90 = as_op('rot90', function(t, k, dims, ...)
    no_extra('rot90', '([k], [dims])', ...)
    tensor_arg('rot90', t)
    k = k == nil and 1 or whole('rot90', 'k a whole number', k)
    dims = dims == nil and { 1, 2 } or dims
    local n = nl._list_len(dims)
    if not n or is_tensor(dims) then argerror('rot90', 'dims a list of two dims', dims) end
    if n ~= 2 then raise(('rot90: expected two dims to rotate in, got %d'):format(n)) end
    if Tensor.dim(t) < 2 then raise('rot90: expected a tensor of 2 or more dims, got shape ' .. shape_str(t)) end
    local d1, d2 = dim_of('rot90', t, dims[1]), dim_of('rot90', t, dims[2])
    if d1 == d2 then raise(('rot90: the two dims must differ, got %d and %d'):format(dims[1], dims[2])) end
    k = k % 4
    if k == 1 then return Tensor.transpose(Tensor.flip(t, d2), d1, d2)
    elseif k == 2 then return Tensor.flip(t, d1, d2)
    elseif k == 3 then return Tensor.transpose(Tensor.flip(t, d1), d1, d2) end
    return Tensor.clone(t)
  end)
  nl.rot90 = Tensor.rot90

  -- nl.vander(x, [N], [increasing]): the Vandermonde matrix of a 1-D x,
  -- columns x^(N-1) .. x^0 (x^0 .. x^(N-1) when increasing), N = #x by
  -- default; made of products, so the gradient is right at 0
  nl.vander = as_op('vander', function(x, N, increasing, ...)
    no_extra('vander', '(x, [N], [increasing])', ...)
    if type(N) == 'table' and increasing == nil then
      nl._check_opts('vander', N, { N = 1, increasing = 'flag' })
      N, increasing = N.N, N.increasing
    end
    tensor_arg('vander', x)
    if Tensor.dim(x) ~= 1 then raise('vander: expected a 1-D tensor, got shape ' .. shape_str(x)) end
    local n = Tensor.numel(x)
    N = N == nil and n or whole('vander', 'N a whole number of 0 or more', N, 0)
    if increasing ~= nil and type(increasing) ~= 'boolean' then argerror('vander', 'increasing as a boolean', increasing) end
    if N == 0 then return nl.zeros({ n, 0 }, Tensor.dtype(x)) end
    -- the output's size checked first, as the allocation checks it: a
    -- column was made at a time in a Lua loop, so a huge N ran on for
    -- minutes (or, of an empty x, without end) before any error
    if math.max(n, 1) * N > 2 ^ 46 then
      raise(('vander: output [%d,%d] of x %s is too large'):format(n, N, shape_str(x)))
    end
    -- the powers as PyTorch 1.13 makes them: the running product of a
    -- column of ones and N - 1 copies of x
    local cols = nl.cat({ nl.ones({ n, 1 }, Tensor.dtype(x)), Tensor.expand(Tensor.unsqueeze(x, 2), n, N - 1) }, 2)
    local out = Tensor.cumprod(cols, 2)
    if not increasing then out = Tensor.flip(out, { 2 }) end
    return out
  end)

  -- ---- dims and stacking -----------------------------------------------------------------

  -- nl.atleast_1d(t) (2d, 3d): t viewed with at least that many dims (a
  -- 0-D as 1s; 1-D (n) as (1, n) and (1, n, 1); 2-D (m, n) as (m, n, 1));
  -- of several tensors (or a list), a list
  local ATLEAST = {
    [1] = function(s) return #s == 0 and { 1 } or nil end,
    [2] = function(s) return #s == 0 and { 1, 1 } or #s == 1 and { 1, s[1] } or nil end,
    [3] = function(s)
      return #s == 0 and { 1, 1, 1 } or #s == 1 and { 1, s[1], 1 } or #s == 2 and { s[1], s[2], 1 } or nil
    end,
  }
  local function atleast(k, x)
    local s = ATLEAST[k](Tensor.shape(x))
    return s and Tensor.reshape(x, s) or x
  end
  for k = 1, 3 do
    local name = 'atleast_' .. k .. 'd'
    nl[name] = as_op(name, function(...)
      local single = select('#', ...) == 1 and is_tensor((...))
      local list, n = tensors_of(name, ...)
      if single then return atleast(k, list[1]) end
      local out = {}
      for i = 1, n do out[i] = atleast(k, list[i]) end
      return out
    end)
    Tensor[name] = function(t, ...)
      no_extra(name, '()', ...)
      return nl[name](t)
    end
  end

  -- nl.broadcast_tensors(t1, t2, ...) (or a list): a list of the tensors
  -- expanded (views) to their broadcast shape
  nl.broadcast_tensors = as_op('broadcast_tensors', function(...)
    local list, n = tensors_of('broadcast_tensors', ...)
    local shape = broadcast('broadcast_tensors', unpack(list, 1, n))
    local out = {}
    for i = 1, n do out[i] = Tensor.expand(list[i], shape) end
    return out
  end)

  -- nl.broadcast_to(t, shape), t:broadcast_to(shape): t expanded (a
  -- view) to shape, a list of sizes (-1 keeps t's size), as expand
  Tensor.broadcast_to = as_op('broadcast_to', function(t, shape, ...)
    no_extra('broadcast_to', '(shape)', ...)
    tensor_arg('broadcast_to', t)
    if type(shape) == 'number' then shape = { shape } end
    if type(shape) ~= 'table' or is_tensor(shape) or not nl._list_len(shape) then
      argerror('broadcast_to', 'a list of sizes as shape', shape)
    end
    for i = 1, #shape do whole('broadcast_to', 'sizes of -1 or more in shape', shape[i], -1) end
    local ok, r = pcall(Tensor.expand, t, shape)
    if ok then return r end
    raise('broadcast_to: ' .. (tostring(r):match('expand: (.*)$') or tostring(r)))
  end)
  nl.broadcast_to = Tensor.broadcast_to
  -- nl.split(t, size or {sizes}, [dim]) and nl.chunk(t, n, [dim]): the methods' function forms
  nl.split, nl.chunk = Tensor.split, Tensor.chunk

  -- nl.hstack(list), vstack (row_stack), dstack, column_stack: cat of the
  -- promoted tensors along dim 2 (1 for 1-D ones), 1, 3 (after
  -- atleast_2d, atleast_3d) and 2 (0-D and 1-D ones as columns)
  local function stacker(name, prep, dim_for)
    nl[name] = as_op(name, function(list, ...)
      no_extra(name, '(list)', ...)
      if type(list) ~= 'table' or is_tensor(list) then argerror(name, 'a list of tensors', list) end
      local ts, n = tensors_of(name, list)
      if n == 0 then raise(name .. ': expected a non-empty list of tensors') end
      local xs = promoted(ts)
      for i = 1, n do xs[i] = prep(xs[i]) end
      return nl.cat(xs, dim_for(xs))
    end)
  end
  stacker('hstack', function(x) return atleast(1, x) end, function(xs) return Tensor.dim(xs[1]) == 1 and 1 or 2 end)
  stacker('vstack', function(x) return atleast(2, x) end, function() return 1 end)
  nl.row_stack = nl.vstack
  stacker('dstack', function(x) return atleast(3, x) end, function() return 3 end)
  stacker('column_stack', function(x)
    return Tensor.dim(x) <= 1 and Tensor.reshape(x, Tensor.numel(x), 1) or x
  end, function() return 2 end)

  -- ---- splits ---------------------------------------------------------------------------

  -- t:tensor_split(sections or {indices}, [dim]): a list of views along
  -- dim (1): n sections of sizes differing by at most 1 (the first ones
  -- larger), or pieces that start at each 1-based index (negative from
  -- the end; PyTorch's index i is i + 1 here), the first from 1; an index
  -- past the end, or below the previous one, gives empty pieces. A 0-D
  -- int64 tensor is a number of sections, a 1-D one a list of indices.
  local function split_at(op, t, d, starts)
    local n = Tensor.size(t, d)
    local out, prev = {}, 0
    for i = 1, #starts + 1 do
      local s = starts[i]
      local e
      if s == nil then e = n
      else
        whole(op, 'whole-number indices', s)
        if s == 0 then raise(op .. ': index 0 is invalid (indices start at 1)') end
        e = s > 0 and s - 1 or s + n
        e = math.max(0, math.min(n, e))
      end
      local from = math.min(prev, n)
      out[i] = Tensor.narrow(t, d, from + 1, math.max(0, e - from))
      prev = e
    end
    return out
  end
  local function sections(op, t, d, k)
    whole(op, 'a number of sections of 1 or more', k, 1)
    local n = Tensor.size(t, d)
    local base, extra = math.floor(n / k), n % k
    local starts, at = {}, 1
    for i = 1, k - 1 do
      at = at + base + (i <= extra and 1 or 0)
      starts[i] = at
    end
    return split_at(op, t, d, starts)
  end
  local function split_arg(op, v)
    if is_tensor(v) then
      if Tensor.dtype(v) ~= 'int64' or Tensor.dim(v) > 1 then
        raise(('%s: expected a 0-D or 1-D int64 tensor of sections or indices, got %s %s'):format(op,
          Tensor.dtype(v), shape_str(v)))
      end
      if Tensor.dim(v) == 0 then return Tensor.item(v) end
      return Tensor.totable(v)
    end
    if type(v) == 'table' and not nl._list_len(v) then argerror(op, 'a number of sections or a list of indices', v) end
    if type(v) ~= 'table' and type(v) ~= 'number' then argerror(op, 'a number of sections or a list of indices', v) end
    return v
  end
  Tensor.tensor_split = as_op('tensor_split', function(t, v, d, ...)
    no_extra('tensor_split', '(sections or indices, [dim])', ...)
    tensor_arg('tensor_split', t)
    if Tensor.dim(t) == 0 then raise('tensor_split: a 0-dim tensor has no dim to split') end
    v = split_arg('tensor_split', v)
    d = dim_of('tensor_split', t, d == nil and 1 or d)
    if type(v) == 'number' then return sections('tensor_split', t, d, v) end
    return split_at('tensor_split', t, d, v)
  end)
  nl.tensor_split = Tensor.tensor_split
  -- hsplit (dim 2, 1 for a 1-D t), vsplit (dim 1, 2 or more dims) and
  -- dsplit (dim 3, 3 or more dims): a number of sections must divide the
  -- dim's size
  for _, e in ipairs({ { 'hsplit', 1, 2 }, { 'vsplit', 2, 1 }, { 'dsplit', 3, 3 } }) do
    local name, min_dims, dim = e[1], e[2], e[3]
    Tensor[name] = as_op(name, function(t, v, ...)
      no_extra(name, '(sections or indices)', ...)
      tensor_arg(name, t)
      local nd = Tensor.dim(t)
      if nd < min_dims then
        raise(('%s: expected a tensor of %d or more dims, got shape %s'):format(name, min_dims, shape_str(t)))
      end
      local d = (name == 'hsplit' and nd == 1) and 1 or dim
      v = split_arg(name, v)
      if type(v) == 'number' then
        whole(name, 'a number of sections of 1 or more', v, 1)
        if Tensor.size(t, d) % v ~= 0 then
          raise(('%s: dim %d of shape %s (size %d) cannot be split into %d equal sections'):format(name, d,
            shape_str(t), Tensor.size(t, d), v))
        end
        return sections(name, t, d, v)
      end
      return split_at(name, t, d, v)
    end)
    nl[name] = Tensor[name]
  end

  -- ---- membership and indices ------------------------------------------------------------

  -- nl.isin(elements, test_elements, [{invert, assume_unique}]): 1 where
  -- an element is among test_elements, else 0 (invert: the other way), of
  -- elements' shape and the promoted dtype (no bool); either may be a
  -- number. A sort of test_elements and a binary search for each element.
  nl.isin = as_op('isin', function(e, test, opts, ...)
    no_extra('isin', '(elements, test_elements, [{invert, assume_unique}])', ...)
    opts = nl._opts('isin', opts)
    nl._check_opts('isin', opts, { invert = 'flag', assume_unique = 'flag' })
    for _, x in ipairs({ { e, 'elements' }, { test, 'test_elements' } }) do
      if is_tensor(x[1]) then T(x[1], 'isin')
      elseif type(x[1]) ~= 'number' then argerror('isin', 'a tensor or a number as ' .. x[2], x[1]) end
    end
    if not is_tensor(e) and not is_tensor(test) then argerror('isin', 'a tensor among the arguments', e) end
    local dt = result_dtype(e, test)
    e = is_tensor(e) and Tensor.to(e, dt) or nl.tensor(e, dt)
    test = is_tensor(test) and Tensor.to(test, dt) or nl.tensor({ test }, dt)
    e, test = Tensor.detach(e), Tensor.detach(test)
    local shape, m = Tensor.shape(e), Tensor.numel(test)
    local found
    local sorted = m > 0 and Tensor.sort(Tensor.reshape(test, -1)) or nil
    if sorted and dt ~= 'int64' then
      -- NaN is in no set (the search fails on a NaN among the sorted
      -- numbers); sort puts them last, so only the numbers are searched
      m = Tensor.item(Tensor.sum(Tensor.eq(sorted, sorted)))
      sorted = Tensor.narrow(sorted, 1, 1, m)
    end
    if m == 0 or Tensor.numel(e) == 0 then
      found = nl.zeros(shape, dt)
    else
      local flat = Tensor.reshape(e, -1)
      local pos = Tensor.clamp(nl.searchsorted(sorted, flat), 1, m)
      found = Tensor.reshape(Tensor.eq(Tensor.index_select(sorted, 1, pos), flat), shape)
    end
    if opts.invert then found = 1 - found end
    return found
  end)

  -- nl.unravel_index(indices, shape): the 1-based places in a tensor of
  -- shape of its 1-based flat (row-major) indices (a number, a list or an
  -- int64 tensor), a list of one int64 tensor of the indices' shape per
  -- dim (torch 2.2's, 1-based; an index outside 1..numel is an error)
  nl.unravel_index = as_op('unravel_index', function(idx, shape, ...)
    no_extra('unravel_index', '(indices, shape)', ...)
    if type(idx) == 'number' or (type(idx) == 'table' and not is_tensor(idx)) then
      -- (a fraction would be cut to an integer without a word by the int64 conversion)
      local function check(v)
        if type(v) == 'table' then for i = 1, #v do check(v[i]) end
        else whole('unravel_index', 'whole-number indices', v) end
      end
      check(idx)
      idx = nl.tensor(idx, 'int64')
    elseif is_tensor(idx) then
      if Tensor.dtype(idx) ~= 'int64' then
        raise(('unravel_index: expected int64 indices, got %s %s'):format(Tensor.dtype(idx), shape_str(idx)))
      end
    else
      argerror('unravel_index', 'indices as an int64 tensor, a number or a list', idx)
    end
    if type(shape) == 'number' then shape = { shape } end
    local k = nl._list_len(shape)
    if not k or is_tensor(shape) then argerror('unravel_index', 'shape a list of sizes', shape) end
    for i = 1, k do whole('unravel_index', 'sizes of 0 or more in shape', shape[i], 0) end
    local numel = prod(shape)
    if Tensor.numel(idx) > 0 then
      local lo, hi = Tensor.item(Tensor.min(idx)), Tensor.item(Tensor.max(idx))
      if lo < 1 or hi > numel then
        raise(('unravel_index: index %d out of range 1 to %d for shape [%s]'):format(lo < 1 and lo or hi, numel,
          table.concat(shape, ',')))
      end
    end
    local out = {}
    if Tensor.numel(idx) == 0 then
      for d = 1, k do out[d] = Tensor.clone(Tensor.detach(idx)) end
      return out
    end
    local r = Tensor.detach(idx) - 1
    for d = k, 1, -1 do
      out[d] = nl.remainder(r, shape[d]) + 1
      r = nl.floor_divide(r, shape[d])
    end
    return out
  end)
end
