-- unpool.lua: nn.MaxUnpool1d/2d/3d and nn.functional.max_unpool1d/2d/3d,
-- PyTorch 1.13's partial inverse of the max pools: each input value goes
-- to the place its index names in a zero output. The indices are those
-- the max pools return here (int64, 1-based positions in each channel's
-- spatial block). A scatter along the flattened spatial dims, so
-- autograd gives the backward (the output's gradient gathered at the
-- indices).
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional

  local whole, describe = nn._whole, nn._describe
  local DIMS = { 'L', 'H, W', 'D, H, W' }

  -- the sizes of an op over the dims named in dims ({'h', 'w'}): one
  -- number for all, or a list of one per dim; each a whole number >= lo,
  -- or, with number, any number (a ratio). Also fractional_pool.lua's.
  local function sizes(v, dims, what, op, lo, number)
    local n, t = #dims, {}
    if type(v) == 'number' then
      for i = 1, n do t[i] = v end
    elseif type(v) == 'table' and not nl.is_tensor(v) and #v == n then
      for i = 1, n do t[i] = v[i] end
    end
    local ok = #t == n
    for i = 1, n do ok = ok and type(t[i]) == 'number' and (number or whole(t[i], lo)) end
    if not ok then
      nl._raise(('%s: %s must be %s or a list {%s} of them, got %s'):format(op, what,
        number and 'a number' or 'an integer >= ' .. lo, table.concat(dims, ', '), describe(v)))
    end
    return t
  end
  nn._sizes = sizes
  local DIM_NAMES = { { 'l' }, { 'h', 'w' }, { 'd', 'h', 'w' } }

  -- the kernel, stride (default: the kernel) and padding of an n-D unpool
  local function geometry(op, n, kernel_size, stride, padding)
    local dims = DIM_NAMES[n]
    local k = sizes(kernel_size, dims, 'kernel_size', op, 1)
    local s = sizes(stride == nil and kernel_size or stride, dims, 'stride', op, 1)
    local p = sizes(padding or 0, dims, 'padding', op, 0)
    return { k = k, s = s, p = p }
  end

  -- the output's spatial sizes: (in - 1) * stride - 2 * padding + kernel,
  -- or output_size (the spatial sizes, or with N and C before them), each
  -- strictly within stride of that, as PyTorch's _unpool_output_size
  local function output_sizes(op, n, x, g, output_size)
    local d = x:dim()
    local default = {}
    for i = 1, n do default[i] = (x:size(d - n + i) - 1) * g.s[i] - 2 * g.p[i] + g.k[i] end
    if output_size == nil then return default end
    local list = output_size
    if nl.is_tensor(list) or type(list) ~= 'table' then
      nl._raise(('%s: output_size must be a list of %d or %d sizes, got %s'):format(op, n, n + 2, describe(list)))
    end
    if #list == n + 2 then list = { unpack(list, 3) } end
    if #list ~= n then
      nl._raise(('%s: output_size must be a list of %d or %d sizes, got %d'):format(op, n, n + 2, #output_size))
    end
    for i = 1, n do
      local lo, hi = default[i] - g.s[i], default[i] + g.s[i]
      if not whole(list[i], 0) or list[i] <= lo or list[i] >= hi then
        nl._raise(('%s: invalid output_size %s for input shape %s (dim %d must be between %d and %d, exclusive)'):format(
          op, describe(output_size), nl._shape_str(x), i, lo, hi))
      end
    end
    return list
  end

  -- x and indices (N, C, *) or (C, *), * n spatial dims, of one shape;
  -- a zero output of the spatial sizes with x's values where indices name
  local function unpool(op, n, x, indices, g, output_size)
    nl._T(x, op)
    nl._T(indices, op)
    local d = x:dim()
    if d ~= n + 1 and d ~= n + 2 then
      nl._raise(('%s: expected input (N, C, %s) or (C, %s), got shape %s'):format(op, DIMS[n], DIMS[n],
        nl._shape_str(x)))
    end
    nl._float_only(x, op)
    if indices:dtype() ~= 'int64' then
      nl._raise(('%s: indices must be int64 (the max pool\'s), got %s %s'):format(op, indices:dtype(),
        nl._shape_str(indices)))
    end
    if nl._shape_str(indices) ~= nl._shape_str(x) then
      nl._raise(('%s: indices shape %s differs from input shape %s'):format(op, nl._shape_str(indices),
        nl._shape_str(x)))
    end
    local out = output_sizes(op, n, x, g, output_size)
    local lead, shape = {}, {}
    for i = 1, d - n do lead[i] = x:size(i); shape[i] = x:size(i) end
    local m = 1
    for i = 1, n do m = m * out[i]; shape[d - n + i] = out[i] end
    -- the output's size, checked here as the allocation checks it (each
    -- dim at least 1, at most 2^46 elements), so that the error names op
    local cells = 1
    for i = 1, d do cells = cells * math.max(shape[i], 1) end
    if cells > 2 ^ 46 then
      local sizes = {}
      for i = 1, n do sizes[i] = ('%d'):format(out[i]) end
      nl._raise(('%s: output size [%s] of input %s is too large'):format(op, table.concat(sizes, ','),
        nl._shape_str(x)))
    end
    if x:numel() == 0 then return nl.zeros(shape, x:dtype()) + x:sum() * 0 end
    local flat = { unpack(lead) }
    flat[#flat + 1] = -1
    local flat_idx = indices:reshape(flat)
    local lo, hi = flat_idx:min():item(), flat_idx:max():item()
    if lo < 1 or hi > m then
      nl._raise(('%s: index %d is outside the output\'s %d positions (output size [%s] for input shape %s)'):format(
        op, lo < 1 and lo or hi, m, table.concat(out, ','), nl._shape_str(x)))
    end
    lead[#lead + 1] = m
    local zeros = nl.zeros(lead, x:dtype())
    return zeros:scatter(d - n + 1, flat_idx, x:reshape(flat)):reshape(shape)
  end

  local KNOWN = { stride = 1, padding = 1, output_size = 1 }
  local ARGS = { 'stride', 'padding', 'output_size' }

  for n = 1, 3 do
    local fname, cname = 'max_unpool' .. n .. 'd', 'MaxUnpool' .. n .. 'd'

    -- F.max_unpool<n>d(x, indices, kernel_size, stride, padding,
    -- output_size), or (x, indices, kernel_size, {stride, padding,
    -- output_size})
    F[fname] = function(x, indices, kernel_size, opts, ...)
      opts = nn._positional_options(fname, '(input, indices, kernel_size', ARGS, KNOWN, opts, ...)
      local g = geometry(fname, n, kernel_size, opts.stride, opts.padding)
      return unpool(fname, n, x, indices, g, opts.output_size)
    end

    local cls = Module:extend(cname)
    nn[cname] = cls

    -- MaxUnpool<n>d(kernel_size, stride, padding), or (kernel_size,
    -- {stride, padding})
    function cls:init(kernel_size, stride, padding, ...)
      nl._no_extra_args(cname, '(kernel_size, stride, padding)', nil, ...)
      if nl._list_len(stride) ~= n then   -- (a list of n is the stride)
        stride, padding = nl._opts_or_args(cname, 'stride padding', stride, padding)
      end
      local g = geometry(cname, n, kernel_size, stride, padding)
      self.kernel_size, self.stride, self.padding = g.k, g.s, g.p
    end

    -- m(x, indices, output_size)
    function cls:forward(x, indices, output_size, ...)
      nl._no_extra_args(cname, '(input, indices, output_size)', nil, ...)
      return unpool(cname, n, x, indices, { k = self.kernel_size, s = self.stride, p = self.padding }, output_size)
    end

    -- PyTorch's: MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)), (2,) in 1-D
    function cls:extra_repr()
      local function tup(t) return '(' .. table.concat(t, ', ') .. (n == 1 and ',)' or ')') end
      return ('kernel_size=%s, stride=%s, padding=%s'):format(tup(self.kernel_size), tup(self.stride),
        tup(self.padding))
    end
  end
end
