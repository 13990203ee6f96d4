//! The `[whisper]` section: how files are created, synced, locked, and by how many creator threads.
//!
//! Owns: these settings' types and defaults. Never touches: files.

use serde::Deserialize;

/// How new whisper files are laid down.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CreateModeSetting {
    /// Space reserved with fallocate, no zeros written.
    #[default]
    Fallocate,
    /// A file with holes.
    Sparse,
    /// Zeros written (the reference's default).
    Zero,
}

/// When written whisper data reaches stable storage relative to acks (`[whisper] sync`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// No syncs: an ack means the data is in the kernel's page cache (survives a crash of warren, not of the
    /// machine). carbon's default (WHISPER_AUTOFLUSH = False).
    #[default]
    None,
    /// Each writer loop turn, before it completes any delivery, every file written since its last sync is
    /// `fdatasync`ed: an ack means the data is on stable storage (survives a power loss).
    Batch,
    /// As `Batch`, with one `syncfs(2)` of the data dir's filesystem per turn instead of one `fdatasync` per file
    /// (flushes everything dirty on that filesystem, other programs' data included).
    Syncfs,
}

/// Whisper file options.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WhisperSettings {
    pub create_mode: CreateModeSetting,
    /// Sync written files before acking their deliveries (`"batch"`) or not (`"none"`, the default).
    /// carbon's WHISPER_AUTOFLUSH = True maps to `"batch"`.
    pub sync: SyncMode,
    /// `true` is the same as `sync = "batch"` (the key of configurations written before `sync` existed).
    pub autoflush: bool,
    /// flock each file while updating it (carbon's WHISPER_LOCK_WRITES).
    pub lock_writes: bool,
    /// Threads creating new files beside the writer; 0 creates on the writer thread. Default: one per core, at
    /// most 4.
    pub creators: Option<usize>,
    /// Map the files the writer keeps open and update them through the mapping instead of a `pwrite` each (only
    /// files with no holes: see `docs/ARCHITECTURE.md`). Default: on (tuning/README.md, "Updates through
    /// mappings": less CPU per point, and shorter stalls at the same load).
    pub mmap: bool,
}

impl Default for WhisperSettings {
    fn default() -> Self {
        WhisperSettings {
            create_mode: CreateModeSetting::Fallocate,
            sync: SyncMode::None,
            autoflush: false,
            lock_writes: false,
            creators: None,
            mmap: true,
        }
    }
}
