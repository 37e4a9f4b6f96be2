//! `--metrics ADDR`: the Drive's metrics as Prometheus text at `http://ADDR/metrics`, served
//! by the command's own runtime for as long as the command runs.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use weavedrive_cache::Drive;

/// The OpenMetrics text format `prometheus-client` writes (Prometheus scrapes it).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Starts serving `drive`'s metrics on `addr` (in the current runtime), if given. Binding
/// happens here, so a bad or busy address fails the command at once.
pub fn start(addr: Option<SocketAddr>, drive: &Drive) -> anyhow::Result<()> {
    let Some(addr) = addr else {
        return Ok(());
    };
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("--metrics {addr}: cannot listen there"))?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tracing::info!(%addr, "serving metrics at /metrics");
    let drive = drive.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let drive = drive.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let drive = drive.clone();
                    async move { Ok::<_, Infallible>(respond(&drive, &request)) }
                });
                let io = TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(())
}

fn respond(drive: &Drive, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match request.uri().path() {
        "/metrics" => (StatusCode::OK, CONTENT_TYPE, drive.metrics().encode()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "metrics are at /metrics\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
