"use strict";
/**
 * Read a Flask session cookie in node, exactly as Flask's
 * SecureCookieSessionInterface does: itsdangerous URLSafeTimedSerializer with
 * salt "cookie-session", HMAC key derivation and SHA-1, optional zlib payload.
 *
 * Pure functions, no I/O: the peer server uses them to give node socket.io the
 * same cookie check the Python app performs, so the benchmark compares equal work.
 */

const crypto = require("node:crypto");
const zlib = require("node:zlib");

const SALT = "cookie-session";

function b64urlDecode(text) {
  return Buffer.from(text, "base64url");
}

function deriveKey(secretKey) {
  // itsdangerous key_derivation="hmac": HMAC(secret, salt).
  return crypto.createHmac("sha1", secretKey).update(SALT).digest();
}

/**
 * Return the session dict a cookie value carries, or null when the signature
 * is wrong, the cookie is malformed, or it is older than maxAgeSeconds.
 */
function loadSession(value, secretKey, maxAgeSeconds, nowSeconds = Date.now() / 1000) {
  if (typeof value !== "string") return null;
  const lastDot = value.lastIndexOf(".");
  if (lastDot <= 0) return null;
  const signed = value.slice(0, lastDot);
  const signature = b64urlDecode(value.slice(lastDot + 1));
  const expected = crypto.createHmac("sha1", deriveKey(secretKey)).update(signed).digest();
  if (signature.length !== expected.length || !crypto.timingSafeEqual(signature, expected)) {
    return null;
  }
  const tsDot = signed.lastIndexOf(".");
  if (tsDot <= 0) return null;
  const stampBytes = b64urlDecode(signed.slice(tsDot + 1));
  let stamp = 0;
  for (const byte of stampBytes) stamp = stamp * 256 + byte;
  const age = nowSeconds - stamp;
  if (age > maxAgeSeconds || age < -1) return null;
  let payload = signed.slice(0, tsDot);
  let raw;
  try {
    raw = payload.startsWith(".")
      ? zlib.inflateSync(b64urlDecode(payload.slice(1)))
      : b64urlDecode(payload);
    const session = JSON.parse(raw.toString("utf8"));
    return session !== null && typeof session === "object" ? session : null;
  } catch {
    return null;
  }
}

/** Pick one cookie out of a Cookie header ("a=1; session=...; b=2"). */
function cookieFromHeader(header, name) {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      let val = part.slice(eq + 1).trim();
      if (val.startsWith('"') && val.endsWith('"')) val = val.slice(1, -1);
      return val;
    }
  }
  return null;
}

module.exports = { loadSession, cookieFromHeader };
