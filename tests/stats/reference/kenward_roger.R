# Reference values for tests/stats/test_kenward_roger.py, made with R 4.2.2, lme4 1.1-31 and pbkrtest 0.5.2
# (Debian bookworm packages r-cran-lme4, r-cran-pbkrtest, r-cran-nlme):  Rscript kenward_roger.R
# 1. An unbalanced random-intercept model: pbkrtest's Kenward-Roger adjusted covariance and denominator
#    degrees of freedom for one contrast, with the REML variance components they are evaluated at.
# 2. A regression with AR(1)-plus-white-noise errors fitted by REML in nlme::gls (corExp with a nugget on
#    equally spaced times: correlation (1 - nugget) * exp(-d / range) at lag d > 0).
library(lme4)
library(pbkrtest)
library(nlme)

set.seed(20261129)
sizes <- c(3, 5, 4, 7, 2, 6, 5, 3, 4, 6)
group <- rep(seq_along(sizes), sizes)
n <- length(group)
x_between <- rnorm(length(sizes))[group]
x_within <- rnorm(n)
y <- 1 + 0.5 * x_between + 0.3 * x_within + rnorm(length(sizes), 0, 0.8)[group] + rnorm(n, 0, 0.6)
d <- data.frame(y, group = factor(group), x_between, x_within)
write.csv(d, "random_intercept_data.csv", row.names = FALSE)

m <- lmer(y ~ x_between + x_within + (1 | group), data = d, REML = TRUE)
vc <- as.data.frame(VarCorr(m))
adjusted <- as.matrix(vcovAdj(m))
rows <- list()
for (name in c("x_between", "x_within")) {
  L <- matrix(as.numeric(names(fixef(m)) == name), nrow = 1)
  rows[[name]] <- data.frame(contrast = name, ddf = get_Lb_ddf(m, L),
                             adjusted_variance = as.numeric(L %*% adjusted %*% t(L)),
                             unadjusted_variance = as.numeric(L %*% as.matrix(vcov(m)) %*% t(L)))
}
out <- do.call(rbind, rows)
out$group_variance <- vc$vcov[vc$grp == "group"]
out$residual_variance <- vc$vcov[vc$grp == "Residual"]
write.csv(out, "random_intercept_pbkrtest.csv", row.names = FALSE)

set.seed(7)
n <- 60
t <- 0:(n - 1)
post <- as.numeric(t >= 40)
ar <- as.numeric(arima.sim(list(ar = 0.6), n))
y <- 2 + 0.01 * t - 0.2 * post + 0.15 * ar + rnorm(n, 0, 0.1)
d <- data.frame(y, t, post)
write.csv(d, "ar1_noise_data.csv", row.names = FALSE)
g <- gls(y ~ t + post, data = d, correlation = corExp(form = ~ t, nugget = TRUE), method = "REML")
cs <- coef(g$modelStruct$corStruct, unconstrained = FALSE)
out <- data.frame(term = names(coef(g)), estimate = coef(g), std_error = sqrt(diag(vcov(g))),
                  weight = 1 - cs[["nugget"]], rho = exp(-1 / cs[["range"]]), sigma = g$sigma,
                  loglik = as.numeric(logLik(g)))
write.csv(out, "ar1_noise_nlme.csv", row.names = FALSE)
