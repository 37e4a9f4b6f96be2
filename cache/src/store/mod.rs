//! Persisted state: everything the cache directory holds, and the memory tier beside it.
//! Blocks are keyed by the sha256 of their bytes (the Merkle leaf's data_hash) and verified
//! before they are stored, so a block never needs re-hashing on read.
//!
//! # The cache directory
//!
//! ```text
//! <cache>/
//!   blocks/<2 hex>/<64 hex>  one verified chunk per file, named by its sha256: a 64-byte
//!                            header, a checksum per 4 KiB page, the data (block_file.rs).
//!                            Kept within the disk budget, least recently used (mtime) out
//!                            first, pinned never (disk.rs, with its in-memory index.rs)
//!   tx/<id>/header.json      a transaction's header as gateways serve it, its signature
//!                            checked again on every load (txmap.rs)
//!   tx/<id>/map.bin          where its data sits in the weave, then one 48-byte record per
//!                            chunk: the proven data_hash and a checksum (a sparse file)
//!   items/<id>               where a resolved data item sits, as JSON: root, offset, and
//!                            whether its signature was checked (items.rs)
//!   extents/<id>             the whole data of a transaction or item, read-only, and
//!   extents/<id>.pieces      what it is made of; see "Extent files" below (extents.rs)
//!   pins/<id>                empty: transaction <id> is pinned (pins.rs)
//!   modules/<sha>-<engine>.cwasm
//!                            `weavedrive run`'s compiled modules (modules.rs): trusted
//!                            native code this user's runs wrote, outside the disk budget
//!   tmp/                     files being written, each named `<pid>-...`: blocks
//!                            (`<pid>-<seq>-<random>`), extents (`<pid>-extent-...`),
//!                            headers and maps (`<pid>-map-...`),
//!                            item records (`<pid>-item-...`), modules (`<pid>-module-...`)
//! ```
//!
//! The records (`tx/`, `items/`) take at most a share of the disk budget, least recently used
//! (mtime) dropped first (records.rs keeps that account; it writes nothing of its own). The
//! memory tier (memory.rs) holds verified blocks and writes nothing. Several processes may
//! share one directory without a lock (see disk.rs): every file is either immutable once in
//! place or updated by fixed-size checksummed records.
//!
//! Reads check what they read (a block's page checksums; a whole block also against its
//! SHA-256). The scrub (`weavedrive cache verify`, `Drive::verify_cache` in `drive/scrub.rs`)
//! checks everything at once: every block file whole against its name, every record by
//! loading it; what fails is removed and, with `--repair`, fetched again and proven.
//!
//! # Crash rules
//!
//! Nothing is fsynced: whatever a crash or power loss leaves is checked on read, and what
//! fails is a miss, fetched and verified again (the network still has it). No crash can make
//! the cache serve a byte that was not verified.
//!
//! * **Blocks** are written to `tmp/` (O_EXCL) and renamed into place, so a kill leaves at most
//!   a temp file; the store removes those of dead writers (and any older than an hour) when it
//!   next opens. After a power loss a renamed block may be torn or empty: its header checksum
//!   and page checksums catch that on read, and it is deleted (a file of impossible size is
//!   deleted at open).
//! * **A chunk** is kept block first, then its record in `map.bin`: a record never points at
//!   nothing because of a crash (a kill between leaves a block no map names, evicted in time;
//!   eviction or another process may still remove a named block, which is a miss).
//! * **`tx/<id>/`**: `map.bin`, then `header.json`, each written in `tmp/` and hard-linked into
//!   place, which never replaces a file (another process's) already there. A directory
//!   without `header.json` is no record; one whose header fails its signature, or whose
//!   `map.bin` is missing or does not match the header, is deleted and fetched again. Chunk
//!   records are written in place (`pwrite`): a torn one fails its checksum and the chunk is
//!   unknown again. Moving the data's place (relocation) rewrites the map's 64-byte header in
//!   place; a torn one fails the check and the whole record is fetched again.
//! * **`items/<id>`** and **`modules/`** files are written in `tmp/` and renamed: the old file
//!   or the new, and a kill before the rename leaves a temp file swept like a block's. An item
//!   record that does not parse, or that no longer matches the verified bundle, is dropped and
//!   the item resolved again; only its root and offset are believed, the rest is read again
//!   from verified bytes. A module that does not load is compiled again.
//! * **`pins/<id>`** is created before the blocks are pinned in memory, and removed before they
//!   are unpinned: a kill in between finds the pin as the marker says at the next start.
//! * **Removal** (records past their share, `clear`) deletes `tx/<id>/` or `items/<id>`; a kill
//!   midway leaves a partial `tx/<id>/`, which the rules above treat as absent.
//!
//! # Extent files: warm reads at the disk's speed
//!
//! Written before the code (issue 18), then corrected to what was built. A warm read from
//! block files opens (or finds open) a 256 KiB file, preads it, checks an xxh3 per page and
//! copies into a FUSE reply: CPU per byte, 0.5x-0.75x of a local file. A fully cached file
//! instead costs our process nothing per byte (`extents.rs`, `drive/extent.rs`).
//!
//! * **What:** `extents/<id>`: the data of one transaction, or of one data item, in one
//!   read-only file, byte `n` of the data at file offset `n`, beside `extents/<id>.pieces`
//!   (its root transaction, its length, and per piece, a chunk or the part of one an item
//!   holds, offset, length, SHA-256 and whether it is a whole chunk). One contiguous file is
//!   what FUSE passthrough needs (Linux 6.9+, `CONFIG_FUSE_PASSTHROUGH`; fuser 0.18's
//!   `ReplyOpen::open_backing` / `opened_passthrough`; registering a backing file needs
//!   CAP_SYS_ADMIN): the kernel then serves `read`, the page cache and `mmap` from it.
//! * **When:** for ids of at least 1 MiB (and at most half the budget: while it is
//!   assembled, its blocks are there too) once every chunk is on disk and verified, and a
//!   data item's signature checked: at the end of a preload, or in the background when a
//!   handle is closed with every chunk on disk (not while one is being read: assembling
//!   beside a loader competes with it; a handle opened before the commit switches to the
//!   extent at its next read). Each block is read whole and
//!   checked against its SHA-256 name as it is copied, in order, into `tmp/<pid>-extent-...`;
//!   the file is fsynced, made read-only and renamed into `extents/`; then the piece list is
//!   written the same way, which commits the extent; the directory is fsynced; only then are
//!   the blocks it holds whole deleted. A crash leaves temp files (swept like blocks'), or a
//!   data file without a piece list (never used; swept after an hour), or a committed extent
//!   beside some of its blocks: never a torn extent under a committed name, never neither.
//! * **Filled, not assembled, by a whole read in order (`get`):** the extent is written as
//!   the chunks arrive, each at its offset once proven (`ExtentWriter`, its writeback started
//!   at once so the commit's fsync waits for the tail only); chunks the id holds whole never
//!   become block files (one file written instead of one per chunk, and no copy after).
//!   Committed like an assembled one when the read completes. A read that fails keeps what
//!   it got: the whole chunks are read back from the temp file and stored as blocks, and the
//!   chunk map on disk names them, so the next read fetches only the rest. A kill loses what
//!   the temp file held (swept by the next process; never served). `preload` keeps block
//!   files and assembles at the end: a preload killed at 90% resumes at 90%.
//!   fs-verity is not enabled (this project's test kernel has `CONFIG_FS_VERITY` off).
//! * **Until then:** partially cached data is served from block files, as before.
//! * **Dedup:** blocks stay named by their SHA-256. A whole-chunk piece's SHA-256 is the
//!   chunk's proven `data_hash`, so the store keeps a hash -> (extent, offset) index from the
//!   piece lists, and a block no longer in its own file is read from an extent holding it
//!   and checked against its name ([`DiskStore::get`], [`DiskStore::read_into`]): another
//!   transaction sharing the chunk, or the bundle an item's extent came from, still finds it.
//!   Two ids whose bytes are the same still get an extent each.
//! * **Budget, pins, gc:** extents count in the disk budget by their size; blocks and extents
//!   are evicted in one least-recently-used order (an extent's use is its mtime, touched at
//!   most once a minute), an extent whole; one whose root transaction is pinned never;
//!   `gc` and `clear` treat an extent like the blocks it replaced.
//! * **Several processes:** an extent is immutable once committed; a store rescans
//!   `extents/` when a block it looks for is missing and the directory changed (another
//!   process committed one), and forgets an extent whose file another process removed.
//!   Blocks go only after the commit, so a process assembling never makes another one miss.
//! * **Integrity at rest:** an extent has no page checksums (the kernel reads it without us).
//!   It is checked when written (every block against its SHA-256), by `cache verify` (every
//!   piece against its SHA-256), and on every read of a chunk by name. Between scrubs, bit
//!   rot inside an extent is served to readers of the file itself; a block file's page
//!   checksum would have caught it. The README's trust section says so.
//! * **Without passthrough** (older kernels, no CAP_SYS_ADMIN, or `--passthrough off`): reads
//!   of an extent are one `pread` into the reply (no per-page work on data verified at
//!   assembly); the WASI shim preads from the extent straight into guest memory, split
//!   across threads for reads of 8 MiB or more.

pub mod block_file;
pub mod disk;
pub mod extents;
mod index;
pub(crate) mod items;
pub mod memory;
pub mod modules;
pub(crate) mod pins;
pub mod records;
pub mod txmap;

pub use block_file::{BlockCorrupt, BlockKey};
pub use disk::{DiskStats, DiskStore, Scrubbed};
pub use extents::{Extent, ExtentCheck, ExtentWriter};
pub use modules::ModuleStore;

/// A temporary file in the cache's `tmp/`, named `<pid>-<kind>-<random>` so that one a killed
/// process leaves is swept when a store next opens (see `disk.rs`).
pub(crate) fn temp_file(
    tmp_dir: &std::path::Path,
    kind: &str,
) -> std::io::Result<tempfile::NamedTempFile> {
    std::fs::create_dir_all(tmp_dir)?;
    tempfile::Builder::new()
        .prefix(&format!("{}-{kind}-", std::process::id()))
        .tempfile_in(tmp_dir)
}

/// Starts writing `len` bytes at `offset` of `file` (0: to its end) to the disk, without
/// waiting, so that a later fsync waits for what was written last only.
pub fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on an open descriptor; it reads no memory of ours. Failure
    // (e.g. a file system without it) only leaves the work to the fsync.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}
