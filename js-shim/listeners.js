'use strict';
/**
 * A tunnel's listeners, as both official clients have them: `on(type, listener)`,
 * `once(type, listener)`, `off(type?, listener?)`, and an event dispatched to the listeners
 * of its type and the `*` ones (which get the type first), in registration order.
 *
 * The list is replaced, never changed in place: a dispatch runs over the list as it was
 * when the event arrived, so a listener may add or remove listeners (they count from the
 * next event) and no event pays for a copy.
 */

const WILDCARD = '*';

class Listeners {
  /**
   * @param {(context: string, error: *) => void} report where a listener's exception goes
   */
  constructor(report) {
    /**
     * `[type, call, listener, ...]` in registration order; never mutated. `call` is what a
     * dispatch calls: the listener itself, or for a `once` listener a wrapper that removes
     * itself first; `off` matches on `listener`.
     */
    this.list = [];
    this._report = report;
  }

  /** A string type and a function, or nothing happens. */
  on(type, listener) {
    if (typeof type !== 'string' || typeof listener !== 'function') return;
    this.list = this.list.concat([type, listener, listener]);
  }

  /** Like `on`, for the next `type` event only (removed before it runs, so an exception
   * it throws leaves it removed too). */
  once(type, listener) {
    if (typeof type !== 'string' || typeof listener !== 'function') return;
    const self = this;
    function once() {
      self._remove(once);
      return listener.apply(this, arguments);
    }
    this.list = this.list.concat([type, once, listener]);
  }

  /**
   * Remove the listeners of `type` (every type when it is `undefined` or `null`) that are
   * `listener` (all of them when it is `undefined` or `null`), `once` listeners included; a
   * type that is not a string or a listener that is not a function matches nothing.
   */
  off(type, listener) {
    const anyType = type === undefined || type === null;
    const anyListener = listener === undefined || listener === null;
    if ((!anyType && typeof type !== 'string') || (!anyListener && typeof listener !== 'function')) return;
    this._keep((t, call, l) => !((anyType || t === type) && (anyListener || l === listener)));
  }

  /** Remove the entry whose `call` is `call` (a `once` wrapper that fires). */
  _remove(call) {
    this._keep((t, c) => c !== call);
  }

  /** Keep the entries `keep(type, call, listener)` accepts (a new list only if one goes). */
  _keep(keep) {
    const list = this.list;
    const kept = [];
    for (let i = 0; i < list.length; i += 3) {
      if (keep(list[i], list[i + 1], list[i + 2])) kept.push(list[i], list[i + 1], list[i + 2]);
    }
    if (kept.length < list.length) this.list = kept;
  }

  /** Call the listeners of `name` with `payload`, and the `*` ones with `(name, payload)`,
   * each behind `try`: an exception is reported, and the next listener still runs. */
  dispatch(name, payload) {
    const list = this.list;
    for (let i = 0; i < list.length; i += 3) {
      const type = list[i];
      if (type === WILDCARD) {
        try {
          list[i + 1](name, payload);
        } catch (e) {
          this._report('tunnel listener', e);
        }
      } else if (type === name) {
        try {
          list[i + 1](payload);
        } catch (e) {
          this._report('tunnel listener', e);
        }
      }
    }
  }
}

module.exports = { Listeners };
