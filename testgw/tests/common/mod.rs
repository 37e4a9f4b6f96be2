#![allow(dead_code)]

use bytes::Bytes;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weavedrive_cache::arweave::{TxId, b64};
use weavedrive_testgw::{GatewayData, TestWallet, pseudo_random_data};

pub const K: usize = 1024;

/// A weave with one tx per size; returns the ids and data in order.
pub fn weave(sizes: &[usize]) -> (GatewayData, Vec<(TxId, Bytes)>) {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 42);
    let txs = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let bytes = pseudo_random_data(i as u64, size);
            let tags = vec![("Index".to_string(), i.to_string())];
            (data.add_tx(bytes.clone(), tags), bytes)
        })
        .collect();
    (data, txs)
}

#[derive(Deserialize)]
pub struct ChunkJson {
    pub chunk: String,
    pub data_path: String,
    pub tx_path: String,
    pub packing: String,
}

impl ChunkJson {
    pub fn chunk(&self) -> Vec<u8> {
        b64::decode(&self.chunk).unwrap()
    }
    pub fn path(&self) -> Vec<u8> {
        b64::decode(&self.data_path).unwrap()
    }
}

pub async fn get_chunk(client: &reqwest::Client, url: &str, offset: u64) -> ChunkJson {
    let resp = client
        .get(format!("{url}/chunk/{offset}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "chunk at {offset}");
    json(resp).await
}

/// What a raw HTTP/1.1 exchange produced: the head, the body bytes that arrived, and how
/// the connection ended.
pub struct RawReply {
    pub head: String,
    pub body: Vec<u8>,
    pub ended: std::io::Result<()>,
}

impl RawReply {
    pub fn content_length(&self) -> usize {
        self.head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .expect("content-length")
            .trim()
            .parse()
            .unwrap()
    }
}

/// GET without an HTTP client library, to see exactly what a faulty response looks like.
pub async fn raw_get(addr: std::net::SocketAddr, path: &str) -> RawReply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let ended = loop {
        match stream.read(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    let split = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(received.len(), |p| p + 4);
    RawReply {
        head: String::from_utf8_lossy(&received[..split]).into_owned(),
        body: received[split..].to_vec(),
        ended,
    }
}

/// Parses a response body as JSON (reqwest's `json` feature is off in this workspace).
pub async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> T {
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}
