//! Placeholder for part 3A.
