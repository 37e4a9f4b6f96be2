//! `candle-greedy MODEL.gguf N_TOKENS PROMPT_IDS`: greedy-decodes `N_TOKENS` after the prompt
//! (token ids, space or comma separated, e.g. from llm-greedy's `prompt:` line) and prints
//! the generated ids on one line, as llm-greedy does, and `timing: ...` on stderr in its
//! format. Built for wasm32-wasip1 it is the guest of `weavedrive run`, reading the model
//! from `/data/<id>` through the shim. Exit code 1 with the error when the model cannot be
//! read (a chunk no gateway serves verified is EIO here).

use std::io::BufReader;
use std::time::Instant;

use anyhow::Context;

fn main() {
    let started = Instant::now();
    if let Err(e) = run(started) {
        eprintln!("candle-greedy: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(started: Instant) -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, n, prompt] = args.as_slice() else {
        eprintln!("usage: candle-greedy MODEL.gguf N_TOKENS PROMPT_IDS");
        std::process::exit(2);
    };
    let n: usize = n.parse().context("N_TOKENS")?;
    let prompt = weavedrive_llama_candle::parse_ids(prompt)?;
    let file = std::fs::File::open(model).with_context(|| format!("opening {model}"))?;
    // The header is thousands of small reads (the vocabulary); tensors are read whole and
    // pass the buffer by.
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let (tokens, timing) = weavedrive_llama_candle::run(&mut reader, &prompt, n, started)
        .with_context(|| format!("running {model}"))?;
    let ids: Vec<String> = tokens.iter().map(u32::to_string).collect();
    println!("{}", ids.join(" "));
    eprintln!(
        "timing: load_ms={:.1} first_token_ms={:.1} decode_tokens_per_s={:.2}",
        timing.load.as_secs_f64() * 1e3,
        timing.first_token.as_secs_f64() * 1e3,
        timing.decode_tokens_per_s(tokens.len())
    );
    Ok(())
}
