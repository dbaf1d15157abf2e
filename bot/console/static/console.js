// The console's only script: poll the live conversation, send replies without reloading,
// refresh the queue. No framework and no build step.
"use strict";

function authorLabel(author) {
  if (author === "user") return "用户";
  if (author === "bot") return "机器人";
  if (author === "system") return "系统";
  return author.startsWith("staff:") ? author.slice(6) : author;
}

function appendMessage(box, m) {
  if (box.querySelector('[data-id="' + m.id + '"]')) return;
  const div = document.createElement("div");
  const kind = m.direction === "in" ? "in" : (m.author.startsWith("staff:") ? "staff" : "out");
  div.className = "msg " + kind;
  div.dataset.id = m.id;
  const who = document.createElement("span");
  who.className = "author";
  who.textContent = authorLabel(m.author);
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = m.text;
  div.append(who, text);
  box.append(div);
  box.scrollTop = box.scrollHeight;
}

function pollConversation(box) {
  const tick = async () => {
    try {
      const r = await fetch(box.dataset.poll + "?after=" + box.dataset.after, { credentials: "same-origin" });
      if (r.ok) {
        const data = await r.json();
        for (const m of data.messages) {
          appendMessage(box, m);
          box.dataset.after = Math.max(Number(box.dataset.after), m.id);
        }
        const status = document.getElementById("conv-status");
        if (status && data.status !== status.dataset.status) {
          status.dataset.status = data.status;
          status.textContent = data.status === "taken" ? "由 " + data.taken_by + " 处理中" : (data.status === "queued" ? "等待接入" : "已结束");
        }
      }
    } catch (e) { /* the next tick tries again */ }
    setTimeout(tick, 1500);
  };
  box.scrollTop = box.scrollHeight;
  setTimeout(tick, 1500);
}

function asyncReply(form) {
  const area = form.querySelector("textarea");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!area.value.trim()) return;
    const r = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
    if (r.ok) area.value = "";
    else alert("发送失败：" + r.status);
  });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("messages");
  if (box && box.dataset.poll) pollConversation(box);
  const form = document.querySelector("form[data-async]");
  if (form) asyncReply(form);
  // A page that refreshes itself (the queue, an alert being sent) waits while a form on it
  // is being filled in, so nothing typed is lost.
  let typing = false;
  for (const kept of document.querySelectorAll("form[data-keep]")) {
    kept.addEventListener("input", () => { typing = true; });
  }
  const refresh = document.querySelector("[data-autorefresh]");
  if (refresh) {
    const wait = Number(refresh.dataset.autorefresh) * 1000;
    const tick = () => (typing ? setTimeout(tick, wait) : location.reload());
    setTimeout(tick, wait);
  }
});
