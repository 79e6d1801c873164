-- The rarer Tensor methods, nl functions and nn families load on first use
-- (init.lua, nn/init.lua): a fresh process has not loaded them, its Lua
-- heap stays near what it was before they existed, and each way of asking
-- for one of their names (a method of a tensor, an nl function, nn, its
-- functional table, nn.utils, nn.load's class registry, nl.autograd's
-- Function and functional, nl.data's transforms) loads them and
-- gives the name. Each case runs in a child luajit, since this process has
-- long loaded everything.
local S = require 'support'

-- print with spaces between the values
local SAY = [[
local function say(...)
  local t = {}
  for i = 1, select('#', ...) do t[i] = tostring((select(i, ...))) end
  io.write(table.concat(t, ' '), '\n')
end
]]

local function run(code) return S.run_luajit(SAY .. code) end

local RARE = { 'nnlua.tensor_creation', 'nnlua.tensor_linalg', 'nnlua.tensor_sortops', 'nnlua.tensor_more',
               'nnlua.linalg_extra', 'nnlua.stats',
               'nnlua.nn.attention', 'nnlua.nn.conv3d', 'nnlua.nn.transformer', 'nnlua.nn.ctc', 'nnlua.nn.rnn_utils', 'nnlua.nn.prune',
               'nnlua.nn.stateless',
               'nnlua.nn.rms_norm', 'nnlua.nn.activation_extra', 'nnlua.nn.unpool',
               'nnlua.nn.pdist', 'nnlua.nn.lazy', 'nnlua.nn.adaptive_softmax',
               'nnlua.nn.fractional_pool', 'nnlua.nn.padding_circular', 'nnlua.nn.functional_extra', 'nnlua.nn.legacy',
               'nnlua.autograd_function', 'nnlua.autograd_functional', 'nnlua.autograd_gradcheck', 'nnlua.distributions',
               'nnlua.data_transforms', 'nnlua.data_iterable', 'nnlua.profiler', 'nnlua.special',
               'nnlua.fit', 'nnlua.fit_data', 'nnlua.fit_batch', 'nnlua.callbacks', 'nnlua.utility', 'nnlua.torch_ops',
               'nnlua.torch_compat', 'nnlua.metrics' }

describe('lazy loading', function()
  it('leaves the rarer modules unloaded at start, and the Lua heap small', function()
    local list = {}
    for i, m in ipairs(RARE) do list[i] = ("'%s'"):format(m) end
    local out = run(([[
      local t = nl.ones(2, 3)
      local _ = t.grad, t:sum(), t[1], t.is_requires_grad, nl.nn.Linear(2, 2), nl.nn.functional.mse_loss
      collectgarbage('collect')
      for _, m in ipairs({ %s }) do io.write(m, '=', tostring(package.loaded[m] ~= nil), ' ') end
      say('heap', math.floor(collectgarbage('count')))
    ]]):format(table.concat(list, ', ')))
    for _, m in ipairs(RARE) do S.contains(out, m .. '=false') end
    -- the eager part is about 1.4 MB
    local kb = tonumber(out:match('heap (%d+)'))
    assert.is_true(kb ~= nil and kb < 1500, out)
  end)

  it('loads them when a tensor, nl, nl.distributions, nl.special, nn, nn.functional, nn.utils, nn.load or nl.autograd asks for one'
      .. ' of their names', function()
    local out = run([[
      say('method', nl.tensor({ 1, 2, 3 }):logsumexp(1):item())
    ]])
    S.contains(out, 'method 3.4076')
    S.contains(run([[say('nl', nl.linspace(0, 1, 3)[2])]]), 'nl 0.5')
    S.contains(run([[say('nn', nl.nn.Conv3d(1, 2, 3).weight:shape()[5])]]), 'nn 3')
    S.contains(run([[say('F', nl.nn.functional.pixel_shuffle(nl.ones(1, 4, 1, 1), 2):shape()[3])]]), 'F 2')
    S.contains(run([[say('F3', nl.nn.functional.conv_transpose3d(nl.ones(1, 1, 1, 1), nl.ones(1, 2, 1, 1, 3)):shape()[4])]]),
               'F3 3')
    S.contains(run([[say('utils', type(nl.nn.utils.weight_norm))]]), 'utils function')
    S.contains(run([[say('prune', nl.nn.utils.prune.l1_unstructured(nl.nn.Linear(2, 2), 'weight', 3).weight_mask:sum():item())]]),
               'prune 1')
    -- nl.autograd's names: Function, functional (and an unknown one gives nil, loading nothing)
    S.contains(run([[say('Function', type(nl.autograd.Function), package.loaded['nnlua.autograd_functional'] ~= nil)]]),
               'Function table false')
    S.contains(run([[
      say('functional', nl.autograd.functional.jacobian(function(x) return x * x end, nl.tensor({ 3 }))[1][1],
          package.loaded['nnlua.autograd_function'] ~= nil)
    ]]), 'functional 6 false')
    S.contains(run([[say('autograd', nl.autograd.nothing, package.loaded['nnlua.autograd_functional'] ~= nil)]]),
               'autograd nil false')
    S.contains(run([[
      say('gradgradcheck', nl.autograd.gradgradcheck(function(x) return x:exp() end, nl.ones({ 2 }, 'float64'):requires_grad()),
          package.loaded['nnlua.autograd_function'] ~= nil)
    ]]), 'gradgradcheck true false')
    S.contains(run([[
      local m = nl.nn.Linear(1, 1)
      say('stateless', nl.nn.utils.stateless.functional_call(m, { weight = nl.ones(1, 1), bias = nl.zeros(1) }, nl.ones(1, 1)):item())
    ]]), 'stateless 1')
    S.contains(run([[say('distributions', nl.distributions.Normal(0, 1):log_prob(0):item())]]), 'distributions -0.9189')
    S.contains(run([[say('metrics', nl.metrics.AUC().num_thresholds, package.loaded['nnlua.fit'] ~= nil)]]),
               'metrics 200 false')
    -- nl.save, finfo, set_printoptions, ...: utility.lua alone
    S.contains(run([[say('utility', nl.finfo('float32').bits, type(nl.save), package.loaded['nnlua.tensor_creation'] ~= nil)]]),
               'utility 32 function false')
    -- model:compile/fit/evaluate/predict and nl.callbacks: the real methods, still refusing a non-module self
    S.contains(run([[
      local m = nl.nn.Linear(1, 1)
      nl.nn.init.constant_(m.weight, 2); nl.nn.init.constant_(m.bias, 0)
      local before = package.loaded['nnlua.fit'] ~= nil
      m:compile({ loss = 'mse', optimizer = 'sgd', lr = 0 })
      say('fit', before, m:evaluate(nl.tensor({ { 1 }, { 2 } }), nl.tensor({ { 1 }, { 1 } })))
    ]]), "fit false 5 ")
    S.contains(run([[say(select(2, pcall(nl.nn.Module.predict, 3)))]]),
               "predict: expected a module; call it as m:predict(...), not m.predict(...)")
    S.contains(run([[say('callbacks', tostring(nl.callbacks.EarlyStopping ~= nil), package.loaded['nnlua.fit'] ~= nil)]]),
               'callbacks true true')
    S.contains(run([[say('special', nl.special.ndtri(nl.tensor({ 0.975 }, 'float64')):item())]]), 'special 1.9599')
    -- torch_ops.lua's names, whether the Tensor extras loaded before or not
    S.contains(run([[say('torch_ops', nl.frobenius_norm(nl.tensor({ 3, 4 })):item(), nl.symeig ~= nil)]]),
               'torch_ops 5 true')
    S.contains(run([[local _ = nl.linspace(0, 1, 2) say('after', select(2, nl.lu(nl.eye(2))):sum():item())]]), 'after 3')
    -- torch_compat.lua's fields, methods and nl functions
    S.contains(run([[say('compat', nl.ones(2).is_sparse, nl.ones(2).layout, package.loaded['nnlua.torch_compat'] ~= nil)]]),
               'compat false strided true')
    S.contains(run([[say('compat_nl', nl.frombuffer('\0\0\192\63', 'float32'):item(), nl.eye(2):lu():sum():item())]]),
               'compat_nl 1.5 2')
    S.contains(run([[say('profiler', nl.profiler.profile(function() nl.ones(2):sum() end):key_averages().rows[2].key)]]),
               'profiler sum')
    -- nl.data.transforms (and an unknown data name gives nil, loading nothing)
    S.contains(run([[say('transforms', tostring(nl.data.transforms.RandomHorizontalFlip(0.25)))]]),
               'transforms RandomHorizontalFlip(p=0.25)')
    S.contains(run([[say('data', nl.data.nothing, package.loaded['nnlua.data_transforms'] ~= nil)]]), 'data nil false')
    S.contains(run([[say('stack', tostring(nl.data.StackDataset({ 1, 2 })), package.loaded['nnlua.data_iterable'] ~= nil)]]),
               'stack StackDataset(2 rows: 1 dataset) true')
    local path = os.tmpname() .. '.safetensors'
    S.contains(run(([[nl.nn.Sequential(nl.nn.Conv3d(1, 2, 1), nl.nn.PReLU()):save('%s') say('saved')]]):format(path)),
               'saved')
    -- a fresh process rebuilds it from the file: the registry asks for Conv3d
    S.contains(run(([[local m = nl.nn.load('%s') say('loaded', m[1].__name, m[2].__name)]]):format(path)),
               'loaded Conv3d PReLU')
    os.remove(path)
    -- nn.RNNBase's class is rnn.lua's (eager); its constructor loads legacy.lua
    S.contains(run(([[nl.nn.RNNBase('GRU', 2, 3):save('%s') say('saved')]]):format(path)), 'saved')
    S.contains(run(([[local m = nl.nn.load('%s') say('rnnbase', m.__name, m.mode, m(nl.ones(4, 1, 2)):size(3))]]):format(path)),
               'rnnbase RNNBase 3 3')
    os.remove(path)
    S.contains(run([[say('relu_', nl.nn.functional.relu_(nl.tensor({ -1, 2 })):sum():item())]]), 'relu_ 2')
    -- an unknown name still gives nil, and the modules are then loaded
    S.contains(run([[say('unknown', nl.nn.NoSuchLayer, nl.no_such_fn, package.loaded['nnlua.nn.ctc'] ~= nil)]]),
               'unknown nil nil true')
  end)

  -- the extras extend five core names; until they load, those names ran
  -- the core's form (x:clamp(lo_tensor, hi_tensor) failed in a fresh
  -- process)
  it('gives the extended forms of the core names the extras extend from the first call', function()
    for _, c in ipairs({
      { "say('clamp', table.concat(nl.tensor({ 1, 5, 9 }):clamp(nl.tensor({ 2, 2, 2 }), nl.tensor({ 6, 6, 6 })):totable(), ','))", 'clamp 2,5,6' },
      { "say('nlclamp', table.concat(nl.clamp(nl.tensor({ 1, 5 }), nl.tensor({ 2, 2 })):totable(), ','))", 'nlclamp 2,5' },
      { "say('clamp_', table.concat(nl.tensor({ 1, 5 }):clamp_(nl.tensor({ 2, 2 })):totable(), ','))", 'clamp_ 2,5' },
      { "say('div_', table.concat(nl.tensor({ 7, 5, 9 }):div_(2, 'floor'):totable(), ','))", 'div_ 3,2,4' },
      { "say('t', nl.tensor({ 1, 2, 3 }):t():dim())", 't 1' },
      { "say('squeeze', nl.zeros(1, 3, 1):squeeze({ 1, 3 }):dim())", 'squeeze 1' },
      -- the core's calls load nothing
      { "local _ = nl.ones(2, 2):t(), nl.ones(2):clamp(0, 1), nl.ones(1, 2):squeeze(1) say('core', package.loaded['nnlua.tensor_sortops'] ~= nil)", 'core false' },
    }) do
      S.contains(run(c[1]), c[2])
    end
    -- and the extras replace no other name that exists before them
    local out = run([[
      local before = {}
      for k, v in pairs(nl.Tensor) do before['Tensor.' .. k] = v end
      for k, v in pairs(nl) do before['nl.' .. k] = v end
      nl._load_tensor_extras()
      local bad = {}
      local function check(prefix, t)
        for k, v in pairs(t) do
          local b = before[prefix .. k]
          if b ~= nil and b ~= v and not nl._lazy_stubs[b] then bad[#bad + 1] = prefix .. k end
        end
      end
      check('Tensor.', nl.Tensor)
      check('nl.', nl)
      say('replaced', #bad, table.concat(bad, ' '))
    ]])
    S.contains(out, 'replaced 0')
  end)

  -- loading the families put nnlua's Transformer in the registry in place
  -- of a user's class of that name, and nn.load rebuilt nnlua's
  it("keeps a user's class in the registry over a lazily loaded one of the same name", function()
    local path = os.tmpname() .. '.safetensors'
    local out = run(([[
      local nn = nl.nn
      local Transformer = nn.Module:extend('Transformer')
      function Transformer:init(d) self.w = nn.Parameter(nl.ones(d)) end
      function Transformer:forward(x) return x * self.w end
      Transformer(3):save('%s')
      local m = nn.load('%s')
      say('user', getmetatable(m).__index == Transformer, m.w:numel(), nn._builtin[nn.Transformer] == true)
    ]]):format(path, path))
    os.remove(path)
    S.contains(out, 'user true 3 true')
  end)

  it("marks only nnlua's classes as its own, a user's made before the load not among them", function()
    local out = run([[
      local nn = nl.nn
      local Mine = nn.Module:extend('LazySpecMine')
      function Mine:forward(x) return x end
      local _ = nn.PReLU
      say('builtin', nn._builtin[Mine] == true, nn._builtin[nn.PReLU] == true, nn._builtin[nn.Linear] == true)
      say(nn.PReLU():extra_repr())
    ]])
    S.contains(out, 'builtin false true true')
    S.contains(out, 'num_parameters=1')
  end)
end)
