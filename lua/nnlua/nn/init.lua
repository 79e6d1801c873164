-- nn: modules, containers, layers, losses and initializations; one file
-- per family, each a function(nl, nn) that adds its classes.
return function(nl)
  local nn = {}
  nl.nn = nn
  for _, family in ipairs({
    'module',
    'container',
    'initializers',
    'linear',
    'activation',
    'dropout',
    'normalization',
    'conv',
    'padding',
    'pooling',
    'conv3d',
    'vision',
    'upsampling',
    'sliding',
    'sparse',
    'vector',
    'loss',
    'checkpoint',
    'attention',
    'transformer',
    'rnn',
    'parallel',
    'rectifier',
    'dropout_extra',
    'bilinear',
    'local_response_norm',
    'loss_extra',
    'ctc',
    'rnn_utils',
    'param_norm',
    'container_dict',
    'summary',
  }) do
    require('nnlua.nn.' .. family)(nl, nn)
  end
  -- the classes nnlua defines (a user's are made later, by extend)
  nn._builtin = {}
  for _, cls in pairs(nn._classes) do nn._builtin[cls] = true end
  return nn
end
