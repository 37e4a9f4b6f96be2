#!/usr/bin/env node
// ANS-104 data items made and checked by arbundles itself, so WeaveDrive's Rust
// parser/verifier can be tested against the reference implementation's bytes.
//
//   node ans104-items.js [--wallet JWK_FILE]            one JSON item per line
//   node ans104-items.js --bundle [--wallet JWK_FILE]   one JSON bundle line
//
// Signatures are not reproducible (RSA-PSS is salted, target/anchor are
// random, the Arweave key is new unless --wallet), so ans104-vectors.jsonl
// keeps one run's output for tests that must not need Node.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const { createRequire } = require("module");
const Arweave = require("arweave");
const {
  createData,
  bundleAndSignData,
  ArweaveSigner,
  EthereumSigner,
  SolanaSigner,
  HexSolanaSigner,
} = require("arbundles");
// bs58 is arbundles' own dependency (its Solana signers take a base58 secret
// key); resolve it from arbundles so hoisting does not matter.
const bs58 = createRequire(require.resolve("arbundles"))("bs58");

const TAGS = [
  { name: "Content-Type", value: "application/octet-stream" },
  { name: "App-Name", value: "weavedrive-interop" },
];

// Test-only keys. Fixed so owners are stable across runs; never fund them.
const ETH_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const ED25519_SEED = crypto.createHash("sha256").update("weavedrive-interop ed25519 test key").digest();

// Same family as make-vectors.js, offset by `seed` so items differ.
function data(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) % 251;
  return b;
}

// Solana-style 64-byte secret (seed || public key); Node derives the public key
// from the PKCS#8-wrapped seed, so no extra ed25519 package is needed.
function solanaSecret(seed) {
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  const pub = crypto.createPublicKey(crypto.createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }));
  const raw = pub.export({ format: "der", type: "spki" }).subarray(-32);
  return bs58.encode(Buffer.concat([seed, raw]));
}

const b64url = (b) => Buffer.from(b).toString("base64url");

async function main() {
  const args = process.argv.slice(2);
  const walletAt = args.indexOf("--wallet");
  const jwk = walletAt >= 0
    ? JSON.parse(fs.readFileSync(args[walletAt + 1], "utf8"))
    : await Arweave.init({}).wallets.generate();

  const arweave = new ArweaveSigner(jwk);
  const signers = [
    arweave,                                    // type 1
    new SolanaSigner(solanaSecret(ED25519_SEED)),    // type 2: plain ed25519 over the deep hash
    new EthereumSigner(ETH_KEY),                // type 3
    new HexSolanaSigner(solanaSecret(ED25519_SEED)), // type 4: ed25519 over the deep hash's hex text
  ];

  // Cover every target/anchor presence combination, zero tags and empty data
  // for each signer, since each changes the offsets a parser must compute.
  const cases = [
    { name: "target+anchor", len: 300, target: true, anchor: true, tags: TAGS },
    { name: "plain", len: 517, tags: TAGS },
    { name: "target-only,empty-data", len: 0, target: true, tags: TAGS },
    { name: "anchor-only,no-tags", len: 64, anchor: true, tags: [] },
  ];

  const items = [];
  for (const signer of signers) {
    for (const [k, c] of cases.entries()) {
      const d = data(c.len, signer.signatureType * 16 + k);
      const opts = { tags: c.tags };
      if (c.target) opts.target = b64url(crypto.randomBytes(32));
      // createData takes the anchor as raw bytes (Buffer.from), not base64url.
      if (c.anchor) opts.anchor = crypto.randomBytes(32);
      const item = createData(d, signer, opts);
      await item.sign(signer);
      items.push({ item, d, c });
    }
  }

  if (args.includes("--bundle")) {
    // Items are already signed, so the signer is only a formality here.
    const bundle = await bundleAndSignData(items.map((x) => x.item), arweave);
    console.log(JSON.stringify({
      bundle_b64: Buffer.from(bundle.getRaw()).toString("base64"),
      ids: bundle.getIds(),
      verified_by_arbundles: await bundle.verify(),
    }));
    return;
  }

  for (const { item, d, c } of items) {
    console.log(JSON.stringify({
      case: c.name,
      signature_type: item.signatureType,
      id: item.id,
      raw_b64: Buffer.from(item.getRaw()).toString("base64"),
      data_b64: d.toString("base64"),
      owner_b64url: item.owner,
      target_b64url: item.target,
      anchor_b64url: item.anchor,
      tags: item.tags,
      verified_by_arbundles: await item.isValid(),
    }));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
