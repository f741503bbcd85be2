"use strict";
/**
 * Load generator for tests/test_load.py: the official socket.io-client 4 (one
 * node process holds thousands of sockets without being the bottleneck).
 *
 *   node tests/support/load_clients.js '<spec json>'
 *
 * spec: {url, holderCookies: [cookie], holders, members, conversation,
 *        churnSeconds, reconnectLanes, loginLanes, users: [[name, password]],
 *        messageEveryMs, connectConcurrency}
 *
 * Protocol: JSON lines on stdout, commands on stdin.
 *   -> {"event":"ready", ...}   holders connected, members joined the conversation
 *   <- go [seconds]             one round of churn (logins, logouts, reconnects) and fan-out,
 *                               for `seconds` (default spec.churnSeconds)
 *   -> {"event":"churned", ...} round over, every fan-out message delivered or the deadline passed;
 *                               counts are this round's, holder disconnects are since the start
 *   <- go | quit                another round, or close the holders and exit
 * Progress goes to stderr. Every loop is bounded by a count and a deadline.
 */

const http = require("node:http");
const { performance } = require("node:perf_hooks");
const readline = require("node:readline");
const { io } = require("socket.io-client");

const spec = JSON.parse(process.argv[2]);
const CONNECT_TIMEOUT_MS = 20000;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function log(text) {
  process.stderr.write(`[load] ${text}\n`);
}

const commands = [];
const waiters = [];
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = line.trim();
  if (waiters.length) waiters.shift()(cmd);
  else commands.push(cmd);
});
process.stdin.on("end", () => {
  while (waiters.length) waiters.shift()("quit");
});

function nextCommand() {
  return commands.length ? Promise.resolve(commands.shift()) : new Promise((resolve) => waiters.push(resolve));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Open one socket with `cookie`; resolve {socket} or {error}. Never rejects. */
function open(cookie) {
  const socket = io(spec.url, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    timeout: CONNECT_TIMEOUT_MS,
    extraHeaders: { Cookie: cookie },
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => done({ error: "timeout" }), CONNECT_TIMEOUT_MS + 1000);
    let settled = false;
    function done(outcome) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (outcome.error) socket.close();
      resolve({ socket, ...outcome });
    }
    socket.once("connect", () => done({}));
    socket.once("connect_error", (err) => done({ error: String(err && err.message) }));
  });
}

function call(socket, event, payload, timeoutMs = 10000) {
  return socket.timeout(timeoutMs).emitWithAck(event, payload);
}

/** Run `total` jobs, `concurrency` at a time, until done or `deadline`. */
async function pool(total, concurrency, deadline, job) {
  let next = 0;
  const lane = async () => {
    while (next < total && Date.now() < deadline) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
}

// ---- HTTP login/logout, as a browser does it ------------------------------------

function sessionCookie(headers) {
  for (const header of headers["set-cookie"] || []) {
    const match = /^session=([^;]*)/.exec(header);
    if (match) return match[1] ? `session=${match[1]}` : null;
  }
  return undefined; // unchanged
}

/**
 * One HTTP request on a fresh connection (no keep-alive: a pooled connection
 * the server has just closed would fail the request for the client's reasons,
 * not the server's). Resolves {status, text, cookie}.
 */
function page(path, cookie, { method = "GET", form = null } = {}) {
  const body = form ? new URLSearchParams(form).toString() : null;
  const headers = { ...(cookie ? { Cookie: cookie } : {}) };
  if (body !== null) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    headers["Content-Length"] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const request = http.request(spec.url + path, { method, headers, agent: false, timeout: 20000 }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (text += chunk));
      response.on("end", () => {
        const next = sessionCookie(response.headers);
        resolve({ status: response.statusCode, text, cookie: next === undefined ? cookie : next });
      });
    });
    request.on("timeout", () => request.destroy(new Error(`${method} ${path}: no answer in 20 s`)));
    request.on("error", reject);
    if (body !== null) request.write(body);
    request.end();
  });
}

function csrf(html) {
  const match = /name="csrf_token" value="([^"]+)"/.exec(html);
  if (!match) throw new Error("no csrf_token on the page");
  return match[1];
}

async function login(name, password) {
  const form = await page("/login", null);
  const done = await page("/login", form.cookie, {
    method: "POST",
    form: { username: name, password, csrf_token: csrf(form.text) },
  });
  if (done.status !== 302) throw new Error(`login answered ${done.status}`);
  return done.cookie;
}

async function logout(cookie) {
  const form = await page("/login", cookie);
  const done = await page("/logout", form.cookie, { method: "POST", form: { csrf_token: csrf(form.text) } });
  if (done.status !== 302) throw new Error(`logout answered ${done.status}`);
}

// ---- the run -------------------------------------------------------------------

const sinceStart = {
  holdersConnected: 0,
  holderConnectErrors: {},
  unexpectedDisconnects: 0,
  unexpectedDisconnectReasons: {},
};

/** What one round of churn did; `counts` is the current round's. */
function roundCounts() {
  return {
    reconnectCycles: 0,
    reconnectFailures: 0,
    logins: 0,
    logouts: 0,
    loggedOutSockets: 0,
    loggedOutSocketsEnded: 0,
    loginFailures: 0,
    messagesSent: 0,
    messageSendFailures: 0,
    errors: [],
  };
}
let counts = roundCounts();

function note(error) {
  if (counts.errors.length < 20) counts.errors.push(String(error && error.message ? error.message : error));
}

/** A socket whose every disconnect is a failure unless `expected()` says otherwise. */
function watch(socket, expected) {
  socket.on("disconnect", (reason) => {
    if (expected(reason)) return;
    sinceStart.unexpectedDisconnects++;
    sinceStart.unexpectedDisconnectReasons[reason] = (sinceStart.unexpectedDisconnectReasons[reason] || 0) + 1;
  });
}

async function main() {
  const started = Date.now();
  const holders = [];
  let closing = false;
  await pool(spec.holders, spec.connectConcurrency || 50, Date.now() + 120000, async (i) => {
    const outcome = await open(spec.holderCookies[i % spec.holderCookies.length]);
    if (outcome.error) {
      sinceStart.holderConnectErrors[outcome.error] = (sinceStart.holderConnectErrors[outcome.error] || 0) + 1;
      return;
    }
    watch(outcome.socket, () => closing);
    holders.push(outcome.socket);
  });
  sinceStart.holdersConnected = holders.length;
  log(`${holders.length} holders connected in ${(Date.now() - started) / 1000}s`);

  // Fan-out members: receipts counted per message id, per member.
  const members = holders.slice(0, spec.members);
  const receipts = members.map(() => new Map());
  members.forEach((socket, index) => {
    socket.on("message", (message) => {
      if (message.conversation !== spec.conversation) return;
      receipts[index].set(message.id, (receipts[index].get(message.id) || 0) + 1);
    });
  });
  await pool(members.length, 20, Date.now() + 60000, async (i) => {
    try {
      const ack = await call(members[i], "join", { conversation: spec.conversation }, 20000);
      if (!ack.ok) note(`join refused: ${JSON.stringify(ack)}`);
    } catch (error) {
      note(error);
    }
  });
  emit({
    event: "ready",
    ...sinceStart,
    holders: holders.length,
    members: members.length,
    errors: counts.errors,
    seconds: (Date.now() - started) / 1000,
  });

  const allSent = new Set();
  for (let round = 0; round < 100; round++) {
    const command = (await nextCommand()).split(/\s+/);
    if (command[0] !== "go") break;
    const seconds = Number(command[1] || spec.churnSeconds);
    emit(await churn(seconds, holders, members, receipts, allSent));
  }
  closing = true;
  return finish(holders);
}

/** One round of churn and fan-out for `seconds`, while the holders stay; resolves its figures. */
async function churn(seconds, holders, members, receipts, allSent) {
  counts = roundCounts();
  const churnStarted = Date.now();
  const cpuAtStart = process.cpuUsage();
  const loopAtStart = performance.eventLoopUtilization();
  const churnEnds = churnStarted + seconds * 1000;
  const sent = [];

  const fanOut = (async () => {
    for (let i = 0; Date.now() < churnEnds && i < 10000; i++) {
      const sender = members[i % members.length];
      try {
        const ack = await call(sender, "message", { conversation: spec.conversation, text: `load ${i}` });
        if (ack.ok) sent.push(ack.id);
        else counts.messageSendFailures++;
      } catch (error) {
        counts.messageSendFailures++;
        note(error);
      }
      await sleep(spec.messageEveryMs);
    }
  })();

  // Reconnects: tabs of the holders' sessions come and go.
  const reconnectLane = async (lane) => {
    for (let i = 0; Date.now() < churnEnds && i < 100000; i++) {
      const outcome = await open(spec.holderCookies[(lane + i) % spec.holderCookies.length]);
      if (outcome.error) {
        counts.reconnectFailures++;
        note(`reconnect: ${outcome.error}`);
        await sleep(200);
        continue;
      }
      let leaving = false;
      watch(outcome.socket, () => leaving);
      try {
        const payload = { lane, i };
        const echoed = await call(outcome.socket, "echo", payload);
        if (echoed.lane !== lane || echoed.i !== i) note("echo mismatch");
      } catch (error) {
        note(error);
      }
      leaving = true;
      outcome.socket.close();
      counts.reconnectCycles++;
      await sleep(50);
    }
  };

  // Logins and logouts: a new session, a few tabs, then logout ends them all.
  const loginLane = async (lane) => {
    for (let i = 0; Date.now() < churnEnds && i < 10000; i++) {
      const [name, password] = spec.users[(lane + i) % spec.users.length];
      try {
        const cookie = await login(name, password);
        counts.logins++;
        const tabs = [];
        for (let t = 0; t < 3; t++) {
          const outcome = await open(cookie);
          if (outcome.error) throw new Error(`tab refused: ${outcome.error}`);
          const tab = { socket: outcome.socket, ended: false };
          tab.ended = new Promise((resolve) => {
            outcome.socket.on("session_ended", () => (tab.told = true));
            outcome.socket.on("disconnect", (reason) => resolve(reason));
          });
          tabs.push(tab);
        }
        await call(tabs[0].socket, "echo", { lane, i });
        await logout(cookie);
        counts.logouts++;
        counts.loggedOutSockets += tabs.length;
        const reasons = await Promise.race([
          Promise.all(tabs.map((tab) => tab.ended)),
          sleep(10000).then(() => null),
        ]);
        if (reasons && reasons.every((reason) => reason === "io server disconnect")) {
          counts.loggedOutSocketsEnded += tabs.length;
        } else {
          note(`after logout: ${JSON.stringify(reasons)}`);
          tabs.forEach((tab) => tab.socket.close());
        }
      } catch (error) {
        counts.loginFailures++;
        note(error);
        await sleep(500);
      }
    }
  };

  await Promise.all([
    fanOut,
    ...Array.from({ length: spec.reconnectLanes }, (_, lane) => reconnectLane(lane)),
    ...Array.from({ length: spec.loginLanes }, (_, lane) => loginLane(lane)),
  ]);
  counts.messagesSent = sent.length;
  const churnSeconds = (Date.now() - churnStarted) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  const churnLoad = {
    churnSeconds,
    // How busy this generator was: far from 100% means the server, not the clients, set the pace.
    clientEventLoopPercent: Math.round(100 * performance.eventLoopUtilization(loopAtStart).utilization),
    clientCpuPercent: Math.round((100 * (cpu.user + cpu.system)) / 1e6 / churnSeconds),
  };
  log(`churn over: ${JSON.stringify(counts)}`);

  // Every sent message must reach every member exactly once; wait for stragglers (bounded).
  const deliveryDeadline = Date.now() + 30000;
  const missing = () => receipts.reduce((sum, got) => sum + sent.filter((id) => !got.has(id)).length, 0);
  while (missing() > 0 && Date.now() < deliveryDeadline) await sleep(100);
  let delivered = 0;
  let duplicates = 0;
  for (const got of receipts) {
    for (const id of sent) {
      const n = got.get(id) || 0;
      delivered += Math.min(n, 1);
      duplicates += Math.max(0, n - 1);
    }
  }
  sent.forEach((id) => allSent.add(id));
  const unknown = receipts.reduce((sum, got) => sum + [...got.keys()].filter((id) => !allSent.has(id)).length, 0);
  return {
    event: "churned",
    ...sinceStart,
    ...counts,
    ...churnLoad,
    members: members.length,
    expectedDeliveries: sent.length * members.length,
    delivered,
    duplicates,
    unknownMessages: unknown,
    holdersStillConnected: holders.filter((socket) => socket.connected).length,
  };
}

function finish(holders) {
  for (const socket of holders) socket.close();
  setTimeout(() => process.exit(0), 200);
}

main().catch((error) => {
  emit({ event: "failed", error: String(error && error.stack ? error.stack : error) });
  process.exit(1);
});
