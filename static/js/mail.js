// The mail screen: selection, bulk actions, keyboard shortcuts, the reading pane, drag to a folder.
// Everything here enhances plain links and forms: without this script each one is a full page.
(function () {
  "use strict";
  const screen = document.getElementById("mail");
  if (!screen) return;
  const list = document.getElementById("message-list");
  const pane = document.getElementById("reading-pane");
  const strings = document.getElementById("mail-strings").dataset;
  const csrf = screen.querySelector("input[name=csrfmiddlewaretoken]").value;
  let anchor = null; // the row a shift-click selects from
  let folderSelected = false; // "select all in folder" is on
  let markReadTimer = null;
  // Where "back to the list" goes: the list this page was opened on (a folder, a sort, a search).
  const listUrl = document.getElementById("message") ? screen.dataset.folderUrl : window.location.href;

  const rows = () => Array.from(list.querySelectorAll("li.row"));
  const rowOf = (id) => list.querySelector(`li.row[data-message-id="${id}"]`);
  const cursorRow = () => list.querySelector("li.row.cursor") || list.querySelector("li.row.current");
  const openMessage = () => pane.querySelector("#message");
  // A conversation's row (or open pane) acts on its messages in this folder (data-ids).
  const idsOf = (el) => (el.dataset.ids ? el.dataset.ids.split(",") : [el.dataset.messageId]);
  const rowHolding = (id) => rowOf(id) || rows().find((row) => row.dataset.ids && row.dataset.ids.split(",").includes(String(id)));

  // --- notes ----------------------------------------------------------------------------------
  function toast(text) {
    const note = document.createElement("div");
    note.className = "toast";
    note.setAttribute("role", "status");
    note.textContent = text; // text only: never the server's words as HTML
    document.body.append(note);
    setTimeout(() => note.remove(), 4000);
  }

  // --- selection -------------------------------------------------------------------------------
  function selectedIds() {
    return rows().filter((row) => row.querySelector(".pick:checked")).flatMap(idsOf);
  }
  function refreshSelection() {
    const all = rows().filter((row) => !row.querySelector(".pick").disabled);
    const picked = all.filter((row) => row.querySelector(".pick").checked);
    for (const row of all) row.classList.toggle("selected", row.querySelector(".pick").checked);
    screen.classList.toggle("has-selection", picked.length > 0);
    const selectAll = document.getElementById("select-all");
    selectAll.checked = all.length > 0 && picked.length === all.length;
    selectAll.indeterminate = picked.length > 0 && picked.length < all.length;
    const banner = document.getElementById("select-all-folder");
    const moreThanPage = list.querySelector("li.more") !== null;
    // not in search results (the folder's "all" would take messages the search did not find),
    // nor in a list across folders
    banner.hidden = !(selectAll.checked && moreThanPage) || screen.dataset.searching === "1"
      || !screen.dataset.folderId;
    if (picked.length < all.length) folderSelected = false;
    banner.querySelector(".page-selected").textContent = folderSelected ? strings.folderSelected : strings.selected;
    banner.querySelector("[data-select-folder]").hidden = folderSelected;
  }
  function setPicked(row, on) {
    const box = row.querySelector(".pick");
    if (!box.disabled) box.checked = on;
  }

  list.addEventListener("click", (event) => {
    const box = event.target.closest(".pick");
    if (box) {
      const row = box.closest("li.row");
      if (event.shiftKey && anchor && anchor !== row) {
        const all = rows();
        const [a, b] = [all.indexOf(anchor), all.indexOf(row)].sort((x, y) => x - y);
        for (const r of all.slice(a, b + 1)) setPicked(r, box.checked);
      }
      anchor = row;
      refreshSelection();
      return;
    }
    const star = event.target.closest("button.star");
    if (star) {
      const row = star.closest("li.row");
      act(row.classList.contains("flagged") ? "unflag" : "flag", idsOf(row));
      return;
    }
    const link = event.target.closest("a.open");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      event.preventDefault();
      show(link.closest("li.row"));
      return;
    }
    const more = event.target.closest("a[data-more]");
    if (more) {
      event.preventDefault();
      loadMore(more);
    }
  });
  document.getElementById("select-all").addEventListener("change", (event) => {
    for (const row of rows()) setPicked(row, event.target.checked);
    folderSelected = false;
    refreshSelection();
  });
  document.querySelector("[data-select-folder]").addEventListener("click", () => {
    folderSelected = true;
    refreshSelection();
  });

  // --- more of the list (keyset pages), when the end scrolls into view ---------------------------
  let loading = false;
  function loadMore(link) {
    if (loading) return;
    loading = true;
    const url = new URL(link.href, window.location.href);
    url.searchParams.set("part", "rows");
    fetch(url, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => {
        const item = link.closest("li");
        item.insertAdjacentHTML("afterend", html);
        item.remove();
        const summary = list.querySelector("li[data-search-summary]"); // a search's total, as of now
        if (summary) {
          document.getElementById("search-summary").innerHTML = summary.innerHTML;
          summary.remove();
        }
        refreshSelection();
        watchEnd();
      })
      .catch(() => toast(strings.offline))
      .finally(() => { loading = false; });
  }
  const endWatcher = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    for (const entry of entries) if (entry.isIntersecting) loadMore(entry.target.querySelector("a[data-more]"));
  }, { root: list, rootMargin: "400px" }) : null;
  function watchEnd() {
    const more = list.querySelector("li.more");
    if (endWatcher && more) endWatcher.observe(more);
  }
  watchEnd();

  // --- the reading pane --------------------------------------------------------------------------
  function show(row, { push = true } = {}) {
    if (!row) return;
    if (window.webmailCompose && pane.querySelector("#compose-form")) window.webmailCompose.flush();
    const link = row.querySelector("a.open");
    if (!link) return;
    const url = new URL(link.href, window.location.href);
    url.searchParams.set("part", "pane");
    for (const r of list.querySelectorAll("li.row.current, li.row.cursor")) r.classList.remove("current", "cursor");
    row.classList.add("current", "cursor");
    row.scrollIntoView({ block: "nearest" });
    fetch(url, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => {
        pane.innerHTML = html;
        screen.classList.add("has-message");
        if (push) history.pushState({ message: row.dataset.messageId }, "", link.href);
        afterPaneLoaded();
      })
      .catch(() => { window.location.href = link.href; });
  }
  function afterPaneLoaded() {
    clearTimeout(markReadTimer);
    if (window.webmailTitle) window.webmailTitle(); // "Inbox (16) – its subject"
    const message = openMessage();
    if (!message) return;
    const row = rowOf(message.dataset.messageId);
    const delay = message.dataset.markReadAfter;
    if (delay === "0" && row) row.classList.remove("unread"); // the server marked it read
    else if (delay !== undefined) {
      markReadTimer = setTimeout(() => act("read", idsOf(message)), Number(delay) * 1000);
    }
    const details = message.querySelector("#message-details");
    if (details) details.addEventListener("toggle", () => loadHeaders(details), { once: true });
  }
  function loadHeaders(details) {
    const body = details.querySelector(".headers-body");
    // an error answer is a whole page (templates/404.html), not a fragment for the details
    fetch(details.dataset.src, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => { body.innerHTML = html; }) // our own escaped fragment
      .catch((problem) => toast(problem instanceof Response ? `${strings.failed} ${problem.status}` : strings.offline));
  }
  function backToList() {
    clearTimeout(markReadTimer);
    screen.classList.remove("has-message");
    const message = openMessage();
    if (message) {
      pane.innerHTML = "";
      history.pushState({}, "", listUrl);
      if (window.webmailTitle) window.webmailTitle();
    }
    const row = cursorRow();
    if (row) row.querySelector("a.open, .pick").focus();
  }
  pane.addEventListener("click", (event) => {
    const back = event.target.closest("[data-back]");
    if (back && screen.classList.contains("has-message") && event.button === 0 && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      backToList();
      return;
    }
    const button = event.target.closest("[data-message-action]");
    if (button) act(button.dataset.messageAction, idsOf(openMessage()));
  });
  window.addEventListener("popstate", () => { window.location.reload(); });
  afterPaneLoaded();

  // --- actions -----------------------------------------------------------------------------------
  const LEAVES_FOLDER = new Set(["archive", "delete", "junk", "move"]);
  function act(action, ids, folder) {
    const body = new URLSearchParams({ action });
    if (folderSelected && ids === null) body.set("in_folder", screen.dataset.folderId);
    else for (const id of ids || selectedIds()) body.append("ids", id);
    if (folder) body.set("folder", folder);
    if (!body.has("ids") && !body.has("in_folder")) return;
    const touched = body.getAll("ids");
    // the row to go to next, found now: the live event of the change may remove the rows
    // before the answer comes back, and then there would be no neighbour left to find
    const next = LEAVES_FOLDER.has(action) ? neighbour(touched) : null;
    return fetch(screen.dataset.actionUrl, {
      method: "POST", credentials: "same-origin", body,
      headers: { "X-CSRFToken": csrf, "X-Requested-With": "fetch" },
    })
      .then((response) => response.json().then((data) => ({ response, data })))
      .then(({ response, data }) => {
        if (!response.ok || !data.ok) { toast(`${strings.failed} ${data.error || response.status}`); return; }
        const reloading = body.has("in_folder");
        if (!reloading) applyLocally(action, touched, next);
        // its notice, with Undo after a move (undo.js)
        document.dispatchEvent(new CustomEvent("webmail:acted", { detail: { ...data, action, reloading } }));
        if (reloading) window.location.reload();
      })
      .catch(() => toast(strings.offline));
  }
  function applyLocally(action, ids, before) {
    const open = openMessage();
    if (LEAVES_FOLDER.has(action)) {
      const next = before && before.isConnected ? before : neighbour(ids);
      for (const id of ids) { const row = rowOf(id); if (row) row.remove(); }
      if (open && ids.includes(open.dataset.messageId)) {
        if (next) show(next); else backToList();
      } else if (next) next.classList.add("cursor");
    }
    for (const id of ids) {
      const row = rowOf(id);
      if (!row) continue;
      if (action === "read" || action === "unread") row.classList.toggle("unread", action === "unread");
      if (action === "flag" || action === "unflag") {
        row.classList.toggle("flagged", action === "flag");
        row.querySelector(".star").setAttribute("aria-pressed", action === "flag" ? "true" : "false");
      }
    }
    if (open && ids.includes(open.dataset.messageId) && (action === "flag" || action === "unflag")) {
      const button = open.querySelector("[data-message-action=flag], [data-message-action=unflag]");
      const flagged = action === "flag";
      open.dataset.flagged = flagged ? "1" : "";
      button.dataset.messageAction = flagged ? "unflag" : "flag";
      button.setAttribute("aria-pressed", String(flagged));
      button.textContent = flagged ? button.dataset.unstar : button.dataset.star;
    }
    if (open && action === "unread" && ids.includes(open.dataset.messageId)) clearTimeout(markReadTimer);
    refreshSelection();
  }
  function neighbour(ids) {
    // The row after the last one acted on (or before the first), as Gmail and Thunderbird do.
    const all = rows();
    const gone = new Set(ids);
    const last = all.map((r) => r.dataset.messageId).reduce((at, id, i) => (gone.has(id) ? i : at), -1);
    return all.slice(last + 1).find((r) => !gone.has(r.dataset.messageId))
      || all.slice(0, last).reverse().find((r) => !gone.has(r.dataset.messageId)) || null;
  }
  document.getElementById("toolbar").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) act(button.dataset.action, folderSelected ? null : undefined);
  });
  document.getElementById("move-to").addEventListener("change", (event) => {
    const target = event.target.value;
    event.target.value = "";
    if (target) act("move", folderSelected ? null : undefined, target);
  });

  // --- drag to a folder --------------------------------------------------------------------------
  list.addEventListener("dragstart", (event) => {
    const row = event.target.closest("li.row");
    if (!row) return;
    const picked = selectedIds();
    const ids = picked.includes(row.dataset.messageId) ? picked : idsOf(row);
    event.dataTransfer.setData("application/x-webmail-messages", JSON.stringify(ids));
    event.dataTransfer.effectAllowed = "move";
    row.classList.add("dragging");
  });
  list.addEventListener("dragend", (event) => {
    const row = event.target.closest("li.row");
    if (row) row.classList.remove("dragging");
  });
  const folders = document.getElementById("folder-pane");
  const dropFolder = (event) => {
    const item = event.target.closest("li.mail-folder:not(.container)");
    return item && item.dataset.folderId !== screen.dataset.folderId ? item : null;
  };
  folders.addEventListener("dragover", (event) => {
    const item = dropFolder(event);
    if (!item || !event.dataTransfer.types.includes("application/x-webmail-messages")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    for (const other of folders.querySelectorAll(".drop-target")) other.classList.remove("drop-target");
    item.classList.add("drop-target");
  });
  folders.addEventListener("dragleave", (event) => {
    const item = dropFolder(event);
    if (item && !item.contains(event.relatedTarget)) item.classList.remove("drop-target");
  });
  folders.addEventListener("drop", (event) => {
    const item = dropFolder(event);
    if (!item) return;
    event.preventDefault();
    item.classList.remove("drop-target");
    const ids = JSON.parse(event.dataTransfer.getData("application/x-webmail-messages") || "[]");
    act("move", ids, item.dataset.folderId);
  });

  // --- keyboard ----------------------------------------------------------------------------------
  const help = document.getElementById("shortcuts");
  let awaitingG = false;
  const TEXT_INPUTS = new Set(["text", "search", "email", "password", "number", "url", "tel",
                               "date", "datetime-local", "month", "week", "time"]);
  function typing(target) {
    // A checkbox or a button that has the focus is not typing: j, k and the rest still work.
    if (target.isContentEditable || target.closest("textarea, select")) return true;
    return target.tagName === "INPUT" && TEXT_INPUTS.has((target.type || "text").toLowerCase());
  }
  function moveCursor(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(cursorRow());
    const next = all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))];
    if (openMessage()) show(next);
    else {
      for (const r of list.querySelectorAll("li.row.cursor")) r.classList.remove("cursor");
      next.classList.add("cursor");
      next.scrollIntoView({ block: "nearest" });
    }
  }
  function targets() {
    const picked = selectedIds();
    if (picked.length) return folderSelected ? null : picked;
    const open = openMessage();
    if (open) return idsOf(open);
    const row = cursorRow();
    return row ? idsOf(row) : [];
  }
  const keys = {
    j: () => moveCursor(1),
    k: () => moveCursor(-1),
    o: () => show(cursorRow()),
    Enter: () => show(cursorRow()),
    u: () => backToList(),
    x: () => { const row = cursorRow(); if (row) { const box = row.querySelector(".pick"); box.click(); } },
    e: () => act("archive", targets()),
    "#": () => act("delete", targets()),
    s: () => {
      const ids = targets();
      if (!ids || !ids.length) return;
      const row = rowOf(ids[0]);
      const open = openMessage();
      const flagged = row ? row.classList.contains("flagged") : open && open.dataset.flagged === "1";
      act(flagged ? "unflag" : "flag", ids);
    },
    I: () => act("read", targets()),
    U: () => act("unread", targets()),
    c: () => { window.location.href = screen.dataset.composeUrl; },
    r: () => compose("reply"),
    a: () => compose("reply_all"),
    f: () => compose("forward"),
    "/": () => document.getElementById("search-q").focus(),
    z: () => document.dispatchEvent(new CustomEvent("webmail:undo")), // undo.js
    "?": () => { help.hidden = false; help.querySelector("[data-close]").focus(); },
  };
  // Reply, reply all, forward: the open message, else the one under the cursor (or selected).
  function compose(mode) {
    const ids = targets();
    if (!ids || !ids.length) return;
    openCompose(`${screen.dataset.composeFromUrl}${mode}/${ids[0]}/`);
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.key === "Escape" && !help.hidden) { help.hidden = true; return; }
    if (typing(event.target)) return; // never while typing in a field
    if (pane.querySelector("#compose-form") && event.key !== "?") return; // nor while writing
    if (awaitingG) {
      awaitingG = false;
      if (event.key === "i") { event.preventDefault(); window.location.href = screen.dataset.inboxUrl; }
      return;
    }
    if (event.key === "g") { awaitingG = true; setTimeout(() => { awaitingG = false; }, 1500); return; }
    if (event.key === "Enter" && event.target.closest("a, button")) return; // the focused control's own
    const handler = keys[event.key];
    if (!handler || !help.hidden && event.key !== "?") return;
    event.preventDefault();
    handler();
  });
  help.addEventListener("click", (event) => {
    if (event.target === help || event.target.closest("[data-close]")) help.hidden = true;
  });

  // --- live: the list follows the events in place (their schema: mailbox/events.py) --------------
  // New rows come from the folder's rows view by id, each with the id of the row above it, and go
  // in there (a row whose place is below the rows loaded so far waits for "Older messages");
  // flags are set on the rows shown; rows gone are taken out. Selection, the cursor, the focus,
  // the scroll position and the open message stay as they are. Nothing here fetches a message's
  // own view. A search's results take flags and removals, never new rows.
  const searching = screen.dataset.searching === "1";
  // a list across accounts (views/unified.py) follows each of its folders ("id:unread id:unread")
  const spanned = new Set((screen.dataset.folderIds || "").split(" ").map((pair) => pair.split(":")[0]));
  const isHere = (detail) => String(detail.folder_id) === screen.dataset.folderId
    || spanned.has(String(detail.folder_id));
  function rowsById(ids) {
    const url = new URL(screen.dataset.folderUrl, window.location.href);
    url.searchParams.set("part", "rows");
    url.searchParams.set("sort", screen.dataset.sort);
    url.searchParams.set("ids", ids.slice(0, 500).join(","));
    return fetch(url, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => {
        const holder = document.createElement("template");
        holder.innerHTML = html; // our own escaped fragment
        return Array.from(holder.content.querySelectorAll("li.row"));
      });
  }
  // Whatever moves above what the user looks at, what they look at stays where it is.
  function keepingScroll(change) {
    const top = list.scrollTop;
    const anchorRow = top > 0 ? rows().find((row) => row.offsetTop + row.offsetHeight > top) : null;
    const before = anchorRow ? anchorRow.offsetTop : 0;
    change();
    if (anchorRow && anchorRow.isConnected) list.scrollTop = top + anchorRow.offsetTop - before;
  }
  function replaceRow(old, fresh) {
    for (const name of ["current", "cursor", "selected"]) fresh.classList.toggle(name, old.classList.contains(name));
    const box = fresh.querySelector(".pick");
    if (box && !box.disabled) box.checked = old.querySelector(".pick").checked;
    const focused = old.contains(document.activeElement) ? document.activeElement.classList[0] || "" : null;
    old.replaceWith(fresh);
    if (focused !== null) ((focused && fresh.querySelector(`.${focused}`)) || fresh.querySelector("a.open, .pick")).focus();
  }
  function placeRows(fresh) {
    keepingScroll(() => {
      for (const row of fresh) {
        const after = row.dataset.after;
        row.removeAttribute("data-after");
        const old = rowOf(row.dataset.messageId);
        if (row.dataset.thread) { // a conversation's newer message takes its row's place
          const stale = list.querySelectorAll(`li.row[data-thread="${CSS.escape(row.dataset.thread)}"]`);
          for (const other of stale) if (other !== old) other.remove();
        }
        if (old) { replaceRow(old, row); continue; }
        if (searching) continue;
        if (after === "") {
          list.prepend(row);
        } else {
          const above = rowOf(after);
          if (!above) continue; // below the rows loaded: "Older messages" brings it
          above.after(row);
        }
        const empty = list.querySelector("li.empty");
        if (empty) empty.remove();
      }
    });
    const open = openMessage();
    const current = open && rowOf(open.dataset.messageId);
    if (current) followMarks(open, current);
    refreshSelection();
    watchEnd();
  }
  function setFlags(id, flags) {
    const has = (name) => flags.some((flag) => flag.toLowerCase() === name);
    const row = rowHolding(id);
    if (row && (row.dataset.ids || "").includes(",")) { // a conversation's marks are its messages': the server says
      rowsById([row.dataset.messageId]).then(placeRows).catch(() => {});
    } else if (row) {
      const marksChanged = row.classList.contains("answered") !== has("\\answered")
        || row.classList.contains("forwarded") !== has("$forwarded");
      if (marksChanged) { rowsById([id]).then(placeRows).catch(() => {}); return; } // its marks are the server's words
      row.classList.toggle("unread", !has("\\seen"));
      row.classList.toggle("flagged", has("\\flagged"));
      const star = row.querySelector(".star");
      star.setAttribute("aria-pressed", String(has("\\flagged")));
      star.dataset.action = has("\\flagged") ? "unflag" : "flag";
    }
    const open = openMessage();
    if (open && open.dataset.messageId === String(id)) {
      const flagged = has("\\flagged");
      open.dataset.flagged = flagged ? "1" : "";
      open.dataset.seen = has("\\seen") ? "1" : "";
      const button = open.querySelector("[data-message-action=flag], [data-message-action=unflag]");
      if (button) {
        button.dataset.messageAction = flagged ? "unflag" : "flag";
        button.setAttribute("aria-pressed", String(flagged));
        button.textContent = flagged ? button.dataset.unstar : button.dataset.star;
      }
    }
  }
  function removeRows(ids) {
    const cursor = cursorRow();
    const gone = ids.map(String);
    const next = cursor && gone.includes(cursor.dataset.messageId) ? neighbour(gone) : null;
    const left = rows().flatMap((row) => (row.dataset.ids && gone.some((id) => idsOf(row).includes(id))
      ? idsOf(row).filter((id) => !gone.includes(id)) : []));
    if (left.length) rowsById(left).then(placeRows).catch(() => {}); // the rest of a conversation
    keepingScroll(() => { for (const id of gone) { const row = rowOf(id); if (row) row.remove(); } });
    if (next && !openMessage()) next.classList.add("cursor");
    refreshSelection();
  }
  // What the list shows, fetched again: after a reconnect, or when too much changed to be listed.
  let resyncing = null;
  function resync() {
    if (resyncing) return;
    const shown = rows().map((row) => row.dataset.messageId);
    const firstPage = searching ? Promise.resolve([]) : (() => {
      const url = new URL(screen.dataset.folderUrl, window.location.href);
      url.searchParams.set("part", "rows");
      url.searchParams.set("sort", screen.dataset.sort);
      return fetch(url, { credentials: "same-origin" })
        .then((response) => (response.ok ? response.text() : Promise.reject(response)))
        .then((html) => {
          const holder = document.createElement("template");
          holder.innerHTML = html;
          return Array.from(holder.content.querySelectorAll("li.row"), (row) => row.dataset.messageId);
        });
    })();
    resyncing = firstPage
      .then((top) => {
        const ids = Array.from(new Set([...top, ...shown]));
        return ids.length ? rowsById(ids).then((fresh) => {
          const still = new Set(fresh.map((row) => row.dataset.messageId));
          removeRows(shown.filter((id) => !still.has(id)));
          placeRows(fresh);
        }) : null;
      })
      .catch(() => {})
      .finally(() => { resyncing = null; });
  }
  document.addEventListener("webmail:reconnected", resync);
  document.addEventListener("webmail:event", (event) => {
    const detail = event.detail;
    if (detail.type === "message.flags") {
      for (const [id, flags] of Object.entries(detail.flags)) setFlags(id, flags);
    } else if (detail.type === "message.removed") {
      removeRows(detail.ids);
    } else if (detail.type === "message.new" && isHere(detail)) {
      rowsById(detail.ids).then(placeRows).catch(() => {});
    } else if (detail.type === "folder.changed" && isHere(detail)) {
      resync();
    }
  });

  // The open message's "Replied" / "Forwarded" follow its row, which the server re-rendered.
  function followMarks(open, row) {
    for (const name of ["answered", "forwarded"]) {
      const mark = open.querySelector(".message-marks ." + name);
      if (mark) mark.hidden = !row.classList.contains(name);
    }
  }

  // --- writing in the reading pane (wide screens); elsewhere the compose screen is its own page ---
  const wide = window.matchMedia("(min-width: 1101px)");
  const composing = () => pane.querySelector("#compose-form");
  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.append(script);
    });
  }
  function composeScripts(fresh) {
    if (window.webmailCompose) return Promise.resolve();
    const sources = Array.from(fresh.querySelectorAll("script[src]"), (script) => script.getAttribute("src"))
      .filter((src) => !/\/js\/(live|mail)\.js/.test(src));
    return sources.reduce((chain, src) => chain.then(() => loadScript(src)), Promise.resolve());
  }
  function openCompose(url) {
    if (!wide.matches || !screen.classList.contains("has-message")) { window.location.href = url; return; }
    fetch(url, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => {
        const fresh = new DOMParser().parseFromString(html, "text/html");
        const section = fresh.getElementById("compose");
        if (!section) return Promise.reject(new Error("no form"));
        return composeScripts(fresh).then(() => {
          clearTimeout(markReadTimer);
          window.webmailCompose.flush(); // a form already in the pane: what it has is saved
          pane.replaceChildren(document.adoptNode(section),
                               document.adoptNode(fresh.getElementById("compose-strings")));
          section.classList.add("in-pane");
          window.webmailCompose.start(composing());
          const first = composing().querySelector("#compose-to");
          if (first && !first.value) first.focus();
          else pane.querySelector("#compose-editor:not([hidden]), #compose-text:not([hidden])")?.focus();
        });
      })
      .catch(() => { window.location.href = url; });
  }
  pane.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-compose]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    openCompose(link.href);
  });

  // --- a message just sent: "Sending… Undo" while it waits, then its state, live ----------------
  function sendingNotice() {
    let sent = null;
    try {
      sent = JSON.parse(window.sessionStorage.getItem("webmail.sending") || "null");
      window.sessionStorage.removeItem("webmail.sending");
    } catch (error) { return; }
    if (!sent || !sent.outbox) return;
    const note = document.createElement("div");
    note.className = "toast sending";
    note.id = "sending-notice";
    note.setAttribute("role", "status");
    const text = document.createElement("span");
    const undo = document.createElement("button");
    undo.type = "button";
    undo.className = "link";
    undo.id = "undo-send";
    undo.textContent = strings.undo;
    note.append(text, " ", undo);
    document.body.append(note);
    const sendAt = Date.parse(sent.sendAt);
    const states = { queued: strings.stateQueued, sending: strings.stateSending,
                     sent: strings.stateSent, failed: strings.stateFailed, cancelled: strings.stateCancelled };
    function show(state) {
      text.textContent = sent.scheduled && state === "queued" ? strings.stateScheduled : states[state] || state;
      undo.hidden = state !== "queued";
      if (state === "sent" || state === "cancelled") setTimeout(() => note.remove(), 5000);
    }
    show("queued");
    if (!sent.scheduled) {
      // the undo delay's end: the button goes with it (a worker may claim the message then)
      setTimeout(() => { if (!undo.hidden) undo.hidden = true; }, Math.max(0, sendAt - Date.now()));
    }
    undo.addEventListener("click", () => {
      const body = new URLSearchParams({ csrfmiddlewaretoken: csrf });
      fetch(sent.undoUrl, { method: "POST", body, credentials: "same-origin",
                            headers: { "X-Requested-With": "fetch" } })
        .then((response) => response.json())
        .then((data) => {
          if (data.redirect) window.location.href = data.redirect;
          else toast(data.error || strings.offline);
        })
        .catch(() => toast(strings.offline));
    });
    document.addEventListener("webmail:event", (event) => {
      const detail = event.detail;
      if (detail.type === "outbox.state" && String(detail.outbox_id) === String(sent.outbox)) show(detail.state);
    });
  }

  sendingNotice();
  refreshSelection();
})();
