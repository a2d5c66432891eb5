// A mini-program's use of every export of wafer-wasm, in callback and in promise style,
// type-checked against the packed package's index.d.ts (tests/js/typings.test.js) together
// with the official wx typings (miniprogram-api-typings). Never run: only compiled.

import wafer, {
  init, configure, setLoginUrl, login, loginWithCode, requestLogin, request, uploadFile, downloadFile, clearSession,
  Session, buildSessionHeader, hasSession, onSessionChange, offSessionChange, addInterceptor, cleanInterceptors,
  Tunnel, LoginError, RequestError,
  ERR_INVALID_PARAMS, ERR_WX_LOGIN_FAILED, ERR_WX_GET_USER_INFO, ERR_LOGIN_TIMEOUT, ERR_LOGIN_FAILED,
  ERR_LOGIN_SESSION_NOT_RECEIVED, ERR_INVALID_SESSION, ERR_SESSION_INVALID, ERR_CHECK_LOGIN_FAILED,
  ERR_REQUEST_FAILED, ERR_REQUEST_TIMEOUT, ERR_REQUEST_ABORTED, ERR_INIT_FAILED,
} from 'wafer-wasm';
import type {
  UserInfo, RequestResult, UploadResult, DownloadResult, UploadProgress, DownloadProgress, RequestTask, UploadTask,
  DownloadTask, Chain, Interceptor, ErrorType, LogRecord, TunnelError, TunnelStatus, ConfigureOptions,
} from 'wafer-wasm';
import * as namespace from 'wafer-wasm';

const HOST = 'https://example.com';

// --- the default export and the namespace are the same API --------------------------------
const viaDefault: typeof login = wafer.login;
const viaNamespace: typeof request = namespace.request;
const defaultOfNamespace: typeof wafer = namespace.default;

// --- setup ------------------------------------------------------------------------------------
const ready: Promise<void> = init();
init({ wasmPath: '/wafer-wasm/wafer_wasm_bg.wasm.br' }).then(() => undefined, (e: RequestError) => e.type);
setLoginUrl(`${HOST}/login`);
const options: ConfigureOptions = {
  protocol: 'auto',
  loginUrl: `${HOST}/login`,
  requestTimeout: 10000,
  reconnectBaseDelay: 1000,
  reconnectMaxDelay: 30000,
  maxReconnectAttempts: Infinity,
  heartbeatInterval: 15000,
  queueLimit: 100,
  maxFrameSize: 1 << 20,
  debug: false,
  logger: (record: LogRecord) => console.log(record.scope, record.event),
  baseUrl: `${HOST}/api`,
  header: { 'X-App-Version': '1.0.0' },
};
configure(options);
configure({ logger: null });
configure({ baseUrl: '', header: null });
// @ts-expect-error header values are strings
configure({ header: { n: 1 } });
// @ts-expect-error an unknown protocol
configure({ protocol: 'wafer3' });

// --- login: promise style, callback style, fire-and-forget -------------------------------------
const user: Promise<UserInfo> = login();
login({ loginUrl: `${HOST}/login`, method: 'POST' }).then((u) => u.nickName, (e: LoginError) => e.type);
const nothing: void = login({
  success(u) { console.log(u.nickName); },
  fail(e) { console.log(e.type, e.message, e.detail); },
  complete() { console.log('done'); },
});
const byCode: Promise<UserInfo> = loginWithCode();
loginWithCode({ success: (u) => u, fail: (e) => e.type });
login({ lang: 'zh_CN' });
// A profile button's own credentials (<button open-type="getUserInfo">).
const byButton: Promise<UserInfo> = requestLogin({ loginParams: { code: 'c', encryptedData: 'e', iv: 'i' } });
requestLogin({ loginParams: { code: 'c' }, success: (u) => u.nickName, fail: (e) => e.type });
// @ts-expect-error loginParams is required
requestLogin({});
configure({ protocol: 'wafer2' }).then(() => undefined, (e: RequestError) => e.type);

// --- request: promise and callback; wx.request's own options pass through ---------------------
interface Profile { code: number; data: { userInfo: UserInfo } }
const header: WechatMiniprogram.IAnyObject = { 'content-type': 'application/json' };
const res: Promise<RequestResult<Profile>> = request<Profile>({ url: `${HOST}/user`, login: true, header, method: 'POST', data: { a: 1 } });
res.then((r) => {
  const code: number = r.data.code;
  const status: number = r.statusCode;
  const h: Record<string, string> = r.header;
  return [code, status, h, r.errMsg];
});
request({
  url: `${HOST}/user`,
  timeout: 5000,
  dataType: 'json',
  responseType: 'text',
  enableHttp2: true, // any other wx.request option
  success(r) { console.log(r.statusCode, r.data); },
  fail(e) { console.log(e instanceof RequestError, e.type); },
  complete(r) { console.log(r); },
});
// Abort: the promise has the task's abort(); callback style returns the task.
const pending: Promise<RequestResult> & RequestTask = request({ url: '/user' });
pending.abort();
pending.catch((e: RequestError) => e.type === ERR_REQUEST_ABORTED && e.errMsg === 'request:fail abort');
const requestTask: RequestTask = request({ url: '/user', success: (r) => r.data, fail: (e) => e.type });
requestTask.abort();
// @ts-expect-error request needs options with a url
request();
// @ts-expect-error request needs a url
request({ login: true });

// --- uploadFile ------------------------------------------------------------------------------
wx.chooseMedia({
  count: 1,
  success(chosen: WechatMiniprogram.ChooseMediaSuccessCallbackResult) {
    const filePath = chosen.tempFiles[0].tempFilePath;
    const up: Promise<UploadResult> = uploadFile({ url: `${HOST}/upload`, filePath, name: 'file', formData: { a: '1' } });
    up.then((r) => r.data.length + r.statusCode);
    const upTask: UploadTask = uploadFile({ url: `${HOST}/upload`, filePath, name: 'file', success: (r) => r.data, fail: (e) => e.type });
    const onSent = (p: UploadProgress) => p.progress + p.totalBytesSent + p.totalBytesExpectedToSend;
    upTask.onProgressUpdate(onSent);
    upTask.offProgressUpdate(onSent);
    uploadFile({ url: '/upload', filePath, name: 'file', onProgressUpdate: (p) => p.totalBytesSent }).abort();
  },
});

// --- downloadFile ----------------------------------------------------------------------------
const down: Promise<DownloadResult> & DownloadTask = downloadFile({ url: '/report.pdf', onProgressUpdate: (p) => p.progress });
down.onProgressUpdate((p: DownloadProgress) => p.totalBytesWritten / p.totalBytesExpectedToWrite);
down.then((r) => (r.statusCode === 200 ? wx.openDocument({ filePath: r.tempFilePath || '' }) : undefined));
const downTask: DownloadTask = downloadFile({
  url: `${HOST}/report.pdf`,
  filePath: `${wx.env.USER_DATA_PATH}/report.pdf`,
  header: { Accept: 'application/pdf' },
  success(r) { console.log(r.filePath, r.statusCode); },
  fail(e) { console.log(e.type); },
});
downTask.abort();
// @ts-expect-error downloadFile needs a url
downloadFile({ filePath: 'x' });

// --- interceptors ----------------------------------------------------------------------------
const tracing: Interceptor = (chain: Chain) => {
  const params = chain.requestParams;
  console.log(params.method || 'GET', params.url);
  return chain.proceed({ ...params, header: { ...params.header, 'X-Trace': '1' } }).then((r: RequestResult) => r.data);
};
addInterceptor(tracing);
addInterceptor((chain) => chain.proceed(chain.requestParams));
cleanInterceptors();
// @ts-expect-error an interceptor is a function
addInterceptor({});

// --- session --------------------------------------------------------------------------------
const stored: unknown = Session.get();
Session.set(stored);
Session.clear();
clearSession();
const sessionHeader: Record<string, string> = buildSessionHeader();
wx.request({ url: `${HOST}/raw`, header: buildSessionHeader() });
const needsLogin: Promise<boolean> = hasSession().then((has) => !has);
hasSession({ success: (has: boolean) => console.log(has), complete: () => undefined });
const unsubscribe: () => void = onSessionChange((session) => console.log(session === null ? 'signed out' : session.skey));
unsubscribe();
const onChange = (session: unknown) => session;
onSessionChange(onChange);
offSessionChange(onChange);

// --- errors ---------------------------------------------------------------------------------
const types: ErrorType[] = [
  ERR_INVALID_PARAMS, ERR_WX_LOGIN_FAILED, ERR_WX_GET_USER_INFO, ERR_LOGIN_TIMEOUT, ERR_LOGIN_FAILED,
  ERR_LOGIN_SESSION_NOT_RECEIVED, ERR_INVALID_SESSION, ERR_SESSION_INVALID, ERR_CHECK_LOGIN_FAILED,
  ERR_REQUEST_FAILED, ERR_REQUEST_TIMEOUT, ERR_REQUEST_ABORTED, ERR_INIT_FAILED,
];
const missingSession: 'ERR_LOGIN_MISSING_SESSION' = ERR_LOGIN_SESSION_NOT_RECEIVED;
function describe(e: unknown): string {
  if (e instanceof LoginError || e instanceof RequestError) return `${e.type}: ${e.message}`;
  return String(e);
}
const made: Error = new LoginError(ERR_LOGIN_FAILED, 'failed', { errMsg: 'login:fail' });
describe(new RequestError('ERR_REQUEST_FAILED', 'failed'));

// --- tunnel ---------------------------------------------------------------------------------
Tunnel.MAX_RECONNECT_TRY_TIMES = 5;
Tunnel.RECONNECT_TIME_INCREASE = 1000;
const tunnel = new Tunnel(`${HOST}/tunnel`, { maxReconnectAttempts: 10, queueLimit: 50 });
tunnel
  .on('connect', () => tunnel.emit('speak', { word: 'hi' }))
  .on('close', () => undefined)
  .on('reconnecting', () => undefined)
  .on('reconnect', () => undefined)
  .on('error', (error: TunnelError) => {
    const code: number = error.code;
    const codes: number[] = [
      Tunnel.ERR_CONNECT_SERVICE, Tunnel.ERR_CONNECT_SOCKET, Tunnel.ERR_RECONNECT, Tunnel.ERR_SOCKET_ERROR,
      Tunnel.ERR_QUEUE_OVERFLOW, Tunnel.ERR_INVALID_MESSAGE,
    ];
    console.log(codes.includes(code), error.message, error.detail);
  })
  .on('speak', (content: { who: UserInfo; word: string }) => content.word)
  .on('*', (type: string, payload: unknown) => [type, payload]);
const speak = (content: unknown) => content;
tunnel.on('@connect', speak).off('@connect', speak).off('speak').off();
tunnel.once('connect', () => undefined).once('error', (e: TunnelError) => e.code).once('*', (type: string) => type);
const once = (content: { word: string }) => content.word;
tunnel.once('speak', once).off('speak', once);
tunnel.open();
const queued: boolean = tunnel.emit('speak', { word: 'again' });
const status: TunnelStatus = tunnel.status;
const statuses: TunnelStatus[] = [Tunnel.STATUS_CLOSED, Tunnel.STATUS_CONNECTING, Tunnel.STATUS_ACTIVE, Tunnel.STATUS_RECONNECTING];
const flags: boolean[] = [tunnel.isClosed(), tunnel.isConnecting(), tunnel.isActive(), tunnel.isReconnecting()];
const urls: [string, string | null] = [tunnel.serviceUrl, tunnel.socketUrl];
tunnel.close();
// @ts-expect-error emit needs a message type
tunnel.emit();
// @ts-expect-error a tunnel needs its service URL
new Tunnel();

// --- in a page ------------------------------------------------------------------------------
Page({
  data: { nickName: '' },
  onLoad() {
    login().then((u) => this.setData({ nickName: String(u.nickName) }));
  },
});

export {
  viaDefault, viaNamespace, defaultOfNamespace, ready, user, nothing, byCode, byButton, sessionHeader,
  types, missingSession, made, queued, status, statuses, flags, urls, needsLogin,
};
