//! The `nas` command line: parses flags and calls the libraries.
fn main() {}
