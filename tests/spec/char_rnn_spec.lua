-- The char-rnn example, short: an LSTM language model on the GPL text must
-- bring its loss well below uniform guessing over the vocabulary within 100
-- steps, and sampling must produce text.
local S = require 'support'

describe('examples/char_rnn.lua', function()
  it('learns the corpus: loss falls below ln(vocab) - 1.5 in 100 steps', function()
    local p = io.popen(('cd %s && bin/nnlua examples/char_rnn.lua 100 2>&1'):format(S.root))
    local out = p:read('*a')
    p:close()
    local first, last, uniform = out:match('loss fell from ([%d.]+) to ([%d.]+) %(uniform guessing: ([%d.]+)%)')
    assert.is_truthy(first, out)
    first, last, uniform = tonumber(first), tonumber(last), tonumber(uniform)
    print(('\n    char_rnn: loss %.3f -> %.3f over 100 steps (ln vocab %.3f)'):format(first, last, uniform))
    assert.is_true(first > uniform - 0.5, 'the untrained loss should be near uniform: ' .. first)
    assert.is_true(last < uniform - 1.5, 'loss after training: ' .. last)
    -- the loss printed every 50 steps falls block after block
    local blocks = {}
    for l in out:gmatch('step +%d+ +loss ([%d.]+)') do blocks[#blocks + 1] = tonumber(l) end
    assert.is_true(#blocks >= 3, out)
    for i = 2, #blocks do assert.is_true(blocks[i] < blocks[i - 1], 'loss by block: ' .. table.concat(blocks, ', ')) end
    local sample = out:match('%-%-%- sample %-%-%-\n(.*)$')
    assert.is_truthy(sample and #sample > 350, out)
  end)
end)
