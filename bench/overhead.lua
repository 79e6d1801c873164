-- W3: per-op overhead with the tape recording: N x (c = a*b + a;
-- c:sum():backward()) on 1-element tensors. Prints microseconds per op,
-- counting the three recorded ops (mul, add, sum) of each iteration.
local nl = require 'nnlua'
local N = tonumber(arg and arg[1]) or 20000
local a = nl.tensor({ 1.5 }):requires_grad()
local b = nl.tensor({ 2.0 }):requires_grad()
local function run(n)
  for _ = 1, n do
    local c = a * b + a
    c:sum():backward()
  end
end
run(2000)                                   -- warm up the JIT and the caches
local best = math.huge
for _ = 1, 5 do
  local t0 = os.clock()
  run(N)
  best = math.min(best, os.clock() - t0)
end
print(string.format('W3 per-op overhead: %.3f us/op (%d iterations, 3 ops each, best of 5)', best / (3 * N) * 1e6, N))
