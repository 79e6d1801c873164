-- activation.lua: activation modules, each one C op.
return function(nl, nn)
  local Module = nn.Module

  local function simple(name, method)
    local cls = Module:extend(name)
    cls.forward = function(_, x) return x[method](x) end
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
  function LeakyReLU:init(slope) self.negative_slope = slope or 0.01 end
  function LeakyReLU:forward(x) return x:leaky_relu(self.negative_slope) end
  function LeakyReLU:extra_repr() return 'negative_slope=' .. self.negative_slope end

  local function along_dim(name, method)
    local cls = Module:extend(name)
    cls.init = function(self, dim) self.dim = dim or -1 end
    cls.forward = function(self, x) return x[method](x, self.dim) end
    cls.extra_repr = function(self) return 'dim=' .. self.dim end
    nn[name] = cls
  end
  along_dim('Softmax', 'softmax')
  along_dim('LogSoftmax', 'log_softmax')
end
