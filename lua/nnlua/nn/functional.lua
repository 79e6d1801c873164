-- functional.lua: torch.nn.functional's activations, F.threshold and
-- F.one_hot, as PyTorch 1.13's: each runs the tensor method its module
-- runs (one C op with its backward), with PyTorch's argument order and
-- defaults, the arguments after the input positional or one table of
-- PyTorch's keywords (F.elu(x, 0.5), F.elu(x, {alpha = 0.5})). F.dropout
-- and F.dropout2d are with their modules (dropout.lua, vision.lua).
-- Not here: the losses, convolutions, pools and the rest (their families).
return function(nl, nn)
  local F = nn.functional

  -- The values of a functional activation's arguments after the input:
  -- params ({name, default}, PyTorch's order), then the inplace flag where
  -- PyTorch's takes one; positional, or one table of their names. inplace
  -- is taken and the result computed out of place, as the modules take it:
  -- the same values, the input kept (an in-place write to a tensor in a
  -- graph is refused here; the `_` methods write in place).
  local function read_args(op, params, inplace, ...)
    local n = select('#', ...)
    local args = { ... }
    while n > 0 and args[n] == nil do n = n - 1 end
    local first = args[1]
    local names = {}
    for i, pd in ipairs(params) do names[i] = pd[1] end
    if inplace then names[#names + 1] = 'inplace' end
    local takes = '(input' .. (#names > 0 and ', ' .. table.concat(names, ', ') or '') .. ')'
    if type(first) == 'table' and getmetatable(first) == nil then
      args = { nl._opts_or_args(op, table.concat(names, ' ') .. (inplace and ':flag' or ''), ...) }
    elseif n > #names then
      nl._raise(('%s: takes %s, got %d arguments'):format(op, takes, n + 1))
    end
    local v = {}
    for i, pd in ipairs(params) do
      local a = args[i]
      if a == nil then a = pd[2] end
      if type(a) ~= 'number' then nl._argerror(op, 'a number as ' .. pd[1], a) end   -- (NaN taken, as PyTorch)
      v[i] = a
    end
    if inplace then
      local f = args[#params + 1]
      if f ~= nil and type(f) ~= 'boolean' then nl._argerror(op, 'a boolean inplace flag', f) end
    end
    return v[1], v[2]
  end

  -- F[name](input, ...): x[method](x, params...) with PyTorch's defaults;
  -- float_only: int64 refused, as PyTorch has no int64 kernel for it
  local function activation(name, method, params, inplace, float_only)
    local np = #params
    F[name] = function(x, ...)
      nl._T(x, name)
      local a, b = read_args(name, params, inplace, ...)
      if float_only then nl._float_only(x, name) end
      if np == 2 then return x[method](x, a, b) end
      if np == 1 then return x[method](x, a) end
      return x[method](x)
    end
  end
  local NONE = {}
  activation('relu', 'relu', NONE, true)                 -- int64 kept, as PyTorch's
  activation('relu6', 'relu6', NONE, true)
  activation('sigmoid', 'sigmoid', NONE, false)          -- int64 gives float32, as PyTorch's
  activation('tanh', 'tanh', NONE, false)
  activation('silu', 'silu', NONE, true, true)
  activation('mish', 'mish', NONE, true, true)
  activation('selu', 'selu', NONE, true, true)
  activation('hardswish', 'hardswish', NONE, true, true)
  activation('hardsigmoid', 'hardsigmoid', NONE, true, true)
  activation('logsigmoid', 'logsigmoid', NONE, false, true)
  activation('softsign', 'softsign', NONE, false)
  activation('tanhshrink', 'tanhshrink', NONE, false)
  activation('elu', 'elu', { { 'alpha', 1 } }, true, true)
  activation('celu', 'celu', { { 'alpha', 1 } }, true, true)
  activation('leaky_relu', 'leaky_relu', { { 'negative_slope', 0.01 } }, true, true)
  activation('softplus', 'softplus', { { 'beta', 1 }, { 'threshold', 20 } }, false, true)
  activation('softshrink', 'softshrink', { { 'lambd', 0.5 } }, false, true)
  activation('hardshrink', 'hardshrink', { { 'lambd', 0.5 } }, false, true)
  activation('hardtanh', 'hardtanh', { { 'min_val', -1 }, { 'max_val', 1 } }, true)   -- int64 kept

  -- F.gelu(x, approximate = 'none'), or {approximate = ...}
  function F.gelu(x, approximate, ...)
    local op = 'gelu'
    nl._no_extra_args(op, '(input, approximate)', nil, ...)
    if type(approximate) == 'table' and not nl.is_tensor(approximate) then
      nl._check_opts(op, approximate, { approximate = 1 })
      approximate = approximate.approximate
    end
    nl._T(x, op)
    nl._float_only(x, op)
    return x:gelu(approximate)
  end

  -- F.softmax(x, dim, dtype), log_softmax and softmin: dim 1-based; nil
  -- takes the last, as nn.Softmax() here (PyTorch's deprecated implicit
  -- dim is the first for 0-, 1- and 3-D input, else the second); dtype
  -- converts x first, as PyTorch's keyword. Or (x, {dim, dtype}).
  local function along_dim(name, f)
    F[name] = function(x, dim, dtype, ...)
      nl._no_extra_args(name, '(input, dim, dtype)', nil, ...)
      dim, dtype = nl._opts_or_args(name, 'dim dtype', dim, dtype)
      nl._T(x, name)
      -- (int64 with a float dtype is converted first, as PyTorch's)
      if dtype == nil then nl._float_only(x, name) end
      if dim == nil then dim = -1 end
      return f(x, dim, dtype)
    end
  end
  along_dim('softmax', nl.softmax)
  along_dim('log_softmax', nl.log_softmax)
  along_dim('softmin', nl.softmin)

  -- a number cut toward 0: PyTorch's cast of a threshold or value to int64
  local function trunc(v) return v < 0 and math.ceil(v) or math.floor(v) end

  -- F.threshold(x, threshold, value, inplace): value where x <= threshold,
  -- else x (NaN kept), as PyTorch's; the gradient passes where x is kept.
  -- A NaN threshold keeps every x, a NaN value fills with NaN (PyTorch
  -- takes both). int64 x stays int64, with threshold and value cut toward
  -- 0 as PyTorch casts them (and, as it, refuses NaN and the infinities).
  function F.threshold(x, threshold, value, inplace, ...)
    local op = 'threshold'
    nl._no_extra_args(op, '(input, threshold, value, inplace)', nil, ...)
    threshold, value, inplace = nl._opts_or_args(op, 'threshold value inplace:flag', threshold, value, inplace)
    nl._T(x, op)
    -- (PyTorch's has no defaults: both are required)
    if type(threshold) ~= 'number' then nl._argerror(op, 'a number as threshold', threshold) end
    if type(value) ~= 'number' then nl._argerror(op, 'a number as value', value) end
    if inplace ~= nil and type(inplace) ~= 'boolean' then nl._argerror(op, 'a boolean inplace flag', inplace) end
    if x:dtype() == 'int64' then
      for _, a in ipairs({ { 'threshold', threshold }, { 'value', value } }) do
        local v = a[2]
        if v ~= v or math.abs(v) == math.huge then
          nl._raise(('%s: %s %s cannot be converted to int64 for the int64 input %s'):format(op, a[1], tostring(v),
            nl._shape_str(x)))
        end
      end
      threshold, value = trunc(threshold), trunc(value)
      if math.abs(value) >= 2 ^ 53 then nl._raise(op .. ': value must be below 2^53 in magnitude for int64 input') end
    end
    return nl._wrap(nl._lib.nl_threshold(x.ptr, threshold, value))
  end

  -- F.one_hot(t, num_classes = -1): int64 (*, num_classes) with a 1 at
  -- each element's class. Classes are 1-based, as nnlua's labels: class k
  -- sets column k (PyTorch's, 0-based, sets k + 1). num_classes -1 (or
  -- nil) takes the largest class in t.
  function F.one_hot(t, num_classes, ...)
    local op = 'one_hot'
    nl._no_extra_args(op, '(tensor, num_classes)', nil, ...)
    if type(num_classes) == 'table' then
      nl._check_opts(op, num_classes, { num_classes = 1 })
      num_classes = num_classes.num_classes
    end
    nl._T(t, op)
    if t:dtype() ~= 'int64' then
      nl._raise(('%s: expected an int64 tensor of class labels (1-based), got %s %s'):format(op, t:dtype(),
        nl._shape_str(t)))
    end
    if num_classes == nil then num_classes = -1 end
    if type(num_classes) ~= 'number' or num_classes ~= math.floor(num_classes)
       or not (num_classes == -1 or (num_classes >= 1 and num_classes <= 2 ^ 40)) then
      nl._raise(op .. ': num_classes must be a positive whole number or -1, got ' .. nl._describe_arg(num_classes))
    end
    local n = t:numel()
    local lo, hi = 1, 0
    if n > 0 then lo, hi = t:min():item(), t:max():item() end
    if num_classes == -1 then
      if n == 0 then nl._raise(op .. ': cannot infer num_classes from an empty tensor; give num_classes') end
      num_classes = hi
    end
    if n > 0 and (lo < 1 or hi > num_classes) then
      nl._raise(('%s: class %d out of range 1..%d (classes are 1-based)'):format(op, lo < 1 and lo or hi, num_classes))
    end
    local shape = t:shape()
    shape[#shape + 1] = num_classes
    if n == 0 then return nl.zeros(shape, 'int64') end
    return nl.zeros({ n, num_classes }, 'int64'):scatter(2, t:reshape(n, 1), 1):view(shape)
  end
end
