//! `minilm-embed CONFIG TOKENIZER WEIGHTS [SENTENCE]`: prints the sentence's embedding as one
//! line of JSON on stdout, and the load and embed times on stderr.
//!
//! Built for wasm32-wasip1 this is the WASI guest: it reads the three files by path with
//! std::fs (under the WeaveDrive shim, `/data/<id>`). Natively the weights are memory-mapped.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use weavedrive_minilm::{Model, Weights};

const USAGE: &str = "usage: minilm-embed CONFIG TOKENIZER WEIGHTS [SENTENCE]";
const DEFAULT_SENTENCE: &str = "WeaveDrive serves model weights from Arweave.";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("minilm-embed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, tokenizer, weights, sentence) = match args.as_slice() {
        [c, t, w] => (c, t, w, DEFAULT_SENTENCE),
        [c, t, w, s] => (c, t, w, s.as_str()),
        _ => bail!("{USAGE}"),
    };

    let start = Instant::now();
    let config_json = std::fs::read(config).with_context(|| format!("reading {config}"))?;
    let tokenizer_json =
        std::fs::read(tokenizer).with_context(|| format!("reading {tokenizer}"))?;
    let model = Model::load(&config_json, &tokenizer_json, weights_from(weights)?)?;
    let loaded = start.elapsed();

    let start = Instant::now();
    let embedding = model.embed(sentence)?;
    let embedded = start.elapsed();

    println!("{}", serde_json::to_string(&embedding)?);
    eprintln!(
        "load: {:.3} s, embed: {:.3} s ({} dims)",
        loaded.as_secs_f64(),
        embedded.as_secs_f64(),
        embedding.len()
    );
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
fn weights_from(path: &str) -> Result<Weights> {
    Ok(Weights::Mmap(path.into()))
}

#[cfg(target_arch = "wasm32")]
fn weights_from(path: &str) -> Result<Weights> {
    Ok(Weights::Bytes(
        std::fs::read(path).with_context(|| format!("reading {path}"))?,
    ))
}
