-- fit's progress bar on a terminal: redrawn in place (carriage return),
-- with epoch, step, loss, metrics, throughput and ETA. Driven through a
-- pseudo-terminal with script(1).
local S = require 'support'

describe('fit on a terminal', function()
  it('draws a progress bar with epoch, step, loss, metric, samples/s and ETA', function()
    local tmp = os.tmpname()
    local f = io.open(tmp, 'w')
    f:write(S.path_prelude .. [[
local nl = require 'nnlua'
nl.manual_seed(2)
local X = nl.randn(4000, 8)
local y = (X:narrow(2, 1, 1):gt(0):long() + 1):view(-1)
local m = nl.nn.Sequential(nl.nn.Linear(8, 16), nl.nn.ReLU(), nl.nn.Linear(16, 2))
m:compile { optimizer = 'adam', loss = 'cross_entropy', metrics = { 'accuracy' } }
m:fit(X, y, { epochs = 2, batch_size = 8 })
]])
    f:close()
    local p = io.popen(('script -q -e -c "luajit %s" /dev/null 2>&1'):format(tmp))
    local out = p:read('*a')
    p:close()
    os.remove(tmp)
    assert.is_truthy(out:find('\r', 1, true), 'no carriage return: the bar is not redrawn in place')
    local bar = out:match('Epoch 1/2 (%d+/500 %[[=>%.]+%] loss [%d.]+ %- accuracy [%d.]+ %- %d+ samples/s %- ETA %w+)')
    assert.is_truthy(bar, out)
    assert.is_truthy(out:find('epoch 2/2 %- loss [%d.]+ %- accuracy [%d.]+'), out)
  end)
end)
