// echo_upstream.mjs - a stand-in API for the dashboard proxy test: answers every request with
// what it received ({method, url, headers, body}) so the test can see what the proxy passed on.
// ?status=N sets the status; If-None-Match "v1" gets 304; it always sends ETag "v1",
// X-Request-Id (echoed or its own), Retry-After and X-Upstream. Prints its port when listening.
import http from 'node:http';

const server = http.createServer((req, res) => {
  const chunks = [];
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
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.end(Buffer.alloc(Number(u.searchParams.get('bytes') || 0), 97));
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
