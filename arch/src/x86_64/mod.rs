//! The x86_64 guest platform.
