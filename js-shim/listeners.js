'use strict';
/**
 * A tunnel's listeners, as both official clients have them: `on(type, listener)`,
 * `off(type?, listener?)`, and an event dispatched to the listeners of its type and the
 * `*` ones (which get the type first), in registration order.
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
    /** `[type, listener, type, listener, ...]` in registration order; never mutated. */
    this.list = [];
    this._report = report;
  }

  /** A string type and a function, or nothing happens (false). */
  on(type, listener) {
    if (typeof type !== 'string' || typeof listener !== 'function') return false;
    this.list = this.list.concat([type, listener]);
    return true;
  }

  /**
   * Remove the listeners of `type` (every type when it is `undefined` or `null`) that are
   * `listener` (all of them when it is `undefined` or `null`); a type that is not a string
   * or a listener that is not a function matches nothing. Returns how many were removed.
   */
  off(type, listener) {
    const anyType = type === undefined || type === null;
    const anyListener = listener === undefined || listener === null;
    if ((!anyType && typeof type !== 'string') || (!anyListener && typeof listener !== 'function')) return 0;
    const list = this.list;
    const kept = [];
    for (let i = 0; i < list.length; i += 2) {
      if (!((anyType || list[i] === type) && (anyListener || list[i + 1] === listener))) kept.push(list[i], list[i + 1]);
    }
    const removed = (list.length - kept.length) / 2;
    if (removed) this.list = kept;
    return removed;
  }

  /** Call the listeners of `name` with `payload`, and the `*` ones with `(name, payload)`,
   * each behind `try`: an exception is reported, and the next listener still runs. */
  dispatch(name, payload) {
    const list = this.list;
    for (let i = 0; i < list.length; i += 2) {
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
