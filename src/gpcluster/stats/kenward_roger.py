"""Kenward-Roger small-sample inference for fixed effects estimated by generalised least squares with a
covariance matrix estimated by REML (Kenward and Roger, Biometrics 1997; as in R's pbkrtest).

Plugging the estimated covariance into GLS treats it as known, so the usual t intervals are too narrow in
short series: the estimate of the error correlation is itself uncertain. Kenward and Roger inflate the
covariance of the coefficients by a Taylor-series term in that uncertainty, scale the Wald statistic and
refer it to an F distribution whose denominator degrees of freedom match its first two moments. For
balanced designs where an exact F test exists (random intercepts, split plots), the method reproduces it.

Notation (the paper's): Sigma(theta) the error covariance, theta the r covariance parameters, Sigma_i its
first derivatives, W the asymptotic covariance of theta-hat (inverse of the REML expected information),
Phi = (X' Sigma^-1 X)^-1, L the k x l matrix of contrasts tested. The term in second derivatives of Sigma
is left out, as pbkrtest does (exact for covariances linear in theta) and SAS's DDFM=KR(FIRSTORDER) does:
for the AR(1) coefficient it made the adjusted variance negative in about one short series in twenty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg


@dataclass(frozen=True)
class KenwardRoger:
    cov: np.ndarray  # adjusted covariance of the coefficients, Phi_A
    scale: float  # lambda: lambda * F ~ F(l, df)
    df: float  # denominator degrees of freedom m

    def contrast_se(self, c) -> float:
        """Standard error of c' b such that (c' b - c' beta) / se ~ t(df), for one contrast (l = 1)."""
        c = np.asarray(c, dtype=float)
        return float(np.sqrt(c @ self.cov @ c / self.scale))


def reml_information(X: np.ndarray, sigma: np.ndarray, derivatives: list[np.ndarray]) -> np.ndarray:
    """Expected information of the REML likelihood: I_ij = tr(P Sigma_i P Sigma_j) / 2 with
    P = Sigma^-1 - Sigma^-1 X (X' Sigma^-1 X)^-1 X' Sigma^-1."""
    si = linalg.inv(sigma)
    si_x = si @ X
    p = si - si_x @ linalg.solve(X.T @ si_x, si_x.T)
    p_d = [p @ d for d in derivatives]
    return np.array([[0.5 * float(np.sum(a * b.T)) for b in p_d] for a in p_d])


def adjust(X: np.ndarray, sigma: np.ndarray, derivatives: list[np.ndarray], W: np.ndarray, L) -> KenwardRoger:
    """The Kenward-Roger adjusted covariance, scale and degrees of freedom for testing L' beta."""
    X = np.asarray(X, dtype=float)
    si = linalg.inv(sigma)
    si_x = si @ X
    phi = linalg.inv(X.T @ si_x)
    r = len(derivatives)
    p = [-(si_x.T @ d @ si_x) for d in derivatives]
    adjustment = np.zeros_like(phi)
    for i in range(r):
        for j in range(r):
            adjustment += W[i, j] * (si_x.T @ derivatives[i] @ si @ derivatives[j] @ si_x - p[i] @ phi @ p[j])
    phi_a = phi + 2 * phi @ adjustment @ phi

    L = np.asarray(L, dtype=float).reshape(X.shape[1], -1)
    n_tests = L.shape[1]
    theta = L @ linalg.inv(L.T @ phi @ L) @ L.T
    m = [theta @ phi @ p_i @ phi for p_i in p]
    a1 = sum(W[i, j] * np.trace(m[i]) * np.trace(m[j]) for i in range(r) for j in range(r))
    a2 = sum(W[i, j] * np.trace(m[i] @ m[j]) for i in range(r) for j in range(r))
    if a2 <= 0:  # the contrast does not depend on the covariance parameters: exact, no adjustment
        return KenwardRoger(phi_a, 1.0, float("inf"))
    b = (a1 + 6 * a2) / (2 * n_tests)
    g = ((n_tests + 1) * a1 - (n_tests + 4) * a2) / ((n_tests + 2) * a2)
    denominator = 3 * n_tests + 2 * (1 - g)
    c1, c2, c3 = g / denominator, (n_tests - g) / denominator, (n_tests + 2 - g) / denominator
    expectation = 1 / (1 - a2 / n_tests)
    variance = (2 / n_tests) * (1 + c1 * b) / ((1 - c2 * b) ** 2 * (1 - c3 * b))
    rho = variance / (2 * expectation**2)
    df = 4 + (n_tests + 2) / (n_tests * rho - 1)
    return KenwardRoger(phi_a, float(df / (expectation * (df - 2))), float(df))
