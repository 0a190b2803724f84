// A small client for Parley's native protocol (JSON over WebSocket at /ws) for tests.
// The WebSocket class is passed in (the `ws` package lives in each suite's node_modules):
//
//   import WebSocket from 'ws';
//   const c = await WsClient.connect(WebSocket, server.wsUrl);
//   const reply = await c.request({op: 'auth', user: 'alice'});   // awaits the reply by ref
//   const ev = await c.next((m) => m.type === 'message');          // the next matching event
//   c.events                                                       // every frame without our ref
//
// Every wait has a timeout, so a missing reply fails the test instead of hanging it.

export class TimeoutError extends Error {}

export const kDefaultTimeoutMs = 5000;

let nextRef = 1;

export class WsClient {
  constructor(ws, name = '') {
    this.ws = ws;
    this.name = name;
    this.frames = []; // every parsed frame, in arrival order
    this.events = []; // frames that are not replies to our requests
    this.raw = []; // frames that were not JSON
    this.pending = new Map(); // ref -> {resolve, reject, timer}
    this.waiters = []; // {predicate, resolve, reject, timer, from}
    this.closed = null; // {code, reason} once closed
    this.error = null;
    this.closePromise = new Promise((resolve) => {
      this.resolveClose = resolve;
    });
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason ? reason.toString() : '' };
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`${this.label()} closed (${code}) before the reply to ${p.desc}`));
      }
      this.pending.clear();
      for (const w of this.waiters) {
        clearTimeout(w.timer);
        w.reject(new Error(`${this.label()} closed (${code}) while waiting for ${w.desc}`));
      }
      this.waiters = [];
      this.resolveClose(this.closed);
    });
    ws.on('error', (err) => {
      this.error = err;
    });
  }

  label() {
    return this.name ? `client ${this.name}` : 'client';
  }

  // Opens a WebSocket to `url` and resolves once it is open.
  static connect(WebSocket, url, { name = '', timeoutMs = kDefaultTimeoutMs, options } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, ...options });
      const client = new WsClient(ws, name);
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new TimeoutError(`connect to ${url} timed out`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(client);
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.once('unexpected-response', (req, res) => {
        clearTimeout(timer);
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
      });
    });
  }

  onFrame(data, isBinary) {
    const text = data.toString('utf8');
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      this.raw.push({ text, isBinary });
      return;
    }
    this.frames.push(msg);
    const ref = msg && typeof msg === 'object' ? msg.ref : undefined;
    if (ref !== undefined && this.pending.has(ref)) {
      const p = this.pending.get(ref);
      this.pending.delete(ref);
      clearTimeout(p.timer);
      p.resolve(msg);
      return;
    }
    this.events.push(msg);
    const index = this.events.length - 1;
    for (const w of [...this.waiters]) {
      if (index >= w.from && w.predicate(msg)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(msg);
      }
    }
  }

  get isOpen() {
    return this.ws.readyState === 1;
  }

  // Sends a JSON object (or a string/Buffer as is) without waiting for anything.
  send(obj, options) {
    const data = typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj);
    return new Promise((resolve, reject) => {
      this.ws.send(data, options || {}, (err) => (err ? reject(err) : resolve()));
    });
  }

  // Sends `obj` with a fresh ref (unless it carries one) and resolves with the reply that
  // carries that ref: ok, ack, history, pong or error alike.
  request(obj, { timeoutMs = kDefaultTimeoutMs } = {}) {
    const ref = obj.ref !== undefined ? obj.ref : `r${nextRef++}`;
    const body = { ...obj, ref };
    const desc = `${obj.op} (ref ${JSON.stringify(ref)})`;
    const promise = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new TimeoutError(`${this.label()}: no reply to ${desc} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer, desc });
    });
    this.send(body).catch((err) => {
      const p = this.pending.get(ref);
      if (p) {
        this.pending.delete(ref);
        clearTimeout(p.timer);
        p.reject(err);
      }
    });
    return promise;
  }

  // Like request, but fails unless the reply has type `type`.
  async expect(obj, type, opts) {
    const reply = await this.request(obj, opts);
    if (reply.type !== type) {
      throw new Error(
        `${this.label()}: ${obj.op} expected a "${type}" reply, got ${JSON.stringify(reply)}`,
      );
    }
    return reply;
  }

  // Resolves with the first event (already received, index >= `from`, or arriving later)
  // matching `predicate`.
  next(predicate, { timeoutMs = kDefaultTimeoutMs, from = 0, desc = 'an event' } = {}) {
    for (let i = from; i < this.events.length; i++) {
      if (predicate(this.events[i])) return Promise.resolve(this.events[i]);
    }
    if (this.closed) {
      return Promise.reject(new Error(`${this.label()} is closed; waiting for ${desc}`));
    }
    return new Promise((resolve, reject) => {
      const w = { predicate, resolve, reject, from, desc, timer: null };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(
          new TimeoutError(
            `${this.label()}: no ${desc} within ${timeoutMs} ms; events so far: ` +
              JSON.stringify(this.events.slice(-10)),
          ),
        );
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  // Waits until `count` events match `predicate`; resolves with them (bounded by timeout).
  async collect(predicate, count, { timeoutMs = kDefaultTimeoutMs, desc = 'events' } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.events.filter(predicate);
      if (got.length >= count) return got;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new TimeoutError(
          `${this.label()}: ${got.length} of ${count} ${desc} within ${timeoutMs} ms`,
        );
      }
      const seen = this.events.length;
      await this.next(() => true, { from: seen, timeoutMs: left, desc }).catch((err) => {
        if (!(err instanceof TimeoutError) && !this.closed) throw err;
      });
      if (this.closed) {
        const final = this.events.filter(predicate);
        if (final.length >= count) return final;
        throw new Error(`${this.label()} closed with ${final.length} of ${count} ${desc}`);
      }
    }
  }

  // Resolves {code, reason} when the socket closes (or rejects after timeoutMs).
  waitClose(timeoutMs = kDefaultTimeoutMs) {
    if (this.closed) return Promise.resolve(this.closed);
    let timer;
    return Promise.race([
      this.closePromise.finally(() => clearTimeout(timer)),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new TimeoutError(`${this.label()} not closed within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  }

  // Closes politely and waits for it; falls back to terminate.
  async close(timeoutMs = 2000) {
    if (this.closed) return this.closed;
    try {
      this.ws.close(1000);
      return await this.waitClose(timeoutMs);
    } catch {
      this.ws.terminate();
      return this.waitClose(timeoutMs).catch(() => null);
    }
  }

  // Drops the TCP connection without a close frame (as a crashed client or lost network).
  terminate() {
    this.ws.terminate();
    return this.waitClose().catch(() => null);
  }
}
