//! diagnose (being written).
