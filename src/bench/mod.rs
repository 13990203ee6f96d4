//! Load tools: the synthetic load and its publisher (`warren publish`), the broker ceiling, and the end-to-end
//! benchmark harness (`warren bench`) that runs warren as a subprocess and verifies every point on disk.
//!
//! Owns: its own broker objects, child processes and temporary directories. Never touches: warren's internals —
//! it drives warren from the outside, as an operator would, and reads whisper files back independently.

pub mod broker;
pub mod load;
pub mod peer;
pub mod procstat;
pub mod publish;
pub mod run;
pub mod scenario;
pub mod verify;
