//! neon provider (being written).
