//! What an open file reads from: verified data through a Drive handle, or JSON made when it
//! was opened (so one open reads one version, whatever the memos drop meanwhile).

use std::sync::Arc;

use bytes::Bytes;
use weavedrive_cache::FileHandle;

use crate::error::NsResult;

#[derive(Clone)]
pub enum File {
    Data(Arc<FileHandle>),
    Json(Bytes),
}

impl File {
    pub fn size(&self) -> u64 {
        match self {
            File::Data(handle) => handle.size(),
            File::Json(json) => json.len() as u64,
        }
    }

    /// Fills `out[..n]` from `offset`; `n` is short only at the end of the file. Never
    /// returns bytes that failed verification (`Unavailable`).
    pub fn read_into(&self, offset: u64, out: &mut [u8]) -> NsResult<usize> {
        match self {
            File::Data(handle) => Ok(handle.read_into_blocking(offset, out)?),
            File::Json(json) => {
                let json = slice(json, offset, out.len());
                out[..json.len()].copy_from_slice(&json);
                Ok(json.len())
            }
        }
    }

    /// The data handle, for frontends that read through it their own way.
    pub fn handle(&self) -> Option<&Arc<FileHandle>> {
        match self {
            File::Data(handle) => Some(handle),
            File::Json(_) => None,
        }
    }
}

/// The part of an in-memory file a read asks for.
pub fn slice(file: &Bytes, offset: u64, len: usize) -> Bytes {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(file.len());
    let end = start.saturating_add(len).min(file.len());
    file.slice(start..end)
}
