-- lazy.lua: PyTorch 1.13's lazy modules, nn.LazyLinear, nn.LazyConv1d/2d/3d,
-- nn.LazyConvTranspose1d/2d/3d, nn.LazyBatchNorm1d/2d/3d and
-- nn.LazyInstanceNorm1d/2d/3d: the input size (in_features, in_channels,
-- num_features) is read from the first input,
-- and that call builds the plain module (the same initialization, the same
-- draws of nnlua's generator) and the lazy one becomes it, as PyTorch's
-- cls_to_become: its class, fields, parameters and constructor arguments
-- (so save and nn.load see a Linear). Until then its parameters do not
-- exist: asking for them (parameters(), an optimizer, state_dict) is an
-- error that says to run a forward on an example input first, as
-- PyTorch's documentation asks before building the optimizer.
return function(nl, nn)
  local Module = nn.Module

  -- the raw fields every module has (module.lua's Module.new)
  local INTERNAL = { _order = true, _seen = true, _params = true, _buffers = true, _is_module = true,
                     training = true, _args = true, _lazy = true }

  -- self (a lazy module) becomes real (a module of the plain class): real's
  -- fields and class, self's training mode, hooks and other fields kept
  local function become(self, real)
    local kept, order, training = {}, self._order, rawget(self, 'training')
    for k, v in pairs(self) do
      if not INTERNAL[k] then kept[k] = v end
      rawset(self, k, nil)
    end
    for k, v in pairs(real) do rawset(self, k, v) end
    setmetatable(self, getmetatable(real))
    -- the user's own fields after the layer's, in their order; other raw
    -- fields (hooks) as they were
    for _, k in ipairs(order) do
      if kept[k] ~= nil then
        self[k] = kept[k]
        kept[k] = nil
      end
    end
    for k, v in pairs(kept) do rawset(self, k, v) end
    rawset(self, 'training', training)
  end

  -- builds the plain module of in_size by make(in_size) without using
  -- nnlua's generator (its draws are put back): the arguments' checks of
  -- the plain class at construction
  -- make(in_size), its errors naming the lazy class name ('LazyConv2d:
  -- kernel_size must be', not Conv2d's)
  local function build(name, make, in_size)
    local ok, res = pcall(make, in_size)
    if ok then return res end
    local msg = tostring(res):gsub('^[^:\n]*:%d+: ', '')
    local plain = name:gsub('^Lazy', '')
    if msg:sub(1, #plain + 1) == plain .. ':' then msg = name .. msg:sub(#plain + 1) end
    nl._raise(msg)
  end

  local function check_args(name, make, in_size)
    local gen = nl._generator
    local seed, offset = gen.seed, gen.offset
    local ok, err = pcall(build, name, make, in_size)
    gen.seed, gen.offset = seed, offset
    if not ok then error(err, 0) end
  end

  -- a lazy class: name, the plain class's name (looked up at the call),
  -- args(self, ...) keeping the constructor's arguments and giving
  -- make(in_size) -> the plain module; in_of(x, name) the input's size
  -- that the plain one needs (or an error); repr(self) its print before
  local function lazy_class(name, o)
    local cls = Module:extend(name)
    nn[name] = cls
    cls.init = o.init
    function cls:forward(...)
      local lazy = rawget(self, '_lazy')
      local x = ...
      nl._T(x, name)
      local in_size = o.in_of(x, name)
      local f = lazy.factory
      local real = build(name, function(n) return lazy.make(n, f) end, in_size)
      -- (the input's float dtype unless dtype was given, as PyTorch's)
      if x:dtype() == 'float64' and not (f and f.dtype) then real:double() end
      become(self, real)
      return self:forward(...)
    end
    function cls:has_uninitialized_params() return rawget(self, '_lazy') ~= nil end
    function cls:extra_repr() return o.repr(rawget(self, '_lazy')) end
    return cls
  end

  -- opts with the factory options dtype and device given to the lazy
  -- module (f, kept by Module.new), for the plain one
  local function with(opts, f)
    if not f then return opts end
    local o = {}
    for k, v in pairs(type(opts) == 'table' and opts or {}) do o[k] = v end
    o.dtype, o.device = f.dtype, f.device
    return o
  end

  -- the lazy module's fields: make(in_size, [f]) and what the repr shows
  local function set_lazy(self, make, show, min_in)
    check_args(self.__name, make, min_in or 1)
    rawset(self, '_lazy', { make = make, show = show })
  end

  -- ---- LazyLinear(out_features, {bias}) ----
  lazy_class('LazyLinear', {
    init = function(self, out_features, opts)
      if not nl._size_arg(out_features) then
        nl._raise('LazyLinear: expected a positive whole out_features, got ' .. nl._describe_arg(out_features))
      end
      set_lazy(self, function(n, f) return nn.Linear(n, out_features, with(opts, f)) end,
               { out = out_features, bias = not (type(opts) == 'table' and opts.bias == false) })
    end,
    in_of = function(x, name)
      if x:dim() == 0 then nl._raise(name .. ': expected input (..., in_features), got a 0-dim tensor') end
      return x:size(-1)
    end,
    repr = function(l)
      return ('in_features=0, out_features=%s, bias=%s'):format(tostring(l.show.out), tostring(l.show.bias))
    end,
  })

  -- ---- LazyConv<n>d and LazyConvTranspose<n>d(out_channels, kernel_size, opts) ----
  local SPATIAL = { 'L', 'H, W', 'D, H, W' }
  -- in_of for input (N, C, *) or unbatched (C, *) of n spatial dims: C,
  -- else an error ('<what> (N, C, H, W) or (C, H, W), got shape ...')
  local function channels_of(n, what)
    return function(x, lname)
      local d = x:dim()
      if d ~= n + 1 and d ~= n + 2 then
        nl._raise(('%s: %s (N, C, %s) or (C, %s), got shape %s'):format(lname, what, SPATIAL[n], SPATIAL[n],
          nl._shape_str(x)))
      end
      return x:size(d - n)
    end
  end
  local function conv(name, plain, n)
    lazy_class(name, {
      init = function(self, out_channels, kernel_size, opts)
        local groups = type(opts) == 'table' and type(opts.groups) == 'number' and opts.groups or 1
        set_lazy(self, function(c, f) return nn[plain](c, out_channels, kernel_size, with(opts, f)) end,
                 { out = out_channels, k = kernel_size }, groups)
      end,
      in_of = channels_of(n, 'input must be'),
      repr = function(l)
        local k = l.show.k
        if type(k) == 'table' then k = '(' .. table.concat(k, ', ') .. ')' end
        return ('0, %s, kernel_size=%s'):format(tostring(l.show.out), tostring(k))
      end,
    })
  end
  conv('LazyConv1d', 'Conv1d', 1)
  conv('LazyConv2d', 'Conv2d', 2)
  conv('LazyConv3d', 'Conv3d', 3)
  conv('LazyConvTranspose1d', 'ConvTranspose1d', 1)
  conv('LazyConvTranspose2d', 'ConvTranspose2d', 2)
  conv('LazyConvTranspose3d', 'ConvTranspose3d', 3)

  -- ---- LazyBatchNorm<n>d({eps, momentum, affine, track_running_stats}) ----
  local BN_SHAPE = { '(N, C) or (N, C, L)', '(N, C, H, W)', '(N, C, D, H, W)' }
  local function batch_norm(name, plain, n)
    lazy_class(name, {
      init = function(self, opts)
        set_lazy(self, function(c, f) return nn[plain](c, with(opts, f)) end, { opts = opts or {} })
      end,
      in_of = function(x, lname)
        local d = x:dim()
        if not (d == n + 2 or (n == 1 and d == 2)) then
          nl._raise(('%s: expected input %s, got shape %s'):format(lname, BN_SHAPE[n], nl._shape_str(x)))
        end
        return x:size(2)
      end,
      repr = function(l)
        local o = l.show.opts
        return nn._batch_norm_repr({ num_features = 0, eps = o.eps or 1e-5,
          momentum = o.momentum == nil and 0.1 or o.momentum, affine = o.affine ~= false,
          track_running_stats = o.track_running_stats ~= false })
      end,
    })
  end
  batch_norm('LazyBatchNorm1d', 'BatchNorm1d', 1)
  batch_norm('LazyBatchNorm2d', 'BatchNorm2d', 2)
  batch_norm('LazyBatchNorm3d', 'BatchNorm3d', 3)

  -- ---- LazyInstanceNorm<n>d({eps, momentum, affine, track_running_stats}) ----
  -- num_features from dim 2 of (N, C, *), or dim 1 of unbatched (C, *)
  -- (PyTorch 1.13 reads dim 2 there too, a spatial size)
  local function instance_norm(name, plain, n)
    lazy_class(name, {
      init = function(self, opts)
        -- (dtype only where there is something to convert: the plain
        -- module without weights or statistics refuses it, a lazy one
        -- takes it as PyTorch's)
        set_lazy(self, function(c, f)
          local o = type(opts) == 'table' and opts or {}
          if f and f.dtype and not (o.affine or o.track_running_stats) then f = { device = f.device } end
          return nn[plain](c, with(opts, f))
        end, { opts = opts or {} })
      end,
      in_of = channels_of(n, 'expected input'),
      repr = function(l)
        local o = l.show.opts
        return nn._batch_norm_repr({ num_features = 0, eps = o.eps or 1e-5,
          momentum = o.momentum == nil and 0.1 or o.momentum, affine = o.affine == true,
          track_running_stats = o.track_running_stats == true })
      end,
    })
  end
  instance_norm('LazyInstanceNorm1d', 'InstanceNorm1d', 1)
  instance_norm('LazyInstanceNorm2d', 'InstanceNorm2d', 2)
  instance_norm('LazyInstanceNorm3d', 'InstanceNorm3d', 3)

  -- the error for a module m (named name in its parent; '' the root)
  -- asked for its tensors before its first call
  function nn._lazy_refuse(m, name)
    nl._raise(('%s%s: its parameters are made at its first call, from the input\'s size; run a forward on an '
               .. 'example input first (a dry run), then ask for parameters or build the optimizer'):format(
               m.__name, name ~= '' and (" ('" .. name .. "')") or ''))
  end

  -- whether m or a module in it is a lazy one not yet called
  function nn._has_lazy(m)
    if rawget(m, '_lazy') then return true end
    for _, c in ipairs(m:children()) do
      if nn._has_lazy(c) then return true end
    end
    return false
  end
end
