//! A guest for the WASI shim's tests and benchmarks, built for wasm32-wasip1. It uses only
//! `std::fs` (so wasi-libc's own preopen lookup, open, read, pread, seek, stat and readdir) and
//! prints one line per result, which the host-side tests compare with the source bytes.
//!
//! ```text
//! probe hash PATH                      sha256 and length of the whole file (read loop)
//! probe cat PATH                       the whole file, in hex
//! probe stat PATH                      size, and whether it is a directory
//! probe pread PATH OFFSET LEN          sha256 of LEN bytes at OFFSET (read_at)
//! probe seek PATH OFFSET               sha256 of everything from OFFSET (seek + read)
//! probe list DIR                       names, sorted
//! probe write PATH                     tries to open PATH for writing; prints the error
//! probe open PATH                      tries to open PATH for reading; prints the outcome
//! probe create PATH                    tries to create (or truncate) PATH
//! probe whole PATH                     one read of the whole file into a buffer (the way
//!                                      wasi-libc emulates mmap), then its sha256
//! probe bench-seq PATH BLOCK           reads the file in BLOCK-byte reads; bytes and ns
//! probe bench-rand PATH COUNT SEED     COUNT 4 KiB preads at pseudo-random aligned offsets
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

use sha2::{Digest, Sha256};

/// pread(2) for the guest: `fd_pread` with one iovec.
#[cfg(target_os = "wasi")]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let iov = wasi::Iovec {
        buf: buf.as_mut_ptr(),
        buf_len: buf.len(),
    };
    // SAFETY: the iovec points at `buf`, which outlives the call.
    unsafe { wasi::fd_pread(file.as_raw_fd() as u32, &[iov], offset) }
        .map_err(|e| std::io::Error::from_raw_os_error(e.raw() as i32))
}

/// `fd_advise(WILLNEED)` over the first `len` bytes: a guest asking the host to fetch ahead.
#[cfg(target_os = "wasi")]
fn advise(path: &str, len: u64) -> std::io::Result<String> {
    use std::os::fd::AsRawFd;
    let file = File::open(path)?;
    // SAFETY: a valid open descriptor.
    unsafe { wasi::fd_advise(file.as_raw_fd() as u32, 0, len, wasi::ADVICE_WILLNEED) }
        .map_err(|e| std::io::Error::from_raw_os_error(e.raw() as i32))?;
    Ok("advised".into())
}

#[cfg(not(target_os = "wasi"))]
fn advise(path: &str, _len: u64) -> std::io::Result<String> {
    File::open(path).map(|_| "advised".into())
}

/// The same on the host, so the probe also runs natively (a baseline, and `cargo test`).
#[cfg(not(target_os = "wasi"))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let num = |i: usize| arg(i).parse::<u64>().expect("a number");
    let result = match arg(1) {
        "hash" => hash(arg(2)),
        "cat" => std::fs::read(arg(2)).map(|bytes| format!("hex {}", hex::encode(bytes))),
        "stat" => std::fs::metadata(arg(2)).map(|m| format!("size {} dir {}", m.len(), m.is_dir())),
        "pread" => pread(arg(2), num(3), num(4) as usize),
        "seek" => seek(arg(2), num(3)),
        "list" => list(arg(2)),
        "write" => OpenOptions::new()
            .write(true)
            .open(arg(2))
            .map(|_| "opened for writing".into()),
        "open" => File::open(arg(2)).map(|_| "opened".into()),
        "create" => File::create(arg(2)).map(|_| "created".into()),
        "whole" => whole(arg(2)),
        "bench-seq" => bench_seq(arg(2), num(3) as usize),
        "bench-rand" => bench_rand(arg(2), num(3), num(4)),
        "advise" => advise(arg(2), num(3)),
        other => {
            eprintln!("unknown command {other:?}");
            std::process::exit(2);
        }
    };
    match result {
        Ok(line) => println!("{line}"),
        Err(e) => println!("error {} {:?}", e.raw_os_error().unwrap_or(-1), e.kind()),
    }
}

fn hash(path: &str) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok(format!("sha256 {} {total}", hex::encode(hasher.finalize())))
}

fn pread(path: &str, offset: u64, len: usize) -> std::io::Result<String> {
    let file = File::open(path)?;
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n = read_at(&file, &mut buf[filled..], offset + filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(format!(
        "sha256 {} {filled}",
        hex::encode(Sha256::digest(&buf[..filled]))
    ))
}

fn seek(path: &str, offset: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let at = file.seek(SeekFrom::Start(offset))?;
    let mut rest = Vec::new();
    file.read_to_end(&mut rest)?;
    let end = file.stream_position()?;
    Ok(format!(
        "sha256 {} {} at {at} end {end}",
        hex::encode(Sha256::digest(&rest)),
        rest.len()
    ))
}

fn list(dir: &str) -> std::io::Result<String> {
    let mut names = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    Ok(format!("entries {}", names.join(" ")))
}

fn whole(path: &str) -> std::io::Result<String> {
    let file = File::open(path)?;
    let size = file.metadata()?.len() as usize;
    let mut buf = vec![0u8; size];
    let n = read_at(&file, &mut buf, 0)?;
    Ok(format!(
        "sha256 {} {n}",
        hex::encode(Sha256::digest(&buf[..n]))
    ))
}

fn bench_seq(path: &str, block: usize) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; block];
    let start = Instant::now();
    let mut total = 0u64;
    let mut check = 0u8;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        check ^= buf[n - 1];
        total += n as u64;
    }
    Ok(format!(
        "bytes {total} ns {} check {check}",
        start.elapsed().as_nanos()
    ))
}

fn bench_rand(path: &str, count: u64, seed: u64) -> std::io::Result<String> {
    let file = File::open(path)?;
    let blocks = file.metadata()?.len() / 4096;
    let mut buf = [0u8; 4096];
    let mut state = seed | 1;
    let start = Instant::now();
    let mut check = 0u8;
    for _ in 0..count {
        // xorshift64: cheap, and the same offsets for the same seed on every host.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = read_at(&file, &mut buf, (state % blocks) * 4096)?;
        check ^= buf[n.saturating_sub(1)];
    }
    Ok(format!(
        "reads {count} ns {} check {check}",
        start.elapsed().as_nanos()
    ))
}
