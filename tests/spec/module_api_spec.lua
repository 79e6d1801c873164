-- nn.Module's PyTorch 1.13 API of module_api.lua and module.lua:
-- requires_grad_, get_submodule / get_parameter / get_buffer,
-- register_parameter, add_module / register_module, to / type, state_dict's
-- prefix and destination, and load_state_dict's missing and unexpected
-- keys. Names against PyTorch 1.13's (golden/module_api.lua, from
-- golden/gen_module_api.py); the lookups against the tensors and modules
-- the fields hold (the very objects); conversions and training against
-- their closed forms; every refusal by its message.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local errmsg, contains = S.errmsg, S.contains
local g = dofile(S.root .. '/tests/golden/module_api.lua')

-- the model of gen_module_api.py
local Net = nn.Module:extend('ModuleApiNet')
function Net:init()
  self.gain = nl.ones(1):requires_grad()
  self:register_buffer('step', nl.zeros(1))
  self:register_buffer('cache', nl.zeros(2), false)
  self.enc = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
  self.heads = nn.ModuleDict { { 'a', nn.Linear(4, 2) }, { 'b', nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1)) } }
  self.scales = nn.ParameterList { nl.randn(2), nl.randn(1) }
end
function Net:forward(x)
  local h = self.enc(x)
  return self.heads.a(h):sum(2, true) * self.scales[1]:sum() + self.heads.b(h) * self.gain * self.scales[2]
end

local function names(pairs_list)
  local out = {}
  for i, kv in ipairs(pairs_list) do out[i] = kv[1] end
  return out
end

describe('get_submodule, get_parameter and get_buffer', function()
  it("take PyTorch 1.13's names and give the objects named_modules, named_parameters and named_buffers give", function()
    local m = Net()
    local mods, params, bufs = m:named_modules(), m:named_parameters(), m:named_buffers()
    assert.are.same(g.modules, names(mods))
    assert.are.same(g.params, names(params))
    assert.are.same(g.buffers, names(bufs))
    for _, kv in ipairs(mods) do assert.are.equal(kv[2], m:get_submodule(kv[1])) end
    for _, kv in ipairs(params) do assert.is_true(rawequal(kv[2], m:get_parameter(kv[1])), kv[1]) end
    for _, kv in ipairs(bufs) do assert.is_true(rawequal(kv[2], m:get_buffer(kv[1])), kv[1]) end
    -- modules(): named_modules' modules, in its order (it walks without making the names)
    local ms = m:modules()
    assert.are.equal(#mods, #ms)
    for i, kv in ipairs(mods) do assert.are.equal(kv[2], ms[i]) end
    -- by the fields: Lua's item 3 of a Sequential is PyTorch's '2'
    assert.are.equal(m, m:get_submodule(''))
    assert.are.equal(rawget(m.heads.b, 3), m:get_submodule('heads.b.2'))
    assert.is_true(rawequal(m.scales[2], m:get_parameter('scales.1')))
    assert.is_true(rawequal(rawget(m, 'cache'), m:get_buffer('cache')))     -- not persistent: a buffer all the same
    -- a buffer registered as nil (PyTorch's None) is one, of no value
    m.enc[1]:register_buffer('mask', nil)
    assert.is_nil(m:get_buffer('enc.0.mask'))
  end)

  it('find a module used twice under either name, and a frozen parameter', function()
    local l = nn.Linear(2, 2)
    local s = nn.Sequential(l, nn.ReLU(), l)
    assert.are.equal(l, s:get_submodule('0'))
    assert.are.equal(l, s:get_submodule('2'))
    -- (PyTorch 1.13's modules(): s, l, the ReLU; l once)
    local ms = s:modules()
    assert.are.equal(3, #ms)
    assert.are.equal(s, ms[1]); assert.are.equal(l, ms[2]); assert.are.equal(rawget(s, 2), ms[3])
    l.weight:requires_grad(false)
    assert.is_true(rawequal(l.weight, s:get_parameter('2.weight')))
  end)

  it('refuse a name that is not there, or is another kind, naming the op, the path and the module', function()
    local m = Net()
    contains(errmsg(m.get_submodule, m, 'heads.c'),
             "get_submodule: no submodule 'heads.c': ModuleDict 'heads' has no child 'c' (its children: a, b)")
    contains(errmsg(m.get_submodule, m, 'enc.3.x'), "Sequential 'enc' has no child '3' (its children: 0, 1, 2)")
    contains(errmsg(m.get_submodule, m, 'enc.0.weight'),
             "get_submodule: no submodule 'enc.0.weight': 'weight' of Linear 'enc.0' is a parameter, not a module")
    contains(errmsg(m.get_submodule, m, 'enc..0'), "Sequential 'enc' has no child ''")
    contains(errmsg(m.get_parameter, m, 'enc.1.running_mean'),
             "get_parameter: no parameter 'enc.1.running_mean': 'running_mean' of BatchNorm1d 'enc.1' is a buffer, "
             .. 'not a parameter')
    contains(errmsg(m.get_parameter, m, 'heads.a.nope'), "get_parameter: no parameter 'heads.a.nope': Linear 'heads.a' "
             .. "has no parameter 'nope'")
    contains(errmsg(m.get_parameter, m, 'enc'), "get_parameter: no parameter 'enc': 'enc' of ModuleApiNet is a module")
    contains(errmsg(m.get_parameter, m, 'x.weight'), "get_parameter: no submodule 'x.weight': ModuleApiNet has no child 'x'")
    contains(errmsg(m.get_buffer, m, 'gain'), "get_buffer: no buffer 'gain': 'gain' of ModuleApiNet is a parameter, "
             .. 'not a buffer')
    contains(errmsg(m.get_buffer, m, 'enc.1.nope'), "BatchNorm1d 'enc.1' has no buffer 'nope'")
    contains(errmsg(m.get_submodule, m, 3), 'get_submodule: expected a dotted name (a string), got number')
    contains(errmsg(m.get_parameter, m, nil), 'get_parameter: expected a dotted name (a string), got nil')
    contains(errmsg(m.get_buffer, m, 'step', 'x'), 'get_buffer: takes (target), got 2 arguments')
  end)
end)

describe('requires_grad_', function()
  it("freezes a submodule: the parameters PyTorch 1.13 leaves trainable are the ones that get gradients", function()
    local m = Net()
    assert.are.equal(m.heads.b, m:get_submodule('heads.b'):requires_grad_(false))    -- returns the module
    m:get_parameter('enc.0.weight'):requires_grad(false)
    local trainable = {}
    for _, kv in ipairs(m:named_parameters()) do
      if kv[2].is_requires_grad then trainable[#trainable + 1] = kv[1] end
    end
    assert.are.same(g.trainable, trainable)
    assert.are.equal(#g.params, #m:parameters())                   -- frozen ones are parameters still
    m(nl.randn(5, 3)):sum():backward()
    local got = {}
    for _, kv in ipairs(m:named_parameters()) do
      if kv[2].grad ~= nil then got[#got + 1] = kv[1] end
    end
    assert.are.same(g.trainable, got)
    -- and back: true is the default, as PyTorch's
    m:requires_grad_()
    for _, p in ipairs(m:parameters()) do assert.is_true(p.is_requires_grad) end
  end)

  it('refuses a flag that is not a boolean', function()
    local m = nn.Linear(2, 2)
    contains(errmsg(m.requires_grad_, m, 0), 'requires_grad_: expected a boolean requires_grad, got number')
    contains(errmsg(m.requires_grad_, m, true, 1), 'requires_grad_: takes ([requires_grad]), got 2 arguments')
  end)
end)

describe('register_parameter', function()
  it('makes a tensor a parameter as Parameter(t): in the state dict, parameters() and trained', function()
    local m = nn.Linear(2, 1, { bias = false }):double()
    local t = nl.tensor({ 3 }, 'float64')
    m:register_parameter('shift', t)
    assert.is_false(t.is_requires_grad)                         -- the caller's tensor keeps its flag
    assert.is_true(m.shift.is_requires_grad and m.shift:is_leaf())
    nl.no_grad(function() m.shift:fill_(5) end)
    assert.are.equal(5, t[1])                                   -- one memory, as Parameter(t)
    assert.are.same({ 'weight', 'shift' }, m:state_names())
    assert.are.equal(2, #m:parameters())
    -- a leaf that requires grad is kept: a weight tied to another layer stays one tensor
    local other = nn.Linear(2, 1)
    m:register_parameter('tied', other.weight)
    assert.is_true(rawequal(other.weight, m.tied))
    -- trained: one SGD step on (w x + shift) with x = 0 moves shift by lr * d(loss)/d(shift) = 2 (shift - 0)
    local opt = nl.optim.SGD({ m.shift }, { lr = 0.1 })
    local out = nl.matmul(nl.zeros(1, 2, 'float64'), m.weight:t()) + m.shift
    local loss = (out * out):sum()
    loss:backward()
    opt:step()
    assert.are.equal(5 - 0.1 * 2 * 5, m.shift[1])
  end)

  -- a frozen parameter became a new leaf over its memory that required
  -- grad, so a step over the module trained it (and, through the memory,
  -- the original): PyTorch keeps the Parameter, requires_grad False
  it('keeps a frozen parameter as it is, in register_parameter, ParameterList and a plain field', function()
    local m = nn.Linear(2, 2)
    local p = nn.Parameter(nl.ones(2), false)
    m:register_parameter('extra', p)
    assert.is_true(rawequal(m.extra, p))
    assert.is_false(m.extra.is_requires_grad)
    local q = nn.Linear(2, 2):requires_grad_(false)
    m:register_parameter('tied', q.weight)
    assert.is_true(rawequal(m.tied, q.weight))
    assert.is_false(m.tied.is_requires_grad)
    local l = nn.ParameterList({ p, q.bias })
    assert.is_true(rawequal(l[1], p) and rawequal(l[2], q.bias))
    -- a frozen layer's weight assigned to a field is a parameter, as in PyTorch
    local Holder = nn.Module:extend('ModuleApiSpecHolder')
    function Holder:init(lin) self.w = lin.weight end
    assert.are.equal(1, #Holder(q):parameters())
    -- a step over m leaves the frozen ones as they were
    local opt = nl.optim.SGD(m:parameters(), { lr = 1 })
    m(nl.ones(1, 2)):sum():backward()
    opt:step()
    assert.are.same({ 1, 1 }, p:totable())
  end)

  it('takes nil, which takes the parameter out of the state dict, as PyTorch\'s None', function()
    local m = nn.Linear(2, 3)
    m:register_parameter('bias', nil)
    assert.are.same({ 'weight' }, m:state_names())
    assert.are.equal(1, #m:parameters())
    m:register_parameter('bias', nl.zeros(3))                   -- and back, at its place in the order
    assert.are.same({ 'weight', 'bias' }, m:state_names())
  end)

  it('refuses names and values PyTorch refuses, naming the op', function()
    local m = nn.BatchNorm1d(2)
    contains(errmsg(m.register_parameter, m, 'a.b', nl.ones(1)),
             "register_parameter: the parameter name must be a non-empty string without dots, got 'a.b'")
    contains(errmsg(m.register_parameter, m, '', nl.ones(1)), 'non-empty string without dots')
    contains(errmsg(m.register_parameter, m, 1, nl.ones(1)),
             'register_parameter: the parameter name must be a string, got 1')
    contains(errmsg(m.register_parameter, m, 'forward', nl.ones(1)),
             "register_parameter: attribute 'forward' already exists (a method or field of the class)")
    contains(errmsg(m.register_parameter, m, 'running_mean', nl.ones(1)),
             "register_parameter: attribute 'running_mean' already exists (a buffer)")
    contains(errmsg(m.register_parameter, m, 'eps', nl.ones(1)), "attribute 'eps' already exists (1e-05)")
    contains(errmsg(m.register_parameter, m, 'w', 3), 'register_parameter: w must be a tensor or nil, got 3')
    contains(errmsg(m.register_parameter, m, 'w', nl.ones(1, 'int64')),
             'register_parameter: w is an int64 tensor; only float tensors can require gradients')
    local s = nn.Sequential(nn.ReLU())
    contains(errmsg(s.register_parameter, s, 'x', nl.ones(1), 2), 'register_parameter: takes (name, param), got 3')
  end)
end)

describe('add_module and register_module', function()
  it("add a child under its name; in a Sequential, '<n>' appends the item that forward runs next", function()
    local s = nn.Sequential(nn.Linear(2, 2):double())
    s:add_module('1', nn.ReLU())
    s:register_module('2', nn.Tanh())
    assert.are.same({ '0', '1', '2' }, names(s:named_children()))
    assert.are.equal(3, #s)
    local x = nl.tensor({ { -1, 2 } }, 'float64')
    local want = rawget(s, 1)(x):relu():tanh()
    assert.are.same(want:totable(), s(x):totable())
    -- a numbered name replaces its item
    local sig = nn.Sigmoid()
    s:add_module('2', sig)
    assert.are.equal(sig, s:get_submodule('2'))
    assert.are.equal(3, #s)
    -- a plain module: a child under its name, in its state dict
    local m = nn.Module:extend('AddModuleHolder')()
    m:add_module('body', nn.Linear(2, 3))
    assert.are.same({ 'body.weight', 'body.bias' }, m:state_names())
    m:add_module('body', nil)                                      -- nil takes it out
    assert.are.same({}, m:state_names())
    -- a ModuleDict: its key
    local d = nn.ModuleDict()
    d:add_module('k', nn.ReLU())
    assert.are.same({ 'k' }, d:keys())
  end)

  it('refuse what PyTorch refuses, and a Sequential\'s gaps, naming the op', function()
    local s = nn.Sequential(nn.ReLU(), nn.ReLU())
    contains(errmsg(s.add_module, s, '5', nn.ReLU()),
             "add_module: the Sequential's items are named '0' to '1'; a numbered name replaces one of them or, '2', "
             .. 'appends one (a module, not nil)')
    contains(errmsg(s.add_module, s, '0', nil), "a numbered name replaces one of them or, '2', appends one")
    contains(errmsg(s.add_module, s, 'a.b', nn.ReLU()),
             "add_module: the module name must be a non-empty string without dots, got 'a.b'")
    contains(errmsg(s.register_module, s, 2, nn.ReLU()), 'register_module: the module name must be a string, got 2')
    contains(errmsg(s.add_module, s, 'forward', nn.ReLU()),
             "add_module: attribute 'forward' already exists (a method or field of the class)")
    local l = nn.Linear(2, 2)
    contains(errmsg(l.add_module, l, 'weight', nn.ReLU()), "add_module: attribute 'weight' already exists (a parameter)")
    contains(errmsg(l.add_module, l, 'x', nl.ones(2)), 'add_module: x must be a module or nil, got a tensor (float32 [2])')
  end)
end)

describe("a Sequential's and a ModuleList's items by number", function()
  -- s[0] = m (a 0-based port) made a child named '-1' that forward never
  -- ran, in the state dict as '-1.weight', and s[-1] = m one named '-2'
  it("take PyTorch's negative indices, and refuse 0 and fractions naming the 1-based count", function()
    local a, b, c = nn.Linear(2, 2), nn.ReLU(), nn.Tanh()
    local s = nn.Sequential(a, b, c)
    assert.are.equal(c, s[-1])
    assert.are.equal(a, s[-3])
    local t = nn.Sigmoid()
    s[-1] = t                                      -- PyTorch's model[-1] = ...: the last item replaced
    assert.are.equal(t, s[3])
    assert.are.equal(3, #s)
    local y = s(nl.tensor({ { -1, 2 } }))
    local want = a(nl.tensor({ { -1, 2 } })):relu():sigmoid()
    assert.are.same(S.flat(want), S.flat(y))
    local keys = {}
    for k in pairs(s:state_dict()) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ '0.bias', '0.weight' }, keys)
    contains(errmsg(function() s[0] = nn.Linear(2, 3) end),
             "Sequential: index 0 is not an item: items count from 1 (PyTorch's [0] is [1] here)")
    contains(errmsg(function() return s[0] end), 'Sequential: index 0 is not an item')
    contains(errmsg(function() return s[-4] end), 'Sequential: index -4 out of range for 3 items')
    local l = nn.ModuleList({ nn.ReLU(), nn.Tanh() })
    contains(errmsg(function() l[1.5] = nn.ReLU() end), 'ModuleList: index 1.5 is not an item')
    l[-1] = nil                                    -- PyTorch's del l[-1]
    assert.are.equal(1, #l)
    assert.is_nil(s[4])                            -- past the end: nil, as a Lua list
  end)
end)

describe('to and type', function()
  it('convert the floating parameters and buffers as double() and float() do', function()
    local l = nn.Linear(2, 2)
    local s = nn.Sequential(l, nn.BatchNorm1d(2), l)             -- tied: one Linear twice
    l.bias:requires_grad(false)
    local w32 = l.weight:totable()
    assert.are.equal(s, s:to('float64'))
    local l2 = rawget(s, 1)
    assert.are.equal('float64', s:get_parameter('0.weight'):dtype())
    assert.are.same(w32, l2.weight:float():totable())                     -- float32 values, exact in float64
    assert.are.equal('float64', s:get_buffer('1.running_var'):dtype())
    assert.are.equal('int64', s:get_buffer('1.num_batches_tracked'):dtype())   -- kept int64
    assert.is_true(rawequal(s:get_parameter('0.weight'), s:get_parameter('2.weight')))   -- still tied
    assert.is_false(l2.bias.is_requires_grad)                             -- still frozen
    assert.is_true(l2.weight.is_requires_grad and l2.weight:is_leaf())
    s:type('float32')
    assert.are.equal('float32', l2.weight:dtype())
    s:to(nl.zeros(1, 'float64'))
    assert.are.equal('float64', l2.weight:dtype())
    s:to { dtype = 'float' }
    assert.are.equal('float32', l2.weight:dtype())
    s:type('double')
    assert.are.equal('float64', l2.weight:dtype())
  end)

  it('refuse int64 and what is not a dtype, as PyTorch refuses them', function()
    local m = nn.Linear(2, 2)
    contains(errmsg(m.to, m, 'int64'), "to: a module converts to a float dtype ('float32' or 'float64'), got 'int64'")
    contains(errmsg(m.to, m, nl.zeros(1, 'int64')), "to: a module converts to a float dtype")
    contains(errmsg(m.type, m, 'long'), "type: a module converts to a float dtype")
    contains(errmsg(m.to, m, 'cuda'), "to: expected a dtype ('float32' or 'float64'), a tensor or {dtype = }, got 'cuda'")
    contains(errmsg(m.type, m), "type: expected a dtype ('float32' or 'float64'), got nil")
    contains(errmsg(m.to, m, { device = 'cpu' }), "to: unknown option 'device'")
    contains(errmsg(m.to, m, 'float64', true), 'to: takes (dtype), got 2 arguments')
    assert.are.equal('float32', m.weight:dtype())               -- unchanged
  end)
end)

describe('state_dict and load_state_dict', function()
  it("state_dict takes PyTorch's prefix and destination", function()
    local m = Net()
    assert.are.same(g.state, m:state_names())
    local sd = m:state_dict { prefix = 'net.' }
    local keys = {}
    for k, t in pairs(sd) do
      keys[#keys + 1] = k
      local own = m:state_dict { keep_vars = true }[k:sub(5)]                -- the tensors themselves
      assert.is_false(rawequal(t, own))                                     -- and detached views of them
      assert.is_false(t.is_requires_grad)
      S.same_bits(t, own, k)
    end
    local want = { unpack(g.prefixed) }
    table.sort(want)
    table.sort(keys)
    assert.are.same(want, keys)
    local dest = { other = 1 }
    assert.are.equal(dest, m.enc:state_dict { destination = dest, prefix = 'enc.' })
    assert.are.equal(1, dest.other)
    assert.is_false(rawequal(m:get_parameter('enc.0.weight'), dest['enc.0.weight']))
    S.same_bits(m:get_parameter('enc.0.weight'), dest['enc.0.weight'], 'enc.0.weight')
    contains(errmsg(m.state_dict, m, { prefix = 1 }), 'state_dict: expected prefix as a string, got number')
    contains(errmsg(m.state_dict, m, { destination = 'x' }), 'state_dict: expected destination as a table, got string')
    contains(errmsg(m.state_dict, m, { keep_vars = 1 }), 'state_dict: expected a boolean keep_vars, got number')
    contains(errmsg(m.state_dict, m, 'net.'), 'state_dict: expected a table of options, got string')
  end)

  it("state_dict holds detached tensors sharing the parameters' values, as PyTorch's", function()
    -- PyTorch 1.13: sd = nn.Linear(3, 2).state_dict(); sd['weight'].requires_grad is False,
    -- sd['weight'].fill_(0) zeroes the layer's weight, sd['weight'].clone().fill_(0) is fine
    local l = nl.nn.Linear(3, 2)
    local sd = l:state_dict()
    assert.is_false(sd.weight.is_requires_grad)
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, sd.weight:clone():fill_(0):totable())
    sd.weight:fill_(0)
    sd.bias:add_(1)
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, l.weight:totable())
    assert.is_true(l.weight.is_requires_grad)
    local out = l(nl.ones(1, 3)):sum()
    out:backward()
    assert.are.same({ { 1, 1, 1 }, { 1, 1, 1 } }, l.weight.grad:totable())
    assert.is_nil(sd.weight.grad)
    -- keep_vars = true: the parameters themselves, as PyTorch's keep_vars
    local kv = l:state_dict { keep_vars = true }
    assert.is_true(rawequal(l.weight, kv.weight))
    assert.is_not_nil(kv.weight.grad)
  end)

  it("load_state_dict gives PyTorch 1.13's missing and unexpected keys after the module", function()
    for i, c in ipairs(g.loads) do
      local src = Net()
      nl.no_grad(function() src.gain:fill_(7) end)
      local sd = src:state_dict { prefix = c.prefix }
      for _, k in ipairs(c.drop) do sd[k] = nil end
      for _, k in ipairs(c.add) do sd[k] = nl.zeros(1) end
      local m = Net()
      local back, r = m:load_state_dict(sd, false)
      assert.are.equal(m, back)
      assert.are.same(c.missing, r.missing_keys, 'case ' .. i)
      assert.are.same(c.unexpected, r.unexpected_keys, 'case ' .. i)
      -- what was there was loaded
      assert.are.equal(sd.gain and 7 or 1, m.gain[1])
      -- strict: the same keys, in the error
      if #c.missing + #c.unexpected > 0 then
        contains(errmsg(m.load_state_dict, m, sd), ('load_state_dict: missing keys {%s}, unexpected keys {%s}'):format(
          table.concat(c.missing, ', '), table.concat(c.unexpected, ', ')))
      end
    end
    -- a full one: none missing, none unexpected, strict or not
    local m = Net()
    local _, r = m:load_state_dict(Net():state_dict())
    assert.are.same({ missing_keys = {}, unexpected_keys = {} }, r)
  end)

  -- the tensors before the one that did not fit, or all of them before
  -- strict's missing keys were named, were copied in
  it('a state dict that load_state_dict refuses changes nothing', function()
    local function filled(v)
      local m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
      nl.no_grad(function() for _, t in pairs(m:state_dict()) do t:fill_(v) end end)
      return m
    end
    local function all(m, v)
      for name, t in pairs(m:state_dict()) do
        assert.are.same({ v, v }, { t:min():item(), t:max():item() }, name .. ' changed')
      end
    end
    local sd = filled(5):state_dict()
    sd['2.weight'] = nl.ones(3, 2)
    local m = filled(1)
    contains(errmsg(m.load_state_dict, m, sd), 'load_state_dict: 2.weight has shape [2,3] in the model and [3,2]')
    all(m, 1)
    sd = filled(5):state_dict()
    sd['2.bias'] = nil
    contains(errmsg(m.load_state_dict, m, sd), 'load_state_dict: missing keys {2.bias}')
    all(m, 1)
    -- not strict: the rest loads
    m:load_state_dict(sd, false)
    assert.are.equal(1, m[3].bias[1])
    assert.are.equal(5, m[3].weight[1][1])
  end)
end)
