//! Greedy decoding of a llama-architecture GGUF (SmolLM2 and friends) with candle's quantized
//! llama, from any `Read + Seek`: a file natively, or `/data/<id>` in a wasm32-wasip1 guest
//! through the WeaveDrive shim. The prompt comes as token ids (llama.cpp's `llm-greedy`
//! prints its templated prompt's), so no tokenizer is needed and both implementations decode
//! from the same input.

use std::io::{Read, Seek};
use std::time::{Duration, Instant};

use anyhow::Context;
use candle_core::quantized::gguf_file;
use candle_core::{D, Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

pub struct Greedy {
    model: ModelWeights,
    /// The model's end-of-sequence token: decoding stops there, as llama.cpp's does.
    eos: Option<u32>,
}

/// What a run measured, each from the caller's start (so it includes the load).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub load: Duration,
    pub first_token: Duration,
    pub last_token: Duration,
}

impl Timing {
    /// Tokens per second after the first (the first also paid for the prompt).
    pub fn decode_tokens_per_s(&self, tokens: usize) -> f64 {
        let secs = (self.last_token - self.first_token).as_secs_f64();
        if tokens > 1 && secs > 0.0 {
            (tokens - 1) as f64 / secs
        } else {
            0.0
        }
    }
}

impl Greedy {
    /// Reads the GGUF's header and every tensor. A failed read (EIO through the shim when a
    /// chunk cannot be verified) is an error naming what was being read.
    pub fn load<R: Read + Seek>(reader: &mut R) -> anyhow::Result<Self> {
        let content = gguf_file::Content::read(reader).context("reading the GGUF header")?;
        let eos = content
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok());
        let model = ModelWeights::from_gguf(content, reader, &Device::Cpu)
            .context("reading the GGUF's tensors")?;
        Ok(Greedy { model, eos })
    }

    /// Feeds `prompt`, then picks the most likely next token `n` times (or until the end of
    /// sequence); `on_token` sees each as it is chosen.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        n: usize,
        mut on_token: impl FnMut(u32),
    ) -> anyhow::Result<Vec<u32>> {
        anyhow::ensure!(!prompt.is_empty(), "an empty prompt");
        let mut out = Vec::with_capacity(n);
        let mut input = prompt.to_vec();
        let mut pos = 0;
        while out.len() < n {
            let x = Tensor::new(input.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
            let logits = self.model.forward(&x, pos)?.squeeze(0)?;
            let next = logits.argmax(D::Minus1)?.to_scalar::<u32>()?;
            if Some(next) == self.eos {
                break;
            }
            pos += input.len();
            out.push(next);
            on_token(next);
            input = vec![next];
        }
        Ok(out)
    }
}

/// Loads and decodes, timing both from `started`.
pub fn run<R: Read + Seek>(
    reader: &mut R,
    prompt: &[u32],
    n: usize,
    started: Instant,
) -> anyhow::Result<(Vec<u32>, Timing)> {
    let mut greedy = Greedy::load(reader)?;
    let mut timing = Timing {
        load: started.elapsed(),
        ..Timing::default()
    };
    let tokens = greedy.generate(prompt, n, |_| {
        let now = started.elapsed();
        if timing.first_token.is_zero() {
            timing.first_token = now;
        }
        timing.last_token = now;
    })?;
    Ok((tokens, timing))
}

/// Token ids as llm-greedy prints them: space or comma separated.
pub fn parse_ids(text: &str) -> anyhow::Result<Vec<u32>> {
    text.split([' ', ','])
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .with_context(|| format!("{t:?} is not a token id"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_garbage_is_named() {
        assert_eq!(parse_ids("1 2,3  4").unwrap(), [1, 2, 3, 4]);
        let err = parse_ids("1 x").unwrap_err().to_string();
        assert!(err.contains("\"x\""), "{err}");
    }

    #[test]
    fn a_file_that_is_not_gguf_is_an_error() {
        let err = Greedy::load(&mut std::io::Cursor::new(b"not a gguf file".to_vec()))
            .err()
            .expect("garbage must not load");
        assert!(format!("{err:#}").contains("GGUF header"), "{err:#}");
    }

    #[test]
    fn decode_rate_counts_tokens_after_the_first() {
        let t = Timing {
            load: Duration::ZERO,
            first_token: Duration::from_secs(1),
            last_token: Duration::from_secs(3),
        };
        assert_eq!(t.decode_tokens_per_s(5), 2.0);
        assert_eq!(t.decode_tokens_per_s(1), 0.0);
    }
}
