//! Placeholder: the kvraft helper replaces this file.
