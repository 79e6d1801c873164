-- torch_ops.lua: torch.* names of PyTorch 1.13 whose math nnlua already
-- has in nn.functional, nl.linalg or Tensor methods, with torch's own
-- argument lists and tuple returns: the native forms of the functional
-- ops (torch.batch_norm(input, weight, bias, running_mean, ...),
-- reductions as 0/1/2, grid_sampler's mode numbers, the native_* norms'
-- saved statistics), the RNN cells on explicit weights and the
-- multi-layer RNNs on flat weights, and the linear algebra that 1.13
-- still runs under its old names (lu, lu_solve, lu_unpack,
-- triangular_solve, symeig, geqrf, orgqr, ormqr, svd_lowrank,
-- pca_lowrank, lobpcg). It has no kernels of its own: each function is
-- checks and calls of existing ops, so autograd follows them (geqrf's
-- output, as PyTorch's, has no gradient; lobpcg's eigenvalues one of
-- their own). Loaded on the first use of one of its names (init.lua's
-- TORCH_OPS), after the Tensor extras.
return function(nl)
  local Tensor, raise, shape_str, describe = nl.Tensor, nl._raise, nl._shape_str, nl._describe_arg
  local is_tensor, as_op, in_place, no_extra_args = nl.is_tensor, nl._as_op, nl._in_place, nl._no_extra_args
  local F, linalg = nl.nn.functional, nl.linalg

  -- nl[name] = f, taking the arguments that sig names, '(a, b, ...)'
  -- (more are an error), its errors (and those of the ops it calls) named
  local function define(name, sig, f)
    local takes = select(2, sig:gsub(',', '')) + 1
    nl[name] = as_op(name, function(...)
      if select('#', ...) > takes then no_extra_args(name, sig, nil, select(takes + 1, ...)) end
      return f(...)
    end)
  end
  local function tensor_arg(op, what, t)
    if not is_tensor(t) then raise(('%s: %s must be a tensor, got %s'):format(op, what, describe(t))) end
    return t
  end
  local function flag(op, what, v, default)
    if v == nil then return default end
    if type(v) ~= 'boolean' then raise(('%s: %s must be a boolean, got %s'):format(op, what, describe(v))) end
    return v
  end
  -- PyTorch's reduction numbers (at::Reduction): 0 none, 1 mean, 2 sum;
  -- left out, none (1.13's torch.* losses give the unreduced loss then,
  -- though their schemas read mean)
  local REDUCTIONS = { [0] = 'none', [1] = 'mean', [2] = 'sum' }
  local function reduction(op, r)
    if r == nil then return 'none' end
    local s = REDUCTIONS[r]
    if not s then raise(('%s: reduction must be 0 (none), 1 (mean) or 2 (sum), got %s'):format(op, describe(r))) end
    return s
  end
  -- an int list of torch's (int[1] takes a number too) as a number, its
  -- first entry, or a default for an empty list
  local function one_int(op, what, v, default)
    if type(v) == 'table' and not is_tensor(v) then
      if #v == 0 then return default end
      if #v ~= 1 then raise(('%s: %s must be one integer, got %d of them'):format(op, what, #v)) end
      v = v[1]
    end
    if v == nil then return default end
    if type(v) ~= 'number' or v ~= math.floor(v) then
      raise(('%s: %s must be an integer, got %s'):format(op, what, describe(v)))
    end
    return v
  end

  -- ---- the native forms of nn.functional's ops -----------------------------------

  -- torch.batch_norm(input, weight, bias, running_mean, running_var,
  -- training, momentum, eps, cudnn_enabled): in training, one value per
  -- channel gives the bias (the running_var NaN), as 1.13's torch.* form
  -- (its F.batch_norm refuses it, as nnlua's)
  define('batch_norm', '(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled)',
         function(x, w, b, rm, rv, training, momentum, eps)
    return nl.nn._functional_batch_norm(true, x, rm, rv, w, b, training == true, momentum or 0.1, eps or 1e-5)
  end)
  -- torch.instance_norm(input, weight, bias, running_mean, running_var,
  -- use_input_stats, momentum, eps, cudnn_enabled): one spatial element
  -- allowed, as batch_norm's one value
  define('instance_norm', '(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, '
         .. 'cudnn_enabled)',
         function(x, w, b, rm, rv, use, momentum, eps)
    return nl.nn._instance_norm(true, x, rm, rv, w, b, use ~= false, momentum or 0.1, eps or 1e-5)
  end)
  -- torch.embedding(weight, indices, padding_idx = -1, scale_grad_by_freq,
  -- sparse): the rows of weight at the 1-based ids; padding_idx a 1-based
  -- id whose row gets no gradient, or -1 (torch's) or nil for none
  define('embedding', '(weight, indices, padding_idx, scale_grad_by_freq, sparse)',
         function(w, ids, padding_idx, sgbf, sparse)
    if padding_idx == -1 then padding_idx = nil end
    return F.embedding(ids, w, padding_idx, nil, nil, sgbf, sparse)
  end)
  -- torch.embedding_bag(weight, indices, offsets, scale_grad_by_freq, mode
  -- (0 sum, 1 mean, 2 max), sparse, per_sample_weights,
  -- include_last_offset, padding_idx): offsets and padding_idx 1-based, as
  -- F.embedding_bag's; a negative padding_idx counts from the last row
  -- (-1 is the last, as 1.13's here, unlike torch.embedding's -1 for
  -- none), nil is none. Returns the bags' output only: PyTorch's three
  -- others are its backward's bookkeeping.
  local BAG_MODES = { [0] = 'sum', [1] = 'mean', [2] = 'max' }
  define('embedding_bag', '(weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights, '
         .. 'include_last_offset, padding_idx)',
         function(w, ids, offsets, sgbf, mode, sparse, psw, last, padding_idx)
    local m = BAG_MODES[mode == nil and 1 or mode]
    if not m then raise('embedding_bag: mode must be 0 (sum), 1 (mean) or 2 (max), got ' .. describe(mode)) end
    return F.embedding_bag(ids, w, offsets, { mode = m, per_sample_weights = psw, include_last_offset = last,
                                              padding_idx = padding_idx, scale_grad_by_freq = sgbf, sparse = sparse })
  end)

  -- the losses, reduction as a number
  define('kl_div', '(input, target, reduction, log_target)', function(input, target, r, log_target)
    return F.kl_div(input, target, { reduction = reduction('kl_div', r),
                                     log_target = flag('kl_div', 'log_target', log_target, false) })
  end)
  -- torch.ctc_loss(log_probs, targets, input_lengths, target_lengths,
  -- blank, reduction, zero_infinity); blank a 1-based class (default 1),
  -- as nnlua's labels
  define('ctc_loss', '(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)',
         function(lp, targets, il, tl, blank, r, zero_inf)
    return F.ctc_loss(lp, targets, il, tl, { blank = blank, reduction = reduction('ctc_loss', r),
                                              zero_infinity = zero_inf })
  end)
  define('cosine_embedding_loss', '(input1, input2, target, margin, reduction)', function(a, b, y, margin, r)
    return F.cosine_embedding_loss(a, b, y, { margin = margin, reduction = reduction('cosine_embedding_loss', r) })
  end)
  define('hinge_embedding_loss', '(input, target, margin, reduction)', function(x, y, margin, r)
    return F.hinge_embedding_loss(x, y, { margin = margin, reduction = reduction('hinge_embedding_loss', r) })
  end)
  define('margin_ranking_loss', '(input1, input2, target, margin, reduction)', function(a, b, y, margin, r)
    return F.margin_ranking_loss(a, b, y, { margin = margin, reduction = reduction('margin_ranking_loss', r) })
  end)
  -- torch.poisson_nll_loss(input, target, log_input, full, eps, reduction)
  define('poisson_nll_loss', '(input, target, log_input, full, eps, reduction)', function(x, y, log_input, full, eps, r)
    local op = 'poisson_nll_loss'
    return F.poisson_nll_loss(x, y, { log_input = flag(op, 'log_input', log_input, true),
                                      full = flag(op, 'full', full, false), eps = eps, reduction = reduction(op, r) })
  end)
  -- torch.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction)
  define('triplet_margin_loss', '(anchor, positive, negative, margin, p, eps, swap, reduction)',
         function(a, p, n, margin, norm, eps, swap, r)
    return F.triplet_margin_loss(a, p, n, { margin = margin, p = norm, eps = eps, swap = swap,
                                            reduction = reduction('triplet_margin_loss', r) })
  end)
  -- torch.binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction)
  define('binary_cross_entropy_with_logits', '(input, target, weight, pos_weight, reduction)', function(x, y, w, pw, r)
    return F.binary_cross_entropy_with_logits(x, y, { weight = w, pos_weight = pw,
      reduction = reduction('binary_cross_entropy_with_logits', r) })
  end)

  -- torch.constant_pad_nd(input, pad, value = 0): F.pad's constant mode
  define('constant_pad_nd', '(input, pad, value)', function(x, pad, value)
    return F.pad(x, pad, 'constant', value or 0)
  end)

  -- torch.convolution(input, weight, bias, stride, padding, dilation,
  -- transposed, output_padding, groups): conv1d/2d/3d or their
  -- transposes by the weight's rank; the lists hold one entry per spatial dim
  local CONVS = { [1] = { 'conv1d', 'conv_transpose1d' }, [2] = { 'conv2d', 'conv_transpose2d' },
                  [3] = { 'conv3d', 'conv_transpose3d' } }
  define('convolution', '(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)',
         function(x, w, b, stride, padding, dilation, transposed, output_padding, groups)
    local op = 'convolution'
    tensor_arg(op, 'input', x)
    tensor_arg(op, 'weight', w)
    local d = Tensor.dim(w) - 2
    local fns = CONVS[d]
    if not fns or Tensor.dim(x) ~= d + 2 then
      raise(('%s: expected input (N, C, *) and weight (O, C/groups, *) of 1 to 3 spatial dims, got input %s and '
        .. 'weight %s'):format(op, shape_str(x), shape_str(w)))
    end
    local function list(what, v, default)
      if v == nil then return default end
      if type(v) == 'number' then return v end
      if type(v) ~= 'table' or is_tensor(v) or (#v ~= 1 and #v ~= d) then
        raise(('%s: %s must be a list of %d integers, got %s'):format(op, what, d, describe(v)))
      end
      if #v == 1 or d == 1 then return v[1] end
      return v
    end
    local opts = { stride = list('stride', stride, 1), padding = list('padding', padding, 0),
                   dilation = list('dilation', dilation, 1), groups = groups or 1 }
    if flag(op, 'transposed', transposed, false) then
      opts.output_padding = list('output_padding', output_padding, 0)
      return F[fns[2]](x, w, b, opts)
    end
    return F[fns[1]](x, w, b, opts)
  end)
  -- torch.conv_tbc(input (T, B, C), weight (k, C, O), bias (O), pad = 0)
  -- -> (T', B, O): conv1d over time, laid out time first; T' = T + 2 pad
  -- - k + 1 may be 0
  define('conv_tbc', '(input, weight, bias, pad)', function(x, w, b, pad)
    local op = 'conv_tbc'
    tensor_arg(op, 'input', x)
    tensor_arg(op, 'weight', w)
    tensor_arg(op, 'bias', b)
    if Tensor.dim(x) ~= 3 or Tensor.dim(w) ~= 3 or Tensor.dim(b) ~= 1 or Tensor.size(x, 3) ~= Tensor.size(w, 2)
        or Tensor.size(b, 1) ~= Tensor.size(w, 3) then
      raise(('%s: expected input (T, B, C), weight (k, C, O) and bias (O), got %s, %s and %s'):format(op, shape_str(x),
        shape_str(w), shape_str(b)))
    end
    pad = pad or 0
    if type(pad) == 'number' and Tensor.size(x, 1) + 2 * pad == Tensor.size(w, 1) - 1 then
      -- an output of length 0, as 1.13's (conv1d refuses it): (0, B, O),
      -- made of the inputs so that their gradients (zeros) come back
      local none = Tensor.narrow(Tensor.reshape(x, -1, Tensor.size(x, 3)), 1, 1, 0)
      local y = nl.matmul(none, Tensor.select(w, 1, 1)) + b
      return Tensor.reshape(y, 0, Tensor.size(x, 2), Tensor.size(w, 3))
    end
    local y = F.conv1d(Tensor.permute(x, 2, 3, 1), Tensor.permute(w, 3, 2, 1), b, { padding = pad })
    return Tensor.permute(y, 3, 1, 2)
  end)

  -- the dropouts: torch.dropout_(input, p, train) and the like, in place;
  -- feature_dropout zeroes whole channels of (N, C, *)
  local function feature_dropout(x, p, train)
    local op = 'feature_dropout'
    tensor_arg(op, 'input', x)
    p = nl.nn._dropout_p(op, p)
    if Tensor.dim(x) < 2 then
      raise(('%s: expected input (N, C, *) of at least 2 dims, got shape %s'):format(op, shape_str(x)))
    end
    if train == false or p == 0 or Tensor.numel(x) == 0 then return x end
    if p == 1 then return x * 0 end
    local shape = Tensor.shape(x)
    for i = 3, #shape do shape[i] = 1 end
    return x * (nl.rand(shape, Tensor.dtype(x)):ge(p) * (1 / (1 - p)))
  end
  define('feature_dropout', '(input, p, train)', feature_dropout)
  for name, f in pairs({ dropout_ = function(x, p, train) return F.dropout(x, p, train ~= false) end,
                         alpha_dropout_ = function(x, p, train) return F.alpha_dropout(x, p, train == true) end,
                         feature_dropout_ = feature_dropout,
                         feature_alpha_dropout_ = function(x, p, train)
                           return F.feature_alpha_dropout(x, p, train == true)
                         end }) do
    nl[name] = as_op(name, in_place(name, f))
  end
  -- torch.rrelu_(input, lower, upper, training) and torch.threshold_(input,
  -- threshold, value): F's (nn/functional_extra.lua), of the same arguments
  -- (looked up on the call: nn's rarer families load then, not with this file)
  function nl.rrelu_(...) return F.rrelu_(...) end
  function nl.threshold_(...) return F.threshold_(...) end

  -- torch.native_dropout(input, p, train): the output and the mask of
  -- kept units (1 kept, 0 dropped; in the input's dtype, nnlua having no
  -- bool), the kept scaled by 1 / (1 - p); train false keeps all
  define('native_dropout', '(input, p, train)', function(x, p, train)
    local op = 'native_dropout'
    tensor_arg(op, 'input', x)
    nl._float_only(x, op)
    p = nl.nn._dropout_p(op, p)
    if train == false then return x * 1, nl.ones(Tensor.shape(x), Tensor.dtype(x)) end
    local keep = nl.rand(Tensor.shape(x), Tensor.dtype(x)):ge(p)
    if p == 1 then return x * 0, keep end
    return x * (keep * (1 / (1 - p))), keep
  end)

  -- torch.grid_sampler(input, grid, interpolation_mode (0 bilinear, 1
  -- nearest, 2 bicubic), padding_mode (0 zeros, 1 border, 2 reflection),
  -- align_corners), and its 2-D and 3-D forms
  local MODES, PADS = { [0] = 'bilinear', [1] = 'nearest', [2] = 'bicubic' }, { [0] = 'zeros', [1] = 'border',
                                                                               [2] = 'reflection' }
  local function grid_sampler(op, rank)
    define(op, '(input, grid, interpolation_mode, padding_mode, align_corners)', function(x, grid, mode, pad, ac)
      tensor_arg(op, 'input', x)
      if rank and Tensor.dim(x) ~= rank then
        raise(('%s: expected a %d-D input, got shape %s'):format(op, rank, shape_str(x)))
      end
      local m, p = MODES[mode == nil and 0 or mode], PADS[pad == nil and 0 or pad]
      if not m then raise(op .. ': interpolation_mode must be 0 (bilinear), 1 (nearest) or 2 (bicubic), got '
                          .. describe(mode)) end
      if not p then raise(op .. ': padding_mode must be 0 (zeros), 1 (border) or 2 (reflection), got '
                          .. describe(pad)) end
      return F.grid_sample(x, grid, { mode = m, padding_mode = p, align_corners = ac == true })
    end)
  end
  grid_sampler('grid_sampler')
  grid_sampler('grid_sampler_2d', 4)
  grid_sampler('grid_sampler_3d', 5)
  define('affine_grid_generator', '(theta, size, align_corners)',
         function(theta, size, ac) return F.affine_grid(theta, size, ac == true) end)

  -- torch.max_pool1d_with_indices(input, kernel_size, stride, padding,
  -- dilation, ceil_mode): the max and its 1-based positions
  define('max_pool1d_with_indices', '(input, kernel_size, stride, padding, dilation, ceil_mode)',
         function(x, k, stride, padding, dilation, ceil_mode)
    local op = 'max_pool1d_with_indices'
    k = one_int(op, 'kernel_size', k)
    return F.max_pool1d(x, k, { stride = one_int(op, 'stride', stride, k), padding = one_int(op, 'padding', padding, 0),
                                dilation = one_int(op, 'dilation', dilation, 1), ceil_mode = ceil_mode,
                                return_indices = true })
  end)
  -- torch.adaptive_max_pool1d(input, output_size): the max and its positions
  define('adaptive_max_pool1d', '(input, output_size)', function(x, n)
    return F.adaptive_max_pool1d(x, one_int('adaptive_max_pool1d', 'output_size', n), true)
  end)

  -- dims: a dim or a list of them (1-based), or nil for all
  local function dims_arg(op, dim)
    if dim == nil or type(dim) == 'number' then return dim end
    if type(dim) ~= 'table' or is_tensor(dim) then raise(op .. ': dim must be a dim or a list of dims, got '
                                                          .. describe(dim)) end
    return dim
  end
  -- torch.frobenius_norm(input, [dim], [keepdim]): the 2-norm of the
  -- entries over dim (all by default)
  define('frobenius_norm', '(input, dim, keepdim)', function(x, dim, keepdim)
    local op = 'frobenius_norm'
    tensor_arg(op, 'input', x)
    return linalg.vector_norm(x, 2, dims_arg(op, dim), flag(op, 'keepdim', keepdim, false))
  end)
  -- torch.nuclear_norm(input, [dim], [keepdim]): the sum of the singular
  -- values of the matrices over the two dims dim (the last two, for a
  -- 2-D input), nuclear_norm(input, keepdim) too
  define('nuclear_norm', '(input, dim, keepdim)', function(x, dim, keepdim)
    local op = 'nuclear_norm'
    tensor_arg(op, 'input', x)
    if type(dim) == 'boolean' then dim, keepdim = nil, dim end
    if dim == nil then
      if Tensor.dim(x) ~= 2 then
        raise(('%s: expected a 2-D input without dims, got shape %s'):format(op, shape_str(x)))
      end
      dim = { 1, 2 }
    end
    if type(dim) ~= 'table' or #dim ~= 2 then raise(op .. ': dim must be a list of two dims, got ' .. describe(dim)) end
    return linalg.matrix_norm(x, 'nuc', dim, flag(op, 'keepdim', keepdim, false))
  end)
  -- torch.norm_except_dim(v, pow = 2, dim = 1): the pow-norm of each
  -- slice along dim (1-based), shaped to broadcast against v; dim -1
  -- (torch's sentinel) gives the norm of all of v, 0-dim
  define('norm_except_dim', '(v, pow, dim)', function(v, pow, dim)
    local op = 'norm_except_dim'
    tensor_arg(op, 'v', v)
    pow, dim = pow or 2, dim or 1
    if dim == -1 then return linalg.vector_norm(v, pow) end
    local n = Tensor.dim(v)
    if type(dim) ~= 'number' or dim ~= math.floor(dim) or dim == 0 or dim > n or dim < -n then
      raise(('%s: dim must be a dim of v %s (from 1), or -1 for all, got %s'):format(op, shape_str(v), describe(dim)))
    end
    if dim < 0 then dim = dim + n + 1 end
    local others = {}
    for i = 1, n do if i ~= dim then others[#others + 1] = i end end
    if #others == 0 then return Tensor.abs(v) end
    return linalg.vector_norm(v, pow, others, true)
  end)

  -- ---- the native norms, with the statistics they save for backward ------------------

  -- mean and 1 / sqrt(biased var + eps) over dims (a list), kept
  local function stats(x, dims, eps)
    local mean = Tensor.mean(x, dims, true)
    local c = x - mean
    return mean, (Tensor.mean(c * c, dims, true) + eps):rsqrt()
  end
  -- torch.native_layer_norm(input, normalized_shape, weight, bias, eps):
  -- the output, the mean and the rstd, both (batch dims, 1, ..., 1)
  define('native_layer_norm', '(input, normalized_shape, weight, bias, eps)', function(x, shape, w, b, eps)
    local op = 'native_layer_norm'
    tensor_arg(op, 'input', x)
    if type(eps) ~= 'number' then raise(op .. ': eps must be a number, got ' .. describe(eps)) end
    local y = F.layer_norm(x, shape, w, b, eps)
    local k = type(shape) == 'number' and 1 or #shape
    local dims = {}
    for i = Tensor.dim(x) - k + 1, Tensor.dim(x) do dims[#dims + 1] = i end
    -- (the statistics, as PyTorch's, carry no gradient)
    local mean, rstd = stats(Tensor.detach(x), dims, eps)
    return y, mean, rstd
  end)
  -- torch.native_batch_norm(input, weight, bias, running_mean,
  -- running_var, training, momentum, eps): the output and, in training,
  -- the batch's mean and 1 / sqrt(biased var + eps) per channel (empty
  -- (0) tensors in eval, as PyTorch's); training updates the running ones
  define('native_batch_norm', '(input, weight, bias, running_mean, running_var, training, momentum, eps)',
         function(x, w, b, rm, rv, training, momentum, eps)
    local op = 'native_batch_norm'
    tensor_arg(op, 'input', x)
    if type(eps) ~= 'number' or type(momentum) ~= 'number' then
      raise(op .. ': momentum and eps must be numbers, got ' .. describe(momentum) .. ' and ' .. describe(eps))
    end
    training = flag(op, 'training', training, false)
    local y = nl.nn._functional_batch_norm(true, x, rm, rv, w, b, training, momentum, eps)
    if not training then
      return y, nl.zeros({ 0 }, Tensor.dtype(x)), nl.zeros({ 0 }, Tensor.dtype(x))
    end
    local dims = { 1 }
    for i = 3, Tensor.dim(x) do dims[#dims + 1] = i end
    local mean, rstd = stats(Tensor.detach(x), dims, eps)
    local c = Tensor.size(x, 2)
    return y, mean:reshape(c), rstd:reshape(c)
  end)
  -- torch.native_group_norm(input, weight, bias, N, C, HxW, group, eps):
  -- the output, and the mean and rstd of each (sample, group), (N, group)
  define('native_group_norm', '(input, weight, bias, N, C, HxW, group, eps)', function(x, w, b, N, C, HxW, group, eps)
    local op = 'native_group_norm'
    tensor_arg(op, 'input', x)
    if type(eps) ~= 'number' then raise(op .. ': eps must be a number, got ' .. describe(eps)) end
    if Tensor.dim(x) < 2 or N ~= Tensor.size(x, 1) or C ~= Tensor.size(x, 2) or N * C * HxW ~= Tensor.numel(x) then
      raise(('%s: N %s, C %s and HxW %s do not describe the input %s'):format(op, describe(N), describe(C),
        describe(HxW), shape_str(x)))
    end
    local y = F.group_norm(x, group, w, b, eps)
    local mean, rstd = stats(Tensor.reshape(x, N, group, -1), { 3 }, eps)
    return y, mean:reshape(N, group), rstd:reshape(N, group)
  end)

  -- ---- the RNN cells on explicit weights -------------------------------------------

  -- x W^T + b (b optional)
  local function affine(x, w, b)
    local y = nl.matmul(x, Tensor.t(w))
    return b ~= nil and y + b or y
  end
  -- input (N, I), hx (N, H), w_ih (G H, I), w_hh (G H, H), b (G H)
  local function cell_args(op, gates, x, h, w_ih, w_hh, b_ih, b_hh)
    for _, a in ipairs({ { 'input', x }, { 'hx', h }, { 'w_ih', w_ih }, { 'w_hh', w_hh } }) do
      tensor_arg(op, a[1], a[2])
    end
    local H = Tensor.size(h, -1)
    local ok = Tensor.dim(x) == 2 and Tensor.dim(h) == 2 and Tensor.dim(w_ih) == 2 and Tensor.dim(w_hh) == 2
      and Tensor.size(w_ih, 1) == gates * H and Tensor.size(w_ih, 2) == Tensor.size(x, 2)
      and Tensor.size(w_hh, 1) == gates * H and Tensor.size(w_hh, 2) == H and Tensor.size(x, 1) == Tensor.size(h, 1)
    for _, b in ipairs({ b_ih or false, b_hh or false }) do
      if b and (not is_tensor(b) or Tensor.dim(b) ~= 1 or Tensor.size(b, 1) ~= gates * H) then ok = false end
    end
    if not ok then
      raise(('%s: expected input (N, I), hx (N, H), w_ih (%dH, I), w_hh (%dH, H) and biases (%dH), got input %s, hx '
        .. '%s, w_ih %s, w_hh %s%s%s'):format(op, gates, gates, gates, shape_str(x), shape_str(h), shape_str(w_ih),
        shape_str(w_hh), b_ih and ', b_ih ' .. (is_tensor(b_ih) and shape_str(b_ih) or describe(b_ih)) or '',
        b_hh and ', b_hh ' .. (is_tensor(b_hh) and shape_str(b_hh) or describe(b_hh)) or ''))
    end
  end
  -- the weights of layer and direction k of an LSTM with projections:
  -- input (N, I), h (N, P), c (N, H), w_ih (4H, I), w_hh (4H, P), b (4H),
  -- w_hr (P, H)
  local function proj_args(op, k, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
    local ws = { { 'w_ih', w_ih }, { 'w_hh', w_hh }, { 'b_ih', b_ih }, { 'b_hh', b_hh }, { 'w_hr', w_hr } }
    for _, a in ipairs(ws) do
      if a[2] ~= nil then tensor_arg(op, a[1], a[2]) end
    end
    local N, P, H = Tensor.size(h, 1), Tensor.size(h, 2), Tensor.size(c, 2)
    local want = { w_ih = { 4 * H, Tensor.size(x, 2) }, w_hh = { 4 * H, P }, b_ih = { 4 * H }, b_hh = { 4 * H },
                   w_hr = { P, H } }
    local ok, got = Tensor.size(c, 1) == N, {}
    for _, a in ipairs(ws) do
      if a[2] ~= nil then
        got[#got + 1] = a[1] .. ' ' .. shape_str(a[2])
        if shape_str(a[2]) ~= '[' .. table.concat(want[a[1]], ',') .. ']' then ok = false end
      end
    end
    if not ok then
      raise(('%s: with projections (h0 of size P = %d, c0 of H = %d) layer and direction %d expects w_ih (4H, I), '
        .. 'w_hh (4H, P), biases (4H) and w_hr (P, H), got input %s, %s'):format(op, P, H, k, shape_str(x),
        table.concat(got, ', ')))
    end
  end
  -- torch.lstm_cell(input, {h, c}, w_ih, w_hh, b_ih, b_hh) -> h', c'
  define('lstm_cell', '(input, hx, w_ih, w_hh, b_ih, b_hh)', function(x, hx, w_ih, w_hh, b_ih, b_hh)
    local op = 'lstm_cell'
    if type(hx) ~= 'table' or is_tensor(hx) or #hx ~= 2 then
      raise(op .. ': hx must be a list {h, c} of two tensors, got ' .. describe(hx))
    end
    local h, c = hx[1], hx[2]
    cell_args(op, 4, x, h, w_ih, w_hh, b_ih, b_hh)
    tensor_arg(op, 'c', c)
    if shape_str(c) ~= shape_str(h) then
      raise(('%s: h %s and c %s must have one shape'):format(op, shape_str(h), shape_str(c)))
    end
    return F.lstm_cell(affine(x, w_ih, b_ih) + affine(h, w_hh, b_hh), c)
  end)
  -- torch.gru_cell(input, hx, w_ih, w_hh, b_ih, b_hh) -> h'
  define('gru_cell', '(input, hx, w_ih, w_hh, b_ih, b_hh)', function(x, hx, w_ih, w_hh, b_ih, b_hh)
    cell_args('gru_cell', 3, x, hx, w_ih, w_hh, b_ih, b_hh)
    return F.gru_cell(affine(x, w_ih, b_ih), affine(hx, w_hh, b_hh), hx)
  end)
  -- torch.rnn_tanh_cell and rnn_relu_cell(input, hx, w_ih, w_hh, b_ih, b_hh) -> h'
  for _, act in ipairs({ 'tanh', 'relu' }) do
    local op = 'rnn_' .. act .. '_cell'
    define(op, '(input, hx, w_ih, w_hh, b_ih, b_hh)', function(x, hx, w_ih, w_hh, b_ih, b_hh)
      cell_args(op, 1, x, hx, w_ih, w_hh, b_ih, b_hh)
      return F.rnn_cell(affine(x, w_ih, b_ih), affine(hx, w_hh, b_hh), act)
    end)
  end

  -- torch.lstm(input, {h0, c0}, params, has_biases, num_layers, dropout,
  -- train, bidirectional, batch_first) -> output, h_n, c_n, and
  -- torch.gru, rnn_tanh, rnn_relu(input, h0, ...) -> output, h_n: the
  -- multi-layer RNN on PyTorch's flat weights, params listing w_ih, w_hh
  -- (and b_ih, b_hh with has_biases) for each layer and direction in
  -- turn, h0 (layers * directions, N, H); input (T, N, I), or (N, T, I)
  -- with batch_first. Each step is the cell above; dropout (in train)
  -- falls on the outputs of every layer but the last. lstm with
  -- projections, as PyTorch tells them (h0's last dim P differs from
  -- c0's H): each layer and direction lists w_hr (P, H) last, after
  -- w_ih (4H, I), w_hh (4H, P) and the biases, and each step's h is
  -- h_cell w_hr^T, of size P (nn.LSTM's proj_size).
  local STEPS = {
    lstm = { 4, 2, function(x, st, wi, wh, bi, bh, whr)
      local h, c = F.lstm_cell(affine(x, wi, bi) + affine(st[1], wh, bh), st[2])
      if whr then h = nl.matmul(h, Tensor.t(whr)) end
      return { h, c }
    end },
    gru = { 3, 1, function(x, st, wi, wh, bi, bh)
      return { F.gru_cell(affine(x, wi, bi), affine(st[1], wh, bh), st[1]) }
    end },
    rnn_tanh = { 1, 1, function(x, st, wi, wh, bi, bh)
      return { F.rnn_cell(affine(x, wi, bi), affine(st[1], wh, bh), 'tanh') }
    end },
    rnn_relu = { 1, 1, function(x, st, wi, wh, bi, bh)
      return { F.rnn_cell(affine(x, wi, bi), affine(st[1], wh, bh), 'relu') }
    end },
  }
  for name, spec in pairs(STEPS) do
    local gates, nstates, step = spec[1], spec[2], spec[3]
    define(name, '(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)',
           function(x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
      local op = name
      tensor_arg(op, 'input', x)
      if nstates == 2 then
        if type(hx) ~= 'table' or is_tensor(hx) or #hx ~= 2 then
          raise(op .. ': hx must be a list {h0, c0} of two tensors, got ' .. describe(hx))
        end
      else
        hx = { tensor_arg(op, 'hx', hx) }
      end
      if type(params) ~= 'table' or is_tensor(params) then raise(op .. ': params must be a list of tensors, got '
                                                                 .. describe(params)) end
      has_biases = flag(op, 'has_biases', has_biases, true)
      local L = num_layers or 1
      if type(L) ~= 'number' or L ~= math.floor(L) or L < 1 then
        raise(op .. ': num_layers must be a positive integer, got ' .. describe(num_layers))
      end
      dropout = nl.nn._dropout_p(op, dropout or 0)
      train = flag(op, 'train', train, false)
      local D = flag(op, 'bidirectional', bidirectional, false) and 2 or 1
      -- (PyTorch's test for projections: h0 and c0 of different last dims)
      local proj = nstates == 2 and is_tensor(hx[1]) and is_tensor(hx[2]) and Tensor.dim(hx[1]) == 3
        and Tensor.dim(hx[2]) == 3 and Tensor.size(hx[1], 3) ~= Tensor.size(hx[2], 3)
      local per = (has_biases and 4 or 2) + (proj and 1 or 0)
      if #params ~= L * D * per then
        raise(('%s: expected %d weights (%d per layer and direction%s), got %d'):format(op, L * D * per, per,
          proj and (', w_hr last: h0 %s and c0 %s have projections'):format(shape_str(hx[1]), shape_str(hx[2])) or '',
          #params))
      end
      if Tensor.dim(x) ~= 3 then
        raise(('%s: expected input (T, N, I) (batch_first: (N, T, I)), got shape %s'):format(op, shape_str(x)))
      end
      local x0 = x
      if flag(op, 'batch_first', batch_first, false) then x = Tensor.transpose(x, 1, 2) end
      local T, N = Tensor.size(x, 1), Tensor.size(x, 2)
      -- (as PyTorch, which asks for a sequence length above 0)
      if T == 0 then raise(('%s: empty input of shape %s (no steps)'):format(op, shape_str(x0))) end
      for i, h in ipairs(hx) do
        tensor_arg(op, 'hx', h)
        if Tensor.dim(h) ~= 3 or Tensor.size(h, 1) ~= L * D or Tensor.size(h, 2) ~= N then
          raise(('%s: hidden state %d must be (%d, %d, H) for %d layers, %d directions and batch %d, got %s'):format(op,
            i, L * D, N, L, D, N, shape_str(h)))
        end
      end
      local finals = {}
      for s = 1, nstates do finals[s] = {} end
      local input = x
      for l = 1, L do
        local outs = {}
        for d = 1, D do
          local k = (l - 1) * D + d
          local w = {}
          for j = 1, per do w[j] = params[(k - 1) * per + j] end
          local w_hr = proj and w[per] or nil
          if not has_biases then w[3], w[4] = nil, nil end
          local st = {}
          for s = 1, nstates do st[s] = Tensor.select(hx[s], 1, k) end
          if proj then proj_args(op, k, Tensor.select(input, 1, 1), st[1], st[2], w[1], w[2], w[3], w[4], w_hr)
          else cell_args(op, gates, Tensor.select(input, 1, 1), st[1], w[1], w[2], w[3], w[4]) end
          local ys = {}
          for i = 1, T do
            local t = d == 1 and i or T - i + 1
            st = step(Tensor.select(input, 1, t), st, w[1], w[2], w[3], w[4], w_hr)
            ys[t] = st[1]
          end
          outs[d] = nl.stack(ys, 1)
          for s = 1, nstates do finals[s][k] = st[s] end
        end
        input = D == 2 and nl.cat(outs, 3) or outs[1]
        if dropout > 0 and train and l < L then input = F.dropout(input, dropout, true) end
      end
      if batch_first then input = Tensor.transpose(input, 1, 2) end
      if nstates == 2 then return input, nl.stack(finals[1], 1), nl.stack(finals[2], 1) end
      return input, nl.stack(finals[1], 1)
    end)
  end

  -- ---- linear algebra under its pre-linalg names ----------------------------------------

  local function mT(t) return Tensor.transpose(t, -2, -1) end
  local function matrices(op, what, A)
    tensor_arg(op, what, A)
    if Tensor.dim(A) < 2 then
      raise(('%s: %s must be a matrix or a batch of them (..., m, n), got shape %s'):format(op, what, shape_str(A)))
    end
    return Tensor.size(A, -2), Tensor.size(A, -1)
  end

  -- removed before 1.13, which raises on them: the message names the linalg form
  for name, use in pairs({ solve = 'nl.linalg.solve(A, B)', lstsq = 'nl.linalg.lstsq(A, B)',
                           matrix_rank = 'nl.linalg.matrix_rank(A)', eig = 'nl.linalg.eigh(A) (symmetric A)' }) do
    nl[name] = function()
      raise(('%s: removed in PyTorch 1.9 (1.13 raises too); use %s'):format(name, use))
    end
  end

  -- torch.lu(A, pivot = true, get_infos = false): the packed LU factor
  -- and the 1-based pivots (int64), and with get_infos the info per
  -- matrix (0, or where U's diagonal first holds a 0) instead of an error
  define('lu', '(A, pivot, get_infos)', function(A, pivot, get_infos)
    local op = 'lu'
    matrices(op, 'A', A)
    if flag(op, 'pivot', pivot, true) == false then
      raise(op .. ': LU without pivoting is not implemented on the CPU (as PyTorch 1.13)')
    end
    if flag(op, 'get_infos', get_infos, false) then return linalg.lu_factor_ex(A) end
    return linalg.lu_factor(A)
  end)
  -- torch.lu_solve(b, LU_data, LU_pivots): X with A X = b for the A that lu factored
  define('lu_solve', '(b, LU_data, LU_pivots)', function(b, lu, piv) return linalg.lu_solve(lu, piv, b) end)
  -- torch.lu_unpack(LU_data, LU_pivots, unpack_data = true, unpack_pivots
  -- = true) -> P (m, m), L (m, k), U (k, n), k = min(m, n), with A = P L
  -- U; a part not unpacked is an empty (0) tensor
  define('lu_unpack', '(LU_data, LU_pivots, unpack_data, unpack_pivots)', function(lu, piv, unpack_data, unpack_pivots)
    local op = 'lu_unpack'
    local m, n = matrices(op, 'LU_data', lu)
    local k = math.min(m, n)
    tensor_arg(op, 'LU_pivots', piv)
    local ls = Tensor.shape(lu)
    ls[#ls] = nil
    ls[#ls] = k
    if Tensor.dtype(piv) ~= 'int64' or shape_str(piv) ~= shape_str(nl.zeros(ls)) then
      raise(('%s: LU_pivots must be int64 (..., %d) for LU_data %s, got %s %s'):format(op, k, shape_str(lu),
        Tensor.dtype(piv), shape_str(piv)))
    end
    local dt = Tensor.dtype(lu)
    local P, L, U = nl.zeros({ 0 }, dt), nl.zeros({ 0 }, dt), nl.zeros({ 0 }, dt)
    if flag(op, 'unpack_pivots', unpack_pivots, true) then
      P = nl._wrap(nl._lib.nl_linalg_lu_permutation(nl._T(piv, op), m, nl._T(lu, op).dtype))
    end
    if flag(op, 'unpack_data', unpack_data, true) then
      local l, u = lu, lu
      if n > k then l = Tensor.narrow(lu, -1, 1, k) end
      if m > k then u = Tensor.narrow(lu, -2, 1, k) end
      L, U = Tensor.tril(l, -1) + nl.eye(m, k, dt), Tensor.triu(u)
    end
    return P, L, U
  end)
  -- torch.triangular_solve(b, A, upper = true, transpose = false,
  -- unitriangular = false) -> X with op(A) X = b (op(A) = A^T with
  -- transpose), and a copy of A broadcast to X's batch
  define('triangular_solve', '(b, A, upper, transpose, unitriangular)', function(b, A, upper, transpose, unitri)
    local op = 'triangular_solve'
    matrices(op, 'b', b)
    local m, n = matrices(op, 'A', A)
    if m ~= n or Tensor.size(b, -2) ~= m then
      raise(('%s: expected A square (..., n, n) and b (..., n, k), got A %s and b %s'):format(op, shape_str(A),
        shape_str(b)))
    end
    upper = flag(op, 'upper', upper, true)
    local tr = flag(op, 'transpose', transpose, false)
    local x = linalg.solve_triangular(tr and mT(A) or A, b, { upper = upper ~= tr,
                                                            unitriangular = flag(op, 'unitriangular', unitri, false) })
    local s = Tensor.shape(x)
    s[#s] = n
    return x, Tensor.clone(Tensor.expand(A, s))
  end)
  -- torch.symeig(A, eigenvectors = false, upper = true): the eigenvalues
  -- ascending and, with eigenvectors, the vectors as columns; without, an
  -- empty (0) tensor in their place, as PyTorch's
  define('symeig', '(A, eigenvectors, upper)', function(A, vectors, upper)
    local op = 'symeig'
    matrices(op, 'A', A)
    local uplo = flag(op, 'upper', upper, true) and 'U' or 'L'
    if flag(op, 'eigenvectors', vectors, false) then return linalg.eigh(A, { UPLO = uplo }) end
    return linalg.eigvalsh(A, { UPLO = uplo }), nl.zeros({ 0 }, Tensor.dtype(A))
  end)

  -- torch.geqrf(A) -> a, tau: LAPACK's Householder QR form: R on and
  -- above a's diagonal, v_j's entries below it (v_j(j) = 1 implied),
  -- Q = H_1 ... H_k, H_j = I - tau_j v_j v_j^T, k = min(m, n). Each
  -- reflector maps the column's tail to beta e_1 with beta = -sign(alpha)
  -- |x| (alpha its first entry; sign(0) = +), tau = (beta - alpha) /
  -- beta, v = x / (alpha - beta); a column whose tail is already 0 gets
  -- tau = 0. As PyTorch's, the result has no gradient.
  define('geqrf', '(A)', function(A)
    local op = 'geqrf'
    local m, n = matrices(op, 'A', A)
    nl._float_only(A, op)
    return nl.no_grad(function()
      local R = Tensor.clone(Tensor.contiguous(Tensor.detach(A)))
      local k = math.min(m, n)
      local ts = Tensor.shape(A)
      ts[#ts] = nil
      ts[#ts] = k
      local tau = nl.zeros(ts, Tensor.dtype(A))
      for j = 1, k do
        local col = Tensor.narrow(Tensor.narrow(R, -1, j, 1), -2, j, m - j + 1)   -- (..., m - j + 1, 1)
        local alpha = Tensor.narrow(col, -2, 1, 1)
        if m - j > 0 then
          local tail = Tensor.narrow(col, -2, 2, m - j)
          local t2 = Tensor.sum(tail * tail, -2, true)
          local zero = Tensor.eq(t2, 0)
          local norm = Tensor.sqrt(alpha * alpha + t2)
          local beta = nl.where(Tensor.lt(alpha, 0), norm, -norm)
          beta = nl.where(zero, alpha, beta)
          local t = nl.where(zero, 0, (beta - alpha) / nl.where(zero, 1, beta))
          local v = tail / nl.where(zero, 1, alpha - beta)
          v = nl.where(zero, tail, v)
          -- the reflector applied to the columns right of j
          if n > j then
            local rest = Tensor.narrow(Tensor.narrow(R, -1, j + 1, n - j), -2, j, m - j + 1)
            local vf = nl.cat({ nl.ones(Tensor.shape(alpha), Tensor.dtype(A)), v }, -2)      -- (..., m - j + 1, 1)
            local w = nl.matmul(mT(vf), rest)                                               -- (..., 1, n - j)
            Tensor.copy_(rest, rest - (vf * t) * w)
          end
          Tensor.copy_(alpha, beta)
          Tensor.copy_(tail, v)
          Tensor.copy_(Tensor.narrow(tau, -1, j, 1), Tensor.squeeze(t, -1))
        end
      end
      return R, tau
    end)
  end)
  -- torch.orgqr(A, tau): Q's first n columns from geqrf's form (linalg.householder_product)
  define('orgqr', '(A, tau)', function(A, tau) return linalg.householder_product(A, tau) end)
  -- torch.ormqr(A, tau, C, left = true, transpose = false): Q C (C Q with
  -- left false; Q^T with transpose) for the full m x m Q of geqrf's form
  -- in A (..., m, k') and tau (..., k)
  define('ormqr', '(A, tau, C, left, transpose)', function(A, tau, C, left, transpose)
    local op = 'ormqr'
    local m, kc = matrices(op, 'A', A)
    local cm, cn = matrices(op, 'C', C)
    tensor_arg(op, 'tau', tau)
    left, transpose = flag(op, 'left', left, true), flag(op, 'transpose', transpose, false)
    if (left and cm or cn) ~= m or Tensor.size(tau, -1) > math.min(m, kc) then
      raise(('%s: A %s, tau %s and C %s do not fit (C must have %d %s, tau at most min(m, n) entries)'):format(op,
        shape_str(A), shape_str(tau), shape_str(C), m, left and 'rows' or 'columns'))
    end
    local Af = A
    if kc > m then
      Af = Tensor.narrow(A, -1, 1, m)
    elseif kc < m then
      local s = Tensor.shape(A)
      s[#s] = m - kc
      Af = nl.cat({ A, nl.zeros(s, Tensor.dtype(A)) }, -1)
    end
    local Q = linalg.householder_product(Af, tau)
    if transpose then Q = mT(Q) end
    return left and nl.matmul(Q, C) or nl.matmul(C, Q)
  end)

  -- an orthonormal basis of Y's columns
  local function basis(Y) return (linalg.qr(Y)) end
  -- Halko, Martinsson and Tropp's randomized range finder (Algorithm 4.4,
  -- with QR after each product): Q (m, q) spans A's top q singular
  -- directions; niter power iterations sharpen it
  local function lowrank(op, A, q, niter, M)
    local m, n = matrices(op, 'A', A)
    nl._float_only(A, op)
    if type(q) ~= 'number' or q ~= math.floor(q) or q < 1 or q > math.min(m, n) then
      raise(('%s: q must be an integer in 1..min(m, n) = %d for A %s, got %s'):format(op, math.min(m, n), shape_str(A),
        describe(q)))
    end
    if type(niter) ~= 'number' or niter ~= math.floor(niter) or niter < 0 then
      raise(op .. ': niter must be a nonnegative integer, got ' .. describe(niter))
    end
    if M ~= nil then A = A - tensor_arg(op, 'M', M) end
    local s = Tensor.shape(A)
    s[#s - 1], s[#s] = n, q
    local Q = basis(nl.matmul(A, nl.randn(s, Tensor.dtype(A))))
    for _ = 1, niter do
      Q = basis(nl.matmul(A, basis(nl.matmul(mT(A), Q))))
    end
    local U, S, Vh = linalg.svd(nl.matmul(mT(Q), A), { full_matrices = false })
    return nl.matmul(Q, U), S, mT(Vh)
  end
  -- torch.svd_lowrank(A, q = 6, niter = 2, M = nil) -> U (m, q), S (q),
  -- V (n, q) with A - M ~ U diag(S) V^T; random (nl.manual_seed)
  define('svd_lowrank', '(A, q, niter, M)', function(A, q, niter, M)
    return lowrank('svd_lowrank', A, q == nil and 6 or q, niter == nil and 2 or niter, M)
  end)
  -- torch.lobpcg(A, k, B, X, n, iK, niter, tol, largest, method): the k
  -- largest (smallest) eigenpairs of A x = lambda B x, A symmetric and B
  -- symmetric positive definite (nil: the identity), by Knyazev's locally
  -- optimal block preconditioned conjugate gradient: each step a
  -- Rayleigh-Ritz on the span of X, the (preconditioned) residuals W and
  -- the previous step's directions P, its basis made orthonormal by a QR
  -- (and B-orthonormal by the eigendecomposition of its Gram matrix, the
  -- directions it barely spans dropped). n (default k, or X's columns)
  -- vectors are iterated; it stops when the first k residuals are below
  -- tol (default sqrt(eps)) relative to their eigenvalues, or after niter
  -- steps (default 1000; -1: no limit). method 'ortho' and 'basic' run
  -- this one method. A (m, m) with m >= 3 n, one matrix (1.13 also takes
  -- batches). E is descending for the largest, ascending for the
  -- smallest; X's columns B-normalized. The eigenvalues have the
  -- gradient of the Rayleigh quotient, x^T A x, towards A symmetrized;
  -- the vectors none.
  local LOBPCG_OPTS = { k = 1, B = 1, X = 1, n = 1, iK = 1, niter = 1, tol = 1, largest = 'flag', method = 1 }
  local LOBPCG_ARGS = { 'k', 'B', 'X', 'n', 'iK', 'niter', 'tol', 'largest', 'method' }
  function nl.lobpcg(A, ...)
    local op = 'lobpcg'
    local o = select(1, ...)
    if select('#', ...) == 1 and type(o) == 'table' and not is_tensor(o) then
      nl._check_opts(op, o, LOBPCG_OPTS)
    else
      if select('#', ...) > #LOBPCG_ARGS then
        no_extra_args(op, '(A, k, B, X, n, iK, niter, tol, largest, method)', nil, select(#LOBPCG_ARGS + 1, ...))
      end
      o = {}
      for i, name in ipairs(LOBPCG_ARGS) do o[name] = (select(i, ...)) end
    end
    return as_op(op, function()
      local m, m2 = matrices(op, 'A', A)
      nl._float_only(A, op)
      if m ~= m2 or Tensor.dim(A) ~= 2 then
        raise(('%s: A must be a square matrix (m, m), got shape %s'):format(op, shape_str(A)))
      end
      local dt = Tensor.dtype(A)
      for _, w in ipairs({ 'B', 'iK' }) do
        local t = o[w]
        if t ~= nil and (not is_tensor(t) or shape_str(t) ~= shape_str(A) or Tensor.dtype(t) ~= dt) then
          raise(('%s: %s must be a %s tensor of A\'s shape %s, got %s'):format(op, w, dt, shape_str(A), describe(t)))
        end
      end
      local X0 = o.X
      if X0 ~= nil and (not is_tensor(X0) or Tensor.dim(X0) ~= 2 or Tensor.size(X0, 1) ~= m
                        or Tensor.dtype(X0) ~= dt) then
        raise(('%s: X must be a %s tensor (%d, n), got %s'):format(op, dt, m, describe(X0)))
      end
      local k = o.k or (X0 and Tensor.size(X0, 2)) or 1
      local n = o.n or (X0 and Tensor.size(X0, 2)) or k
      for _, v in ipairs({ { 'k', k }, { 'n', n } }) do
        if type(v[2]) ~= 'number' or v[2] ~= math.floor(v[2]) or v[2] < 1 then
          raise(('%s: %s must be a positive integer, got %s'):format(op, v[1], describe(v[2])))
        end
      end
      if X0 and Tensor.size(X0, 2) ~= n then
        raise(('%s: n %d must be the number of X\'s columns, %d'):format(op, n, Tensor.size(X0, 2)))
      end
      if k > n then raise(('%s: k %d must not exceed n %d'):format(op, k, n)) end
      if m < 3 * n then
        raise(('%s: not applicable when A has fewer rows (%d) than 3 x the number of vectors n (%d)'):format(op, m, n))
      end
      local niter = o.niter or 1000
      if type(niter) ~= 'number' or niter ~= math.floor(niter) or niter < -1 then
        raise(op .. ': niter must be an integer, -1 for no limit, got ' .. describe(niter))
      end
      local tol = o.tol or math.sqrt(dt == 'float64' and 2.220446049250313e-16 or 1.1920928955078125e-07)
      if type(tol) ~= 'number' or not (tol > 0) then
        raise(op .. ': tol must be a positive number, got ' .. describe(tol))
      end
      local largest = flag(op, 'largest', o.largest, true)
      if o.method ~= nil and o.method ~= 'ortho' and o.method ~= 'basic' then
        raise(op .. ": method must be 'ortho' or 'basic', got " .. describe(o.method))
      end
      local B, iK = o.B, o.iK
      local E, X = nl.no_grad(function()
        local Ad = Tensor.detach(A)
        Ad = (Ad + mT(Ad)) * 0.5
        local Bd = B and Tensor.detach(B)
        local drop = (dt == 'float64' and 1e-13 or 1e-6)
        -- Rayleigh-Ritz on span(S): the n wanted Ritz values and their
        -- vectors (B-orthonormal)
        local function rayleigh_ritz(S)
          local T = (linalg.qr(S))
          if Bd then
            local G = nl.matmul(mT(T), nl.matmul(Bd, T))
            local l, V = linalg.eigh((G + mT(G)) * 0.5)
            local lt = l:totable()
            local first = 1
            while first < #lt and lt[first] <= lt[#lt] * drop do first = first + 1 end
            local keep = #lt - first + 1
            T = nl.matmul(T, Tensor.narrow(V, 2, first, keep) / Tensor.narrow(l, 1, first, keep):sqrt())
          end
          local H = nl.matmul(mT(T), nl.matmul(Ad, T))
          local mu, Z = linalg.eigh((H + mT(H)) * 0.5)
          if largest then mu, Z = Tensor.flip(mu, { 1 }), Tensor.flip(Z, { 2 }) end
          return Tensor.narrow(mu, 1, 1, n), nl.matmul(T, Tensor.narrow(Z, 2, 1, n))
        end
        local E, X = rayleigh_ritz(X0 and Tensor.detach(X0) or nl.randn({ m, n }, dt))
        local P
        local step = 0
        while niter == -1 or step < niter do
          local BX = Bd and nl.matmul(Bd, X) or X
          local R = nl.matmul(Ad, X) - BX * E
          local rerr = (R * R):sum(1):sqrt() / (E:abs() + (dt == 'float64' and 1e-300 or 1e-30))
          if Tensor.narrow(rerr, 1, 1, k):max():item() < tol then break end
          step = step + 1
          local W = iK and nl.matmul(Tensor.detach(iK), R) or R
          local Xn
          E, Xn = rayleigh_ritz(nl.cat(P and { X, W, P } or { X, W }, 2))
          -- the new vectors' part B-orthogonal to the old ones: span{X, P} = span{X, Xn}
          P = Xn - nl.matmul(X, nl.matmul(mT(BX), Xn))
          X = Xn
        end
        return Tensor.narrow(E, 1, 1, k), Tensor.narrow(X, 2, 1, k)
      end)
      if nl.is_grad_enabled() and A.is_requires_grad then
        local As = (A + mT(A)) * 0.5
        E = (X * nl.matmul(As, X)):sum(1)
      end
      return E, X
    end)()
  end

  -- torch.pca_lowrank(A, q = min(6, m, n), center = true, niter = 2):
  -- svd_lowrank of A less its column means (center)
  define('pca_lowrank', '(A, q, center, niter)', function(A, q, center, niter)
    local op = 'pca_lowrank'
    local m, n = matrices(op, 'A', A)
    if flag(op, 'center', center, true) then A = A - Tensor.mean(A, -2, true) end
    return lowrank(op, A, q == nil and math.min(6, m, n) or q, niter == nil and 2 or niter)
  end)
end
