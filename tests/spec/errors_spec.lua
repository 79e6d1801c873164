-- Bad input: every case raises a Lua error whose message names the op
-- (and the shapes where shapes are the problem); none crashes.
local nl = require 'nnlua'

local a23 = nl.ones(2, 3)
local a45 = nl.ones(4, 5)
local ilong = nl.tensor({ 1, 2 }, 'int64')

-- { name of the case, pattern the message must contain, function }
local cases = {
  { 'matmul shapes', 'matmul: shapes %[4,3%] and %[4,5%] do not align', function() nl.matmul(nl.ones(4, 3), a45) end },
  { 'matmul dtypes', 'matmul', function() nl.matmul(a23, nl.ones(3, 2, 'float64')) end },
  { 'matmul non-tensor', 'matmul: expected a tensor', function() nl.matmul(a23, 'x') end },
  { 'add broadcast', 'add: shapes %[2,3%] and %[4,5%]', function() return a23 + a45 end },
  { 'mul broadcast', 'mul: shapes %[2,3%] and %[2%]', function() return a23 * nl.ones(2) end },
  { 'add string', 'add: expected a tensor or a number, got string', function() return a23 + 'x' end },
  -- Lua's own message named no op and no way out
  { 'Lua < on a tensor', 'compare: Lua\'s <, <=, > and >= give one boolean, not a tensor %(got 0 and tensor %[2,3%]%): '
    .. 'compare elementwise with a:lt%(b%)', function() return a23 > 0 end },
  { 'Lua <= on tensors', 'compare: .*got tensor %[2,3%] and tensor %[4,5%].*a:le%(b%)', function() return a23 <= a45 end },
  { 'sub nil', 'sub: expected a tensor or a number, got nil', function() return nl.sub(a23, nil) end },
  -- dims and indices are named as the caller wrote them, counted from 1
  { 'sum dim out of range', 'sum: dim 3 out of range for shape %[2,3%] %(dims 1 to 2, or %-1 to %-2%)', function() return a23:sum(3) end },
  { 'max dim out of range', 'max: dim %-3 out of range', function() return a23:max(-3) end },
  { 'softmax dim', 'softmax: dim 5 out of range', function() return a23:softmax(5) end },
  { 'unsqueeze dim', 'unsqueeze: dim 4 out of range for shape %[2,3%] %(dims 1 to 3', function() return a23:unsqueeze(4) end },
  { 'unsqueeze dim zero', 'unsqueeze: dim 0 is invalid', function() return a23:unsqueeze(0) end },
  { 'stack dim', 'stack: dim 4 out of range', function() return nl.stack({ a23, a23 }, 4) end },
  { 'cat dim', 'cat: dim 3 out of range', function() return nl.cat({ a23, a23 }, 3) end },
  { 'index_select dim', 'index_select: dim 3 out of range', function() return a23:index_select(3, { 1 }) end },
  { 'dim zero', 'transpose: dim 0 is invalid', function() return a23:transpose(0, 1) end },
  { 'transpose range', 'transpose: dim 4 out of range for shape %[2,3%]', function() return a23:transpose(1, 4) end },
  { 'view size', 'view: shape %[4,4%] is invalid for a tensor of shape %[2,3%]', function() return a23:view(4, 4) end },
  { 'view strides', 'view: ', function() return a23:t():view(6) end },
  { 'reshape two -1', 'reshape', function() return a23:reshape(-1, -1) end },
  { 'negative size', 'zeros: negative size in %[%-1,3%]', function() return nl.zeros(-1, 3) end },
  { 'too many dims', 'zeros: 9 dims', function() return nl.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1) end },
  { 'unknown dtype', "zeros: unknown dtype 'float16'", function() return nl.zeros(2, 'float16') end },
  { 'index out of bounds', 'index: index 3 out of range for dim 1 of size 2', function() return a23[3] end },
  { 'index write out of bounds', 'index: index 0 out of range', function() a23[0] = 1 end },
  { 'index non-number value', 'index: expected a number or a tensor', function() a23[1] = 'x' end },
  { 'narrow range', 'narrow: start 3 length 3 out of range for dim 2 of shape %[2,3%]', function() return a23:narrow(2, 3, 3) end },
  -- start + length past int64's range once wrapped around to a valid view
  { 'narrow huge', 'narrow: start .* out of range for dim 2', function() return a23:narrow(2, 3 * 2 ^ 61, 2 ^ 62) end },
  { 'narrow fraction', 'narrow: expected an integer start', function() return a23:narrow(2, 2.9, 1) end },
  { 'select range', 'select: index 5 out of range for dim 1 of shape %[2,3%] %(1 to 2', function() return a23:select(1, 5) end },
  { 'select zero', 'select: index 0 out of range', function() return a23:select(1, 0) end },
  { 'select fraction', 'select: expected an integer index', function() return a23:select(2, 2.7) end },
  { 'index_select index', 'index_select: index 4 out of range', function() return a23:index_select(2, { 1, 4 }) end },
  { 'index_select float index', 'index_select: index must be a 1%-D int64 tensor', function() return a23:index_select(2, nl.ones(2)) end },
  { 'cat shapes', 'cat: shapes %[2,3%] and %[4,5%] differ', function() return nl.cat({ a23, a45 }, 1) end },
  { 'cat dtypes', "cat: the tensors' dtypes differ: float32 and float64", function() return nl.cat({ a23, nl.ones(2, 3, 'float64') }, 1) end },
  { 'cat non-tensor', 'cat: element 2 of the list is not a tensor', function() return nl.cat({ a23, 5 }, 1) end },
  { 'stack shapes', 'stack: shapes', function() return nl.stack({ a23, a45 }) end },
  { 'item of many', 'item: expected a tensor with one element, got shape %[2,3%]', function() return a23:item() end },
  { 'copy_ broadcast', 'copy_: source of shape %[4,5%] does not broadcast to destination %[2,3%]', function() a23:copy_(a45) end },
  { 'add_ int destination', 'add_', function() ilong:add_(nl.ones(2)) end },
  { 'expand', 'expand: cannot expand shape %[2,3%] to %[4,3%]', function() return a23:expand(4, 3) end },
  { 'permute', 'permute: ', function() return a23:permute(1, 1) end },
  { 'clamp bounds', 'clamp: min 3 is greater than max 1', function() return a23:clamp(3, 1) end },
  { 'where broadcast', 'where: shapes', function() return nl.where(a23, a45, 0) end },
  { 'rand int64', 'rand: expected a float dtype', function() return nl.rand(3, 'int64') end },
  { 'tensor ragged', 'tensor: ragged nested table', function() return nl.tensor({ { 1, 2 }, { 3 } }) end },
  { 'tensor bad value', 'tensor: expected numbers', function() return nl.tensor({ 1, 'a' }) end },
  -- a table that holds itself once looped forever; one of keys only gave tensor([])
  { 'tensor of itself', 'tensor: more than 8 nested levels', function() local c = {}; c[1] = c; return nl.tensor(c) end },
  -- with alpha, a table beside an int64 tensor reached math.floor in the
  -- dtype promotion ("bad argument #1 to 'floor'")
  { 'add alpha of a table', 'add: expected a tensor or a number, got table',
    function() return nl.add({ 1, 'a' }, nl.tensor({ 1 }, 'int64'), 2) end },
  { 'sub alpha of a string', 'sub: expected a tensor or a number, got string',
    function() return nl.sub(nl.tensor({ 1 }, 'int64'), 'x', 2) end },
  { 'tensor of keys', 'tensor: expected a sequence', function() return nl.tensor({ x = 1, y = 2 }) end },
  { 'arange step', 'arange: ', function() return nl.arange(0, 10, -1) end },
  { 'set_num_threads', 'set_num_threads: expected 1..1024 threads, got 0', function() nl.set_num_threads(0) end },
  -- numbers past C's int and int64 are named as given (2^31 read as -2^31, 1e20 as a negative size),
  -- and fractions and NaN refused rather than truncated or taken
  { 'set_num_threads 2^31', 'set_num_threads: expected 1..1024 threads, got 2147483648', function() nl.set_num_threads(2 ^ 31) end },
  { 'set_num_threads 1.5', 'set_num_threads: expected 1..1024 threads, got 1.5', function() nl.set_num_threads(1.5) end },
  { 'huge size', 'zeros: size 1e%+20 is too large', function() return nl.zeros(1e20) end },
  { 'infinite size', 'zeros: size inf is too large', function() return nl.zeros({ 2, 1 / 0 }) end },
  { 'fractional size in a table', 'zeros: expected integer sizes', function() return nl.zeros({ 2.5 }) end },
  { 'arange too long', 'arange: 1e%+300 elements', function() return nl.arange(0, 1, 1e-300) end },
  -- out of memory names the op the caller ran, not the allocation inside it (both said 'empty')
  { 'matmul out of memory', '^[^\n]*matmul: out of memory allocating %[8388608,8388608%]',
    function() return nl.matmul(nl.zeros(2 ^ 23, 1), nl.zeros(1, 2 ^ 23)) end },
  { 'eye out of memory', 'eye: out of memory', function() return nl.eye(2 ^ 23) end },
  -- fractions were truncated, and NaN, inf or 2^70 as seeds all gave one stream
  { 'eye fraction', 'eye: expected an integer size', function() return nl.eye(2.5) end },
  { 'randperm fraction', 'randperm: expected an integer size', function() return nl.randperm(3.5) end },
  { 'seed NaN', 'manual_seed: expected an integer seed', function() nl.manual_seed(0 / 0) end },
  { 'seed huge', 'manual_seed: expected an integer seed', function() nl.manual_seed(2 ^ 70) end },
  -- numbers int64 cannot hold are refused, not saturated (1e30 stored INT64_MIN, NaN 0)
  { 'int64 store out of range', 'index: cannot store 1e%+30 in an int64 tensor', function() nl.zeros(2, 'int64')[1] = 1e30 end },
  { 'int64 tensor of NaN', 'tensor: element 2 %(counting from 1%), %-?nan, is not an int64 value',
    function() return nl.tensor({ 1, 0 / 0 }, 'int64') end },
  { 'int64 full of inf', 'full: inf is not an int64 value', function() return nl.full({ 2 }, 1 / 0, 'int64') end },
  -- fill_ saturated them (NaN stored 0, 1e30 INT64_MAX)
  { 'int64 fill_ NaN', 'fill_: %-?nan is not an int64 value', function() nl.zeros(2, 'int64'):fill_(0 / 0) end },
  { 'int64 fill_ huge', 'fill_: 1e%+30 is not an int64 value', function() nl.zeros(2, 'int64'):fill_(1e30) end },
  { 'int64 row store NaN', 'is not an int64 value', function() nl.zeros(2, 2, 'int64')[1] = 0 / 0 end },
  -- a negative size was reported as 'full's for zeros, ones, rand and randn
  { 'randn negative', '^[^\n]*randn: negative size in %[%-3%]', function() return nl.randn({ -3 }) end },
  -- # of { 1, nil, 3 } may be 1, and the 3 was dropped without a word
  { 'tensor with a hole', 'tensor: a table at level 1 has an entry at 3 past its length %(#%) 1',
    function() return nl.tensor({ 1, nil, 3 }) end },
  -- C counted the dim from 0 (dim 1 of [3,0] for the caller's 2)
  { 'max over an empty dim', 'max: cannot reduce dim 2 of size 0 in shape %[3,0%]', function() return nl.zeros(3, 0):max(2) end },
  { 'LayerNorm fraction', 'LayerNorm: expected positive integer sizes, got 2.5', function() return nl.nn.LayerNorm(2.5) end },
  { 'Dropout NaN', 'Dropout: p must be a number in %[0, 1%], got nan', function() return nl.nn.Dropout(0 / 0) end },
  -- a string p printed as if a number, and a table p as an address
  { 'Dropout string p', "Dropout: p must be a number in %[0, 1%], got '0.5'", function() return nl.nn.Dropout('0.5') end },
  { 'Dropout table p', 'Dropout: p must be a number in %[0, 1%], got table$', function() return nl.nn.Dropout({ p = {} }) end },
  { 'Dropout2d string p', "Dropout2d: p must be a number in %[0, 1%], got '0.1'", function() return nl.nn.Dropout2d('0.1') end },
  { 'Dropout2d table p', 'Dropout2d: p must be a number in %[0, 1%], got table$', function() return nl.nn.Dropout2d({ p = {} }) end },
  { 'LSTM string dropout', "LSTM: dropout must be a number in %[0, 1%], got '0.1'",
    function() return nl.nn.LSTM(3, 4, { num_layers = 2, dropout = '0.1' }) end },
  { 'GRU table dropout', 'GRU: dropout must be a number in %[0, 1%], got table$',
    function() return nl.nn.GRU(3, 4, { num_layers = 2, dropout = {} }) end },
  -- reported as MultiheadAttention's, a layer the user did not build
  { 'TransformerEncoderLayer dropout 1.5', 'TransformerEncoderLayer: dropout must be a number in %[0, 1%], got 1.5$',
    function() return nl.nn.TransformerEncoderLayer(4, 2, { dropout = 1.5 }) end },
  { 'TransformerEncoderLayer string dropout', "TransformerEncoderLayer: dropout must be a number in %[0, 1%], got '0.1'",
    function() return nl.nn.TransformerEncoderLayer(4, 2, { dropout = '0.1' }) end },
  { 'MultiheadAttention table dropout', 'MultiheadAttention: dropout must be a number in %[0, 1%], got table$',
    function() return nl.nn.MultiheadAttention(4, 2, { dropout = {} }) end },
  { 'method on non-tensor', 'exp: expected a tensor, got number', function() return nl.exp(3) end },
  -- each of these was taken without a word, or failed inside Lua ("attempt
  -- to ..."), before
  { 'optimizer list with a nil', 'SGD: parameter 2 is nil', function()
    local w, b = nl.ones(2):requires_grad(), nl.ones(2):requires_grad()
    return nl.optim.SGD({ w, nil, b }, { lr = 0.5 })          -- b was dropped, never trained
  end },
  { 'optimizer group with a nil', 'SGD: parameter 2 is nil', function()
    return nl.optim.SGD({ { params = { nl.ones(2):requires_grad(), nil, nl.ones(1):requires_grad() } } }, { lr = 1 })
  end },
  { 'step closure', 'SGD: step takes an optional closure %(a function%), got number', function()
    local o = nl.optim.SGD({ nl.ones(2):requires_grad() }, { lr = 1 })
    o:step(5)
  end },
  { 'shape with a hole', 'zeros: a shape must be a list of sizes', function() return nl.zeros({ 2, nil, 3 }) end },
  { 'shape with names', 'view: a shape must be a list of sizes', function() return nl.ones(5):view({ a = 5 }) end },
  { 'shape a module', 'ones: a shape must be a list of sizes', function() return nl.ones(nl.nn.Linear(2, 2)) end },
  { 'LayerNorm without a shape', 'LayerNorm: normalized_shape must be a positive integer or a non%-empty list of them, got nil',
    function() return nl.nn.LayerNorm() end },                  -- its output was all zeros
  { 'LayerNorm of an empty list', 'got an empty list', function() return nl.nn.LayerNorm({}) end },
  { 'LayerNorm of a module', 'got a module', function() return nl.nn.LayerNorm(nl.nn.Linear(2, 2)) end },
  { 'train(0)', 'train: expected a boolean mode, got number', function() nl.nn.Dropout(0.5):train(0) end },
  { 'MultiheadAttention without heads', 'MultiheadAttention: expected positive integers embed_dim and num_heads, got 4 and nil',
    function() return nl.nn.MultiheadAttention(4) end },
  { 'MultiheadAttention without a query', 'MultiheadAttention: expected a query tensor, got nil',
    function() return nl.nn.MultiheadAttention(4, 2)(nil, nl.ones(2, 1, 4)) end },
  { 'load_state_dict with number and string keys', 'unexpected keys {1, extra}', function()
    local l = nl.nn.Linear(2, 2)
    local sd = l:state_dict()
    sd[1], sd.extra = nl.ones(1), nl.ones(1)
    l:load_state_dict(sd)
  end },
  { 'dim inf', 'sum: expected an integer dim, got inf', function() return a23:sum(math.huge) end },
  -- a dot for a colon failed inside on a nil self ("attempt to index local 'self'")
  { 'module method with a dot', 'parameters: expected a module; call it as m:parameters%(...%), not m.parameters%(...%)',
    function() local m = nl.nn.Linear(2, 2); return m.parameters() end },
  { 'module method on a class', 'train: expected a module', function() return nl.nn.Linear.train(nl.nn.Linear) end },
  { 'optimizer method with a dot', 'step: expected an optimizer; call it as opt:step%(...%), not opt.step%(...%)',
    function() local o = nl.optim.SGD({ nl.ones(1):requires_grad() }, { lr = 1 }); o.step() end },
  { 'multinomial inf', 'multinomial: expected a whole number of samples, got inf',
    function() return nl.multinomial(nl.ones(3), math.huge) end },
  -- flags given as 0, 1 or strings: 0 is true to Lua and 1 was read as
  -- false by `== true`, so each was silently misapplied (ceil_mode = 1
  -- floored, batch_first = 1 read the input sequence-first, bias = 0 kept
  -- the bias, count_include_pad = 0 counted the padding)
  { 'Linear bias 0', 'Linear: bias must be a boolean %(true or false%), got 0', function() return nl.nn.Linear(3, 4, { bias = 0 }) end },
  { 'Conv2d bias string', "Conv2d: bias must be a boolean %(true or false%), got 'no'",
    function() return nl.nn.Conv2d(1, 2, 3, { bias = 'no' }) end },
  { 'MaxPool2d ceil_mode 1', 'MaxPool2d: ceil_mode must be a boolean', function() return nl.nn.MaxPool2d(2, { ceil_mode = 1 }) end },
  { 'max_pool2d return_indices 1', 'max_pool2d: return_indices must be a boolean',
    function() return nl.nn.functional.max_pool2d(nl.ones(1, 1, 4, 4), 2, { return_indices = 1 }) end },
  { 'avg_pool2d count_include_pad 0', 'avg_pool2d: count_include_pad must be a boolean %(true or false%), got 0',
    function() return nl.nn.functional.avg_pool2d(nl.ones(1, 1, 4, 4), 3, { padding = 1, count_include_pad = 0 }) end },
  { 'LSTM batch_first 1', 'LSTM: batch_first must be a boolean', function() return nl.nn.LSTM(3, 4, { batch_first = 1 }) end },
  { 'GRUCell bias 1', 'GRUCell: bias must be a boolean', function() return nl.nn.GRUCell(3, 4, { bias = 1 }) end },
  { 'MultiheadAttention batch_first 0', 'MultiheadAttention: batch_first must be a boolean',
    function() return nl.nn.MultiheadAttention(4, 2, { batch_first = 0 }) end },
  { 'MultiheadAttention is_causal 0', 'MultiheadAttention: is_causal must be a boolean', function()
    local x = nl.ones(2, 1, 4)
    return nl.nn.MultiheadAttention(4, 2)(x, x, x, { is_causal = 0 })
  end },
  { 'TransformerEncoderLayer norm_first 1', 'TransformerEncoderLayer: norm_first must be a boolean',
    function() return nl.nn.TransformerEncoderLayer(4, 2, { norm_first = 1 }) end },
  { 'BatchNorm1d affine string', "BatchNorm1d: affine must be a boolean %(true or false%), got 'yes'",
    function() return nl.nn.BatchNorm1d(3, { affine = 'yes' }) end },
  { 'LayerNorm elementwise_affine 0', 'LayerNorm: elementwise_affine must be a boolean',
    function() return nl.nn.LayerNorm(3, { elementwise_affine = 0 }) end },
  -- messages that named an inner op (empty, index_select, rand, matmul),
  -- a C type, or shapes the caller never passed
  { 'Linear NaN size', 'Linear: expected positive whole sizes in_features and out_features, got nan and 3',
    function() return nl.nn.Linear(0 / 0, 3) end },
  { 'Linear fractional size', 'got 2.5 and 3', function() return nl.nn.Linear(2.5, 3) end },
  { 'Linear inf size', 'Linear: expected positive whole sizes in_features and out_features, got 4 and inf',
    function() return nl.nn.Linear(4, math.huge) end },
  { 'Embedding fractional size', 'Embedding: expected positive whole sizes num_embeddings and embedding_dim, got 5 and 2.5',
    function() return nl.nn.Embedding(5, 2.5) end },
  { 'Embedding id 0', 'Embedding: id 0 out of range 1..3 %(ids are 1%-based; ids shape %[2%]%)',
    function() return nl.nn.Embedding(3, 2)(nl.tensor({ 0, 2 }, 'int64')) end },
  { 'Embedding id past the end', 'Embedding: id 4 out of range 1..3',
    function() return nl.nn.Embedding(3, 2)(nl.tensor({ { 1, 4 } }, 'int64')) end },
  { 'Dropout int64', 'Dropout: expected a float input, got int64 %[2%]', function() return nl.nn.Dropout()(nl.ones(2, 'int64')) end },
  { 'tensor for a number', 'fill_: expected a number, got a tensor %(float32 %[%]%)',
    function() return nl.ones(2):fill_(nl.tensor(2.0)) end },
  { 'LSTMCell float64 input', 'LSTMCell: input of dtype float64 for a layer of float32 weights',
    function() return nl.nn.LSTMCell(3, 4)(nl.ones(2, 3, 'float64')) end },
  { 'GRUCell int64 input', 'GRUCell: input of dtype int64 for a layer of float32 weights %(convert the input: x:float%(%)%)',
    function() return nl.nn.GRUCell(3, 4)(nl.ones(2, 3, 'int64')) end },
  { 'MultiheadAttention float64 input',
    'MultiheadAttention: query %[4,2,8%] of dtype float64 for a layer of float32 weights',
    function() return nl.nn.MultiheadAttention(8, 2)(nl.ones(4, 2, 8, 'float64')) end },
  { 'MultiheadAttention float64 value',
    'MultiheadAttention: value %[3,2,8%] of dtype float64 for a layer of float32 weights',
    function() local k = nl.ones(3, 2, 8); return nl.nn.MultiheadAttention(8, 2)(nl.ones(4, 2, 8), k, k:double()) end },
  { 'MultiheadAttention batch_first shapes', 'MultiheadAttention: query %[2,4,8%], key %[3,5,8%] and value %[3,5,8%] do not agree',
    function()
      local k = nl.ones(3, 5, 8)
      return nl.nn.MultiheadAttention(8, 2, { batch_first = true })(nl.ones(2, 4, 8), k, k)
    end },
  -- flags read by truthiness: 0 was true (requires_grad(0) required grad,
  -- keepdim = 0 kept the dim, retain_graph = 0 kept the graph)
  { 'requires_grad 0', 'requires_grad: expected a boolean flag, got number',
    function() return nl.ones(2):requires_grad(0) end },
  { 'set_grad_enabled 0', 'set_grad_enabled: expected a boolean, got number', function() return nl.set_grad_enabled(0) end },
  { 'retain_graph 0', 'backward: retain_graph must be a boolean %(true or false%), got 0', function()
    local a = nl.ones(2):requires_grad()
    return (a * a):sum():backward({ retain_graph = 0 })
  end },
  { 'keepdim 0', 'sum: expected keepdim as a boolean, got number', function() return a23:sum(1, 0) end },
  { 'multinomial replacement 1', 'multinomial: expected replacement as a boolean, got number',
    function() return nl.multinomial(nl.ones(3), 2, 1) end },
  { 'detect_anomaly 1', 'detect_anomaly: expected a boolean, got number', function() return nl.detect_anomaly(1) end },
  -- int64 into layers PyTorch has no int64 kernel for (rand and the
  -- promotion named nothing or said nothing)
  { 'Dropout2d int64 in training', 'Dropout2d: expected a float input, got int64 %[1,2,2,1%]',
    function() return nl.nn.Dropout2d(0.5)(nl.ones(1, 2, 2, 1, 'int64')) end },
  { 'GELU int64', 'GELU: expected a float input, got int64 %[2%]', function() return nl.nn.GELU()(nl.ones(2, 'int64')) end },
  { 'SiLU int64', 'SiLU: expected a float input, got int64 %[2%]', function() return nl.nn.SiLU()(nl.ones(2, 'int64')) end },
  -- Conv2d blamed the weight for the input's dtype and showed an unbatched
  -- input with its batch dim
  { 'Conv2d float64 input', 'Conv2d: input of dtype float64 for a layer of float32 weights',
    function() return nl.nn.Conv2d(1, 2, 3)(nl.ones(1, 1, 5, 5, 'float64')) end },
  { 'Conv2d channels, unbatched', 'Conv2d: input has 2 channels, weight expects 1 %(input %[2,5,5%], weight %[2,1,3,3%]%)',
    function() return nl.nn.Conv2d(1, 2, 3)(nl.ones(2, 5, 5)) end },
  { 'Conv2d channels, fused with a pool', 'Conv2d: input has 2 channels, weight expects 1 %(input %[1,2,6,6%]',
    function() return nl.nn.Sequential(nl.nn.Conv2d(1, 2, 3), nl.nn.MaxPool2d(2))(nl.ones(1, 2, 6, 6)) end },
  -- arguments a constructor has no parameter for were dropped silently
  { 'Linear extra argument', 'Linear: takes at most 3 arguments, got 4', function() return nl.nn.Linear(4, 3, {}, 7) end },
  { 'Softmax extra argument', 'Softmax: takes at most 1 argument, got 2', function() return nl.nn.Softmax(2, 3) end },
  { 'a class of no init, given arguments', 'NoArgs: takes at most 0 arguments, got 1',
    function() return nl.nn.Module:extend('NoArgs')(5) end },
  -- positional options were dropped (StepLR(o, {step_size = 1}, 0.5) kept gamma 0.1)
  { 'StepLR positional gamma', 'StepLR: takes %(optimizer, {options}%), got 3 arguments', function()
    return nl.optim.StepLR(nl.optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 1 }), { step_size = 1 }, 0.5)
  end },
  { 'SGD positional momentum', 'SGD: takes %(params, {options}%), got 3 arguments',
    function() return nl.optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 1 }, 0.9) end },
  { 'zero_grad 0', 'zero_grad: expected a boolean set_to_none, got number',
    function() return nl.optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 1 }):zero_grad(0) end },
  { 'gelu int64', 'gelu: expected a float input, got int64 %[2%]', function() return nl.ones(2, 'int64'):gelu() end },
  { 'silu int64', 'silu: expected a float input, got int64 %[2%]', function() return nl.silu(nl.ones(2, 'int64')) end },
  { 'Softmax dim 0', 'Softmax: dim 0 is invalid; dims count from 1', function() return nl.nn.Softmax(0) end },
  { 'TransformerEncoderLayer dim_feedforward 0', 'TransformerEncoderLayer: dim_feedforward must be a positive whole number, got 0',
    function() return nl.nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 0 }) end },
  -- promoted silently, where PyTorch refuses the mix
  { 'BatchNorm1d int64 input', 'BatchNorm1d: input of dtype int64 for a layer of float32 weights',
    function() return nl.nn.BatchNorm1d(3)(nl.ones(4, 3, 'int64')) end },
  { 'BatchNorm2d float64 input', 'BatchNorm2d: input of dtype float64 for a layer of float32 weights',
    function() return nl.nn.BatchNorm2d(3)(nl.ones(2, 3, 2, 2, 'float64')) end },
  { 'BatchNorm1d without tensors, int64 input', 'BatchNorm1d: expected a float input, got int64 %[4,3%]',
    function() return nl.nn.BatchNorm1d(3, { affine = false, track_running_stats = false })(nl.ones(4, 3, 'int64')) end },
  { 'LayerNorm float64 input', 'LayerNorm: input of dtype float64 for a layer of float32 weights',
    function() return nl.nn.LayerNorm(3)(nl.ones(4, 3, 'float64')) end },
  -- NaN passed p < 0 or p > 1, and then no dropout ran
  { 'LSTM dropout NaN', 'LSTM: dropout must be a number in %[0, 1%], got nan',
    function() return nl.nn.LSTM(3, 4, { num_layers = 2, dropout = 0 / 0 }) end },
  -- a hole in the padding list (ipairs stopped at it) reached the size
  -- arithmetic: "attempt to perform arithmetic on local 'r' (a nil value)"
  { 'pad reflect nil entry', 'pad: padding must hold integers, got nil at position 2',
    function() return nl.nn.functional.pad(nl.zeros(1, 3, 3), { 1, nil, 1, 1 }, 'reflect') end },
  { 'pad constant nil entry', 'pad: padding must hold integers, got nil at position 1',
    function() return nl.nn.functional.pad(nl.zeros(1, 3, 3), { nil, 1 }) end },
  -- replicate on a dim of size 0 named clamp ('clamp: min 0 is greater than max -1')
  { 'pad replicate empty dim', "pad: mode 'replicate' has no element to repeat in dim 3 of input %[1,2,0%]",
    function() return nl.nn.functional.pad(nl.zeros(1, 2, 0), { 1, 1 }, 'replicate') end },
  { 'ReplicationPad2d empty dim', "ReplicationPad2d: mode 'replicate' has no element to repeat in dim 3 of input %[3,2,0,1%]",
    function() return nl.nn.ReplicationPad2d(1)(nl.zeros(3, 2, 0, 1)) end },
  -- a fill value the input's dtype cannot hold was named by nl.full
  { 'pad value past float32', 'pad: value %-1e%+300 cannot be stored in the float32 input %[4%]',
    function() return nl.nn.functional.pad(nl.ones(4), { 1, 1 }, 'constant', -1e300) end },
  { 'ConstantPad1d inf into int64', 'ConstantPad1d: value inf cannot be stored in the int64 input %[1,2%]',
    function() return nl.nn.ConstantPad1d(1, math.huge)(nl.ones(1, 2, 'int64')) end },
  -- arguments checked by ipairs over { a, b, ... }, which stops at the
  -- first nil: a nil first argument went unchecked and was named by an
  -- inner op ('shape: expected a tensor, got nil', 'atan2: tensor: ...',
  -- 'rand: expected integer sizes, got nil')
  { 'scaled_dot_product_attention nil query', 'scaled_dot_product_attention: expected a tensor as query, got nil',
    function() return nl.nn.functional.scaled_dot_product_attention(nil, nl.ones(2, 3), nl.ones(2, 3)) end },
  { 'atan2 nil first operand', '^[^\n]-: atan2: expected a tensor or a number, got nil$',
    function() return nl.atan2(nil, nl.ones(2)) end },
  { 'char_corpus windows nil batch', 'char_corpus:windows: expected positive integers, got nil', function()
    local path = os.tmpname()
    local f = assert(io.open(path, 'w'))
    f:write('hello world, this is some text\n')
    f:close()
    local ok, c = pcall(nl.data.char_corpus, path)
    os.remove(path)
    assert(ok, c)
    return c:windows(nil, 3)
  end },
  -- int64 points that are no int64 value (NaN ends, 2^70) were named by nl.tensor
  { 'linspace int64 NaN', 'linspace: point 1, nan, is not an int64 value %(start nan, end 1%)',
    function() return nl.linspace(0 / 0, 1, 3, 'int64') end },
  { 'logspace int64 -inf', 'logspace: point 1, nan, is not an int64 value %(start %-inf, end 0%)',
    function() return nl.logspace(-math.huge, 0, 5, 'int64') end },
  { 'linspace int64 past 2^63', 'linspace: point 2, .* is not an int64 value', function() return nl.linspace(0, 2 ^ 70, 3, 'int64') end },
  -- a p that does not broadcast was named by the inner lt or copy_
  { 'bernoulli_ p of more elements', 'bernoulli_: p of shape %[4,2%] does not broadcast to the shape %[1%] of the tensor drawn into',
    function() return nl.zeros(1):bernoulli_(nl.ones(4, 2)) end },
  { 'bernoulli_ p of another size', 'bernoulli_: p of shape %[2%] does not broadcast to the shape %[3%]',
    function() return nl.zeros(3):bernoulli_(nl.ones(2)) end },
  -- cumsum's and cumprod's dtype and input were named by the inner to
  { 'cumsum unknown dtype', "cumsum: unknown dtype 'int32' %(use 'float32', 'float64' or 'int64'%)",
    function() return nl.ones(3):cumsum(1, 'int32') end },
  { 'cumprod number input with a dtype', 'cumprod: expected a tensor, got number', function() return nl.cumprod(5, 1, 'float64') end },
  -- an in-place op's message from the op it runs was prefixed twice ('atan2_: atan2: ...')
  { 'atan2_ nil other', '^[^\n]-: atan2_: expected a tensor or a number, got nil$', function() return nl.ones(2):atan2_(nil) end },
  { 'atanh_ extra argument', '^[^\n]-: atanh_: takes %(%), got 1 argument$', function() return nl.ones(2):atanh_(1) end },
  -- an input of the wrong dims with a weight that is no tensor: the
  -- message read the weight's shape ('shape: expected a tensor, got table')
  { 'conv_transpose2d 3-D input, table weight', 'conv_transpose2d: expected a tensor, got table',
    function() return nl.nn.functional.conv_transpose2d(nl.zeros(2, 0, 3), { { 1, 2 }, { 3 } }) end },
  { 'conv_transpose1d 2-D input, number weight', 'conv_transpose1d: expected a tensor, got number',
    function() return nl.nn.functional.conv_transpose1d(nl.zeros(2, 3), 5) end },
  -- a tensor mean and std that do not broadcast were named by the add inside
  { 'normal mean and std shapes', 'normal: mean of shape %[4%] and std of shape %[0,2,3%] do not broadcast together',
    function() return nl.normal(nl.ones(4), nl.ones(0, 2, 3)) end },
  -- a number no int64 holds was named by the C fill behind it ('full: inf is not an int64 value')
  { 'tensor of inf as int64', '^[^\n]-: tensor: inf is not an int64 value$', function() return nl.tensor(math.huge, 'int64') end },
  { 'tensor of 2^63 as long', '^[^\n]-: tensor: 9.2233720368548e%+18 is not an int64 value$', function() return nl.tensor(2 ^ 63, 'long') end },
  -- the parametrizations' modules (nn.load rebuilds them from their
  -- arguments) took any shape to ipairs and # ("bad argument #1 to
  -- 'ipairs'", "attempt to get length of local 'shape'") and any map
  -- (an unknown one ran as householder)
  { '_Orthogonal shape a number', "orthogonal: the weight's shape must be a list of 2 sizes, got 3",
    function() local _ = nl.nn.utils.parametrizations; return nl.nn._Orthogonal(3, 'cayley', true) end },
  { '_Orthogonal shape a tensor', "orthogonal: the weight's shape must be a list of 2 sizes, got a tensor",
    function() local _ = nl.nn.utils.parametrizations; return nl.nn._Orthogonal(nl.zeros(2, 2), 'cayley') end },
  { '_Orthogonal unknown map', "orthogonal: orthogonal_map must be 'matrix_exp', 'cayley' or 'householder', got 'qr'",
    function() local _ = nl.nn.utils.parametrizations; return nl.nn._Orthogonal({ 2, 2 }, 'qr', true) end },
  { '_SpectralNorm shape nil', "spectral_norm: the weight's shape must be a list of 1 to 8 sizes, got nil",
    function() local _ = nl.nn.utils.parametrizations; return nl.nn._SpectralNorm(nil, 1, 1, 1e-12) end },
  { '_SpectralNorm size a string', "spectral_norm: the weight's shape must hold whole sizes >= 0, got 'x' at position 2",
    function() local _ = nl.nn.utils.parametrizations; return nl.nn._SpectralNorm({ 2, 'x' }, 1, 1, 1e-12) end },
  { '_SpectralNorm int64 dtype', "spectral_norm: dtype must be 'float32' or 'float64', got 'int64'",
    function() local _ = nl.nn.utils.parametrizations; return nl.nn._SpectralNorm({ 2, 3 }, 1, 1, 1e-12, 'int64') end },
}

describe('misuse', function()
  for _, c in ipairs(cases) do
    it(c[1] .. ' raises a Lua error naming the op', function()
      local ok, err = pcall(c[3])
      assert.is_false(ok, 'expected an error')
      assert.are.equal('string', type(err))
      local found = false
      for pat in (c[2] .. '|'):gmatch('([^|]*)|') do
        if err:find(pat) then found = true end
      end
      assert.is_true(found, 'message "' .. err .. '" does not match "' .. c[2] .. '"')
    end)
  end

  -- every op that takes its options as arguments or as one table in the
  -- first one's place refuses both with one message (nl._opts_or_args);
  -- they said it in three wordings ('give the options table alone',
  -- 'options as a table, or numbers'), and diff dropped a positional
  -- prepend or append after the table without a word
  it('options as a table and as arguments at once are refused, naming the op', function()
    local nn, F = nl.nn, nl.nn.functional
    local x, s = nl.ones(2, 3, 4, 4), nl.tensor({ 1, 2, 3 })
    local sites = {
      { 'ELU', function() return nn.ELU({ alpha = 1 }, true) end },
      { 'Threshold', function() return nn.Threshold({ threshold = 0, value = 0 }, 1) end },
      { 'Flatten', function() return nn.Flatten({ start_dim = 1 }, 2) end },
      { 'elu', function() return F.elu(x, { alpha = 1 }, true) end },
      { 'softmax', function() return F.softmax(x, { dim = 1 }, 'float64') end },
      { 'threshold', function() return F.threshold(x, { threshold = 0, value = 0 }, nil, true) end },
      { 'elu_', function() return F.elu_(x:clone(), { alpha = 1 }, 2) end },
      { 'threshold_', function() return F.threshold_(x:clone(), { threshold = 0 }, 1) end },
      { 'MaxUnpool2d', function() return nn.MaxUnpool2d(2, { stride = 2 }, 0) end },
      { 'LocalResponseNorm', function() return nn.LocalResponseNorm(3, { alpha = 1 }, 0.5) end },
      { 'local_response_norm', function() return F.local_response_norm(x, { size = 3 }, 1e-4) end },
      { 'CrossMapLRN2d', function() return nn.CrossMapLRN2d({ size = 3 }, 1e-4) end },
      { 'PReLU', function() return nn.PReLU({ num_parameters = 3 }, 0.1) end },
      { 'rrelu', function() return F.rrelu(x, { lower = 0.1 }, nil, true) end },
      { 'RReLU', function() return nn.RReLU({ lower = 0.1 }, 0.2) end },
      { 'Dropout', function() return nn.Dropout({ p = 0.5 }, true) end },
      { 'dropout', function() return F.dropout(x, { p = 0.5 }, true) end },
      { 'layer_norm', function() return F.layer_norm(x, { 4 }, nil, nil, { eps = 1e-5 }, 1e-5) end },
      { 'Embedding.from_pretrained', function() return nn.Embedding.from_pretrained(nl.ones(3, 2), {}, 1) end },
      { 'embedding', function() return F.embedding(nl.tensor({ 1 }, 'int64'), nl.ones(3, 2), { max_norm = 1 }, 2) end },
      { 'softplus', function() return x:softplus({ beta = 1 }, 2) end },
      { 'sort', function() return s:sort({ dim = 1 }, true) end },
      { 'nan_to_num', function() return s:nan_to_num({ nan = 0 }, 1) end },
      { 'norm', function() return s:norm({ p = 2 }, 1) end },
      { 'quantile', function() return s:quantile(0.5, { dim = 1 }, true) end },
      { 'searchsorted', function() return nl.searchsorted(s, s, { right = true }, 'left') end },
      { 'bincount', function() return nl.tensor({ 1 }, 'int64'):bincount({ minlength = 2 }, 3) end },
      { 'histc', function() return s:histc({ bins = 2 }, 0, 1) end },
      { 'unique', function() return s:unique({ sorted = true }, true) end },
      { 'unique_consecutive', function() return s:unique_consecutive({ return_counts = true }, nil, 1) end },
      { 'diagonal', function() return x:diagonal({ offset = 1 }, 1, 2) end },
      { 'isclose', function() return s:isclose(s, { rtol = 1 }, 1) end },
      { 'cdist', function() return nl.cdist(nl.ones(2, 2), nl.ones(2, 2), { p = 2 }, 'use_mm_for_euclid_dist') end },
      { 'diff', function() return s:diff({ n = 1 }, nil, nl.ones(1)) end },
      { 'linalg.vector_norm', function() return nl.linalg.vector_norm(s, 2, { dim = 1 }, true) end },
      -- these two dropped the argument after the table without a word
      { 'LeakyReLU', function() return nn.LeakyReLU({ negative_slope = 0.2 }, true) end },
      { 'hardtanh', function() return nl.tensor({ -3, 3 }, 'int64'):hardtanh({ min_val = -2 }, 2) end },
    }
    for _, c in ipairs(sites) do
      local ok, err = pcall(c[2])
      assert.is_false(ok, c[1] .. ' took both')
      assert.is_truthy(err:find('errors_spec.lua:%d+: ' .. c[1]:gsub('%.', '%%.')
        .. ': takes its options as a table or as arguments, not both$'), err)
    end
  end)

  it('the error points at the caller\'s line', function()
    local ok, err = pcall(function() return nl.ones(2) + nl.ones(3) end)
    assert.is_false(ok)
    assert.is_truthy(err:find('errors_spec.lua:%d+: add:'), err)
    ok, err = pcall(function() return nl.zeros(2):view(3) end)
    assert.is_truthy(err:find('errors_spec.lua:%d+: view:'), err)
  end)
end)

-- arguments past a signature were dropped without a word (PyTorch raises
-- TypeError): one table per module, { message, call }; a trailing nil
-- is an absent argument and is taken
describe('extra arguments', function()
  local function refused(cases)
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[2])
      assert.is_false(ok, c[1] .. ' took an extra argument')
      assert.is_truthy(err:find('errors_spec.lua:%d+: ' .. c[1]:gsub('[%.%(%)%[%]]', '%%%0') .. '$'), err)
    end
  end
  local x = nl.ones(2, 3)

  it('Tensor methods refuse them', function()
    refused({
      { 'dtype: takes (), got 1 argument', function() return x:dtype(1) end },
      { 'shape: takes (), got 1 argument', function() return x:shape(1) end },
      { 'stride: takes ([dim]), got 2 arguments', function() return x:stride(1, 2) end },
      { 'is_contiguous: takes (), got 1 argument', function() return x:is_contiguous(1) end },
      { 'item: takes (), got 1 argument', function() return nl.ones(1):item(1) end },
      { 'totable: takes (), got 1 argument', function() return x:tolist(1) end },
      { 'leaky_relu_: takes ([negative_slope]), got 2 arguments',
        function() return x:clone():leaky_relu_(0.2, true) end },
      { 'type: takes ([dtype]), got 2 arguments', function() return x:type('float64', 1) end },
      { 'requires_grad_: takes ([requires_grad]), got 2 arguments',
        function() return nl.ones(2):requires_grad_(true, 1) end },
      { 'is_leaf: takes (), got 1 argument', function() return x:is_leaf(1) end },
      { 'grad_fn: takes (), got 1 argument', function() return x:grad_fn(1) end },
      { 'detach_: takes (), got 1 argument', function() return nl.ones(2):detach_(1) end },
      { 'register_hook: takes (hook), got 2 arguments',
        function() return nl.ones(2):requires_grad():register_hook(function() end, 1) end },
      { 'backward: takes ([gradient], [{options}]), got 3 arguments',
        function() return nl.ones(2):requires_grad():sum():backward(nil, {}, true) end },
      { 'uniform_: takes ([from], [to]), got 3 arguments', function() return nl.ones(2):uniform_(0, 1, 2) end },
      { 'normal_: takes ([mean], [std]), got 3 arguments', function() return nl.ones(2):normal_(0, 1, 2) end },
      { 'bernoulli_: takes ([p]), got 2 arguments', function() return nl.ones(2):bernoulli_(0.5, 1) end },
      { 'exponential_: takes ([lambd]), got 2 arguments', function() return nl.ones(2):exponential_(2, 1) end },
      { 'new_full: takes (size, fill_value, [dtype]), got 4 arguments',
        function() return x:new_full({ 2 }, 1, 'float64', 1) end },
      { 'new_tensor: takes (data, [dtype]), got 3 arguments', function() return x:new_tensor({ 1 }, 'float64', 1) end },
      { 'element_size: takes (), got 1 argument', function() return x:element_size(1) end },
      { 'is_floating_point: takes (), got 1 argument', function() return x:is_floating_point(1) end },
      { 'is_same_size: takes (other), got 2 arguments', function() return x:is_same_size(x, 1) end },
      { 'multinomial: takes (input, num_samples, [replacement]), got 4 arguments',
        function() return nl.ones(3):multinomial(2, false, 1) end },
      -- the shifted forms dropped what followed them
      { 'var: takes (unbiased, keepdim), got 3 arguments', function() return x:var(true, true, 'x') end },
      { 'prod: takes ([dim], [dtype]), got 3 arguments', function() return x:prod(2, 'float64', 'x') end },
    })
  end)

  it('nl functions refuse them', function()
    refused({
      { 'tensor: takes (data, [dtype]), got 3 arguments', function() return nl.tensor({ 1 }, 'float64', 1) end },
      { 'full: takes (size, fill_value, [dtype]), got 4 arguments',
        function() return nl.full({ 2 }, 1, 'float64', 1) end },
      { 'arange: takes ([start], end, [step], [dtype]), got 5 arguments',
        function() return nl.arange(1, 5, 1, 'float64', 1) end },
      { 'arange: takes (start, end, [dtype]), got 4 arguments', function() return nl.arange(1, 5, 'float64', 1) end },
      { 'eye: takes (n, [dtype]), got 3 arguments', function() return nl.eye(2, 'float64', 1) end },
      { 'manual_seed: takes (seed), got 2 arguments', function() return nl.manual_seed(1, 2) end },
      { 'randperm: takes (n), got 2 arguments', function() return nl.randperm(3, 'int64') end },
      { 'stack: takes (tensors, [dim]), got 3 arguments', function() return nl.stack({ x, x }, 1, 2) end },
      { 'zeros_like: takes (input, [dtype]), got 3 arguments', function() return nl.zeros_like(x, 'float64', 1) end },
      { 'full_like: takes (input, fill_value, [dtype]), got 4 arguments',
        function() return nl.full_like(x, 1, 'float64', 1) end },
      { 'randint: takes (high, size, [dtype]), got 4 arguments',
        function() return nl.randint(5, { 2 }, 'int64', 1) end },
      { 'randint_like: takes (input, high, [dtype]), got 4 arguments',
        function() return nl.randint_like(x, 5, 'int64', 1) end },
      { 'linspace: takes (start, end, steps, [dtype]), got 5 arguments',
        function() return nl.linspace(0, 1, 3, 'float64', 1) end },
      { 'normal: takes (mean, std, [size], [dtype]), got 5 arguments',
        function() return nl.normal(0, 1, { 2 }, 'float64', 1) end },
      { 'get_default_dtype: takes (), got 1 argument', function() return nl.get_default_dtype(1) end },
      { 'is_grad_enabled: takes (), got 1 argument', function() return nl.is_grad_enabled(1) end },
    })
    -- a trailing nil is no argument
    assert.are.equal('float64', nl.tensor({ 1 }, 'float64', nil):dtype())
  end)

  it('nn.functional and nn.init refuse them', function()
    local F, init = nl.nn.functional, nl.nn.init
    refused({
      { 'normalize: takes (input, [{options}]), got 3 arguments', function() return F.normalize(x, {}, 1) end },
      { 'cosine_similarity: takes (x1, x2, [{options}]), got 4 arguments',
        function() return F.cosine_similarity(x, x, {}, 1) end },
      { 'pairwise_distance: takes (x1, x2, [{options}]), got 4 arguments',
        function() return F.pairwise_distance(x, x, {}, 1) end },
      { 'rnn_cell: takes (gi, gh, [nonlinearity]), got 4 arguments',
        function() return F.rnn_cell(x, x, 'relu', 1) end },
      { 'init.uniform_: takes (tensor, [a], [b]), got 4 arguments',
        function() return init.uniform_(nl.zeros(2), 0, 1, 2) end },
      { 'init.zeros_: takes (tensor), got 2 arguments', function() return init.zeros_(nl.zeros(2), 1) end },
      { 'init.kaiming_uniform_: takes (tensor, [{options}]), got 3 arguments',
        function() return init.kaiming_uniform_(nl.zeros(2, 2), {}, 'fan_out') end },
      { 'init.calculate_gain: takes (nonlinearity, [param]), got 3 arguments',
        function() return init.calculate_gain('leaky_relu', 0.2, 1) end },
    })
  end)

  it('optimizers and schedulers refuse them', function()
    local optim = nl.optim
    local w = nl.zeros(2):requires_grad()
    local o = optim.SGD({ w }, { lr = 1 })
    refused({
      { 'SGD: step: takes ([closure]), got 2 arguments', function() return o:step(nil, 1) end },
      { 'SGD: zero_grad: takes ([set_to_none]), got 2 arguments', function() return o:zero_grad(false, 1) end },
      { 'SGD: state_dict: takes (), got 1 argument', function() return o:state_dict(1) end },
      { 'StepLR: step: takes ([epoch]), got 2 arguments',
        function() return optim.StepLR(o, { step_size = 1 }):step(nil, 1) end },
      { 'StepLR: get_last_lr: takes (), got 1 argument',
        function() return optim.StepLR(o, { step_size = 1 }):get_last_lr(1) end },
      { 'ReduceLROnPlateau: step: takes (metrics, [epoch]), got 3 arguments',
        function() return optim.ReduceLROnPlateau(o):step(1, nil, 1) end },
      { 'parameters_to_vector: takes (parameters), got 2 arguments',
        function() return optim.parameters_to_vector({ w }, 1) end },
    })
  end)

  it('modules refuse them: forward, the Module methods, a named item of ModuleList', function()
    local nn = nl.nn
    local m = nn.Linear(3, 2)
    refused({
      { 'Linear: forward: takes (x), got 2 arguments', function() return m(x, x) end },
      { 'ReLU: forward: takes (x), got 2 arguments', function() return nn.ReLU()(x, true) end },
      { 'Sequential: forward: takes (input), got 2 arguments', function() return nn.Sequential(m)(x, 1) end },
      { 'parameters: takes (), got 1 argument', function() return m:parameters(false) end },
      { 'named_parameters: takes (), got 2 arguments', function() return m:named_parameters('', false) end },
      { 'eval: takes (), got 1 argument', function() return m:eval(1) end },
      { 'apply: takes (fn), got 2 arguments', function() return m:apply(function() end, 1) end },
      { 'compile: takes (opts), got 2 arguments',
        function() return nn.Linear(3, 2):compile({ optimizer = 'sgd', loss = 'mse' }, 1) end },
      { "ModuleList: expected a list of modules, got one under the key 'act' (ModuleDict holds named modules)",
        function() return nn.ModuleList({ m, act = nn.ReLU() }) end },
    })
    -- a trailing nil is no argument; forward's own stubs keep their messages
    assert.are.same({ 2, 2 }, m(x, nil):shape())
    local ok, err = pcall(function() return nn.ModuleList({ m })(x, 1) end)
    assert.is_false(ok)
    assert.is_truthy(err:find('ModuleList: a list has no forward', 1, true), err)
    ok, err = pcall(function() return m:register_full_backward_hook(function() end) end)
    assert.is_false(ok)
    assert.is_truthy(err:find('module backward hooks are not supported', 1, true), err)
  end)

  it('the mode switches and utilities refuse them', function()
    refused({
      { 'no_grad: takes (fn), got 2 arguments', function() return nl.no_grad(function() end, 1) end },
      { 'enable_grad: takes (fn), got 2 arguments', function() return nl.enable_grad(function() end, 1) end },
      { 'set_grad_enabled: takes (mode), got 2 arguments', function() return nl.set_grad_enabled(true, 1) end },
      { 'grad: takes (outputs, inputs, [{options}]), got 4 arguments', function()
        local w = nl.ones(2):requires_grad()
        return nl.autograd.grad(w:sum(), { w }, {}, 1)
      end },
      { 'set_num_threads: takes (n), got 2 arguments',
        function() return nl.set_num_threads(nl.get_num_threads(), 1) end },
      { 'causal_mask: takes (L), got 2 arguments', function() return nl.nn.causal_mask(2, 3) end },
      { "finfo: takes ([type]), got 2 arguments", function() return nl.finfo('float32', 1) end },
      { 'inference_mode: takes ([mode], fn), got 3 arguments',
        function() return nl.inference_mode(true, function() end, 1) end },
    })
  end)

  it('nl.data refuses them: loaders, datasets, samplers and their methods', function()
    local data = nl.data
    local S = require 'support'
    local dir = S.tmpdir()
    local csv, txt = S.write(dir .. '/a.csv', 'a,b\n1,2\n3,4\n'), S.write(dir .. '/c.txt', 'hello there')
    local ds = data.TensorDataset(nl.ones(4, 2), nl.ones(4))
    local loader = data.DataLoader(ds, { batch_size = 2 })
    local dist = data.DistributedSampler(ds, { num_replicas = 2, rank = 0 })
    local idx = nl.tensor({ 1 }, 'int64')
    refused({
      { 'load_idx: takes (path, dtype), got an extra argument 7', function() return data.load_idx(csv, nil, 7) end },
      { 'load_csv: takes (path, opts), got an extra argument 7', function() return data.load_csv(csv, {}, 7) end },
      { 'IdxDataset: takes (images, labels, opts), got an extra argument 7',
        function() return data.IdxDataset(csv, csv, {}, 7) end },
      { 'FashionMNIST: takes (dir, opts), got an extra argument 7', function() return data.FashionMNIST(dir, {}, 7) end },
      { 'fashion_mnist: takes (dir), got an extra argument 7', function() return data.fashion_mnist(dir, 7) end },
      { 'char_corpus: takes (path), got an extra argument 7', function() return data.char_corpus(txt, 7) end },
      { 'char_corpus:windows: takes (batch, len), got an extra argument 7',
        function() return data.char_corpus(txt):windows(2, 3, 7) end },
      { 'get_worker_info: takes (), got an extra argument 7', function() return data.get_worker_info(7) end },
      { 'TensorDataset:get: takes (i), got 2 arguments', function() return ds:get(1, 7) end },
      { 'TensorDataset:batch: takes (idx), got 2 arguments', function() return ds:batch(idx, 7) end },
      { 'DataLoader:iter: takes (skip), got 2 arguments', function() return loader:iter(nil, 7) end },
      { 'DataLoader:shutdown: takes (), got 1 argument', function() return loader:shutdown(7) end },
      { 'Subset:get: takes (i), got 2 arguments', function() return (data.random_split(ds, { 2, 2 })):get(1, 7) end },
      { 'ConcatDataset:batch: takes (idx), got 2 arguments',
        function() return data.ConcatDataset({ ds, ds }):batch(idx, 7) end },
      { 'StackDataset:get: takes (i), got 2 arguments', function() return data.StackDataset(ds, ds):get(1, 7) end },
      { 'RandomSampler:order: takes (), got 1 argument', function() return data.RandomSampler(ds):order(7) end },
      { 'SequentialSampler:iter: takes (), got 1 argument', function() return data.SequentialSampler(ds):iter(7) end },
      { 'BatchSampler:iter: takes (), got 1 argument',
        function() return data.BatchSampler(data.SequentialSampler(ds), 2, false):iter(7) end },
      { 'DistributedSampler: takes (ds, opts), got an extra argument 7',
        function() return data.DistributedSampler(ds, { num_replicas = 2, rank = 0 }, 7) end },
      { 'DistributedSampler:set_epoch: takes (e), got 2 arguments', function() return dist:set_epoch(1, 7) end },
      { 'DistributedSampler:order: takes (), got 1 argument', function() return dist:order(7) end },
    })
    -- a trailing nil is no argument; the loader still runs
    local xr, yr = ds:get(1, nil)
    assert.are.same({ 1, 1 }, xr:totable())
    assert.are.equal(1, yr)
    local n = 0
    for xb in loader:iter(nil, nil) do n = n + xb:size(1) end
    assert.are.equal(4, n)
  end)

  it('distributions refuse them: constructors, methods, kl_divergence', function()
    local D = nl.distributions
    local N = D.Normal(nl.zeros(2), nl.ones(2))
    local v = nl.tensor({ 0.5, 1.5 })
    refused({
      { 'Normal: takes (loc, scale, [{options}]), got 4 arguments', function() return D.Normal(0, 1, {}, 1) end },
      { 'Categorical: takes (probs, logits, [{options}]), got 4 arguments',
        function() return D.Categorical(nl.tensor({ 0.5, 0.5 }), nil, {}, 1) end },
      { 'Normal: sample: takes ([sample_shape]), got 2 arguments', function() return N:sample({ 2 }, 1) end },
      { 'Normal: rsample: takes ([sample_shape]), got 2 arguments', function() return N:rsample({ 2 }, 1) end },
      { 'Normal: log_prob: takes (value), got 2 arguments', function() return N:log_prob(v, 1) end },
      { 'Normal: cdf: takes (value), got 2 arguments', function() return N:cdf(v, 1) end },
      { 'Normal: icdf: takes (value), got 2 arguments', function() return N:icdf(nl.tensor({ 0.5, 0.5 }), 1) end },
      { 'Normal: entropy: takes (), got 1 argument', function() return N:entropy(1) end },
      { 'Normal: expand: takes (batch_shape), got 2 arguments', function() return N:expand({ 3, 2 }, 1) end },
      { 'Bernoulli: enumerate_support: takes ([expand]), got 2 arguments',
        function() return D.Bernoulli(nl.tensor({ 0.3 })):enumerate_support(true, 1) end },
      { 'Independent: log_prob: takes (value), got 2 arguments', function() return D.Independent(N, 1):log_prob(v, 1) end },
      { 'Gamma: sample: takes ([sample_shape]), got 2 arguments',
        function() return D.Gamma(nl.ones(2), nl.ones(2)):sample({ 2 }, 1) end },
      { 'kl_divergence: takes (p, q), got 3 arguments', function() return D.kl_divergence(N, N, 1) end },
      { 'set_default_validate_args: takes (value), got 2 arguments',
        function() return D.Distribution.set_default_validate_args(true, 1) end },
    })
    -- a trailing nil is no argument; the stubs keep their own messages
    assert.are.same({ 2 }, N:log_prob(v, nil):shape())
    assert.are.same({ 2 }, D.Normal(nl.zeros(2), nl.ones(2), nil, nil).batch_shape)
    local ok, err = pcall(function() return D.Gamma(nl.ones(2), nl.ones(2)):rsample({ 2 }) end)
    assert.is_false(ok)
    assert.is_truthy(err:find('Gamma: rsample is not available', 1, true), err)
    ok, err = pcall(function() return D.Poisson(nl.ones(2)):cdf(v) end)
    assert.is_false(ok)
    assert.is_truthy(err:find('Poisson: cdf is not implemented', 1, true), err)
  end)

  it('callbacks and nl.metrics objects refuse them', function()
    local C, M = nl.callbacks, nl.metrics
    local es, p = C.EarlyStopping(), M.Precision()
    refused({
      { 'EarlyStopping: takes ([{options}]), got 2 arguments', function() return C.EarlyStopping({}, 1) end },
      { 'ModelCheckpoint: takes (filepath, [{options}]), got 3 arguments',
        function() return C.ModelCheckpoint('m.safetensors', {}, 1) end },
      { 'TerminateOnNaN: takes (), got 1 argument', function() return C.TerminateOnNaN(1) end },
      { 'EarlyStopping: state_dict: takes (), got 1 argument', function() return es:state_dict(1) end },
      { 'EarlyStopping: set_model: takes (model), got 2 arguments', function() return es:set_model(nl.nn.Linear(1, 1), 1) end },
      { 'EarlyStopping: on_train_end: takes ([logs]), got 2 arguments', function() return es:on_train_end({}, 1) end },
      { 'EarlyStopping: on_epoch_end: takes (epoch, [logs]), got 3 arguments',
        function() return es:on_epoch_end(1, {}, 1) end },
      { 'nl.metrics.Precision: takes ([{options}]), got 2 arguments', function() return M.Precision({}, 0.5) end },
      { 'nl.metrics.AUC: takes ([{options}]), got 2 arguments', function() return M.AUC(nil, 1) end },
      { 'Precision:result: takes (), got 1 argument', function() return p:result(1) end },
      { 'Precision:reset_state: takes (), got 1 argument', function() return p:reset_state(1) end },
    })
    -- a trailing nil is no argument
    assert.are.equal(0, p:result(nil))
    assert.are.equal('EarlyStopping', C.EarlyStopping(nil).__name)
  end)

  it('ModuleDict, ParameterList, ParameterDict and DataParallel refuse them in their own methods', function()
    local nn, S = nl.nn, require 'support'
    local md = nn.ModuleDict({ a = nn.Linear(1, 1) })
    local pl = nn.ParameterList({ nl.zeros(2) })
    local pd = nn.ParameterDict({ w = nl.zeros(2) })
    refused({
      { 'keys: takes (), got 1 argument', function() return md:keys(1) end },
      { 'update: takes (modules), got 2 arguments', function() return md:update({}, 1) end },
      { 'pop: takes (k), got 2 arguments', function() return md:pop('a', 1) end },
      { 'append: takes (t), got 2 arguments', function() return pl:append(nl.zeros(1), 1) end },
      { 'extend: takes (values), got 2 arguments', function() return pl:extend({}, 1) end },
      { 'pop: takes (k), got 2 arguments', function() return pd:pop('w', 1) end },
      { 'update: takes (parameters), got 2 arguments', function() return pd:update({}, 1) end },
    })
    -- a trailing nil is no argument; nothing was taken out by the refused pops
    assert.are.same({ 'a' }, md:keys(nil))
    assert.are.equal(1, pd:size())
    assert.are.equal(1, pl:size())
    -- DataParallel starts nl.dist (MPI): in a process of its own
    local out = S.run_luajit([[
      local dp = nl.nn.DataParallel(nl.nn.Linear(2, 2))
      for _, f in ipairs({ function() return dp:sync_grads(1) end, function() return dp:get_parameter('weight', 1) end,
                           function() return dp:state_names(1) end }) do
        print(select(2, pcall(f)))
      end
      io.write('names ', #dp:state_names(nil), '\n')
    ]])
    S.contains(out, 'sync_grads: takes (), got 1 argument')
    S.contains(out, 'get_parameter: takes (target), got 2 arguments')
    S.contains(out, 'state_names: takes (), got 1 argument')
    S.contains(out, 'names 2')
  end)

  it('autograd.functional, autograd.Function, nn.load, nn.class and the safetensors functions refuse them', function()
    local AF, S = nl.autograd.functional, require 'support'
    local x, ones = nl.randn({ 3 }, 'float64'), nl.ones(3, 'float64')
    local sq = function(t) return (t * t):sum() end
    local dbl = function(t) return t * 2 end
    local path = S.tmpdir() .. '/t.safetensors'
    nl.save_safetensors(path, { a = nl.ones(2) })
    refused({
      { 'vjp: takes (func, inputs, [v], [{options}]), got 5 arguments', function() return AF.vjp(dbl, x, ones, {}, 1) end },
      { 'jvp: takes (func, inputs, [v], [{options}]), got 5 arguments', function() return AF.jvp(dbl, x, ones, {}, 1) end },
      { 'jacobian: takes (func, inputs, [{options}]), got 4 arguments', function() return AF.jacobian(dbl, x, {}, 1) end },
      { 'hessian: takes (func, inputs, [{options}]), got 4 arguments', function() return AF.hessian(sq, x, {}, 1) end },
      { 'hvp: takes (func, inputs, [v], [{options}]), got 5 arguments', function() return AF.hvp(sq, x, ones, {}, 1) end },
      { 'vhp: takes (func, inputs, [v], [{options}]), got 5 arguments', function() return AF.vhp(sq, x, ones, {}, 1) end },
      { 'extend: takes (name), got 2 arguments', function() return nl.autograd.Function:extend('Sq', 1) end },
      { 'autograd.Function: takes (name, definition), got 3 arguments',
        function() return nl.autograd.Function('Sq', {}, 1) end },
      { 'nn.load: takes (path, model, opts), got an extra argument 1', function() return nl.nn.load(path, nil, nil, 1) end },
      { 'save_safetensors: takes (path, tensors, metadata), got an extra argument 1',
        function() return nl.save_safetensors(path, { a = nl.ones(2) }, nil, 1) end },
      { 'load_safetensors: takes (path), got an extra argument 1', function() return nl.load_safetensors(path, 1) end },
      { 'nn.class: takes (name, parent), got an extra argument 1', function() return nl.nn.class('X', nil, 1) end },
    })
    -- a trailing nil is no argument
    assert.are.same({ 3, 3 }, AF.jacobian(dbl, x, nil, nil):shape())
    assert.are.same({ 2 }, nl.load_safetensors(path, nil).a:shape())
  end)
end)
