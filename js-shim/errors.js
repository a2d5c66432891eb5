'use strict';
/**
 * The error classes and constants of both official clients (wafer-client-sdk 0.8,
 * wafer2-client-sdk 2.1), plus the few this SDK adds. Every error the SDK produces is a
 * LoginError or a RequestError with a `type`.
 */

/** @param {string} name */
function defineErrorClass(name) {
  class SdkError extends Error {
    /**
     * @param {string} type one of the ERR_* constants
     * @param {string} message
     * @param {*} [detail] the server's or platform's own error text, when there is one
     */
    constructor(type, message, detail) {
      super(message);
      this.name = name;
      this.type = type;
      this.message = message;
      if (detail !== undefined && detail !== null) this.detail = detail;
    }
  }
  Object.defineProperty(SdkError, 'name', { value: name });
  return SdkError;
}

const LoginError = defineErrorClass('LoginError');
const RequestError = defineErrorClass('RequestError');

const ERRORS = {
  ERR_INVALID_PARAMS: 'ERR_INVALID_PARAMS',
  ERR_WX_LOGIN_FAILED: 'ERR_WX_LOGIN_FAILED',
  ERR_WX_GET_USER_INFO: 'ERR_WX_GET_USER_INFO',
  ERR_LOGIN_TIMEOUT: 'ERR_LOGIN_TIMEOUT',
  ERR_LOGIN_FAILED: 'ERR_LOGIN_FAILED',
  ERR_LOGIN_SESSION_NOT_RECEIVED: 'ERR_LOGIN_MISSING_SESSION',
  ERR_INVALID_SESSION: 'ERR_INVALID_SESSION',
  ERR_SESSION_INVALID: 'ERR_SESSION_INVALID',
  ERR_CHECK_LOGIN_FAILED: 'ERR_CHECK_LOGIN_FAILED',
  // Added by wafer-wasm.
  ERR_REQUEST_FAILED: 'ERR_REQUEST_FAILED',
  ERR_REQUEST_TIMEOUT: 'ERR_REQUEST_TIMEOUT',
  ERR_REQUEST_ABORTED: 'ERR_REQUEST_ABORTED',
  ERR_INIT_FAILED: 'ERR_INIT_FAILED',
};

/** Tunnel status values and `error` event codes (statics of `Tunnel`). */
const TUNNEL = {
  STATUS_CLOSED: 'CLOSED',
  STATUS_CONNECTING: 'CONNECTING',
  STATUS_ACTIVE: 'ACTIVE',
  STATUS_RECONNECTING: 'RECONNECTING',
  ERR_CONNECT_SERVICE: 1001,
  ERR_CONNECT_SOCKET: 1002,
  ERR_RECONNECT: 2001,
  ERR_SOCKET_ERROR: 3001,
  ERR_QUEUE_OVERFLOW: 4001,
  ERR_INVALID_MESSAGE: 4002,
};

/**
 * Build an error of the named class (the wasm runtime calls this).
 * @param {'LoginError'|'RequestError'} kind
 */
function createError(kind, type, message, detail) {
  const Class = kind === 'LoginError' ? LoginError : RequestError;
  return new Class(type, message, detail);
}

/**
 * The error of an aborted call (the core's `SdkError::aborted`), with wx's own `errMsg`
 * (`request:fail abort`) as its `errMsg` and `detail`.
 * @param {string} api 'request', 'uploadFile' or 'downloadFile'
 */
function abortError(api) {
  const errMsg = api + ':fail abort';
  const error = new RequestError(ERRORS.ERR_REQUEST_ABORTED, '请求已中止', errMsg);
  error.errMsg = errMsg;
  return error;
}

module.exports = { LoginError, RequestError, ERRORS, TUNNEL, createError, abortError };
