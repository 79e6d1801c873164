-- plot.lua: nl.plot(history, 'curves.svg'): an SVG with the training and
-- validation loss per epoch, and accuracy beside it when the history has
-- it. Plain SVG 1.1 that any browser shows; written whole or not at all.
return function(nl)

  local W, H, PAD = 420, 300, 48
  local colors = { '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728' }

  local function esc(s) return (tostring(s):gsub('&', '&amp;'):gsub('<', '&lt;'):gsub('>', '&gt;')) end

  local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

  -- one chart at x offset ox: series = { {name, values, [at]}, ... }; values that
  -- are not finite (a diverged run) leave gaps in their line; at: the
  -- place of each value among the epochs (validation_freq's), else 1, 2, ...
  local function chart(out, ox, title, series)
    local n, lo, hi = 0, math.huge, -math.huge
    for _, s in ipairs(series) do
      n = math.max(n, #s[2])
      for _, v in ipairs(s[2]) do
        if finite(v) then lo = math.min(lo, v); hi = math.max(hi, v) end
      end
    end
    if n == 0 then return end
    if lo > hi then lo, hi = 0, 1 end
    if hi - lo < 1e-12 then lo, hi = lo - 0.5, hi + 0.5 end
    local pw, ph = W - 2 * PAD, H - 2 * PAD
    local function X(i) return ox + PAD + (n == 1 and pw / 2 or (i - 1) / (n - 1) * pw) end
    local function Y(v) return PAD + (1 - (v - lo) / (hi - lo)) * ph end
    out[#out + 1] = ('<text x="%g" y="24" font-size="15" font-weight="bold">%s</text>'):format(ox + PAD, esc(title))
    out[#out + 1] = ('<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>'):format(ox + PAD, PAD, pw, ph)
    for k = 0, 4 do
      local v = lo + (hi - lo) * k / 4
      out[#out + 1] = ('<text x="%g" y="%g" font-size="10" text-anchor="end">%.4g</text>'):format(ox + PAD - 4, Y(v) + 3, v)
      out[#out + 1] = ('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#eee"/>'):format(ox + PAD, Y(v), ox + PAD + pw, Y(v))
    end
    local step = math.max(1, math.ceil(n / 10))
    for i = 1, n, step do
      out[#out + 1] = ('<text x="%g" y="%g" font-size="10" text-anchor="middle">%d</text>'):format(X(i), PAD + ph + 14, i)
    end
    out[#out + 1] = ('<text x="%g" y="%g" font-size="11" text-anchor="middle">epoch</text>'):format(ox + PAD + pw / 2, H - 8)
    for si, s in ipairs(series) do
      local c = colors[(si - 1) % #colors + 1]
      local runs, pts = {}, {}
      for j, v in ipairs(s[2]) do
        local i = s[3] and s[3][j] or j
        if finite(v) then
          pts[#pts + 1] = ('%.2f,%.2f'):format(X(i), Y(v))
          out[#out + 1] = ('<circle cx="%.2f" cy="%.2f" r="2.5" fill="%s"/>'):format(X(i), Y(v), c)
        elseif #pts > 0 then
          runs[#runs + 1] = pts
          pts = {}
        end
      end
      if #pts > 0 then runs[#runs + 1] = pts end
      for _, run in ipairs(runs) do
        out[#out + 1] = ('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'):format(c, table.concat(run, ' '))
      end
      out[#out + 1] = ('<text x="%g" y="%g" font-size="11" fill="%s">%s</text>'):format(ox + PAD + pw - 90, PAD + 14 + 14 * (si - 1), c, esc(s[1]))
    end
  end

  function nl.plot(history, path)
    if type(history) ~= 'table' or type(history.loss) ~= 'table' then
      nl._raise('plot: expected a history table from fit (with history.loss)')
    end
    if type(path) ~= 'string' then nl._raise('plot: expected a file path') end
    for _, key in ipairs({ 'loss', 'val_loss', 'accuracy', 'val_accuracy' }) do
      local v = history[key]
      if v ~= nil then
        if type(v) ~= 'table' then nl._raise(('plot: history.%s must be an array of numbers, got %s'):format(key, type(v))) end
        for i, x in ipairs(v) do
          if type(x) ~= 'number' then
            nl._raise(('plot: history.%s[%d] must be a number, got %s'):format(key, i, type(x)))
          end
        end
      end
    end
    -- (fit's validation_freq: the val_ values are those of the epochs in
    -- val_epoch, placed at those epochs)
    -- (a val_epoch that names no epoch of the history, or fewer or more
    -- than the val_ values, put points at the wrong epochs without a word;
    -- a history without epoch numbers has epochs 1, 2, ...)
    local at
    local ve = history.val_epoch
    if ve ~= nil then
      if type(ve) ~= 'table' then nl._raise(('plot: history.val_epoch must be an array of epoch numbers, got %s'):format(type(ve))) end
      local pos = {}
      if type(history.epoch) == 'table' then
        for i, e in ipairs(history.epoch) do pos[e] = i end
      else
        for i = 1, #history.loss do pos[i] = i end
      end
      at = {}
      for j, e in ipairs(ve) do
        if pos[e] == nil then
          nl._raise(('plot: history.val_epoch[%d] = %s is not an epoch of the history (history.epoch)'):format(j,
            nl._describe_arg(e)))
        end
        at[j] = pos[e]
      end
      for _, key in ipairs({ 'val_loss', 'val_accuracy' }) do
        if history[key] ~= nil and #history[key] ~= #ve then
          nl._raise(('plot: history.%s has %d values, and history.val_epoch %d epochs'):format(key, #history[key], #ve))
        end
      end
    end
    local charts = { { 'loss', { { 'train loss', history.loss },
                                 history.val_loss and { 'validation loss', history.val_loss, at } or nil } } }
    if history.accuracy then
      charts[2] = { 'accuracy', { { 'train accuracy', history.accuracy },
                                  history.val_accuracy and { 'validation accuracy', history.val_accuracy, at } or nil } }
    end
    local out = { ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">'):format(W * #charts, H),
                  ('<rect width="%d" height="%d" fill="white"/>'):format(W * #charts, H) }
    for i, c in ipairs(charts) do chart(out, (i - 1) * W, c[1], c[2]) end
    out[#out + 1] = '</svg>\n'
    local s = table.concat(out, '\n')
    if nl._lib.nl_write_file(path, s, #s) ~= 0 then
      nl._raise(('plot: cannot write %s (%s)'):format(path, require('ffi').string(nl._lib.nl_error())))
    end
    return path
  end
end
