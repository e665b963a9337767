//! The ovmm VMM library.
