#!/usr/bin/env node
'use strict';
// The local stack's tunnel server (stack/tunnel-server.js) alone, in its own process, so a
// test can `kill -9` it and start a new one on the same port (tests/reliability/helpers.js
// `tunnelProcess()`). Prints `ready <port>` once listening, then one line per text frame it
// receives (`F <tunnelId> <frame>`, newlines escaped) and one per frame it pushes to a client
// (`P <tunnelId> <frame>`), written synchronously so a line is in the pipe before the frame is
// handled: what the server received and sent survives a kill -9.
//
//   node tests/reliability/tunnel-server-child.js --port 8802 --signature-key <key> [--timeout-seconds N]
//
// Fault switches arrive as lines on stdin: `dropAll`, `refuse on|off`, `stopPong on|off`
// (each answered `ok <command>` on stdout).

const fs = require('node:fs');
const { TunnelServer } = require('../../stack/tunnel-server');

/** Write all of `text` to stdout synchronously (a pipe may say EAGAIN when full). */
function writeOut(text) {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

async function main() {
  const port = Number(arg('port', '0'));
  const signatureKey = arg('signature-key', null);
  if (!signatureKey) throw new Error('--signature-key is required');
  const server = new TunnelServer({ host: '127.0.0.1', port, signatureKey });
  const timeout = arg('timeout-seconds', null);
  if (timeout !== null) server.timeoutSeconds = Number(timeout);
  const escape = (text) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  server.on('frame', ({ tunnelId, text }) => writeOut(`F ${tunnelId} ${escape(text)}\n`));
  server.on('push', ({ tunnelId, frame }) => writeOut(`P ${tunnelId} ${escape(frame)}\n`));
  await server.start();
  writeOut(`ready ${server.port}\n`);
  // A parent that goes away without killing us must not leave us running.
  process.on('disconnect', () => process.exit(0));
  process.stdin.on('end', () => process.exit(0));
  let rest = '';
  process.stdin.on('data', (d) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop();
    for (const line of lines) {
      const [cmd, arg] = line.trim().split(/\s+/);
      if (cmd === 'dropAll') server.dropAll();
      else if (cmd === 'refuse') server.refuse(arg === 'on');
      else if (cmd === 'stopPong') server.stopPong(arg === 'on');
      else continue;
      writeOut(`ok ${line.trim()}\n`);
    }
  });
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
