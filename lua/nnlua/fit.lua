-- fit.lua: Keras-style training on any module: compile, fit, evaluate,
-- predict. fit shows a progress bar on a terminal and one line per epoch
-- otherwise, and returns the history of losses and metrics per epoch.
return function(nl)
  local nn, optim, data = nl.nn, nl.optim, nl.data
  local Module = nn.Module
  local F = nn.functional
  local lib = nl._lib
  local fd = require('nnlua.fit_data')(nl)
  local ffi = require 'ffi'

  -- Keras's two categorical cross-entropies take probabilities (a model
  -- that ends in softmax), as Keras's do by default: clipped to [1e-7,
  -- 1 - 1e-7] before the log, the one-hot form's rows first divided by
  -- their sums. cross_entropy takes logits, as PyTorch's.
  local EPS = 1e-7
  local function same_shape(a, b)
    if a:dim() ~= b:dim() then return false end
    for i = 1, a:dim() do if a:size(i) ~= b:size(i) then return false end end
    return true
  end
  local function probs_of(op, p)
    nl._T(p, op)
    if p:dim() ~= 2 or p:dtype() == 'int64' then
      nl._raise(('%s: input must be a 2-D float tensor of probabilities (batch, classes), got %s %s'):format(op,
        p:dtype(), nl._shape_str(p)))
    end
    return p
  end
  -- its targets: int64 class indices (N) (fit squeezes Keras's (N, 1));
  -- a bad shape named nll_loss, a loss the user did not choose
  local function sparse_labels(op, p, y)
    if not nl.is_tensor(y) or y:dtype() ~= 'int64' or y:dim() ~= 1 or y:size(1) ~= p:size(1) then
      nl._raise(('%s: target must be int64 class indices (N) or (N, 1) for probabilities %s, got %s'):format(op,
        nl._shape_str(p), nl.is_tensor(y) and (y:dtype() .. ' ' .. nl._shape_str(y)) or nl._describe_arg(y)))
    end
    return y
  end
  local function sparse_categorical_crossentropy(p, y, opts)
    local op = 'sparse_categorical_crossentropy'
    probs_of(op, p)
    return F.nll_loss(p:clamp(EPS, 1 - EPS):log(), sparse_labels(op, p, y), opts)
  end
  -- (each row's loss: the mean is the loss, and fit weighs the rows for
  -- class_weight and sample_weight)
  local function cce_rows(p, y)
    local op = 'categorical_crossentropy'
    probs_of(op, p)
    if not nl.is_tensor(y) or y:dtype() ~= p:dtype() or not same_shape(p, y) then
      nl._raise(('%s: target must be one-hot rows of the input\'s shape %s and dtype %s, got %s'):format(op,
        nl._shape_str(p), p:dtype(), nl.is_tensor(y) and (y:dtype() .. ' ' .. nl._shape_str(y)) or type(y)))
    end
    local q = (p / p:sum(2, true)):clamp(EPS, 1 - EPS)
    return -(y * q:log()):sum(2)
  end
  local function categorical_crossentropy(p, y) return cce_rows(p, y):mean() end
  -- Keras's binary_crossentropy on probabilities: clipped to [1e-7,
  -- 1 - 1e-7] before the logs, as Keras 3's (p = 1 for y = 0 gives
  -- -log(1 - (1 - 1e-7)) in the input's dtype: 16.118 in float64). It was
  -- PyTorch's binary_cross_entropy, which clamps the logs at -100 instead
  -- (100 there); 'bce' and nn.BCELoss keep PyTorch's. Inside the clip the
  -- two agree, so it is binary_cross_entropy of the clipped input (its
  -- checks and reduction; the clip's gradient is 0 outside, as Keras's).
  local function keras_bce(p, y, opts)
    nl._T(p, 'binary_crossentropy')
    nl._float_only(p, 'binary_crossentropy')
    return F.binary_cross_entropy(p:clamp(EPS, 1 - EPS), y, opts)
  end
  local function binary_crossentropy(p, y) return keras_bce(p, y) end
  -- Keras's kl_divergence (kld): probabilities on both sides, each
  -- clipped to [1e-7, 1], y log(y / p) summed over the last dim and
  -- averaged over the rest. PyTorch's kl_div takes log-probabilities and
  -- no clipping, so the name is Keras's function, not kl_div's.
  local function kl_rows(p, y)
    local op = 'kl_divergence'
    nl._T(p, op)
    if not nl.is_tensor(y) or y:dtype() ~= p:dtype() or not same_shape(p, y) or p:dim() == 0
       or p:dtype() == 'int64' then
      nl._raise(('%s: input and target must be float probabilities of one shape and dtype, with a batch dim, got '
        .. '%s %s and %s'):format(op, p:dtype(), nl._shape_str(p),
        nl.is_tensor(y) and (y:dtype() .. ' ' .. nl._shape_str(y)) or type(y)))
    end
    local q = y:clamp(EPS, 1)
    return (q * (q / p:clamp(EPS, 1)):log()):sum(p:dim())
  end
  local function kl_divergence(p, y) return kl_rows(p, y):mean() end
  -- Keras's poisson: p - y log(p + 1e-7) over rates p (not their logs),
  -- averaged: PoissonNLLLoss's log_input = false with Keras's epsilon
  local function poisson(p, y) return F.poisson_nll_loss(p, y, { log_input = false, eps = EPS }) end
  -- the losses of each element (or row) of the named losses, which a mean
  -- makes the loss: fit weighs them for class_weight and sample_weight
  local NONE = { reduction = 'none' }
  local function none_of(f) return function(p, y) return f(p, y, NONE) end end
  local per_element = {
    [F.mse_loss] = none_of(F.mse_loss), [F.l1_loss] = none_of(F.l1_loss), [F.huber_loss] = none_of(F.huber_loss),
    [F.cross_entropy] = none_of(F.cross_entropy), [F.nll_loss] = none_of(F.nll_loss),
    [F.binary_cross_entropy] = none_of(F.binary_cross_entropy), [binary_crossentropy] = none_of(keras_bce),
    [F.binary_cross_entropy_with_logits] = none_of(F.binary_cross_entropy_with_logits),
    [F.multilabel_soft_margin_loss] = none_of(F.multilabel_soft_margin_loss),
    [F.multilabel_margin_loss] = none_of(F.multilabel_margin_loss),
    [sparse_categorical_crossentropy] = none_of(sparse_categorical_crossentropy),
    [categorical_crossentropy] = cce_rows, [kl_divergence] = kl_rows,
    [poisson] = function(p, y) return F.poisson_nll_loss(p, y, { log_input = false, eps = EPS, reduction = 'none' }) end,
  }
  -- (no 'hinge': Keras's is max(0, 1 - y p) over +-1 (or 0/1) targets, a
  -- loss PyTorch has not; HingeEmbeddingLoss is p itself where y = 1)
  local losses = {
    mse = F.mse_loss, mean_squared_error = F.mse_loss,
    l1 = F.l1_loss, mae = F.l1_loss, mean_absolute_error = F.l1_loss,
    huber = F.huber_loss,
    cross_entropy = F.cross_entropy, crossentropy = F.cross_entropy,
    sparse_categorical_crossentropy = sparse_categorical_crossentropy,
    categorical_crossentropy = categorical_crossentropy,
    nll = F.nll_loss,
    bce = F.binary_cross_entropy, binary_crossentropy = binary_crossentropy,
    bce_with_logits = F.binary_cross_entropy_with_logits,
    kl_divergence = kl_divergence, kld = kl_divergence, kullback_leibler_divergence = kl_divergence,
    poisson = poisson,
    multilabel_soft_margin = F.multilabel_soft_margin_loss, multilabel_margin = F.multilabel_margin_loss,
  }
  -- what accuracy compares: class indices (classes), one-hot rows (onehot),
  -- probabilities or logits of 0/1 targets (binary, logits), the signs of
  -- scores against +-1 targets (signs); false: a regression loss, whose
  -- accuracy is by argmaxes or at 0.5 as Keras's; 'distance': a distance
  -- against +-1 targets, which predicts no class (no accuracy); 'labels':
  -- lists of labels ended by 0 (MultiLabelMarginLoss), which no metric reads
  local classification = { [F.cross_entropy] = 'classes', [F.nll_loss] = 'classes',
                           [sparse_categorical_crossentropy] = 'classes', [categorical_crossentropy] = 'onehot',
                           [F.binary_cross_entropy] = 'binary', [binary_crossentropy] = 'binary',
                           [F.binary_cross_entropy_with_logits] = 'logits',
                           [F.multilabel_soft_margin_loss] = 'logits', [F.multilabel_margin_loss] = 'labels' }
  -- a built-in loss module's kind, as its name's; a module not listed is
  -- a custom one, whose reduction compile cannot read (SmoothL1Loss and
  -- the others were, and their 'sum' was averaged over the batches)
  local module_kind = { CrossEntropyLoss = 'classes', NLLLoss = 'classes', BCELoss = 'binary',
                        BCEWithLogitsLoss = 'logits', MSELoss = false, L1Loss = false, HuberLoss = false,
                        SmoothL1Loss = false, KLDivLoss = false, PoissonNLLLoss = false, MultiMarginLoss = 'classes',
                        SoftMarginLoss = 'signs', HingeEmbeddingLoss = 'distance',
                        MultiLabelSoftMarginLoss = 'logits', MultiLabelMarginLoss = 'labels' }
  -- a built-in loss module's functional form: with the module's options
  -- (and class-weight buffers) and reduction 'none', each element's loss
  local module_fn = { MSELoss = F.mse_loss, L1Loss = F.l1_loss, HuberLoss = F.huber_loss,
                      SmoothL1Loss = F.smooth_l1_loss, CrossEntropyLoss = F.cross_entropy, NLLLoss = F.nll_loss,
                      BCELoss = F.binary_cross_entropy, BCEWithLogitsLoss = F.binary_cross_entropy_with_logits,
                      KLDivLoss = F.kl_div, PoissonNLLLoss = F.poisson_nll_loss, MultiMarginLoss = F.multi_margin_loss,
                      SoftMarginLoss = F.soft_margin_loss, HingeEmbeddingLoss = F.hinge_embedding_loss,
                      MultiLabelSoftMarginLoss = F.multilabel_soft_margin_loss,
                      MultiLabelMarginLoss = F.multilabel_margin_loss }
  -- the losses of three tensors: fit calls its loss with (output, target)
  local THREE = { MarginRankingLoss = '(input1, input2, target)', CosineEmbeddingLoss = '(input1, input2, target)',
                  GaussianNLLLoss = '(input, target, var)', TripletMarginLoss = '(anchor, positive, negative)',
                  TripletMarginWithDistanceLoss = '(anchor, positive, negative)' }
  local three_fn = { [F.margin_ranking_loss] = { 'margin_ranking_loss', 'MarginRankingLoss' },
                     [F.cosine_embedding_loss] = { 'cosine_embedding_loss', 'CosineEmbeddingLoss' },
                     [F.gaussian_nll_loss] = { 'gaussian_nll_loss', 'GaussianNLLLoss' },
                     [F.triplet_margin_loss] = { 'triplet_margin_loss', 'TripletMarginLoss' },
                     [F.triplet_margin_with_distance_loss] = { 'triplet_margin_with_distance_loss',
                                                               'TripletMarginWithDistanceLoss' } }
  local function refuse_three(what, name)
    nl._raise(("compile: %s takes three tensors %s, and fit calls its loss with two, (output, target); give a "
      .. "function of the two that splits them, as loss = function(out, y) ... end"):format(what, THREE[name]))
  end
  -- compile's optimizer names are optim.by_name's (a second list here had
  -- to be kept in step with it); the lr a name gets without compile's lr:
  -- Keras's 0.01 for sgd, PyTorch's 0.01 for rprop and asgd (which Keras
  -- has not), Keras's 1e-3 for the others
  local COMPILE_LR = { sgd = 0.01, rprop = 0.01, asgd = 0.01 }
  local OPTIM_NAMES = {}
  for k in pairs(optim.by_name) do OPTIM_NAMES[#OPTIM_NAMES + 1] = k end
  table.sort(OPTIM_NAMES)
  OPTIM_NAMES = table.concat(OPTIM_NAMES, ', ')

  -- the metrics compile knows, Keras's names; top-k is k = 5. Keras's
  -- other names of them (METRIC_ALIAS) compute the same, and the history
  -- records each under the name given, as Keras's does ('acc', 'val_acc')
  local METRICS = { accuracy = 1, mae = 1, mse = 1, mape = 1, msle = 1, binary_accuracy = 1,
                    categorical_accuracy = 1, sparse_categorical_accuracy = 1, top_k_categorical_accuracy = 1,
                    sparse_top_k_categorical_accuracy = 1 }
  local METRIC_ALIAS = { acc = 'accuracy', mean_absolute_error = 'mae', mean_squared_error = 'mse',
                         mean_absolute_percentage_error = 'mape', mean_squared_logarithmic_error = 'msle' }
  local METRIC_NAMES = 'accuracy (acc), mae (mean_absolute_error), mse (mean_squared_error), mape '
                       .. '(mean_absolute_percentage_error), msle (mean_squared_logarithmic_error), binary_accuracy, '
                       .. 'categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy, '
                       .. 'sparse_top_k_categorical_accuracy, precision, recall, auc; or nl.metrics objects '
                       .. 'and functions (y_true, y_pred)'
  local TOP_K = 5

  -- the options each call reads; any other key is an error, not ignored
  local COMPILE_KNOWN = { optimizer = 1, loss = 1, metrics = 1, lr = 1, momentum = 1 }
  local FIT_KNOWN = { epochs = 1, batch_size = 1, validation_data = 1, validation_split = 1, verbose = 1, shuffle = 1,
                      checkpoint = 1, resume = 'flag', on_step = 1, lr_scheduler = 1, early_stopping = 1,
                      callbacks = 1, class_weight = 1, sample_weight = 1, initial_epoch = 1,
                      steps_per_epoch = 1, validation_steps = 1, validation_batch_size = 1, validation_freq = 1 }
  local CHECKPOINT_KNOWN = { path = 1, every = 1 }
  local EARLY_STOPPING_KNOWN = { monitor = 1, mode = 1, patience = 1, min_delta = 1, baseline = 1,
                                 restore_best_weights = 'flag', start_from_epoch = 1 }
  local BATCH_KNOWN = { batch_size = 1 }
  local EVALUATE_KNOWN = { batch_size = 1, verbose = 1, sample_weight = 1, steps = 1 }
  local PREDICT_KNOWN = { batch_size = 1, verbose = 1, steps = 1 }

  -- the key of a tensor's C tensor (two Lua handles of one tensor share it)
  -- (its address as a number, no string made of it: train_on_batch
  -- checks the parameters at each call)
  local function tensor_key(p) return tonumber(ffi.cast('uintptr_t', p.ptr)) end

  -- true when every parameter optimizer o holds is one of the model's (or
  -- of its loss module's, which may learn too); an object without
  -- param_groups is the user's own and cannot be checked
  local function holds_own_params(self, o, loss)
    local groups = rawget(o, 'param_groups')
    if type(groups) ~= 'table' then return true end
    local own = {}
    for _, p in ipairs(self:parameters()) do own[tensor_key(p)] = true end
    if nn.is_module(loss) then
      for _, p in ipairs(loss:parameters()) do own[tensor_key(p)] = true end
    end
    for _, g in ipairs(groups) do
      for _, p in ipairs(type(g) == 'table' and type(g.params) == 'table' and g.params or {}) do
        if not nl.is_tensor(p) or p.ptr == nil or not own[tensor_key(p)] then return false end
      end
    end
    return true
  end
  -- an optimizer built on other tensors (another model's, or this one's
  -- before :double() made new ones) stepped those, and fit trained nothing
  -- with its loss flat
  local function check_own_params(self, op, what, o, loss)
    if not holds_own_params(self, o, loss) then
      nl._raise(('%s: %s\'s parameters are not this model\'s (build it on model:parameters(), after '
                 .. ':double()/:float())'):format(op, what))
    end
  end

  -- model:compile{optimizer=, loss=, metrics=, lr=, momentum=}: lr and
  -- momentum (sgd and rmsprop) go to an optimizer given by name
  function Module:compile(opts)
    opts = nl._opts('compile', opts)
    nl._check_opts('compile', opts, COMPILE_KNOWN)
    local o = opts.optimizer or 'adam'
    local named = type(o) == 'string'
    if named then
      local name = o:lower()
      local make = optim.by_name[name]
      if not make then nl._raise(("compile: unknown optimizer '%s' (%s)"):format(o, OPTIM_NAMES)) end
      if opts.momentum ~= nil and name ~= 'sgd' and name ~= 'rmsprop' then
        nl._raise(("compile: momentum applies to sgd and rmsprop, not '%s'"):format(o))
      end
      o = make(self:parameters(), { lr = opts.lr or COMPILE_LR[name] or 1e-3, momentum = opts.momentum })
    elseif type(o) ~= 'table' or type(o.step) ~= 'function' then
      nl._raise('compile: optimizer must be a name or an optimizer object')
    elseif opts.lr ~= nil or opts.momentum ~= nil then
      nl._raise('compile: lr and momentum apply to an optimizer given by name; set them on the optimizer object')
    end
    if not named then check_own_params(self, 'compile', 'the optimizer', o, opts.loss) end
    local l = opts.loss or 'mse'
    -- none: each element's (or row's) loss, which reduce ('mean', 'sum' or
    -- 'batchmean') makes the loss: fit's class_weight and sample_weight
    -- weigh them; rows: none gives one loss a row where the targets have
    -- one a label (MultiLabelSoftMarginLoss), which class weights cannot weigh
    local lossfn, kind, divisor, summed, none, reduce, rows
    if type(l) == 'string' then
      lossfn = losses[l:lower()]
      if not lossfn then nl._raise("compile: unknown loss '" .. l .. "'") end
      kind = classification[lossfn] or false
      none, reduce, rows = per_element[lossfn], 'mean', lossfn == F.multilabel_soft_margin_loss
    elseif type(l) == 'function' then
      local f3 = three_fn[l]
      if f3 then refuse_three('nn.functional.' .. f3[1], f3[2]) end
      lossfn = l
    elseif nn.is_module(l) then
      if THREE[l.__name] then refuse_three('nn.' .. l.__name, l.__name) end
      lossfn = function(p, t) return l(p, t) end
      -- a loss module's kind comes from its class (the closure above has
      -- none, and accuracy was then taken as thresholds at 0.5)
      kind = module_kind[l.__name]
      local lo = kind ~= nil and rawget(l, 'opts') or {}
      -- 'sum' adds the batches' sums; every other reduction is a mean
      -- over elements or rows (KLDivLoss's batchmean: the rows), which
      -- the epoch weighs by each batch's rows
      summed = lo.reduction == 'sum'
      if lo.reduction == 'none' then
        nl._raise("compile: a loss module with reduction = 'none' gives no single loss to train on")
      end
      local mf = kind ~= nil and module_fn[l.__name]
      if mf then
        none = function(p, t)
          local o = {}
          for k, v in pairs(lo) do o[k] = v end
          for _, k in ipairs({ 'weight', 'pos_weight' }) do
            if l._buffers[k] then o[k] = rawget(l, k) end
          end
          o.reduction = 'none'
          return mf(p, t, o)
        end
        reduce, rows = lo.reduction or 'mean', l.__name == 'MultiLabelSoftMarginLoss'
      end
      -- cross-entropy and NLL with weights or an ignored class divide their
      -- mean by the summed weights of the elements they keep, not by the
      -- elements: the epoch's loss weighs each batch by that divisor
      -- (elements would make the loss depend on the batch size, and a
      -- batch of ignored ones NaN), and accuracy leaves ignored elements
      -- out. (MultiMarginLoss's weight is inside each row's loss, and its
      -- mean is over the rows.)
      local weighted = l.__name == 'CrossEntropyLoss' or l.__name == 'NLLLoss'
      if weighted and (lo.weight ~= nil or lo.ignore_index ~= nil) then
        local w, ignore = lo.weight, lo.ignore_index
        divisor = function(yb)
          -- class probabilities: their mean is over the samples, weights
          -- or not (the weights were looked up at the probabilities)
          if yb:dtype() ~= 'int64' then
            local n = yb:dim() > 1 and yb:numel() / yb:size(2) or yb:numel()
            return n, n, nil
          end
          local keep = ignore and yb:ne(ignore) or nil
          local n = keep and keep:sum():item() or yb:numel()
          local d = n
          if w ~= nil and n > 0 then
            -- (N, d1, ...) targets flattened: index_select takes a 1-D
            -- index (a 2-D one was an error)
            local flat, kf = yb:reshape(-1), keep and keep:reshape(-1)
            local wy = w:index_select(1, kf and nl.where(kf, flat, 1) or flat)
            d = (kf and nl.where(kf, wy, 0) or wy):sum():item()
          end
          return d, n, keep
        end
      end
    else nl._raise('compile: loss must be a name, a function or a loss module') end
    local metrics, listed = {}, {}
    local ms = opts.metrics or {}
    -- (one metric not in a list: a name, a function or an object)
    if type(ms) == 'string' or type(ms) == 'function' or (type(ms) == 'table' and getmetatable(ms) ~= nil) then
      ms = { ms }
    end
    if type(ms) ~= 'table' then nl._argerror('compile', 'metrics as a list of names', ms) end
    if not nl._list_len(ms) then
      nl._raise("compile: metrics must be a list of names, such as {'accuracy', 'mae'}, got a table with keys")
    end
    local lname = type(l) == 'string' and ("'" .. l .. "'") or nn.is_module(l) and ('nn.' .. tostring(l.__name))
                  or 'a loss function'
    local metric_of, metric_obj, fns = {}, {}, 0
    for _, m in ipairs(ms) do
      -- Keras's metric objects, 'precision', 'recall', 'auc' and functions
      -- (nl.metrics, metrics.lua): the history's name is the object's
      local obj
      if type(m) ~= 'string' or m == 'precision' or m == 'recall' or m == 'auc' then
        if type(m) == 'function' then fns = fns + 1 end
        obj = nl.metrics._of(m, fns)
        if not obj then
          nl._raise(("compile: metrics must be names, nl.metrics objects or functions (y_true, y_pred), got %s")
                    :format(nl._describe_arg(m)))
        end
        nl.metrics._check_loss(obj, kind, lname)
        m = obj.name
      end
      local name = METRIC_ALIAS[m] or m
      -- (an object named as a built-in metric would meet that one's checks below)
      if obj and (listed[name] or METRICS[name]) then
        nl._raise(("compile: %s '%s'; give nl.metrics.%s another name (name = ...)"):format(listed[name] and
          'two metrics are named' or 'a built-in metric is named', m, obj.class_name))
      elseif not obj and not METRICS[name] then
        nl._raise(("compile: unknown metric '%s' (%s)"):format(tostring(m), METRIC_NAMES))
      end
      if listed[name] then
        nl._raise(("compile: metric '%s' is listed twice%s"):format(name, listed[name] ~= m and
          (" (as '%s' and '%s')"):format(listed[name], m) or ''))
      end
      listed[name] = m
      if kind == 'labels' then
        nl._raise(("compile: metric '%s' with %s: its targets are lists of labels ended by 0, which no metric "
          .. 'reads'):format(name, lname))
      end
      if (name == 'mae' or name == 'mse' or name == 'mape' or name == 'msle') and kind == 'classes' then
        nl._raise(("compile: metric '%s' compares outputs with targets of their shape, not with a class loss's "
          .. "class indices; use 'accuracy'"):format(m))
      end
      if name == 'sparse_categorical_accuracy' and kind ~= 'classes' then
        nl._raise(("compile: metric 'sparse_categorical_accuracy' takes class indices, the targets of a class loss: "
          .. 'cross_entropy, nll, sparse_categorical_crossentropy by name, or nn.CrossEntropyLoss, nn.NLLLoss, '
          .. 'nn.MultiMarginLoss; got %s'):format(lname))
      end
      if name == 'accuracy' and type(l) ~= 'string' and kind == nil then
        nl._raise("compile: metric 'accuracy' with a loss function or a custom loss module cannot tell classes "
          .. 'from probabilities; give the loss by name (cross_entropy, nll, bce, bce_with_logits) or as '
          .. 'nn.CrossEntropyLoss, nn.NLLLoss, nn.BCELoss or nn.BCEWithLogitsLoss')
      end
      if (name == 'accuracy' or name == 'binary_accuracy') and kind == 'distance' then
        nl._raise(("compile: metric '%s' with %s: its input is a distance against +-1 targets, not a prediction of "
          .. 'them'):format(name, lname))
      end
      -- Keras's binary_accuracy thresholds at 0.5 whatever the loss: on
      -- logits or class scores, or against +-1 targets, it counts nonsense
      if name == 'binary_accuracy' and (kind == 'classes' or kind == 'logits' or kind == 'signs') then
        nl._raise(("compile: metric 'binary_accuracy' thresholds probabilities at 0.5 against 0/1 targets of their "
          .. "shape; %s %s: use 'accuracy'"):format(lname, kind == 'classes' and 'takes class scores and indices'
          or kind == 'logits' and 'takes logits' or 'takes scores against +-1 targets'))
      end
      if (name == 'top_k_categorical_accuracy' or name == 'categorical_accuracy')
         and (kind == 'binary' or kind == 'logits' or kind == 'signs' or kind == 'distance') then
        nl._raise(("compile: metric '%s' ranks class scores against one-hot rows; %s "
          .. 'takes 0/1 or +-1 targets'):format(name, lname))
      end
      -- the class indices' count is the loss's (ignored ones left out)
      if name == 'sparse_top_k_categorical_accuracy' and kind ~= 'classes' then
        nl._raise(("compile: metric 'sparse_top_k_categorical_accuracy' takes class indices, the targets of a "
          .. 'class loss: cross_entropy, nll, sparse_categorical_crossentropy by name, or nn.CrossEntropyLoss, '
          .. 'nn.NLLLoss, nn.MultiMarginLoss; got %s'):format(lname))
      end
      metrics[#metrics + 1] = m
      metric_of[m], metric_obj[m] = name, obj
    end
    -- model.optimizer, as Keras's, to build a scheduler on (fit steps it);
    -- a field the model holds of its own under that name is left alone
    local before, prev = rawget(self, 'optimizer'), rawget(self, '_compiled')
    if before == nil or (prev and before == prev.optimizer) then rawset(self, 'optimizer', o) end
    rawset(self, '_compiled', { optimizer = o, named = named, loss_module = nn.is_module(l) and l or nil,
                                loss = lossfn, kind = kind or nil, metrics = metrics, metric_of = metric_of,
                                metric_obj = metric_obj, detach = next(metric_obj) ~= nil,
                                divisor = divisor, summed = summed, none = none, reduce = reduce, rows = rows,
                                loss_name = lname, loss_spec = type(l) == 'string' and l or nil })
    return self
  end

  local function compiled(self, op)
    local c = rawget(self, '_compiled')
    if not c then nl._raise(op .. ': call model:compile{...} first') end
    return c
  end

  -- Keras's class labels (N, d1, ..., 1) of outputs (N, C, d1, ...): the
  -- trailing 1 squeezed, as Keras's sparse losses do, where the loss takes
  -- class indices; the loss and accuracy read (N, d1, ...)
  local function squeeze_labels(c, pred, yb)
    if c.kind == 'classes' and nl.is_tensor(pred) and nl.is_tensor(yb) and yb:dtype() == 'int64'
       and yb:dim() >= 2 and yb:dim() == pred:dim() and yb:size(yb:dim()) == 1 then
      return yb:squeeze(yb:dim())
    end
    return yb
  end

  -- (N, C, d1, ...) as (N d1 ..., C), the class dim moved last, as the
  -- class losses take it; (N, C) as it is
  local function class_rows(t)
    if t:dim() <= 2 then return t end
    local perm = { 1 }
    for i = 3, t:dim() do perm[#perm + 1] = i end
    perm[#perm + 1] = 2
    return t:permute(perm):reshape(-1, t:size(2))
  end

  -- 1 for each row of scores (M, C) whose class cls (M) is among its k
  -- best: fewer than k scores above it, ties counted in, as Keras's
  -- in_top_k; a NaN score of the class ranks below every other
  local function in_top_k(scores, cls)
    local s = scores:gather(2, cls:reshape(-1, 1))
    s = nl.where(s:ne(s), -math.huge, s)
    return scores:gt(s):sum(2):lt(TOP_K)
  end

  local function metric_error(op, name, msg, pred, y)
    nl._raise(("%s: metric '%s' %s, got outputs %s and targets %s %s"):format(op, name, msg,
      nl._shape_str(pred), y:dtype(), nl._shape_str(y)))
  end

  -- a metric's sum over a batch. accuracy and sparse top-k under a class
  -- loss count the elements they hit (over the elements batch_weight
  -- counts, the ignored ones left out); every other metric sums its
  -- rows' means (over the rows). As Keras picks accuracy's form: class
  -- indices against the argmax over the class dim (2) of each element;
  -- rows of more than one column, one-hot or not, by their argmaxes (a
  -- regression loss on one-hot rows too); one column or 0/1 targets by a
  -- threshold, 0.5 on probabilities and 0 on logits; +-1 targets by the
  -- sign. Elements whose class is ignored (keep false) count for neither side.
  -- (shown: the name the user gave, name: the metric's, as METRICS)
  local function metric_sum(op, name, kind, pred, y, keep, shown)
    local rows = pred:size(1)
    local per_row = math.max(1, pred:numel() / rows)
    -- (of one shape: outputs (N, 1) against targets (N) broadcast to
    -- (N, N), and a custom loss that squeezed its input got a metric N
    -- times too large)
    if (name == 'mae' or name == 'mse' or name == 'mape' or name == 'msle') and not same_shape(pred, y) then
      metric_error(op, shown, 'compares outputs with targets of their shape', pred, y)
    end
    if name == 'mae' then return (pred - y):abs():sum():item() / per_row end
    if name == 'mse' then
      local d = pred - y
      return (d * d):sum():item() / per_row
    end
    -- Keras's: 100 |y - p| / max(|y|, 1e-7); (log(max(p, 1e-7) + 1) -
    -- log(max(y, 1e-7) + 1))^2
    if name == 'mape' then return ((y - pred):abs() / y:abs():clamp(EPS, math.huge)):sum():item() * 100 / per_row end
    if name == 'msle' then
      local d = (pred:clamp(EPS, math.huge) + 1):log() - (y:clamp(EPS, math.huge) + 1):log()
      return (d * d):sum():item() / per_row
    end
    if name == 'binary_accuracy' then      -- Keras's: p > 0.5 equal to y, whatever y holds
      if not same_shape(pred, y) then metric_error(op, shown, 'compares outputs with targets of their shape', pred, y) end
      return pred:gt(0.5):eq(y):float():sum():item() / per_row
    end
    local probs = y:dtype() ~= 'int64' and same_shape(pred, y) and pred:dim() >= 2
    -- Keras's: the argmaxes of the outputs and of one-hot (or probability)
    -- targets of their shape, over the class dim (nnlua's 2, Keras's last)
    if name == 'categorical_accuracy' then
      if not probs then
        metric_error(op, shown, 'compares the argmaxes of outputs (N, C, ...) and of one-hot or probability targets of '
          .. "their shape (for class indices: 'sparse_categorical_accuracy')", pred, y)
      end
      local P = class_rows(pred)
      return P:argmax(2):eq(class_rows(y):argmax(2)):sum():item() * rows / P:size(1)
    end
    if name == 'top_k_categorical_accuracy' then
      if not probs then
        metric_error(op, name, 'ranks class scores (N, C, ...) against one-hot or probability rows of their '
          .. "shape (for class indices: 'sparse_top_k_categorical_accuracy')", pred, y)
      end
      local P = class_rows(pred)
      return in_top_k(P, class_rows(y):argmax(2)):sum():item() * rows / P:size(1)
    end
    if name == 'sparse_top_k_categorical_accuracy' then
      if y:dtype() ~= 'int64' then
        metric_error(op, name, "takes int64 class indices (for class probabilities: 'top_k_categorical_accuracy')",
                     pred, y)
      end
      local t = keep and nl.where(keep, y, 1) or y
      local hit = in_top_k(class_rows(pred), t:reshape(-1))
      if keep then hit = hit * keep:reshape(-1) end
      return hit:sum():item()
    end
    -- class probabilities (cross_entropy's float targets) by their argmaxes,
    -- as one-hot rows: compared with the probabilities, the argmaxes failed
    -- to broadcast, or broadcast (N) against (N, N) and counted nonsense
    if kind == 'classes' and probs then
      return pred:argmax(2):eq(y:argmax(2)):sum():item()
    end
    if kind == 'classes' then
      -- (targets (N, 1) against argmaxes (N) broadcast to (N, N))
      local fits = y:dim() == pred:dim() - 1 and y:dim() >= 1 and y:size(1) == pred:size(1)
      for i = 2, fits and y:dim() or 0 do
        if y:size(i) ~= pred:size(i + 1) then fits = false end
      end
      if not fits then
        metric_error(op, shown, 'compares class indices (N, d1, ...) with the argmaxes of outputs (N, C, d1, ...)',
                     pred, y)
      end
      -- (in one C pass, without the argmax, eq and sum tensors, where
      -- nothing is left out and the class dim is not empty, whose argmax
      -- error is argmax's)
      if not keep and pred:size(2) > 0 and y:dtype() == 'int64' then
        local n = lib.nl_argmax_hits(nl._T(pred, op), nl._T(y, op), 1)
        if n < 0 then nl._raise(ffi.string(lib.nl_error())) end
        return tonumber(n)
      end
      local hit = pred:argmax(2):eq(y)
      if keep then hit = hit * keep end
      return hit:sum():item()
    end
    if (kind == 'onehot' or kind == nil) and pred:dim() == 2 and pred:size(2) > 1 and same_shape(pred, y) then
      return pred:argmax(2):eq(y:argmax(2)):sum():item()
    end
    if kind == 'signs' then return pred:gt(0):eq(y:gt(0)):float():sum():item() / per_row end
    -- (the hits counted, as Keras's: a float32 mean of a batch of 3, times
    -- 3, gave 0.50000000745 for 2 of 4, and equal accuracies of two epochs
    -- differed, which early stopping and checkpoints took as a change)
    local thr = kind == 'logits' and 0 or 0.5
    return pred:gt(thr):eq(y):float():sum():item() / per_row
  end

  -- a batch's share of the epoch: the loss's divisor (its rows, or the
  -- summed class weights of the elements kept) and the elements accuracy
  -- counts (a class loss's targets: (N, d1, ...) class indices, or
  -- probabilities (N, C, d1, ...); the rows were counted, and the hits
  -- of every element over them gave an accuracy of d1 ... times the
  -- right one); keep marks the elements of a class not ignored
  local function batch_weight(c, yb, len)
    if c.divisor then return c.divisor(yb) end
    if c.kind == 'classes' then
      local n = (yb:dtype() == 'int64' or yb:dim() < 2) and yb:numel() or yb:numel() / yb:size(2)
      return n, n, nil
    end
    return len, len, nil
  end

  -- the running sums of an epoch or an evaluation: rows seen, the loss
  -- times each batch's divisor, the divisors, the elements (or rows)
  -- accuracy counts, and the metrics' sums
  local function tally_new() return { seen = 0, loss_sum = 0, wsum = 0, vsum = 0, metrics = {} } end
  local function tally_add(op, c, t, pred, yb, lv)
    -- (a model of several outputs, a table of them, trains and evaluates
    -- with a loss function that reads them; a metric reads one tensor)
    local metrics = c.metrics
    if metrics[1] and not nl.is_tensor(pred) then
      nl._raise(("%s: metric '%s' reads the model's output as one tensor, got %s; with several outputs, compute "
                 .. 'it in a callback'):format(op, metrics[1], nl._describe_arg(pred)))
    end
    local len = yb:size(1)
    local d, v, keep = batch_weight(c, yb, len)
    -- every metric first, then t changed: a metric that raises leaves t as
    -- it was (train_on_batch's running tally goes on after a failed call);
    -- ms in the order of c.metrics, no table without metrics (a loop over
    -- pairs here kept each step out of LuaJIT's traces)
    local n = #metrics
    local ms = n > 0 and {} or nil
    for i = 1, n do
      local m = metrics[i]
      -- (an nl.metrics object's counts: a list, which its _add extends)
      local obj = c.metric_obj and c.metric_obj[m]
      if obj then ms[i] = obj:_add(t.metrics[m] or obj:_state(), yb, pred, nil, op)
      else ms[i] = (t.metrics[m] or 0) + metric_sum(op, c.metric_of[m], c.kind, pred, yb, keep, m) end
    end
    t.seen = t.seen + len
    if c.summed then t.loss_sum = t.loss_sum + lv
    elseif d > 0 then t.loss_sum = t.loss_sum + lv * d end   -- a batch of ignored elements: NaN times 0
    t.wsum, t.vsum = t.wsum + d, t.vsum + v
    for i = 1, n do t.metrics[metrics[i]] = ms[i] end
  end
  -- the epoch's loss: the whole set's, as one batch would give it
  local function tally_loss(c, t) return c.summed and t.loss_sum or t.loss_sum / t.wsum end
  -- (accuracy counts in vsum, which is the rows where the loss is not a
  -- class loss; sparse top-k has a class loss)
  local COUNTED = { accuracy = true, sparse_categorical_accuracy = true, sparse_top_k_categorical_accuracy = true }
  local function tally_metric(c, t, m)
    local obj = c.metric_obj and c.metric_obj[m]
    if obj then return obj:_value(t.metrics[m] or obj:_state()) end
    return t.metrics[m] / (COUNTED[c.metric_of[m]] and t.vsum or t.seen)
  end

  local function check_xy(op, X, y)
    nl._T(X, op)
    nl._T(y, op)
    if X:dim() == 0 or y:dim() == 0 or X:size(1) ~= y:size(1) then
      nl._raise(('%s: X and y must have the same number of samples, got shapes %s and %s'):format(op,
        nl._shape_str(X), nl._shape_str(y)))
    end
    if X:size(1) == 0 then nl._raise(('%s: X has no samples (shape %s)'):format(op, nl._shape_str(X))) end
  end

  -- every module's training flag, to put back after eval-mode passes
  local function save_modes(self)
    local modes = {}
    for _, m in ipairs(self:modules()) do modes[m] = m.training end
    return modes
  end
  local function restore_modes(modes)
    for m, mode in pairs(modes) do rawset(m, 'training', mode) end
  end

  -- fn() in eval mode without the tape; every module's mode is put back
  -- whether or not fn raises (an error in predict left the model in eval
  -- mode, and a later training loop ran without dropout, on running stats)
  local function in_eval(self, fn)
    local modes = save_modes(self)
    self:eval()
    local ok, err = pcall(nl.no_grad, fn)
    restore_modes(modes)
    if not ok then error(err, 0) end
  end

  -- steps as evaluate and predict take it: nil (every batch) or a
  -- positive whole number, the first that many batches
  local function steps_of(op, v)
    if v ~= nil and not (type(v) == 'number' and v >= 1 and v == math.floor(v) and v < 2^53) then
      nl._raise(('%s: steps must be a positive whole number of batches, got %s'):format(op, nl._describe_arg(v)))
    end
    return v
  end

  -- verbose as Keras takes it: 0, 1, 2, a boolean, or 'auto', Keras's
  -- default, which is 1 (interactive use); nil is default
  local function verbose_of(op, v, default)
    if v == nil then v = default end
    if v == 'auto' or v == true then return 1 end
    if v == false then return 0 end
    if v ~= 0 and v ~= 1 and v ~= 2 then nl._argerror(op, "verbose as 0, 1, 2, 'auto' or a boolean", v) end
    return v
  end

  local function fmt_time(s)
    if s >= 3600 then return ('%dh%02dm'):format(math.floor(s / 3600), math.floor(s % 3600 / 60)) end
    if s >= 60 then return ('%dm%02ds'):format(math.floor(s / 60), math.floor(s % 60)) end
    return ('%ds'):format(math.floor(s + 0.5))
  end

  -- the batches of (X, y) in order, views of batch_size rows (and of
  -- W's, sample weights, where given)
  local function tensor_batches(X, y, batch_size, W)
    local n, start = X:size(1), 1
    return function()
      if start > n then return nil end
      local len = math.min(batch_size, n - start + 1)
      local xb, yb = X:narrow(1, start, len), y:narrow(1, start, len)
      local wb = W and W:narrow(1, start, len)
      start = start + len
      return xb, yb, wb
    end
  end

  -- one batch of an evaluation (inside in_eval), run_eval's and
  -- test_on_batch's: its loss and metrics tallied into t
  local function eval_step(op, self, c, t, xb, yb, wb, weighted)
    local pred = self(xb)
    yb = squeeze_labels(c, pred, yb)
    local loss = weighted and weighted(pred, yb, wb) or c.loss(pred, yb)
    tally_add(op, c, t, pred, yb, loss:item())
  end

  -- one pass over the batches that batches() gives, without training:
  -- mean loss and metrics. weighted(pred, y, w): the loss of a batch
  -- with evaluate's sample_weight (its third value); otherwise a third
  -- value of a loader's batches is not applied (validation is not
  -- weighted). The metrics are not weighted, as Keras's metrics (not
  -- weighted_metrics). verbose > 0 prints a line at the end.
  local function run_eval(op, self, c, batches, weighted, verbose, steps)
    local t, b = tally_new(), 0
    local t0 = nl.time()
    in_eval(self, function()
      for xb, yb, wb in batches() do
        if b == steps then break end
        b = b + 1
        fd.check_batch(op, b, xb, yb)
        eval_step(op, self, c, t, xb, yb, wb, weighted)
      end
    end)
    if b == 0 then nl._raise(op .. ': the data gave no batches') end
    local out = {}
    for _, m in ipairs(c.metrics) do out[m] = tally_metric(c, t, m) end
    if (verbose or 0) > 0 then
      local line = { ('%s %d/%d - loss %.4f'):format(op, b, b, tally_loss(c, t)) }
      for _, m in ipairs(c.metrics) do line[#line + 1] = ('%s %.4f'):format(m, out[m]) end
      line[#line + 1] = fmt_time(nl.time() - t0)
      print(table.concat(line, ' - '))
    end
    return tally_loss(c, t), out
  end

  -- generator state <-> JSON-safe strings (64-bit values exceed doubles)
  local function u64_string(v) return tostring(ffi.cast('uint64_t', v)):gsub('ULL$', '') end
  local function u64_parse(str)
    local v = ffi.new('uint64_t', 0)
    for d in tostring(str):gmatch('%d') do v = v * 10 + tonumber(d) end
    return v
  end
  local function rng_save(g) return { seed = u64_string(g.seed), offset = u64_string(g.offset) } end
  local function rng_restore(g, st) g.seed, g.offset = u64_parse(st.seed), u64_parse(st.offset) end
  -- g's state and, as its field data, those of gens (a loader's own
  -- generators; none: the checkpoints of before); and back
  local function rng_save_all(g, gens)
    local st = rng_save(g)
    if #gens > 0 then
      st.data = {}
      for i, d in ipairs(gens) do st.data[i] = rng_save(d) end
    end
    return st
  end
  local function rng_restore_all(g, gens, st)
    rng_restore(g, st)
    for i, d in ipairs(gens) do rng_restore(d, st.data[i]) end
  end

  -- whether a checkpoint is there to resume from: access(), not
  -- io.open, whose open of a FIFO waits for a writer forever (nn.load
  -- then refuses what is not a regular file, and names what it cannot
  -- read, where a failed io.open trained from the start over it)
  pcall(ffi.cdef, 'int access(const char *path, int mode);')
  local function file_exists(path) return ffi.C.access(path, 0) == 0 end

  -- The compiled optimizer must hold the model's parameters as they are
  -- now: :double() or :float() after compile makes new tensors, and fit
  -- stepped the old ones, training nothing. One compile built by name and
  -- that has not stepped is rebound to them, as Keras builds its optimizer
  -- at the first step (the same object, so that model.optimizer and a
  -- scheduler built on it stay the one fit steps); one that has stepped
  -- has state for the old tensors, and one the user built is the user's
  -- to rebuild.
  local function own_optimizer(self, c, op)
    op = op or 'fit'
    local o = c.optimizer
    if holds_own_params(self, o, c.loss_module) then return end
    if not c.named then check_own_params(self, op, "the compiled optimizer", o, c.loss_module) end
    if next(o.state) ~= nil then
      nl._raise(op .. ": the model's parameters are not those the compiled optimizer has stepped (:double() or "
                .. ':float() after training makes new tensors, and pop or a new layer changes them); compile again')
    end
    -- (a new one checks them as compile's did; its lr is not used)
    o.param_groups[1].params = o.new(self:parameters(), { lr = 0 }).param_groups[1].params
  end

  -- lr_scheduler: stepped at each epoch's end, so it must be an object
  -- with step, built on the compiled optimizer (one built on another
  -- optimizer set lrs that training never read); one whose step takes the
  -- monitored value says so with takes_metric = true
  local function check_scheduler(c, s, ckpt)
    if type(s) ~= 'table' or type(s.step) ~= 'function' then
      nl._argerror('fit', 'lr_scheduler as a scheduler object, such as optim.StepLR(model.optimizer, {...})', s)
    end
    if s.optimizer ~= nil and s.optimizer ~= c.optimizer then
      nl._raise("fit: lr_scheduler is built on an optimizer other than the model's; build it on model.optimizer")
    end
    if s.takes_metric ~= nil and type(s.takes_metric) ~= 'boolean' then
      nl._argerror('fit', 'lr_scheduler.takes_metric as a boolean', s.takes_metric)
    end
    if ckpt and (type(s.state_dict) ~= 'function' or type(s.load_state_dict) ~= 'function') then
      nl._raise('fit: lr_scheduler needs state_dict and load_state_dict methods to be saved in checkpoints')
    end
  end

  -- (below 2^53: the checkpoint's record of the options prints it whole)
  local function whole(v) return type(v) == 'number' and v >= 0 and v == math.floor(v) and v < 2^53 end

  -- early_stopping's options with keras.callbacks.EarlyStopping's
  -- defaults, checked before training, and its state. history: the lists
  -- this fit keeps, which monitor must name (Keras warns each epoch about
  -- a missing one and never stops: val_loss without validation data)
  -- monitor against the values this fit records (history's lists, but
  -- epoch and lr), or an error naming op and the option (field: its
  -- prefix, 'early_stopping.' for fit's option)
  local function check_monitor(op, field, monitor, history)
    if type(monitor) ~= 'string' or monitor == 'epoch' or monitor == 'lr' or monitor == 'val_epoch'
       or history[monitor] == nil then
      local names = {}
      for k in pairs(history) do if k ~= 'epoch' and k ~= 'lr' and k ~= 'val_epoch' then names[#names + 1] = k end end
      table.sort(names)
      local no_val = type(monitor) == 'string' and monitor:match('^val_') and not history.val_loss
      nl._raise(("%s: %smonitor must name a value this fit records (%s), got %s%s"):format(op, field,
        table.concat(names, ', '), nl._describe_arg(monitor),
        no_val and ' (validation values need validation_data or validation_split)' or ''))
    end
  end
  -- auto: where monitor names a compiled nl.metrics object (with val_ or
  -- not), that object's direction, as Keras's (a Precision named 'prec'
  -- grows as it improves: it was minimized by its name); else by the
  -- name: the accuracies, precision, recall and AUC grow (Keras 2's names
  -- that end in acc or accuracy, and Keras's metric objects' by their
  -- names, numbered or not: 'val_auc', 'auc_1'), the losses, mae and mse
  -- shrink. compiled: the model's compile state, or nil
  local function auto_mode(monitor, compiled)
    local objs = compiled and compiled.metric_obj
    local obj = objs and (objs[monitor] or objs[monitor:match('^val_(.+)$') or false])
    if obj and obj.direction then return obj.direction == 'up' and 'max' or 'min' end
    local base = monitor:gsub('_%d+$', '')
    for _, up in ipairs({ 'accuracy', 'acc', 'precision', 'recall', 'auc' }) do
      if base:sub(-#up) == up then return 'max' end
    end
    return 'min'
  end

  -- who names the caller in messages: fit's option, or the EarlyStopping
  -- callback (whose monitor is checked once fit gives it its values:
  -- history nil here)
  local ES_OPTION = { op = 'fit', field = 'early_stopping.', opts = 'fit (early_stopping)',
                      what = 'early_stopping as a table of options {monitor =, patience =, ...}',
                      known = EARLY_STOPPING_KNOWN }
  local function early_stopping_of(es, history, who, compiled)
    who = who or ES_OPTION
    -- (the value as given: argerror says only 'got string')
    local function bad(what, v)
      nl._raise(('%s: expected %s%s, got %s'):format(who.op, who.field, what, nl._describe_arg(v)))
    end
    if type(es) ~= 'table' or getmetatable(es) ~= nil then
      nl._raise(('%s: expected %s, got %s'):format(who.op, who.what, nl._describe_arg(es)))
    end
    nl._check_opts(who.opts, es, who.known)
    local monitor = es.monitor == nil and 'val_loss' or es.monitor
    if history then check_monitor(who.op, who.field, monitor, history)
    elseif type(monitor) ~= 'string' then bad('monitor as a name', monitor) end
    local mode = es.mode == nil and 'auto' or es.mode
    if mode ~= 'min' and mode ~= 'max' and mode ~= 'auto' then
      bad("mode as 'min', 'max' or 'auto'", mode)
    end
    if mode == 'auto' then mode = auto_mode(monitor, compiled) end
    local patience, start = es.patience or 0, es.start_from_epoch or 0
    if not whole(patience) then bad('patience as a whole number >= 0', patience) end
    if not whole(start) then
      bad('start_from_epoch as a whole number >= 0', start)
    end
    -- (Keras takes a negative min_delta as its absolute value: refused
    -- here rather than read as another number)
    local delta = es.min_delta or 0
    if type(delta) ~= 'number' or not (delta >= 0 and delta < math.huge) then
      bad('min_delta as a finite number >= 0', delta)
    end
    local baseline = es.baseline
    if baseline ~= nil and (type(baseline) ~= 'number' or baseline ~= baseline) then
      bad('baseline as a number', baseline)
    end
    local st = { monitor = monitor, mode = mode, patience = patience, min_delta = delta, baseline = baseline,
                 restore = es.restore_best_weights == true, start = start,
                 wait = 0, best = mode == 'min' and math.huge or -math.huge, best_epoch = 0, stopped_epoch = 0 }
    -- what a checkpoint's state was kept under: a resume compares it
    st.key = ("monitor = '%s', mode = '%s', patience = %d, min_delta = %.17g, baseline = %s, "
              .. 'restore_best_weights = %s, start_from_epoch = %d'):format(monitor, mode, patience, delta,
              baseline and ('%.17g'):format(baseline) or 'nil', tostring(st.restore), start)
    return st
  end

  -- Keras's test: better than ref by more than min_delta (a NaN never is)
  local function es_better(es, v, ref)
    if es.mode == 'min' then return v + es.min_delta < ref end
    return v - es.min_delta > ref
  end

  -- copies of the parameters and buffers (BatchNorm's running statistics
  -- too, as Keras's get_weights has its non-trainable variables)
  local function snapshot(self)
    local out = {}
    nl.no_grad(function()
      for name, t in pairs(self:state_dict()) do out[name] = t:clone() end
    end)
    return out
  end

  -- EarlyStopping.on_epoch_end of Keras 3, epochs counted from 1: an epoch
  -- up to start_from_epoch is not looked at; each epoch adds one to wait,
  -- an improvement sets it back to 0 (where it also beats baseline, if
  -- given); fit stops once wait reaches patience, never after the first
  -- epoch. The best weights are first taken at the first epoch looked at.
  local function es_epoch_end(self, es, value, epoch)
    if epoch <= es.start then return end
    local better = es_better(es, value, es.best)
    if es.restore and (better or not es.best_weights) then
      if not es.best_weights then es.best_epoch = epoch end
      es.best_weights = snapshot(self)
    end
    es.wait = es.wait + 1
    if better then
      es.best, es.best_epoch = value, epoch
      if es.baseline == nil or es_better(es, value, es.baseline) then es.wait = 0 end
      return
    end
    if es.wait >= es.patience and epoch > 1 then es.stopped_epoch = epoch end
  end

  -- ---- callbacks ----
  -- the methods fit calls on a callback, with what each takes after self;
  -- on_batch_begin and on_batch_end are Keras's other names for the
  -- train_batch ones (called where those are not given)
  local HOOKS = { on_train_begin = 'logs', on_train_end = 'logs', on_epoch_begin = 'epoch, logs',
                  on_epoch_end = 'epoch, logs', on_train_batch_begin = 'batch, logs',
                  on_train_batch_end = 'batch, logs', on_batch_begin = 'batch, logs', on_batch_end = 'batch, logs' }
  local HOOK_LIST = 'on_train_begin, on_train_end, on_epoch_begin, on_epoch_end, on_train_batch_begin, '
                    .. 'on_train_batch_end'
  local ALIAS = { on_train_batch_begin = 'on_batch_begin', on_train_batch_end = 'on_batch_end' }

  -- the callbacks option as a list, checked before training: a hook that
  -- is not a function, or a plain table's misspelled one (on_epoch_ends,
  -- which fit would never call), is an error naming it
  local function check_callbacks(cbs)
    if cbs == nil then return {} end
    local n = nl._list_len(cbs)
    if type(cbs) ~= 'table' or getmetatable(cbs) ~= nil or not n then
      nl._argerror('fit', 'callbacks as a list of callback objects', cbs)
    end
    local out = {}
    for i = 1, n do
      local cb = cbs[i]
      if type(cb) ~= 'table' then
        nl._raise(('fit: callback %d must be a table with any of the methods %s, got %s'):format(i, HOOK_LIST,
          nl._describe_arg(cb)))
      end
      for h, takes in pairs(HOOKS) do
        local f = cb[h]
        if f ~= nil and type(f) ~= 'function' then
          nl._raise(('fit: callback %d: %s must be a function (self, %s), got %s'):format(i, h, takes,
            nl._describe_arg(f)))
        end
      end
      if getmetatable(cb) == nil then
        local bad = {}
        for k in pairs(cb) do
          if type(k) == 'string' and k:match('^on_') and not HOOKS[k] then bad[#bad + 1] = k end
        end
        table.sort(bad)
        if #bad > 0 then
          nl._raise(('fit: callback %d has %s, which fit never calls (it calls %s)'):format(i,
            table.concat(bad, ', '), HOOK_LIST))
        end
      end
      local sd, lsd = cb.state_dict, cb.load_state_dict
      if (sd ~= nil or lsd ~= nil) and (type(sd) ~= 'function' or type(lsd) ~= 'function') then
        nl._raise(('fit: callback %d needs both state_dict and load_state_dict methods to be checkpointed, or '
                   .. 'neither'):format(i))
      end
      out[i] = cb
    end
    return out
  end

  -- hook(...) on each callback that has it, in the list's order
  local function call_hook(cbs, hook, ...)
    local alias = ALIAS[hook]
    for _, cb in ipairs(cbs) do
      local f = cb[hook]
      if f == nil and alias then f = cb[alias] end
      if f then f(cb, ...) end
    end
  end
  local function has_hook(cbs, hook)
    for _, cb in ipairs(cbs) do
      if cb[hook] or (ALIAS[hook] and cb[ALIAS[hook]]) then return true end
    end
    return false
  end
  -- the callbacks whose state a checkpoint keeps, as 'i:Name' in order
  local function stateful(cbs)
    local out = {}
    for i, cb in ipairs(cbs) do
      if cb.state_dict then out[#out + 1] = ('%d:%s'):format(i, type(cb.__name) == 'string' and cb.__name or 'callback') end
    end
    return out
  end

  -- ---- class_weight and sample_weight ----
  local CLASS_LOSSES = 'cross_entropy, nll, sparse_categorical_crossentropy, categorical_crossentropy, bce, '
                       .. 'bce_with_logits, or nn.CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, '
                       .. 'MultiMarginLoss'
  -- the loss fit can weigh: one of each element or row (c.none), without
  -- weights of its own that divide the mean
  local function check_weighable(c, what, op)
    op = op or 'fit'
    if c.divisor then
      nl._raise(('%s: %s with %s, which has its own class weight or ignore_index: give the weights one way'):format(
        op, what, c.loss_name))
    end
    if not c.none then
      nl._raise(('%s: %s needs a loss given by name or a built-in loss module, whose loss of each sample %s '
                 .. 'weighs; %s gives one value a batch'):format(op, what, op, c.loss_name))
    end
  end
  -- class_weight: class -> weight, classes as the targets hold them
  -- (1-based class indices, so a list {w1, w2, ...} weighs classes 1, 2, ...;
  -- 0 and 1 for binary targets)
  local function check_class_weight(c, cw, op)
    op = op or 'fit'
    if type(cw) ~= 'table' or getmetatable(cw) ~= nil then
      nl._argerror(op, 'class_weight as a table of class -> weight', cw)
    end
    for k, v in pairs(cw) do
      if type(k) ~= 'number' or k % 1 ~= 0 or k < 0 or k > 2^31 then
        nl._raise(('%s: class_weight keys must be classes as the targets hold them (whole numbers >= 0), got %s')
                  :format(op, nl._describe_arg(k)))
      end
      if type(v) ~= 'number' or v ~= v or math.abs(v) == math.huge then
        nl._raise(('%s: class_weight[%d] must be a finite number, got %s'):format(op, k, nl._describe_arg(v)))
      end
    end
    local k = c.kind
    if not (k == 'classes' or k == 'onehot' or k == 'binary' or k == 'logits') or c.rows then
      nl._raise(('%s: class_weight weighs the classes of a classification loss (%s); %s has none%s'):format(
        op, CLASS_LOSSES, c.loss_name, c.rows and ' that each sample\'s loss can weigh' or ''))
    end
    check_weighable(c, 'class_weight', op)
  end
  -- each training element's weight: class_weight at its class (the
  -- targets' class index; a row of probabilities or one-hot targets, its
  -- argmax; 0/1 targets, rounded, as Keras's), 1 for a class not listed
  local function class_weights_of(c, cw, y, op)
    return nl.no_grad(function()
      local cls
      if c.kind == 'classes' and y:dtype() == 'int64' then cls = y
      elseif c.kind == 'classes' or c.kind == 'onehot' then cls = y:argmax(2)
      else cls = y:gt(0.5):to('int64') end
      if cls:numel() == 0 then return nl.ones(cls:shape(), 'float64') end
      local lo, hi = cls:min():item(), cls:max():item()
      if lo < 0 then nl._raise(('%s: class_weight: the targets hold the class %d'):format(op or 'fit', lo)) end
      local w = {}
      for k = 0, hi do w[k + 1] = cw[k] or 1 end
      return nl.tensor(w, 'float64'):index_select(1, (cls + 1):reshape(-1)):reshape(cls:shape())
    end)
  end
  -- the batch's loss with each element's loss weighed by wb (one weight a
  -- sample, or one an element of the targets), reduced as the loss is:
  -- Keras's sum over the batch size, sum(w l) / n, for a mean
  local function weighted_loss(c, pred, yb, wb, op)
    local L = c.none(pred, yb)
    if wb:dtype() ~= L:dtype() then wb = wb:to(L:dtype()) end
    -- (class_weight's weights of labels (N, 1), which fit squeezed)
    if wb:dim() == L:dim() + 1 and wb:size(wb:dim()) == 1 then wb = wb:squeeze(wb:dim()) end
    if wb:dim() == 1 and L:dim() > 1 then
      local shape = { L:size(1) }
      for i = 2, L:dim() do shape[i] = 1 end
      wb = wb:reshape(shape)
    end
    local fits = wb:dim() == L:dim()
    for i = 1, fits and L:dim() or 0 do
      if wb:size(i) ~= L:size(i) and (i == 1 or wb:size(i) ~= 1) then fits = false end
    end
    if not fits then
      nl._raise(('%s: weights of shape %s do not fit the losses of each sample, of shape %s'):format(
        op or 'fit', nl._shape_str(wb), nl._shape_str(L)))
    end
    local sum = (L * wb):sum()
    if c.reduce == 'sum' then return sum end
    if c.reduce == 'batchmean' then return sum / L:size(1) end
    return sum / math.max(L:numel(), 1)
  end

  -- an optimizer whose step re-evaluates the loss (needs_closure:
  -- LBFGS) steps with a closure; under DataParallel each rank would
  -- read its own share's loss in its line search and tolerance tests,
  -- and the ranks would step apart (or one wait on the others' gradients)
  local function check_closure_ranks(op, self, c)
    local dist = nl._dist_world()
    if c.optimizer.needs_closure == true and dist and self._data_parallel then
      nl._raise(("%s: %s steps with a closure that reads each rank's own loss, which DataParallel does not "
                 .. 'average: the %d ranks would step apart; train it on one process'):format(op,
                 tostring(c.optimizer.name or 'the optimizer'), dist.size()))
    end
  end

  -- the step of an optimizer that re-evaluates the loss (LBFGS): the
  -- closure a PyTorch user writes, zero_grad, the batch's loss again,
  -- backward, the loss; its first call takes train_step's forward
  local function closure_step(op, self, c, loss, xb, yb, wb)
    local first = loss
    c.optimizer:step(function()
      local l = first
      if l then first = nil
      else
        local p = self(xb)
        l = wb and weighted_loss(c, p, yb, wb, op) or c.loss(p, yb)
      end
      c.optimizer:zero_grad()
      l:backward()
      return l
    end)
  end

  -- one training step, fit's and train_on_batch's: the batch's loss (each
  -- sample's weighed by wb, where given), tallied into t before the step
  -- (of the same outputs: a metric that cannot read the targets fails
  -- before the weights change), then zero_grad, backward and the compiled
  -- optimizer's step. An optimizer with needs_closure = true steps with
  -- the closure a PyTorch user writes: zero_grad, the batch's loss again,
  -- backward, the loss; its first call takes the forward here (whose loss
  -- is the step's, what LBFGS's step returns). Returns the loss.
  -- (the tally without the tape, as nl.no_grad runs a function, with no
  -- closure made each step: one kept train_step and fit's loop out of
  -- LuaJIT's traces, which compile no closure creation)
  local function train_step(op, self, c, t, xb, yb, wb)
    local pred = self(xb)
    yb = squeeze_labels(c, pred, yb)
    local loss = wb and weighted_loss(c, pred, yb, wb, op) or c.loss(pred, yb)
    local lv = loss:item()
    local prev = lib.nl_set_grad_enabled(0)
    -- (the outputs detached for the metric objects, which alone read them
    -- as user code might; the built-in metrics record nothing with the
    -- tape off, and a detach was a tensor more a step)
    local ok, err = pcall(tally_add, op, c, t, c.detach and nl.is_tensor(pred) and pred:detach() or pred, yb, lv)
    lib.nl_set_grad_enabled(prev)
    if not ok then error(err, 0) end
    if c.optimizer.needs_closure == true then closure_step(op, self, c, loss, xb, yb, wb)
    else
      c.optimizer:zero_grad()
      loss:backward()
      c.optimizer:step()
    end
    return lv
  end

  -- validation_freq, Keras's: validate every n-th epoch (an int n >= 1),
  -- or in the epochs listed (1-based, as fit counts them); a function
  -- epoch -> whether to validate
  local function validation_freq_of(f, val)
    if not val then nl._raise('fit: validation_freq needs validation_data or validation_split') end
    if whole(f) and f >= 1 then return function(epoch) return epoch % f == 0 end end
    local n = nl._list_len(f)
    if type(f) == 'table' and getmetatable(f) == nil and n then
      local set = {}
      for j = 1, n do
        if not (whole(f[j]) and f[j] >= 1) then
          nl._raise(('fit: validation_freq entry %d must be an epoch number (a whole number >= 1, epochs counted '
                     .. 'from 1), got %s'):format(j, nl._describe_arg(f[j])))
        end
        set[f[j]] = true
      end
      return function(epoch) return set[epoch] == true end
    end
    nl._raise('fit: validation_freq must be a whole number of epochs >= 1 or a list of epoch numbers (from 1), got '
              .. nl._describe_arg(f))
  end

  -- model:fit(X, y, {epochs, batch_size, validation_data = {Xv, yv} or
  -- validation_split = f, verbose, shuffle, checkpoint = {path =, every = steps},
  -- resume = true, on_step = fn, lr_scheduler = sched, early_stopping = {...}})
  -- validation_split holds out the last fraction f of the rows (before any
  -- shuffling) as validation data, as Keras does: the first floor(n (1 - f))
  -- rows train.
  -- checkpoint saves the model, the optimizer, the generators and the
  -- progress every `every` steps (default: each epoch's end); resume picks
  -- a checkpoint up where it was written, so a killed run goes on as if it
  -- had not stopped. on_step(epoch, step, loss) runs after each step.
  -- An optimizer with needs_closure = true (optim.LBFGS) steps as
  -- opt:step(closure), the closure recomputing the batch's loss, zeroing
  -- the gradients and backpropagating; the loss of a step is its first
  -- evaluation's.
  -- At each epoch's end, after validation: history.lr records the lr the
  -- epoch trained at (the first param group's), lr_scheduler steps (with
  -- val_loss, or the loss without validation, where it takes_metric),
  -- then early_stopping looks at its monitor; both are in the checkpoints.
  -- callbacks = {cb, ...} (Keras's; epochs and batches counted from 1, as
  -- the history and on_step count them), class_weight = {[class] = w},
  -- sample_weight = tensor (N), initial_epoch = k (epochs k + 1 to epochs
  -- run). The callbacks' on_epoch_end comes after early_stopping, and a
  -- callback that sets model.stop_training = true ends fit after the
  -- batch or epoch it did so in.
  -- X may also be a data.DataLoader, fit(loader, {options}): its batches
  -- (x, y, or x, y, sample_weight, as Keras's fit(dataset)) as it makes
  -- them, #loader steps an epoch; its batch_size and shuffle are its own,
  -- so fit's are refused, as is validation_split. Or a dataset (what
  -- DataLoader takes), fit(ds, {options}), batched as tensors are (fit's
  -- batch_size, shuffle and validation_split apply). validation_data may
  -- be a loader or a dataset too. steps_per_epoch = k: epochs of k
  -- batches from one stream of passes over the data; validation_steps = k:
  -- validation on the first k batches (of validation_batch_size rows).
  -- validation_freq = n or {epochs}: validation every n-th epoch or in
  -- those (history.val_epoch lists them; the val_ lists hold theirs alone).
  function Module:fit(X, y, opts)
    local c = compiled(self, 'fit')
    own_optimizer(self, c)
    local kind = fd.kind('fit', X)
    local what = kind == 'loader' and 'DataLoader' or 'dataset'
    if kind == 'tensors' then check_xy('fit', X, y)
    else opts = fd.options('fit', what, y, opts) end
    opts = nl._opts('fit', opts)
    nl._check_opts('fit', opts, FIT_KNOWN)
    if kind == 'loader' then
      -- (a loader makes its batches: fit's options would be ignored)
      for _, k in ipairs({ 'batch_size', 'shuffle', 'validation_split', 'sample_weight' }) do
        if opts[k] ~= nil then
          nl._raise(('fit: %s is not taken with a DataLoader, which makes the batches: %s'):format(k,
            k == 'batch_size' and 'give it to the loader, data.DataLoader(ds, {batch_size = ...})'
            or k == 'shuffle' and 'give it to the loader, data.DataLoader(ds, {shuffle = true})'
            or k == 'validation_split' and 'give validation_data (a loader, a dataset or {X, y}); data.random_split '
                                          .. 'or data.Subset split a dataset'
            or 'give each batch the weights as a third value, x, y, w (a TensorDataset(X, y, w))'))
        end
      end
      if fd.len(X) == 0 then nl._raise('fit: the DataLoader has no batches') end
    elseif kind == 'dataset' then
      fd.rows('fit', X)
      if opts.sample_weight ~= nil then
        nl._raise('fit: sample_weight is not taken with a dataset: give each sample the weight as a third value, '
                  .. 'x, y, w (a TensorDataset(X, y, w))')
      end
    end
    local epochs = opts.epochs or 1
    local bs = opts.batch_size or (kind == 'loader' and (fd.field(X, 'batch_size') or 1)) or 32
    if type(epochs) ~= 'number' or epochs ~= math.floor(epochs) or epochs < 0 or epochs > 2^31 then
      nl._raise('fit: epochs must be a non-negative integer, got ' .. tostring(epochs))
    end
    if type(bs) ~= 'number' or bs ~= math.floor(bs) or bs < 1 or bs > 2^40 then
      nl._raise('fit: batch_size must be a positive integer, got ' .. tostring(bs))
    end
    -- 0 silent, 1 a progress bar on a terminal and a line per epoch, 2 the lines alone (as Keras)
    local verbose = verbose_of('fit', opts.verbose, 1)
    if opts.shuffle ~= nil and type(opts.shuffle) ~= 'boolean' then
      nl._argerror('fit', 'shuffle as a boolean', opts.shuffle)
    end
    if opts.on_step ~= nil and type(opts.on_step) ~= 'function' then
      nl._argerror('fit', 'on_step as a function (epoch, step, loss)', opts.on_step)
    end
    local sched = opts.lr_scheduler
    if sched ~= nil then check_scheduler(c, sched, opts.checkpoint) end
    local initial = opts.initial_epoch or 0
    if not whole(initial) or initial > 2^31 then
      nl._raise('fit: initial_epoch must be a non-negative integer, got ' .. tostring(opts.initial_epoch))
    end
    local cbs = check_callbacks(opts.callbacks)
    local cw, W = opts.class_weight, opts.sample_weight
    if cw ~= nil and W ~= nil then
      nl._raise('fit: give class_weight or sample_weight, not both (as Keras)')
    end
    if cw ~= nil then check_class_weight(c, cw) end
    if W ~= nil then
      if not nl.is_tensor(W) then nl._argerror('fit', 'sample_weight as a tensor of one weight per sample', W) end
      nl._T(W, 'fit')
      if W:dim() ~= 1 or W:size(1) ~= X:size(1) then
        nl._raise(('fit: sample_weight must hold one weight per sample, shape [%d], got %s'):format(X:size(1),
          nl._shape_str(W)))
      end
      check_weighable(c, 'sample_weight')
      W = W:detach()
    end
    -- the validation data: {Xv, yv}, a loader, or a dataset (batched as
    -- the pair is); vloader: the loader validation batches come from
    local val, vloader = opts.validation_data, nil
    -- validation batches of tensors or a dataset: validation_batch_size
    -- rows, batch_size's by default (tf.keras 2's; validation_steps
    -- counts them; it was max(batch_size, 256))
    local vbs = opts.validation_batch_size or bs
    if type(vbs) ~= 'number' or vbs ~= math.floor(vbs) or vbs < 1 or vbs > 2^40 then
      nl._raise('fit: validation_batch_size must be a positive integer, got ' .. nl._describe_arg(vbs))
    end
    if val ~= nil and not nl.is_tensor(val) and not (type(val) == 'table' and getmetatable(val) == nil
                                                     and nl.is_tensor(val[1])) then
      local vkind = fd.kind('fit (validation_data)', val)
      if vkind == 'loader' then
        if fd.len(val) == 0 then nl._raise('fit: the validation_data DataLoader has no batches') end
        if opts.validation_batch_size ~= nil then
          nl._raise('fit: validation_batch_size is not taken with a validation_data DataLoader, which makes the '
                    .. 'batches: give it to the loader')
        end
        vloader = val
      else
        fd.rows('fit (validation_data)', val)
        vloader = data.DataLoader(val, { batch_size = vbs })
      end
    elseif val ~= nil then
      if type(val) ~= 'table' then nl._argerror('fit', 'validation_data as {X, y}, a DataLoader or a dataset', val) end
      local count = 0
      for _ in pairs(val) do count = count + 1 end
      if count ~= 2 or val[1] == nil or val[2] == nil then
        nl._raise(('fit: validation_data must be {X, y}, got a table of %d entries (sample weights are not '
                   .. 'supported)'):format(count))
      end
      check_xy('fit (validation_data)', val[1], val[2])
    end
    local split = opts.validation_split
    if split ~= nil then
      if val then nl._raise('fit: give validation_data or validation_split, not both') end
      if type(split) ~= 'number' or not (split >= 0 and split < 1) then
        nl._argerror('fit', 'validation_split as a fraction in [0, 1)', split)
      end
      local n = kind == 'tensors' and X:size(1) or #X
      local at = math.floor(n * (1 - split))
      if split > 0 then
        if at == 0 or at == n then
          nl._raise(('fit: %d samples cannot be split into training and validation rows by validation_split=%g')
                    :format(n, split))
        end
        if kind == 'tensors' then
          val = { X:narrow(1, at + 1, n - at), y:narrow(1, at + 1, n - at) }
          X, y = X:narrow(1, 1, at), y:narrow(1, 1, at)
          if W then W = W:narrow(1, 1, at) end
        else
          -- a dataset's last rows, as the tensors' (Keras refuses a
          -- dataset; nnlua's are indexed)
          vloader = data.DataLoader(data.Subset(X, nl.arange(at + 1, n + 1, 1, 'int64')), { batch_size = vbs })
          val = vloader
          X = data.Subset(X, nl.arange(1, at + 1, 1, 'int64'))
        end
      end
    end
    -- steps_per_epoch: an epoch is that many batches, taken from one
    -- stream of passes over the data (each pass in a new order), as
    -- Keras's epochs of a repeated dataset; validation_steps: validation
    -- on the first that many batches of the validation data
    local spe, vsteps = opts.steps_per_epoch, opts.validation_steps
    for _, k in ipairs({ 'steps_per_epoch', 'validation_steps' }) do
      if opts[k] ~= nil and not (whole(opts[k]) and opts[k] >= 1) then
        nl._raise(('fit: %s must be a positive whole number of batches, got %s'):format(k, nl._describe_arg(opts[k])))
      end
    end
    if vsteps and not val then
      nl._raise('fit: validation_steps needs validation_data or validation_split')
    end
    local vfreq = opts.validation_freq ~= nil and validation_freq_of(opts.validation_freq, val) or nil
    if spe and opts.checkpoint ~= nil then
      nl._raise('fit: checkpoint is not taken with steps_per_epoch (a resume cannot find its place in the '
                .. 'stream of batches)')
    end
    local ckpt = opts.checkpoint
    if ckpt ~= nil and (type(ckpt) ~= 'table' or type(ckpt.path) ~= 'string') then
      nl._raise('fit: checkpoint must be a table {path = ..., every = steps}')
    end
    if ckpt then
      nl._check_opts('fit (checkpoint)', ckpt, CHECKPOINT_KNOWN)
      local e = ckpt.every
      if e ~= nil and not (type(e) == 'number' and e >= 1 and e % 1 == 0 and e < math.huge) then
        nl._raise('fit: checkpoint.every must be a positive whole number of steps, got ' .. tostring(e))
      end
    end
    -- under nl.dist with more than one rank, rank 0 alone prints and writes
    -- checkpoints, and a DataParallel model trains on its rank's share of
    -- each epoch: sampler epoch epoch_base + epoch, epoch_base drawn on rank 0
    local dist = nl._dist_world()
    check_closure_ranks('fit', self, c)
    if dist and dist.rank() ~= 0 then verbose = 0 end
    local sampler, epoch_base, world = nil, 0, 1
    if dist and self._data_parallel then
      -- (the ranks' shares of a loader's batches are the loader's to deal)
      if kind == 'loader' then
        nl._raise('fit: a DataLoader is not taken under DataParallel on several ranks: give the dataset or X and '
                  .. 'y, which fit deals out to the ranks')
      end
      epoch_base = dist.broadcast(nl.tensor({ math.floor(nl.rand(1, 'float64'):item() * 2^31) }, 'int64')):item()
      sampler = data.DistributedSampler(kind == 'tensors' and X:size(1) or #X, { shuffle = opts.shuffle ~= false })
      world = dist.size()
    end
    local loader
    if kind == 'loader' then loader = X
    else
      local ds = X
      if kind == 'tensors' then
        -- the training rows' weights go through the batches beside them
        if cw ~= nil then W = class_weights_of(c, cw, y) end
        ds = W and data.TensorDataset(X, y, W) or data.TensorDataset(X, y)
      end
      loader = data.DataLoader(ds, { batch_size = bs, sampler = sampler,
                                     shuffle = not sampler and opts.shuffle ~= false })
    end
    -- a loader's or a dataset's batches get class_weight's weights as
    -- they come
    local batch_cw = kind ~= 'tensors' and cw or nil
    -- nl's generator shuffles the batches (unless a loader has a seed of
    -- its own) and drives dropout; data_gens: the generators of the
    -- loaders' own (a seed's), kept with it in the checkpoints; a loader's
    -- samplers that take set_epoch get each epoch's number
    local gen = nl._generator
    local data_gens = fd.generators({ loader, vloader })
    local epoch_samplers = kind == 'loader' and fd.epoch_samplers(loader) or {}
    -- (nb nil: a stream of unknown length, an epoch its whole pass, as
    -- Keras's epochs of a dataset of unknown cardinality)
    local nb, weighable = spe or fd.len(loader), false
    -- (steps_per_epoch) the stream's passes: each sets the samplers'
    -- epoch, as an epoch does without it
    local pass, stream = 0, nil
    local function stream_batches()
      local n = 0
      return function()
        if n == spe then return nil end
        local xb, yb, wb
        if stream then xb, yb, wb = stream() end
        if xb == nil then
          pass = pass + 1
          if sampler then sampler:set_epoch(epoch_base + pass) end
          for _, s in ipairs(epoch_samplers) do s:set_epoch(pass) end
          stream = loader:iter()
          xb, yb, wb = stream()
          if xb == nil then return nil end
        end
        n = n + 1
        return xb, yb, wb
      end
    end
    local tty = verbose == 1 and lib.nl_isatty(1) ~= 0
    local history = { loss = {}, epoch = {} }
    if val then history.val_loss = {} end
    if vfreq then history.val_epoch = {} end
    for _, m in ipairs(c.metrics) do
      history[m] = {}
      if val then history['val_' .. m] = {} end
    end
    -- (and where a callback changes the lr: records_lr)
    local lr_cb = false
    for _, cb in ipairs(cbs) do if cb.records_lr == true then lr_cb = true end end
    if sched or lr_cb then history.lr = {} end
    local es = opts.early_stopping ~= nil and early_stopping_of(opts.early_stopping, history, nil, c) or nil
    -- the callbacks get the model and fit's params (Keras's epochs, steps
    -- and verbose; initial_epoch; metrics: the keys of the epoch's logs),
    -- and check their options against them, before training
    local keys = {}
    for k in pairs(history) do if k ~= 'epoch' and k ~= 'val_epoch' then keys[#keys + 1] = k end end
    table.sort(keys)
    local params = { epochs = epochs, steps = nb, verbose = verbose, initial_epoch = initial, metrics = keys }
    rawset(self, 'stop_training', false)
    for _, cb in ipairs(cbs) do
      if type(cb.set_model) == 'function' then cb:set_model(self) end
      if type(cb.set_params) == 'function' then cb:set_params(params) end
    end
    local batch_begin, batch_end = has_hook(cbs, 'on_train_batch_begin'), has_hook(cbs, 'on_train_batch_end')

    -- where to start: from the beginning, or from a checkpoint
    local start_epoch, start_step, resumed = initial + 1, 0, nil
    if opts.resume then
      if not ckpt then nl._raise('fit: resume needs checkpoint = {path = ...}') end
      if file_exists(ckpt.path) then
        -- read, not loaded: a resume refused below leaves the model, the
        -- optimizer and the lr_scheduler as they were (nn.load put the
        -- checkpoint's weights in the model before any check)
        local weights, extras = nn._read_checkpoint(ckpt.path)
        local st = extras.extra
        if type(st) ~= 'table' or not st.fit then
          nl._raise('fit: ' .. ckpt.path .. ' is not a checkpoint written by fit')
        end
        -- a history of other metrics or validation would have holes: refused
        -- before training (an epoch trained, then fit failed on a nil)
        local function keys(h)
          local ks = {}
          for k in pairs(type(h) == 'table' and h or {}) do ks[#ks + 1] = tostring(k) end
          table.sort(ks)
          return table.concat(ks, ', ')
        end
        if keys(st.history) ~= keys(history) then
          nl._raise(('fit: %s was written with the history {%s}, and this fit keeps {%s}; resume with the '
                     .. 'same metrics, validation and lr_scheduler'):format(ckpt.path, keys(st.history), keys(history)))
        end
        -- a schedule or an early stop of another kind would go on from a
        -- state that is not its own
        local sname = sched and type(sched.name) == 'string' and sched.name or nil
        local ss = st.lr_scheduler
        if sched and (type(ss) ~= 'table' or ss.name ~= sname) then
          nl._raise(('fit: %s was written with %s, and this fit gives the lr_scheduler %s; resume with the same '
                     .. 'lr_scheduler'):format(ckpt.path,
                     type(ss) == 'table' and ('the lr_scheduler ' .. tostring(ss.name or 'of no name')) or 'no lr_scheduler',
                     sname or 'of no name'))
        end
        local ses = st.early_stopping
        local was = type(ses) == 'table' and ses.options or nil
        if (es and es.key) ~= was then
          nl._raise(('fit: %s was written with %s, and this fit gives %s; resume with the same early_stopping')
                    :format(ckpt.path, was and ('early_stopping {' .. tostring(was) .. '}') or 'no early_stopping',
                            es and ('early_stopping {' .. es.key .. '}') or 'none'))
        end
        -- a loader's generators of their own: the checkpoint holds
        -- as many states as this fit's loaders have generators
        local had = type(st.rng_epoch) == 'table' and type(st.rng_epoch.data) == 'table' and #st.rng_epoch.data or 0
        if had ~= #data_gens then
          nl._raise(('fit: %s was written by a fit whose data drew from %d generator%s of its own (a loader\'s or a '
                     .. 'sampler\'s seed), and this fit\'s from %d; resume with the same data'):format(ckpt.path, had,
                     had == 1 and '' or 's', #data_gens))
        end
        -- another initial_epoch numbers the history otherwise
        if (st.initial_epoch or 0) ~= initial then
          nl._raise(('fit: %s was written by a fit of initial_epoch = %d, and this fit gives %d'):format(ckpt.path,
            st.initial_epoch or 0, initial))
        end
        local was_cbs = type(st.callbacks) == 'table' and st.callbacks or {}
        local names_was, names_now = {}, stateful(cbs)
        for i, e in ipairs(was_cbs) do names_was[i] = type(e) == 'table' and tostring(e.name) or '?' end
        if table.concat(names_was, ', ') ~= table.concat(names_now, ', ') then
          nl._raise(('fit: %s was written with the callbacks that keep state {%s}, and this fit gives {%s}; resume '
                     .. 'with the same callbacks'):format(ckpt.path, table.concat(names_was, ', '),
                     table.concat(names_now, ', ')))
        end
        if es then
          for _, k in ipairs({ 'wait', 'best', 'best_epoch', 'stopped_epoch' }) do
            if type(ses[k]) ~= 'number' then nl._raise(('fit: %s: malformed early_stopping state (%s)'):format(ckpt.path, k)) end
          end
          if es.restore and ses.best_epoch > 0 and type(ses.best_weights) ~= 'table' then
            nl._raise(('fit: %s: malformed early_stopping state (best_weights)'):format(ckpt.path))
          end
        end
        -- the weights checked against the model (names and shapes); the
        -- states that check themselves whole before they change (the
        -- callbacks', the lr_scheduler's, the optimizer's last), those
        -- loaded before put back as they were if one refuses; and only
        -- then the weights copied in
        -- (a model's load_state_dict of its own is called as nn.load called it, unchecked before)
        local own_load = self.load_state_dict ~= nn.Module.load_state_dict
                         and self.load_state_dict ~= nn.DataParallel.load_state_dict
        local load_weights = own_load and function() self:load_state_dict(weights) end
                             or self:_load_plan(weights, true)
        local was = {}
        for _, cb in ipairs(cbs) do if cb.state_dict then was[#was + 1] = { cb, cb:state_dict() } end end
        if sched then was[#was + 1] = { sched, sched:state_dict() } end
        local ok, err = pcall(function()
          local k = 0
          for _, cb in ipairs(cbs) do
            if cb.state_dict then
              k = k + 1
              cb:load_state_dict(was_cbs[k].state)
            end
          end
          if sched then sched:load_state_dict(ss.state) end
          c.optimizer:load_state_dict(extras.optimizer)
        end)
        if not ok then
          for _, e in ipairs(was) do e[1]:load_state_dict(e[2]) end
          error(err, 0)
        end
        load_weights()
        if es then
          for _, k in ipairs({ 'wait', 'best', 'best_epoch', 'stopped_epoch' }) do es[k] = ses[k] end
          es.best_weights = ses.best_weights
        end
        history = st.history
        start_epoch, start_step, resumed = st.epoch, st.step, st
        if st.stopped then rawset(self, 'stop_training', true) end
        epoch_base = st.sampler_epoch_base or epoch_base
      end
      -- under DataParallel every rank must resume from one point: only rank
      -- 0 writes checkpoints, so a path of each rank's own left the others
      -- starting over with their own weights (the run diverged, then hung)
      if dist and self._data_parallel then
        local mine = nl.tensor({ start_epoch, start_step, resumed and 1 or 0, epoch_base }, 'float64')
        local lo, hi = dist.allreduce(mine:clone(), 'min'):totable(), dist.allreduce(mine:clone(), 'max'):totable()
        for i = 1, 4 do
          if lo[i] ~= hi[i] then
            nl._raise(('fit: the ranks resume from different points (rank %d: %s); give every rank the same '
                       .. 'checkpoint path, a file they all read'):format(dist.rank(),
                       resumed and ('epoch %d, step %d of %s'):format(start_epoch, start_step, ckpt.path)
                       or ('no checkpoint at ' .. ckpt.path)))
          end
        end
      end
    end

    -- a tally's sums over every rank's share, divided by div
    local function global_sums(t, div)
      local s = { t.seen, t.loss_sum, t.wsum, t.vsum }
      -- (an nl.metrics object's counts, a list, each entry summed)
      for _, m in ipairs(c.metrics) do
        local v, obj = t.metrics[m], c.metric_obj[m]
        for _, x in ipairs(obj and (v or obj:_state()) or { v or 0 }) do s[#s + 1] = x end
      end
      s = dist.allreduce(nl.tensor(s, 'float64')):div(div):totable()
      local out = { seen = s[1], loss_sum = s[2], wsum = s[3], vsum = s[4], metrics = {} }
      local k = 4
      for _, m in ipairs(c.metrics) do
        local obj = c.metric_obj[m]
        if obj then
          local v = obj:_state()
          for j = 1, #v do v[j] = s[k + j] end
          out.metrics[m], k = v, k + #v
        else out.metrics[m], k = s[k + 1], k + 1 end
      end
      return out
    end

    -- the states of the callbacks that keep one, in the list's order
    local function cb_states()
      local out = {}
      for i, cb in ipairs(cbs) do
        if cb.state_dict then
          out[#out + 1] = { name = ('%d:%s'):format(i, type(cb.__name) == 'string' and cb.__name or 'callback'),
                            state = cb:state_dict() }
        end
      end
      return #out > 0 and out or nil
    end
    local function stopping() return rawget(self, 'stop_training') == true end

    local function save(epoch, step, rng_epoch, sums)
      if sampler and step > 0 then    -- mid-epoch: each rank resumes with an equal part
        sums = global_sums(sums, world)
      end
      if dist and dist.rank() ~= 0 then return end
      self:save(ckpt.path, { optimizer = c.optimizer, extra = {
        sampler_epoch_base = sampler and epoch_base,
        fit = true, epoch = epoch, step = step, history = history,
        rng_epoch = rng_epoch, rng_now = rng_save_all(gen, data_gens), sums = sums,
        lr_scheduler = sched and { name = type(sched.name) == 'string' and sched.name or nil, state = sched:state_dict() },
        early_stopping = es and { options = es.key, wait = es.wait, best = es.best, best_epoch = es.best_epoch,
                                  stopped_epoch = es.stopped_epoch, best_weights = es.best_weights },
        initial_epoch = initial > 0 and initial or nil, callbacks = cb_states(),
        stopped = rawget(self, 'stop_training') == true or nil } })
    end

    -- History callbacks hold the table fit returns (a resumed one too)
    for _, cb in ipairs(cbs) do
      if type(cb._bind_history) == 'function' then cb:_bind_history(history) end
    end
    self:train()
    -- a run that stopped early is over (its last checkpoint says so); a
    -- stop_training set in on_train_begin ends fit after the first batch
    -- and its epoch, as Keras 2's, which looks at it after each batch and
    -- epoch only (it trained no epoch)
    local last_epoch = ((es and es.stopped_epoch > 0) or stopping()) and 0 or epochs
    call_hook(cbs, 'on_train_begin', {})
    local logs, on_step = {}, opts.on_step
    for epoch = start_epoch, last_epoch do
      local t0, last_draw = nl.time(), -1
      local t, step = tally_new(), 0
      local rng_epoch = rng_save_all(gen, data_gens)
      local skip, seen0 = 0, 0      -- batches and samples done before this run (a resumed epoch)
      if resumed and epoch == start_epoch then
        -- the epoch's order as it was drawn, then the generators as they were
        rng_restore_all(gen, data_gens, resumed.rng_epoch)
        rng_epoch = resumed.rng_epoch
        skip = start_step
        local rs = resumed.sums      -- wsum and vsum are new: rows, before
        t = { seen = rs.seen, loss_sum = rs.loss_sum, wsum = rs.wsum or rs.seen, vsum = rs.vsum or rs.seen,
              metrics = rs.metrics }
        step, seen0 = skip, t.seen
      end
      local it
      if spe then it = stream_batches()
      else
        if sampler then sampler:set_epoch(epoch_base + epoch) end
        for _, s in ipairs(epoch_samplers) do s:set_epoch(epoch) end
        it = loader:iter(skip)
      end
      -- mid-epoch, the generators as the checkpoint left them (past the
      -- order and the dropout of the steps done); a checkpoint of an
      -- epoch's end was written before the next order was drawn, and
      -- restoring it here would draw that order's numbers again
      if resumed and epoch == start_epoch and skip > 0 then
        rng_restore_all(gen, data_gens, resumed.rng_now)
      end
      -- (a resumed epoch began in the run that was killed: a schedule set
      -- at the beginning is in the optimizer's state)
      if skip == 0 then call_hook(cbs, 'on_epoch_begin', epoch, {}) end
      for xb, yb, wb in it do
        step = step + 1
        if kind ~= 'tensors' then
          -- a loader's or a dataset's batch: x, y, or x, y and sample
          -- weights, as Keras's; class_weight's weights from its targets
          fd.check_batch('fit', step, xb, yb)
          if wb ~= nil then
            if batch_cw then
              nl._raise("fit: give class_weight or sample weights (the batches' third value), not both (as Keras)")
            end
            if not nl.is_tensor(wb) then
              nl._raise(("fit: the third value of batch %d, its sample weights, must be a tensor, got %s"):format(step,
                nl._describe_arg(wb)))
            end
            if not weighable then
              check_weighable(c, "a third value of the batches (sample weights)")
              weighable = true
            end
            wb = wb:detach()
          elseif batch_cw then
            wb = class_weights_of(c, batch_cw, yb)
          end
        end
        if batch_begin then call_hook(cbs, 'on_train_batch_begin', step, {}) end
        local lv = train_step('fit', self, c, t, xb, yb, wb)
        if on_step then on_step(epoch, step, lv) end
        -- the logs of a batch: the epoch's loss and metrics so far (Keras's)
        if batch_end then
          local bl = { loss = tally_loss(c, t) }
          for _, m in ipairs(c.metrics) do bl[m] = tally_metric(c, t, m) end
          call_hook(cbs, 'on_train_batch_end', step, bl)
        end
        if ckpt and ckpt.every and step % ckpt.every == 0 and (not nb or step < nb) and not stopping() then
          save(epoch, step, rng_epoch, t)
        end
        local now = tty and nl.time()
        if tty and (now - last_draw > 0.1 or step == nb) then
          last_draw = now
          local elapsed = now - t0
          local parts
          if nb then
            local width = 24
            local done = math.floor(width * step / nb)
            local bar = string.rep('=', done) .. (done < width and '>' or '') .. string.rep('.', width - done - 1)
            parts = { ('Epoch %d/%d %d/%d [%s] loss %.4f'):format(epoch, epochs, step, nb, bar, tally_loss(c, t)) }
          else    -- (a stream of unknown length, as Keras's 'Unknown')
            parts = { ('Epoch %d/%d %d/Unknown loss %.4f'):format(epoch, epochs, step, tally_loss(c, t)) }
          end
          for _, m in ipairs(c.metrics) do parts[#parts + 1] = ('%s %.4f'):format(m, tally_metric(c, t, m)) end
          parts[#parts + 1] = ('%.0f samples/s'):format((t.seen - seen0) * world / math.max(elapsed, 1e-9))
          parts[#parts + 1] = nb and step < nb and ('ETA %s'):format(fmt_time(elapsed / (step - skip) * (nb - step))) or fmt_time(elapsed)
          io.write('\r', table.concat(parts, ' - '), '\27[K')
          io.flush()
        end
        if stopping() then break end
      end
      -- (a loader whose # promised batches that iter() did not give: the
      -- epoch's loss would be 0 / 0)
      if step == 0 then nl._raise(('fit: the DataLoader gave no batches in epoch %d'):format(epoch)) end
      local elapsed = nl.time() - t0
      local processed = (t.seen - seen0) * world    -- every rank's share is the same size
      if sampler then t = global_sums(t, 1) end
      -- the history's i-th entries are those of the i-th epoch run (epoch
      -- initial + i)
      local i = epoch - initial
      history.epoch[i] = epoch
      history.loss[i] = tally_loss(c, t)
      for _, m in ipairs(c.metrics) do history[m][i] = tally_metric(c, t, m) end
      local line = { ('epoch %d/%d - loss %.4f'):format(epoch, epochs, history.loss[i]) }
      for _, m in ipairs(c.metrics) do line[#line + 1] = ('%s %.4f'):format(m, history[m][i]) end
      -- with validation_freq, the val_ lists hold the epochs validated
      -- alone, history.val_epoch their numbers (Keras's logs have no val_
      -- values in the others); vi: this epoch's place in them, if validated
      local validated = val and (not vfreq or vfreq(epoch))
      local vi = validated and (vfreq and #history.val_loss + 1 or i)
      if validated then
        local vl, vm = run_eval('fit (validation_data)', self, c, vloader and function() return vloader:iter() end
                                or function() return tensor_batches(val[1], val[2], vbs) end, nil, 0, vsteps)
        history.val_loss[vi] = vl
        if vfreq then history.val_epoch[vi] = epoch end
        line[#line + 1] = ('val_loss %.4f'):format(vl)
        for _, m in ipairs(c.metrics) do
          history['val_' .. m][vi] = vm[m]
          line[#line + 1] = ('val_%s %.4f'):format(m, vm[m])
        end
      end
      -- the epoch's value of a list of the history (nil: not validated)
      local function epoch_value(k)
        if val and k:sub(1, 4) == 'val_' then return vi and history[k][vi] or nil end
        return history[k][i]
      end
      if history.lr then
        history.lr[i] = c.optimizer.param_groups[1].lr
        line[#line + 1] = ('lr %.4g'):format(history.lr[i])
      end
      -- (a schedule or an early stop that looks at a val_ value passes
      -- over an epoch without it, as Keras's callbacks do)
      if sched then
        if not sched.takes_metric then sched:step()
        elseif not val then sched:step(history.loss[i])
        elseif validated then sched:step(history.val_loss[vi]) end
      end
      if es and epoch_value(es.monitor) ~= nil then es_epoch_end(self, es, epoch_value(es.monitor), epoch) end
      line[#line + 1] = ('%.0f samples/s - %s'):format(processed / math.max(elapsed, 1e-9), fmt_time(elapsed))
      if tty then io.write('\r\27[K') end
      if verbose > 0 then print(table.concat(line, ' - ')) end
      -- the epoch's logs: what the history records of it
      logs = {}
      for k in pairs(history) do if k ~= 'epoch' and k ~= 'val_epoch' then logs[k] = epoch_value(k) end end
      call_hook(cbs, 'on_epoch_end', epoch, logs)
      if ckpt then save(epoch + 1, 0, rng_save_all(gen, data_gens), tally_new()) end
      if es and es.stopped_epoch > 0 then
        if verbose > 0 then
          print(('epoch %d: early stopping (%s has not improved for %d epochs)'):format(epoch, es.monitor, es.wait))
        end
        break
      end
      if stopping() then break end
    end
    call_hook(cbs, 'on_train_end', logs)
    -- Keras 3 puts the best weights back at the end, stopped early or not
    if es and es.restore and es.best_weights then
      self:load_state_dict(es.best_weights)
      if verbose > 0 then
        local at = es.best_epoch - initial
        for j, e in ipairs(es.monitor:sub(1, 4) == 'val_' and history.val_epoch or {}) do
          if e == es.best_epoch then at = j end
        end
        print(('restored the weights of epoch %d (%s %.4f)'):format(es.best_epoch, es.monitor, history[es.monitor][at]))
      end
    end
    return history
  end

  local function batch_size(op, opts, default, known)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, known or BATCH_KNOWN)
    local bs = opts.batch_size or default
    if type(bs) ~= 'number' or bs ~= math.floor(bs) or bs < 1 or bs > 2^40 then
      nl._raise(('%s: batch_size must be a positive integer, got %s'):format(op, tostring(bs)))
    end
    return bs
  end

  -- the loader op(x, ...) reads: a loader as it is (a batch_size of
  -- op's refused: the loader makes the batches), a dataset batched in
  -- order by batch_size
  local function loader_of(op, kind, x, opts, known)
    if kind == 'loader' then
      opts = nl._opts(op, opts)
      nl._check_opts(op, opts, known or BATCH_KNOWN)
      if opts.batch_size ~= nil then
        nl._raise(('%s: batch_size is not taken with a DataLoader, which makes the batches: give it to the loader, '
                   .. 'data.DataLoader(ds, {batch_size = ...})'):format(op))
      end
      return x
    end
    fd.rows(op, x)
    return data.DataLoader(x, { batch_size = batch_size(op, opts, 256, known) })
  end

  -- loss, {metric = value}; evaluate(X, y, {batch_size, verbose,
  -- sample_weight}) or evaluate(loader or dataset, {batch_size, verbose}):
  -- over its batches (the first two values of each: x, y; sample weights
  -- are not applied, as in validation). sample_weight (N) weighs each
  -- sample's loss as fit's does; verbose ('auto' is 1, 0 by default)
  -- prints a line at the end
  function Module:evaluate(X, y, opts)
    local c = compiled(self, 'evaluate')
    local kind = fd.kind('evaluate', X)
    if kind ~= 'tensors' then
      opts = fd.options('evaluate', kind == 'loader' and 'DataLoader' or 'dataset', y, opts)
      opts = nl._opts('evaluate', opts, EVALUATE_KNOWN)
      if opts.sample_weight ~= nil then
        nl._raise(('evaluate: sample_weight is not taken with a %s'):format(kind == 'loader' and 'DataLoader'
          or 'dataset'))
      end
      local verbose, steps = verbose_of('evaluate', opts.verbose, 0), steps_of('evaluate', opts.steps)
      local L = loader_of('evaluate', kind, X, opts, EVALUATE_KNOWN)
      return run_eval('evaluate', self, c, function() return L:iter() end, nil, verbose, steps)
    end
    check_xy('evaluate', X, y)
    opts = nl._opts('evaluate', opts, EVALUATE_KNOWN)
    local bs = batch_size('evaluate', opts, 256, EVALUATE_KNOWN)
    local verbose, steps = verbose_of('evaluate', opts.verbose, 0), steps_of('evaluate', opts.steps)
    local W, weighted = opts.sample_weight, nil
    if W ~= nil then
      if not nl.is_tensor(W) then nl._argerror('evaluate', 'sample_weight as a tensor of one weight per sample', W) end
      if W:dim() ~= 1 or W:size(1) ~= X:size(1) then
        nl._raise(('evaluate: sample_weight must hold one weight per sample, shape [%d], got %s'):format(X:size(1),
          nl._shape_str(W)))
      end
      check_weighable(c, 'sample_weight', 'evaluate')
      W = W:detach()
      weighted = function(p, yb, wb) return weighted_loss(c, p, yb, wb, 'evaluate') end
    end
    return run_eval('evaluate', self, c, function() return tensor_batches(X, y, bs, W) end, weighted, verbose,
                    steps)
  end

  -- the batches' outputs joined along dim 1: tensors, or a model's tables
  -- of them (several outputs, as Keras's), each entry joined with its
  -- kind (a table of the batches' first outputs failed in cat)
  local function join_outputs(outs)
    local first = outs[1]
    if #outs == 1 or nl.is_tensor(first) then return #outs == 1 and first or nl.cat(outs, 1) end
    if type(first) ~= 'table' or getmetatable(first) ~= nil then
      nl._raise(('predict: the model gave %s; predict joins tensors, or tables of them, along dim 1'):format(
        nl._describe_arg(first)))
    end
    local out = {}
    for k in pairs(first) do
      local parts = {}
      for i, o in ipairs(outs) do
        if type(o) ~= 'table' or o[k] == nil then
          nl._raise(("predict: the model's output of batch %d has no entry %s, which batch 1's has"):format(i,
            nl._describe_arg(k)))
        end
        parts[i] = o[k]
      end
      out[k] = join_outputs(parts)
    end
    return out
  end

  -- outputs for X in eval mode, without the tape, batch by batch;
  -- predict(loader or dataset, {batch_size}): of each batch's first value,
  -- in the loader's order, joined along dim 1. verbose ('auto' is 1, 0 by
  -- default) prints a line at the end
  function Module:predict(X, opts)
    local kind = fd.kind('predict', X)
    opts = nl._opts('predict', opts, PREDICT_KNOWN)
    local verbose, steps = verbose_of('predict', opts.verbose, 0), steps_of('predict', opts.steps)
    local t0 = nl.time()
    local function done(outs)
      if verbose > 0 then print(('predict %d/%d - %s'):format(#outs, #outs, fmt_time(nl.time() - t0))) end
      return join_outputs(outs)
    end
    if kind ~= 'tensors' then
      local L = loader_of('predict', kind, X, opts, PREDICT_KNOWN)
      local outs = {}
      in_eval(self, function()
        for xb in L:iter() do
          if #outs == steps then break end
          outs[#outs + 1] = self(xb)
        end
      end)
      if #outs == 0 then nl._raise('predict: the data gave no batches') end
      return done(outs)
    end
    nl._T(X, 'predict')
    if X:dim() == 0 then nl._raise('predict: X must have a batch dim, got a 0-dim tensor') end
    local bs = batch_size('predict', opts, 256, PREDICT_KNOWN)
    local outs = {}
    in_eval(self, function()
      if X:size(1) == 0 then outs[1] = self(X) end     -- no rows: the model's own empty output
      for start = 1, X:size(1), bs do
        if #outs == steps then break end
        outs[#outs + 1] = self(X:narrow(1, start, math.min(bs, X:size(1) - start + 1)))
      end
    end)
    return done(outs)
  end

  -- train_on_batch, test_on_batch, predict_on_batch, get_weights and
  -- set_weights (fit_batch.lua), on fit's step and tally
  require('nnlua.fit_batch')(nl, {
    compiled = compiled, own_optimizer = own_optimizer, check_closure_ranks = check_closure_ranks,
    train_step = train_step, eval_step = eval_step, in_eval = in_eval, check_xy = check_xy,
    tally_new = tally_new, tally_loss = tally_loss, tally_metric = tally_metric, weighted_loss = weighted_loss,
    check_weighable = check_weighable, check_class_weight = check_class_weight, class_weights_of = class_weights_of })

  -- nl.callbacks: Keras's callbacks, built on early stopping's code here
  nl.callbacks = require('nnlua.callbacks')(nl, {
    early_stopping_of = early_stopping_of, es_epoch_end = es_epoch_end, check_monitor = check_monitor,
    auto_mode = auto_mode, whole = whole, early_stopping_known = EARLY_STOPPING_KNOWN })
end
