-- The script an engine loads: it rebuilds the trained Fashion-MNIST MLP
-- from a checkpoint and classifies one 784-pixel image per call.
-- The host sets CHECKPOINT (a path) before running this file.
if type(CHECKPOINT) ~= 'string' then error('classify.lua: the host must set CHECKPOINT to a path', 0) end
local model = nn.load(CHECKPOINT)
model:eval()

local test
local function test_set()
  if not test then test = select(2, data.fashion_mnist()) end
  return test
end

-- x: (784) or (N, 784) float32 pixels in [0, 1] -> class probabilities (N, 10)
function classify(x)
  if x:dim() == 1 then x = x:view(1, -1) end
  return nl.no_grad(function() return model(x):softmax(2) end)
end

-- test image i (1-based) and its label as a 1-element int64 tensor, for
-- hosts that want real inputs
function test_image(i)
  if nl.is_tensor(i) then i = i:item() end
  local t = test_set()
  local k = nl.tensor({ i }, 'int64')
  return t.X:index_select(1, k):view(784), t.y:index_select(1, k)
end

print(('classify.lua: loaded %s (%d parameters)'):format(CHECKPOINT, model:num_parameters()))
