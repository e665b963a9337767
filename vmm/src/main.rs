//! The `ovmm` command.
fn main() {}
