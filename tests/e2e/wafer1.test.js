'use strict';
// End to end: demo pages + packed SDK (protocol 'wafer1') + the local stack's Wafer 1 business server (the official qcloud-weapp-server-sdk).
require('./suite').defineSuite({ dialect: 'wafer1', protocol: 'wafer1' });
