#!/usr/bin/env node
// Upload N bytes of deterministic pseudo-random data (or a file's bytes) to an
// arlocal gateway as a format-2 transaction, using arweave-js's chunked
// uploader, then mine.
//
// Usage:
//   node interop/arlocal-upload.js --gateway http://127.0.0.1:PORT --size N
//        [--seed S] [--out FILE] [--wallet JWK_FILE]
//   node interop/arlocal-upload.js --gateway URL --file PATH
//        [--content-type TYPE] [--wallet JWK_FILE]
//
// Prints ONE JSON line on stdout:
//   {"id","size","sha256","data_root","owner_address"}
// (sha256 = hex SHA-256 of the data; data_root = base64url merkle root.)
// With --out FILE the raw data bytes are also written to FILE.
// With --wallet JWK_FILE that key is used instead of a freshly generated one.
//
// Data generator (seed S is an unsigned 64-bit integer, default 1):
//   block[k] = SHA-256( u64_le(S) || u64_le(k) )   for k = 0, 1, 2, ...
//   data     = block[0] || block[1] || ...  truncated to N bytes
// i.e. a SHA-256 counter-mode stream; 16 input bytes per 32-byte block.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const Arweave = require('arweave');

function die(msg) {
  process.stderr.write(`arlocal-upload: ${msg}\n`);
  process.stderr.write(
    'usage: node arlocal-upload.js --gateway http://127.0.0.1:PORT (--size N [--seed S] [--out FILE] | --file PATH [--content-type TYPE]) [--wallet JWK_FILE]\n'
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { seed: '1', contentType: 'application/octet-stream' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) die(`missing value for ${a}`);
      return argv[++i];
    };
    switch (a) {
      case '--gateway': opts.gateway = next(); break;
      case '--size': opts.size = next(); break;
      case '--seed': opts.seed = next(); break;
      case '--out': opts.out = next(); break;
      case '--wallet': opts.wallet = next(); break;
      case '--file': opts.file = next(); break;
      case '--content-type': opts.contentType = next(); break;
      default: die(`unknown argument ${a}`);
    }
  }
  if (!opts.gateway) die('--gateway is required');
  if (opts.file !== undefined) {
    if (opts.size !== undefined) die('--size and --file exclude each other');
    opts.size = '0';
  }
  if (opts.size === undefined || !/^\d+$/.test(opts.size)) die('--size N is required (bytes)');
  if (!/^\d+$/.test(opts.seed)) die('--seed must be an unsigned integer');
  opts.size = Number(opts.size);
  if (!Number.isSafeInteger(opts.size)) die('--size too large');
  opts.seed = BigInt(opts.seed);
  if (opts.seed > 0xffffffffffffffffn) die('--seed must fit in 64 bits');
  return opts;
}

/** SHA-256 counter-mode stream, see header comment. */
function generateData(size, seed) {
  const out = Buffer.alloc(size);
  const input = Buffer.alloc(16);
  input.writeBigUInt64LE(seed, 0);
  let pos = 0;
  for (let k = 0n; pos < size; k++) {
    input.writeBigUInt64LE(k, 8);
    const block = crypto.createHash('sha256').update(input).digest();
    pos += block.copy(out, pos, 0, Math.min(32, size - pos));
  }
  return out;
}

async function getText(url) {
  const res = await fetch(url);
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${url} -> ${res.status} ${body}`);
  return body;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const gw = new URL(opts.gateway);
  const base = gw.origin;
  const arweave = Arweave.init({
    host: gw.hostname,
    port: Number(gw.port) || (gw.protocol === 'https:' ? 443 : 80),
    protocol: gw.protocol.replace(':', ''),
    timeout: 60000,
    logging: false,
  });

  const data = opts.file !== undefined ? fs.readFileSync(opts.file) : generateData(opts.size, opts.seed);
  opts.size = data.length;
  const sha256 = crypto.createHash('sha256').update(data).digest('hex');
  if (opts.out) fs.writeFileSync(opts.out, data);

  const jwk = opts.wallet
    ? JSON.parse(fs.readFileSync(opts.wallet, 'utf8'))
    : await arweave.wallets.generate();
  const address = await arweave.wallets.jwkToAddress(jwk);

  // Plenty for arlocal's price formula (size / 1000 * 65595508 winston).
  await getText(`${base}/mint/${address}/1000000000000000000`);

  const tx = await arweave.createTransaction({ data: new Uint8Array(data) }, jwk);
  if (tx.format !== 2) throw new Error(`expected a format-2 transaction, got ${tx.format}`);
  tx.addTag('Content-Type', opts.contentType);
  tx.addTag('App-Name', 'WeaveDrive-Interop');
  tx.addTag('Interop-Seed', opts.seed.toString());
  await arweave.transactions.sign(tx, jwk);

  if (opts.size === 0) {
    // arweave-js prepares no chunks for empty data (data_root ""), and its
    // uploader then fails in getChunk(); a plain POST /tx is all there is.
    const res = await arweave.transactions.post(tx);
    if (res.status < 200 || res.status >= 300) {
      throw new Error(`POST /tx -> ${res.status} ${JSON.stringify(res.data)}`);
    }
  } else {
    // Chunked uploader. Note: a tx whose data is a single chunk (<= 256 KiB,
    // or exactly 256 KiB) is posted with its data inline in POST /tx; larger
    // ones are posted without data, then chunk by chunk to POST /chunk.
    const uploader = await arweave.transactions.getUploader(tx);
    while (!uploader.isComplete) {
      await uploader.uploadChunk();
    }
    if (uploader.lastResponseStatus < 200 || uploader.lastResponseStatus >= 300) {
      throw new Error(`upload ended with status ${uploader.lastResponseStatus}: ${uploader.lastResponseError}`);
    }
  }

  await getText(`${base}/mine`);

  process.stdout.write(
    JSON.stringify({
      id: tx.id,
      size: opts.size,
      sha256,
      data_root: tx.data_root,
      owner_address: address,
    }) + '\n'
  );
}

main().catch((err) => {
  process.stderr.write(`arlocal-upload: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
