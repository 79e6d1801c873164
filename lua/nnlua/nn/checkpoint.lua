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
  local Module = nn.Module
  local FORMAT = 'nnlua-checkpoint-1'

  -- tables of tensors and plain values -> JSON skeleton + named tensors
  local function flatten(v, prefix, tensors)
    if nl.is_tensor(v) then
      tensors[prefix] = v
      return { __tensor__ = prefix }
    elseif type(v) == 'table' then
      local out = {}
      for k, x in pairs(v) do
        if type(k) ~= 'string' and type(k) ~= 'number' then nl._raise('save: state keys must be strings or numbers') end
        local key = type(k) == 'number' and ('#' .. k) or k
        out[key] = flatten(x, prefix .. '.' .. key, tensors)
      end
      return out
    end
    return v
  end

  local function unflatten(v, tensors)
    if type(v) ~= 'table' then return v end
    if v.__tensor__ then
      local t = tensors[v.__tensor__]
      if not t then nl._raise('load: checkpoint lacks the tensor ' .. tostring(v.__tensor__)) end
      return t
    end
    local out = {}
    for k, x in pairs(v) do
      local key = type(k) == 'string' and k:match('^#(%d+)$')
      out[key and tonumber(key) or k] = unflatten(x, tensors)
    end
    return out
  end

  function Module:save(path, opts)
    if type(path) ~= 'string' then nl._raise('save: expected a file path') end
    opts = nl._opts('save', opts)
    nl._check_opts('save', opts, { optimizer = 1, extra = 1 })
    local tensors = {}
    for name, t in pairs(self:state_dict()) do tensors[name] = t end
    local meta = { format = FORMAT, model = json.encode(self:structure()) }
    if opts.optimizer then
      local state = flatten(opts.optimizer:state_dict(), '__optim__', tensors)
      meta.optimizer = json.encode(state)
    end
    if opts.extra then meta.extra = json.encode(flatten(opts.extra, '__extra__', tensors)) end
    nl.save_safetensors(path, tensors, meta)
    return path
  end

  local function rebuild(st)
    if type(st) ~= 'table' or type(st.type) ~= 'string' then nl._raise('load: malformed model structure') end
    local cls = nn._classes[st.type]
    if not cls then
      nl._raise(("load: the checkpoint's model is a %s, which is not defined; define the class (nn.Module:extend('%s')) "
                 .. "before loading, or pass a model to nn.load(path, model)"):format(st.type, st.type))
    end
    local args = {}
    local n = st.n or 0
    if type(n) ~= 'number' or n < 0 or n > 64 or n ~= math.floor(n) then
      nl._raise('load: malformed model structure (' .. tostring(n) .. ' constructor arguments)')
    end
    for i = 1, n do
      local a = st.args and (st.args[i] or st.args[tostring(i)])
      if type(a) == 'table' and a.module then a = rebuild(a.module)
      elseif st.list and type(a) == 'table' then
        local mods = {}
        for j, m in ipairs(a) do mods[j] = rebuild(m.module) end
        a = mods
      end
      args[i] = a
    end
    return cls(unpack(args, 1, n))
  end

  -- nn.load(path) -> model, extras; nn.load(path, model) loads the weights
  -- into an existing model. extras.optimizer is the optimizer state (for
  -- opt:load_state_dict), extras.extra what save was given as extra.
  function nn.load(path, model)
    if type(path) ~= 'string' then nl._raise('load: expected a file path') end
    if model ~= nil and not nn.is_module(model) then
      nl._raise('load: the second argument must be an nn.Module to load into, got ' .. type(model))
    end
    local tensors, meta = nl.load_safetensors(path)
    local extras = {}
    if meta.optimizer then extras.optimizer = unflatten(json.decode(meta.optimizer), tensors) end
    if meta.extra then extras.extra = unflatten(json.decode(meta.extra), tensors) end
    if not model then
      if meta.format ~= FORMAT or not meta.model then
        nl._raise('load: ' .. path .. ' holds no nnlua model structure; pass the model: nn.load(path, model)')
      end
      model = rebuild(json.decode(meta.model))
    end
    local weights = {}
    for name, t in pairs(tensors) do
      if not name:match('^__optim__%.') and not name:match('^__extra__%.') then weights[name] = t end
    end
    model:load_state_dict(weights)
    return model, extras
  end
end
