-- transformer.lua: nn.TransformerDecoderLayer, nn.TransformerDecoder and
-- nn.Transformer, as PyTorch 1.13's: the same submodules under the same
-- names (a PyTorch state dict loads as it is), post-norm by default,
-- pre-norm with norm_first = true. Built on attention.lua's
-- MultiheadAttention, TransformerEncoderLayer and TransformerEncoder, whose
-- mask forms they take (nonzero blocks; 0 / -inf as PyTorch's
-- generate_square_subsequent_mask gives). Masks are options here, under
-- PyTorch's keyword names, as the encoder's are.
return function(nl, nn)
  local Module = nn.Module

  local TDL_INIT = { dim_feedforward = 1, dropout = 1, activation = 1, layer_norm_eps = 1, batch_first = 'flag',
                     norm_first = 'flag' }
  local TDL_FORWARD = { tgt_mask = 1, memory_mask = 1, tgt_key_padding_mask = 1, memory_key_padding_mask = 1 }
  local TD_INIT = { norm = 1 }
  local T_INIT = { d_model = 1, nhead = 1, num_encoder_layers = 1, num_decoder_layers = 1, dim_feedforward = 1,
                   dropout = 1, activation = 1, custom_encoder = 1, custom_decoder = 1, layer_norm_eps = 1,
                   batch_first = 'flag', norm_first = 'flag' }
  local T_FORWARD = { src_mask = 1, tgt_mask = 1, memory_mask = 1, src_key_padding_mask = 1,
                      tgt_key_padding_mask = 1, memory_key_padding_mask = 1 }

  local forward_opts = nn._forward_opts         -- (attention.lua's)

  local function check_dropout(op, p)
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then
      nl._raise(op .. ': dropout must be a number in [0, 1], got ' .. nl._describe_arg(p))
    end
  end

  -- (at most max: 2^16 layers, a loop of copies that would not end)
  local function positive(op, name, v, max)
    if not nl._size_arg(v) or v > (max or 2 ^ 31) then
      nl._raise(('%s: %s must be a positive whole number%s, got %s'):format(op, name,
        max and (' up to %d'):format(max) or '', nl._describe_arg(v)))
    end
  end

  -- ---- the decoder block ----
  -- nn.TransformerDecoderLayer(d_model, nhead, {dim_feedforward = 2048,
  -- dropout = 0.1, activation = 'relu', layer_norm_eps = 1e-5, batch_first,
  -- norm_first}): self-attention over the target, attention from the
  -- target to the memory (the encoder's output), then the feed-forward
  -- block, each with a residual and a LayerNorm
  local TransformerDecoderLayer = Module:extend('TransformerDecoderLayer')
  nn.TransformerDecoderLayer = TransformerDecoderLayer

  function TransformerDecoderLayer:init(d_model, nhead, opts)
    local op = 'TransformerDecoderLayer'
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, TDL_INIT)
    nn._check_heads(op, d_model, nhead)
    local ff = opts.dim_feedforward or 2048
    if not nl._size_arg(ff) then
      nl._raise(op .. ': dim_feedforward must be a positive whole number, got ' .. nl._describe_arg(ff))
    end
    local p = opts.dropout or 0.1
    check_dropout(op, p)
    local eps = nn._layer_norm_eps(op, opts.layer_norm_eps)
    local act = nn._transformer_activation(op, opts.activation)
    self.norm_first = opts.norm_first == true
    self.batch_first = opts.batch_first == true
    self.d_model = d_model
    -- PyTorch's submodules, in its order (named_parameters and the state
    -- dict follow it)
    self.self_attn = nn.MultiheadAttention(d_model, nhead, { dropout = p, batch_first = self.batch_first })
    self.multihead_attn = nn.MultiheadAttention(d_model, nhead, { dropout = p, batch_first = self.batch_first })
    self.linear1 = nn.Linear(d_model, ff)
    self.dropout = nn.Dropout(p)
    self.linear2 = nn.Linear(ff, d_model)
    self.norm1 = nn.LayerNorm(d_model, { eps = eps })
    self.norm2 = nn.LayerNorm(d_model, { eps = eps })
    self.norm3 = nn.LayerNorm(d_model, { eps = eps })
    self.dropout1 = nn.Dropout(p)
    self.dropout2 = nn.Dropout(p)
    self.dropout3 = nn.Dropout(p)
    self.activation = act
  end

  function TransformerDecoderLayer:_sa(x, opts)
    local y = self.self_attn(x, x, x, { attn_mask = opts.tgt_mask, key_padding_mask = opts.tgt_key_padding_mask,
                                         need_weights = false })
    return self.dropout1(y)
  end
  function TransformerDecoderLayer:_mha(x, memory, opts)
    local y = self.multihead_attn(x, memory, memory, { attn_mask = opts.memory_mask,
                                                       key_padding_mask = opts.memory_key_padding_mask,
                                                       need_weights = false })
    return self.dropout2(y)
  end
  function TransformerDecoderLayer:_ff(x)
    local h = nn._apply_activation(self.activation, self.linear1(x))
    return self.dropout3(self.linear2(self.dropout(h)))
  end

  -- tgt and memory, both sequences of d_model batched alike, or an error
  -- naming op and their shapes
  local function check_pair(op, a, an, al, b, bn, bl, E, batch_first)
    nn._check_sequence(op, a, an, al, E, batch_first)
    nn._check_sequence(op, b, bn, bl, E, batch_first)
    local bd = batch_first and 1 or 2
    if a:dim() ~= b:dim() or (a:dim() == 3 and a:size(bd) ~= b:size(bd)) then
      nl._raise(('%s: %s %s and %s %s are not batched alike (batch size at dim %d, or unbatched 2-D both)'):format(
        op, an, nl._shape_str(a), bn, nl._shape_str(b), bd))
    end
  end

  -- a decoder's masks under their own names (MultiheadAttention called
  -- both attention masks attn_mask): the self-attention's over tgt (H1
  -- heads), the memory attention's from tgt to memory (H2)
  local function check_decoder_masks(op, opts, tgt, memory, batch_first, H1, H2)
    nn._check_masks(op, opts, 'tgt_mask', 'tgt_key_padding_mask', tgt, 'T', tgt, 'T', batch_first, H1)
    nn._check_masks(op, opts, 'memory_mask', 'memory_key_padding_mask', tgt, 'T', memory, 'S', batch_first, H2)
  end

  -- the first layer of stack, when stack is an nn.<class>s of nn.<class>
  -- layers (a custom one's masks are its own)
  local function standard_layer(stack, class)
    local l = nn.is_module(stack) and stack.__name == (class:gsub('Layer$', '')) and stack.layers and stack.layers[1]
    return l and l.__name == class and l or nil
  end

  -- forward(tgt, memory, {tgt_mask (T, T), memory_mask (T, S),
  -- tgt_key_padding_mask (N, T), memory_key_padding_mask (N, S)})
  function TransformerDecoderLayer:forward(tgt, memory, opts)
    local op = 'TransformerDecoderLayer'
    opts = forward_opts(op, opts, TDL_FORWARD, 'layer(tgt, memory, {tgt_mask = m})')
    check_pair(op, tgt, 'tgt', 'T', memory, 'memory', 'S', self.d_model, self.batch_first)
    nn._check_sequence_dtype(op, tgt, 'tgt', self)
    nn._check_sequence_dtype(op, memory, 'memory', self)
    check_decoder_masks(op, opts, tgt, memory, self.batch_first, self.self_attn.num_heads,
                        self.multihead_attn.num_heads)
    local x = tgt
    if self.norm_first then
      x = x + self:_sa(self.norm1(x), opts)
      x = x + self:_mha(self.norm2(x), memory, opts)
      return x + self:_ff(self.norm3(x))
    end
    x = self.norm1(x + self:_sa(x, opts))
    x = self.norm2(x + self:_mha(x, memory, opts))
    return self.norm3(x + self:_ff(x))
  end

  -- ---- a stack of decoder blocks ----
  -- nn.TransformerDecoder(layer, num_layers, {norm = module}): num_layers
  -- copies of layer (each with its own weights, equal at the start, as
  -- PyTorch's deepcopy gives), then norm if given
  local TransformerDecoder = Module:extend('TransformerDecoder')
  nn.TransformerDecoder = TransformerDecoder

  function TransformerDecoder:init(decoder_layer, num_layers, opts)
    local op = 'TransformerDecoder'
    if not nn.is_module(decoder_layer) then
      nl._argerror(op, 'a decoder layer (a module) as argument 1', decoder_layer)
    end
    positive(op, 'num_layers', num_layers, 2 ^ 16)
    if nn.is_module(opts) then opts = { norm = opts } end      -- PyTorch's positional norm
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, TD_INIT)
    if opts.norm ~= nil and not nn.is_module(opts.norm) then nl._argerror(op, 'a module as norm', opts.norm) end
    local layers = {}
    for i = 1, num_layers do layers[i] = nn._layer_copy(decoder_layer) end
    self.layers = nn.ModuleList(layers)
    self.num_layers = num_layers
    self.norm = opts.norm
  end

  -- forward(tgt, memory, {tgt_mask, memory_mask, tgt_key_padding_mask,
  -- memory_key_padding_mask}): the layers in turn, each given the memory
  -- and the masks, then the norm
  function TransformerDecoder:forward(tgt, memory, opts)
    local op = 'TransformerDecoder'
    opts = forward_opts(op, opts, TDL_FORWARD, 'decoder(tgt, memory, {tgt_mask = m})')
    for _, a in ipairs({ { tgt, 'tgt' }, { memory, 'memory' } }) do
      if not nl.is_tensor(a[1]) then nl._argerror(op, 'a tensor as ' .. a[2], a[1]) end
      nl._T(a[1], op)
    end
    -- the masks under this stack's name, where tgt and memory are sequences
    -- batched alike (the layers say what is wrong with them)
    local l = standard_layer(self, 'TransformerDecoderLayer')
    local d = tgt:dim()
    if l and (d == 2 or d == 3) and memory:dim() == d and
       (d == 2 or tgt:size(l.batch_first and 1 or 2) == memory:size(l.batch_first and 1 or 2)) then
      nn._check_sequence_dtype(op, tgt, 'tgt', l)
      nn._check_sequence_dtype(op, memory, 'memory', l)
      check_decoder_masks(op, opts, tgt, memory, l.batch_first, l.self_attn.num_heads, l.multihead_attn.num_heads)
    end
    local x = tgt
    for i = 1, self.num_layers do x = self.layers[i](x, memory, opts) end
    if self.norm then x = self.norm(x) end
    return x
  end

  -- ---- the whole model ----
  -- nn.Transformer{d_model = 512, nhead = 8, num_encoder_layers = 6,
  -- num_decoder_layers = 6, dim_feedforward = 2048, dropout = 0.1,
  -- activation = 'relu', custom_encoder, custom_decoder, layer_norm_eps =
  -- 1e-5, batch_first = false, norm_first = false}, PyTorch's defaults; or
  -- nn.Transformer(d_model, nhead, {the others}). The encoder and decoder
  -- end in a LayerNorm each; every parameter of two or more dims is then
  -- drawn again by xavier_uniform_, as PyTorch's _reset_parameters does
  -- (a custom encoder's or decoder's too).
  local Transformer = Module:extend('Transformer')
  nn.Transformer = Transformer

  function Transformer:init(d_model, nhead, opts)
    local op = 'Transformer'
    if type(d_model) == 'table' and not nn.is_module(d_model) and nhead == nil and opts == nil then
      opts = nl._opts(op, d_model)
      d_model, nhead = opts.d_model, opts.nhead
    else
      opts = nl._opts(op, opts)
      for _, k in ipairs({ 'd_model', 'nhead' }) do
        if opts[k] ~= nil then
          nl._raise(('%s: %s given twice (as an argument and an option)'):format(op, k))
        end
      end
    end
    nl._check_opts(op, opts, T_INIT)
    d_model, nhead = d_model or 512, nhead or 8
    positive(op, 'd_model', d_model)
    positive(op, 'nhead', nhead)
    if d_model % nhead ~= 0 then nl._raise(('%s: d_model %d is not divisible by nhead %d'):format(op, d_model, nhead)) end
    local n_enc, n_dec = opts.num_encoder_layers or 6, opts.num_decoder_layers or 6
    positive(op, 'num_encoder_layers', n_enc, 2 ^ 16)
    positive(op, 'num_decoder_layers', n_dec, 2 ^ 16)
    for _, k in ipairs({ 'custom_encoder', 'custom_decoder' }) do
      if opts[k] ~= nil and not nn.is_module(opts[k]) then nl._argerror(op, 'a module as ' .. k, opts[k]) end
    end
    local eps = nn._layer_norm_eps(op, opts.layer_norm_eps)
    local lopts = { dim_feedforward = opts.dim_feedforward, dropout = opts.dropout, activation = opts.activation,
                    layer_norm_eps = eps, batch_first = opts.batch_first, norm_first = opts.norm_first }
    if opts.custom_encoder then
      self.encoder = opts.custom_encoder
    else
      local layer = nn.TransformerEncoderLayer(d_model, nhead, lopts)
      self.encoder = nn.TransformerEncoder(layer, n_enc, { norm = nn.LayerNorm(d_model, { eps = eps }) })
    end
    if opts.custom_decoder then
      self.decoder = opts.custom_decoder
    else
      local layer = nn.TransformerDecoderLayer(d_model, nhead, lopts)
      self.decoder = nn.TransformerDecoder(layer, n_dec, { norm = nn.LayerNorm(d_model, { eps = eps }) })
    end
    for _, p in ipairs(self:parameters()) do
      if p:dim() > 1 then nn.init.xavier_uniform_(p) end
    end
    self.d_model, self.nhead, self.batch_first = d_model, nhead, opts.batch_first == true
  end

  -- forward(src, tgt, {src_mask (S, S), tgt_mask (T, T), memory_mask (T, S),
  -- src_key_padding_mask (N, S), tgt_key_padding_mask (N, T),
  -- memory_key_padding_mask (N, S)}) -> (T, N, E) (batch_first: (N, T, E);
  -- unbatched src (S, E) and tgt (T, E): (T, E))
  function Transformer:forward(src, tgt, opts)
    local op = 'Transformer'
    opts = forward_opts(op, opts, T_FORWARD, 'model(src, tgt, {src_mask = a, tgt_mask = b})')
    check_pair(op, src, 'src', 'S', tgt, 'tgt', 'T', self.d_model, self.batch_first)
    -- the masks under the model's names, for the encoder and decoder it
    -- built (or standard ones given)
    local bf = self.batch_first
    local el = standard_layer(self.encoder, 'TransformerEncoderLayer')
    nn._check_sequence_dtype(op, src, 'src', el)
    if el then
      nn._check_masks(op, opts, 'src_mask', 'src_key_padding_mask', src, 'S', src, 'S', bf, el.self_attn.num_heads)
    end
    local dl = standard_layer(self.decoder, 'TransformerDecoderLayer')
    nn._check_sequence_dtype(op, tgt, 'tgt', dl)
    if dl then
      nn._check_masks(op, opts, 'tgt_mask', 'tgt_key_padding_mask', tgt, 'T', tgt, 'T', bf, dl.self_attn.num_heads)
      nn._check_masks(op, opts, 'memory_mask', 'memory_key_padding_mask', tgt, 'T', src, 'S', bf,
                      dl.multihead_attn.num_heads)
    end
    local memory = self.encoder(src, { mask = opts.src_mask, src_key_padding_mask = opts.src_key_padding_mask })
    return self.decoder(tgt, memory, { tgt_mask = opts.tgt_mask, memory_mask = opts.memory_mask,
                                       tgt_key_padding_mask = opts.tgt_key_padding_mask,
                                       memory_key_padding_mask = opts.memory_key_padding_mask })
  end

  -- (sz, sz) of the default dtype (float32 unless nl.set_default_dtype
  -- changed it): -inf above the diagonal, 0 elsewhere (position i may not
  -- attend to j > i), PyTorch's. Called on the class or a model,
  -- with a dot or a colon.
  -- PyTorch 1.13's device argument: 'cpu' or none (a device or an
  -- argument past it was dropped without a word)
  function Transformer.generate_square_subsequent_mask(sz, ...)
    local op = 'generate_square_subsequent_mask'
    local device
    if nn.is_module(sz) or sz == Transformer then
      sz, device = ...
      nl._no_extra_args(op, '(sz, device)', nil, select(3, ...))
    else
      device = ...
      nl._no_extra_args(op, '(sz, device)', nil, select(2, ...))
    end
    if device ~= nil and device ~= 'cpu' then
      nl._raise(("%s: device must be 'cpu' (nnlua runs on the CPU), got %s"):format(op, nl._describe_arg(device)))
    end
    if not nl._size_arg(sz) or sz > 2 ^ 20 then
      nl._raise('generate_square_subsequent_mask: expected a positive size, got ' .. nl._describe_arg(sz))
    end
    return nl.where(nn.causal_mask(sz), -math.huge, nl.zeros({}))
  end
end
