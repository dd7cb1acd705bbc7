//! Placeholder for part 2B.
