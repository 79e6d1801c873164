-- activation.lua: activation modules, each one C op.
return function(nl, nn)
  local Module = nn.Module

  local function simple(name, method)
    local cls = Module:extend(name)
    cls.forward = function(_, x)
      nl._T(x, name)
      return x[method](x)
    end
    nn[name] = cls
    return cls
  end
  simple('ReLU', 'relu')
  simple('Sigmoid', 'sigmoid')
  simple('Tanh', 'tanh')
  simple('GELU', 'gelu')
  simple('SiLU', 'silu')

  local LeakyReLU = Module:extend('LeakyReLU')
  nn.LeakyReLU = LeakyReLU
  function LeakyReLU:init(slope)
    slope = slope or 0.01
    if type(slope) ~= 'number' then nl._argerror('LeakyReLU', 'a number negative_slope', slope) end
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
