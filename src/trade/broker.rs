//! Paper execution: a target position decided after bar t's close fills at bar t+1's open, paying a fee of
//! `fee_bps` on the traded notional. Positions are in units of the asset; cash and equity in the quote currency.

use super::journal::Record;

#[derive(Debug, Clone, PartialEq)]
pub struct PaperBroker {
    fee_rate: f64,
    pub position: f64,
    pub cash: f64,
    /// The target waiting for the next open.
    pub pending: Option<f64>,
}

impl PaperBroker {
    pub fn new(cash: f64, fee_bps: f64) -> PaperBroker {
        PaperBroker { fee_rate: fee_bps / 1e4, position: 0.0, cash, pending: None }
    }

    /// Queue `target` for the next open (replacing any unfilled one).
    pub fn submit(&mut self, target: f64) {
        self.pending = Some(target);
    }

    /// Fill the pending order at `open`; the fill record, or `None` when nothing was pending or nothing trades.
    pub fn on_open(&mut self, timestamp: i64, open: f64) -> Option<Record> {
        let target = self.pending.take()?;
        let qty = target - self.position;
        if qty == 0.0 {
            return None;
        }
        let fee = qty.abs() * open * self.fee_rate;
        self.cash -= qty * open + fee;
        self.position = target;
        Some(Record::Fill { timestamp, price: open, qty, fee, position: self.position, cash: self.cash })
    }

    /// Cash plus the position marked at `price`.
    pub fn equity(&self, price: f64) -> f64 {
        self.cash + self.position * price
    }

    /// Re-apply a journal record (restart): fills set position and cash, decisions set the pending target.
    pub fn replay(&mut self, r: &Record) {
        match r {
            Record::Fill { position, cash, .. } => {
                self.position = *position;
                self.cash = *cash;
                self.pending = None;
            }
            Record::Decision { target, .. } => self.pending = Some(*target),
            Record::Halt { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_at_the_next_open_with_fees() {
        let mut b = PaperBroker::new(1000.0, 10.0);
        assert!(b.on_open(1, 100.0).is_none(), "nothing pending");
        b.submit(2.0);
        let Some(Record::Fill { qty, fee, cash, .. }) = b.on_open(2, 100.0) else { panic!() };
        assert_eq!((qty, b.position), (2.0, 2.0));
        assert!((fee - 0.2).abs() < 1e-12 && (cash - 799.8).abs() < 1e-9);
        assert!((b.equity(110.0) - 1019.8).abs() < 1e-9);
        b.submit(-1.0);
        let Some(Record::Fill { qty, .. }) = b.on_open(3, 110.0) else { panic!() };
        assert_eq!(qty, -3.0);
        assert!((b.cash - (799.8 + 330.0 - 0.33)).abs() < 1e-9);
        b.submit(-1.0);
        assert!(b.on_open(4, 120.0).is_none(), "already at target");
        let mut again = PaperBroker::new(1000.0, 10.0);
        again.replay(&Record::Fill { timestamp: 3, price: 110.0, qty: -3.0, fee: 0.33, position: -1.0, cash: b.cash });
        assert_eq!(again, b);
    }
}
