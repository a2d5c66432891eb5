'use strict';
// Tiny HTTP helpers for the loopback servers (no framework: we want every byte of
// the answers under control, including broken ones).

const busboy = require('busboy');

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendRaw(res, status, raw, headers = {}) {
  const buf = raw === undefined || raw === null ? Buffer.alloc(0) : Buffer.from(raw);
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': buf.length, ...headers });
  res.end(buf);
}

// multipart/form-data -> { fields: { name: value }, files: [{ field, filename, mimeType, size, content }] }
function parseMultipart(req) {
  return new Promise((resolve, reject) => {
    let bb;
    try { bb = busboy({ headers: req.headers }); } catch (e) { reject(e); return; }
    const fields = {};
    const files = [];
    bb.on('field', (name, value) => { fields[name] = value; });
    bb.on('file', (field, stream, info) => {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const content = Buffer.concat(chunks);
        files.push({ field, filename: info.filename, mimeType: info.mimeType, size: content.length, content });
      });
    });
    bb.on('close', () => resolve({ fields, files }));
    bb.on('error', reject);
    req.pipe(bb);
  });
}

module.exports = { readBody, sendJson, sendRaw, parseMultipart };
