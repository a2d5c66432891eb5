'use strict';
// Tunnel.once(type, listener) (README: Tunnel API): the listener runs for the next such event
// only, `off(type, listener)` removes it before it fires, in every state of the tunnel.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { withSdk, waitFor, recordEvents, FAST } = require('./helpers/sdk');

test('once: the next message of the type only; `*` and built-in events too; chainable', () => withSdk({ dialect: 'wafer2' }, async ({ server, wafer }) => {
  await wafer.login();
  const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
  const got = [];
  const every = [];
  assert.equal(tunnel.once('speak', (content) => got.push(['once', content])), tunnel);
  tunnel.on('speak', (content) => every.push(content));
  tunnel.once('*', (type, payload) => got.push(['*', type, payload]));
  tunnel.once('connect', () => got.push(['connect']));
  const events = recordEvents(tunnel);
  tunnel.open();
  await waitFor(() => events.count('connect') === 1);
  for (const n of [1, 2, 3]) tunnel.emit('speak', n); // echoed back by the server
  await waitFor(() => every.length === 3);
  // In registration order: the `*` listener was added before the `connect` one.
  assert.deepEqual(got, [['*', 'connect', undefined], ['connect'], ['once', 1]]);
  // A listener registered once again runs once again.
  tunnel.once('speak', (content) => got.push(['again', content]));
  tunnel.emit('speak', 4);
  tunnel.emit('speak', 5);
  await waitFor(() => every.length === 5);
  assert.deepEqual(got.slice(3), [['again', 4]]);
  tunnel.close();
}));

test('off(type, listener) removes a once listener before it fires; off(type) and off() too', () => withSdk({ dialect: 'wafer1' }, async ({ server, wafer }) => {
  await wafer.login();
  const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
  const got = [];
  const removed = () => got.push('removed');
  const kept = () => got.push('kept');
  const byType = () => got.push('by type');
  const byAll = () => got.push('by all');
  // Before the wasm side exists and after.
  tunnel.once('speak', removed).once('speak', kept).off('speak', removed);
  tunnel.once('other', byType).off('other');
  tunnel.once('close', byAll);
  tunnel.off(null, byAll);
  // off() with a type that is not a string removes nothing, once listeners included.
  tunnel.off(5, kept);
  const events = recordEvents(tunnel);
  tunnel.open();
  await waitFor(() => events.count('connect') === 1);
  tunnel.emit('other', 1);
  tunnel.emit('speak', 1);
  await waitFor(() => got.length === 1);
  tunnel.close();
  await waitFor(() => events.count('close') === 1);
  assert.deepEqual(got, ['kept']);
  // A once listener of a closed tunnel waits for the next open (its wasm side rests meanwhile).
  tunnel.once('connect', () => got.push('reopened'));
  tunnel.open();
  await waitFor(() => got.length === 2);
  assert.deepEqual(got, ['kept', 'reopened']);
  tunnel.close();
}));

test('a once listener that throws is reported and still removed; a non-function is ignored as by on()', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
  await wafer.login();
  const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
  let calls = 0;
  tunnel.once('speak', () => {
    calls += 1;
    throw new Error('listener bug');
  });
  tunnel.once('speak', 'not a function');
  const seen = [];
  tunnel.on('speak', (n) => seen.push(n));
  const events = recordEvents(tunnel);
  tunnel.open();
  await waitFor(() => events.count('connect') === 1);
  tunnel.emit('speak', 1);
  tunnel.emit('speak', 2);
  await waitFor(() => seen.length === 2);
  assert.equal(calls, 1);
  assert.ok(sim.logs.some((l) => l.level === 'error' && String(l.args[0]).includes('tunnel listener')));
  tunnel.close();
}));
