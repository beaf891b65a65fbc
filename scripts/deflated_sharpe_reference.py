"""Independent values for src/eval/trading_tests.rs: Bailey & Lopez de Prado's deflated Sharpe ratio (2014) and
the expected maximum Sharpe ratio SR0 of N noise trials, from the Python standard library only (no code shared with
the crate). Run: python3 scripts/deflated_sharpe_reference.py"""
import math
from statistics import NormalDist

N = NormalDist()
GAMMA = 0.5772156649015329  # Euler-Mascheroni
r = [0.01, -0.005, 0.007, 0.002, -0.003, 0.012, -0.008, 0.004, 0.006, -0.001]
T = len(r)
mu = sum(r) / T
sd = math.sqrt(sum((x - mu) ** 2 for x in r) / (T - 1))
m2 = sum((x - mu) ** 2 for x in r) / T
skew = sum((x - mu) ** 3 for x in r) / T / m2**1.5
kurt = sum((x - mu) ** 4 for x in r) / T / m2**2  # non-excess
sr = mu / sd


def sr0(n, v):
    if n == 1:
        return 0.0
    return math.sqrt(v) * ((1 - GAMMA) * N.inv_cdf(1 - 1 / n) + GAMMA * N.inv_cdf(1 - 1 / (n * math.e)))


def dsr(n, v=None):
    v = 1 / (T - 1) if v is None else v
    z = (sr - sr0(n, v)) * math.sqrt(T - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr)
    return N.cdf(z)


for n, v in [(1, None), (10, None), (6, None), (8, None), (6, 0.02)]:
    vv = 1 / (T - 1) if v is None else v
    print(f"N={n} V={vv!r}: SR0={sr0(n, vv)!r} DSR={dsr(n, v)!r}")
