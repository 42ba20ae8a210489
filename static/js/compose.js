// The compose screen: the formatted-text editor (Squire), saves as the user types and when the page
// is left, attachments (several at once, with progress, dropped on the form), recipients'
// autocomplete, and the send that hands the message to the outbox. Without this script the form
// still posts (a plain send, no autosave). The same form can be shown in the mail screen's reading
// pane on wide screens: mail.js loads it there and calls webmailCompose.start.
(function () {
  "use strict";
  let current = null; // the form started last: {flush}

  function start(form) {
    const strings = document.getElementById("compose-strings").dataset;
    const savedAt = document.getElementById("saved-at");
    const errorBox = document.getElementById("compose-error");
    const textArea = document.getElementById("compose-text");
    const htmlSource = document.getElementById("compose-html-source");
    const editorBox = document.getElementById("compose-editor");
    const toolbar = document.getElementById("editor-toolbar");
    const toggle = document.getElementById("toggle-format");
    const list = document.getElementById("compose-attachments");
    const SAVE_AFTER_MS = 2500; // after typing stops
    let editor = null;
    let dirty = false; // changed since the last save was sent
    let saving = null; // the save under way (a promise)
    let timer = null;
    let sending = false;
    let stopped = false; // no autosave: the draft is gone, or newer elsewhere (until the user chooses)
    let staleVersion = 0; // the newer version seen elsewhere
    const uploads = new Set(); // uploads under way (promises): their answers bring a new version

    const field = (name) => form.elements.namedItem(name);
    const isHtml = () => field("is_html").value === "1";
    const draftId = () => field("draft").value;
    const version = () => Number(field("version").value || 0);

    // "Saved 6:18 p.m.": the clock of the page's language, as the rest of the page writes times
    function showSavedAt(iso) {
      let time = "";
      try {
        time = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
                                       { hour: "numeric", minute: "2-digit" }).format(new Date(iso));
      } catch (error) { return false; }
      savedAt.textContent = `${strings.saved} ${time}`;
      return true;
    }
    if (savedAt.dataset.savedIso) showSavedAt(savedAt.dataset.savedIso);

    // --- the editor ------------------------------------------------------------------------------
    // What Squire puts in the editor (a paste, a drop, setHTML) is first cleaned by DOMPurify, which
    // parses it in an inert document: no handler runs, nothing is fetched. Dropped besides DOMPurify's
    // own list: forms and their inputs, styles, and every image that is not data: (a remote image
    // would be fetched as soon as it is in the page).
    let purify = null;
    function purifier() {
      if (purify || !window.DOMPurify) return purify;
      purify = window.DOMPurify(window); // our own instance: its hooks are ours alone
      purify.addHook("afterSanitizeAttributes", (node) => {
        if (node.nodeName === "IMG" && !/^data:image\//i.test(node.getAttribute("src") || "")) node.remove();
      });
      return purify;
    }
    const PURIFY = {
      RETURN_DOM_FRAGMENT: true, WHOLE_DOCUMENT: false, ALLOW_DATA_ATTR: false,
      FORBID_TAGS: ["form", "input", "button", "select", "option", "textarea", "style", "script",
                    "iframe", "object", "embed", "link", "meta", "base", "svg", "math", "video", "audio",
                    "picture", "source"],
      FORBID_ATTR: ["srcset", "background", "poster", "action", "formaction", "ping"],
    };
    // Chromium checks an on*= attribute against the page's Content-Security-Policy as soon as it is
    // parsed, even in an inert document, and reports a violation (nothing runs). So that a paste of
    // mail's usual HTML reports none, such attribute names are renamed in each tag before DOMPurify
    // parses it; DOMPurify (data-* attributes not allowed) then drops them with the rest.
    const TAG = /<[a-zA-Z][^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>/g;
    const HANDLER = /([\s/"'])(on[a-z-]*\s*=)/gi;
    function disarmHandlers(html) {
      return String(html).replace(TAG, (tag) => tag.replace(HANDLER, "$1x-$2"));
    }
    function sanitizeToDOMFragment(html) {
      const fragment = purifier().sanitize(disarmHandlers(html), PURIFY);
      // the fragment belongs to DOMPurify's inert document, already clean: only now into this one
      return fragment ? document.importNode(fragment, true) : document.createDocumentFragment();
    }
    function startEditor() {
      if (editor || !window.Squire || !purifier()) return; // no DOMPurify: the plain text box
      editor = new window.Squire(editorBox, { blockTag: "DIV", sanitizeToDOMFragment });
      editor.setHTML(htmlSource.value || "<div><br></div>");
      editor.addEventListener("input", changed); // (the toolbar says its own changes)
    }
    function currentHtml() { return editor ? editor.getHTML() : htmlSource.value; }

    toolbar.addEventListener("click", (event) => {
      const button = event.target.closest("[data-format]");
      if (!button || !editor) return;
      const format = button.dataset.format;
      if (format === "bold") editor.hasFormat("B") ? editor.removeBold() : editor.bold();
      else if (format === "italic") editor.hasFormat("I") ? editor.removeItalic() : editor.italic();
      else if (format === "ul") editor.hasFormat("UL") ? editor.removeList() : editor.makeUnorderedList();
      else if (format === "ol") editor.hasFormat("OL") ? editor.removeList() : editor.makeOrderedList();
      else if (format === "quote") editor.increaseQuoteLevel();
      else if (format === "unquote") editor.decreaseQuoteLevel();
      else if (format === "link") {
        const url = window.prompt(button.dataset.prompt, "https://");
        if (url && /^(https?:|mailto:)/i.test(url.trim())) editor.makeLink(url.trim());
      }
      editor.focus();
      changed();
    });

    function escapeHtml(text) {
      const div = document.createElement("div");
      div.textContent = text;
      return div.innerHTML;
    }
    toggle.addEventListener("click", () => {
      if (isHtml()) {
        if (hasFormatting() && !window.confirm(toggle.dataset.confirm)) return;
        const body = new URLSearchParams({ html: currentHtml(),
                                           csrfmiddlewaretoken: field("csrfmiddlewaretoken").value });
        post(form.dataset.textUrl, body).then(({ data }) => {
          textArea.value = data.text;
          setMode(false);
        }).catch(() => showError(strings.offline));
      } else {
        const html = textArea.value.split("\n").map((line) => `<div>${escapeHtml(line) || "<br>"}</div>`).join("");
        htmlSource.value = html;
        if (editor) editor.setHTML(html);
        setMode(true);
      }
    });
    // Formatting the plain text would lose: any element but the editor's own lines and breaks.
    function hasFormatting() {
      const box = document.createElement("template");
      box.innerHTML = currentHtml();
      const plain = (attribute) => attribute.name === "class" && attribute.value === "signature";
      return Array.from(box.content.querySelectorAll("*")).some((el) => !["DIV", "BR", "P"].includes(el.nodeName)
        || !Array.from(el.attributes).every(plain));
    }
    function setMode(html, { quiet = false } = {}) {
      field("is_html").value = html ? "1" : "0";
      textArea.hidden = html;
      editorBox.hidden = !html;
      toolbar.hidden = !html;
      toggle.textContent = html ? toggle.dataset.toPlain : toggle.dataset.toHtml;
      if (html) startEditor();
      if (html && !editor) { setMode(false, { quiet }); return; }
      if (!quiet) changed();
    }
    // The page shows the plain text box (what works without this script); formatted mail
    // starts in the editor, which is not a change to save.
    toggle.hidden = false;
    if (form.dataset.formatted === "1" && window.Squire) setMode(true, { quiet: true });

    // --- another identity: its signature in place of the previous one's ---------------------------
    const from = field("identity");
    let signed = from.selectedOptions[0];
    function swapText(text, old, fresh) {
      const at = old ? text.lastIndexOf(old) : -1;
      if (at >= 0) return text.slice(0, at) + fresh + text.slice(at + old.length);
      return fresh && !text.includes(fresh) ? text + fresh : text;
    }
    function swapHtml(html, fresh) {
      const doc = document.createElement("template");
      doc.innerHTML = html;
      const old = doc.content.querySelector(".signature");
      const block = document.createElement("template");
      block.innerHTML = fresh;
      if (old) old.replaceWith(block.content);
      else doc.content.append(block.content);
      return doc.innerHTML;
    }
    from.addEventListener("change", () => {
      const chosen = from.selectedOptions[0];
      textArea.value = swapText(textArea.value, signed.dataset.signatureText, chosen.dataset.signatureText);
      if (editor) editor.setHTML(swapHtml(editor.getHTML(), chosen.dataset.signatureHtml));
      else htmlSource.value = swapHtml(htmlSource.value, chosen.dataset.signatureHtml);
      signed = chosen;
    });

    // --- saving ----------------------------------------------------------------------------------
    function formData() {
      if (isHtml()) htmlSource.value = currentHtml();
      return new FormData(form);
    }
    // The server's answer, JSON or not: {response, data} ({} when it is not JSON, a 404 page say).
    // A rejection only when it did not answer at all.
    function post(url, body) {
      return fetch(url, { method: "POST", body, credentials: "same-origin",
                          headers: { "X-Requested-With": "fetch" } })
        .then((response) => response.json().then((data) => ({ response, data }),
                                                 () => ({ response, data: {} })));
    }
    // Why a save or a send was refused, in words: the server's, or its status.
    function answered(response, data) {
      if (response.status === 404) { gone(); return; }
      if (response.status === 409 && data.stale) { stale(data.error, data.version); return; }
      showError(data.error || strings.failed.replace("{status}", response.status), data.field);
    }
    function changed() {
      dirty = true;
      if (stopped) return;
      clearTimeout(timer);
      timer = setTimeout(save, SAVE_AFTER_MS);
    }
    form.addEventListener("input", (event) => {
      if (event.target.type === "file") return;
      changed();
    });

    // One save at a time: a change made while one is under way is saved right after it, so the
    // first save (which makes the draft) is never sent twice.
    function save() {
      clearTimeout(timer);
      if (saving) return saving.then(() => (dirty ? save() : null));
      if (stopped || (!dirty && draftId())) return Promise.resolve();
      dirty = false;
      savedAt.textContent = strings.saving;
      saving = post(form.dataset.saveUrl, formData())
        .then(({ response, data }) => {
          if (!response.ok) { dirty = true; savedAt.textContent = ""; answered(response, data); return; }
          hideError();
          saved(data);
        })
        .catch(() => { dirty = true; savedAt.textContent = strings.offline; })
        .finally(() => { saving = null; });
      return saving;
    }
    function saved(data) {
      const first = !draftId();
      field("draft").value = data.draft;
      if (data.version) field("version").value = data.version;
      form.dataset.attachUrl = data.attach_url;
      form.dataset.discardUrl = data.discard_url;
      if (!showSavedAt(data.saved_iso)) savedAt.textContent = `${strings.saved} ${data.saved_at}`;
      const discard = document.getElementById("discard-button");
      discard.hidden = false;
      if (first) {
        // the page's address becomes the draft's, so a reload finds it (not so in the mail pane)
        if (!form.closest(".in-pane")) window.history.replaceState(null, "", data.url);
        showAttachments(data.attachments);
      }
    }
    // When the page is left: what is not saved yet goes in one last request that outlives the page.
    function flush() {
      clearTimeout(timer);
      if (!dirty || sending || stopped) return;
      dirty = false;
      navigator.sendBeacon(form.dataset.saveUrl, formData());
    }
    window.addEventListener("pagehide", flush);
    // Back to a page kept by the browser (bfcache) after it was sent or discarded from here.
    // The page as it was is stale: gone when the draft is (sent, discarded), else reloaded (Undo
    // may have brought it back, with its state in the outbox).
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted || !sending) return;
      const url = draftId() ? window.location.href : null;
      if (!url) { gone(); return; }
      fetch(url, { credentials: "same-origin" })
        .then((response) => (response.status === 404 ? gone() : window.location.reload()))
        .catch(gone);
    });

    // --- the draft changed elsewhere, or gone -----------------------------------------------------
    const staleBox = document.getElementById("compose-stale");
    // Another tab or window saved a newer version: nothing more is saved from here (the server
    // would refuse it) until the user chooses; the text stays as it is in this window.
    function stale(text, newer) {
      stopped = true;
      clearTimeout(timer);
      staleVersion = Math.max(staleVersion, Number(newer) || 0);
      document.getElementById("compose-stale-text").textContent = text || strings.stale;
      staleBox.hidden = false;
      savedAt.textContent = "";
    }
    document.getElementById("stale-reload").addEventListener("click", () => {
      dirty = false; // the user chose the other version
      window.location.reload();
    });
    document.getElementById("stale-keep").addEventListener("click", () => {
      staleBox.hidden = true;
      stopped = false;
      if (staleVersion) field("version").value = staleVersion;
      dirty = true;
      save();
    });
    // The live event of a save of this draft: newer than this page's version means another window's
    // (this page's own saves are waited for first: their event may come before their answer).
    document.addEventListener("webmail:event", (event) => {
      const detail = event.detail || {};
      if (detail.type !== "draft.saved" || !draftId() || String(detail.draft_id) !== draftId()) return;
      Promise.allSettled([saving, ...uploads]).then(() => {
        if (Number(detail.version) > version() && !sending) stale(strings.stale, detail.version);
      });
    });
    // Sent or discarded (elsewhere, or from here before Back): read-only, and said so.
    function gone() {
      stopped = true;
      sending = true; // nothing more to save nor send
      clearTimeout(timer);
      hideError();
      staleBox.hidden = true;
      savedAt.textContent = "";
      document.getElementById("compose-gone").hidden = false;
      for (const element of form.elements) {
        if (element.type !== "hidden") element.disabled = true;
      }
      if (editor) editor.getRoot().setAttribute("contenteditable", "false");
    }
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") flush(); });

    // --- errors ------------------------------------------------------------------------------------
    function showError(text, name) {
      errorBox.textContent = text || strings.offline;
      errorBox.hidden = false;
      for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
      const input = name && field(name);
      if (input && input.focus) {
        input.setAttribute("aria-invalid", "true");
        input.hidden = false;
        form.querySelectorAll(`.row-${name}`).forEach((el) => { el.hidden = false; });
      }
    }
    function hideError() { errorBox.hidden = true; }

    // --- attachments -------------------------------------------------------------------------------
    function showAttachments(attachments) {
      for (const item of list.querySelectorAll("li")) item.remove();
      for (const attachment of attachments) {
        const item = document.createElement("li");
        item.dataset.attachmentId = attachment.id;
        const name = document.createElement("a");
        name.href = attachment.url;
        const label = document.createElement("bdi");
        label.textContent = attachment.filename;
        name.append(label);
        const size = document.createElement("span");
        size.className = "help";
        size.textContent = ` ${attachment.size_text} `; // the server's words, as the page's own list
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link";
        remove.textContent = strings.remove;
        remove.dataset.removeUrl = attachment.remove_url;
        item.append("📎 ", name, size, remove);
        list.append(item);
      }
    }
    // Stays until the user acts (dismisses it, or attaches again): an autosave does not hide it.
    const attachError = document.getElementById("attach-error");
    function showAttachError(text) {
      document.getElementById("attach-error-text").textContent = `${text} `;
      attachError.hidden = false;
    }
    function hideAttachError() { attachError.hidden = true; }
    document.getElementById("attach-error-dismiss").addEventListener("click", hideAttachError);
    function upload(files) {
      if (!files.length) return;
      let total = 0;
      for (const file of files) total += file.size;
      hideAttachError();
      if (total > Number(form.dataset.maxBytes)) {
        showAttachError(strings.tooBig.replace("{names}", files.map((file) => `“${file.name}”`).join(", ")));
        return;
      }
      dirty = dirty || !draftId();
      save().then(() => {
        if (!draftId()) return;
        const body = new FormData();
        body.append("csrfmiddlewaretoken", field("csrfmiddlewaretoken").value);
        for (const file of files) {
          body.append("files", file);
          body.append("names", file.name); // whole: the server's upload parser cuts at "/"
        }
        const progress = document.createElement("li");
        progress.className = "uploading";
        const bar = document.createElement("progress");
        bar.max = 100;
        bar.value = 0;
        progress.append(`${strings.uploading} `, bar);
        list.append(progress);
        const request = new XMLHttpRequest();
        request.open("POST", form.dataset.attachUrl);
        request.setRequestHeader("X-Requested-With", "fetch");
        request.upload.addEventListener("progress", (event) => {
          if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
        });
        let done = null;
        const finished = new Promise((resolve) => { done = resolve; });
        uploads.add(finished);
        finished.then(() => uploads.delete(finished));
        request.addEventListener("load", () => {
          progress.remove();
          let data = {};
          try { data = JSON.parse(request.responseText); } catch (error) { data = {}; }
          if (request.status === 404) gone();
          else if (request.status !== 200) showAttachError(data.error || strings.failed.replace("{status}", request.status));
          else { saved(data); showAttachments(data.attachments); }
          done();
        });
        request.addEventListener("error", () => { progress.remove(); showAttachError(strings.offline); done(); });
        request.send(body);
      });
    }
    document.getElementById("compose-files").addEventListener("change", (event) => {
      upload(Array.from(event.target.files));
      event.target.value = "";
    });
    form.addEventListener("dragover", (event) => {
      if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
      event.preventDefault();
      form.classList.add("dropping");
    });
    form.addEventListener("dragleave", () => form.classList.remove("dropping"));
    form.addEventListener("drop", (event) => {
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      event.preventDefault();
      form.classList.remove("dropping");
      upload(Array.from(event.dataTransfer.files));
    });
    list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-remove-url], [data-remove]");
      if (!button) return;
      event.preventDefault();
      const url = button.dataset.removeUrl || button.getAttribute("formaction");
      const body = new URLSearchParams({ csrfmiddlewaretoken: field("csrfmiddlewaretoken").value });
      const removing = post(url, body);
      uploads.add(removing);
      removing.finally(() => uploads.delete(removing)).catch(() => {});
      removing.then(({ response, data }) => {
        if (!response.ok) { answered(response, data); return; }
        saved(data);
        showAttachments(data.attachments);
      }).catch(() => showError(strings.offline));
    });

    // --- Cc, Bcc, and the recipients' autocomplete -------------------------------------------------
    form.addEventListener("click", (event) => {
      const link = event.target.closest("[data-show]");
      if (!link) return;
      form.querySelectorAll(`.row-${link.dataset.show}`).forEach((el) => { el.hidden = false; });
      link.hidden = true;
      field(link.dataset.show).focus();
    });
    // A combobox (WAI-ARIA 1.2): the list under the box being typed in; the arrows move in it,
    // Enter or Tab takes the one selected, Escape closes it.
    document.getElementById("recipient-suggestions")?.remove(); // an earlier form's, in the pane
    const suggestions = document.createElement("ul");
    suggestions.className = "suggestions";
    suggestions.id = "recipient-suggestions";
    suggestions.setAttribute("role", "listbox");
    suggestions.hidden = true;
    document.body.append(suggestions);
    let suggestFor = null;
    let suggestTimer = null;
    let asked = 0; // answers to earlier questions are dropped
    function lastTerm(input) { return input.value.split(",").pop().trim(); }
    function close() {
      suggestions.hidden = true;
      if (suggestFor) {
        suggestFor.setAttribute("aria-expanded", "false");
        suggestFor.removeAttribute("aria-activedescendant");
      }
    }
    function select(item) {
      for (const other of suggestions.children) other.removeAttribute("aria-selected");
      item.setAttribute("aria-selected", "true");
      suggestFor.setAttribute("aria-activedescendant", item.id);
    }
    function suggest(input) {
      const term = lastTerm(input);
      const question = ++asked;
      if (term.length < 2) { close(); return; }
      const url = new URL(form.dataset.contactsUrl, window.location.href);
      url.searchParams.set("q", term);
      fetch(url, { credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : Promise.reject(response)))
        // an answer that comes once the user has left the box opens nothing
        .then((data) => {
          if (question === asked && document.activeElement === input) showSuggestions(input, data.contacts || []);
        })
        .catch(close);
    }
    function showSuggestions(input, contacts) {
      suggestions.replaceChildren();
      for (const [index, contact] of contacts.entries()) {
        const item = document.createElement("li");
        item.id = `recipient-suggestion-${index}`;
        item.setAttribute("role", "option");
        item.textContent = contact.label || contact.address;
        item.dataset.value = contact.name ? `${contact.name} <${contact.address}>` : contact.address;
        suggestions.append(item);
      }
      suggestFor = input;
      if (!contacts.length) { close(); return; }
      const box = input.getBoundingClientRect();
      suggestions.style.left = `${box.left + window.scrollX}px`;
      suggestions.style.top = `${box.bottom + window.scrollY}px`;
      suggestions.style.width = `${box.width}px`;
      suggestions.hidden = false;
      input.setAttribute("aria-expanded", "true");
      select(suggestions.firstElementChild);
    }
    function pick(item) {
      if (!item || !suggestFor) return;
      const parts = suggestFor.value.split(",");
      parts[parts.length - 1] = ` ${item.dataset.value}`;
      suggestFor.value = `${parts.join(",").trim()}, `;
      close();
      suggestFor.focus();
      changed();
    }
    for (const input of form.querySelectorAll("[data-recipients]")) {
      input.setAttribute("role", "combobox");
      input.setAttribute("aria-autocomplete", "list");
      input.setAttribute("aria-controls", suggestions.id);
      input.setAttribute("aria-expanded", "false");
      input.addEventListener("input", () => {
        clearTimeout(suggestTimer);
        suggestTimer = setTimeout(() => suggest(input), 150);
      });
      input.addEventListener("keydown", (event) => {
        if (suggestions.hidden || suggestFor !== input) return;
        const items = Array.from(suggestions.children);
        const at = items.findIndex((item) => item.getAttribute("aria-selected") === "true");
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          select(items[(at + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length]);
        } else if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey)
                   || (event.key === "Tab" && lastTerm(input))) {
          event.preventDefault();
          pick(items[Math.max(at, 0)]);
        } else if (event.key === "Escape") {
          close();
        }
      });
      input.addEventListener("blur", () => {
        clearTimeout(suggestTimer); // a question not asked yet is not asked
        ++asked; // nor is an answer on its way shown
        setTimeout(close, 200); // after a click on a suggestion is handled (mousedown)
      });
    }
    suggestions.addEventListener("mousedown", (event) => {
      event.preventDefault();
      pick(event.target.closest("li"));
    });

    // --- send, send later, discard, cancel a waiting send ----------------------------------------
    // Enter in a one-line box does not send (it would, in a form): Ctrl+Enter or Cmd+Enter does,
    // from anywhere in the form, the editor too (caught before it: the capture phase).
    form.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.isComposing) return;
      if (event.ctrlKey || event.metaKey) {
        event.preventDefault();
        event.stopPropagation();
        if (!sending && !stopped) send(false);
      } else if (event.target instanceof HTMLInputElement) {
        event.preventDefault();
      }
    }, true);
    form.addEventListener("submit", (event) => {
      const submitter = event.submitter;
      const action = submitter && submitter.getAttribute("formaction");
      event.preventDefault();
      if (action && submitter.id === "discard-button") { discard(action); return; }
      if (action) { cancelSend(action); return; }
      send(submitter && submitter.name === "later");
    });
    function send(later) {
      if (!field("subject").value.trim() && !window.confirm(strings.noSubject)) return;
      if (sending) return;
      sending = true;
      clearTimeout(timer);
      const body = formData();
      if (later) body.set("later", "1");
      const wait = saving || Promise.resolve();
      wait.then(() => {
        body.set("draft", draftId());
        body.set("version", field("version").value); // as the save just made left it
        return post(form.action, body);
      }).then(({ response, data }) => {
        if (!response.ok) {
          sending = false;
          if (data.draft && data.url) saved(data); // saved all the same
          answered(response, data);
          return;
        }
        dirty = false;
        try {
          window.sessionStorage.setItem("webmail.sending", JSON.stringify({
            outbox: data.outbox, undoUrl: data.undo_url, sendAt: data.send_at, scheduled: data.scheduled,
          }));
        } catch (error) { /* no storage: the Outbox still shows it */ }
        window.location.href = data.redirect;
      }).catch(() => { sending = false; showError(strings.offline); });
    }
    function discard(url) {
      if (!window.confirm(strings.discard)) return;
      sending = true; // nothing more to save
      clearTimeout(timer);
      const body = new URLSearchParams({ csrfmiddlewaretoken: field("csrfmiddlewaretoken").value });
      post(url || form.dataset.discardUrl, body).then(({ response, data }) => {
        if (!response.ok) { sending = false; showError(data.error); return; }
        window.location.href = data.redirect;
      }).catch(() => { sending = false; showError(strings.offline); });
    }
    document.getElementById("discard-button").addEventListener("click", (event) => {
      if (event.currentTarget.type === "button") discard(form.dataset.discardUrl);
    });
    function cancelSend(url) {
      const body = new URLSearchParams({ csrfmiddlewaretoken: field("csrfmiddlewaretoken").value });
      post(url, body).then(({ response, data }) => {
        if (!response.ok) { showError(data.error); return; }
        window.location.href = data.redirect;
      }).catch(() => showError(strings.offline));
    }
    current = { flush };
  }

  window.webmailCompose = {
    start,
    // before the form is taken off the page (the pane shows something else): save what is left
    flush: () => { if (current) current.flush(); current = null; },
  };
  const page = document.getElementById("compose-form");
  if (page) start(page);
})();
