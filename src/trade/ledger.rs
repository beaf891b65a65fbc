//! Where the trader's decisions, fills and halts go: the JSONL [`Journal`] (`--journal`) or the market store
//! (`--db`, [`crate::store::ledger::StoreLedger`]). Both are opened with the records they already hold, which the
//! trader replays to resume.

use super::journal::{Journal, Record};
use crate::Result;

pub trait Ledger: Send {
    /// Record `r`. The journal makes it durable before returning; a store keeps it until [`Ledger::end_bar`].
    fn append(&mut self, r: &Record) -> Result<()>;

    /// The bar is done: everything appended since the last call becomes durable together (one transaction), so a
    /// crash keeps a bar's fill and decision both or neither.
    fn end_bar(&mut self) -> Result<()> {
        Ok(())
    }

    /// The bar failed: drop what was appended since the last [`Ledger::end_bar`] and not yet durable.
    fn abort_bar(&mut self) {}

    /// Why an earlier write failed, once one has: the ledger takes no more records and the trader stops.
    fn failure(&self) -> Option<&str>;

    /// The file or store, for messages.
    fn describe(&self) -> String;
}

impl Ledger for Journal {
    fn append(&mut self, r: &Record) -> Result<()> {
        Journal::append(self, r)
    }

    fn failure(&self) -> Option<&str> {
        Journal::failure(self)
    }

    fn describe(&self) -> String {
        self.path().display().to_string()
    }
}
