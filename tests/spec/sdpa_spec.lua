-- F.scaled_dot_product_attention against PyTorch 2.x's definition computed
-- in float64 torch (tests/golden/gen_sdpa.py, which checks it against
-- 1.13's private _scaled_dot_product_attention): outputs and gradients to
-- q, k, v and a float mask, boolean (int64) and float masks broadcast,
-- is_causal, scale, batch dims broadcast, a fully masked row (0); the
-- positional form; dropout; float64 gradchecks; misuse.
local nl = require 'nnlua'
local nn = nl.nn
local F = nn.functional
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/sdpa.lua')
local TOL = { float32 = { 2e-5, 2e-6 }, float64 = { 1e-12, 1e-13 } }

local function sdpa(...) return F.scaled_dot_product_attention(...) end

describe('scaled_dot_product_attention against PyTorch 2.x\'s definition', function()
  for _, c in ipairs(golden) do
    it(c.name, function()
      local dt, tol = c.dtype, TOL[c.dtype]
      local x = {}
      for i, g in ipairs({ c.q, c.k, c.v, c.float_mask or nil }) do
        x[i] = S.from_golden(g):to(dt):requires_grad()
      end
      local opts = {}
      for k, v in pairs(c.args) do opts[k] = v end
      opts.attn_mask = x[4] or S.from_golden(c.bool_mask)
      local out = sdpa(x[1], x[2], x[3], opts)
      assert.are.equal(dt, out:dtype())
      S.expect_golden(out, c.out, 'output', tol)
      if c.grads[1] then
        (out * S.from_golden(c.w):to(dt)):sum():backward()
        for i = 1, #x do S.expect_golden(x[i].grad, c.grads[i], 'gradient ' .. i, tol) end
      end
    end)
  end

  -- the same call in PyTorch's positional order (query, key, value,
  -- attn_mask, dropout_p, is_causal, scale) gives the same bits
  it('takes PyTorch\'s positional order as the options table', function()
    nl.manual_seed(3)
    local q, k, v = nl.randn(2, 4, 8), nl.randn(2, 5, 8), nl.randn(2, 5, 6)
    local m = nl.randn(4, 5)
    S.same_bits(sdpa(q, k, v, { attn_mask = m, scale = 0.3 }), sdpa(q, k, v, m, 0, false, 0.3), 'mask, scale')
    local q2 = nl.randn(2, 5, 8)
    S.same_bits(sdpa(q2, k, v, { is_causal = true }), sdpa(q2, k, v, nil, 0.0, true), 'causal')
    S.same_bits(sdpa(q, k, v, {}), sdpa(q, k, v), 'none')
  end)

  -- PyTorch 2.5's _safe_softmax: the blocked row is exactly 0 (2.0-2.4
  -- gave NaN), the gradients finite everywhere (the golden cases check
  -- their values), and detect_anomaly has nothing to find
  it('a row that no key may attend is 0, with finite gradients', function()
    local c
    for _, g in ipairs(golden) do if g.name == 'fully_masked_row' then c = g end end
    local q, k, v = S.from_golden(c.q):requires_grad(), S.from_golden(c.k):requires_grad(),
                    S.from_golden(c.v):requires_grad()
    local out = nl.autograd.detect_anomaly(function()
      local o = sdpa(q, k, v, { attn_mask = S.from_golden(c.bool_mask) })
      o:sum():backward()
      return o
    end)
    for b = 1, 2 do
      for i = 1, 4 do
        local row = out[b][i]
        assert.are.equal(i == 2 and 6 or 0, row:eq(0):sum():item(), ('batch %d row %d'):format(b, i))
        assert.are.equal(0, row:ne(row):sum():item())
      end
    end
    for _, x in ipairs({ q, k, v }) do assert.are.equal(0, x.grad:ne(x.grad):sum():item()) end
    assert.are.equal(0, q.grad:select(2, 2):abs():sum():item())
  end)

  -- dropout whenever dropout_p > 0 (no module, no training flag): with v
  -- the identity the output is the dropped weights themselves, each 0 or
  -- the undropped weight / (1 - p), about p of them 0
  it('drops attention weights by dropout_p, scaled by 1 / (1 - p)', function()
    nl.manual_seed(11)
    local S_ = 16
    local q, k = nl.randn(8, 32, 4), nl.randn(8, S_, 4)
    local v = nl.eye(S_):view(1, S_, S_):expand(8, S_, S_)
    local w = sdpa(q, k, v)
    local p = 0.3
    local d = sdpa(q, k, v, { dropout_p = p })
    local zero = d:eq(0)
    local kept = (d - w / (1 - p)):abs():le(w:abs() * 1e-5 + 1e-7)
    assert.are.equal(d:numel(), (zero + kept):gt(0):sum():item(), 'an entry neither dropped nor scaled')
    local frac = zero:mean():item()
    assert.is_true(math.abs(frac - p) < 0.03, 'dropped fraction ' .. frac)
    assert.are.equal(0, sdpa(q, k, v, nil, 1.0):abs():sum():item())
    S.same_bits(w, sdpa(q, k, v, { dropout_p = 0 }), 'dropout_p = 0')
  end)

  it('passes float64 gradchecks, with a float mask and causal', function()
    nl.manual_seed(7)
    local q, k, v = S.randn64(2, 3, 4), S.randn64(2, 5, 4), S.randn64(2, 5, 3)
    local m = S.randn64(3, 5)
    S.gradcheck(function(a, b, c, mm) return sdpa(a, b, c, { attn_mask = mm, scale = 0.8 }) end, q, k, v, m)
    local q2 = S.randn64(2, 5, 4)
    S.gradcheck(function(a, b, c) return sdpa(a, b, c, { is_causal = true }) end, q2, k, v)
  end)

  it('refuses bad arguments with the op and the shapes', function()
    local q, k, v = nl.randn(2, 4, 8), nl.randn(2, 5, 8), nl.randn(2, 5, 6)
    local function err(...) local ok, e = pcall(sdpa, ...); assert.is_false(ok); return e end
    local function has(e, s) assert.is_truthy(e:find(s, 1, true), e) end
    has(err(q, k, v, { attn_mask = nl.ones(4, 5):long(), is_causal = true }),
        'scaled_dot_product_attention: attn_mask and is_causal cannot both be given')
    has(err(q, nl.randn(2, 5, 7), v), 'scaled_dot_product_attention: expected query (..., L, E), key (..., S, E) and '
        .. 'value (..., S, Ev), got query [2,4,8], key [2,5,7] and value [2,5,6]')
    has(err(q, k, nl.randn(2, 4, 6)), 'got query [2,4,8], key [2,5,8] and value [2,4,6]')
    has(err(nl.randn(3, 4, 8), k, v), 'the batch dims of query [3,4,8], key [2,5,8] and value [2,5,6] do not broadcast')
    has(err(q, k, v, { attn_mask = nl.ones(4, 4) }), 'attn_mask of shape [4,4] does not broadcast to the scores '
        .. '(..., L, S) = [2,4,5]')
    has(err(q, k, v, { attn_mask = nl.ones(4, 5, 'float64') }), 'attn_mask must be int64 (boolean: nonzero takes part) '
        .. 'or of the query dtype float32')
    has(err(q, k:double(), v), 'expected query, key and value of one float dtype, got float32, float64 and float32')
    has(err(q, k, v, { dropout_p = 1.5 }), 'dropout_p must be a number in [0, 1], got 1.5')
    has(err(q, k, v, { scale = 'x' }), 'scale must be a number or nil')
    has(err(q, k, v, { dropuot_p = 0.1 }), "unknown option 'dropuot_p'")
    has(err(q, k, v, nil, 0, false, 1, 2), 'scaled_dot_product_attention')
    has(err(q, k, nl.zeros(3)), 'value (..., S, Ev)')
    has(err(q, k, 3), 'scaled_dot_product_attention: expected a tensor as value')
  end)

  it('names itself first when an op inside fails (scores too big to allocate)', function()
    -- scores (2^20, 2^20) float32: 4 TiB, from inputs of 4 MiB
    local big = nl.zeros(1048576, 1)
    local ok, e = pcall(sdpa, big, big, big)
    assert.is_false(ok)
    assert.is_truthy(e:find('scaled_dot_product_attention: matmul: out of memory allocating [1048576,1048576] float32',
                            1, true), e)
    assert.is_truthy(e:find('sdpa_spec.lua', 1, true), e)    -- (the caller's line)
  end)
end)
