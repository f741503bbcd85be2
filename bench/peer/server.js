"use strict";
/**
 * The benchmark's peer: a node socket.io 4 server doing what the realtime app
 * does, so "app vs peer" compares stacks, not features.
 *
 * - Connect: an io.use() middleware reads the Flask session cookie (same
 *   SECRET_KEY, same signature check as Flask), then makes exactly one HTTP
 *   lookup of the session record in ArangoDB (the test server), and refuses
 *   with the app's messages unless the record exists, is unexpired and has a uid.
 * - Events: join {conversation} -> ack {ok, conversation}; message
 *   {conversation, text} -> "message" {id, conversation, uid, text, ts} to the
 *   whole conversation; echo (any) -> ack with the same data.
 *
 * socket.io's defaults are kept (notably perMessageDeflate: false, the engine.io
 * default), as a node deployment would run it.
 *
 * Environment: PORT (0 = any), HOST (default 127.0.0.1), SECRET_KEY, ARANGO_URL,
 * ARANGO_USERNAME, ARANGO_PASSWORD, ARANGO_DB (default "realtime"),
 * ARANGO_SESSIONS (default "sessions"), SESSION_COOKIE_NAME (default "session"),
 * SESSION_MAX_AGE (seconds, default 31 days like Flask's PERMANENT_SESSION_LIFETIME).
 * Prints "listening on http://HOST:PORT" once it accepts connections.
 */

const http = require("node:http");
const { Server } = require("socket.io");
const { loadSession, cookieFromHeader } = require("./flask-cookie.js");

const env = process.env;
const secretKey = env.SECRET_KEY;
if (!secretKey) {
  console.error("SECRET_KEY is not set: the peer needs the app's secret to read its session cookie.");
  process.exit(2);
}
const arangoUrl = new URL(env.ARANGO_URL || "http://127.0.0.1:8529");
const arangoDb = env.ARANGO_DB || "realtime";
const sessionsCollection = env.ARANGO_SESSIONS || "sessions";
const cookieName = env.SESSION_COOKIE_NAME || "session";
const maxAge = Number(env.SESSION_MAX_AGE || 31 * 24 * 3600);
const authorization =
  "Basic " + Buffer.from(`${env.ARANGO_USERNAME || "root"}:${env.ARANGO_PASSWORD || ""}`).toString("base64");
const arangoAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });

class RefusedError extends Error {}

/** One GET of the session record; resolves to the document or null (404). */
function fetchSession(sid) {
  const path = `/_db/${arangoDb}/_api/document/${sessionsCollection}/${encodeURIComponent(sid)}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: arangoUrl.hostname,
        port: arangoUrl.port,
        path,
        method: "GET",
        agent: arangoAgent,
        headers: { authorization, accept: "application/json" },
        timeout: 5000,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode === 404) return resolve(null);
          if (res.statusCode !== 200) return reject(new Error(`ArangoDB answered HTTP ${res.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("ArangoDB lookup timed out")));
    req.on("error", reject);
    req.end();
  });
}

async function authenticate(cookieHeader) {
  const value = cookieFromHeader(cookieHeader, cookieName);
  if (!value) throw new RefusedError("Cookie not found");
  const session = loadSession(value, secretKey, maxAge);
  if (!session || typeof session.sid !== "string") throw new RefusedError("Session is not authenticated");
  let record;
  try {
    record = await fetchSession(session.sid);
  } catch (err) {
    throw new RefusedError("Session store unavailable");
  }
  const now = Date.now() / 1000;
  if (!record || !record.uid || !(Number(record.expires_at) > now)) {
    throw new RefusedError("Session is not authenticated");
  }
  return { uid: record.uid, sid: session.sid };
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "text/plain" });
  res.end(req.url === "/healthz" ? "ok" : "not found");
});
const io = new Server(httpServer);
let messageIds = 0;

io.use((socket, next) => {
  authenticate(socket.handshake.headers.cookie).then(
    (identity) => {
      socket.data.uid = identity.uid;
      next();
    },
    (err) => next(err instanceof RefusedError ? err : new Error("Session store unavailable")),
  );
});

io.on("connection", (socket) => {
  socket.on("join", (data, ack) => {
    const conversation = String(data && data.conversation);
    socket.join(`conversation:${conversation}`);
    if (typeof ack === "function") ack({ ok: true, conversation });
  });
  socket.on("message", (data) => {
    const conversation = String(data && data.conversation);
    io.to(`conversation:${conversation}`).emit("message", {
      id: ++messageIds,
      conversation,
      uid: socket.data.uid,
      text: String(data && data.text),
      ts: Date.now() / 1000,
    });
  });
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
});

const host = env.HOST || "127.0.0.1";
httpServer.listen(Number(env.PORT || 0), host, () => {
  console.log(`listening on http://${host}:${httpServer.address().port}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
