-- nn.utils.stateless.functional_call (nn/stateless.lua), against PyTorch
-- 1.13's (golden/stateless.lua, from golden/gen_stateless.py): outputs,
-- the gradients w.r.t. the tensors given, the module's state after the
-- call (its own tensors back, BatchNorm's counter stepped and the running
-- statistics given updated in place), a module used twice and tied
-- weights, a parametrized weight; the module's tensors put back after an
-- error, the forms of args, nesting, and every refusal by its message.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local errmsg, contains = S.errmsg, S.contains
local g = dofile(S.root .. '/tests/golden/stateless.lua')
local TOL = 1e-5

local Double = nn.Module:extend('StatelessDouble')
function Double:forward(w) return w * 2 end

-- the models of gen_stateless.py
local BUILD = {
  mlp = function() return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)) end,
  bn = function() return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)) end,
  reused = function()
    local l = nn.Linear(3, 3)
    return nn.Sequential(l, nn.Tanh(), l)
  end,
  tied = function()
    local a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    return nn.Sequential(a, nn.Tanh(), b)
  end,
  param = function()
    local l = nn.Linear(3, 2)
    nn.utils.parametrize.register_parametrization(l, 'weight', Double())
    return l
  end,
}

local function fc(...) return nn.utils.stateless.functional_call(...) end

describe('functional_call', function()
  it("gives PyTorch 1.13's outputs, gradients and module state for each golden case", function()
    local kinds = {}
    for _, c in ipairs(g) do
      kinds[c.kind] = true
      local m = BUILD[c.kind]()
      m:load_state_dict(S.golden_sd(c.state))
      if c.mode == 'eval' then m:eval() end
      local own = {}
      for _, kv in ipairs(m:named_parameters()) do own[kv[1]] = kv[2] end
      local given, names = {}, {}
      for _, e in ipairs(c.given) do
        local t = S.from_golden(e.t)
        if not e.name:find('running') then t:requires_grad() end
        given[e.name] = t
        names[#names + 1] = e.name
      end
      local out = fc(m, given, S.from_golden(c.x))
      S.expect_close(out, c.out, c.name .. ' out', TOL, TOL)
      local diff, list = {}, {}
      for _, name in ipairs(names) do
        if c.grads[name] then
          diff[#diff + 1] = name
          list[#list + 1] = given[name]
        end
      end
      local grads = nl.autograd.grad((out * S.from_golden(c.w)):sum(), list, { allow_unused = true })
      for i, name in ipairs(diff) do S.expect_close(grads[i], c.grads[name], c.name .. ' grad ' .. name, TOL, TOL) end
      -- the module's own tensors are back (the same objects), and the
      -- state dict is PyTorch's after the call
      for _, kv in ipairs(m:named_parameters()) do assert.is_true(rawequal(own[kv[1]], kv[2]), c.name .. ' ' .. kv[1]) end
      local sd = m:state_dict()
      for _, e in ipairs(c.after) do S.expect_close(sd[e.name], e.t, c.name .. ' after ' .. e.name, TOL, TOL) end
      for _, e in ipairs(c.given_after) do
        S.expect_close(given[e.name], e.t, c.name .. ' given after ' .. e.name, TOL, TOL)
      end
    end
    for k in pairs(BUILD) do assert.is_true(kinds[k], 'no golden case of ' .. k) end
  end)

  it('sends gradients to the tensors given and none to the module\'s own', function()
    nl.manual_seed(3)
    local m = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    local params = {}
    for _, kv in ipairs(m:named_parameters()) do params[kv[1]] = kv[2]:detach():clone():requires_grad() end
    local x = nl.randn(5, 3)
    local loss = fc(m, params, x):pow(2):sum()
    loss:backward()
    for name, p in pairs(params) do
      assert.is_true(p.grad ~= nil, name)
      assert.is_nil(m:get_parameter(name).grad, name)
    end
    -- the same values as the module's own: the same gradients as a plain call
    m(x):pow(2):sum():backward()
    for name, p in pairs(params) do S.expect_close(p.grad, m:get_parameter(name).grad, name, 1e-6, 1e-7) end
  end)

  it("puts the module's tensors back when forward raises, and passes the error on", function()
    local Boom = nn.Module:extend('StatelessBoom')
    function Boom:init() self.l = nn.Linear(2, 2) end
    function Boom:forward(x)
      local _ = self.l(x)
      error('boom in forward')
    end
    local m = Boom()
    local w, b = m.l.weight, m.l.bias
    local err = errmsg(fc, m, { ['l.weight'] = nl.zeros(2, 2), ['l.bias'] = nl.zeros(2) }, nl.ones(1, 2))
    contains(err, 'boom in forward')
    assert.is_true(rawequal(w, rawget(m.l, 'weight')))
    assert.is_true(rawequal(b, rawget(m.l, 'bias')))
    -- and an error of an op inside forward, naming the shapes
    contains(errmsg(fc, m.l, { weight = nl.zeros(5, 5) }, nl.ones(4, 2)), 'linear')
    assert.is_true(rawequal(w, rawget(m.l, 'weight')))
  end)

  it('takes args as a tensor, a list (with n), and kwargs after them; and nests', function()
    local Two = nn.Module:extend('StatelessTwo')
    function Two:init() self.s = nl.tensor({ 2 }):requires_grad() end
    function Two:forward(a, b, opts)
      local y = a * self.s + (b or 0)
      if opts and opts.neg then y = -y end
      if opts then return y, opts.tag end
      return y
    end
    local m = Two()
    local s = nl.tensor({ 10 })
    assert.are.same({ 30 }, S.flat(fc(m, { s = s }, nl.tensor({ 3 }))))
    assert.are.same({ 31 }, S.flat(fc(m, { s = s }, { nl.tensor({ 3 }), nl.tensor({ 1 }) })))
    assert.are.same({ 30 }, S.flat(fc(m, { s = s }, { n = 2, nl.tensor({ 3 }), nil })))
    local y, tag = fc(m, { s = s }, { nl.tensor({ 3 }), nl.tensor({ 1 }) }, { neg = true, tag = 'k' })
    assert.are.same({ -31 }, S.flat(y))
    assert.are.equal('k', tag)
    -- the forward hooks run, as module(...) runs them
    local h = m:register_forward_hook(function(_, _, out) return out * 0 + 7 end)
    assert.are.same({ 7 }, S.flat(fc(m, { s = s }, nl.tensor({ 3 }))))
    h:remove()
    -- an empty table: the module's own tensors
    assert.are.same({ 6 }, S.flat(fc(m, {}, nl.tensor({ 3 }))))
    -- nested: the inner call's tensor for its call, the outer's after it
    local Outer = nn.Module:extend('StatelessOuter')
    function Outer:init(inner) self.inner = inner end
    function Outer:forward(x)
      local a = self.inner(x)
      local b = fc(self.inner, { s = nl.tensor({ 100 }) }, x)
      local c = self.inner(x)
      return nl.cat({ a, b, c }, 1)
    end
    local o = Outer(m)
    assert.are.same({ 10, 100, 10 }, S.flat(fc(o, { ['inner.s'] = s }, nl.tensor({ 1 }))))
    assert.is_true(rawget(m, 's') ~= s)
    assert.are.same({ 2 }, S.flat(m.s))
  end)

  it('replaces a buffer registered as nil, and a module used twice at both uses', function()
    local M = nn.Module:extend('StatelessMask')
    function M:init() self:register_buffer('mask', nil) end
    function M:forward(x) return self.mask and x * self.mask or x end
    local m = M()
    assert.are.same({ 2, 0 }, S.flat(fc(m, { mask = nl.tensor({ 1, 0 }) }, nl.tensor({ 2, 3 }))))
    assert.is_nil(rawget(m, 'mask'))
    assert.are.same({ 2, 3 }, S.flat(m(nl.tensor({ 2, 3 }))))
    -- one tensor given under both names of a module used twice is taken
    local l = nn.Linear(1, 1, { bias = false })
    local s = nn.Sequential(l, l)
    local w = nl.tensor({ { 3 } })
    assert.are.same({ 18 }, S.flat(fc(s, { ['0.weight'] = w, ['1.weight'] = w }, nl.tensor({ { 2 } }))))
  end)

  it('refuses bad input, naming functional_call and the name', function()
    local m = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    local x = nl.ones(4, 3)
    -- a name the module has no tensor of (PyTorch 1.13 ignored an unknown
    -- last name; a misspelt one ran the module's own tensor)
    local e = errmsg(fc, m, { ['0.wieght'] = nl.zeros(2, 3) }, x)
    contains(e, "functional_call: no parameter or buffer '0.wieght' in the module: Linear '0' has no tensor 'wieght'")
    contains(e, '(its tensors: weight, bias)')
    contains(errmsg(fc, m, { ['1.weight'] = nl.zeros(2, 3) }, x), "ReLU '1' has no tensor 'weight' (its tensors: none)")
    contains(errmsg(fc, m, { ['5.weight'] = nl.zeros(2, 3) }, x),
             "functional_call: no parameter or buffer '5.weight' in the module: Sequential has no submodule '5' "
             .. '(its submodules: 0, 1, 2)')
    contains(errmsg(fc, m, { ['0.weight.x'] = nl.zeros(2, 3) }, x), "Linear '0' has no submodule 'weight'")
    contains(errmsg(fc, m, { ['0.weight'] = 3 }, x), "functional_call: parameters_and_buffers['0.weight'] must be a tensor")
    contains(errmsg(fc, m, { nl.zeros(1) }, x), 'functional_call: parameters_and_buffers keys must be dotted names')
    contains(errmsg(fc, 'model', {}, x), 'functional_call')
    contains(errmsg(fc, m, nl.zeros(1), x), 'functional_call')
    contains(errmsg(fc, m, {}, x, 5), 'functional_call: expected kwargs as a table')
    -- a table of names as args (PyTorch passes a dict as the one argument):
    -- module() ran with none, or with the list part alone, dropping the rest
    contains(errmsg(fc, m, {}, { input = x }), "functional_call: args must be a tensor or a list of the arguments "
             .. "(args.n of them), got a table with the key 'input'; pass a table argument as { t }")
    contains(errmsg(fc, m, {}, { x, mask = x }), "got a table with the key 'mask'")
    contains(errmsg(fc, m, {}, { n = 1.5, x }), 'functional_call: args.n must be the number of arguments')
    contains(errmsg(fc, m, {}, { n = 3, x, x, x, x }), 'got a table with the key 4')
    local l = nn.Linear(1, 1)
    contains(errmsg(fc, nn.Sequential(l, l), { ['0.bias'] = nl.zeros(1), ['1.bias'] = nl.ones(1) }, nl.ones(1, 1)),
             "functional_call: '0.bias' and '1.bias' name one tensor of one module")
    -- nothing was replaced by a refused call
    assert.is_true(rawequal(m[1].weight, m:get_parameter('0.weight')))
    assert.is_true(m[1].weight.is_requires_grad)
  end)
end)
