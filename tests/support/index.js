'use strict';
// Loopback test peers for the SDK: see tests/support/README.md.

const { startServer, MAGIC } = require('./servers');
const { waitFor, delay } = require('./wait');

module.exports = { startServer, waitFor, delay, MAGIC };
