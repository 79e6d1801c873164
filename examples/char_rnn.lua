-- A character-level LSTM language model (Karpathy's char-rnn): embedding,
-- a 2-layer LSTM, a linear head over the characters; trained on windows of
-- the GNU GPL v3 text that every Debian system ships (package base-files),
-- then sampling new text one character at a time, the LSTM's state carried
-- from step to step.
--   nnlua examples/char_rnn.lua [steps] [corpus]
-- steps: training steps of 32 windows of 64 characters (default 1000);
-- corpus: any text file. Prints the loss every 50 steps, then a sample.
local nl = require 'nnlua'
local nn, optim = nl.nn, nl.optim

local steps = tonumber(arg and arg[1] or 1000)
assert(steps and steps >= 1 and steps % 1 == 0,
  'usage: nnlua examples/char_rnn.lua [steps] [corpus]; steps must be a positive integer')
local path = (arg and arg[2]) or '/usr/share/common-licenses/GPL-3'
local seq, batch, embed, hidden, layers = 64, 32, 64, 256, 2
nl.manual_seed(2024)

-- the corpus as 1-based character ids
local corpus = nl.data.char_corpus(path)
local chars, id, V = corpus.chars, corpus.index, corpus.vocab_size
print(('corpus: %s, %d characters, vocabulary %d'):format(path, corpus.ids:size(1), V))

local CharRNN = nn.Module:extend('CharRNN')
function CharRNN:init(vocab, d, h, nlayers)
  self.embed = nn.Embedding(vocab, d)
  self.lstm = nn.LSTM(d, h, { num_layers = nlayers, batch_first = true })
  self.head = nn.Linear(h, vocab)
end
-- ids (B, T) -> logits (B, T, vocab) and the LSTM's final {h, c}
function CharRNN:forward(idx, state)
  local out, hc = self.lstm(self.embed(idx), state)
  return self.head(out), hc
end

local model = CharRNN(V, embed, hidden, layers)
local params = model:parameters()
local opt = optim.Adam(params, { lr = 5e-3 })
print(('model: %s parameters'):format(nn._group_digits(model:num_parameters())))

local losses, t0, block = {}, nl.time(), 50
for step = 1, steps do
  local x, y = corpus:windows(batch, seq)   -- random windows and the next characters
  local logits = model(x)
  local loss = nn.functional.cross_entropy(logits:reshape(batch * seq, V), y:view(-1))
  opt:zero_grad()
  loss:backward()
  optim.clip_grad_norm(params, 5)
  opt:step()
  losses[#losses + 1] = loss:item()
  if step % block == 0 or step == 1 or step == steps then
    local avg, n = 0, math.min(block, #losses)
    for i = #losses - n + 1, #losses do avg = avg + losses[i] end
    print(('step %5d  loss %.4f  (%.0f characters/s)'):format(step, avg / n, step * batch * seq / (nl.time() - t0)))
  end
end

-- sampling: run the prompt through the LSTM, then draw each next character
-- from softmax(logits / temperature), feeding it back with the state
local function sample(prompt, n, temperature)
  model:eval()
  local out = { prompt }
  nl.no_grad(function()
    local ctx = {}
    for c in prompt:gmatch('.') do ctx[#ctx + 1] = id[c] or 1 end
    local logits, state = model(nl.tensor({ ctx }, 'int64'))
    local last = logits[1][#ctx]
    for _ = 1, n do
      local pick = (last / temperature):softmax(1):multinomial(1)[1]
      out[#out + 1] = chars[pick]
      logits, state = model(nl.tensor({ { pick } }, 'int64'), state)
      last = logits[1][1]
    end
  end)
  model:train()
  return table.concat(out)
end

local first, last = losses[1], 0
local n = math.min(block, #losses)
for i = #losses - n + 1, #losses do last = last + losses[i] / n end
print(('loss fell from %.3f to %.3f (uniform guessing: %.3f)'):format(first, last, math.log(V)))
print('--- sample ---')
print(sample('The ', 400, 0.7))
return first, last, V
