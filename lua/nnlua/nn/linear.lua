-- linear.lua: nn.Linear (y = x W^T + b, PyTorch's layout and default
-- initialization; 2-D input runs the one C op nl_linear), nn.functional.linear,
-- nn.Flatten and nn.Identity.
return function(nl, nn)
  local Module = nn.Module
  local lib = nl._lib
  local F = nn.functional or {}
  nn.functional = F

  -- F.linear(x, weight, bias): x (..., in) @ weight (out, in)^T + bias (out)
  -- or nil, as torch.nn.functional.linear
  function F.linear(x, weight, bias, ...)
    nl._no_extra_args('linear', '(input, weight, [bias])', nil, ...)
    local p, pw = nl._T(x, 'linear'), nl._T(weight, 'linear')
    local pb = bias ~= nil and nl._T(bias, 'linear') or nil
    if p.ndim == 2 then return nl._wrap(lib.nl_linear(p, pw, pb, 0)) end
    -- other ranks: checked here with the caller's shapes (they went to
    -- matmul and an add unchecked, and a bias of another shape broadcast
    -- the output larger), then run as rows through the same C op
    local dt = x:dtype()
    local ok = p.ndim >= 1 and pw.ndim == 2 and x:size(-1) == weight:size(2) and weight:dtype() == dt
               and dt ~= 'int64' and (bias == nil or (pb.ndim == 1 and bias:size(1) == weight:size(1)
                                                     and bias:dtype() == dt))
    if not ok then
      nl._raise(('linear: input %s %s, weight %s %s%s: expected input (..., in) and weight (out, in)%s of one float '
                 .. 'dtype'):format(dt, nl._shape_str(x), weight:dtype(), nl._shape_str(weight),
                 bias ~= nil and (', bias ' .. bias:dtype() .. ' ' .. nl._shape_str(bias)) or '',
                 bias ~= nil and ' and bias (out)' or ''))
    end
    local shape = x:shape()
    shape[#shape] = weight:size(1)
    -- the rows counted, not -1 (no features made -1 ambiguous)
    local n = 1
    for i = 1, #shape - 1 do n = n * shape[i] end
    local rows = x:reshape(n, x:size(-1))
    return nl._wrap(lib.nl_linear(rows.ptr, pw, pb, 0)):view(shape)
  end

  local Linear = Module:extend('Linear')
  nn.Linear = Linear

  function Linear:init(in_features, out_features, opts)
    if not nl._size_arg(in_features) or not nl._size_arg(out_features) then
      nl._raise(('Linear: expected positive whole sizes in_features and out_features, got %s and %s'):format(
        nl._describe_arg(in_features), nl._describe_arg(out_features)))
    end
    opts = nl._opts('Linear', opts)
    nl._check_opts('Linear', opts, { bias = 'flag' })
    self.in_features, self.out_features = in_features, out_features
    -- PyTorch: kaiming_uniform_(a = sqrt 5) for the weight, U(+-1/sqrt(fan_in)) for the bias
    self.weight = nl.empty(out_features, in_features):requires_grad()
    nn.init.kaiming_uniform_(self.weight, { a = math.sqrt(5) })
    if opts.bias ~= false then
      local bound = 1 / math.sqrt(in_features)
      self.bias = nl.empty(out_features):requires_grad()
      nn.init.uniform_(self.bias, -bound, bound)
    end
  end

  -- x's tensor struct, once its last dim is checked against in_features
  local function input(self, x)
    local p = nl._T(x, 'Linear')
    local n = p.ndim > 0 and tonumber(p.sizes[p.ndim - 1]) or 0
    if n ~= self.in_features then
      nl._raise(('Linear: input has %d features in its last dim, expected %d (input shape %s)'):format(
        n, self.in_features, nl._shape_str(x)))
    end
    return p
  end

  function Linear:forward(x)
    input(self, x)
    return F.linear(x, self.weight, self.bias)
  end

  -- the layer and a ReLU after it as one op, for nn.Sequential (2-D input;
  -- the same values and gradients as the two modules)
  function Linear:_forward_relu(x)
    return nl._wrap(lib.nl_linear(input(self, x), self.weight.ptr, self.bias and self.bias.ptr or nil, 1))
  end

  function Linear:extra_repr()
    return ('in_features=%d, out_features=%d, bias=%s'):format(self.in_features, self.out_features,
                                                               tostring(self.bias ~= nil))
  end

  local Flatten = Module:extend('Flatten')
  nn.Flatten = Flatten

  -- flattens dims start_dim..end_dim (1-based; default 2..-1: all but the batch)
  function Flatten:init(start_dim, end_dim)
    -- (or {start_dim, end_dim}, PyTorch's keywords)
    start_dim, end_dim = nl._opts_or_args('Flatten', 'start_dim end_dim', start_dim, end_dim)
    for _, v in ipairs({ start_dim or 2, end_dim or -1 }) do
      if type(v) ~= 'number' or v ~= math.floor(v) or v == 0 or math.abs(v) > 8 then
        nl._raise('Flatten: dims must be integers in -8..-1 or 1..8, got ' .. tostring(v))
      end
    end
    self.start_dim, self.end_dim = start_dim or 2, end_dim or -1
  end
  function Flatten:forward(x)
    local shape = nl._T(x, 'Flatten') and x:shape()
    local d = #shape
    local s = self.start_dim < 0 and self.start_dim + d + 1 or self.start_dim
    local e = self.end_dim < 0 and self.end_dim + d + 1 or self.end_dim
    if s < 1 or e > d or s > e then
      nl._raise(('Flatten: dims %d..%d do not fit input shape %s'):format(self.start_dim, self.end_dim, nl._shape_str(x)))
    end
    local out, n = {}, 1
    for i = 1, s - 1 do out[#out + 1] = shape[i] end
    for i = s, e do n = n * shape[i] end
    out[#out + 1] = n
    for i = e + 1, d do out[#out + 1] = shape[i] end
    return x:reshape(out)
  end
  -- (nn.Flatten(1, 3) printed as Flatten(), the default's look)
  function Flatten:extra_repr() return ('start_dim=%d, end_dim=%d'):format(self.start_dim, self.end_dim) end

  local Identity = Module:extend('Identity')
  nn.Identity = Identity
  -- any arguments, ignored, as PyTorch's Identity(*args) takes them
  function Identity:init(...) end
  function Identity:forward(x) return x end
end
