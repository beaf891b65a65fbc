//! Curriculum learning by market calm (`--curriculum volatility[:STAGES]`): easy windows first, then harder.
//!
//! Difficulty is the realised volatility of a window's own input bars (the caller computes it from the raw
//! closes, `pipeline::curriculum`, and hands it in as `Examples::difficulty`). The training windows are ranked
//! calmest first (ties by position, so the ranking is deterministic), and with `S` stages:
//!
//! - epoch `e ≤ S` trains on the calmest `⌈n·e/S⌉` of the `n` windows: `1/S` of them in the first epoch, growing
//!   linearly by `n/S` per epoch, every window from epoch `S` on (one stage per epoch, so a short run still
//!   reaches the full set early: with the default 3 stages, epochs 1, 2 and 3+ see a third, two thirds and all);
//! - each epoch's windows are taken in the order of the run's usual shuffle (the full permutation is shuffled
//!   every epoch as without a curriculum and filtered to the stage), so the shuffling generator and the resume
//!   state are the same as for a plain run;
//! - early stopping waits for the last stage: a validation loss that stalls while the model has seen only calm
//!   windows does not end the run (the best weights are still tracked from epoch 1).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

pub const DEFAULT_STAGES: usize = 3;

/// What ranks the windows; the realised volatility of the input window is the one measure so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurriculumBy {
    Volatility,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Curriculum {
    pub by: CurriculumBy,
    pub stages: usize,
}

impl Curriculum {
    /// `volatility` or `volatility:STAGES`.
    pub fn parse(s: &str) -> Result<Curriculum> {
        let (name, stages) = match s.split_once(':') {
            Some((n, k)) => {
                let k = k
                    .parse::<usize>()
                    .map_err(|_| Error::config("curriculum", format!("stages {k:?} in {s:?} is not a whole number")))?;
                (n, k)
            }
            None => (s, DEFAULT_STAGES),
        };
        if name != "volatility" {
            return Err(Error::config(
                "curriculum",
                format!("unknown curriculum {name:?}, expected volatility or volatility:STAGES"),
            ));
        }
        let c = Curriculum { by: CurriculumBy::Volatility, stages };
        if stages == 0 {
            return Err(Error::config("curriculum", "expected at least 1 stage, found 0"));
        }
        Ok(c)
    }

    /// The last stage must be reached within the run's epochs.
    pub fn validate(&self, epochs: usize) -> Result<()> {
        if self.stages == 0 || self.stages > epochs {
            return Err(Error::config(
                "curriculum",
                format!("{} stages need 1..={epochs} (one epoch per stage, within --epochs {epochs})", self.stages),
            ));
        }
        Ok(())
    }

    /// Windows in epoch `epoch`'s stage (1-based epochs), out of `n`.
    pub fn stage_len(&self, n: usize, epoch: usize) -> usize {
        let s = epoch.clamp(1, self.stages);
        (n * s).div_ceil(self.stages)
    }

    /// Whether `epoch` trains on every window (early stopping may end the run from here on).
    pub fn is_final_stage(&self, epoch: usize) -> bool {
        epoch >= self.stages
    }

    /// rank[i] = position of window `i` when sorted calmest first (ties by index).
    pub fn ranks(difficulty: &[f64]) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..difficulty.len()).collect();
        idx.sort_by(|&a, &b| difficulty[a].total_cmp(&difficulty[b]).then(a.cmp(&b)));
        let mut rank = vec![0; idx.len()];
        for (r, i) in idx.into_iter().enumerate() {
            rank[i] = r;
        }
        rank
    }

    /// The windows (indices into the examples) of `epoch`'s stage, in index order.
    pub fn stage_windows(&self, difficulty: &[f64], epoch: usize) -> Vec<usize> {
        let k = self.stage_len(difficulty.len(), epoch);
        let rank = Curriculum::ranks(difficulty);
        (0..difficulty.len()).filter(|&i| rank[i] < k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        assert_eq!(Curriculum::parse("volatility").unwrap().stages, DEFAULT_STAGES);
        assert_eq!(Curriculum::parse("volatility:5").unwrap().stages, 5);
        for bad in ["volume", "volatility:", "volatility:x", "volatility:0", "volatility:-1"] {
            let e = Curriculum::parse(bad).unwrap_err().to_string();
            assert!(e.contains("curriculum"), "{bad}: {e}");
        }
        let c = Curriculum::parse("volatility:4").unwrap();
        assert!(c.validate(4).is_ok());
        assert!(c.validate(3).unwrap_err().to_string().contains("4 stages"));
    }

    /// Pacing: ⌈n·e/S⌉ windows, growing by n/S per epoch, everything from epoch S on.
    #[test]
    fn stages_grow_linearly_to_everything() {
        let c = Curriculum { by: CurriculumBy::Volatility, stages: 4 };
        let lens: Vec<usize> = (1..=6).map(|e| c.stage_len(10, e)).collect();
        assert_eq!(lens, [3, 5, 8, 10, 10, 10]);
        assert!(!c.is_final_stage(3) && c.is_final_stage(4) && c.is_final_stage(9));
    }

    /// Ties are broken by position, and the stage sets are nested.
    #[test]
    fn ranks_break_ties_by_index() {
        let d = [0.3, 0.1, 0.3, 0.2, 0.1];
        assert_eq!(Curriculum::ranks(&d), [3, 0, 4, 2, 1]);
        let c = Curriculum { by: CurriculumBy::Volatility, stages: 2 };
        assert_eq!(c.stage_windows(&d, 1), [1, 3, 4]);
        assert_eq!(c.stage_windows(&d, 2), [0, 1, 2, 3, 4]);
    }
}
