-- nn: modules, containers, layers, losses and initializations; one file
-- per family, each a function(nl, nn) that adds its classes.
return function(nl)
  local nn = {}
  nl.nn = nn
  for _, family in ipairs({
    'module',
    'module_api',
    'container',
    'initializers',
    'linear',
    'activation',
    'dropout',
    'normalization',
    'conv',
    'padding',
    'pooling',
    'vision',
    'sparse',
    'vector',
    'loss',
    'checkpoint',
    'rnn',
    'parallel',
    -- (fit's loss tables name its losses when fit.lua loads)
    'loss_extra',
    -- (save and nn.load record and apply weight and spectral norms)
    'param_norm',
    'functional',
    'summary',
  }) do
    require('nnlua.nn.' .. family)(nl, nn)
  end
  -- the classes nnlua defines (a user's are made later, by extend)
  nn._builtin = {}
  for _, cls in pairs(nn._classes) do nn._builtin[cls] = true end

  -- The rarer families load on first use: when nn, nn.functional, nn.utils
  -- or the class registry (nn.load's) is asked for a name it lacks. Loaded
  -- at start, they made the startup a third longer and the Lua heap,
  -- which every garbage collection cycle walks, 70% larger, which cost
  -- the per-op overhead (W3) 4% (tests/spec/lazy_spec.lua).
  local LAZY = {
    -- (MultiheadAttention, the transformer layers' helpers, F.scaled_dot_product_attention; before transformer)
    'attention',
    'conv3d',
    'upsampling',
    'grid_sample',
    'sliding',
    'transformer',
    'rectifier',
    'dropout_extra',
    'bilinear',
    'local_response_norm',
    'ctc',
    'rnn_utils',
    'container_dict',
    -- (nn.utils.parametrize and nn.utils.parametrizations)
    'parametrize',
    -- (nn.utils.prune)
    'prune',
    -- (nn.utils.stateless)
    'stateless',
    'rms_norm',
    'activation_extra',
    'unpool',
    'pdist',
    'lazy',
    'adaptive_softmax',
    'fractional_pool',
    'padding_circular',
    'functional_extra',
    'legacy',
  }
  local watched, loaded = {}, false
  function nn._load_all()
    if loaded then return end
    loaded = true
    for t in pairs(watched) do setmetatable(t, nil) end
    local before = {}
    for name, cls in pairs(nn._classes) do before[name] = cls end
    for _, family in ipairs(LAZY) do require('nnlua.nn.' .. family)(nl, nn) end
    -- (optim.swa_utils's AveragedModel, for nn.load's registry)
    local _ = nl.optim and nl.optim.swa_utils
    -- the classes the families made are nnlua's (a user's made before this
    -- are not among them); a user's class of the same name keeps its
    -- place in the registry, as when nnlua's was made first and the
    -- user's after it (the load put nnlua's Transformer in place of the
    -- user's, and nn.load rebuilt the wrong class)
    for name, cls in pairs(nn._classes) do
      if before[name] == nil then nn._builtin[cls] = true
      elseif before[name] ~= cls then
        nn._builtin[cls] = true
        nn._classes[name] = before[name]
      end
    end
  end
  -- (called by init.lua once nn.utils exists)
  function nn._watch_lazy()
    if loaded then return end
    for _, t in ipairs({ nn, nn.functional, nn.utils, nn._classes }) do
      watched[t] = true
      setmetatable(t, { __index = function(tbl, k)
        -- (a name starting with an underscore is asked of nn by nnlua's
        -- own probes; none of the rare families' public names does)
        if type(k) ~= 'string' or (tbl == nn and k:sub(1, 1) == '_') then return nil end
        nn._load_all()
        return rawget(tbl, k)
      end })
    end
  end
  return nn
end
