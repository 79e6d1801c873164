-- nn: modules, containers, layers, losses and initializations; one file
-- per family, each a function(nl, nn) that adds its classes.
return function(nl)
  local nn = {}
  nl.nn = nn
  for _, family in ipairs({ 'module', 'container', 'initializers', 'linear', 'activation', 'dropout',
                            'normalization', 'conv', 'pooling', 'vision', 'sparse', 'loss', 'checkpoint', 'attention', 'rnn',
                            'parallel' }) do
    require('nnlua.nn.' .. family)(nl, nn)
  end
  return nn
end
