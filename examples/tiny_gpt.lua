-- A tiny character-level GPT: token and position embeddings, pre-norm
-- transformer blocks with causal self-attention, a linear head; trained on
-- the GNU GPL v3 text that every Debian system ships (base-files), then
-- sampling new text.
--   nnlua examples/tiny_gpt.lua [steps] [corpus]
local nl = require 'nnlua'
local nn, optim = nl.nn, nl.optim

local steps = tonumber(arg and arg[1] or 1500)
assert(steps and steps >= 1 and steps % 1 == 0,
  'usage: nnlua examples/tiny_gpt.lua [steps] [corpus]; steps must be a positive integer')
local path = (arg and arg[2]) or '/usr/share/common-licenses/GPL-3'
local block, batch, d_model, heads, layers = 32, 32, 64, 4, 2
nl.manual_seed(1234)

-- the corpus as 1-based character ids
local corpus = nl.data.char_corpus(path)
local chars, id, V = corpus.chars, corpus.index, corpus.vocab_size
print(('corpus: %d characters, vocabulary %d'):format(corpus.ids:size(1), V))

local TinyGPT = nn.Module:extend('TinyGPT')
function TinyGPT:init(vocab, block_size, d, nhead, nlayers)
  self.block_size = block_size
  self.tok = nn.Embedding(vocab, d)
  self.pos = nn.Embedding(block_size, d)
  self.blocks = nn.ModuleList()
  for _ = 1, nlayers do
    self.blocks:append(nn.TransformerEncoderLayer(d, nhead, { dim_feedforward = 4 * d, dropout = 0, norm_first = true,
                                                              batch_first = true, activation = 'gelu' }))
  end
  self.ln_f = nn.LayerNorm(d)
  self.head = nn.Linear(d, vocab)
end
function TinyGPT:forward(idx)                      -- (B, T) ids -> (B, T, vocab) logits
  local T = idx:size(2)
  local x = self.tok(idx) + self.pos(nl.arange(1, T + 1))
  for i = 1, #self.blocks do x = self.blocks[i](x, { is_causal = true }) end
  return self.head(self.ln_f(x))
end

local model = TinyGPT(V, block, d_model, heads, layers)
local opt = optim.AdamW(model:parameters(), { lr = 3e-3, weight_decay = 0.01 })
print(('model: %s parameters'):format(nn._group_digits(model:num_parameters())))


local losses, t0 = {}, nl.time()
for step = 1, steps do
  local x, y = corpus:windows(batch, block)   -- random windows and the next characters
  local logits = model(x)
  local loss = nn.functional.cross_entropy(logits:view(batch * block, V), y:view(-1))
  opt:zero_grad()
  loss:backward()
  opt:step()
  losses[#losses + 1] = loss:item()
  if step % 100 == 0 or step == 1 then
    local avg, n = 0, math.min(100, #losses)
    for i = #losses - n + 1, #losses do avg = avg + losses[i] end
    print(('step %5d  loss %.4f  (%.0f tokens/s)'):format(step, avg / n, step * batch * block / (nl.time() - t0)))
  end
end

-- sampling: feed the last block of characters, draw the next from softmax(logits / temperature)
local function sample(prompt, n, temperature)
  model:eval()
  local out = { prompt }
  local ctx = {}
  for c in prompt:gmatch('.') do ctx[#ctx + 1] = id[c] or 1 end
  nl.no_grad(function()
    for _ = 1, n do
      local window = {}
      for i = math.max(1, #ctx - block + 1), #ctx do window[#window + 1] = ctx[i] end
      local logits = model(nl.tensor({ window }, 'int64'))
      local last = logits[1][#window]
      local pick = (last / temperature):softmax(1):multinomial(1)[1]
      ctx[#ctx + 1] = pick
      out[#out + 1] = chars[pick]
    end
  end)
  model:train()
  return table.concat(out)
end

local first, last = losses[1], 0
local n = math.min(100, #losses)
for i = #losses - n + 1, #losses do last = last + losses[i] / n end
print(('loss fell from %.3f to %.3f (uniform guessing: %.3f)'):format(first, last, math.log(V)))
print('--- sample ---')
print(sample('The ', 300, 0.8))
return first, last, V
