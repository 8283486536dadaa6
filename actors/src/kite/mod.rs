//! Kite Connect client (being written).
