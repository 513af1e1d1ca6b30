//! gcp provider (being written).
