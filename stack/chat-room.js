'use strict';

// The chat-room tunnel handler of the official Wafer demos (wafer-node-server-demo
// business/chat-tunnel-handler.js and the wafer2 quickstart controllers/tunnel.js),
// written against an injected transport so both business servers share it.
//
//   onRequest(tunnelId, userInfo)  remember userMap[tunnelId] = userInfo
//   onConnect(tunnelId)            known → connected, broadcast people { total, enter }; unknown → close it
//   onMessage(tunnelId, type, c)   'speak' → broadcast speak { who, word: c.word }; unknown tunnel → close it
//   onClose(tunnelId)              forget it, broadcast people { total, leave } while anyone is left
//   every broadcast forgets the invalidTunnelIds the tunnel server answers.
//
// Each call is emitted on `hooks` after the handler ran: 'onRequest' { tunnelId, userInfo },
// 'onConnect' { tunnelId }, 'onMessage' { tunnelId, type, content }, 'onClose' { tunnelId },
// and 'broadcast' { type, content, tunnelIds, invalidTunnelIds } when a broadcast completes
// (or 'broadcastError' { type, content, error }).

/**
 * transport: { broadcast(tunnelIds, type, content) → Promise<pushResponseBody>, close(tunnelId) → Promise }
 */
function createChatRoom(transport, hooks) {
  const userMap = {};
  const connectedTunnelIds = [];
  const invalidTunnelIdsSeen = [];

  const forget = (tunnelId) => {
    delete userMap[tunnelId];
    const index = connectedTunnelIds.indexOf(tunnelId);
    if (index >= 0) connectedTunnelIds.splice(index, 1);
  };

  const $broadcast = (type, content) => {
    const tunnelIds = connectedTunnelIds.slice();
    return Promise.resolve()
      .then(() => transport.broadcast(tunnelIds, type, content))
      .then((result) => {
        const invalidTunnelIds = (result && result.data && result.data.invalidTunnelIds) || [];
        invalidTunnelIds.forEach((tunnelId) => {
          invalidTunnelIdsSeen.push(tunnelId);
          forget(tunnelId);
        });
        hooks.emit('broadcast', { type, content, tunnelIds, invalidTunnelIds });
      }, (error) => {
        hooks.emit('broadcastError', { type, content, tunnelIds, error });
      });
  };

  const $close = (tunnelId) => Promise.resolve()
    .then(() => transport.close(tunnelId))
    .catch((error) => hooks.emit('closeError', { tunnelId, error }));

  const handler = {
    onRequest(tunnelId, userInfo) {
      if (userInfo && typeof userInfo === 'object') userMap[tunnelId] = userInfo;
      hooks.emit('onRequest', { tunnelId, userInfo });
    },

    onConnect(tunnelId) {
      if (tunnelId in userMap) {
        if (!connectedTunnelIds.includes(tunnelId)) connectedTunnelIds.push(tunnelId);
        $broadcast('people', { total: connectedTunnelIds.length, enter: userMap[tunnelId] });
      } else {
        $close(tunnelId);
      }
      hooks.emit('onConnect', { tunnelId });
    },

    onMessage(tunnelId, type, content) {
      if (type === 'speak') {
        if (tunnelId in userMap) {
          $broadcast('speak', { who: userMap[tunnelId], word: content && content.word });
        } else {
          $close(tunnelId);
        }
      }
      hooks.emit('onMessage', { tunnelId, type, content });
    },

    onClose(tunnelId) {
      if (!(tunnelId in userMap)) {
        $close(tunnelId);
      } else {
        const leaveUser = userMap[tunnelId];
        forget(tunnelId);
        if (connectedTunnelIds.length > 0) {
          $broadcast('people', { total: connectedTunnelIds.length, leave: leaveUser });
        }
      }
      hooks.emit('onClose', { tunnelId });
    },
  };

  return {
    handler,
    userMap,
    connectedTunnelIds,
    invalidTunnelIdsSeen,
    broadcast: $broadcast,
    close: $close,
  };
}

/** Every event the room emits on `hooks`. */
const CHAT_EVENTS = ['onRequest', 'onConnect', 'onMessage', 'onClose', 'broadcast', 'broadcastError', 'closeError'];

module.exports = { createChatRoom, CHAT_EVENTS };
