//! Load tools: the synthetic load and its publisher (`warren publish`), the broker ceiling, and the end-to-end
//! benchmark harness (`warren bench`) that runs warren as a subprocess and verifies every point on disk.
//!
//! Owns: its own broker objects, child processes and temporary directories. Never touches: warren's internals —
//! it drives warren from the outside, as an operator would, and reads whisper files back independently.
//!
//! The socket scenarios (`warren bench plaintext|pickle [--peer go-carbon]`) are a second harness beside it:
//! [`tcp`] (the order of the steps) → [`tcp_systems`] (warren and go-carbon as children) → [`gocarbon`] (its
//! recipe and self-metrics), [`tcp_report`], [`lastwrite`] (when a system wrote its last point), [`wire`] (the load
//! as plaintext or pickle bytes).
//!
//! Dependencies run one way: [`run`] (the order of the steps) → [`warren`] and [`peer`] (one system's rows each)
//! → [`report`], [`child`] (the one subprocess type, stopped on drop), [`harness`] (configuration, observer,
//! shared steps) → [`error`] (the one error type) → the load tools ([`probe`], [`load`], [`publish`],
//! [`broker`], [`verify`], [`procstat`], [`scenario`]). `.ci/layering` fails on a cycle between them.

pub mod broker;
pub mod child;
pub mod error;
pub mod gocarbon;
pub mod harness;
pub mod lastwrite;
pub mod load;
pub mod peer;
pub mod probe;
pub mod procstat;
pub mod publish;
pub mod report;
pub mod run;
pub mod scenario;
pub mod tcp;
pub mod tcp_report;
pub mod tcp_systems;
pub mod verify;
pub mod warren;
pub mod wire;
