// What a real Node TLS client reports for a server's certificate chain, as JSON on stdout.
//
// Usage: node node_certdump.js CONFIG.json, where CONFIG is
//   {"key": "key.pem", "cert": "chain.pem", "ca": ["ca.pem", ...] or null}
// A TLS server and client run in this one process; the client (rejectUnauthorized: false,
// with `ca` as its trust store when given) prints
//   {"plain": getPeerCertificate(), "chain": [leaf, issuer, ...], "last": "self" | "none"}
// where `chain` follows issuerCertificate from getPeerCertificate(true) and `last` says
// whether the last certificate's issuerCertificate is itself.  Buffers become hex strings.
'use strict';
const fs = require('fs');
const tls = require('tls');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

function plain(cert) {
  const out = {};
  for (const key of Object.keys(cert)) {
    if (key === 'issuerCertificate') continue;
    const value = cert[key];
    out[key] = Buffer.isBuffer(value) ? value.toString('hex') :
      (value && typeof value === 'object' && !Array.isArray(value)) ? { ...value } : value;
  }
  return out;
}

function walk(cert) {
  const chain = [];
  let current = cert;
  const seen = new Set();
  for (;;) {
    if (seen.has(current)) throw new Error('issuerCertificate cycle not at the end');
    seen.add(current);
    chain.push(plain(current));
    const next = current.issuerCertificate;
    if (next === current) return { chain, last: 'self' };
    if (next === undefined) return { chain, last: 'none' };
    current = next;
  }
}

const server = tls.createServer({
  key: fs.readFileSync(config.key),
  cert: fs.readFileSync(config.cert),
}, (socket) => socket.end());

server.listen(0, '127.0.0.1', () => {
  const options = { port: server.address().port, host: '127.0.0.1', rejectUnauthorized: false };
  if (config.ca) options.ca = config.ca.map((path) => fs.readFileSync(path));
  const client = tls.connect(options, () => {
    const result = { plain: plain(client.getPeerCertificate()), ...walk(client.getPeerCertificate(true)) };
    process.stdout.write(JSON.stringify(result));
    client.end();
    server.close();
  });
  client.on('error', (err) => { console.error(err); process.exit(2); });
});
