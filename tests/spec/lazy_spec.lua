-- The rarer Tensor methods, nl functions and nn families load on first use
-- (init.lua, nn/init.lua): a fresh process has not loaded them, its Lua
-- heap stays near what it was before they existed, and each way of asking
-- for one of their names (a method of a tensor, an nl function, nn, its
-- functional table, nn.utils, nn.load's class registry) loads them and
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

local function run(code)
  local path = S.write(os.tmpname() .. '.lua', S.path_prelude .. "local nl = require 'nnlua'\n" .. SAY .. code)
  local p = assert(io.popen('luajit ' .. S.q(path) .. ' 2>&1'))
  local out = p:read('*a')
  p:close()
  os.remove(path)
  return out
end

local RARE = { 'nnlua.tensor_creation', 'nnlua.tensor_linalg', 'nnlua.tensor_sortops', 'nnlua.tensor_more',
               'nnlua.nn.conv3d', 'nnlua.nn.transformer', 'nnlua.nn.ctc', 'nnlua.nn.rnn_utils' }

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
    -- everything loaded made it 1.8 MB; the eager part is about 1.3 MB
    local kb = tonumber(out:match('heap (%d+)'))
    assert.is_true(kb ~= nil and kb < 1600, out)
  end)

  it('loads them when a tensor, nl, nn, nn.functional, nn.utils or nn.load asks for one of their names', function()
    local out = run([[
      say('method', nl.tensor({ 1, 2, 3 }):logsumexp(1):item())
    ]])
    S.contains(out, 'method 3.4076')
    S.contains(run([[say('nl', nl.linspace(0, 1, 3)[2])]]), 'nl 0.5')
    S.contains(run([[say('nn', nl.nn.Conv3d(1, 2, 3).weight:shape()[5])]]), 'nn 3')
    S.contains(run([[say('F', nl.nn.functional.pixel_shuffle(nl.ones(1, 4, 1, 1), 2):shape()[3])]]), 'F 2')
    S.contains(run([[say('utils', type(nl.nn.utils.weight_norm))]]), 'utils function')
    local path = os.tmpname() .. '.safetensors'
    S.contains(run(([[nl.nn.Sequential(nl.nn.Conv3d(1, 2, 1), nl.nn.PReLU()):save('%s') say('saved')]]):format(path)),
               'saved')
    -- a fresh process rebuilds it from the file: the registry asks for Conv3d
    S.contains(run(([[local m = nl.nn.load('%s') say('loaded', m[1].__name, m[2].__name)]]):format(path)),
               'loaded Conv3d PReLU')
    os.remove(path)
    -- an unknown name still gives nil, and the modules are then loaded
    S.contains(run([[say('unknown', nl.nn.NoSuchLayer, nl.no_such_fn, package.loaded['nnlua.nn.ctc'] ~= nil)]]),
               'unknown nil nil true')
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
