// Type definitions for wafer-wasm: Wafer sessions and tunnels for WeChat mini-programs.

/** The user profile a login returns (`wx.getUserInfo`'s `userInfo` in Wafer 1, the server's `userinfo` in Wafer 2). */
export type UserInfo = Record<string, any>;

/** `wx.request`'s success result, handed over as is. */
export interface RequestResult<T = any> {
  statusCode: number;
  data: T;
  header: Record<string, string>;
  cookies?: string[];
  errMsg: string;
}

/** `wx.uploadFile`'s success result, handed over as is (`data` is the raw response text). */
export interface UploadResult {
  statusCode: number;
  data: string;
  errMsg: string;
}

/** `wx.downloadFile`'s success result, handed over as is (any status: check `statusCode`). */
export interface DownloadResult {
  /** Where the body went, unless `filePath` was given. */
  tempFilePath?: string;
  /** The `filePath` given. */
  filePath?: string;
  statusCode: number;
  errMsg: string;
  [wxResult: string]: any;
}

/** `UploadTask.onProgressUpdate`'s event. */
export interface UploadProgress {
  progress: number;
  totalBytesSent: number;
  totalBytesExpectedToSend: number;
}

/** `DownloadTask.onProgressUpdate`'s event. */
export interface DownloadProgress {
  progress: number;
  totalBytesWritten: number;
  totalBytesExpectedToWrite: number;
}

export type ErrorType =
  | 'ERR_INVALID_PARAMS'
  | 'ERR_WX_LOGIN_FAILED'
  | 'ERR_WX_GET_USER_INFO'
  | 'ERR_LOGIN_TIMEOUT'
  | 'ERR_LOGIN_FAILED'
  | 'ERR_LOGIN_MISSING_SESSION'
  | 'ERR_INVALID_SESSION'
  | 'ERR_SESSION_INVALID'
  | 'ERR_CHECK_LOGIN_FAILED'
  | 'ERR_REQUEST_FAILED'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_REQUEST_ABORTED'
  | 'ERR_INIT_FAILED';

/** An error during login (`wx.login`, `wx.getUserInfo`, or the login request). */
export class LoginError extends Error {
  constructor(type: ErrorType | string, message: string, detail?: unknown);
  type: ErrorType;
  /** The server's or platform's own error text, when there was one. */
  detail?: unknown;
}

/** An error of a request (`request`, `uploadFile`, `downloadFile`, the tunnel handshake) or a bad argument. */
export class RequestError extends Error {
  constructor(type: ErrorType | string, message: string, detail?: unknown);
  type: ErrorType;
  detail?: unknown;
  /** wx's own text for an aborted call (`type` ERR_REQUEST_ABORTED): `'request:fail abort'` & co. */
  errMsg?: string;
}

/** Callback-style options: give `success` or `fail` for callbacks; otherwise a promise is returned. */
export interface Callbacks<T> {
  success?: (result: T) => void;
  fail?: (error: LoginError | RequestError) => void;
  /** Runs after `success` or `fail`, in both styles. */
  complete?: (resultOrError: T | LoginError | RequestError) => void;
}

export interface LoginOptions extends Callbacks<UserInfo> {
  /** Overrides `setLoginUrl()` / `configure({ loginUrl })` for this call. */
  loginUrl?: string;
  /** HTTP method of the login request (default `GET`). */
  method?: string;
  data?: any;
  /** Passed to `wx.getUserInfo` (`'en'`, `'zh_CN'`, `'zh_TW'`). */
  lang?: string;
}

/** What a `<button open-type="getUserInfo">` handler got: `wx.login`'s code and `e.detail`. */
export interface LoginParams {
  code: string;
  encryptedData?: string;
  iv?: string;
  /** Stored as the profile of a Wafer 1 session. */
  userInfo?: UserInfo;
}

export interface RequestLoginOptions extends Callbacks<UserInfo> {
  loginParams: LoginParams;
  loginUrl?: string;
  method?: string;
  data?: any;
}

export interface RequestOptions<T = any> extends Callbacks<RequestResult<T>> {
  url: string;
  /** Log in first when there is no valid session (one login for a burst of calls). */
  login?: boolean;
  data?: any;
  header?: Record<string, string>;
  method?: string;
  dataType?: string;
  responseType?: string;
  /** Milliseconds; defaults to `configure({ requestTimeout })`. */
  timeout?: number;
  [wxRequestOption: string]: any;
}

export interface UploadFileOptions extends Callbacks<UploadResult> {
  url: string;
  filePath: string;
  name: string;
  header?: Record<string, string>;
  formData?: Record<string, any>;
  timeout?: number;
  /** Also `task.onProgressUpdate(listener)`, as on wx's UploadTask. */
  onProgressUpdate?: (event: UploadProgress) => void;
  [wxUploadOption: string]: any;
}

export interface DownloadFileOptions extends Callbacks<DownloadResult> {
  url: string;
  /** Where to save the body (else a temp file: `tempFilePath`). */
  filePath?: string;
  header?: Record<string, string>;
  timeout?: number;
  /** Also `task.onProgressUpdate(listener)`, as on wx's DownloadTask. */
  onProgressUpdate?: (event: DownloadProgress) => void;
  [wxDownloadOption: string]: any;
}

/**
 * What `request` returns in callback style (and adds to its promise): like wx's
 * RequestTask, `abort()` fails the call at once with RequestError ERR_REQUEST_ABORTED
 * (`errMsg` `'request:fail abort'`), also during the automatic re-login, whose retry it
 * cancels. Nothing happens once the call is over.
 */
export interface RequestTask {
  abort(): void;
}

/** `uploadFile` / `downloadFile`'s task: `abort()`, and progress listeners that last across the retry. */
export interface TransferTask<P> extends RequestTask {
  onProgressUpdate(listener: (event: P) => void): void;
  offProgressUpdate(listener: (event: P) => void): void;
}
export type UploadTask = TransferTask<UploadProgress>;
export type DownloadTask = TransferTask<DownloadProgress>;

/** What a `request()` interceptor gets (Taro's `chain`). */
export interface Chain {
  /** The options of the call (or of the outer interceptor's `proceed`), as given: relative URL, own headers. */
  requestParams: RequestOptions;
  /** Run the next interceptor, or the request itself (with its re-login and retry). */
  proceed(requestParams: RequestOptions): Promise<any>;
}

/** An interceptor: returns what the call resolves with (usually `chain.proceed(...)` and what follows it). */
export type Interceptor = (chain: Chain) => any;

/** A structured debug record (never a skey, a code or message content). */
export interface LogRecord {
  scope: 'session' | 'request' | 'tunnel';
  event: string;
  [field: string]: unknown;
}

export interface TunnelOptions {
  /** First back-off ceiling in ms (default 1000); doubles per attempt, full jitter. */
  reconnectBaseDelay?: number;
  /** Largest back-off in ms (default 30000). */
  reconnectMaxDelay?: number;
  /** Give up after this many attempts per outage (default: retry until closed; `Infinity` also means that). */
  maxReconnectAttempts?: number;
  /** Heartbeat interval in ms (default 15000; the server may change it with `timeout:`). */
  heartbeatInterval?: number;
  /** Messages kept while not ACTIVE (default 1000); beyond it `emit` fails with ERR_QUEUE_OVERFLOW. */
  queueLimit?: number;
  /** Inbound frames longer than this (UTF-16 code units, default 1 MiB) are dropped. */
  maxFrameSize?: number;
}

export interface ConfigureOptions extends TunnelOptions {
  /** `auto` (default) picks by the login response and remembers it. */
  protocol?: 'auto' | 'wafer1' | 'wafer2';
  loginUrl?: string;
  /**
   * What relative `request` / `uploadFile` / `downloadFile` URLs are joined to, with one
   * `/` between (`'https://x/api'` + `'/user'`); `''` removes it. Not the login or tunnel URLs.
   */
  baseUrl?: string;
  /** Default headers of `request` / `uploadFile` / `downloadFile`: a call's own win, the session's win over both; `null` removes them. */
  header?: Record<string, string> | null;
  /** Default `timeout` of requests in ms (else the platform's). */
  requestTimeout?: number;
  /** Log records to the console. */
  debug?: boolean;
  /** Receives structured debug records; `null` removes it. */
  logger?: ((record: LogRecord) => void) | null;
}

export interface InitOptions {
  /** Path of the wasm file inside the code package (mini-program) or on disk (Node). */
  wasmPath?: string;
  /**
   * Node / web only: replace parts of the platform adapter (e.g. `login`). What they
   * return or resolve with must be plain data, as `wx` gives (answers and storage are read
   * as JSON data).
   */
  platform?: Record<string, unknown>;
}

/** Load the wasm now; optional, every call loads it on first use. */
export function init(options?: InitOptions): Promise<void>;
/**
 * Applied at once when the wasm is ready, else as soon as it is (before any call made
 * later). Never throws: the promise resolves once applied, or rejects with
 * RequestError(ERR_INVALID_PARAMS) for a bad value (nothing changes) or
 * RequestError(ERR_INIT_FAILED) when the wasm cannot load.
 */
export function configure(options: ConfigureOptions): Promise<void>;
/** Like `configure({ loginUrl })`, but rejects with LoginError(ERR_INVALID_PARAMS) unless `url` is a non-empty string. */
export function setLoginUrl(url: string): Promise<void>;

export function login(options: LoginOptions & ({ success: Function } | { fail: Function })): void;
export function login(options?: LoginOptions): Promise<UserInfo>;
export function loginWithCode(options: LoginOptions & ({ success: Function } | { fail: Function })): void;
export function loginWithCode(options?: LoginOptions): Promise<UserInfo>;
/** Log in with credentials the page got itself (wafer2-client-sdk README); resolves with the user info. */
export function requestLogin(options: RequestLoginOptions & ({ success: Function } | { fail: Function })): void;
export function requestLogin(options: RequestLoginOptions): Promise<UserInfo>;

/**
 * Throws RequestError(ERR_INVALID_PARAMS) when `options` is not an object. Callback style
 * returns the task, promise style a promise with the task's `abort()` (as Taro.request).
 */
export function request<T = any>(options: RequestOptions<T> & ({ success: Function } | { fail: Function })): RequestTask;
export function request<T = any>(options: RequestOptions<T>): Promise<RequestResult<T>> & RequestTask;
export function uploadFile(options: UploadFileOptions & ({ success: Function } | { fail: Function })): UploadTask;
export function uploadFile(options: UploadFileOptions): Promise<UploadResult> & UploadTask;
/**
 * `wx.downloadFile` with the session headers and the same re-login and retry once. A
 * download's body is a file, so a session failure is seen by its status only (HTTP 401,
 * as Wafer 2 servers may answer); a failure body with status 200 is delivered as the file.
 */
export function downloadFile(options: DownloadFileOptions & ({ success: Function } | { fail: Function })): DownloadTask;
export function downloadFile(options: DownloadFileOptions): Promise<DownloadResult> & DownloadTask;

/**
 * Taro's `addInterceptor`: `interceptor(chain)` runs around every `request()` (not
 * `uploadFile` / `downloadFile`, nor the SDK's own login request), the first added
 * outermost, once per call: the re-login and retry happen inside `chain.proceed`.
 * Throws RequestError(ERR_INVALID_PARAMS) unless given a function.
 */
export function addInterceptor(interceptor: Interceptor): void;
/** Remove every interceptor. */
export function cleanInterceptors(): void;

/**
 * Whether a login can be skipped: a session the requests would carry is stored and
 * `wx.checkSession` still vouches for it. Never rejects.
 */
export function hasSession(options: Callbacks<boolean> & ({ success: Function } | { fail: Function })): void;
export function hasSession(options?: Callbacks<boolean>): Promise<boolean>;
/**
 * `listener(session)` after each change of the stored session, `null` after a clear,
 * whoever made it (this SDK, another copy, `wx.clearStorageSync()`, a direct write: seen on
 * the next use); called asynchronously. Returns the function that removes it.
 */
export function onSessionChange(listener: (session: any | null) => void): () => void;
export function offSessionChange(listener: (session: any | null) => void): void;

export function clearSession(): void;
/** The stored session, read from storage on every call (synchronous, also before the wasm is ready). */
export const Session: {
  /** The stored session as the official clients store it, or null. */
  get(): any;
  set(session: any): void;
  clear(): void;
};
/**
 * `{ 'X-WX-Id', 'X-WX-Skey' }` (Wafer 1), `{ 'X-WX-Skey' }` (Wafer 2), or `{}`: from storage,
 * synchronously, also before the wasm is ready (then by the stored session's shape).
 */
export function buildSessionHeader(): Record<string, string>;

export type TunnelStatus = 'CLOSED' | 'CONNECTING' | 'ACTIVE' | 'RECONNECTING';

export interface TunnelError {
  /** `Tunnel.ERR_CONNECT_SERVICE` 1001, `ERR_SOCKET_ERROR` 3001, `ERR_RECONNECT` 2001, or ours from 4001. */
  code: number;
  message: string;
  /**
   * What the failure came with, as in wafer-client-sdk 0.8: the platform's own result
   * (`{ errMsg }` of a failed request or socket, `{ code, reason }` of a closed socket), the
   * handshake's `wx.request` result when it held no socket URL, or the SDK's LoginError /
   * RequestError when the handshake's login or session failed; null when there is none.
   */
  detail: unknown;
}

export class Tunnel {
  constructor(serviceUrl: string, options?: TunnelOptions);
  readonly serviceUrl: string;
  readonly socketUrl: string | null;
  readonly status: TunnelStatus;

  on(event: 'connect' | 'close' | 'reconnecting' | 'reconnect', listener: () => void): this;
  on(event: 'error', listener: (error: TunnelError) => void): this;
  on(event: '*', listener: (type: string, payload: any) => void): this;
  /** A server message type; one named like a built-in event arrives as `@type`. */
  on(event: string, listener: (content: any) => void): this;
  /**
   * Remove `listener` from `event`; every listener of `event` without one; every listener
   * of every type without arguments (`null` also means "any"). A non-string event or a
   * non-function listener removes nothing.
   */
  off(event?: string | null, listener?: Function | null): this;
  /** Like `on`, for the next such event only; `off(event, listener)` removes it before it fires. */
  once(event: 'connect' | 'close' | 'reconnecting' | 'reconnect', listener: () => void): this;
  once(event: 'error', listener: (error: TunnelError) => void): this;
  once(event: '*', listener: (type: string, payload: any) => void): this;
  once(event: string, listener: (content: any) => void): this;
  open(): void;
  close(): void;
  /**
   * Queue `{ type, content }`; false when rejected (the `error` event says why). Before the
   * wasm is ready, a message beyond the tunnel's `queueLimit` (default 1000) is refused at once.
   */
  emit(type: string, content?: any): boolean;
  isClosed(): boolean;
  isConnecting(): boolean;
  isActive(): boolean;
  isReconnecting(): boolean;

  static STATUS_CLOSED: 'CLOSED';
  static STATUS_CONNECTING: 'CONNECTING';
  static STATUS_ACTIVE: 'ACTIVE';
  static STATUS_RECONNECTING: 'RECONNECTING';
  static ERR_CONNECT_SERVICE: 1001;
  /** Defined by wafer-client-sdk 0.8 but never emitted (nor by this package). */
  static ERR_CONNECT_SOCKET: 1002;
  static ERR_RECONNECT: 2001;
  static ERR_SOCKET_ERROR: 3001;
  static ERR_QUEUE_OVERFLOW: 4001;
  static ERR_INVALID_MESSAGE: 4002;
  /** Legacy knob: maps to maxReconnectAttempts (below Tunnel options and configure()). */
  static MAX_RECONNECT_TRY_TIMES?: number;
  /** Legacy knob: maps to reconnectBaseDelay (below Tunnel options and configure()). */
  static RECONNECT_TIME_INCREASE?: number;
}

export const ERR_INVALID_PARAMS: 'ERR_INVALID_PARAMS';
export const ERR_WX_LOGIN_FAILED: 'ERR_WX_LOGIN_FAILED';
export const ERR_WX_GET_USER_INFO: 'ERR_WX_GET_USER_INFO';
export const ERR_LOGIN_TIMEOUT: 'ERR_LOGIN_TIMEOUT';
export const ERR_LOGIN_FAILED: 'ERR_LOGIN_FAILED';
export const ERR_LOGIN_SESSION_NOT_RECEIVED: 'ERR_LOGIN_MISSING_SESSION';
export const ERR_INVALID_SESSION: 'ERR_INVALID_SESSION';
export const ERR_SESSION_INVALID: 'ERR_SESSION_INVALID';
export const ERR_CHECK_LOGIN_FAILED: 'ERR_CHECK_LOGIN_FAILED';
export const ERR_REQUEST_FAILED: 'ERR_REQUEST_FAILED';
export const ERR_REQUEST_TIMEOUT: 'ERR_REQUEST_TIMEOUT';
export const ERR_REQUEST_ABORTED: 'ERR_REQUEST_ABORTED';
export const ERR_INIT_FAILED: 'ERR_INIT_FAILED';

/** Every export above as one object: `import wafer from 'wafer-wasm'`. */
declare const wafer: typeof import('./index.js');
export default wafer;
