-- nl.special's Airy and Bessel functions (airy_ai, bessel_y0/y1,
-- modified_bessel_i0/i1/k0/k1, scaled_modified_bessel_k0/k1,
-- spherical_bessel_j0) and orthogonal polynomials: values against PyTorch
-- 1.13 and mpmath at edge and random points (tests/golden/special_more.lua,
-- made by tests/golden/gen_special_more.py), no gradient as in 1.13, and
-- the errors bad input gets.
local S = require 'support'
local nl = require 'nnlua'

local cases = dofile(S.root .. '/tests/golden/special_more.lua')
local special = nl.special

-- { rtol, atol } by dtype: PyTorch's float32 kernels compute in float
-- (nnlua's in double), and 1.13's airy_ai below -2.09, bessel_y0 and
-- bessel_y1 are off by up to 2e-5 relative (2.5e-6 absolute) in float64;
-- the float64 cases' mpmath values (ref) hold nnlua's to 1e-12
local TOL = { float32 = { 1e-6, 1e-7 }, float64 = { 1e-13, 1e-15 } }
local OFF = { float32 = { 2e-4, 1e-6 }, float64 = { 1e-5, 1e-7 } }
local OP_TOL = { airy_ai = OFF, bessel_y0 = OFF, bessel_y1 = OFF }
local REF_TOL = { 1e-12, 1e-14 }
-- the polynomials: 1.13's float32 kernels compute in float (near a zero
-- of W_10, 1.13 gives -1.5e-6 for 0), and the trigonometric forms of
-- Chebyshev's at n > 6 magnify libm's last bits by n
local POLY_TOL = { float32 = { 2e-5, 2e-5 }, float64 = { 1e-12, 1e-13 } }
local POLY = { 'chebyshev_polynomial_t', 'chebyshev_polynomial_u', 'chebyshev_polynomial_v', 'chebyshev_polynomial_w',
               'shifted_chebyshev_polynomial_t', 'shifted_chebyshev_polynomial_u', 'shifted_chebyshev_polynomial_v',
               'shifted_chebyshev_polynomial_w', 'hermite_polynomial_h', 'hermite_polynomial_he',
               'laguerre_polynomial_l', 'legendre_polynomial_p' }
local BESSEL = { 'airy_ai', 'bessel_y0', 'bessel_y1', 'modified_bessel_i0', 'modified_bessel_i1', 'modified_bessel_k0',
                 'modified_bessel_k1', 'scaled_modified_bessel_k0', 'scaled_modified_bessel_k1', 'spherical_bessel_j0' }

describe('nl.special Airy and Bessel functions', function()
  it("give PyTorch's values and mpmath's, edge values, int64 input and float32 included", function()
    local n, refs = 0, 0
    for _, c in ipairs(cases) do
      if c.x then
        local x = S.from_golden(c.x)
        local got = special[c.op](x)
        local want = S.from_golden(c.want)
        assert.are.equal(want:dtype(), got:dtype(), c.op .. ' dtype')
        S.expect_golden(got, c.want, c.op .. ' ' .. x:dtype(), (OP_TOL[c.op] or TOL)[want:dtype()])
        if c.ref then
          S.expect_golden(got, c.ref, c.op .. ' against mpmath', REF_TOL)
          refs = refs + 1
        end
        n = n + 1
      end
    end
    assert.are.equal(30, n)
    assert.are.equal(10, refs)
  end)

  it('keep the input shape and read strided input', function()
    local x = nl.tensor({ { 0.5, 1, 2 }, { 3, 4, 6 } }, 'float64')
    for _, name in ipairs(BESSEL) do
      local got = special[name](x:t())
      assert.are.same({ 3, 2 }, got:shape(), name)
      S.expect_close(got, special[name](x:t():contiguous()), name, 0, 0)
    end
  end)

  it('have no gradient, as in PyTorch 1.13', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    for _, name in ipairs(BESSEL) do assert.is_false(special[name](x).is_requires_grad, name) end
  end)

  it('name the function in their errors', function()
    S.contains(S.errmsg(special.airy_ai, 2), 'special.airy_ai: expected a tensor, got number')
    S.contains(S.errmsg(special.modified_bessel_k1, nl.ones(2), 3), 'special.modified_bessel_k1')
  end)
end)

describe('nl.special orthogonal polynomials', function()
  local function operand(v) return type(v) == 'number' and v or S.from_golden(v) end

  it("give PyTorch's values over x and n broadcast, edge values, numbers and int64 included", function()
    local n = 0
    for _, c in ipairs(cases) do
      if c.a then
        local got = special[c.op](operand(c.a), operand(c.b))
        local want = S.from_golden(c.want)
        assert.are.equal(want:dtype(), got:dtype(), c.op .. ' dtype')
        S.expect_golden(got, c.want, c.op .. ' ' .. want:dtype(), POLY_TOL[want:dtype()])
        n = n + 1
      end
    end
    assert.are.equal(5 * #POLY, n)
  end)

  it('agree with the closed forms T_n(cos t) = cos(n t), U_n, H_3, L_2 and P_2', function()
    local t = nl.tensor({ 0.3, 1.1, 2.5 }, 'float64')
    local x = t:cos()
    S.expect_close(special.chebyshev_polynomial_t(x, 11), (t * 11):cos(), 'T_11', 1e-12, 1e-12)
    S.expect_close(special.chebyshev_polynomial_u(x, 4), (t * 5):sin() / t:sin(), 'U_4', 1e-12, 1e-12)
    S.expect_close(special.shifted_chebyshev_polynomial_t((x + 1) / 2, 5), (t * 5):cos(), 'T*_5', 1e-12, 1e-12)
    local y = nl.tensor({ -1.5, 0.25, 2 }, 'float64')
    S.expect_close(special.hermite_polynomial_h(y, 3), y:pow(3) * 8 - y * 12, 'H_3', 1e-14, 1e-14)
    S.expect_close(special.hermite_polynomial_he(y, 3), y:pow(3) - y * 3, 'He_3', 1e-14, 1e-14)
    S.expect_close(special.laguerre_polynomial_l(y, 2), (y * y - y * 4 + 2) / 2, 'L_2', 1e-14, 1e-14)
    S.expect_close(special.legendre_polynomial_p(y, 2), (y * y * 3 - 1) / 2, 'P_2', 1e-14, 1e-14)
  end)

  it('have no gradient, as in PyTorch 1.13', function()
    local x = nl.tensor({ 0.5, 2 }, 'float64'):requires_grad()
    local n = nl.tensor({ 3, 4 }, 'float64'):requires_grad()
    for _, name in ipairs(POLY) do assert.is_false(special[name](x, n).is_requires_grad, name) end
  end)

  it('name the function and the shapes in their errors', function()
    S.contains(S.errmsg(special.legendre_polynomial_p, nl.ones(2, 3), nl.ones(4)),
               'special.legendre_polynomial_p: shapes [2,3], [4] cannot be broadcast together')
    S.contains(S.errmsg(special.hermite_polynomial_h, 0.5, 3),
               'special.hermite_polynomial_h: expected a tensor among the operands')
    S.contains(S.errmsg(special.chebyshev_polynomial_t, nl.ones(2), 'a'), 'special.chebyshev_polynomial_t: expected')
    S.contains(S.errmsg(special.laguerre_polynomial_l, nl.ones(2), 2, 3), 'special.laguerre_polynomial_l: takes (input, n)')
  end)
end)
