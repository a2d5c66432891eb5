'use strict';
// End to end: demo pages + packed SDK (protocol 'auto') + the local stack's Wafer 2 business server.
require('./suite').defineSuite({ dialect: 'wafer2', protocol: 'auto' });
