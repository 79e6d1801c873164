-- loss.lua: the losses, as modules (nn.MSELoss(), called as crit(pred,
-- target)) and as functions (nn.functional.mse_loss(pred, target, opts)).
-- Cross-entropy, NLL and MSE (summed or averaged) are fused C kernels; the
-- rest are composed of ops, whose backward autograd gives.
-- Class targets are 1-based int64, as everywhere in nnlua; cross-entropy
-- and NLL take PyTorch's shapes (C), (N, C) and (N, C, d1, ...), the
-- extra dims flattened into the 2-D path.
return function(nl, nn)
  local lib = nl._lib
  local F = nn.functional or {}
  nn.functional = F

  local reductions = { none = 0, mean = 1, sum = 2 }
  -- an argument past the options (PyTorch's positional size_average,
  -- reduce, reduction: F.mse_loss(a, b, {}, 'sum')) was dropped, and the
  -- mean given
  local OPTS_HINT = 'give reduction and the rest in the options table'

  -- the options each loss knows; any other key is an error, not ignored
  local KNOWN = {
    mse_loss = { reduction = 1 }, l1_loss = { reduction = 1 }, huber_loss = { reduction = 1, delta = 1 },
    cross_entropy = { reduction = 1, label_smoothing = 1, weight = 1, ignore_index = 1 },
    nll_loss = { reduction = 1, weight = 1, ignore_index = 1 },
    binary_cross_entropy = { reduction = 1, weight = 1 },
    binary_cross_entropy_with_logits = { reduction = 1, weight = 1, pos_weight = 1 },
    smooth_l1_loss = { reduction = 1, beta = 1 },
    kl_div = { reduction = 1, log_target = 'flag' },
    margin_ranking_loss = { reduction = 1, margin = 1 },
    hinge_embedding_loss = { reduction = 1, margin = 1 },
    soft_margin_loss = { reduction = 1 },
    cosine_embedding_loss = { reduction = 1, margin = 1 },
    poisson_nll_loss = { reduction = 1, log_input = 'flag', full = 'flag', eps = 1 },
    gaussian_nll_loss = { reduction = 1, full = 'flag', eps = 1 },
    multi_margin_loss = { reduction = 1, p = 1, margin = 1, weight = 1 },
    triplet_margin_loss = { reduction = 1, margin = 1, p = 1, eps = 1, swap = 'flag' },
  }
  -- and PyTorch's deprecated size_average and reduce, which all but Huber
  -- and GaussianNLL take (nn._legacy_reduction)
  for op, known in pairs(KNOWN) do
    if op ~= 'huber_loss' and op ~= 'gaussian_nll_loss' then known.size_average, known.reduce = 'flag', 'flag' end
  end

  -- the reduction PyTorch's deprecated flags size_average and reduce name
  -- (torch.nn._reduction.legacy_get_string: either given decides, over
  -- reduction; a nil one is true): reduce false is 'none', else
  -- size_average false 'sum', else 'mean'; nil when neither is given
  function nn._legacy_reduction(opts)
    local sa, rd = opts.size_average, opts.reduce
    if sa == nil and rd == nil then return nil end
    if rd == false then return 'none' end
    return sa == false and 'sum' or 'mean'
  end

  -- the number options of those losses, in the order they are checked:
  -- what each must be, and the test. Checked with the reduction, so that
  -- a module refuses them at construction, not at its first call.
  local function finite(v) return v == v and v > -math.huge and v < math.huge end
  local ANY = { 'a finite number', finite }
  local NONNEG = { 'a finite number >= 0', function(v) return finite(v) and v >= 0 end }
  local INTEGER = { 'an integer', function(v) return finite(v) and v == math.floor(v) end }
  local NUMBERS = {
    -- (delta = inf is the square everywhere)
    huber_loss = { { 'delta', { 'a positive number', function(v) return v > 0 end } } },
    cross_entropy = { { 'label_smoothing', { 'a number in [0, 1]', function(v) return v >= 0 and v <= 1 end } },
                      { 'ignore_index', INTEGER } },
    nll_loss = { { 'ignore_index', INTEGER } },
    -- beta = inf is PyTorch's too: the square / inf, 0 everywhere finite
    smooth_l1_loss = { { 'beta', { 'a number >= 0', function(v) return v >= 0 end } } },
    margin_ranking_loss = { { 'margin', ANY } },
    hinge_embedding_loss = { { 'margin', ANY } },
    cosine_embedding_loss = { { 'margin', ANY } },
    poisson_nll_loss = { { 'eps', NONNEG } },
    gaussian_nll_loss = { { 'eps', NONNEG } },
    -- PyTorch's kernel has only these two
    multi_margin_loss = { { 'p', { '1 or 2', function(v) return v == 1 or v == 2 end } }, { 'margin', ANY } },
    triplet_margin_loss = { { 'margin', ANY },
      { 'p', { 'a number > 0 (math.huge for the largest difference)', function(v) return v > 0 end } },
      { 'eps', NONNEG } },
  }
  -- a reduction an op takes beside the three: KLDivLoss's sum over the
  -- batch size (input:size(1)), the one that is the KL divergence
  local EXTRA_REDUCTION = { kl_div = 'batchmean' }

  local function reduction_of(opts, op)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, KNOWN[op])
    local r = nn._legacy_reduction(opts) or opts.reduction or 'mean'
    local extra = EXTRA_REDUCTION[op]
    if reductions[r] == nil and (extra == nil or r ~= extra) then
      nl._raise(("%s: reduction must be 'mean', 'sum'%s or 'none', got '%s'"):format(op,
        extra and (", '" .. extra .. "'") or '', tostring(r)))
    end
    for _, rule in ipairs(NUMBERS[op] or {}) do
      local k, what, ok = rule[1], rule[2][1], rule[2][2]
      local v = opts[k]
      if v ~= nil and (type(v) ~= 'number' or not ok(v)) then
        nl._raise(('%s: %s must be %s, got %s'):format(op, k, what, nl._describe_arg(v)))
      end
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
  function F.mse_loss(input, target, opts, ...)
    nl._no_extra_args('mse_loss', '(input, target, opts)', OPTS_HINT, ...)
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

  function F.l1_loss(input, target, opts, ...)
    nl._no_extra_args('l1_loss', '(input, target, opts)', OPTS_HINT, ...)
    same_shape('l1_loss', input, target)
    local r = reduction_of(opts, 'l1_loss')
    -- two int64 tensors: an int64 sum or elementwise loss, as PyTorch's; its mean has no int64 form
    if r == 'mean' then float_operands('l1_loss', input, target) end
    return reduce((input - target):abs(), r)
  end

  function F.huber_loss(input, target, opts, ...)
    nl._no_extra_args('huber_loss', '(input, target, opts)', OPTS_HINT, ...)
    same_shape('huber_loss', input, target)
    float_operands('huber_loss', input, target)
    if input:dtype() == 'int64' then      -- PyTorch cannot cast its float result back
      nl._raise(('huber_loss: expected a float input, got int64 %s'):format(nl._shape_str(input)))
    end
    local r = reduction_of(opts, 'huber_loss')
    local delta = (opts or {}).delta or 1
    local diff = input - target
    local d = diff:abs()
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
      nl._raise(('%s: target must be an int64 tensor of class indices (1-based)%s, got %s'):format(op,
        op == 'cross_entropy' and ' or a float one of class probabilities' or '',
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

  -- the samples of a class loss as rows, for the 2-D path: input (N, C,
  -- d1, ...) becomes (N d1 ..., C), the class dim moved last by permute
  -- and the rest flattened by reshape, and target (N, d1, ...) becomes
  -- (N d1 ...); unbatched input (C) with a 0-dim target becomes (1, C)
  -- and (1). Each element is then a row of its own, so the weighted mean
  -- (the summed losses of the elements not ignored over their summed
  -- weights) and label smoothing are the 2-D path's, as PyTorch's are.
  -- Returns the pair and the shape the unreduced loss takes back (the
  -- target's), nil for 2-D input, which goes on as it is (its target is
  -- checked by the 2-D path).
  local function class_rows(op, input, target)
    local d = input:dim()
    if d == 0 or input:dtype() == 'int64' then
      nl._raise(('%s: input must be a float tensor (C), (N, C) or (N, C, d1, ...), got %s %s'):format(op,
        input:dtype(), nl._shape_str(input)))
    end
    if d == 2 then return input, target, nil end
    local cd = d == 1 and 1 or 2
    local C = input:size(cd)
    local want, M = {}, 1
    for i = 1, d do
      if i ~= cd then
        want[#want + 1] = input:size(i)
        M = M * input:size(i)
      end
    end
    local fits = target:dim() == #want
    for i = 1, fits and #want or 0 do fits = fits and target:size(i) == want[i] end
    if not fits then
      nl._raise(('%s: target of shape %s does not fit input %s: expected %s (the input without its class dim %d)')
        :format(op, nl._shape_str(target), nl._shape_str(input), '[' .. table.concat(want, ',') .. ']', cd))
    end
    if C == 0 then
      nl._raise(('%s: no classes in input of shape %s'):format(op, nl._shape_str(input)))
    end
    if d == 1 then return input:reshape(1, C), target:reshape(1), want end
    local perm = { 1 }
    for i = 3, d do perm[#perm + 1] = i end
    perm[#perm + 1] = 2
    return input:permute(perm):reshape(M, C), target:reshape(M), want
  end

  -- cross-entropy against class probabilities (a float target of the
  -- input's shape), as PyTorch 1.13 defines it: -sum_c w[c] q[c] logp[c]
  -- per sample, logp the log-softmax over the class dim and q = (1 - e)
  -- y + e / C under label smoothing e; 'mean' divides by the samples (N
  -- d1 ...), not by the weights, and is NaN over none. Composed of ops,
  -- so the target has a gradient too.
  local function prob_cross_entropy(input, target, opts, r, ls)
    local op = 'cross_entropy'
    local d = input:dim()
    if d == 0 or input:dtype() == 'int64' then
      nl._raise(('%s: input must be a float tensor (C), (N, C) or (N, C, d1, ...), got %s %s'):format(op,
        input:dtype(), nl._shape_str(input)))
    end
    if target:dtype() ~= input:dtype() or nl._shape_str(target) ~= nl._shape_str(input) then
      nl._raise(('%s: a float target holds class probabilities, of the input\'s shape and dtype (%s %s), got %s %s '
        .. '(class indices are int64)'):format(op, input:dtype(), nl._shape_str(input), target:dtype(),
        nl._shape_str(target)))
    end
    if opts.ignore_index ~= nil then      -- PyTorch refuses it too: no sample has one class
      nl._raise(op .. ': ignore_index applies to class-index targets (int64), not to class probabilities')
    end
    local cd = d == 1 and 1 or 2
    local C = input:size(cd)
    if C == 0 then nl._raise(('%s: no classes in input of shape %s'):format(op, nl._shape_str(input))) end
    local w = opts.weight
    if w ~= nil and (not nl.is_tensor(w) or w:dim() ~= 1 or w:size(1) ~= C or w:dtype() ~= input:dtype()) then
      nl._raise(('%s: weight must be a %s vector of the %d classes, got %s'):format(op, input:dtype(), C,
        nl.is_tensor(w) and (w:dtype() .. ' ' .. nl._shape_str(w)) or type(w)))
    end
    local q = ls > 0 and target * (1 - ls) + ls / C or target
    local prod = input:log_softmax(cd) * q
    if w then
      local ws = {}
      for i = 1, d do ws[i] = i == cd and C or 1 end
      prod = prod * w:view(ws)
    end
    if r == 'none' then return -prod:sum(cd) end
    local s = -prod:sum()
    if r == 'sum' then return s end
    return s / (input:numel() / C)        -- 0 / 0 over no sample: NaN
  end

  function F.cross_entropy(input, target, opts, ...)
    nl._no_extra_args('cross_entropy', '(input, target, opts)', OPTS_HINT, ...)
    local r = reduction_of(opts, 'cross_entropy')
    opts = opts or {}
    local ls = opts.label_smoothing or 0
    nl._T(input, 'cross_entropy')
    if nl.is_tensor(target) and target:dtype() ~= 'int64' then
      return prob_cross_entropy(input, target, opts, r, ls)
    end
    class_target('cross_entropy', target)
    local x, t, back = class_rows('cross_entropy', input, target)
    local l
    if opts.weight ~= nil or opts.ignore_index ~= nil then
      l = nll_weighted('cross_entropy', x:log_softmax(2), t, class_weight('cross_entropy', opts.weight, x),
                       opts.ignore_index, r, ls)
    else
      l = nl._wrap(lib.nl_cross_entropy(x.ptr, t.ptr, 1, reductions[r], ls))
    end
    if back and r == 'none' then l = l:reshape(back) end
    return l
  end

  function F.nll_loss(input, target, opts, ...)
    nl._no_extra_args('nll_loss', '(input, target, opts)', OPTS_HINT, ...)
    local r = reduction_of(opts, 'nll_loss')
    class_target('nll_loss', target)
    opts = opts or {}
    nl._T(input, 'nll_loss')
    local x, t, back = class_rows('nll_loss', input, target)
    local l
    if opts.weight ~= nil or opts.ignore_index ~= nil then
      l = nll_weighted('nll_loss', x, t, class_weight('nll_loss', opts.weight, x), opts.ignore_index, r)
    else
      l = nl._wrap(lib.nl_nll_loss(x.ptr, t.ptr, 1, reductions[r]))
    end
    if back and r == 'none' then l = l:reshape(back) end
    return l
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
  function F.binary_cross_entropy(input, target, opts, ...)
    nl._no_extra_args('binary_cross_entropy', '(input, target, opts)', OPTS_HINT, ...)
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
  function F.binary_cross_entropy_with_logits(input, target, opts, ...)
    nl._no_extra_args('binary_cross_entropy_with_logits', '(input, target, opts)', OPTS_HINT, ...)
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

  -- ---- the losses composed of ops (autograd gives their backward) ----

  -- the tensors ... (names: what each is called in a message) must be
  -- tensors of one shape (PyTorch broadcasts some of these, with a
  -- warning; nnlua asks for one shape, as mse_loss does)
  local function one_shape(op, names, ...)
    local ts = { ... }
    for i = 1, #names do nl._T(ts[i], op) end
    local s = nl._shape_str(ts[1])
    for i = 2, #names do
      if nl._shape_str(ts[i]) ~= s then
        local parts = {}
        for j = 1, #names do parts[j] = names[j] .. ' ' .. nl._shape_str(ts[j]) end
        nl._raise(('%s: expected tensors of one shape, got %s'):format(op, table.concat(parts, ', ')))
      end
    end
  end

  -- |x - y| < beta: 0.5 (x - y)^2 / beta, else |x - y| - 0.5 beta, as
  -- PyTorch's; beta = 0 is the L1 loss (PyTorch's own branch: the square
  -- over 0 would be NaN). The square of the difference is taken where it
  -- is used only, as in huber_loss (an infinite difference would send
  -- back 0 * inf = NaN).
  function F.smooth_l1_loss(input, target, opts, ...)
    nl._no_extra_args('smooth_l1_loss', '(input, target, opts)', OPTS_HINT, ...)
    local op = 'smooth_l1_loss'
    one_shape(op, { 'input', 'target' }, input, target)
    nl._float_only(input, op)
    local r = reduction_of(opts, op)
    local beta = (opts or {}).beta or 1
    local diff = input - target
    -- |x - y| with PyTorch's gradient, -1 for x - y <= -beta and 1 for
    -- x - y >= beta: at beta = 0 a difference of 0 takes -1 (abs's is 0)
    local neg = diff:le(-beta)
    local d = nl.where(neg, -diff, diff)
    if beta == 0 then return reduce(d, r) end
    local near = d:ge(beta):eq(0)                -- a NaN difference takes the square, as PyTorch's
    local dn = nl.where(near, diff, 0)
    -- 0.5 dn (dn / beta), not dn^2 (0.5 / beta): that factor overflows
    -- for a beta under 1.5e-39 in float32 (2.8e-309 in float64), and 0 *
    -- inf made the loss and gradient NaN at a difference of 0 (PyTorch: 0)
    return reduce(nl.where(near, dn * 0.5 * (dn / beta), d - 0.5 * beta), r)
  end

  -- input: log-probabilities; target: probabilities, or their logs with
  -- log_target. Pointwise y (log y - x) with 0 log 0 = 0 (PyTorch's
  -- xlogy), or exp(t) (t - x); 'batchmean' is the sum over input:size(1),
  -- the KL divergence per sample, and 'mean' the mean over elements, as
  -- PyTorch's (which warns that it is not the divergence).
  function F.kl_div(input, target, opts, ...)
    nl._no_extra_args('kl_div', '(input, target, opts)', OPTS_HINT, ...)
    local op = 'kl_div'
    one_shape(op, { 'input', 'target' }, input, target)
    float_operands(op, input, target, true)
    local r = reduction_of(opts, op)
    local l
    if (opts or {}).log_target then
      l = target:exp() * (target - input)
    else
      local zero = target:eq(0)
      -- the log of 1 where y = 0: the log of 0 (-inf) times 0 would be
      -- NaN, in the value and the gradient
      local ylogy = nl.where(zero, 0, target * nl.where(zero, 1, target):log())
      l = ylogy - target * input
    end
    if r == 'batchmean' then
      local s = l:sum()
      return input:dim() > 0 and s / input:size(1) or s
    end
    return reduce(l, r)
  end

  -- max(0, -y (x1 - x2) + margin), y = 1 where x1 should rank higher
  function F.margin_ranking_loss(input1, input2, target, opts, ...)
    nl._no_extra_args('margin_ranking_loss', '(input1, input2, target, opts)', OPTS_HINT, ...)
    local op = 'margin_ranking_loss'
    one_shape(op, { 'input1', 'input2', 'target' }, input1, input2, target)
    nl._float_only(input1, op)
    nl._float_only(input2, op)
    local r = reduction_of(opts, op)
    local margin = (opts or {}).margin or 0
    -- clamp, as PyTorch's clamp_min: a gradient of 1 at exactly 0
    return reduce((-target * (input1 - input2) + margin):clamp(0), r)
  end

  -- x where y = 1, max(0, margin - x) where y = -1, as PyTorch's (which
  -- adds both terms for any other y)
  function F.hinge_embedding_loss(input, target, opts, ...)
    nl._no_extra_args('hinge_embedding_loss', '(input, target, opts)', OPTS_HINT, ...)
    local op = 'hinge_embedding_loss'
    one_shape(op, { 'input', 'target' }, input, target)
    nl._float_only(input, op)
    local r = reduction_of(opts, op)
    local margin = (opts or {}).margin or 1
    local l = nl.where(target:ne(1), (margin - input):clamp(0), 0) + nl.where(target:ne(-1), input, 0)
    return reduce(l, r)
  end

  -- log(1 + exp(z)), z = -y x, as one where of two finite branches: for z
  -- >= 0, z + log(1 + exp(-z)). PyTorch's log1p(exp(z)) is inf past z =
  -- 88 in float32 (and its gradient NaN); this is z there, the loss's
  -- value. Where on z >= 0 rather than relu and abs, whose gradients at 0
  -- are 0 (that would give 0 at z = 0, not 0.5), as in BCE with logits.
  local function softplus(z)
    local nonneg = z:ge(0)
    return nl.where(nonneg, z, 0) + nl.where(nonneg, -z, z):exp():add(1):log()
  end

  function F.soft_margin_loss(input, target, opts, ...)
    nl._no_extra_args('soft_margin_loss', '(input, target, opts)', OPTS_HINT, ...)
    local op = 'soft_margin_loss'
    one_shape(op, { 'input', 'target' }, input, target)
    nl._float_only(input, op)
    local r = reduction_of(opts, op)
    return reduce(softplus(-target * input), r)
  end

  -- cos = <x1, x2> / sqrt((|x1|^2 + e) (|x2|^2 + e)) over the last dim,
  -- e PyTorch's EPSILON, the float 1e-12f (a double 1e-12 put float64
  -- gradients at a zero vector 2e-9 off), inside the root; 1 - cos where y = 1,
  -- max(0, cos - margin) where y = -1, 0 for any other y. Inputs (N, D)
  -- with target (N), or (D) with a 0-dim target.
  function F.cosine_embedding_loss(input1, input2, target, opts, ...)
    nl._no_extra_args('cosine_embedding_loss', '(input1, input2, target, opts)', OPTS_HINT, ...)
    local op = 'cosine_embedding_loss'
    one_shape(op, { 'input1', 'input2' }, input1, input2)
    nl._T(target, op)
    nl._float_only(input1, op)
    nl._float_only(input2, op)
    local r = reduction_of(opts, op)
    local d = input1:dim()
    if not ((d == 2 and target:dim() == 1 and target:size(1) == input1:size(1)) or (d == 1 and target:dim() == 0)) then
      nl._raise(('%s: expected inputs (N, D) with a target (N), or inputs (D) with a 0-dim target, got inputs %s and '
        .. 'target %s'):format(op, nl._shape_str(input1), nl._shape_str(target)))
    end
    local margin = (opts or {}).margin or 0
    local EPS = 9.999999960041972e-13
    local m1 = (input1 * input1):sum(d) + EPS
    local m2 = (input2 * input2):sum(d) + EPS
    local cos = (input1 * input2):sum(d) / (m1 * m2):sqrt()
    local l = nl.where(target:eq(1), 1 - cos, 0) + nl.where(target:eq(-1), (cos - margin):clamp(0), 0)
    return reduce(l, r)
  end

  -- log_input: exp(x) - y x, else x - y log(x + eps); full adds
  -- Stirling's y log y - y + 0.5 log(2 pi y) where y > 1, as PyTorch's.
  -- A target of 0 is kept out of the logs: PyTorch takes them and masks
  -- them after, which makes its target gradient NaN there
  function F.poisson_nll_loss(input, target, opts, ...)
    nl._no_extra_args('poisson_nll_loss', '(input, target, opts)', OPTS_HINT, ...)
    local op = 'poisson_nll_loss'
    one_shape(op, { 'input', 'target' }, input, target)
    float_operands(op, input, target, true)
    local r = reduction_of(opts, op)
    opts = opts or {}
    local l
    if opts.log_input == false then
      l = input - target * (input + (opts.eps or 1e-8)):log()
    else
      l = input:exp() - target * input
    end
    if opts.full then
      local small = target:le(1)
      local y = nl.where(small, 2, target)
      l = l + nl.where(small, 0, y * y:log() - y + (y * (2 * math.pi)):log() * 0.5)
    end
    return reduce(l, r)
  end

  -- 0.5 (log v + (x - y)^2 / v) (+ 0.5 log(2 pi) with full), v the
  -- variance clamped at eps with the gradient of the unclamped one, as
  -- PyTorch's clamp under no_grad gives it. var has the input's shape,
  -- or that shape with its last dim 1 or without it (one variance for
  -- the last dim's values, PyTorch's homoscedastic case).
  function F.gaussian_nll_loss(input, target, var, opts, ...)
    nl._no_extra_args('gaussian_nll_loss', '(input, target, var, opts)', OPTS_HINT, ...)
    local op = 'gaussian_nll_loss'
    one_shape(op, { 'input', 'target' }, input, target)
    nl._T(var, op)
    float_operands(op, input, target, true)
    nl._float_only(var, op)
    local r = reduction_of(opts, op)
    opts = opts or {}
    local xs, vs = input:shape(), var:shape()
    local fits = #vs == #xs
    for i = 1, fits and #xs or 0 do fits = fits and (vs[i] == xs[i] or (i == #xs and vs[i] == 1)) end
    if not fits and #xs > 0 and #vs == #xs - 1 then
      fits = true
      for i = 1, #vs do fits = fits and vs[i] == xs[i] end
      if fits then var = var:unsqueeze(-1) end
    end
    if not fits then
      nl._raise(('%s: var of shape %s must have the input\'s shape %s, or that shape with its last dim 1 or '
        .. 'without it'):format(op, nl._shape_str(var), nl._shape_str(input)))
    end
    if var:numel() > 0 and var:lt(0):sum():item() > 0 then
      nl._raise(op .. ': var has negative entries')
    end
    local eps = opts.eps or 1e-6
    -- var - var:detach() is 0 with var's gradient: the clamped value where
    -- var < eps, and the gradient of the unclamped one
    local v = nl.where(var:lt(eps), (var - var:detach()) + eps, var)
    local d = input - target
    local l = (v:log() + d * d / v) * 0.5
    if opts.full then l = l + 0.5 * math.log(2 * math.pi) end
    return reduce(l, r)
  end

  -- sum over classes i ~= y of max(0, margin - x[y] + x[i])^p / C, times
  -- weight[y], as PyTorch's; input (N, C) with target (N), or (C) with a
  -- 0-dim target (or one of 1). A term at exactly 0 counts for neither
  -- value nor gradient, as PyTorch's z > 0.
  function F.multi_margin_loss(input, target, opts, ...)
    nl._no_extra_args('multi_margin_loss', '(input, target, opts)', OPTS_HINT, ...)
    local op = 'multi_margin_loss'
    nl._T(input, op)
    local r = reduction_of(opts, op)
    if not nl.is_tensor(target) or target:dtype() ~= 'int64' then
      nl._raise(('%s: target must be an int64 tensor of class indices (1-based), got %s'):format(op,
        nl.is_tensor(target) and (target:dtype() .. ' ' .. nl._shape_str(target)) or type(target)))
    end
    local d = input:dim()
    if (d ~= 1 and d ~= 2) or input:dtype() == 'int64' or input:size(d) == 0 then
      nl._raise(('%s: input must be a float tensor (N, C) or (C) of at least one class, got %s %s'):format(op,
        input:dtype(), nl._shape_str(input)))
    end
    local N, C = d == 2 and input:size(1) or 1, input:size(d)
    local fits = (d == 2 and target:dim() == 1 and target:size(1) == N)
      or (d == 1 and target:numel() == 1 and target:dim() <= 1)
    if not fits then
      nl._raise(('%s: target must be a 1-D tensor of %d class indices%s, got %s'):format(op, N,
        d == 1 and ' (or 0-dim)' or '', nl._shape_str(target)))
    end
    opts = opts or {}
    local w = class_weight(op, opts.weight, input:reshape(N, C))
    local p, margin = opts.p or 1, opts.margin or 1
    local x, t = input:reshape(N, C), target:reshape(N)
    if N > 0 then
      local lo, hi = t:min():item(), t:max():item()
      if lo < 1 or hi > C then
        nl._raise(('%s: target class %d out of range for %d classes (targets count from 1)'):format(op,
          lo < 1 and lo or hi, C))
      end
    end
    local pick = nl.arange(1, C + 1):view(1, C):eq(t:view(N, 1))
    local xy = nl.where(pick, x, 0):sum(2, true)
    local z = x - xy + margin
    local h = nl.where(z:gt(0) * pick:eq(0), z, 0)
    if p == 2 then h = h * h end
    local l = h:sum(2) / C
    if w then l = l * nl.where(pick, w:view(1, C), 0):sum(2) end
    if r == 'none' then return l:reshape(target:shape()) end
    return reduce(l, r)
  end

  -- |a - b + eps|_p over the last dim, PyTorch's pairwise_distance; 0 with
  -- a gradient of 0 where every difference is 0, as PyTorch's norm (the
  -- root's gradient there would be NaN). p = inf: the largest |difference|,
  -- Tensor.norm's, whose gradient a tie shares, as PyTorch's
  local function pairwise_distance(a, b, p, eps)
    local dlt = a - b + eps
    if p == math.huge then return dlt:norm(p, -1) end
    local s = p == 2 and (dlt * dlt):sum(-1) or dlt:abs():pow(p):sum(-1)
    if p == 1 then return s end
    local zero = s:eq(0)
    local safe = nl.where(zero, 1, s)
    return nl.where(zero, 0, p == 2 and safe:sqrt() or safe:pow(1 / p))
  end

  -- max(0, margin + d(a, p) - d(a, n)) with d the p-norm distance over the
  -- last dim; swap takes d(p, n) for d(a, n) where it is smaller
  function F.triplet_margin_loss(anchor, positive, negative, opts, ...)
    nl._no_extra_args('triplet_margin_loss', '(anchor, positive, negative, opts)', OPTS_HINT, ...)
    local op = 'triplet_margin_loss'
    one_shape(op, { 'anchor', 'positive', 'negative' }, anchor, positive, negative)
    for _, t in ipairs({ anchor, positive, negative }) do nl._float_only(t, op) end
    local r = reduction_of(opts, op)
    if anchor:dim() == 0 then
      nl._raise(('%s: expected inputs (N, D) or (D), got 0-dim ones'):format(op))
    end
    opts = opts or {}
    local margin, p, eps = opts.margin or 1, opts.p or 2, opts.eps or 1e-6
    local dp = pairwise_distance(anchor, positive, p, eps)
    local dn = pairwise_distance(anchor, negative, p, eps)
    if opts.swap then dn = nl.minimum(dn, pairwise_distance(positive, negative, p, eps)) end
    return reduce((dp - dn + margin):clamp(0), r)
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
      -- (recorded by shape for nn.load and clone, the state dict holding
      -- the values: see Module:structure)
      local ab = {}
      for _, k in ipairs({ 'weight', 'pos_weight' }) do
        local v = self.opts[k]
        if v ~= nil and not nl.is_tensor(v) then
          nl._raise(('%s: %s must be a tensor, got %s'):format(name, k, nl._describe_arg(v)))
        end
        if nl.is_tensor(self.opts[k]) then
          self:register_buffer(k, self.opts[k])
          ab[self.opts[k]] = k
        end
      end
      rawset(self, '_arg_buffers', ab)
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

  loss_module('SmoothL1Loss', 'smooth_l1_loss')
  loss_module('KLDivLoss', 'kl_div')
  loss_module('HingeEmbeddingLoss', 'hinge_embedding_loss')
  loss_module('SoftMarginLoss', 'soft_margin_loss')
  loss_module('PoissonNLLLoss', 'poisson_nll_loss')
  loss_module('MultiMarginLoss', 'multi_margin_loss')
  -- the losses of three tensors, in PyTorch's order: loss_module's class
  -- with a forward that passes the third
  local function loss_module3(name, fname, takes)
    loss_module(name, fname)
    local fn = F[fname]
    local hint = ('give options to the constructor, as nn.%s({reduction = ...})'):format(name)
    nn[name].forward = function(self, a, b, c, ...)
      if select('#', ...) > 0 then
        nl._raise(('%s: takes %s, got %d arguments; %s'):format(name, takes, 3 + select('#', ...), hint))
      end
      return fn(a, b, c, self.opts)
    end
  end
  loss_module3('MarginRankingLoss', 'margin_ranking_loss', '(input1, input2, target)')
  loss_module3('CosineEmbeddingLoss', 'cosine_embedding_loss', '(input1, input2, target)')
  loss_module3('GaussianNLLLoss', 'gaussian_nll_loss', '(input, target, var)')
  loss_module3('TripletMarginLoss', 'triplet_margin_loss', '(anchor, positive, negative)')
end
