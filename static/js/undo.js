// The mail screen's notices: what an action did ("3 messages archived.") with "Undo" for a few
// seconds (z on the keyboard). mail.js says what was done ("webmail:acted", the action's JSON
// answer) and passes on the z key ("webmail:undo"); the undo posts the answer's moves back
// (mailbox/views/undo.py). The notices live in #action-notice, a status region present from the
// page's start, so that screen readers announce each one.
(function () {
  "use strict";
  const screen = document.getElementById("mail");
  const region = document.getElementById("action-notice");
  if (!screen || !region) return;
  const strings = document.getElementById("mail-strings").dataset;
  const csrf = screen.querySelector("input[name=csrfmiddlewaretoken]").value;
  const SHOWN_MS = 8000; // as long as the Undo is offered
  const KEPT = "webmail.notice"; // a notice carried over a reload (an action on a whole folder)
  let current = null; // { moves, note, timer }: the notice shown, and what its Undo puts back

  function close() {
    if (!current) return;
    clearTimeout(current.timer);
    current.note.remove();
    current = null;
  }
  // Gone after SHOWN_MS, but never while the pointer or the focus is on it.
  function later(state) {
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      if (state.note.matches(":hover, :focus-within")) later(state);
      else if (current === state) close();
    }, SHOWN_MS);
  }
  function show(text, moves) {
    const hadFocus = current && current.note.contains(document.activeElement);
    close();
    const note = document.createElement("div");
    note.className = "toast action-notice";
    const words = document.createElement("span");
    words.textContent = text; // text only: never the server's words as HTML
    note.append(words);
    if (moves && moves.length) {
      const undo = document.createElement("button");
      undo.type = "button";
      undo.className = "link";
      undo.id = "undo-action";
      undo.textContent = strings.undo;
      undo.title = strings.undoKey;
      undo.addEventListener("click", () => undoLast());
      note.append(" ", undo);
    }
    region.append(note);
    current = { moves: moves && moves.length ? moves : null, note, timer: null };
    later(current);
    if (hadFocus) (note.querySelector("button") || screen.querySelector("#message-list a.open, #message-list .pick"))?.focus();
  }

  function undoLast() {
    if (!current || !current.moves) return;
    const moves = current.moves;
    current.moves = null; // once: a second z (or click) while it goes does nothing
    const button = current.note.querySelector("#undo-action");
    if (button) button.disabled = true;
    const body = new URLSearchParams({ moves: JSON.stringify(moves) });
    fetch(region.dataset.url, {
      method: "POST", credentials: "same-origin", body,
      headers: { "X-CSRFToken": csrf, "X-Requested-With": "fetch" },
    })
      .then((response) => response.json().then((data) => ({ response, data })))
      .then(({ response, data }) => {
        if (!response.ok || !data.ok) { show(`${strings.failed} ${data.error || response.status}`); return; }
        // The rows back in this folder go in their places as live events bring rows: the same
        // event the server sends (a moment later; a row already shown is replaced, not doubled).
        for (const move of data.restored) {
          const detail = { type: "message.new", folder_id: move.to, ids: move.ids };
          document.dispatchEvent(new CustomEvent("webmail:event", { detail }));
        }
        show(data.notice);
      })
      .catch(() => show(strings.offline));
  }

  document.addEventListener("webmail:acted", (event) => {
    const answer = event.detail;
    if (!answer.notice) return;
    if (answer.reloading) {
      try { window.sessionStorage.setItem(KEPT, JSON.stringify(answer)); } catch (error) { /* private mode */ }
      return;
    }
    show(answer.notice, answer.undo);
  });
  document.addEventListener("webmail:undo", undoLast);

  try {
    const kept = JSON.parse(window.sessionStorage.getItem(KEPT) || "null");
    window.sessionStorage.removeItem(KEPT);
    if (kept && kept.notice) show(kept.notice, kept.undo);
  } catch (error) { /* nothing kept */ }
})();
