-- Attention in the modes and options the other golden specs leave out,
-- against PyTorch 1.13 (tests/golden/gen_attention_modes.py):
-- MultiheadAttention without biases, in eval mode with dropout, without
-- weights, with a row that every mask blocks (NaN, as PyTorch 1.13); the
-- transformer layers and stacks in eval mode with dropout, with and
-- without a final norm, layer_norm_eps, and a function or a module with a
-- parameter as the activation. Outputs, weights and the gradients of the
-- inputs and of every parameter, NaN where PyTorch gives NaN.
local nl = require 'nnlua'
local nn = nl.nn
local F = nn.functional
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/attention_modes.lua')
local TOL = { float64 = { 1e-9, 1e-11 }, float32 = { 1e-4, 2e-5 } }
local ACTIVATIONS = {
  gelu = function() return function(x) return F.gelu(x) end end,
  prelu = function() return nn.PReLU() end,
}

local function build(c)
  local o = {}
  for k, v in pairs(c.opts) do o[k] = v end
  if c.activation_fn then o.activation = ACTIVATIONS[c.activation_fn]() end
  local E, H = c.args[1], c.args[2]
  if c.kind == 'mha' then return nn.MultiheadAttention(E, H, o) end
  if c.kind == 'encoder_layer' then return nn.TransformerEncoderLayer(E, H, o) end
  if c.kind == 'transformer' then return nn.Transformer(o) end
  local norm = c.final_norm and nn.LayerNorm(E, { eps = o.layer_norm_eps }) or nil
  if c.kind == 'encoder' then
    return nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, o), c.num_layers, { norm = norm })
  end
  return nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, o), c.num_layers, { norm = norm })
end

describe('attention modes against PyTorch 1.13', function()
  for _, c in ipairs(golden) do
    it(c.name .. ': output, weights and gradients', function()
      local m = build(c)
      local want_names = {}
      for i, g in ipairs(c.param_grads) do want_names[i] = g.name end
      assert.are.same(want_names, S.names_of(m:named_parameters()))
      S.golden_state(m, c, true)
      if c.mode == 'eval' then m:eval() end
      local xs = {}
      for i, g in ipairs(c.inputs) do xs[i] = S.from_golden(g):requires_grad() end
      local fo = {}
      for k, v in pairs(c.masks) do fo[k] = S.from_golden(v) end
      for k, v in pairs(c.call) do fo[k] = v end
      local out, weights
      if c.kind == 'mha' then
        out, weights = m(xs[1], xs[2], xs[3], fo)
      elseif #xs == 1 then
        out = m(xs[1], fo)
      else
        out = m(xs[1], xs[2], fo)
      end
      local tol = TOL[c.dtype]
      assert.are.equal(c.dtype, out:dtype())
      S.expect_golden(out, c.out, c.name .. ' output', tol)
      if c.weights == false then
        assert.is_nil(weights, c.name .. ': weights without need_weights')
      elseif c.weights then
        S.expect_golden(weights, c.weights, c.name .. ' weights', tol)
      end
      (out * S.from_golden(c.w)):sum():backward()
      for i, g in ipairs(c.input_grads) do
        S.expect_golden(xs[i].grad, g, ('%s grad of input %d'):format(c.name, i), tol)
      end
      local sd = m:state_dict { keep_vars = true }
      for _, g in ipairs(c.param_grads) do
        S.expect_golden(sd[g.name].grad, g.t, c.name .. ' grad of ' .. g.name, tol)
      end
    end)
  end
end)

describe('attention gradients', function()
  -- float64 finite differences for every weight of MultiheadAttention
  -- (separate q/k/v projections, in_proj_bias, bias_k, bias_v, the
  -- out-projection) and its inputs, through F.multi_head_attention_forward,
  -- with a float attn_mask (0, -1e9, -inf) and key padding, with and
  -- without add_zero_attn; then the packed in_proj_weight with a 3-D mask
  it('pass float64 gradchecks for the inputs and every weight with masks', function()
    nl.manual_seed(7)
    local E, H, L, S_, N = 4, 2, 3, 4, 2
    local function r(...) return nl.randn(...):double():requires_grad() end
    local q, k, v = r(L, N, E), r(S_, N, 3), r(S_, N, 5)
    local wq, wk, wv, bi = r(E, E), r(E, 3), r(E, 5), r(3 * E)
    local bk, bv, ow, ob = r(1, 1, E), r(1, 1, E), r(E, E), r(E)
    local am = nl.tensor({ { 0, -1e9, 0, 0 }, { 0, 0, -math.huge, 0 }, { 0, 0, 0, 0 } }, 'float64')
    local kpm = nl.tensor({ { 0, 0, 0, 1 }, { 0, 1, 0, 0 } })
    for _, zero in ipairs({ false, true }) do
      assert.is_true(nl.gradcheck(function(q_, k_, v_, wq_, wk_, wv_, bi_, bk_, bv_, ow_, ob_)
        return F.multi_head_attention_forward(q_, k_, v_, E, H, nil, bi_, bk_, bv_, zero, 0, ow_, ob_, true, kpm, true,
                                              am, true, wq_, wk_, wv_, nil, nil, false)
      end, { q, k, v, wq, wk, wv, bi, bk, bv, ow, ob }))
    end
    local w = r(3 * E, E)
    local am3 = nl.zeros(N * H, L, L, 'int64')
    am3[1][2][3], am3[4][1][2] = 1, 1
    assert.is_true(nl.gradcheck(function(x, w_, bi_, ow_, ob_)
      return (F.multi_head_attention_forward(x, x, x, E, H, w_, bi_, nil, nil, false, 0, ow_, ob_, true, nil, false,
                                             am3))
    end, { q, w, bi, ow, ob }))
  end)
end)
