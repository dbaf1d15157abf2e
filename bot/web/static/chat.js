// The web chat page (chat.html); a file of its own so the page's CSP allows no inline script.
"use strict";
(() => {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const fileInput = document.getElementById("file");
  const key = "weiquan.sender";
  let sender = localStorage.getItem(key);
  if (!sender) {
    sender = "web-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
    localStorage.setItem(key, sender);
  }
  const newId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());

  function scroll() { log.scrollTop = log.scrollHeight; }
  function bubble(cls, text) {
    const div = document.createElement("div");
    div.className = "msg " + cls;
    div.textContent = text;
    log.appendChild(div);
    scroll();
    return div;
  }
  function disableOldButtons() {
    log.querySelectorAll(".buttons button").forEach(b => b.disabled = true);
  }
  // A photo being read: a progress line until its reading arrives (through the pushes,
  // chat-pushes.js), which polls faster meanwhile.
  function reading(custom) {
    if (!custom || !custom.reading) return;
    const id = String(custom.evidence_id);
    const shown = Array.from(log.querySelectorAll(".reading")).filter(d => d.dataset.evidence === id);
    if (custom.reading === "done") { shown.forEach(d => d.remove()); return; }
    if (custom.reading !== "pending" || shown.length) return;
    const div = document.createElement("div");
    div.className = "reading";
    div.dataset.evidence = id;
    div.setAttribute("role", "status");
    div.textContent = "正在识别…";
    log.appendChild(div);
    document.dispatchEvent(new CustomEvent("weiquan:reading"));
  }
  function render(replies, cls) {
    for (const r of replies) {
      const div = bubble(cls ? "bot " + cls : "bot", r.text);
      if (r.custom && r.custom.case_no) div.classList.add("case");
      reading(r.custom);
      if (r.buttons && r.buttons.length) {
        const row = document.createElement("div");
        row.className = "buttons";
        for (const b of r.buttons) {
          const btn = document.createElement("button");
          btn.type = "button";
          btn.textContent = b.title;
          btn.addEventListener("click", () => send(b.payload, b.title));
          row.appendChild(btn);
        }
        log.appendChild(row);
      }
    }
    scroll();
  }
  async function call(url, options) {
    const typing = document.createElement("div");
    typing.className = "typing";
    typing.textContent = "正在输入…";
    log.appendChild(typing);
    scroll();
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const res = await fetch(url, options);
          const body = await res.json().catch(() => null);
          if (res.status === 429) {
            bubble("error", "发送太频繁，请 " + (res.headers.get("Retry-After") || "几") + " 秒后再试。");
            return;
          }
          if (!res.ok) {
            bubble("error", (body && body.message) ? "发送失败：" + body.message : "发送失败（" + res.status + "）");
            return;
          }
          render(body);
          return;
        } catch (err) {
          if (attempt === 2) bubble("error", "网络异常，请稍后再试。");
          else await new Promise(r => setTimeout(r, 800 * (attempt + 1)));
        }
      }
    } finally {
      typing.remove();
    }
  }
  function send(message, shown, silent) {
    disableOldButtons();
    if (!silent) bubble("me", shown || message);
    // One id per message: a retried request is answered once, never filed twice.
    const body = JSON.stringify({ sender, message, message_id: newId(), locale: navigator.language });
    return call("/webhooks/rest/webhook", { method: "POST", headers: { "Content-Type": "application/json" }, body });
  }
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    if (file.size > 10 * 1024 * 1024) { bubble("error", "照片不能超过 10 MB。"); return; }
    const div = bubble("me", "");
    const img = document.createElement("img");
    img.alt = file.name;
    img.src = URL.createObjectURL(file);
    div.appendChild(img);
    const data = new FormData();
    data.append("sender", sender);
    data.append("file", file);
    data.append("message_id", newId());
    data.append("locale", navigator.language);
    call("/webhooks/rest/upload", { method: "POST", body: data });
  });
  // For chat-pushes.js: later messages (a photo's reading, staff replies) drawn like replies.
  window.weiquanChat = {
    render,
    reading: () => log.querySelector(".reading") !== null,
    disableOldButtons,
  };
  send("/menu", "", true);
})();
