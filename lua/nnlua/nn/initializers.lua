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

  function init.calculate_gain(nonlinearity, param, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.calculate_gain', '(nonlinearity, [param])', nil, ...) end
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

  function init.uniform_(t, a, b, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.uniform_', '(tensor, [a], [b])', nil, ...) end
    if (a ~= nil and type(a) ~= 'number') or (b ~= nil and type(b) ~= 'number') then
      nl._raise('init.uniform_: bounds must be numbers')
    end
    -- under no_grad, as constant_: a parameter's view (weight:t()) was
    -- refused as an in-place change of a tensor that requires grad
    nl._T(t, 'uniform_')
    nl.no_grad(function() nl._check(lib.nl_uniform_(t.ptr, gen, a or 0, b or 1)) end)
    return t
  end
  function init.normal_(t, mean, std, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.normal_', '(tensor, [mean], [std])', nil, ...) end
    if (mean ~= nil and type(mean) ~= 'number') or (std ~= nil and type(std) ~= 'number') then
      nl._raise('init.normal_: mean and std must be numbers')
    end
    nl._T(t, 'normal_')
    nl.no_grad(function() nl._check(lib.nl_normal_(t.ptr, gen, mean or 0, std or 1)) end)
    return t
  end
  function init.constant_(t, v, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.constant_', '(tensor, val)', nil, ...) end
    nl._T(t, 'init.constant_')
    if type(v) ~= 'number' then nl._raise('init.constant_: expected a number, got ' .. type(v)) end
    nl.no_grad(function() t:fill_(v) end)
    return t
  end
  function init.zeros_(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.zeros_', '(tensor)', nil, ...) end
    return init.constant_(t, 0)
  end
  function init.ones_(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.ones_', '(tensor)', nil, ...) end
    return init.constant_(t, 1)
  end

  function init.xavier_uniform_(t, gain, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.xavier_uniform_', '(tensor, [gain])', nil, ...) end
    if gain ~= nil and type(gain) ~= 'number' then nl._argerror('init.xavier_uniform_', 'a number gain', gain) end
    local fi, fo = fans(t)
    local a = (gain or 1) * math.sqrt(6 / (fi + fo))
    return init.uniform_(t, -a, a)
  end
  function init.xavier_normal_(t, gain, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.xavier_normal_', '(tensor, [gain])', nil, ...) end
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
  function init.kaiming_uniform_(t, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.kaiming_uniform_', '(tensor, [{options}])', nil, ...) end
    if nl._T(t, 'init.kaiming_uniform_').numel == 0 then return t end
    local bound = math.sqrt(3) * kaiming_std(t, 'init.kaiming_uniform_', opts)
    return init.uniform_(t, -bound, bound)
  end
  function init.kaiming_normal_(t, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.kaiming_normal_', '(tensor, [{options}])', nil, ...) end
    if nl._T(t, 'init.kaiming_normal_').numel == 0 then return t end
    return init.normal_(t, 0, kaiming_std(t, 'init.kaiming_normal_', opts))
  end

  -- erfc to about 1e-7 relative (Chebyshev fit of exp(-x^2) erfc(x) t)
  local function erfc(x)
    local z = math.abs(x)
    local t = 1 / (1 + 0.5 * z)
    local r = t * math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
              t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
              t * (-0.82215223 + t * 0.17087277)))))))))
    return x >= 0 and r or 2 - r
  end
  local function cdf(x) return 0.5 * erfc(-x / math.sqrt(2)) end

  -- the standard normal's quantile, p in (0, 1), to about 1e-9 relative
  -- (Acklam's rational approximation)
  local QA = { -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
               -3.066479806614716e+01, 2.506628277459239e+00 }
  local QB = { -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
               -1.328068155288572e+01 }
  local QC = { -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
               4.374664141464968e+00, 2.938163982698783e+00 }
  local QD = { 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00 }
  local function quantile(p)
    local lo = 0.02425
    if p < lo or p > 1 - lo then
      local q = math.sqrt(-2 * math.log(p < lo and p or 1 - p))
      local x = (((((QC[1] * q + QC[2]) * q + QC[3]) * q + QC[4]) * q + QC[5]) * q + QC[6]) /
                ((((QD[1] * q + QD[2]) * q + QD[3]) * q + QD[4]) * q + 1)
      return p < lo and x or -x
    end
    local q = p - 0.5
    local r = q * q
    return (((((QA[1] * r + QA[2]) * r + QA[3]) * r + QA[4]) * r + QA[5]) * r + QA[6]) * q /
           (((((QB[1] * r + QB[2]) * r + QB[3]) * r + QB[4]) * r + QB[5]) * r + 1)
  end

  -- N(mean, std) truncated to [a, b] (PyTorch's defaults: 0, 1, -2, 2), by
  -- the inverse of the normal's CDF over [cdf(a), cdf(b)], as PyTorch draws it
  function init.trunc_normal_(t, mean, std, a, b, ...)
    local op = 'init.trunc_normal_'
    if select('#', ...) > 0 then nl._no_extra_args(op, '(tensor, [mean], [std], [a], [b])', nil, ...) end
    for _, v in ipairs({ mean or 0, std or 1, a or -2, b or 2 }) do
      if type(v) ~= 'number' or v ~= v then nl._raise(op .. ': mean, std, a and b must be numbers') end
    end
    mean, std, a, b = mean or 0, std or 1, a or -2, b or 2
    if not (std > 0) or not (a < b) then
      nl._raise(('%s: needs std > 0 and a < b, got std %s, a %s, b %s'):format(op, tostring(std), tostring(a), tostring(b)))
    end
    local n = tonumber(nl._T(t, op).numel)
    if n == 0 then return t end
    local lo, hi = cdf((a - mean) / std), cdf((b - mean) / std)
    if not (hi - lo > 1e-12) then
      nl._raise(('%s: [%s, %s] is too far in the tail of N(%s, %s) to draw from'):format(op, tostring(a), tostring(b),
                                                                                       tostring(mean), tostring(std)))
    end
    local u = nl.no_grad(function() return nl.rand({ n }, 'float64') end):totable()
    for i = 1, n do
      local p = lo + (hi - lo) * u[i]
      p = math.min(math.max(p, 1e-300), 1 - 1e-16)
      u[i] = math.min(math.max(mean + std * quantile(p), a), b)
    end
    local v = nl.tensor(u, 'float64'):view(t:shape())
    nl.no_grad(function() t:copy_(v) end)
    return t
  end

  -- a (semi-)orthogonal matrix, as PyTorch's: the tensor's dims after the
  -- first are flattened, the Q of the QR factorization (with R's diagonal
  -- positive) of a normal matrix of that shape (transposed when it is
  -- wide), times gain. Q is built column by column by Gram-Schmidt, each
  -- column orthogonalized twice, in float64.
  function init.orthogonal_(t, gain, ...)
    local op = 'init.orthogonal_'
    if select('#', ...) > 0 then nl._no_extra_args(op, '(tensor, [gain])', nil, ...) end
    if gain ~= nil and type(gain) ~= 'number' then nl._argerror(op, 'a number gain', gain) end
    local p = nl._T(t, op)
    if p.ndim < 2 then nl._raise(op .. ': needs a tensor of at least 2 dims, got ' .. nl._shape_str(t)) end
    if p.numel == 0 then return t end
    local rows = t:size(1)
    local cols = tonumber(p.numel) / rows
    local m, k = math.max(rows, cols), math.min(rows, cols)
    local q = nl.no_grad(function()
      local A = nl.randn({ m, k }, 'float64')
      local Q = nl.zeros({ m, k }, 'float64')
      for j = 1, k do
        local v = A:narrow(2, j, 1):contiguous()
        if j > 1 then
          local Qj = Q:narrow(2, 1, j - 1)
          for _ = 1, 2 do v = v - nl.matmul(Qj, nl.matmul(Qj:t(), v)) end
        end
        Q:narrow(2, j, 1):copy_(v / v:pow(2):sum():sqrt())
      end
      if rows < cols then Q = Q:t() end
      return Q * (gain or 1)
    end)
    nl.no_grad(function() t:copy_(q:reshape(t:shape())) end)
    return t
  end

  -- the identity in a 2-D tensor (ones on the diagonal of a wide or tall
  -- matrix), as PyTorch's eye_
  function init.eye_(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('init.eye_', '(tensor)', nil, ...) end
    local p = nl._T(t, 'init.eye_')
    if p.ndim ~= 2 then nl._raise('init.eye_: needs a 2-D tensor, got ' .. nl._shape_str(t)) end
    nl.no_grad(function() t:copy_(nl.eye(t:size(1), t:size(2), t:dtype())) end)
    return t
  end
end
