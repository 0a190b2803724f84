// The WebWOz suite's targets and clients.
//
// A target is a running back end the two WebWOz front ends could be pointed at:
//   - Parley (default): build/parley serve with COMPAT=webwoz, fresh data dir;
//   - WEBWOZ_TARGET=flask: the app's own back end, backend/ of tveigel/WoZChat at HEAD
//     (5a94a67), extracted from the snapshot at $WOZCHAT_GIT_DIR (default
//     /work/.mirror/tveigel+WoZChat/repo) into a temporary folder and run with Debian's
//     python3-flask-socketio, file storage (no DATABASE_URL), DATA_DIR in a temporary folder.
// Both answer on 127.0.0.1 at a free port and can be killed with SIGKILL and restarted on
// the same port and data, so every test runs against both unchanged (README.md).
//
// The clients do what the React front ends do, event for event (README.md cites the code):
// participantClient = frontend-participant/src/app.js, wizardClient =
// frontend-wizard/src/hooks/useSocket.js + app.js + BotControls.js + useTemplateSync.js.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';

import { freePort, makeDataDir, sleep, startServer } from '../lib/server.mjs';

export { sleep };

export const TARGET = process.env.WEBWOZ_TARGET === 'flask' ? 'flask' : 'parley';
export const WOZCHAT_GIT_DIR =
  process.env.WOZCHAT_GIT_DIR || '/work/.mirror/tveigel+WoZChat/repo';
export const WOZCHAT_REV = process.env.WOZCHAT_REV || '5a94a67';
// Debian's python3 (python3-flask-socketio, python3-flask-cors, python3-eventlet), not a
// virtualenv's that may be first on PATH.
export const PYTHON = process.env.WEBWOZ_PYTHON || '/usr/bin/python3';
export const kTimeoutMs = 5000;
// How long a test waits to conclude that an event does NOT come. The Flask back end answers
// in a few ms on loopback, Parley in under one; 400 ms is two orders of magnitude more.
export const kQuietMs = 400;

// The app's timestamps: datetime.now(timezone.utc).isoformat(timespec="seconds").
export const APP_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;
export const ROOM_ID = /^[0-9a-f]{8}$/;
export const DEFAULT_TEMPLATES = {
  General: {
    greeting: 'Hello! How can I help you today?',
    understanding: 'I understand. Let me look into that for you.',
    no_info: "I'm sorry, I don't have information about that.",
    goodbye: 'Thank you for chatting with me. Goodbye!',
  },
};

// ---------------------------------------------------------------------------------- targets

class FlaskTarget {
  constructor(root, dataDir, port) {
    this.kind = 'flask';
    this.root = root;
    this.dataDir = dataDir;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.proc = null;
    this.log = '';
  }

  async launch() {
    // socketio.run as `python app.py` does, minus debug/reloader, on our port. Werkzeug is
    // Flask-SocketIO's threading-mode server (no eventlet in Debian's python3 set).
    const launcher = [
      'import sys',
      `sys.path.insert(0, ${JSON.stringify(this.root)})`,
      'from backend.app import app, socketio',
      `socketio.run(app, host="127.0.0.1", port=${this.port})`,
    ].join('\n');
    this.proc = spawn(PYTHON, ['-c', launcher], {
      env: { ...process.env, DATA_DIR: this.dataDir, DATABASE_URL: '', PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const append = (c) => {
      this.log = (this.log + c.toString()).slice(-64 * 1024);
      if (process.env.PARLEY_E2E_LOG) process.stderr.write(c);
    };
    this.proc.stdout.on('data', append);
    this.proc.stderr.on('data', append);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not up yet
      }
      await sleep(100);
    }
    throw new Error(`Flask back end not healthy after 20 s; log:\n${this.log}`);
  }

  async kill(signal = 'SIGKILL') {
    if (!this.proc) return null;
    this.proc.kill(signal);
    const info = await this.exited;
    this.proc = null;
    return info;
  }

  async restart() {
    if (this.proc) await this.kill('SIGTERM');
    await this.launch();
  }

  async stop() {
    if (this.proc) await this.kill('SIGTERM');
  }

  logs() {
    return this.log;
  }
}

function extractBackend() {
  if (!fs.existsSync(WOZCHAT_GIT_DIR)) {
    throw new Error(
      `*** WEBWOZ_TARGET=flask needs the WoZChat repository: ${WOZCHAT_GIT_DIR} is absent ` +
        '(set WOZCHAT_GIT_DIR to a clone or bare git dir of tveigel/WoZChat) ***',
    );
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'webwoz-flask-'));
  const archive = spawnSync('git', ['--git-dir', WOZCHAT_GIT_DIR, 'archive', WOZCHAT_REV, 'backend'], {
    maxBuffer: 256 * 1024 * 1024,
  });
  if (archive.status !== 0) throw new Error(`git archive failed: ${archive.stderr}`);
  const tar = spawnSync('tar', ['x', '-C', root], { input: archive.stdout });
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
  // The repository ships sample conversations and templates under backend/data; the tests
  // start from an empty DATA_DIR instead (set below), as a fresh deployment does.
  // Without bot_integration.py the app runs its "no bot available" branches (BOT_AVAILABLE
  // False), the ones Parley answers as: with it, Debian's python3 lacks the bot's
  // dependencies (dateutil, langgraph) and the half-imported bot answers differently.
  fs.rmSync(path.join(root, 'backend', 'bot_integration.py'));
  return root;
}

// Starts the selected back end. `env` is for Parley only (extra environment).
// `frontendDir`: a folder laid out as the app's dockerfile lays out backend/static/ (Parley:
// WEBWOZ_FRONTEND_DIR; Flask: linked as backend/static).
export async function startTarget({ env = {}, dataDir, frontendDir } = {}) {
  if (TARGET === 'flask') {
    const root = extractBackend();
    if (frontendDir) fs.symlinkSync(frontendDir, path.join(root, 'backend', 'static'));
    const target = new FlaskTarget(root, dataDir || makeDataDir('webwoz-data-'), await freePort());
    await target.launch();
    return target;
  }
  const extra = frontendDir ? { WEBWOZ_FRONTEND_DIR: frontendDir } : {};
  const server = await startServer({ dataDir, env: { COMPAT: 'webwoz', ...extra, ...env } });
  server.kind = 'parley';
  return server;
}

// ----------------------------------------------------------------------------------- events

// Records every event of a socket so a test can wait for one that already came.
export class Recorder {
  constructor(socket, name) {
    this.socket = socket;
    this.name = name;
    this.events = [];
    this.waiters = [];
    socket.onAny((event, ...args) => {
      this.events.push({ name: event, arg: args[0] });
      for (const w of [...this.waiters]) {
        if (w.name === event && w.pred(args[0])) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          clearTimeout(w.timer);
          w.resolve(args[0]);
        }
      }
    });
  }

  of(name) {
    return this.events.filter((e) => e.name === name).map((e) => e.arg);
  }

  next(name, pred = () => true, timeoutMs = kTimeoutMs) {
    const hit = this.events.find((e) => e.name === name && pred(e.arg));
    if (hit) return Promise.resolve(hit.arg);
    return new Promise((resolve, reject) => {
      const w = { name, pred, resolve, timer: null };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(
          new Error(
            `${this.name}: no "${name}" within ${timeoutMs} ms; got ` +
              JSON.stringify(this.events.slice(-8)),
          ),
        );
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  clear() {
    this.events = [];
  }
}

// The front ends' connection: io(window.location.origin, {transports: ["websocket"],
// path: "/socket.io"}), one socket per page, created when the bundle loads.
function connect(url, name) {
  const socket = io(url, { transports: ['websocket'], path: '/socket.io', forceNew: true, reconnection: false });
  const rec = new Recorder(socket, name);
  return { socket, rec };
}

function connected(socket) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no connect within 5 s')), kTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
    socket.once('connect_error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

// frontend-participant/src/app.js: on mount emits join {room, type: "participant"} (buffered
// by socket.io-client until connected); listens to message_history, new_message,
// stream_chunk; on send: participant_message {room, text} then participant_typing
// {room, text: ""}; on each keystroke participant_typing {room, text}; on unmount leave {room}.
export async function participantClient(url, room) {
  const { socket, rec } = connect(url, `participant ${room}`);
  socket.emit('join', { room, type: 'participant' });
  await connected(socket);
  return {
    socket,
    rec,
    room,
    type(text) {
      socket.emit('participant_typing', { room, text });
    },
    send(text) {
      socket.emit('participant_message', { room, text });
      socket.emit('participant_typing', { room, text: '' });
    },
    leave() {
      socket.emit('leave', { room });
    },
    close() {
      socket.close();
    },
  };
}

// frontend-wizard: useSocket emits leave {room: "previous"} then join {room, type: "wizard"};
// listens to new_message (dropping other rooms'), participant_is_typing, message_history,
// templates; BotControls listens to bot_status_changed and GETs /api/bot/<room>/status;
// sending is wizard_response {room, text}.
export async function wizardClient(url, room) {
  const { socket, rec } = connect(url, `wizard ${room}`);
  socket.emit('leave', { room: 'previous' });
  socket.emit('join', { room, type: 'wizard' });
  await connected(socket);
  return {
    socket,
    rec,
    room,
    send(text) {
      socket.emit('wizard_response', { room, text });
    },
    leave() {
      socket.emit('leave', { room });
    },
    close() {
      socket.close();
    },
  };
}

// A socket that only listens (to see what is broadcast to everyone).
export async function bystander(url) {
  const { socket, rec } = connect(url, 'bystander');
  await connected(socket);
  return { socket, rec, close: () => socket.close() };
}

// ------------------------------------------------------------------------------------- HTTP

export async function http(base, method, p, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(base + p, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// The wizard's room bootstrap (app.js): POST /api/new_room, then /wizard/<room>.
export async function newRoom(base) {
  const r = await http(base, 'POST', '/api/new_room');
  if (r.status !== 200) throw new Error(`POST /api/new_room: ${r.status} ${r.text}`);
  return r.json.room;
}
