-- autograd_gradcheck.lua: nl.autograd.gradgradcheck, PyTorch 1.13's
-- torch.autograd.gradgradcheck: second derivatives checked by central
-- differences of the first derivative (nl.gradcheck of the
-- vector-Jacobian product nl.autograd.grad gives with create_graph).
-- Loaded on first use of nl.autograd.gradgradcheck (init.lua).
local ffi = require 'ffi'

return function(nl)
  local lib, wrap, raise = nl._lib, nl._wrap, nl._raise
  local unpack = unpack

  local OPTS = { eps = 1, atol = 1, rtol = 1, raise_exception = 'flag', gen_non_contig_grad_outputs = 'flag' }
  local OP = 'gradgradcheck'

  -- f's results that autograd differentiates: the float tensors that
  -- require grad, in order (PyTorch's differentiable outputs)
  local function differentiable(...)
    local out = {}
    for r = 1, select('#', ...) do
      local o = select(r, ...)
      if nl.is_tensor(o) and o:dtype() ~= 'int64' and o.is_requires_grad then out[#out + 1] = o end
    end
    return out
  end

  -- a float64 leaf of shape that requires grad, uniform in [-1, 1) from a
  -- generator of its own (the same numbers at every call); non_contig:
  -- every other element of a larger tensor (strides doubled)
  local function random_leaf(gen, shape, non_contig)
    local dims = {}
    for d, s in ipairs(shape) do dims[d] = s end
    if non_contig then dims[#dims + 1] = 2 end
    local n = #dims
    local u = wrap(lib.nl_rand(gen, n, ffi.new('int64_t[?]', math.max(n, 1), dims), 1))
    local t = u * 2 - 1
    if non_contig then t = t:select(n, 1) end
    return t:detach():requires_grad()
  end

  -- gradgradcheck(f, inputs, [grad_outputs], [opts]): true when the
  -- derivatives of the vector-Jacobian product v -> J(x)^T v (what
  -- backward computes, through a graph of its own) w.r.t. the inputs
  -- that require grad and w.r.t. v agree with central differences of it,
  -- each entry within atol + rtol |numeric|; else false and a message
  -- naming the entry (raise_exception = true raises it). inputs: float64
  -- leaves, as nl.gradcheck's; grad_outputs: v, one float64 tensor per
  -- result of f that requires grad (a tensor or a list), random in
  -- [-1, 1) from a fixed seed when not given (gen_non_contig_grad_outputs:
  -- non-contiguous ones). opts: eps (1e-6), atol (1e-5), rtol (1e-3).
  function nl.autograd.gradgradcheck(f, inputs, grad_outputs, opts, ...)
    nl._no_extra_args(OP, '(f, inputs, [grad_outputs], [opts])', nil, ...)
    -- (the options in the place of grad_outputs: a plain table of names)
    if opts == nil and type(grad_outputs) == 'table' and getmetatable(grad_outputs) == nil
       and grad_outputs[1] == nil then
      grad_outputs, opts = nil, grad_outputs
    end
    opts = nl._opts(OP, opts)
    nl._check_opts(OP, opts, OPTS)
    if type(f) ~= 'function' then raise(OP .. ': expected a function, got ' .. type(f)) end
    inputs = nl._gradcheck_inputs(OP, inputs)
    local n_in = #inputs
    local diff_in = {}
    for _, x in ipairs(inputs) do if nl.is_tensor(x) and x.is_requires_grad then diff_in[#diff_in + 1] = x end end
    local outs = differentiable(f(unpack(inputs, 1, n_in)))
    if #outs == 0 then
      raise(OP .. ': none of the results of f requires grad (f must compute a float tensor from the inputs that '
            .. 'require grad)')
    end
    -- v: one per differentiable result
    local gos
    if grad_outputs == nil then
      local gen = ffi.new('nl_generator', { 0x3c6ef372, 0 })
      gos = {}
      for j, o in ipairs(outs) do gos[j] = random_leaf(gen, o:shape(), opts.gen_non_contig_grad_outputs) end
    else
      gos = nl.is_tensor(grad_outputs) and { grad_outputs } or grad_outputs
      if type(gos) ~= 'table' or getmetatable(gos) ~= nil then
        nl._argerror(OP, 'grad_outputs as a tensor or a list of tensors', grad_outputs)
      end
      if table.maxn(gos) ~= #outs then
        raise(('%s: grad_outputs has %d entries, and f has %d results that require grad'):format(OP, table.maxn(gos),
          #outs))
      end
      for j, o in ipairs(outs) do
        local v = gos[j]
        if not nl.is_tensor(v) or v:dtype() ~= 'float64' then
          raise(('%s: grad_outputs %d must be a float64 tensor, got %s'):format(OP, j, nl._describe_arg(v)))
        end
        if nl._shape_str(v) ~= nl._shape_str(o) then
          raise(('%s: grad_outputs %d has shape %s, and result %d of f has shape %s'):format(OP, j,
            nl._shape_str(v), j, nl._shape_str(o)))
        end
        if v.is_requires_grad and not v:is_leaf() then
          raise(('%s: grad_outputs %d is not a leaf (it came from an op); pass v:detach():requires_grad()'):format(
            OP, j))
        end
        for d = 1, v:dim() do
          if v:stride(d) == 0 and v:size(d) > 1 then
            raise(('%s: grad_outputs %d of shape %s repeats memory (stride 0 in dim %d); pass a contiguous copy')
                  :format(OP, j, nl._shape_str(v), d))
          end
        end
      end
    end
    -- the first derivatives, J^T v for each input that requires grad
    -- (those f does not use left out), as functions of the inputs and v
    local n_go = #gos
    local all = {}
    for i = 1, n_in do all[i] = inputs[i] end
    for j = 1, n_go do all[n_in + j] = gos[j] end
    local used        -- the indices in diff_in of the gradients returned, fixed at the first call
    local function vjp(...)
      local args = { ... }
      return nl.enable_grad(function()
        local o = differentiable(f(unpack(args, 1, n_in)))
        if #o ~= n_go then
          raise(('%s: f gave %d results that require grad, then %d'):format(OP, n_go, #o))
        end
        local v = {}
        for j = 1, n_go do v[j] = args[n_in + j] end
        local g = nl.autograd.grad(o, diff_in, { grad_outputs = v, create_graph = true, allow_unused = true })
        local res = {}
        if not used then
          used = {}
          for i = 1, #diff_in do if g[i] ~= nil then used[#used + 1] = i end end
        end
        for r, i in ipairs(used) do
          -- (a gradient that depends on nothing that requires grad: zeros
          -- that do, so that the analytic second derivative reads 0)
          local gi = g[i] or nl.zeros(diff_in[i]:shape(), 'float64')
          if not gi.is_requires_grad then gi = gi + diff_in[1]:sum() * 0 end
          res[r] = gi
        end
        return unpack(res, 1, #used)
      end)
    end
    vjp(unpack(all, 1, n_in + n_go))
    if #used == 0 then
      raise(OP .. ': f does not use any input that requires grad, so it has no first derivative to check')
    end
    -- names of the entries, for the message: input i's element k (or v's),
    -- element j of the gradients (of the inputs in used, in order)
    local pos_in = {}
    for i, x in ipairs(inputs) do pos_in[x] = i end
    local function describe(i, k, j)
      local wrt = i <= n_in and ('input %d element %d'):format(i, k) or ('grad_outputs %d element %d'):format(i - n_in, k)
      for _, d in ipairs(used) do
        local n = diff_in[d]:numel()
        if j <= n then
          return ('d(gradient of input %d, element %d) / d(%s)'):format(pos_in[diff_in[d]], j, wrt)
        end
        j = j - n
      end
      return wrt
    end
    -- (nl._gradcheck, as vjp, differentiates by nl.autograd.grad: no
    -- .grad changes, of the inputs, of v or of a leaf f closes over)
    return nl._gradcheck(OP, vjp, all, { eps = opts.eps, atol = opts.atol, rtol = opts.rtol,
                                         raise_exception = opts.raise_exception }, describe)
  end
end
