-- nl.metrics: Keras's Precision, Recall and AUC against their documented
-- definitions worked in float64 (tests/golden/gen_metrics.py), the
-- counts of several batches equal to those of their whole, and closed
-- forms (a perfect classifier's AUC is 1, equal scores' ROC AUC 0.5);
-- MeanMetricWrapper's mean over samples. In compile and fit: each epoch's
-- values against a recomputation over the outputs fit made in it (kept
-- by a recording layer), not a mean of the batches'; validation, early
-- stopping's auto mode, a resumed run, save and nn.load; misuse named.
local nl = require 'nnlua'
local S = require 'support'
local nn, M = nl.nn, nl.metrics

local golden = dofile(S.root .. '/tests/golden/metrics.lua')
local errmsg, contains = S.errmsg, S.contains
local dir = S.tmpdir()

local function close(got, want, rtol, what)
  assert(math.abs(got - want) <= rtol * math.max(math.abs(want), 1e-12),
         ('%s: want %.17g, got %.17g'):format(what, want, got))
end
local function make(class, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  return M[class](o)
end

describe('nl.metrics against their definitions', function()
  -- (PR with interpolation: the golden integral is numerical, 1e-8 close)
  it('Precision, Recall and AUC give the golden values, in one batch or in three', function()
    local differs = 0
    for _, c in ipairs(golden) do
      local y, p = S.from_golden(c.y), S.from_golden(c.p)
      local w = c.w and S.from_golden(c.w) or nil
      local tol = (c.class == 'AUC' and c.opts.curve == 'PR') and 1e-7 or 1e-12
      local m = make(c.class, c.opts)
      m:update_state(y, p, w)
      close(m:result(), c.result, tol, c.name)
      -- the counts of three batches add up to the whole's, which a mean
      -- of the batches' values does not give
      m:reset_state()
      assert.are.equal(0, m:result())
      local n, at, mean = y:size(1), 1, 0
      for _, len in ipairs({ math.floor(n / 3), math.floor(n / 3), n - 2 * math.floor(n / 3) }) do
        local wb = w and w:narrow(1, at, len) or nil
        m:update_state(y:narrow(1, at, len), p:narrow(1, at, len), wb)
        local one = make(c.class, c.opts)
        one:update_state(y:narrow(1, at, len), p:narrow(1, at, len), wb)
        mean = mean + one:result() * len / n
        at = at + len
      end
      close(m:result(), c.result, tol, c.name .. ' in three batches')
      if math.abs(mean - c.result) > 1e-3 then differs = differs + 1 end
    end
    assert.is_true(differs > #golden / 2, 'the batches\' mean was the whole\'s value: the cases test nothing')
  end)

  it('closed forms: a perfect classifier, equal scores, no positives predicted', function()
    local y = nl.tensor({ 0, 1, 0, 1, 1, 0 })
    local good = nl.tensor({ 0.1, 0.9, 0.3, 0.7, 0.6, 0.2 })
    for _, curve in ipairs({ 'ROC', 'PR' }) do
      local a = M.AUC { curve = curve }
      a:update_state(y, good)
      close(a:result(), 1, 1e-12, curve .. ' of a perfect classifier')
    end
    local roc = M.AUC()
    roc:update_state(y, 1 - good)
    close(roc:result(), 0, 1e-12, 'ROC of the reversed classifier')
    roc:reset_state()
    roc:update_state(y, nl.full({ 6 }, 0.4))
    close(roc:result(), 0.5, 1e-12, 'ROC of equal scores')
    -- PR of equal scores: every threshold below them gives precision 3/6
    -- at recall 1, the rest recall 0 (Davis and Goadrich's line from
    -- (1, 1/2) down to recall 0 keeps precision 1/2)
    local pr = M.AUC { curve = 'PR' }
    pr:update_state(y, nl.full({ 6 }, 0.4))
    close(pr:result(), 0.5, 1e-12, 'PR of equal scores')
    -- Keras's divide_no_nan: nothing predicted (or nothing) positive is 0
    local prec, rec = M.Precision(), M.Recall()
    prec:update_state(y, nl.full({ 6 }, 0.2))
    rec:update_state(nl.zeros(6), good)
    assert.are.equal(0, prec:result())
    assert.are.equal(0, rec:result())
    -- an output at the threshold is not above it (Keras's >)
    prec:reset_state()
    prec:update_state(nl.tensor({ 1, 0 }), nl.tensor({ 0.5, 0.75 }))
    assert.are.equal(0, prec:result())
    -- targets other than 0 count as positives (Keras casts them to bool)
    rec:reset_state()
    rec:update_state(nl.tensor({ 2, -1, 0 }, 'int64'), nl.tensor({ 0.9, 0.1, 0.9 }))
    close(rec:result(), 0.5, 0, 'Recall of nonzero targets')
  end)

  it('MeanMetricWrapper: the mean over samples, a batch\'s mean weighed by its size', function()
    local m = M.MeanMetricWrapper(function(y, p) return (y - p):abs():mean() end, { name = 'abs_err' })
    assert.are.equal('abs_err', m.name)
    m:update_state(nl.tensor({ 1, 2 }), nl.tensor({ 1.5, 2 }))
    m:update_state(nl.tensor({ 1, 2, 3, 4 }), nl.tensor({ 1, 2, 3, 6 }))
    -- |errors| 0.5, 0, 0, 0, 0, 2 over 6 samples
    close(m:result(), 2.5 / 6, 1e-7, 'mean of a batch mean')
    -- one value a sample (N, ...), a sample's entries averaged; a number
    local s = M.MeanMetricWrapper(function(y, p) return (y - p):abs() end, 'per_sample')
    s:update_state(nl.tensor({ { 1, 3 }, { 0, 0 } }), nl.tensor({ { 0, 0 }, { 0, 1 } }))
    s:update_state(nl.tensor({ { 0, 0 } }), nl.tensor({ { 0, 0 } }))
    close(s:result(), (2 + 0.5 + 0) / 3, 1e-7, 'samples')
    local k = M.MeanMetricWrapper(function() return 3 end)
    assert.are.equal('mean_metric_wrapper', k.name)
    k:update_state(nl.zeros(4), nl.zeros(4), nl.tensor({ 1, 1, 0, 2 }))
    assert.are.equal(3, k:result())
  end)

  it('refuses unknown options, bad values, shapes and outputs, naming the metric and the shapes', function()
    contains(errmsg(M.AUC, { num_threshold = 10 }), "nl.metrics.AUC: unknown option 'num_threshold'")
    contains(errmsg(M.Precision, { threshold = 0.5 }), "nl.metrics.Precision: unknown option 'threshold'")
    contains(errmsg(M.Precision, { thresholds = { 0.5, 0.6 } }), 'thresholds must be one number in [0, 1]')
    contains(errmsg(M.Recall, { thresholds = 1.5 }), 'thresholds must be one number in [0, 1], got 1.5')
    contains(errmsg(M.AUC, { num_thresholds = 1 }), 'num_thresholds must be a whole number > 1, got 1')
    contains(errmsg(M.AUC, { curve = 'roc' }), "curve must be 'ROC' or 'PR', got 'roc'")
    contains(errmsg(M.AUC, { summation_method = 'riemann' }), "summation_method must be 'interpolation'")
    contains(errmsg(M.AUC, { from_logits = 1 }), 'from_logits must be a boolean')
    contains(errmsg(M.AUC, { name = 'val_auc' }), "name must be a string other than 'loss'")
    contains(errmsg(M.MeanMetricWrapper, 'abs'), 'expected a function (y_true, y_pred)')
    local a = M.AUC()
    contains(errmsg(a.update_state, a, nl.zeros(4), nl.zeros(4, 1)),
             "AUC:update_state: metric 'auc' counts 0/1 targets of the output's shape, (N, ...) both, got outputs "
             .. 'float32 [4,1] and targets float32 [4]')
    contains(errmsg(a.update_state, a, nl.zeros(2), nl.tensor({ 0.5, 2 })),
             "metric 'auc' reads probabilities in [0, 1], got outputs [2] from 0.5 to 2 (logits: AUC{from_logits = true})")
    local p = M.Precision { name = 'prec' }
    contains(errmsg(p.update_state, p, nl.zeros(3, 2), nl.zeros(3, 2), nl.ones(2)),
             "metric 'prec': sample_weight [2] fits neither the outputs [3,2] nor their 3 samples")
    local bad = M.MeanMetricWrapper(function(y, q) return nl.ones(2) end, { name = 'two' })
    contains(errmsg(bad.update_state, bad, nl.zeros(3, 2), nl.zeros(3, 2)),
             "metric 'two': its function must give a number, a tensor of one value or one value a sample (3, ...), "
             .. 'got float32 [2] for outputs float32 [3,2] and targets float32 [3,2]')
    local str = M.MeanMetricWrapper(function() return 'x' end, { name = 'str' })
    contains(errmsg(str.update_state, str, nl.zeros(3), nl.zeros(3)), "its function must give a number or a tensor")
  end)

  it('refuses NaN outputs and NaN or negative weights, which counted as garbage, and extra arguments', function()
    local y, nan = nl.tensor({ 1, 0, 1 }), 0 / 0
    -- (Precision counted a NaN output a negative, and AUC failed in bincount)
    for _, m in ipairs({ M.Precision(), M.Recall(), M.AUC(), M.AUC { from_logits = true, name = 'logit_auc' } }) do
      local msg = errmsg(m.update_state, m, y, nl.tensor({ nan, 0.2, 0.9 }))
      contains(msg, ("%s:update_state: metric '%s' reads probabilities in [0, 1], got NaN among the outputs [3]")
                    :format(m.class_name, m.name))
      assert.are.equal(0, m:result())
    end
    -- a tensor of weights as a number weight: finite and >= 0 (a NaN
    -- weight gave Precision 0)
    local p = M.Precision()
    contains(errmsg(p.update_state, p, y, nl.tensor({ 0.7, 0.6, 0.9 }), nl.tensor({ nan, 1, 1 })),
             "Precision:update_state: metric 'precision': sample_weight must hold finite weights >= 0, got [3]")
    contains(errmsg(p.update_state, p, y, nl.tensor({ 0.7, 0.6, 0.9 }), nl.tensor({ 1, -1, 1 })),
             'sample_weight must hold finite weights >= 0')
    contains(errmsg(p.update_state, p, y, y, nil, 5),
             'Precision:update_state: takes (y_true, y_pred, [sample_weight]), got 4 arguments')
    assert.are.equal(0, p:result())
    -- an empty batch adds nothing (a function of one value a sample failed in reshape)
    local w = M.MeanMetricWrapper(function(a, b) return (a - b):abs() end, 'ae')
    w:update_state(nl.zeros(0, 2), nl.zeros(0, 2))
    w:update_state(nl.tensor({ { 1, 3 } }), nl.tensor({ { 0, 0 } }))
    assert.are.equal(2, w:result())
  end)
end)

-- ---- in compile and fit ----
-- ROC AUC of thresholds i / (n - 1), the ends moved by 1e-7, by direct
-- counting over flat lists (the spec's own, for the fit runs)
local function roc_auc(ys, ps, n)
  local pts = {}
  for i = 0, n - 1 do
    local t = i == 0 and -1e-7 or i == n - 1 and 1 + 1e-7 or i / (n - 1)
    local tp, fp, P, N = 0, 0, 0, 0
    for k = 1, #ys do
      local pos = ys[k] ~= 0
      if pos then P = P + 1 else N = N + 1 end
      if ps[k] > t then
        if pos then tp = tp + 1 else fp = fp + 1 end
      end
    end
    pts[i + 1] = { N > 0 and fp / N or 0, P > 0 and tp / P or 0 }
  end
  local area = 0
  for i = 1, n - 1 do area = area + (pts[i][1] - pts[i + 1][1]) * (pts[i][2] + pts[i + 1][2]) / 2 end
  return area
end
local function pr_at(ys, ps, t)
  local tp, fp, fn = 0, 0, 0
  for k = 1, #ys do
    local pos, pp = ys[k] ~= 0, ps[k] > t
    if pos and pp then tp = tp + 1 elseif pp then fp = fp + 1 elseif pos then fn = fn + 1 end
  end
  return tp / math.max(tp + fp, 1e-300), tp / math.max(tp + fn, 1e-300)
end

-- a layer that keeps the outputs it gives in training mode: those fit
-- tallies its metrics on
local Recorder = nn.Module:extend('MetricsRecorder')
function Recorder:init() self.outs = {} end
function Recorder:forward(x)
  if self.training then self.outs[#self.outs + 1] = x:detach():clone() end
  return x
end

local function binary_problem()
  local r = S.rng(7)
  local X, y = {}, {}
  for i = 1, 23 do
    X[i] = { r(), r(), r() }
    y[i] = { (X[i][1] - 0.5 * X[i][2] + 0.3 * r() > 0) and 1 or 0, (X[i][3] > 0.2) and 1 or 0 }
  end
  return nl.tensor(X), nl.tensor(y)
end

describe('nl.metrics in compile and fit', function()
  it('records each epoch\'s counts over all its outputs, not a mean of the batches\', and validation\'s', function()
    local X, y = binary_problem()
    local Xv, yv = X:narrow(1, 1, 9), y:narrow(1, 1, 9)
    nl.manual_seed(4)
    local rec = Recorder()
    local m = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid(), rec)
    local function abs_err(yt, p) return (yt - p):abs():mean() end
    local function sq_err(yt, p) return ((yt - p) ^ 2):mean() end
    m:compile { optimizer = 'sgd', lr = 0.5, loss = 'binary_crossentropy',
                metrics = { 'accuracy', 'precision', M.Recall { thresholds = 0.4 }, M.AUC { num_thresholds = 50 },
                            M.MeanMetricWrapper(abs_err, { name = 'abs_err' }), sq_err } }
    -- batches of 5, 5, 5, 5 and 3 rows
    local h = m:fit(X, y, { epochs = 2, batch_size = 5, shuffle = false, verbose = 0, validation_data = { Xv, yv } })
    for _, k in ipairs({ 'precision', 'recall', 'auc', 'abs_err', 'fn_1', 'val_precision', 'val_recall', 'val_auc',
                         'val_abs_err', 'val_fn_1', 'accuracy' }) do
      assert.are.equal(2, #h[k], k)
    end
    local yl = S.flat(y)
    for e = 1, 2 do
      local outs = {}
      for b = 1, 5 do outs[b] = rec.outs[(e - 1) * 5 + b] end
      local P = nl.cat(outs, 1)
      local ps = S.flat(P)
      local prec = pr_at(yl, ps, 0.5)
      local _, recall = pr_at(yl, ps, 0.4)
      close(h.precision[e], prec, 1e-12, 'precision')
      close(h.recall[e], recall, 1e-12, 'recall')
      close(h.auc[e], roc_auc(yl, ps, 50), 1e-12, 'auc')
      close(h.abs_err[e], (P:double() - y:double()):abs():mean():item(), 1e-6, 'abs_err')
      close(h.fn_1[e], ((P:double() - y:double()) ^ 2):mean():item(), 1e-6, 'fn_1')
      -- (the batches' mean AUC is not the epoch's)
      local mean = 0
      for b = 1, 5 do
        local ys, n = S.flat(y:narrow(1, (b - 1) * 5 + 1, b < 5 and 5 or 3)), b < 5 and 5 or 3
        mean = mean + roc_auc(ys, S.flat(outs[b]), 50) * n / 23
      end
      assert.is_true(math.abs(mean - h.auc[e]) > 1e-3, 'the batches\' mean AUC is the epoch\'s')
    end
    -- validation: the trained model's outputs
    local pv = S.flat(m:predict(Xv))
    local yvl = S.flat(yv)
    close(h.val_precision[2], (pr_at(yvl, pv, 0.5)), 1e-12, 'val_precision')
    close(h.val_recall[2], select(2, pr_at(yvl, pv, 0.4)), 1e-12, 'val_recall')
    close(h.val_auc[2], roc_auc(yvl, pv, 50), 1e-12, 'val_auc')
    -- evaluate gives the same counts
    local _, ev = m:evaluate(Xv, yv, { batch_size = 4 })
    close(ev.auc, h.val_auc[2], 1e-12, 'evaluate')
    close(ev.abs_err, h.val_abs_err[2], 1e-6, 'evaluate abs_err')
  end)

  it('test_on_batch with reset_metrics = false counts every call since the last reset', function()
    local X, y = binary_problem()
    nl.manual_seed(8)
    local m = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())
    m:compile { loss = 'binary_crossentropy', metrics = { M.AUC { num_thresholds = 40 } } }
    local a, b = X:narrow(1, 1, 10), X:narrow(1, 11, 13)
    m:test_on_batch(a, y:narrow(1, 1, 10), { reset_metrics = false })
    local r = m:test_on_batch(b, y:narrow(1, 11, 13), { reset_metrics = false, return_dict = true })
    close(r.auc, roc_auc(S.flat(y), S.flat(m:predict(X)), 40), 1e-12, 'both batches')
    r = m:test_on_batch(b, y:narrow(1, 11, 13), { return_dict = true })
    close(r.auc, roc_auc(S.flat(y:narrow(1, 11, 13)), S.flat(m:predict(b)), 40), 1e-12, 'the batch alone')
  end)

  it('AUC{from_logits = true} with bce_with_logits; early stopping and ReduceLROnPlateau maximize auc by name', function()
    local X, y = binary_problem()
    nl.manual_seed(5)
    local m = nn.Linear(3, 2)
    m:compile { optimizer = 'adam', lr = 0.05, loss = 'bce_with_logits',
                metrics = { M.AUC { from_logits = true, curve = 'PR', name = 'pr_auc' } } }
    local h = m:fit(X, y, { epochs = 3, batch_size = 8, verbose = 0, validation_split = 0.3,
                            early_stopping = { monitor = 'val_pr_auc', patience = 5 } })
    assert.are.equal(3, #h.val_pr_auc)
    local pr = M.AUC { curve = 'PR' }
    pr:update_state(y:narrow(1, 17, 7), m:predict(X:narrow(1, 17, 7)):sigmoid())
    close(h.val_pr_auc[3], pr:result(), 1e-12, 'val_pr_auc')
    for _, name in ipairs({ 'auc', 'val_auc', 'precision', 'val_recall', 'auc_1', 'val_pr_auc' }) do
      assert.are.equal('max', nl.callbacks.EarlyStopping { monitor = name }.options.mode, name)
      assert.are.equal('max', nl.callbacks.ReduceLROnPlateau { monitor = name }.mode, name)
    end
    assert.are.equal('min', nl.callbacks.EarlyStopping { monitor = 'val_fn_1' }.options.mode)
    contains(errmsg(m.fit, m, X, y, { verbose = 0, validation_split = 0.3, early_stopping = { monitor = 'val_auc' } }),
             "fit: early_stopping.monitor must name a value this fit records (loss, pr_auc, val_loss, val_pr_auc), "
             .. "got 'val_auc'")
  end)

  -- Keras's auto mode takes a metric object's direction (Precision's is
  -- up) whatever its name: a Precision named 'prec' is maximized, with or
  -- without val_ (the name rule minimized it). The model's outputs are
  -- set per epoch so that precision is 1/2, 2/3, 1: maximized, each
  -- epoch improves and patience 0 never stops, nor lowers the lr, and each
  -- epoch is a best to save; minimized, fit stopped at epoch 2, the lr
  -- halved there, and only epoch 1 was saved.
  local Scripted = nn.Module:extend('ScriptedOutputs')
  function Scripted:init(outs) self.outs, self.epoch = outs, 1 end
  function Scripted:forward(x) return nl.tensor(self.outs[self.epoch]):view(-1, 1) + x * 0 end
  it('auto mode maximizes a custom-named Precision by its direction: early stopping, the callbacks', function()
    local X, y = nl.tensor({ { 1, 2, 3 }, { 0, 1, 0 }, { 2, 0, 1 }, { 1, 1, 1 } }), nl.tensor({ { 1 }, { 1 }, { 0 }, { 0 } })
    local function model()
      local s = Scripted({ { 0.9, 0.9, 0.9, 0.9 }, { 0.9, 0.9, 0.9, 0.1 }, { 0.9, 0.9, 0.1, 0.1 } })
      local m = nn.Sequential(nn.Linear(3, 1), s)
      m:compile { optimizer = 'sgd', lr = 0.1, loss = 'binary_crossentropy', metrics = { M.Precision { name = 'prec' } } }
      local cb = nl.callbacks.LambdaCallback { on_epoch_begin = function(e) s.epoch = e end }
      return m, cb
    end
    local base = { epochs = 3, batch_size = 4, shuffle = false, verbose = 0, validation_data = { X, y } }
    local function opts(extra)
      local o = {}
      for k, v in pairs(base) do o[k] = v end
      for k, v in pairs(extra) do o[k] = v end
      return o
    end
    for _, monitor in ipairs({ 'prec', 'val_prec' }) do
      local m, cb = model()
      local h = m:fit(X, y, opts { callbacks = { cb }, early_stopping = { monitor = monitor, patience = 0 } })
      assert.are.same({ 0.5, 2 / 3, 1 }, h[monitor], monitor)
      m, cb = model()
      local es = nl.callbacks.EarlyStopping { monitor = monitor, patience = 0 }
      h = m:fit(X, y, opts { callbacks = { cb, es } })
      assert.are.equal(3, #h.loss, 'EarlyStopping ' .. monitor)
      assert.are.equal('max', es.options.mode)
      m, cb = model()
      local rl = nl.callbacks.ReduceLROnPlateau { monitor = monitor, patience = 0, factor = 0.5 }
      h = m:fit(X, y, opts { callbacks = { cb, rl } })
      assert.are.same({ 0.1, 0.1, 0.1 }, h.lr, 'ReduceLROnPlateau ' .. monitor)
      m, cb = model()
      local path = dir .. '/prec_' .. monitor .. '_{epoch}.safetensors'
      local mc = nl.callbacks.ModelCheckpoint(path, { monitor = monitor, save_best_only = true,
                                                      save_weights_only = true })
      m:fit(X, y, opts { callbacks = { cb, mc } })
      for e = 1, 3 do
        local f = path:gsub('{epoch}', tostring(e))
        local fh = io.open(f)
        assert.is_truthy(fh, 'ModelCheckpoint ' .. monitor .. ' epoch ' .. e)
        fh:close()
        os.remove(f)
      end
    end
    -- a name the compiled metrics do not hold goes by the name rule, and
    -- so does a function's metric, whose direction is unknown
    assert.are.equal('min', nl.callbacks.EarlyStopping { monitor = 'prec' }.options.mode)
    local m = nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())
    m:compile { loss = 'binary_crossentropy',
                metrics = { M.MeanMetricWrapper(function(t, p) return (t - p):abs():mean() end, { name = 'hit_acc' }) } }
    local es = nl.callbacks.EarlyStopping { monitor = 'hit_acc' }
    m:fit(X, y, { epochs = 1, verbose = 0, callbacks = { es } })
    assert.are.equal('max', es.options.mode)
  end)

  it('refuses, at compile, pairs of metric and loss that cannot work, naming both', function()
    local m = nn.Linear(3, 2)
    local function compile(loss, metrics) return errmsg(m.compile, m, { loss = loss, metrics = metrics }) end
    contains(compile('cross_entropy', { 'precision' }),
             "compile: metric 'precision' (nl.metrics.Precision) counts 0/1 targets of the output's shape; "
             .. "'cross_entropy' takes class indices")
    contains(compile(nn.CrossEntropyLoss(), { M.AUC() }), 'nn.CrossEntropyLoss takes class indices')
    contains(compile('bce_with_logits', { 'auc' }),
             "'bce_with_logits' takes logits: give nl.metrics.AUC{from_logits = true}")
    contains(compile('bce_with_logits', { M.Recall() }), "'bce_with_logits' takes logits, and it thresholds probabilities")
    contains(compile('binary_crossentropy', { M.AUC { from_logits = true } }),
             "'binary_crossentropy' takes probabilities, and from_logits = true")
    contains(compile(nn.SoftMarginLoss(), { 'recall' }), 'nn.SoftMarginLoss takes +-1 targets')
    contains(compile('bce', { 'precision', M.Precision { thresholds = 0.3 } }),
             "compile: two metrics are named 'precision'; give nl.metrics.Precision another name")
    contains(compile('bce', { M.MeanMetricWrapper(function() return 0 end, { name = 'mae' }) }),
             "compile: a built-in metric is named 'mae'")
    contains(compile('bce', { { 'auc' } }), 'compile: metrics must be names, nl.metrics objects or functions')
    contains(compile('bce', { 'aucc' }), "unknown metric 'aucc'")
    -- the pairs that work: probabilities of one-hot targets, a regression
    -- loss and a function loss (the outputs checked as they come)
    m:compile { loss = 'categorical_crossentropy', metrics = { 'auc', 'precision' } }
    m:compile { loss = 'mse', metrics = { 'recall' } }
    m:compile { loss = function(p, t) return ((p - t) ^ 2):mean() end, metrics = { M.AUC { from_logits = true } } }
    m:compile { loss = 'mse', metrics = M.AUC { name = 'one' } }
    assert.are.same({ 'one' }, rawget(m, '_compiled').metrics)
    m:compile { loss = 'mse', metrics = { 'auc' } }
    contains(errmsg(m.fit, m, nl.ones(4, 3) * 9, nl.ones(4, 2), { verbose = 0 }),
             "fit: metric 'auc' reads probabilities in [0, 1], got outputs [4,2] from")
    m:compile { loss = function(p) return p:mean() end, metrics = { 'auc' } }
    contains(errmsg(m.evaluate, m, nl.ones(4, 3), nl.ones(4, 1)),
             "evaluate: metric 'auc' counts 0/1 targets of the output's shape, (N, ...) both, got outputs float32 "
             .. '[4,2] and targets float32 [4,1]')
  end)

  it('save and nn.load record the metric objects by class and options; a function metric loads uncompiled', function()
    local X, y = binary_problem()
    nl.manual_seed(6)
    local m = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())
    m:compile { optimizer = 'adam', loss = 'binary_crossentropy',
                metrics = { 'accuracy', M.AUC { curve = 'PR', num_thresholds = 40, name = 'pr' }, 'recall',
                            M.Precision { thresholds = 0.3 } } }
    m:fit(X, y, { epochs = 1, batch_size = 8, verbose = 0 })
    m:save(dir .. '/objs.st')
    local m2 = nn.load(dir .. '/objs.st')
    local c = rawget(m2, '_compiled')
    assert.are.same({ 'accuracy', 'pr', 'recall', 'precision' }, c.metrics)
    assert.are.equal('PR', c.metric_obj.pr.curve)
    assert.are.equal(40, c.metric_obj.pr.num_thresholds)
    assert.are.equal(0.3, c.metric_obj.precision.thresholds)
    local l1, v1 = m:evaluate(X, y)
    local l2, v2 = m2:evaluate(X, y)
    assert.are.equal(l1, l2)
    assert.are.same(v1, v2)
    m:compile { optimizer = 'adam', loss = 'binary_crossentropy',
                metrics = { 'auc', M.MeanMetricWrapper(function(a, b) return (a - b):abs():mean() end, { name = 'ae' }) } }
    m:save(dir .. '/fn.st')
    local m3, extras = nn.load(dir .. '/fn.st')
    assert.is_nil(rawget(m3, '_compiled'))
    contains(extras.uncompiled, "its metric 'ae' is a Lua function, which a checkpoint cannot record")
  end)

  it('a run killed mid-epoch and resumed keeps the counts and gives the uninterrupted history', function()
    local X, y = binary_problem()
    local stop = {}
    local function run(path, kill)
      nl.manual_seed(9)
      local m = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())
      m:compile { optimizer = 'sgd', lr = 0.3, loss = 'binary_crossentropy',
                  metrics = { M.AUC { num_thresholds = 30 }, 'precision', function(a, b) return (a - b):abs():mean() end } }
      local ok, h = pcall(m.fit, m, X, y, { epochs = 3, batch_size = 4, verbose = 0,
        checkpoint = path and { path = path, every = 2 }, resume = path ~= nil,
        on_step = function(e, s) if kill and e == 2 and s == 5 then error(stop) end end })
      if not ok then assert(h == stop, tostring(h)) return nil end
      return h
    end
    local want = run()
    local path = dir .. '/resume.st'
    assert.is_nil(run(path, true))
    assert.are.same(want, run(path))
  end)
end)
