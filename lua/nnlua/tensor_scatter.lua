-- tensor_scatter.lua: PyTorch 1.13's t:scatter_reduce(dim, index, src,
-- reduce, {include_self}) and t:index_reduce(dim, index, source, reduce,
-- {include_self}), with their in-place forms. The values come from one C
-- kernel (nl_scatter_reduce, src/tensor.c), which records no node; the
-- gradients are PyTorch 1.13's: sum and mean through scatter_add (so
-- autograd follows them), prod, amax and amin through a first-order
-- nl.autograd.Function whose backward is scatter_reduce_backward's
-- (the gradient of equal maxima shared evenly). index_reduce is
-- scatter_reduce by the index expanded to the source's shape. Loaded
-- lazily after the other Tensor extras (init.lua's TENSOR_EXTRAS).
local ffi = require 'ffi'

return function(nl)
  local lib, Tensor = nl._lib, nl.Tensor
  local wrap, T, raise, argerror, cdim, check = nl._wrap, nl._T, nl._raise, nl._argerror, nl._cdim, nl._check
  local is_tensor, describe, shape_str = nl.is_tensor, nl._describe_arg, nl._shape_str
  local REDUCE = { sum = 0, prod = 1, mean = 2, amax = 3, amin = 4 }

  local function grad_on() return lib.nl_is_grad_enabled() ~= 0 end
  local function requires(x) return bit.band(x.ptr.flags, 1) ~= 0 end
  local function index_arg(op, idx)
    if type(idx) == 'table' and not is_tensor(idx) then
      local function whole(list)
        for i = 1, #list do
          local v = list[i]
          if type(v) == 'table' then whole(v)
          elseif type(v) ~= 'number' or v ~= math.floor(v) then
            raise(('%s: expected whole-number indices, got %s'):format(op, describe(v)))
          end
        end
      end
      whole(idx)
      return nl.tensor(idx, 'int64')
    end
    if not is_tensor(idx) then argerror(op, 'an int64 tensor (or a list) as index', idx) end
    return idx
  end

  -- the C kernel; its errors renamed to op
  local function kernel(op, t, c, idx, src, code, include_self)
    local r = lib.nl_scatter_reduce(T(t, op), c, T(idx, op), T(src, op), code, include_self and 1 or 0, 1)
    if r == nil then raise((ffi.string(lib.nl_error()):gsub('^scatter_reduce:', op .. ':'))) end
    return wrap(r)
  end

  -- x (index's shape, a part of src's) padded with zeros to src's shape
  local function pad_to(x, shape, dt)
    local xs = Tensor.shape(x)
    for q = 1, #shape do
      if xs[q] < shape[q] then
        local zs = {}
        for k = 1, #shape do zs[k] = xs[k] end
        zs[q] = shape[q] - xs[q]
        x = nl.cat({ x, nl.zeros(zs, dt) }, q)
        xs[q] = shape[q]
      end
    end
    return x
  end
  -- src's part of index's shape
  local function part_of(src, idx)
    local s, is = Tensor.shape(src), Tensor.shape(idx)
    for q = 1, #s do if is[q] < s[q] then src = Tensor.narrow(src, q, 1, is[q]) end end
    return src
  end

  -- scatter_reduce_backward of PyTorch 1.13 for prod, amax and amin: the
  -- gradients of t and src from g, the result r and the saved inputs
  local function backward_of(op, d, code, include_self, t, src, idx, r, g)
    local dt = Tensor.dtype(g)
    local sp = part_of(src, idx)
    local gt, gs
    if code == REDUCE.prod then
      local masked_self = Tensor.masked_fill(t, Tensor.eq(t, 0), 1)
      local msr = kernel(op, masked_self, d - 1, idx, src, code, include_self)
      gt = g * msr / masked_self
      local src_zero = Tensor.eq(sp, 0)
      local zeros_at = Tensor.gather(Tensor.scatter_add(nl.zeros(Tensor.shape(t), dt), d, idx, src_zero), d, idx)
      local single = src_zero * Tensor.eq(zeros_at, 1)
      local masked_src = Tensor.masked_fill(sp, single, 1)
      local mrs = kernel(op, t, d - 1, idx, masked_src, code, include_self)
      gs = nl.where(single, Tensor.gather(g * mrs, d, idx),
                    Tensor.gather(g * r, d, idx) / Tensor.masked_fill(sp, src_zero, 1))
    else
      local value = Tensor.gather(r, d, idx)
      local self_is, src_is = Tensor.eq(t, r), Tensor.eq(sp, value)
      local n = Tensor.scatter_add(self_is, d, idx, src_is)
      local shared = g / n
      gt = self_is * shared
      gs = src_is * Tensor.gather(shared, d, idx)
    end
    if not include_self then gt = Tensor.scatter(gt, d, idx, 0) end
    return gt, pad_to(gs, Tensor.shape(src), dt)
  end

  local surrogate
  local function reduced_fn()
    if surrogate then return surrogate end
    surrogate = nl.autograd.Function('scatter_reduce', {
      forward = function(ctx, t, src, idx, m)
        local r = kernel(m.op, t, m.d - 1, idx, src, m.code, m.include_self)
        ctx:save_for_backward(t, src, idx, r)
        ctx.m = m
        return r
      end,
      backward = function(ctx, g)
        local m = ctx.m
        if grad_on() then   -- the create_graph walk runs backward in grad mode
          error(("with create_graph: %s's reduce '%s' has no differentiable backward yet (first order only)"):format(
            m.op, m.name), 0)
        end
        local t, src, idx, r = ctx:saved_tensors()
        local gt, gs = backward_of(m.op, m.d, m.code, m.include_self, t, src, idx, r, g)
        return ctx.needs_input_grad[1] and gt or nil, ctx.needs_input_grad[2] and gs or nil, nil, nil
      end,
    })
    return surrogate
  end

  local function include_self_of(op, opts)
    if opts == nil then return true end
    if type(opts) == 'boolean' then return opts end
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { include_self = 'flag' })
    return opts.include_self ~= false
  end

  -- t:scatter_reduce(dim, index, src, reduce, [{include_self}]): a copy
  -- of t with each src value reduced into its place at index along dim
  -- ('sum', 'prod', 'mean', 'amax', 'amin'); include_self false leaves
  -- t's values out of the places written (default true)
  -- a 0-dim tensor, index or source as one of shape [1], as PyTorch 1.13
  -- takes them (dim 1 or -1 of a 0-dim tensor; the result 0-dim as t)
  -- (op names a released one: T without it raised 'attempt to concatenate')
  local function as_one(x, op)
    if is_tensor(x) and T(x, op).ndim == 0 then return Tensor.reshape(x, { 1 }) end
    return x
  end
  -- (its errors give t's shape as [], the shape the caller sees)
  local function of_0dim(f, op, t, d, idx, src, reduce, opts)
    local ok, r = pcall(f, op, Tensor.reshape(t, { 1 }), d, as_one(idx, op), as_one(src, op), reduce, opts)
    if ok then return Tensor.reshape(r, {}) end
    local msg = tostring(r):gsub('^[^\n]-:%d+: ', '', 1)
    for _, w in ipairs({ 'for', 'dim %d+ of', 'tensor of', "tensor's" }) do
      msg = msg:gsub('(' .. w .. ' shape )%[1%]', '%1[]')
    end
    raise(msg)
  end

  local function scatter_reduce(op, t, d, idx, src, reduce, opts)
    local p = T(t, op)
    if p.ndim == 0 then return of_0dim(scatter_reduce, op, t, d, idx, src, reduce, opts) end
    if p.ndim == 1 then idx, src = as_one(idx, op), as_one(src, op) end
    local c = cdim(d, op, p)
    d = c < 0 and c + p.ndim + 1 or c + 1
    idx = index_arg(op, idx)
    if not is_tensor(src) then argerror(op, 'a tensor as source', src) end
    T(src, op)
    local code = REDUCE[reduce]
    if code == nil then
      raise(("%s: reduce must be 'sum', 'prod', 'mean', 'amax' or 'amin', got %s"):format(op, describe(reduce)))
    end
    local include_self = include_self_of(op, opts)
    local wants = grad_on() and (requires(t) or requires(src)) and Tensor.dtype(t) ~= 'int64'
    if not wants then return kernel(op, t, c, idx, src, code, include_self) end
    if code == REDUCE.sum or code == REDUCE.mean then
      -- (the kernel checks the shapes and the index first: its errors, not
      -- those of the ops below, name what is wrong)
      nl.no_grad(function() return kernel(op, Tensor.detach(t), c, idx, Tensor.detach(src), 0, include_self) end)
      local base = include_self and t or Tensor.scatter(t, d, idx, 0)
      local summed = Tensor.scatter_add(base, d, idx, part_of(src, idx))
      if code == REDUCE.sum then return summed end
      local dt = Tensor.dtype(t)
      local n = Tensor.scatter_add(include_self and nl.ones(Tensor.shape(t), dt) or nl.zeros(Tensor.shape(t), dt), d,
                                   idx, nl.ones(Tensor.shape(idx), dt))
      return summed / Tensor.masked_fill(n, Tensor.eq(n, 0), 1)
    end
    return reduced_fn().apply(t, src, idx, { op = op, d = d, code = code, include_self = include_self, name = reduce })
  end

  -- the in-place form op of f: t checked as every in-place destination,
  -- a source that requires grad refused, the result copied into t
  local function in_place(op, t, src, f)
    check(lib.nl_inplace_check(T(t, op), op))
    if is_tensor(src) and requires(src) and grad_on() then
      raise(('%s: the source of shape %s requires grad, but in-place ops are not recorded, so its gradient would '
             .. 'be lost; use %s (out of place), or detach() the source'):format(op, shape_str(src), op:sub(1, -2)))
    end
    return Tensor.copy_(t, f())
  end

  local SR_TAKES = '(dim, index, src, reduce, [{include_self}])'
  function Tensor.scatter_reduce(t, d, idx, src, reduce, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('scatter_reduce', SR_TAKES, nil, ...) end
    return scatter_reduce('scatter_reduce', t, d, idx, src, reduce, opts)
  end
  nl.scatter_reduce = Tensor.scatter_reduce
  function Tensor.scatter_reduce_(t, d, idx, src, reduce, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('scatter_reduce_', SR_TAKES, nil, ...) end
    return in_place('scatter_reduce_', t, src, function()
      return scatter_reduce('scatter_reduce_', t, d, idx, src, reduce, opts)
    end)
  end

  -- t:index_reduce(dim, index, source, reduce, [{include_self}]): source's
  -- slice i reduced into t's slice index[i] along dim ('prod', 'mean',
  -- 'amax', 'amin'); index 1-D, source t's shape but #index along dim
  local INDEX_REDUCE = { prod = true, mean = true, amax = true, amin = true }
  local index_reduce
  function index_reduce(op, t, d, idx, src, reduce, opts)
    local p = T(t, op)
    if p.ndim == 0 then return of_0dim(index_reduce, op, t, d, idx, src, reduce, opts) end
    if p.ndim == 1 then src = as_one(src, op) end
    local c = cdim(d, op, p)
    d = c < 0 and c + p.ndim + 1 or c + 1
    idx = index_arg(op, idx)
    local ip = T(idx, op)
    if ip.dtype ~= 2 or ip.ndim > 1 then
      raise(('%s: index must be a 1-D int64 tensor, got %s %s'):format(op, Tensor.dtype(idx), shape_str(idx)))
    end
    if not is_tensor(src) then argerror(op, 'a tensor as source', src) end
    if not INDEX_REDUCE[reduce] then
      raise(("%s: reduce must be 'prod', 'mean', 'amax' or 'amin', got %s"):format(op, describe(reduce)))
    end
    local ts, ss, n = Tensor.shape(t), Tensor.shape(src), Tensor.numel(idx)
    local ok = #ss == #ts
    for q = 1, #ts do ok = ok and ss[q] == (q == d and n or ts[q]) end
    if not ok then
      raise(('%s: source of shape %s must be the tensor\'s shape %s but %d (the index\'s length) in dim %d'):format(
        op, shape_str(src), shape_str(t), n, d))
    end
    local vs = {}
    for q = 1, #ts do vs[q] = q == d and n or 1 end
    local full = Tensor.expand(Tensor.reshape(idx, vs), ss)
    return scatter_reduce(op, t, d, full, src, reduce, opts)
  end
  local IR_TAKES = '(dim, index, source, reduce, [{include_self}])'
  function Tensor.index_reduce(t, d, idx, src, reduce, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('index_reduce', IR_TAKES, nil, ...) end
    return index_reduce('index_reduce', t, d, idx, src, reduce, opts)
  end
  nl.index_reduce = Tensor.index_reduce
  function Tensor.index_reduce_(t, d, idx, src, reduce, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('index_reduce_', IR_TAKES, nil, ...) end
    return in_place('index_reduce_', t, src, function()
      return index_reduce('index_reduce_', t, d, idx, src, reduce, opts)
    end)
  end
end
