'use strict';

// The Wafer 2 business server as the quickstart (wafer2-quickstart server/) builds it: Koa,
// its response middleware (every throw becomes HTTP 200 { code: -1, error }, an empty body
// becomes { code, data } from ctx.state), koa-bodyparser, and koa-router routes under a
// prefix ('/weapp' in the quickstart) on the unmodified wafer-node-sdk:
//
//   GET  /login   auth.authorizationMiddleware → { code: 0, data: { userinfo, skey, time } }
//   GET  /user    auth.validationMiddleware    → { code: 0, data: userinfo } | { code: -1, data: {} }
//   GET  /tunnel  tunnel.getTunnelUrl          → { code: 0, data: { tunnelId, connectUrl } }
//   POST /tunnel  tunnel.onTunnelMessage       ← the tunnel server's reports, to the chat room
//   POST /upload  auth.validationMiddleware, then the multipart fields and files are echoed
//                 (the quickstart's upload goes on to Tencent COS, which a local stack has not)
//
// Any other path answers { code: 0, data: {} }, as the quickstart does.

const Koa = require('koa');
const Router = require('koa-router');
const bodyParser = require('koa-bodyparser');
const { createChatRoom } = require('../chat-room');
const { parseUpload } = require('../util');

// middlewares/response.js of the quickstart.
async function response(ctx, next) {
  try {
    await next();
    ctx.body = ctx.body ? ctx.body : {
      code: ctx.state.code !== undefined ? ctx.state.code : 0,
      data: ctx.state.data !== undefined ? ctx.state.data : {},
    };
  } catch (e) {
    ctx.status = 200;
    ctx.body = { code: -1, error: e && e.message ? e.message : e.toString() };
  }
}

// controllers/login.js
async function login(ctx) {
  if (ctx.state.$wxInfo.loginState) {
    ctx.state.data = ctx.state.$wxInfo.userinfo;
    ctx.state.data.time = Math.floor(Date.now() / 1000);
  }
}

// controllers/user.js
async function user(ctx) {
  if (ctx.state.$wxInfo.loginState === 1) ctx.state.data = ctx.state.$wxInfo.userinfo;
  else ctx.state.code = -1;
}

async function upload(ctx) {
  if (ctx.state.$wxInfo.loginState !== 1) {
    ctx.req.resume();
    ctx.state.code = -1;
    return;
  }
  ctx.state.data = await parseUpload(ctx.req);
}

/**
 * qcloud: what `require('wafer-node-sdk')(config)` returned. hooks: an EventEmitter for the
 * chat room's events (see chat-room.js). → { app, chat }
 */
function createApp(qcloud, { prefix, hooks }) {
  const { auth: { authorizationMiddleware, validationMiddleware }, tunnel } = qcloud;

  // controllers/tunnel.js: the chat room, over the SDK's own tunnel service.
  const chat = createChatRoom({
    broadcast: (tunnelIds, type, content) => tunnel.broadcast(tunnelIds, type, content),
    close: (tunnelId) => tunnel.closeTunnel(tunnelId),
  }, hooks);

  const router = new Router({ prefix });
  router.get('/login', authorizationMiddleware, login);
  router.get('/user', validationMiddleware, user);
  router.get('/tunnel', async (ctx) => {
    const data = await tunnel.getTunnelUrl(ctx.req);
    chat.handler.onRequest(data.tunnel.tunnelId, data.userinfo);
    ctx.state.data = data.tunnel;
  });
  router.post('/tunnel', async (ctx) => {
    const packet = await tunnel.onTunnelMessage(ctx.request.body);
    switch (packet.type) {
      case 'connect': chat.handler.onConnect(packet.tunnelId); break;
      case 'message': chat.handler.onMessage(packet.tunnelId, packet.content.messageType, packet.content.messageContent); break;
      case 'close': chat.handler.onClose(packet.tunnelId); break;
      default: break;
    }
  });
  router.post('/upload', validationMiddleware, upload);

  const app = new Koa();
  app.use(response);
  app.use(bodyParser());
  app.use(router.routes());
  return { app, chat };
}

module.exports = { createApp };
