-- functional_extra.lua: torch.nn.functional names of PyTorch 1.13 that
-- run another function of nn.functional: the pools' *_with_indices forms,
-- the in-place activations (relu_, elu_, celu_, selu_, leaky_relu_,
-- hardtanh_, rrelu_, threshold_), the deprecated upsample,
-- upsample_nearest and upsample_bilinear, native_channel_shuffle and
-- multi_head_attention_forward (nn.MultiheadAttention's forward with the
-- layer's tensors as arguments). Each error names the function called.
-- Not here: the functions they run (their families' files).
return function(nl, nn)
  local F = nn.functional
  local lib = nl._lib

  -- f(...) with an error's leading "from:" (after its position) said as
  -- "op:", so that the message names the function the user called (an
  -- error from elsewhere passes with its position taken off)
  local function as(op, from, f, ...)
    local res = { pcall(f, ...) }
    if not res[1] then
      local msg = tostring(res[2])
      local at = msg:find(from .. ':', 1, true)
      if at then msg = op .. msg:sub(at + #from)
      else msg = msg:gsub('^[^\n]-:%d+: ', '', 1) end
      nl._raise(msg)
    end
    return unpack(res, 2, table.maxn(res))
  end
  nn._call_as = as

  -- ---- pools that always return the indices ----

  -- F.max_pool1d/2d/3d_with_indices(x, kernel_size, stride, padding,
  -- dilation, ceil_mode, return_indices), or (x, kernel_size, {options}):
  -- max_pool*d with return_indices = true (PyTorch's return both, whatever
  -- return_indices says)
  for nd = 1, 3 do
    local base = ('max_pool%dd'):format(nd)
    local op = base .. '_with_indices'
    F[op] = function(x, kernel_size, opts, ...)
      local given
      -- (an empty table: no options, or PyTorch's stride=[], the default: both the kernel size)
      if type(opts) == 'table' and not nl.is_tensor(opts) and opts[1] == nil then
        given = {}
        for k, v in pairs(opts) do given[k] = v end
        given.return_indices = true
        if select('#', ...) > 0 then
          nl._no_extra_args(op, '(input, kernel_size, {options})', "options go in one table, or all in PyTorch's "
            .. 'positional order', ...)
        end
        return as(op, base, F[base], x, kernel_size, given)
      end
      -- positional: stride, padding, dilation, ceil_mode, return_indices
      local n = select('#', ...)
      if n > 4 then nl._no_extra_args(op, '(input, kernel_size, stride, padding, dilation, ceil_mode, '
        .. 'return_indices)', nil, select(5, ...)) end
      local a = { ... }
      local padding, dilation, ceil_mode = a[1], a[2], a[3]
      return as(op, base, F[base], x, kernel_size, { stride = opts, padding = padding, dilation = dilation,
                                                      ceil_mode = ceil_mode, return_indices = true })
    end
  end

  -- F.adaptive_max_pool1d/2d/3d_with_indices(x, output_size, return_indices)
  for nd = 1, 3 do
    local base = ('adaptive_max_pool%dd'):format(nd)
    local op = base .. '_with_indices'
    F[op] = function(x, output_size, return_indices, ...)
      nl._no_extra_args(op, '(input, output_size, return_indices)', nil, ...)
      if return_indices ~= nil and type(return_indices) ~= 'boolean' then
        nl._argerror(op, 'a boolean return_indices flag', return_indices)
      end
      return as(op, base, F[base], x, output_size, true)
    end
  end

  -- ---- in-place activations ----

  -- the values of params ({name, default}) from the arguments after the
  -- input: positional, or one table of their names
  local function values(op, params, ...)
    local names = {}
    for i, pd in ipairs(params) do names[i] = pd[1] end
    local args = { nl._opts_or_args(op, table.concat(names, ' '), ...) }
    local n = table.maxn(args)
    if n > #params then
      nl._raise(('%s: takes (input%s), got %d arguments'):format(op,
        #names > 0 and ', ' .. table.concat(names, ', ') or '', n + 1))
    end
    local v = {}
    for i, pd in ipairs(params) do
      local a = args[i]
      if a == nil then a = pd[2] end
      if pd[3] ~= 'flag' and type(a) ~= 'number' then nl._argerror(op, 'a number as ' .. pd[1], a) end
      if pd[3] == 'flag' and type(a) ~= 'boolean' then nl._argerror(op, 'a boolean ' .. pd[1] .. ' flag', a) end
      v[i] = a
    end
    return v
  end

  -- F[op](x, ...): x changed in place by its method of that name, which
  -- refuses (as nnlua's every in-place op) a tensor that requires grad
  -- outside no_grad, and returns x
  local function inplace(op, params)
    F[op] = function(x, ...)
      nl._T(x, op)
      local v = values(op, params, ...)
      return as(op, op, x[op], x, unpack(v, 1, #params))
    end
  end
  inplace('relu_', {})
  inplace('selu_', {})
  inplace('elu_', { { 'alpha', 1 } })
  inplace('celu_', { { 'alpha', 1 } })
  inplace('leaky_relu_', { { 'negative_slope', 0.01 } })
  inplace('hardtanh_', { { 'min_val', -1 }, { 'max_val', 1 } })

  -- x's elements replaced by f's result, computed out of place (x kept
  -- out of any graph: the in-place check comes first)
  local function write_into(op, x, f)
    nl._check(lib.nl_inplace_check(nl._T(x, op), op))
    local r = nl.no_grad(f)
    return x:copy_(r)
  end

  -- F.rrelu_(x, lower = 1/8, upper = 1/3, training = false), or a table
  -- of those: F.rrelu's values written into x
  function F.rrelu_(x, ...)
    local op = 'rrelu_'
    nl._T(x, op)
    local v = values(op, { { 'lower', 1 / 8 }, { 'upper', 1 / 3 }, { 'training', false, 'flag' } }, ...)
    nl._float_only(x, op)
    return write_into(op, x, function() return as(op, 'rrelu', F.rrelu, x, v[1], v[2], v[3]) end)
  end

  -- F.threshold_(x, threshold, value), or {threshold, value}: F.threshold's
  -- values written into x
  function F.threshold_(x, threshold, value, ...)
    local op = 'threshold_'
    nl._no_extra_args(op, '(input, threshold, value)', nil, ...)
    threshold, value = nl._opts_or_args(op, 'threshold value', threshold, value)
    nl._T(x, op)
    return write_into(op, x, function() return as(op, 'threshold', F.threshold, x, threshold, value) end)
  end

  -- ---- deprecated upsampling: F.interpolate ----

  local UP_KNOWN = { size = 1, scale_factor = 1, mode = 1, align_corners = 1 }

  -- a table of options (a string key, or empty) or a size list (upsampling.lua's)
  local is_options = nn._is_options

  -- the options of op: (size, scale_factor, ...names after them) or a table
  local function up_options(op, names, a, ...)
    if is_options(a) then
      nl._no_extra_args(op, '(input, {options})', nil, ...)
      local known = {}
      for _, k in ipairs(names) do known[k] = UP_KNOWN[k] end
      nl._check_opts(op, a, known)
      return a
    end
    local o, rest = { size = a }, { ... }
    if select('#', ...) >= #names then
      nl._no_extra_args(op, '(input, ' .. table.concat(names, ', ') .. ')', nil, select(#names, ...))
    end
    for i = 2, #names do o[names[i]] = rest[i - 1] end
    return o
  end

  -- F.upsample(x, size, scale_factor, mode = 'nearest', align_corners), or
  -- (x, {size, scale_factor, mode, align_corners}): F.interpolate
  function F.upsample(x, a, ...)
    local op = 'upsample'
    local o = up_options(op, { 'size', 'scale_factor', 'mode', 'align_corners' }, a, ...)
    return as(op, 'interpolate', F.interpolate, x, { size = o.size, scale_factor = o.scale_factor, mode = o.mode,
                                                      align_corners = o.align_corners })
  end

  -- F.upsample_nearest(x, size, scale_factor), or (x, {size, scale_factor})
  function F.upsample_nearest(x, a, ...)
    local op = 'upsample_nearest'
    local o = up_options(op, { 'size', 'scale_factor' }, a, ...)
    return as(op, 'interpolate', F.interpolate, x, { size = o.size, scale_factor = o.scale_factor, mode = 'nearest' })
  end

  -- F.upsample_bilinear(x, size, scale_factor), or (x, {size,
  -- scale_factor}): bilinear with align_corners = true, as PyTorch's
  function F.upsample_bilinear(x, a, ...)
    local op = 'upsample_bilinear'
    local o = up_options(op, { 'size', 'scale_factor' }, a, ...)
    return as(op, 'interpolate', F.interpolate, x, { size = o.size, scale_factor = o.scale_factor, mode = 'bilinear',
                                                      align_corners = true })
  end

  -- F.native_channel_shuffle(x, groups): F.channel_shuffle (its gradient
  -- too, which PyTorch 1.13's native form lacks)
  function F.native_channel_shuffle(x, groups, ...)
    local op = 'native_channel_shuffle'
    nl._no_extra_args(op, '(input, groups)', nil, ...)
    return as(op, 'channel_shuffle', F.channel_shuffle, x, groups)
  end

  -- ---- F.multi_head_attention_forward ----

  local MHA_ARGS = { 'query', 'key', 'value', 'embed_dim_to_check', 'num_heads', 'in_proj_weight', 'in_proj_bias',
                     'bias_k', 'bias_v', 'add_zero_attn', 'dropout_p', 'out_proj_weight', 'out_proj_bias',
                     'training', 'key_padding_mask', 'need_weights', 'attn_mask', 'use_separate_proj_weight',
                     'q_proj_weight', 'k_proj_weight', 'v_proj_weight', 'static_k', 'static_v',
                     'average_attn_weights' }
  local MHA_KNOWN = {}
  for _, k in ipairs(MHA_ARGS) do MHA_KNOWN[k] = 1 end
  local MHA_FLAGS = { add_zero_attn = false, training = true, need_weights = true, use_separate_proj_weight = false,
                      average_attn_weights = true }

  -- F.multi_head_attention_forward(query, key, value, embed_dim_to_check,
  -- num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
  -- add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training =
  -- true, key_padding_mask, need_weights = true, attn_mask,
  -- use_separate_proj_weight = false, q_proj_weight, k_proj_weight,
  -- v_proj_weight, static_k, static_v, average_attn_weights = true) ->
  -- output, weights (nil unless need_weights), PyTorch 1.13's argument
  -- list (nil for its None), or (query, key, value, {the rest by name}).
  -- Sequence first: query (L, N, E), key (S, N, kdim), value (S, N, vdim),
  -- or unbatched (L, E), ... The masks are nn.MultiheadAttention's (int64
  -- or float, nonzero blocks: PyTorch's boolean form). static_k and
  -- static_v are not supported.
  function F.multi_head_attention_forward(query, key, value, ...)
    local op = 'multi_head_attention_forward'
    local a = {}
    local first = ...
    if type(first) == 'table' and not nl.is_tensor(first) then
      nl._no_extra_args(op, '(query, key, value, {options})', nil, select(2, ...))
      nl._check_opts(op, first, MHA_KNOWN)
      for k, v in pairs(first) do a[k] = v end
    else
      local n = select('#', ...)
      if n > #MHA_ARGS - 3 then
        nl._no_extra_args(op, '(' .. table.concat(MHA_ARGS, ', ') .. ')', nil, select(#MHA_ARGS - 2, ...))
      end
      local rest = { ... }
      for i = 4, #MHA_ARGS do a[MHA_ARGS[i]] = rest[i - 3] end
    end
    for _, t in ipairs({ { query, 'query' }, { key, 'key' }, { value, 'value' } }) do
      if not nl.is_tensor(t[1]) then nl._argerror(op, 'a tensor as ' .. t[2], t[1]) end
    end
    for k, d in pairs(MHA_FLAGS) do
      if a[k] == nil then a[k] = d end
      if type(a[k]) ~= 'boolean' then nl._argerror(op, 'a boolean ' .. k, a[k]) end
    end
    local E, H = a.embed_dim_to_check, a.num_heads
    if not nl._size_arg(E) or not nl._size_arg(H) then
      nl._raise(('%s: expected positive whole numbers embed_dim_to_check and num_heads, got %s and %s'):format(op,
        nl._describe_arg(E), nl._describe_arg(H)))
    end
    if query:size(-1) ~= E then
      nl._raise(('%s: was expecting embedding dimension of %d, but got %d (query shape %s)'):format(op, E,
        query:size(-1), nl._shape_str(query)))
    end
    if E % H ~= 0 then nl._raise(('%s: embed_dim %d not divisible by num_heads %d'):format(op, E, H)) end
    if a.static_k ~= nil or a.static_v ~= nil then
      nl._raise(op .. ': static_k and static_v are not supported')
    end
    local p = a.dropout_p or 0
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then
      nl._raise(op .. ': dropout_p must be a number in [0, 1], got ' .. nl._describe_arg(p))
    end
    local function tensor_or_nil(name, required)
      local t = a[name]
      if t == nil and not required then return nil end
      if not nl.is_tensor(t) then
        nl._raise(('%s: %s must be a tensor%s, got %s'):format(op, name, required and '' or ' or nil',
          nl._describe_arg(t)))
      end
      return t
    end
    -- the layer's fields, as nn.MultiheadAttention's forward reads them
    local layer = { embed_dim = E, num_heads = H, head_dim = E / H, batch_first = false, dropout = p,
                    training = a.training, add_zero_attn = a.add_zero_attn,
                    _qkv_same_embed_dim = not a.use_separate_proj_weight,
                    in_proj_bias = tensor_or_nil('in_proj_bias'),
                    bias_k = tensor_or_nil('bias_k'), bias_v = tensor_or_nil('bias_v') }
    if (layer.bias_k == nil) ~= (layer.bias_v == nil) then
      nl._raise(op .. ': bias_k and bias_v are given both or neither')
    end
    if a.use_separate_proj_weight then
      layer.q_proj_weight = tensor_or_nil('q_proj_weight', true)
      layer.k_proj_weight = tensor_or_nil('k_proj_weight', true)
      layer.v_proj_weight = tensor_or_nil('v_proj_weight', true)
      layer.kdim, layer.vdim = layer.k_proj_weight:size(-1), layer.v_proj_weight:size(-1)
      local want = { { 'q_proj_weight', E }, { 'k_proj_weight', layer.kdim }, { 'v_proj_weight', layer.vdim } }
      for _, w in ipairs(want) do
        local t = layer[w[1]]
        if t:dim() ~= 2 or t:size(1) ~= E or t:size(2) ~= w[2] then
          nl._raise(('%s: %s must be (%d, %d), got %s'):format(op, w[1], E, w[2], nl._shape_str(t)))
        end
      end
    else
      local w = tensor_or_nil('in_proj_weight', true)
      if nl._shape_str(w) ~= ('[%d,%d]'):format(3 * E, E) then
        nl._raise(('%s: in_proj_weight must be (%d, %d), got %s'):format(op, 3 * E, E, nl._shape_str(w)))
      end
      layer.in_proj_weight, layer.kdim, layer.vdim = w, E, E
    end
    if layer.in_proj_bias and nl._shape_str(layer.in_proj_bias) ~= ('[%d]'):format(3 * E) then
      nl._raise(('%s: in_proj_bias must be (%d), got %s'):format(op, 3 * E, nl._shape_str(layer.in_proj_bias)))
    end
    for _, name in ipairs({ 'bias_k', 'bias_v' }) do
      if layer[name] and nl._shape_str(layer[name]) ~= ('[1,1,%d]'):format(E) then
        nl._raise(('%s: %s must be (1, 1, %d), got %s'):format(op, name, E, nl._shape_str(layer[name])))
      end
    end
    local ow, ob = tensor_or_nil('out_proj_weight', true), tensor_or_nil('out_proj_bias')
    layer.out_proj = function(x) return F.linear(x, ow, ob) end
    return as(op, 'MultiheadAttention', nn.MultiheadAttention.forward, layer, query, key, value,
              { key_padding_mask = tensor_or_nil('key_padding_mask'), attn_mask = tensor_or_nil('attn_mask'),
                need_weights = a.need_weights, average_attn_weights = a.average_attn_weights })
  end
end
