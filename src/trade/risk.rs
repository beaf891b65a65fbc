//! Risk limits between the gate's signal and the broker: a position cap, a max-loss stop, and a
//! historical-simulation VaR limit.
//!
//! - position: |target| ≤ `max_position` units.
//! - max loss: once equity has fallen `max_loss` below the starting equity, trading halts for good (targets 0).
//! - VaR: the one-bar loss of holding `target` at price p, simulated over the last `var_window` one-bar returns
//!   r_i: loss_i = −target·p·r_i. VaR at `var_level` is the `var_level` quantile of those losses (linear
//!   interpolation). If it exceeds `var_limit`, the target is scaled down to meet it exactly (VaR is linear in
//!   |target|). Until `var_window` returns are known, the limit is not applied.

use crate::data::incremental::window::Ring;

#[derive(Debug, Clone, PartialEq)]
pub struct RiskConfig {
    pub max_position: f64,
    pub max_loss: f64,
    pub var_limit: f64,
    pub var_level: f64,
    pub var_window: usize,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            max_position: 1.0,
            max_loss: f64::INFINITY,
            var_limit: f64::INFINITY,
            var_level: 0.99,
            var_window: 250,
        }
    }
}

/// What the limits did to one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub target: f64,
    /// `position`, `var` or `max_loss` when a limit changed the target.
    pub limit: Option<String>,
    /// Set on the bar the max-loss stop fires.
    pub halted_now: bool,
}

#[derive(Debug, Clone)]
pub struct Risk {
    cfg: RiskConfig,
    returns: Ring,
    prev_close: Option<f64>,
    start_equity: f64,
    halted: bool,
    scratch: Vec<f64>,
}

impl Risk {
    /// Limits for an account that started with `start_equity`.
    pub fn new(cfg: RiskConfig, start_equity: f64) -> Risk {
        Risk {
            returns: Ring::new(cfg.var_window.max(1)),
            scratch: Vec::with_capacity(cfg.var_window.max(1)),
            cfg,
            prev_close: None,
            start_equity,
            halted: false,
        }
    }

    pub fn halted(&self) -> bool {
        self.halted
    }

    /// Mark halted (replaying a journal's halt record).
    pub fn halt(&mut self) {
        self.halted = true;
    }

    /// Record bar close `close` (for the VaR returns).
    pub fn on_close(&mut self, close: f64) {
        if let Some(p) = self.prev_close.replace(close) {
            self.returns.push(close / p - 1.0);
        }
    }

    /// One-bar VaR of holding `target` units at `price` (NaN until the window is full).
    pub fn var(&mut self, target: f64, price: f64) -> f64 {
        if !self.returns.is_full() {
            return f64::NAN;
        }
        self.scratch.clear();
        self.scratch.extend(self.returns.iter().map(|r| -target * price * r));
        self.scratch.sort_by(f64::total_cmp);
        crate::data::regime::quantile_sorted(&self.scratch, self.cfg.var_level)
    }

    /// Apply the limits to `signal` given the current equity.
    pub fn check(&mut self, signal: f64, price: f64, equity: f64) -> Checked {
        let start = self.start_equity;
        if self.halted {
            return Checked { target: 0.0, limit: Some("max_loss".into()), halted_now: false };
        }
        if start - equity >= self.cfg.max_loss {
            self.halted = true;
            return Checked { target: 0.0, limit: Some("max_loss".into()), halted_now: true };
        }
        let mut target = signal.clamp(-self.cfg.max_position, self.cfg.max_position);
        let mut limit = (target != signal).then(|| "position".to_string());
        let var = self.var(target, price);
        if var > self.cfg.var_limit && var > 0.0 {
            target *= self.cfg.var_limit / var;
            limit = Some("var".into());
        }
        Checked { target, limit, halted_now: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_cap_var_scaling_and_stop() {
        let cfg = RiskConfig { max_position: 2.0, max_loss: 50.0, var_limit: 3.0, var_level: 0.9, var_window: 10 };
        let mut r = Risk::new(cfg, 1000.0);
        let c = r.check(5.0, 100.0, 1000.0);
        assert_eq!((c.target, c.limit.as_deref()), (2.0, Some("position")), "capped; VaR not yet known");
        let mut p = 100.0;
        for i in 0..11 {
            p *= if i % 2 == 0 { 1.02 } else { 0.99 };
            r.on_close(p);
        }
        // returns alternate +2% / −1%: a long's 90% loss quantile is about 1% of the notional
        let var = r.var(2.0, p);
        assert!(var > 1.5 && var < 2.5, "{var}");
        let c = r.check(2.0, p, 1000.0);
        assert_eq!(c.limit, None);
        // a short loses on the +2% bars: VaR ≈ 4 > 3, scaled to exactly the limit
        let c = r.check(-2.0, p, 1000.0);
        assert_eq!(c.limit.as_deref(), Some("var"));
        assert!((r.var(c.target, p) - 3.0).abs() < 1e-9);
        let c = r.check(1.0, p, 949.0);
        assert!(c.halted_now && c.target == 0.0);
        assert_eq!(r.check(1.0, p, 2000.0).target, 0.0, "a stop is for good");
    }
}
