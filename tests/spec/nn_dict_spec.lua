-- model:summary() and nn.ModuleDict, ParameterList and ParameterDict.
-- summary's counts against the sums of numel over the state dicts, its
-- shapes against the forward's. The containers against PyTorch 1.13
-- (golden/containers.lua, from golden/gen_containers.py): its state dict
-- names, parameter order, values in place, forward and gradients; their
-- methods and refusals.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local errmsg, contains = S.errmsg, S.contains
local dir = S.tmpdir()

describe('model:summary', function()
  local function net()
    nl.manual_seed(3)
    local m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Sequential(nn.Linear(8, 3), nn.Tanh()))
    m[1].bias:requires_grad(false)
    return m
  end
  local function numel(ts)
    local n = 0
    for _, t in pairs(ts) do n = n + t:numel() end
    return n
  end
  local function count_line(s, what) return tonumber((s:match(what .. ': ([%d,]+)'):gsub(',', ''))) end

  it("counts every tensor of the state dict, the trainable ones apart; shows each child's output shape", function()
    local m = net()
    local rm = m[2].running_mean:totable()
    m[2]:eval()
    local lines = {}
    local s = m:summary({ 2, 4 }, { print_fn = function(l) lines[#lines + 1] = l end })
    assert.are.equal(s, table.concat(lines, '\n'))
    local total = numel(m:state_dict())
    local trainable = 0
    for _, p in ipairs(m:parameters()) do if p.is_requires_grad then trainable = trainable + p:numel() end end
    assert.are.equal(100, total)                        -- 40 + 33 (BatchNorm: 4 x 8 + the counter) + 27
    assert.are.equal(total, count_line(s, 'Total params'))
    assert.are.equal(trainable, count_line(s, 'Trainable params'))
    assert.are.equal(total - trainable, count_line(s, 'Non%-trainable params'))
    contains(s, 'Total params: 100 (404.00 B)')        -- 92 float32, the int64 counter
    -- the rows: each child's Param # its state dict's numel, its output
    local outs = { { 2, 8 }, { 2, 8 }, { 2, 8 }, { 2, 3 } }
    for i = 1, 4 do
      local name = ('%d (%s)'):format(i - 1, m[i].__name)
      local row = s:match('\n (' .. name:gsub('%p', '%%%0') .. '[^\n]*)')
      assert.is_truthy(row, name)
      assert.is_truthy(row:find('[' .. table.concat(outs[i], ', ') .. ']', 1, true), row)
      assert.are.equal(numel(m[i]:state_dict()), tonumber(row:match('(%d+) *$')), row)
    end
    -- the modes as they were, and the running statistics untouched
    assert.is_true(m.training and m[1].training)
    assert.is_false(m[2].training)
    assert.are.same(rm, m[2].running_mean:totable())
    -- expand_nested: the nested rows under their dotted names
    s = m:summary({ 2, 4 }, { expand_nested = true, print_fn = function() end })
    contains(s, '   3.0 (Linear)   ')
    contains(s, '   3.1 (Tanh)   ')
    -- without an input, no output shapes
    s = m:summary { print_fn = function() end }
    assert.is_nil(s:find('Output Shape', 1, true))
    contains(s, ' Layer (type)      Param # ')
    -- tostring stays PyTorch's tree
    contains(tostring(m), '(3): Sequential(')
    contains(tostring(m), 'parameters: 83')
  end)

  it('counts a tied weight once, and takes a tensor input or several', function()
    local l = nn.Linear(3, 3)
    local m = nn.Sequential(l, nn.ReLU(), l)
    local s = m:summary(nl.randn(5, 3), { print_fn = function() end })
    assert.are.equal(12, count_line(s, 'Total params'))
    contains(s, '0 (Linear)     [5, 3]              12')   -- (one row: children are listed once, as PyTorch's)
    assert.is_nil(s:find('2 (Linear)', 1, true))
    local Two = nn.Module:extend('SummaryTwo')
    function Two:init() self.a = nn.Linear(2, 1) end
    function Two:forward(x, z) return self.a(x) + z end
    s = Two():summary({ { 4, 2 }, nl.zeros(4, 1) }, { print_fn = function() end })
    assert.is_truthy(s:find('a %(Linear%) +%[4, 1%] +3'), s)
    -- an Embedding takes the ones of int64 as indices
    s = nn.Embedding(5, 2):summary({ 3 }, { dtype = 'int64', print_fn = function() end })
    assert.is_truthy(s:find('Embedding +%[3, 2%] +10'), s)
  end)

  it('refuses bad input, naming summary', function()
    local m = net()
    local q = function() end
    contains(errmsg(m.summary, m, 'x', { print_fn = q }), "summary: the input must be a tensor or a list of sizes, such as {32, 784}, got 'x'")
    contains(errmsg(m.summary, m, { 2, -1 }, { print_fn = q }), 'summary: the input must be a tensor or a list of sizes, got a size -1')
    contains(errmsg(m.summary, m, { 2, 5 }, { print_fn = q }), 'summary: the forward of an input of shape [2, 5] failed: ')
    contains(errmsg(m.summary, m, { 2, 4 }, { print_fn = 3 }), 'summary: expected print_fn as a function of a line')
    contains(errmsg(m.summary, m, { 2, 4 }, { expand = true }), "summary: unknown option 'expand'")
    contains(errmsg(m.summary, m, { 2, 4 }, { dtype = 'half', print_fn = q }), "summary: unknown dtype 'half'")
    assert.is_true(m[2].training)                       -- the failed forward put the modes back
  end)
end)

describe('nn.ModuleDict, nn.ParameterList and nn.ParameterDict', function()
  local g = dofile(S.root .. '/tests/golden/containers.lua')
  local Net = nn.Module:extend('ContainersNet')
  function Net:init()
    self.heads = nn.ModuleDict { { 'a', nn.Linear(2, 2) }, { 'b', nn.Sequential(nn.Linear(2, 3), nn.ReLU()) },
                                 { 'bn', nn.BatchNorm1d(3) } }
    self.scales = nn.ParameterList { nl.randn(2), nl.randn(3) }
    self.extra = nn.ParameterDict { shift = nl.randn(3), gain = nl.randn(1) }
  end
  function Net:forward(x)
    local a = self.heads.a(x) * self.scales[1]
    local b = self.heads.bn(self.heads.b(a)) * self.scales[2] + self.extra.shift
    return b * self.extra.gain
  end

  it("have PyTorch 1.13's state dict names and parameter order, and its forward and gradients", function()
    local m = Net()
    local sd, want_names = {}, {}
    for _, s in ipairs(g.state) do
      sd[s.name] = S.from_golden(s.t)
      want_names[#want_names + 1] = s.name
    end
    local names = m:state_names()
    table.sort(names)
    table.sort(want_names)
    assert.are.same(want_names, names)
    m:load_state_dict(sd)                                  -- strict: the names match
    local pnames = {}
    for _, kv in ipairs(m:named_parameters()) do pnames[#pnames + 1] = kv[1] end
    local gnames = {}
    for i, gp in ipairs(g.params) do gnames[i] = gp.name end
    assert.are.same(gnames, pnames)
    m:eval()
    local out = m(S.from_golden(g.x))
    S.expect_close(out, S.from_golden(g.out), 'forward', 1e-6, 1e-6)
    out:sum():backward()
    local params = {}
    for _, kv in ipairs(m:named_parameters()) do params[kv[1]] = kv[2] end
    for _, p in ipairs(g.params) do S.expect_close(params[p.name].grad, S.from_golden(p.grad), p.name, 1e-5, 1e-6) end
  end)

  it('ModuleDict keeps its keys in order, pops, updates, and refuses method names', function()
    local a, b, c = nn.Linear(1, 1), nn.ReLU(), nn.Tanh()
    local md = nn.ModuleDict { { 'z', a }, { 'y', b } }
    assert.are.same({ 'z', 'y' }, md:keys())
    assert.are.equal(2, md:size())
    assert.are.equal(a, md.z)
    md.x = c
    assert.are.same({ 'z', 'y', 'x' }, md:keys())
    assert.are.equal(b, md:pop('y'))
    md:update { y = b }                                    -- a table by name: its keys sorted
    assert.are.same({ 'z', 'x', 'y' }, md:keys())
    assert.are.same({ { 'z', a }, { 'x', c }, { 'y', b } }, md:items())
    assert.are.same({ a, c, b }, md:values())
    assert.is_true(md:contains('x'))
    assert.is_false(md:contains('w'))
    md.z = nil
    assert.are.same({ 'x', 'y' }, md:keys())
    assert.are.same({ 'x', 'y' }, nn.ModuleDict { y = b, x = c }:keys())
    assert.are.equal(0, md:clear():size())
    assert.are.same({}, md:state_dict())
    contains(errmsg(function() md.keys = nn.ReLU() end), "ModuleDict: the key 'keys' names an attribute of the ModuleDict")
    contains(errmsg(md.update, md, { training = nn.ReLU() }), "ModuleDict: the key 'training' names an attribute")
    contains(errmsg(nn.ModuleDict, { a = 3 }), "ModuleDict: the value of 'a' must be a module, got 3")
    contains(errmsg(nn.ModuleDict, { { 'a' } }), 'ModuleDict: item 1 of the list must be a {name, module} pair')
    contains(errmsg(nn.ModuleDict, { [3] = nn.ReLU(), a = nn.ReLU() }), 'ModuleDict: keys must be strings (or give a list of {name, module} pairs), got 3')
    contains(errmsg(nn.ModuleDict, { ['a.b'] = nn.ReLU() }), "ModuleDict: a key must be a non-empty string without dots, got 'a.b'")
    contains(errmsg(md.pop, md, 'w'), "ModuleDict:pop: no module under the key 'w'")
    contains(errmsg(md.forward, md), 'ModuleDict: a dict has no forward')
  end)

  it('ParameterList and ParameterDict make tensors parameters over the same memory, and refuse others', function()
    local t = nl.zeros(2)
    local pl = nn.ParameterList { t }
    assert.is_true(pl[1].is_requires_grad)
    assert.is_false(t.is_requires_grad)                    -- the caller's own flag, as PyTorch's Parameter(t)
    nl.no_grad(function() pl[1]:fill_(3) end)
    assert.are.same({ 3, 3 }, t:totable())                 -- the same memory
    local p = nl.ones(3):requires_grad()
    pl:append(p)
    assert.are.equal(p, pl[2])                             -- a parameter already: kept
    pl:extend { nl.ones(1), nl.ones(1, 1) }
    assert.are.equal(4, #pl)
    assert.are.same({ '0', '1', '2', '3' }, S.names_of(pl:named_parameters()))
    assert.are.same({ 2, 3, 1, 1 }, { pl[1]:numel(), pl[2]:numel(), pl[3]:numel(), pl[4]:numel() })
    contains(errmsg(function() pl[7] = nl.ones(1) end), 'ParameterList: index 7 out of range for a list of 4 (1 to 4, or 5 to append)')
    contains(errmsg(pl.append, pl, 'x'), "ParameterList: item 5 must be a tensor, got 'x'")
    contains(errmsg(pl.append, pl, nl.ones(2, 'int64')), 'ParameterList: item 5 is an int64 tensor')
    contains(errmsg(nn.ParameterList, { a = nl.ones(1) }), 'ParameterList: expected a list of tensors')
    local pd = nn.ParameterDict { { 'w', nl.ones(2) }, { 'b', nl.zeros(1) } }
    assert.are.same({ 'w', 'b' }, pd:keys())
    pd.c = nl.ones(3)
    assert.is_true(pd.c.is_requires_grad)
    assert.are.same({ 'w', 'b', 'c' }, S.names_of(pd:named_parameters()))
    pd:pop('w')
    assert.are.same({ 'b', 'c' }, pd:keys())
    contains(errmsg(function() pd.update = nl.ones(1) end), "ParameterDict: the key 'update' names an attribute")
    contains(errmsg(nn.ParameterDict, { a = 'x' }), "ParameterDict: the value of 'a' must be a tensor, got 'x'")
    -- a model holding them saves, loads and clones
    local m = Net()
    local path = dir .. '/containers.st'
    m:save(path)
    local back = nn.load(path)
    for k, v in pairs(m:state_dict()) do assert.are.same(v:totable(), back:state_dict()[k]:totable(), k) end
    assert.are.same(m.heads:keys(), back.heads:keys())
    assert.are.same(m.extra:keys(), back.extra:keys())
    local c = m:clone()
    assert.are_not.equal(m.scales[1], c.scales[1])
    assert.are.same(m.scales[2]:totable(), c.scales[2]:totable())
  end)

  -- PyTorch's negative indices, as Sequential's: pl[-1] read nil and
  -- pl[-1] = t was refused as out of range
  it('ParameterList takes negative indices, read and replaced, and refuses 0 and fractions', function()
    local a, b, c = nl.ones(2), nl.zeros(3), nl.full({ 4 }, 2)
    local pl = nn.ParameterList { a, b, c }
    assert.are.same({ 2, 2, 2, 2 }, pl[-1]:totable())      -- the last, as PyTorch's pl[-1]
    assert.are.same({ 0, 0, 0 }, pl[-2]:totable())
    assert.are.same({ 1, 1 }, pl[-3]:totable())
    pl[-1] = nl.full({ 5 }, 7)                             -- replaces the last, a parameter as pl[3] = t
    assert.are.equal(3, #pl)
    assert.are.same({ 7, 7, 7, 7, 7 }, pl[3]:totable())
    assert.is_true(pl[3].is_requires_grad)
    local sd = pl:state_dict()
    assert.are.same({ '0', '1', '2' }, S.names_of(pl:named_parameters()))
    assert.are.equal(5, sd['2']:numel())
    pl[-3] = nl.full({ 1 }, 9)
    assert.are.same({ 9 }, pl[1]:totable())
    contains(errmsg(function() return pl[0] end),
             "ParameterList: index 0 is not an item: items count from 1 (PyTorch's [0] is [1] here)")
    contains(errmsg(function() pl[0] = nl.ones(1) end), 'ParameterList: index 0 is not an item')
    contains(errmsg(function() return pl[1.5] end), 'ParameterList: index 1.5 is not an item')
    contains(errmsg(function() return pl[-4] end), 'ParameterList: index -4 out of range for 3 items')
    contains(errmsg(function() pl[-4] = nl.ones(1) end), 'ParameterList: index -4 out of range for 3 items')
    assert.is_nil(pl[4])                                   -- past the end reads nil, as before
  end)
end)
