//! Response bodies: zero-copy frames of the stored data, paced per connection, optionally cut
//! short to inject `Truncate` / `ResetMidBody`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use futures::stream;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;

use crate::conn::ConnState;
use crate::stats::Counters;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Body = BoxBody<Bytes, BoxError>;

/// Frame size without a bandwidth cap: big frames are cheap, they are slices of `Bytes`.
const UNPACED_FRAME: usize = 256 * 1024;

/// How a body ends early.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cut {
    /// After this many bytes, close the connection (FIN).
    Close(u64),
    /// After this many bytes, reset the connection (RST).
    Reset(u64),
}

struct State {
    segments: VecDeque<Bytes>,
    /// Bytes still to send before the cut, if any.
    budget: Option<u64>,
    cut: Option<Cut>,
    conn: Arc<ConnState>,
    counters: Arc<Counters>,
    /// Frames sent so far.
    frames: u64,
    done: bool,
}

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body streaming `segments` in order.
pub(crate) fn stream(
    segments: Vec<Bytes>,
    conn: Arc<ConnState>,
    counters: Arc<Counters>,
    cut: Option<Cut>,
) -> Body {
    let state = State {
        segments: segments.into(),
        budget: cut.map(|c| match c {
            Cut::Close(n) | Cut::Reset(n) => n,
        }),
        cut,
        conn,
        counters,
        frames: 0,
        done: false,
    };
    let frames = stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        if s.budget == Some(0) {
            // Give hyper time to flush what was sent, then fail the body: hyper drops the
            // connection without completing the response.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if matches!(s.cut, Some(Cut::Reset(_))) {
                s.conn.reset_on_close();
            }
            s.done = true;
            return Some((Err(BoxError::from("injected fault: body cut short")), s));
        }
        while s.segments.front().is_some_and(Bytes::is_empty) {
            s.segments.pop_front();
        }
        let segment = s.segments.front_mut()?;
        let frame_size = s
            .conn
            .pacer
            .as_ref()
            .map_or(UNPACED_FRAME, |p| p.frame_size());
        let mut n = frame_size.min(segment.len());
        if let Some(budget) = s.budget.as_mut() {
            n = n.min(*budget as usize);
            *budget -= n as u64;
        }
        let frame = segment.split_to(n);
        if let Some(pacer) = &s.conn.pacer {
            pacer.send(n, s.frames > 0).await;
        }
        s.frames += 1;
        s.counters.body_bytes.fetch_add(n as u64, Relaxed);
        Some((Ok(Frame::data(frame)), s))
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// `len` bytes of spaces as segments of one static buffer: padding of any size, free.
pub(crate) fn padding(len: u64) -> Vec<Bytes> {
    static SPACES: [u8; 1 << 20] = [b' '; 1 << 20];
    let full = len / SPACES.len() as u64;
    let rest = (len % SPACES.len() as u64) as usize;
    let mut segments = vec![Bytes::from_static(&SPACES); full as usize];
    if rest > 0 {
        segments.push(Bytes::from_static(&SPACES[..rest]));
    }
    segments
}
