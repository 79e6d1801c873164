-- The transformer against PyTorch 1.13 (tests/golden/gen_transformer.py):
-- TransformerDecoderLayer, TransformerDecoder and Transformer post-norm and
-- pre-norm, sequence-first and batch_first, with every mask and unbatched;
-- MultiheadAttention with kdim / vdim, per-head weights, 3-D masks and
-- unbatched input; forward outputs and the gradients of the inputs and of
-- every parameter, the weights loaded by PyTorch's state-dict names.
-- Then float64 finite differences, generate_square_subsequent_mask's
-- closed form, custom encoders, save / load / clone, and the errors.
local nl = require 'nnlua'
local nn = nl.nn
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/transformer.lua')
-- |got - want| <= atol + rtol |want|: float64 cases to float64 rounding
local TOL = { float64 = { 1e-9, 1e-11 }, float32 = { 1e-4, 2e-5 } }
local ACTIVATIONS = { tanh = function(x) return x:tanh() end }

local function build(c)
  local o = {}
  for k, v in pairs(c.opts) do o[k] = v end
  if c.activation_fn then o.activation = ACTIVATIONS[c.activation_fn] end
  local E, H = c.args[1], c.args[2]
  if c.kind == 'mha' then return nn.MultiheadAttention(E, H, o) end
  if c.kind == 'encoder_layer' then return nn.TransformerEncoderLayer(E, H, o) end
  if c.kind == 'decoder_layer' then return nn.TransformerDecoderLayer(E, H, o) end
  if c.kind == 'decoder' then
    local n = o.num_layers
    o.num_layers = nil
    return nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, o), n, { norm = nn.LayerNorm(E) })
  end
  return nn.Transformer(o)
end

-- the forward of case c on inputs xs
local function run(m, c, xs)
  local fo = {}
  for k, v in pairs(c.masks) do fo[k] = S.from_golden(v) end
  for k, v in pairs(c.call) do fo[k] = v end
  if c.kind == 'mha' then return m(xs[1], xs[2], xs[3], fo) end
  if c.kind == 'encoder_layer' then return m(xs[1], fo) end
  return m(xs[1], xs[2], fo)
end

describe('transformer against PyTorch 1.13', function()
  for _, c in ipairs(golden) do
    it(c.name .. ': output, weights and gradients', function()
      local m = build(c)
      -- PyTorch's names, in PyTorch's order (a state dict maps 1:1: the
      -- strict load below refuses a missing or an unexpected name)
      local want_names = {}
      for i, g in ipairs(c.param_grads) do want_names[i] = g.name end
      assert.are.same(want_names, S.names_of(m:named_parameters()))
      S.golden_state(m, c, true)
      local xs = {}
      for i, g in ipairs(c.inputs) do xs[i] = S.from_golden(g):requires_grad() end
      local out, weights = run(m, c, xs)
      local rtol, atol = TOL[c.dtype][1], TOL[c.dtype][2]
      assert.are.equal(c.dtype, out:dtype())
      S.expect_close(out, c.out, c.name .. ' output', rtol, atol)
      if c.weights then S.expect_close(weights, c.weights, c.name .. ' attention weights', rtol, atol) end
      (out * S.from_golden(c.w)):sum():backward()
      for i, g in ipairs(c.input_grads) do
        S.expect_close(xs[i].grad, g, ('%s grad of input %d'):format(c.name, i), rtol, atol)
      end
      local sd = m:state_dict { keep_vars = true }
      for _, g in ipairs(c.param_grads) do
        S.expect_close(sd[g.name].grad, g.t, c.name .. ' grad of ' .. g.name, rtol, atol)
      end
    end)
  end
end)

local function small(opts)
  local o = { d_model = 4, nhead = 2, num_encoder_layers = 1, num_decoder_layers = 1, dim_feedforward = 6, dropout = 0 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return nn.Transformer(o)
end

describe('transformer', function()
  it('passes float64 gradchecks through the decoder layer both ways and the whole model unbatched', function()
    nl.manual_seed(11)
    local tgt = nl.randn(3, 2, 4, 'float64'):requires_grad()
    local mem = nl.randn(4, 2, 4, 'float64'):requires_grad()
    local causal = nn.Transformer.generate_square_subsequent_mask(3)
    local mpad = nl.tensor({ { 0, 0, 0, 1 }, { 1, 0, 0, 0 } })
    for _, pre in ipairs({ false, true }) do
      local layer = nn.TransformerDecoderLayer(4, 2, { dim_feedforward = 6, dropout = 0, norm_first = pre }):double()
      assert.is_true(nl.gradcheck(function(a, b)
        return layer(a, b, { tgt_mask = causal, memory_key_padding_mask = mpad })
      end, { tgt, mem }))
    end
    local m = small({ activation = 'gelu' }):double()
    local src, t2 = nl.randn(4, 4, 'float64'):requires_grad(), nl.randn(3, 4, 'float64'):requires_grad()
    assert.is_true(nl.gradcheck(function(a, b)
      return m(a, b, { tgt_mask = causal, src_key_padding_mask = nl.tensor({ 0, 0, 1, 0 }) })
    end, { src, t2 }))
  end)

  it('generate_square_subsequent_mask is 0 on and below the diagonal, -inf above, as PyTorch', function()
    local mk = nn.Transformer.generate_square_subsequent_mask(4)
    assert.are.same({ 4, 4 }, mk:shape())
    assert.are.equal('float32', mk:dtype())
    for i = 1, 4 do
      for j = 1, 4 do assert.are.equal(j > i and -math.huge or 0, mk[i][j]) end
    end
    -- on a model, with a dot or a colon
    local m = small()
    assert.are.same(mk:totable(), m.generate_square_subsequent_mask(4):totable())
    assert.are.same(mk:totable(), m:generate_square_subsequent_mask(4):totable())
    assert.are.same({ { 0 } }, nn.Transformer.generate_square_subsequent_mask(1):totable())
    local msg = S.errmsg(nn.Transformer.generate_square_subsequent_mask, 0)
    S.contains(msg, 'generate_square_subsequent_mask: expected a positive size, got 0')
    -- PyTorch 1.13's device argument: 'cpu' is taken; another device, or an
    -- argument past it, was dropped without a word
    assert.are.same(mk:totable(), nn.Transformer.generate_square_subsequent_mask(4, 'cpu'):totable())
    assert.are.same(mk:totable(), m:generate_square_subsequent_mask(4, 'cpu'):totable())
    S.contains(S.errmsg(nn.Transformer.generate_square_subsequent_mask, 4, 'cuda'),
               "generate_square_subsequent_mask: device must be 'cpu' (nnlua runs on the CPU), got 'cuda'")
    S.contains(S.errmsg(function() return m:generate_square_subsequent_mask(4, 'cpu', 1) end),
               'generate_square_subsequent_mask: takes (sz, device), got 3 arguments')
    -- the float mask and a boolean one of the same blocks give one output
    local src, tgt = nl.randn(5, 2, 4), nl.randn(4, 2, 4)
    local a = m(src, tgt, { tgt_mask = mk })
    local b = m(src, tgt, { tgt_mask = nn.causal_mask(4) })
    assert.are.same(a:totable(), b:totable())
  end)

  it('is the encoder then the decoder; the constructor takes (d_model, nhead, opts) too', function()
    nl.manual_seed(3)
    local m = small({ num_encoder_layers = 2, num_decoder_layers = 3 })
    assert.are.equal(2, m.encoder.num_layers)
    assert.are.equal(3, m.decoder.num_layers)
    local src, tgt = nl.randn(5, 2, 4), nl.randn(3, 2, 4)
    local spad = nl.tensor({ { 0, 0, 0, 0, 1 }, { 0, 0, 0, 0, 0 } })
    local mem = m.encoder(src, { src_key_padding_mask = spad })
    local want = m.decoder(tgt, mem, { memory_key_padding_mask = spad })
    local got = m(src, tgt, { src_key_padding_mask = spad, memory_key_padding_mask = spad })
    assert.are.same(want:totable(), got:totable())
    local m2 = nn.Transformer(4, 2, { num_encoder_layers = 1, num_decoder_layers = 1, dim_feedforward = 6 })
    assert.are.equal(4, m2.d_model)
    assert.are.equal(2, m2.nhead)
    -- PyTorch's _reset_parameters: every weight of two or more dims is
    -- xavier_uniform_, bound sqrt(6 / (fan_in + fan_out)); Linear's own
    -- init (bound 1 / sqrt(fan_in) = 0.5 here) would reach beyond it
    local big = nn.Transformer({ d_model = 4, nhead = 2, num_encoder_layers = 1, num_decoder_layers = 1,
                                 dim_feedforward = 256 })
    local w = big.decoder.layers[1].linear1.weight            -- (256, 4)
    local bound = math.sqrt(6 / (4 + 256))
    assert.is_true(w:abs():max():item() <= bound)
    assert.is_true(w:abs():max():item() > 0.9 * bound)
  end)

  -- custom_encoder / custom_decoder replace the stacks, as PyTorch's, and
  -- are redrawn by xavier_uniform_ with the rest
  it('takes a custom encoder and decoder, called as PyTorch calls them', function()
    local Enc = nn.Module:extend('TestTransformerEncoder')
    function Enc:init() self.proj = nn.Linear(4, 4) end
    function Enc:forward(x, opts)
      self.seen = opts
      return self.proj(x)
    end
    local enc = Enc()
    local dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(4, 2, { dim_feedforward = 6, dropout = 0 }), 1)
    local before = enc.proj.weight:clone()
    local m = small({ custom_encoder = enc, custom_decoder = dec })
    assert.are.equal(enc, m.encoder)
    assert.are.equal(dec, m.decoder)
    assert.is_true((enc.proj.weight - before):abs():max():item() > 0, 'the custom encoder was not redrawn')
    local src, tgt = nl.randn(5, 2, 4), nl.randn(3, 2, 4)
    local smask = nl.zeros(5, 5)
    local got = m(src, tgt, { src_mask = smask, tgt_mask = nn.causal_mask(3) })
    assert.are.equal(smask, enc.seen.mask)
    assert.are.same(dec(tgt, enc.proj(src), { tgt_mask = nn.causal_mask(3) }):totable(), got:totable())
  end)

  it('takes a function or a module as the activation; the stacks copy layers that hold one', function()
    nl.manual_seed(8)
    local calls = 0
    local function act(x) calls = calls + 1 return x:tanh() end
    local m = small({ activation = act, num_decoder_layers = 2 })
    local src, tgt = nl.randn(5, 2, 4), nl.randn(3, 2, 4)
    m(src, tgt)
    assert.are.equal(3, calls)                -- one encoder layer, two decoder layers
    -- each copy has its own tensors
    local l1, l2 = m.decoder.layers[1], m.decoder.layers[2]
    assert.are_not.equal(l1.linear1.weight, l2.linear1.weight)
    nl.no_grad(function() l1.linear1.weight:fill_(0.25) end)
    assert.are_not.equal(0.25, l2.linear1.weight[1][1])
    -- a module: the same values as the function
    local layer = nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 6, dropout = 0, activation = nn.Tanh() })
    local ref = nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 6, dropout = 0, activation = act })
    ref:load_state_dict(layer:state_dict())
    assert.are.same(ref(src):totable(), layer(src):totable())
    local stack = nn.TransformerEncoder(ref, 2)
    assert.are.equal(act, stack.layers[2].activation)
    assert.are.same(ref(ref(src)):totable(), stack(src):totable())
  end)

  it('save, nn.load and clone give the same model with its own tensors', function()
    nl.manual_seed(21)
    local m = small({ norm_first = true, batch_first = true, activation = 'gelu', num_decoder_layers = 2 })
    m:eval()
    local src, tgt = nl.randn(2, 5, 4), nl.randn(2, 3, 4)
    local o = { tgt_mask = nn.Transformer.generate_square_subsequent_mask(3) }
    local want = m(src, tgt, o):totable()
    local path = os.tmpname()
    m:save(path)
    local back = nn.load(path)
    os.remove(path)
    assert.are.equal('Transformer', back.__name)
    assert.is_true(back.decoder.layers[1].norm_first and back.batch_first)
    assert.is_false(back.training)
    assert.are.same(want, back(src, tgt, o):totable())
    local c = m:clone()
    assert.are.same(want, c(src, tgt, o):totable())
    nl.no_grad(function() c.decoder.layers[2].multihead_attn.in_proj_weight:zero_() end)
    assert.are.same(want, m(src, tgt, o):totable())
    -- a PyTorch-named state dict round trip
    local fresh = small({ norm_first = true, batch_first = true, activation = 'gelu', num_decoder_layers = 2 }):eval()
    fresh:load_state_dict(m:state_dict())
    assert.are.same(want, fresh(src, tgt, o):totable())
    -- a function as the activation cannot be written down: the weights
    -- are saved, and clone says why it cannot rebuild
    local f = small({ activation = function(x) return x:tanh() end })
    local msg = S.errmsg(function() return f:clone() end)
    S.contains(msg, 'clone: Transformer cannot be rebuilt')
  end)

  -- PyTorch's TransformerEncoder(layer, n, norm), as its nn.Transformer
  -- builds them, was 'expected a table of options, got table'
  it('the stacks take the final norm as PyTorch passes it, the third argument', function()
    nl.manual_seed(23)
    local x, mem = nl.randn(3, 2, 4), nl.randn(5, 2, 4)
    local el = nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 6, dropout = 0 })
    local dl = nn.TransformerDecoderLayer(4, 2, { dim_feedforward = 6, dropout = 0 })
    local norm = nn.LayerNorm(4, { eps = 1e-3 })
    nl.no_grad(function() norm.weight:copy_(nl.tensor({ 1, 2, 3, 4 })) end)
    for _, c in ipairs({ { nn.TransformerEncoder, el, { x } }, { nn.TransformerDecoder, dl, { x, mem } } }) do
      local a, b = c[1](c[2], 2, norm), c[1](c[2], 2, { norm = norm })
      assert.are.equal(norm, a.norm)
      b:load_state_dict(a:state_dict())
      local want = b(unpack(c[3])):totable()
      assert.are.same(want, a(unpack(c[3])):totable())
      local path = os.tmpname()
      a:save(path)
      local back = nn.load(path)
      os.remove(path)
      assert.are.same(want, back(unpack(c[3])):totable())
      S.contains(S.errmsg(c[1], c[2], 2, { norm = 3 }), 'expected a module as norm')
    end
  end)

  it('MultiheadAttention: kdim and vdim give q/k/v_proj_weight; weights per head or averaged, or none', function()
    local m = nn.MultiheadAttention(4, 2, { kdim = 3, vdim = 5 })
    assert.are.same({ 'q_proj_weight', 'k_proj_weight', 'v_proj_weight', 'in_proj_bias', 'out_proj.weight',
                      'out_proj.bias' }, S.names_of(m:named_parameters()))
    assert.are.same({ 4, 3 }, m.k_proj_weight:shape())
    assert.are.same({ 4, 5 }, m.v_proj_weight:shape())
    assert.is_nil(m.in_proj_weight)
    local q, k, v = nl.randn(2, 3, 4), nl.randn(6, 3, 3), nl.randn(6, 3, 5)
    local out, avg = m(q, k, v)
    local _, per = m(q, k, v, { average_attn_weights = false })
    assert.are.same({ 2, 3, 4 }, out:shape())
    assert.are.same({ 3, 2, 2, 6 }, per:shape())
    assert.is_true((per:mean(2) - avg):abs():max():item() < 1e-7)
    local _, none = m(q, k, v, { need_weights = false })
    assert.is_nil(none)
    -- unbatched: the batched result of a batch of one
    local o1, w1 = m(q:select(2, 1), k:select(2, 1), v:select(2, 1), { average_attn_weights = false })
    assert.are.same({ 2, 4 }, o1:shape())
    assert.are.same({ 2, 2, 6 }, w1:shape())
    assert.is_true((o1 - out:select(2, 1)):abs():max():item() < 1e-6)
    assert.is_true((w1 - per:select(1, 1)):abs():max():item() < 1e-6)
    local msg = S.errmsg(m, q, q, q)
    S.contains(msg, 'MultiheadAttention: expected the key of shape (S, N, 3) or, unbatched, (S, 3), got [2,3,4]')
  end)

  it('names a mask of the wrong shape by its own option, at every level, when T = S too', function()
    -- MultiheadAttention said 'attn_mask must be (3, 3)' for a tgt_mask,
    -- memory_mask or src_mask alike, and 'key_padding_mask' for the three
    -- key-padding masks
    local m = small()
    local src, tgt = nl.randn(3, 2, 4), nl.randn(3, 2, 4)         -- S = T = 3, N = 2, nhead 2
    local function has(part, f, ...) S.contains(S.errmsg(f, ...), part) end
    local attn = '(%s, %s) = (3, 3) or (N * nhead, %s, %s) = (4, 3, 3), got [2,2]'
    for name, l in pairs({ src_mask = { 'S', 'S' }, tgt_mask = { 'T', 'T' }, memory_mask = { 'T', 'S' } }) do
      has(('Transformer: %s must be '):format(name) .. attn:format(l[1], l[2], l[1], l[2]), m, src, tgt,
          { [name] = nl.zeros(2, 2) })
    end
    for name, l in pairs({ src_key_padding_mask = 'S', tgt_key_padding_mask = 'T', memory_key_padding_mask = 'S' }) do
      has(('Transformer: %s must be (N, %s) = (2, 3), got [3,2]'):format(name, l), m, src, tgt, { [name] = nl.zeros(3, 2) })
    end
    has('Transformer: expected a tensor as memory_mask, got string', m, src, tgt, { memory_mask = 'causal' })
    -- the stacks and the layers under their own names; the 3-D form per head
    local mem = m.encoder(src)
    has('TransformerDecoder: memory_mask must be (T, S) = (3, 3) or (N * nhead, T, S) = (4, 3, 3), got [2,3,3]',
        m.decoder, tgt, mem, { memory_mask = nl.zeros(2, 3, 3) })
    has('TransformerDecoder: tgt_key_padding_mask must be (N, T) = (2, 3), got [2,4]', m.decoder, tgt, mem,
        { tgt_key_padding_mask = nl.zeros(2, 4) })
    local dl = m.decoder.layers[1]
    has('TransformerDecoderLayer: tgt_mask must be (T, T) = (3, 3) or (N * nhead, T, T) = (4, 3, 3), got [3,4]',
        dl, tgt, mem, { tgt_mask = nl.zeros(3, 4) })
    has('TransformerDecoderLayer: memory_key_padding_mask of unbatched input must be (S) = (5), got [3]', dl,
        nl.randn(3, 4), nl.randn(5, 4), { memory_key_padding_mask = nl.zeros(3) })
    has('TransformerEncoder: mask must be (S, S) = (3, 3) or (N * nhead, S, S) = (4, 3, 3), got [2,2]', m.encoder,
        src, { mask = nl.zeros(2, 2) })
    has('TransformerEncoderLayer: src_mask must be (S, S) = (3, 3) or (N * nhead, S, S) = (4, 3, 3), got [2,2]',
        m.encoder.layers[1], src, { src_mask = nl.zeros(2, 2) })
    has('TransformerEncoderLayer: src_key_padding_mask must be (N, S) = (2, 3), got [3,2]', m.encoder.layers[1], src,
        { src_key_padding_mask = nl.zeros(3, 2) })
    -- batch_first: N and the lengths from their dims; masks of the right
    -- shapes (3-D ones too) pass to MultiheadAttention as before
    local bf = small({ batch_first = true })
    has('Transformer: memory_mask must be (T, S) = (3, 5)', bf, nl.randn(2, 5, 4), nl.randn(2, 3, 4),
        { memory_mask = nl.zeros(5, 3) })
    local y = bf(nl.randn(2, 5, 4), nl.randn(2, 3, 4), { src_mask = nl.zeros(4, 5, 5), tgt_mask = nl.zeros(3, 3),
                                                       memory_mask = nl.zeros(4, 3, 5),
                                                       memory_key_padding_mask = nl.zeros(2, 5) })
    assert.are.same({ 2, 3, 4 }, y:shape())
  end)

  it('layer_norm_eps: any number, as nn.LayerNorm and PyTorch take it, in the encoder and decoder layers alike', function()
    -- the decoder layer refused -1e-3, which the encoder layer took
    local el = nn.TransformerEncoderLayer(4, 2, { layer_norm_eps = -1e-3 })
    local dl = nn.TransformerDecoderLayer(4, 2, { layer_norm_eps = -1e-3 })
    assert.are.same({ -1e-3, -1e-3, -1e-3, -1e-3, -1e-3 }, { el.norm1.eps, el.norm2.eps, dl.norm1.eps, dl.norm2.eps,
                                                             dl.norm3.eps })
    assert.are.equal(-1e-3, nn.LayerNorm(4, { eps = -1e-3 }).eps)
    local m = small({ layer_norm_eps = -1e-3 })
    assert.are.same({ -1e-3, -1e-3 }, { m.encoder.norm.eps, m.decoder.layers[1].norm3.eps })
    -- a non-number in each one's own name (LayerNorm named the encoder layer's)
    for _, c in ipairs({ { 'TransformerEncoderLayer', nn.TransformerEncoderLayer, 4, 2 },
                         { 'TransformerDecoderLayer', nn.TransformerDecoderLayer, 4, 2 } }) do
      S.contains(S.errmsg(c[2], c[3], c[4], { layer_norm_eps = '1e-5' }), c[1] .. ": layer_norm_eps must be a number, got '1e-5'")
    end
    S.contains(S.errmsg(nn.Transformer, 4, 2, { layer_norm_eps = true }), 'Transformer: layer_norm_eps must be a number, got boolean')
  end)

  it('rejects bad shapes and arguments naming the op and the shapes', function()
    local m = small()
    local src, tgt = nl.randn(5, 2, 4), nl.randn(3, 2, 4)
    local function has(part, f, ...)
      local msg = S.errmsg(f, ...)
      S.contains(msg, part)
    end
    has('Transformer: expected src of shape (S, N, 4) or, unbatched, (S, 4), got [5,2,3]', m, nl.randn(5, 2, 3), tgt)
    has('Transformer: expected tgt of shape (T, N, 4) or, unbatched, (T, 4), got [3]', m, src, nl.randn(3))
    has('Transformer: src [5,2,4] and tgt [3,3,4] are not batched alike', m, src, nl.randn(3, 3, 4))
    has('Transformer: src [5,4] and tgt [3,2,4] are not batched alike', m, nl.randn(5, 4), tgt)
    has('Transformer: masks are options here', m, src, tgt, nl.zeros(5, 5))
    has("Transformer: unknown option 'mask'", m, src, tgt, { mask = nl.zeros(5, 5) })
    has('Transformer: tgt_mask must be (T, T) = (3, 3) or (N * nhead, T, T) = (4, 3, 3), got [3,4]', m, src, tgt,
        { tgt_mask = nl.zeros(3, 4) })
    has('Transformer: memory_mask must be (T, S) = (3, 5) or (N * nhead, T, S) = (4, 3, 5), got [5,3]', m, src, tgt,
        { memory_mask = nl.zeros(5, 3) })
    has('Transformer: memory_key_padding_mask must be (N, S) = (2, 5), got [2,3]', m, src, tgt,
        { memory_key_padding_mask = nl.zeros(2, 3) })
    has('Transformer: src_key_padding_mask of unbatched input must be (S) = (5), got [1,5]', m, nl.randn(5, 4),
        nl.randn(3, 4), { src_key_padding_mask = nl.zeros(1, 5) })
    local bf = small({ batch_first = true })
    has('Transformer: expected src of shape (N, S, 4) or, unbatched, (S, 4), got [2,5,3]', bf, nl.randn(2, 5, 3),
        nl.randn(2, 3, 4))
    has('Transformer: src [2,5,4] and tgt [3,3,4] are not batched alike (batch size at dim 1', bf, nl.randn(2, 5, 4),
        nl.randn(3, 3, 4))
    local dl = nn.TransformerDecoderLayer(4, 2, { dim_feedforward = 6 })
    has('TransformerDecoderLayer: expected memory of shape (S, N, 4) or, unbatched, (S, 4), got [5,2,6]', dl, tgt,
        nl.randn(5, 2, 6))
    -- the inputs by name ('expected a tensor, got nil' said not which),
    -- a dtype against the weights' in the caller's name, with the input and
    -- its shape (the MultiheadAttention inside named itself and no input)
    has('TransformerDecoderLayer: expected a tensor as tgt, got string', dl, 'x', src)
    has('TransformerDecoderLayer: expected a tensor as memory, got nil', dl, tgt)
    local dec = nn.TransformerDecoder(dl, 1)
    has('TransformerDecoder: expected a tensor as memory, got nil', dec, tgt)
    local el = nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 6 })
    has('TransformerEncoder: expected a tensor as src, got nil', nn.TransformerEncoder(el, 1))
    has('TransformerEncoderLayer: expected a tensor as src, got nil', el)
    has('Transformer: tgt [3,2,4] of dtype float64 for a layer of float32 weights (convert one: x:float(), or the '
        .. 'layer with :double())', m, src, tgt:double())
    has('Transformer: src [5,2,4] of dtype int64 for a layer of float32 weights (convert the input: x:float())', m,
        src:long(), tgt)
    has('TransformerDecoderLayer: memory [5,2,4] of dtype float64 for a layer of float32 weights', dl, tgt,
        src:double())
    has('TransformerDecoder: tgt [3,2,4] of dtype float64 for a layer of float32 weights', dec, tgt:double(), src)
    has('TransformerEncoderLayer: src [5,2,4] of dtype float64 for a layer of float32 weights', el, src:double())
    has('TransformerEncoder: src [5,2,4] of dtype float64 for a layer of float32 weights', nn.TransformerEncoder(el, 2),
        src:double())
    has('TransformerEncoderLayer: src [5,2,4] of dtype float32 for a layer of float64 weights (convert one: '
        .. 'x:double(), or the layer with :float())', el:clone():double(), src)
    has('TransformerEncoderLayer: expected src of shape (S, N, 4) or, unbatched, (S, 4), got [5,2]',
        nn.TransformerEncoderLayer(4, 2), nl.randn(5, 2))
    -- constructors
    has('Transformer: d_model 6 is not divisible by nhead 4', nn.Transformer, { d_model = 6, nhead = 4 })
    -- the layers name themselves and their d_model / nhead (they named
    -- MultiheadAttention's embed_dim and num_heads, and printed a tensor whole)
    has('TransformerDecoderLayer: d_model 6 is not divisible by nhead 4', nn.TransformerDecoderLayer, 6, 4)
    has('TransformerEncoderLayer: d_model 6 is not divisible by nhead 4', nn.TransformerEncoderLayer, 6, 4)
    has('TransformerDecoderLayer: nhead must be a positive whole number, got 0', nn.TransformerDecoderLayer, 8, 0)
    has('TransformerDecoderLayer: d_model must be a positive whole number, got 8.5', nn.TransformerDecoderLayer, 8.5, 2)
    has('TransformerEncoderLayer: d_model must be a positive whole number, got a tensor (float32 [2])',
        nn.TransformerEncoderLayer, nl.randn(2), 2)
    has("MultiheadAttention: expected positive integers embed_dim and num_heads, got 'x' and nil", nn.MultiheadAttention, 'x')
    has('Transformer: num_encoder_layers must be a positive whole number up to 65536, got 0', nn.Transformer,
        { d_model = 4, nhead = 2, num_encoder_layers = 0 })
    has('Transformer: d_model given twice', nn.Transformer, 4, 2, { d_model = 4 })
    has("Transformer: unknown option 'nheads'", nn.Transformer, { d_model = 4, nheads = 2 })
    has('Transformer: expected a module as custom_encoder', nn.Transformer, { d_model = 4, nhead = 2, custom_encoder = 3 })
    has("TransformerDecoderLayer: activation must be 'relu', 'gelu', a function or a module, got 'tanh'",
        nn.TransformerDecoderLayer, 4, 2, { activation = 'tanh' })
    has("TransformerEncoderLayer: activation must be 'relu', 'gelu', a function or a module, got 'tanh'",
        nn.TransformerEncoderLayer, 4, 2, { activation = 'tanh' })
    has('TransformerDecoderLayer: dropout must be a number in [0, 1], got 2', nn.TransformerDecoderLayer, 4, 2,
        { dropout = 2 })
    has('TransformerDecoder: expected a decoder layer (a module) as argument 1', nn.TransformerDecoder, 3, 2)
    has('TransformerDecoder: num_layers must be a positive whole number up to 65536, got 1.5', nn.TransformerDecoder,
        dl, 1.5)
    has('MultiheadAttention: kdim must be a positive whole number, got 0', nn.MultiheadAttention, 4, 2, { kdim = 0 })
  end)
end)
