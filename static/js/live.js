// Live updates: one WebSocket per tab, events carry ids; the page re-fetches through normal views.
// After a reconnect the page reloads its state instead of replaying what it missed.
(function () {
  "use strict";
  // The browser's time zone, for the dates the server writes (webmail.middleware).
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const cookie = document.cookie.split("; ").find((c) => c.startsWith("tz="));
    if (zone && (!cookie || decodeURIComponent(cookie.slice(3)) !== zone)) {
      document.cookie = `tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; SameSite=Lax`;
      if (!cookie && document.getElementById("mail")) window.location.reload();
    }
  } catch (error) { /* no Intl: dates stay in the server's zone */ }

  // Selects that submit their form when changed (the language, the list's sort order). Here, not in
  // onchange= attributes: the Content-Security-Policy allows no inline script or handler.
  document.addEventListener("change", (event) => {
    const select = event.target.closest && event.target.closest("select[data-submit-on-change]");
    if (select && select.form) select.form.submit();
  });

  // The theme toggle: system, dark, light, without leaving the page.
  const toggle = document.getElementById("theme-toggle");
  if (toggle) {
    toggle.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = new URLSearchParams(new FormData(toggle.form));
      body.set("theme", toggle.value);
      fetch(toggle.form.action, { method: "POST", body, credentials: "same-origin",
                                  headers: { "X-Requested-With": "fetch" } })
        .then((response) => response.json())
        .then(() => applyTheme(toggle.value))
        .catch(() => toggle.form.submit());
    });
  }
  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    if (!toggle) return;
    const order = ["system", "dark", "light"];
    toggle.value = order[(order.indexOf(theme) + 1) % order.length];
    toggle.textContent = toggle.dataset[theme] || theme;
  }

  const path = document.body.dataset.liveUrl;
  if (!path || !window.WebSocket) return;
  let delay = 1000;
  let connectedOnce = false;

  // Re-fetch this page through its normal view and swap in the parts that show live state.
  const LIVE_PARTS = ["account-list", "folders", "outbox"];
  let pending = null;
  function refresh() {
    if (pending) return; // one re-fetch at a time; events that arrive meanwhile fold into it
    pending = setTimeout(() => {
      fetch(window.location.href, { credentials: "same-origin" })
        .then((response) => response.text())
        .then((html) => {
          const fresh = new DOMParser().parseFromString(html, "text/html");
          if (fresh.documentElement.dataset.theme) applyTheme(fresh.documentElement.dataset.theme);
          for (const id of LIVE_PARTS) {
            const here = document.getElementById(id);
            const there = fresh.getElementById(id);
            if (here && there && !here.contains(document.activeElement)) here.replaceWith(there);
          }
        })
        .finally(() => { pending = null; });
    }, 250);
  }
  const handlers = {
    "account.changed": refresh,
    "account.deleted": refresh,
    "folders.changed": refresh,
    "folder.changed": refresh,
    "sync.progress": refresh,
    "preferences.changed": refresh,
    "outbox.state": refresh,
    "change.failed": (event) => {
      tell(`${document.body.dataset.changeFailed} ${event.reason}`);
      refresh();
    },
  };

  // A calm note at the top of the page (text only: the server's words are never HTML here).
  function tell(text) {
    let list = document.querySelector("ul.flash");
    if (!list) {
      list = document.createElement("ul");
      list.className = "flash";
      document.querySelector("main").prepend(list);
    }
    const item = document.createElement("li");
    item.className = "warning";
    item.setAttribute("role", "status");
    item.textContent = text;
    list.append(item);
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + path);
    socket.onopen = () => {
      if (connectedOnce) refresh();
      connectedOnce = true;
      delay = 1000;
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      (handlers[event.type] || (() => {}))(event);
      document.dispatchEvent(new CustomEvent("webmail:event", { detail: event }));
    };
    socket.onclose = (event) => {
      if (event.code === 4401) return; // logged out
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
