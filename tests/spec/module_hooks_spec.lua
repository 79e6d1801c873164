-- Module forward hooks (register_forward_pre_hook, register_forward_hook
-- and their handles), as PyTorch 1.13's: when they run (m(...), not
-- m:forward(...)), in what order through a Sequential, what they see and
-- what a replacement changes, forward values and gradients included. The
-- expected values are PyTorch 1.13's, as data under the torch lines that
-- gave them (run with /usr/bin/python3).
local nl = require 'nnlua'
local nn = nl.nn
local S = require 'support'

-- lin = nn.Linear(2, 1) with weight [[0.5, -1]] and bias 0.25, in float64;
-- seq = nn.Sequential(lin, nn.ReLU()); x = torch.tensor([[1., 2.], [3., -4.]])
local function model()
  local lin = nn.Linear(2, 1):double()
  nl.no_grad(function()
    lin.weight:copy_(nl.tensor({ { 0.5, -1 } }, 'float64'))
    lin.bias:fill_(0.25)
  end)
  local relu = nn.ReLU()
  return lin, relu, nn.Sequential(lin, relu)
end
local X = { { 1, 2 }, { 3, -4 } }

describe('module forward hooks', function()
  it('run around each call, in PyTorch 1.13\'s order through a Sequential (a Linear and ReLU it would fuse)', function()
    -- for name, m in [('seq', seq), ('lin', lin), ('relu', relu)]: a pre-hook logging
    -- (name + '.pre', [a.tolist() for a in args]) and a hook logging (name + '.post', out.tolist())
    -- seq(x) ->
    local want = {
      { 'seq.pre', { { { 1, 2 }, { 3, -4 } } } },
      { 'lin.pre', { { { 1, 2 }, { 3, -4 } } } },
      { 'lin.post', { { -1.25 }, { 5.75 } } },
      { 'relu.pre', { { { -1.25 }, { 5.75 } } } },
      { 'relu.post', { { 0 }, { 5.75 } } },
      { 'seq.post', { { 0 }, { 5.75 } } },
    }
    local lin, relu, seq = model()
    local log, handles = {}, {}
    for _, nm in ipairs({ { 'seq', seq }, { 'lin', lin }, { 'relu', relu } }) do
      local name, m = nm[1], nm[2]
      handles[#handles + 1] = m:register_forward_pre_hook(function(mod, args)
        assert.are.equal(m, mod)
        local a = {}
        for i = 1, args.n do a[i] = args[i]:totable() end
        log[#log + 1] = { name .. '.pre', a }
      end)
      handles[#handles + 1] = m:register_forward_hook(function(_, _, out) log[#log + 1] = { name .. '.post', out:totable() } end)
    end
    local y = seq(nl.tensor(X, 'float64'))
    assert.are.same(want, log)
    assert.are.same({ { 0 }, { 5.75 } }, y:totable())
    -- removed, none runs
    for _, h in ipairs(handles) do h:remove() end
    log = {}
    seq(nl.tensor(X, 'float64'))
    assert.are.same({}, log)
  end)

  it('replace arguments and outputs, each hook seeing the one before\'s, and gradients follow', function()
    -- h1 = lin.register_forward_pre_hook(lambda m, a: a[0] * 2)     (not a tuple: the one argument)
    -- h2 = lin.register_forward_pre_hook(lambda m, a: log.append(('p2', a[0].tolist())))
    -- h3 = lin.register_forward_hook(lambda m, a, o: o + 1)
    -- h4 = lin.register_forward_hook(lambda m, a, o: log.append(('f2', a[0].tolist(), o.tolist())))
    -- xr = x.clone().requires_grad_(); y = seq(xr)
    --   -> log [('p2', [[2, 4], [6, -8]]), ('f2', [[2, 4], [6, -8]], [[-1.75], [12.25]])], y [[0], [12.25]]
    -- y.sum().backward() -> xr.grad [[0, 0], [1, -2]], lin.weight.grad [[6, -8]]
    -- h1.remove(); h3.remove(); lin(x) -> [[-1.25], [5.75]], log [('p2', x), ('f2', x, [[-1.25], [5.75]])]
    -- lin.forward(x) -> the same, and no hook runs
    local lin, _, seq = model()
    local log = {}
    local h1 = lin:register_forward_pre_hook(function(_, a) return a[1] * 2 end)
    lin:register_forward_pre_hook(function(_, a) log[#log + 1] = { 'p2', a[1]:totable() } end)
    local h3 = lin:register_forward_hook(function(_, _, o) return o + 1 end)
    lin:register_forward_hook(function(_, a, o) log[#log + 1] = { 'f2', a[1]:totable(), o:totable() } end)
    local xr = nl.tensor(X, 'float64'):requires_grad()
    local y = seq(xr)
    assert.are.same({ { 'p2', { { 2, 4 }, { 6, -8 } } }, { 'f2', { { 2, 4 }, { 6, -8 } }, { { -1.75 }, { 12.25 } } } }, log)
    assert.are.same({ { 0 }, { 12.25 } }, y:totable())
    y:sum():backward()
    assert.are.same({ { 0, 0 }, { 1, -2 } }, xr.grad:totable())
    assert.are.same({ { 6, -8 } }, lin.weight.grad:totable())
    h1:remove()
    h3:remove()
    h3:remove()
    log = {}
    assert.are.same({ { -1.25 }, { 5.75 } }, lin(nl.tensor(X, 'float64')):totable())
    assert.are.same({ { 'p2', X }, { 'f2', X, { { -1.25 }, { 5.75 } } } }, log)
    log = {}
    assert.are.same({ { -1.25 }, { 5.75 } }, lin:forward(nl.tensor(X, 'float64')):totable())
    assert.are.same({}, log)
  end)

  it('take a list for several arguments or several results', function()
    local Two = nn.Module:extend('HookTwo')
    function Two:forward(a, b) return a + b, a - b end
    local m = Two()
    local seen
    m:register_forward_pre_hook(function(_, args) return { args[2], args[1] * 10 } end)
    m:register_forward_hook(function(_, args, out)
      seen = { args.n, out.n }
      return { out[2], out[1], n = 2 }
    end)
    local s, d = m(nl.tensor({ 1 }), nl.tensor({ 2 }))
    -- forward(2, 10): 12 and -8, swapped by the hook
    assert.are.same({ 2, 2 }, seen)
    assert.are.same({ -8 }, s:totable())
    assert.are.same({ 12 }, d:totable())
  end)

  it('keep the call as forward alone once every hook is removed', function()
    local lin = nn.Linear(3, 2)
    local h = lin:register_forward_hook(function() end)
    assert.is_not_nil(rawget(lin, '_fwd_hooks'))
    h:remove()
    assert.is_nil(rawget(lin, '_fwd_hooks'))
    -- and a loop that registers and removes holds nothing
    for _ = 1, 20000 do
      local a = lin:register_forward_pre_hook(function() end)
      local b = lin:register_forward_hook(function() end)
      lin(nl.ones(1, 3))
      b:remove()
      a:remove()
    end
    assert.is_nil(rawget(lin, '_fwd_hooks'))
    -- hooks are not part of the model: the state dict and the structure ignore them
    lin:register_forward_hook(function() end)
    assert.are.same({ 'weight', 'bias' }, lin:state_names())
  end)

  it('refuses a hook that is no function, and says backward hooks are not there', function()
    local lin = nn.Linear(3, 2)
    S.contains(S.errmsg(function() lin:register_forward_hook(3) end), 'register_forward_hook: expected a function')
    S.contains(S.errmsg(function() lin:register_forward_pre_hook() end), 'register_forward_pre_hook: expected a function')
    S.contains(S.errmsg(function() lin:register_full_backward_hook(function() end) end),
      'register_full_backward_hook: module backward hooks are not supported')
  end)
end)
