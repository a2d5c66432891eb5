'use strict';
// `npm run demo` itself (scripts/demo.js as a child process, on the packed SDK): it prints the
// two-user transcript and exits 0; it fails loudly with a non-zero code.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const { tarball, ROOT, CONVERSATION } = require('./helpers');

function runDemo(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'demo.js'), ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    // A safety net only: the demo has its own --timeout.
    const timer = setTimeout(() => child.kill('SIGKILL'), 120000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Lines of one user's section of the transcript. */
function section(stdout, name) {
  const start = stdout.indexOf(`【${name} 的手机】`);
  assert.ok(start >= 0, `no section for ${name}`);
  const end = stdout.indexOf('【', start + 1);
  return stdout.slice(start, end < 0 ? undefined : end).split('\n').map((l) => l.trim()).filter(Boolean);
}

function assertConversation(lines, me) {
  const said = lines.filter((l) => CONVERSATION.some(([who, word]) => l.endsWith(`：${word}`) && l.startsWith(who)));
  assert.deepEqual(said, CONVERSATION.map(([who, word]) => `${who}${who === me ? '（我）' : ''}：${word}`));
}

test('npm run demo (Wafer 1, the official server SDK): transcript of 小明 and 小红, exit 0', async () => {
  const res = await runDemo(['--pkg', tarball(), '--timeout', '60']);
  assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
  assert.match(res.stdout, /Wafer 1 业务服务器（官方 qcloud-weapp-server-sdk）/);
  assert.match(res.stdout, /demo: ok\s*$/);
  const ming = section(res.stdout, '小明');
  const hong = section(res.stdout, '小红');
  assert.ok(ming.includes('[首页] 点击「登录」→ 登录成功，昵称：小明'), ming.join('\n'));
  assert.ok(ming.includes('—— 小红 进入了聊天室，当前共 2 人 ——'));
  assert.ok(ming.includes('—— 小红 离开了聊天室，当前共 1 人 ——'));
  assert.ok(hong.includes('—— 小红 进入了聊天室，当前共 2 人 ——'));
  assertConversation(ming, '小明');
  assertConversation(hong, '小红');
  assert.equal(res.stderr, '');
});

test('npm run demo -- --wafer2 --drop: both reconnect and keep talking', async () => {
  const res = await runDemo(['--pkg', tarball(), '--wafer2', '--drop', '--quiet', '--timeout', '60']);
  assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
  assert.match(res.stdout, /Wafer 2 业务服务器（官方 wafer-node-sdk 1\.4\.5, MariaDB \d+\.\d+\.\d+-MariaDB\S*）/);
  for (const [name] of [['小明'], ['小红']]) {
    const lines = section(res.stdout, name);
    assert.ok(lines.includes('—— 连接已断开，正在重连… ——'), lines.join('\n'));
    assert.ok(lines.includes('—— 重连成功 ——'));
    assertConversation(lines, name);
  }
});

test('npm run demo fails with a clear message and a non-zero code', async () => {
  const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-bad-pkg-'));
  try {
    fs.writeFileSync(path.join(bad, 'package.json'), JSON.stringify({ name: 'wafer-wasm', version: '0.0.0', miniprogram: 'missing_dist' }));
    const res = await runDemo(['--pkg', bad, '--quiet']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /demo: FAILED: .*missing_dist/);

    const usage = await runDemo(['--no-such-flag']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown argument --no-such-flag/);
  } finally {
    fs.rmSync(bad, { recursive: true, force: true });
  }
});
