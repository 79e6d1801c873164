-- normalization.lua: nn.BatchNorm1d (batch statistics in training, running
-- statistics in eval) and nn.LayerNorm, as PyTorch defines them.
return function(nl, nn)
  local Module = nn.Module

  local BatchNorm1d = Module:extend('BatchNorm1d')
  nn.BatchNorm1d = BatchNorm1d

  function BatchNorm1d:init(num_features, opts)
    opts = nl._opts(self.__name, opts)
    if type(num_features) ~= 'number' or num_features < 1 then
      nl._raise('BatchNorm1d: expected a positive number of features, got ' .. tostring(num_features))
    end
    self.num_features = num_features
    self.eps = opts.eps or 1e-5
    self.momentum = opts.momentum or 0.1
    if type(self.eps) ~= 'number' or type(self.momentum) ~= 'number' then
      nl._raise(('BatchNorm1d: eps and momentum must be numbers, got %s and %s'):format(type(self.eps), type(self.momentum)))
    end
    self.affine = opts.affine ~= false
    if self.affine then
      self.weight = nl.ones(num_features):requires_grad()
      self.bias = nl.zeros(num_features):requires_grad()
    end
    self:register_buffer('running_mean', nl.zeros(num_features))
    self:register_buffer('running_var', nl.ones(num_features))
    self:register_buffer('num_batches_tracked', nl.zeros({}, 'int64'))
  end

  function BatchNorm1d:forward(x)
    nl._T(x, 'BatchNorm1d')
    local d = x:dim()
    if (d ~= 2 and d ~= 3) or x:size(2) ~= self.num_features then
      nl._raise(('BatchNorm1d: expected input (N, %d) or (N, %d, L), got shape %s'):format(
        self.num_features, self.num_features, nl._shape_str(x)))
    end
    local view = d == 2 and { 1, self.num_features } or { 1, self.num_features, 1 }
    local mean, var
    if self.training then
      local n = x:numel() / self.num_features
      if n <= 1 then
        nl._raise('BatchNorm1d: training needs more than one value per channel, got input shape ' .. nl._shape_str(x))
      end
      mean = x:mean(1, true)
      if d == 3 then mean = mean:mean(3, true) end
      local centered = x - mean
      var = (centered * centered):mean(1, true)
      if d == 3 then var = var:mean(3, true) end
      nl.no_grad(function()
        local m = self.momentum
        self.running_mean:mul_(1 - m):add_(mean:detach():view(-1), m)
        self.running_var:mul_(1 - m):add_(var:detach():view(-1), m * n / (n - 1))
        self.num_batches_tracked:add_(1)
      end)
      local y = centered / (var + self.eps):sqrt()
      if self.affine then y = y * self.weight:view(view) + self.bias:view(view) end
      return y
    end
    mean, var = self.running_mean:view(view), self.running_var:view(view)
    local y = (x - mean) / (var + self.eps):sqrt()
    if self.affine then y = y * self.weight:view(view) + self.bias:view(view) end
    return y
  end

  function BatchNorm1d:extra_repr()
    return ('%d, eps=%g, momentum=%g, affine=%s'):format(self.num_features, self.eps, self.momentum, tostring(self.affine))
  end

  local LayerNorm = Module:extend('LayerNorm')
  nn.LayerNorm = LayerNorm

  -- normalized_shape: a size or a shape table of the trailing dims
  function LayerNorm:init(normalized_shape, opts)
    opts = nl._opts('LayerNorm', opts)
    local shape = type(normalized_shape) == 'table' and normalized_shape or { normalized_shape }
    for _, s in ipairs(shape) do
      if type(s) ~= 'number' or s < 1 then nl._raise('LayerNorm: expected positive sizes') end
    end
    self.normalized_shape = shape
    self.eps = opts.eps or 1e-5
    if type(self.eps) ~= 'number' then nl._argerror('LayerNorm', 'a number eps', self.eps) end
    self.elementwise_affine = opts.elementwise_affine ~= false
    if self.elementwise_affine then
      self.weight = nl.ones(shape):requires_grad()
      self.bias = nl.zeros(shape):requires_grad()
    end
  end

  function LayerNorm:forward(x)
    nl._T(x, 'LayerNorm')
    local k, d = #self.normalized_shape, x:dim()
    local ok = d >= k
    for i = 1, k do ok = ok and x:size(d - k + i) == self.normalized_shape[i] end
    if not ok then
      nl._raise(('LayerNorm: input shape %s does not end with [%s]'):format(nl._shape_str(x),
        table.concat(self.normalized_shape, ',')))
    end
    local mean, centered, var = x, nil, nil
    for i = d - k + 1, d do mean = mean:mean(i, true) end
    centered = x - mean
    var = centered * centered
    for i = d - k + 1, d do var = var:mean(i, true) end
    local y = centered / (var + self.eps):sqrt()
    if self.elementwise_affine then y = y * self.weight + self.bias end
    return y
  end

  function LayerNorm:extra_repr()
    return ('[%s], eps=%g, elementwise_affine=%s'):format(table.concat(self.normalized_shape, ','), self.eps,
                                                          tostring(self.elementwise_affine))
  end
end
