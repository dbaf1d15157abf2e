// For the web chat page (bot/web/static/chat.html): fetch messages no reply carried —
// staff replies during a handover and case notices — since the REST channel cannot push.
// Include with <script src="/console/static/chat-pushes.js" defer></script>.
"use strict";
(() => {
  const SENDER_KEY = "weiquan.sender";
  const AFTER_KEY = "weiquan.pushes.after";
  const log = document.getElementById("log");
  if (!log) return;

  function show(text) {
    const div = document.createElement("div");
    div.className = "msg bot push";
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }

  // The chat page (chat.js) draws a message with its buttons; a photo being read there
  // ("正在识别…") is waited for with a poll every second instead of every two.
  const chat = window.weiquanChat;
  const busy = () => Boolean(chat && chat.reading());
  let timer = null;
  let running = false;

  async function tick() {
    timer = null;
    running = true;
    const sender = localStorage.getItem(SENDER_KEY);
    if (sender) {
      let after = Number(localStorage.getItem(AFTER_KEY) || 0);
      try {
        const url = "/webhooks/rest/pushes?sender=" + encodeURIComponent(sender) + "&after=" + after;
        const res = await fetch(url);
        if (res.ok) {
          for (const m of await res.json()) {
            if (m.id <= after) continue;
            if (chat) {
              if (m.buttons && m.buttons.length) chat.disableOldButtons();
              chat.render([m], "push");
            } else {
              show(m.text);
            }
            after = m.id;
            localStorage.setItem(AFTER_KEY, String(after));
          }
        }
      } catch (e) { /* offline: the next tick tries again */ }
    }
    running = false;
    timer = setTimeout(tick, busy() ? 1000 : 2000);
  }
  document.addEventListener("weiquan:reading", () => {
    if (running || timer === null) return;
    clearTimeout(timer);
    timer = setTimeout(tick, 1000);
  });
  tick();
})();
