-- rectifier.lua: the leaky rectifiers whose slope is learned or drawn:
-- nn.PReLU (a learned slope, one or one per channel) and nn.RReLU (a slope
-- drawn per element in training, their mean in eval), with the functional
-- forms nn.functional.prelu and rrelu. PReLU is one C op (nl_prelu, with
-- its backward and, under create_graph, PyTorch's double backward); RReLU
-- is leaky_relu in eval, a where over tensor ops in training.
return function(nl, nn)
  local Module = nn.Module
  local lib, wrap = nl._lib, nl._wrap
  local F = nn.functional or {}
  nn.functional = F

  local function finite(v) return type(v) == 'number' and v == v and v > -math.huge and v < math.huge end

  -- F.prelu(x, weight): weight 0-dim or 1-D of one slope, or of one slope
  -- per channel, the channels being dim 2 (1-D and 0-dim input: one
  -- channel), as PyTorch 1.13's: x where x > 0, else w x; the gradient at
  -- 0 is w's side (w g for x, x g = 0 for w), NaN stays NaN, and an x of
  -- inf sends w nothing (not 0 * inf)
  function F.prelu(x, weight, ...)
    local op = 'prelu'
    nl._no_extra_args(op, '(input, weight)', nil, ...)
    nl._T(x, op)
    nl._T(weight, op)
    nl._float_only(x, op)
    if weight:dtype() ~= x:dtype() or weight:dim() > 1 then
      nl._raise(('%s: weight must be a 0-dim or 1-D tensor of the input\'s dtype %s, got %s %s'):format(op,
        x:dtype(), weight:dtype(), nl._shape_str(weight)))
    end
    local n, d = weight:numel(), x:dim()
    local c = d >= 2 and x:size(2) or 1
    if n ~= 1 and n ~= c then
      nl._raise(('%s: weight holds %d slopes for an input of %d channel%s (dim 2 of shape %s; 1-D and 0-dim input '
        .. 'have one): give 1 or %d'):format(op, n, c, c == 1 and '' or 's', nl._shape_str(x), c))
    end
    return wrap(lib.nl_prelu(x.ptr, weight.ptr))
  end

  -- PReLU(num_parameters = 1, init = 0.25), or {num_parameters, init}: a
  -- weight of num_parameters slopes, each init
  local PReLU = Module:extend('PReLU')
  nn.PReLU = PReLU
  function PReLU:init(num_parameters, init)
    num_parameters, init = nl._opts_or_args('PReLU', 'num_parameters init', num_parameters, init)
    if num_parameters == nil then num_parameters = 1 end
    if init == nil then init = 0.25 end
    if not nl._size_arg(num_parameters) or num_parameters > 2 ^ 31 then
      nl._raise('PReLU: num_parameters must be a positive whole number, got ' .. nl._describe_arg(num_parameters))
    end
    if not finite(init) then nl._raise('PReLU: init must be a finite number, got ' .. nl._describe_arg(init)) end
    -- (no num_parameters field, as PyTorch keeps: it would hide the
    -- method Module:num_parameters; the weight holds the count)
    self.weight = nl.full({ num_parameters }, init):requires_grad()
  end
  function PReLU:forward(x)
    nl._T(x, 'PReLU')
    nn._check_input_dtype('PReLU', x, self.weight:dtype())
    return F.prelu(x, self.weight)
  end
  function PReLU:extra_repr() return 'num_parameters=' .. self.weight:numel() end

  -- lower and upper from positional arguments or a table of them (and of
  -- the names in more): the bounds checked as PyTorch's (lower <= upper,
  -- which NaN fails); +-inf taken, as PyTorch's eval mode takes them (a
  -- slope (lower + upper) / 2), refused in training (rrelu_training)
  local function bounds(op, lower, upper)
    if lower == nil then lower = 1 / 8 end
    if upper == nil then upper = 1 / 3 end
    if type(lower) ~= 'number' or type(upper) ~= 'number' or lower ~= lower or upper ~= upper then
      nl._raise(('%s: lower and upper must be numbers (not NaN), got %s and %s'):format(op, nl._describe_arg(lower),
        nl._describe_arg(upper)))
    end
    if lower > upper then
      nl._raise(('%s: lower (%s) must not be above upper (%s)'):format(op, tostring(lower), tostring(upper)))
    end
    return lower, upper
  end

  -- F.rrelu(x, lower = 1/8, upper = 1/3, training = false), or
  -- F.rrelu(x, {lower, upper, training, inplace}): in training each
  -- element x <= 0 takes its own slope, drawn uniform in [lower, upper]
  -- from nnlua's generator (nl.manual_seed), and its gradient is that
  -- slope; otherwise the slope is (lower + upper) / 2, as PyTorch's
  -- (whose functional default is training = false). inplace is taken and
  -- computed out of place, as the activations' flag.
  function F.rrelu(x, lower, upper, training, inplace, ...)
    local op = 'rrelu'
    nl._no_extra_args(op, '(input, lower, upper, training, inplace)', nil, ...)
    lower, upper, training, inplace = nl._opts_or_args(op, 'lower upper training:flag inplace:flag', lower, upper,
      training, inplace)
    nl._T(x, op)
    lower, upper = bounds(op, lower, upper)
    if training ~= nil and type(training) ~= 'boolean' then nl._argerror(op, 'a boolean training flag', training) end
    if inplace ~= nil and type(inplace) ~= 'boolean' then nl._argerror(op, 'a boolean inplace flag', inplace) end
    nl._float_only(x, op)
    if not training then return nl.leaky_relu(x, (lower + upper) / 2) end
    if not finite(lower) or not finite(upper) then   -- (PyTorch's uniform_ refuses them too)
      nl._raise(('%s: in training lower and upper must be finite (slopes are drawn between them), got %s and %s')
        :format(op, tostring(lower), tostring(upper)))
    end
    local slope = nl.rand(x:shape(), x:dtype()) * (upper - lower) + lower
    -- the slopes tied to x, where x carries a graph: a false condition picks
    -- them over floor(x), whose gradient is zeros. The gradient, slope g,
    -- then keeps x in its graph, so that differentiated again in x alone it
    -- gives zeros (the drawn slopes are constants), as PyTorch's
    -- rrelu_with_noise_backward, which takes x; it had no graph, and
    -- create_graph's second derivative was refused ("does not require grad")
    if lib.nl_is_grad_enabled() ~= 0 and bit.band(x.ptr.flags, 1) ~= 0 then
      slope = nl.where(nl.tensor(0, 'int64'), x:floor(), slope)
    end
    -- x <= 0 takes the slope (PyTorch's rrelu_with_noise: 0 too)
    return nl.where(x:le(0), x * slope, x)
  end

  -- RReLU(lower = 1/8, upper = 1/3, inplace), or {lower, upper, inplace}
  local RReLU = Module:extend('RReLU')
  nn.RReLU = RReLU
  function RReLU:init(lower, upper, inplace)
    lower, upper, inplace = nl._opts_or_args('RReLU', 'lower upper inplace:flag', lower, upper, inplace)
    nn._inplace_arg('RReLU', inplace)
    self.lower, self.upper = bounds('RReLU', lower, upper)
    self.inplace = inplace == true
  end
  function RReLU:forward(x)
    nl._T(x, 'RReLU')
    nl._float_only(x, 'RReLU')
    return F.rrelu(x, self.lower, self.upper, self.training)
  end
  -- (16 digits: PyTorch prints 1/3 as 0.3333333333333333)
  function RReLU:extra_repr()
    return ('lower=%.16g, upper=%.16g'):format(self.lower, self.upper) .. (self.inplace and ', inplace=True' or '')
  end
end
