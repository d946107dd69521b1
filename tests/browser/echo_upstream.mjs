// echo_upstream.mjs - a stand-in API for the dashboard proxy test: answers every request with
// what it received ({method, url, headers, body}) so the test can see what the proxy passed on.
// /api/upload counts the body as it arrives (GET /upload-progress tells how far);
// /api/big?bytes=N streams N bytes; /api/hold sends a first chunk and the rest after GET
// /release. ?status=N sets the status; If-None-Match "v1" gets 304; it always sends ETag "v1",
// X-Request-Id (echoed or its own), Retry-After and X-Upstream. Prints its port when listening.
import http from 'node:http';

const held = [];
let uploadBytes = 0; // bytes of /api/upload bodies received so far
const server = http.createServer((req, res) => {
  const chunks = [];
  if (req.url.startsWith('/api/upload')) {
    uploadBytes = 0;
    req.on('data', (c) => { uploadBytes += c.length; });
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ received: uploadBytes, chunked: req.headers['transfer-encoding'] === 'chunked' }));
    });
    return;
  }
  if (req.url === '/upload-progress') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(String(uploadBytes));
    return;
  }
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const u = new URL(req.url, 'http://upstream');
    const headers = {
      'Content-Type': 'application/json',
      ETag: '"v1"',
      'X-Request-Id': req.headers['x-request-id'] || 'upstream-generated',
      'Retry-After': '7',
      'X-Upstream': 'echo',
    };
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    if (u.pathname === '/api/big') {
      // Sent in 1 MB pieces, respecting back-pressure, so node holds little of it.
      let left = Number(u.searchParams.get('bytes') || 0);
      const piece = Buffer.alloc(1 << 20, 97);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(left) });
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, piece.length);
          left -= n;
          if (!res.write(n === piece.length ? piece : piece.subarray(0, n))) return res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    if (u.pathname === '/api/hold') {
      // First chunk now, the rest only after GET /release: shows the proxy streams.
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('first-chunk\n');
      held.push(res);
      return;
    }
    if (u.pathname === '/release') {
      for (const r of held.splice(0)) r.end('last-chunk\n');
      res.writeHead(204);
      res.end();
      return;
    }
    const status = Number(u.searchParams.get('status') || 200);
    res.writeHead(status, headers);
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
  });
});
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(server.address().port);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
