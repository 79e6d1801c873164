-- initializers.lua: nn.init, the weight initializations of PyTorch's
-- torch.nn.init (fan computation, gains, uniform and normal bounds), in
-- place and outside autograd.
return function(nl, nn)
  local lib, gen = nl._lib, nl._generator
  local init = {}
  nn.init = init

  local function fans(t)
    nl._T(t, 'init')
    local d = t:dim()
    if d < 2 then nl._raise('init: fan in and fan out need a tensor of at least 2 dims, got ' .. nl._shape_str(t)) end
    local receptive = 1
    for i = 3, d do receptive = receptive * t:size(i) end
    return t:size(2) * receptive, t:size(1) * receptive
  end
  init._fans = fans

  -- PyTorch's linear functions, whose gain is 1
  local LINEAR = { linear = 1, sigmoid = 1, conv1d = 1, conv2d = 1, conv3d = 1, conv_transpose1d = 1,
                   conv_transpose2d = 1, conv_transpose3d = 1 }

  function init.calculate_gain(nonlinearity, param)
    if LINEAR[nonlinearity] then return 1 end
    if nonlinearity == 'tanh' then return 5 / 3 end
    if nonlinearity == 'relu' then return math.sqrt(2) end
    if nonlinearity == 'leaky_relu' then
      -- (a string was taken as its number, false as the default, a table
      -- failed in arithmetic)
      if param ~= nil and type(param) ~= 'number' then
        nl._raise('calculate_gain: negative_slope must be a number, got ' .. nl._describe_arg(param))
      end
      local slope = param or 0.01
      return math.sqrt(2 / (1 + slope * slope))
    end
    if nonlinearity == 'selu' then return 3 / 4 end
    nl._raise('calculate_gain: unknown nonlinearity ' .. tostring(nonlinearity))
  end

  function init.uniform_(t, a, b)
    if (a ~= nil and type(a) ~= 'number') or (b ~= nil and type(b) ~= 'number') then
      nl._raise('init.uniform_: bounds must be numbers')
    end
    -- under no_grad, as constant_: a parameter's view (weight:t()) was
    -- refused as an in-place change of a tensor that requires grad
    nl._T(t, 'uniform_')
    nl.no_grad(function() nl._check(lib.nl_uniform_(t.ptr, gen, a or 0, b or 1)) end)
    return t
  end
  function init.normal_(t, mean, std)
    if (mean ~= nil and type(mean) ~= 'number') or (std ~= nil and type(std) ~= 'number') then
      nl._raise('init.normal_: mean and std must be numbers')
    end
    nl._T(t, 'normal_')
    nl.no_grad(function() nl._check(lib.nl_normal_(t.ptr, gen, mean or 0, std or 1)) end)
    return t
  end
  function init.constant_(t, v)
    nl._T(t, 'init.constant_')
    if type(v) ~= 'number' then nl._raise('init.constant_: expected a number, got ' .. type(v)) end
    nl.no_grad(function() t:fill_(v) end)
    return t
  end
  function init.zeros_(t) return init.constant_(t, 0) end
  function init.ones_(t) return init.constant_(t, 1) end

  function init.xavier_uniform_(t, gain)
    if gain ~= nil and type(gain) ~= 'number' then nl._argerror('init.xavier_uniform_', 'a number gain', gain) end
    local fi, fo = fans(t)
    local a = (gain or 1) * math.sqrt(6 / (fi + fo))
    return init.uniform_(t, -a, a)
  end
  function init.xavier_normal_(t, gain)
    if gain ~= nil and type(gain) ~= 'number' then nl._argerror('init.xavier_normal_', 'a number gain', gain) end
    local fi, fo = fans(t)
    return init.normal_(t, 0, (gain or 1) * math.sqrt(2 / (fi + fo)))
  end

  -- opts: a (the negative slope of leaky_relu), mode ('fan_in' or
  -- 'fan_out', either case, as PyTorch's), nonlinearity
  local function kaiming_std(t, op, opts)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { a = 1, mode = 1, nonlinearity = 1 })
    if opts.a ~= nil and type(opts.a) ~= 'number' then nl._argerror(op, 'a number a (the negative slope)', opts.a) end
    local mode = opts.mode or 'fan_in'
    mode = type(mode) == 'string' and mode:lower() or mode
    if mode ~= 'fan_in' and mode ~= 'fan_out' then
      nl._raise(("%s: mode must be 'fan_in' or 'fan_out', got %s"):format(op, tostring(opts.mode)))
    end
    local fi, fo = fans(t)
    local fan = mode == 'fan_in' and fi or fo
    local gain = init.calculate_gain(opts.nonlinearity or 'leaky_relu', opts.a or 0)
    return gain / math.sqrt(fan)
  end
  -- a tensor of no elements is left as it is, as PyTorch leaves it (its
  -- fan of 0 made an infinite bound: 'uniform_: invalid range [-inf, inf)')
  function init.kaiming_uniform_(t, opts)
    if nl._T(t, 'init.kaiming_uniform_').numel == 0 then return t end
    local bound = math.sqrt(3) * kaiming_std(t, 'init.kaiming_uniform_', opts)
    return init.uniform_(t, -bound, bound)
  end
  function init.kaiming_normal_(t, opts)
    if nl._T(t, 'init.kaiming_normal_').numel == 0 then return t end
    return init.normal_(t, 0, kaiming_std(t, 'init.kaiming_normal_', opts))
  end
end
