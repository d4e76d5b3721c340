// serve.mjs — a tiny static server for the built client (web/dist) plus
// /config.json, which tells the client where the six chatd processes listen.
// No dependencies; used by `make run` (scripts/run-all) and the browser tests.
//
//   node web/serve.mjs [--port 3000] [--dir web/dist]
//   CHATD_WEB_CONFIG='{"user":[4001,4003],"sender":[4002,4004],"receiver":[4005,4006]}'
// Unknown paths without an extension get index.html (client-side app).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(arg('--port', process.env.CHATD_WEB_PORT || 3000));
const host = arg('--host', process.env.CHATD_WEB_HOST || '127.0.0.1');
const root = path.resolve(arg('--dir', path.join(here, 'dist')));
const config = process.env.CHATD_WEB_CONFIG || '{}';
JSON.parse(config); // fail at start, not in the browser

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/config.json') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    return res.end(config);
  }
  let file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
  if (!file.startsWith(root)) {
    res.writeHead(403);
    return res.end();
  }
  if (url.pathname === '/' || (!path.extname(file) && !fs.existsSync(file))) file = path.join(root, 'index.html');
  fs.readFile(file, (err, data) => {
    if (err) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found\n');
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    res.end(data);
  });
});
server.on('error', (e) => {
  if (e.code === 'EADDRINUSE') console.error(`serve: port ${port} is already in use (set CHATD_WEB_PORT)`);
  else console.error(`serve: ${e.message}`);
  process.exit(1);
});
server.listen(port, host, () => console.log(`web client on http://${host === '127.0.0.1' ? 'localhost' : host}:${port}/ (files: ${root})`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
