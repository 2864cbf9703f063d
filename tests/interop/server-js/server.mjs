// @tus/server with @tus/file-store on 127.0.0.1, for the interop tests of the Rust client
// (cli/tests/client_interop.rs, client_tls.rs). Prints `listening http://127.0.0.1:PORT/files`
// (https:// with --tls-cert and --tls-key) once ready.
//
//   node server.mjs --dir DIR [--port PORT] [--tls-cert CERT.pem --tls-key KEY.pem]
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';

function flag(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const dir = flag('dir');
if (!dir) {
  console.error('usage: node server.mjs --dir DIR [--port PORT]');
  process.exit(2);
}
const host = '127.0.0.1';
const port = Number(flag('port', '0'));
const cert = flag('tls-cert');
const key = flag('tls-key');

// @tus/server builds absolute Location URLs with `http://` unless a proxy says otherwise
// (X-Forwarded-Proto), even when it serves TLS itself: with TLS, relative Locations are
// used, which clients resolve against the https:// endpoint.
const tus = new Server({
  path: '/files',
  datastore: new FileStore({ directory: dir }),
  relativeLocation: Boolean(cert && key),
});
const handler = (req, res) => tus.handle(req, res);
const server = cert && key
  ? https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, handler)
  : http.createServer(handler);
const scheme = cert && key ? 'https' : 'http';
server.listen(port, host, () => {
  console.log(`listening ${scheme}://${host}:${server.address().port}/files`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
