-- activation.lua: activation modules, each one C op.
return function(nl, nn)
  local Module = nn.Module

  -- PyTorch's inplace flag (nn.ReLU(true), nn.ReLU{inplace = true}) is
  -- taken and the result computed out of place: the same values, and the
  -- input kept. Any other argument is an error (they were dropped).
  local function inplace_arg(name, v)
    if type(v) == 'table' then
      nl._check_opts(name, v, { inplace = 1 })
      v = v.inplace
    end
    if v ~= nil and type(v) ~= 'boolean' then nl._argerror(name, 'no argument, or an inplace flag', v) end
  end
  nn._inplace_arg = inplace_arg

  -- float_only: int64 refused, as PyTorch's kernel has none (it was
  -- promoted silently); ReLU keeps int64, Sigmoid and Tanh give float
  -- shows_inplace: the flag is kept for the repr, as PyTorch's prints it
  local function simple(name, method, takes_inplace, float_only, shows_inplace)
    local cls = Module:extend(name)
    cls.init = function(self, ...)
      local v = ...
      if select('#', ...) > 1 or (v ~= nil and not takes_inplace) then
        nl._raise(('%s: expected %s, got %d argument(s)'):format(name,
          takes_inplace and 'at most an inplace flag' or 'no arguments', select('#', ...)))
      end
      inplace_arg(name, v)
      if shows_inplace then self.inplace = (type(v) == 'table' and v.inplace or v) == true end
    end
    if shows_inplace then cls.extra_repr = function(self) return self.inplace and 'inplace=True' or '' end end
    cls.forward = function(_, x)
      nl._T(x, name)
      if float_only then nl._float_only(x, name) end
      return x[method](x)
    end
    nn[name] = cls
    return cls
  end
  -- (ReLU and SiLU printed ReLU() for nn.ReLU(true), where PyTorch prints ReLU(inplace=True))
  simple('ReLU', 'relu', true, false, true)
  simple('Sigmoid', 'sigmoid')
  simple('Tanh', 'tanh')
  simple('SiLU', 'silu', true, true, true)
  simple('SELU', 'selu', true, true, true)
  simple('Mish', 'mish', true, true, true)
  simple('Hardsigmoid', 'hardsigmoid', true, true)    -- PyTorch prints no inplace for these two
  simple('Hardswish', 'hardswish', true, true)
  simple('LogSigmoid', 'logsigmoid', false, true)
  simple('Softsign', 'softsign')                      -- int64 gives float32, as PyTorch's
  simple('Tanhshrink', 'tanhshrink')

  -- a number as PyTorch prints a float parameter: 1 as 1.0
  local function pyfloat(v)
    if v == math.floor(v) and math.abs(v) < 1e16 then return ('%.1f'):format(v) end
    return tostring(v)
  end

  -- A module of an activation with parameters, built as PyTorch's: the
  -- parameters (params: {name, default}, in PyTorch's order) and then, if
  -- o.inplace, the inplace flag (taken, computed out of place, as ReLU's),
  -- as arguments or as a table of PyTorch's keywords. Each parameter is
  -- kept in a field of its name; o.check(self) raises for values PyTorch
  -- refuses; o.repr(self) is the extra_repr.
  local function with_params(name, method, params, o)
    local cls = Module:extend(name)
    local names = {}
    for i, pd in ipairs(params) do names[i] = pd[1] end
    if o.inplace then names[#names + 1] = 'inplace' end
    local nargs = #names
    names = table.concat(names, ' ')
    cls.init = function(self, ...)
      local args = { nl._opts_or_args(name, names, ...) }
      local n = table.maxn(args)
      if n > nargs then
        nl._raise(('%s: takes at most %d argument%s, got %d'):format(name, nargs, nargs == 1 and '' or 's', n))
      end
      for i, pd in ipairs(params) do
        local v = args[i]
        if v == nil then v = pd[2] end
        if type(v) ~= 'number' then nl._argerror(name, 'a number as ' .. pd[1], v) end
        -- (NaN and +-inf taken, as PyTorch's modules; o.check refuses where PyTorch does)
        self[pd[1]] = v
      end
      if o.inplace then
        inplace_arg(name, args[#params + 1])
        self.inplace = args[#params + 1] == true
      end
      if o.check then o.check(self) end
    end
    local p1, p2 = params[1] and params[1][1], params[2] and params[2][1]
    cls.forward = function(self, x)
      nl._T(x, name)
      if not o.int64 then nl._float_only(x, name) end
      if p2 then return x[method](x, self[p1], self[p2]) end
      if p1 then return x[method](x, self[p1]) end
      return x[method](x)
    end
    cls.extra_repr = o.repr
    nn[name] = cls
    return cls
  end
  local function inplace_str(self, sep) return self.inplace and sep .. 'inplace=True' or '' end

  with_params('ELU', 'elu', { { 'alpha', 1 } }, {
    inplace = true, repr = function(self) return 'alpha=' .. pyfloat(self.alpha) .. inplace_str(self, ', ') end })
  with_params('CELU', 'celu', { { 'alpha', 1 } }, {
    inplace = true, repr = function(self) return 'alpha=' .. pyfloat(self.alpha) .. inplace_str(self, ', ') end,
    check = function(self) if self.alpha == 0 then nl._raise('CELU: alpha cannot be 0 (CELU divides by it)') end end })
  -- Softplus(beta, threshold): x itself where beta * x > threshold (PyTorch's linear region)
  with_params('Softplus', 'softplus', { { 'beta', 1 }, { 'threshold', 20 } }, {
    repr = function(self) return ('beta=%s, threshold=%s'):format(tostring(self.beta), tostring(self.threshold)) end })
  -- Hardtanh(min_val, max_val): max_val above min_val, as PyTorch asserts (NaN refused
  -- so; F.hardtanh takes both); int64 kept
  with_params('Hardtanh', 'hardtanh', { { 'min_val', -1 }, { 'max_val', 1 } }, {
    inplace = true, int64 = true,
    repr = function(self)
      return ('min_val=%s, max_val=%s'):format(pyfloat(self.min_val), pyfloat(self.max_val)) .. inplace_str(self, ', ')
    end,
    check = function(self)
      if not (self.max_val > self.min_val) then
        nl._raise(('Hardtanh: max_val (%s) must be greater than min_val (%s)'):format(tostring(self.max_val),
          tostring(self.min_val)))
      end
    end })
  -- ReLU6: Hardtanh(0, 6), PyTorch's (a gradient of 0 at 0 and at 6)
  with_params('ReLU6', 'relu6', {}, { inplace = true, int64 = true, repr = function(self) return inplace_str(self, '') end })
  with_params('Softshrink', 'softshrink', { { 'lambd', 0.5 } }, {
    repr = function(self) return tostring(self.lambd) end,
    check = function(self)
      if not (self.lambd >= 0) then
        nl._raise(('Softshrink: lambd must be >= 0, got %s'):format(tostring(self.lambd)))
      end
    end })
  with_params('Hardshrink', 'hardshrink', { { 'lambd', 0.5 } }, { repr = function(self) return tostring(self.lambd) end })

  -- GELU([approximate]): 'none' (default) or 'tanh', as a string or {approximate = ...}
  local GELU = Module:extend('GELU')
  nn.GELU = GELU
  function GELU:init(approximate)        -- more arguments: Module.new refuses them
    if type(approximate) == 'table' then
      nl._check_opts('GELU', approximate, { approximate = 1 })
      approximate = approximate.approximate
    end
    approximate = approximate or 'none'
    if approximate ~= 'none' and approximate ~= 'tanh' then
      nl._argerror('GELU', "approximate 'none' or 'tanh'", approximate)
    end
    self.approximate = approximate
  end
  function GELU:forward(x)
    nl._T(x, 'GELU')
    nl._float_only(x, 'GELU')
    return x:gelu(self.approximate)
  end
  function GELU:extra_repr() return self.approximate == 'tanh' and "approximate='tanh'" or '' end

  local LeakyReLU = Module:extend('LeakyReLU')
  nn.LeakyReLU = LeakyReLU
  function LeakyReLU:init(slope, inplace)
    -- or {negative_slope = a, inplace = b}
    slope, inplace = nl._opts_or_args('LeakyReLU', 'negative_slope inplace', slope, inplace)
    slope = slope or 0.01
    if type(slope) ~= 'number' then nl._argerror('LeakyReLU', 'a number negative_slope', slope) end
    inplace_arg('LeakyReLU', inplace)
    self.negative_slope = slope
    self.inplace = inplace == true
  end
  function LeakyReLU:forward(x)
    nl._T(x, 'LeakyReLU')
    return x:leaky_relu(self.negative_slope)
  end
  -- (the flag was dropped from the print, as ReLU's)
  function LeakyReLU:extra_repr() return 'negative_slope=' .. self.negative_slope .. inplace_str(self, ', ') end

  -- Threshold(threshold, value, inplace), or {threshold, value, inplace}:
  -- value where x <= threshold, else x (F.threshold)
  local Threshold = Module:extend('Threshold')
  nn.Threshold = Threshold
  function Threshold:init(threshold, value, inplace)
    threshold, value, inplace = nl._opts_or_args('Threshold', 'threshold value inplace:flag', threshold, value, inplace)
    -- (NaN taken, as F.threshold takes it)
    if type(threshold) ~= 'number' then nl._argerror('Threshold', 'a number as threshold', threshold) end
    if type(value) ~= 'number' then nl._argerror('Threshold', 'a number as value', value) end
    inplace_arg('Threshold', inplace)
    self.threshold, self.value, self.inplace = threshold, value, inplace == true
  end
  function Threshold:forward(x)
    nl._T(x, 'Threshold')
    return nn.functional.threshold(x, self.threshold, self.value)
  end
  function Threshold:extra_repr()
    return ('threshold=%s, value=%s'):format(tostring(self.threshold), tostring(self.value)) .. inplace_str(self, ', ')
  end

  -- method: a Tensor method's name, or a function (t, dim)
  local function along_dim(name, method)
    local cls = Module:extend(name)
    cls.init = function(self, dim)
      -- (or {dim = d}, PyTorch's keyword)
      if type(dim) == 'table' and not nl.is_tensor(dim) then
        nl._check_opts(name, dim, { dim = 1 })
        dim = dim.dim
      end
      dim = dim or -1
      if type(dim) ~= 'number' or dim ~= math.floor(dim) then nl._argerror(name, 'an integer dim', dim) end
      -- dims count from 1 (or from -1 at the end): 0 was taken, and refused at forward
      if dim == 0 then nl._raise(name .. ': dim 0 is invalid; dims count from 1, or from -1 at the end') end
      self.dim = dim
    end
    cls.forward = function(self, x)
      nl._T(x, name)
      if type(method) == 'function' then return method(x, self.dim) end
      return x[method](x, self.dim)
    end
    cls.extra_repr = function(self) return 'dim=' .. self.dim end
    nn[name] = cls
  end
  along_dim('Softmax', 'softmax')
  along_dim('LogSoftmax', 'log_softmax')
  along_dim('Softmin', nl.softmin)          -- softmax of -x, as PyTorch's
end
