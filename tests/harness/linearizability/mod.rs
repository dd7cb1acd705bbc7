//! Placeholder: the checker helper replaces this file.
