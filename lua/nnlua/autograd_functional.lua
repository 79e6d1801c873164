-- autograd_functional.lua: nl.autograd.functional, PyTorch 1.13's
-- torch.autograd.functional: jacobian, hessian, vjp, jvp, vhp and hvp of
-- a Lua function of tensors, made of nl.autograd.grad (jvp and hvp by the
-- double-backward trick, as PyTorch's). No forward-mode AD and no vmap:
-- vectorize runs the same loop, strategy 'forward-mode' is refused.
-- Loaded on first use of nl.autograd.functional (init.lua).
return function(nl)
  local raise, shape_str, describe = nl._raise, nl._shape_str, nl._describe_arg
  local grad = nl.autograd.grad

  -- ---- structure: a tensor or a list of tensors (PyTorch's tuples) ------
  -- (is_list, the list, its length); what names x in messages
  local function as_list(who, x, what)
    if nl.is_tensor(x) then return false, { x }, 1 end
    if type(x) ~= 'table' or getmetatable(x) ~= nil then
      raise(('%s: %s must be a tensor or a list of tensors, got %s'):format(who, what, describe(x)))
    end
    local n = nl._list_len(x)
    if n == nil then
      raise(('%s: %s must be a tensor or a list of tensors, got a table that is not a list'):format(who, what))
    end
    if n == 0 then raise(('%s: %s is an empty list'):format(who, what)) end
    for i = 1, n do
      if not nl.is_tensor(x[i]) then
        raise(('%s: entry %d of %s must be a tensor, got %s'):format(who, i, what, describe(x[i])))
      end
    end
    return true, x, n
  end

  -- the list res as the caller gave its structure: PyTorch's
  -- _tuple_postprocess (one flag, or the outer and inner flags of a list of lists)
  local function unpack_as(res, outer, inner)
    if inner == false then
      local r = {}
      for i = 1, #res do r[i] = res[i][1] end
      res = r
    end
    if not outer then return res[1] end
    return res
  end

  -- fresh tensors for the function, PyTorch's _grad_preprocess: with
  -- create_graph, a view of an input that requires grad (so the results
  -- depend on it); else a detached one, requiring grad when need_graph
  local function prep(who, list, n, create_graph, need_graph, what)
    local res = {}
    for i = 1, n do
      local x = list[i]
      if create_graph and x.is_requires_grad then res[i] = x:view(x:shape())
      else
        if need_graph and x:dtype() == 'int64' then
          raise(('%s: %s %d is an int64 tensor of shape %s; only float tensors have gradients'):format(
            who, what, i, shape_str(x)))
        end
        res[i] = x:detach()
        if need_graph then res[i]:requires_grad() end
      end
    end
    return res
  end

  -- without create_graph, results carry no graph (_grad_postprocess)
  local function post(list, n, create_graph)
    if create_graph then return list end
    local res = {}
    for i = 1, n do res[i] = list[i]:detach() end
    return res
  end

  local function pack(...) return select('#', ...), { ... } end
  -- func(inputs...) in grad mode: (is_list, outputs, their number)
  local function call(who, func, inputs, n)
    local count, res = nl.enable_grad(function() return pack(func(unpack(inputs, 1, n))) end)
    if count ~= 1 then
      raise(('%s: the function returned %d values; return a tensor or a list of tensors'):format(who, count))
    end
    return as_list(who, res[1], 'the output of the function')
  end

  -- strict = true: every output requires grad (_check_requires_grad's 'outputs')
  local function check_outputs(who, outs, n, strict)
    if not strict then return end
    for i = 1, n do
      if not outs[i].is_requires_grad then
        raise(('%s: output %d of the function (shape %s) does not require grad; strict = true needs the outputs '
               .. 'computed from the inputs by differentiable ops'):format(who, i, shape_str(outs[i])))
      end
    end
  end

  -- nl.autograd.grad of the outputs that require grad (nil entries and
  -- the others are left out, with their grad_outputs); a list with a nil
  -- for each input nothing reaches. n_out: the length of outs (it may
  -- have holes); gouts: nil or a list of n_out entries
  local function agrad(outs, n_out, ins, gouts, create_graph, retain)
    local o, g, k, any_g = {}, {}, 0, false
    for i = 1, n_out do
      local out = outs[i]
      if out ~= nil and out.is_requires_grad then
        k = k + 1
        o[k] = out
        g[k] = gouts and gouts[i] or nil
        if g[k] ~= nil then any_g = true end
      end
    end
    if k == 0 then return {} end
    return grad(o, ins, { grad_outputs = any_g and g or nil, allow_unused = true, create_graph = create_graph,
                          retain_graph = retain })
  end

  -- strict's checks of gradients on the way (_check_requires_grad's
  -- 'grad_inputs' and 'jacobian'), inputs counted from 1
  local function check_grads(who, gs, ins, n, kind, strict)
    if not strict then return end
    for i = 1, n do
      local g = gs[i]
      if g == nil then
        raise(('%s: the output of the function is independent of input %d (shape %s); strict = true refuses '
               .. 'this'):format(who, i, shape_str(ins[i])))
      end
      if not g.is_requires_grad then
        if kind == 'jacobian' then
          raise(('%s: the jacobian of the function with respect to input %d (shape %s) is independent of the input '
                 .. '(as a linear function\'s is); strict = true needs a function twice differentiable whose jacobian '
                 .. 'depends on the inputs'):format(who, i, shape_str(ins[i])))
        end
        raise(('%s: the gradient with respect to input %d (shape %s) is independent of the inputs of the function; '
               .. 'strict = true refuses this'):format(who, i, shape_str(ins[i])))
      end
    end
  end

  -- the gradients with zeros of refs' shapes where none came, or strict's
  -- errors (_fill_in_zeros; stage names the backward)
  local FILL_MSG = {
    back = 'the output of the function is independent of input %d (shape %s)',
    back_trick = 'the gradient with respect to the inputs is independent of entry %d (shape %s) of the grad_outputs '
                 .. 'in the double-backward trick that gives the jvp',
    double_back = 'the jacobian of the function is independent of input %d (shape %s)',
    double_back_trick = 'the hessian of the function is independent of entry %d (shape %s) of the grad_jacobian in '
                        .. 'the double-backward trick that gives the hvp',
  }
  local function fill_zeros(who, gs, refs, n, strict, create_graph, stage)
    local res = {}
    for i = 1, n do
      local g = gs[i]
      if g == nil then
        if strict then
          raise(('%s: ' .. FILL_MSG[stage] .. '; strict = true refuses this'):format(who, i, shape_str(refs[i])))
        end
        g = nl.zeros(refs[i]:shape(), refs[i]:dtype())
      elseif strict and create_graph and not g.is_requires_grad then
        raise(('%s: the %s of the function is independent of input %d (shape %s); strict = true refuses this with '
               .. 'create_graph = true'):format(who, stage:find('double') and 'hessian' or 'jacobian', i,
                                                shape_str(refs[i])))
      end
      res[i] = g
    end
    return res
  end

  -- v as given (a tensor or a list), checked against others, the outputs
  -- or the inputs (_validate_v); nil v only for one one-element tensor
  local function take_v(who, v, others, n, is_list, create_graph, what, nil_msg)
    local one = what:sub(1, -2)                     -- 'output' or 'input'
    if v == nil then
      if n ~= 1 or others[1]:numel() ~= 1 then
        raise(('%s: v may be nil only when %s; the %s %s'):format(who, nil_msg, what,
          n == 1 and 'is one tensor of shape ' .. shape_str(others[1]) or 'are a list of ' .. n))
      end
      return nil
    end
    local _, list, nv = as_list(who, v, 'v')
    if nv ~= n then
      if is_list then raise(('%s: v has %d entries for the %d %s'):format(who, nv, n, what)) end
      raise(('%s: v must be one tensor, as the %s is, got a list of %d'):format(who, one, nv))
    end
    list = prep(who, list, n, create_graph, false, 'v')
    for i = 1, n do
      if shape_str(list[i]) ~= shape_str(others[i]) then
        if is_list then
          raise(('%s: entry %d of v has shape %s, but %s %d has shape %s'):format(who, i, shape_str(list[i]), one, i,
                                                                                 shape_str(others[i])))
        end
        raise(('%s: v has shape %s, but the %s has shape %s'):format(who, shape_str(list[i]), one,
                                                                     shape_str(others[i])))
      end
    end
    return list
  end

  -- the options of each function, and v's place: a table of options
  -- given where v goes, with no v after it, is the options
  local PRODUCT_OPTS = { create_graph = 'flag', strict = 'flag' }
  local function product_args(who, v, opts)
    if opts == nil and type(v) == 'table' and getmetatable(v) == nil and v[1] == nil and next(v) ~= nil then
      v, opts = nil, v
    end
    opts = nl._opts(who, opts)
    nl._check_opts(who, opts, PRODUCT_OPTS)
    return v, opts.create_graph or false, opts.strict or false
  end
  local function check_func(who, func)
    local mt = type(func) == 'table' and getmetatable(func)
    if type(func) ~= 'function' and not (mt and mt.__call) then
      raise(('%s: expected a function, got %s'):format(who, describe(func)))
    end
  end
  local function shape_cat(a, b)
    local s = {}
    for _, d in ipairs(a) do s[#s + 1] = d end
    for _, d in ipairs(b) do s[#s + 1] = d end
    return s
  end

  local F = {}

  -- ---- vjp: v^T J, one backward -------------------------------------------
  function F.vjp(func, inputs, v, opts, ...)
    local who = 'vjp'
    if select('#', ...) > 0 then nl._no_extra_args(who, '(func, inputs, [v], [{options}])', nil, ...) end
    check_func(who, func)
    local create_graph, strict
    v, create_graph, strict = product_args(who, v, opts)
    local in_list, ins, n_in = as_list(who, inputs, 'inputs')
    ins = prep(who, ins, n_in, create_graph, true, 'input')
    local out_list, outs, n_out = call(who, func, ins, n_in)
    check_outputs(who, outs, n_out, strict)
    v = take_v(who, v, outs, n_out, out_list, create_graph, 'outputs',
               'the function returns a single tensor of one element')
    local res = fill_zeros(who, agrad(outs, n_out, ins, v, create_graph), ins, n_in, strict, create_graph, 'back')
    return unpack_as(post(outs, n_out, create_graph), out_list), unpack_as(post(res, n_in, create_graph), in_list)
  end

  -- the start of jvp, vhp and hvp (v along the inputs): the arguments
  -- checked, the inputs prepared and func called on them
  local function call_along_inputs(who, func, inputs, v, opts)
    check_func(who, func)
    local create_graph, strict
    v, create_graph, strict = product_args(who, v, opts)
    local in_list, ins, n_in = as_list(who, inputs, 'inputs')
    ins = prep(who, ins, n_in, create_graph, true, 'input')
    v = take_v(who, v, ins, n_in, in_list, create_graph, 'inputs', 'inputs is a single tensor of one element')
    local out_list, outs, n_out = call(who, func, ins, n_in)
    check_outputs(who, outs, n_out, strict)
    return v, create_graph, strict, in_list, ins, n_in, out_list, outs, n_out
  end

  -- ---- jvp: J v, by the double-backward trick: the gradient of the
  -- vjp u^T J (linear in u, a zero leaf) with respect to u, along v --------
  function F.jvp(func, inputs, v, opts, ...)
    local who = 'jvp'
    if select('#', ...) > 0 then nl._no_extra_args(who, '(func, inputs, [v], [{options}])', nil, ...) end
    local create_graph, strict, in_list, ins, n_in, out_list, outs, n_out
    v, create_graph, strict, in_list, ins, n_in, out_list, outs, n_out = call_along_inputs(who, func, inputs, v, opts)
    -- (the backward is linear in u: its value is not in the result; zeros
    -- keep inf and NaN out)
    local u = {}
    for i = 1, n_out do
      if outs[i].is_requires_grad then u[i] = nl.zeros(outs[i]:shape(), outs[i]:dtype()):requires_grad() end
    end
    local gin = agrad(outs, n_out, ins, u, true)
    check_grads(who, gin, ins, n_in, 'grad_inputs', strict)
    -- (u's holes, outputs that do not require grad, get no gradient: zeros)
    local u_in, map, k = {}, {}, 0
    for i = 1, n_out do
      if u[i] then
        k = k + 1
        u_in[k], map[k] = u[i], i
      end
    end
    local got = {}
    if k > 0 then
      local r = agrad(gin, n_in, u_in, v, create_graph)
      for j = 1, k do got[map[j]] = r[j] end
    end
    local res = fill_zeros(who, got, outs, n_out, strict, create_graph, 'back_trick')
    return unpack_as(post(outs, n_out, create_graph), out_list), unpack_as(post(res, n_out, create_graph), out_list)
  end

  -- ---- jacobian: one backward per output element ------------------------
  -- list of lists: [i][j] = d output i / d input j, of shape out_i ++ in_j
  local function jacobian_rows(who, func, ins, n_in, create_graph, strict)
    ins = prep(who, ins, n_in, create_graph, true, 'input')
    local out_list, outs, n_out = call(who, func, ins, n_in)
    check_outputs(who, outs, n_out, strict)
    local jac = {}
    for i = 1, n_out do
      local out = outs[i]
      local oshape, odtype, m = out:shape(), out:dtype(), out:numel()
      local rows = {}
      for j = 1, n_in do rows[j] = {} end
      for k = 1, m do
        local vj = {}
        if out.is_requires_grad then
          -- output element k alone: a one-hot gradient
          local onehot = nl.zeros(oshape, odtype)
          onehot:view(-1)[k] = 1
          vj = grad({ out }, ins, { grad_outputs = { onehot }, retain_graph = true, create_graph = create_graph,
                                    allow_unused = true })
        end
        for j = 1, n_in do
          local g = vj[j]
          if g ~= nil then
            if strict and create_graph and not g.is_requires_grad then
              raise(('%s: the jacobian of the function is independent of input %d (shape %s); strict = true refuses '
                     .. 'this with create_graph = true'):format(who, j, shape_str(ins[j])))
            end
          else
            if strict then
              raise(('%s: output %d of the function (shape %s) is independent of input %d (shape %s); strict = true '
                     .. 'refuses this'):format(who, i, shape_str(out), j, shape_str(ins[j])))
            end
            g = nl.zeros(ins[j]:shape(), ins[j]:dtype())
          end
          rows[j][k] = g
        end
      end
      jac[i] = {}
      for j = 1, n_in do
        local shape = shape_cat(oshape, ins[j]:shape())
        if m == 0 then jac[i][j] = nl.zeros(shape, ins[j]:dtype())
        else jac[i][j] = nl.stack(rows[j], 1):view(shape) end
      end
    end
    if not create_graph then
      for i = 1, n_out do jac[i] = post(jac[i], n_in, false) end
    end
    return jac, out_list
  end

  local STRATEGIES = { ['reverse-mode'] = true, ['forward-mode'] = true }
  local function check_strategy(who, name, s)
    if not STRATEGIES[s] then
      raise(("%s: %s must be 'reverse-mode' or 'forward-mode', got %s"):format(who, name, describe(s)))
    end
    if s == 'forward-mode' then
      raise(("%s: %s 'forward-mode' needs forward-mode AD, which nnlua does not have (PyTorch 1.13 runs it only with "
             .. "vectorize = true); use 'reverse-mode', the default"):format(who, name))
    end
  end
  local JACOBIAN_OPTS = { create_graph = 'flag', strict = 'flag', vectorize = 'flag', strategy = 1 }
  function F.jacobian(func, inputs, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('jacobian', '(func, inputs, [{options}])', nil, ...) end
    local who = 'jacobian'
    check_func(who, func)
    opts = nl._opts(who, opts)
    nl._check_opts(who, opts, JACOBIAN_OPTS)
    check_strategy(who, 'strategy', opts.strategy == nil and 'reverse-mode' or opts.strategy)
    local in_list, ins, n_in = as_list(who, inputs, 'inputs')
    if opts.vectorize and opts.strict then
      raise('jacobian: strict = true and vectorize = true are not supported together (as in PyTorch 1.13)')
    end
    local jac, out_list = jacobian_rows(who, func, ins, n_in, opts.create_graph or false, opts.strict or false)
    return unpack_as(jac, out_list, in_list)
  end

  -- ---- hessian: the jacobian of the jacobian ----------------------------
  local HESSIAN_OPTS = { create_graph = 'flag', strict = 'flag', vectorize = 'flag', outer_jacobian_strategy = 1 }
  -- func's one output, checked, as a tensor of no dims
  local function scalar_output(who, func, strict, ...)
    local n = select('#', ...)
    local out_list, outs, n_out = call(who, func, { ... }, n)
    check_outputs(who, outs, n_out, strict)
    if out_list then raise(('%s: the function must return a single tensor, got a list of %d'):format(who, n_out)) end
    if outs[1]:numel() ~= 1 then
      raise(('%s: the function must return a tensor of one element, got shape %s'):format(who, shape_str(outs[1])))
    end
    return outs[1]:view({})
  end
  function F.hessian(func, inputs, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('hessian', '(func, inputs, [{options}])', nil, ...) end
    local who = 'hessian'
    check_func(who, func)
    opts = nl._opts(who, opts)
    nl._check_opts(who, opts, HESSIAN_OPTS)
    local strict = opts.strict or false
    local in_list, ins, n_in = as_list(who, inputs, 'inputs')
    check_strategy(who, 'outer_jacobian_strategy', opts.outer_jacobian_strategy == nil and 'reverse-mode'
                   or opts.outer_jacobian_strategy)
    if opts.vectorize and strict then
      raise('hessian: strict = true and vectorize = true are not supported together (as in PyTorch 1.13)')
    end
    local function single(...) return scalar_output(who, func, strict, ...) end
    -- the gradient, with a graph: one row of the inner jacobian
    local function jac_func(...)
      local n = select('#', ...)
      local rows = jacobian_rows(who, single, { ... }, n, true, false)
      check_grads(who, rows[1], { ... }, n, 'jacobian', strict)
      return rows[1]
    end
    local res = jacobian_rows(who, jac_func, ins, n_in, opts.create_graph or false, strict)
    return unpack_as(res, in_list, in_list)
  end

  -- ---- vhp: v^T H, a backward of the gradient; hvp: H v, by the
  -- double-backward trick (equal for a function twice continuously
  -- differentiable) ------------------------------------------------------
  local function hessian_product(who, func, inputs, v, opts, trick)
    local create_graph, strict, in_list, ins, n_in, out_list, outs, n_out
    v, create_graph, strict, in_list, ins, n_in, out_list, outs, n_out = call_along_inputs(who, func, inputs, v, opts)
    if out_list then raise(('%s: the function must return a single tensor, got a list of %d'):format(who, n_out)) end
    if outs[1]:numel() ~= 1 then
      raise(('%s: the function must return a tensor of one element, got shape %s'):format(who, shape_str(outs[1])))
    end
    local jac = agrad(outs, 1, ins, nil, true)
    check_grads(who, jac, ins, n_in, 'jacobian', strict)
    local res
    if trick then
      local u = {}
      for i = 1, n_in do u[i] = nl.zeros(ins[i]:shape(), ins[i]:dtype()):requires_grad() end
      local double_back = agrad(jac, n_in, ins, u, true)
      res = fill_zeros(who, agrad(double_back, n_in, u, v, create_graph), ins, n_in, strict, create_graph,
                       'double_back_trick')
    else
      res = fill_zeros(who, agrad(jac, n_in, ins, v, create_graph), ins, n_in, strict, create_graph, 'double_back')
    end
    return unpack_as(post(outs, 1, create_graph), false), unpack_as(post(res, n_in, create_graph), in_list)
  end
  function F.vhp(func, inputs, v, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('vhp', '(func, inputs, [v], [{options}])', nil, ...) end
    return hessian_product('vhp', func, inputs, v, opts, false)
  end
  function F.hvp(func, inputs, v, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('hvp', '(func, inputs, [v], [{options}])', nil, ...) end
    return hessian_product('hvp', func, inputs, v, opts, true)
  end

  nl.autograd.functional = F
end
