//! The `tus` command (work in progress).
fn main() {}
