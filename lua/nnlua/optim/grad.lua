-- grad.lua: helpers on parameters' gradients and values: clip_grad_norm
-- (one C call over all the gradients) and l1_penalty (built from tensor ops
-- so that it takes part in autograd). No optimizer state here.
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
  -- total norm before clipping.
  function optim.clip_grad_norm(params, max_norm, norm_type)
    params = tensor_list(params, 'clip_grad_norm')
    if type(max_norm) ~= 'number' then raise('clip_grad_norm: expected a number as max_norm, got ' .. type(max_norm)) end
    if norm_type == nil then norm_type = 2 elseif norm_type == 'inf' then norm_type = math.huge end
    if type(norm_type) ~= 'number' then raise('clip_grad_norm: expected a number as norm_type, got ' .. type(norm_type)) end
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
    check(lib.nl_clip_grad_norm(n, grads, max_norm, norm_type, total_out))
    return nl._f64_at(total_out, 0)            -- a NaN as Lua's own (tensor.lua)
  end

  -- sum of |w| over every element of params, a 0-dim tensor in the graph:
  -- loss = loss + lambda * optim.l1_penalty(model:parameters())
  function optim.l1_penalty(params)
    params = tensor_list(params, 'l1_penalty')
    if #params == 0 then raise('l1_penalty: got an empty parameter list') end
    local total = params[1]:abs():sum()
    for i = 2, #params do total = total + params[i]:abs():sum() end
    return total
  end
end
