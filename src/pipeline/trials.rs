//! How many configurations stand behind a reported backtest, for the deflated Sharpe ratio
//! (`eval::trading::deflated_sharpe`). Its N must count every candidate whose performance was looked at before the
//! reported one was kept; a count of 1 after trying several turns selection luck into apparent skill.
//!
//! What a predictor counts by itself:
//! - a single network: 1;
//! - an ensemble: each member (every network and the boosted trees: the combiner's rolling weights pick among
//!   them by their recent hits, so each is a candidate) plus each confidence threshold tried on validation (the
//!   quantile rule of `pipeline::ensemble` tries one).
//!
//! Walk-forward refits are not counted: they retrain the same configurations on more data, and their results are
//! never compared to choose one. What a person tried outside the run (other seeds, flags, techniques, windows)
//! only they know; `--trials N` adds it.

use super::bundle::BacktestPredictor;
use serde::{Deserialize, Serialize};

/// The trial count behind one backtest, by source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialCount {
    /// Models whose calls the predictor weighed (1 for a single network).
    pub members: usize,
    /// Confidence thresholds tried on validation (0 for a single network, which has none).
    pub thresholds: usize,
    /// Configurations tried outside this run (`--trials`).
    pub outside: usize,
}

impl TrialCount {
    pub fn of(pred: &BacktestPredictor, outside: usize) -> TrialCount {
        match pred {
            BacktestPredictor::Single(_) => TrialCount { members: 1, thresholds: 0, outside },
            BacktestPredictor::Ensemble(e) => TrialCount { members: e.members.len() + 1, thresholds: 1, outside },
            // The networks are routed to, not chosen among; each was still fitted and looked at.
            BacktestPredictor::Regimes(r) => TrialCount { members: r.models.len(), thresholds: 0, outside },
        }
    }

    /// N of the deflated Sharpe ratio: every candidate, at least 1.
    pub fn total(&self) -> usize {
        (self.members + self.thresholds + self.outside).max(1)
    }

    /// `6 trials (5 members + 1 confidence threshold + 0 from --trials)`, for the report's header.
    pub fn describe(&self) -> String {
        let member_word = if self.members == 1 { "model" } else { "members" };
        let mut parts = vec![format!("{} {member_word}", self.members)];
        if self.thresholds > 0 {
            parts.push(format!("{} confidence threshold", self.thresholds));
        }
        parts.push(format!("{} from --trials", self.outside));
        let n = self.total();
        format!("{n} {} ({})", if n == 1 { "trial" } else { "trials" }, parts.join(" + "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trial_count_adds_every_source() {
        let t = TrialCount { members: 5, thresholds: 1, outside: 2 };
        assert_eq!(t.total(), 8);
        assert_eq!(t.describe(), "8 trials (5 members + 1 confidence threshold + 2 from --trials)");
        let single = TrialCount { members: 1, thresholds: 0, outside: 0 };
        assert_eq!(single.total(), 1);
        assert_eq!(single.describe(), "1 trial (1 model + 0 from --trials)");
    }
}
