-- distributions.lua: nl.distributions, PyTorch 1.13's torch.distributions
-- written on nnlua's tensor ops, so gradients flow through log_prob,
-- entropy, cdf and rsample: the Distribution base, Normal, Bernoulli,
-- Categorical, OneHotCategorical, Uniform, Exponential, Laplace,
-- MultivariateNormal, Independent, Gamma, Dirichlet, Beta, Poisson,
-- Binomial, LogNormal, Cauchy, HalfNormal, HalfCauchy, Gumbel, Chi2,
-- Geometric, Weibull, Pareto, StudentT, Multinomial, MixtureSameFamily,
-- NegativeBinomial, FisherSnedecor, (Logit)RelaxedBernoulli,
-- RelaxedOneHotCategorical (ExpRelaxedCategorical), LowRankMultivariateNormal,
-- Kumaraswamy, ContinuousBernoulli, VonMises,
-- TransformedDistribution with the Exp, Affine,
-- Sigmoid, Tanh and Power transforms, and kl_divergence / register_kl.
-- Not here: PyTorch's other families and transforms, and rsample of the
-- gamma family (PyTorch's implicit sampler gradient). Loaded on first
-- use of nl.distributions (init.lua). Class labels are 1-based here, as
-- everywhere in nnlua: Categorical draws 1..K.
return function(nl)
  local raise, is_tensor = nl._raise, nl.is_tensor
  local F = nl.nn.functional
  local D = {}

  local EPS = { float32 = 1.1920928955078125e-07, float64 = 2.220446049250313e-16 }     -- finfo(dtype).eps
  local TINY = { float32 = 1.1754943508222875e-38, float64 = 2.2250738585072014e-308 } -- finfo(dtype).tiny
  local FMIN = { float32 = -3.4028234663852886e+38, float64 = -1.7976931348623157e+308 } -- finfo(dtype).min
  local LOG_2PI = math.log(2 * math.pi)
  local SQRT2 = math.sqrt(2)

  -- ---- shapes (Lua lists) ---------------------------------------------------

  local function shape_str(s) return '[' .. table.concat(s, ',') .. ']' end
  local function concat(a, b)
    local out = {}
    for i = 1, #a do out[i] = a[i] end
    for i = 1, #b do out[#a + i] = b[i] end
    return out
  end
  local function sub(s, i, j)            -- s[i..j], j counting back from the end when negative
    local out = {}
    j = j or #s
    if j < 0 then j = #s + j + 1 end
    for k = i, j do out[#out + 1] = s[k] end
    return out
  end
  local function same(a, b)
    if #a ~= #b then return false end
    for i = 1, #a do if a[i] ~= b[i] then return false end end
    return true
  end
  -- a and b broadcast together, or nil
  local function broadcast(a, b)
    local n, out = math.max(#a, #b), {}
    for i = 1, n do
      local x, y = a[i - (n - #a)] or 1, b[i - (n - #b)] or 1
      if x ~= y and x ~= 1 and y ~= 1 then return nil end
      out[i] = x == 1 and y or x
    end
    return out
  end
  local function numel(s)
    local n = 1
    for _, v in ipairs(s) do n = n * v end
    return n
  end
  -- a sample_shape argument: nil, a whole number or a list of them
  local function shape_arg(op, s)
    if s == nil then return {} end
    if type(s) == 'number' then s = { s } end
    if type(s) ~= 'table' or is_tensor(s) then raise(op .. ': expected a shape (a list of sizes), got ' .. type(s)) end
    local out = {}
    for i, v in ipairs(s) do
      if type(v) ~= 'number' or v ~= math.floor(v) or v < 0 then
        raise(('%s: expected whole sizes >= 0, got %s at %d'):format(op, tostring(v), i))
      end
      out[i] = v
    end
    return out
  end
  local function sum_rightmost(t, n)
    for _ = 1, n do t = t:sum(-1) end
    return t
  end
  local function no_grad(f) return nl.no_grad(f) end

  -- ---- constraints ------------------------------------------------------------
  -- check(v) gives a float mask (1 where valid) over v's shape less event_dim dims

  local constraints = {}
  D.constraints = constraints
  local function constraint(name, check, event_dim)
    return setmetatable({ name = name, check = check, event_dim = event_dim or 0 },
                        { __tostring = function() return name end })
  end
  local function all_last(m) return m:min(-1) end
  constraints.real = constraint('real', function(v) return v:eq(v) end)
  constraints.positive = constraint('positive', function(v) return v:gt(0) end)
  constraints.nonnegative = constraint('nonnegative', function(v) return v:ge(0) end)
  constraints.unit_interval = constraint('unit_interval', function(v) return v:ge(0) * v:le(1) end)
  constraints.boolean = constraint('boolean', function(v) return v:eq(0) + v:eq(1) end)
  constraints.real_vector = constraint('real_vector', function(v) return all_last(v:eq(v)) end, 1)
  constraints.simplex = constraint('simplex', function(v)
    return all_last(v:ge(0)) * (v:sum(-1) - 1):abs():lt(1e-6)
  end, 1)
  constraints.one_hot = constraint('one_hot', function(v)
    return all_last(v:eq(0) + v:eq(1)) * v:sum(-1):eq(1)
  end, 1)
  constraints.lower_cholesky = constraint('lower_cholesky', function(v)
    local tri = all_last(v:tril():eq(v):reshape(concat(sub(v:shape(), 1, -3), { v:size(-2) * v:size(-1) })))
    return tri * all_last(v:diagonal(0, -2, -1):gt(0))
  end, 2)
  constraints.positive_definite = constraint('positive_definite', function(v)
    local sym = all_last(all_last(v:isclose(v:transpose(-2, -1), 1e-5, 1e-6)))
    if sym:numel() > 0 and sym:min():item() == 0 then return sym end
    local _, info = nl.linalg.cholesky_ex(v)
    return info:eq(0):to(v:dtype())
  end, 2)
  function constraints.interval(lo, hi)
    return constraint('interval', function(v) return v:ge(lo) * v:le(hi) end)
  end
  function constraints.integer_interval(lo, hi)
    return constraint(('integer_interval(%d, %d)'):format(lo, hi), function(v)
      v = v:to('float64')
      return v:eq(v:floor()) * v:ge(lo) * v:le(hi)
    end)
  end
  function constraints.independent(base, n)
    return constraint(('independent(%s, %d)'):format(base.name, n), function(v)
      local m = base.check(v)
      for _ = 1, n do m = all_last(m) end
      return m
    end, base.event_dim + n)
  end
  local function all_valid(mask) return mask:numel() == 0 or mask:min():item() ~= 0 end
  -- a sampler's parameter t checked by the mask valid(t), whether or not
  -- the distribution validates (with validate_args false, or a parameter
  -- changed in place, a NaN or negative one drew 0s): an error naming op,
  -- the parameter and its shape, as PyTorch's samplers refuse them
  local function check_draw_param(op, name, t, want, valid)
    if not no_grad(function() return all_valid(valid(t:detach())) end) then
      raise(('%s: expected %s %s, but found invalid values in %s (shape %s)'):format(op, name, want, name,
            shape_str(t:shape())))
    end
  end

  -- ---- the base class -----------------------------------------------------------

  local Distribution = { __name = 'Distribution', _props = {}, _param_dims = {}, arg_constraints = {},
                         has_rsample = false, has_enumerate_support = false }
  D.Distribution = Distribution
  local default_validate = true

  -- Distribution.set_default_validate_args(on): whether distributions made
  -- without validate_args check their parameters and values (true, as
  -- PyTorch's default)
  function Distribution.set_default_validate_args(on, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_default_validate_args', '(value)', nil, ...) end
    if type(on) ~= 'boolean' then raise('set_default_validate_args: expected a boolean, got ' .. type(on)) end
    default_validate = on
  end

  local function instance_index(cls)
    return function(self, k)
      local v = cls[k]
      if v ~= nil then return v end
      local getter = cls._props[k]
      if getter then return getter(self) end
      return nil
    end
  end
  local function describe(self)
    local parts = {}
    for _, name in ipairs(self._param_order or {}) do
      local t = rawget(self, name)
      if t then
        parts[#parts + 1] = name .. ': ' .. (t:numel() == 1 and ('%.4g'):format(t:reshape(-1)[1]) or shape_str(t:shape()))
      end
    end
    return self.__name .. '(' .. table.concat(parts, ', ') .. ')'
  end

  local function inherits(cls, base)
    while cls do
      if cls == base then return true end
      cls = cls._parent
    end
    return false
  end
  -- a class called makes an instance with its _new (inherited: a
  -- subclass's instance is made by its parent's and gets the subclass)
  local ctor_most = setmetatable({}, { __mode = 'k' })   -- _new -> the arguments it takes (false: any)
  local function check_ctor(cls, n, ...)
    while n > 0 and select(n, ...) == nil do n = n - 1 end
    local f = cls._new
    local most = ctor_most[f]
    if most == nil then
      local info = debug.getinfo(f, 'u')
      most = not info.isvararg and info.nparams
      -- (Categorical's last parameter is the class OneHotCategorical passes)
      if most and debug.getlocal(f, most) == 'cls' then most = most - 1 end
      ctor_most[f] = most
    end
    if most and n > most then
      local names = {}
      for i = 1, most do
        local name = debug.getlocal(f, i)
        names[i] = name == 'opts' and '[{options}]' or name
      end
      nl._no_extra_args(cls.__name, '(' .. table.concat(names, ', ') .. ')', nil, select(most + 1, ...))
    end
  end
  local function construct(cls, ...)
    local n = select('#', ...)
    if n > 1 then check_ctor(cls, n, ...) end
    local d = cls._new(...)
    local made = getmetatable(d)
    if made ~= cls and inherits(cls, made) then setmetatable(d, cls) end
    return d
  end
  -- cls:extend(name, [props]): a subclass, with props (name -> getter) added
  -- to the fields computed on access; kl_divergence dispatches on it
  function Distribution.extend(parent, name, props, ...)
    if select('#', ...) > 0 then nl._no_extra_args('extend', '(name, [props])', nil, ...) end
    local cls = { __name = name, _parent = parent, __tostring = describe }
    local all = {}
    for k, g in pairs(parent._props) do all[k] = g end
    for k, g in pairs(props or {}) do all[k] = g end
    cls._props = all
    cls.__index = instance_index(cls)
    return setmetatable(cls, { __index = parent, __call = construct,
                               __tostring = function() return 'distributions.' .. name end })
  end
  local function class(name, props) return Distribution.extend(Distribution, name, props) end
  -- cls's parameters in constructor order, each one number per batch element (event dims 0)
  local function scalar_params(cls, order)
    cls._param_order = order
    cls._param_dims = {}
    for _, name in ipairs(order) do cls._param_dims[name] = 0 end
  end

  -- the options table of a constructor (validate_args)
  local function options(op, opts, known)
    if opts == nil then return {} end
    if type(opts) ~= 'table' or is_tensor(opts) then raise(op .. ': expected an options table, got ' .. type(opts)) end
    for k in pairs(opts) do
      if not (k == 'validate_args' or (known and known[k])) then raise(('%s: unknown option %s'):format(op, tostring(k))) end
    end
    return opts
  end

  -- the parameters of a distribution as tensors of one float dtype
  -- (numbers in the tensors' dtype, the default dtype when all are numbers),
  -- broadcast to one shape (PyTorch's broadcast_all); returns them. One
  -- value for each name: a missing one (nil) is an error naming it
  local function broadcast_all(op, names, values)
    local dtype = nil
    for i = 1, #names do
      local v = values[i]
      if is_tensor(v) then
        if v:dtype() == 'int64' then
          raise(('%s: expected %s as a float tensor or a number, got int64 %s'):format(op, names[i], shape_str(v:shape())))
        end
        if dtype ~= 'float64' then dtype = v:dtype() end
      elseif type(v) ~= 'number' then
        raise(('%s: expected %s as a tensor or a number, got %s'):format(op, names[i], type(v)))
      end
    end
    dtype = dtype or nl.get_default_dtype()     -- numbers alone: PyTorch's default dtype
    local shape, out = {}, {}
    for i = 1, #names do
      local v = values[i]
      local t = is_tensor(v) and v or nl.tensor(v, dtype)
      if t:dtype() ~= dtype then t = t:to(dtype) end
      out[i] = t
      local b = broadcast(shape, t:shape())
      if not b then
        local shapes = {}
        for j = 1, i do shapes[j] = names[j] .. ' ' .. shape_str(out[j]:shape()) end
        raise(('%s: the shapes of %s do not broadcast'):format(op, table.concat(shapes, ', ')))
      end
      shape = b
    end
    for i, t in ipairs(out) do
      if not same(t:shape(), shape) then out[i] = t:expand(shape) end
    end
    return out, shape
  end

  local function float_tensor(op, name, v, min_dim)
    if not is_tensor(v) then raise(('%s: expected %s as a tensor, got %s'):format(op, name, type(v))) end
    if v:dtype() == 'int64' then raise(('%s: expected %s as a float tensor, got int64 %s'):format(op, name, shape_str(v:shape()))) end
    if v:dim() < min_dim then
      raise(('%s: %s must be at least %s-dimensional, got shape %s'):format(op, name, min_dim == 1 and 'one' or 'two',
                                                                            shape_str(v:shape())))
    end
    return v
  end

  -- sets the shapes and checks the parameters (the given ones, named in
  -- self._given) against cls.arg_constraints when validating
  local function init(self, batch_shape, event_shape, opts)
    self.batch_shape, self.event_shape = batch_shape, event_shape
    local v = opts and opts.validate_args
    if v ~= nil and type(v) ~= 'boolean' then raise(self.__name .. ': validate_args must be a boolean, got ' .. type(v)) end
    if v == nil then v = default_validate end
    self._validate_args = v
    if not v then return self end
    for _, name in ipairs(self._given or self._param_order or {}) do
      local c, t = self.arg_constraints[name], rawget(self, name)
      if c and t then
        local ok = no_grad(function() return all_valid(c.check(t:detach())) end)
        if not ok then
          raise(('%s: expected parameter %s (shape %s) to satisfy the constraint %s, but found invalid values')
                :format(self.__name, name, shape_str(t:shape()), c.name))
        end
      end
    end
    return self
  end
  local function new(cls, given) return setmetatable({ _given = given }, cls) end
  -- a new cls with its _param_order parameters broadcast from values (named by cls in the errors)
  -- and its dtype the first one's; returns it, the batch shape and the broadcast parameters
  local function new_params(cls, values)
    local p, shape = broadcast_all(cls.__name, cls._param_order, values)
    local self = new(cls)
    for i, name in ipairs(cls._param_order) do self[name] = p[i] end
    self._dtype = p[1]:dtype()
    return self, shape, p
  end

  function Distribution._extended_shape(self, sample_shape)
    return concat(concat(sample_shape, self.batch_shape), self.event_shape)
  end

  -- the value as a tensor (a number in the distribution's dtype), unchecked
  function Distribution._tensor_value(self, op, v)
    if type(v) == 'number' then v = nl.tensor(v, self._dtype) end
    if not is_tensor(v) then raise(('%s.%s: expected the value as a tensor, got %s'):format(self.__name, op, type(v))) end
    return v
  end
  -- a value given to log_prob, cdf, ...: a tensor (a number becomes one of
  -- the distribution's dtype), checked against event_shape, batch_shape and
  -- the support when validating, as PyTorch's _validate_sample. Its dtype
  -- is promoted with the parameters' as PyTorch's ops do (a float64 value
  -- of a float32 distribution stays float64, and so does the result), but
  -- where PyTorch casts the value to the parameters' dtype (as_params, or
  -- the class's _value_as_params), so does this
  function Distribution._value(self, op, v, skip_support, as_params)
    v = self:_tensor_value(op, v)
    local vd = v:dtype()
    if vd ~= self._dtype and not self._int_values
       and (vd ~= 'float64' or as_params or self._value_as_params) then
      v = v:to(self._dtype)
    end
    if not self._validate_args then return v end
    local vs, ev = v:shape(), self.event_shape
    if not same(sub(vs, #vs - #ev + 1), ev) then
      raise(('%s.%s: the right-most sizes of the value %s must match event_shape %s'):format(self.__name, op,
            shape_str(vs), shape_str(ev)))
    end
    local want = concat(self.batch_shape, ev)
    for i = 0, math.min(#vs, #want) - 1 do
      local a, b = vs[#vs - i], want[#want - i]
      if a ~= 1 and b ~= 1 and a ~= b then
        raise(('%s.%s: the value %s does not broadcast with batch_shape + event_shape %s'):format(self.__name, op,
              shape_str(vs), shape_str(want)))
      end
    end
    local support = not skip_support and self.support
    if support then
      local ok = no_grad(function() return all_valid(support.check(v:detach())) end)
      if not ok then
        raise(('%s.%s: expected the value (shape %s) to be within the support (%s) of the distribution %s, but found invalid values')
              :format(self.__name, op, shape_str(vs), support.name, describe(self)))
      end
    end
    return v
  end

  local function not_implemented(what)
    -- (any arguments: refused below, whatever they are)
    return function(self, ...) raise(('%s: %s is not implemented'):format(self.__name, what)) end
  end
  Distribution.log_prob = not_implemented('log_prob')
  Distribution.cdf = not_implemented('cdf')
  Distribution.icdf = not_implemented('icdf')
  Distribution.entropy = not_implemented('entropy')
  Distribution.enumerate_support = not_implemented('enumerate_support')
  function Distribution.rsample(self, ...)   -- (any arguments: refused below, whatever they are)
    raise(('%s: rsample is not available: %s has no reparameterized sampler (has_rsample is false); use sample'):format(
      self.__name, self.__name))
  end
  -- d:sample([shape]): a draw without gradient, of shape shape + batch_shape + event_shape
  function Distribution.sample(self, shape)
    if not self.has_rsample then not_implemented('sample')(self) end
    shape = shape_arg(self.__name .. '.sample', shape)
    return no_grad(function() return self:rsample(shape) end)
  end
  -- d:sample_n(n) as d:sample({n})
  function Distribution.sample_n(self, n) return self:sample({ n }) end
  function Distribution.perplexity(self) return self:entropy():exp() end
  Distribution._props.stddev = function(self) return self.variance:sqrt() end
  Distribution._props.mean = not_implemented('mean')
  Distribution._props.variance = not_implemented('variance')
  Distribution._props.mode = not_implemented('mode')

  -- d:expand(batch_shape): the distribution with its parameters expanded
  -- (views) to the new batch_shape, as PyTorch's expand
  function Distribution.expand(self, batch_shape)
    local op = self.__name .. '.expand'
    batch_shape = shape_arg(op, batch_shape)
    local old = self.batch_shape
    local b = broadcast(old, batch_shape)
    if #batch_shape < #old or not b or not same(b, batch_shape) then
      raise(('%s: cannot expand batch_shape %s to %s'):format(op, shape_str(old), shape_str(batch_shape)))
    end
    local cls = getmetatable(self)
    local out = setmetatable({}, cls)
    for k, v in pairs(self) do out[k] = v end
    for name, edims in pairs(cls._param_dims) do
      local t = rawget(self, name)
      if t then out[name] = t:expand(concat(batch_shape, sub(t:shape(), t:dim() - edims + 1))) end
    end
    out.batch_shape = batch_shape
    if cls._expand_more then cls._expand_more(self, out, batch_shape) end
    return out
  end

  -- ---- Normal -----------------------------------------------------------------

  local Normal = class('Normal', {
    mean = function(self) return self.loc end,
    mode = function(self) return self.loc end,
    stddev = function(self) return self.scale end,
    variance = function(self) return self.scale:pow(2) end,
  })
  D.Normal = Normal
  Normal.arg_constraints = { loc = constraints.real, scale = constraints.positive }
  Normal.support = constraints.real
  Normal.has_rsample = true
  scalar_params(Normal, { 'loc', 'scale' })
  -- Normal(loc, scale, [{validate_args}])
  function Normal._new(loc, scale, opts)
    opts = options('Normal', opts)
    local self, shape = new_params(Normal, { loc, scale })
    return init(self, shape, {}, opts)
  end
  function Normal.rsample(self, shape)
    local s = self:_extended_shape(shape_arg('Normal.rsample', shape))
    return self.loc + nl.randn(s, self._dtype) * self.scale
  end
  function Normal.log_prob(self, v)
    v = self:_value('log_prob', v)
    return -((v - self.loc):pow(2)) / (2 * self.scale:pow(2)) - self.scale:log() - 0.5 * LOG_2PI
  end
  function Normal.cdf(self, v)
    v = self:_value('cdf', v)
    return 0.5 * (1 + ((v - self.loc) * self.scale:reciprocal() / SQRT2):erf())
  end
  function Normal.icdf(self, v)
    v = self:_value('icdf', v, true)
    return self.loc + self.scale * (2 * v - 1):erfinv() * SQRT2
  end
  function Normal.entropy(self) return 0.5 + 0.5 * LOG_2PI + self.scale:log() end

  -- ---- Bernoulli ------------------------------------------------------------------

  local function clamp_probs(p)
    local eps = EPS[p:dtype()]
    return p:clamp(eps, 1 - eps)
  end
  -- a plain table where logits go, with no options after it: the options
  -- (the last constructor argument, as in (probs, {validate_args = false}))
  local function options_last(logits, opts)
    if opts == nil and type(logits) == 'table' and not is_tensor(logits) then return nil, logits end
    return logits, opts
  end
  -- (probs, logits, opts) positionally, or one table {probs = , logits = , validate_args = }
  local function probs_or_logits(op, probs, logits, opts)
    logits, opts = options_last(logits, opts)
    if type(probs) == 'table' and not is_tensor(probs) and logits == nil and opts == nil then
      opts = options(op, probs, { probs = true, logits = true })
      probs, logits = opts.probs, opts.logits
    else
      opts = options(op, opts)
    end
    if (probs == nil) == (logits == nil) then
      raise(op .. ': either probs or logits must be specified, but not both')
    end
    return probs, logits, opts
  end
  -- (lead, probs, logits, opts) positionally, or one table {lead_name = , probs = | logits = , validate_args = },
  -- without checking that exactly one of probs and logits is given
  local function lead_options(op, lead_name, lead, probs, logits, opts)
    logits, opts = options_last(logits, opts)
    if type(lead) == 'table' and not is_tensor(lead) and probs == nil and logits == nil and opts == nil then
      opts = options(op, lead, { [lead_name] = true, probs = true, logits = true })
      lead, probs, logits = opts[lead_name], opts.probs, opts.logits
    else
      opts = options(op, opts)
    end
    return lead, probs, logits, opts
  end
  local function lead_probs_or_logits(op, lead_name, lead, probs, logits, opts)
    lead, probs, logits, opts = lead_options(op, lead_name, lead, probs, logits, opts)
    if (probs == nil) == (logits == nil) then raise(op .. ': either probs or logits must be specified, but not both') end
    return lead, probs, logits, opts
  end
  local function binary_logits(p)
    local q = clamp_probs(p)
    return q:log() - (-q):log1p()
  end
  -- a new cls (a two-outcome family) with the probs or the logits given and the other derived
  local function new_binary(cls, op, probs, logits)
    local self
    if probs ~= nil then
      self = new(cls, { 'probs' })
      self.probs = broadcast_all(op, { 'probs' }, { probs })[1]
      self.logits = binary_logits(self.probs)
    else
      self = new(cls, { 'logits' })
      self.logits = broadcast_all(op, { 'logits' }, { logits })[1]
      self.probs = self.logits:sigmoid()
    end
    self._dtype = self.probs:dtype()
    return self
  end
  -- a new cls (a count of two-outcome trials) with total_count n (int64 taken as the parameter's
  -- dtype) and the probs or the logits given and the other derived; returns it and the batch shape
  local function new_count_binary(cls, op, n, probs, logits)
    local name = probs ~= nil and 'probs' or 'logits'
    local param = probs or logits
    if is_tensor(n) and n:dtype() == 'int64' then n = n:to(is_tensor(param) and param:dtype() or nl.get_default_dtype()) end
    local p, shape = broadcast_all(op, { 'total_count', name }, { n, param })
    local self = new(cls, { 'total_count', name })
    self._dtype = p[2]:dtype()
    self.total_count = p[1]:to(self._dtype)
    if probs ~= nil then
      self.probs = p[2]
      self.logits = binary_logits(self.probs)
    else
      self.logits = p[2]
      self.probs = self.logits:sigmoid()
    end
    return self, shape
  end

  local Bernoulli = class('Bernoulli', {
    mean = function(self) return self.probs end,
    -- 1 where probs > 1/2, 0 below, NaN at 1/2 (as PyTorch's; no gradient)
    mode = function(self)
      local p = self.probs:detach()
      return nl.where(p:eq(0.5), 0 / 0, p:ge(0.5):to(self._dtype))
    end,
    variance = function(self) return self.probs * (1 - self.probs) end,
    param_shape = function(self) return self.probs:shape() end,
  })
  D.Bernoulli = Bernoulli
  Bernoulli.arg_constraints = { probs = constraints.unit_interval, logits = constraints.real }
  Bernoulli.support = constraints.boolean
  Bernoulli.has_enumerate_support = true
  scalar_params(Bernoulli, { 'probs', 'logits' })
  -- Bernoulli(probs) or Bernoulli(nil, logits) or Bernoulli{probs = p} / {logits = l}
  function Bernoulli._new(probs, logits, opts)
    probs, logits, opts = probs_or_logits('Bernoulli', probs, logits, opts)
    local self = new_binary(Bernoulli, 'Bernoulli', probs, logits)
    return init(self, self.probs:shape(), {}, opts)
  end
  function Bernoulli.sample(self, shape)
    local s = self:_extended_shape(shape_arg('Bernoulli.sample', shape))
    check_draw_param('Bernoulli.sample', 'probs', self.probs, 'in [0, 1]', constraints.unit_interval.check)
    return no_grad(function() return nl.rand(s, self._dtype):lt(self.probs:detach()):to(self._dtype) end)
  end
  local function bce_logits(logits, target)
    local s = broadcast(logits:shape(), target:shape())
    if not s then
      raise(('Bernoulli: the value %s does not broadcast with the parameters %s'):format(shape_str(target:shape()),
            shape_str(logits:shape())))
    end
    return F.binary_cross_entropy_with_logits(logits:expand(s), target:expand(s), { reduction = 'none' })
  end
  function Bernoulli.log_prob(self, v)
    v = self:_value('log_prob', v)
    return -bce_logits(self.logits, v)
  end
  function Bernoulli.entropy(self) return bce_logits(self.logits, self.probs) end
  -- d:enumerate_support([expand = true]): the values 0 and 1, shape (2,) + batch_shape
  function Bernoulli.enumerate_support(self, expand)
    local ones = {}
    for i = 1, #self.batch_shape do ones[i] = 1 end
    local v = nl.tensor({ 0, 1 }, self._dtype):view(concat({ 2 }, ones))
    if expand == false then return v end
    return v:expand(concat({ 2 }, self.batch_shape))
  end

  -- ---- Categorical ------------------------------------------------------------------

  local Categorical = class('Categorical', {
    mean = function(self) return nl.full(self:_extended_shape({}), 0 / 0, self._dtype) end,
    variance = function(self) return nl.full(self:_extended_shape({}), 0 / 0, self._dtype) end,
    param_shape = function(self) return self.probs:shape() end,
    mode = function(self) return self.probs:detach():argmax(-1) end,     -- (the first most likely class, 1-based)
  })
  D.Categorical = Categorical
  Categorical.arg_constraints = { probs = constraints.simplex, logits = constraints.independent(constraints.real, 1) }
  Categorical.has_enumerate_support = true
  Categorical._int_values = true
  Categorical._param_dims = { probs = 1, logits = 1 }
  Categorical._param_order = { 'probs', 'logits' }
  -- Categorical(probs) or Categorical(nil, logits) or Categorical{probs = } / {logits = }:
  -- categories 1..K over the last dim (probs are normalized to sum to 1)
  function Categorical._new(probs, logits, opts, cls)
    cls = cls or Categorical
    local op = cls.__name
    probs, logits, opts = probs_or_logits(op, probs, logits, opts)
    local self
    if probs ~= nil then
      self = new(cls, { 'probs' })
      float_tensor(op, 'probs', probs, 1)
      self.probs = probs / probs:sum(-1, true)
      self.logits = clamp_probs(self.probs):log()
    else
      self = new(cls, { 'logits' })
      float_tensor(op, 'logits', logits, 1)
      self.logits = logits - logits:logsumexp(-1, true)
      self.probs = self.logits:softmax(-1)
    end
    self._dtype = self.probs:dtype()
    self._num_events = self.probs:size(-1)
    local s = self.probs:shape()
    if cls == Categorical then return init(self, sub(s, 1, -2), {}, opts) end
    return init(self, sub(s, 1, -2), { s[#s] }, opts)
  end
  Categorical._props.support = function(self) return constraints.integer_interval(1, self._num_events) end
  function Categorical.sample(self, shape)
    shape = shape_arg('Categorical.sample', shape)
    local n, k = numel(shape), self._num_events
    return no_grad(function()
      local p = self.probs:detach():reshape(-1, k)
      local out = concat(shape, self.batch_shape)
      if n == 0 then return nl.zeros(out, 'int64') end
      return nl.multinomial(p, n, true):t():contiguous():reshape(out)
    end)
  end
  local function gather_log_prob(self, v)
    v = v:long():unsqueeze(-1)
    local s = broadcast(v:shape(), self.logits:shape())
    if not s then
      raise(('Categorical.log_prob: the value %s does not broadcast with batch_shape %s'):format(
        shape_str(sub(v:shape(), 1, -2)), shape_str(self.batch_shape)))
    end
    local idx = v:expand(concat(sub(s, 1, -2), { 1 })):contiguous()
    return self.logits:expand(s):gather(-1, idx):squeeze(-1)
  end
  function Categorical.log_prob(self, v) return gather_log_prob(self, self:_value('log_prob', v)) end
  function Categorical.entropy(self)
    local logits = self.logits:clamp(FMIN[self._dtype])
    return -(logits * self.probs):sum(-1)
  end
  -- d:enumerate_support([expand = true]): 1..K, shape (K,) + batch_shape
  function Categorical.enumerate_support(self, expand)
    local ones = {}
    for i = 1, #self.batch_shape do ones[i] = 1 end
    local v = nl.arange(1, self._num_events + 1):view(concat({ self._num_events }, ones))
    if expand == false then return v end
    return v:expand(concat({ self._num_events }, self.batch_shape))
  end

  -- ---- OneHotCategorical ---------------------------------------------------------------

  local OneHotCategorical = class('OneHotCategorical', {
    mean = function(self) return self.probs end,
    variance = function(self) return self.probs * (1 - self.probs) end,
    param_shape = function(self) return self.probs:shape() end,
    mode = function(self) return F.one_hot(self.probs:detach():argmax(-1), self._num_events):to(self._dtype) end,
  })
  D.OneHotCategorical = OneHotCategorical
  OneHotCategorical.arg_constraints = { probs = constraints.simplex, logits = constraints.independent(constraints.real, 1) }
  OneHotCategorical.support = constraints.one_hot
  OneHotCategorical.has_enumerate_support = true
  OneHotCategorical._param_dims = { probs = 1, logits = 1 }
  OneHotCategorical._param_order = { 'probs', 'logits' }
  -- OneHotCategorical(probs) or (nil, logits) or {probs = } / {logits = }:
  -- one-hot vectors over the last dim
  function OneHotCategorical._new(probs, logits, opts)
    return Categorical._new(probs, logits, opts, OneHotCategorical)
  end
  function OneHotCategorical.sample(self, shape)
    local idx = Categorical.sample(self, shape)
    return F.one_hot(idx, self._num_events):to(self._dtype)
  end
  function OneHotCategorical.log_prob(self, v)
    v = self:_value('log_prob', v)
    local _, idx = v:max(-1)
    return gather_log_prob(self, idx)
  end
  OneHotCategorical.entropy = Categorical.entropy
  OneHotCategorical._value_as_params = true    -- (PyTorch's log_prob takes the argmax of the value)
  function OneHotCategorical.enumerate_support(self, expand)
    local k = self._num_events
    local shape = { k }
    for i = 1, #self.batch_shape do shape[i + 1] = 1 end
    shape[#shape + 1] = k
    local v = nl.eye(k, self._dtype):view(shape)
    if expand == false then return v end
    return v:expand(concat(concat({ k }, self.batch_shape), { k }))
  end

  -- ---- Uniform --------------------------------------------------------------------------

  local Uniform = class('Uniform', {
    mean = function(self) return (self.high + self.low) / 2 end,
    stddev = function(self) return (self.high - self.low) / math.sqrt(12) end,
    variance = function(self) return (self.high - self.low):pow(2) / 12 end,
    mode = function(self) return self.high * (0 / 0) end,          -- (none: NaN, as PyTorch's)
  })
  D.Uniform = Uniform
  Uniform.has_rsample = true
  scalar_params(Uniform, { 'low', 'high' })
  Uniform._props.support = function(self) return constraints.interval(self.low, self.high) end
  -- Uniform(low, high, [{validate_args}]): on [low, high)
  function Uniform._new(low, high, opts)
    opts = options('Uniform', opts)
    local self, shape = new_params(Uniform, { low, high })
    init(self, shape, {}, opts)
    if self._validate_args and not no_grad(function() return all_valid(self.low:lt(self.high)) end) then
      raise(('Uniform: expected low < high, but found low >= high (low %s, high %s)'):format(
        shape_str(self.low:shape()), shape_str(self.high:shape())))
    end
    return self
  end
  function Uniform.rsample(self, shape)
    local s = self:_extended_shape(shape_arg('Uniform.rsample', shape))
    return self.low + nl.rand(s, self._dtype) * (self.high - self.low)
  end
  function Uniform.log_prob(self, v)
    v = self:_value('log_prob', v)
    -- in the parameters' dtype, as PyTorch's type_as(self.low)
    local lb, ub = self.low:le(v):to(self._dtype), self.high:gt(v):to(self._dtype)
    return (lb * ub):log() - (self.high - self.low):log()
  end
  function Uniform.cdf(self, v)
    v = self:_value('cdf', v)
    return ((v - self.low) / (self.high - self.low)):clamp(0, 1)
  end
  function Uniform.icdf(self, v)
    v = self:_value('icdf', v, true)
    return v * (self.high - self.low) + self.low
  end
  function Uniform.entropy(self) return (self.high - self.low):log() end

  -- ---- Exponential -------------------------------------------------------------------------

  local Exponential = class('Exponential', {
    mean = function(self) return self.rate:reciprocal() end,
    stddev = function(self) return self.rate:reciprocal() end,
    variance = function(self) return self.rate:pow(-2) end,
    mode = function(self) return nl.zeros_like(self.rate:detach()) end,
  })
  D.Exponential = Exponential
  Exponential.arg_constraints = { rate = constraints.positive }
  Exponential.support = constraints.nonnegative
  Exponential.has_rsample = true
  scalar_params(Exponential, { 'rate' })
  -- Exponential(rate, [{validate_args}])
  function Exponential._new(rate, opts)
    opts = options('Exponential', opts)
    local self = new(Exponential)
    local p, shape = broadcast_all('Exponential', { 'rate' }, { rate })
    self.rate, self._dtype = p[1], p[1]:dtype()
    return init(self, shape, {}, opts)
  end
  function Exponential.rsample(self, shape)
    local s = self:_extended_shape(shape_arg('Exponential.rsample', shape))
    local e = no_grad(function() return nl.zeros(s, self._dtype):exponential_() end)
    return e / self.rate
  end
  function Exponential.log_prob(self, v)
    v = self:_value('log_prob', v)
    return self.rate:log() - self.rate * v
  end
  function Exponential.cdf(self, v)
    v = self:_value('cdf', v)
    return 1 - (-self.rate * v):exp()
  end
  function Exponential.icdf(self, v)
    v = self:_value('icdf', v, true)
    return -(-v):log1p() / self.rate
  end
  function Exponential.entropy(self) return 1 - self.rate:log() end

  -- ---- Laplace ----------------------------------------------------------------------------------

  local Laplace = class('Laplace', {
    mean = function(self) return self.loc end,
    mode = function(self) return self.loc end,
    stddev = function(self) return SQRT2 * self.scale end,
    variance = function(self) return 2 * self.scale:pow(2) end,
  })
  D.Laplace = Laplace
  Laplace.arg_constraints = { loc = constraints.real, scale = constraints.positive }
  Laplace.support = constraints.real
  Laplace.has_rsample = true
  scalar_params(Laplace, { 'loc', 'scale' })
  -- Laplace(loc, scale, [{validate_args}])
  function Laplace._new(loc, scale, opts)
    opts = options('Laplace', opts)
    local self, shape = new_params(Laplace, { loc, scale })
    return init(self, shape, {}, opts)
  end
  function Laplace.rsample(self, shape)
    local s = self:_extended_shape(shape_arg('Laplace.rsample', shape))
    local eps = EPS[self._dtype]
    local u = nl.rand(s, self._dtype) * (2 - eps) + (eps - 1)          -- U(eps - 1, 1)
    return self.loc - self.scale * u:sign() * (-u:abs()):log1p()
  end
  function Laplace.log_prob(self, v)
    v = self:_value('log_prob', v)
    return -(2 * self.scale):log() - (v - self.loc):abs() / self.scale
  end
  function Laplace.cdf(self, v)
    v = self:_value('cdf', v)
    local d = v - self.loc
    return 0.5 - 0.5 * d:sign() * (-d:abs() / self.scale):expm1()
  end
  function Laplace.icdf(self, v)
    v = self:_value('icdf', v, true)
    local term = v - 0.5
    return self.loc - self.scale * term:sign() * (-2 * term:abs()):log1p()
  end
  function Laplace.entropy(self) return 1 + (2 * self.scale):log() end

  -- ---- MultivariateNormal ------------------------------------------------------------------------

  local function mT(t) return t:transpose(-2, -1) end
  -- the squared Mahalanobis distance x^T (L L^T)^-1 x, L and x batched and broadcast
  local function mahalanobis(L, x)
    local n = x:size(-1)
    local b = broadcast(sub(L:shape(), 1, -3), sub(x:shape(), 1, -2))
    local Lb = L:expand(concat(b, { n, n }))
    local xb = x:expand(concat(b, { n })):unsqueeze(-1)
    return nl.linalg.solve_triangular(Lb, xb, { upper = false }):squeeze(-1):pow(2):sum(-1)
  end
  local function precision_to_scale_tril(P)
    local Lf = nl.linalg.cholesky(P:flip(-2, -1))
    local L_inv = mT(Lf:flip(-2, -1))
    local id = nl.eye(P:size(-1), P:dtype())
    return nl.linalg.solve_triangular(L_inv, id:expand(P:shape()), { upper = false })
  end

  local MultivariateNormal = class('MultivariateNormal', {
    mean = function(self) return self.loc end,
    mode = function(self) return self.loc end,
    variance = function(self)
      return self._unbroadcasted_scale_tril:pow(2):sum(-1):expand(concat(self.batch_shape, self.event_shape))
    end,
    scale_tril = function(self)
      local n = self.event_shape[1]
      return self._unbroadcasted_scale_tril:expand(concat(self.batch_shape, { n, n }))
    end,
    covariance_matrix = function(self)
      local L, n = self._unbroadcasted_scale_tril, self.event_shape[1]
      return nl.matmul(L, mT(L)):expand(concat(self.batch_shape, { n, n }))
    end,
    precision_matrix = function(self)
      local n = self.event_shape[1]
      return nl.cholesky_inverse(self._unbroadcasted_scale_tril):expand(concat(self.batch_shape, { n, n }))
    end,
  })
  D.MultivariateNormal = MultivariateNormal
  MultivariateNormal.arg_constraints = { loc = constraints.real_vector, covariance_matrix = constraints.positive_definite,
                                         precision_matrix = constraints.positive_definite,
                                         scale_tril = constraints.lower_cholesky }
  MultivariateNormal.support = constraints.real_vector
  MultivariateNormal._value_as_params = true    -- (PyTorch's log_prob gives the parameters' dtype)
  MultivariateNormal.has_rsample = true
  MultivariateNormal._param_dims = { loc = 1, covariance_matrix = 2, precision_matrix = 2, scale_tril = 2 }
  MultivariateNormal._param_order = { 'loc', 'covariance_matrix', 'precision_matrix', 'scale_tril' }
  local MVN_OPTS = { covariance_matrix = true, precision_matrix = true, scale_tril = true }
  -- MultivariateNormal(loc, covariance_matrix) or MultivariateNormal(loc,
  -- {covariance_matrix = | precision_matrix = | scale_tril = , validate_args = })
  function MultivariateNormal._new(loc, cov, opts)
    local op = 'MultivariateNormal'
    if type(cov) == 'table' and not is_tensor(cov) and opts == nil then
      opts = options(op, cov, MVN_OPTS)
    else
      opts = options(op, opts, MVN_OPTS)
      if cov ~= nil then
        if opts.covariance_matrix then
          raise(op .. ': covariance_matrix given both positionally and as an option')
        end
        opts = setmetatable({ covariance_matrix = cov }, { __index = opts })
      end
    end
    float_tensor(op, 'loc', loc, 1)
    local given = {}
    for _, name in ipairs({ 'covariance_matrix', 'precision_matrix', 'scale_tril' }) do
      if opts[name] ~= nil then given[#given + 1] = name end
    end
    if #given ~= 1 then raise(op .. ': exactly one of covariance_matrix or precision_matrix or scale_tril may be specified') end
    local name = given[1]
    local m = float_tensor(op, name, opts[name], 2)
    if m:dtype() ~= loc:dtype() then
      raise(('%s: loc is %s and %s %s'):format(op, loc:dtype(), name, m:dtype()))
    end
    local n = loc:size(-1)
    if m:size(-1) ~= n or m:size(-2) ~= n then
      raise(('%s: %s %s must be square of the size of loc %s'):format(op, name, shape_str(m:shape()), shape_str(loc:shape())))
    end
    local batch = broadcast(sub(m:shape(), 1, -3), sub(loc:shape(), 1, -2))
    if not batch then
      raise(('%s: the batch shapes of loc %s and %s %s do not broadcast'):format(op, shape_str(loc:shape()), name,
            shape_str(m:shape())))
    end
    local self = new(MultivariateNormal, { 'loc', name })
    self[name] = m:expand(concat(batch, { n, n }))
    self.loc = loc:expand(concat(batch, { n }))
    self._dtype = loc:dtype()
    init(self, batch, { n }, opts)
    if name == 'scale_tril' then
      self._unbroadcasted_scale_tril = m
    elseif name == 'covariance_matrix' then
      self._unbroadcasted_scale_tril = nl.linalg.cholesky(m)
    else
      self._unbroadcasted_scale_tril = precision_to_scale_tril(m)
    end
    return self
  end
  function MultivariateNormal.rsample(self, shape)
    local s = self:_extended_shape(shape_arg('MultivariateNormal.rsample', shape))
    local eps = nl.randn(s, self._dtype)
    return self.loc + nl.matmul(self._unbroadcasted_scale_tril, eps:unsqueeze(-1)):squeeze(-1)
  end
  local function half_log_det(L) return L:diagonal(0, -2, -1):log():sum(-1) end
  function MultivariateNormal.log_prob(self, v)
    v = self:_value('log_prob', v)
    local M = mahalanobis(self._unbroadcasted_scale_tril, v - self.loc)
    return -0.5 * (self.event_shape[1] * LOG_2PI + M) - half_log_det(self._unbroadcasted_scale_tril)
  end
  function MultivariateNormal.entropy(self)
    local H = 0.5 * self.event_shape[1] * (1 + LOG_2PI) + half_log_det(self._unbroadcasted_scale_tril)
    if #self.batch_shape == 0 then return H end
    return H:expand(self.batch_shape)
  end

  -- ---- Independent ---------------------------------------------------------------------------------

  -- (the base_distribution check of Independent and TransformedDistribution)
  local function check_base(op, base)
    if type(base) ~= 'table' or getmetatable(base) == nil or not base.batch_shape then
      raise(op .. ': expected a distribution as base_distribution, got ' .. type(base))
    end
  end
  local Independent = class('Independent', {
    mean = function(self) return self.base_dist.mean end,
    variance = function(self) return self.base_dist.variance end,
    mode = function(self) return self.base_dist.mode end,
    support = function(self) return constraints.independent(self.base_dist.support, self.reinterpreted_batch_ndims) end,
  })
  D.Independent = Independent
  -- Independent(base_distribution, reinterpreted_batch_ndims, [{validate_args}]):
  -- the rightmost reinterpreted_batch_ndims of base's batch dims made event dims
  function Independent._new(base, n, opts)
    local op = 'Independent'
    opts = options(op, opts)
    check_base(op, base)
    if type(n) ~= 'number' or n ~= math.floor(n) or n < 0 then
      raise(op .. ': expected reinterpreted_batch_ndims as a whole number >= 0, got ' .. tostring(n))
    end
    if n > #base.batch_shape then
      raise(('%s: expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), actual %d vs %d (batch_shape %s)')
            :format(op, n, #base.batch_shape, shape_str(base.batch_shape)))
    end
    local self = new(Independent, {})
    self.base_dist, self.reinterpreted_batch_ndims = base, n
    self.has_rsample = base.has_rsample
    self.has_enumerate_support = n == 0 and base.has_enumerate_support
    self._dtype = base._dtype
    local shape = concat(base.batch_shape, base.event_shape)
    local edim = n + #base.event_shape
    return init(self, sub(shape, 1, #shape - edim), sub(shape, #shape - edim + 1), opts)
  end
  function Independent.expand(self, batch_shape)
    batch_shape = shape_arg('Independent.expand', batch_shape)
    local n = self.reinterpreted_batch_ndims
    local base = self.base_dist:expand(concat(batch_shape, sub(self.base_dist.batch_shape, #self.base_dist.batch_shape - n + 1)))
    return Independent(base, n, { validate_args = self._validate_args })
  end
  function Independent.sample(self, shape) return self.base_dist:sample(shape) end
  function Independent.rsample(self, shape) return self.base_dist:rsample(shape) end
  function Independent.log_prob(self, v)
    return sum_rightmost(self.base_dist:log_prob(v), self.reinterpreted_batch_ndims)
  end
  function Independent.entropy(self)
    return sum_rightmost(self.base_dist:entropy(), self.reinterpreted_batch_ndims)
  end
  function Independent.enumerate_support(self, expand)
    if self.reinterpreted_batch_ndims > 0 then raise('Independent: enumeration over the cartesian product is not implemented') end
    return self.base_dist:enumerate_support(expand)
  end
  function Independent.__tostring(self)
    return ('Independent(%s, %d)'):format(tostring(self.base_dist), self.reinterpreted_batch_ndims)
  end


  -- ---- the gamma family: Gamma, Dirichlet, Beta --------------------------------------------------
  -- Draws of Gamma(alpha, 1) by Marsaglia and Tsang's method, on whole
  -- tensors: each round draws for every element, and an element keeps its
  -- first accepted draw (an alpha < 1 draws at alpha + 1 and is scaled by
  -- U^(1/alpha)). Given as logs: U^(1/alpha) underflows for a small alpha
  -- (U < 0.42 at alpha 0.01 in float32), and Dirichlet and Beta normalize
  -- the logs (a softmax), so that their draws are right where the gamma
  -- draws underflow. In float64 (as PyTorch's, whose float32 sampler
  -- computes in double): the acceptance test subtracts terms of the size
  -- of alpha, which float32 holds only to some units at 1e8 (its draws had
  -- the wrong variance). No gradient: PyTorch differentiates its sampler
  -- implicitly, which nnlua does not, so these families have no rsample.
  local function log_standard_gamma(alpha)
    return no_grad(function()
      alpha = alpha:to('float64')
      local dt, shape = 'float64', alpha:shape()
      local small = alpha:lt(1)
      local a = alpha + small
      local d = a - 1 / 3
      local c = (9 * d):rsqrt()
      local out, done = nl.zeros(shape, dt), nl.zeros(shape, dt)
      for _ = 1, 200 do
        local x = nl.randn(shape, dt)
        local v = (1 + c * x):pow(3)
        local u = nl.rand(shape, dt)
        local ok = v:gt(0) * u:log():lt(0.5 * x:pow(2) + d - d * v + d * v:clamp(TINY[dt]):log())
        local take = ok * (1 - done)
        out = nl.where(take, d * v, out)
        done = done + take
        if done:numel() == 0 or done:min():item() > 0 then
          local boost = nl.where(small, nl.rand(shape, dt):clamp(TINY[dt]):log() / alpha, 0)
          return out:log() + boost
        end
      end
      raise('Gamma: the sampler did not accept a draw in 200 rounds')
    end)
  end
  -- concentrations the sampler takes: > 0 and finite (a NaN, negative or
  -- infinite one ran 200 rounds and failed naming Gamma)
  local function positive_finite(t) return t:gt(0) * t:lt(math.huge) end
  local function check_concentration(op, name, t)
    check_draw_param(op, name, t, '> 0 and finite', positive_finite)
  end
  local function no_rsample(name)
    return function(...)   -- (any arguments: refused below, whatever they are)
      raise(('%s: rsample is not available: nnlua cannot reparameterize %s draws (PyTorch differentiates its gamma '
             .. 'sampler implicitly); use sample, which gives no gradient'):format(name, name))
    end
  end

  local Gamma = class('Gamma', {
    mean = function(self) return self.concentration / self.rate end,
    variance = function(self) return self.concentration / self.rate:pow(2) end,
    mode = function(self) return ((self.concentration - 1) / self.rate):clamp(0) end,
  })
  D.Gamma = Gamma
  Gamma.arg_constraints = { concentration = constraints.positive, rate = constraints.positive }
  Gamma.support = constraints.nonnegative
  scalar_params(Gamma, { 'concentration', 'rate' })
  Gamma.rsample = no_rsample('Gamma')
  Gamma._value_as_params = true    -- (PyTorch's log_prob casts the value to the rate's dtype)
  -- Gamma(concentration, rate, [{validate_args}])
  function Gamma._new(concentration, rate, opts)
    opts = options('Gamma', opts)
    local self, shape = new_params(Gamma, { concentration, rate })
    return init(self, shape, {}, opts)
  end
  function Gamma.sample(self, shape)
    local s = self:_extended_shape(shape_arg('Gamma.sample', shape))
    check_concentration('Gamma.sample', 'concentration', self.concentration)
    check_draw_param('Gamma.sample', 'rate', self.rate, '> 0', constraints.positive.check)
    return no_grad(function()
      local g = log_standard_gamma(self.concentration:detach():expand(s):contiguous()):exp()
      return (g / self.rate:detach():to('float64')):to(self._dtype):clamp(TINY[self._dtype])
    end)
  end
  function Gamma.log_prob(self, v)
    v = self:_value('log_prob', v)
    local c, r = self.concentration, self.rate
    return nl.xlogy(c, r) + nl.xlogy(c - 1, v) - r * v - c:lgamma()
  end
  function Gamma.entropy(self)
    local c = self.concentration
    return c - self.rate:log() + c:lgamma() + (1 - c) * c:digamma()
  end

  local Dirichlet = class('Dirichlet', {
    mean = function(self) return self.concentration / self.concentration:sum(-1, true) end,
    variance = function(self)
      local c = self.concentration
      local c0 = c:sum(-1, true)
      return c * (c0 - c) / (c0:pow(2) * (c0 + 1))
    end,
    -- (c - 1) / sum(c - 1) with c - 1 clamped at 0; where every c < 1, the
    -- first vertex (as PyTorch's, whose argmax of that NaN row is the first)
    mode = function(self)
      local c = self.concentration
      local cm1 = (c - 1):clamp(0)
      local mode = cm1 / cm1:sum(-1, true)
      local all_small = c:detach():lt(1):min(-1, true)
      local first = nl.zeros(c:size(-1), self._dtype)
      first[1] = 1
      return nl.where(all_small, first, mode)
    end,
  })
  D.Dirichlet = Dirichlet
  Dirichlet.arg_constraints = { concentration = constraints.independent(constraints.positive, 1) }
  Dirichlet.support = constraints.simplex
  Dirichlet._param_dims = { concentration = 1 }
  Dirichlet._param_order = { 'concentration' }
  Dirichlet.rsample = no_rsample('Dirichlet')
  -- Dirichlet(concentration, [{validate_args}]): over the last dim
  function Dirichlet._new(concentration, opts)
    opts = options('Dirichlet', opts)
    float_tensor('Dirichlet', 'concentration', concentration, 1)
    local self = new(Dirichlet)
    self.concentration, self._dtype = concentration, concentration:dtype()
    local s = concentration:shape()
    return init(self, sub(s, 1, -2), { s[#s] }, opts)
  end
  function Dirichlet.sample(self, shape)
    local s = self:_extended_shape(shape_arg('Dirichlet.sample', shape))
    check_concentration('Dirichlet.sample', 'concentration', self.concentration)
    return no_grad(function()
      local g = log_standard_gamma(self.concentration:detach():expand(s):contiguous())
      return g:softmax(-1):to(self._dtype):clamp(TINY[self._dtype], 1 - EPS[self._dtype])
    end)
  end
  function Dirichlet.log_prob(self, v)
    v = self:_value('log_prob', v)
    local c = self.concentration
    return (v:log() * (c - 1)):sum(-1) + c:sum(-1):lgamma() - c:lgamma():sum(-1)
  end
  function Dirichlet.entropy(self)
    local c = self.concentration
    local k, a0 = c:size(-1), c:sum(-1)
    return c:lgamma():sum(-1) - a0:lgamma() - (k - a0) * a0:digamma() - ((c - 1) * c:digamma()):sum(-1)
  end

  local Beta = class('Beta', {
    mean = function(self) return self.concentration1 / (self.concentration1 + self.concentration0) end,
    variance = function(self)
      local c1, c0 = self.concentration1, self.concentration0
      local total = c1 + c0
      return c1 * c0 / (total:pow(2) * (total + 1))
    end,
    mode = function(self) return self._dirichlet.mode:select(-1, 1) end,
  })
  D.Beta = Beta
  Beta.arg_constraints = { concentration1 = constraints.positive, concentration0 = constraints.positive }
  Beta.support = constraints.unit_interval
  scalar_params(Beta, { 'concentration1', 'concentration0' })
  Beta.rsample = no_rsample('Beta')
  -- Beta(concentration1, concentration0, [{validate_args}]): a Dirichlet of
  -- the pair, as PyTorch's
  function Beta._new(c1, c0, opts)
    opts = options('Beta', opts)
    local self, shape, p = new_params(Beta, { c1, c0 })
    init(self, shape, {}, opts)
    self._dirichlet = Dirichlet(nl.stack({ p[1], p[2] }, -1), opts)
    return self
  end
  function Beta._expand_more(_, out, batch_shape) out._dirichlet = out._dirichlet:expand(batch_shape) end
  function Beta.sample(self, shape)
    check_concentration('Beta.sample', 'concentration1', self.concentration1)
    check_concentration('Beta.sample', 'concentration0', self.concentration0)
    return self._dirichlet:sample(shape):select(-1, 1)
  end
  function Beta.log_prob(self, v)
    v = self:_value('log_prob', v)
    local s = broadcast(v:shape(), self.batch_shape) or v:shape()
    v = v:expand(s)
    return self._dirichlet:log_prob(nl.stack({ v, 1 - v }, -1))
  end
  function Beta.entropy(self) return self._dirichlet:entropy() end

  -- ---- Poisson, Binomial ----------------------------------------------------------------------
  constraints.nonnegative_integer = constraint('nonnegative_integer', function(v)
    v = v:to('float64')
    return v:ge(0) * v:eq(v:floor())
  end)

  -- Poisson draws on whole tensors: Knuth's product of uniforms below a
  -- rate of 10, Hormann's transformed rejection (PTRS, as numpy's and
  -- PyTorch's) at 10 and above; in float64 (PTRS's acceptance test
  -- subtracts log-probabilities of size rate log rate, which float32 holds
  -- only to some units at a rate of 1e6: its draws had the wrong variance)
  -- The log-probability -lam + k log(lam) - lgamma(k + 1) is taken in
  -- Stirling's form, (k + 1 - lam) + k log1p((lam - k - 1) / (k + 1)) -
  -- log(2 pi (k + 1)) / 2 - tail(k): as written its terms of size lam log
  -- lam cancel, and float64 kept too few digits of them at a rate of 1e15
  -- (the lower tail short by a tenth)
  local STIRLING_TAIL = nil
  -- log(k!) - (k + 1/2) log(k + 1) + (k + 1) - log(2 pi) / 2 for whole k >= 0
  -- (a table below 10, the series above)
  local function stirling_tail(k)
    STIRLING_TAIL = STIRLING_TAIL or nl.tensor({ 0.0810614667953272, 0.0413406959554092, 0.0276779256849983,
                                                  0.02079067210376509, 0.0166446911898211, 0.0138761288230707,
                                                  0.0118967099458917, 0.0104112652619720, 0.00925546218271273,
                                                  0.00833056343336287 }, 'float64')
    local k1 = k + 1
    local sq = k1 * k1
    local series = (1 / 12 - (1 / 360 - 1 / 1260 / sq) / sq) / k1
    return nl.where(k:le(9), STIRLING_TAIL:gather(1, k:clamp(0, 9):long():reshape(-1) + 1):view(k:shape()), series)
  end
  local function poisson_log_prob(lam, k)
    local k1 = k + 1
    local d = lam - k1
    return -d + k * (d / k1):log1p() - 0.5 * (2 * math.pi * k1):log() - stirling_tail(k)
  end
  local function poisson_draw(rate)
    return no_grad(function()
      local dt, shape = rate:dtype(), rate:shape()
      local big = rate:ge(10)
      local lam = nl.where(big, 0, rate)
      local L, prod, k = (-lam):exp(), nl.ones(shape, dt), nl.zeros(shape, dt)
      while true do
        prod = prod * nl.rand(shape, dt)
        local still = prod:gt(L)
        if still:numel() == 0 or still:max():item() == 0 then break end
        k = k + still
      end
      if big:numel() == 0 or big:max():item() == 0 then return k end
      lam = nl.where(big, rate, 10)
      local slam = lam:sqrt()
      local b = 0.931 + 2.53 * slam
      local a = -0.059 + 0.02483 * b
      local invalpha = 1.1239 + 1.1328 / (b - 3.4)
      local vr = 0.9277 - 3.6224 / (b - 2)
      local out, done = nl.zeros(shape, dt), 1 - big
      for _ = 1, 1000 do
        local U, V = nl.rand(shape, dt) - 0.5, nl.rand(shape, dt)
        local us = 0.5 - U:abs()
        local kk = ((2 * a / us + b) * U + lam + 0.43):floor()
        local quick = us:ge(0.07) * V:le(vr)
        local bad = kk:lt(0) + us:lt(0.013) * V:gt(us)
        local slow = (V:log() + invalpha:log() - (a / us:pow(2) + b):log()):le(poisson_log_prob(lam, kk:clamp(0)))
        local ok = nl.where(quick, 1, nl.where(bad:gt(0), 0, slow))
        local take = ok * (1 - done)
        out = nl.where(take, kk, out)
        done = done + take
        if done:min():item() > 0 then return nl.where(big, out, k) end
      end
      raise('Poisson: the sampler did not accept a draw in 1000 rounds (rate NaN or inf?)')
    end)
  end

  local Poisson = class('Poisson', {
    mean = function(self) return self.rate end,
    mode = function(self) return self.rate:detach():floor() end,
    variance = function(self) return self.rate end,
  })
  D.Poisson = Poisson
  Poisson.arg_constraints = { rate = constraints.nonnegative }
  Poisson.support = constraints.nonnegative_integer
  scalar_params(Poisson, { 'rate' })
  -- Poisson(rate, [{validate_args}])
  function Poisson._new(rate, opts)
    opts = options('Poisson', opts)
    local self = new(Poisson)
    local p, shape = broadcast_all('Poisson', { 'rate' }, { rate })
    self.rate, self._dtype = p[1], p[1]:dtype()
    return init(self, shape, {}, opts)
  end
  function Poisson.sample(self, shape)
    local s = self:_extended_shape(shape_arg('Poisson.sample', shape))
    check_draw_param('Poisson.sample', 'rate', self.rate, '>= 0', constraints.nonnegative.check)
    return poisson_draw(self.rate:detach():expand(s):to('float64'):contiguous()):to(self._dtype)
  end
  function Poisson.log_prob(self, v)
    v = self:_value('log_prob', v)
    return nl.xlogy(v, self.rate) - self.rate - (v + 1):lgamma()
  end

  local Binomial = class('Binomial', {
    mean = function(self) return self.total_count * self.probs end,
    variance = function(self) return self.total_count * self.probs * (1 - self.probs) end,
    mode = function(self)
      local n = self.total_count:detach()
      return nl.minimum(((n + 1) * self.probs:detach()):floor(), n)
    end,
    param_shape = function(self) return self.batch_shape end,
    support = function(self)
      local n = self.total_count
      return constraint('integer_interval(0, total_count)', function(v) return v:eq(v:floor()) * v:ge(0) * v:le(n) end)
    end,
  })
  D.Binomial = Binomial
  Binomial.arg_constraints = { total_count = constraints.nonnegative_integer, probs = constraints.unit_interval,
                               logits = constraints.real }
  Binomial.has_enumerate_support = true
  scalar_params(Binomial, { 'total_count', 'probs', 'logits' })
  -- Binomial(total_count, probs) or Binomial(total_count, nil, logits) or
  -- Binomial{total_count = , probs = | logits = , validate_args = }; total_count defaults to 1
  function Binomial._new(n, probs, logits, opts)
    local op = 'Binomial'
    n, probs, logits, opts = lead_probs_or_logits(op, 'total_count', n, probs, logits, opts)
    if n == nil then n = 1 end
    local self, shape = new_count_binary(Binomial, op, n, probs, logits)
    return init(self, shape, {}, opts)
  end
  -- the draws, in C (nl_binomial): PyTorch's inversion below n min(p, 1 - p)
  -- = 10 and Hormann's BTRS above, so the cost does not grow with total_count
  function Binomial.sample(self, shape)
    local op = 'Binomial.sample'
    local s = self:_extended_shape(shape_arg(op, shape))
    return no_grad(function()
      local n, p = self.total_count:detach():expand(s), self.probs:detach():expand(s)
      return nl._wrap(nl._lib.nl_binomial(nl._generator, nl._T(n, op), nl._T(p, op))):to(self._dtype)
    end)
  end
  function Binomial.log_prob(self, v)
    v = self:_value('log_prob', v)
    local n, l = self.total_count, self.logits
    local clamp_by_zero = (l:clamp(0) + l - l:clamp(nil, 0)) / 2
    local normalize = n * clamp_by_zero + n * (-l:abs()):exp():log1p() - (n + 1):lgamma()
    return v * l - (v + 1):lgamma() - (n - v + 1):lgamma() - normalize
  end
  local function homogeneous(self, what)
    local n = self.total_count:detach()
    local most = n:numel() > 0 and n:max():item() or 0
    if n:numel() > 0 and n:min():item() ~= most then
      raise(('Binomial: %s needs one total_count for the whole batch (inhomogeneous total count)'):format(what))
    end
    return most
  end
  -- d:enumerate_support([expand = true]): 0..total_count, shape (total_count + 1,) + batch_shape
  function Binomial.enumerate_support(self, expand)
    local most = homogeneous(self, 'enumerate_support')
    local ones = {}
    for i = 1, #self.batch_shape do ones[i] = 1 end
    local v = nl.arange(0, most + 1, 1, self._dtype):view(concat({ most + 1 }, ones))
    if expand == false then return v end
    return v:expand(concat({ most + 1 }, self.batch_shape))
  end
  function Binomial.entropy(self)
    homogeneous(self, 'entropy')
    local lp = self:log_prob(self:enumerate_support(false))
    return -(lp:exp() * lp):sum(1)
  end

  -- ---- transforms and TransformedDistribution ------------------------------------------------------
  -- Bijections with PyTorch's names: t(x) forward, t:inv(y), t:log_abs_det_jacobian(x, y),
  -- t.sign, t.domain, t.codomain, t.event_dim (0, or AffineTransform's option)
  local transforms = {}
  D.transforms = transforms
  local Transform = { __name = 'Transform' }
  Transform.__index = Transform
  Transform.__call = function(t, x) return t:forward(x) end
  Transform.__tostring = function(t) return t.__name .. '()' end
  local function transform_class(name, fields)
    local cls = setmetatable(fields, { __index = Transform })
    cls.__name, cls.__index, cls.__call, cls.__tostring = name, cls, Transform.__call, Transform.__tostring
    return cls
  end
  local function is_transform(t) return type(t) == 'table' and getmetatable(t) ~= nil and getmetatable(t).forward ~= nil end
  function Transform.forward_shape(_, shape) return shape end
  Transform.inverse_shape = Transform.forward_shape
  Transform.event_dim = 0

  local Exp = transform_class('ExpTransform', { sign = 1, domain = constraints.real, codomain = constraints.positive })
  function Exp.forward(_, x) return x:exp() end
  function Exp.inv(_, y) return y:log() end
  function Exp.log_abs_det_jacobian(_, x) return x end
  function transforms.ExpTransform() return setmetatable({}, Exp) end

  local function clipped_sigmoid(x)
    return x:sigmoid():clamp(TINY[x:dtype()], 1 - EPS[x:dtype()])
  end
  local Sigmoid = transform_class('SigmoidTransform', { sign = 1, domain = constraints.real,
                                                        codomain = constraints.unit_interval })
  function Sigmoid.forward(_, x) return clipped_sigmoid(x) end
  function Sigmoid.inv(_, y)
    y = y:clamp(TINY[y:dtype()], 1 - EPS[y:dtype()])
    return y:log() - (-y):log1p()
  end
  function Sigmoid.log_abs_det_jacobian(_, x) return -F.softplus(-x) - F.softplus(x) end
  function transforms.SigmoidTransform() return setmetatable({}, Sigmoid) end

  local Tanh = transform_class('TanhTransform', { sign = 1, domain = constraints.real,
                                                  codomain = constraints.interval(-1, 1) })
  Tanh.codomain.name = 'interval(-1, 1)'
  function Tanh.forward(_, x) return x:tanh() end
  function Tanh.inv(_, y) return y:atanh() end
  function Tanh.log_abs_det_jacobian(_, x) return 2 * (math.log(2) - x - F.softplus(-2 * x)) end
  function transforms.TanhTransform() return setmetatable({}, Tanh) end

  local function shape_of(v) return is_tensor(v) and v:shape() or {} end
  local function sign_of(v) return is_tensor(v) and v:sign() or (v > 0 and 1 or v < 0 and -1 or 0) end
  local function bcast_params(op, shape, ...)
    for _, v in ipairs({ ... }) do
      local b = broadcast(shape, shape_of(v))
      if not b then raise(('%s: the shape %s does not broadcast with the parameters %s'):format(op, shape_str(shape),
                          shape_str(shape_of(v)))) end
      shape = b
    end
    return shape
  end
  local function number_or_tensor(op, name, v)
    if type(v) ~= 'number' and not is_tensor(v) then raise(('%s: expected %s as a number or a tensor, got %s'):format(op, name, type(v))) end
    return v
  end

  local Affine = transform_class('AffineTransform', {})
  function Affine.forward(t, x) return x * t.scale + t.loc end
  function Affine.inv(t, y) return (y - t.loc) / t.scale end
  function Affine.log_abs_det_jacobian(t, x)
    local r = type(t.scale) == 'number' and nl.full_like(x, math.log(math.abs(t.scale))) or t.scale:abs():log()
    local shape = x:shape()
    if t.event_dim > 0 then
      r = sum_rightmost(r:expand(bcast_params('AffineTransform', r:shape(), x)), t.event_dim)
      shape = sub(shape, 1, #shape - t.event_dim)
    end
    return r:expand(broadcast(r:shape(), shape) or shape)
  end
  function Affine.forward_shape(t, shape) return bcast_params('AffineTransform', shape, t.loc, t.scale) end
  Affine.inverse_shape = Affine.forward_shape
  Affine.__tostring = function(t) return ('AffineTransform(event_dim = %d)'):format(t.event_dim) end
  -- AffineTransform(loc, scale, [{event_dim = 0}]): y = loc + scale x
  function transforms.AffineTransform(loc, scale, opts)
    local op = 'AffineTransform'
    opts = options(op, opts, { event_dim = true })
    local k = opts.event_dim or 0
    if type(k) ~= 'number' or k ~= math.floor(k) or k < 0 then raise(op .. ': event_dim must be a whole number >= 0') end
    local t = setmetatable({ loc = number_or_tensor(op, 'loc', loc), scale = number_or_tensor(op, 'scale', scale),
                             event_dim = k }, Affine)
    local dom = k == 0 and constraints.real or constraints.independent(constraints.real, k)
    t.domain, t.codomain, t.sign = dom, dom, sign_of(scale)
    return t
  end

  local Power = transform_class('PowerTransform', { domain = constraints.positive, codomain = constraints.positive })
  function Power.forward(t, x) return x:pow(t.exponent) end
  function Power.inv(t, y)
    return is_tensor(t.exponent) and y:pow(t.exponent:reciprocal()) or y:pow(1 / t.exponent)
  end
  function Power.log_abs_det_jacobian(t, x, y) return (t.exponent * y / x):abs():log() end
  function Power.forward_shape(t, shape) return bcast_params('PowerTransform', shape, t.exponent) end
  Power.inverse_shape = Power.forward_shape
  -- PowerTransform(exponent): y = x^exponent on the positive reals
  function transforms.PowerTransform(exponent)
    local t = setmetatable({ exponent = number_or_tensor('PowerTransform', 'exponent', exponent) }, Power)
    t.sign = sign_of(exponent)
    return t
  end
  -- (the methods take tensors: anything else is an error naming the transform)
  for _, cls in ipairs({ Exp, Sigmoid, Tanh, Affine, Power }) do
    for _, m in ipairs({ 'forward', 'inv', 'log_abs_det_jacobian' }) do
      local f = rawget(cls, m)
      cls[m] = function(t, x, y)
        if not is_tensor(x) then raise(('%s.%s: expected a tensor, got %s'):format(cls.__name, m, type(x))) end
        return f(t, x, y)
      end
    end
  end
  for k, f in pairs(transforms) do D[k] = f end

  local function same_value(a, b)
    if type(a) == 'number' and type(b) == 'number' then return a == b end
    local d = (is_tensor(a) and a or nl.tensor(a)) - b
    return no_grad(function() return d:numel() == 0 or d:abs():max():item() == 0 end)
  end
  local function same_transform(a, b)
    local ma = getmetatable(a)
    if ma ~= getmetatable(b) then return false end
    if ma == Affine then return a.event_dim == b.event_dim and same_value(a.loc, b.loc) and same_value(a.scale, b.scale) end
    if ma == Power then return same_value(a.exponent, b.exponent) end
    return true
  end

  local TransformedDistribution = class('TransformedDistribution', {
    support = function(self)
      local ts = self.transforms
      if #ts == 0 then return self.base_dist.support end
      local c = ts[#ts].codomain
      if #self.event_shape > c.event_dim then c = constraints.independent(c, #self.event_shape - c.event_dim) end
      return c
    end,
  })
  D.TransformedDistribution = TransformedDistribution
  TransformedDistribution._param_order = {}
  local function transform_max_dim(ts)
    local e = 0
    for _, t in ipairs(ts) do e = math.max(e, t.event_dim) end
    return e
  end
  -- TransformedDistribution(base, transform or {transforms}, [{validate_args}]):
  -- base's draws through the transforms in order (their event_dims all
  -- equal to their domains' and codomains', as these transforms')
  function TransformedDistribution._new(base, ts, opts)
    local op = 'TransformedDistribution'
    opts = options(op, opts)
    check_base(op, base)
    if is_transform(ts) then ts = { ts } end
    if type(ts) ~= 'table' then raise(op .. ': transforms must be a Transform or a list of Transforms, got ' .. type(ts)) end
    for i, t in ipairs(ts) do
      if not is_transform(t) then raise(('%s: transforms must be a Transform or a list of Transforms (element %d is not)'):format(op, i)) end
    end
    local base_shape = concat(base.batch_shape, base.event_shape)
    local base_event_dim = #base.event_shape
    local E = transform_max_dim(ts)
    if #base_shape < E then
      raise(('%s: base_distribution needs a shape of at least %d dims, got %s'):format(op, E, shape_str(base_shape)))
    end
    local shape = base_shape
    for _, t in ipairs(ts) do shape = t:forward_shape(shape) end
    if not same(shape, base_shape) then base = base:expand(sub(shape, 1, #shape - base_event_dim)) end
    if E > base_event_dim then base = D.Independent(base, E - base_event_dim) end
    local self = new(TransformedDistribution, {})
    self.base_dist, self.transforms, self._dtype = base, ts, base._dtype
    self.has_rsample = base.has_rsample
    local event_dim = math.max(E, base_event_dim)
    return init(self, sub(shape, 1, #shape - event_dim), sub(shape, #shape - event_dim + 1), opts)
  end
  function TransformedDistribution.expand(self, batch_shape)
    batch_shape = shape_arg('TransformedDistribution.expand', batch_shape)
    local shape = concat(batch_shape, self.event_shape)
    for i = #self.transforms, 1, -1 do shape = self.transforms[i]:inverse_shape(shape) end
    local out = setmetatable({}, getmetatable(self))
    for k, v in pairs(self) do out[k] = v end
    out.base_dist = self.base_dist:expand(sub(shape, 1, #shape - #self.base_dist.event_shape))
    out.batch_shape = batch_shape
    return out
  end
  function TransformedDistribution.sample(self, shape)
    local x = self.base_dist:sample(shape)
    return no_grad(function()
      for _, t in ipairs(self.transforms) do x = t(x) end
      return x
    end)
  end
  function TransformedDistribution.rsample(self, shape)
    local x = self.base_dist:rsample(shape)
    for _, t in ipairs(self.transforms) do x = t(x) end
    return x
  end
  function TransformedDistribution.log_prob(self, v)
    local y = self:_value('log_prob', v)
    local event_dim = #self.event_shape
    local lp = 0
    for i = #self.transforms, 1, -1 do
      local t = self.transforms[i]
      local x = t:inv(y)
      lp = lp - sum_rightmost(t:log_abs_det_jacobian(x, y), event_dim - t.event_dim)
      y = x
    end
    return lp + sum_rightmost(self.base_dist:log_prob(y), event_dim - #self.base_dist.event_shape)
  end
  local function monotonize(self, v)
    local sign, plain = 1, true
    for _, t in ipairs(self.transforms) do
      sign = is_tensor(t.sign) and t.sign * sign or sign * t.sign
      if is_tensor(sign) then plain = false end
    end
    if plain and sign == 1 then return v end
    return sign * (v - 0.5) + 0.5
  end
  function TransformedDistribution.cdf(self, v)
    v = self:_tensor_value('cdf', v)
    for i = #self.transforms, 1, -1 do v = self.transforms[i]:inv(v) end
    if self._validate_args then v = self.base_dist:_value('cdf', v) end
    return monotonize(self, self.base_dist:cdf(v))
  end
  function TransformedDistribution.icdf(self, v)
    v = self:_tensor_value('icdf', v)
    v = self.base_dist:icdf(monotonize(self, v))
    for _, t in ipairs(self.transforms) do v = t(v) end
    return v
  end
  function TransformedDistribution.__tostring(self)
    return ('TransformedDistribution(%s, %d transforms)'):format(tostring(self.base_dist), #self.transforms)
  end

  -- ---- LogNormal --------------------------------------------------------------------------------------
  -- exp of a Normal(loc, scale) (PyTorch's is a TransformedDistribution of it)
  local LogNormal = TransformedDistribution:extend('LogNormal', {
    mean = function(self) return (self.loc + self.scale:pow(2) / 2):exp() end,
    variance = function(self)
      local s2 = self.scale:pow(2)
      return (s2:exp() - 1) * (2 * self.loc + s2):exp()
    end,
    mode = function(self) return (self.loc - self.scale:pow(2)):exp() end,
  })
  D.LogNormal = LogNormal
  LogNormal.arg_constraints = Normal.arg_constraints
  LogNormal.support = constraints.positive
  LogNormal.has_rsample = true
  scalar_params(LogNormal, { 'loc', 'scale' })
  -- LogNormal(loc, scale, [{validate_args}]): loc and scale of the log
  function LogNormal._new(loc, scale, opts)
    opts = options('LogNormal', opts)
    local self = new(LogNormal)
    self.base_dist, self.transforms = Normal(loc, scale, opts), { transforms.ExpTransform() }
    self.loc, self.scale, self._dtype = self.base_dist.loc, self.base_dist.scale, self.base_dist._dtype
    return init(self, self.base_dist.batch_shape, {}, opts)
  end
  LogNormal.expand = Distribution.expand
  LogNormal.__tostring = describe
  function LogNormal._expand_more(_, out, batch_shape) out.base_dist = out.base_dist:expand(batch_shape) end
  function LogNormal.rsample(self, shape) return self.base_dist:rsample(shape):exp() end
  function LogNormal.log_prob(self, v)
    v = self:_value('log_prob', v)
    local x = v:log()
    return self.base_dist:log_prob(x) - x
  end
  function LogNormal.cdf(self, v)
    v = self:_tensor_value('cdf', v)
    return self.base_dist:cdf(v:log())
  end
  function LogNormal.icdf(self, v) return self.base_dist:icdf(self:_tensor_value('icdf', v)):exp() end
  function LogNormal.entropy(self) return self.base_dist:entropy() + self.loc end

  -- ---- kl_divergence -------------------------------------------------------------------------------

  local registry, memo = {}, {}
  local function is_class(c) return type(c) == 'table' and c._props ~= nil and (c == Distribution or c._parent ~= nil) end
  -- D.register_kl(P, Q, fn), or D.register_kl(P, Q)(fn) as PyTorch's decorator:
  -- fn(p, q) gives KL(p || q) for p of class P and q of class Q (or subclasses)
  function D.register_kl(P, Q, fn, ...)
    if select('#', ...) > 0 then nl._no_extra_args('register_kl', '(type_p, type_q, [fn])', nil, ...) end
    if not is_class(P) or not is_class(Q) then
      raise('register_kl: expected two distribution classes (nl.distributions.Normal, ...)')
    end
    local function register(f)
      if type(f) ~= 'function' then raise('register_kl: expected a function, got ' .. type(f)) end
      registry[#registry + 1] = { P, Q, f }
      memo = {}
      return f
    end
    if fn ~= nil then return register(fn) end
    return register
  end
  local function depth(cls, base)          -- steps from cls up to base, or nil
    local d = 0
    while cls do
      if cls == base then return d end
      cls, d = cls._parent, d + 1
    end
    return nil
  end
  -- D.kl_divergence(p, q): KL(p || q) of shape batch_shape, by the most
  -- specific registered pair of classes
  function D.kl_divergence(p, q, ...)
    if select('#', ...) > 0 then nl._no_extra_args('kl_divergence', '(p, q)', nil, ...) end
    local cp, cq = getmetatable(p), getmetatable(q)
    if not (is_class(cp) and is_class(cq)) then raise('kl_divergence: expected two distributions') end
    memo[cp] = memo[cp] or {}
    local fn = memo[cp][cq]
    if fn == nil then
      local best, bp, bq = false, math.huge, math.huge
      for _, r in ipairs(registry) do
        local dp, dq = depth(cp, r[1]), depth(cq, r[2])
        if dp and dq and (dp < bp or (dp == bp and dq < bq)) then best, bp, bq = r[3], dp, dq end
      end
      memo[cp][cq] = best
      fn = best
    end
    if not fn then
      raise(('kl_divergence: no KL(p || q) is implemented for p of type %s and q of type %s'):format(cp.__name, cq.__name))
    end
    return fn(p, q)
  end

  local INF = math.huge
  local function infinite_like(t) return nl.full_like(t:detach(), INF) end
  local register = D.register_kl

  register(Bernoulli, Bernoulli, function(p, q)
    local t1 = p.probs * (F.softplus(-q.logits) - F.softplus(-p.logits))
    t1 = nl.where(p.probs:eq(0), 0, nl.where(q.probs:eq(0), INF, t1))
    local t2 = (1 - p.probs) * (F.softplus(q.logits) - F.softplus(p.logits))
    t2 = nl.where(p.probs:eq(1), 0, nl.where(q.probs:eq(1), INF, t2))
    return t1 + t2
  end)
  local function kl_categorical(p, q)
    local t = p.probs * (p.logits - q.logits)
    local s = t:shape()
    t = nl.where(q.probs:eq(0):expand(s), INF, t)
    t = nl.where(p.probs:eq(0):expand(s), 0, t)
    return t:sum(-1)
  end
  register(Categorical, Categorical, kl_categorical)
  register(OneHotCategorical, OneHotCategorical, kl_categorical)
  register(Normal, Normal, function(p, q)
    local var_ratio = (p.scale / q.scale):pow(2)
    local t1 = ((p.loc - q.loc) / q.scale):pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio:log())
  end)
  register(Uniform, Uniform, function(p, q)
    local result = ((q.high - q.low) / (p.high - p.low)):log()
    return nl.where(q.low:gt(p.low) + q.high:lt(p.high), INF, result)
  end)
  register(Exponential, Exponential, function(p, q)
    local rate_ratio = q.rate / p.rate
    return -rate_ratio:log() + rate_ratio - 1
  end)
  register(Laplace, Laplace, function(p, q)
    local scale_ratio = p.scale / q.scale
    local loc_abs_diff = (p.loc - q.loc):abs()
    return -scale_ratio:log() + loc_abs_diff / q.scale + scale_ratio * (-loc_abs_diff / p.scale):exp() - 1
  end)
  register(MultivariateNormal, MultivariateNormal, function(p, q)
    if not same(p.event_shape, q.event_shape) then
      raise(('kl_divergence: KL between two MultivariateNormals of different event shapes %s and %s cannot be computed')
            :format(shape_str(p.event_shape), shape_str(q.event_shape)))
    end
    local pL, qL = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    if pL:dtype() ~= qL:dtype() then pL, qL = pL:double(), qL:double() end    -- PyTorch's promotion
    local h1 = half_log_det(qL) - half_log_det(pL)
    local n = p.event_shape[1]
    local b = broadcast(sub(qL:shape(), 1, -3), sub(pL:shape(), 1, -3))
    if not b then
      raise(('kl_divergence: the batch shapes %s and %s of the MultivariateNormals do not broadcast')
            :format(shape_str(p.batch_shape), shape_str(q.batch_shape)))
    end
    local X = nl.linalg.solve_triangular(qL:expand(concat(b, { n, n })), pL:expand(concat(b, { n, n })), { upper = false })
    local term2 = X:pow(2):sum(-1):sum(-1)
    local term3 = mahalanobis(qL, q.loc - p.loc)
    return h1 + 0.5 * (term2 + term3 - n)
  end)
  register(Independent, Independent, function(p, q)
    if p.reinterpreted_batch_ndims ~= q.reinterpreted_batch_ndims then
      raise(('kl_divergence: KL between Independents of reinterpreted_batch_ndims %d and %d is not implemented')
            :format(p.reinterpreted_batch_ndims, q.reinterpreted_batch_ndims))
    end
    return sum_rightmost(D.kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)
  end)
  -- pairs of different families (PyTorch's among these)
  local function infinity_by(field) return function(p) return infinite_like(p[field]) end end
  register(Exponential, Uniform, infinity_by('rate'))
  register(Laplace, Exponential, infinity_by('loc'))
  register(Laplace, Uniform, infinity_by('loc'))
  register(Normal, Exponential, infinity_by('loc'))
  register(Normal, Uniform, infinity_by('loc'))
  register(Exponential, Normal, function(p, q)
    local var_normal, rate_sqr = q.scale:pow(2), p.rate:pow(2)
    local t1 = 0.5 * (rate_sqr * var_normal * 2 * math.pi):log()
    local t2, t3, t4 = rate_sqr:reciprocal(), q.loc / p.rate, q.loc:pow(2) * 0.5
    return t1 - 1 + (t2 - t3 + t4) / var_normal
  end)
  register(Laplace, Normal, function(p, q)
    local var_normal = q.scale:pow(2)
    local ratio = p.scale:pow(2) / var_normal
    local t1 = 0.5 * (2 * ratio / math.pi):log()
    local t2, t3, t4 = 0.5 * p.loc:pow(2), p.loc * q.loc, 0.5 * q.loc:pow(2)
    return -t1 + ratio + (t2 - t3 + t4) / var_normal - 1
  end)
  register(Normal, Laplace, function(p, q)
    local loc_diff = p.loc - q.loc
    local scale_ratio = p.scale / q.scale
    local r = loc_diff / p.scale
    local t1 = scale_ratio:log()
    local t2 = math.sqrt(2 / math.pi) * p.scale * (-0.5 * r:pow(2)):exp()
    local t3 = loc_diff * (math.sqrt(0.5) * r):erf()
    return -t1 + (t2 + t3) / q.scale - 0.5 * (1 + math.log(0.5 * math.pi))
  end)
  register(Uniform, Exponential, function(p, q)
    local result = q.rate * (p.high + p.low) / 2 - ((p.high - p.low) * q.rate):log()
    return nl.where(p.low:lt(0), INF, result)
  end)
  register(Uniform, Normal, function(p, q)
    local common = p.high - p.low
    local t1 = (math.sqrt(math.pi * 2) * q.scale / common):log()
    local t2 = common:pow(2) / 12
    local t3 = ((p.high + p.low - 2 * q.loc) / 2):pow(2)
    return t1 + 0.5 * (t2 + t3) / q.scale:pow(2)
  end)

  -- the second group's pairs
  local EULER = 0.57721566490153286060
  local function x_log_x(t) return t * t:log() end
  register(Gamma, Gamma, function(p, q)
    local t1 = q.concentration * (p.rate / q.rate):log()
    local t2 = q.concentration:lgamma() - p.concentration:lgamma()
    local t3 = (p.concentration - q.concentration) * p.concentration:digamma()
    local t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4
  end)
  register(Dirichlet, Dirichlet, function(p, q)
    local sp, sq = p.concentration:sum(-1), q.concentration:sum(-1)
    local t1 = sp:lgamma() - sq:lgamma()
    local t2 = (p.concentration:lgamma() - q.concentration:lgamma()):sum(-1)
    local t3 = p.concentration - q.concentration
    local t4 = p.concentration:digamma() - sp:digamma():unsqueeze(-1)
    return t1 - t2 + (t3 * t4):sum(-1)
  end)
  register(Beta, Beta, function(p, q)
    local sp = p.concentration1 + p.concentration0
    local sq = q.concentration1 + q.concentration0
    local t1 = q.concentration1:lgamma() + q.concentration0:lgamma() + sp:lgamma()
    local t2 = p.concentration1:lgamma() + p.concentration0:lgamma() + sq:lgamma()
    local t3 = (p.concentration1 - q.concentration1) * p.concentration1:digamma()
    local t4 = (p.concentration0 - q.concentration0) * p.concentration0:digamma()
    local t5 = (sq - sp) * sp:digamma()
    return t1 - t2 + t3 + t4 + t5
  end)
  register(Poisson, Poisson, function(p, q)
    return p.rate * (p.rate:log() - q.rate:log()) - (p.rate - q.rate)
  end)
  register(Binomial, Binomial, function(p, q)
    if no_grad(function() return p.total_count:lt(q.total_count):max():item() > 0 end) then
      raise('kl_divergence: KL between Binomials where q.total_count > p.total_count is not implemented')
    end
    local kl = p.total_count * (p.probs * (p.logits - q.logits) + (-p.probs):log1p() - (-q.probs):log1p())
    return nl.where(p.total_count:gt(q.total_count), INF, kl)
  end)
  register(TransformedDistribution, TransformedDistribution, function(p, q)
    local same_ts = #p.transforms == #q.transforms
    for i = 1, same_ts and #p.transforms or 0 do same_ts = same_ts and same_transform(p.transforms[i], q.transforms[i]) end
    if not same_ts or not same(p.event_shape, q.event_shape) then
      raise('kl_divergence: KL between TransformedDistributions is implemented only for equal transforms and event shapes')
    end
    return D.kl_divergence(p.base_dist, q.base_dist)
  end)
  register(Bernoulli, Poisson, function(p, q) return -p:entropy() - (p.probs * q.rate:log() - q.rate) end)
  register(Beta, Exponential, function(p, q)
    return -p:entropy() - q.rate:log() + q.rate * (p.concentration1 / (p.concentration1 + p.concentration0))
  end)
  register(Beta, Gamma, function(p, q)
    local c1, c0 = p.concentration1, p.concentration0
    local t1 = -p:entropy()
    local t2 = q.concentration:lgamma() - q.concentration * q.rate:log()
    local t3 = (q.concentration - 1) * (c1:digamma() - (c1 + c0):digamma())
    local t4 = q.rate * c1 / (c1 + c0)
    return t1 + t2 - t3 + t4
  end)
  register(Beta, Normal, function(p, q)
    local c1, c0 = p.concentration1, p.concentration0
    local E = c1 / (c1 + c0)
    local var_normal = q.scale:pow(2)
    local t1 = -p:entropy()
    local t2 = 0.5 * (var_normal * 2 * math.pi):log()
    local t3 = (E * (1 - E) / (c1 + c0 + 1) + E:pow(2)) * 0.5
    local t4, t5 = q.loc * E, q.loc:pow(2) * 0.5
    return t1 + t2 + (t3 - t4 + t5) / var_normal
  end)
  register(Beta, Uniform, function(p, q)
    local result = -p:entropy() + (q.high - q.low):log()
    return nl.where(q.low:gt(0) + q.high:lt(1), INF, result)
  end)
  register(Exponential, Beta, infinity_by('rate'))
  register(Exponential, Gamma, function(p, q)
    local ratio = q.rate / p.rate
    local t1 = -q.concentration * ratio:log()
    return t1 + ratio + q.concentration:lgamma() + q.concentration * EULER - (1 + EULER)
  end)
  register(Gamma, Beta, infinity_by('concentration'))
  register(Gamma, Uniform, infinity_by('concentration'))
  register(Gamma, Exponential, function(p, q)
    return -p:entropy() - q.rate:log() + q.rate * p.concentration / p.rate
  end)
  register(Gamma, Normal, function(p, q)
    local c = p.concentration
    local var_normal, beta_sqr = q.scale:pow(2), p.rate:pow(2)
    local t1 = 0.5 * (beta_sqr * var_normal * 2 * math.pi):log() - c - c:lgamma()
    local t2 = 0.5 * (c:pow(2) + c) / beta_sqr
    local t3 = q.loc * c / p.rate
    local t4 = 0.5 * q.loc:pow(2)
    return t1 + (c - 1) * c:digamma() + (t2 - t3 + t4) / var_normal
  end)
  register(Laplace, Beta, infinity_by('loc'))
  register(Laplace, Gamma, infinity_by('loc'))
  register(Normal, Beta, infinity_by('loc'))
  register(Normal, Gamma, infinity_by('loc'))
  register(Poisson, Bernoulli, infinity_by('rate'))
  register(Poisson, Binomial, infinity_by('rate'))
  register(Uniform, Beta, function(p, q)
    local common = p.high - p.low
    local t1 = common:log()
    local t2 = (q.concentration1 - 1) * (x_log_x(p.high) - x_log_x(p.low) - common) / common
    local t3 = (q.concentration0 - 1) * (x_log_x(1 - p.high) - x_log_x(1 - p.low) + common) / common
    local t4 = q.concentration1:lgamma() + q.concentration0:lgamma() - (q.concentration1 + q.concentration0):lgamma()
    return nl.where(p.high:gt(1) + p.low:lt(0), INF, t3 + t4 - t1 - t2)
  end)
  register(Uniform, Gamma, function(p, q)
    local common = p.high - p.low
    local t1 = common:log()
    local t2 = q.concentration:lgamma() - q.concentration * q.rate:log()
    local t3 = (1 - q.concentration) * (x_log_x(p.high) - x_log_x(p.low) - common) / common
    local t4 = q.rate * (p.high + p.low) / 2
    return nl.where(p.low:lt(0), INF, -t1 + t2 + t3 + t4)
  end)

  do
    -- ---- Cauchy, HalfNormal, HalfCauchy, Gumbel, Chi2, Geometric ------------------------------------
    -- PyTorch 1.13 builds HalfNormal and HalfCauchy as the absolute value of
    -- a Normal or Cauchy of loc 0, and Gumbel from a Uniform through logs
    -- and an affine map (TransformedDistributions); these are subclasses of
    -- TransformedDistribution too (kl_divergence dispatches as PyTorch's)
    -- with the closed forms written out, as LogNormal

    local Cauchy = class('Cauchy', {
      mean = function(self) return nl.full(self:_extended_shape({}), 0 / 0, self._dtype) end,
      mode = function(self) return self.loc end,
      variance = function(self) return nl.full(self:_extended_shape({}), math.huge, self._dtype) end,
    })
    D.Cauchy = Cauchy
    Cauchy.arg_constraints = { loc = constraints.real, scale = constraints.positive }
    Cauchy.support = constraints.real
    Cauchy.has_rsample = true
    scalar_params(Cauchy, { 'loc', 'scale' })
    -- Cauchy(loc, scale, [{validate_args}])
    function Cauchy._new(loc, scale, opts)
      opts = options('Cauchy', opts)
      local self, shape = new_params(Cauchy, { loc, scale })
      return init(self, shape, {}, opts)
    end
    -- a standard Cauchy draw, tan(pi (u - 1/2)) of a uniform u
    local function standard_cauchy(shape, dtype)
      return no_grad(function() return ((nl.rand(shape, dtype) - 0.5) * math.pi):tan() end)
    end
    function Cauchy.rsample(self, shape)
      local s = self:_extended_shape(shape_arg('Cauchy.rsample', shape))
      return self.loc + standard_cauchy(s, self._dtype) * self.scale
    end
    function Cauchy.log_prob(self, v)
      v = self:_value('log_prob', v)
      return -math.log(math.pi) - self.scale:log() - ((v - self.loc) / self.scale):pow(2):log1p()
    end
    function Cauchy.cdf(self, v)
      v = self:_value('cdf', v)
      return ((v - self.loc) / self.scale):atan() / math.pi + 0.5
    end
    function Cauchy.icdf(self, v)
      v = self:_value('icdf', v, true)
      return ((v - 0.5) * math.pi):tan() * self.scale + self.loc
    end
    function Cauchy.entropy(self) return math.log(4 * math.pi) + self.scale:log() end

    -- |x|, the transform of HalfNormal and HalfCauchy (not a bijection: no Jacobian)
    local Abs = transform_class('AbsTransform', { domain = constraints.real, codomain = constraints.positive })
    function Abs.forward(_, x) return x:abs() end
    function Abs.inv(_, y) return y end

    -- the half of base(0, scale) on [0, inf): the density doubled
    local function half_family(name, Base, props)
      local cls = TransformedDistribution:extend(name, props)
      D[name] = cls
      cls.arg_constraints = { scale = constraints.positive }
      cls.support = constraints.nonnegative
      cls.has_rsample = true
      cls._param_dims = { scale = 0 }
      cls._param_order = { 'scale' }
      -- Half*(scale, [{validate_args}])
      function cls._new(scale, opts)
        opts = options(name, opts)
        local self = new(cls)
        local p = broadcast_all(name, { 'scale' }, { scale })
        self.base_dist = Base(0, p[1], { validate_args = false })
        self.transforms = { setmetatable({}, Abs) }
        self.scale, self._dtype = self.base_dist.scale, self.base_dist._dtype
        return init(self, self.base_dist.batch_shape, {}, opts)
      end
      cls.expand = Distribution.expand
      cls.__tostring = describe
      function cls._expand_more(_, out, batch_shape) out.base_dist = out.base_dist:expand(batch_shape) end
      function cls.rsample(self, shape) return self.base_dist:rsample(shape):abs() end
      function cls.sample(self, shape) return self.base_dist:sample(shape):abs() end
      function cls.log_prob(self, v)
        v = self:_value('log_prob', v)
        local lp = self.base_dist:log_prob(v) + math.log(2)
        return nl.where(v:ge(0), lp, -math.huge)
      end
      function cls.cdf(self, v)
        v = self:_value('cdf', v)
        return 2 * self.base_dist:cdf(v) - 1
      end
      function cls.icdf(self, v)
        v = self:_tensor_value('icdf', v)
        return self.base_dist:icdf((v + 1) / 2)
      end
      function cls.entropy(self) return self.base_dist:entropy() - math.log(2) end
      return cls
    end
    local HALF_NORMAL_VAR = 1 - 2 / math.pi
    local HalfNormal = half_family('HalfNormal', Normal, {
      mean = function(self) return self.scale * math.sqrt(2 / math.pi) end,
      mode = function(self) return nl.zeros_like(self.scale:detach()) end,
      variance = function(self) return self.scale:pow(2) * HALF_NORMAL_VAR end,
    })
    half_family('HalfCauchy', Cauchy, {
      mean = function(self) return nl.full(self:_extended_shape({}), math.huge, self._dtype) end,
      mode = function(self) return nl.zeros_like(self.scale:detach()) end,
      variance = function(self) return nl.full(self:_extended_shape({}), math.huge, self._dtype) end,
    })

    local EULER_GAMMA = 0.57721566490153286060
    local Gumbel = TransformedDistribution:extend('Gumbel', {
      mean = function(self) return self.loc + self.scale * EULER_GAMMA end,
      mode = function(self) return self.loc end,
      stddev = function(self) return self.scale * (math.pi / math.sqrt(6)) end,
      variance = function(self) return self.scale:pow(2) * (math.pi ^ 2 / 6) end,
    })
    D.Gumbel = Gumbel
    Gumbel.arg_constraints = { loc = constraints.real, scale = constraints.positive }
    Gumbel.support = constraints.real
    Gumbel.has_rsample = true
    scalar_params(Gumbel, { 'loc', 'scale' })
    -- Gumbel(loc, scale, [{validate_args}]): loc - scale log(-log u) of u
    -- uniform on [tiny, 1 - eps) (PyTorch's base distribution)
    function Gumbel._new(loc, scale, opts)
      opts = options('Gumbel', opts)
      local self, shape = new_params(Gumbel, { loc, scale })
      local dt = self._dtype
      self.base_dist = Uniform(nl.full(shape, TINY[dt], dt), nl.full(shape, 1 - EPS[dt], dt), { validate_args = false })
      self.transforms = {}
      return init(self, shape, {}, opts)
    end
    Gumbel.expand = Distribution.expand
    Gumbel.__tostring = describe
    function Gumbel._expand_more(_, out, batch_shape) out.base_dist = out.base_dist:expand(batch_shape) end
    function Gumbel.rsample(self, shape)
      local u = self.base_dist:rsample(shape)
      return self.loc - self.scale * (-u:log()):log()
    end
    function Gumbel.sample(self, shape) return no_grad(function() return self:rsample(shape) end) end
    function Gumbel.log_prob(self, v)
      v = self:_value('log_prob', v)
      local y = (self.loc - v) / self.scale
      return y - y:exp() - self.scale:log()
    end
    function Gumbel.cdf(self, v)
      v = self:_value('cdf', v)
      return (-((self.loc - v) / self.scale):exp()):exp()
    end
    function Gumbel.icdf(self, v)
      v = self:_tensor_value('icdf', v)
      return self.loc - self.scale * (-v:log()):log()
    end
    function Gumbel.entropy(self) return self.scale:log() + (1 + EULER_GAMMA) end

    -- Chi2(df): Gamma(df / 2, 1 / 2), a subclass of Gamma (its KL pairs too)
    local Chi2 = Gamma:extend('Chi2', {})
    D.Chi2 = Chi2
    Chi2.arg_constraints = { df = constraints.positive }
    Chi2._param_dims = { df = 0, concentration = 0, rate = 0 }
    Chi2._param_order = { 'df' }
    -- Chi2(df, [{validate_args}])
    function Chi2._new(df, opts)
      opts = options('Chi2', opts)
      local self = new(Chi2)
      local p, shape = broadcast_all('Chi2', { 'df' }, { df })
      self.df, self._dtype = p[1], p[1]:dtype()
      self.concentration = 0.5 * self.df
      self.rate = nl.full(shape, 0.5, self._dtype)
      return init(self, shape, {}, opts)
    end

    local Geometric = class('Geometric', {
      mean = function(self) return self.probs:reciprocal() - 1 end,
      variance = function(self) return (self.probs:reciprocal() - 1) / self.probs end,
      mode = function(self) return nl.zeros_like(self.probs:detach()) end,
    })
    D.Geometric = Geometric
    Geometric.arg_constraints = { probs = constraints.unit_interval, logits = constraints.real }
    Geometric.support = constraints.nonnegative_integer
    scalar_params(Geometric, { 'probs', 'logits' })
    -- Geometric(probs) or Geometric(nil, logits) or Geometric{probs = } / {logits = }:
    -- the number of failures before the first success, on 0, 1, 2, ...
    function Geometric._new(probs, logits, opts)
      probs, logits, opts = probs_or_logits('Geometric', probs, logits, opts)
      local self = new_binary(Geometric, 'Geometric', probs, logits)
      init(self, self.probs:shape(), {}, opts)
      if self._validate_args and probs ~= nil and not no_grad(function() return all_valid(self.probs:gt(0)) end) then
        raise(('Geometric: expected parameter probs (shape %s) to be positive, but found invalid values')
              :format(shape_str(self.probs:shape())))
      end
      return self
    end
    function Geometric.sample(self, shape)
      local s = self:_extended_shape(shape_arg('Geometric.sample', shape))
      check_draw_param('Geometric.sample', 'probs', self.probs, 'in (0, 1]', function(p) return p:gt(0) * p:le(1) end)
      return no_grad(function()
        local u = nl.rand(s, self._dtype):clamp(TINY[self._dtype])
        return (u:log() / (-self.probs:detach()):log1p()):floor()
      end)
    end
    function Geometric.log_prob(self, v)
      v = self:_value('log_prob', v)
      local s = broadcast(v:shape(), self.probs:shape()) or v:shape()
      local p = self.probs:expand(s)
      v = v:expand(s)
      -- a probs of 1 scores 0 failures as log 1 (0 * log 0 is 0 there)
      p = nl.where(p:eq(1) * v:eq(0), 0, p)
      return v * (-p):log1p() + self.probs:log()
    end
    function Geometric.entropy(self)
      return F.binary_cross_entropy_with_logits(self.logits, self.probs, { reduction = 'none' }) / self.probs
    end

    -- their kl_divergence pairs (PyTorch 1.13's among nnlua's families).
    -- Against a Gumbel(m, s): -log q(x) = log s + (x - m) / s + exp((m - x) / s),
    -- so KL(p || q) = -H(p) + log s + (E x - m) / s + exp(m / s) E exp(-x / s),
    -- with E exp(-x / s) p's moment generating function at -1 / s
    register(Cauchy, Cauchy, function(p, q)
      local t1 = (p.scale + q.scale):pow(2) + (p.loc - q.loc):pow(2)
      return (t1 / (4 * p.scale * q.scale)):log()
    end)
    register(HalfNormal, HalfNormal, function(p, q) return D.kl_divergence(p.base_dist, q.base_dist) end)
    register(Gumbel, Gumbel, function(p, q)
      local ct1, ct2, ct3 = p.scale / q.scale, q.loc / q.scale, p.loc / q.scale
      local t1 = -ct1:log() - ct2 + ct3
      local t2 = ct1 * EULER
      local t3 = (ct2 + (1 + ct1):lgamma() - ct3):exp()
      return t1 + t2 + t3 - (1 + EULER)
    end)
    local function kl_to_gumbel(neg_entropy, mean, mgf)
      return function(p, q)
        local m, s = q.loc, q.scale
        return neg_entropy(p) + s:log() + (mean(p) - m) / s + (m / s):exp() * mgf(p, s)
      end
    end
    local function neg_entropy(p) return -p:entropy() end
    local function mean_of(p) return p.mean end
    register(Exponential, Gumbel, kl_to_gumbel(neg_entropy, mean_of, function(p, s)
      local rs = p.rate * s
      return rs / (rs + 1)
    end))
    register(Gamma, Gumbel, kl_to_gumbel(neg_entropy, mean_of, function(p, s)
      local rs = p.rate * s
      return (rs / (rs + 1)):pow(p.concentration)
    end))
    register(Normal, Gumbel, kl_to_gumbel(neg_entropy, mean_of, function(p, s)
      return (-p.loc / s + (p.scale / s):pow(2) / 2):exp()
    end))
    register(Uniform, Gumbel, kl_to_gumbel(neg_entropy, mean_of, function(p, s)
      return s * ((-p.low / s):exp() - (-p.high / s):exp()) / (p.high - p.low)
    end))
    register(Gumbel, Normal, function(p, q)
      local s, sigma2 = p.scale, q.scale:pow(2)
      local d = p.loc + s * EULER - q.loc
      return -(s:log() + (1 + EULER)) + 0.5 * (2 * math.pi * sigma2):log()
             + (d:pow(2) + s:pow(2) * (math.pi ^ 2 / 6)) / (2 * sigma2)
    end)
    register(Gumbel, Beta, infinity_by('loc'))
    register(Gumbel, Exponential, infinity_by('loc'))
    register(Gumbel, Gamma, infinity_by('loc'))
    register(Gumbel, Uniform, infinity_by('loc'))
    register(Geometric, Geometric, function(p, q)
      return -p:entropy() - (-q.probs):log1p() / p.probs - q.logits
    end)
  end

  do
    -- ---- Weibull, Pareto, StudentT --------------------------------------------------------------------
    -- Weibull and Pareto are TransformedDistributions of an Exponential, as
    -- PyTorch 1.13's (Weibull: scale E^(1 / concentration) of E ~ Exp(1);
    -- Pareto: scale exp(E) of E ~ Exp(alpha)), with the closed forms written out

    local function transformed_family(name, props, param_order, constraints_of, support)
      local cls = TransformedDistribution:extend(name, props)
      D[name] = cls
      cls.arg_constraints = constraints_of
      cls.has_rsample = true
      scalar_params(cls, param_order)
      cls.support = support
      cls.expand = Distribution.expand
      cls.__tostring = describe
      function cls._expand_more(self, out, batch_shape)
        out.base_dist = out.base_dist:expand(batch_shape)
        out.transforms = self._make_transforms(out)
      end
      function cls.sample(self, shape) return no_grad(function() return self:rsample(shape) end) end
      return cls
    end

    local Weibull = transformed_family('Weibull', {
      mean = function(self) return self.scale * (self.concentration:reciprocal() + 1):lgamma():exp() end,
      mode = function(self)
        local k = self.concentration
        return self.scale * ((k - 1) / k):pow(k:reciprocal())
      end,
      variance = function(self)
        local k = self.concentration
        return self.scale:pow(2) * ((2 / k + 1):lgamma():exp() - (2 * (1 / k + 1):lgamma()):exp())
      end,
    }, { 'scale', 'concentration' }, { scale = constraints.positive, concentration = constraints.positive },
       constraints.positive)
    function Weibull._make_transforms(self)
      return { transforms.PowerTransform(self.concentration:reciprocal()), transforms.AffineTransform(0, self.scale) }
    end
    -- Weibull(scale, concentration, [{validate_args}])
    function Weibull._new(scale, concentration, opts)
      opts = options('Weibull', opts)
      local self, shape = new_params(Weibull, { scale, concentration })
      self.base_dist = Exponential(nl.ones(shape, self._dtype), { validate_args = false })
      self.transforms = Weibull._make_transforms(self)
      return init(self, shape, {}, opts)
    end
    function Weibull.rsample(self, shape)
      return self.base_dist:rsample(shape):pow(self.concentration:reciprocal()) * self.scale
    end
    function Weibull.log_prob(self, v)
      v = self:_value('log_prob', v)
      local k, z = self.concentration, v / self.scale
      return k:log() - self.scale:log() + (k - 1) * z:log() - z:pow(k)
    end
    function Weibull.cdf(self, v)
      v = self:_value('cdf', v)
      return -(-(v / self.scale):pow(self.concentration)):expm1()
    end
    function Weibull.icdf(self, v)
      v = self:_tensor_value('icdf', v)
      return self.scale * (-(-v):log1p()):pow(self.concentration:reciprocal())
    end
    function Weibull.entropy(self)
      local k = self.concentration
      return EULER * (1 - k:reciprocal()) + (self.scale / k):log() + 1
    end

    local Pareto = transformed_family('Pareto', {
      -- (inf for alpha <= 1, and the variance for alpha <= 2, as PyTorch's clamps give)
      mean = function(self)
        local a = self.alpha:clamp(1)
        return a * self.scale / (a - 1)
      end,
      mode = function(self) return self.scale end,
      variance = function(self)
        local a = self.alpha:clamp(2)
        return self.scale:pow(2) * a / ((a - 1):pow(2) * (a - 2))
      end,
    }, { 'scale', 'alpha' }, { scale = constraints.positive, alpha = constraints.positive }, nil)
    Pareto._props.support = function(self)
      local s = self.scale
      return constraint('greater_than_eq(scale)', function(v) return v:ge(s) end)
    end
    function Pareto._make_transforms(self)
      return { transforms.ExpTransform(), transforms.AffineTransform(0, self.scale) }
    end
    -- Pareto(scale, alpha, [{validate_args}]): on [scale, inf)
    function Pareto._new(scale, alpha, opts)
      opts = options('Pareto', opts)
      local self, shape = new_params(Pareto, { scale, alpha })
      self.base_dist = Exponential(self.alpha, { validate_args = false })
      self.transforms = Pareto._make_transforms(self)
      return init(self, shape, {}, opts)
    end
    function Pareto.rsample(self, shape) return self.base_dist:rsample(shape):exp() * self.scale end
    function Pareto.log_prob(self, v)
      v = self:_value('log_prob', v)
      local a = self.alpha
      return a:log() + a * self.scale:log() - (a + 1) * v:log()
    end
    function Pareto.cdf(self, v)
      v = self:_value('cdf', v)
      return -((self.scale / v):log() * self.alpha):expm1()
    end
    function Pareto.icdf(self, v)
      v = self:_tensor_value('icdf', v)
      return self.scale * (-(-v):log1p() / self.alpha):exp()
    end
    function Pareto.entropy(self) return (self.scale / self.alpha):log() + (1 + self.alpha:reciprocal()) end

    local StudentT = class('StudentT', {
      -- loc where df > 1 (NaN below); the variance inf for 1 < df <= 2, NaN for df <= 1
      mean = function(self) return nl.where(self.df:detach():gt(1), self.loc, 0 / 0) end,
      mode = function(self) return self.loc end,
      variance = function(self)
        local d = self.df:detach()
        local df = nl.where(d:gt(2), self.df, 3)       -- (a stand-in where masked: no gradient there)
        local v = nl.where(d:gt(2), self.scale:pow(2) * df / (df - 2), math.huge)
        return nl.where(d:gt(1), v, 0 / 0)
      end,
    })
    D.StudentT = StudentT
    StudentT.arg_constraints = { df = constraints.positive, loc = constraints.real, scale = constraints.positive }
    StudentT.support = constraints.real
    scalar_params(StudentT, { 'df', 'loc', 'scale' })
    StudentT.rsample = no_rsample('StudentT')
    -- StudentT(df, [loc = 0], [scale = 1], [{validate_args}])
    function StudentT._new(df, loc, scale, opts)
      if opts == nil and type(scale) == 'table' and not is_tensor(scale) then scale, opts = nil, scale end
      if opts == nil and scale == nil and type(loc) == 'table' and not is_tensor(loc) then loc, opts = nil, loc end
      opts = options('StudentT', opts)
      local self, shape = new_params(StudentT, { df, loc or 0, scale or 1 })
      return init(self, shape, {}, opts)
    end
    -- loc + scale X / sqrt(C / df), X standard normal and C a chi-square of df
    -- degrees (Gamma(df / 2, 1 / 2) draws, as Chi2's)
    function StudentT.sample(self, shape)
      local s = self:_extended_shape(shape_arg('StudentT.sample', shape))
      check_concentration('StudentT.sample', 'df', self.df)
      return no_grad(function()
        local df = self.df:detach():expand(s):contiguous()
        local c = log_standard_gamma(df * 0.5):exp() * 2
        local y = nl.randn(s, 'float64') * (c / df:to('float64')):rsqrt()
        return self.loc:detach() + self.scale:detach() * y:to(self._dtype)
      end)
    end
    function StudentT.log_prob(self, v)
      v = self:_value('log_prob', v)
      local df = self.df
      local y = (v - self.loc) / self.scale
      local Z = self.scale:log() + 0.5 * df:log() + 0.5 * math.log(math.pi) + (0.5 * df):lgamma() - (0.5 * (df + 1)):lgamma()
      return -0.5 * (df + 1) * (y:pow(2) / df):log1p() - Z
    end
    function StudentT.entropy(self)
      local df = self.df
      local lbeta = (0.5 * df):lgamma() + 0.5 * math.log(math.pi) - (0.5 * (df + 1)):lgamma()
      return self.scale:log() + 0.5 * (df + 1) * ((0.5 * (df + 1)):digamma() - (0.5 * df):digamma())
             + 0.5 * df:log() + lbeta
    end

    -- Pareto's kl_divergence pairs. With E log x = log scale + 1 / alpha,
    -- E x = alpha scale / (alpha - 1) and E x^2 = alpha scale^2 / (alpha - 2)
    -- under p = Pareto(scale, alpha), each is -H(p) + E_p[-log q(x)]: inf
    -- where the moment it needs is (alpha <= 1 or 2) or q's support misses
    -- part of p's
    local function pareto_log_mean(p) return p.scale:log() + p.alpha:reciprocal() end
    -- E x^k where alpha > k (a stand-in alpha elsewhere, where the caller's
    -- result is inf and, as PyTorch's masked assignment, has no gradient)
    local function pareto_moment(p, k)
      local a = nl.where(p.alpha:detach():gt(k), p.alpha, k + 1)
      return a * p.scale:pow(k) / (a - k)
    end
    local function beyond_moment(p, k, kl) return nl.where(p.alpha:detach():gt(k), kl, math.huge) end
    register(Pareto, Pareto, function(p, q)
      local a, s = q.alpha, q.scale
      local cross = -a:log() - a * s:log() + (a + 1) * pareto_log_mean(p)
      return nl.where(q.scale:gt(p.scale), math.huge, -p:entropy() + cross)
    end)
    register(Pareto, Exponential, function(p, q)
      return beyond_moment(p, 1, -p:entropy() - q.rate:log() + q.rate * pareto_moment(p, 1))
    end)
    register(Pareto, Gamma, function(p, q)
      local c, r = q.concentration, q.rate
      return beyond_moment(p, 1, -p:entropy() - c * r:log() + c:lgamma() - (c - 1) * pareto_log_mean(p)
                                 + r * pareto_moment(p, 1))
    end)
    register(Pareto, Normal, function(p, q)
      local var = q.scale:pow(2)
      local sq = pareto_moment(p, 2) - 2 * q.loc * pareto_moment(p, 1) + q.loc:pow(2)
      return beyond_moment(p, 2, -p:entropy() + 0.5 * (2 * math.pi * var):log() + sq / (2 * var))
    end)
    register(Uniform, Pareto, function(p, q)
      local lo, hi, a, s = p.low, p.high, q.alpha, q.scale
      local log_mean = (x_log_x(hi) - hi - x_log_x(lo) + lo) / (hi - lo)
      local kl = -(hi - lo):log() - a:log() - a * s:log() + (a + 1) * log_mean
      return nl.where(p.low:lt(q.scale), math.huge, kl)
    end)
    for _, P in ipairs({ Beta, Exponential, Gamma, D.Gumbel, Laplace, Normal }) do register(P, Pareto, infinity_by(
      P == Beta and 'concentration1' or P == Exponential and 'rate' or P == Gamma and 'concentration' or 'loc')) end
    register(Pareto, Beta, infinity_by('scale'))
    register(Pareto, Uniform, infinity_by('scale'))
  end

  do
    -- ---- Multinomial, MixtureSameFamily ---------------------------------------------------------------

    local Multinomial = class('Multinomial', {
      mean = function(self) return self.probs * self.total_count end,
      variance = function(self) return self.probs * (1 - self.probs) * self.total_count end,
      param_shape = function(self) return self.probs:shape() end,
    })
    D.Multinomial = Multinomial
    Multinomial.arg_constraints = { probs = constraints.simplex, logits = constraints.independent(constraints.real, 1) }
    Multinomial._param_dims = { probs = 1, logits = 1 }
    Multinomial._param_order = { 'probs', 'logits' }
    -- counts >= 0 whose sum is at most total_count (PyTorch's multinomial constraint,
    -- which takes fractions too)
    Multinomial._props.support = function(self)
      local n = self.total_count
      return constraint(('multinomial(%d)'):format(n), function(v)
        return all_last(v:ge(0)) * v:sum(-1):le(n)
      end, 1)
    end
    -- Multinomial(total_count, probs) or Multinomial(total_count, nil, logits) or
    -- Multinomial{total_count = , probs = | logits = , validate_args = }: counts of
    -- total_count draws over the last dim's K categories; total_count defaults to 1
    function Multinomial._new(n, probs, logits, opts)
      local op = 'Multinomial'
      n, probs, logits, opts = lead_options(op, 'total_count', n, probs, logits, opts)
      if n == nil then n = 1 end
      if type(n) ~= 'number' or n ~= math.floor(n) or n < 0 then
        raise(op .. ': expected total_count as a whole number >= 0 (inhomogeneous total_count is not supported), got '
              .. (is_tensor(n) and 'a tensor' or tostring(n)))
      end
      if (probs == nil) == (logits == nil) then raise(op .. ': either probs or logits must be specified, but not both') end
      float_tensor(op, probs ~= nil and 'probs' or 'logits', probs or logits, 1)
      local cat = Categorical._new(probs, logits, { validate_args = false })
      local self = new(Multinomial, { probs ~= nil and 'probs' or 'logits' })
      self.probs, self.logits, self.total_count, self._dtype = cat.probs, cat.logits, n, cat._dtype
      local s = self.probs:shape()
      return init(self, sub(s, 1, -2), { s[#s] }, opts)
    end
    function Multinomial.sample(self, shape)
      shape = shape_arg('Multinomial.sample', shape)
      local k, n, m = self.probs:size(-1), self.total_count, numel(shape)
      check_draw_param('Multinomial.sample', 'probs', self.probs, 'in [0, 1]', constraints.unit_interval.check)
      local out = self:_extended_shape(shape)
      return no_grad(function()
        if n == 0 or m == 0 or numel(self.batch_shape) == 0 then return nl.zeros(out, self._dtype) end
        local p = self.probs:detach():reshape(-1, k)
        local b = p:size(1)
        local idx = nl.multinomial(p, m * n, true)                             -- (b, m n), 1..k
        local counts = F.one_hot(idx, k):to(self._dtype):view(b, m, n, k):sum(3)  -- (b, m, k)
        return counts:transpose(1, 2):contiguous():reshape(out)
      end)
    end
    function Multinomial.log_prob(self, v)
      v = self:_value('log_prob', v)
      local s = broadcast(v:shape(), self.logits:shape())
      if not s then
        raise(('Multinomial.log_prob: the value %s does not broadcast with the parameters %s'):format(
          shape_str(v:shape()), shape_str(self.logits:shape())))
      end
      local l, x = self.logits:expand(s), v:expand(s)
      l = nl.where(x:eq(0) * l:eq(-math.huge), 0, l)        -- (0 draws of an impossible class score log 1)
      return (x:sum(-1) + 1):lgamma() - (x + 1):lgamma():sum(-1) + (l * x):sum(-1)
    end
    -- n H(categorical) - log n! + sum over classes and x = 1..n of Binomial(n, p_k)(x) log x!
    function Multinomial.entropy(self)
      local n = self.total_count
      local cat = -(self.logits:clamp(FMIN[self._dtype]) * self.probs):sum(-1)
      if n == 0 then return cat * 0 end
      local ones = {}
      for i = 1, #self.probs:shape() do ones[i] = 1 end
      local x = nl.arange(1, n + 1, 1, self._dtype):view(concat({ n }, ones))
      local binom = Binomial(n, self.probs, { validate_args = false })
      local weights = (x + 1):lgamma()
      -- (log n! in the default dtype, then promoted, as PyTorch's torch.tensor(n + 1))
      return n * cat - nl.tensor(n + 1, nl.get_default_dtype()):lgamma():item()
             + (binom:log_prob(x):exp() * weights):sum(1):sum(-1)
    end

    local MixtureSameFamily = class('MixtureSameFamily', {
      mean = function(self)
        local p = self:_pad_probs()
        return (p * self.component_distribution.mean):sum(-1 - #self.event_shape)
      end,
      variance = function(self)
        local p, e = self:_pad_probs(), #self.event_shape
        local comp = self.component_distribution
        local mean = self.mean
        local cond_var = (p * comp.variance):sum(-1 - e)
        local var_mean = (p * (comp.mean - self:_pad(mean)):pow(2)):sum(-1 - e)
        return cond_var + var_mean
      end,
      support = function(self) return self.component_distribution.support end,
    })
    D.MixtureSameFamily = MixtureSameFamily
    MixtureSameFamily._param_order = {}
    -- MixtureSameFamily(mixture_distribution, component_distribution, [{validate_args}]):
    -- a Categorical over K components, and a distribution of batch_shape
    -- batch + (K,) whose rightmost batch dim the mixture selects
    function MixtureSameFamily._new(mix, comp, opts)
      local op = 'MixtureSameFamily'
      opts = options(op, opts)
      if getmetatable(mix) ~= Categorical then
        raise(op .. ': expected mixture_distribution as a Categorical, got ' .. (type(mix) == 'table' and tostring(mix.__name) or type(mix)))
      end
      if type(comp) ~= 'table' or getmetatable(comp) == nil or not comp.batch_shape then
        raise(op .. ': expected component_distribution as a distribution, got ' .. type(comp))
      end
      local cb, mb = comp.batch_shape, mix.batch_shape
      local k = mix._num_events
      if #cb < 1 or cb[#cb] ~= k then
        raise(('%s: mixture_distribution has %d components but component_distribution batch_shape %s should end in %d')
              :format(op, k, shape_str(cb), k))
      end
      local cbb = sub(cb, 1, -2)
      local b = broadcast(mb, cbb)
      if #mb ~= #cbb or not b or not same(b, cbb) then
        raise(('%s: mixture_distribution batch_shape %s does not match component_distribution batch_shape %s (less its last dim)')
              :format(op, shape_str(mb), shape_str(cb)))
      end
      local self = new(MixtureSameFamily, {})
      self.mixture_distribution, self.component_distribution, self._dtype = mix, comp, comp._dtype
      return init(self, cbb, comp.event_shape, opts)
    end
    -- the mixture's probs with a dim for each event dim (to scale the components)
    function MixtureSameFamily._pad_probs(self)
      local p = self.mixture_distribution.probs
      for _ = 1, #self.event_shape do p = p:unsqueeze(-1) end
      return p
    end
    -- x with a components dim before its event dims
    function MixtureSameFamily._pad(self, x) return x:unsqueeze(-1 - #self.event_shape) end
    function MixtureSameFamily.expand(self, batch_shape)
      batch_shape = shape_arg('MixtureSameFamily.expand', batch_shape)
      local k = self.mixture_distribution._num_events
      return MixtureSameFamily(self.mixture_distribution:expand(batch_shape),
                               self.component_distribution:expand(concat(batch_shape, { k })),
                               { validate_args = self._validate_args })
    end
    function MixtureSameFamily.log_prob(self, v)
      v = self:_value('log_prob', v, true)
      local lp = self.component_distribution:log_prob(self:_pad(v))            -- (S, B, K)
      return (lp + self.mixture_distribution.logits:log_softmax(-1)):logsumexp(-1)
    end
    function MixtureSameFamily.cdf(self, v)
      v = self:_value('cdf', v, true)
      local c = self.component_distribution:cdf(self:_pad(v))
      return (c * self.mixture_distribution.probs):sum(-1)
    end
    function MixtureSameFamily.sample(self, shape)
      shape = shape_arg('MixtureSameFamily.sample', shape)
      return no_grad(function()
        local e = #self.event_shape
        local which = self.mixture_distribution:sample(shape)                  -- (S, B), 1..K
        local comp = self.component_distribution:sample(shape)                 -- (S, B, K, E)
        local idx_shape = concat(which:shape(), { 1 })
        for _ = 1, e do idx_shape[#idx_shape + 1] = 1 end
        local idx = which:view(idx_shape)
        local want = comp:shape()
        want[#want - e] = 1
        idx = idx:expand(want):contiguous()
        return comp:gather(-1 - e, idx):squeeze(-1 - e)
      end)
    end
    function MixtureSameFamily.__tostring(self)
      return ('MixtureSameFamily(%s, %s)'):format(tostring(self.mixture_distribution), tostring(self.component_distribution))
    end
  end

  do
    -- ---- NegativeBinomial, FisherSnedecor, RelaxedBernoulli, RelaxedOneHotCategorical -----------------
    -- RelaxedBernoulli and RelaxedOneHotCategorical are, as PyTorch 1.13's,
    -- TransformedDistributions of LogitRelaxedBernoulli (through a sigmoid)
    -- and ExpRelaxedCategorical (through exp), with their parameters read
    -- from the base


    local NegativeBinomial = class('NegativeBinomial', {
      mean = function(self) return self.total_count * self.logits:exp() end,
      mode = function(self) return ((self.total_count - 1) * self.logits:exp()):floor():clamp(0) end,
      variance = function(self) return self.mean / (-self.logits):sigmoid() end,
      param_shape = function(self) return self.batch_shape end,
    })
    D.NegativeBinomial = NegativeBinomial
    NegativeBinomial.arg_constraints = {
      total_count = constraints.nonnegative,
      probs = constraint('half_open_interval(0, 1)', function(v) return v:ge(0) * v:lt(1) end),
      logits = constraints.real }
    NegativeBinomial.support = constraints.nonnegative_integer
    scalar_params(NegativeBinomial, { 'total_count', 'probs', 'logits' })
    -- NegativeBinomial(total_count, probs) or NegativeBinomial(total_count, nil, logits) or
    -- NegativeBinomial{total_count = , probs = | logits = , validate_args = }: the number of
    -- successes (each of probability probs) before the total_count-th failure
    function NegativeBinomial._new(n, probs, logits, opts)
      local op = 'NegativeBinomial'
      n, probs, logits, opts = lead_probs_or_logits(op, 'total_count', n, probs, logits, opts)
      local self, shape = new_count_binary(NegativeBinomial, op, n, probs, logits)
      return init(self, shape, {}, opts)
    end
    -- a Poisson draw of a Gamma(total_count, 1) draw times exp(logits) (no gradient)
    function NegativeBinomial.sample(self, shape)
      local op = 'NegativeBinomial.sample'
      local s = self:_extended_shape(shape_arg(op, shape))
      check_draw_param(op, 'total_count', self.total_count, '>= 0 and finite',
                       function(t) return t:ge(0) * t:lt(math.huge) end)
      check_draw_param(op, 'logits', self.logits, 'not NaN', function(t) return t:eq(t) end)
      return no_grad(function()
        local n = self.total_count:detach():expand(s):to('float64'):contiguous()
        local zero = n:eq(0)
        local lg = log_standard_gamma(nl.where(zero, 1, n))
        local rate = nl.where(zero, 0, (lg + self.logits:detach():expand(s):to('float64')):exp())
        return poisson_draw(rate:contiguous()):to(self._dtype)
      end)
    end
    function NegativeBinomial.log_prob(self, v)
      v = self:_value('log_prob', v)
      local n, l = self.total_count, self.logits
      local unnorm = n * F.logsigmoid(-l) + v * F.logsigmoid(l)
      local norm = -(n + v):lgamma() + (v + 1):lgamma() + n:lgamma()
      -- (total_count + value = 0 scores log 1, as PyTorch's masked_fill)
      norm = nl.where((n + v):eq(0), 0, norm)
      return unnorm - norm
    end

    local NAN = 0 / 0
    local FisherSnedecor = class('FisherSnedecor', {
      -- NaN where df2 <= 2 (mean), df2 <= 4 (variance), df1 <= 2 (mode), as PyTorch's
      mean = function(self)
        local df2 = nl.where(self.df2:detach():gt(2), self.df2, NAN)
        return df2 / (df2 - 2)
      end,
      mode = function(self)
        local m = (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2)
        return nl.where(m:detach():gt(0), m, NAN)
      end,
      variance = function(self)
        local df1 = self.df1
        local df2 = nl.where(self.df2:detach():gt(4), self.df2, NAN)
        return 2 * df2:pow(2) * (df1 + df2 - 2) / (df1 * (df2 - 2):pow(2) * (df2 - 4))
      end,
    })
    D.FisherSnedecor = FisherSnedecor
    FisherSnedecor.arg_constraints = { df1 = constraints.positive, df2 = constraints.positive }
    FisherSnedecor.support = constraints.positive
    scalar_params(FisherSnedecor, { 'df1', 'df2' })
    FisherSnedecor.rsample = no_rsample('FisherSnedecor')
    -- FisherSnedecor(df1, df2, [{validate_args}])
    function FisherSnedecor._new(df1, df2, opts)
      opts = options('FisherSnedecor', opts)
      local self, shape = new_params(FisherSnedecor, { df1, df2 })
      return init(self, shape, {}, opts)
    end
    -- (X1 / df1) / (X2 / df2) of chi-squares X1, X2 of df1 and df2 degrees (Gamma(df / 2) draws)
    function FisherSnedecor.sample(self, shape)
      local op = 'FisherSnedecor.sample'
      local s = self:_extended_shape(shape_arg(op, shape))
      check_concentration(op, 'df1', self.df1)
      check_concentration(op, 'df2', self.df2)
      return no_grad(function()
        local d1 = self.df1:detach():expand(s):to('float64'):contiguous()
        local d2 = self.df2:detach():expand(s):to('float64'):contiguous()
        local l1 = log_standard_gamma(d1 * 0.5) - (d1 * 0.5):log()
        local l2 = log_standard_gamma(d2 * 0.5) - (d2 * 0.5):log()
        local dt = self._dtype
        return (l1 - l2):exp():to(dt):clamp(TINY[dt])
      end)
    end
    function FisherSnedecor.log_prob(self, v)
      v = self:_value('log_prob', v)
      local c1, c2 = self.df1 * 0.5, self.df2 * 0.5
      local ratio = self.df1 / self.df2
      local t1 = (c1 + c2):lgamma() - c1:lgamma() - c2:lgamma()
      local t2 = c1 * ratio:log() + (c1 - 1) * v:log()
      local t3 = (c1 + c2) * (ratio * v):log1p()
      return t1 + t2 - t3
    end

    -- a temperature: a tensor (a number becomes one of dtype)
    local function temperature_of(op, t, dtype)
      if type(t) == 'number' then return nl.tensor(t, dtype) end
      if not is_tensor(t) or t:dtype() == 'int64' then
        raise(('%s: expected temperature as a float tensor or a number, got %s'):format(op,
              is_tensor(t) and 'int64 ' .. shape_str(t:shape()) or type(t)))
      end
      return t
    end
    local function relaxed_props(extra)
      local props = {
        temperature = function(self) return self.base_dist.temperature end,
        probs = function(self) return self.base_dist.probs end,
        logits = function(self) return self.base_dist.logits end,
      }
      for k, f in pairs(extra or {}) do props[k] = f end
      return props
    end

    local LogitRelaxedBernoulli = class('LogitRelaxedBernoulli', {
      param_shape = function(self) return self.batch_shape end,
    })
    D.LogitRelaxedBernoulli = LogitRelaxedBernoulli
    LogitRelaxedBernoulli.arg_constraints = { probs = constraints.unit_interval, logits = constraints.real }
    LogitRelaxedBernoulli.support = constraints.real
    LogitRelaxedBernoulli.has_rsample = true
    scalar_params(LogitRelaxedBernoulli, { 'probs', 'logits' })
    -- LogitRelaxedBernoulli(temperature, probs) or (temperature, nil, logits) or
    -- {temperature = , probs = | logits = , validate_args = }: the logit of a RelaxedBernoulli draw
    function LogitRelaxedBernoulli._new(temperature, probs, logits, opts)
      local op = 'LogitRelaxedBernoulli'
      temperature, probs, logits, opts = lead_probs_or_logits(op, 'temperature', temperature, probs, logits, opts)
      local self = new_binary(LogitRelaxedBernoulli, op, probs, logits)
      self.temperature = temperature_of(op, temperature, self._dtype)
      return init(self, self.probs:shape(), {}, opts)
    end
    -- (logit(u) + logits) / temperature of u uniform (clamped to [eps, 1 - eps])
    function LogitRelaxedBernoulli.rsample(self, shape)
      local s = self:_extended_shape(shape_arg('LogitRelaxedBernoulli.rsample', shape))
      local u = clamp_probs(nl.rand(s, self._dtype))
      return (u:log() - (-u):log1p() + self.logits) / self.temperature
    end
    function LogitRelaxedBernoulli.log_prob(self, v)
      v = self:_value('log_prob', v)
      local t = self.temperature
      local diff = self.logits - v * t
      return t:log() + diff - 2 * diff:exp():log1p()
    end

    local RelaxedBernoulli = TransformedDistribution:extend('RelaxedBernoulli', relaxed_props())
    D.RelaxedBernoulli = RelaxedBernoulli
    RelaxedBernoulli.arg_constraints = LogitRelaxedBernoulli.arg_constraints
    RelaxedBernoulli.has_rsample = true
    RelaxedBernoulli._param_order = {}
    -- RelaxedBernoulli(temperature, probs) or (temperature, nil, logits) or
    -- {temperature = , probs = | logits = , validate_args = }: on [0, 1], the
    -- sigmoid of a LogitRelaxedBernoulli
    function RelaxedBernoulli._new(temperature, probs, logits, opts)
      temperature, probs, logits, opts = lead_probs_or_logits('RelaxedBernoulli', 'temperature', temperature, probs,
                                                              logits, opts)
      local base = LogitRelaxedBernoulli._new(temperature, probs, logits, { validate_args = opts.validate_args })
      local self = new(RelaxedBernoulli, {})
      self.base_dist, self.transforms, self._dtype = base, { transforms.SigmoidTransform() }, base._dtype
      return init(self, base.batch_shape, {}, opts)
    end
    function RelaxedBernoulli.__tostring(self)
      return ('RelaxedBernoulli(temperature: %s, probs: %s)'):format(
        self.temperature:numel() == 1 and ('%.4g'):format(self.temperature:reshape(-1)[1]) or shape_str(self.temperature:shape()),
        shape_str(self.probs:shape()))
    end

    local ExpRelaxedCategorical = class('ExpRelaxedCategorical', {
      param_shape = function(self) return self.probs:shape() end,
    })
    D.ExpRelaxedCategorical = ExpRelaxedCategorical
    ExpRelaxedCategorical.arg_constraints = Categorical.arg_constraints
    ExpRelaxedCategorical.support = constraints.real_vector
    ExpRelaxedCategorical.has_rsample = true
    ExpRelaxedCategorical._param_dims = { probs = 1, logits = 1 }
    ExpRelaxedCategorical._param_order = { 'probs', 'logits' }
    -- ExpRelaxedCategorical(temperature, probs) or (temperature, nil, logits) or
    -- {temperature = , probs = | logits = , validate_args = }: the log of a
    -- RelaxedOneHotCategorical draw, over the last dim
    function ExpRelaxedCategorical._new(temperature, probs, logits, opts)
      local op = 'ExpRelaxedCategorical'
      temperature, probs, logits, opts = lead_probs_or_logits(op, 'temperature', temperature, probs, logits, opts)
      local cat = Categorical._new(probs, logits, { validate_args = opts.validate_args })
      local self = new(ExpRelaxedCategorical, {})
      self.probs, self.logits, self._dtype, self._num_events = cat.probs, cat.logits, cat._dtype, cat._num_events
      self.temperature = temperature_of(op, temperature, self._dtype)
      local s = self.probs:shape()
      return init(self, sub(s, 1, -2), { s[#s] }, opts)
    end
    -- log_softmax((logits + g) / temperature) of Gumbel draws g = -log(-log u)
    function ExpRelaxedCategorical.rsample(self, shape)
      local s = self:_extended_shape(shape_arg('ExpRelaxedCategorical.rsample', shape))
      local u = clamp_probs(nl.rand(s, self._dtype))
      local scores = (self.logits - (-u:log()):log()) / self.temperature
      return scores - scores:logsumexp(-1, true)
    end
    function ExpRelaxedCategorical.log_prob(self, v)
      v = self:_value('log_prob', v)
      local k, t = self._num_events, self.temperature
      local log_scale = nl.full_like(t:detach(), k):lgamma() + t:log() * (k - 1)
      local score = self.logits - v * t
      return (score - score:logsumexp(-1, true)):sum(-1) + log_scale
    end

    local RelaxedOneHotCategorical = TransformedDistribution:extend('RelaxedOneHotCategorical', relaxed_props({
      support = function() return constraints.simplex end,
    }))
    D.RelaxedOneHotCategorical = RelaxedOneHotCategorical
    RelaxedOneHotCategorical.arg_constraints = Categorical.arg_constraints
    RelaxedOneHotCategorical.has_rsample = true
    RelaxedOneHotCategorical._param_order = {}
    -- RelaxedOneHotCategorical(temperature, probs) or (temperature, nil, logits) or
    -- {temperature = , probs = | logits = , validate_args = }: on the simplex,
    -- exp of an ExpRelaxedCategorical
    function RelaxedOneHotCategorical._new(temperature, probs, logits, opts)
      temperature, probs, logits, opts = lead_probs_or_logits('RelaxedOneHotCategorical', 'temperature', temperature,
                                                              probs, logits, opts)
      local base = ExpRelaxedCategorical._new(temperature, probs, logits, { validate_args = opts.validate_args })
      local self = new(RelaxedOneHotCategorical, {})
      self.base_dist, self.transforms, self._dtype = base, { transforms.ExpTransform() }, base._dtype
      return init(self, base.batch_shape, base.event_shape, opts)
    end
    function RelaxedOneHotCategorical.__tostring(self)
      return ('RelaxedOneHotCategorical(probs: %s)'):format(shape_str(self.probs:shape()))
    end

    -- ---- LowRankMultivariateNormal ----------------------------------------------------------------
    -- covariance W W^T + diag(d), W (..., n, r): log_prob and entropy by the
    -- Woodbury identity and the matrix determinant lemma through the
    -- capacitance I + W^T diag(d)^-1 W (r x r), as PyTorch 1.13's
    local LowRankMVN = class('LowRankMultivariateNormal', {
      mean = function(self) return self.loc end,
      mode = function(self) return self.loc end,
      variance = function(self)
        return (self._unbroadcasted_cov_factor:pow(2):sum(-1) + self._unbroadcasted_cov_diag)
               :expand(concat(self.batch_shape, self.event_shape))
      end,
      covariance_matrix = function(self)
        local W, n = self._unbroadcasted_cov_factor, self.event_shape[1]
        return (nl.matmul(W, mT(W)) + nl.diag_embed(self._unbroadcasted_cov_diag)):expand(concat(self.batch_shape, { n, n }))
      end,
      scale_tril = function(self) return nl.linalg.cholesky(self.covariance_matrix) end,
      precision_matrix = function(self) return nl.cholesky_inverse(self.scale_tril) end,
    })
    D.LowRankMultivariateNormal = LowRankMVN
    LowRankMVN.arg_constraints = { loc = constraints.real_vector,
                                   cov_factor = constraints.independent(constraints.real, 2),
                                   cov_diag = constraints.independent(constraints.positive, 1) }
    LowRankMVN.support = constraints.real_vector
    LowRankMVN._value_as_params = true
    LowRankMVN.has_rsample = true
    LowRankMVN._param_dims = { loc = 1, cov_factor = 2, cov_diag = 1 }
    LowRankMVN._param_order = { 'loc', 'cov_factor', 'cov_diag' }
    -- LowRankMultivariateNormal(loc, cov_factor, cov_diag, [{validate_args}]):
    -- loc (..., n), cov_factor (..., n, r), cov_diag (..., n), batch dims broadcast
    function LowRankMVN._new(loc, W, d, opts)
      local op = 'LowRankMultivariateNormal'
      opts = options(op, opts)
      float_tensor(op, 'loc', loc, 1)
      float_tensor(op, 'cov_factor', W, 2)
      float_tensor(op, 'cov_diag', d, 1)
      if W:dtype() ~= loc:dtype() or d:dtype() ~= loc:dtype() then
        raise(('%s: loc is %s, cov_factor %s and cov_diag %s'):format(op, loc:dtype(), W:dtype(), d:dtype()))
      end
      local n = loc:size(-1)
      if W:size(-2) ~= n or d:size(-1) ~= n then
        raise(('%s: cov_factor %s must be (..., %d, rank) and cov_diag %s (..., %d), as loc %s'):format(op,
              shape_str(W:shape()), n, shape_str(d:shape()), n, shape_str(loc:shape())))
      end
      local batch = broadcast(sub(loc:shape(), 1, -2), sub(W:shape(), 1, -3))
      batch = batch and broadcast(batch, sub(d:shape(), 1, -2))
      if not batch then
        raise(('%s: the batch shapes of loc %s, cov_factor %s and cov_diag %s do not broadcast'):format(op,
              shape_str(loc:shape()), shape_str(W:shape()), shape_str(d:shape())))
      end
      local self = new(LowRankMVN)
      self.loc = loc:expand(concat(batch, { n }))
      self.cov_factor = W:expand(concat(batch, { n, W:size(-1) }))
      self.cov_diag = d:expand(concat(batch, { n }))
      self._dtype = loc:dtype()
      init(self, batch, { n }, opts)
      self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag = W, d
      local Wt_Dinv = mT(W / d:unsqueeze(-1))
      local cap = nl.matmul(Wt_Dinv, W) + nl.eye(W:size(-1), self._dtype)
      self._capacitance_tril = nl.linalg.cholesky(cap)
      return self
    end
    function LowRankMVN.rsample(self, shape)
      shape = shape_arg('LowRankMultivariateNormal.rsample', shape)
      local W = self._unbroadcasted_cov_factor
      local s = self:_extended_shape(shape)
      local eps_W = nl.randn(concat(concat(shape, self.batch_shape), { W:size(-1) }), self._dtype)
      local eps_D = nl.randn(s, self._dtype)
      return self.loc + nl.matmul(W, eps_W:unsqueeze(-1)):squeeze(-1) + self._unbroadcasted_cov_diag:sqrt() * eps_D
    end
    -- log det of W W^T + diag(d): 2 log det L + sum log d, L the capacitance's Cholesky factor
    local function lowrank_log_det(self)
      return 2 * half_log_det(self._capacitance_tril) + self._unbroadcasted_cov_diag:log():sum(-1)
    end
    function LowRankMVN.log_prob(self, v)
      v = self:_value('log_prob', v)
      local W, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
      local x = v - self.loc
      -- x^T (W W^T + D)^-1 x = x^T D^-1 x - |L^-1 W^T D^-1 x|^2
      local y = nl.matmul(mT(W), (x / d):unsqueeze(-1)):squeeze(-1)
      local M = (x:pow(2) / d):sum(-1) - mahalanobis(self._capacitance_tril, y)
      return -0.5 * (self.event_shape[1] * LOG_2PI + lowrank_log_det(self) + M)
    end
    function LowRankMVN.entropy(self)
      local H = 0.5 * (self.event_shape[1] * (1 + LOG_2PI) + lowrank_log_det(self))
      if #self.batch_shape == 0 then return H end
      return H:expand(self.batch_shape)
    end
    -- KL between Gaussians of covariances Sp and Sq (Cholesky factors Lp, Lq):
    -- (tr(Sq^-1 Sp) + (mq - mp)^T Sq^-1 (mq - mp) - n) / 2 + log det Lq - log det Lp
    local function kl_gaussians(p, q)
      if not same(p.event_shape, q.event_shape) then
        raise(('kl_divergence: KL between %s and %s of different event shapes %s and %s cannot be computed')
              :format(p.__name, q.__name, shape_str(p.event_shape), shape_str(q.event_shape)))
      end
      local b = broadcast(p.batch_shape, q.batch_shape)
      if not b then
        raise(('kl_divergence: the batch shapes %s and %s of %s and %s do not broadcast')
              :format(shape_str(p.batch_shape), shape_str(q.batch_shape), p.__name, q.__name))
      end
      local n = p.event_shape[1]
      local Lp, Lq = p.scale_tril:expand(concat(b, { n, n })), q.scale_tril:expand(concat(b, { n, n }))
      local tr = nl.linalg.solve_triangular(Lq, Lp, { upper = false }):pow(2):sum(-1):sum(-1)
      local M = mahalanobis(Lq, q.loc - p.loc)
      return 0.5 * (tr + M - n) + half_log_det(Lq) - half_log_det(Lp)
    end
    register(LowRankMVN, LowRankMVN, kl_gaussians)
    register(LowRankMVN, MultivariateNormal, kl_gaussians)
    register(MultivariateNormal, LowRankMVN, kl_gaussians)

    -- ---- Kumaraswamy ---------------------------------------------------------------------------------
    -- on [0, 1] with cdf 1 - (1 - x^a)^b (a = concentration1, b = concentration0):
    -- a TransformedDistribution of a Uniform(0, 1) through u^(1/b), 1 - v and
    -- w^(1/a), as PyTorch 1.13's. Its moments are E x^n = b B(1 + n / a, b)
    local function kumaraswamy_moment(self, n)
      local a, b = self.concentration1, self.concentration0
      local arg = 1 + n / a
      return b * (arg:lgamma() + b:lgamma() - (arg + b):lgamma()):exp()
    end
    local Kumaraswamy = TransformedDistribution:extend('Kumaraswamy', {
      mean = function(self) return kumaraswamy_moment(self, 1) end,
      variance = function(self) return kumaraswamy_moment(self, 2) - kumaraswamy_moment(self, 1):pow(2) end,
      -- ((a - 1) / (a b - 1))^(1 / a) where a >= 1 and b >= 1 (0 for a = 1,
      -- 1 for b = 1; NaN for a = b = 1, the uniform), NaN where the density
      -- is unbounded (a < 1 or b < 1), as PyTorch's. PyTorch 1.13's formula,
      -- exp(log1p(-b) / b - log1p(-a b)), is NaN for every parameter
      mode = function(self)
        local a, b = self.concentration1, self.concentration0
        local m = ((a - 1) / (a * b - 1)):pow(a:reciprocal())
        local ok = a:detach():ge(1) * b:detach():ge(1)
        return nl.where(ok, m, NAN)
      end,
    })
    D.Kumaraswamy = Kumaraswamy
    Kumaraswamy.arg_constraints = { concentration1 = constraints.positive, concentration0 = constraints.positive }
    Kumaraswamy.support = constraints.unit_interval
    Kumaraswamy.has_rsample = true
    scalar_params(Kumaraswamy, { 'concentration1', 'concentration0' })
    Kumaraswamy.expand = Distribution.expand
    Kumaraswamy.__tostring = describe
    function Kumaraswamy._make_transforms(self)
      return { transforms.PowerTransform(self.concentration0:reciprocal()), transforms.AffineTransform(1, -1),
               transforms.PowerTransform(self.concentration1:reciprocal()) }
    end
    function Kumaraswamy._expand_more(self, out, batch_shape)
      out.base_dist = out.base_dist:expand(batch_shape)
      out.transforms = self._make_transforms(out)
    end
    -- Kumaraswamy(concentration1, concentration0, [{validate_args}])
    function Kumaraswamy._new(c1, c0, opts)
      opts = options('Kumaraswamy', opts)
      local self, shape = new_params(Kumaraswamy, { c1, c0 })
      self.base_dist = Uniform(nl.zeros(shape, self._dtype), nl.ones(shape, self._dtype), { validate_args = false })
      self.transforms = Kumaraswamy._make_transforms(self)
      return init(self, shape, {}, opts)
    end
    function Kumaraswamy.entropy(self)
      local a, b = self.concentration1, self.concentration0
      local harmonic_b = (b + 1):digamma() + EULER
      return (1 - b:reciprocal()) + (1 - a:reciprocal()) * harmonic_b - a:log() - b:log()
    end

    -- ---- ContinuousBernoulli ---------------------------------------------------------------------------
    -- density C(p) p^x (1 - p)^(1 - x) on [0, 1], C(p) = 2 atanh(1 - 2p) / (1 - 2p).
    -- Within lims (default (0.499, 0.501]) of p = 1/2, where the closed forms
    -- cancel, log C, the mean and the variance are their Taylor series in
    -- p - 1/2 and cdf and icdf the identity (the uniform's), as PyTorch 1.13's
    local function cb_outside(self)
      local p = self.probs:detach()
      return p:le(self._lims[1]) + p:gt(self._lims[2])
    end
    -- probs, with lims[1] inside the unstable region (so the unused branch stays finite)
    local function cb_cut(self) return nl.where(cb_outside(self), self.probs, self._lims[1]) end
    local function cb_log_norm(self)
      local cut, out = cb_cut(self), cb_outside(self)
      local below = cut:detach():le(0.5)
      local lo = nl.where(below, cut, 0)
      local hi = nl.where(cut:detach():ge(0.5), cut, 1)
      local closed = ((-cut):log1p() - cut:log()):abs():log()
                     - nl.where(below, (-2 * lo):log1p(), (2 * hi - 1):log())
      local x = (self.probs - 0.5):pow(2)
      local taylor = math.log(2) + (4 / 3 + 104 / 45 * x) * x
      return nl.where(out, closed, taylor)
    end
    local ContinuousBernoulli = class('ContinuousBernoulli', {
      mean = function(self)
        local cut = cb_cut(self)
        local closed = cut / (2 * cut - 1) + ((-cut):log1p() - cut:log()):reciprocal()
        local x = self.probs - 0.5
        return nl.where(cb_outside(self), closed, 0.5 + (1 / 3 + 16 / 45 * x:pow(2)) * x)
      end,
      variance = function(self)
        local cut = cb_cut(self)
        local closed = cut * (cut - 1) / (1 - 2 * cut):pow(2) + ((-cut):log1p() - cut:log()):pow(-2)
        local x = (self.probs - 0.5):pow(2)
        return nl.where(cb_outside(self), closed, 1 / 12 - (1 / 15 - 128 / 945 * x) * x)
      end,
      param_shape = function(self) return self.batch_shape end,
    })
    D.ContinuousBernoulli = ContinuousBernoulli
    ContinuousBernoulli.arg_constraints = { probs = constraints.unit_interval, logits = constraints.real }
    ContinuousBernoulli.support = constraints.unit_interval
    ContinuousBernoulli.has_rsample = true
    scalar_params(ContinuousBernoulli, { 'probs', 'logits' })
    -- ContinuousBernoulli(probs) or (nil, logits) or {probs = | logits = , lims = {lo, hi}, validate_args = }
    function ContinuousBernoulli._new(probs, logits, opts)
      local op = 'ContinuousBernoulli'
      logits, opts = options_last(logits, opts)
      if type(probs) == 'table' and not is_tensor(probs) and logits == nil and opts == nil then
        opts = options(op, probs, { probs = true, logits = true, lims = true })
        probs, logits = opts.probs, opts.logits
      else
        opts = options(op, opts, { lims = true })
      end
      if (probs == nil) == (logits == nil) then raise(op .. ': either probs or logits must be specified, but not both') end
      local lims = opts.lims or { 0.499, 0.501 }
      if type(lims) ~= 'table' or type(lims[1]) ~= 'number' or type(lims[2]) ~= 'number' or not (lims[1] < 0.5 and lims[2] > 0.5) then
        raise(op .. ': expected lims as two numbers {lo, hi} with lo < 0.5 < hi')
      end
      local self = new_binary(ContinuousBernoulli, op, probs, logits)
      self._lims = { lims[1], lims[2] }
      init(self, self.probs:shape(), {}, opts)
      -- (probs is used clamped away from 0 and 1, as PyTorch's)
      if probs ~= nil then self.probs = clamp_probs(self.probs) end
      return self
    end
    function ContinuousBernoulli.rsample(self, shape)
      local s = self:_extended_shape(shape_arg('ContinuousBernoulli.rsample', shape))
      return self:_icdf(nl.rand(s, self._dtype))
    end
    function ContinuousBernoulli.log_prob(self, v)
      v = self:_value('log_prob', v)
      local s = broadcast(v:shape(), self.logits:shape()) or v:shape()
      local l = self.logits:expand(s)
      return -F.binary_cross_entropy_with_logits(l, v:expand(s), { reduction = 'none' }) + cb_log_norm(self)
    end
    function ContinuousBernoulli.cdf(self, v)
      v = self:_value('cdf', v)
      local cut = cb_cut(self)
      local closed = (cut:pow(v) * (1 - cut):pow(1 - v) + cut - 1) / (2 * cut - 1)
      local inside = nl.where(cb_outside(self), closed, v)
      return nl.where(v:le(0), 0, nl.where(v:ge(1), 1, inside))
    end
    function ContinuousBernoulli._icdf(self, v)
      local cut = cb_cut(self)
      local closed = ((-cut + v * (2 * cut - 1)):log1p() - (-cut):log1p()) / (cut:log() - (-cut):log1p())
      return nl.where(cb_outside(self), closed, v)
    end
    function ContinuousBernoulli.icdf(self, v) return self:_icdf(self:_tensor_value('icdf', v)) end
    function ContinuousBernoulli.entropy(self)
      local lp0, lp1 = (-self.probs):log1p(), self.probs:log()
      return self.mean * (lp0 - lp1) - cb_log_norm(self) - lp0
    end
    -- KL(p || q) = E_p[x] (logits_p - logits_q) + log C(p) + log(1 - p) - log C(q) - log(1 - q)
    register(ContinuousBernoulli, ContinuousBernoulli, function(p, q)
      return p.mean * (p.logits - q.logits) + cb_log_norm(p) + (-p.probs):log1p() - cb_log_norm(q) - (-q.probs):log1p()
    end)

    -- ---- VonMises --------------------------------------------------------------------------------------
    -- density exp(kappa cos(x - loc)) / (2 pi I0(kappa)) on the circle, with
    -- log I0 as log i0e(kappa) + kappa (exact, where PyTorch 1.13 takes a
    -- polynomial approximation, within a relative 1e-7 of it)
    local function log_i0(k) return nl.special.i0e(k):log() + k end
    local VonMises = class('VonMises', {
      mean = function(self) return self.loc end,
      mode = function(self) return self.loc end,
      -- 1 - I1(kappa) / I0(kappa)
      variance = function(self)
        local k = self.concentration
        return 1 - nl.special.i1e(k) / nl.special.i0e(k)
      end,
    })
    D.VonMises = VonMises
    VonMises.arg_constraints = { loc = constraints.real, concentration = constraints.positive }
    VonMises.support = constraints.real
    scalar_params(VonMises, { 'loc', 'concentration' })
    -- VonMises(loc, concentration, [{validate_args}])
    function VonMises._new(loc, concentration, opts)
      opts = options('VonMises', opts)
      local self, shape = new_params(VonMises, { loc, concentration })
      return init(self, shape, {}, opts)
    end
    function VonMises.log_prob(self, v)
      v = self:_value('log_prob', v)
      return self.concentration * (v - self.loc):cos() - math.log(2 * math.pi) - log_i0(self.concentration)
    end
    -- Best and Fisher's (1979) rejection sampler with a wrapped Cauchy envelope, in float64;
    -- the draws lie in [-pi, pi)
    function VonMises.sample(self, shape)
      local op = 'VonMises.sample'
      local s = self:_extended_shape(shape_arg(op, shape))
      check_concentration(op, 'concentration', self.concentration)
      return no_grad(function()
        local dt = 'float64'
        local k = self.concentration:detach():expand(s):to(dt):contiguous()
        local root = (1 + 4 * k:pow(2)):sqrt()
        local tau = 1 + root
        -- rho = (tau - sqrt(2 tau)) / (2 k), written without cancellation at small k
        local rho = tau * (4 * k:pow(2) / (root + 1)) / ((tau + (2 * tau):sqrt()) * 2 * k)
        local r = (1 + rho:pow(2)) / (2 * rho)
        local out, done = nl.zeros(s, dt), nl.zeros(s, dt)
        for _ = 1, 1000 do
          local u1, u2, u3 = nl.rand(s, dt), nl.rand(s, dt), nl.rand(s, dt)
          local z = (math.pi * u1):cos()
          local f = (1 + r * z) / (r + z)
          local c = k * (r - f)
          local ok = (c * (2 - c) - u2):gt(0) + ((c / u2):log() + 1 - c):ge(0)
          local take = ok:gt(0) * (1 - done)
          local theta = (u3 - 0.5):sign() * f:clamp(-1, 1):acos()
          out = nl.where(take, theta, out)
          done = done + take
          if done:numel() == 0 or done:min():item() > 0 then
            local x = out + self.loc:detach():to(dt) + math.pi
            return (x - (x / (2 * math.pi)):floor() * (2 * math.pi) - math.pi):to(self._dtype)
          end
        end
        raise('VonMises.sample: the sampler did not accept a draw in 1000 rounds')
      end)
    end
  end

  -- the methods refuse arguments past their parameters, as PyTorch's
  -- TypeError (d:log_prob(v, 1) and d:sample({ 2 }, 3) dropped the extra
  -- one), naming the distribution: each class's own wrapped once here (a
  -- subclass's own methods are its writer's)
  local TAKES = { sample = '([sample_shape])', rsample = '([sample_shape])', sample_n = '(n)', log_prob = '(value)',
                  cdf = '(value)', icdf = '(value)', entropy = '()', perplexity = '()',
                  enumerate_support = '([expand])', expand = '(batch_shape)' }
  for _, cls in pairs(D) do
    if is_class(cls) then
      for k, takes in pairs(TAKES) do
        local f = rawget(cls, k)
        local info = f and debug.getinfo(f, 'u')
        if info and not info.isvararg then
          local most = math.max(info.nparams - 1, 0)
          cls[k] = function(self, ...)
            if select('#', ...) > most then
              nl._no_extra_args(self.__name .. ': ' .. k, takes, nil, select(most + 1, ...))
            end
            return f(self, ...)
          end
        end
      end
    end
  end

  return D
end
