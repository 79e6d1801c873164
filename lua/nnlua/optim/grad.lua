-- grad.lua: helpers on parameters' gradients and values: clip_grad_norm
-- (one C call over all the gradients), clip_grad_value,
-- parameters_to_vector and vector_to_parameters, and l1_penalty (built
-- from tensor ops so that it takes part in autograd); also under
-- PyTorch's names in nn.utils. No optimizer state here.
local ffi = require 'ffi'

return function(nl, optim)
  local lib, check, raise, T = nl._lib, nl._check, nl._raise, nl._T

  local total_out = ffi.new('double[1]')   -- out-parameter, allocated once
  local grads, grads_cap = nil, 0          -- the C array of gradients, grown as needed

  local function tensor_list(params, op)
    if nl.is_tensor(params) then return { params } end
    if type(params) ~= 'table' then raise(('%s: expected a tensor or a list of tensors, got %s'):format(op, type(params))) end
    for i = 1, #params do
      if not nl.is_tensor(params[i]) then
        raise(('%s: element %d of the list is not a tensor (%s)'):format(op, i, type(params[i])))
      end
    end
    return params
  end

  -- Scales the gradients of params in place so that their norm_type-norm,
  -- taken over all of them together, is at most max_norm (PyTorch's
  -- clip_grad_norm_). norm_type: a number > 0, math.huge or 'inf';
  -- default 2. Parameters without a gradient are skipped. Returns the
  -- total norm before clipping. error_if_nonfinite (default false, as
  -- 1.13): a NaN or infinite total is an error, no gradient scaled by it
  -- (the argument was dropped, and NaN gradients went on to the step).
  function optim.clip_grad_norm(params, max_norm, norm_type, error_if_nonfinite, ...)
    nl._no_extra_args('clip_grad_norm', '(params, max_norm, [norm_type], [error_if_nonfinite])', nil, ...)
    params = tensor_list(params, 'clip_grad_norm')
    if type(max_norm) ~= 'number' then raise('clip_grad_norm: expected a number as max_norm, got ' .. type(max_norm)) end
    if norm_type == nil then norm_type = 2 elseif norm_type == 'inf' then norm_type = math.huge end
    if type(norm_type) ~= 'number' then raise('clip_grad_norm: expected a number as norm_type, got ' .. type(norm_type)) end
    if error_if_nonfinite ~= nil and type(error_if_nonfinite) ~= 'boolean' then
      nl._argerror('clip_grad_norm', 'a boolean error_if_nonfinite', error_if_nonfinite)
    end
    if #params > grads_cap then
      grads_cap = #params
      grads = ffi.new('nl_tensor *[?]', grads_cap)
    end
    local n = 0
    for i = 1, #params do
      local g = T(params[i], 'clip_grad_norm').grad
      if g ~= nil then
        grads[n] = g
        n = n + 1
      end
    end
    check(lib.nl_clip_grad_norm(n, grads, max_norm, norm_type, error_if_nonfinite and 1 or 0, total_out))
    return nl._f64_at(total_out, 0)            -- a NaN as Lua's own (tensor.lua)
  end

  -- sum of |w| over every element of params, a 0-dim tensor in the graph:
  -- loss = loss + lambda * optim.l1_penalty(model:parameters())
  function optim.l1_penalty(params, ...)
    if select('#', ...) > 0 then nl._no_extra_args('l1_penalty', '(params)', nil, ...) end
    params = tensor_list(params, 'l1_penalty')
    if #params == 0 then raise('l1_penalty: got an empty parameter list') end
    local total = params[1]:abs():sum()
    for i = 2, #params do total = total + params[i]:abs():sum() end
    return total
  end

  -- Clamps each parameter's gradient into [-clip_value, clip_value] in
  -- place (PyTorch's clip_grad_value_); parameters without a gradient are
  -- skipped, a NaN stays NaN. Unlike PyTorch, a negative or NaN clip_value
  -- is refused (PyTorch's clamp then set every gradient to -|clip_value|).
  function optim.clip_grad_value(params, clip_value, ...)
    nl._no_extra_args('clip_grad_value', '(params, clip_value)', nil, ...)
    params = tensor_list(params, 'clip_grad_value')
    if type(clip_value) ~= 'number' or not (clip_value >= 0) then
      raise('clip_grad_value: expected a number >= 0 as clip_value, got ' .. nl._describe_arg(clip_value))
    end
    for i = 1, #params do
      local p = params[i]
      T(p, 'clip_grad_value')
      local g = p.grad
      if g ~= nil then nl.no_grad(function() g:clamp_(-clip_value, clip_value) end) end
    end
  end

  -- the parameters' values as one 1-D tensor, in order (PyTorch's
  -- parameters_to_vector: a cat of their flattened views, in the graph);
  -- they must share one dtype (PyTorch promotes to the widest)
  function optim.parameters_to_vector(params, ...)
    if select('#', ...) > 0 then nl._no_extra_args('parameters_to_vector', '(parameters)', nil, ...) end
    params = tensor_list(params, 'parameters_to_vector')
    if #params == 0 then raise('parameters_to_vector: got an empty parameter list') end
    local flat, dt = {}, nil
    for i = 1, #params do
      local p = params[i]
      T(p, 'parameters_to_vector')
      dt = dt or p:dtype()
      if p:dtype() ~= dt then
        raise(('parameters_to_vector: parameter %d is %s where the first is %s; convert them to one dtype'):format(
          i, p:dtype(), dt))
      end
      flat[i] = p:reshape(-1)
    end
    return nl.cat(flat, 1)
  end

  -- copies the slices of the 1-D vec into the parameters in order, in
  -- place (PyTorch's vector_to_parameters); the parameters keep their own
  -- tensors, so an optimizer built on them still holds them. vec must be
  -- of their dtype and hold exactly their elements (PyTorch ignores any
  -- left over; nnlua refuses them, as a sign of the wrong list).
  function optim.vector_to_parameters(vec, params, ...)
    if select('#', ...) > 0 then nl._no_extra_args('vector_to_parameters', '(vec, parameters)', nil, ...) end
    local op = 'vector_to_parameters'
    T(vec, op)
    params = tensor_list(params, op)
    if vec:dim() ~= 1 then raise(op .. ': expected a 1-D vector, got shape ' .. nl._shape_str(vec)) end
    local n = 0
    for i = 1, #params do
      local p = params[i]
      T(p, op)
      if p:dtype() ~= vec:dtype() then
        raise(('%s: parameter %d is %s and the vector %s'):format(op, i, p:dtype(), vec:dtype()))
      end
      n = n + p:numel()
    end
    if n ~= vec:numel() then
      raise(('%s: the vector holds %d elements and the parameters %d'):format(op, vec:numel(), n))
    end
    local at = 1
    nl.no_grad(function()
      for i = 1, #params do
        local p, k = params[i], params[i]:numel()
        if k > 0 then p:copy_(vec:narrow(1, at, k):view(p:shape())) end
        at = at + k
      end
    end)
  end

  -- PyTorch's names, for code ported from torch.nn.utils
  local utils = nl.nn.utils or {}
  nl.nn.utils = utils
  utils.clip_grad_norm_ = optim.clip_grad_norm
  utils.clip_grad_value_ = optim.clip_grad_value
  utils.parameters_to_vector = optim.parameters_to_vector
  utils.vector_to_parameters = optim.vector_to_parameters
end
