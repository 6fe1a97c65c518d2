import math

from finkit.interest import compound_interest, effective_annual_rate, simple_interest


def test_interest_basics():
    """Simple, compound and effective rates agree with hand-computed values."""
    assert simple_interest(1000, 0.05, 2) == 100
    assert math.isclose(compound_interest(1000, 0.12, 1, 12), 1126.825030131969, rel_tol=1e-12)
    assert math.isclose(effective_annual_rate(0.12, 12), 0.12682503013196977, rel_tol=1e-12)
    assert compound_interest(500, 0.0, 10) == 500
