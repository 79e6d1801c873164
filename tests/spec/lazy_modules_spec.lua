-- The lazy modules (nn.LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d,
-- LazyBatchNorm1d/2d/3d), against the plain modules, which have PyTorch
-- goldens of their own: the first call reads the input's size and makes
-- the plain module with the same draws (the same weights under one seed),
-- which the lazy one becomes (class, repr, state, save and nn.load); the
-- same outputs and gradients; before it, parameters are refused with a
-- message that says to run a forward first; hooks, eval mode and float64.
local nl = require 'nnlua'
local nn = nl.nn
local S = require 'support'

-- the lazy module and the plain one built from the same seed; x made first
local function twins(lazy, plain, x, seed)
  nl.manual_seed(seed)
  local p = plain()
  nl.manual_seed(seed)
  local l = lazy()
  assert.is_true(l:has_uninitialized_params())
  local yl = l(x)
  return l, p, yl
end

-- lazy and plain agree: class, repr, named state, output and gradients
local function same(l, p, yl, x, what)
  assert.are.equal(p.__name, l.__name, what .. ': class')
  assert.are.equal(tostring(p), tostring(l), what .. ': repr')
  local yp = p(x)
  S.same_bits(yl, yp, what .. ': output')
  -- (after the plain one's call: a batch norm's running statistics)
  local sl, sp = l:state_dict(), p:state_dict()
  assert.are.same(S.names_of(p:named_parameters()), S.names_of(l:named_parameters()), what .. ': parameters')
  for k, t in pairs(sp) do S.same_bits(sl[k], t, what .. ' ' .. k) end
  if not yp.is_requires_grad then return end          -- (a batch norm without affine)
  local w = nl.randn(yp:shape(), yp:dtype())
  ;(yl * w):sum():backward()
  ;(yp * w):sum():backward()
  for _, kv in ipairs(p:named_parameters()) do
    local lt = l:get_parameter(kv[1])
    S.same_bits(lt.grad, kv[2].grad, what .. ': gradient of ' .. kv[1])
  end
end

describe('lazy modules', function()
  it('LazyLinear becomes the Linear of the input\'s last dim, with its weights', function()
    for i, shape in ipairs({ { 4, 5 }, { 2, 3, 5 }, { 5 } }) do
      local x = nl.randn(shape)
      local l, p, yl = twins(function() return nn.LazyLinear(3) end, function() return nn.Linear(5, 3) end, x, i)
      same(l, p, yl, x, 'LazyLinear ' .. i)
      assert.is_nil(l.has_uninitialized_params)     -- a Linear now, as PyTorch's cls_to_become
    end
    local x = nl.randn(2, 4)
    local l, p, yl = twins(function() return nn.LazyLinear(2, { bias = false }) end,
                           function() return nn.Linear(4, 2, { bias = false }) end, x, 9)
    same(l, p, yl, x, 'LazyLinear without bias')
  end)

  it('the lazy convolutions become the plain ones of the input\'s channels, batched or not', function()
    local cases = {
      { 'LazyConv1d', 'Conv1d', { 2, 3, 9 }, { 4, 3, { stride = 2, padding = 1 } } },
      { 'LazyConv1d', 'Conv1d', { 4, 7 }, { 6, 2, { groups = 2 } } },
      { 'LazyConv2d', 'Conv2d', { 2, 3, 6, 5 }, { 4, { 3, 2 }, { padding = 1 } } },
      { 'LazyConv2d', 'Conv2d', { 3, 5, 5 }, { 2, 3 } },
      { 'LazyConv3d', 'Conv3d', { 1, 2, 4, 5, 4 }, { 3, 2 } },
      { 'LazyConvTranspose1d', 'ConvTranspose1d', { 2, 3, 5 }, { 2, 3, { stride = 2 } } },
      { 'LazyConvTranspose2d', 'ConvTranspose2d', { 2, 3, 4, 4 }, { 5, 3, { padding = 1, output_padding = 0 } } },
      { 'LazyConvTranspose2d', 'ConvTranspose2d', { 3, 4, 4 }, { 2, 2 } },
      { 'LazyConvTranspose3d', 'ConvTranspose3d', { 1, 2, 3, 3, 4 }, { 3, 2, { stride = 2 } } },
    }
    for i, c in ipairs(cases) do
      local x = nl.randn(c[3])
      -- (the channels: dim 2 of batched input, dim 1 of unbatched)
      local batched = #c[3] == ({ Conv1d = 3, ConvTranspose1d = 3, Conv2d = 4, ConvTranspose2d = 4, Conv3d = 5,
                                  ConvTranspose3d = 5 })[c[2]]
      local cin = x:size(batched and 2 or 1)
      local a = c[4]
      local l, p, yl = twins(function() return nn[c[1]](a[1], a[2], a[3]) end,
                             function() return nn[c[2]](cin, a[1], a[2], a[3]) end, x, 20 + i)
      same(l, p, yl, x, c[1] .. ' ' .. i)
    end
  end)

  it('the lazy batch norms become the plain ones of the input\'s channels, keeping eval mode', function()
    local cases = {
      { 'LazyBatchNorm1d', 'BatchNorm1d', { 4, 3 } },
      { 'LazyBatchNorm1d', 'BatchNorm1d', { 4, 3, 5 }, { momentum = 0.3, affine = false } },
      { 'LazyBatchNorm2d', 'BatchNorm2d', { 2, 3, 4, 4 }, { eps = 1e-3 } },
      { 'LazyBatchNorm3d', 'BatchNorm3d', { 2, 2, 3, 2, 3 }, { track_running_stats = false } },
    }
    for i, c in ipairs(cases) do
      local x = nl.randn(c[3])
      local l, p, yl = twins(function() return nn[c[1]](c[4]) end,
                             function() return nn[c[2]](c[3][2], c[4]) end, x, 40 + i)
      same(l, p, yl, x, c[1] .. ' ' .. i)
    end
    -- eval mode set before the first call: the running statistics (fresh) normalize
    local l = nn.LazyBatchNorm2d():eval()
    local x = nl.randn(2, 3, 2, 2)
    local y = l(x)
    assert.is_false(l.training)
    S.expect_close(y, x / math.sqrt(1 + 1e-5), 'eval output', 1e-6, 1e-7)
    assert.are.same({ 0, 0, 0 }, S.flat(l.running_mean))
  end)

  it('refuses parameters, state and an optimizer before the first call, naming the module', function()
    local m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.LazyLinear(4))
    local msg = S.errmsg(function() return m:parameters() end)
    S.contains(msg, "LazyLinear ('2'): its parameters are made at its first call")
    S.contains(msg, 'run a forward on an example input first')
    S.contains(S.errmsg(function() return nl.optim.SGD(m:parameters(), { lr = 0.1 }) end), 'LazyLinear')
    S.contains(S.errmsg(function() return m:state_dict() end), 'LazyLinear')
    S.contains(S.errmsg(function() return nn.LazyConv2d(2, 3):named_parameters() end), 'LazyConv2d: its parameters')
    S.contains(tostring(m), 'parameters: not made yet (a lazy module)')
    -- the dry run, then training: the optimizer sees every parameter and steps them
    m(nl.randn(1, 2))
    local params = m:parameters()
    assert.are.equal(4, #params)
    local opt = nl.optim.SGD(params, { lr = 0.1 })
    local before = m[3].weight:clone()
    m(nl.randn(5, 2)):sum():backward()
    opt:step()
    assert.is_true((m[3].weight - before):abs():max():item() > 0)
    S.contains(tostring(m), 'parameters: 25')
  end)

  it('keeps hooks, takes float64 input after double(), and saves as the plain module', function()
    local l = nn.LazyLinear(2)
    local calls = 0
    l:register_forward_hook(function() calls = calls + 1 end)
    l(nl.randn(3, 4))
    l(nl.randn(3, 4))
    assert.are.equal(2, calls)
    local d = nn.LazyConv1d(2, 3):double()
    local y = d(nl.randn({ 1, 2, 6 }, 'float64'))
    assert.are.equal('float64', y:dtype())
    assert.are.equal('float64', d.weight:dtype())
    local path = os.tmpname() .. '.safetensors'
    l:save(path)
    local back = nn.load(path)
    os.remove(path)
    assert.are.equal('Linear', back.__name)
    S.same_bits(back.weight, l.weight, 'loaded weight')
  end)

  it('refuses bad arguments when built and bad inputs when called, naming the lazy class', function()
    S.contains(S.errmsg(nn.LazyLinear, 0), 'LazyLinear: expected a positive whole out_features, got 0')
    S.contains(S.errmsg(nn.LazyLinear, 2, { bais = true }), "LazyLinear: unknown option 'bais'")
    S.contains(S.errmsg(nn.LazyConv2d, 4, 0), 'LazyConv2d: kernel_size must be')
    S.contains(S.errmsg(nn.LazyBatchNorm1d, { eps = 'a' }), 'LazyBatchNorm1d: eps must be a number')
    S.contains(S.errmsg(function() nn.LazyConv1d(4, 3, { groups = 2 })(nl.randn(1, 3, 5)) end),
               'LazyConv1d: groups 2 must divide in_channels 3')
    S.contains(S.errmsg(function() nn.LazyConv2d(4, 3)(nl.randn(2, 3)) end),
               'LazyConv2d: input must be (N, C, H, W) or (C, H, W), got shape [2,3]')
    S.contains(S.errmsg(function() nn.LazyBatchNorm2d()(nl.randn(2, 3)) end),
               'LazyBatchNorm2d: expected input (N, C, H, W), got shape [2,3]')
    S.contains(S.errmsg(function() nn.LazyLinear(2)(nl.tensor(1)) end), 'LazyLinear: expected input (..., in_features)')
    -- a failed first call leaves it lazy
    local l = nn.LazyConv2d(4, 3)
    pcall(l, nl.randn(2, 3))
    assert.is_true(l:has_uninitialized_params())
  end)

  it('leaves the generator as it was when built', function()
    nl.manual_seed(5)
    local a = nl.rand(3)
    nl.manual_seed(5)
    local _ = nn.LazyConv2d(8, 3), nn.LazyLinear(7), nn.LazyBatchNorm1d()
    S.same_bits(nl.rand(3), a, 'draws after building')
  end)
end)
