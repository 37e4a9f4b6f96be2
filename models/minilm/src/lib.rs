//! all-MiniLM-L6-v2 sentence embeddings with candle.
//!
//! The same code runs natively and as a `wasm32-wasip1` guest. Natively the weights can be
//! memory-mapped from a path (e.g. a file on a WeaveDrive FUSE mount); on wasm32 (and anywhere
//! else) they can be passed as an in-memory buffer.
//!
//! The embedding is what sentence-transformers computes for this model: BERT token embeddings,
//! mean-pooled over the attention mask, then L2-normalised.

use anyhow::{Context, Result, anyhow};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2 (`sentence_bert_config.json`);
/// the shipped `tokenizer.json` would truncate at 128 instead.
pub const MAX_SEQ_LENGTH: usize = 256;

/// Where the `model.safetensors` bytes come from.
pub enum Weights {
    /// Memory-map this file while loading (native only). Candle copies each tensor out of the
    /// mapping, so the mapping is dropped when [`Model::load`] returns. The file must not be
    /// modified while it is mapped; a read error on the mapped file (an I/O error from a FUSE
    /// mount, say) arrives as SIGBUS, not as an `Err`.
    #[cfg(not(target_arch = "wasm32"))]
    Mmap(std::path::PathBuf),
    /// The whole file, already in memory.
    Bytes(Vec<u8>),
}

/// A loaded tokenizer and BERT encoder.
pub struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl Model {
    /// Parses `config.json` and `tokenizer.json` and loads the weights onto the CPU.
    pub fn load(config_json: &[u8], tokenizer_json: &[u8], weights: Weights) -> Result<Self> {
        let config: Config = serde_json::from_slice(config_json)
            .context("parsing the model config (config.json)")?;
        let mut tokenizer = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| anyhow!("{e}"))
            .context("parsing the tokenizer (tokenizer.json)")?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_SEQ_LENGTH.min(config.max_position_embeddings),
                ..Default::default()
            }))
            .map_err(|e| anyhow!("{e}"))
            .context("setting the tokenizer's truncation")?;

        let device = Device::Cpu;
        let vb = match weights {
            #[cfg(not(target_arch = "wasm32"))]
            Weights::Mmap(path) => {
                // SAFETY: the mapping is only read, and only while this function runs (every
                // tensor is copied out of it); the caller must not modify the file meanwhile.
                unsafe { VarBuilder::from_mmaped_safetensors(&[&path], DType::F32, &device) }
                    .with_context(|| format!("memory-mapping weights {}", path.display()))?
            }
            Weights::Bytes(bytes) => {
                VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
                    .context("reading the weights (safetensors)")?
            }
        };
        let bert = BertModel::load(vb, &config).context("loading the BERT weights")?;
        Ok(Self {
            bert,
            tokenizer,
            device,
        })
    }

    /// The L2-normalised, mean-pooled embedding of `sentence` (384 floats for MiniLM-L6).
    pub fn embed(&self, sentence: &str) -> Result<Vec<f32>> {
        let encoding = self
            .tokenizer
            .encode(sentence, true)
            .map_err(|e| anyhow!("{e}"))
            .context("tokenizing")?;
        let row = |values: &[u32]| Tensor::new(values, &self.device)?.unsqueeze(0);
        let input_ids = row(encoding.get_ids())?;
        let type_ids = row(encoding.get_type_ids())?;
        let mask = row(encoding.get_attention_mask())?;

        // (1, tokens, hidden)
        let hidden = self
            .bert
            .forward(&input_ids, &type_ids, Some(&mask))
            .context("running the encoder")?;

        // Mean over the tokens the mask keeps, as sentence-transformers' Pooling (clamped like
        // it), then x / max(|x|, 1e-12) as its Normalize (torch.nn.functional.normalize).
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (1, tokens, 1)
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (1, hidden)
        let count = mask.sum(1)?.maximum(1e-9)?; // (1, 1)
        let mean = summed.broadcast_div(&count)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
        let embedding = mean.broadcast_div(&norm)?.squeeze(0)?.to_vec1::<f32>()?;
        Ok(embedding)
    }
}

/// Loads the model and embeds one sentence.
pub fn embed(
    config_json: &[u8],
    tokenizer_json: &[u8],
    weights: Weights,
    sentence: &str,
) -> Result<Vec<f32>> {
    Model::load(config_json, tokenizer_json, weights)?.embed(sentence)
}

#[cfg(test)]
mod tests;
