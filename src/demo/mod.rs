//! The browser demo's training runs as plain Rust, compiled on every target: `src/web` binds
//! them for the page, `examples/web_parity.rs` runs them natively, and `scripts/web-test.sh`
//! checks that both give the same losses.

pub mod gpt;
pub mod image;
pub mod race;
