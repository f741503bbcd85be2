"use strict";
/**
 * The benchmark's load generator: the official socket.io-client 4, driven by
 * the Python harness (bench/load.py) over a line protocol.
 *
 *   node bench/load/run.js '<spec json>'
 *
 * stdout carries one JSON object per line:
 *   {"event":"ready"}                 setup done (sockets for echo/fanout open);
 *                                     the harness samples server CPU, then writes "go".
 *   {"event":"result", ...}           one measured step finished; for "idle" one
 *                                     line per stage, each after its own "go".
 *   {"event":"done"}                  all steps done; sockets stay open until the
 *                                     harness writes "quit" (or closes stdin).
 *   {"event":"got","round":r,"at":ns} fan-out receiver only: every joined socket of this
 *                                     process has round r's message; `at` is
 *                                     process.hrtime.bigint() then, in ns.
 * Progress goes to stderr. Every loop is bounded by a count and a deadline.
 *
 * The harness may run several generators for one step, each with its share of
 * the sockets, so that no single event loop limits the rate. Connect and echo
 * results therefore carry their raw latencies ("latenciesMs") besides the
 * summary, so the harness can take percentiles over all processes. A fan-out
 * spread over K processes has one sender (spec.receivers = K - 1) and K - 1
 * receivers (spec.role = "receive"); the harness relays each receiver's "got"
 * line to the sender's stdin as "got <round> <at>", and tells the receivers
 * "stop" once the sender's result is in.
 *
 * Modes (spec.mode):
 *   connect  open spec.n sockets, spec.concurrency at a time, close each as soon as it
 *            is in; spec.expect is "connect" (or "upgrade": polling then websocket) or
 *            "refused" (a connect_error is the success).
 *   idle     on each "go" open sockets up to the next of spec.stages (e.g. [2000, 10000]),
 *            print "connected", hold them until the harness writes "report", then report
 *            how many are still connected and how many dropped.
 *   echo     spec.clients sockets; each sends spec.perClient acked "echo" events in turn.
 *   fanout   spec.clients sockets join one conversation; spec.rounds times one of them
 *            sends a "message" and the round ends when every socket has received it
 *            (with receivers: when every receiver has relayed its "got" too).
 * Each result carries this process's CPU use over the step ("cpuPercent" of one
 * core), to show the generator was not the bottleneck.
 */

const { io } = require("socket.io-client");
const readline = require("node:readline");
const { performance } = require("node:perf_hooks");

const spec = JSON.parse(process.argv[2] || "{}");

// A session per socket: spec.cookieFile has one Cookie header value per line,
// and each socket this process opens takes the next one from spec.cookieOffset
// on (the harness gives each process its own range). Without it, every socket
// sends spec.cookie.
const cookies = spec.cookieFile
  ? require("node:fs").readFileSync(spec.cookieFile, "utf8").split("\n").filter(Boolean)
  : null;
let nextCookie = spec.cookieOffset || 0;

function takeCookie() {
  return cookies && cookies.length ? cookies[nextCookie++ % cookies.length] : spec.cookie;
}
const DEFAULT_TIMEOUT_MS = 20000;
// How long a fan-out receiver waits for "stop" after the sender's last round could end.
const STOP_GRACE_MS = 30000;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function progress(text) {
  process.stderr.write(`[load ${spec.mode} ${spec.label || ""}] ${text}\n`);
}

// ---- stdin commands -------------------------------------------------------
const commands = [];
const waiters = [];
// A fan-out sender's handler for relayed "got <round> <at>" lines. Relays are
// not commands: they arrive at any time, and must never be taken for one.
let onRelay = () => {};
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = line.trim();
  const relay = /^got (\d+) (\d+)$/.exec(cmd);
  if (relay) onRelay(Number(relay[1]), Number(relay[2]));
  else if (waiters.length) waiters.shift()(cmd);
  else commands.push(cmd);
});
rl.on("close", () => {
  while (waiters.length) waiters.shift()("quit");
  commands.push("quit");
});

function nextCommand() {
  if (commands.length) return Promise.resolve(commands.shift());
  return new Promise((resolve) => waiters.push(resolve));
}

/** The next command, or "timeout" when none comes within `ms`. */
function nextCommandWithin(ms) {
  if (commands.length) return Promise.resolve(commands.shift());
  return new Promise((resolve) => {
    const waiter = (cmd) => {
      clearTimeout(timer);
      resolve(cmd);
    };
    const timer = setTimeout(() => {
      waiters.splice(waiters.indexOf(waiter), 1);
      resolve("timeout");
    }, ms);
    waiters.push(waiter);
  });
}

async function waitForGo() {
  const cmd = await nextCommand();
  if (cmd !== "go") {
    progress(`stopping on "${cmd}"`);
    return false;
  }
  return true;
}

// ---- measurement helpers ---------------------------------------------------
function startStep() {
  return { wall: process.hrtime.bigint(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
}

function finishStep(start) {
  const seconds = Number(process.hrtime.bigint() - start.wall) / 1e9;
  const cpu = process.cpuUsage(start.cpu);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  // cpuPercent counts every thread of the process (zlib and GC run off the main
  // thread); eventLoopPercent is how busy the single JS thread was, the number
  // that says whether this generator could have sent more.
  const eventLoopPercent = 100 * performance.eventLoopUtilization(start.elu).utilization;
  return { seconds, cpuSeconds, cpuPercent: seconds > 0 ? (100 * cpuSeconds) / seconds : 0, eventLoopPercent };
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function latencySummary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? null };
}

/** Raw latencies for the harness, rounded to 0.01 ms to keep the result line short. */
function rawLatencies(values) {
  return values.map((ms) => Math.round(ms * 100) / 100);
}

/**
 * Now on CLOCK_MONOTONIC, in ns: the same clock in every process, so generators
 * can compare times. As a Number it is exact for 104 days of uptime, then to a few ns.
 */
function nowNs() {
  return Number(process.hrtime.bigint());
}

function countInto(map, key) {
  map[key] = (map[key] || 0) + 1;
}

// ---- one socket ------------------------------------------------------------
/**
 * Open one socket; resolve to {socket, ok, refused, error, ms}. Never rejects.
 * waitUpgrade: also wait until the polling transport has upgraded to websocket.
 */
function openSocket({ waitUpgrade = false } = {}) {
  const started = process.hrtime.bigint();
  const cookie = takeCookie();
  const headers = cookie ? { Cookie: cookie } : {};
  const socket = io(spec.url, {
    transports: spec.transports || ["websocket"],
    forceNew: true,
    reconnection: false,
    timeout: spec.timeoutMs || DEFAULT_TIMEOUT_MS,
    extraHeaders: headers,
    // Like a browser, the client offers permessage-deflate unless told not to.
    ...(spec.deflate === false ? { perMessageDeflate: false } : {}),
  });
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    let upgraded = false;
    const timer = setTimeout(() => finish({ ok: false, error: "timeout" }), (spec.timeoutMs || DEFAULT_TIMEOUT_MS) + 1000);
    function finish(outcome) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ socket, ms: Number(process.hrtime.bigint() - started) / 1e6, ...outcome });
    }
    socket.io.on("open", () => {
      socket.io.engine.once("upgrade", () => {
        upgraded = true;
        if (connected) finish({ ok: true });
      });
    });
    socket.once("connect", () => {
      connected = true;
      if (!waitUpgrade || upgraded) finish({ ok: true });
    });
    socket.once("connect_error", (err) => {
      // A server refusal (CONNECT_ERROR packet) has no transport `type`; a
      // transport failure or the client's own timeout is not a refusal.
      const message = String(err && err.message);
      finish({ ok: false, refused: Boolean(err && !err.type && message !== "timeout"), error: message });
    });
  });
}

/** Run `total` async jobs, `concurrency` at a time, stopping early at `deadline`. */
async function pool(total, concurrency, deadline, job) {
  let issued = 0;
  async function lane() {
    while (issued < total && Date.now() < deadline) {
      const index = issued++;
      await job(index);
    }
  }
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, total)) }, lane);
  await Promise.all(lanes);
}

function deadlineFromNow(seconds) {
  return Date.now() + 1000 * (seconds || 120);
}

async function openMany(count, sockets, errors, deadline) {
  let failed = 0;
  await pool(count, spec.concurrency || 50, deadline, async () => {
    const outcome = await openSocket();
    if (outcome.ok) {
      sockets.push(outcome.socket);
      outcome.socket.once("disconnect", () => {
        outcome.socket.bench_dropped = true;
      });
    } else {
      failed++;
      countInto(errors, outcome.error);
      outcome.socket.close();
    }
  });
  return failed;
}

function closeAll(sockets) {
  for (const socket of sockets) socket.close();
}

/** Report "done", keep the sockets open until the harness says "quit", then close them. */
async function doneThenClose(sockets) {
  emit({ event: "done" });
  await nextCommand();
  closeAll(sockets);
}

// ---- modes -----------------------------------------------------------------
async function runConnect() {
  emit({ event: "ready" });
  const opened = [];
  if (await waitForGo()) {
    const expectRefused = spec.expect === "refused";
    const waitUpgrade = spec.expect === "upgrade";
    const errors = {};
    const latencies = [];
    let succeeded = 0;
    let failed = 0;
    const step = startStep();
    // Sockets stay open until the step ends, so the server's CPU over this step
    // is the cost of connecting only; closing is the next, separate step.
    await pool(spec.n, spec.concurrency || 50, deadlineFromNow(spec.deadlineSeconds), async () => {
      const outcome = await openSocket({ waitUpgrade });
      opened.push(outcome.socket);
      const good = expectRefused ? outcome.refused : outcome.ok;
      if (good) {
        succeeded++;
        latencies.push(outcome.ms);
      } else failed++;
      if (!outcome.ok) countInto(errors, outcome.error);
    });
    const measured = finishStep(step);
    emit({
      event: "result",
      step: "connect",
      succeeded,
      failed,
      errors,
      rate: succeeded / measured.seconds,
      latencyMs: latencySummary(latencies),
      latenciesMs: rawLatencies(latencies),
      ...measured,
    });
  }
  if (await waitForGo()) {
    const step = startStep();
    closeAll(opened);
    emit({ event: "result", step: "close", closed: opened.length, ...finishStep(step) });
  }
  await doneThenClose([]);
}

async function runIdle() {
  const sockets = [];
  let failed = 0;
  const errors = {};
  emit({ event: "ready" });
  for (const [stage, target] of (spec.stages || []).entries()) {
    if (!(await waitForGo())) break;
    const step = startStep();
    const before = sockets.length;
    failed += await openMany(Math.max(0, target - before), sockets, errors, deadlineFromNow(spec.deadlineSeconds));
    // Counted from the moment each socket is in (openMany attaches nothing):
    // a socket that leaves while later ones are still opening counts too.
    const connectSeconds = finishStep(step).seconds;
    progress(`stage ${stage}: ${sockets.length} open after ${connectSeconds.toFixed(1)} s; holding until "report"`);
    emit({ event: "connected", stage, open: sockets.length, connectSeconds });
    // The harness decides how long the sockets are held (every target of a
    // run is held together), then asks for the report.
    const cmd = await nextCommand();
    if (cmd !== "report") break;
    emit({
      event: "result",
      stage,
      target,
      open: sockets.length,
      stillConnected: sockets.filter((s) => s.connected).length,
      dropped: sockets.filter((s) => s.bench_dropped).length,
      failed,
      errors,
      connectSeconds,
      ...finishStep(step),
    });
  }
  await doneThenClose(sockets);
}

async function runEcho() {
  const sockets = [];
  const errors = {};
  const failedToOpen = await openMany(spec.clients, sockets, errors, deadlineFromNow(spec.deadlineSeconds));
  emit({ event: "ready", open: sockets.length, failed: failedToOpen, errors });
  if (await waitForGo()) {
    const latencies = [];
    let acked = 0;
    let wrong = 0;
    let lost = 0;
    const deadline = deadlineFromNow(spec.deadlineSeconds);
    const step = startStep();
    await Promise.all(
      sockets.map(async (socket, client) => {
        for (let seq = 0; seq < spec.perClient && Date.now() < deadline; seq++) {
          const sent = process.hrtime.bigint();
          try {
            const reply = await socket.timeout(10000).emitWithAck("echo", { client, seq, text: "hello" });
            latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
            if (reply && reply.client === client && reply.seq === seq) acked++;
            else wrong++;
          } catch {
            lost++;
          }
        }
      }),
    );
    const measured = finishStep(step);
    emit({
      event: "result",
      acked,
      wrong,
      lost,
      rate: acked / measured.seconds,
      latencyMs: latencySummary(latencies),
      latenciesMs: rawLatencies(latencies),
      ...measured,
    });
  }
  await doneThenClose(sockets);
}

/** Which round a fan-out message belongs to ("round-<r>"), or null for any other message. */
function roundOf(msg) {
  const match = msg && typeof msg.text === "string" ? /^round-(\d+)$/.exec(msg.text) : null;
  return match ? Number(match[1]) : null;
}

/**
 * Count the fan-out messages this process's sockets receive, from now on (a
 * receiver must listen before the sender can send). A round's copies count
 * until a later round begins; an earlier round's copy after that is late
 * (its round timed out) and ignored. counter.onAll(round, atNs) runs when
 * every joined socket has the round's message.
 */
function countRounds(sockets, joined) {
  const counter = {
    round: -1,
    received: 0,
    delivered: 0,
    onAll: () => {},
    begin(round) {
      counter.round = round;
      counter.received = 0;
    },
  };
  for (const socket of sockets) {
    socket.on("message", (msg) => {
      const round = roundOf(msg);
      if (round === null || round < counter.round) return;
      if (round > counter.round) counter.begin(round);
      counter.delivered++;
      if (++counter.received === joined) counter.onAll(round, nowNs());
    });
  }
  return counter;
}

/**
 * Send spec.rounds messages from the first socket, one round at a time. A round
 * is complete when this process's sockets all have it and every receiver has
 * relayed its "got"; its time runs from the send to the last socket's receipt
 * in any process (the relay's own delay is not in it). A round that times out
 * counts as incomplete, and the next round's tag differs.
 */
async function sendRounds(sockets, joined, counter, conversation) {
  const roundMs = [];
  let incomplete = 0;
  let inFlight = null;
  function settle() {
    if (inFlight.ownAt !== null && inFlight.receiverAts.length >= (spec.receivers || 0)) inFlight.finish(true);
  }
  counter.onAll = (round, at) => {
    if (inFlight && inFlight.round === round) {
      inFlight.ownAt = at;
      settle();
    }
  };
  onRelay = (round, at) => {
    if (inFlight && inFlight.round === round) {
      inFlight.receiverAts.push(at);
      settle();
    }
  };
  const deadline = deadlineFromNow(spec.deadlineSeconds);
  for (let round = 0; round < spec.rounds && Date.now() < deadline && joined > 0; round++) {
    counter.begin(round);
    const complete = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), spec.roundTimeoutMs || 10000);
      const finish = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
      inFlight = { round, sentAt: nowNs(), ownAt: null, receiverAts: [], finish };
      sockets[0].emit("message", { conversation, text: `round-${round}` });
    });
    if (complete) roundMs.push((Math.max(inFlight.ownAt, ...inFlight.receiverAts) - inFlight.sentAt) / 1e6);
    else incomplete++;
    inFlight = null;
  }
  return { rounds: roundMs.length, incomplete, roundMs: latencySummary(roundMs) };
}

/**
 * A receiver reports each round its sockets all got (counter.onAll, set before
 * "ready") until the harness says "stop", which it does once the sender's
 * result is in. The sender's last round can start just before its deadline and
 * take roundTimeoutMs; STOP_GRACE_MS past that, this process stops on its own.
 * It has no rounds of its own to report.
 */
async function receiveRounds() {
  const limitMs = 1000 * (spec.deadlineSeconds || 120) + (spec.roundTimeoutMs || 10000) + STOP_GRACE_MS;
  const cmd = await nextCommandWithin(limitMs);
  if (cmd !== "stop") progress(`stopping on "${cmd}"`);
  return {};
}

async function runFanout() {
  const sockets = [];
  const errors = {};
  const conversation = spec.conversation || "bench";
  const receiving = spec.role === "receive";
  const failedToOpen = await openMany(spec.clients, sockets, errors, deadlineFromNow(spec.deadlineSeconds));
  let joined = 0;
  await pool(sockets.length, spec.concurrency || 50, deadlineFromNow(spec.deadlineSeconds), async (i) => {
    try {
      const reply = await sockets[i].timeout(10000).emitWithAck("join", { conversation });
      if (reply && reply.ok) joined++;
    } catch {
      countInto(errors, "join timeout");
    }
  });
  const counter = countRounds(sockets, joined);
  if (receiving) counter.onAll = (round, at) => emit({ event: "got", round, at });
  emit({ event: "ready", open: sockets.length, joined, failed: failedToOpen, errors });
  if (await waitForGo()) {
    const step = startStep();
    const rounds = receiving ? await receiveRounds() : await sendRounds(sockets, joined, counter, conversation);
    const measured = finishStep(step);
    const delivered = counter.delivered;
    emit({ event: "result", recipients: joined, delivered, rate: delivered / measured.seconds, ...rounds, ...measured });
  }
  await doneThenClose(sockets);
}

const modes = { connect: runConnect, idle: runIdle, echo: runEcho, fanout: runFanout };

async function main() {
  const run = modes[spec.mode];
  if (!run) {
    console.error(`unknown mode ${JSON.stringify(spec.mode)}; use one of ${Object.keys(modes).join(", ")}`);
    process.exit(2);
  }
  await run();
  emit({ event: "closed" });
  rl.close();
  // Sockets are closed; give their close frames a moment, then leave even if a
  // transport still holds the event loop open.
  setTimeout(() => process.exit(0), 200).unref();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
