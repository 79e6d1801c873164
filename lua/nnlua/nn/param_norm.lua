-- param_norm.lua: nn.utils.weight_norm / remove_weight_norm and
-- nn.utils.spectral_norm / remove_spectral_norm, as PyTorch 1.13's
-- (torch.nn.utils.weight_norm and the hook-based spectral_norm): a
-- parameter replaced by others it is recomputed from in a forward pre-hook
-- before each m(x), under PyTorch's names, so state dicts move 1:1.
--
--   weight_norm:   weight_g (norm of weight_v over every dim but dim),
--                  weight_v; weight = weight_v * (weight_g / ||weight_v||)
--   spectral_norm: weight_orig, buffers weight_u and weight_v (the power
--                  iteration's vectors, updated in place in training mode);
--                  weight = weight_orig / (u . W v), W = weight_orig as a
--                  matrix with dim first
--
-- Dims are 1-based: weight_norm's dim defaults to 1 (PyTorch's 0), false
-- takes the norm of the whole tensor (PyTorch's None); spectral_norm's to
-- 2 for the ConvTranspose layers, else 1. Each module records what was
-- applied (rawget(m, '_param_norms')), so that nn.load and clone apply it
-- again to the rebuilt module.
return function(nl, nn)
  local utils = nn.utils or {}
  nn.utils = utils
  local raise = nl._raise
  local MAX_ITERATIONS = 10000

  -- a field off the module entirely, so that the name set again comes last
  -- among the parameters, as PyTorch's re-registered one
  local function delattr(m, k)
    rawset(m, k, nil)
    m._params[k], m._buffers[k], m._seen[k] = nil, nil, nil
    local order = m._order
    for i = #order, 1, -1 do if order[i] == k then table.remove(order, i) end end
  end
  nn._delattr = delattr

  -- a new leaf parameter over t's memory (PyTorch's Parameter(t.data))
  local function set_param(m, k, t) m[k] = t:detach():requires_grad() end

  local function entries(m)
    local list = rawget(m, '_param_norms')
    if not list then
      list = {}
      rawset(m, '_param_norms', list)
    end
    return list
  end

  local function find(m, name, kind)
    for i, e in ipairs(rawget(m, '_param_norms') or {}) do
      if e.name == name and (kind == nil or e.kind == kind) then return i, e end
    end
  end

  -- where the arguments are one table of options, the values of names in
  -- order (the options checked against known, default names); else nil
  -- (also rnn_utils.lua's)
  local function opts_values(op, names, known, ...)
    local first = ...
    if select('#', ...) == 1 and type(first) == 'table' and getmetatable(first) == nil then
      if not known then
        known = {}
        for _, k in ipairs(names) do known[k] = 1 end
      end
      nl._check_opts(op, first, known)
      local out = {}
      for i, k in ipairs(names) do out[i] = first[k] end
      return out
    end
  end
  nn._opts_values = opts_values

  -- (module, name, ...) with the rest given one by one or as one table of
  -- options: the module and the values of names in order (also
  -- parametrizations.lua's)
  local function args_of(op, module, names, ...)
    if not nn.is_module(module) then nl._argerror(op, 'a module', module) end
    local out = opts_values(op, names, nil, ...)
    if out then return out end
    if select('#', ...) > #names then
      raise(('%s: takes (module, %s), got %d arguments'):format(op, table.concat(names, ', '), 1 + select('#', ...)))
    end
    return { ... }
  end
  nn._args_of = args_of

  local function param_name(op, m, name)
    if type(name) ~= 'string' then raise(('%s: name must be a string, got %s'):format(op, nl._describe_arg(name))) end
    local p = rawget(m, name)
    if not (m._params[name] and nl.is_tensor(p)) then
      raise(('%s: %s has no parameter %s'):format(op, m.__name, name))
    end
    return p
  end

  -- a dim of p from 1 (negative counts from the end), as a 0-based index
  local function dim_of(op, d, p)
    local n = p:dim()
    if type(d) ~= 'number' or d ~= math.floor(d) or d == 0 or d < -n or d > n then
      raise(('%s: dim must be a dim of the %s %s from 1 (or from -1 at the end)%s, got %s'):format(op, p:dtype(),
        nl._shape_str(p), op == 'weight_norm' and ', or false for the whole tensor' or '', nl._describe_arg(d)))
    end
    return d < 0 and n + d or d - 1
  end

  -- PyTorch's norm_except_dim(v, 2, dim): the 2-norm over every dim but
  -- dim (0-based; nil: over all, 0-dim), keeping the dims as ones
  local function norm_except_dim(v, dim)
    if dim == nil then return (v * v):sum():sqrt() end
    local dims = {}
    for i = 1, v:dim() do if i ~= dim + 1 then dims[#dims + 1] = i end end
    -- (an empty list would sum over every dim)
    if #dims == 0 then return (v * v):sqrt() end
    return (v * v):sum(dims, true):sqrt()
  end

  local function wn_weight(m, e)
    local g, v = rawget(m, e.name .. '_g'), rawget(m, e.name .. '_v')
    return v * (g / norm_except_dim(v, e.dim))
  end

  -- ---- weight_norm ----

  local function apply_weight_norm(m, name, dim)
    if find(m, name) then raise(('weight_norm: %s of %s is already reparametrized'):format(tostring(name), m.__name)) end
    local w = param_name('weight_norm', m, name)
    local d = dim ~= false and dim_of('weight_norm', dim == nil and 1 or dim, w) or nil
    local e = { kind = 'weight_norm', name = name, dim = d }
    delattr(m, name)
    local g = nl.no_grad(function() return norm_except_dim(w:detach(), d) end)
    set_param(m, name .. '_g', g)
    set_param(m, name .. '_v', w)
    m[name] = wn_weight(m, e)
    e.handle = m:register_forward_pre_hook(function(mod) mod[name] = wn_weight(mod, e) end)
    local list = entries(m)
    list[#list + 1] = e
    return m
  end

  -- weight_norm(module, [name = 'weight'], [dim = 1]) or (module, {name,
  -- dim}): module, with name replaced by name_g and name_v
  function utils.weight_norm(module, ...)
    local a = args_of('weight_norm', module, { 'name', 'dim' }, ...)
    return apply_weight_norm(module, a[1] or 'weight', a[2])
  end

  -- removes weight_norm from name (a parameter again, last among them)
  function utils.remove_weight_norm(module, ...)
    local a = args_of('remove_weight_norm', module, { 'name' }, ...)
    local name = a[1] or 'weight'
    local i, e = find(module, name, 'weight_norm')
    if not i then raise(("remove_weight_norm: weight_norm of '%s' not found in %s"):format(tostring(name), module.__name)) end
    local w = wn_weight(module, e)
    e.handle:remove()
    table.remove(rawget(module, '_param_norms'), i)
    delattr(module, name)
    delattr(module, name .. '_g')
    delattr(module, name .. '_v')
    set_param(module, name, w)
    return module
  end

  -- ---- spectral_norm ----

  -- weight as a matrix (dim's size, the rest), dim moved first
  local function as_matrix(w, dim)
    if dim ~= 0 then
      local perm = { dim + 1 }
      for i = 1, w:dim() do if i ~= dim + 1 then perm[#perm + 1] = i end end
      w = w:permute(perm)
    end
    return w:reshape(w:size(1), -1)
  end

  local function normalize(x, eps) return x / (x * x):sum():sqrt():clamp(eps) end
  local function mv(a, x) return nl.matmul(a, x:view(-1, 1)):view(-1) end

  local function sn_weight(m, e, power)
    local w = rawget(m, e.name .. '_orig')
    local u, v = rawget(m, e.name .. '_u'), rawget(m, e.name .. '_v')
    local wm = as_matrix(w, e.dim)
    if power then
      -- u and v updated in place (the buffers), then used as constants
      nl.no_grad(function()
        for _ = 1, e.n_power_iterations do
          v:copy_(normalize(mv(wm:t(), u), e.eps))
          u:copy_(normalize(mv(wm, v), e.eps))
        end
        u, v = u:clone(), v:clone()
      end)
    end
    local sigma = (u * mv(wm, v)):sum()
    return w / sigma
  end

  local function apply_spectral_norm(m, name, n, eps, dim)
    local op = 'spectral_norm'
    if find(m, name) then raise(('%s: %s of %s is already reparametrized'):format(op, tostring(name), m.__name)) end
    local w = param_name(op, m, name)
    n = n == nil and 1 or n
    -- (at most MAX_ITERATIONS: 2^40 of them, which PyTorch takes, ran for hours at every call)
    if type(n) ~= 'number' or n ~= math.floor(n) or n < 1 or n > MAX_ITERATIONS then
      raise(('%s: n_power_iterations must be a whole number in 1..%d, got %s'):format(op, MAX_ITERATIONS,
        nl._describe_arg(n)))
    end
    eps = eps == nil and 1e-12 or eps
    if type(eps) ~= 'number' or not (eps > 0) then
      raise(('%s: eps must be a number > 0, got %s'):format(op, nl._describe_arg(eps)))
    end
    if w:dtype() == 'int64' or w:dim() == 0 then
      raise(('%s: %s must be a float tensor of at least one dim, got %s %s'):format(op, name, w:dtype(),
        nl._shape_str(w)))
    end
    if dim == nil then
      -- (the ConvTranspose layers and their subclasses, as PyTorch's
      -- isinstance; the 3-D one is loaded where an instance exists)
      dim = nn._is_instance(m, { [nn.ConvTranspose1d] = true, [nn.ConvTranspose2d] = true,
                                 [rawget(nn, 'ConvTranspose3d') or false] = true }) and 2 or 1
    end
    local e = { kind = 'spectral_norm', name = name, dim = dim_of(op, dim, w), n_power_iterations = n, eps = eps }
    local wm = as_matrix(w:detach(), e.dim)
    local u = nl.no_grad(function() return normalize(nl.randn({ wm:size(1) }, w:dtype()), eps) end)
    local v = nl.no_grad(function() return normalize(nl.randn({ wm:size(2) }, w:dtype()), eps) end)
    delattr(m, name)
    set_param(m, name .. '_orig', w)
    m[name] = w:detach()          -- a plain field until the first call, as PyTorch's weight.data
    m:register_buffer(name .. '_u', u)
    m:register_buffer(name .. '_v', v)
    e.handle = m:register_forward_pre_hook(function(mod) mod[name] = sn_weight(mod, e, mod.training) end)
    local list = entries(m)
    list[#list + 1] = e
    return m
  end

  -- spectral_norm(module, [name = 'weight'], [n_power_iterations = 1],
  -- [eps = 1e-12], [dim]) or (module, {name, n_power_iterations, eps, dim})
  function utils.spectral_norm(module, ...)
    local a = args_of('spectral_norm', module, { 'name', 'n_power_iterations', 'eps', 'dim' }, ...)
    return apply_spectral_norm(module, a[1] or 'weight', a[2], a[3], a[4])
  end

  -- removes spectral_norm from name: the weight of the current u and v
  -- (no power iteration) as a parameter, last among them
  function utils.remove_spectral_norm(module, ...)
    local a = args_of('remove_spectral_norm', module, { 'name' }, ...)
    local name = a[1] or 'weight'
    local i, e = find(module, name, 'spectral_norm')
    if not i then
      raise(("remove_spectral_norm: spectral_norm of '%s' not found in %s"):format(tostring(name), module.__name))
    end
    local w = nl.no_grad(function() return sn_weight(module, e, false) end)
    e.handle:remove()
    table.remove(rawget(module, '_param_norms'), i)
    for _, k in ipairs({ name, name .. '_u', name .. '_v', name .. '_orig' }) do delattr(module, k) end
    set_param(module, name, w)
    return module
  end

  -- ---- nn.load and clone ----

  -- what was applied to m, in order, as JSON holds it (Module's record)
  function nn._param_norm_record(m)
    local list = rawget(m, '_param_norms')
    if not list or #list == 0 then return nil end
    local out = {}
    for i, e in ipairs(list) do
      out[i] = { kind = e.kind, name = e.name, dim = e.dim and e.dim + 1 or false,
                 n_power_iterations = e.n_power_iterations, eps = e.eps }
    end
    return out
  end
  -- applied again to a rebuilt module (the state dict then fills it)
  function nn._param_norm_apply(m, rec)
    if type(rec) ~= 'table' then raise('load: malformed model structure (param_norms)') end
    for _, e in ipairs(rec) do
      if type(e) ~= 'table' then raise('load: malformed model structure (param_norms)') end
      if e.kind == 'weight_norm' then apply_weight_norm(m, e.name, e.dim)
      elseif e.kind == 'spectral_norm' then apply_spectral_norm(m, e.name, e.n_power_iterations, e.eps, e.dim)
      else raise('load: malformed model structure (param_norms: ' .. tostring(e.kind) .. ')') end
    end
  end
end
