// The mail screen's layout: the split between the list and the reading pane (dragged, or moved
// with the arrow keys, and saved in the user's preferences), the toolbar's "More" menu, and the
// folders behind their button on a phone. mail.js does the actions; this file only the layout.
(function () {
  "use strict";
  const screen = document.getElementById("mail");
  if (!screen) return;
  const csrf = screen.querySelector("input[name=csrfmiddlewaretoken]").value;

  // --- the split -------------------------------------------------------------------------------
  // The width is a CSS custom property (--list-width, in px): the page's policy refuses style
  // attributes, not the CSSOM. The server links a stylesheet with the saved width, so the first
  // paint already has it; here only what the user changes.
  const listPane = document.getElementById("list-pane");
  const folderPane = document.getElementById("folder-pane");
  const resizer = document.getElementById("pane-resizer");
  const MIN = 288; // 18rem: a sender and a date still fit
  const READING_MIN = 352; // 22rem left to the message (the grid's own minimum, webmail.css)
  const STEP = 16;
  let saveTimer = null;

  function bounds() {
    const folders = folderPane.offsetParent ? folderPane.getBoundingClientRect().width : 0;
    const max = Math.max(MIN, screen.getBoundingClientRect().width - folders - READING_MIN);
    return { min: MIN, max: Math.round(max) };
  }
  function showWidth() {
    const { min, max } = bounds();
    resizer.setAttribute("aria-valuemin", min);
    resizer.setAttribute("aria-valuemax", max);
    resizer.setAttribute("aria-valuenow", Math.round(listPane.getBoundingClientRect().width));
  }
  function setWidth(width) {
    const { min, max } = bounds();
    const clamped = Math.round(Math.min(max, Math.max(min, width)));
    screen.style.setProperty("--list-width", `${clamped}px`);
    showWidth();
    return clamped;
  }
  function save(width) {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => {
      const body = new URLSearchParams({ width: String(width) });
      fetch(resizer.dataset.saveUrl, {
        method: "POST", body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf, "X-Requested-With": "fetch" },
      }).catch(() => {}); // a width not saved is not worth a notice: the split still moved
    }, 300);
  }

  if (resizer) {
    resizer.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      resizer.setPointerCapture(event.pointerId);
      screen.classList.add("resizing");
      const left = listPane.getBoundingClientRect().left;
      // where in the handle it was taken: the list's edge keeps that distance from the pointer
      const grip = listPane.getBoundingClientRect().width - (event.clientX - left);
      let width = null;
      const move = (e) => { width = setWidth(e.clientX - left + grip); };
      const stop = () => {
        resizer.removeEventListener("pointermove", move);
        resizer.removeEventListener("pointerup", stop);
        resizer.removeEventListener("pointercancel", stop);
        screen.classList.remove("resizing");
        if (width !== null) save(width);
      };
      resizer.addEventListener("pointermove", move);
      resizer.addEventListener("pointerup", stop);
      resizer.addEventListener("pointercancel", stop);
    });
    resizer.addEventListener("keydown", (event) => {
      const now = listPane.getBoundingClientRect().width;
      const step = event.shiftKey ? STEP * 4 : STEP;
      const { min, max } = bounds();
      const to = { ArrowLeft: now - step, ArrowRight: now + step, Home: min, End: max }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      event.stopPropagation(); // not mail.js's shortcuts
      save(setWidth(to));
    });
    showWidth();
    window.addEventListener("resize", showWidth);
  }

  // --- menus: the toolbar's "More", the phone's folders -----------------------------------------
  // A button with aria-expanded opens what it controls; Escape, a click elsewhere or a choice
  // close it, and Escape gives the focus back to the button.
  // A menu (closeOnChoice) closes when one of its buttons is chosen; the arrow keys go through
  // them. The folders are not a menu but a pane that the CSS shows while it is open.
  function menu(button, panel, { onToggle = null, closeOnChoice = true } = {}) {
    const set = (open) => {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      if (onToggle) onToggle(open);
      else panel.hidden = !open;
    };
    const isOpen = () => button.getAttribute("aria-expanded") === "true";
    button.addEventListener("click", () => {
      set(!isOpen());
      if (isOpen()) {
        const first = panel.querySelector("button:not([disabled]), a[href]");
        if (first && closeOnChoice) first.focus();
      }
    });
    // Escape from the button or from inside; the capture phase, before mail.js's shortcuts
    document.addEventListener("keydown", (event) => {
      const inside = panel.contains(event.target) || button.contains(event.target);
      if (event.key !== "Escape" || !isOpen() || !inside) return;
      event.stopPropagation();
      set(false);
      button.focus();
    }, true);
    panel.addEventListener("keydown", (event) => {
      const items = Array.from(panel.querySelectorAll("button:not([disabled]), a[href]"));
      const at = items.indexOf(document.activeElement);
      if (closeOnChoice && (event.key === "ArrowDown" || event.key === "ArrowUp") && at >= 0) {
        event.preventDefault();
        items[(at + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length].focus();
      }
    });
    if (closeOnChoice) {
      panel.addEventListener("click", (event) => { if (event.target.closest("button")) set(false); });
    }
    document.addEventListener("click", (event) => {
      if (isOpen() && !panel.contains(event.target) && !button.contains(event.target)) set(false);
    });
    return set;
  }

  const moreToggle = document.getElementById("more-toggle");
  if (moreToggle) menu(moreToggle, document.getElementById("more-menu"));

  const foldersToggle = document.getElementById("folders-toggle");
  if (foldersToggle) {
    menu(foldersToggle, folderPane, {
      closeOnChoice: false,
      onToggle: (open) => screen.classList.toggle("folders-open", open),
    });
  }
})();
