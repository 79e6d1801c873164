-- tensor_creation.lua: the creation functions PyTorch users reach for
-- beside zeros, ones, rand and arange: the *_like forms, t:new_* forms,
-- randint, linspace and logspace, normal and bernoulli draws, in-place
-- random fills (t:uniform_, t:normal_, t:bernoulli_, t:exponential_) and
-- the *_as shape helpers. All compose the core's ops and draws, so they
-- share its generator (nl.manual_seed) and its errors.
return function(nl)
  local Tensor = nl.Tensor
  local lib, gen = nl._lib, nl._generator
  local raise, argerror, T = nl._raise, nl._argerror, nl._T
  -- a bad number named by its value, another argument by its type (a
  -- bound of 2^60 or a step count of -1 was 'got number')
  local function bad_value(op, what, v)
    raise(('%s: expected %s, got %s'):format(op, what, nl._describe_arg(v)))
  end

  -- a dtype argument: nil (keep dflt), a name, or an options table
  -- {dtype = name} as PyTorch's keyword; checked by the core's names
  local function dtype_of(op, d, dflt)
    if type(d) == 'table' and not nl.is_tensor(d) then
      nl._check_opts(op, d, { dtype = 1 })
      d = d.dtype
    end
    if d == nil then return dflt end
    if type(d) ~= 'string' then argerror(op, "a dtype name ('float32', 'float64' or 'int64')", d) end
    nl._dtype_id(d, op)
    return ({ float = 'float32', double = 'float64', long = 'int64' })[d] or d
  end

  local function like_dtype(op, t, d) return dtype_of(op, d, T(t, op) and t:dtype()) end

  -- ---- *_like -------------------------------------------------------------
  -- (the dtype first: it checks that t is a tensor, naming the op)
  function nl.zeros_like(t, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('zeros_like', '(input, [dtype])', nil, ...) end
    local dt = like_dtype('zeros_like', t, dtype)
    return nl.zeros(t:shape(), dt)
  end
  function nl.ones_like(t, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('ones_like', '(input, [dtype])', nil, ...) end
    local dt = like_dtype('ones_like', t, dtype)
    return nl.ones(t:shape(), dt)
  end
  function nl.empty_like(t, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('empty_like', '(input, [dtype])', nil, ...) end
    local dt = like_dtype('empty_like', t, dtype)
    return nl.empty(t:shape(), dt)
  end
  function nl.full_like(t, value, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('full_like', '(input, fill_value, [dtype])', nil, ...) end
    local dt = like_dtype('full_like', t, dtype)
    -- (nl.full's message named full)
    if type(value) ~= 'number' then argerror('full_like', 'a number as fill value', value) end
    return nl.full(t:shape(), value, dt)
  end
  -- rand and randn draw floats; an int64 tensor needs a float dtype named,
  -- as torch.rand_like refuses a LongTensor
  local function float_like(op, t, dtype)
    local dt = like_dtype(op, t, dtype)
    if dt == 'int64' then
      raise(('%s: draws floats, got an int64 tensor of shape %s (pass a float dtype)'):format(op, nl._shape_str(t)))
    end
    return dt
  end
  function nl.rand_like(t, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('rand_like', '(input, [dtype])', nil, ...) end
    local dt = float_like('rand_like', t, dtype)
    return nl.rand(t:shape(), dt)
  end
  function nl.randn_like(t, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('randn_like', '(input, [dtype])', nil, ...) end
    local dt = float_like('randn_like', t, dtype)
    return nl.randn(t:shape(), dt)
  end

  -- ---- randint ------------------------------------------------------------
  -- whole numbers in [low, high), high excluded as in arange and PyTorch
  -- (they are values, not indices: nl.randint(1, C + 1, {N}) draws 1-based
  -- labels), each equally likely: floor(low + u (high - low)) for a
  -- float64 uniform u, exact while high - low stays below 2^53
  local function check_bound(op, v, what)
    if type(v) ~= 'number' or v ~= math.floor(v) or math.abs(v) > 2 ^ 53 then
      bad_value(op, 'an integer ' .. what .. ' of at most 2^53 in magnitude', v)
    end
  end
  local function draw_ints(op, low, high, shape, dtype)
    check_bound(op, low, 'low')
    check_bound(op, high, 'high')
    if high <= low then
      raise(('%s: expected low < high, got low %s and high %s'):format(op, tostring(low), tostring(high)))
    end
    if dtype == 'float32' and math.max(math.abs(low), math.abs(high)) > 2 ^ 24 then
      raise(('%s: bounds [%s, %s) are not all whole numbers in float32'):format(op, tostring(low), tostring(high)))
    end
    local u = nl.rand(shape, 'float64')
    local r = nl.no_grad(function() return (u * (high - low)):floor():clamp(0, high - low - 1) + low end)
    return dtype == 'float64' and r or r:to(dtype)
  end

  -- nl.randint(low, high, size, [dtype]) or nl.randint(high, size, [dtype])
  -- (low 0), size a table of sizes or one size; int64 unless a dtype is
  -- named
  function nl.randint(a, b, c, d, ...)
    local low, high, size, dtype
    if type(b) == 'table' then
      -- (high, size, [dtype]): a fourth argument has no place (it was dropped)
      if d ~= nil or select('#', ...) > 0 then nl._no_extra_args('randint', '(high, size, [dtype])', nil, d, ...) end
      low, high, size, dtype = 0, a, b, c
    else
      if select('#', ...) > 0 then nl._no_extra_args('randint', '(low, high, size, [dtype])', nil, ...) end
      low, high, size, dtype = a, b, c, d
    end
    if type(size) == 'number' then size = { size } end
    if type(size) ~= 'table' then argerror('randint', 'a size (a table of sizes)', size) end
    return draw_ints('randint', low, high, size, dtype_of('randint', dtype, 'int64'))
  end
  -- nl.randint_like(t, [low], high, [dtype])
  function nl.randint_like(t, a, b, c, ...)
    T(t, 'randint_like')
    local low, high, dtype
    if type(b) == 'number' then
      if select('#', ...) > 0 then nl._no_extra_args('randint_like', '(input, low, high, [dtype])', nil, ...) end
      low, high, dtype = a, b, c
    else
      -- (input, high, [dtype]): a fourth argument has no place (it was dropped)
      if c ~= nil or select('#', ...) > 0 then
        nl._no_extra_args('randint_like', '(input, high, [dtype])', nil, c, ...)
      end
      low, high, dtype = 0, a, b
    end
    return draw_ints('randint_like', low, high, t:shape(), like_dtype('randint_like', t, dtype))
  end

  -- ---- linspace and logspace ----------------------------------------------
  -- steps points from start to stop, both included; each point is computed
  -- from the nearer end (start + i step in the first half, stop - (steps -
  -- 1 - i) step in the second), as PyTorch's kernel, so that the last
  -- point is stop exactly
  local function points(op, start, stop, steps)
    if type(start) ~= 'number' then argerror(op, 'a number start', start) end
    if type(stop) ~= 'number' then argerror(op, 'a number end', stop) end
    if type(steps) ~= 'number' or steps ~= math.floor(steps) or steps < 0 or steps >= 2 ^ 31 then
      bad_value(op, 'a whole number of steps (0 or more, below 2^31)', steps)
    end
    local v = {}
    if steps == 1 then v[1] = start
    elseif steps > 1 then
      local step = (stop - start) / (steps - 1)
      local half = math.floor(steps / 2)
      for i = 0, steps - 1 do
        v[i + 1] = i < half and start + step * i or stop - step * (steps - 1 - i)
      end
    end
    return v
  end
  -- int64: the ends cut toward zero first, as PyTorch's (the points of
  -- 0.5 to 10.7 cut afterwards gave [0, 3, 5, 8, 10] for [0, 2, 5, 7, 10])
  local function int_ends(dt, a, b)
    if dt ~= 'int64' or type(a) ~= 'number' or type(b) ~= 'number' then return a, b end
    local function cut(v) return v < 0 and math.ceil(v) or math.floor(v) end
    return cut(a), cut(b)
  end
  -- the points as a tensor of dt; int64 ones each checked here (NaN, inf
  -- and 2^70 were named by nl.tensor: 'tensor: element 1 ... is not an
  -- int64 value')
  local function points_tensor(op, v, dt, start, stop)
    if #v == 0 then return nl.zeros({ 0 }, dt) end
    if dt == 'int64' then
      for i = 1, #v do
        if not (v[i] >= -2 ^ 63 and v[i] < 2 ^ 63) then
          raise(('%s: point %d, %s, is not an int64 value (start %s, end %s)'):format(op, i, tostring(v[i]),
            tostring(start), tostring(stop)))
        end
      end
    end
    return nl.tensor(v, dt)
  end
  function nl.linspace(start, stop, steps, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('linspace', '(start, end, steps, [dtype])', nil, ...) end
    local dt = dtype_of('linspace', dtype, nl.get_default_dtype())
    start, stop = int_ends(dt, start, stop)
    return points_tensor('linspace', points('linspace', start, stop, steps), dt, start, stop)
  end
  function nl.logspace(start, stop, steps, base, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('logspace', '(start, end, steps, [base], [dtype])', nil, ...) end
    if type(base) == 'string' or (type(base) == 'table' and not nl.is_tensor(base)) then base, dtype = nil, base end
    base = base == nil and 10 or base
    if type(base) ~= 'number' then argerror('logspace', 'a number base', base) end
    local dt = dtype_of('logspace', dtype, nl.get_default_dtype())
    start, stop = int_ends(dt, start, stop)
    local v = points('logspace', start, stop, steps)
    for i = 1, #v do v[i] = base ^ v[i] end
    return points_tensor('logspace', v, dt, start, stop)
  end

  -- ---- normal and bernoulli draws -----------------------------------------
  -- nl.normal(mean, std, [size], [dtype]): numbers with a size draw that
  -- many; a tensor mean or std draws one per element of their broadcast
  -- shape, in the tensor's dtype. As PyTorch 1.13's: the draw requires
  -- grad when mean or std does, and their gradients are zero (its
  -- derivatives.yaml gives zeros_like for both; the draw was detached, so
  -- a loss of it alone could not backward)
  function nl.normal(mean, std, size, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('normal', '(mean, std, [size], [dtype])', nil, ...) end
    local mt, st = nl.is_tensor(mean), nl.is_tensor(std)
    if not mt and type(mean) ~= 'number' then argerror('normal', 'a number or a tensor mean', mean) end
    if not st and type(std) ~= 'number' then argerror('normal', 'a number or a tensor std', std) end
    if not mt and not st then
      if type(size) == 'number' then size = { size } end
      if type(size) ~= 'table' then argerror('normal', 'a size for number mean and std', size) end
      if not (std >= 0) or std == math.huge then raise('normal: expected std >= 0 and finite, got ' .. tostring(std)) end
      local dt = dtype_of('normal', dtype, nl.get_default_dtype())
      if dt == 'int64' then raise('normal: draws floats, not int64') end
      return nl.no_grad(function() return nl.randn(size, dt) * std + mean end)
    end
    if size ~= nil then raise('normal: a size is taken only with number mean and std (a tensor gives the shape)') end
    local r = nl.no_grad(function()
      local m = mt and mean:detach() or mean
      local s = st and std:detach() or std
      if st and s:lt(0):sum():item() > 0 then raise('normal: std has negative entries') end
      if st and s:ne(s):sum():item() > 0 then raise('normal: std has NaN entries') end
      if not st and not (s >= 0) then raise('normal: expected std >= 0, got ' .. tostring(s)) end
      local ref = mt and m or s
      if ref:dtype() == 'int64' then raise('normal: expected float tensors, got int64') end
      local shape = ref:shape()
      if mt and st then
        -- (the add below named it: 'add: shapes [4] and [0,2,3] cannot be broadcast together')
        local ok, both = pcall(function() return m + s * 0 end)
        if not ok then
          raise(('normal: mean of shape %s and std of shape %s do not broadcast together'):format(
            nl._shape_str(m), nl._shape_str(s)))
        end
        shape = both:shape()
      end
      return nl.randn(shape, ref:dtype()) * s + m
    end)
    -- (a zero gradient: the draw where an all-false condition picks it
    -- over the sum of the inputs that require grad)
    local carrier
    if lib.nl_is_grad_enabled() ~= 0 then
      for _, x in ipairs({ mt and mean or false, st and std or false }) do
        if x and x.is_requires_grad then
          local c = x:sum()
          carrier = carrier and carrier + c or c
        end
      end
    end
    if not carrier then return r end
    return nl.where(nl.zeros(r:shape(), 'int64'), carrier, r)
  end

  -- nl.bernoulli(p) / p:bernoulli(): 1 with probability p[i], else 0, in
  -- p's dtype; nl.bernoulli(t, prob) / t:bernoulli(prob), prob a number:
  -- 1 with probability prob, in t's shape and dtype, as torch.bernoulli's
  function nl.bernoulli(p, prob, ...)
    if select('#', ...) > 0 then nl._no_extra_args('bernoulli', '(probabilities, [p])', nil, ...) end
    T(p, 'bernoulli')
    if p:dtype() == 'int64' then raise('bernoulli: expected float probabilities, got int64 ' .. nl._shape_str(p)) end
    if prob ~= nil then
      if type(prob) ~= 'number' or not (prob >= 0 and prob <= 1) then
        bad_value('bernoulli', 'a probability p in [0, 1]', prob)
      end
      return nl.no_grad(function() return nl.rand(p:shape(), p:dtype()):lt(prob):to(p:dtype()) end)
    end
    return nl.no_grad(function()
      local q = p:detach()
      local bad = (q:lt(0) + q:gt(1) + q:ne(q)):sum():item()
      if bad > 0 then raise(('bernoulli: probabilities must lie in [0, 1], got %d outside'):format(bad)) end
      return nl.rand(q:shape(), q:dtype()):lt(q):to(q:dtype())
    end)
  end
  Tensor.bernoulli = nl.bernoulli

  -- ---- in-place random fills ----------------------------------------------
  -- As PyTorch's: a tensor that requires grad is refused in grad mode
  -- (the core's in-place check); nn.init's forms run under no_grad.
  local function bounds(op, a, b)
    if a ~= nil and type(a) ~= 'number' then argerror(op, 'number bounds', a) end
    if b ~= nil and type(b) ~= 'number' then argerror(op, 'number bounds', b) end
  end
  function Tensor.uniform_(t, a, b, ...)
    if select('#', ...) > 0 then nl._no_extra_args('uniform_', '([from], [to])', nil, ...) end
    bounds('uniform_', a, b)
    nl._check(lib.nl_uniform_(T(t, 'uniform_'), gen, a or 0, b or 1))
    return t
  end
  function Tensor.normal_(t, mean, std, ...)
    if select('#', ...) > 0 then nl._no_extra_args('normal_', '([mean], [std])', nil, ...) end
    bounds('normal_', mean, std)
    nl._check(lib.nl_normal_(T(t, 'normal_'), gen, mean or 0, std or 1))
    return t
  end
  -- t:bernoulli_(p): 1 with probability p (a number, default 0.5, or a
  -- tensor broadcasting to t), else 0
  function Tensor.bernoulli_(t, p, ...)
    if select('#', ...) > 0 then nl._no_extra_args('bernoulli_', '([p])', nil, ...) end
    -- (checked before the draw, so that the message names this op)
    nl._check(lib.nl_inplace_check(T(t, 'bernoulli_'), 'bernoulli_'))
    if p == nil then p = 0.5 end
    if type(p) == 'number' then
      if not (p >= 0 and p <= 1) then raise('bernoulli_: expected 0 <= p <= 1, got ' .. tostring(p)) end
    elseif not nl.is_tensor(p) then argerror('bernoulli_', 'a probability (number or tensor)', p)
    elseif not pcall(Tensor.expand, T(p, 'bernoulli_') and p, t:shape()) then
      -- (named by the inner lt or copy_: 'copy_: source of shape [4,2] does not broadcast to destination [1]')
      raise(('bernoulli_: p of shape %s does not broadcast to the shape %s of the tensor drawn into'):format(
        nl._shape_str(p), nl._shape_str(t)))
    end
    local u = nl.rand(t:shape(), t:dtype() == 'float32' and 'float32' or 'float64')
    local draw = nl.no_grad(function()
      if nl.is_tensor(p) then
        local q = p:detach()
        local bad = (q:lt(0) + q:gt(1) + q:ne(q)):sum():item()
        if bad > 0 then raise(('bernoulli_: probabilities must lie in [0, 1], got %d outside'):format(bad)) end
        return u:lt(q:to(u:dtype()))
      end
      return u:lt(p)
    end)
    return t:copy_(draw)
  end
  -- t:exponential_(lambd): draws of the exponential distribution of rate
  -- lambd (default 1), -log(1 - u) / lambd with u in [0, 1)
  function Tensor.exponential_(t, lambd, ...)
    if select('#', ...) > 0 then nl._no_extra_args('exponential_', '([lambd])', nil, ...) end
    if lambd == nil then lambd = 1 end
    if type(lambd) ~= 'number' or not (lambd > 0) or lambd == math.huge then
      bad_value('exponential_', 'a rate lambd > 0', lambd)
    end
    nl._check(lib.nl_inplace_check(T(t, 'exponential_'), 'exponential_'))
    if t:dtype() == 'int64' then raise('exponential_: expected a float tensor, got int64 ' .. nl._shape_str(t)) end
    local draw = nl.no_grad(function() return (1 - nl.rand(t:shape(), 'float64')):log() * (-1 / lambd) end)
    return t:copy_(draw)
  end

  -- ---- t:new_* and the *_as helpers ---------------------------------------
  -- new tensors in t's dtype (or the one named), as PyTorch's t.new_zeros
  -- the size from a table of sizes or from sizes one by one, as PyTorch's
  -- t.new_zeros(2, 3), then the optional dtype
  local function new_shape(op, size, ...)
    if type(size) == 'number' then
      local shape, n = { size }, select('#', ...)
      local i = 1
      while i <= n and type((select(i, ...))) == 'number' do
        shape[#shape + 1] = (select(i, ...))
        i = i + 1
      end
      if n > i then nl._no_extra_args(op, '(size, [dtype])', nil, select(i + 1, ...)) end
      return shape, (select(i, ...))
    end
    if type(size) ~= 'table' or nl.is_tensor(size) then argerror(op, 'a size (a table of sizes)', size) end
    if select('#', ...) > 1 then nl._no_extra_args(op, '(size, [dtype])', nil, select(2, ...)) end
    return size, (...)
  end
  for name, make in pairs({ new_zeros = 'zeros', new_ones = 'ones', new_empty = 'empty' }) do
    Tensor[name] = function(t, ...)
      local shape, dtype = new_shape(name, ...)
      return nl[make](shape, like_dtype(name, t, dtype))
    end
  end
  function Tensor.new_full(t, size, value, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('new_full', '(size, fill_value, [dtype])', nil, ...) end
    return nl.full(new_shape('new_full', size), value, like_dtype('new_full', t, dtype))
  end
  function Tensor.new_tensor(t, data, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('new_tensor', '(data, [dtype])', nil, ...) end
    return nl.tensor(data, like_dtype('new_tensor', t, dtype))
  end
  -- (both checked first: a number for t indexed it)
  local function as(name, method)
    Tensor[name] = function(t, other, ...)
      if select('#', ...) > 0 then nl._no_extra_args(name, '(other)', nil, ...) end
      T(t, name)
      T(other, name)
      return Tensor[method](t, method == 'to' and other:dtype() or other:shape())
    end
  end
  as('type_as', 'to')
  as('view_as', 'view')
  as('reshape_as', 'reshape')
  as('expand_as', 'expand')
end
