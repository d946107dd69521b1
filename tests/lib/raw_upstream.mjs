// raw_upstream.mjs DIR - a TCP listener standing in for an HTTP server, that keeps exactly the
// bytes it receives: DIR/connections holds the number of connections accepted so far (written
// synchronously on accept) and DIR/req-N.raw the raw bytes of connection N's request. It
// answers each request, once complete (head, then Content-Length bytes or the chunked body's
// last chunk), with 200 {"conn":N} and closes. Prints its port when listening.
// `raw_upstream.mjs --decode FILE` prints what a kept request says, as JSON: {line, headers:
// [[name, value]...], chunked, bodyBytes} (the body's length after chunked decoding).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

// The body of a chunked message body (bytes after the head), decoded.
function dechunk(body) {
  const parts = [];
  for (;;) {
    const nl = body.indexOf('\r\n');
    const n = parseInt(body.subarray(0, nl).toString('latin1'), 16);
    if (nl < 0 || Number.isNaN(n) || n === 0) return Buffer.concat(parts);
    parts.push(body.subarray(nl + 2, nl + 2 + n));
    body = body.subarray(nl + 2 + n + 2);
  }
}

if (process.argv[2] === '--decode') {
  const buf = fs.readFileSync(process.argv[3]);
  const end = buf.indexOf('\r\n\r\n');
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
  const chunked = headers.some(([k, v]) => k.toLowerCase() === 'transfer-encoding' && /chunked/i.test(v));
  const body = buf.subarray(end + 4);
  const bodyBytes = chunked ? dechunk(body).length : body.length;
  console.log(JSON.stringify({ line: lines[0], headers, chunked, bodyBytes }));
  process.exit(0);
}

const dir = process.argv[2];
let count = 0;
fs.writeFileSync(path.join(dir, 'connections'), '0\n');

// True when buf (a request) is complete.
function complete(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = buf.subarray(0, end).toString('latin1').toLowerCase();
  let body = buf.subarray(end + 4);
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) {
    for (;;) {
      const nl = body.indexOf('\r\n');
      if (nl < 0) return false;
      const n = parseInt(body.subarray(0, nl).toString('latin1'), 16);
      if (Number.isNaN(n)) return true; // malformed: answer anyway
      if (n === 0) {
        const rest = body.subarray(nl + 2); // optional trailers, then an empty line
        return rest.subarray(0, 2).toString() === '\r\n' || rest.indexOf('\r\n\r\n') >= 0;
      }
      if (body.length < nl + 2 + n + 2) return false;
      body = body.subarray(nl + 2 + n + 2);
    }
  }
  const m = head.match(/\r\ncontent-length:\s*(\d+)/);
  return body.length >= (m ? Number(m[1]) : 0);
}

const server = net.createServer((sock) => {
  const n = ++count;
  fs.writeFileSync(path.join(dir, 'connections'), `${count}\n`);
  const file = path.join(dir, `req-${n}.raw`);
  fs.writeFileSync(file, '');
  let buf = Buffer.alloc(0);
  let answered = false;
  sock.on('data', (d) => {
    fs.appendFileSync(file, d);
    buf = Buffer.concat([buf, d]);
    if (!answered && complete(buf)) {
      answered = true;
      const body = JSON.stringify({ conn: n });
      sock.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    }
  });
  sock.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => { server.close(); process.exit(0); });
