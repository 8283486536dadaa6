//! Black-Scholes (placeholder: being written).
