-- attention.lua: nn.MultiheadAttention (PyTorch's parameters and layout:
-- in_proj_weight (3E, E), or q/k/v_proj_weight where kdim or vdim is not
-- E; out_proj; add_bias_kv, add_zero_attn), causal and key-padding masks, unbatched (L, E) inputs,
-- nn.TransformerEncoderLayer (post-norm by default, as PyTorch's; pre-norm
-- with norm_first = true), and nn.PositionalEncoding
-- (sinusoidal), and F.scaled_dot_product_attention, whose core
-- (nn._attention) MultiheadAttention computes through. Built from
-- batched matmul, softmax and where: autograd
-- differentiates it all. MultiheadAttention's masks are float or int tensors where nonzero
-- means "may not attend" (PyTorch's boolean masks); a float mask may also
-- hold -inf or a large negative number (-1e4 or below: -1e9, the dtype's
-- lowest) there, PyTorch's additive forms of a block; any other value is
-- refused: PyTorch would add it to the scores, which this form cannot say.
-- The decoder and nn.Transformer are in transformer.lua.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional

  -- the options each constructor and forward reads; any other key is an
  -- error, not ignored
  local MHA_INIT = { batch_first = 'flag', dropout = 1, bias = 'flag', kdim = 1, vdim = 1, add_bias_kv = 'flag',
                     add_zero_attn = 'flag' }
  local MHA_FORWARD = { attn_mask = 1, key_padding_mask = 1, is_causal = 'flag', need_weights = 'flag',
                        average_attn_weights = 'flag' }
  local TEL_INIT = { dim_feedforward = 1, dropout = 1, norm_first = 'flag', batch_first = 'flag', layer_norm_eps = 1,
                     activation = 1 }
  local TEL_FORWARD = { src_mask = 1, src_key_padding_mask = 1, is_causal = 'flag' }

  -- The attention that nn.MultiheadAttention and
  -- F.scaled_dot_product_attention share: softmax(q k^T * scale + masks)
  -- v, batched matmuls over the leading dims (broadcast). q (..., L, E),
  -- k (..., S, E), v (..., S, Ev); add_masks(scores) gives the scores
  -- (..., L, S) with the masks added (nil: none); p, the dropout of the
  -- weights. Returns the output (..., L, Ev) and the weights (..., L, S).
  -- The scale goes on q, (L, E), not on the scores, (L, S). safe: a row
  -- the masks block whole gets weights 0 (PyTorch 2.5's _safe_softmax),
  -- and no gradient, where the plain softmax gives NaN.
  function nn._attention(q, k, v, scale, add_masks, p, safe)
    local scores = nl.matmul(q * scale, k:transpose(-2, -1))
    -- the masks' -inf where they block, then the softmax that turns them
    -- to 0: detect_anomaly checks what comes out, not the -inf on the way
    -- (PyTorch's anomaly mode checks no forward)
    local function masked_softmax(s)
      if not add_masks then return s:softmax(-1) end
      s = add_masks(s)
      if not safe then return s:softmax(-1) end
      -- a blocked row's scores become 0 before the softmax (uniform, no
      -- -inf - -inf), its weights 0 after: the gradient stays finite
      local blocked = s:amax(-1, true):eq(-math.huge)
      return nl.where(blocked, 0, nl.where(blocked, 0, s):softmax(-1))
    end
    local attn = nl._anomaly_checked(nl._without_anomaly(masked_softmax, scores), 'softmax')
    if p >= 1 then
      attn = attn * 0
    elseif p > 0 then
      attn = attn * nl.rand(attn:shape(), attn:dtype()):ge(p) * (1 / (1 - p))
    end
    return nl.matmul(attn, v), attn
  end

  local SDPA_ARGS = { 'attn_mask', 'dropout_p', 'is_causal', 'scale' }
  local SDPA_KNOWN = { attn_mask = 1, dropout_p = 1, is_causal = 'flag', scale = 1 }

  -- F.scaled_dot_product_attention(query (..., L, E), key (..., S, E),
  -- value (..., S, Ev), {attn_mask, dropout_p = 0, is_causal = false,
  -- scale = 1 / sqrt(E)}) -> (..., L, Ev), PyTorch 2.x's (also in its
  -- positional order). attn_mask, broadcast to (..., L, S): int64 is
  -- PyTorch's boolean mask (nonzero: takes part; nnlua has no bool), a
  -- float mask of query's dtype is added to the scores. is_causal: query i
  -- attends to keys j <= i (top left aligned), with no attn_mask beside
  -- it. The dropout applies whenever dropout_p > 0, in no module's mode.
  -- A row that nothing may attend gives 0, and no gradient, as PyTorch
  -- 2.5 and later (2.0 to 2.4 gave NaN).
  local function sdpa(query, key, value, a, ...)
    local op = 'scaled_dot_product_attention'
    local o = nn._positional_options(op, '(query, key, value', SDPA_ARGS, SDPA_KNOWN, a, ...)
    local names = { 'query', 'key', 'value' }
    -- (by position: ipairs stopped at a nil query, which reached shape())
    local args = { query, key, value }
    for i = 1, 3 do
      if not nl.is_tensor(args[i]) then nl._argerror(op, 'a tensor as ' .. names[i], args[i]) end
    end
    local given = ('query %s, key %s and value %s'):format(nl._shape_str(query), nl._shape_str(key),
                                                          nl._shape_str(value))
    local dtype = query:dtype()
    if dtype == 'int64' or key:dtype() ~= dtype or value:dtype() ~= dtype then
      nl._raise(('%s: expected query, key and value of one float dtype, got %s, %s and %s'):format(op, dtype,
        key:dtype(), value:dtype()))
    end
    local qs, ks, vs = query:shape(), key:shape(), value:shape()
    local nd = #qs
    if nd < 2 or #ks < 2 or #vs < 2 or ks[#ks] ~= qs[nd] or ks[#ks - 1] ~= vs[#vs - 1] then
      nl._raise(('%s: expected query (..., L, E), key (..., S, E) and value (..., S, Ev), got %s'):format(op, given))
    end
    -- the batch dims broadcast: scores (..., L, S), the output (..., L, Ev)
    local batch = {}
    for _, s in ipairs({ qs, ks, vs }) do
      for i = 1, #s - 2 do                       -- batch[i]: the i-th batch dim from the end
        local d, b = s[#s - 1 - i], batch[i]
        if b and b ~= 1 and d ~= 1 and b ~= d then
          nl._raise(('%s: the batch dims of %s do not broadcast'):format(op, given))
        end
        if not b or b == 1 then batch[i] = d end
      end
    end
    local L, S = qs[nd - 1], ks[#ks - 1]
    local scores_shape = {}
    for i = #batch, 1, -1 do scores_shape[#scores_shape + 1] = batch[i] end
    scores_shape[#scores_shape + 1], scores_shape[#scores_shape + 2] = L, S
    local p = o.dropout_p or 0
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then
      nl._raise(op .. ': dropout_p must be a number in [0, 1], got ' .. nl._describe_arg(p))
    end
    local scale = o.scale
    if scale == nil then scale = 1 / math.sqrt(qs[nd])
    elseif type(scale) ~= 'number' then
      nl._raise(op .. ': scale must be a number or nil, got ' .. nl._describe_arg(scale))
    end
    local mask = o.attn_mask
    if mask ~= nil then
      if not nl.is_tensor(mask) then nl._argerror(op, 'a tensor as attn_mask', mask) end
      if o.is_causal then
        nl._raise(op .. ': attn_mask and is_causal cannot both be given (is_causal is the lower-triangular mask)')
      end
      local md = mask:dtype()
      if md ~= 'int64' and md ~= dtype then
        nl._raise(('%s: attn_mask must be int64 (boolean: nonzero takes part) or of the query dtype %s (added '
          .. 'to the scores), got %s'):format(op, dtype, md))
      end
      local ms = mask:shape()
      local fits = #ms <= #scores_shape
      for i = 1, fits and #ms or 0 do
        local m, n = ms[#ms - i + 1], scores_shape[#scores_shape - i + 1]
        fits = fits and (m == 1 or m == n)
      end
      if not fits then
        nl._raise(('%s: attn_mask of shape %s does not broadcast to the scores (..., L, S) = [%s] of %s'):format(op,
          nl._shape_str(mask), table.concat(scores_shape, ','), given))
      end
    end
    local add_masks
    if mask ~= nil and mask:dtype() == 'int64' then
      add_masks = function(s) return nl.where(mask, s, -math.huge) end
    elseif mask ~= nil then
      add_masks = function(s) return s + mask end
    elseif o.is_causal then
      local keep = nl.arange(1, S + 1):view(1, S):le(nl.arange(1, L + 1):view(L, 1))   -- (L, S): j <= i
      add_masks = function(s) return nl.where(keep, s, -math.huge) end
    end
    return (nn._attention(query, key, value, scale, add_masks, p, true))
  end
  -- an error of an op inside names scaled_dot_product_attention first
  -- (scores too big to allocate said "matmul: out of memory ..."), by
  -- nl._as_op, made on the first call: the Tensor extras that define it
  -- load after this file may
  local sdpa_named
  function F.scaled_dot_product_attention(...)
    if not sdpa_named then
      nl._load_tensor_extras()
      sdpa_named = nl._as_op('scaled_dot_product_attention', sdpa)
    end
    return sdpa_named(...)
  end

  local MultiheadAttention = Module:extend('MultiheadAttention')
  nn.MultiheadAttention = MultiheadAttention

  -- the options table of a forward, or an error naming op: a mask given
  -- where PyTorch's positional argument would be, m(src, tgt, src_mask),
  -- says that masks are options here, as example shows (it said 'expected
  -- a table of options, got a tensor' in MultiheadAttention and the encoder)
  function nn._forward_opts(op, opts, known, example)
    if nl.is_tensor(opts) then
      nl._raise(('%s: masks are options here, under their PyTorch names: %s'):format(op, example))
    end
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, known)
    return opts
  end

  -- d_model and nhead of a Transformer layer, checked in its name (its
  -- MultiheadAttention named them embed_dim and num_heads, and printed a
  -- tensor given as one whole)
  function nn._check_heads(op, d_model, nhead)
    for _, kv in ipairs({ { 'd_model', d_model }, { 'nhead', nhead } }) do
      local v = kv[2]
      if type(v) ~= 'number' or v < 1 or v > 2 ^ 31 or v ~= math.floor(v) then
        nl._raise(('%s: %s must be a positive whole number, got %s'):format(op, kv[1], nl._describe_arg(v)))
      end
    end
    if d_model % nhead ~= 0 then nl._raise(('%s: d_model %d is not divisible by nhead %d'):format(op, d_model, nhead)) end
  end

  function MultiheadAttention:init(embed_dim, num_heads, opts)
    opts = nl._opts('MultiheadAttention', opts)
    nl._check_opts('MultiheadAttention', opts, MHA_INIT)
    for _, v in pairs({ embed_dim or false, num_heads or false }) do   -- (ipairs stopped at a nil)
      if type(v) ~= 'number' or v < 1 or v > 2 ^ 31 or v ~= math.floor(v) then
        nl._raise(('MultiheadAttention: expected positive integers embed_dim and num_heads, got %s and %s'):format(
          nl._describe_arg(embed_dim), nl._describe_arg(num_heads)))
      end
    end
    if embed_dim % num_heads ~= 0 then
      nl._raise(('MultiheadAttention: embed_dim %d is not divisible by num_heads %d'):format(embed_dim, num_heads))
    end
    self.embed_dim, self.num_heads = embed_dim, num_heads
    self.head_dim = embed_dim / num_heads
    self.batch_first = opts.batch_first or false
    self.dropout = opts.dropout or 0
    -- 1 as PyTorch takes it: every attention weight dropped in training
    if type(self.dropout) ~= 'number' or not (self.dropout >= 0 and self.dropout <= 1) then
      nl._raise('MultiheadAttention: dropout must be a number in [0, 1], got ' .. nl._describe_arg(self.dropout))
    end
    -- key and value widths (PyTorch's kdim and vdim, E when not given)
    local kdim, vdim = opts.kdim or embed_dim, opts.vdim or embed_dim
    for name, v in pairs({ kdim = kdim, vdim = vdim }) do
      if not nl._size_arg(v) or v > 2 ^ 31 then
        nl._raise(('MultiheadAttention: %s must be a positive whole number, got %s'):format(name, nl._describe_arg(v)))
      end
    end
    self.kdim, self.vdim = kdim, vdim
    -- PyTorch: one in-projection (3E, E) where key and value are E wide,
    -- else three (q_proj_weight (E, E), k_proj_weight (E, kdim),
    -- v_proj_weight (E, vdim)), each xavier_uniform_; zero biases, a Linear
    -- out-projection with zero bias
    self._qkv_same_embed_dim = kdim == embed_dim and vdim == embed_dim
    if self._qkv_same_embed_dim then
      self.in_proj_weight = nl.empty(3 * embed_dim, embed_dim):requires_grad()
      nn.init.xavier_uniform_(self.in_proj_weight)
    else
      self.q_proj_weight = nl.empty(embed_dim, embed_dim):requires_grad()
      self.k_proj_weight = nl.empty(embed_dim, kdim):requires_grad()
      self.v_proj_weight = nl.empty(embed_dim, vdim):requires_grad()
      for _, w in ipairs({ self.q_proj_weight, self.k_proj_weight, self.v_proj_weight }) do nn.init.xavier_uniform_(w) end
    end
    local bias = opts.bias ~= false
    if bias then self.in_proj_bias = nl.zeros(3 * embed_dim):requires_grad() end
    -- PyTorch's add_bias_kv: bias_k and bias_v (1, 1, E), xavier_normal_,
    -- one more key and value after the projected ones (before out_proj, in
    -- PyTorch's parameter order); add_zero_attn: one more of zeros after
    -- those, per head
    if opts.add_bias_kv then
      self.bias_k = nl.empty(1, 1, embed_dim):requires_grad()
      self.bias_v = nl.empty(1, 1, embed_dim):requires_grad()
      nn.init.xavier_normal_(self.bias_k)
      nn.init.xavier_normal_(self.bias_v)
    end
    self.add_zero_attn = opts.add_zero_attn == true
    self.out_proj = nn.Linear(embed_dim, embed_dim, { bias = bias })
    if bias then nn.init.zeros_(self.out_proj.bias) end
  end

  -- the k-th (0: query, 1: key, 2: value) projection of x
  local function project(self, x, k)
    local E, b = self.embed_dim, self.in_proj_bias
    local y
    if self._qkv_same_embed_dim then
      y = nl.matmul(x, self.in_proj_weight:narrow(1, k * E + 1, E):t())
    else
      local w = k == 0 and self.q_proj_weight or k == 1 and self.k_proj_weight or self.v_proj_weight
      y = nl.matmul(x, w:t())
    end
    if b then y = y + b:narrow(1, k * E + 1, E) end
    return y
  end

  -- additive mask from a "nonzero = blocked" mask: 0 or -inf (float
  -- values of -1e4 and below stay as they are, see below). A float
  -- mask holding other values than 0, 1 and -1e4 or below (-inf, -1e9:
  -- blocks in PyTorch's additive form too) was meant as PyTorch's additive
  -- bias, and it was taken as blocks without a word.
  -- merged: the mask is a float key padding mask beside an int64
  -- (boolean) attn_mask, which PyTorch 1.13 merges into it by logical_or:
  -- any nonzero entry blocks there (-1e9 too, as -inf), none is added
  local function blocked(mask, dtype, what, merged)
    if what and mask:dtype() ~= 'int64' then   -- what: nil for the causal mask, built here
      local odd = nl.no_grad(function()
        return (mask:ne(0) * mask:ne(1) * mask:gt(-1e4)):sum():item()
      end)
      if odd > 0 then
        nl._raise(('MultiheadAttention: %s holds values other than 0, 1 and -1e4 or below (-inf); masks here '
          .. 'block where nonzero (PyTorch\'s boolean form), they are not added to the scores'):format(what))
      end
    end
    if mask:dtype() == 'int64' or merged then return nl.where(mask:ne(0), -math.huge, nl.zeros({}, dtype)) end
    -- 1 blocks; 0, -1e4 and below are added as they are, as PyTorch adds
    -- them: a row blocked everywhere by -1e9 is then a uniform softmax,
    -- where -inf made it NaN (and the weight gradient of the whole batch
    -- with it), and a mask that requires grad gets the scores' gradient
    -- (its 0 entries got none, taken as constant zeros)
    return nl.where(mask:eq(1), -math.huge, mask:to(dtype))
  end

  -- scores + the blocks of mask (viewed as shape, when given): -inf where
  -- they block
  local function add_blocks(scores, mask, dtype, what, shape, merged)
    local b = blocked(mask, dtype, what, merged)
    return scores + (shape and b:view(shape) or b)
  end

  -- causal mask (L, L): position i may not attend to j > i
  function nn.causal_mask(L, ...)
    if select('#', ...) > 0 then nl._no_extra_args('causal_mask', '(L)', nil, ...) end
    if type(L) ~= 'number' or L ~= math.floor(L) or L < 1 or L > 2^20 then
      nl._raise('causal_mask: expected a positive length, got ' .. tostring(L))
    end
    local r = nl.arange(1, L + 1):view(L, 1)
    local c = nl.arange(1, L + 1):view(1, L)
    return c:gt(r):float()
  end

  -- forward(query, key, value, {key_padding_mask = (N, S), attn_mask = (L, S)
  -- or (N * num_heads, L, S), is_causal = bool, need_weights = true,
  -- average_attn_weights = true}) -> output, weights (averaged over heads:
  -- (N, L, S); per head: (N, num_heads, L, S)). Unbatched, as PyTorch's:
  -- query (L, E), key (S, kdim), value (S, vdim), key_padding_mask (S),
  -- attn_mask (L, S) or (num_heads, L, S); the output (L, E), the weights
  -- without N.
  -- (an error of an op inside names MultiheadAttention first, as
  -- scaled_dot_product_attention's: scores too big to allocate said
  -- "matmul: out of memory ..."; by nl._as_op, made on the first call)
  -- (its parameters named: a vararg forward let m(q, k, v, opts, extra)
  -- drop the extra argument, which Module's call refuses by their count)
  local mha_forward, mha_named
  function MultiheadAttention:forward(query, key, value, opts)
    if not mha_named then
      nl._load_tensor_extras()
      mha_named = nl._as_op('MultiheadAttention', mha_forward)
    end
    return mha_named(self, query, key, value, opts)
  end
  function mha_forward(self, query, key, value, opts)
    if not nl.is_tensor(query) then nl._argerror('MultiheadAttention', 'a query tensor', query) end
    -- options given 2nd or 3rd (TransformerEncoderLayer takes them 2nd)
    -- were read as the key: 'expected a tensor, got table'
    local kv = { key, value }
    for i = 1, 2 do
      local a = kv[i]
      if a ~= nil and not nl.is_tensor(a) then
        nl._raise(('MultiheadAttention: the %s must be a tensor or nil, got %s (options go 4th: m(q, k, v, opts), '
                   .. 'or m(q, nil, nil, opts) for self-attention)'):format(i == 1 and 'key' or 'value', nl._describe_arg(a)))
      end
    end
    key, value = key or query, value or key or query
    opts = nn._forward_opts('MultiheadAttention', opts, MHA_FORWARD,
                            'm(q, k, v, {key_padding_mask = a, attn_mask = b})')
    local E, H, hd = self.embed_dim, self.num_heads, self.head_dim
    local batched = nl._T(query, 'MultiheadAttention').ndim == 3
    for _, a in ipairs({ { query, 'query', 'L', E }, { key, 'key', 'S', self.kdim }, { value, 'value', 'S', self.vdim } }) do
      local p = nl._T(a[1], 'MultiheadAttention')
      if (p.ndim ~= 2 and p.ndim ~= 3) or tonumber(p.sizes[p.ndim - 1]) ~= a[4] then
        nl._raise(('MultiheadAttention: expected the %s of shape (%s, %d) or, unbatched, (%s, %d), got %s'):format(
          a[2], self.batch_first and 'N, ' .. a[3] or a[3] .. ', N', a[4], a[3], a[4], nl._shape_str(a[1])))
      end
    end
    -- named with the caller's shapes (batch_first ones were shown transposed)
    local given = ('query %s, key %s and value %s'):format(nl._shape_str(query), nl._shape_str(key),
                                                          nl._shape_str(value))
    if key:dim() ~= query:dim() or value:dim() ~= query:dim() then
      nl._raise(('MultiheadAttention: %s are not all batched (3-D) or all unbatched (2-D)'):format(given))
    end
    local wdt = (self.in_proj_weight or self.q_proj_weight):dtype()
    -- (by name and shape: 'input of dtype float64' said not which)
    -- (the name made only on a mismatch: this runs at every call)
    for _, t in ipairs({ { query, 'query' }, { key, 'key' }, { value, 'value' } }) do
      if t[1]:dtype() ~= wdt then
        nn._check_input_dtype('MultiheadAttention', t[1], wdt, t[2] .. ' ' .. nl._shape_str(t[1]))
      end
    end
    if not batched then
      -- a batch of one, as PyTorch's (batch_first does not apply)
      query, key, value = query:unsqueeze(2), key:unsqueeze(2), value:unsqueeze(2)
    elseif self.batch_first then
      query, key, value = query:transpose(1, 2), key:transpose(1, 2), value:transpose(1, 2)
    end
    local L, N, S = query:size(1), query:size(2), key:size(1)
    if key:size(2) ~= N or value:size(1) ~= S or value:size(2) ~= N then
      nl._raise(('MultiheadAttention: %s do not agree'):format(given))
    end
    -- (L, N, E) -> (N*H, L, hd)
    local function heads(x, len) return x:reshape(len, N * H, hd):transpose(1, 2) end
    local q = heads(project(self, query, 0), L)
    local k, v = project(self, key, 1), project(self, value, 2)          -- (S, N, E)
    local S0 = S                                              -- the masks' S, checked below
    if self.bias_k then
      k = nl.cat({ k, self.bias_k:expand(1, N, E) }, 1)
      v = nl.cat({ v, self.bias_v:expand(1, N, E) }, 1)
      S = S + 1
    end
    k, v = heads(k, S), heads(v, S)
    if self.add_zero_attn then
      local z = nl.zeros({ N * H, 1, hd }, q:dtype())
      k, v = nl.cat({ k, z }, 2), nl.cat({ v, z }, 2)
      S = S + 1
    end
    local dtype = q:dtype()
    local mask, kpm = opts.attn_mask, opts.key_padding_mask
    if mask ~= nil then
      -- (named by nl._T as 'MultiheadAttention (attn_mask)', which the
      -- name on every error of this forward made 'MultiheadAttention:
      -- MultiheadAttention (attn_mask): expected a tensor, got table')
      if not nl.is_tensor(mask) then nl._argerror('MultiheadAttention', 'a tensor as attn_mask', mask) end
      nl._T(mask, 'MultiheadAttention')
      -- (L, S) for every head and batch, or one (L, S) per head and
      -- batch, PyTorch's 3-D form: (N * H, L, S), unbatched (H, L, S)
      local m3 = mask:dim() == 3 and mask:size(1) == N * H
      if not ((mask:dim() == 2 or m3) and mask:size(-2) == L and mask:size(-1) == S0) then
        nl._raise(('MultiheadAttention: attn_mask must be (%d, %d) or (%d, %d, %d), got %s'):format(
          L, S0, N * H, L, S0, nl._shape_str(mask)))
      end
    end
    -- with a given mask too, both apply (the causal one replaced it)
    if opts.is_causal and L ~= S0 then
      nl._raise(('MultiheadAttention: is_causal needs equal query and key lengths, got L = %d and S = %d (%s)'):format(
        L, S0, given))
    end
    if kpm then
      if not nl.is_tensor(kpm) then nl._argerror('MultiheadAttention', 'a tensor as key_padding_mask', kpm) end
      nl._T(kpm, 'MultiheadAttention')
      if batched and (kpm:dim() ~= 2 or kpm:size(1) ~= N or kpm:size(2) ~= S0) then
        nl._raise(('MultiheadAttention: key_padding_mask must be (%d, %d), got %s'):format(N, S0, nl._shape_str(kpm)))
      elseif not batched and (kpm:dim() ~= 1 or kpm:size(1) ~= S0) then
        nl._raise(('MultiheadAttention: key_padding_mask of unbatched input must be (%d), got %s'):format(
          S0, nl._shape_str(kpm)))
      end
    end
    -- the keys that bias_k and add_zero_attn added take part, as
    -- PyTorch pads its masks with False (0)
    local function pad_keys(m)
      if S == S0 then return m end
      local sh = m:shape()
      sh[#sh] = S - S0
      return nl.cat({ m, nl.zeros(sh, m:dtype()) }, #sh)
    end
    local function add_masks(scores)                          -- (N*H, L, S)
      if mask ~= nil then scores = add_blocks(scores, pad_keys(mask), dtype, 'attn_mask') end
      if opts.is_causal then scores = add_blocks(scores, pad_keys(nn.causal_mask(L)), dtype) end
      if kpm then
        -- (a float one beside an int64 attn_mask was added: a sequence
        -- padded whole by -1e9 attended uniformly where PyTorch 1.13 gives NaN)
        local merged = mask ~= nil and mask:dtype() == 'int64' and kpm:dtype() ~= 'int64'
        scores = add_blocks(scores:view(N, H, L, S), pad_keys(kpm), dtype, 'key_padding_mask', { N, 1, 1, S },
                            merged):view(N * H, L, S)
      end
      return scores
    end
    local p = self.training and self.dropout or 0
    local out, attn = nn._attention(q, k, v, 1 / math.sqrt(hd), (mask ~= nil or opts.is_causal or kpm) and add_masks,
                                    p)                        -- (N*H, L, hd), (N*H, L, S)
    out = out:transpose(1, 2):reshape(L, N, E)
    out = self.out_proj(out)
    local weights
    if opts.need_weights ~= false then
      weights = attn:view(N, H, L, S)
      if opts.average_attn_weights ~= false then weights = weights:mean(2) end
    end
    if not batched then
      out = out:view(L, E)
      if weights then weights = weights:select(1, 1) end
    elseif self.batch_first then
      out = out:transpose(1, 2)
    end
    return out, weights
  end

  function MultiheadAttention:extra_repr()
    local kv = self._qkv_same_embed_dim and '' or (', kdim=%d, vdim=%d'):format(self.kdim, self.vdim)
    return ('embed_dim=%d, num_heads=%d%s, batch_first=%s'):format(self.embed_dim, self.num_heads, kv,
                                                                    tostring(self.batch_first))
  end

  -- ---- the transformer encoder block ----
  local TransformerEncoderLayer = Module:extend('TransformerEncoderLayer')
  nn.TransformerEncoderLayer = TransformerEncoderLayer

  function TransformerEncoderLayer:init(d_model, nhead, opts)
    opts = nl._opts('TransformerEncoderLayer', opts)
    nl._check_opts('TransformerEncoderLayer', opts, TEL_INIT)
    nn._check_heads('TransformerEncoderLayer', d_model, nhead)
    local ff = opts.dim_feedforward or 2048
    -- checked here, in this layer's name (Linear named it, as its out_features)
    if not nl._size_arg(ff) then
      nl._raise('TransformerEncoderLayer: dim_feedforward must be a positive whole number, got ' .. nl._describe_arg(ff))
    end
    local p = opts.dropout or 0.1
    -- checked here, in this layer's name (MultiheadAttention named it);
    -- [0, 1], as PyTorch's layer takes it
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then
      nl._raise('TransformerEncoderLayer: dropout must be a number in [0, 1], got ' .. nl._describe_arg(p))
    end
    -- PyTorch's default, post-norm (it was pre-norm here, so a layer built
    -- as in PyTorch with PyTorch's weights gave other outputs); recorded in
    -- the constructor's arguments, so that a checkpoint names it
    self.norm_first = opts.norm_first == true
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.norm_first = self.norm_first
    self._args[3], self._args.n = o, math.max(self._args.n, 3)
    self.self_attn = nn.MultiheadAttention(d_model, nhead, { dropout = p, batch_first = opts.batch_first })
    self.linear1 = nn.Linear(d_model, ff)
    self.dropout = nn.Dropout(p)
    self.linear2 = nn.Linear(ff, d_model)
    local eps = nn._layer_norm_eps('TransformerEncoderLayer', opts.layer_norm_eps)
    self.norm1 = nn.LayerNorm(d_model, { eps = eps })
    self.norm2 = nn.LayerNorm(d_model, { eps = eps })
    self.dropout1 = nn.Dropout(p)
    self.dropout2 = nn.Dropout(p)
    self.activation = nn._transformer_activation('TransformerEncoderLayer', opts.activation)
    self.d_model = d_model
  end

  -- a transformer layer's layer_norm_eps (1e-5 when nil): any number, as
  -- nn.LayerNorm and PyTorch take it (the decoder layer refused a negative
  -- one, which the encoder layer took; a string was refused by LayerNorm
  -- in its own name)
  function nn._layer_norm_eps(op, eps)
    if eps == nil then return 1e-5 end
    if type(eps) ~= 'number' then nl._raise(op .. ': layer_norm_eps must be a number, got ' .. nl._describe_arg(eps)) end
    return eps
  end

  -- a layer's activation, as PyTorch's: 'relu' (the default) or 'gelu' by
  -- name, or a function of a tensor or a module (kept as given: a module
  -- is a child of the layer, as in PyTorch)
  function nn._transformer_activation(op, act)
    act = act or 'relu'
    if act ~= 'relu' and act ~= 'gelu' and type(act) ~= 'function' and not nn.is_module(act) then
      nl._raise(("%s: activation must be 'relu', 'gelu', a function or a module, got %s"):format(op,
        nl._describe_arg(act)))
    end
    return act
  end
  function nn._apply_activation(act, h)
    if act == 'relu' then return h:relu() elseif act == 'gelu' then return h:gelu() end
    return act(h)
  end

  -- x, a sequence (len, N, E) (batch_first: (N, len, E)) or unbatched
  -- (len, E), or an error naming op and x's shape
  function nn._check_sequence(op, x, name, len, E, batch_first)
    if not nl.is_tensor(x) then nl._argerror(op, 'a tensor as ' .. name, x) end
    local p = nl._T(x, op)
    if (p.ndim ~= 2 and p.ndim ~= 3) or tonumber(p.sizes[p.ndim - 1]) ~= E then
      nl._raise(('%s: expected %s of shape (%s, %d) or, unbatched, (%s, %d), got %s'):format(op, name,
        batch_first and 'N, ' .. len or len .. ', N', E, len, E, nl._shape_str(x)))
    end
  end

  -- x of the dtype of layer's weights (a transformer layer's; none: no
  -- check), or an error naming op, x by name and its shape (the
  -- MultiheadAttention inside named itself and no input: 'MultiheadAttention:
  -- input of dtype float64 ...' for nn.Transformer's tgt)
  function nn._check_sequence_dtype(op, x, name, layer)
    local wdt = layer and layer.linear1.weight:dtype()
    if wdt and x:dtype() ~= wdt then nn._check_input_dtype(op, x, wdt, name .. ' ' .. nl._shape_str(x)) end
  end

  -- Checks the masks of one attention in a transformer's forward under
  -- the caller's names for them (opts[attn]: (L, S) or (N * H, L, S);
  -- opts[kpm]: (N, S), unbatched (S)). MultiheadAttention named them
  -- attn_mask and key_padding_mask, which of a decoder's tgt_mask and
  -- memory_mask (or their key-padding masks) was wrong it did not say,
  -- and when T = S the sizes did not tell either. q, k: the queries and
  -- the keys (sequences of 2 or 3 dims, as _check_sequence takes), ql and
  -- kl their letters ('T', 'S'); H: the heads. nil masks, and a false
  -- key-padding mask, are none, as MultiheadAttention takes them.
  function nn._check_masks(op, opts, attn, kpm, q, ql, k, kl, batch_first, H)
    local batched = q:dim() == 3
    local bd, ld = batch_first and 1 or 2, batch_first and 2 or 1
    local L, S = q:size(batched and ld or 1), k:size(batched and ld or 1)
    local N = batched and q:size(bd) or 1
    local m = attn and opts[attn]
    if m ~= nil then
      if not nl.is_tensor(m) then nl._argerror(op, 'a tensor as ' .. attn, m) end
      nl._T(m, op)
      if not ((m:dim() == 2 or (m:dim() == 3 and m:size(1) == N * H)) and m:size(-2) == L and m:size(-1) == S) then
        nl._raise(('%s: %s must be (%s, %s) = (%d, %d) or (%s, %s, %s) = (%d, %d, %d), got %s'):format(op, attn, ql,
          kl, L, S, batched and 'N * nhead' or 'nhead', ql, kl, N * H, L, S, nl._shape_str(m)))
      end
    end
    m = kpm and opts[kpm]
    if m then
      if not nl.is_tensor(m) then nl._argerror(op, 'a tensor as ' .. kpm, m) end
      nl._T(m, op)
      if batched and (m:dim() ~= 2 or m:size(1) ~= N or m:size(2) ~= S) then
        nl._raise(('%s: %s must be (N, %s) = (%d, %d), got %s'):format(op, kpm, kl, N, S, nl._shape_str(m)))
      elseif not batched and (m:dim() ~= 1 or m:size(1) ~= S) then
        nl._raise(('%s: %s of unbatched input must be (%s) = (%d), got %s'):format(op, kpm, kl, S, nl._shape_str(m)))
      end
    end
  end

  function TransformerEncoderLayer:_sa(x, opts)
    local y = self.self_attn(x, x, x, { attn_mask = opts.src_mask, key_padding_mask = opts.src_key_padding_mask,
                                         is_causal = opts.is_causal, need_weights = false })
    return self.dropout1(y)
  end
  function TransformerEncoderLayer:_ff(x)
    local h = nn._apply_activation(self.activation, self.linear1(x))
    return self.dropout2(self.linear2(self.dropout(h)))
  end

  -- forward(src, {src_mask, src_key_padding_mask, is_causal})
  function TransformerEncoderLayer:forward(x, opts)
    nn._check_sequence('TransformerEncoderLayer', x, 'src', 'S', self.d_model, self.self_attn.batch_first)
    nn._check_sequence_dtype('TransformerEncoderLayer', x, 'src', self)
    opts = nn._forward_opts('TransformerEncoderLayer', opts, TEL_FORWARD, 'layer(src, {src_mask = m})')
    local sa = self.self_attn
    nn._check_masks('TransformerEncoderLayer', opts, 'src_mask', 'src_key_padding_mask', x, 'S', x, 'S',
                    sa.batch_first, sa.num_heads)
    if self.norm_first then
      x = x + self:_sa(self.norm1(x), opts)
      return x + self:_ff(self.norm2(x))
    end
    x = self.norm1(x + self:_sa(x, opts))
    return self.norm2(x + self:_ff(x))
  end

  -- A copy of layer with its own tensors, as PyTorch's deepcopy gives the
  -- layers of a stack: layer:clone(), or, for a layer whose constructor
  -- took a function (an activation), which clone cannot rebuild, the
  -- layer built again from its constructor's arguments (the function
  -- shared, as deepcopy shares functions; modules among them copied),
  -- given layer's tensors, dtypes, training flags and frozen parameters.
  function nn._layer_copy(layer)
    local ok, st = pcall(nn._record_module, layer)
    if ok or type(st) ~= 'table' or not st.unrecordable then return layer:clone() end
    local function copy_arg(v)
      if nn.is_module(v) then return nn._layer_copy(v) end
      if type(v) ~= 'table' or getmetatable(v) ~= nil then return v end
      local out = {}
      for k, x in pairs(v) do out[k] = copy_arg(x) end
      return out
    end
    local a, args = layer._args, {}
    for i = 1, a.n do args[i] = copy_arg(a[i]) end
    local m = nn._classes[layer.__name](unpack(args, 1, a.n))
    local sd = layer:state_dict()
    nn._convert(m, function(name) return sd[name] and sd[name]:dtype() end)
    m:load_state_dict(sd)
    local theirs = m:named_modules()
    for i, pm in ipairs(layer:named_modules()) do rawset(theirs[i][2], 'training', pm[2].training) end
    local params = {}
    for _, kv in ipairs(m:named_parameters()) do params[kv[1]] = kv[2] end
    for _, kv in ipairs(layer:named_parameters()) do
      if not kv[2].is_requires_grad then params[kv[1]]:requires_grad(false) end
    end
    return m
  end

  -- ---- a stack of encoder blocks ----
  -- nn.TransformerEncoder(layer, num_layers, {norm = module}): num_layers
  -- copies of layer (each with its own weights, equal at the start, as
  -- PyTorch's deepcopy gives), then norm if given; forward(src, {mask,
  -- src_key_padding_mask, is_causal}) runs them in turn.
  local TransformerEncoder = Module:extend('TransformerEncoder')
  nn.TransformerEncoder = TransformerEncoder
  local TE_INIT = { norm = 1, enable_nested_tensor = 'flag', mask_check = 'flag' }
  local TE_FORWARD = { mask = 1, src_key_padding_mask = 1, is_causal = 'flag' }

  function TransformerEncoder:init(encoder_layer, num_layers, opts)
    if not nn.is_module(encoder_layer) then
      nl._argerror('TransformerEncoder', 'an encoder layer (a module) as argument 1', encoder_layer)
    end
    if not nl._size_arg(num_layers) then
      nl._raise('TransformerEncoder: num_layers must be a positive whole number, got ' .. nl._describe_arg(num_layers))
    end
    -- PyTorch's positional norm, TransformerEncoder(layer, n, norm) (it
    -- was 'expected a table of options, got table')
    if nn.is_module(opts) then opts = { norm = opts } end
    opts = nl._opts('TransformerEncoder', opts)
    nl._check_opts('TransformerEncoder', opts, TE_INIT)
    if opts.norm ~= nil and not nn.is_module(opts.norm) then
      nl._argerror('TransformerEncoder', 'a module as norm', opts.norm)
    end
    local layers = {}
    for i = 1, num_layers do layers[i] = nn._layer_copy(encoder_layer) end
    self.layers = nn.ModuleList(layers)
    self.num_layers = num_layers
    self.norm = opts.norm
  end

  function TransformerEncoder:forward(x, opts)
    if not nl.is_tensor(x) then nl._argerror('TransformerEncoder', 'a tensor as src', x) end
    nl._T(x, 'TransformerEncoder')
    opts = nn._forward_opts('TransformerEncoder', opts, TE_FORWARD, 'encoder(src, {mask = m})')
    -- the masks under this stack's names (its layers call the first src_mask)
    local l = self.layers[1]
    if l.__name == 'TransformerEncoderLayer' and (x:dim() == 2 or x:dim() == 3) then
      nn._check_sequence_dtype('TransformerEncoder', x, 'src', l)
      nn._check_masks('TransformerEncoder', opts, 'mask', 'src_key_padding_mask', x, 'S', x, 'S',
                      l.self_attn.batch_first, l.self_attn.num_heads)
    end
    local o = { src_mask = opts.mask, src_key_padding_mask = opts.src_key_padding_mask, is_causal = opts.is_causal }
    for i = 1, self.num_layers do x = self.layers[i](x, o) end
    if self.norm then x = self.norm(x) end
    return x
  end

  -- ---- positions ----
  local PositionalEncoding = Module:extend('PositionalEncoding')
  nn.PositionalEncoding = PositionalEncoding

  -- adds sin/cos position codes (Vaswani et al.) to (N, L, d) or (L, N, d)
  function PositionalEncoding:init(d_model, max_len, opts)
    max_len = max_len or 5000
    if type(d_model) ~= 'number' or d_model < 1 or d_model ~= math.floor(d_model) then
      nl._argerror('PositionalEncoding', 'a positive integer d_model', d_model)
    end
    if type(max_len) ~= 'number' or max_len < 1 or max_len > 2^31 or max_len ~= math.floor(max_len) then
      nl._raise('PositionalEncoding: max_len must be a positive integer, got ' .. tostring(max_len))
    end
    opts = nl._opts('PositionalEncoding', opts)
    nl._check_opts('PositionalEncoding', opts, { batch_first = 'flag' })
    self.batch_first = opts.batch_first ~= false
    -- (of the default dtype, as the PyTorch tutorial's buffer)
    local pos = nl.arange(0, max_len, nl._default_float()):view(max_len, 1)
    local i = nl.arange(0, d_model, 2, nl._default_float())
    local div = (i * (-math.log(10000) / d_model)):exp():view(1, -1)
    if d_model % 2 ~= 0 then nl._raise('PositionalEncoding: d_model must be even, got ' .. d_model) end
    local angles = nl.matmul(pos, div)                          -- (max_len, d/2)
    -- columns interleave: 2k-1 holds sin, 2k holds cos (1-based)
    local pe = nl.stack({ angles:sin(), angles:cos() }, 3):view(max_len, d_model)
    self:register_buffer('pe', pe)
    self.d_model, self.max_len = d_model, max_len
  end

  function PositionalEncoding:forward(x)
    local p = nl._T(x, 'PositionalEncoding')
    -- an (L, d) input or a wrong last dim broadcast into another shape
    if p.ndim ~= 3 or tonumber(p.sizes[2]) ~= self.d_model then
      nl._raise(('PositionalEncoding: expected input of shape (%s, %d), got %s'):format(
        self.batch_first and 'N, L' or 'L, N', self.d_model, nl._shape_str(x)))
    end
    local L = self.batch_first and x:size(2) or x:size(1)
    if L > self.max_len then
      nl._raise(('PositionalEncoding: sequence length %d exceeds max_len %d'):format(L, self.max_len))
    end
    local pe = self.pe:narrow(1, 1, L)
    if self.batch_first then return x + pe:view(1, L, self.d_model) end
    return x + pe:view(L, 1, self.d_model)
  end

  function PositionalEncoding:extra_repr() return ('d_model=%d, max_len=%d'):format(self.d_model, self.max_len) end
end
