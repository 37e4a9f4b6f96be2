use std::path::{Path, PathBuf};

use candle_nn::VarMap;

use super::*;

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b))
}

/// The real all-MiniLM-L6-v2, if `WEAVEDRIVE_MINILM_DIR` holds config.json, tokenizer.json and
/// model.safetensors.
#[test]
fn real_model_embeddings() {
    let Some(dir) = std::env::var_os("WEAVEDRIVE_MINILM_DIR") else {
        println!("SKIPPED: set WEAVEDRIVE_MINILM_DIR");
        return;
    };
    let dir = PathBuf::from(dir);
    let read = |name: &str| std::fs::read(dir.join(name)).expect(name);
    let (config, tokenizer) = (read("config.json"), read("tokenizer.json"));
    let weights = dir.join("model.safetensors");

    let model = Model::load(&config, &tokenizer, Weights::Mmap(weights.clone())).unwrap();
    let a = model
        .embed("WeaveDrive serves model weights from Arweave.")
        .unwrap();
    let again = model
        .embed("WeaveDrive serves model weights from Arweave.")
        .unwrap();
    let other = model.embed("The cat sat on the mat.").unwrap();

    assert_eq!(a.len(), 384);
    assert!((norm(&a) - 1.0).abs() < 1e-4, "norm {}", norm(&a));
    assert!((norm(&other) - 1.0).abs() < 1e-4, "norm {}", norm(&other));
    assert_eq!(a, again);
    let cos = cosine(&a, &other);
    assert!(cos < 0.99, "cosine of different sentences {cos}");

    // Loading from a buffer (the wasm32 path) gives the same numbers as the memory map.
    let bytes = Weights::Bytes(std::fs::read(&weights).unwrap());
    let buffered = embed(
        &config,
        &tokenizer,
        bytes,
        "WeaveDrive serves model weights from Arweave.",
    );
    assert_eq!(a, buffered.unwrap());
}

// A tiny BERT with random weights and a five-word WordPiece tokenizer, so that the loading and
// error paths are tested without the real model files.

const TINY_CONFIG: &str = r#"{
    "vocab_size": 8, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 16, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "max_position_embeddings": 16, "type_vocab_size": 2, "initializer_range": 0.02,
    "layer_norm_eps": 1e-12, "pad_token_id": 0, "model_type": "bert"
}"#;

const TINY_TOKENIZER: &str = r###"{
    "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                   "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "decoder": null,
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100,
              "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5,
                        "weave": 6, "##drive": 7}}
}"###;

/// Writes a randomly initialised tiny BERT as safetensors into `dir`.
fn tiny_weights(dir: &Path) -> PathBuf {
    let config: Config = serde_json::from_str(TINY_CONFIG).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    BertModel::load(vb, &config).unwrap();
    let path = dir.join("tiny.safetensors");
    varmap.save(&path).unwrap();
    path
}

fn tiny_embed(weights: Weights) -> Result<Vec<f32>> {
    embed(
        TINY_CONFIG.as_bytes(),
        TINY_TOKENIZER.as_bytes(),
        weights,
        "Hello WeaveDrive world",
    )
}

#[test]
fn tiny_model_embeds_from_map_and_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_weights(dir.path());
    let mapped = tiny_embed(Weights::Mmap(path.clone())).unwrap();
    let buffered = tiny_embed(Weights::Bytes(std::fs::read(&path).unwrap())).unwrap();
    assert_eq!(mapped.len(), 8);
    assert!((norm(&mapped) - 1.0).abs() < 1e-4, "norm {}", norm(&mapped));
    assert_eq!(mapped, buffered);
}

#[test]
fn truncated_or_garbage_weights_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(tiny_weights(dir.path())).unwrap();
    let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;

    // Cut inside the length prefix, the JSON header, right after it (no tensor data), and in
    // the tensor data.
    let mut bad: Vec<(String, Vec<u8>)> = [0, 1, 7, 8, 9, 100, header_end - 1, header_end]
        .into_iter()
        .chain([
            header_end + 1,
            header_end + 1000,
            good.len() - 4,
            good.len() - 1,
        ])
        .map(|n| {
            (
                format!("first {n} of {} bytes", good.len()),
                good[..n].to_vec(),
            )
        })
        .collect();
    bad.push((
        "garbage".into(),
        (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect(),
    ));
    // A header length far beyond the file.
    bad.push((
        "huge header length".into(),
        [u64::MAX.to_le_bytes(), [0; 8]].concat(),
    ));

    for (what, bytes) in bad {
        assert!(
            tiny_embed(Weights::Bytes(bytes.clone())).is_err(),
            "{what}: buffer loaded"
        );
        let path = dir.path().join("bad.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            tiny_embed(Weights::Mmap(path)).is_err(),
            "{what}: map loaded"
        );
    }
    assert!(tiny_embed(Weights::Mmap(dir.path().join("missing"))).is_err());
}

#[test]
fn weights_of_another_shape_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_weights(dir.path());
    let wider = TINY_CONFIG.replace(r#""hidden_size": 8"#, r#""hidden_size": 16"#);
    let err = embed(
        wider.as_bytes(),
        TINY_TOKENIZER.as_bytes(),
        Weights::Mmap(path),
        "hello",
    )
    .expect_err("loaded weights of the wrong shape");
    assert!(format!("{err:#}").contains("shape"), "{err:#}");
}

#[test]
fn bad_config_or_tokenizer_is_an_error() {
    let w = || Weights::Bytes(Vec::new());
    assert!(embed(b"{", TINY_TOKENIZER.as_bytes(), w(), "x").is_err());
    assert!(embed(TINY_CONFIG.as_bytes(), b"{}", w(), "x").is_err());
}
