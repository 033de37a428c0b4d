"""Linear regression whose errors are an AR(1) process plus white noise, fitted by restricted maximum
likelihood (REML).

    y = X b + e,   Var(e) = sigma^2 V,   V = w R(rho) + (1 - w) I,   R(rho)_ij = rho^|i - j|

An indicator's series is a true rate that wanders (the AR(1) part) observed with sampling noise (the white
part), so its autocorrelation is rho w at lag 1 and decays as rho^k after that: an ARMA(1,1) shape. A pure
AR(1) model under-states the correlation at longer lags, and Newey-West errors with 20-30 points under-state
it further (Turner et al., BMC Med Res Methodol 2021), which makes intervals for a level change too narrow.

REML (Harville, JASA 1977) maximises the likelihood of the error contrasts K'y (K spanning the space
orthogonal to X), which removes the downward bias of maximum likelihood in short series. With (w, rho)
fixed, sigma^2 and b are those of generalised least squares; the two correlation parameters are found
numerically, starting from the best point of a small grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from gpcluster.stats import kenward_roger

RHO_BOUND = 0.95
_EDGE = 1e-4  # a correlation parameter this close to the edge of its range counts as on it
_GRID = [(w, r) for w in (0.2, 0.5, 0.8) for r in (0.2, 0.5, 0.8)]


def correlation(n: int, weight: float, rho: float) -> np.ndarray:
    """V = w R(rho) + (1 - w) I for n equally spaced points."""
    i = np.arange(n)
    return weight * rho ** np.abs(i[:, None] - i[None, :]) + (1 - weight) * np.eye(n)


@dataclass(frozen=True)
class RemlFit:
    params: np.ndarray
    cov: np.ndarray  # covariance of params: sigma^2 (X' V^-1 X)^-1
    sigma2: float
    weight: float  # share of the error variance in the AR(1) part
    rho: float  # AR(1) coefficient of that part
    whitened_resid: np.ndarray  # L^-1 (y - X b), white noise if the model holds
    df_resid: int  # n - k - 2 (the two correlation parameters spent as well)
    design: np.ndarray  # X

    @property
    def lag1_autocorrelation(self) -> float:
        return self.weight * self.rho

    def kenward_roger(self, L) -> kenward_roger.KenwardRoger:
        """Small-sample inference for L' b allowing for the uncertainty in the estimated error model.

        The covariance parameters are the variances of the two error parts and the AR(1) coefficient,
        Sigma = s_ar R(rho) + s_white I. A parameter estimated on the edge of its range (no AR part, no
        white part, rho at its bound) is held fixed, as pbkrtest does with a variance estimated as zero."""
        n = len(self.whitened_resid)
        lag = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
        ar_part = self.rho**lag
        s_ar, s_white = self.sigma2 * self.weight, self.sigma2 * (1 - self.weight)
        has_ar, has_white = self.weight > _EDGE, self.weight < 1 - _EDGE
        free_rho = has_ar and abs(self.rho) < RHO_BOUND - _EDGE
        first = []
        if has_ar:
            first.append(ar_part)
        if has_white:
            first.append(np.eye(n))
        if free_rho:
            first.append(s_ar * np.where(lag > 0, lag * self.rho ** np.maximum(lag - 1, 0), 0.0))
        sigma = s_ar * ar_part + s_white * np.eye(n)
        W = np.linalg.pinv(kenward_roger.reml_information(self.design, sigma, first))
        return kenward_roger.adjust(self.design, sigma, first, W, L)


def _gls(y: np.ndarray, X: np.ndarray, V: np.ndarray):
    L = np.linalg.cholesky(V)
    Xs = linalg.solve_triangular(L, X, lower=True)
    ys = linalg.solve_triangular(L, y, lower=True)
    b, *_ = np.linalg.lstsq(Xs, ys, rcond=None)
    return L, Xs, b, ys - Xs @ b


def restricted_loglik(y: np.ndarray, X: np.ndarray, weight: float, rho: float) -> float:
    """REML log-likelihood with sigma^2 profiled out, up to a constant that does not depend on (w, rho)."""
    n, k = X.shape
    L, Xs, _, r = _gls(y, X, correlation(n, weight, rho))
    s2 = float(r @ r) / (n - k)
    log_det_v = 2.0 * float(np.log(np.diag(L)).sum())
    log_det_xvx = float(np.linalg.slogdet(Xs.T @ Xs)[1])
    return -0.5 * ((n - k) * np.log(s2) + log_det_v + log_det_xvx)


def fit(y, X) -> RemlFit:
    """Fit the regression of y on X (full column rank, more rows than columns + 2)."""
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    n, k = X.shape
    if n - k - 2 < 1:
        raise ValueError(f"{n} points are too few for {k} coefficients and an autocorrelated error")

    def objective(p) -> float:
        return -restricted_loglik(y, X, float(p[0]), float(p[1]))

    start = min(_GRID, key=objective)
    best = optimize.minimize(objective, start, bounds=[(0.0, 1.0), (-RHO_BOUND, RHO_BOUND)], method="L-BFGS-B")
    weight, rho = (float(v) for v in (best.x if best.fun <= objective(start) else start))
    _, Xs, b, r = _gls(y, X, correlation(n, weight, rho))
    s2 = float(r @ r) / (n - k)
    return RemlFit(params=b, cov=s2 * np.linalg.inv(Xs.T @ Xs), sigma2=s2, weight=weight, rho=rho,
                   whitened_resid=r, df_resid=n - k - 2, design=X)
