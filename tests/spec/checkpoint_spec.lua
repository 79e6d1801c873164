-- Checkpoints: model:save(path, [{optimizer, extra}]) and nn.load(path,
-- [model]). A saved model comes back bit for bit (layers, buffers, a custom
-- class); an optimizer's state resumes a run exactly; weights cross to and
-- from PyTorch (tests/golden/gen_checkpoint.py, and a file written here that
-- torch reads by hand when /usr/bin/python3 has torch); truncated, garbage,
-- missing and mismatched files raise Lua errors naming the problem, and a
-- failed save leaves the earlier checkpoint as it was.
local nl = require 'nnlua'
local S = require 'support'
local nn, optim = nl.nn, nl.optim
local F = nn.functional

local q, read, write, errmsg, contains = S.q, S.read, S.write, S.errmsg, S.contains
local dir = S.tmpdir()

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

-- runs a shell command; returns its stdout+stderr and exit status
local function sh(cmd)
  local p = assert(io.popen('{ ' .. cmd .. '; } 2>&1; echo "__rc=$?"'))
  local out = p:read('*a')
  p:close()
  local rc = tonumber(out:match('__rc=(%d+)\n$'))
  return (out:gsub('__rc=%d+\n$', '')), rc
end

-- runs a Lua script in a child luajit that finds nnlua in this tree
local function child(script)
  local path = write(os.tmpname() .. '.lua', S.path_prelude .. script)
  local out, rc = sh('luajit ' .. q(path))
  os.remove(path)
  return out, rc
end

-- a tensor of the given shape filled from our own LCG (not nl.rand)
local function data(shape, seed, lo, hi)
  local r = S.rng(seed)
  return nl.tensor(S.nested(shape, function() return r(lo, hi) end))
end

-- int64 ids in 1..n
local function ids(rows, cols, n, seed)
  local r = S.rng(seed)
  return nl.tensor(S.nested({ rows, cols }, function() return math.floor(r(0, 1) * n) % n + 1 end), 'int64')
end

local function maxdiff(a, b) return (a - b):abs():max():item() end

-- every state-dict tensor of a and b: same names, dtypes, shapes, bits
local function assert_same_state(a, b)
  local sa, sb = a:state_dict(), b:state_dict()
  local na, nb = a:state_names(), b:state_names()
  table.sort(na)
  table.sort(nb)
  assert.are.same(na, nb)
  for _, name in ipairs(na) do
    local x, y = sa[name], sb[name]
    assert.are.equal(x:dtype(), y:dtype(), name)
    assert.are.same(x:shape(), y:shape(), name)
    assert(maxdiff(x, y) == 0, name .. ' differs after the round trip')
  end
end

-- a custom class with a parameter, a buffer, a child module and options
local Gate = nn.Module:extend('CheckpointSpecGate')
function Gate:init(n, opts)
  self.n = n
  self.alpha = (opts and opts.alpha) or 1
  self.scale = nl.randn(n):requires_grad()
  self:register_buffer('shift', nl.randn(n))
  self.proj = nn.Linear(n, 3)
end
function Gate:forward(x)
  return self.proj((x * self.scale + self.shift):tanh() * self.alpha)
end

local function mixed_model()
  return nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 8), nn.BatchNorm1d(8), nn.ReLU(),
                       Gate(8, { alpha = 0.5 }))
end

describe('checkpoint round trip', function()
  local model, path, x
  setup(function()
    nl.manual_seed(11)
    model = mixed_model()
    x = ids(6, 3, 10, 3)
    -- a few steps so the weights, running stats and the step counter move
    local opt = optim.SGD(model:parameters(), { lr = 0.1 })
    local target = data({ 6, 3 }, 4)
    for _ = 1, 3 do
      opt:zero_grad()
      F.mse_loss(model(x), target):backward()
      opt:step()
    end
    path = dir .. '/mixed.safetensors'
    assert.are.equal(path, model:save(path))
  end)

  it('rebuilds the model with nn.load, every tensor bit-identical', function()
    local m2 = nn.load(path)
    assert_same_state(model, m2)
    assert.are.equal(3, m2:state_dict()['3.num_batches_tracked']:item())
    assert.are.equal('int64', m2:state_dict()['3.num_batches_tracked']:dtype())
    -- the structure: the same classes with their constructor options
    assert.are.equal(6, #m2)
    local gate = m2[6]
    assert.are.equal('CheckpointSpecGate', gate.__name)
    assert.are.equal(0.5, gate.alpha)
    assert.are.equal(8, gate.n)
    assert.are.equal(model:num_parameters(), m2:num_parameters())
  end)

  it('leaves the random generator as it was: the draws after nn.load are those without it', function()
    nl.manual_seed(7)
    local want = nl.rand(16)
    nl.manual_seed(7)
    nn.load(path)                       -- (its constructors draw initial weights)
    assert.is_true(nl.equal(want, nl.rand(16)))
  end)

  it('gives identical outputs, and the loaded parameters train', function()
    local m2 = nn.load(path)
    model:eval()
    m2:eval()
    local a, b = model(x), m2(x)
    model:train()
    assert.are.same({ 6, 3 }, b:shape())
    assert(maxdiff(a, b) == 0, 'outputs differ after loading')
    m2:train()
    local params = m2:parameters()
    assert.are.equal(#model:parameters(), #params)
    F.mse_loss(m2(x), data({ 6, 3 }, 4)):backward()
    for i, p in ipairs(params) do
      assert(p.is_requires_grad and p:is_leaf(), 'parameter ' .. i .. ' is not a trainable leaf')
      assert(p.grad ~= nil, 'parameter ' .. i .. ' got no gradient')
    end
  end)

  it('nn.load(path, model) fills an existing model of the same structure', function()
    nl.manual_seed(99)
    local fresh = mixed_model()
    assert(maxdiff(fresh:state_dict()['2.weight'], model:state_dict()['2.weight']) > 0)
    local same, extras = nn.load(path, fresh)
    assert.are.equal(fresh, same)
    assert.are.same({}, extras)
    assert_same_state(model, fresh)
  end)

  it('names the class when it is not defined in the loading process', function()
    local out = child(([[
local nl = require 'nnlua'
local ok, err = pcall(nl.nn.load, %q)
print(ok, err)
]]):format(path))
    contains(out, 'false')
    contains(out, 'CheckpointSpecGate')
    contains(out, 'not defined')
  end)

  it('holds data only: Lua code in the metadata is never run', function()
    -- a model structure and extras whose strings are Lua code; loading
    -- either reads them as names and values, and runs none of them
    local marker = dir .. '/ran'
    local code = ('os.execute("touch %s")'):format(marker)
    local p = dir .. '/code.safetensors'
    nn.Linear(2, 2):save(p, { extra = { note = code } })
    local t, meta = nl.load_safetensors(p)
    meta.model = meta.model:gsub('"Linear"', ('"%s"'):format(code:gsub('"', '\\"')))
    nl.save_safetensors(dir .. '/code2.safetensors', t, meta)
    local _, extras = nn.load(p)
    assert.are.equal(code, extras.extra.note)
    local ok, err = pcall(nn.load, dir .. '/code2.safetensors')
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find('not defined', 1, true), err)
    assert.is_nil(io.open(marker, 'r'), 'the code in the checkpoint ran')
  end)

  it('keeps extra values and tensors', function()
    local p = dir .. '/extra.safetensors'
    model:save(p, { extra = { epoch = 7, note = 'best "so far"', best = nl.tensor({ 1.5, -2 }, 'float64'),
                              list = { 3, 4 } } })
    local _, extras = nn.load(p)
    assert.are.equal(7, extras.extra.epoch)
    assert.are.equal('best "so far"', extras.extra.note)
    assert.are.same({ 3, 4 }, extras.extra.list)
    assert.are.equal('float64', extras.extra.best:dtype())
    assert.are.same({ 1.5, -2 }, extras.extra.best:totable())
  end)

  -- -0 came back as 0 (the JSON was '0'; Python's json writes -0.0)
  it('keeps -0 in extra values', function()
    local p = dir .. '/negzero.safetensors'
    model:save(p, { extra = { z = -0.0, list = { 1, -0.0 } } })
    local _, extras = nn.load(p)
    assert.are.equal(-math.huge, 1 / extras.extra.z)
    assert.are.equal(-math.huge, 1 / extras.extra.list[2])
    local py = write(dir .. '/read_negzero.py', [==[
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
print("Z", repr(json.loads(json.loads(raw[8:8 + n])["__metadata__"]["extra"])["z"]))
]==])
    local out, rc = sh('/usr/bin/python3 ' .. q(py) .. ' ' .. q(p))
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find('Z -0.0', 1, true), out)
  end)

  -- a table holding itself gave a bare 'stack overflow' and a function
  -- 'json: cannot encode a function', naming neither save nor where
  it('refuses a cycle or a function in extra values, naming where', function()
    local cyc = { epoch = 1 }
    cyc.inner = { back = cyc }
    local q2 = dir .. '/never_cycle.safetensors'
    contains(errmsg(model.save, model, q2, { extra = cyc }),
             "save: '__extra__.inner.back' holds itself (a cycle in the table): only trees of tables can be saved")
    contains(errmsg(model.save, model, q2, { extra = { f = print } }),
             "save: '__extra__.f' is a function; only tensors, numbers, strings, booleans and tables of them")
    assert.is_nil(io.open(q2))
  end)

  -- a diverging run's history holds NaN and infinities: they once stopped
  -- the save (and with it fit's checkpoint) with "json: cannot encode nan"
  it('keeps NaN and infinite extra values, in the metadata as the json module of Python writes them', function()
    local p = dir .. '/nan.safetensors'
    model:save(p, { extra = { loss = { 0.5, 0 / 0, math.huge }, best = -math.huge } })
    local _, extras = nn.load(p)
    local l = extras.extra.loss
    assert.are.equal(3, #l)
    assert.are.equal(0.5, l[1])
    assert.is_true(l[2] ~= l[2])
    assert.are.equal(math.huge, l[3])
    assert.are.equal(-math.huge, extras.extra.best)
    -- Python reads the metadata's JSON with its json module, NaN included
    local py = write(dir .. '/read_nan.py', [==[
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
extra = json.loads(json.loads(raw[8:8 + n])["__metadata__"]["extra"])
print("BEST", extra["best"], "LOSS", sorted(str(v) for v in extra["loss"].values()))
]==])
    local out, rc = sh('/usr/bin/python3 ' .. q(py) .. ' ' .. q(p))
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find("BEST -inf LOSS ['0.5', 'inf', 'nan']", 1, true), out)
  end)
end)

describe('checkpoint optimizer state', function()
  local function make() return nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 2)) end
  local batches = {}
  for i = 1, 8 do batches[i] = { data({ 8, 5 }, 100 + i), data({ 8, 2 }, 200 + i) } end
  local function step(m, opt, i)
    opt:zero_grad()
    F.mse_loss(m(batches[i][1]), batches[i][2]):backward()
    opt:step()
  end
  local HP = { lr = 0.01, betas = { 0.8, 0.95 }, amsgrad = true, weight_decay = 1e-3 }

  it('resumes Adam exactly: 5 more steps give identical parameters', function()
    nl.manual_seed(21)
    local m = make()
    local opt = optim.Adam(m:parameters(), HP)
    for i = 1, 3 do step(m, opt, i) end
    local path = dir .. '/adam.safetensors'
    m:save(path, { optimizer = opt })

    local m2, extra = nn.load(path)
    assert.is_table(extra.optimizer)
    -- created with the defaults: the hyperparameters come from the checkpoint
    local opt2 = optim.Adam(m2:parameters())
    opt2:load_state_dict(extra.optimizer)
    local g = opt2.param_groups[1]
    assert.are.equal(0.01, g.lr)
    assert.are.same({ 0.8, 0.95 }, g.betas)
    assert.is_true(g.amsgrad)
    assert.are.equal(1e-3, g.weight_decay)
    assert.are.equal(3, opt2.state[1].step)

    -- a control: the same weights with a fresh Adam do not follow the run
    local m3 = nn.load(path)
    local opt3 = optim.Adam(m3:parameters(), HP)
    for i = 4, 8 do
      step(m, opt, i)
      step(m2, opt2, i)
      step(m3, opt3, i)
    end
    assert_same_state(m, m2)
    assert(maxdiff(m:state_dict()['0.weight'], m3:state_dict()['0.weight']) > 1e-6,
           'a fresh optimizer gives the same weights: the check cannot tell')
  end)
end)

describe('checkpoint PyTorch interchange', function()
  local golden = dofile(S.root .. '/tests/golden/torch_mlp.lua')
  local torch_file = S.root .. '/tests/golden/torch_mlp.safetensors'

  local function assert_close(got, want, what)
    assert.are.same({ #want, #want[1] }, got:shape())
    local g = got:totable()
    for i = 1, #want do
      for j = 1, #want[i] do
        assert(S.close(g[i][j], want[i][j], 1e-5, 1e-6),
               ('%s[%d][%d]: got %.9g, want %.9g'):format(what, i, j, g[i][j], want[i][j]))
      end
    end
  end

  it('loads a state_dict that PyTorch wrote into the equivalent model', function()
    nl.manual_seed(5)
    local model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    local x = nl.tensor(golden.input)
    local before = model(x):totable()
    assert(not S.close(before[1][1], golden.output[1][1], 1e-3, 0), 'the untrained model already matches')
    local m, extras = nn.load(torch_file, model)
    assert.are.equal(model, m)
    assert.are.same({}, extras)
    assert_close(model(x), golden.output, 'output')
  end)

  it('asks for a model when the file has no nnlua structure', function()
    local msg = errmsg(nn.load, torch_file)
    contains(msg, 'torch_mlp.safetensors')
    contains(msg, 'nn.load(path, model)')
  end)

  it('writes a checkpoint that torch loads with load_state_dict(strict=True)', function()
    if os.execute("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") ~= 0 then
      pending('python3-torch is absent')
      return
    end
    nl.manual_seed(8)
    local model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    local opt = optim.SGD(model:parameters(), { lr = 0.1 })
    for i = 1, 3 do    -- moves the weights and the running statistics
      opt:zero_grad()
      F.mse_loss(model(data({ 10, 6 }, 30 + i)), data({ 10, 3 }, 40 + i)):backward()
      opt:step()
    end
    model:eval()
    local x = data({ 4, 6 }, 77, -2, 2)
    local want = model(x):totable()
    local path = dir .. '/for_torch.safetensors'
    model:save(path, { optimizer = opt })     -- __optim__ tensors are not model weights

    local py = write(dir .. '/read.py', [==[
import json, struct, sys
import torch
path, xs = sys.argv[1], json.loads(sys.argv[2])
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
types = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
sd = {}
for name, h in header.items():
    if name == "__metadata__" or name.startswith("__optim__."):
        continue
    a, b = h["data_offsets"]
    t = torch.frombuffer(bytearray(data[a:b]), dtype=types[h["dtype"]]) if b > a else torch.zeros(0)
    sd[name] = t.reshape(h["shape"]).clone()
m = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
m.load_state_dict(sd, strict=True)
m.eval()
with torch.no_grad():
    out = m(torch.tensor(xs, dtype=torch.float32))
print("OUT", json.dumps(out.tolist()))
print("NBT", int(m[1].num_batches_tracked))
]==])
    local xs = {}
    for i, row in ipairs(x:totable()) do
      local r = {}
      for j, v in ipairs(row) do r[j] = ('%.17g'):format(v) end
      xs[i] = '[' .. table.concat(r, ',') .. ']'
    end
    local out, rc = sh('/usr/bin/python3 ' .. q(py) .. ' ' .. q(path) .. ' ' .. q('[' .. table.concat(xs, ',') .. ']'))
    assert.are.equal(0, rc, out)
    local got = assert(out:match('OUT (%b[])'), out)
    local rows = {}
    for r in got:sub(2, -2):gmatch('%b[]') do
      local row = {}
      for v in r:gmatch('[^%[%],%s]+') do row[#row + 1] = tonumber(v) end
      rows[#rows + 1] = row
    end
    assert.are.equal('3', out:match('NBT (%d+)'))
    assert_close(nl.tensor(rows), want, 'torch output')
  end)
end)

-- a custom class built from a list of modules and an activation by name or
-- as a function (a function cannot be written into the file)
local Stack = nn.Module:extend('CheckpointSpecStack')
function Stack:init(layers, act)
  self.layers = nn.ModuleList(layers)
  self.act = act
end
function Stack:forward(x)
  for _, l in ipairs(self.layers) do
    x = l(x)
    if self.act == 'tanh' then x = x:tanh() elseif type(self.act) == 'function' then x = self.act(x) end
  end
  return x
end

describe('checkpoint structure', function()
  -- a module used twice was written twice and rebuilt as two: the loaded
  -- model had 4 parameters where it had 2, trained them apart, and took
  -- no optimizer state saved with it
  it('keeps a module used twice as one module, in Sequential and inside a custom class', function()
    nl.manual_seed(5)
    local l = nn.Linear(3, 3)
    local m = nn.Sequential(l, nn.ReLU(), l)
    local opt = optim.Adam(m:parameters(), { lr = 0.01 })
    local x = data({ 4, 3 }, 1)
    for _ = 1, 2 do
      opt:zero_grad()
      m(x):sum():backward()
      opt:step()
    end
    local p = dir .. '/tied.safetensors'
    m:save(p, { optimizer = opt })
    local m2, extras = nn.load(p)
    assert.are.equal(2, #m2:parameters())
    assert.is_true(rawequal(m2[1], m2[3]))
    assert.are.equal(0, maxdiff(m(x), m2(x)))
    local opt2 = optim.Adam(m2:parameters(), { lr = 0.01 })
    opt2:load_state_dict(extras.optimizer)
    for _, pair in ipairs({ { opt, m }, { opt2, m2 } }) do
      pair[1]:zero_grad()
      pair[2](x):sum():backward()
      pair[1]:step()
    end
    assert_same_state(m, m2)

    local shared = nn.Linear(3, 3)
    local s = Stack({ shared, nn.Linear(3, 3), shared }, 'tanh')
    local p2 = dir .. '/stack.safetensors'
    s:save(p2)
    local s2 = nn.load(p2)
    assert.are.equal('tanh', s2.act)
    assert.are.equal(3, #s2.layers)
    assert.is_true(rawequal(s2.layers[1], s2.layers[3]))
    assert.are.equal(4, #s2:parameters())
    assert.are.equal(0, maxdiff(s(x), s2(x)))
  end)

  -- a weight tied after the model was built (an embedding's weight given
  -- to the output layer, as language models tie them) came back as two
  -- tensors from nn.load(path) and clone: 4 parameters where there were 3,
  -- trained apart. A constructor's tie the saved model had undone loaded
  -- both weights into one tensor, the second over the first.
  it('keeps weights tied after building tied, and ties undone apart, in nn.load and clone', function()
    nl.manual_seed(6)
    local e, out = nn.Embedding(5, 3), nn.Linear(3, 5, { bias = false })
    out.weight = e.weight
    local m = nn.Sequential(e, nn.Linear(3, 3), out):double()
    m[2].bias:requires_grad(false)
    local p = dir .. '/tied_after.safetensors'
    m:save(p)
    local idx = nl.tensor({ { 1, 4 }, { 5, 2 } }, 'int64')
    -- one SGD step of m's: its one tensor moved by both layers' gradients
    m:zero_grad()
    m(idx):pow(2):sum():backward()
    local want = nl.no_grad(function() return m[1].weight - m[1].weight.grad * 0.01 end)
    assert.are.equal(3, #m:parameters())
    for _, m2 in ipairs({ (nn.load(p)), m:clone() }) do
      assert.are.equal(3, #m2:parameters())
      assert.is_true(m2[1].weight.ptr == m2[3].weight.ptr)
      assert.is_false(m2[1].weight.ptr == m[1].weight.ptr)
      assert.are.equal('float64', m2[3].weight:dtype())
      assert.is_true(m2[3].weight.is_requires_grad)
      assert.is_false(m2[2].bias.is_requires_grad)
      assert.are.equal(0, maxdiff(m(idx), m2(idx)))
      m2:zero_grad()
      m2(idx):pow(2):sum():backward()
      nl.no_grad(function()
        for _, q in ipairs(m2:parameters()) do if q.grad then q:sub_(q.grad * 0.01) end end
      end)
      assert.are.equal(0, maxdiff(want, m2[1].weight))
      assert.are.equal(0, maxdiff(m2[1].weight, m2[3].weight))
    end
    -- tied by its constructor, then given a weight of its own
    local Tie = nn.Module:extend('CheckpointSpecTie')
    function Tie:init(n)
      self.a, self.b = nn.Linear(n, n), nn.Linear(n, n)
      self.b.weight = self.a.weight
    end
    function Tie:forward(x) return self.b(self.a(x)) end
    local t = Tie(3)
    assert.are.equal(3, #t:parameters())
    t.b.weight = nn.Parameter(nl.randn(3, 3))
    local pt = dir .. '/untied.safetensors'
    t:save(pt)
    for _, t2 in ipairs({ (nn.load(pt)), t:clone() }) do
      assert.are.equal(4, #t2:parameters())
      assert_same_state(t, t2)
    end
  end)

  -- constructors build float32; the saved float64 weights were copied into
  -- them and rounded
  it('gives a float64 model back in float64, bit for bit', function()
    local m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)):double()
    nl.no_grad(function() m[1].weight:fill_(0.1) end)
    local p = dir .. '/double.safetensors'
    m:save(p)
    local m2 = nn.load(p)
    assert_same_state(m, m2)
    assert.are.equal(0.1, m2[1].weight[1][1])
    assert.is_true(m2[1].weight.is_requires_grad)
    assert.are.equal(2, #m2[2]:parameters())
    local x = nl.tensor({ { 1, 2 }, { 3, 5 } }, 'float64')
    assert.are.equal('float64', m2(x):dtype())
  end)

  -- a function as a constructor argument stopped the save with "json:
  -- cannot encode a function", and no weights were written
  it('saves the weights of a model it cannot rebuild, and nn.load(path) says why it needs the model', function()
    local s = Stack({ nn.Linear(3, 2) }, nl.relu)
    local p = dir .. '/fn.safetensors'
    s:save(p)
    local msg = errmsg(nn.load, p)
    contains(msg, p)
    contains(msg, "CheckpointSpecStack's constructor argument 2 is a function")
    contains(msg, 'nn.load(path, model)')
    local s2 = nn.load(p, Stack({ nn.Linear(3, 2) }, nl.relu))
    assert_same_state(s, s2)
  end)

  it('clone gives a copy with its own tensors: same outputs, dtypes, flags, frozen and tied parameters', function()
    nl.manual_seed(8)
    local l = nn.Linear(3, 3)
    local m = nn.Sequential(l, nn.BatchNorm1d(3), nn.Dropout(0.2), l):double()
    m[2].weight:requires_grad(false)
    local x = data({ 4, 3 }, 1):double()
    m(x)                                   -- the running stats move off their start
    m:eval()
    local c = m:clone()
    assert.are.equal(0, maxdiff(m(x), c(x)))
    assert_same_state(m, c)
    assert.are.equal('float64', c[1].weight:dtype())
    assert.is_false(c.training or c[3].training)
    assert.is_false(c[2].weight.is_requires_grad)
    assert.is_true(rawequal(c[1], c[4]))
    assert.are.equal(4, #c:parameters())      -- the Linear once, and the BatchNorm
    -- its own tensors: a change to the copy leaves the original as it was
    local before = m[1].weight:clone()
    nl.no_grad(function() c[1].weight:fill_(7) end)
    assert.are.equal(0, maxdiff(before, m[1].weight))
    local s = Stack({ nn.Linear(3, 2) }, 'tanh'):clone()
    assert.are.equal('tanh', s.act)
    -- a buffer registered persistent = false is not in the state dict: the
    -- copy had the constructor's values, in float32
    local Scaler = nn.Module:extend('CheckpointSpecScaler')
    function Scaler:init(n) self.lin = nn.Linear(n, n); self:register_buffer('scale', nl.ones(n), false) end
    local sc = Scaler(3):double()
    sc.scale:fill_(5)
    local sc2 = sc:clone()
    assert.are.same({ 5, 5, 5 }, sc2.scale:totable())
    assert.are.equal('float64', sc2.scale:dtype())
    assert.is_false(rawequal(sc.scale, sc2.scale))
    assert.are.equal('transient', sc2._buffers.scale)
  end)

  it('clone refuses a model it cannot rebuild, saying why', function()
    contains(errmsg(function() return Stack({ nn.Linear(3, 2) }, nl.relu):clone() end),
             "clone: CheckpointSpecStack cannot be rebuilt (CheckpointSpecStack's constructor argument 2 is a function)")
    local d = nn.Dropout(0.3)
    d.p = 0.5
    contains(errmsg(d.clone, d), 'clone: the original model was changed after it was built (the model is a '
                    .. 'Dropout(p=0.5, inplace=False) in it, a Dropout(p=0.3, inplace=False) when rebuilt from its constructor)')
  end)

  -- a loss's class weight went into the structure as a tensor, which JSON
  -- cannot hold: CrossEntropyLoss{weight = w} could be neither cloned nor
  -- rebuilt by nn.load(path); it is recorded by shape and the state dict
  -- gives the values back
  it('clones and rebuilds losses built with class weights, each with its own weight', function()
    local x = data({ 5, 3 }, 2):double()
    local y = nl.tensor({ 1, 2, 3, 1, 3 }, 'int64')
    local crits = {
      nn.CrossEntropyLoss({ weight = nl.tensor({ 1, 2, 0.5 }):double(), ignore_index = 2 }),
      nn.NLLLoss({ weight = nl.tensor({ 3, 1, 2 }):double(), reduction = 'sum' }),
      nn.MultiMarginLoss({ weight = nl.tensor({ 1, 2, 3 }):double(), margin = 2 }),
    }
    for i, crit in ipairs(crits) do
      -- the weighted loss by its definition: sum of w[y] l / sum of w[y] (CE)
      local want = crit(x, y):item()
      local p = dir .. '/crit' .. i .. '.safetensors'
      crit:save(p)
      for _, copy in ipairs({ crit:clone(), (nn.load(p)) }) do
        assert.are.equal(crit.__name, copy.__name)
        assert.are.equal(want, copy(x, y):item())
        assert.are.same(crit.weight:totable(), copy.weight:totable())
        assert.are.equal('float64', copy.weight:dtype())
        assert.is_false(rawequal(crit.weight, copy.weight))
      end
    end
    local w = nl.tensor({ 1, 2, 0.5 })
    local ce = nn.CrossEntropyLoss({ weight = w })
    local xs, ys = x:float(), y
    local lp = xs:log_softmax(2):totable()
    local num, den = 0, 0
    for r = 1, 5 do
      local c = ys:totable()[r]
      num = num - w:totable()[c] * lp[r][c]
      den = den + w:totable()[c]
    end
    assert.is_true(math.abs(ce:clone()(xs, ys):item() - num / den) < 1e-5)
    local b = nn.BCEWithLogitsLoss({ pos_weight = nl.tensor({ 2, 3 }) })
    local b2 = nn.load(b:save(dir .. '/bce.safetensors'))
    assert.are.same({ 2, 3 }, b2.pos_weight:totable())
    -- converted after it was built: the buffer is float64, the argument not
    local cd = nn.CrossEntropyLoss({ weight = nl.tensor({ 1, 2, 0.5 }) }):double():clone()
    assert.are.equal('float64', cd.weight:dtype())
    assert.are.equal(crits[1](x, y):item(), nn.CrossEntropyLoss({ weight = cd.weight, ignore_index = 2 })(x, y):item())
    -- a class of the user's that keeps a tensor argument is still refused:
    -- its constructor may do more with it than store it (it names none in
    -- _arg_buffers)
    local Keep = nn.Module:extend('CheckpointSpecKeep')
    function Keep:init(t) self:register_buffer('t', t) end
    contains(errmsg(function() return Keep(nl.ones(2)):clone() end),
             "CheckpointSpecKeep's constructor argument 1 is a tensor")
  end)

  -- extras and optimizer state go into tensor names joined with '.', and
  -- number keys k became '#k': {a = {b = x}} and {['a.b'] = y}, or 1 and
  -- '#1', gave one name, and one value was lost without a word
  it('keeps extra keys apart that once made the same tensor name', function()
    local p = dir .. '/keys.safetensors'
    nn.Linear(2, 2):save(p, { extra = { a = { b = nl.tensor({ 1 }) }, ['a.b'] = nl.tensor({ 2 }),
                                        [1] = nl.tensor({ 3 }), ['#1'] = nl.tensor({ 4 }),
                                        ['%2E'] = nl.tensor({ 5 }), ['.'] = 6 } })
    local _, extras = nn.load(p)
    local e = extras.extra
    assert.are.same({ 1 }, e.a.b:totable())
    assert.are.same({ 2 }, e['a.b']:totable())
    assert.are.same({ 3 }, e[1]:totable())
    assert.are.same({ 4 }, e['#1']:totable())
    assert.are.same({ 5 }, e['%2E']:totable())
    assert.are.equal(6, e['.'])
    contains(errmsg(nn.Linear(2, 2).save, nn.Linear(2, 2), p, { extra = { [1.5] = 1 } }), 'number key')
    -- big integer keys keep every digit ('#' .. k wrote 1.2345678901235e+14 for both)
    nn.Linear(2, 2):save(p, { extra = { [123456789012345] = 'a', [123456789012346] = 'b' } })
    local _, ex2 = nn.load(p)
    assert.are.equal('a', ex2.extra[123456789012345])
    assert.are.equal('b', ex2.extra[123456789012346])
    -- a file written before keys were escaped keeps its keys as they were:
    -- 'top5%acc' is not the escape %ac
    local t, meta = nl.load_safetensors(p)
    meta.format, meta.extra = 'nnlua-checkpoint-1', '{"top5%acc":1,"50%de":2,"a.b":3}'
    local old = dir .. '/format1.safetensors'
    nl.save_safetensors(old, t, meta)
    local m1, ex1 = nn.load(old)
    assert.are.same({ ['top5%acc'] = 1, ['50%de'] = 2, ['a.b'] = 3 }, ex1.extra)
    assert.are.equal(2, #m1:parameters())
    -- a key named as the tensor marker was read as a reference to a tensor
    nn.Linear(2, 2):save(p, { extra = { info = { __tensor__ = 'weight' }, o = { __tensor__ = 'x' } } })
    local _, ex3 = nn.load(p)
    assert.are.same({ info = { __tensor__ = 'weight' }, o = { __tensor__ = 'x' } }, ex3.extra)
  end)

  -- the rebuild replays the constructors: a layer replaced or a setting
  -- changed after construction came back as built, eval mode as training,
  -- a frozen parameter as trainable (PyTorch's pickle keeps all three)
  it('restores training flags and frozen parameters, and refuses a model changed after it was built', function()
    local p = dir .. '/changed.safetensors'
    local s = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.BatchNorm1d(3))
    s:eval()
    s[3]:train()
    s[1].weight:requires_grad(false)
    s:save(p)
    local s2 = nn.load(p)
    assert.is_false(s2.training)
    assert.is_false(s2[2].training)
    assert.is_true(s2[3].training)
    assert.is_false(s2[1].weight.is_requires_grad)
    assert.is_true(s2[1].bias.is_requires_grad)
    local Net = nn.Module:extend('CkptChangedNet')
    function Net:init(n)
      self.fc = nn.Linear(n, n)
      self.act = nn.ReLU()
    end
    function Net:forward(x) return self.act(self.fc(x)) end
    local net = Net(3)
    net.act = nn.Tanh()
    net:save(p)
    local msg = errmsg(nn.load, p)
    contains(msg, 'the saved model was changed after it was built (act is a Tanh() in the file, a ReLU() when rebuilt')
    contains(msg, 'pass the model: nn.load(path, model)')
    local n2 = Net(3)
    n2.act = nn.Tanh()
    assert.are.equal(n2, nn.load(p, n2))
    local d = nn.Dropout(0.5)
    d.p = 0.1
    d:save(p)
    contains(errmsg(nn.load, p), 'the model is a Dropout(p=0.1, inplace=False) in the file, a Dropout(p=0.5, inplace=False) when rebuilt')
    -- a user's class prints what it likes (its mode, a count): not compared
    local Counted = nn.Module:extend('CkptCounted')
    function Counted:init(n)
      self.lin = nn.Linear(n, n)
      self.steps = 0
    end
    function Counted:extra_repr() return ('training=%s, steps=%d'):format(tostring(self.training), self.steps) end
    local cm = Counted(2)
    cm.steps = 7
    cm:eval()
    cm:save(p)
    local cm2 = nn.load(p)
    assert.is_false(cm2.training)
    assert.is_false(cm2.lin.training)
  end)

  -- a child named 'a.0' beside a Sequential a gave two tensors one name:
  -- save and load lost one without a word
  it('refuses a module or parameter name with a dot', function()
    local Net = nn.Module:extend('CkptDottedNet')
    function Net:init()
      self.a = nn.Sequential(nn.Linear(2, 2))
      self['a.0'] = nn.Linear(2, 2)
    end
    contains(errmsg(Net), "CkptDottedNet: a module or parameter needs a non-empty name without dots, got 'a.0'")
    local l = nn.Linear(2, 2)
    contains(errmsg(function() l['w.x'] = nl.ones(2):requires_grad() end), "got 'w.x'")
    contains(errmsg(function() l[''] = nn.ReLU() end), "got ''")
    l['note.txt'] = nl.ones(2)               -- a plain tensor field is not in the state dict
    assert.are.equal(2, #l:parameters())
  end)

  it('names the file and the entry when its metadata is not valid JSON', function()
    local p = dir .. '/meta.safetensors'
    nn.Linear(2, 2):save(p, { optimizer = optim.SGD(nn.Linear(2, 2):parameters(), { lr = 0.1 }), extra = { a = 1 } })
    local t, meta = nl.load_safetensors(p)
    for _, key in ipairs({ 'model', 'optimizer', 'extra' }) do
      local m = {}
      for k, v in pairs(meta) do m[k] = v end
      m[key] = '{"args":['
      local bad = dir .. '/meta_' .. key .. '.safetensors'
      nl.save_safetensors(bad, t, m)
      local msg = errmsg(nn.load, bad, key ~= 'model' and nn.Linear(2, 2) or nil)
      contains(msg, bad)
      contains(msg, "metadata entry '" .. key .. "' is not valid JSON")
    end
    -- the base class cannot be built (it raised "attempt to call local 'cls'")
    local m = {}
    for k, v in pairs(meta) do m[k] = v end
    m.model = '{"type":"Module","args":[],"n":0}'
    nl.save_safetensors(dir .. '/base.safetensors', t, m)
    contains(errmsg(nn.load, dir .. '/base.safetensors'), 'nn.Module cannot be built')
  end)

  -- JSON that other tools write and nnlua's encoder never does: a null in
  -- a list shifted the later items down, and a surrogate pair came out as
  -- two 3-byte sequences (CESU-8), not the one 4-byte UTF-8 character
  it('reads metadata JSON with nulls in lists and surrogate pairs as Python writes them', function()
    local p = dir .. '/py_meta.safetensors'
    nl.save_safetensors(p, { weight = nl.ones(2, 2), bias = nl.zeros(2) },
                        { extra = '{"l": [1, null, 3], "s": "\\ud83d\\ude00\\u00e9"}' })
    local _, extras = nn.load(p, nn.Linear(2, 2))
    local l = extras.extra.l
    assert.are.equal(1, l[1])
    assert.is_nil(l[2])
    assert.are.equal(3, l[3])
    assert.are.equal('\240\159\152\128\195\169', extras.extra.s)
  end)

  -- the flag was ignored: a buffer PyTorch leaves out of its state dict
  -- was saved, and a strict load failed on either side
  it('leaves a buffer registered persistent = false out of the state dict and the checkpoint', function()
    local M = nn.Module:extend('CheckpointSpecMasked')
    function M:init()
      self.lin = nn.Linear(2, 2)
      self:register_buffer('mask', nl.ones(2), false)
      self:register_buffer('mask2', nl.ones(2), { persistent = false })
      self:register_buffer('keep', nl.full({ 2 }, 3))
    end
    local m = M()
    local names = m:state_names()
    table.sort(names)
    assert.are.same({ 'keep', 'lin.bias', 'lin.weight' }, names)
    assert.are.equal(3, #m:named_buffers())                 -- still buffers: they convert and move with the model
    assert.is_nil(m:state_dict().mask)
    local p = dir .. '/masked.safetensors'
    m:save(p)
    local t = nl.load_safetensors(p)
    assert.is_nil(t.mask)
    assert.is_nil(t.mask2)
    local sd = m:state_dict()
    M():load_state_dict(sd)                                  -- strict: no key missing
    assert_same_state(m, nn.load(p))
    assert.has_error(function() m:register_buffer('z', nl.ones(1), 'no') end,
      'register_buffer: expected a boolean persistent flag, got string')
  end)

  -- PyTorch gives a BatchNorm state dict without num_batches_tracked (older
  -- and converted checkpoints) a counter of 0; here it was a missing key
  it('loads a BatchNorm state dict without num_batches_tracked, the counter at 0', function()
    local b = nn.BatchNorm1d(3)
    b(data({ 4, 3 }, 2))
    assert.are.equal(1, b.num_batches_tracked:item())
    local sd = b:state_dict()
    sd.num_batches_tracked = nil
    b:load_state_dict(sd)
    assert.are.equal(0, b.num_batches_tracked:item())
    sd.running_mean = nil
    contains(errmsg(b.load_state_dict, b, sd), 'missing keys {running_mean}')
  end)

  -- nn.Flatten(1, 3) printed as Flatten(), as the default does
  it("prints Flatten's dims, as PyTorch's repr does", function()
    contains(tostring(nn.Flatten(1, 3)), 'Flatten(start_dim=1, end_dim=3)')
    contains(tostring(nn.Flatten()), 'Flatten(start_dim=2, end_dim=-1)')
  end)

  -- the temporary file's name added ".tmp-<pid>-<n>" to the last
  -- component, past the 255 bytes a name may have
  it('saves to a file whose name is 250 bytes long, leaving no temporary file', function()
    local sub = dir .. '/long'
    assert(os.execute('mkdir -p ' .. q(sub)) == 0)
    local p = sub .. '/' .. ('n'):rep(244) .. '.st'
    local m = nn.Linear(2, 2)
    m:save(p)
    m:save(p)
    assert_same_state(m, nn.load(p))
    local listing = sh('ls -A ' .. q(sub))
    assert.are.equal(('n'):rep(244) .. '.st\n', listing)
  end)
end)

describe('checkpoint bad input', function()
  local model, good, bytes
  setup(function()
    nl.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    good = dir .. '/good.safetensors'
    model:save(good)
    bytes = read(good)
  end)

  it('refuses truncated files with the path and the reason', function()
    for _, len in ipairs({ 0, 4, 20, math.floor(#bytes / 2), #bytes - 1 }) do
      local p = write(dir .. '/trunc' .. len .. '.safetensors', bytes:sub(1, len))
      local msg = errmsg(nn.load, p)
      contains(msg, p)
      assert(msg:find('truncated') or msg:find('too short'), 'no reason in: ' .. msg)
    end
  end)

  it('refuses garbage', function()
    local r = S.rng(9)
    local junk = {}
    for i = 1, 4096 do junk[i] = string.char(math.floor(r(0, 1) * 256) % 256) end
    local p = write(dir .. '/garbage.safetensors', table.concat(junk))
    contains(errmsg(nn.load, p), p)
    -- a plausible length and a header that is not JSON
    local hdr = '{"0.weight": nope}      '
    local le = string.char(#hdr, 0, 0, 0, 0, 0, 0, 0)
    p = write(dir .. '/badjson.safetensors', le .. hdr .. string.rep('\0', 64))
    contains(errmsg(nn.load, p), p)
    -- a text file
    p = write(dir .. '/text.safetensors', 'this is not a checkpoint\n')
    contains(errmsg(nn.load, p), p)
    -- still usable afterwards
    assert_same_state(model, nn.load(good))
  end)

  -- a newer nnlua's file (its format mark past this one's) said it held no
  -- nnlua model structure, and loaded into a model by this format's rules
  it('refuses a file of a newer checkpoint format, saying so', function()
    local tensors, meta = nl.load_safetensors(good)
    assert.are.equal('nnlua-checkpoint-2', meta.format)
    meta.format = 'nnlua-checkpoint-3'
    local p = dir .. '/newer.safetensors'
    nl.save_safetensors(p, tensors, meta)
    local want = "load: " .. p .. " was written by a newer nnlua (format 'nnlua-checkpoint-3'; this one reads "
                 .. "'nnlua-checkpoint-2')"
    contains(errmsg(nn.load, p), want)
    contains(errmsg(nn.load, p, nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))), want)
  end)

  it('names the tensor and both shapes when loading into another structure', function()
    local other = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 5))
    local msg = errmsg(nn.load, good, other)
    contains(msg, '2.weight')
    contains(msg, '[5,3]')
    contains(msg, '[2,3]')
    msg = errmsg(nn.load, good, nn.Linear(4, 3))
    contains(msg, 'missing')
    contains(msg, '0.weight')
  end)

  it('names a missing file', function()
    local p = dir .. '/no/such/file.safetensors'
    local msg = errmsg(nn.load, p)
    contains(msg, p)
    contains(msg, 'No such file')
  end)

  it('a failed save raises and leaves an earlier checkpoint intact', function()
    local p = dir .. '/no-such-dir/m.safetensors'
    local msg = errmsg(model.save, model, p)
    contains(msg, p)
    assert.is_false(exists(p))
    assert.are.equal(bytes, read(good))
    assert_same_state(model, nn.load(good))
  end)

  it('saving onto a directory fails and leaves it and its contents intact', function()
    local d = dir .. '/ckpt-dir'
    assert(os.execute('mkdir -p ' .. q(d)) == 0)
    local inner = d .. '/inside.safetensors'
    model:save(inner)
    local msg = errmsg(model.save, model, d)
    contains(msg, d)
    assert.are.equal(bytes, read(inner))
    local listing = sh('ls -A ' .. q(dir) .. ' ' .. q(d))
    assert.is_nil(listing:find('.tmp', 1, true), 'a temporary file was left behind:\n' .. listing)
  end)

  it('a write that fails midway (file size limit) leaves the existing checkpoint intact', function()
    local p = dir .. '/limited.safetensors'
    model:save(p)
    local before = read(p)
    -- a 1 MB model saved over the small checkpoint, with writes capped at
    -- 64 blocks (32 or 64 kB) and SIGXFSZ ignored: write() fails with EFBIG
    local script = write(dir .. '/big_save.lua', S.path_prelude .. ([[
local nl = require 'nnlua'
local big = nl.nn.Sequential(nl.nn.Linear(512, 512))
local ok, err = pcall(big.save, big, %q)
print('ok=' .. tostring(ok), err)
]]):format(p))
    local out, rc = sh("sh -c " .. q("trap '' XFSZ; ulimit -f 64; exec luajit " .. q(script)))
    assert.are.equal(0, rc, out)
    contains(out, 'ok=false')
    contains(out, p)
    assert.are.equal(before, read(p))
    assert_same_state(model, nn.load(p))
    local listing = sh('ls -A ' .. q(dir))
    assert.is_nil(listing:find('limited.safetensors.tmp', 1, true), 'a temporary file was left behind:\n' .. listing)
  end)

  -- the rename replaced a symlink by a plain file (its target kept the
  -- old weights), a FIFO or a device (as root, /dev/null), and a file
  -- replaced lost its mode
  it('saves through a symlink, keeps the mode of the file it replaces, and refuses special files', function()
    local target, link = dir .. '/target.safetensors', dir .. '/link.safetensors'
    model:save(target)
    assert(os.execute('chmod 600 ' .. q(target) .. ' && ln -sf target.safetensors ' .. q(link)) == 0)
    local other = nn.Sequential(nn.Linear(4, 2))
    other:save(link)
    assert.are.equal('link', (sh('test -L ' .. q(link) .. ' && echo link')):match('%a+'))
    assert_same_state(other, nn.load(target))
    assert.are.equal('600', (sh('stat -c %a ' .. q(target))):match('%d+'))
    -- a symlink to a file not there yet makes it, as open() and torch.save
    -- do; a loop of symlinks is named
    assert(os.execute('ln -sf nowhere.safetensors ' .. q(dir .. '/dangling') .. ' && mkfifo ' .. q(dir .. '/fifo')) == 0)
    other:save(dir .. '/dangling')
    assert_same_state(other, nn.load(dir .. '/nowhere.safetensors'))
    assert.are.equal('link', (sh('test -L ' .. q(dir .. '/dangling') .. ' && echo link')):match('%a+'))
    assert(os.execute('ln -sf loop2 ' .. q(dir .. '/loop1') .. ' && ln -sf loop1 ' .. q(dir .. '/loop2')) == 0)
    contains(errmsg(model.save, model, dir .. '/loop1'), 'loop1\': Too many levels of symbolic links')
    assert(os.execute('ln -sf /proc/version ' .. q(dir .. '/plink')) == 0)
    contains(errmsg(model.save, model, dir .. '/plink'), "(a symlink to '/proc/version': the file is made beside it)")
    contains(errmsg(model.save, model, dir .. '/fifo'), 'it is a FIFO, not a regular file')
    -- and a load of it (its open waited for a writer forever: a child under
    -- a time limit)
    local script = write(os.tmpname() .. '.lua', S.path_prelude
      .. ("print(pcall(require('nnlua').nn.load, %q))"):format(dir .. '/fifo'))
    local out, rc = sh('timeout 20 luajit ' .. q(script))
    os.remove(script)
    assert.are.equal(0, rc, out)
    contains(out, "load_safetensors: '" .. dir .. "/fifo' is not a regular file")
    -- fit's resume looks for its checkpoint without opening it (it
    -- opened the FIFO and waited as well)
    script = write(os.tmpname() .. '.lua', S.path_prelude .. ([[
      local nl = require 'nnlua'
      local m = nl.nn.Linear(2, 1)
      m:compile({ optimizer = 'sgd', loss = 'mse' })
      print(pcall(m.fit, m, nl.ones(4, 2), nl.ones(4, 1), { epochs = 1, verbose = 0,
                                                           checkpoint = { path = %q }, resume = true }))
    ]]):format(dir .. '/fifo'))
    out, rc = sh('timeout 20 luajit ' .. q(script))
    os.remove(script)
    assert.are.equal(0, rc, out)
    contains(out, "load_safetensors: '" .. dir .. "/fifo' is not a regular file")
    assert(os.execute('mkdir -p ' .. q(dir .. '/ckpt-dir2')) == 0)
    contains(errmsg(nl.save_safetensors, dir .. '/ckpt-dir2', { x = nl.ones(1) }), 'it is a directory, not a regular file')
    local listing = sh('ls -A ' .. q(dir))
    assert.is_nil(listing:find('.tmp', 1, true), 'a temporary file was left behind:\n' .. listing)
  end)

  -- the constructors ran with the sizes a file's structure named before
  -- any shape was compared: a crafted [30000, 30000] built 3.6 GB, bigger
  -- ones had the process killed; the build may take four times the file
  -- and 1 GB (a model's own buffers, not saved, may be big: a causal mask
  -- of 8192 x 8192)
  it('refuses a structure that asks for far more than the file holds, before allocating it', function()
    local p = dir .. '/crafted.safetensors'
    nn.Sequential(nn.Linear(3, 2)):save(p)
    local t, meta = nl.load_safetensors(p)
    local side = 30000                                    -- 3.6 GB
    meta.model = meta.model:gsub('%[3,2%]', ('[%d,%d]'):format(side, side))
    nl.save_safetensors(p, t, meta)
    local peak = nl._lib.nl_mem().peak_bytes
    local msg = errmsg(nn.load, p)
    contains(msg, 'needs more than 1024.0 MB to build, four times the 0.0 MB of tensors it holds and 1 GB (a corrupt file?')
    contains(msg, ('out of memory allocating [%d,%d] float32'):format(side, side))
    assert.are.equal(peak, nl._lib.nl_mem().peak_bytes)
    assert.are.equal(0, nl._lib.nl_mem_set_limit(0))    -- the limit is lifted after
    assert.are.same({ 1000, 1000 }, nl.zeros(1000, 1000):shape())
    local Masked = nn.Module:extend('CkptMasked')
    function Masked:init(n)
      self.fc = nn.Linear(4, 4)
      self:register_buffer('mask', nl.zeros(n, n), false)
    end
    Masked(8192):save(p)
    assert.are.same({ 8192, 8192 }, nn.load(p).mask:shape())
  end)

  it('rejects a path that is not a string', function()
    contains(errmsg(model.save, model, 42), 'path')
    contains(errmsg(nn.load, nil), 'path')
  end)

  teardown(function() os.execute('rm -rf ' .. q(dir)) end)
end)
