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

  async function tick() {
    const sender = localStorage.getItem(SENDER_KEY);
    if (sender) {
      const after = Number(localStorage.getItem(AFTER_KEY) || 0);
      try {
        const url = "/webhooks/rest/pushes?sender=" + encodeURIComponent(sender) + "&after=" + after;
        const res = await fetch(url);
        if (res.ok) {
          for (const m of await res.json()) {
            show(m.text);
            localStorage.setItem(AFTER_KEY, String(Math.max(after, m.id)));
          }
        }
      } catch (e) { /* offline: the next tick tries again */ }
    }
    setTimeout(tick, 2000);
  }
  tick();
})();
