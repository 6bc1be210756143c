//! Files: the optimizer's state, replay cases, safetensors reading and writing, atomic writes.

#[cfg(not(target_arch = "wasm32"))]
pub mod atomic_file;
pub mod replay;
pub mod state;
pub mod tensors;
