//! Placeholder for part 2D.
