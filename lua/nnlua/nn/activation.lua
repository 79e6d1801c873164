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
  local function simple(name, method, takes_inplace, float_only)
    local cls = Module:extend(name)
    cls.init = function(_, ...)
      local v = ...
      if select('#', ...) > 1 or (v ~= nil and not takes_inplace) then
        nl._raise(('%s: expected %s, got %d argument(s)'):format(name,
          takes_inplace and 'at most an inplace flag' or 'no arguments', select('#', ...)))
      end
      inplace_arg(name, v)
    end
    cls.forward = function(_, x)
      nl._T(x, name)
      if float_only then nl._float_only(x, name) end
      return x[method](x)
    end
    nn[name] = cls
    return cls
  end
  simple('ReLU', 'relu', true)
  simple('Sigmoid', 'sigmoid')
  simple('Tanh', 'tanh')
  simple('SiLU', 'silu', true, true)

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
    if type(slope) == 'table' then      -- {negative_slope = a, inplace = b}
      nl._check_opts('LeakyReLU', slope, { negative_slope = 1, inplace = 1 })
      slope, inplace = slope.negative_slope, slope.inplace
    end
    slope = slope or 0.01
    if type(slope) ~= 'number' then nl._argerror('LeakyReLU', 'a number negative_slope', slope) end
    inplace_arg('LeakyReLU', inplace)
    self.negative_slope = slope
  end
  function LeakyReLU:forward(x)
    nl._T(x, 'LeakyReLU')
    return x:leaky_relu(self.negative_slope)
  end
  function LeakyReLU:extra_repr() return 'negative_slope=' .. self.negative_slope end

  local function along_dim(name, method)
    local cls = Module:extend(name)
    cls.init = function(self, dim)
      dim = dim or -1
      if type(dim) ~= 'number' or dim ~= math.floor(dim) then nl._argerror(name, 'an integer dim', dim) end
      -- dims count from 1 (or from -1 at the end): 0 was taken, and refused at forward
      if dim == 0 then nl._raise(name .. ': dim 0 is invalid; dims count from 1, or from -1 at the end') end
      self.dim = dim
    end
    cls.forward = function(self, x)
      nl._T(x, name)
      return x[method](x, self.dim)
    end
    cls.extra_repr = function(self) return 'dim=' .. self.dim end
    nn[name] = cls
  end
  along_dim('Softmax', 'softmax')
  along_dim('LogSoftmax', 'log_softmax')
end
