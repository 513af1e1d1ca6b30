//! azure provider (being written).
