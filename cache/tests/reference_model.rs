//! The Drive against a reference model: random sequences of reads (by id, and through handles
//! kept open across everything else), preloads, pins, unpins, gc, clear, restarts and gateway
//! faults (down, lying), over transactions of both formats and a bundled data item, each
//! outcome checked against a model simple enough to be obviously right (after mountpoint-s3's
//! `tests/reftests/`):
//!
//! - every byte a read returns equals the source, whatever the gateway does;
//! - with the gateway honest and up, every read, preload, pin and unpin succeeds;
//! - what was preloaded stays readable with the gateway down or lying, across restarts,
//!   until gc or clear removes it, and gc and clear never remove what is pinned;
//! - `is_pinned` says what the pins and unpins that succeeded said.
//!
//! The model allows what it cannot predict (a block the memory tier still holds, blocks
//! shared with a pinned transaction), and demands the rest. Cases: `WEAVEDRIVE_MODEL_CASES`
//! (default 64); a failure prints the shortest sequence proptest found.
//!
//! The Drive reads from the test gateway's weave in memory (`MemorySource`) through a
//! `FaultySource` that goes down or lies on command: no sockets, no HTTP, the same proofs.
//! What it lies with is verified by the Drive exactly as a gateway's answers are.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use proptest::prelude::*;
use weavedrive_cache::arweave::ans104::SignatureType;
use weavedrive_cache::drive::FileHandle;
use weavedrive_cache::{Drive, DriveConfig, TxId};
use weavedrive_testgw::items::{BundleItem, signed_item, tags};
use weavedrive_testgw::{
    FaultySource, Format1, Format1Serving, GatewayData, MemorySource, SourceFault, TestWallet,
    pseudo_random_data,
};

const K: usize = 1024;

/// The transactions: two chunks, three chunks, the first's bytes again (its blocks are the
/// same blocks), one byte; then a format-1 transaction (its data in its header) and a data
/// item of two chunks' size in a bundle (the bundle itself is not one of the ids).
fn sources() -> Vec<Bytes> {
    let first = pseudo_random_data(1, 300 * K + 7);
    vec![
        first.clone(),
        pseudo_random_data(2, 600 * K),
        first,
        pseudo_random_data(3, 1),
        pseudo_random_data(4, 5 * K + 3),
        pseudo_random_data(5, 400 * K),
    ]
}

const FORMAT1: usize = 4;
const ITEM: usize = 5;

struct World {
    source: Arc<FaultySource>,
    txs: Vec<(TxId, Bytes)>,
    runtime: tokio::runtime::Runtime,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let mut data = GatewayData::new(TestWallet::fixed());
        let txs = sources()
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| {
                let id = match i {
                    FORMAT1 => {
                        let header = Format1::new(bytes.to_vec()).sign(data.wallet(), 4);
                        data.add_format1(&header, Format1Serving::Inline)
                    }
                    ITEM => {
                        let tags = tags(&[("N", &i.to_string())]);
                        let signed = signed_item(SignatureType::Arweave, None, None, &tags, &bytes);
                        let item = BundleItem::new(signed);
                        data.add_bundle(std::slice::from_ref(&item), vec![]);
                        item.id
                    }
                    _ => data.add_tx(bytes.clone(), vec![("N".into(), i.to_string())]),
                };
                (id, bytes)
            })
            .collect();
        World {
            source: Arc::new(FaultySource::new(Arc::new(MemorySource::new(data)))),
            txs,
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    /// Every request failing as a 503 does.
    Down,
    /// Chunks with a flipped byte, headers that do not match their signature.
    Lying,
}

#[derive(Debug, Clone)]
enum Op {
    /// `len` bytes from `at` thousandths into the data.
    Read {
        tx: usize,
        at: u64,
        len: u64,
    },
    /// The same through the transaction's handle, opened by the first such read and kept
    /// open (its read-ahead too) until a restart.
    HandleRead {
        tx: usize,
        at: u64,
        len: u64,
    },
    Preload {
        tx: usize,
        pin: bool,
    },
    Pin(usize),
    Unpin(usize),
    Gc,
    Clear,
    Restart,
    Gateway(Mode),
}

fn op() -> impl Strategy<Value = Op> {
    let tx = 0..sources().len();
    prop_oneof![
        3 => (tx.clone(), 0..1000u64, 1..700 * K as u64)
            .prop_map(|(tx, at, len)| Op::Read { tx, at, len }),
        3 => (tx.clone(), 0..1000u64, 1..700 * K as u64)
            .prop_map(|(tx, at, len)| Op::HandleRead { tx, at, len }),
        2 => (tx.clone(), any::<bool>()).prop_map(|(tx, pin)| Op::Preload { tx, pin }),
        1 => tx.clone().prop_map(Op::Pin),
        1 => tx.prop_map(Op::Unpin),
        1 => Just(Op::Gc),
        1 => Just(Op::Clear),
        1 => Just(Op::Restart),
        2 => prop_oneof![Just(Mode::Up), Just(Mode::Down), Just(Mode::Lying)].prop_map(Op::Gateway),
    ]
}

/// What must be true, per transaction.
#[derive(Debug, Default, Clone)]
struct Model {
    /// Every block on disk: preloaded, and not removed by gc or clear since.
    durable: Vec<bool>,
    pinned: Vec<bool>,
    mode: Option<Mode>,
}

fn open(dir: &Path) -> Drive {
    let w = world();
    let _entered = w.runtime.enter();
    let config = DriveConfig {
        cache_dir: Some(dir.to_path_buf()),
        disk_budget: 64 << 20,
        memory_budget: 1 << 20,
        ..DriveConfig::default()
    };
    Drive::with_source(config, w.source.clone()).unwrap()
}

fn set_mode(mode: Mode) {
    let source = &world().source;
    match mode {
        Mode::Up => source.honest(),
        Mode::Down => source.set_faults(&[SourceFault::Unavailable]),
        Mode::Lying => source.set_faults(&[SourceFault::CorruptChunk, SourceFault::WrongHeader]),
    }
}

/// Runs `ops` on a fresh cache; the first disagreement with the model, if any.
fn run(ops: &[Op]) -> Result<(), String> {
    let w = world();
    let n = w.txs.len();
    set_mode(Mode::Up);
    let dir = tempfile::tempdir().unwrap();
    let mut drive = open(dir.path());
    let mut handles: Vec<Option<FileHandle>> = (0..n).map(|_| None).collect();
    let mut model = Model {
        durable: vec![false; n],
        pinned: vec![false; n],
        mode: Some(Mode::Up),
    };
    for (step, op) in ops.iter().enumerate() {
        let up = model.mode == Some(Mode::Up);
        let fail = |what: String| Err(format!("step {step} {op:?} ({model:?}): {what}"));
        match *op {
            Op::Read { tx, at, len } | Op::HandleRead { tx, at, len } => {
                let (id, source) = &w.txs[tx];
                let at = source.len() as u64 * at / 1000;
                let got = w.runtime.block_on(async {
                    if !matches!(op, Op::HandleRead { .. }) {
                        return drive.read_at(id, at, len).await;
                    }
                    if handles[tx].is_none() {
                        handles[tx] = Some(drive.open(id).await?);
                    }
                    handles[tx].as_ref().unwrap().read_at(at, len).await
                });
                let end = (at + len).min(source.len() as u64) as usize;
                match got {
                    Ok(bytes) if bytes[..] != source[at as usize..end] => {
                        return fail(format!("{} bytes that are not the source's", bytes.len()));
                    }
                    Ok(_) => {}
                    Err(e) if up || model.durable[tx] => return fail(format!("failed: {e}")),
                    Err(_) => {}
                }
            }
            Op::Preload { tx, pin } => {
                let id = &w.txs[tx].0;
                match w.runtime.block_on(drive.preload(id, pin, |_, _| {})) {
                    Ok(_) => {
                        model.durable[tx] = true;
                        model.pinned[tx] |= pin;
                    }
                    Err(e) if up || model.durable[tx] => return fail(format!("failed: {e}")),
                    Err(_) => {}
                }
            }
            Op::Pin(tx) => match w.runtime.block_on(drive.pin(&w.txs[tx].0)) {
                Ok(()) => model.pinned[tx] = true,
                Err(e) if up || model.durable[tx] => return fail(format!("failed: {e}")),
                Err(_) => {}
            },
            Op::Unpin(tx) => match w.runtime.block_on(drive.unpin(&w.txs[tx].0)) {
                Ok(()) => model.pinned[tx] = false,
                Err(e) if up || model.durable[tx] => return fail(format!("failed: {e}")),
                Err(_) => {}
            },
            Op::Gc | Op::Clear => {
                let done = match op {
                    Op::Gc => drive.gc(0).map(drop),
                    _ => drive.clear(),
                };
                if let Err(e) = done {
                    return fail(format!("failed: {e}"));
                }
                for tx in 0..n {
                    model.durable[tx] &= model.pinned[tx];
                }
            }
            Op::Restart => {
                handles.iter_mut().for_each(|h| *h = None);
                drop(drive);
                drive = open(dir.path());
            }
            Op::Gateway(mode) => {
                set_mode(mode);
                model.mode = Some(mode);
            }
        }
        for (tx, (id, _)) in w.txs.iter().enumerate() {
            if drive.is_pinned(id) != model.pinned[tx] {
                return Err(format!(
                    "after step {step} {op:?}: is_pinned({tx}) is {}, the model says {}",
                    drive.is_pinned(id),
                    model.pinned[tx]
                ));
            }
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("WEAVEDRIVE_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_drive_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..24)) {
        let outcome = run(&ops);
        set_mode(Mode::Up);
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}
