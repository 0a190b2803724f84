// Starts the real Parley binary for end-to-end tests: loopback only, a free port, a fresh
// data folder. Uses only node's standard library, so any suite (native, socketio, browser)
// can import it without installing anything.
//
//   const server = await startServer();            // serve --host 127.0.0.1 --port P --data-dir D
//   server.url, server.wsUrl, server.dataDir
//   await server.kill('SIGKILL');                  // resolves {code, signal} once it exited
//   await server.restart();                        // same port and data dir, waits for /health
//   await server.stop();                           // SIGTERM (SIGKILL after a grace period)
//
// The binary is process.env.PARLEY_BIN or build/parley, resolved from the repository root.
// Every child is killed when the test process exits, whatever happens.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function parleyBin() {
  const bin = process.env.PARLEY_BIN || 'build/parley';
  return path.isAbsolute(bin) ? bin : path.resolve(repoRoot, bin);
}

const children = new Set();
process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A port that was free a moment ago (the kernel picks it; we close and hand it on).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function makeDataDir(prefix = 'parley-e2e-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const kLogLimit = 256 * 1024;

class ParleyServer {
  constructor({ port, dataDir, env, args, bin }) {
    this.port = port;
    this.dataDir = dataDir;
    this.env = env;
    this.args = args;
    this.bin = bin;
    this.url = `http://127.0.0.1:${port}`;
    this.wsUrl = `ws://127.0.0.1:${port}/ws`;
    this.proc = null;
    this.exited = null; // promise of {code, signal}
    this.exitInfo = null;
    this.log = '';
  }

  // The last 256 KiB of the server's stdout and stderr, for failure messages.
  logs() {
    return this.log;
  }

  // Resolves once the logs match `re`. The server's stderr and a socket's reply arrive on
  // different pipes, so a line written before a reply can still be read after it here.
  async waitForLog(re, timeoutMs = 5000) {
    const until = Date.now() + timeoutMs;
    while (!re.test(this.log)) {
      if (Date.now() > until) throw new Error(`no log line matching ${re} in ${timeoutMs} ms:\n${this.log}`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  async launch(timeoutMs) {
    const args = [
      'serve',
      '--host', '127.0.0.1',
      '--port', String(this.port),
      '--data-dir', this.dataDir,
      ...this.args,
    ];
    if (!fs.existsSync(this.bin)) {
      throw new Error(`parley binary not found at ${this.bin} (build it, or set PARLEY_BIN)`);
    }
    const proc = spawn(this.bin, args, {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.exitInfo = null;
    children.add(proc);
    const append = (chunk) => {
      this.log += chunk.toString('utf8');
      if (this.log.length > kLogLimit) this.log = this.log.slice(-kLogLimit);
      if (process.env.PARLEY_E2E_LOG) process.stderr.write(chunk);
    };
    proc.stdout.on('data', append);
    proc.stderr.on('data', append);
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        children.delete(proc);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      proc.on('error', (err) => {
        children.delete(proc);
        this.exitInfo = { code: null, signal: null, error: err };
        resolve(this.exitInfo);
      });
    });
    await this.waitHealthy(timeoutMs);
  }

  async waitHealthy(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (this.exitInfo) {
        throw new Error(
          `parley exited before it was healthy (code ${this.exitInfo.code}, signal ` +
            `${this.exitInfo.signal}${this.exitInfo.error ? ', ' + this.exitInfo.error : ''}); ` +
            `log:\n${this.log}`,
        );
      }
      try {
        const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
        last = `GET /health ${res.status}`;
      } catch (err) {
        last = String(err.cause?.code || err.message || err);
      }
      await sleep(50);
    }
    throw new Error(`parley not healthy after ${timeoutMs} ms (${last}); log:\n${this.log}`);
  }

  get running() {
    return this.proc !== null && this.exitInfo === null;
  }

  // Sends `signal` and waits (up to timeoutMs) for the exit. Resolves {code, signal}.
  async kill(signal = 'SIGKILL', timeoutMs = 15000) {
    if (!this.proc || this.exitInfo) return this.exitInfo;
    this.proc.kill(signal);
    // A cleared timer, not sleep(): a pending one would keep the test process alive for
    // timeoutMs after its last test.
    let timer;
    const info = await Promise.race([
      this.exited,
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (info) return info;
    this.proc.kill('SIGKILL');
    await this.exited;
    throw new Error(`parley did not exit within ${timeoutMs} ms of ${signal}; log:\n${this.log}`);
  }

  // Graceful stop for test teardown: SIGTERM, then SIGKILL if it hangs. Never throws.
  async stop(timeoutMs = 10000) {
    try {
      return await this.kill('SIGTERM', timeoutMs);
    } catch {
      return this.exitInfo;
    }
  }

  // Starts the binary again on the same port and data dir (stops it first if it runs).
  async restart({ timeoutMs = 20000 } = {}) {
    if (this.running) await this.stop();
    this.log += '\n--- restart ---\n';
    await this.launch(timeoutMs);
    return this;
  }
}

// Starts parley and waits for GET /health 200. Options:
//   dataDir  reuse a folder (default: a fresh mkdtemp)
//   env      extra environment variables
//   args     extra CLI arguments after the standard ones
//   timeoutMs how long to wait for health (default 20 s)
export async function startServer({ dataDir, env = {}, args = [], timeoutMs = 20000 } = {}) {
  const dir = dataDir || makeDataDir();
  let lastError;
  // The free port could be taken between probe and bind; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new ParleyServer({
      port: await freePort(),
      dataDir: dir,
      env: { LOG_LEVEL: process.env.PARLEY_E2E_LOG_LEVEL || 'info', ...env },
      args,
      bin: parleyBin(),
    });
    try {
      await server.launch(timeoutMs);
      return server;
    } catch (err) {
      lastError = err;
      if (server.running) await server.kill('SIGKILL').catch(() => {});
      if (!/address|in use|bind/i.test(server.logs())) break;
    }
  }
  throw lastError;
}
