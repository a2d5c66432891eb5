'use strict';
// End to end: demo pages + packed SDK (protocol 'wafer2') + the local stack's Wafer 2 business server.
require('./suite').defineSuite({ dialect: 'wafer2', protocol: 'wafer2' });
