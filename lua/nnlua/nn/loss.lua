-- loss.lua: the losses, as modules (nn.MSELoss(), called as crit(pred,
-- target)) and as functions (nn.functional.mse_loss(pred, target, opts)).
-- Cross-entropy, NLL and MSE (summed or averaged) are fused C kernels; the
-- rest are composed of ops.
-- Class targets are 1-based int64, as everywhere in nnlua.
return function(nl, nn)
  local lib = nl._lib
  local F = nn.functional or {}
  nn.functional = F

  local reductions = { none = 0, mean = 1, sum = 2 }

  -- the options each loss knows; any other key is an error, not ignored
  local KNOWN = {
    mse_loss = { reduction = 1 }, l1_loss = { reduction = 1 }, huber_loss = { reduction = 1, delta = 1 },
    cross_entropy = { reduction = 1, label_smoothing = 1, weight = 1, ignore_index = 1 },
    nll_loss = { reduction = 1, weight = 1, ignore_index = 1 },
    binary_cross_entropy = { reduction = 1, weight = 1 },
    binary_cross_entropy_with_logits = { reduction = 1, weight = 1, pos_weight = 1 },
  }

  local function reduction_of(opts, op)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, KNOWN[op])
    local r = opts.reduction or 'mean'
    if reductions[r] == nil then
      nl._raise(("%s: reduction must be 'mean', 'sum' or 'none', got '%s'"):format(op, tostring(r)))
    end
    return r
  end

  local function reduce(t, r)
    if r == 'mean' then return t:mean() elseif r == 'sum' then return t:sum() end
    return t
  end

  local function same_shape(op, input, target)
    nl._T(input, op)
    nl._T(target, op)
    local a, b = nl._shape_str(input), nl._shape_str(target)
    if a ~= b then
      nl._raise(('%s: input shape %s and target shape %s differ'):format(op, a, b))
    end
  end

  -- a float loss of int64 values, as PyTorch refuses it (it gave a float
  -- loss of two int64 tensors): both int64 (mse, l1), or either (where
  -- PyTorch cannot cast its float result back)
  local function float_operands(op, input, target, either)
    local ai, bi = input:dtype() == 'int64', target:dtype() == 'int64'
    if (ai and bi) or (either and (ai or bi)) then
      nl._raise(('%s: expected float %s, got input %s %s and target %s %s'):format(op,
        either and 'input and target' or 'input or target', input:dtype(), nl._shape_str(input), target:dtype(),
        nl._shape_str(target)))
    end
  end

  -- summed or averaged over float tensors of one dtype: one fused C op
  -- (nl_mse_loss), whose values are the composed ops' bit for bit
  function F.mse_loss(input, target, opts)
    same_shape('mse_loss', input, target)
    float_operands('mse_loss', input, target)
    local r = reduction_of(opts, 'mse_loss')
    local dt = input:dtype()
    if r ~= 'none' and dt ~= 'int64' and target:dtype() == dt then
      return nl._wrap(lib.nl_mse_loss(input.ptr, target.ptr, reductions[r]))
    end
    local d = input - target
    return reduce(d * d, r)
  end

  function F.l1_loss(input, target, opts)
    same_shape('l1_loss', input, target)
    local r = reduction_of(opts, 'l1_loss')
    -- two int64 tensors: an int64 sum or elementwise loss, as PyTorch's; its mean has no int64 form
    if r == 'mean' then float_operands('l1_loss', input, target) end
    return reduce((input - target):abs(), r)
  end

  function F.huber_loss(input, target, opts)
    same_shape('huber_loss', input, target)
    float_operands('huber_loss', input, target)
    if input:dtype() == 'int64' then      -- PyTorch cannot cast its float result back
      nl._raise(('huber_loss: expected a float input, got int64 %s'):format(nl._shape_str(input)))
    end
    local delta = nl._opts('huber_loss', opts).delta or 1
    if type(delta) ~= 'number' or not (delta > 0) then
      nl._raise('huber_loss: delta must be a positive number, got ' .. tostring(delta))
    end
    local diff = input - target
    local d = diff:abs()
    local r = reduction_of(opts, 'huber_loss')
    -- an infinite delta: the square everywhere (the unused linear part's
    -- gradient, 0 * delta, was NaN)
    if delta == math.huge then return reduce(diff * diff * 0.5, r) end
    -- a NaN difference takes the square, whose gradient, the signed
    -- difference, is NaN, as PyTorch's (the linear part's went through
    -- abs and gave 0)
    local near = d:ge(delta):eq(0)
    -- the square of the difference where it is used only: an infinite one
    -- squared in the branch where leaves out still sent 0 * inf = NaN back
    -- (PyTorch: +-delta)
    local dn = nl.where(near, diff, 0)
    local quad = dn * dn * 0.5
    local lin = (d - 0.5 * delta) * delta
    return reduce(nl.where(near, quad, lin), r)
  end

  local function class_target(op, target)
    if not nl.is_tensor(target) or target:dtype() ~= 'int64' then
      nl._raise(('%s: target must be an int64 tensor of class indices (1-based), got %s'):format(op,
        nl.is_tensor(target) and (target:dtype() .. ' ' .. nl._shape_str(target)) or type(target)))
    end
    return target
  end

  -- weight: nil, or a float tensor of C class weights in logp's dtype
  local function class_weight(op, w, logp)
    if w == nil then return nil end
    if logp:dim() ~= 2 then      -- the input's shape first (it said "weight ... of the 0 classes")
      nl._raise(('%s: input must be a 2-D float tensor (batch, classes), got %s %s'):format(op, logp:dtype(),
        nl._shape_str(logp)))
    end
    local C = logp:size(2)
    if not nl.is_tensor(w) or w:dim() ~= 1 or w:size(1) ~= C or w:dtype() ~= logp:dtype() then
      nl._raise(('%s: weight must be a %s vector of the %d classes, got %s'):format(op, logp:dtype(), C,
        nl.is_tensor(w) and (w:dtype() .. ' ' .. nl._shape_str(w)) or type(w)))
    end
    return w
  end

  -- NLL over log-probabilities logp (N, C) with class weights w (or nil)
  -- and an ignored target value, as PyTorch's: each sample's loss is
  -- -w[y] logp[y]; the mean divides by the summed weights of the samples
  -- not ignored. With label smoothing e the loss is (1 - e) of that plus e
  -- times -sum_c w[c] logp[c] / C, over the same divisor.
  local function nll_weighted(op, logp, target, w, ignore, r, ls)
    if logp:dim() ~= 2 or logp:dtype() == 'int64' then
      nl._raise(('%s: input must be a 2-D float tensor (batch, classes), got %s %s'):format(op, logp:dtype(),
        nl._shape_str(logp)))
    end
    local N, C = logp:size(1), logp:size(2)
    if target:dim() ~= 1 or target:size(1) ~= N then
      nl._raise(('%s: target must be a 1-D int64 tensor of %d class indices, got %s'):format(op, N,
        nl._shape_str(target)))
    end
    if ignore ~= nil and (type(ignore) ~= 'number' or ignore ~= math.floor(ignore)) then
      nl._raise(op .. ': ignore_index must be an integer, got ' .. tostring(ignore))
    end
    local keep = ignore and target:ne(ignore) or nil
    local t = keep and nl.where(keep, target, 1) or target
    if N > 0 then
      local lo, hi = t:min():item(), t:max():item()
      if lo < 1 or hi > C then
        nl._raise(('%s: target class %d out of range for %d classes (targets count from 1)'):format(op,
          lo < 1 and lo or hi, C))
      end
    end
    -- picked and masked with where, not by multiplying with 0/1: a logit
    -- of -inf (a masked class) in another class or an ignored row gave
    -- -inf * 0 = NaN, and so did the gradient of a mean over no kept row
    local pick = nl.arange(1, C + 1):view(1, C):eq(t:view(N, 1))
    local onehot = pick:to(logp:dtype())
    local wy = w and (onehot * w):sum(2) or nl.ones(N, logp:dtype())
    if keep then wy = wy * keep:to(logp:dtype()) end
    local l = -nl.where(pick, logp, 0):sum(2) * wy
    if keep then l = nl.where(keep, l, 0) end
    if ls and ls > 0 then
      local smooth = -(w and (logp * w) or logp):sum(2) / C
      if keep then smooth = nl.where(keep, smooth, 0) end
      -- each part's mean on its own, as PyTorch's: with no weight kept the
      -- NLL's 0/0 makes NaN (one sum over 0 gave inf)
      if r == 'mean' then
        local ws = wy:sum()
        return l:sum() / ws * (1 - ls) + smooth:sum() / ws * ls
      end
      l = l * (1 - ls) + smooth * ls
    end
    if r == 'sum' then return l:sum() end
    if r == 'mean' then return l:sum() / wy:sum() end
    return l
  end

  function F.cross_entropy(input, target, opts)
    local r = reduction_of(opts, 'cross_entropy')
    class_target('cross_entropy', target)
    opts = opts or {}
    local ls = opts.label_smoothing or 0
    if type(ls) ~= 'number' or not (ls >= 0 and ls <= 1) then
      nl._raise('cross_entropy: label_smoothing must be a number in [0, 1], got ' .. tostring(ls))
    end
    if opts.weight ~= nil or opts.ignore_index ~= nil then
      nl._T(input, 'cross_entropy')
      local logp = input:dim() == 2 and input:log_softmax(2) or input
      return nll_weighted('cross_entropy', logp, target, class_weight('cross_entropy', opts.weight, input),
                          opts.ignore_index, r, ls)
    end
    return nl._wrap(lib.nl_cross_entropy(nl._T(input, 'cross_entropy'), target.ptr, 1, reductions[r], ls))
  end

  function F.nll_loss(input, target, opts)
    local r = reduction_of(opts, 'nll_loss')
    class_target('nll_loss', target)
    opts = opts or {}
    if opts.weight ~= nil or opts.ignore_index ~= nil then
      nl._T(input, 'nll_loss')
      return nll_weighted('nll_loss', input, target, class_weight('nll_loss', opts.weight, input),
                          opts.ignore_index, r)
    end
    return nl._wrap(lib.nl_nll_loss(nl._T(input, 'nll_loss'), target.ptr, 1, reductions[r]))
  end

  -- weight (what: the option's name): nil, or a float tensor that
  -- broadcasts to the input's shape without widening it (a larger one
  -- gave a larger loss, where PyTorch refuses it)
  local function elem_weight(op, w, input, what)
    if w == nil then return nil end
    local fits = nl.is_tensor(w) and w:dtype() == input:dtype() and w:dim() <= input:dim()
    if fits then
      for i = 1, w:dim() do
        local ws, xs = w:size(-i), input:size(-i)
        if ws ~= 1 and ws ~= xs then fits = false end
      end
    end
    if not fits then
      nl._raise(('%s: %s must be a %s tensor broadcasting to %s, got %s'):format(op, what or 'weight', input:dtype(),
        nl._shape_str(input), nl.is_tensor(w) and (w:dtype() .. ' ' .. nl._shape_str(w)) or type(w)))
    end
    return w
  end

  -- -w (y log p + (1-y) log(1-p)), logs clamped at -100, as PyTorch's: one
  -- C op (nl_bce_loss), whose gradient stays finite at p = 0 or 1
  function F.binary_cross_entropy(input, target, opts)
    same_shape('binary_cross_entropy', input, target)
    local r = reduction_of(opts, 'binary_cross_entropy')
    local w = elem_weight('binary_cross_entropy', (opts or {}).weight, input)
    if w then w = w:expand(input:shape()):contiguous() end
    return nl._wrap(lib.nl_bce_loss(input.ptr, target.ptr, w and w.ptr or nil, reductions[r]))
  end

  -- (1 - y) x + c softplus(-x) with c = 1 + (pw - 1) y, times the weight,
  -- as PyTorch's. With L = log(1 + exp(-|x|)) that is (1 - y) x + c L for
  -- x >= 0 and -pw y x + c L for x < 0 (softplus(-x) = -x + L there): one
  -- where picks the linear part, so that the gradient is c sigmoid(x) -
  -- pw y without cancellation (1 + (sigmoid(x) - 1) lost sigmoid(x) below
  -- x = -17 in float32). Where on x >= 0 rather than relu and abs, whose
  -- gradients at exactly 0 are 0: that gave -y at a logit of 0 (every
  -- logit of a zero-initialised output layer) instead of 0.5 - y.
  function F.binary_cross_entropy_with_logits(input, target, opts)
    local op = 'binary_cross_entropy_with_logits'
    same_shape(op, input, target)
    float_operands(op, input, target, true)
    local r = reduction_of(opts, op)
    opts = opts or {}
    local w, pw = elem_weight(op, opts.weight, input), elem_weight(op, opts.pos_weight, input, 'pos_weight')
    local x, y = input, target
    local nonneg = x:ge(0)
    local L = nl.where(nonneg, -x, x):exp():add(1):log()
    local pwy = pw and pw * y or y
    local l = nl.where(nonneg, (1 - y) * x, -pwy * x) + (pw and (pw - 1) * y + 1 or 1) * L
    if w then l = l * w end
    return reduce(l, r)
  end

  local Module = nn.Module
  -- the module of functional form F[fname], which names its options
  local function loss_module(name, fname)
    local fn = F[fname]
    local cls = Module:extend(name)
    -- weight and pos_weight are buffers, as PyTorch's: m:double() converts
    -- them and the state dict holds them (they stayed in the options, so
    -- a loss made float64 refused its own float32 weight)
    cls.init = function(self, opts)
      self.opts = nl._opts(name, opts)
      reduction_of(self.opts, fname)
      for _, k in ipairs({ 'weight', 'pos_weight' }) do
        if nl.is_tensor(self.opts[k]) then self:register_buffer(k, self.opts[k]) end
      end
    end
    -- options go to the constructor: a third argument was dropped silently
    -- (nn.MSELoss()(a, b, {reduction = 'sum'}) gave the mean)
    local hint = ('give options to the constructor, as nn.%s({reduction = ...})'):format(name)
    cls.forward = function(self, input, target, ...)
      nl._no_extra_args(name, '(input, target)', hint, ...)
      local o = self.opts
      if self._buffers.weight or self._buffers.pos_weight then
        o = {}
        for k, v in pairs(self.opts) do o[k] = v end
        o.weight, o.pos_weight = rawget(self, 'weight'), rawget(self, 'pos_weight')
      end
      return fn(input, target, o)
    end
    nn[name] = cls
  end
  loss_module('MSELoss', 'mse_loss')
  loss_module('L1Loss', 'l1_loss')
  loss_module('HuberLoss', 'huber_loss')
  loss_module('CrossEntropyLoss', 'cross_entropy')
  loss_module('NLLLoss', 'nll_loss')
  loss_module('BCELoss', 'binary_cross_entropy')
  loss_module('BCEWithLogitsLoss', 'binary_cross_entropy_with_logits')
end
