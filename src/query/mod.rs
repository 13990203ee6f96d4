//! Reads: CarbonLink and HTTP find/render, answering from whisper files and the writer's cache.

pub mod pickle_out;
