-- The tiny GPT example, short: its loss must fall well below uniform
-- guessing over the vocabulary, and sampling must produce text.
local S = require 'support'

describe('examples/tiny_gpt.lua', function()
  it('learns the corpus: loss falls below ln(vocab) - 1.5 in 150 steps', function()
    local p = io.popen(('cd %s && bin/nnlua examples/tiny_gpt.lua 150 2>&1'):format(S.root))
    local out = p:read('*a')
    p:close()
    local first, last, uniform = out:match('loss fell from ([%d.]+) to ([%d.]+) %(uniform guessing: ([%d.]+)%)')
    assert.is_truthy(first, out)
    first, last, uniform = tonumber(first), tonumber(last), tonumber(uniform)
    print(('\n    tiny_gpt: loss %.3f -> %.3f over 150 steps (ln vocab %.3f)'):format(first, last, uniform))
    assert.is_true(first > uniform - 0.5, 'the untrained loss should be near uniform: ' .. first)
    assert.is_true(last < uniform - 1.5, 'loss after training: ' .. last)
    local sample = out:match('%-%-%- sample %-%-%-\n(.*)$')
    assert.is_truthy(sample and #sample > 250, out)
  end)
end)
