//! The trader's ledger in the market store (`tickgrad stream --db`): a bar's records (the fill at its open, a
//! halt, the decision at its close) are buffered and committed in one transaction when the bar ends, so the store
//! never holds half a bar, and a bar the trader acknowledged is durable.

use super::{MarketStore, SeriesKey, TimeRange};
use crate::trade::journal::Record;
use crate::trade::ledger::Ledger;
use crate::Result;

pub struct StoreLedger {
    store: Box<dyn MarketStore>,
    key: SeriesKey,
    pending: Vec<Record>,
    failed: Option<String>,
}

impl StoreLedger {
    /// The ledger of series `key` in `store`, with every record it already holds (for the trader to replay).
    pub fn open(mut store: Box<dyn MarketStore>, key: SeriesKey) -> Result<(StoreLedger, Vec<Record>)> {
        let records = store.records(&key, TimeRange::ALL)?;
        Ok((StoreLedger { store, key, pending: Vec::new(), failed: None }, records))
    }
}

impl Ledger for StoreLedger {
    fn append(&mut self, r: &Record) -> Result<()> {
        self.pending.push(r.clone());
        Ok(())
    }

    fn end_bar(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(&mut self.pending);
        self.store.append_records(&self.key, &records).inspect_err(|e| self.failed = Some(e.to_string()))
    }

    fn abort_bar(&mut self) {
        self.pending.clear();
    }

    fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.store.describe(), self.key)
    }
}
