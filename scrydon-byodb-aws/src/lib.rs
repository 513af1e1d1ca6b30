//! aws provider (being written).
