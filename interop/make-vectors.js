#!/usr/bin/env node
// Produce cache/tests/fixtures/arweave-js-vectors.json: merkle, deep-hash and
// signed-transaction vectors computed by arweave-js's own functions, for the
// Rust side to cross-check against.
//
// Usage: node interop/make-vectors.js [--out FILE] [--wallet FILE] [--new-wallet]
//   --out FILE     default: ../cache/tests/fixtures/arweave-js-vectors.json
//   --wallet FILE  default: ../cache/tests/fixtures/test-wallet.json
//                  (reused if it exists, so the test key stays stable)
//   --new-wallet   generate a fresh RSA-4096 JWK and overwrite --wallet FILE
//
// Conventions in the output: all binary values are base64url without padding;
// all offsets/sizes are JSON numbers. Data is never stored: for a size N it is
//   data[i] = (i * 31 + floor(i / 4096)) % 251        (byte i, 0-based)
// RSA-PSS signatures are randomised (salted), so tx ids/signatures change on
// every run even with the same wallet; verify them, don't compare them.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const Arweave = require('arweave');
const Transaction = require('arweave/node/lib/transaction').default;
const merkle = require('arweave/node/lib/merkle');
const deepHash = require('arweave/node/lib/deepHash').default;
const ARWEAVE_JS_VERSION = require('arweave/package.json').version;

const FIXTURES = path.join(__dirname, '..', 'cache', 'tests', 'fixtures');

function parseArgs(argv) {
  const opts = {
    out: path.join(FIXTURES, 'arweave-js-vectors.json'),
    wallet: path.join(FIXTURES, 'test-wallet.json'),
    newWallet: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') opts.out = argv[++i];
    else if (a === '--wallet') opts.wallet = argv[++i];
    else if (a === '--new-wallet') opts.newWallet = true;
    else {
      process.stderr.write(`make-vectors: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  return opts;
}

// No gateway is contacted: every createTransaction() call below passes
// last_tx and reward explicitly, and nothing is posted.
const arweave = Arweave.init({ host: '127.0.0.1', port: 1, protocol: 'http', logging: false });
const b64u = (buf) => arweave.utils.bufferTob64Url(buf);
const fromB64u = (s) => arweave.utils.b64UrlToBuffer(s);

const DATA_FORMULA = 'data[i] = (i * 31 + floor(i / 4096)) % 251';
function formulaData(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + Math.floor(i / 4096)) % 251;
  return out;
}

const CHUNK = 262144;
const MERKLE_SIZES = [
  0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, CHUNK + 32767, CHUNK + 32768,
  2 * CHUNK, 2 * CHUNK + 1, 3 * CHUNK + 100, 5 * CHUNK + 20000, 1048576 + 12345, 8 * CHUNK,
];

async function merkleVector(size) {
  const data = formulaData(size);
  const chunks = await merkle.chunkData(data);
  const leaves = await merkle.generateLeaves(chunks);
  const root = await merkle.buildLayers(leaves);
  const proofs = merkle.generateProofs(root);
  // Cross-check against the one-call helper arweave-js uses for transactions.
  const rootAgain = await merkle.computeRootHash(data);
  if (b64u(rootAgain) !== b64u(root.id)) throw new Error(`root mismatch for size ${size}`);

  const validate = [];
  for (const p of proofs) {
    const r = await merkle.validatePath(root.id, p.offset, 0, size, p.proof);
    validate.push(
      r === false
        ? { offset: p.offset, result: false }
        : { offset: p.offset, chunkSize: r.chunkSize, leftBound: r.leftBound, rightBound: r.rightBound }
    );
  }
  return {
    size,
    data_root: b64u(root.id),
    chunks: chunks.map((c) => ({ min: c.minByteRange, max: c.maxByteRange, data_hash: b64u(c.dataHash) })),
    proofs: proofs.map((p) => ({ offset: p.offset, proof: b64u(p.proof) })),
    validate,
  };
}

// Deep-hash inputs are nested arrays of base64url strings (a string = blob).
function decodeDeep(x) {
  return Array.isArray(x) ? x.map(decodeDeep) : fromB64u(x);
}
async function deepHashVector(name, input) {
  return { name, input, hash: b64u(await deepHash(decodeDeep(input))) };
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest();
}

/**
 * Recover the RSA-PSS salt length actually used in `signature` over `message`
 * (SHA-256, MGF1-SHA-256), by opening the signature with the public key
 * (RFC 8017 EMSA-PSS decoding). Returns null if the encoding is malformed.
 */
function pssSaltLength(nB64u, signatureB64u, message) {
  const nBuf = Buffer.from(fromB64u(nB64u));
  const n = BigInt('0x' + nBuf.toString('hex'));
  const s = BigInt('0x' + Buffer.from(fromB64u(signatureB64u)).toString('hex'));
  let m = 1n;
  let base = s % n;
  let e = 65537n;
  while (e > 0n) {
    if (e & 1n) m = (m * base) % n;
    base = (base * base) % n;
    e >>= 1n;
  }
  const modBits = n.toString(2).length;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const em = Buffer.from(m.toString(16).padStart(emLen * 2, '0'), 'hex');
  const hLen = 32;
  if (em[emLen - 1] !== 0xbc) return null;
  const maskedDB = em.subarray(0, emLen - hLen - 1);
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  const mask = Buffer.alloc(maskedDB.length);
  for (let c = 0, off = 0; off < mask.length; c++) {
    const cnt = Buffer.alloc(4);
    cnt.writeUInt32BE(c);
    off += sha256(Buffer.concat([h, cnt])).copy(mask, off);
  }
  const db = Buffer.alloc(maskedDB.length);
  for (let i = 0; i < db.length; i++) db[i] = maskedDB[i] ^ mask[i];
  db[0] &= 0xff >> (8 * emLen - emBits);
  const sep = db.indexOf(1);
  if (sep < 0 || db.subarray(0, sep).some((b) => b !== 0)) return null;
  const salt = db.subarray(sep + 1);
  // Check H = SHA-256(0x00*8 || mHash || salt)
  const mHash = sha256(Buffer.from(message));
  const h2 = sha256(Buffer.concat([Buffer.alloc(8), mHash, salt]));
  if (!h2.equals(h)) return null;
  return salt.length;
}

async function txVector(tx, jwk, extra) {
  const sigData = await tx.getSignatureData();
  const json = tx.toJSON();
  const header = JSON.parse(JSON.stringify(json));
  if (tx.format === 2) {
    // Format-2 headers are posted without data (it goes to /chunk), and
    // the data is regenerated from the formula; keep the file small.
    header.data = '';
  }
  // Self-check: the header alone (plus the formula for format 2) verifies.
  const again = new Transaction(header);
  const verifyHeader = await arweave.transactions.verify(again);
  const verifyTx = await arweave.transactions.verify(tx);
  const saltLen = pssSaltLength(tx.owner, tx.signature, sigData);
  return {
    vector: {
      format: tx.format,
      id: tx.id,
      owner_address: await arweave.wallets.ownerToAddress(tx.owner),
      header,
      ...extra,
      signature_data: b64u(sigData),
      pss_salt_length: saltLen,
    },
    check: { id: tx.id, format: tx.format, verify: verifyTx, verify_from_header_json: verifyHeader },
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.mkdirSync(path.dirname(opts.wallet), { recursive: true });

  // --- wallet (test-only key) -------------------------------------------
  let jwk;
  if (!opts.newWallet && fs.existsSync(opts.wallet)) {
    jwk = JSON.parse(fs.readFileSync(opts.wallet, 'utf8'));
  } else {
    jwk = await arweave.wallets.generate();
    fs.writeFileSync(opts.wallet, JSON.stringify(jwk, null, 2) + '\n');
  }
  const address = await arweave.wallets.jwkToAddress(jwk);

  // --- merkle -----------------------------------------------------------
  const merkleVectors = [];
  for (const size of MERKLE_SIZES) merkleVectors.push(await merkleVector(size));

  // --- deep hash --------------------------------------------------------
  const blob1000 = b64u(formulaData(1000));
  const deepHashVectors = [
    await deepHashVector('empty blob', ''),
    await deepHashVector('blob "hello"', b64u(Buffer.from('hello'))),
    await deepHashVector('blob formula data 1000 bytes', blob1000),
    await deepHashVector('empty list', []),
    await deepHashVector('list of one empty blob', ['']),
    await deepHashVector('nested list', [b64u(Buffer.from('2')), ['', b64u(Buffer.from('ab'))], [[]], [[b64u(Buffer.from('x'))]]]),
  ];

  // --- transactions -----------------------------------------------------
  // Fixed anchor/reward so nothing is fetched from a gateway.
  const anchor = b64u(sha256(Buffer.from('weavedrive test anchor')));
  const transactions = [];
  const checks = [];

  // (a) format 2, formula data of size 262144+1, 2 tags.
  {
    const size = CHUNK + 1;
    const tx = await arweave.createTransaction(
      { format: 2, data: formulaData(size), last_tx: anchor, reward: '1234567' },
      jwk
    );
    tx.addTag('Content-Type', 'application/octet-stream');
    tx.addTag('App-Name', 'WeaveDrive-Test');
    await arweave.transactions.sign(tx, jwk);
    const { vector, check } = await txVector(tx, jwk, { data_size: size, data_formula_size: size });
    transactions.push(vector);
    checks.push(check);
  }
  // (b) format 2, zero-length data (a plain transfer: target + quantity).
  {
    const target = b64u(sha256(Buffer.from('weavedrive test target')));
    const tx = await arweave.createTransaction(
      { format: 2, data: new Uint8Array(0), target, quantity: '1000000', last_tx: anchor, reward: '42' },
      jwk
    );
    await arweave.transactions.sign(tx, jwk);
    const { vector, check } = await txVector(tx, jwk, { data_size: 0, data_formula_size: 0 });
    transactions.push(vector);
    checks.push(check);
  }
  // (c) format 1, 100 bytes of inline formula data, 1 tag.
  {
    const size = 100;
    const tx = await arweave.createTransaction(
      { format: 1, data: formulaData(size), last_tx: anchor, reward: '7654321' },
      jwk
    );
    if (tx.format !== 1) throw new Error('expected format 1');
    tx.addTag('Content-Type', 'application/octet-stream');
    await arweave.transactions.sign(tx, jwk);
    const { vector, check } = await txVector(tx, jwk, { data_size: size, data_formula_size: size });
    transactions.push(vector);
    checks.push(check);
  }

  for (const c of checks) {
    if (c.verify !== true || c.verify_from_header_json !== true) {
      throw new Error(`signature check failed: ${JSON.stringify(c)}`);
    }
  }

  const out = {
    generator: 'interop/make-vectors.js',
    arweave_js_version: ARWEAVE_JS_VERSION,
    data_formula: DATA_FORMULA,
    notes: [
      'binary = base64url without padding; offsets/sizes = JSON numbers',
      'merkle.chunks/proofs are exactly what chunkData/generateProofs return (a size that is a multiple of 262144, and size 0, end with a zero-length chunk)',
      'merkle.validate[k] = validatePath(data_root, proofs[k].offset, 0, size, proofs[k].proof); {result:false} when it returns false',
      'deep_hash.input: a string is a blob (base64url), an array is a list',
      'transactions[].header = tx.toJSON() after signing; for format 2 header.data is emptied (regenerate data from data_formula and data_formula_size)',
      'transactions[].signature_data = tx.getSignatureData() (deep hash for format 2, raw concatenation for format 1), the message given to RSA-PSS/SHA-256',
      'transactions[].pss_salt_length = salt length recovered from the signature; arweave-js on node signs with the maximum salt length (modulus bytes - 32 - 2 = 478 for RSA-4096) and verifies with any salt length',
      'RSA-PSS is randomised: ids and signatures change each run',
    ],
    wallet: { file: path.basename(opts.wallet), address },
    merkle: merkleVectors,
    deep_hash: deepHashVectors,
    transactions,
    signature_checks: checks,
  };
  const text = JSON.stringify(out, null, 1) + '\n';
  fs.writeFileSync(opts.out, text);
  process.stderr.write(`wrote ${opts.out} (${text.length} bytes); wallet ${opts.wallet} address ${address}\n`);
}

main().catch((err) => {
  process.stderr.write(`make-vectors: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
