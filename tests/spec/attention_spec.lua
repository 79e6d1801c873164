-- Attention against PyTorch golden values (tests/golden/gen_attention.py):
-- MultiheadAttention with causal and padding masks, batch_first, and
-- TransformerEncoderLayer pre-norm and as PyTorch's default (post-norm),
-- forward and backward; float64
-- gradchecks; PositionalEncoding's closed form; misuse.
local nl = require 'nnlua'
local nn = nl.nn
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/attention.lua')
local RTOL, ATOL = 1e-5, 1e-6           -- |got - want| <= RTOL |want| + ATOL

local function T(g) return nl.tensor(g.data):view(g.shape) end

local function expect(got, want, what)
  assert.are.same(want.shape, got:shape(), what .. ': shape')
  local flat = got:contiguous():view(-1)
  for i, w in ipairs(want.data) do
    local v = flat[i]
    if not S.close(v, w, RTOL, ATOL) then
      error(('%s: element %d is %.9g, PyTorch %.9g'):format(what, i, v, w), 2)
    end
  end
end

local function build(c)
  local E, H = c.params.in_proj_weight and c.params.in_proj_weight.shape[2], 2
  local m
  if c.name:match('^mha') then
    m = nn.MultiheadAttention(E, H, { batch_first = c.batch_first })
  elseif c.name:match('^stack') then
    local E2 = c.params['layers.0.self_attn.in_proj_weight'].shape[2]
    local layer = nn.TransformerEncoderLayer(E2, H, { dim_feedforward = c.params['layers.0.linear1.weight'].shape[1],
                                                      dropout = 0, activation = c.activation })
    m = nn.TransformerEncoder(layer, c.num_layers, { norm = nn.LayerNorm(E2) })
  else
    local E2 = c.params['self_attn.in_proj_weight'].shape[2]
    m = nn.TransformerEncoderLayer(E2, H, { dim_feedforward = c.params['linear1.weight'].shape[1], dropout = 0,
                                            norm_first = c.name:match('prenorm') and true or nil,   -- else the default
                                            activation = c.activation, batch_first = c.batch_first })
  end
  local sd = {}
  for k, v in pairs(c.params) do sd[k] = T(v) end
  m:load_state_dict(sd)                 -- PyTorch's names load as they are
  return m
end

describe('attention against PyTorch', function()
  for _, c in ipairs(golden) do
    it(c.name .. ': forward, weights and gradients', function()
      local m = build(c)
      local xs = {}
      for i, g in ipairs(c.inputs) do xs[i] = T(g):requires_grad() end
      local opts = {}
      for k, v in pairs(c.opts) do opts[k] = type(v) == 'table' and T(v) or v end
      local out, weights
      if c.name:match('^mha') then
        out, weights = m(xs[1], xs[2], xs[3], opts)
        expect(weights, c.weights, 'attention weights')
      else
        out = m(xs[1], opts)
      end
      expect(out, c.out, 'output')
      local loss = (out * T(c.w)):sum()
      loss:backward()
      for i, g in ipairs(c.input_grads) do
        expect(xs[i].grad, g, 'input ' .. i .. ' grad')
      end
      for name, g in pairs(c.param_grads) do
        local p = m:state_dict { keep_vars = true }[name]
        expect(p.grad, g, name .. ' grad')
      end
    end)
  end
end)

describe('attention', function()
  it('passes float64 gradchecks with causal and padding masks', function()
    nl.manual_seed(5)
    local m = nn.MultiheadAttention(6, 3):double()
    local x = nl.randn(4, 2, 6, 'float64'):requires_grad()
    local kv = nl.randn(3, 2, 6, 'float64'):requires_grad()
    local pad = nl.tensor({ { 0, 0, 1 }, { 0, 0, 0 } })
    assert.is_true(nl.gradcheck(function(a) return (m(a, a, a, { is_causal = true })) end, { x }))
    assert.is_true(nl.gradcheck(function(a, b) return (m(a, b, b, { key_padding_mask = pad })) end, { x, kv }))
    for _, pre in ipairs({ true, false }) do
      local layer = nn.TransformerEncoderLayer(6, 3, { dim_feedforward = 8, dropout = 0, norm_first = pre }):double()
      assert.is_true(nl.gradcheck(function(a) return layer(a, { is_causal = true }) end, { x }))
    end
  end)

  it('a causal mask keeps each position from attending ahead', function()
    local m = nn.MultiheadAttention(4, 1)
    local x = nl.randn(6, 1, 4)
    local _, w = m(x, x, x, { is_causal = true })
    for i = 1, 6 do
      for j = i + 1, 6 do assert.are.equal(0, w[1][i][j]) end
      assert.is_true(S.close(w[1][i]:sum():item(), 1, 1e-6))
    end
  end)

  -- is_causal replaced a given attn_mask: the mask's blocks were lost
  it('is_causal with an attn_mask applies both', function()
    local m = nn.MultiheadAttention(4, 1)
    local x = nl.randn(3, 1, 4)
    local pad = nl.tensor({ { 0, 0, 0 }, { 1, 0, 0 }, { 0, 1, 0 } })
    local _, w = m(x, x, x, { attn_mask = pad, is_causal = true })
    local both = nl.tensor({ { 0, 1, 1 }, { 1, 0, 1 }, { 0, 1, 0 } })
    local _, want = m(x, x, x, { attn_mask = both })
    assert.are.same(want:totable(), w:totable())
    assert.are.equal(0, w[1][2][1])
    assert.are.equal(1, w[1][2][2])
    assert.are.equal(0, w[1][3][2])
  end)

  -- a float mask is PyTorch's additive bias there; here nonzero blocks, so
  -- 0.5 was a block without a word. 0/-inf (PyTorch's additive form of a
  -- block) is taken, and means what 0/1 means.
  it('a float mask of other values than 0, 1 and -1e4 or below is refused; -inf and -1e9 block', function()
    local m = nn.MultiheadAttention(4, 2)
    local x = nl.randn(3, 2, 4)
    local _, w1 = m(x, x, x, { attn_mask = nl.tensor({ { 0, 1, 0 }, { 0, 0, 1 }, { 0, 0, 0 } }) })
    local ninf = -math.huge
    local _, w2 = m(x, x, x, { attn_mask = nl.tensor({ { 0, ninf, 0 }, { 0, 0, ninf }, { 0, 0, 0 } }) })
    assert.are.same(w1:totable(), w2:totable())
    local ok, err = pcall(m, x, x, x, { attn_mask = nl.tensor({ { 0, 0.5, 0 }, { 0, 0, 0 }, { 0, 0, 0 } }) })
    assert.is_false(ok)
    assert.is_truthy(err:find('attn_mask holds values other than 0, 1 and %-1e4 or below'), err)
    ok, err = pcall(m, x, x, x, { key_padding_mask = nl.tensor({ { 0, -2, 0 }, { 0, 0, 0 } }, 'float64') })
    assert.is_truthy(err:find('key_padding_mask holds values other than'), err)
    -- a large negative number blocks, as in PyTorch's additive form (-1e9
    -- is common in ported code)
    local _, w4 = m(x, x, x, { attn_mask = nl.tensor({ { 0, 1, 0 }, { 0, 0, 1 }, { 0, 0, 0 } }) * -1e9 })
    assert.are.same(w1:totable(), w4:totable())
    -- an int64 mask is boolean: any nonzero blocks
    local _, w3 = m(x, x, x, { attn_mask = nl.tensor({ { 0, 5, 0 }, { 0, 0, -1 }, { 0, 0, 0 } }, 'int64') })
    assert.are.same(w1:totable(), w3:totable())
  end)

  -- -1e9 became -inf: a row it blocked everywhere was NaN, and NaN
  -- reached the weight gradient of the whole batch. PyTorch adds -1e9:
  -- in float32 every score of that row becomes -1e9, the softmax uniform.
  it('a float mask of -1e9 over a whole row is added as PyTorch adds it: a uniform softmax, no NaN', function()
    nl.manual_seed(4)
    local E = 4
    local m = nn.MultiheadAttention(E, 2)
    nl.no_grad(function() m.in_proj_bias:copy_(nl.randn(3 * E)) end)
    local x = nl.randn(3, 2, E)
    local out, w = m(x, x, x, { key_padding_mask = nl.tensor({ { 0, 0, -1e9 }, { -1e9, -1e9, -1e9 } }) })
    out:sum():backward()
    local g = m.in_proj_weight.grad
    assert.are.equal(0, g:ne(g):sum():item(), 'NaN in the weight gradient')
    for i = 1, 3 do
      assert.are.equal(0, w[1][i][3])
      for j = 1, 3 do assert(math.abs(w[2][i][j] - 1 / 3) < 1e-6, 'weight ' .. w[2][i][j]) end
    end
    -- batch 2 attends uniformly: each position gets out_proj(mean of the values)
    local v = nl.matmul(x:select(2, 2), m.in_proj_weight:narrow(1, 2 * E + 1, E):t())
              + m.in_proj_bias:narrow(1, 2 * E + 1, E)
    local want = m.out_proj(v:mean(1):view(1, E))
    for i = 1, 3 do
      local d = (out:select(2, 2):narrow(1, i, 1) - want):abs():max():item()
      assert(d < 1e-5, 'position ' .. i .. ' differs by ' .. d)
    end
  end)

  it('a padded key gets no attention', function()
    local m = nn.MultiheadAttention(4, 2)
    local x = nl.randn(3, 2, 4)
    local _, w = m(x, x, x, { key_padding_mask = nl.tensor({ { 0, 1, 0 }, { 0, 0, 0 } }) })
    for i = 1, 3 do assert.are.equal(0, w[1][i][2]) end
    assert.is_true(w[2][1][2] > 0)
  end)

  -- the default is PyTorch's post-norm layer (it was pre-norm); the
  -- constructor's arguments as a checkpoint records them name the choice,
  -- so that a saved layer is rebuilt as it was built
  it('TransformerEncoderLayer is post-norm by default, and records norm_first for nn.load', function()
    local d = nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 8 })
    assert.is_false(d.norm_first)
    assert.is_false(d:structure().args[3].norm_first)
    local p = nn.TransformerEncoderLayer(4, 2, { norm_first = true })
    assert.is_true(p:structure().args[3].norm_first)
    assert.is_false(nn.TransformerEncoderLayer(4, 2):structure().args[3].norm_first)
  end)

  it('TransformerEncoder stacks copies of its layer with their own weights; nn.load rebuilds it', function()
    local layer = nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 8, dropout = 0, batch_first = true })
    local enc = nn.TransformerEncoder(layer, 2, { norm = nn.LayerNorm(4) })
    assert.are.equal(2 * #layer:parameters() + 2, #enc:parameters())
    local w0, w1 = enc.layers[1].linear1.weight, enc.layers[2].linear1.weight
    assert.are.same(layer.linear1.weight:totable(), w0:totable())
    nl.no_grad(function() w0:fill_(0.5) end)
    assert.is_true(w1[1][1] ~= 0.5 and layer.linear1.weight[1][1] ~= 0.5, 'the copies share a tensor')
    -- the stack is its layers in turn, then the norm
    local x = nl.randn(2, 3, 4)
    local want = enc.norm(enc.layers[2](enc.layers[1](x, { is_causal = true }), { is_causal = true }))
    assert.are.same(want:totable(), enc(x, { is_causal = true }):totable())
    local path = os.tmpname()
    enc:save(path)
    local back = nn.load(path)
    os.remove(path)
    assert.are.same(enc(x):totable(), back(x):totable())
    local function err(f) local ok, e = pcall(f); assert.is_false(ok); return e end
    local function has(msg, plain) assert.is_truthy(msg:find(plain, 1, true), msg) end
    has(err(function() nn.TransformerEncoder(nl.zeros(2), 2) end), 'TransformerEncoder: expected an encoder layer')
    has(err(function() nn.TransformerEncoder(layer, 0) end), 'TransformerEncoder: num_layers must be a positive whole number')
    has(err(function() nn.TransformerEncoder(layer, 2, { nrom = nn.LayerNorm(4) }) end),
        "TransformerEncoder: unknown option 'nrom'")
    has(err(function() enc(x, { src_mask = nl.zeros(3, 3) }) end), "TransformerEncoder: unknown option 'src_mask'")
  end)

  -- dropout = 1 was refused; PyTorch takes it, and in training every
  -- weight is dropped: the output is the out-projection's bias alone
  it('MultiheadAttention takes dropout = 1: in training the output is the out-projection bias', function()
    local m = nn.MultiheadAttention(4, 2, { dropout = 1 })
    nl.no_grad(function() m.out_proj.bias:copy_(nl.tensor({ 1, 2, 3, 4 })) end)
    local x = nl.randn(3, 2, 4)
    local out = m(x, x, x)
    for i = 1, 3 do for j = 1, 2 do assert.are.same({ 1, 2, 3, 4 }, out[i][j]:totable()) end end
    m:eval()
    assert.is_true((m(x, x, x) - out):abs():max():item() > 0.01, 'eval mode drops nothing')
  end)

  it('PositionalEncoding holds sin and cos of position / 10000^(2k/d)', function()
    local pe = nn.PositionalEncoding(6, 20)
    for _, pos in ipairs({ 0, 1, 7, 19 }) do
      for k = 0, 2 do
        local angle = pos / 10000 ^ (2 * k / 6)
        assert.is_true(S.close(pe.pe[pos + 1][2 * k + 1], math.sin(angle), 1e-5, 1e-6))
        assert.is_true(S.close(pe.pe[pos + 1][2 * k + 2], math.cos(angle), 1e-5, 1e-6))
      end
    end
    local x = nl.zeros(2, 5, 6)
    assert.are.same(pe.pe:narrow(1, 1, 5):totable(), pe(x)[2]:totable())
  end)

  it('rejects bad shapes with the op and the shapes in the message', function()
    local m = nn.MultiheadAttention(8, 2)
    local ok, err = pcall(function() return m(nl.randn(3, 2, 5)) end)
    assert.is_false(ok)
    assert.is_truthy(err:find('MultiheadAttention: expected the query of shape (L, N, 8) or, unbatched, (L, 8), got [3,2,5]',
                              1, true), err)
    ok, err = pcall(function() return nn.MultiheadAttention(6, 4) end)
    assert.is_truthy(err:find('not divisible'), err)
    ok, err = pcall(function() local x = nl.randn(3, 2, 8); return m(x, x, x, { attn_mask = nl.zeros(2, 2) }) end)
    assert.is_truthy(err:find('attn_mask must be %(3, 3%)'), err)
    -- 1.5 heads was taken (and shown as 1); PositionalEncoding broadcast an
    -- (L, d) input or a wrong last dim into another shape
    ok, err = pcall(nn.MultiheadAttention, 6, 1.5)
    assert.is_truthy(err:find('expected positive integers embed_dim and num_heads, got 6 and 1.5'), err)
    ok, err = pcall(nn.PositionalEncoding(4, 10, { batch_first = false }), nl.zeros(3, 4))
    assert.is_truthy(err:find('PositionalEncoding: expected input of shape %(L, N, 4%), got %[3,4%]'), err)
    -- options given 2nd, as TransformerEncoderLayer takes them, were read
    -- as the key: 'expected a tensor, got table'
    local x = nl.randn(3, 2, 8)
    ok, err = pcall(m, x, { is_causal = true })
    assert.is_truthy(err:find('MultiheadAttention: the key must be a tensor or nil, got table (options go 4th', 1, true), err)
    ok, err = pcall(m, x, nil, { need_weights = false })
    assert.is_truthy(err:find('MultiheadAttention: the value must be a tensor or nil, got table', 1, true), err)
    ok, err = pcall(nn.PositionalEncoding(4, 10), nl.zeros(2, 3, 1))
    assert.is_truthy(err:find('PositionalEncoding: expected input of shape %(N, L, 4%), got %[2,3,1%]'), err)
    -- (the lengths and shapes were not said)
    ok, err = pcall(m, x, nl.randn(5, 2, 8), nil, { is_causal = true })
    assert.is_truthy(err:find('MultiheadAttention: is_causal needs equal query and key lengths, got L = 3 and S = 5 '
                              .. '(query [3,2,8], key [5,2,8] and value [5,2,8])', 1, true), err)
    -- a mask where PyTorch's positional key_padding_mask goes, and the
    -- encoder's where its src_mask and mask go ('expected a table of
    -- options, got a tensor')
    ok, err = pcall(m, x, x, x, nl.zeros(2, 3))
    assert.is_truthy(err:find('MultiheadAttention: masks are options here, under their PyTorch names: m(q, k, v, '
                              .. '{key_padding_mask = a, attn_mask = b})', 1, true), err)
    local layer = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 4 })
    ok, err = pcall(layer, x, nl.zeros(3, 3))
    assert.is_truthy(err:find('TransformerEncoderLayer: masks are options here, under their PyTorch names: '
                              .. 'layer(src, {src_mask = m})', 1, true), err)
    ok, err = pcall(nn.TransformerEncoder(layer, 1), x, nl.zeros(3, 3))
    assert.is_truthy(err:find('TransformerEncoder: masks are options here, under their PyTorch names: '
                              .. 'encoder(src, {mask = m})', 1, true), err)
    -- an argument past the options was dropped without a word
    ok, err = pcall(m, x, x, x, {}, { need_weights = false })
    assert.is_truthy(err:find('MultiheadAttention: forward: takes (query, key, value, opts), got 5 arguments', 1, true),
                     err)
    -- a mask that is no tensor named the layer twice: 'MultiheadAttention:
    -- MultiheadAttention (attn_mask): expected a tensor, got table'
    ok, err = pcall(m, x, x, x, { attn_mask = { { 0, 1 } } })
    assert.is_truthy(err:find('MultiheadAttention: expected a tensor as attn_mask, got table', 1, true), err)
    ok, err = pcall(m, x, x, x, { key_padding_mask = true })
    assert.is_truthy(err:find('MultiheadAttention: expected a tensor as key_padding_mask, got boolean', 1, true), err)
    ok, err = pcall(nn.functional.multi_head_attention_forward, x, x, x, { embed_dim_to_check = 8, num_heads = 2,
      in_proj_weight = m.in_proj_weight, out_proj_weight = m.out_proj.weight, attn_mask = 'causal' })
    assert.is_truthy(err:find('multi_head_attention_forward: attn_mask must be a tensor or nil, got', 1, true), err)
  end)
end)

-- tests/golden/gen_attention_extra.py: float masks that require grad (the
-- gradient reaches them, at their 0 entries too, as PyTorch adds them);
-- add_bias_kv and add_zero_attn with masks, kdim / vdim, batch_first and
-- unbatched, bias_k and bias_v in PyTorch's parameter order
describe('MultiheadAttention against PyTorch 1.13 (attention_extra)', function()
  local extra = dofile(S.root .. '/tests/golden/attention_extra.lua')
  local tol = { 1e-9, 1e-11 }
  for _, c in ipairs(extra) do
    it(c.name, function()
      local m = nn.MultiheadAttention(c.args[1], c.args[2], c.opts):double()
      local want_names = {}
      for i, g in ipairs(c.param_grads) do want_names[i] = g.name end
      assert.are.same(want_names, S.names_of(m:named_parameters()))
      S.golden_state(m, c, true)
      local xs = {}
      for i, g in ipairs(c.inputs) do xs[i] = S.from_golden(g):requires_grad() end
      local fo = {}
      for k, v in pairs(c.call) do fo[k] = v end
      for k, g in pairs(c.masks) do
        fo[k] = S.from_golden(g)
        if c.mask_grads[k] then fo[k]:requires_grad() end
      end
      local out, weights = m(xs[1], xs[2], xs[3], fo)
      S.expect_golden(out, c.out, 'output', tol)
      S.expect_golden(weights, c.weights, 'weights', tol)
      ;(out * S.from_golden(c.w)):sum():backward()
      for i, g in ipairs(c.input_grads) do S.expect_golden(xs[i].grad, g, 'input grad ' .. i, tol) end
      for k, g in pairs(c.mask_grads) do
        assert.is_truthy(fo[k].grad, k .. ' has no gradient')
        S.expect_golden(fo[k].grad, g, k .. ' grad', tol)
      end
      local sd = m:state_dict { keep_vars = true }
      for _, g in ipairs(c.param_grads) do S.expect_golden(sd[g.name].grad, g.t, g.name .. ' grad', tol) end
    end)
  end

  -- is_causal is the (L, L) causal mask, padded as the given masks are:
  -- the added keys take part
  it('is_causal with add_bias_kv and add_zero_attn blocks the later keys only', function()
    nl.manual_seed(2)
    local m = nn.MultiheadAttention(4, 2, { add_bias_kv = true, add_zero_attn = true })
    local x = nl.randn(3, 2, 4)
    local _, w = m(x, x, x, { is_causal = true })
    local _, want = m(x, x, x, { attn_mask = nn.causal_mask(3):long() })
    assert.are.same({ 2, 3, 5 }, w:shape())
    S.same_bits(w, want, 'weights')
    assert.are.equal(0, w[1][1][2])
    assert.is_true(w[1][1][4] > 0 and w[1][1][5] > 0)
  end)

  it('names itself first when an op inside fails (scores too big to allocate)', function()
    -- scores (1, 2^20, 2^20) float32: 4 TiB, from inputs of 4 MiB
    local m = nn.MultiheadAttention(1, 1)
    local big = nl.zeros(1048576, 1)
    local ok, e = pcall(m, big, big, big)
    assert.is_false(ok)
    assert.is_truthy(e:find('MultiheadAttention: matmul: out of memory allocating [1,1048576,1048576] float32',
                            1, true), e)
    assert.is_truthy(e:find('attention_spec.lua', 1, true), e)    -- (the caller's line)
    -- its own messages as they were, named once
    ok, e = pcall(m, big, nl.zeros(3, 2), big)
    assert.is_false(ok)
    assert.is_truthy(e:find(': MultiheadAttention: expected the key of shape', 1, true), e)
    assert.is_falsy(e:find('MultiheadAttention: MultiheadAttention', 1, true), e)
  end)
end)
