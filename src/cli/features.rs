//! `tickgrad features` (being written).
