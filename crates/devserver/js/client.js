// Connects to a rosey devserver (or any CyTube server) with the official socket.io-client
// v4, joins a channel, logs in as a guest, sends one chat line, prints every event it
// receives as one JSON line `["event", ...args]`, and exits 0 once its own line comes back.
//
// usage: node client.js [BASE_URL] [CHANNEL] [NAME] [MESSAGE] [CHANNEL_PASSWORD]
//   BASE_URL defaults to http://127.0.0.1:8880; the socket.io URL is taken from
//   BASE_URL/socketconfig/CHANNEL.json, as the CyTube web client does.
"use strict";

const { io } = require("socket.io-client");

const [base = "http://127.0.0.1:8880", channel = "test", name = "jsguest",
       message = "hello from socket.io-client", password] = process.argv.slice(2);
const TIMEOUT_MS = 10000;

function out(event, ...args) {
  console.log(JSON.stringify([event, ...args]));
}

async function main() {
  const res = await fetch(`${base}/socketconfig/${channel}.json`);
  const config = await res.json();
  out("#socketconfig", config);
  const server = config.servers.find((s) => s.secure) || config.servers[0];

  const socket = io(server.url, { reconnection: false });
  const timer = setTimeout(() => {
    out("#timeout", TIMEOUT_MS);
    process.exit(1);
  }, TIMEOUT_MS);

  socket.onAny((event, ...args) => {
    out(event, ...args);
    if (event === "needPassword" && password !== undefined) {
      socket.emit("channelPassword", password);
    }
    if (event === "login" && args[0] && args[0].success) {
      socket.emit("chatMsg", { msg: message, meta: {} });
    }
    if (event === "chatMsg" && args[0].username === name) {
      clearTimeout(timer);
      out("#done", args[0].msg);
      socket.disconnect();
      process.exit(0);
    }
  });
  socket.on("connect", () => {
    // Only after the CONNECT ack (protocol doc §1.2): join, then log in.
    out("#connect", socket.id);
    socket.emit("joinChannel", { name: channel });
    socket.emit("login", { name });
  });
  socket.on("connect_error", (err) => {
    out("#connect_error", err.message);
    process.exit(1);
  });
  socket.on("disconnect", (reason) => out("#disconnect", reason));
}

main().catch((err) => {
  out("#error", String(err));
  process.exit(1);
});
