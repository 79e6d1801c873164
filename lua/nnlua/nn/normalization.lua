-- normalization.lua: nn.BatchNorm1d and nn.BatchNorm3d (batch statistics in
-- training, running statistics in eval), nn.LayerNorm, nn.GroupNorm and
-- nn.InstanceNorm1d/2d/3d, as PyTorch defines them, and the batch normalization any number of dims share
-- (nn._batch_norm_init, nn._batch_norm); the functional forms batch_norm,
-- layer_norm, group_norm and instance_norm run the modules' code. All but
-- LayerNorm (one C op, nl_layer_norm, when its weight and bias fit) are
-- composed of tensor ops, so autograd gives their backward; BatchNorm2d
-- lives in vision.lua.
return function(nl, nn)
  local Module = nn.Module
  local lib, wrap = nl._lib, nl._wrap

  -- ---- batch normalization, shared by BatchNorm1d, 2d and 3d --------------------

  local BN_KNOWN = { eps = 1, momentum = 1, affine = 'flag', track_running_stats = 'flag' }

  -- the fields and tensors of a batch norm over num_features channels;
  -- opts: eps (1e-5), momentum (0.1), affine (true), track_running_stats
  -- (true; false: no running statistics, and eval mode normalizes with the
  -- batch's own, as PyTorch's)
  function nn._batch_norm_init(self, op, num_features, opts)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, BN_KNOWN)
    if type(num_features) ~= 'number' or num_features < 1 or num_features ~= math.floor(num_features) or
       num_features > 2 ^ 31 then
      nl._raise(op .. ': expected a positive number of features, got ' .. tostring(num_features))
    end
    for _, k in ipairs({ 'eps', 'momentum' }) do
      -- (momentum false: PyTorch's None, the plain average, for BatchNorm)
      if opts[k] ~= nil and type(opts[k]) ~= 'number' and not (k == 'momentum' and opts[k] == false
         and op:match('^BatchNorm')) then
        nl._raise(('%s: %s must be a number, got %s'):format(op, k, type(opts[k])))
      end
    end
    self.num_features = num_features
    self.eps = opts.eps or 1e-5
    self.momentum = opts.momentum == nil and 0.1 or opts.momentum
    self.affine = opts.affine ~= false
    self.track_running_stats = opts.track_running_stats ~= false
    if self.affine then
      self.weight = nl.ones(num_features):requires_grad()
      self.bias = nl.zeros(num_features):requires_grad()
    end
    if self.track_running_stats then
      self:register_buffer('running_mean', nl.zeros(num_features))
      self:register_buffer('running_var', nl.ones(num_features))
      self:register_buffer('num_batches_tracked', nl.zeros({}, 'int64'))
    end
  end

  -- y for x (N, C, ...) already checked: statistics over every dim but the
  -- channels' (2), from the batch in training or without running
  -- statistics, else from the running ones; training updates those
  -- the input's dtype against the layer's tensors (an int64 or float64
  -- input into a float32 layer was promoted silently; PyTorch refuses it)
  local function check_dtype(op, x, ref)
    if ref then nn._check_input_dtype(op, x, ref:dtype())
    else nl._float_only(x, op) end
  end

  -- centered / sqrt(var + eps); with eps 0, a constant channel (var 0)
  -- gives 0, as PyTorch's batch and instance norm (their 1/std is 0 where
  -- the variance is 0), where 0/0 gave NaN. sqrt and the division read a
  -- safe 1 there, so that no NaN comes back in the gradient either.
  local function standardize(centered, var, eps)
    if eps ~= 0 then return centered / (var + eps):sqrt() end
    local flat = var:eq(0)
    return nl.where(flat, 0, centered / nl.where(flat, 1, var):sqrt())
  end

  function nn._batch_norm(self, op, x)
    check_dtype(op, x, self.weight or self.running_mean)
    local d = x:dim()
    local view = { 1, self.num_features }
    for i = 3, d do view[i] = 1 end
    local function channel_mean(t)
      t = t:mean(1, true)
      for i = 3, d do t = t:mean(i, true) end
      return t
    end
    local mean, var
    if self.training or not self.track_running_stats then
      local n = x:numel() / self.num_features
      if n == 0 then
        -- an empty batch, as PyTorch's: an empty output (zero gradients for
        -- the weight and bias), the running statistics as they were, the
        -- batch counted (it was refused)
        if self.training and self.track_running_stats then
          nl.no_grad(function() self.num_batches_tracked:add_(1) end)
        end
        if self.affine then return x * self.weight:view(view) + self.bias:view(view) end
        return x * 1
      end
      -- (one value: refused as F.batch_norm's in 1.13; torch.batch_norm's
      -- gives the bias, a running_var of NaN, marked one_value_ok)
      if n == 1 and not self.one_value_ok then
        nl._raise(op .. ': training needs more than one value per channel, got input shape ' .. nl._shape_str(x))
      end
      mean = channel_mean(x)
      local centered = x - mean
      var = channel_mean(centered * centered)
      if self.training and self.track_running_stats then
        nl.no_grad(function()
          self.num_batches_tracked:add_(1)
          -- momentum false (PyTorch's None): the average of every batch so far
          local m = self.momentum
          if m == false then m = 1 / self.num_batches_tracked:item() end
          self.running_mean:mul_(1 - m):add_(mean:detach():view(-1), m)
          self.running_var:mul_(1 - m):add_(var:detach():view(-1), m * n / (n - 1))
        end)
      end
      local y = standardize(centered, var, self.eps)
      if self.affine then y = y * self.weight:view(view) + self.bias:view(view) end
      return y
    end
    mean, var = self.running_mean:view(view), self.running_var:view(view)
    local y = (x - mean) / (var + self.eps):sqrt()
    if self.affine then y = y * self.weight:view(view) + self.bias:view(view) end
    return y
  end

  -- m:reset_running_stats() and m:reset_parameters() of the batch and
  -- instance norms, as PyTorch's: running_mean 0, running_var 1 and
  -- num_batches_tracked 0 (where tracked); reset_parameters also sets the
  -- weight to 1 and the bias to 0 (where affine). In place, so that an
  -- optimizer and a state dict keep the same tensors.
  function nn._norm_reset_running_stats(self)
    if self.track_running_stats then
      nl.no_grad(function()
        self.running_mean:zero_()
        self.running_var:fill_(1)
        self.num_batches_tracked:zero_()
      end)
    end
    return self
  end

  function nn._norm_reset_parameters(self)
    nn._norm_reset_running_stats(self)
    if self.affine then
      nl.no_grad(function()
        self.weight:fill_(1)
        self.bias:zero_()
      end)
    end
    return self
  end

  function nn._batch_norm_repr(self)
    return ('%d, eps=%g, momentum=%s, affine=%s, track_running_stats=%s'):format(self.num_features, self.eps,
      self.momentum == false and 'None' or ('%g'):format(self.momentum), tostring(self.affine),
      tostring(self.track_running_stats))
  end

  local BatchNorm1d = Module:extend('BatchNorm1d')
  nn.BatchNorm1d = BatchNorm1d

  -- BatchNorm1d(num_features, {eps, momentum, affine, track_running_stats})
  function BatchNorm1d:init(num_features, opts)
    nn._batch_norm_init(self, 'BatchNorm1d', num_features, opts)
  end

  function BatchNorm1d:forward(x)
    nl._T(x, 'BatchNorm1d')
    local d = x:dim()
    if (d ~= 2 and d ~= 3) or x:size(2) ~= self.num_features then
      nl._raise(('BatchNorm1d: expected input (N, %d) or (N, %d, L), got shape %s'):format(
        self.num_features, self.num_features, nl._shape_str(x)))
    end
    return nn._batch_norm(self, 'BatchNorm1d', x)
  end

  BatchNorm1d.extra_repr = nn._batch_norm_repr
  BatchNorm1d.reset_running_stats, BatchNorm1d.reset_parameters = nn._norm_reset_running_stats, nn._norm_reset_parameters

  local BatchNorm3d = Module:extend('BatchNorm3d')
  nn.BatchNorm3d = BatchNorm3d

  -- BatchNorm3d(num_features, {eps, momentum, affine, track_running_stats}):
  -- (N, C, D, H, W) input, statistics over every dim but C
  function BatchNorm3d:init(num_features, opts)
    nn._batch_norm_init(self, 'BatchNorm3d', num_features, opts)
  end

  function BatchNorm3d:forward(x)
    nl._T(x, 'BatchNorm3d')
    if x:dim() ~= 5 or x:size(2) ~= self.num_features then
      nl._raise(('BatchNorm3d: expected input (N, %d, D, H, W), got shape %s'):format(self.num_features,
        nl._shape_str(x)))
    end
    return nn._batch_norm(self, 'BatchNorm3d', x)
  end

  BatchNorm3d.extra_repr = nn._batch_norm_repr
  BatchNorm3d.reset_running_stats, BatchNorm3d.reset_parameters = nn._norm_reset_running_stats, nn._norm_reset_parameters

  local LayerNorm = Module:extend('LayerNorm')
  nn.LayerNorm = LayerNorm

  -- normalized_shape as a list: a size or a shape table of the trailing dims
  local function shape_arg(op, normalized_shape)
    local shape = type(normalized_shape) == 'table' and normalized_shape or { normalized_shape }
    -- a missing or empty shape, or a module, made a layer of no
    -- parameters whose output was all zeros
    local n = nl._list_len(shape)
    if not n or n == 0 or getmetatable(shape) ~= nil then
      nl._raise(op .. ': normalized_shape must be a positive integer or a non-empty list of them, got '
                .. (nn.is_module(normalized_shape) and 'a module'
                    or type(normalized_shape) ~= 'table' and tostring(normalized_shape)
                    or n == 0 and 'an empty list' or 'a table that is not a list'))
    end
    for _, s in ipairs(shape) do
      if type(s) ~= 'number' or s < 1 or s ~= math.floor(s) then      -- 2.5 named 'ones'
        nl._raise(op .. ': expected positive integer sizes, got ' .. tostring(s))
      end
    end
    return shape
  end
  nn._norm_shape_arg = shape_arg

  function LayerNorm:init(normalized_shape, opts)
    opts = nl._opts('LayerNorm', opts)
    nl._check_opts('LayerNorm', opts, { eps = 1, elementwise_affine = 'flag' })
    local shape = shape_arg('LayerNorm', normalized_shape)
    self.normalized_shape = shape
    self.eps = opts.eps or 1e-5
    if type(self.eps) ~= 'number' then nl._argerror('LayerNorm', 'a number eps', self.eps) end
    self.elementwise_affine = opts.elementwise_affine ~= false
    if self.elementwise_affine then
      self.weight = nl.ones(shape):requires_grad()
      self.bias = nl.zeros(shape):requires_grad()
    end
  end

  -- t (weight or bias) nil, or of x's dtype and the normalized shape
  -- exactly, as the fused op (nl_layer_norm) takes it; else (a weight
  -- that broadcasts) the composite below
  local function fused_ok(x, shape, t)
    if t == nil then return true end
    if t:dtype() ~= x:dtype() or t:dim() ~= #shape then return false end
    for i = 1, #shape do if t:size(i) ~= shape[i] then return false end end
    return true
  end
  nn._norm_fused_ok = fused_ok

  -- x normalized over its trailing dims of shape (a list), each slice by
  -- its own mean and biased variance; then times weight and plus bias
  -- (each of that shape, or nil): one C op (nl_layer_norm, its backward
  -- too) when weight and bias fit it, else composed of tensor ops
  -- x a tensor whose dims end with shape (a list), as layer_norm and
  -- rms_norm (rms_norm.lua) normalize it, or an error naming op; returns
  -- the number of those dims and of x's
  local function ends_with(op, x, shape)
    nl._T(x, op)
    local k, d = #shape, x:dim()
    local ok = d >= k
    for i = 1, k do ok = ok and x:size(d - k + i) == shape[i] end
    if not ok then
      nl._raise(('%s: input shape %s does not end with [%s]'):format(op, nl._shape_str(x), table.concat(shape, ',')))
    end
    return k, d
  end
  nn._norm_ends_with = ends_with

  local function layer_norm(op, x, shape, weight, bias, eps)
    local k, d = ends_with(op, x, shape)
    check_dtype(op, x, weight or bias)
    if fused_ok(x, shape, weight) and fused_ok(x, shape, bias) then
      return wrap(lib.nl_layer_norm(x.ptr, k, weight and weight.ptr, bias and bias.ptr, eps, 0))
    end
    local mean, centered, var = x, nil, nil
    for i = d - k + 1, d do mean = mean:mean(i, true) end
    centered = x - mean
    var = centered * centered
    for i = d - k + 1, d do var = var:mean(i, true) end
    local y = centered / (var + eps):sqrt()
    if weight then y = y * weight end
    if bias then y = y + bias end
    return y
  end

  function LayerNorm:forward(x)
    return layer_norm('LayerNorm', x, self.normalized_shape, self.weight, self.bias, self.eps)
  end

  function LayerNorm:extra_repr()
    return ('[%s], eps=%g, elementwise_affine=%s'):format(table.concat(self.normalized_shape, ','), self.eps,
                                                          tostring(self.elementwise_affine))
  end

  -- ---- group normalization --------------------------------------------------------

  -- x3 (N, G, k) normalized over its last dim, each (n, g) row by its own
  -- mean and biased variance; also returns those, (N, G, 1) each.
  -- flat_zero: a constant row with eps 0 gives 0 (instance norm's, as
  -- PyTorch's batch norm it runs), else NaN (group norm's, as PyTorch's)
  local function normalize_rows(x3, eps, flat_zero)
    local mean = x3:mean(3, true)
    local centered = x3 - mean
    local var = (centered * centered):mean(3, true)
    if flat_zero then return standardize(centered, var, eps), mean, var end
    return centered / (var + eps):sqrt(), mean, var
  end

  -- the view that lines a (C) tensor up with dim 2 of a d-dim input
  local function channel_view(c, d)
    local v = { 1, c }
    for i = 3, d do v[i] = 1 end
    return v
  end

  -- the number of elements of dims from..x:dim() (1 when there are none)
  local function trailing_numel(x, from)
    local n = 1
    for i = from, x:dim() do n = n * x:size(i) end
    return n
  end

  local function check_eps(op, eps)
    if eps ~= nil and type(eps) ~= 'number' then nl._argerror(op, 'a number eps', eps) end
    return eps or 1e-5
  end

  local GroupNorm = Module:extend('GroupNorm')
  nn.GroupNorm = GroupNorm

  -- GroupNorm(num_groups, num_channels, {eps, affine}): the channels of
  -- (N, C, *) split into num_groups groups of C / num_groups consecutive
  -- channels, each (sample, group) normalized by its own mean and biased
  -- variance, in training and eval alike; affine (true) adds a weight and a
  -- bias per channel, as PyTorch's
  function GroupNorm:init(num_groups, num_channels, opts)
    if not nl._size_arg(num_groups) or not nl._size_arg(num_channels) or num_channels > 2 ^ 31 then
      nl._raise(('GroupNorm: expected positive whole num_groups and num_channels, got %s and %s'):format(
        nl._describe_arg(num_groups), nl._describe_arg(num_channels)))
    end
    if num_channels % num_groups ~= 0 then
      nl._raise(('GroupNorm: num_channels (%d) must be divisible by num_groups (%d)'):format(num_channels, num_groups))
    end
    opts = nl._opts('GroupNorm', opts)
    nl._check_opts('GroupNorm', opts, { eps = 1, affine = 'flag' })
    self.num_groups, self.num_channels = num_groups, num_channels
    self.eps = check_eps('GroupNorm', opts.eps)
    self.affine = opts.affine ~= false
    if self.affine then
      self.weight = nl.ones(num_channels):requires_grad()
      self.bias = nl.zeros(num_channels):requires_grad()
    end
  end

  -- x (N, C, *) already checked, C a multiple of g: each sample's g
  -- groups of C / g channels normalized, then times weight and plus bias
  -- (each (C) or nil) per channel
  local function group_norm(op, x, g, weight, bias, eps)
    local c, shape = x:size(2), x:shape()
    if x:size(1) * (c / g) * trailing_numel(x, 3) == 1 then
      -- as PyTorch's (its _verify_batch_size), in eval too: one value per group
      nl._raise(('%s: needs more than one value per group, got input shape %s with %d groups'):format(op,
        nl._shape_str(x), g))
    end
    -- the group's size from the shape: x:numel() / (N * G) is 0/0 for N = 0
    local y = normalize_rows(x:reshape(x:size(1), g, (c / g) * trailing_numel(x, 3)), eps):view(shape)
    local v = channel_view(c, #shape)
    if weight then y = y * weight:view(v) end
    if bias then y = y + bias:view(v) end
    return y
  end

  function GroupNorm:forward(x)
    nl._T(x, 'GroupNorm')
    local c = self.num_channels
    if x:dim() < 2 or x:size(2) ~= c then
      nl._raise(('GroupNorm: expected input (N, %d, *) with %d channels, got shape %s'):format(c, c, nl._shape_str(x)))
    end
    check_dtype('GroupNorm', x, self.weight)
    return group_norm('GroupNorm', x, self.num_groups, self.weight, self.bias, self.eps)
  end

  function GroupNorm:extra_repr()
    return ('%d, %d, eps=%g, affine=%s'):format(self.num_groups, self.num_channels, self.eps, tostring(self.affine))
  end

  -- ---- instance normalization -----------------------------------------------------

  -- x (N, C, *) already checked: each (sample, channel) normalized over
  -- the rest, by its own statistics with use_input_stats (which also
  -- updates running_mean and running_var where given, by the batch's mean
  -- of the instances' means and unbiased variances), else by running_mean
  -- and running_var (C); then times weight and plus bias (each (C) or nil)
  -- (one_ok: one spatial element allowed, as torch.instance_norm's, the
  -- output the bias and running_var NaN; F.instance_norm refuses it)
  local function instance_normalize(op, x, rm, rv, weight, bias, use_input_stats, momentum, eps, one_ok)
    local c, d = x:size(2), x:dim()
    local shape, v = x:shape(), channel_view(c, d)
    local n, k = x:size(1), trailing_numel(x, 3)
    local y
    if use_input_stats then
      if k == 1 and not one_ok then
        nl._raise(('%s: expected more than 1 spatial element when training, got input shape %s'):format(op,
          nl._shape_str(x)))
      end
      if n * k == 0 then
        y = x * 1           -- an empty input: an empty output, the statistics as they were
      else
        local mean, var
        y, mean, var = normalize_rows(x:reshape(n, c, k), eps, true)
        y = y:view(shape)
        if rm then
          nl.no_grad(function()
            rm:mul_(1 - momentum):add_(mean:detach():view(n, c):mean(1), momentum)
            rv:mul_(1 - momentum):add_(var:detach():view(n, c):mean(1), momentum * k / (k - 1))
          end)
        end
      end
    else
      y = (x - rm:view(v)) / (rv:view(v) + eps):sqrt()
    end
    if weight then y = y * weight:view(v) end
    if bias then y = y + bias:view(v) end
    return y
  end

  -- InstanceNorm1d, 2d and 3d: each (sample, channel) of (N, C, *)
  -- normalized over its spatial dims, with batch norm's options and
  -- PyTorch's defaults for them here (affine and track_running_stats
  -- false). With running statistics, training updates them by the mean over
  -- the batch of each instance's mean and unbiased variance, as PyTorch's
  -- batch norm of the (1, N * C, *) view does, and eval normalizes with
  -- them; num_batches_tracked is kept at 0, as PyTorch's instance norm
  -- never counts. Unbatched input (C, *) is one sample.
  local function instance_norm(name, spatial, layout)
    local cls = Module:extend(name)
    nn[name] = cls

    function cls:init(num_features, opts)
      opts = nl._opts(name, opts)
      local o = {}
      for k, v in pairs(opts) do o[k] = v end
      if o.affine == nil then o.affine = false end
      if o.track_running_stats == nil then o.track_running_stats = false end
      nn._batch_norm_init(self, name, num_features, o)
    end

    function cls:forward(x)
      nl._T(x, name)
      local c, d = self.num_features, x:dim()
      -- a channel count other than num_features is refused even where
      -- PyTorch only warns (affine false, no running statistics, where
      -- num_features is unused): it is most likely a wiring mistake
      if (d ~= spatial + 1 and d ~= spatial + 2) or x:size(d - spatial) ~= c then
        nl._raise(('%s: expected input (N, %d, %s) or (%d, %s), got shape %s'):format(name, c, layout, c, layout,
          nl._shape_str(x)))
      end
      if d == spatial + 1 then return self:forward(x:unsqueeze(1)):reshape(x:shape()) end
      check_dtype(name, x, self.weight or self.running_mean)
      -- (the running statistics are nil without track_running_stats)
      return instance_normalize(name, x, self.running_mean, self.running_var, self.weight, self.bias,
                           self.training or not self.track_running_stats, self.momentum, self.eps)
    end

    cls.extra_repr = nn._batch_norm_repr
    cls.reset_running_stats, cls.reset_parameters = nn._norm_reset_running_stats, nn._norm_reset_parameters
  end
  instance_norm('InstanceNorm1d', 1, 'L')
  instance_norm('InstanceNorm2d', 2, 'H, W')
  instance_norm('InstanceNorm3d', 3, 'D, H, W')

  -- ---- functional forms ------------------------------------------------------------
  local F = nn.functional

  -- the trailing options of a functional norm: PyTorch's positional ones
  -- (names: {name, default, kind}, kind 'flag' or 'number', in PyTorch's
  -- order) or one table of them in the first's place; returns their
  -- values, defaulted and checked
  local function trailing(op, names, ...)
    local vals
    if type((...)) == 'table' then
      local spec = {}
      for i, nd in ipairs(names) do spec[i] = nd[1] .. (nd[3] == 'flag' and ':flag' or '') end
      vals = { nl._opts_or_args(op, table.concat(spec, ' '), ...) }
    else
      local n = select('#', ...)
      while n > 0 and select(n, ...) == nil do n = n - 1 end
      if n > #names then
        local list = {}
        for i, nd in ipairs(names) do list[i] = nd[1] end
        nl._raise(('%s: takes at most %d options after the tensors (%s), got %d'):format(op, #names,
          table.concat(list, ', '), n))
      end
      vals = { ... }
    end
    for i, nd in ipairs(names) do
      local v = vals[i]
      if v == nil then v = nd[2] end
      if nd[3] == 'flag' and type(v) ~= 'boolean' then nl._argerror(op, 'a boolean ' .. nd[1], v) end
      if nd[3] == 'number' and (type(v) ~= 'number' or v ~= v) then nl._argerror(op, 'a number ' .. nd[1], v) end
      vals[i] = v
    end
    return unpack(vals, 1, #names)
  end
  nn._norm_trailing = trailing

  -- t nil, or a tensor of x's dtype and of the shape (a list) wanted
  local function per_channel(op, what, t, x, shape)
    if t == nil then return end
    nl._T(t, op)
    local want = '[' .. table.concat(shape, ',') .. ']'
    if t:dtype() ~= x:dtype() or nl._shape_str(t) ~= want then
      nl._raise(('%s: %s must be a %s tensor of shape %s for input %s, got %s %s'):format(op, what, x:dtype(), want,
        nl._shape_str(x), t:dtype(), nl._shape_str(t)))
    end
  end
  nn._norm_per_channel = per_channel

  -- x of at least 2 dims (N, C, ...), named in a message
  local function batched(op, x, what)
    nl._T(x, op)
    if x:dim() < 2 then
      nl._raise(('%s: expected input %s, got shape %s'):format(op, what, nl._shape_str(x)))
    end
    return x:size(2)
  end

  -- F.layer_norm(x, normalized_shape, weight, bias, eps = 1e-5) (or {eps}
  -- in eps's place), as LayerNorm's forward
  function F.layer_norm(x, normalized_shape, weight, bias, ...)
    local op = 'layer_norm'
    local eps = trailing(op, { { 'eps', 1e-5, 'number' } }, ...)
    local shape = shape_arg(op, normalized_shape)
    nl._T(x, op)
    nl._float_only(x, op)
    per_channel(op, 'weight', weight, x, shape)
    per_channel(op, 'bias', bias, x, shape)
    return layer_norm(op, x, shape, weight, bias, eps)
  end

  -- F.group_norm(x, num_groups, weight, bias, eps = 1e-5) (or {eps}), as
  -- GroupNorm's forward: x (N, C, *), C a multiple of num_groups
  function F.group_norm(x, num_groups, weight, bias, ...)
    local op = 'group_norm'
    local eps = trailing(op, { { 'eps', 1e-5, 'number' } }, ...)
    local c = batched(op, x, '(N, C, *)')
    if not nl._size_arg(num_groups) then
      nl._raise(op .. ': num_groups must be a positive whole number, got ' .. nl._describe_arg(num_groups))
    end
    if c % num_groups ~= 0 then
      nl._raise(('%s: the input\'s %d channels (shape %s) are not divisible by num_groups %d'):format(op, c,
        nl._shape_str(x), num_groups))
    end
    nl._float_only(x, op)
    per_channel(op, 'weight', weight, x, { c })
    per_channel(op, 'bias', bias, x, { c })
    return group_norm(op, x, num_groups, weight, bias, eps)
  end

  -- the running statistics of a functional norm: both or neither, each (C)
  local function running(op, x, rm, rv, c)
    if (rm == nil) ~= (rv == nil) then
      nl._raise(op .. ': give both running_mean and running_var, or neither')
    end
    per_channel(op, 'running_mean', rm, x, { c })
    per_channel(op, 'running_var', rv, x, { c })
  end

  -- F.instance_norm(x, running_mean, running_var, weight, bias,
  -- use_input_stats = true, momentum = 0.1, eps = 1e-5) (or a table of the
  -- three), as InstanceNorm's forward: x (N, C, *) with a spatial dim;
  -- use_input_stats false normalizes by the running statistics, true by
  -- each instance's own and updates the running ones where given
  -- (nn._instance_norm(one_ok, ...): F.instance_norm's arguments after
  -- one_ok, which allows one spatial element, as torch.instance_norm)
  local function functional_instance_norm(one_ok, x, running_mean, running_var, weight, bias, ...)
    local op = 'instance_norm'
    local use, momentum, eps = trailing(op, { { 'use_input_stats', true, 'flag' }, { 'momentum', 0.1, 'number' },
                                              { 'eps', 1e-5, 'number' } }, ...)
    local c = batched(op, x, '(N, C, *) with spatial dims')
    nl._float_only(x, op)
    running(op, x, running_mean, running_var, c)
    per_channel(op, 'weight', weight, x, { c })
    per_channel(op, 'bias', bias, x, { c })
    if not use and running_mean == nil then
      nl._raise(op .. ': use_input_stats = false needs running_mean and running_var')
    end
    return instance_normalize(op, x, running_mean, running_var, weight, bias, use, momentum, eps, one_ok)
  end
  nn._instance_norm = functional_instance_norm
  function F.instance_norm(...) return functional_instance_norm(false, ...) end

  -- F.batch_norm(x, running_mean, running_var, weight, bias, training =
  -- false, momentum = 0.1, eps = 1e-5) (or a table of the three), as the
  -- BatchNorm modules' forward (nn._batch_norm on a table of their
  -- fields): x (N, C, *); training normalizes by the batch's statistics
  -- and updates the running ones where given, eval by the running ones,
  -- which it needs (PyTorch's 'running_mean must be defined in
  -- evaluation mode')
  -- (nn._functional_batch_norm(one_ok, ...): F.batch_norm's arguments
  -- after one_ok, which allows one value per channel, as torch.batch_norm)
  local function functional_batch_norm(one_ok, x, running_mean, running_var, weight, bias, ...)
    local op = 'batch_norm'
    local training, momentum, eps = trailing(op, { { 'training', false, 'flag' }, { 'momentum', 0.1, 'number' },
                                                   { 'eps', 1e-5, 'number' } }, ...)
    local c = batched(op, x, '(N, C, *)')
    nl._float_only(x, op)
    running(op, x, running_mean, running_var, c)
    per_channel(op, 'weight', weight, x, { c })
    per_channel(op, 'bias', bias, x, { c })
    if not training and running_mean == nil then
      nl._raise(op .. ': eval (training = false) needs running_mean and running_var')
    end
    -- affine false here, the weight and bias applied after: either may be
    -- nil; num_batches_tracked, which only the modules keep, a scratch one
    local y = nn._batch_norm({ num_features = c, training = training, track_running_stats = running_mean ~= nil,
                               affine = false, momentum = momentum, eps = eps, running_mean = running_mean,
                               running_var = running_var, num_batches_tracked = nl.zeros({}, 'int64'),
                               one_value_ok = one_ok }, op, x)
    local v = channel_view(c, x:dim())
    if weight then y = y * weight:view(v) end
    if bias then y = y + bias:view(v) end
    return y
  end
  nn._functional_batch_norm = functional_batch_norm
  function F.batch_norm(...) return functional_batch_norm(false, ...) end
end
