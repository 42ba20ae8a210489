// Live updates: one WebSocket per tab. Events say what changed, by id (mailbox/events.py has
// their schema); each is applied in place. This file keeps what every page shows: the folder
// tree and its counts, the tab's title, the theme, notes, desktop notifications of new mail. The
// mail screen's list follows the same events in mail.js ("webmail:event" on the document).
// No event ever fetches a message's own view (that would mark it read). After a reconnect the
// page re-fetches what it shows ("webmail:reconnected"); nothing is replayed. So does a page whose
// events went out before its first socket joined (the socket's "live.hello" says so).
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
      const chosen = toggle.value; // kept: the socket's echo of the change may move the button on
      body.set("theme", chosen);
      fetch(toggle.form.action, { method: "POST", body, credentials: "same-origin",
                                  headers: { "X-Requested-With": "fetch" } })
        .then((response) => response.json())
        .then(() => applyTheme(chosen))
        .catch(() => toggle.form.submit());
    });
  }
  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    if (!toggle) return;
    const order = ["system", "dark", "light"];
    toggle.value = order[(order.indexOf(theme) + 1) % order.length];
    const name = document.getElementById("theme-name");
    (name || toggle).textContent = toggle.dataset[theme] || theme;
    toggle.title = toggle.dataset[theme + "Title"] || "";
  }

  // Desktop notifications: the browser's permission is asked when the user turns them on.
  const notifyBox = document.getElementById("id_notify_new_mail");
  if (notifyBox && "Notification" in window) {
    notifyBox.addEventListener("change", () => {
      if (!notifyBox.checked || Notification.permission === "granted") return;
      Notification.requestPermission().then((answer) => {
        const note = document.getElementById("notify-permission");
        if (note && answer === "denied") { note.textContent = note.dataset.denied; note.hidden = false; }
      });
    });
  }

  const body = document.body;
  const path = body.dataset.liveUrl;
  if (!path || !window.WebSocket) return;
  const screen = document.getElementById("mail"); // the mail screen, or null
  // A list across accounts (All inboxes, Unread): its folders, and the unread count of each,
  // whose sum is the title's (views/unified.py).
  const spanned = new Map(screen && screen.dataset.folderIds ? screen.dataset.folderIds.split(" ")
    .map((pair) => pair.split(":")).map(([id, unread]) => [id, Number(unread || 0)]) : []);
  const shows = (folderId) => Boolean(screen) && (String(folderId) === screen.dataset.folderId
    || spanned.has(String(folderId)));

  // --- the title: "Inbox (16) – subject of the open message" --------------------------------------
  function updateTitle() {
    if (!screen) return;
    const unread = Number(screen.dataset.unread || 0);
    const subject = document.querySelector("#reading-pane #message .message-subject");
    let title = screen.dataset.folderLabel + (unread > 0 ? ` (${unread})` : "");
    if (subject) title += ` – ${subject.textContent.trim()}`;
    document.title = title;
  }
  window.webmailTitle = updateTitle;

  // --- the folder tree and its counts ----------------------------------------------------------------
  const folderUrl = (id) => body.dataset.folderUrl.replace(/0\/$/, `${id}/`);
  function setCount(folderId, unread) {
    refreshLinks();
    if (screen && String(folderId) === screen.dataset.folderId) {
      screen.dataset.unread = unread;
      updateTitle();
    } else if (spanned.has(String(folderId)) && screen.dataset.unread !== undefined) {
      spanned.set(String(folderId), unread);
      screen.dataset.unread = Array.from(spanned.values()).reduce((a, b) => a + b, 0);
      updateTitle();
    }
    const tree = document.getElementById("folders");
    const item = screen && tree && tree.querySelector(`li.mail-folder[data-folder-id="${folderId}"]`);
    if (!item) return;
    const badge = item.querySelector(":scope > .folder-link > .badge");
    if (badge && unread > 0) {
      badge.textContent = String(unread);
      badge.title = badge.title.replace(/\d+/, String(unread));
    } else if (badge || unread > 0) refreshTree(); // a badge comes or goes: its words are the server's
  }
  // The links to the lists across accounts, with their counts (views/unified.py): re-fetched
  // a moment after counts change, once for a burst of them.
  let linksPending = null;
  function refreshLinks() {
    const links = document.getElementById("unified-links");
    if (!links || linksPending) return;
    linksPending = setTimeout(() => {
      const url = new URL(links.dataset.src, window.location.href);
      const current = links.querySelector("a[aria-current]");
      if (current) url.searchParams.set("current", current.dataset.unified);
      fetch(url, { credentials: "same-origin" })
        .then((response) => (response.ok ? response.text() : Promise.reject(response)))
        .then((html) => {
          const now = document.getElementById("unified-links");
          if (now && !now.contains(document.activeElement)) now.outerHTML = html; // our own escaped fragment
        })
        .catch(() => {})
        .finally(() => { linksPending = null; });
    }, 300);
  }
  let treePending = null;
  function refreshTree() {
    if (!screen || treePending) return; // one re-fetch at a time; what arrives meanwhile folds into it
    treePending = fetch(`${screen.dataset.folderUrl}?part=folders`, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => {
        const tree = document.getElementById("folders");
        if (!tree || tree.contains(document.activeElement)) return;
        tree.innerHTML = html; // our own escaped fragment
        if (spanned.size) return; // a list across accounts counts its folders' events
        const badge = tree.querySelector(`li.mail-folder[data-folder-id="${screen.dataset.folderId}"] > .folder-link > .badge`);
        screen.dataset.unread = badge ? badge.textContent.trim() : "0";
        updateTitle();
      })
      .catch(() => {})
      .finally(() => { treePending = null; });
  }

  // The account's sync error under the folders: it appears and goes as syncs fail and recover.
  function refreshStatus() {
    fetch(`${screen.dataset.folderUrl}?part=status`, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => { document.getElementById("account-status").innerHTML = html; }) // our own escaped fragment
      .catch(() => {});
  }

  // Pages other than the mail screen (accounts, folders, outbox): their live parts, from a fresh
  // copy of the page (none of them marks anything read).
  const LIVE_PARTS = ["account-list", "folders", "outbox"];
  let partsPending = null;
  function refreshParts() {
    if (screen || partsPending) return;
    partsPending = setTimeout(() => {
      fetch(window.location.href, { credentials: "same-origin" })
        .then((response) => response.text())
        .then((html) => {
          const fresh = new DOMParser().parseFromString(html, "text/html");
          for (const id of LIVE_PARTS) {
            const here = document.getElementById(id);
            const there = fresh.getElementById(id);
            if (here && there && !here.contains(document.activeElement)) here.replaceWith(there);
          }
        })
        .finally(() => { partsPending = null; });
    }, 250);
  }

  // --- desktop notifications of new mail in an Inbox -------------------------------------------------
  // One per message however many tabs are open: a tab claims the message in localStorage first
  // (and the notification's tag merges any two that race). None for a message already read (in
  // another tab, say) when its row is fetched, none when this tab shows that Inbox and has the focus.
  const CLAIMS = "webmail.notified.";
  function claim(id) {
    try {
      if (window.localStorage.getItem(CLAIMS + id)) return false;
      window.localStorage.setItem(CLAIMS + id, String(Date.now()));
    } catch (error) { /* no storage: this tab decides alone */ }
    return true;
  }
  function forgetOldClaims() {
    try {
      const old = Date.now() - 86400000;
      for (const key of Object.keys(window.localStorage)) {
        if (key.startsWith(CLAIMS) && Number(window.localStorage.getItem(key)) < old) window.localStorage.removeItem(key);
      }
    } catch (error) { /* no storage */ }
  }
  function notifyNewMail(event) {
    // only mail that came in: not a message moved, copied or put back from a page
    if (event.role !== "inbox" || !event.delivered || body.dataset.notify !== "1") return;
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (shows(event.folder_id) && document.hasFocus()) {
      for (const id of event.ids) claim(id); // seen here
      return;
    }
    const url = new URL(folderUrl(event.folder_id), window.location.href);
    url.searchParams.set("part", "rows");
    url.searchParams.set("ids", event.ids.slice(0, 20).join(","));
    fetch(url, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => {
        const rows = document.createElement("template");
        rows.innerHTML = html; // our own escaped fragment, never added to the page
        for (const row of rows.content.querySelectorAll("li.row.unread")) {
          const id = row.dataset.messageId;
          if (!claim(id)) continue;
          const sender = row.querySelector(".sender").textContent.trim();
          const subject = row.querySelector(".subject").textContent.trim();
          const note = new Notification(sender, { body: subject, tag: `webmail-message-${id}` });
          note.onclick = () => {
            window.focus();
            window.location.href = body.dataset.messageUrl.replace(/0\/$/, `${id}/`);
            note.close();
          };
        }
      })
      .catch(() => {});
  }
  forgetOldClaims();

  // --- the events ----------------------------------------------------------------------------------
  const handlers = {
    "folder.counts": (event) => setCount(event.folder_id, event.unread),
    "folders.changed": () => { refreshTree(); refreshParts(); },
    "account.changed": (event) => {
      if (screen && String(event.account_id) === screen.dataset.accountId) refreshStatus();
      refreshParts();
    },
    "account.deleted": refreshParts,
    "outbox.state": refreshParts,
    "message.new": notifyNewMail,
    "preferences.changed": (event) => {
      if (event.theme) applyTheme(event.theme);
      if (event.notify_new_mail !== undefined) body.dataset.notify = event.notify_new_mail ? "1" : "";
    },
    "change.failed": (event) => tell(`${body.dataset.changeFailed} ${event.reason}`),
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

  // After a reconnect, or events missed while the page loaded: re-fetch what the page shows.
  function catchUp() {
    refreshTree();
    refreshLinks();
    if (screen) refreshStatus();
    refreshParts();
    document.dispatchEvent(new CustomEvent("webmail:reconnected"));
  }

  // --- the socket: reconnects with backoff (1 s, doubling, at most 30 s) -----------------------------
  let delay = 1000;
  let connectedOnce = false;
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + path);
    window.webmailSocket = socket; // for the tests, which close it to see the page catch up
    const first = !connectedOnce;
    socket.onopen = () => {
      if (connectedOnce) {
        body.dataset.live = "reconnected";
        catchUp();
      } else body.dataset.live = "connected";
      connectedOnce = true;
      delay = 1000;
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "live.hello") {
        // Events sent between the page's render and this socket joining were not heard: the
        // user's sequence number moved (or Redis lost it). Without numbers, as before: nothing.
        const seen = body.dataset.liveSeq;
        if (first && seen !== undefined && event.seq !== null && String(event.seq) !== seen) {
          body.dataset.liveCaughtUp = String(event.seq); // for the tests
          catchUp();
        }
        return;
      }
      (handlers[event.type] || (() => {}))(event);
      document.dispatchEvent(new CustomEvent("webmail:event", { detail: event }));
    };
    socket.onclose = (event) => {
      body.dataset.live = "closed";
      if (event.code === 4401) return; // logged out
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
  updateTitle();
})();
