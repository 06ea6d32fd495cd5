// Records the raw websocket text frames a CyTube-compatible server (the devserver) sends
// to a client that joins, logs in, chats, PMs, adds media and polls, one frame per line:
// the seed corpus of the `cytube_frames` fuzz target (docs/fuzzing.md).
//
// usage: node --experimental-websocket capture_cytube.js [BASE_URL] [CHANNEL] [NAME] [PASSWORD]
//          > frames.txt
//   (Node 20; Node 22 and later have WebSocket without the flag.)
"use strict";

const [base = "http://127.0.0.1:8880", channel = "fuzz", name = "fuzzer", pw] =
  process.argv.slice(2);

async function main() {
  const config = await (await fetch(`${base}/socketconfig/${channel}.json`)).json();
  const server = config.servers[0].url.replace(/^http/, "ws");
  const ws = new WebSocket(`${server}/socket.io/?EIO=4&transport=websocket`);
  const emit = (...args) => ws.send("42" + JSON.stringify(args));
  const steps = [
    () => emit("joinChannel", { name: channel }),
    () => emit("login", pw === undefined ? { name } : { name, pw }),
    () => emit("chatMsg", { msg: "hello <b>world</b> & friends :)", meta: {} }),
    () => emit("chatMsg", { msg: "/me waves", meta: {} }),
    () => emit("pm", { to: name, msg: "a private note", meta: {} }),
    () => emit("pm", { to: "nobody", msg: "to nobody", meta: {} }),
    () => emit("queue", { id: "dQw4w9WgXcQ", type: "yt", pos: "end", temp: true }),
    () => emit("queue", { id: "https://example.com/a.mp4", type: "fi", pos: "next", temp: false }),
    () => emit("newPoll", { title: "Best?", opts: ["a", "b"], obscured: false }),
    () => emit("vote", { option: 0 }),
    () => emit("closePoll"),
    () => emit("playerReady"),
    () => emit("requestPlaylist"),
    () => emit("chatMsg", { msg: "/kick nobody", meta: {} }),
    () => emit("setAFK"),
    () => emit("moveMedia", { from: 2, after: "prepend" }),
    () => emit("delete", 1),
    () => emit("chatMsg", { msg: "bye", meta: {} }),
  ];
  ws.onmessage = (m) => {
    console.log(m.data);
    if (m.data.startsWith("0")) ws.send("40");
    if (m.data.startsWith("2")) ws.send("3");
    if (m.data.startsWith("40")) {
      steps.forEach((step, i) => setTimeout(step, 300 * (i + 1)));
      setTimeout(() => process.exit(0), 300 * (steps.length + 3));
    }
  };
  ws.onerror = (e) => {
    console.error(e.message || e);
    process.exit(1);
  };
}

main();
