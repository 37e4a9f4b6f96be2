//! The HTTP server: one accept loop, one hyper HTTP/1 connection task per socket.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::Context;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::body::{self, Body, BoxError, Cut};
use crate::conn::{ConnIo, ConnState};
use crate::data::GatewayData;
use crate::faults::{Endpoint, Fault, Faults, RequestInfo};
use crate::routes::{self, Reply, Route};
use crate::stats::{Counters, RequestRecord, Stats};

#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Where to listen; `None`: 127.0.0.1 on a free port.
    pub addr: Option<SocketAddr>,
    /// Delay before every response head (a round trip to a distant gateway).
    pub latency: Duration,
    /// Cap in bytes/s for the response bodies of each TCP connection (shared by the
    /// requests on that connection; separate connections each get the full rate).
    pub bandwidth_per_connection: Option<u64>,
    /// Honour `Range` on `/{id}` and `/raw/{id}` like ar.io; off: always the whole data,
    /// like plain nodes.
    pub range_support: bool,
    /// Answer HEAD like GET without the body; off: 405, as some CDNs in front of gateways do.
    pub head_support: bool,
    /// Serve chunks' raw bytes at `/chunk/{offset}/data` with the proof in headers, like
    /// ar.io; off: that path is a 404, like Arweave nodes (`/chunk/{offset}` JSON either way).
    pub binary_chunks: bool,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            addr: None,
            latency: Duration::ZERO,
            bandwidth_per_connection: None,
            range_support: true,
            head_support: true,
            binary_chunks: true,
        }
    }
}

struct Shared {
    data: GatewayData,
    opts: GatewayOptions,
    faults: Faults,
    counters: Arc<Counters>,
}

/// What tests and tools use to look at and steer a running gateway. Cheap to clone.
#[derive(Clone)]
pub struct GatewayHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl GatewayHandle {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn data(&self) -> &GatewayData {
        &self.shared.data
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    pub fn reset_stats(&self) {
        self.shared.counters.reset()
    }

    /// Starts logging every request (arrival time, path, status answered), dropping what an
    /// earlier log held; read it with [`Self::request_log`].
    pub fn log_requests(&self) {
        self.shared.counters.start_log()
    }

    /// The requests logged since [`Self::log_requests`], in the order they were answered.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.counters.logged()
    }
}

/// A running gateway on the caller's tokio runtime. Dropping it stops the server too.
pub struct TestGateway {
    handle: GatewayHandle,
    task: tokio::task::JoinHandle<()>,
}

impl TestGateway {
    pub async fn start(data: GatewayData, opts: GatewayOptions) -> anyhow::Result<TestGateway> {
        anyhow::ensure!(
            opts.bandwidth_per_connection != Some(0),
            "bandwidth cap must be positive"
        );
        let addr = opts.addr.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding test gateway to {addr}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            data,
            opts,
            faults: Faults::default(),
            counters: Arc::default(),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(TestGateway {
            handle: GatewayHandle { addr, shared },
            task,
        })
    }

    pub fn handle(&self) -> &GatewayHandle {
        &self.handle
    }

    /// Stops accepting and drops every connection, including hung ones.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Starts a gateway on its own runtime in a background thread, for sync callers (CLI
    /// tests, the demo). The returned guard stops it when dropped.
    pub fn spawn_background(
        data: GatewayData,
        opts: GatewayOptions,
    ) -> anyhow::Result<BackgroundGateway> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("weavedrive-testgw".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("weavedrive-testgw-rt")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return drop(ready_tx.send(Err(e.into()))),
                };
                runtime.block_on(async move {
                    match TestGateway::start(data, opts).await {
                        Ok(gateway) => {
                            let _ = ready_tx.send(Ok(gateway.handle.clone()));
                            let _ = stop_rx.await;
                            gateway.shutdown().await;
                        }
                        Err(e) => drop(ready_tx.send(Err(e))),
                    }
                });
            })?;
        let handle = ready_rx
            .recv()
            .context("test gateway thread died while starting")??;
        Ok(BackgroundGateway {
            handle,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Deref for TestGateway {
    type Target = GatewayHandle;
    fn deref(&self) -> &GatewayHandle {
        &self.handle
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A gateway running on its own thread; stops (and joins the thread) on drop.
pub struct BackgroundGateway {
    handle: GatewayHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Deref for BackgroundGateway {
    type Target = GatewayHandle;
    fn deref(&self) -> &GatewayHandle {
        &self.handle
    }
}

impl Drop for BackgroundGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts until aborted; aborting drops the JoinSet, which aborts every connection task.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!("test gateway accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Without this, Nagle plus delayed ACKs add ~40 ms to small responses and spoil latency
    // measurements.
    let _ = stream.set_nodelay(true);
    shared.counters.connections.fetch_add(1, Relaxed);
    let state = Arc::new(ConnState::new(shared.opts.bandwidth_per_connection));
    let io = TokioIo::new(ConnIo {
        stream,
        state: state.clone(),
    });
    let service = service_fn(move |req| respond(req, shared.clone(), state.clone()));
    // Title-case header names, as most servers send them: some old clients (httpfs2, a
    // benchmark baseline) match `Accept-Ranges` case-sensitively.
    let mut builder = http1::Builder::new();
    builder.title_case_headers(true);
    if let Err(e) = builder.serve_connection(io, service).await {
        tracing::debug!("test gateway connection ended: {e}");
    }
}

async fn respond(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
) -> Result<Response<Body>, BoxError> {
    let arrived = std::time::Instant::now();
    let in_flight = shared.counters.enter();
    let path = req.uri().path();
    let route = Route::parse(path);
    let endpoint = route.endpoint(path);
    shared.counters.request(endpoint);
    let is_head = req.method() == Method::HEAD;
    let render = |fault| {
        routes::render(
            &shared.data,
            &route,
            req.headers(),
            routes::Serving {
                range_support: shared.opts.range_support,
                binary_chunks: shared.opts.binary_chunks,
            },
            fault,
        )
    };
    let mut reply = if (is_head && shared.opts.head_support) || req.method() == Method::GET {
        render(None)
    } else {
        Reply::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    };

    let decision = shared.faults.decide(RequestInfo {
        endpoint,
        ok: reply.status.is_success(),
        has_body: !is_head && reply.len() > 0,
        chunk_offset: match route {
            Route::Chunk(offset) | Route::ChunkData(offset) => Some(offset),
            _ => None,
        },
    });
    let delay = shared.opts.latency + decision.extra_latency;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut cut = None;
    let mut content_length = true;
    let log = |status: u16| {
        shared.counters.log(RequestRecord {
            at: arrived,
            path: path.to_string(),
            status,
            in_flight: in_flight.at_arrival,
        })
    };
    if matches!(
        decision.fault,
        Some(Fault::ResetBeforeResponse | Fault::Hang)
    ) {
        log(0);
    }
    match decision.fault {
        None | Some(Fault::Latency(_)) => {}
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).expect("checked at injection");
            reply = Reply::text(status, "injected fault");
        }
        Some(Fault::ResetBeforeResponse) => {
            // An error from the service makes hyper drop the connection unanswered.
            conn.reset_on_close();
            return Err("injected fault: reset".into());
        }
        Some(Fault::Hang) => std::future::pending().await,
        Some(Fault::RedirectToPort(port)) => {
            reply = Reply::text(StatusCode::FOUND, "moved");
            let location = format!("http://localhost:{port}{path}");
            reply.headers.push((
                header::LOCATION,
                location.parse().expect("a valid header value"),
            ));
        }
        Some(Fault::Truncate) => cut = Some(Cut::Close(reply.len() / 2)),
        Some(Fault::ResetMidBody) => cut = Some(Cut::Reset(reply.len() / 2)),
        Some(
            fault @ (Fault::CorruptChunk
            | Fault::ForgeProof
            | Fault::WrongHeader
            | Fault::ShortChunk
            | Fault::WrongOffset),
        ) => reply = render(Some(fault)),
        Some(Fault::Oversized {
            extra,
            content_length: announced,
        }) => {
            reply.body.extend(body::padding(extra));
            content_length = announced;
        }
        Some(Fault::Throttle { status, secs, date }) => {
            let status = StatusCode::from_u16(status).expect("checked at injection");
            reply = Reply::text(status, "injected fault: slow down");
            let value = if date {
                let at = std::time::SystemTime::now() + Duration::from_secs(secs);
                httpdate::fmt_http_date(at)
            } else {
                secs.to_string()
            };
            reply.headers.push((
                header::RETRY_AFTER,
                value.parse().expect("a valid header value"),
            ));
        }
    }
    log(reply.status.as_u16());

    let mut response = Response::builder().status(reply.status);
    let headers = response.headers_mut().expect("valid builder");
    headers.extend(reply.headers.iter().cloned());
    if content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(reply.len()));
    }
    if shared.opts.range_support && endpoint == Endpoint::Data {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    let body = if is_head {
        body::empty()
    } else {
        body::stream(reply.body, conn, shared.counters.clone(), cut)
    };
    // The request stays in flight until its body is sent (or dropped with the connection).
    let body = BodyExt::boxed(BodyExt::map_frame(body, move |frame| {
        let _ = &in_flight;
        frame
    }));
    Ok(response.body(body)?)
}
