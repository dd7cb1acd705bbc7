//! Placeholder for part 2A.
