from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcr_kit.sharing.gf256 import GFSHARE_POLY, RIJNDAEL_POLY, Field, field

elements = st.integers(0, 255)
nonzero = st.integers(1, 255)
polys = st.sampled_from([RIJNDAEL_POLY, GFSHARE_POLY])


def test_rijndael_product_matches_fips197_example() -> None:
    # FIPS-197 section 4.2: {57} . {83} = {c1}
    assert field(RIJNDAEL_POLY).mul(0x57, 0x83) == 0xC1


def test_generators_are_the_usual_ones() -> None:
    assert field(RIJNDAEL_POLY).generator == 0x03
    assert field(GFSHARE_POLY).generator == 0x02


def test_reducible_polynomial_is_refused() -> None:
    with pytest.raises(ValueError):
        Field(0x100)  # x^8 is reducible


@given(polys, elements, elements, elements)
def test_multiplication_is_a_commutative_ring_law(poly: int, a: int, b: int, c: int) -> None:
    f = field(poly)
    assert f.mul(a, b) == f.mul(b, a)
    assert f.mul(a, f.mul(b, c)) == f.mul(f.mul(a, b), c)
    assert f.mul(a, b ^ c) == f.mul(a, b) ^ f.mul(a, c)


@given(polys, nonzero)
def test_every_nonzero_element_has_an_inverse(poly: int, a: int) -> None:
    f = field(poly)
    assert f.mul(a, f.inv(a)) == 1
    assert f.div(a, a) == 1


@given(polys, elements)
def test_mul_table_matches_mul(poly: int, c: int) -> None:
    f = field(poly)
    table = f.mul_table(c)
    assert all(table[x] == f.mul(c, x) for x in range(256))


def test_zero_has_no_inverse() -> None:
    with pytest.raises(ZeroDivisionError):
        field().inv(0)


@given(
    st.lists(elements, min_size=1, max_size=6),
    st.lists(nonzero, min_size=6, max_size=6, unique=True),
)
def test_interpolation_recovers_polynomial_at_zero(coefficients: list[int], xs: list[int]) -> None:
    f = field()
    points = [(x, bytes([f.eval_poly(coefficients, x)])) for x in xs[: len(coefficients)]]
    assert f.interpolate(points) == bytes([coefficients[0]])
