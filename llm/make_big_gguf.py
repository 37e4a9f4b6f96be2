"""Writes a llama-architecture GGUF of about SIZE_GIB GiB with seeded random F16 weights and
SmolLM2's tokenizer: a model at the size of real ones, for loading through the mount at
scale. The tokens it decodes mean nothing; what matters is that the same bytes give the same
tokens wherever they are read from.

    python3 llm/make_big_gguf.py TOKENIZER_SOURCE.gguf OUT.gguf SIZE_GIB

Needs the `gguf` package (PyPI, with numpy). Same arguments, same bytes.
"""
import sys

import numpy as np
import gguf

source, out, size_gib = sys.argv[1], sys.argv[2], float(sys.argv[3])
reader = gguf.GGUFReader(source)
vocab = len(reader.fields["tokenizer.ggml.tokens"].contents())

d, ff, heads, kv_heads = 2048, 5632, 32, 4
head_dim = d // heads
per_layer = 2 * (d * d + 2 * d * kv_heads * head_dim + 3 * d * ff) + 2 * 4 * d
embeddings = 2 * vocab * d
layers = max(1, int((size_gib * (1 << 30) - embeddings) // per_layer))

writer = gguf.GGUFWriter(out, "llama")
writer.add_name("weavedrive-scale-test")
writer.add_context_length(512)
writer.add_embedding_length(d)
writer.add_block_count(layers)
writer.add_feed_forward_length(ff)
writer.add_head_count(heads)
writer.add_head_count_kv(kv_heads)
writer.add_rope_dimension_count(head_dim)
writer.add_rope_freq_base(10000.0)
writer.add_layer_norm_rms_eps(1e-5)
writer.add_vocab_size(vocab)
writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
for field in reader.fields.values():
    if not field.name.startswith("tokenizer."):
        continue
    kind = field.types[0]
    sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
    writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)

rng = np.random.default_rng(17)


def weights(rows, cols):
    return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)


writer.add_tensor("token_embd.weight", weights(vocab, d))
writer.add_tensor("output_norm.weight", np.ones(d, dtype=np.float32))
for i in range(layers):
    blk = f"blk.{i}"
    writer.add_tensor(f"{blk}.attn_norm.weight", np.ones(d, dtype=np.float32))
    writer.add_tensor(f"{blk}.attn_q.weight", weights(d, d))
    writer.add_tensor(f"{blk}.attn_k.weight", weights(kv_heads * head_dim, d))
    writer.add_tensor(f"{blk}.attn_v.weight", weights(kv_heads * head_dim, d))
    writer.add_tensor(f"{blk}.attn_output.weight", weights(d, d))
    writer.add_tensor(f"{blk}.ffn_norm.weight", np.ones(d, dtype=np.float32))
    writer.add_tensor(f"{blk}.ffn_gate.weight", weights(ff, d))
    writer.add_tensor(f"{blk}.ffn_up.weight", weights(ff, d))
    writer.add_tensor(f"{blk}.ffn_down.weight", weights(d, ff))
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
print(f"{out}: {layers} layers, d={d}, ff={ff}, vocab={vocab}")
