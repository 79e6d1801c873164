-- padding_circular.lua: nn.CircularPad1d/2d/3d (PyTorch 2.1's modules):
-- F.pad's 'circular' mode (padding.lua) on a batched (N, C, ...) or, as
-- those modules allow, an unbatched (C, ...) input; negative padding crops.
-- No C or autograd of its own.
return function(nl, nn)
  local pad = nn._pad

  local SHAPES = { 'L', 'H, W', 'D, H, W' }

  for dims = 1, 3 do
    local name = 'CircularPad' .. dims .. 'd'
    local cls = nn._pad_class(name, 'circular', dims, false)
    function cls:forward(x)
      local nd = nl._T(x, name).ndim
      if nd == dims + 2 then return pad(name, x, self.padding, 'circular') end
      if nd ~= dims + 1 then
        nl._raise(('%s: expected a %d-D (C, %s) or %d-D (N, C, %s) input, got %s'):format(name, dims + 1,
          SHAPES[dims], dims + 2, SHAPES[dims], nl._shape_str(x)))
      end
      -- the unbatched form: F.pad's circular mode takes only the batched one
      return pad(name, x:unsqueeze(1), self.padding, 'circular', nil, true):squeeze(1)
    end
  end
end
