//! `wasm64-sha256 PATH`: reads the whole file at `PATH` (under one of the preopens, e.g.
//! `/data/<id>`) into ONE buffer of linear memory, prints where that buffer lies and how long
//! reading and hashing took to stderr, and the sha256 in hex to stdout.
//!
//! A file larger than 4 GiB needs a buffer that reaches above 4 GiB of linear memory: that
//! is what this guest exists to show. Exit codes: 0 done, 1 a WASI call failed, 2 usage,
//! 3 out of memory.

mod sys;

use sha2::{Digest, Sha256};
use sys::Failure;

/// Bytes per `fd_pread`: large, so the host serves long runs of chunks per call.
const READ_SIZE: usize = 64 << 20;

enum Error {
    Usage(String),
    Call(Failure),
    OutOfMemory(String),
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        Error::Call(failure)
    }
}

fn eprint(text: &str) {
    // Nothing more can be done if stderr fails.
    let _ = sys::write_all(2, text.as_bytes());
}

#[unsafe(no_mangle)]
pub extern "C" fn _start() {
    std::panic::set_hook(Box::new(|info| eprint(&format!("wasm64-sha256: {info}\n"))));
    let code = match run() {
        Ok(()) => 0,
        Err(Error::Call(failure)) => {
            eprint(&format!("wasm64-sha256: {failure}\n"));
            1
        }
        Err(Error::Usage(text)) => {
            eprint(&format!("wasm64-sha256: {text}\n"));
            2
        }
        Err(Error::OutOfMemory(text)) => {
            eprint(&format!("wasm64-sha256: out of memory: {text}\n"));
            3
        }
    };
    sys::exit(code)
}

fn run() -> Result<(), Error> {
    let args = sys::args()?;
    let [_, path] = args.as_slice() else {
        return Err(Error::Usage(format!(
            "usage: wasm64-sha256 PATH (e.g. /data/<id>); got {} arguments",
            args.len().saturating_sub(1)
        )));
    };
    let (dir, relative) = find_preopen(path)?;
    let fd = sys::open(dir, &relative)?;
    let size = sys::file_size(fd)?;
    let len =
        usize::try_from(size).map_err(|_| Error::OutOfMemory(format!("{path} is {size} bytes")))?;

    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(len)
        .map_err(|e| Error::OutOfMemory(format!("a buffer of {size} bytes for {path}: {e}")))?;
    let start = buf.as_ptr() as u64;
    eprint(&format!(
        "buffer: {size} bytes at 0x{start:x}..0x{:x} of linear memory\n",
        start + size
    ));

    let t0 = sys::now_ns()?;
    let mut filled = 0usize;
    while filled < len {
        let want = READ_SIZE.min(len - filled);
        // SAFETY: `filled + want <= len <= capacity`; the bytes are only read after
        // `set_len` below, once the host has written all of them.
        let n = unsafe { sys::pread(fd, buf.as_mut_ptr().add(filled), want, filled as u64)? };
        if n == 0 {
            return Err(Error::Usage(format!(
                "{path} ended at {filled} of {size} bytes"
            )));
        }
        filled += n;
    }
    // SAFETY: the host wrote bytes 0..len (each pread filled its range up to `n`).
    unsafe { buf.set_len(len) };
    sys::close(fd)?;

    let t1 = sys::now_ns()?;
    let digest = Sha256::digest(&buf);
    let t2 = sys::now_ns()?;
    let mib = size as f64 / (1 << 20) as f64;
    let secs = |ns: u64| ns as f64 / 1e9;
    eprint(&format!(
        "read: {:.2} s ({:.0} MiB/s); sha256: {:.2} s ({:.0} MiB/s)\n",
        secs(t1 - t0),
        mib / secs(t1 - t0).max(1e-9),
        secs(t2 - t1),
        mib / secs(t2 - t1).max(1e-9),
    ));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    sys::write_all(1, format!("{hex}\n").as_bytes())?;
    Ok(())
}

/// The preopen whose name is a directory prefix of `path`, and the rest of the path.
fn find_preopen(path: &str) -> Result<(u32, String), Error> {
    let mut names = Vec::new();
    for fd in 3.. {
        let Some(name) = sys::preopen_name(fd)? else {
            break;
        };
        let prefix = name.trim_end_matches('/');
        if let Some(rest) = path.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
            return Ok((fd, rest.to_string()));
        }
        names.push(name);
    }
    Err(Error::Usage(format!(
        "{path} is under no preopen (preopens: {})",
        names.join(", ")
    )))
}
