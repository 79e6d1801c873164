-- checkpoint.lua: model:save(path, [{optimizer = opt, extra = {...}}]) and
-- nn.load(path, [model]). A checkpoint is one safetensors file: the
-- parameters and buffers under their state-dict names (what PyTorch's
-- load_state_dict takes), and in the metadata, as JSON, the model's
-- structure (so nn.load can rebuild it) and the optimizer's state, whose
-- tensors are stored beside the weights under "__optim__." names.
-- Loading never runs code from the file: the structure names classes that
-- must already exist in nn.
return function(nl, nn)
  local json = require 'nnlua.json'
  local ffi = require 'ffi'
  local Module = nn.Module
  -- 2: keys in extras and optimizer state are %-escaped (below); files
  -- of 1 hold them as they were, and load so
  local FORMAT, FORMATS = 'nnlua-checkpoint-2', { ['nnlua-checkpoint-1'] = 1, ['nnlua-checkpoint-2'] = 2 }

  -- A key as it goes into a tensor name and the JSON skeleton: a number
  -- key k is '#k'; in a string, '%', '.' and a leading '#' are %-escaped,
  -- so no two paths give one name ({a = {b = x}} and {['a.b'] = y}, or 1
  -- and '#1', each wrote over the other).
  local function key_name(k)
    if type(k) == 'number' then return ('#%d'):format(k) end   -- (.. k wrote 1.2345678901235e+14)
    -- the marker of a tensor: a user's own key of that name read as one
    if k == '__tensor__' then return '%5F_tensor__' end
    return (k:gsub('%%', '%%25'):gsub('%.', '%%2E'):gsub('^#', '%%23'))
  end
  local function key_of(name, escaped)
    local n = name:match('^#(%d+)$')
    if n then return tonumber(n) end
    if not escaped then return name end
    return (name:gsub('%%(%x%x)', function(h) return string.char(tonumber(h, 16)) end))
  end

  -- What a rebuild from the constructor arguments cannot know: each
  -- module's class as built (a layer replaced since came back as the
  -- constructor made it), the settings nnlua's own layers print (their
  -- extra_repr: a Dropout's p changed since; a user's class may print
  -- anything, a step count, and is not compared), its training flag, and
  -- the parameters frozen since. PyTorch's pickle keeps them all.
  local function settings_of(m)
    if nn._builtin[getmetatable(m).__index] then return m:extra_repr() end
    return nil
  end

  -- the key of a tensor's C tensor (two Lua handles of one tensor share it)
  local function tensor_key(t) return tostring(ffi.cast('void *', t.ptr)) end

  -- tied: each state-dict name whose tensor an earlier name holds too
  -- (a weight assigned to two layers, l.weight = e.weight), {name, first}
  local function record_state(model)
    local mods, frozen, tied, first = {}, {}, {}, {}
    for _, pm in ipairs(model:named_modules()) do
      local m = pm[2]
      mods[#mods + 1] = { path = pm[1], type = m.__name, settings = settings_of(m), training = m.training }
    end
    for _, kv in ipairs(model:named_parameters()) do
      if not kv[2].is_requires_grad then frozen[#frozen + 1] = kv[1] end
    end
    local sd = model:state_dict { keep_vars = true }
    for _, name in ipairs(model:state_names()) do
      local key = tensor_key(sd[name])
      if first[key] then tied[#tied + 1] = { name, first[key] } else first[key] = name end
    end
    return { modules = mods, frozen = frozen, tied = tied }
  end

  -- The rebuilt model's tensors shared as the record's tied says, before
  -- the weights are loaded: a tie made after the model was built came
  -- back as two tensors (the copy or the loaded model trained them apart,
  -- its parameters counted twice), and one the constructor made that the
  -- saved model had undone loaded both names' values into one tensor. A
  -- record without tied (files of before) leaves the model as built.
  local function retie(who, model, rec)
    if type(rec) ~= 'table' or rec.tied == nil then return end
    local function malformed() nl._raise(who .. ': malformed model state (tied)') end
    if type(rec.tied) ~= 'table' then malformed() end
    local want = {}
    for _, pair in ipairs(rec.tied) do
      if type(pair) ~= 'table' or type(pair[1]) ~= 'string' or type(pair[2]) ~= 'string' then malformed() end
      want[pair[1]] = pair[2]
    end
    -- the module and field a state-dict name is held in
    local function holder(name)
      local path, atom = name:match('^(.*)%.([^.]*)$')
      if not path then path, atom = '', name end
      local ok, m = pcall(model.get_submodule, model, path)
      if ok then
        for _, k in ipairs(m._order) do
          if nl.is_tensor(rawget(m, k)) and m:_child_name(k) == atom then return m, k end
        end
      end
      nl._raise(('%s: malformed model state (no tensor %s)'):format(who, name))
    end
    local sd, first = model:state_dict { keep_vars = true }, {}
    for _, name in ipairs(model:state_names()) do
      local t, to = sd[name], want[name]
      local key = tensor_key(t)
      local src = to ~= nil and sd[to]
      -- (a name the rebuilt model lacks: load_state_dict names it)
      if src then
        if tensor_key(src) ~= key then
          if nl._shape_str(src) ~= nl._shape_str(t) then
            nl._raise(('%s: malformed model state (%s %s tied to %s %s)'):format(who, name, nl._shape_str(t), to,
              nl._shape_str(src)))
          end
          local m, k = holder(name)
          rawset(m, k, src)
          sd[name], key = src, tensor_key(src)
        end
      elseif first[key] then
        -- tied as built, not in the saved model: a tensor of its own
        local m, k = holder(name)
        local own = nl.no_grad(function() return t:detach():clone() end)
        if t.is_requires_grad then own:requires_grad() end
        rawset(m, k, own)
        sd[name] = own
        key = tensor_key(own)
      end
      first[key] = first[key] or name
    end
  end

  -- the rebuilt model against that record: a difference is an error (the
  -- model was changed after it was built); the flags are restored (before
  -- the settings are compared, which may print them)
  -- (who: 'load: <path>' or 'clone'; advice: what to do instead)
  local function restore_state(path, model, rec, who, advice)
    who = who or ('load: ' .. path)
    advice = advice or 'pass the model: nn.load(path, model)'
    local function malformed() nl._raise(who .. ': malformed model state') end
    if type(rec) ~= 'table' or type(rec.modules) ~= 'table' or type(rec.frozen) ~= 'table' then malformed() end
    local built = model:named_modules()
    local function differs(where, r, now)
      local function describe(x) return x and ('a %s(%s)'):format(x.type, x.settings or '...') or 'missing' end
      nl._raise(('%s: the %s model was changed after it was built (%s is %s %s, %s when '
                 .. 'rebuilt from its constructor); %s'):format(who, who == 'clone' and 'original' or 'saved',
                 where == '' and 'the model' or where, describe(r), who == 'clone' and 'in it' or 'in the file',
                 describe(now), advice))
    end
    for i = 1, math.max(#built, #rec.modules) do
      local b, r = built[i], rec.modules[i]
      if r ~= nil and (type(r) ~= 'table' or type(r.path) ~= 'string') then malformed() end
      if not (b and r and b[1] == r.path and b[2].__name == r.type) then
        differs((r or { path = b[1] }).path, r, b and { type = b[2].__name, settings = settings_of(b[2]) })
      end
      if type(r.training) == 'boolean' then rawset(b[2], 'training', r.training) end
    end
    local params = {}
    for _, kv in ipairs(model:named_parameters()) do params[kv[1]] = kv[2] end
    for _, name in ipairs(rec.frozen) do
      if not params[name] then nl._raise(('%s: malformed model state (no parameter %s)'):format(who, tostring(name))) end
      params[name]:requires_grad(false)
    end
    for i, b in ipairs(built) do
      local r, now = rec.modules[i], settings_of(b[2])
      if r.settings ~= nil and now ~= nil and r.settings ~= now then
        differs(r.path, r, { type = r.type, settings = now })
      end
    end
  end

  -- tables of tensors and plain values -> JSON skeleton + named tensors
  -- (open: the tables being walked; a table that held itself ran the
  -- walk out of stack, 'stack overflow', and a function reached the JSON
  -- encoder, 'json: cannot encode a function', naming neither save nor where)
  local PLAIN = { string = true, number = true, boolean = true }
  local function flatten(v, prefix, tensors, open)
    if nl.is_tensor(v) then
      tensors[prefix] = v
      return { __tensor__ = prefix }
    elseif type(v) == 'table' then
      open = open or {}
      if open[v] then
        nl._raise(("save: '%s' holds itself (a cycle in the table): only trees of tables can be saved"):format(prefix))
      end
      open[v] = true
      local out = {}
      for k, x in pairs(v) do
        if type(k) ~= 'string' and type(k) ~= 'number' then nl._raise('save: state keys must be strings or numbers') end
        if type(k) == 'number' and (k % 1 ~= 0 or k < 0 or k >= 2^53) then
          nl._raise('save: a number key must be a non-negative integer, got ' .. tostring(k))
        end
        local key = key_name(k)
        out[key] = flatten(x, prefix .. '.' .. key, tensors, open)
      end
      open[v] = nil
      return out
    elseif v ~= nil and not PLAIN[type(v)] then
      nl._raise(("save: '%s' is a %s; only tensors, numbers, strings, booleans and tables of them can be saved")
                :format(prefix, type(v)))
    end
    return v
  end

  local function unflatten(v, tensors, escaped)
    if type(v) ~= 'table' then return v end
    if v.__tensor__ then
      local t = tensors[v.__tensor__]
      if not t then nl._raise('load: checkpoint lacks the tensor ' .. tostring(v.__tensor__)) end
      return t
    end
    local out = {}
    for k, x in pairs(v) do
      out[type(k) == 'string' and key_of(k, escaped) or k] = unflatten(x, tensors, escaped)
    end
    return out
  end

  -- checkpoint_compile.lua's record and apply, loaded when a compiled
  -- model is saved or a file with a compile record loaded
  local rebuild
  local compile_state
  local function compiling()
    compile_state = compile_state or require('nnlua.nn.checkpoint_compile')(nl, nn,
      { flatten = flatten, unflatten = unflatten, rebuild = function(...) return rebuild(...) end })
    return compile_state
  end

  -- include_optimizer (true, Keras's): a compiled model's optimizer state
  -- is saved with its compile record (its class and settings are, either way)
  function Module:save(path, opts)
    if type(path) ~= 'string' then nl._raise('save: expected a file path') end
    nl._path_arg('save', path)
    opts = nl._opts('save', opts)
    nl._check_opts('save', opts, { optimizer = 1, extra = 1, include_optimizer = 1 })
    if opts.include_optimizer ~= nil and type(opts.include_optimizer) ~= 'boolean' then
      nl._argerror('save', 'include_optimizer as a boolean', opts.include_optimizer)
    end
    local tensors = {}
    for name, t in pairs(self:state_dict()) do tensors[name] = t end
    local meta = { format = FORMAT }
    -- a model whose constructor took a function or a tensor cannot be
    -- rebuilt from the file: its weights are saved all the same, and
    -- nn.load(path) says why it needs the model passed
    local ok, st = pcall(nn._record_module, self)
    if ok then
      meta.model = json.encode(st)
      -- (a DataParallel is saved as the model it wraps)
      meta.model_state = json.encode(record_state(self._data_parallel and self.module or self))
    elseif type(st) == 'table' and st.unrecordable then
      meta.model_unrecorded = st.unrecordable
    else
      error(st, 0)
    end
    if opts.optimizer then
      local state = flatten(opts.optimizer:state_dict(), '__optim__', tensors)
      meta.optimizer = json.encode(state)
    end
    if opts.extra then meta.extra = json.encode(flatten(opts.extra, '__extra__', tensors)) end
    local c = rawget(self, '_compiled')
    if c then meta.compile = json.encode(compiling().record(self, c, opts, tensors)) end
    nl.save_safetensors(path, tensors, meta)
    return path
  end

  -- a constructor argument back from its record (Module:structure): a
  -- module, a module met before (built[id]), or a table of them
  local function rebuild_arg(a, built)
    if type(a) ~= 'table' then return a end
    if type(a.module) == 'table' and a.module.type ~= nil then return rebuild(a.module, built) end
    if type(a.tensor_like) == 'table' then
      -- a loss's class weight (Module:structure): zeros the state dict fills
      local t, shape, dt = a.tensor_like, {}, a.tensor_like.dtype
      if type(t.shape) ~= 'table' or #t.shape > 8 or (dt ~= 'float32' and dt ~= 'float64' and dt ~= 'int64') then
        nl._raise('load: malformed model structure (a tensor argument)')
      end
      for i, d in ipairs(t.shape) do
        if type(d) ~= 'number' or d < 0 or d % 1 ~= 0 or d > 2^31 then
          nl._raise('load: malformed model structure (a tensor argument)')
        end
        shape[i] = d
      end
      return nl.zeros(shape, dt)
    end
    if a.module_ref ~= nil then
      local m = built[a.module_ref]
      if not m then nl._raise('load: malformed model structure (a reference to module ' .. tostring(a.module_ref) .. ')') end
      return m
    end
    local out = {}
    for _, k in ipairs(nn._ordered_keys(a)) do out[k] = rebuild_arg(a[k], built) end
    return out
  end

  function rebuild(st, built)
    if type(st) ~= 'table' or type(st.type) ~= 'string' then nl._raise('load: malformed model structure') end
    local cls = nn._classes[st.type]
    if not cls then
      nl._raise(("load: the checkpoint's model is a %s, which is not defined; define the class (nn.Module:extend('%s')) "
                 .. "before loading, or pass a model to nn.load(path, model)"):format(st.type, st.type))
    end
    if cls == Module then nl._raise('load: malformed model structure (the base class nn.Module cannot be built)') end
    local args = {}
    local n = st.n or 0
    -- a Sequential records one argument per item: 64 refused one of 70
    if type(n) ~= 'number' or n < 0 or n > 65536 or n ~= math.floor(n) then
      nl._raise('load: malformed model structure (' .. tostring(n) .. ' constructor arguments)')
    end
    if st.args ~= nil and type(st.args) ~= 'table' then nl._raise('load: malformed model structure (args)') end
    for i = 1, n do
      args[i] = rebuild_arg(st.args and (st.args[i] or st.args[tostring(i)]), built)
    end
    local m = cls(unpack(args, 1, n))
    if st.param_norms ~= nil then nn._param_norm_apply(m, st.param_norms) end
    if st.parametrizations ~= nil then
      nn._load_all()
      nn._parametrize_apply(m, st.parametrizations, function(a) return rebuild_arg(a, built) end)
    end
    if st.prune ~= nil then
      nn._load_all()
      nn._prune_apply(m, st.prune)
    end
    if st.id ~= nil then built[st.id] = m end
    return m
  end

  -- A copy with its own tensors (Torch7's clone, PyTorch's copy.deepcopy):
  -- rebuilt from the constructor's arguments as nn.load rebuilds a model,
  -- given the original's parameters and buffers (dtypes included), and its
  -- training flags and frozen parameters. A model that cannot be rebuilt so
  -- (a constructor took a function or a tensor, or nnlua's own layer was
  -- changed after it was built) is an error that says why.
  function Module:clone()
    if rawget(self, '_data_parallel') then
      nl._raise('clone: a DataParallel cannot be cloned; clone the model it wraps (dp.module)')
    end
    local advice = 'build the copy and give it the weights: copy:load_state_dict(m:state_dict())'
    local ok, st = pcall(nn._record_module, self)
    if not ok then
      if type(st) == 'table' and st.unrecordable then
        nl._raise(('clone: %s cannot be rebuilt (%s); %s'):format(self.__name, st.unrecordable, advice))
      end
      error(st, 0)
    end
    local sd = self:state_dict()
    local m = rebuild(st, {})
    nn._convert(m, function(name) return sd[name] and sd[name]:dtype() end)
    local rec = record_state(self)
    retie('clone', m, rec)
    m:load_state_dict(sd)
    restore_state(nil, m, rec, 'clone', advice)
    -- buffers registered persistent = false, which the state dict leaves
    -- out (the copy kept the constructor's values and dtype): copies of
    -- the original's (restore_state has checked the two trees agree)
    local mine, theirs = self:named_modules(), m:named_modules()
    for i, pm in ipairs(mine) do
      local a, b = pm[2], theirs[i][2]
      for k, how in pairs(a._buffers) do
        local t = rawget(a, k)
        if how == 'transient' and nl.is_tensor(t) then
          nl.no_grad(function() b[k] = t:detach():clone() end)
        end
      end
    end
    return m
  end

  -- JSON metadata from the file, or an error naming the file and the entry
  local function decode(path, meta, key)
    local ok, v = pcall(json.decode, meta[key])
    if not ok then nl._raise(("load: %s: the metadata entry '%s' is not valid JSON (%s)"):format(path, key, tostring(v))) end
    return v
  end

  -- nn.load(path) -> model, extras; nn.load(path, model) loads the weights
  -- into an existing model. extras.optimizer is the optimizer state (for
  -- opt:load_state_dict), extras.extra what save was given as extra.
  -- a checkpoint file's model weights (name -> tensor) and extras
  -- {optimizer, extra}, and its tensors and metadata, loaded into nothing
  local function read_checkpoint(path)
    local tensors, meta = nl.load_safetensors(path)
    -- (a newer nnlua's file said it held no nnlua model structure, and
    -- loaded into a model it was read by this format's rules)
    if type(meta.format) == 'string' and meta.format:find('^nnlua%-checkpoint%-') and not FORMATS[meta.format] then
      nl._raise(("load: %s was written by a newer nnlua (format '%s'; this one reads '%s'): update nnlua to load it")
                :format(path, meta.format, FORMAT))
    end
    local extras = {}
    local escaped = FORMATS[meta.format] == 2
    if meta.optimizer then extras.optimizer = unflatten(decode(path, meta, 'optimizer'), tensors, escaped) end
    if meta.extra then extras.extra = unflatten(decode(path, meta, 'extra'), tensors, escaped) end
    local weights = {}
    for name, t in pairs(tensors) do
      if not name:match('^__optim__%.') and not name:match('^__extra__%.') then weights[name] = t end
    end
    return weights, extras, tensors, meta
  end
  -- (fit's resume: it checks the extras before the weights go anywhere)
  function nn._read_checkpoint(path)
    local weights, extras = read_checkpoint(path)
    return weights, extras
  end

  -- nn.load(path, [model], [{compile = true}]): a rebuilt model is
  -- compiled as the saved one was (keras.models.load_model's compile =
  -- True); one passed in keeps its own compile state unless compile = true
  -- (as Keras's load_weights). Where the record cannot compile it (a loss
  -- that is a Lua function), extras.uncompiled says why and
  -- extras.optimizer holds the optimizer's state.
  function nn.load(path, model, opts, x_)
    if x_ ~= nil then nl._extra_arg('nn.load', x_) end
    if type(path) ~= 'string' then nl._raise('load: expected a file path') end
    nl._path_arg('load', path)
    if opts == nil and type(model) == 'table' and getmetatable(model) == nil then model, opts = nil, model end
    if model ~= nil and not nn.is_module(model) then
      nl._raise('load: the second argument must be an nn.Module to load into, got ' .. type(model))
    end
    opts = nl._opts('load', opts, { compile = 1 })
    if opts.compile ~= nil and type(opts.compile) ~= 'boolean' then
      nl._argerror('load', 'compile as a boolean', opts.compile)
    end
    local want_compile = opts.compile
    if want_compile == nil then want_compile = model == nil end
    local weights, extras, tensors, meta = read_checkpoint(path)
    local function compile_it(m)
      if want_compile and meta.compile then
        compiling().apply(path, m, decode(path, meta, 'compile'), tensors, FORMATS[meta.format] == 2, extras)
      end
      return m, extras
    end
    if not model then
      if not FORMATS[meta.format] or not meta.model then
        local why = meta.model_unrecorded and (' (' .. meta.model_unrecorded .. ', which a checkpoint cannot record)') or ''
        nl._raise('load: ' .. path .. ' holds no nnlua model structure' .. why .. '; pass the model: nn.load(path, model)')
      end
      local st = decode(path, meta, 'model')
      -- The constructors allocate what the description asks before any
      -- shape is compared with the file's tensors: a corrupt or crafted
      -- file asked for layers of any size (Linear(70000, 70000): 19.6 GB,
      -- the process killed for memory). The build may allocate four times
      -- the file's tensors and 1 GB more (a model's own buffers, not saved,
      -- a causal mask of 8192 x 8192 say, are not in the file; a model
      -- whose own take more is passed: nn.load(path, model)).
      local lib = nl._lib
      local bytes = 0
      for _, t in pairs(tensors) do bytes = bytes + t:numel() * tonumber(lib.nl_dtype_size(t.ptr.dtype)) end
      local prev = lib.nl_mem_set_limit(4 * bytes + 2 ^ 30)
      -- the constructors draw initial weights the file's then replace: the
      -- generator is put back after, so a load leaves the draws that follow
      -- (a resumed fit's shuffles, dropout) as they were, as torch.load does
      local gen = nl._generator
      local seed, offset = gen.seed, gen.offset
      local ok, built = pcall(function()
        local m = rebuild(st, {})
        -- constructors build float32: tensors saved as float64 come back so
        nn._convert(m, function(name) return weights[name] and weights[name]:dtype() end)
        return m
      end)
      lib.nl_mem_set_limit(prev)
      gen.seed, gen.offset = seed, offset
      if not ok then
        local msg = tostring(built)
        if msg:find('out of memory', 1, true) then
          nl._raise(('load: %s: the model it describes needs more than %.1f MB to build, four times the %.1f MB of '
                     .. 'tensors it holds and 1 GB (a corrupt file? if its own buffers are that big, pass the model: '
                     .. 'nn.load(path, model)): %s'):format(path, (4 * bytes + 2 ^ 30) / 2 ^ 20, bytes / 2 ^ 20,
                     (msg:gsub('^[^:\n]*:%d+: ', ''))))
        end
        error(built, 0)
      end
      model = built
      local rec = meta.model_state and decode(path, meta, 'model_state')
      if rec then retie('load: ' .. path, model, rec) end
      model:load_state_dict(weights)
      if rec then restore_state(path, model, rec) end
      return compile_it(model)
    end
    if not (want_compile and meta.compile) then
      model:load_state_dict(weights)
      return model, extras
    end
    -- compiled first, as a record that cannot compile it raises before
    -- anything changed; weights that do not fit put its compile state back
    local o, c = rawget(model, 'optimizer'), rawget(model, '_compiled')
    compile_it(model)
    local ok, err = pcall(model.load_state_dict, model, weights)
    if not ok then
      rawset(model, 'optimizer', o)
      rawset(model, '_compiled', c)
      error(err, 0)
    end
    return model, extras
  end
end
