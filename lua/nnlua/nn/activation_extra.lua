-- activation_extra.lua: the rarer activations of PyTorch 1.13, nn.GLU
-- (F.glu), nn.Softmax2d and F.gumbel_softmax, composed of tensor ops, so
-- autograd gives their backward. The common ones, each one C op, are in activation.lua
-- and functional.lua.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional

  -- dim as given (1-based, negative from the end, nil the last), checked
  -- against x's dims; returns the 1-based dim
  local function dim_of(op, x, dim)
    if dim == nil then dim = -1 end
    local d = x:dim()
    if type(dim) ~= 'number' or dim ~= math.floor(dim) then
      nl._raise(('%s: expected an integer dim, got %s'):format(op, nl._describe_arg(dim)))
    end
    if dim == 0 or dim > d or dim < -d then
      nl._raise(('%s: dim %s is out of range for input shape %s (dims count from 1, or from -1 at the end)'):format(
        op, nl._describe_arg(dim), nl._shape_str(x)))
    end
    return dim < 0 and d + dim + 1 or dim
  end

  -- a * sigmoid(b), a and b x's halves along dim
  local function glu(op, x, dim)
    nl._T(x, op)
    nl._float_only(x, op)
    if x:dim() == 0 then nl._raise(op .. ': glu does not take a 0-dim tensor') end
    local d = dim_of(op, x, dim)
    local n = x:size(d)
    if n % 2 ~= 0 then
      nl._raise(('%s: halving dimension must be even, but dimension %d of input shape %s is size %d'):format(op,
        dim or -1, nl._shape_str(x), n))
    end
    local h = n / 2
    return x:narrow(d, 1, h) * x:narrow(d, h + 1, h):sigmoid()
  end

  -- F.glu(x, dim = -1) (or {dim})
  function F.glu(x, dim, ...)
    local op = 'glu'
    nl._no_extra_args(op, '(input, dim)', nil, ...)
    if type(dim) == 'table' and not nl.is_tensor(dim) then
      nl._check_opts(op, dim, { dim = 1 })
      dim = dim.dim
    end
    return glu(op, x, dim)
  end

  local GLU = Module:extend('GLU')
  nn.GLU = GLU

  -- GLU(dim = -1) (or {dim})
  function GLU:init(dim, ...)
    nl._no_extra_args('GLU', '(dim)', nil, ...)
    if type(dim) == 'table' then
      nl._check_opts('GLU', dim, { dim = 1 })
      dim = dim.dim
    end
    if dim == nil then dim = -1 end
    if type(dim) ~= 'number' or dim ~= math.floor(dim) then nl._argerror('GLU', 'an integer dim', dim) end
    if dim == 0 then nl._raise('GLU: dim 0 is invalid; dims count from 1, or from -1 at the end') end
    self.dim = dim
  end
  function GLU:forward(x) return glu('GLU', x, self.dim) end
  function GLU:extra_repr() return 'dim=' .. self.dim end

  local Softmax2d = Module:extend('Softmax2d')
  nn.Softmax2d = Softmax2d

  -- Softmax2d(): softmax over the channels of (N, C, H, W) or (C, H, W)
  function Softmax2d:init(...)
    nl._no_extra_args('Softmax2d', '()', nil, ...)
  end
  function Softmax2d:forward(x)
    local op = 'Softmax2d'
    nl._T(x, op)
    if x:dim() ~= 3 and x:dim() ~= 4 then
      nl._raise(op .. ': expected input (N, C, H, W) or (C, H, W), got shape ' .. nl._shape_str(x))
    end
    nl._float_only(x, op)
    return x:softmax(-3)
  end

  local GUMBEL_KNOWN = { tau = 1, hard = 'flag', eps = 1, dim = 1 }
  local GUMBEL_ARGS = { 'tau', 'hard', 'eps', 'dim' }

  -- F.gumbel_softmax(logits, tau = 1, hard = false, eps, dim = -1), or
  -- (logits, {tau, hard, dim}): softmax((logits + g) / tau) along dim, g
  -- Gumbel noise -log(E), E ~ Exp(1) from nnlua's generator (drawn in
  -- float64); hard gives the one-hot of each argmax with the soft
  -- sample's gradient (y_hard - y_soft:detach() + y_soft, PyTorch's
  -- straight-through estimator). eps is taken and unused, as PyTorch
  -- 1.13's (deprecated).
  function F.gumbel_softmax(logits, tau, ...)
    local op = 'gumbel_softmax'
    local o = nn._positional_options(op, '(logits', GUMBEL_ARGS, GUMBEL_KNOWN, tau, ...)
    nl._T(logits, op)
    nl._float_only(logits, op)
    tau = o.tau == nil and 1 or o.tau
    if type(tau) ~= 'number' or not (tau > 0) then
      nl._raise(('%s: expected a temperature tau > 0, got %s'):format(op, nl._describe_arg(tau)))
    end
    if o.hard ~= nil and type(o.hard) ~= 'boolean' then nl._argerror(op, 'a boolean hard', o.hard) end
    if logits:dim() == 0 then nl._raise(op .. ': expected logits of 1 or more dims, got a 0-dim tensor') end
    local d = dim_of(op, logits, o.dim)
    local g = nl.no_grad(function()
      return nl.zeros(logits:shape(), 'float64'):exponential_():log():neg():to(logits:dtype())
    end)
    local y_soft = ((logits + g) / tau):softmax(d)
    if not o.hard then return y_soft end
    -- hard takes an argmax along d, which an empty dim has none of (as
    -- PyTorch's max refuses it)
    if logits:size(d) == 0 then
      nl._raise(('%s: hard = true takes the argmax along dim %d, of size 0 in shape %s'):format(op, d,
        nl._shape_str(logits)))
    end
    local index = y_soft:detach():argmax(d, true)
    local y_hard = nl.zeros(logits:shape(), logits:dtype()):scatter(d, index, 1)
    return y_hard - y_soft:detach() + y_soft
  end
end
