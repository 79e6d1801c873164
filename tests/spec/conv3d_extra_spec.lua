-- ConvTranspose3d and F.conv_transpose3d (nl_conv_transpose3d, the 3-D
-- convolution's input gradient as an op), and the adaptive pools with
-- false (PyTorch's None) in their output size, 2-D and 3-D (STYLE 12).
-- Against PyTorch golden values (tests/golden/conv3d_extra.lua, made by
-- gen_conv3d_extra.py) in float32 and float64: forward and the gradients
-- of (out * w):sum() for the input, weight and bias, and create_graph's
-- first gradients and Hessian-vector products; float64 gradchecks (h =
-- 1e-6, tolerance 1e-5); one thread against two, bit for bit; PyTorch's
-- printing, initialization and spectral_norm dim; save and load; errors
-- that name the op and the shapes.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn
local F = nn.functional

local golden = dofile(S.root .. '/tests/golden/conv3d_extra.lua')
local from_golden, flat = S.from_golden, S.flat

-- float32 sums in another order than PyTorch's; float64 to its rounding
local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-12, 1e-12 } }
local expect_close = S.expect_close_by(TOL)

local error_of, has = S.errmsg, S.contains

-- this spec's own seeded values: rand(shape, dtype), a tensor of U(-1, 1)
local rand = S.rand_by(1129)

-- ---- against PyTorch --------------------------------------------------------------------

local build = {
  ConvTranspose3d = function(a, o) return nn.ConvTranspose3d(a[1], a[2], a[3], o) end,
  AdaptiveAvgPool2d = function(a) return nn.AdaptiveAvgPool2d(a[1]) end,
  AdaptiveMaxPool2d = function(a) return nn.AdaptiveMaxPool2d(a[1], a[2]) end,
  AdaptiveAvgPool3d = function(a) return nn.AdaptiveAvgPool3d(a[1]) end,
  AdaptiveMaxPool3d = function(a) return nn.AdaptiveMaxPool3d(a[1], a[2]) end,
}

-- the functional cases: (inputs, opts, positional) -> out[, indices]
local fns = {
  conv_transpose3d = function(i, o, pos)
    if pos then return F.conv_transpose3d(i[1], i[2], i[3], unpack(pos)) end
    return F.conv_transpose3d(i[1], i[2], i[3], o)
  end,
  adaptive_avg_pool2d = function(i, o) return F.adaptive_avg_pool2d(i[1], o.output_size) end,
  adaptive_max_pool2d = function(i, o) return F.adaptive_max_pool2d(i[1], o.output_size, o.return_indices) end,
  adaptive_avg_pool3d = function(i, o) return F.adaptive_avg_pool3d(i[1], o.output_size) end,
  adaptive_max_pool3d = function(i, o) return F.adaptive_max_pool3d(i[1], o.output_size, o.return_indices) end,
}

-- the create_graph cases, as the generator's functions
local hvp_fns = {
  tconv_tanh = function(x, w, b)
    return F.conv_transpose3d(x, w, b, { stride = { 2, 1, 2 }, padding = { 1, 0, 1 }, output_padding = { 1, 0, 0 },
                                         dilation = { 1, 2, 1 } }):tanh():pow(2):sum()
  end,
  tconv_groups = function(x, w)
    local o = { stride = 2, groups = 2, padding = { 0, 1, 0 } }
    return (F.conv_transpose3d(x, w, nil, o):sin() * F.conv_transpose3d(x * x, w, nil, o)):sum()
  end,
}

describe('ConvTranspose3d and adaptive pools with false sizes against PyTorch golden values', function()
  it('has a builder for every golden module and op, and a case for each', function()
    local seen = {}
    for _, c in ipairs(golden) do
      local f = c.kind == 'layer' and build[c.module] or c.kind == 'fn' and fns[c.op] or hvp_fns[c.name]
      assert.is_function(f, 'no nnlua form for ' .. (c.module or c.op or c.name))
      seen[c.module or c.op or c.name] = true
    end
    for _, t in ipairs({ build, fns, hvp_fns }) do
      for k in pairs(t) do assert.is_true(seen[k], 'no golden case for ' .. k) end
    end
  end)

  for _, c in ipairs(golden) do
    if c.kind ~= 'hvp' then
      it(('%s (%s%s): forward and backward'):format(c.name, c.dtype, c.transposed and ', a transposed view' or ''),
        function()
          local out, idx, leaves, m
          if c.kind == 'layer' then
            local leaf = from_golden(c.input):requires_grad()
            leaves = { leaf }
            m = S.golden_state(build[c.module](c.args, c.opts), c)
            out, idx = m(c.transposed and leaf:transpose(-1, -2) or leaf, c.output_size)
          else
            leaves = {}
            for i, t in ipairs(c.inputs) do leaves[i] = t and from_golden(t):requires_grad() or nil end
            out, idx = fns[c.op]({ leaves[1], leaves[2], leaves[3] }, c.opts, c.positional)
          end
          assert.are.equal(c.dtype, out:dtype())
          expect_close(out, c.out, c.name .. ' out', c.dtype)
          if c.indices then
            assert.are.equal('int64', idx:dtype())
            assert.are.same(c.indices.shape, idx:shape())
            assert.are.same(c.indices.data, flat(idx))
          else
            assert.is_nil(idx)
          end
          ;(out * from_golden(c.w)):sum():backward()
          if m then
            expect_close(leaves[1].grad, c.grad_input, c.name .. ' grad of the input', c.dtype)
            for _, g in ipairs(c.grads) do
              assert.is_not_nil(m[g.name].grad, c.name .. ': ' .. g.name .. ' has no grad')
              expect_close(m[g.name].grad, g.t, c.name .. ' grad of ' .. g.name, c.dtype)
            end
            assert.are.same(c.params, S.names_of(m:named_parameters()))
          else
            for i, g in ipairs(c.grads) do
              if g then expect_close(leaves[i].grad, g, ('%s grad of input %d'):format(c.name, i), c.dtype) end
            end
          end
        end)
    else
      it(c.name .. ': create_graph first gradients and Hessian-vector products', function()
        local xs, vs = {}, {}
        for i, t in ipairs(c.inputs) do xs[i] = from_golden(t):requires_grad() end
        for i, t in ipairs(c.v) do vs[i] = from_golden(t) end
        local y = hvp_fns[c.name](unpack(xs))
        assert.is_true(S.close(y:item(), c.f, 1e-12, 1e-12), ('f: got %.17g, want %.17g'):format(y:item(), c.f))
        local gs = nl.autograd.grad(y, xs, { create_graph = true })
        local s
        for i, g in ipairs(gs) do
          expect_close(g, c.g[i], c.name .. ' gradient ' .. i, 'float64')
          local t = (g * vs[i]):sum()
          s = s and s + t or t
        end
        local hv = nl.autograd.grad(s, xs)
        for i = 1, #xs do expect_close(hv[i], c.hv[i], c.name .. ' Hessian-vector product ' .. i, 'float64') end
      end)
    end
  end
end)

-- ---- float64 gradient checks ----------------------------------------------------------------

local gradcheck = S.gradcheck_by({ eps = 1e-6, atol = 1e-5, rtol = 1e-5 })

describe('conv_transpose3d: float64 finite differences', function()
  it('input, weight and bias, with strides, padding, output_padding, dilation and groups', function()
    local x = rand({ 2, 4, 2, 3, 2 }, 'float64'):requires_grad()
    local w = rand({ 4, 1, 2, 3, 2 }, 'float64'):requires_grad()
    local b = rand({ 2 }, 'float64'):requires_grad()
    gradcheck(function(a, k, c)
      return F.conv_transpose3d(a, k, c, { stride = { 2, 1, 3 }, padding = { 1, 1, 0 }, output_padding = { 1, 0, 2 },
                                           dilation = { 1, 2, 1 }, groups = 2 })
    end, { x, w, b })
  end)

  it('output_padding past the stride, unbatched, and a 1x1x1 kernel', function()
    local x = rand({ 2, 2, 3, 2 }, 'float64'):requires_grad()
    gradcheck(function(a, k)
      return F.conv_transpose3d(a, k, nil, { dilation = 3, output_padding = { 2, 1, 0 }, stride = { 1, 2, 1 } })
    end, { x, rand({ 2, 3, 2, 2, 2 }, 'float64'):requires_grad() })
    gradcheck(function(a, k) return F.conv_transpose3d(a, k) end, { x, rand({ 2, 3, 1, 1, 1 }, 'float64'):requires_grad() })
  end)

  it('conv3d, whose create_graph input gradient is conv_transpose3d: second gradients by differences', function()
    local x = rand({ 2, 4, 4, 3, 5 }, 'float64'):requires_grad()
    local w0 = rand({ 2, 2, 2, 2, 3 }, 'float64')
    local v, u = rand({ 2, 4, 4, 3, 5 }, 'float64'), rand({ 2, 2, 2, 2, 3 }, 'float64')
    local o = { stride = { 2, 1, 2 }, padding = { 1, 0, 1 }, dilation = { 1, 2, 1 }, groups = 2 }
    -- s(w) = sum(dL/dx * v), L = sum(tanh(conv3d(x, w))^2); ds/dw . u
    -- against (s(w + h u) - s(w - h u)) / 2h
    local function s_of(w, graph)
      local gx = nl.autograd.grad(F.conv3d(x, w, nil, o):tanh():pow(2):sum(), { x }, { create_graph = graph })[1]
      return (gx * v):sum()
    end
    local w = w0:clone():requires_grad()
    local gw = nl.autograd.grad(s_of(w, true), { w })[1]
    local h = 1e-6
    local num = (s_of(w0 + u * h, false):item() - s_of(w0 - u * h, false):item()) / (2 * h)
    local got = (gw * u):sum():item()
    assert.is_true(S.close(got, num, 1e-5, 1e-6), ('got %.12g, differences %.12g'):format(got, num))
  end)
end)

-- ---- threads ----------------------------------------------------------------------------------

describe('conv_transpose3d on one thread and on two', function()
  local saved
  before_each(function() saved = nl.get_num_threads() end)
  after_each(function() nl.set_num_threads(saved) end)

  local function results(threads, x, w, b)
    nl.set_num_threads(threads)
    local xl, wl, bl = x:clone():requires_grad(), w:clone():requires_grad(), b:clone():requires_grad()
    local out = F.conv_transpose3d(xl, wl, bl, { stride = 2, padding = 1, output_padding = 1 })
    local wv = {}
    for i = 1, out:numel() do wv[i] = (i * 0.37) % 1.3 - 0.6 end
    ;(out * nl.tensor(wv, out:dtype()):view(out:shape())):sum():backward()
    return { out, xl.grad, wl.grad, bl.grad }
  end

  for _, dt in ipairs({ 'float32', 'float64' }) do
    it(('%s: a batch over the threads, and one volume whose products share them'):format(dt), function()
      -- (past 2^21 multiply-adds, where a second thread joins: 3.0M and 2.2M)
      local w, b = rand({ 8, 6, 3, 3, 3 }, dt), rand({ 6 })
      if dt == 'float64' then b = b:double() end
      for _, shape in ipairs({ { 6, 8, 6, 8, 8 }, { 1, 8, 12, 12, 12 } }) do
        local x = rand(shape, dt)
        local one, two = results(1, x, w, b), results(2, x, w, b)
        for i = 1, 4 do S.same_bits(two[i], one[i], ('%s: result %d'):format(table.concat(shape, 'x'), i)) end
      end
    end)
  end
end)

-- ---- modules ----------------------------------------------------------------------------------

describe('ConvTranspose3d and the adaptive pools with false', function()
  it('print as PyTorch 1.13 prints them (None for false, bias=false as nnlua writes it)', function()
    assert.are.equal('3, 4, kernel_size=(3, 3, 3), stride=(1, 1, 1)', nn.ConvTranspose3d(3, 4, 3):extra_repr())
    assert.are.equal('4, 6, kernel_size=(3, 2, 1), stride=(2, 1, 1), padding=(1, 0, 0), dilation=(1, 2, 1), '
      .. 'output_padding=(1, 1, 0), groups=2, bias=false',
      nn.ConvTranspose3d(4, 6, { 3, 2, 1 }, { stride = { 2, 1, 1 }, padding = { 1, 0, 0 }, dilation = { 1, 2, 1 },
                                             output_padding = { 1, 1, 0 }, groups = 2, bias = false }):extra_repr())
    assert.are.equal('output_size=(None, 7)', nn.AdaptiveAvgPool2d({ false, 7 }):extra_repr())
    assert.are.equal('output_size=(3, None)', nn.AdaptiveMaxPool2d({ 3, false }):extra_repr())
    assert.are.equal('output_size=(None, None)', nn.AdaptiveAvgPool2d({ false, false }):extra_repr())
    assert.are.equal('output_size=(2, None, 3)', nn.AdaptiveMaxPool3d({ 2, false, 3 }):extra_repr())
    assert.are.equal('output_size=(None, None, None)', nn.AdaptiveAvgPool3d({ false, false, false }):extra_repr())
  end)

  it("ConvTranspose3d's parameters have PyTorch's names, layout and default bounds", function()
    local m = nn.ConvTranspose3d(4, 6, { 3, 2, 1 }, { groups = 2 })
    assert.are.same({ 'weight', 'bias' }, S.names_of(m:named_parameters()))
    assert.are.same({ 4, 3, 3, 2, 1 }, m.weight:shape())
    assert.are.same({ 6 }, m.bias:shape())
    -- PyTorch: kaiming_uniform(a = sqrt 5) over fan_in = weight.size(1) *
    -- 3*2*1 = 18, bound 1/sqrt(18); the bias U(+-1/sqrt(18)) too
    local bound = 1 / math.sqrt(18)
    local wmax, bmax = m.weight:abs():max():item(), m.bias:abs():max():item()
    assert.is_true(wmax <= bound and wmax > 0.8 * bound, tostring(wmax))
    assert.is_true(bmax <= bound, tostring(bmax))
    assert.is_nil(nn.ConvTranspose3d(2, 2, 1, { bias = false }).bias)
  end)

  it('output_size picks the output_padding, in the batched and unbatched forms', function()
    local m = nn.ConvTranspose3d(2, 3, 3, { stride = { 2, 3, 2 }, padding = 1 })
    local x = rand({ 2, 2, 3, 2, 4 })
    -- the full form is {N, C, D, H, W} batched and {C, D, H, W} unbatched,
    -- as PyTorch 1.13's _output_padding takes it (the other length refused)
    for _, size in ipairs({ { 5, 4, 7 }, { 6, 6, 8 }, { 2, 3, 6, 5, 8 } }) do
      local want = F.conv_transpose3d(x, m.weight, m.bias, { stride = { 2, 3, 2 }, padding = 1,
        output_padding = { size[#size - 2] - 5, size[#size - 1] - 4, size[#size] - 7 } })
      S.same_bits(m(x, size), want, 'output_size ' .. table.concat(size, ','))
      local one = #size == 5 and { size[2], size[3], size[4], size[5] } or size
      S.same_bits(m(x[1], one), want[1], 'unbatched output_size ' .. table.concat(one, ','))
    end
    has(error_of(m, x, { 5, 4, 9 }),
        'ConvTranspose3d: requested an output size of [5,4,9], but valid sizes range from [5,4,7] to [6,6,8]')
    has(error_of(m, x, { 5, 4 }), 'ConvTranspose3d: output_size must be a list of 3 sizes (or 5, with N and C first)')
    has(error_of(m, x, { 3, 5, 4, 7 }), 'ConvTranspose3d: output_size must be a list of 3 sizes (or 5, with N and C first)')
    has(error_of(m, x[1], { 2, 3, 5, 4, 7 }),
        'ConvTranspose3d: output_size must be a list of 3 sizes (or 4, with C first, for unbatched input), got')
  end)

  it('ConvTranspose1d and 2d take an unbatched output_size with C first, as PyTorch', function()
    local m2 = nn.ConvTranspose2d(2, 3, 3, { stride = 2 })
    local x2 = rand({ 2, 3, 4 })
    local want2 = m2(x2, { 8, 10 })
    assert.are.same({ 3, 8, 10 }, want2:shape())
    S.same_bits(m2(x2, { 3, 8, 10 }), want2, 'ConvTranspose2d {C, H, W}')
    has(error_of(m2, x2, { 1, 3, 8, 10 }),
        'ConvTranspose2d: output_size must be a list of 2 sizes (or 3, with C first, for unbatched input)')
    local m1 = nn.ConvTranspose1d(2, 3, 3, { stride = 2 })
    local x1 = rand({ 2, 4 })
    local want1 = m1(x1, { 10 })
    assert.are.same({ 3, 10 }, want1:shape())
    S.same_bits(m1(x1, { 3, 10 }), want1, 'ConvTranspose1d {C, L}')
    has(error_of(m1, x1, { 1, 3, 10 }),
        'ConvTranspose1d: output_size must be a list of 1 sizes (or 2, with C first, for unbatched input)')
    S.same_bits(m1(x1:unsqueeze(1), { 1, 3, 10 }), want1:unsqueeze(1), 'ConvTranspose1d {N, C, L}')
  end)

  it("F.conv_transpose3d takes PyTorch's positional options, as the table form, and unbatched input", function()
    local x, w, b = rand({ 2, 4, 3, 2, 3 }), rand({ 4, 3, 2, 2, 3 }), rand({ 6 })
    S.same_bits(F.conv_transpose3d(x, w, b, 2, 1, 1, 2, { 1, 2, 1 }),
                F.conv_transpose3d(x, w, b, { stride = 2, padding = 1, output_padding = 1, groups = 2,
                                              dilation = { 1, 2, 1 } }), 'positional')
    S.same_bits(F.conv_transpose3d(x, w, nil, nil, nil, nil, 2), F.conv_transpose3d(x, w, nil, { groups = 2 }), 'nil')
    S.same_bits(F.conv_transpose3d(x[2], w, b, { stride = 2, groups = 2 }),
                F.conv_transpose3d(x, w, b, { stride = 2, groups = 2 })[2], 'unbatched')
  end)

  it('an empty batch gives an empty output and zero gradients, as PyTorch 1.13', function()
    local x, w, b = rand({ 0, 2, 3, 3, 3 }):requires_grad(), rand({ 2, 3, 2, 2, 2 }):requires_grad(),
                    rand({ 3 }):requires_grad()
    local y = F.conv_transpose3d(x, w, b, { stride = 2 })
    assert.are.same({ 0, 3, 6, 6, 6 }, y:shape())
    y:sum():backward()
    assert.are.same({ 0, 2, 3, 3, 3 }, x.grad:shape())
    assert.are.same({ 0, 0 }, { w.grad:abs():sum():item(), b.grad:abs():sum():item() })
  end)

  it('a false entry keeps the input size of that dim, in the F forms as in the modules', function()
    local x = rand({ 2, 3, 5, 6, 7 })
    assert.are.same({ 2, 3, 5, 2, 7 }, F.adaptive_avg_pool3d(x, { false, 2, false }):shape())
    S.same_bits(F.adaptive_avg_pool3d(x, { false, 2, false }), F.adaptive_avg_pool3d(x, { 5, 2, 7 }), 'avg 3-D')
    local y, i = nn.AdaptiveMaxPool3d({ 3, false, false }, true)(x[1])
    local y2, i2 = F.adaptive_max_pool3d(x[1], { 3, 6, 7 }, true)
    S.same_bits(y, y2, 'max 3-D')
    S.same_bits(i, i2, 'max 3-D indices')
    local x4 = x:select(3, 1)
    S.same_bits(F.adaptive_avg_pool2d(x4, { false, 3 }), F.adaptive_avg_pool2d(x4, { 6, 3 }), 'avg 2-D')
    S.same_bits(nn.AdaptiveMaxPool2d({ 4, false })(x4), F.adaptive_max_pool2d(x4, { 4, 7 }), 'max 2-D')
    -- the size is the input's at each call
    local m = nn.AdaptiveAvgPool2d({ false, 2 })
    assert.are.same({ 3, 4, 2 }, m(rand({ 3, 4, 5 })):shape())
    assert.are.same({ 3, 9, 2 }, m(rand({ 3, 9, 5 })):shape())
  end)

  it('a network of them saves and loads back through nn.load with the same outputs', function()
    local net = nn.Sequential(nn.ConvTranspose3d(2, 4, 3, { stride = 2, padding = 1, output_padding = 1, groups = 2 }),
                              nn.ReLU(), nn.AdaptiveAvgPool3d({ false, 3, false }),
                              nn.ConvTranspose3d(4, 2, { 1, 2, 1 }, { bias = false }),
                              nn.AdaptiveMaxPool3d({ 2, false, 2 }), nn.Flatten())
    local x = rand({ 2, 2, 3, 4, 3 })
    local path = S.tmpdir() .. '/ct3.safetensors'
    net:save(path)
    local back = nn.load(path)
    assert.are.equal(tostring(net), tostring(back))
    S.same_bits(back(x), net(x), 'the loaded network')
    local c = nn.AdaptiveMaxPool2d({ false, 2 }):clone()
    assert.are.equal('output_size=(None, 2)', c:extra_repr())
  end)

  it('spectral_norm takes dim 2 (PyTorch 1) for ConvTranspose3d, both forms', function()
    assert.are.same({ 6 }, nn.utils.spectral_norm(nn.ConvTranspose3d(4, 6, 2)).weight_u:shape())
    local m = nn.utils.parametrizations.spectral_norm(nn.ConvTranspose3d(4, 6, 2))
    assert.are.same({ 6 }, m.parametrizations.weight[1]._u:shape())
  end)
end)

-- ---- errors -----------------------------------------------------------------------------------

describe('conv_transpose3d and the adaptive pools refuse bad arguments, naming the op', function()
  local x, w = rand({ 2, 4, 3, 3, 3 }), rand({ 4, 2, 3, 3, 3 })
  local cases = {
    { function() F.conv_transpose3d(x, rand({ 4, 2, 3, 3 })) end,
      'conv_transpose3d: weight must be 5-D (in_channels, out_channels/groups, kd, kh, kw), got shape [4,2,3,3]' },
    { function() F.conv_transpose3d(rand({ 4, 3, 3 }), w) end,
      'conv_transpose3d: input must be (N, C, D, H, W) or (C, D, H, W), got shape [4,3,3]' },
    { function() F.conv_transpose3d(rand({ 2, 3, 3, 3, 3 }), w) end,
      'conv_transpose3d: input has 3 channels, weight expects 4 (input [2,3,3,3,3], weight [4,2,3,3,3])' },
    { function() F.conv_transpose3d(rand({ 3, 3, 3, 3 }), w) end,
      'conv_transpose3d: input has 3 channels, weight expects 4 (input [3,3,3,3], weight [4,2,3,3,3])' },
    { function() F.conv_transpose3d(x, w, nil, { groups = 3 }) end,
      "conv_transpose3d: groups 3 must divide the weight's 4 input channels (weight [4,2,3,3,3])" },
    { function() F.conv_transpose3d(x, w, rand({ 3 })) end,
      'conv_transpose3d: expected a float input, a weight of its dtype and a bias of the 2 output channels, got '
        .. 'input float32 [2,4,3,3,3], weight float32 [4,2,3,3,3], bias float32 [3]' },
    { function() F.conv_transpose3d(x, w:double()) end,
      'conv_transpose3d: expected a float input, a weight of its dtype, got input float32 [2,4,3,3,3], weight float64' },
    { function() F.conv_transpose3d(x:long(), w) end, 'conv_transpose3d: expected a float input' },
    { function() F.conv_transpose3d(x, w, nil, { padding = 3 }) end,
      'conv_transpose3d: output size [-1,-1,-1] is too small: input [2,4,3,3,3], padding [3,3,3], kernel [3,3,3] '
        .. 'with dilation [1,1,1], stride [1,1,1], output_padding [0,0,0]' },
    { function() F.conv_transpose3d(x[1], w, nil, { padding = { 0, 0, 3 } }) end,
      'conv_transpose3d: output size [5,5,-1] is too small: input [4,3,3,3]' },
    { function() F.conv_transpose3d(x, w, nil, { output_padding = 1 }) end,
      'conv_transpose3d: output_padding [1,1,1] must be smaller than the stride [1,1,1] or the dilation [1,1,1]' },
    { function() F.conv_transpose3d(x, w, nil, { stride = { 1, 0, 1 } }) end,
      'conv_transpose3d: stride must be an integer >= 1 or a list {d, h, w} of them, got {1, 0, 1}' },
    { function() F.conv_transpose3d(x, w, nil, { padding = 'same' }) end,
      'conv_transpose3d: padding must be an integer >= 0 or a list {d, h, w} of them' },
    { function() F.conv_transpose3d(x, w, nil, { pad = 1 }) end, "conv_transpose3d: unknown option 'pad'" },
    { function() F.conv_transpose3d(x, w, nil, {}, 1) end,
      'conv_transpose3d: takes (input, weight, bias, {options}), got 5 arguments' },
    { function() F.conv_transpose3d(x, w, nil, 1, 0, 0, 1, 1, 2) end,
      'conv_transpose3d: takes (input, weight, bias, stride, padding, output_padding, groups, dilation), got 9 arguments' },
    { function() nn.ConvTranspose3d(4, 3, 3, { groups = 2 }) end,
      'ConvTranspose3d: groups 2 must divide in_channels 4 and out_channels 3' },
    { function() nn.ConvTranspose3d(4, 2, 3, { padding_mode = 'reflect' }) end,
      "ConvTranspose3d: only padding_mode 'zeros' is supported (as in PyTorch), got 'reflect'" },
    { function() nn.ConvTranspose3d(4, 2, 3, { output_padding = 2, stride = 2 }) end,
      'ConvTranspose3d: output_padding [2,2,2] must be smaller than the stride [2,2,2] or the dilation [1,1,1]' },
    { function() nn.ConvTranspose3d(3, 2, 3)(x) end,
      'ConvTranspose3d: input has 4 channels, weight expects 3 (input [2,4,3,3,3], weight [3,2,3,3,3])' },
    { function() nn.ConvTranspose3d(4, 2, 3)(x:double()) end,
      'ConvTranspose3d: expected a float input, a weight of its dtype and a bias of the 2 output channels, got '
        .. 'input float64 [2,4,3,3,3], weight float32' },
    { function() nn.ConvTranspose3d(4, 2, 3)(rand({ 4, 3, 3 })) end,
      'ConvTranspose3d: input must be (N, C, D, H, W) or (C, D, H, W), got shape [4,3,3]' },
    { function() nn.AdaptiveAvgPool2d({ false, -1 }) end,
      "AdaptiveAvgPool2d: output_size must be an integer >= 0 or a pair {h, w} of them, an entry false for the "
        .. "input's size, got {false, -1}" },
    { function() F.adaptive_max_pool2d(x[1], { 2, false, 2 }) end,
      'adaptive_max_pool2d: output_size must be an integer >= 0 or a pair {h, w} of them, got {2, false, 2}' },
    { function() nn.AdaptiveMaxPool3d({ false, 2.5, 1 }) end,
      "AdaptiveMaxPool3d: output_size must be an integer >= 0 or a list {d, h, w} of them, an entry false for the "
        .. "input's size, got {false, 2.5, 1}" },
    { function() F.adaptive_avg_pool3d(x, { false, 2 }) end,
      'adaptive_avg_pool3d: output_size must be an integer >= 0 or a list {d, h, w} of them, got {false, 2}' },
    { function() F.adaptive_avg_pool3d(x, false) end, 'adaptive_avg_pool3d: output_size must be an integer >= 0' },
    { function() nn.AdaptiveAvgPool2d({ false, 2 })(rand({ 4, 4 })) end,
      'AdaptiveAvgPool2d: input must be (N, C, H, W) or (C, H, W), got shape [4,4]' },
  }
  for i, c in ipairs(cases) do
    it(('case %d: %s'):format(i, c[2]), function()
      has(error_of(c[1]), c[2])
    end)
  end

  it('the C op checks what the Lua layer passes it', function()
    local lib = nl._lib
    local function raw(xx, ww, ...)
      local p = lib.nl_conv_transpose3d(xx.ptr, ww.ptr, nil, ...)
      assert.is_true(p == nil)
      return require('ffi').string(lib.nl_error())
    end
    has(raw(x, w, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 5, 5, 6),
        'conv_transpose3d: output size [5,5,6] does not fit input [2,4,3,3,3]: its convolution (kernel [3,3,3], '
          .. 'stride [1,1,1], padding [0,0,0], dilation [1,1,1]) has size [3,3,4]')
    has(raw(x, w, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 5, 5), 'conv_transpose3d: output size [0,5,5] must be positive')
    has(raw(x, w, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 5, 5, 5), 'conv_transpose3d: stride [0,1,1] and dilation [1,1,1] must be positive')
    has(raw(x, w, 1, 1, 1, 0, 0, 0, 1, 1, 1, 3, 5, 5, 5),
        'conv_transpose3d: input has 4 channels, weight expects 4, which groups 3 must divide')
    has(raw(x, rand({ 4, 2, 3, 3 }), 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 5, 5, 5), 'conv_transpose3d: weight must be a 5-D float32 tensor')
  end)
end)
