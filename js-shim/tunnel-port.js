'use strict';
/**
 * A tunnel's port: its JavaScript half, where its listeners live and its messages are
 * parsed, dispatched and encoded (docs/ARCHITECTURE.md, "The tunnel's hot paths").
 *
 * The rules stay in the wasm: its tunnel state machine keeps this port's gate in step with
 * itself (src/runtime/frames.rs). Through the gate, the port delivers a socket's data
 * frames itself only while the core would deliver them and do nothing else (the current
 * socket of an ACTIVE tunnel, a frame no longer than `maxFrameSize`, no debug logging),
 * and sends an `emit` at once only while the core would (ACTIVE with nothing queued).
 * Everything else goes to the wasm: control frames, any frame or emit while the gate is
 * shut, a send that failed. The wasm hands the `message` packets it takes in back here to
 * be delivered, and the tunnel's events to be dispatched.
 */

const { SOCKET_MESSAGE } = require('./platform/socket-events');
const { Listeners } = require('./listeners');

/** A data frame is `message:` + `JSON.stringify({ type, content })` (src/sansio/packet.rs). */
const MESSAGE_PREFIX = 'message:';
const CONTENT_AT = MESSAGE_PREFIX.length;

/** The tunnel's own event names: a server message of one of these types arrives as `@type`
 * (as in both official clients). */
const RESERVED = ['connect', 'close', 'reconnecting', 'reconnect', 'error'];

/** What deliver() did (src/runtime/frames.rs, `dropped_reason`, logs why it dropped one). */
const DELIVERED = 0;
const NOT_AN_OBJECT = 1;
const WITHOUT_TYPE = 2;

class TunnelPort {
  /**
   * @param {(context: string, error: *) => void} report where a listener's exception goes
   */
  constructor(report) {
    this.listeners = new Listeners(report);
    // The gate, set by the wasm (attach, gate): -1 and null while shut.
    this.deliverGen = -1;
    this.maxFrame = 0;
    this.sendGen = -1;
    this.socket = null;
    /** The wasm's socket sink, for every event the port does not handle itself. */
    this.core = null;
    // The frame starts of the last message type emitted (a chat repeats a few types).
    this.type = undefined;
    this.withContent = '';
    this.bare = '';
    const port = this;
    /** What the platform's sockets report to, as `sink(gen, kind, data)`. */
    this.sink = function sink(gen, kind, data) {
      if (kind === SOCKET_MESSAGE && gen === port.deliverGen) {
        const len = data.length;
        if (len > CONTENT_AT && len <= port.maxFrame && data.startsWith(MESSAGE_PREFIX)) {
          port.deliver(data, CONTENT_AT);
          return;
        }
      }
      port.core(gen, kind, data);
    };
  }

  /** A new wasm side: its socket sink, and the gate shut until it opens it. */
  attach(core) {
    this.core = core;
    this.gate(-1, 0, -1, null);
  }

  /** Set by the wasm whenever what its core allows changes (see the file comment). */
  gate(deliverGen, maxFrame, sendGen, socket) {
    this.deliverGen = deliverGen;
    this.maxFrame = maxFrame;
    this.sendGen = sendGen;
    this.socket = socket;
  }

  /**
   * Parse the `message` packet whose content starts at `at` in `frame` and dispatch it:
   * to the listeners of its type (`@type` for a reserved one) and `*`. Dropped when it is
   * not a JSON object or has no non-empty string `type`. Returns DELIVERED or why not.
   */
  deliver(frame, at) {
    let message;
    try {
      message = JSON.parse(frame.slice(at));
    } catch (e) {
      return NOT_AN_OBJECT;
    }
    if (typeof message !== 'object' || message === null) return NOT_AN_OBJECT;
    const type = message.type;
    if (typeof type !== 'string' || type === '') return WITHOUT_TYPE;
    this.listeners.dispatch(RESERVED.indexOf(type) < 0 ? type : '@' + type, message.content);
    return DELIVERED;
  }

  /** An event of the tunnel itself (`connect`, `error`, ...), from the wasm. */
  dispatch(name, payload) {
    this.listeners.dispatch(name, payload);
  }

  /**
   * The frame `'message:' + JSON.stringify({ type, content })` gives, built from the
   * type's cached start; undefined when it cannot be encoded (a type that is not a string,
   * content that JSON.stringify throws on). Content that encodes to nothing (`undefined`,
   * a function) gives the frame without it, as that expression does.
   */
  encode(type, content) {
    if (typeof type !== 'string') return undefined;
    let json;
    try {
      json = JSON.stringify(content);
    } catch (e) {
      return undefined;
    }
    // After stringify: a toJSON may have emitted (and cached) another type meanwhile.
    if (type !== this.type) {
      const head = MESSAGE_PREFIX + '{"type":' + JSON.stringify(type);
      this.type = type;
      this.withContent = head + ',"content":';
      this.bare = head + '}';
    }
    return json === undefined ? this.bare : this.withContent + json + '}';
  }

  /** `emit(type, content)` on the wasm side `handle`: sent here while the gate allows it,
   * otherwise handed to the wasm (queued, refused, or sent by it). */
  emit(handle, type, content) {
    const frame = this.encode(type, content);
    // Read after encode: a toJSON may have closed the tunnel.
    const socket = this.socket;
    if (socket !== null && frame !== undefined) {
      if (socket.send(frame)) return true;
      return handle.sendFailed(this.sendGen, frame);
    }
    return handle.emit(frame);
  }
}

module.exports = { TunnelPort };
