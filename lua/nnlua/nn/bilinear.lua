-- bilinear.lua: nn.Bilinear, y = x1^T A x2 + b for each of out_features
-- matrices A, with PyTorch's layout (weight (out, in1, in2), bias (out))
-- and initialization, and nn.functional.bilinear. It is one matmul and a
-- product summed over in2, so autograd gives the backward.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional or {}
  nn.functional = F

  local function describe(t) return t:dtype() .. ' ' .. nl._shape_str(t) end

  -- F.bilinear(x1, x2, weight, bias): x1 (..., in1) and x2 (..., in2) of
  -- the same leading dims, weight (out, in1, in2), bias (out) or nil;
  -- gives (..., out), as torch.nn.functional.bilinear
  function F.bilinear(x1, x2, weight, bias, ...)
    local op = 'bilinear'
    nl._no_extra_args(op, '(input1, input2, weight, bias)', nil, ...)
    nl._T(x1, op)
    nl._T(x2, op)
    nl._T(weight, op)
    if bias ~= nil then nl._T(bias, op) end
    local dt = x1:dtype()
    local ok = dt ~= 'int64' and x2:dtype() == dt and weight:dtype() == dt and weight:dim() == 3
               and (bias == nil or (bias:dtype() == dt and bias:dim() == 1 and bias:size(1) == weight:size(1)))
               and x1:dim() >= 1 and x2:dim() >= 1
               and x1:size(-1) == weight:size(2) and x2:size(-1) == weight:size(3)
    if not ok then
      nl._raise(('%s: expected input1 (..., in1), input2 (..., in2), weight (out, in1, in2)%s of one float dtype, '
        .. 'got input1 %s, input2 %s, weight %s%s'):format(op, bias ~= nil and ' and bias (out)' or '',
        describe(x1), describe(x2), describe(weight), bias ~= nil and (', bias ' .. describe(bias)) or ''))
    end
    local lead, n = x1:shape(), 1
    lead[#lead] = nil
    local same = x2:dim() == x1:dim()
    for i = 1, #lead do
      same = same and x2:size(i) == lead[i]
      n = n * lead[i]
    end
    if not same then
      nl._raise(('%s: input1 %s and input2 %s must have the same leading (batch) dims'):format(op,
        nl._shape_str(x1), nl._shape_str(x2)))
    end
    local O, in1, in2 = weight:size(1), weight:size(2), weight:size(3)
    -- x1 A_o for every o at once: (n, in1) @ (in1, out * in2), then the
    -- product with x2 summed over in2
    local t = nl.matmul(x1:reshape(n, in1), weight:permute(2, 1, 3):reshape(in1, O * in2)):view(n, O, in2)
    local y = (t * x2:reshape(n, 1, in2)):sum(3)
    if bias ~= nil then y = y + bias end
    lead[#lead + 1] = O
    return y:reshape(lead)
  end

  local Bilinear = Module:extend('Bilinear')
  nn.Bilinear = Bilinear

  -- Bilinear(in1_features, in2_features, out_features, {bias = true}):
  -- weight and bias uniform in +-1/sqrt(in1_features), as PyTorch's
  function Bilinear:init(in1, in2, out, opts)
    if not nl._size_arg(in1) or not nl._size_arg(in2) or not nl._size_arg(out) then
      nl._raise(('Bilinear: expected positive whole sizes in1_features, in2_features and out_features, got %s, %s '
        .. 'and %s'):format(nl._describe_arg(in1), nl._describe_arg(in2), nl._describe_arg(out)))
    end
    if in1 * in2 * out > 2 ^ 40 then
      nl._raise(('Bilinear: a weight of %d x %d x %d is too large'):format(out, in1, in2))
    end
    opts = nl._opts('Bilinear', opts)
    nl._check_opts('Bilinear', opts, { bias = 'flag' })
    self.in1_features, self.in2_features, self.out_features = in1, in2, out
    local bound = 1 / math.sqrt(in1)
    self.weight = nl.empty(out, in1, in2):requires_grad()
    nn.init.uniform_(self.weight, -bound, bound)
    if opts.bias ~= false then
      self.bias = nl.empty(out):requires_grad()
      nn.init.uniform_(self.bias, -bound, bound)
    end
  end

  function Bilinear:forward(x1, x2, ...)
    nl._no_extra_args('Bilinear', '(input1, input2)', nil, ...)
    nl._T(x1, 'Bilinear')
    nl._T(x2, 'Bilinear')
    local dt = self.weight:dtype()
    nn._check_input_dtype('Bilinear', x1, dt)
    nn._check_input_dtype('Bilinear', x2, dt)
    if x1:dim() < 1 or x1:size(-1) ~= self.in1_features or x2:dim() < 1 or x2:size(-1) ~= self.in2_features then
      nl._raise(('Bilinear: expected input1 (..., %d) and input2 (..., %d), got %s and %s'):format(self.in1_features,
        self.in2_features, nl._shape_str(x1), nl._shape_str(x2)))
    end
    return F.bilinear(x1, x2, self.weight, self.bias)
  end

  function Bilinear:extra_repr()
    return ('in1_features=%d, in2_features=%d, out_features=%d, bias=%s'):format(self.in1_features,
      self.in2_features, self.out_features, tostring(self.bias ~= nil))
  end
end
