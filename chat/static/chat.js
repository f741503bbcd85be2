/*
 * The conversation page: one Socket.IO connection, authenticated by the
 * session cookie, and a page that always says what state it is in.
 *
 * Plain browser JavaScript, no build step. Everything a user or another
 * person typed is put on the page with textContent, never as HTML.
 *
 * Connection states (shown in #connection[data-state]):
 *   connecting    first attempt
 *   connected     joined and live
 *   reconnecting  the connection dropped, or the server is restarting
 *                 (server_shutdown); the client connects again by itself
 *   unavailable   the server refused because the session store did not answer;
 *                 this page retries with backoff
 *   refused       the server refused the session: log in again
 *   ended         the session ended while connected (logout elsewhere, revoked, expired)
 *   disconnected  the server closed the connection without saying why
 *   failed        the Socket.IO client script could not be loaded
 */
(function () {
  "use strict";

  // The refusals of realtime's connect guard (realtime/auth.py): those that
  // only a new login can fix, and the one that goes away by itself.
  var LOGIN_REASONS = ["no_cookie", "unknown_session", "anonymous"];
  var LOGIN_MESSAGES = ["Cookie not found", "Session is not authenticated"];
  var RETRY_REASONS = ["unavailable", "error"];
  var RETRY_MESSAGES = ["Session store unavailable"];
  // realtime/shutdown.py: an instance that is shutting down refuses new
  // sockets; another instance (or this one, restarted) takes them.
  var MOVE_REASONS = ["shutting_down"];

  var ENDED_TEXT = {
    logout: "You were logged out in another tab or window.",
    revoked: "Your session was ended on the server.",
    expired: "Your session expired.",
  };

  var ACK_TIMEOUT_MS = 5000;
  var MAX_KEPT_MESSAGES = 500;

  /** Seconds before retry number `attempt` (1, 2, ...): doubling, capped, with jitter. */
  function retryDelaySeconds(attempt) {
    var base = Math.min(30, Math.pow(2, attempt - 1));
    return base * (0.8 + Math.random() * 0.4);
  }

  /** "refuse-login", "retry", "move" or "refuse" for a server's connect_error. */
  function classifyRefusal(message, reason) {
    if (LOGIN_REASONS.indexOf(reason) >= 0 || LOGIN_MESSAGES.indexOf(message) >= 0) return "refuse-login";
    if (RETRY_REASONS.indexOf(reason) >= 0 || RETRY_MESSAGES.indexOf(message) >= 0) return "retry";
    if (MOVE_REASONS.indexOf(reason) >= 0) return "move";
    return "refuse";
  }

  function formatTime(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // -- the page ----------------------------------------------------------

  var app = document.getElementById("app");
  var me = app.dataset.uid;
  var loginUrl = app.dataset.loginUrl;
  var el = {
    connection: document.getElementById("connection"),
    connectionText: document.getElementById("connection-text"),
    connectionDetail: document.getElementById("connection-detail"),
    notice: document.getElementById("notice"),
    noticeText: document.getElementById("notice-text"),
    noticeAction: document.getElementById("notice-action"),
    title: document.getElementById("conversation-title"),
    online: document.getElementById("online"),
    onlineCount: document.getElementById("online-count"),
    log: document.getElementById("log"),
    empty: document.getElementById("empty"),
    messages: document.getElementById("messages"),
    composer: document.getElementById("composer"),
    label: document.getElementById("message-label"),
    text: document.getElementById("message-text"),
    send: document.getElementById("send"),
    error: document.getElementById("composer-error"),
    logout: document.getElementById("logout-form"),
  };
  var links = Array.prototype.slice.call(document.querySelectorAll("[data-conversation]"));
  var conversations = links.map(function (link) { return link.dataset.conversation; });

  var state = "connecting";
  var current = null;           // the conversation shown
  var kept = {};                // conversation -> messages received while on this page
  var sending = false;
  var loggingOut = false;
  var sessionEnded = null;      // the reason of session_ended, once received
  var serverMoving = false;     // server_shutdown received: the next disconnect means "connect again"
  var retry = { attempt: 0, timer: null };

  /**
   * Show connection state `name`: a short `label` in the status bar and, when
   * the person has something to read or do, a `detail` sentence and an
   * `action` link in the notice above the messages. The status bar is the one
   * live region for both, so a screen reader hears each change once.
   */
  function setState(name, label, detail, action) {
    state = name;
    el.connection.dataset.state = name;
    el.connectionText.textContent = label;
    el.connectionDetail.textContent = detail ? " — " + detail : "";
    if (detail) {
      showNotice(detail, action);
    } else {
      hideNotice();
    }
    if (name !== "connected") renderPresence(null);  // who is online is unknown while not connected
    var permanent = name === "refused" || name === "ended" || name === "disconnected" || name === "failed";
    el.text.disabled = permanent;
    updateSendButton();
    if (name === "connected") clearError();
  }

  function showNotice(text, action) {
    el.noticeText.textContent = text;
    el.notice.dataset.kind = state;
    if (action) {
      el.noticeAction.textContent = action.label;
      el.noticeAction.href = action.href || "#";
      el.noticeAction.onclick = action.onClick || null;
      el.noticeAction.hidden = false;
    } else {
      el.noticeAction.hidden = true;
      el.noticeAction.onclick = null;
    }
    el.notice.hidden = false;
  }

  function hideNotice() {
    el.notice.hidden = true;
  }

  function updateSendButton() {
    el.send.disabled = state !== "connected" || sending || el.text.disabled;
  }

  function showError(text) {
    el.error.textContent = text;
  }

  function clearError() {
    el.error.textContent = "";
  }

  // -- conversations -----------------------------------------------------

  function conversationFromHash() {
    var name = decodeURIComponent(window.location.hash.replace(/^#/, ""));
    return conversations.indexOf(name) >= 0 ? name : conversations[0];
  }

  function show(conversation) {
    current = conversation;
    links.forEach(function (link) {
      if (link.dataset.conversation === conversation) {
        link.setAttribute("aria-current", "page");
      } else {
        link.removeAttribute("aria-current");
      }
    });
    el.title.textContent = conversation;
    el.label.textContent = "Message " + conversation;
    el.text.placeholder = "Message #" + conversation;
    document.title = "#" + conversation + " · realtime";
    renderPresence(null);
    el.messages.textContent = "";
    (kept[conversation] || []).forEach(renderMessage);
    updateEmpty();
  }

  function switchTo(conversation, byUser) {
    if (conversation === current) return;
    var previous = current;
    show(conversation);
    if (socket && socket.connected) {
      if (previous) socket.emit("leave", { conversation: previous });
      join();
    }
    if (byUser && !el.text.disabled) el.text.focus();
  }

  function join() {
    var conversation = current;
    socket.timeout(ACK_TIMEOUT_MS).emit("join", { conversation: conversation }, function (err, ack) {
      if (conversation !== current) return;  // switched away meanwhile
      if (err) {
        showError("Could not join " + conversation + ": the server did not answer. Reload to try again.");
      } else if (!ack.ok) {
        showError("Could not join " + conversation + ": " + ack.message);
      } else {
        renderPresence(ack.online);
      }
    });
  }

  // -- rendering (textContent only) --------------------------------------

  /** The people online in the current conversation; null when unknown. */
  function renderPresence(online) {
    el.online.textContent = "";
    el.onlineCount.textContent = online ? String(online.length) : "–";
    (online || []).forEach(function (uid) {
      var item = document.createElement("li");
      item.className = "person";
      item.dataset.uid = uid;
      item.textContent = uid;
      if (uid === me) {
        var you = document.createElement("span");
        you.className = "you";
        you.textContent = " (you)";
        item.appendChild(you);
      }
      el.online.appendChild(item);
    });
  }

  function renderMessage(message) {
    var stick = el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 48;
    var item = document.createElement("li");
    item.className = "message" + (message.uid === me ? " message-mine" : "");
    item.dataset.id = message.id;

    var meta = document.createElement("p");
    meta.className = "message-meta";
    var sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = message.uid;
    var when = new Date(message.ts * 1000);
    var time = document.createElement("time");
    time.className = "time";
    time.dateTime = when.toISOString();
    time.title = when.toLocaleString();
    time.textContent = formatTime(when);
    meta.appendChild(sender);
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(time);

    var text = document.createElement("p");
    text.className = "message-text";
    text.textContent = message.text;

    item.appendChild(meta);
    item.appendChild(text);
    el.messages.appendChild(item);
    if (stick) el.log.scrollTop = el.log.scrollHeight;
  }

  function updateEmpty() {
    el.empty.hidden = el.messages.childElementCount > 0;
  }

  function receive(message) {
    var messages = kept[message.conversation] || (kept[message.conversation] = []);
    messages.push(message);
    if (messages.length > MAX_KEPT_MESSAGES) messages.shift();
    if (message.conversation === current) {
      renderMessage(message);
      updateEmpty();
    }
  }

  // -- sending -------------------------------------------------------------

  function send() {
    var text = el.text.value;
    if (!text.trim() || sending) return;
    if (!socket || !socket.connected) {
      showError("Not sent: you are not connected. Your message is kept; send it when the connection is back.");
      return;
    }
    sending = true;
    updateSendButton();
    var conversation = current;
    socket.timeout(ACK_TIMEOUT_MS).emit("message", { conversation: conversation, text: text }, function (err, ack) {
      sending = false;
      updateSendButton();
      if (err) {
        showError("Not sent: the server did not answer in time. Your message is kept; try again.");
      } else if (!ack.ok) {
        showError("Not sent: " + ack.message);
      } else {
        if (el.text.value === text) {
          el.text.value = "";
          fitToText();
        }
        clearError();
      }
    });
  }

  el.composer.addEventListener("submit", function (event) {
    event.preventDefault();
    send();
  });
  el.text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  /** Grow the message box with its text, up to the CSS max-height. */
  function fitToText() {
    el.text.style.height = "auto";
    el.text.style.height = el.text.scrollHeight + 2 + "px";  // + the borders
  }

  el.text.addEventListener("input", fitToText);
  el.logout.addEventListener("submit", function () {
    loggingOut = true;
  });
  window.addEventListener("hashchange", function () {
    switchTo(conversationFromHash(), true);
  });

  // -- the connection ------------------------------------------------------

  show(conversationFromHash());

  if (typeof window.io !== "function") {
    var script = document.currentScript || document.querySelector("script[data-client-url]");
    setState("failed", "Not connected", "The realtime client could not be loaded (" + script.dataset.clientUrl +
      "). Check your connection or content blockers, then reload.", { label: "Reload", href: window.location.href });
    return;
  }

  var socket = window.io({ autoConnect: false, reconnectionDelayMax: 10000 });

  socket.on("connect", function () {
    retry.attempt = 0;
    serverMoving = false;
    setState("connected", "Connected");
    join();
  });

  socket.on("connect_error", function (err) {
    if (socket.active) {
      // A network or transport failure: the client retries by itself.
      setState("reconnecting", "Reconnecting…");
      return;
    }
    // The server refused the socket, and the client will not retry by itself.
    var reason = err.data && err.data.reason;
    var kind = classifyRefusal(err.message, reason);
    if (kind === "refuse-login") {
      setState("refused", "Not connected", err.message + ". Log in to continue.", { label: "Log in", href: loginUrl });
    } else if (kind === "retry") {
      scheduleRetry(err.message);
    } else if (kind === "move") {
      setState("reconnecting", "Reconnecting…");
      clearTimeout(retry.timer);
      retry.timer = setTimeout(function () { socket.connect(); }, 1000 + Math.random() * 2000);
    } else {
      setState("refused", "Not connected", err.message + ".", { label: "Reload", href: window.location.href });
    }
  });

  function scheduleRetry(message) {
    retry.attempt += 1;
    var seconds = retryDelaySeconds(retry.attempt);
    setState("unavailable", "Not connected", message + ". Retrying in " + Math.max(1, Math.round(seconds)) +
      " s (attempt " + retry.attempt + ").", { label: "Retry now", onClick: retryNow });
    clearTimeout(retry.timer);
    retry.timer = setTimeout(reconnect, seconds * 1000);
  }

  function retryNow(event) {
    event.preventDefault();
    clearTimeout(retry.timer);
    reconnect();
  }

  function reconnect() {
    setState("connecting", "Connecting…");
    socket.connect();
  }

  socket.io.on("reconnect_attempt", function (attempt) {
    if (sessionEnded === null) setState("reconnecting", "Reconnecting (attempt " + attempt + ")…");
  });

  socket.on("session_ended", function (payload) {
    sessionEnded = (payload && payload.reason) || "ended";
    if (loggingOut) {
      setState("ended", "Logging out…");
    } else {
      setState("ended", "Session ended", ENDED_TEXT[sessionEnded] || "Your session ended.",
        { label: "Log in again", href: loginUrl });
    }
    // The server disconnects us; never let the client try again on its own.
    socket.disconnect();
  });

  socket.on("server_shutdown", function () {
    serverMoving = true;
    setState("reconnecting", "Server restarting. Reconnecting…");
  });

  socket.on("disconnect", function (reason) {
    if (sessionEnded !== null || loggingOut) return;
    if (reason === "io server disconnect" && serverMoving) {
      // The server spread these disconnects over its drain window: connect again now.
      setState("reconnecting", "Server restarting. Reconnecting…");
      socket.connect();
    } else if (reason === "io server disconnect") {
      setState("disconnected", "Disconnected", "The server closed the connection.",
        { label: "Reload", href: window.location.href });
    } else if (reason !== "io client disconnect") {
      setState("reconnecting", "Reconnecting…");
    }
  });

  socket.on("presence", function (payload) {
    if (payload && payload.conversation === current) renderPresence(payload.online);
  });

  socket.on("message", receive);

  setState("connecting", "Connecting…");
  socket.connect();
})();
