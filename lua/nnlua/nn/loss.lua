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
  local function reduction_of(opts, op)
    local r = nl._opts(op, opts).reduction or 'mean'
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

  -- summed or averaged over float tensors of one dtype: one fused C op
  -- (nl_mse_loss), whose values are the composed ops' bit for bit
  function F.mse_loss(input, target, opts)
    same_shape('mse_loss', input, target)
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
    return reduce((input - target):abs(), reduction_of(opts, 'l1_loss'))
  end

  function F.huber_loss(input, target, opts)
    same_shape('huber_loss', input, target)
    local delta = nl._opts('huber_loss', opts).delta or 1
    if type(delta) ~= 'number' or not (delta > 0) then
      nl._raise('huber_loss: delta must be a positive number, got ' .. tostring(delta))
    end
    local d = (input - target):abs()
    local quad = d * d * 0.5
    local lin = (d - 0.5 * delta) * delta
    return reduce(nl.where(d:lt(delta), quad, lin), reduction_of(opts, 'huber_loss'))
  end

  local function class_target(op, target)
    if not nl.is_tensor(target) or target:dtype() ~= 'int64' then
      nl._raise(('%s: target must be an int64 tensor of class indices (1-based), got %s'):format(op,
        nl.is_tensor(target) and (target:dtype() .. ' ' .. nl._shape_str(target)) or type(target)))
    end
    return target
  end

  function F.cross_entropy(input, target, opts)
    local r = reduction_of(opts, 'cross_entropy')
    class_target('cross_entropy', target)
    local ls = nl._opts('cross_entropy', opts).label_smoothing or 0
    if type(ls) ~= 'number' or not (ls >= 0 and ls <= 1) then
      nl._raise('cross_entropy: label_smoothing must be a number in [0, 1], got ' .. tostring(ls))
    end
    return nl._wrap(lib.nl_cross_entropy(nl._T(input, 'cross_entropy'), target.ptr, 1, reductions[r], ls))
  end

  function F.nll_loss(input, target, opts)
    local r = reduction_of(opts, 'nll_loss')
    class_target('nll_loss', target)
    return nl._wrap(lib.nl_nll_loss(nl._T(input, 'nll_loss'), target.ptr, 1, reductions[r]))
  end

  -- -(y log p + (1-y) log(1-p)), logs clamped at -100 as PyTorch does
  function F.binary_cross_entropy(input, target, opts)
    same_shape('binary_cross_entropy', input, target)
    local lo, hi = input:min():item(), input:max():item()
    if lo < 0 or hi > 1 then
      nl._raise(('binary_cross_entropy: input must hold probabilities in [0, 1], found values in [%g, %g]'):format(lo, hi))
    end
    local l = target * input:log():clamp(-100) + (1 - target) * (1 - input):log():clamp(-100)
    return reduce(-l, reduction_of(opts, 'binary_cross_entropy'))
  end

  -- max(x, 0) - x y + log(1 + exp(-|x|)): stable for any logit
  function F.binary_cross_entropy_with_logits(input, target, opts)
    same_shape('binary_cross_entropy_with_logits', input, target)
    local l = input:relu() - input * target + ((-input:abs()):exp() + 1):log()
    return reduce(l, reduction_of(opts, 'binary_cross_entropy_with_logits'))
  end

  local Module = nn.Module
  local function loss_module(name, fn)
    local cls = Module:extend(name)
    cls.init = function(self, opts) self.opts = nl._opts(name, opts); reduction_of(self.opts, name) end
    cls.forward = function(self, input, target) return fn(input, target, self.opts) end
    nn[name] = cls
  end
  loss_module('MSELoss', F.mse_loss)
  loss_module('L1Loss', F.l1_loss)
  loss_module('HuberLoss', F.huber_loss)
  loss_module('CrossEntropyLoss', F.cross_entropy)
  loss_module('NLLLoss', F.nll_loss)
  loss_module('BCELoss', F.binary_cross_entropy)
  loss_module('BCEWithLogitsLoss', F.binary_cross_entropy_with_logits)
end
