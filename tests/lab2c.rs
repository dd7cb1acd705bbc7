//! Placeholder for part 2C.
