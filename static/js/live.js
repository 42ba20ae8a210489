// Live updates: one WebSocket per tab, events carry ids; the page re-fetches through normal views.
// After a reconnect the page reloads its state instead of replaying what it missed.
(function () {
  "use strict";
  const path = document.body.dataset.liveUrl;
  if (!path || !window.WebSocket) return;
  let delay = 1000;
  let connectedOnce = false;

  function refreshAccounts() {
    const list = document.getElementById("account-list");
    if (!list) return;
    fetch(window.location.href, { credentials: "same-origin" })
      .then((response) => response.text())
      .then((html) => {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("account-list");
        if (fresh) list.replaceWith(fresh);
      });
  }
  const handlers = { "account.changed": refreshAccounts, "account.deleted": refreshAccounts };

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + path);
    socket.onopen = () => {
      if (connectedOnce) refreshAccounts();
      connectedOnce = true;
      delay = 1000;
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      (handlers[event.type] || (() => {}))(event);
    };
    socket.onclose = (event) => {
      if (event.code === 4401) return; // logged out
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
