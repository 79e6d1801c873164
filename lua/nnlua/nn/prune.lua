-- prune.lua: nn.utils.prune, PyTorch 1.13's torch.nn.utils.prune: a
-- parameter `name` replaced by the parameter name_orig and the buffer
-- name_mask, and `name` a plain tensor, mask * orig, recomputed in a
-- forward pre-hook before each m(x); pruned again, the masks compose
-- through a PruningContainer (a later amount applies to the units still
-- unpruned). Loaded on first use (nn/init.lua). It holds no C op: masks
-- are made by topk, norm and index_fill.
--
-- Dims are 1-based (negative from the end). An amount is a count of units
-- when a whole number, else a fraction in [0, 1] (Lua has one number
-- type: 1 is one unit, where PyTorch's 1.0 is all of them), rounded as
-- Python's round (half to even). Of equal scores, topk's first (the lower
-- index) is pruned first.
--
-- Each pruned module holds rawget(m, '_prune'): name -> { method, handle }
-- (PyTorch finds its methods among the forward pre-hooks), and its
-- tensor names in order (rawget(m, '_prune_order')) for nn.load and clone.
return function(nl, nn)
  local utils = nn.utils
  local raise = nl._raise
  local delattr = nn._delattr
  local unpack = unpack
  local prune = {}
  utils.prune = prune

  local function is_whole(x) return x == math.floor(x) and x > -math.huge and x < math.huge end

  -- Python's round: to the nearest, half to even
  local function round_half_even(x)
    local f = math.floor(x)
    local d = x - f
    if d > 0.5 or (d == 0.5 and f % 2 == 1) then return f + 1 end
    return f
  end

  local function check_amount(op, amount)
    if type(amount) ~= 'number' or amount ~= amount or amount < 0 or (not is_whole(amount) and amount > 1) then
      raise(('%s: amount must be a whole number of units >= 0 or a fraction in [0, 1], got %s'):format(op,
        nl._describe_arg(amount)))
    end
  end

  -- the number of units to prune of size, checked against it
  local function count_of(op, amount, size, what)
    if is_whole(amount) then
      if amount > size then
        raise(('%s: amount=%d is more than the %d %s there are to prune'):format(op, amount, size, what))
      end
      return amount
    end
    return round_half_even(amount * size)
  end

  -- d (1-based, negative from the end) as a 1-based dim of t
  local function dim_of(op, d, t)
    local n = t:dim()
    if type(d) ~= 'number' or not is_whole(d) or d == 0 or d < -n or d > n then
      raise(('%s: dim must be a dim of the %s tensor of shape %s from 1 (or from -1 at the end), got %s'):format(op,
        t:dtype(), nl._shape_str(t), nl._describe_arg(d)))
    end
    return d < 0 and n + d + 1 or d
  end

  local function check_dim_arg(op, d)
    if type(d) ~= 'number' or not is_whole(d) or d == 0 then
      raise(('%s: dim must be a whole number from 1 (or from -1 at the end), got %s'):format(op, nl._describe_arg(d)))
    end
  end

  local function structured_input(op, t)
    if t:dim() <= 1 then
      raise(('%s: structured pruning needs a tensor of at least 2 dims, got shape %s'):format(op, nl._shape_str(t)))
    end
  end

  local function is_list(v) return type(v) == 'table' and getmetatable(v) == nil end

  -- m[k] = t, a parameter, put after m's other parameters and before its
  -- buffers in the order of its fields, as PyTorch's _parameters come
  -- before its _buffers in a state dict
  local function set_param(m, k, t)
    m[k] = t
    m._params[k] = true
    local order = m._order
    for i = #order, 1, -1 do if order[i] == k then table.remove(order, i) end end
    local at = 1
    for i, f in ipairs(order) do if m._params[f] then at = i + 1 end end
    table.insert(order, at, k)
  end

  -- ---- the classes ----------------------------------------------------------

  local Base = { __name = 'BasePruningMethod', _is_pruning_method = true }
  prune.BasePruningMethod = Base

  local function is_method(x) return type(x) == 'table' and x._is_pruning_method == true end
  prune._is_method = is_method

  local function new_instance(cls, op, ...)
    local inst = setmetatable({ _op = op }, cls._mt)
    local init = cls.init
    if init then init(inst, ...) end
    return inst
  end

  local function make_class(name, parent)
    local cls = setmetatable({ __name = name }, {
      __index = parent,
      __call = function(c, ...) return new_instance(c, c.__name, ...) end,
      __tostring = function(c) return 'nn.utils.prune.' .. c.__name end,
    })
    cls._mt = { __index = cls, __tostring = function(self) return self:_describe() end }
    return cls
  end
  Base._mt = { __index = Base }
  setmetatable(Base, { __call = function(c, ...) return new_instance(c, c.__name, ...) end,
                       __tostring = function() return 'nn.utils.prune.BasePruningMethod' end })

  -- BasePruningMethod:extend('Name'): a class of your own; it writes
  -- compute_mask(t, default_mask) and sets PRUNING_TYPE ('unstructured',
  -- 'structured' with a field dim, or 'global'), and init(...) for its
  -- arguments
  function Base:extend(name)
    if type(name) ~= 'string' then nl._argerror('BasePruningMethod:extend', 'a class name (a string)', name) end
    return make_class(name, self)
  end

  function Base:_describe()
    local parts = {}
    for _, k in ipairs({ 'amount', 'n', 'dim' }) do
      local v = rawget(self, k)
      if v ~= nil then parts[#parts + 1] = k .. '=' .. tostring(v) end
    end
    return ('%s(%s)'):format(self.__name, table.concat(parts, ', '))
  end

  function Base:compute_mask()
    raise(('%s: compute_mask is not implemented (a subclass of BasePruningMethod writes compute_mask(t, '
           .. 'default_mask))'):format(self.__name))
  end

  local function tensor_name(self, module)
    local name = rawget(self, '_tensor_name')
    if name == nil then raise(('%s: has to be applied to %s first'):format(self.__name, tostring(module.__name))) end
    return name
  end

  -- mask * orig, the module's pruned tensor
  function Base:apply_mask(module)
    local name = tensor_name(self, module)
    local mask, orig = rawget(module, name .. '_mask'), rawget(module, name .. '_orig')
    if not (nl.is_tensor(mask) and nl.is_tensor(orig)) then
      raise(('%s: %s has no %s_orig and %s_mask (it is not pruned)'):format(self.__name, module.__name, name, name))
    end
    if mask:dtype() ~= orig:dtype() then mask = mask:to(orig:dtype()) end
    return mask * orig
  end

  -- t * compute_mask(importance_scores or t, default_mask or ones)
  function Base:prune(t, default_mask, importance_scores)
    if not nl.is_tensor(t) then nl._argerror(self.__name .. ':prune', 'a tensor', t) end
    if importance_scores ~= nil then
      if not nl.is_tensor(importance_scores) or nl._shape_str(importance_scores) ~= nl._shape_str(t) then
        raise(('%s:prune: importance_scores must be a tensor of the shape %s of t'):format(self.__name, nl._shape_str(t)))
      end
    else
      importance_scores = t
    end
    default_mask = default_mask or nl.ones_like(t)
    local mask = nl.no_grad(function() return self:compute_mask(importance_scores, default_mask) end)
    return t * mask
  end

  -- ---- the hook's record on the module ----

  local function records(m) return rawget(m, '_prune') end

  local function forget(m, name)
    local recs = records(m)
    recs[name] = nil
    local order = rawget(m, '_prune_order')
    for i = #order, 1, -1 do if order[i] == name then table.remove(order, i) end end
    if next(recs) == nil then
      rawset(m, '_prune', nil)
      rawset(m, '_prune_order', nil)
    end
  end

  local function hook_for(method, name)
    return function(mod) mod[name] = method:apply_mask(mod) end
  end

  -- makes the pruning permanent: name a parameter again (the tensor that was
  -- name_orig, holding mask * orig), name_orig and name_mask gone
  function Base:remove(module)
    local name = tensor_name(self, module)
    local weight = nl.no_grad(function() return self:apply_mask(module) end)
    local orig = rawget(module, name .. '_orig')
    delattr(module, name)
    nl.no_grad(function() orig:copy_(weight) end)
    delattr(module, name .. '_orig')
    delattr(module, name .. '_mask')
    set_param(module, name, orig)
  end

  -- ---- PruningContainer ----

  local Container = make_class('PruningContainer', Base)
  prune.PruningContainer = Container

  -- PruningContainer(method, ...): the methods applied in turn to one
  -- tensor (the first's), as c[1], c[2], ... (#c of them)
  function Container:init(...)
    local n = select('#', ...)
    local first = ...
    if is_method(first) then rawset(self, '_tensor_name', rawget(first, '_tensor_name')) end
    for i = 1, n do self:add_pruning_method((select(i, ...))) end
  end

  function Container:add_pruning_method(method)
    if method == nil then return end
    if not is_method(method) then
      raise(('PruningContainer:add_pruning_method: %s is not a pruning method (a BasePruningMethod subclass)'):format(
        nl._describe_arg(method)))
    end
    local mine, theirs = rawget(self, '_tensor_name'), rawget(method, '_tensor_name')
    if mine ~= theirs then
      raise(("PruningContainer:add_pruning_method: can only add pruning methods acting on the parameter named '%s'"
             .. " to this container, found '%s'"):format(tostring(mine), tostring(theirs)))
    end
    self[#self + 1] = method
  end

  function Container:_describe()
    local parts = {}
    for i, m in ipairs(self) do parts[i] = tostring(m) end
    return ('PruningContainer(%s)'):format(table.concat(parts, ', '))
  end

  -- the last method's mask, combined with default_mask: it sees only the
  -- units default_mask keeps (the unpruned entries; the channels along its
  -- dim with an unpruned entry; all of them for a 'global' method)
  function Container:compute_mask(t, default_mask)
    local method = self[#self]
    if method == nil then raise('PruningContainer:compute_mask: the container holds no pruning method') end
    local mask = default_mask
    if mask:dtype() ~= t:dtype() then mask = mask:to(t:dtype()) end
    local kind = method.PRUNING_TYPE
    if kind == 'unstructured' then
      local keep = mask:eq(1)
      local partial = method:compute_mask(t:masked_select(keep), mask:masked_select(keep))
      return mask:masked_scatter(keep, partial:to(mask:dtype()))
    elseif kind == 'structured' then
      if method.dim == nil then
        raise(('PruningContainer: %s is of PRUNING_TYPE "structured" and needs a field dim'):format(method.__name))
      end
      local d = dim_of(method.__name, method.dim, t)
      local others = {}
      for i = 1, t:dim() do if i ~= d then others[#others + 1] = i end end
      local keep = mask:sum(others):ne(0):nonzero():reshape(-1)
      local partial = method:compute_mask(t:index_select(d, keep), mask:index_select(d, keep))
      return mask:index_copy(d, keep, partial:to(mask:dtype()))
    elseif kind == 'global' then
      return method:compute_mask(t, mask)
    end
    raise(('PruningContainer: %s has the unknown PRUNING_TYPE %s (unstructured, structured or global)'):format(
      method.__name, nl._describe_arg(kind)))
  end

  -- ---- apply ----

  local function param_list(m)
    local names = {}
    for _, k in ipairs(m._order) do if m._params[k] then names[#names + 1] = k end end
    return #names > 0 and table.concat(names, ', ') or 'none'
  end

  -- cls applied to module's name, args the constructor's (PyTorch's
  -- BasePruningMethod.apply); op names the call in messages
  local function apply(cls, op, module, name, args, scores)
    if not nn.is_module(module) then nl._argerror(op, 'a module', module) end
    if type(name) ~= 'string' then nl._argerror(op, 'a parameter name (a string)', name) end
    local recs = records(module)
    local old = recs and recs[name]
    local orig = rawget(module, name)
    if not old then
      if not (nl.is_tensor(orig) and module._params[name]) then
        raise(("%s: %s has no parameter '%s' (its parameters: %s)"):format(op, module.__name, name, param_list(module)))
      end
      for _, suffix in ipairs({ '_orig', '_mask' }) do
        if rawget(module, name .. suffix) ~= nil or module[name .. suffix] ~= nil then
          raise(("%s: cannot prune '%s' of %s: %s%s already names one of its fields"):format(op, name, module.__name,
            name, suffix))
        end
      end
    end
    local new = new_instance(cls, op, unpack(args, 1, args.n))
    rawset(new, '_tensor_name', name)
    local method, added = new, nil
    if old then
      if getmetatable(old.method) == Container._mt then
        old.method:add_pruning_method(new)
        method, added = old.method, true
      else
        method = new_instance(Container, op, old.method)
        method:add_pruning_method(new)
      end
    end
    if scores ~= nil then
      if not nl.is_tensor(scores) or nl._shape_str(scores) ~= nl._shape_str(orig) then
        raise(("%s: importance_scores must be a tensor of the shape %s of the parameter '%s' of %s, got %s"):format(op,
          nl._shape_str(orig), name, module.__name, nl.is_tensor(scores) and nl._shape_str(scores)
          or nl._describe_arg(scores)))
      end
    else
      scores = orig
    end
    local default_mask
    local order = {}
    for i, k in ipairs(module._order) do order[i] = k end
    if old then
      default_mask = rawget(module, name .. '_mask'):detach():contiguous():clone()
    else
      delattr(module, name)
      set_param(module, name .. '_orig', orig)
      default_mask = nl.ones_like(orig)
    end
    local ok, err = pcall(function()
      local mask = nl.no_grad(function() return method:compute_mask(scores:detach(), default_mask) end)
      if not nl.is_tensor(mask) or nl._shape_str(mask) ~= nl._shape_str(orig) then
        raise(('%s: compute_mask must return a tensor of the shape %s, got %s'):format(op, nl._shape_str(orig),
          nl.is_tensor(mask) and nl._shape_str(mask) or nl._describe_arg(mask)))
      end
      module:register_buffer(name .. '_mask', mask:detach())
    end)
    if not ok then
      if added then table.remove(method) end
      if not old then
        delattr(module, name .. '_orig')
        delattr(module, name .. '_mask')
        module[name] = orig
        module._params[name] = true
        -- (its place among the fields as before)
        local now = module._order
        for i = #now, 1, -1 do now[i] = nil end
        for i, k in ipairs(order) do now[i] = k end
      end
      error(err, 0)
    end
    module[name] = method:apply_mask(module)
    if old then old.handle:remove() end
    local handle = module:register_forward_pre_hook(hook_for(method, name))
    if not recs then
      recs = {}
      rawset(module, '_prune', recs)
      rawset(module, '_prune_order', {})
    end
    local pruned = rawget(module, '_prune_order')
    if not old then pruned[#pruned + 1] = name end
    recs[name] = { method = method, handle = handle }
    return method
  end

  -- a trailing options table's importance_scores, taken off the arguments
  local function take_scores(...)
    local args = { n = select('#', ...), ... }
    local last = args[args.n]
    if args.n > 0 and is_list(last) and last.importance_scores ~= nil then
      local rest, any = {}, false
      for k, v in pairs(last) do
        if k ~= 'importance_scores' then rest[k], any = v, true end
      end
      if any then args[args.n] = rest else args[args.n], args.n = nil, args.n - 1 end
      return args, last.importance_scores
    end
    return args, nil
  end

  -- Class:apply(module, name, ...): the method made by Class(...) applied
  -- to module's parameter name (a trailing options table may hold
  -- importance_scores); returns the method (a PruningContainer when name
  -- was pruned before)
  function Base.apply(cls, module, name, ...)
    if not is_method(cls) or rawget(cls, '_mt') == nil then
      raise('BasePruningMethod.apply: call it on the class, with a colon (prune.L1Unstructured:apply(m, name, ...))')
    end
    local args, scores = take_scores(...)
    return apply(cls, cls.__name .. ':apply', module, name, args, scores)
  end

  -- ---- the methods ----

  -- the units' options: the values of names, positional or one table
  local function args_of(op, names, ...)
    local out = nn._opts_values(op, names, nil, ...)
    if out then return out end
    if select('#', ...) > #names then
      raise(('%s: takes (%s), got %d arguments'):format(op, table.concat(names, ', '), select('#', ...)))
    end
    return { ... }
  end

  local Identity = make_class('Identity', Base)
  prune.Identity = Identity
  Identity.PRUNING_TYPE = 'unstructured'
  function Identity:compute_mask(_, default_mask) return default_mask end

  -- the unstructured methods: k units of t's with the smallest score(t)
  -- zeroed in default_mask
  local function unstructured_mask(self, t, default_mask, score)
    local n = t:numel()
    local k = count_of(self._op, self.amount, n, 'elements')
    local mask = default_mask:contiguous():clone()
    if k == 0 then return mask end
    local _, idx = nl.topk(score(t):reshape(-1), k, 1, false)
    return mask:reshape(-1):index_fill(1, idx, 0):view(mask:shape())
  end

  local RandomUnstructured = make_class('RandomUnstructured', Base)
  prune.RandomUnstructured = RandomUnstructured
  RandomUnstructured.PRUNING_TYPE = 'unstructured'
  function RandomUnstructured:init(...)
    local a = args_of(self._op, { 'amount' }, ...)
    check_amount(self._op, a[1])
    self.amount = a[1]
  end
  local function random_scores(t) return nl.rand(t:shape(), t:dtype() == 'float64' and 'float64' or 'float32') end
  function RandomUnstructured:compute_mask(t, default_mask)
    return unstructured_mask(self, t, default_mask, random_scores)
  end

  local L1Unstructured = make_class('L1Unstructured', Base)
  prune.L1Unstructured = L1Unstructured
  L1Unstructured.PRUNING_TYPE = 'unstructured'
  L1Unstructured.init = RandomUnstructured.init
  function L1Unstructured:compute_mask(t, default_mask)
    return unstructured_mask(self, t, default_mask, nl.abs)
  end

  -- the structured methods: the units along dim kept where keep (1-D,
  -- ones and zeros) says, times default_mask
  local function channel_mask(t, d, keep, default_mask)
    local shape = {}
    for i = 1, t:dim() do shape[i] = i == d and t:size(d) or 1 end
    local mask = nl.zeros_like(t) + keep:view(shape)
    return mask * default_mask:to(mask:dtype())
  end

  local function structured_count(self, t)
    structured_input(self._op, t)
    local d = dim_of(self._op, self.dim, t)
    return d, count_of(self._op, self.amount, t:size(d), 'units along dim ' .. self.dim)
  end

  local RandomStructured = make_class('RandomStructured', Base)
  prune.RandomStructured = RandomStructured
  RandomStructured.PRUNING_TYPE = 'structured'
  function RandomStructured:init(...)
    local a = args_of(self._op, { 'amount', 'dim' }, ...)
    check_amount(self._op, a[1])
    if a[2] ~= nil then check_dim_arg(self._op, a[2]) end
    self.amount, self.dim = a[1], a[2] or -1
  end
  function RandomStructured:compute_mask(t, default_mask)
    local d, k = structured_count(self, t)
    if k == 0 then return default_mask end
    local size = t:size(d)
    local _, idx = nl.topk(nl.rand({ size }), k, 1, false)
    local keep = nl.ones({ size }, t:dtype()):index_fill(1, idx, 0)
    return channel_mask(t, d, keep, default_mask)
  end

  local LnStructured = make_class('LnStructured', Base)
  prune.LnStructured = LnStructured
  LnStructured.PRUNING_TYPE = 'structured'
  local function check_n(op, n)
    if not ((type(n) == 'number' and n == n) or n == 'fro') then
      raise(("%s: n must be a number, math.huge, -math.huge or 'fro', got %s"):format(op, nl._describe_arg(n)))
    end
  end
  function LnStructured:init(...)
    local a = args_of(self._op, { 'amount', 'n', 'dim' }, ...)
    check_amount(self._op, a[1])
    check_n(self._op, a[2])
    if a[3] ~= nil then check_dim_arg(self._op, a[3]) end
    self.amount, self.n, self.dim = a[1], a[2], a[3] or -1
  end
  function LnStructured:compute_mask(t, default_mask)
    local d, k = structured_count(self, t)
    if k == 0 then return default_mask end
    if t:dtype() == 'int64' then t = t:double() end
    local others = {}
    for i = 1, t:dim() do if i ~= d then others[#others + 1] = i end end
    local norm = t:norm(self.n == 'fro' and 2 or self.n, others)
    local size = t:size(d)
    local _, idx = nl.topk(norm, size - k, 1, true)
    local keep = nl.zeros({ size }, t:dtype()):index_fill(1, idx, 1)
    return channel_mask(t, d, keep, default_mask)
  end

  local CustomFromMask = make_class('CustomFromMask', Base)
  prune.CustomFromMask = CustomFromMask
  CustomFromMask.PRUNING_TYPE = 'global'
  function CustomFromMask:init(...)
    local a = args_of(self._op, { 'mask' }, ...)
    if not nl.is_tensor(a[1]) then nl._argerror(self._op, 'a mask tensor', a[1]) end
    self.mask = a[1]
  end
  function CustomFromMask:_describe() return 'CustomFromMask()' end
  function CustomFromMask:compute_mask(_, default_mask)
    if nl._shape_str(default_mask) ~= nl._shape_str(self.mask) then
      raise(('%s: the mask has shape %s, the parameter %s'):format(self._op, nl._shape_str(self.mask),
        nl._shape_str(default_mask)))
    end
    return default_mask * self.mask:detach():to(default_mask:dtype())
  end

  -- ---- the functions ----

  -- (module, name, ...) with the rest positional or one options table:
  -- the values of names
  local function fn_args(op, names, module, name, ...)
    if not nn.is_module(module) then nl._argerror(op, 'a module', module) end
    local out = nn._opts_values(op, names, nil, ...)
    if out then return out end
    if select('#', ...) > #names then
      local takes = #names > 0 and ('(module, name, %s)'):format(table.concat(names, ', ')) or '(module, name)'
      raise(('%s: takes %s, got %d arguments'):format(op, takes, 2 + select('#', ...)))
    end
    return { ... }
  end
  local function required(op, what, v)
    if v == nil then raise(('%s: %s is required'):format(op, what)) end
    return v
  end

  function prune.identity(module, name, ...)
    fn_args('identity', {}, module, name, ...)
    apply(Identity, 'identity', module, name, { n = 0 })
    return module
  end

  function prune.random_unstructured(module, name, ...)
    local a = fn_args('random_unstructured', { 'amount' }, module, name, ...)
    apply(RandomUnstructured, 'random_unstructured', module, name,
          { n = 1, required('random_unstructured', 'amount', a[1]) })
    return module
  end

  function prune.l1_unstructured(module, name, ...)
    local a = fn_args('l1_unstructured', { 'amount', 'importance_scores' }, module, name, ...)
    apply(L1Unstructured, 'l1_unstructured', module, name, { n = 1, required('l1_unstructured', 'amount', a[1]) }, a[2])
    return module
  end

  function prune.random_structured(module, name, ...)
    local op = 'random_structured'
    local a = fn_args(op, { 'amount', 'dim' }, module, name, ...)
    apply(RandomStructured, op, module, name, { n = 2, required(op, 'amount', a[1]), required(op, 'dim', a[2]) })
    return module
  end

  function prune.ln_structured(module, name, ...)
    local op = 'ln_structured'
    local a = fn_args(op, { 'amount', 'n', 'dim', 'importance_scores' }, module, name, ...)
    apply(LnStructured, op, module, name, { n = 3, required(op, 'amount', a[1]), required(op, 'n', a[2]),
                                            required(op, 'dim', a[3]) }, a[4])
    return module
  end

  function prune.custom_from_mask(module, name, ...)
    local a = fn_args('custom_from_mask', { 'mask' }, module, name, ...)
    apply(CustomFromMask, 'custom_from_mask', module, name, { n = 1, required('custom_from_mask', 'mask', a[1]) })
    return module
  end

  -- global_unstructured(parameters, pruning_method, {amount, ...,
  -- importance_scores}) or (parameters, {pruning_method, amount, ...,
  -- importance_scores}): the units of all the parameters pruned as one
  -- vector; parameters a list of {module, name}; importance_scores a list
  -- in the same order, or a table module -> {name = tensor}; the other
  -- options go to pruning_method's constructor as one table
  function prune.global_unstructured(parameters, method_cls, opts, ...)
    local op = 'global_unstructured'
    nl._no_extra_args(op, '(parameters, pruning_method, {amount, importance_scores, ...})', nil, ...)
    if is_list(method_cls) and opts == nil then
      opts, method_cls = method_cls, method_cls.pruning_method
    elseif type(opts) == 'number' then
      opts = { amount = opts }
    end
    if opts ~= nil and not is_list(opts) then nl._argerror(op, 'a table of options', opts) end
    if not is_method(method_cls) or rawget(method_cls, '_mt') == nil then
      raise(('%s: pruning_method must be a pruning class (prune.L1Unstructured, prune.RandomUnstructured or a '
             .. 'BasePruningMethod subclass), got %s'):format(op, nl._describe_arg(method_cls)))
    end
    if not is_list(parameters) or #parameters == 0 then
      raise(('%s: parameters must be a non-empty list of {module, name} pairs, got %s'):format(op,
        nl._describe_arg(parameters)))
    end
    local kwargs, scores = {}, nil
    for k, v in pairs(opts or {}) do
      if k == 'importance_scores' then scores = v
      elseif k ~= 'pruning_method' then kwargs[k] = v end
    end
    if scores ~= nil and not is_list(scores) then nl._argerror(op, 'importance_scores as a table', scores) end
    local flat_scores, flat_masks, params = {}, {}, {}
    for i, pair in ipairs(parameters) do
      local m, name = is_list(pair) and pair[1], is_list(pair) and pair[2]
      if not nn.is_module(m) or type(name) ~= 'string' then
        raise(('%s: parameters[%d] must be a {module, name} pair, got %s'):format(op, i, nl._describe_arg(pair)))
      end
      local p = rawget(m, name)
      if not nl.is_tensor(p) or not (m._params[name] or (records(m) and records(m)[name])) then
        raise(("%s: parameters[%d]: %s has no parameter '%s' (its parameters: %s)"):format(op, i, m.__name, name,
          param_list(m)))
      end
      local s = scores and (scores[i] or (is_list(scores[m]) and scores[m][name])) or p
      if not nl.is_tensor(s) or nl._shape_str(s) ~= nl._shape_str(p) then
        raise(("%s: importance_scores for parameters[%d] ('%s' of %s) must be a tensor of shape %s, got %s"):format(
          op, i, name, m.__name, nl._shape_str(p), nl.is_tensor(s) and nl._shape_str(s) or nl._describe_arg(s)))
      end
      if s:dtype() ~= p:dtype() then s = s:to(p:dtype()) end
      params[i] = p
      flat_scores[i] = s:detach():reshape(-1)
      local mask = rawget(m, name .. '_mask')
      flat_masks[i] = (nl.is_tensor(mask) and mask:detach():to(p:dtype()) or nl.ones_like(p)):reshape(-1)
    end
    for i = 2, #params do
      if params[i]:dtype() ~= params[1]:dtype() then
        raise(('%s: parameters[%d] is %s where parameters[1] is %s; prune tensors of one dtype together'):format(op,
          i, params[i]:dtype(), params[1]:dtype()))
      end
    end
    local method = new_instance(method_cls, op, kwargs)
    rawset(method, '_tensor_name', 'temp')
    if method.PRUNING_TYPE ~= 'unstructured' then
      raise(('%s: only a pruning method of PRUNING_TYPE "unstructured" can prune globally, got %s of type %s'):format(
        op, method_cls.__name, nl._describe_arg(method.PRUNING_TYPE)))
    end
    local container = new_instance(Container, op)
    rawset(container, '_tensor_name', 'temp')
    container:add_pruning_method(method)
    local final = nl.no_grad(function() return container:compute_mask(nl.cat(flat_scores, 1), nl.cat(flat_masks, 1)) end)
    local at = 1
    for i, pair in ipairs(parameters) do
      local n = params[i]:numel()
      apply(CustomFromMask, op, pair[1], pair[2], { n = 1, final:narrow(1, at, n):view(params[i]:shape()) })
      at = at + n
    end
  end

  -- remove(module, name): the pruning of name made permanent (name a
  -- parameter again, holding mask * orig; name_orig and name_mask gone)
  function prune.remove(module, name, ...)
    nl._no_extra_args('remove', '(module, name)', nil, ...)
    if not nn.is_module(module) then nl._argerror('remove', 'a module', module) end
    local rec = records(module) and records(module)[name]
    if not rec then
      raise(("remove: parameter '%s' of %s has to be pruned before pruning can be removed"):format(tostring(name),
        module.__name))
    end
    rec.method:remove(module)
    rec.handle:remove()
    forget(module, name)
    return module
  end

  -- whether module or a submodule has a pruned parameter
  function prune.is_pruned(module, ...)
    nl._no_extra_args('is_pruned', '(module)', nil, ...)
    if not nn.is_module(module) then nl._argerror('is_pruned', 'a module', module) end
    for _, m in ipairs(module:modules()) do
      if records(m) then return true end
    end
    return false
  end

  -- ---- nn.load and clone ----

  -- the pruned names of m, in the order they were pruned
  function nn._prune_record(m)
    local order = rawget(m, '_prune_order')
    if not order or #order == 0 then return nil end
    local out = {}
    for i, name in ipairs(order) do out[i] = name end
    return out
  end
  -- pruned again on a rebuilt module, by a mask of ones (the state dict
  -- then fills name_orig and name_mask)
  function nn._prune_apply(m, rec)
    if type(rec) ~= 'table' then raise('load: malformed model structure (prune)') end
    for _, name in ipairs(rec) do
      if type(name) ~= 'string' or not nl.is_tensor(rawget(m, name)) then
        raise('load: malformed model structure (prune: ' .. tostring(name) .. ')')
      end
      apply(CustomFromMask, 'load', m, name, { n = 1, nl.ones_like(rawget(m, name)) })
    end
  end
end
