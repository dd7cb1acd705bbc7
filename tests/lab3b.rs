//! Placeholder for part 3B.
