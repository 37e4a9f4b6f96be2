#!/usr/bin/env node
// Start a local arlocal gateway bound to 127.0.0.1 only.
//
// Usage: node interop/arlocal-serve.js PORT   (PORT 0 = any free port)
//
// Prints exactly one line `READY <port>` (the port actually bound) on stdout
// once the HTTP server is listening; every other message (arlocal's own
// console output, errors) goes to stderr. Stops cleanly on SIGTERM/SIGINT and removes its temporary
// database directory.
//
// arlocal's ArLocal class has no host option: start() calls
// `this.app.listen(this.port, cb)` on its koa app, which listens on all
// interfaces. We replace that koa app's listen() before start() so that the
// server it creates listens on 127.0.0.1.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');

const HOST = '127.0.0.1';

function usage(msg) {
  if (msg) process.stderr.write(`arlocal-serve: ${msg}\n`);
  process.stderr.write('usage: node arlocal-serve.js PORT\n');
  process.exit(2);
}

const portArg = process.argv[2];
if (!portArg || !/^\d+$/.test(portArg)) usage('PORT must be a number');
const port = Number(portArg);
if (port > 65535) usage('PORT out of range'); // 0 = pick a free port

// Keep stdout for the READY line only: route console.log/info to stderr.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

// arlocal's logger deletes/appends a file named `./logs` in the current
// directory; run it from inside the temp dir so nothing else is touched.
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weavedrive-arlocal-'));
const dbPath = path.join(tmpDir, 'db');
process.chdir(tmpDir);

let arlocal = null;
let stopping = false;

function removeTmp() {
  try {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  } catch (_) {
    // best effort
  }
}

const debug = (msg) => {
  if (process.env.ARLOCAL_SERVE_DEBUG) process.stderr.write(`arlocal-serve: ${msg}\n`);
};

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  // Never hang on shutdown: force the exit after a few seconds.
  setTimeout(() => {
    process.stderr.write('arlocal-serve: shutdown timed out, exiting\n');
    removeTmp();
    process.exit(code);
  }, 5000).unref();
  const server = arlocal && arlocal.getServer();
  if (server) {
    await new Promise((resolve) => {
      server.close(() => resolve());
      // close idle keep-alive sockets so close() can finish
      if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
    });
  }
  debug('http server closed');
  // (arlocal.apollo.stop() is deliberately not called: it never resolves.)
  try {
    if (arlocal && arlocal.connection) await arlocal.connection.destroy();
  } catch (_) {}
  debug('db closed');
  removeTmp();
  process.exit(code);
}

function installSignalHandlers() {
  // Apollo Server (inside arlocal) adds its own SIGINT/SIGTERM handlers that
  // re-raise the signal after a stop() that hangs; keep only ours.
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.removeAllListeners(sig);
    process.on(sig, () => shutdown(0));
  }
}
installSignalHandlers();
process.on('exit', removeTmp);

async function main() {
  // Required here, after the signal handlers are in place (loading arlocal
  // and its dependencies takes a while).
  const ArLocal = require('arlocal').default;
  // showLogs=false, temp dbPath, persist=false
  arlocal = new ArLocal(port, false, dbPath, false);
  // Never write the `./logs` request log file.
  arlocal.log.logInFile = () => {};

  const app = arlocal.app;
  let ready;
  const listening = new Promise((resolve, reject) => {
    ready = { resolve, reject };
  });
  // arlocal maps port 0 to 1984, so listen on the requested port ourselves.
  app.listen = function listenLoopback(_p, _cb) {
    const server = http.createServer(app.callback());
    server.on('error', (err) => ready.reject(err));
    server.listen(port, HOST, () => ready.resolve(server));
    return server;
  };

  await arlocal.start();
  installSignalHandlers();
  const server = await listening;
  const addr = server.address();
  if (!addr || addr.address !== HOST) {
    throw new Error(`server bound to unexpected address ${JSON.stringify(addr)}`);
  }
  process.stdout.write(`READY ${addr.port}\n`);
}

main().catch((err) => {
  process.stderr.write(`arlocal-serve: ${err && err.stack ? err.stack : err}\n`);
  shutdown(1);
});
