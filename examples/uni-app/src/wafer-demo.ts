import wafer, { Tunnel, type LoginError, type RequestError, type UserInfo } from 'wafer-wasm';

/**
 * Log in, make a session request and open a tunnel against a Wafer business server
 * (`npm run stack` in the wafer-wasm repository serves one). Each step reports a line.
 * Returns the tunnel, to be closed when the page goes away.
 */
export function runWaferDemo(server: string, report: (line: string) => void): Tunnel {
  const name = (user: UserInfo | null | undefined) => (user && (user.nickName || user.nickname)) || '?';
  const fail = (step: string) => (err: LoginError | RequestError) => report(`${step}: failed ${err.type} ${err.message}`);

  wafer.setLoginUrl(`${server}/login`);
  const tunnel = new Tunnel(`${server}/tunnel`);
  tunnel.on('connect', () => {
    report('tunnel: connected');
    tunnel.emit('speak', { word: 'hello from uni-app' });
  });
  tunnel.on('speak', (speak: { who: UserInfo; word: string }) => report(`tunnel: ${name(speak.who)} said ${speak.word}`));
  tunnel.on('error', (error) => report(`tunnel: error ${error.code} ${error.message}`));

  wafer
    .login()
    .then((user) => {
      report(`login: ok ${name(user)}`);
      return wafer.request<{ code: number; data: { userInfo: UserInfo } }>({ url: `${server}/user`, login: true });
    }, fail('login'))
    .then((res) => {
      if (!res) return;
      report(`request: ${res.statusCode} ${name(res.data && res.data.data && res.data.data.userInfo)}`);
      tunnel.open();
    }, fail('request'));
  return tunnel;
}
