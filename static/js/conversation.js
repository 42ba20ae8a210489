// A conversation in the reading pane (templates/mailbox/_conversation_pane.html): a collapsed
// message opens in place, its body fetched once from its own view (?part=thread-item).
(function () {
  "use strict";
  const pane = document.getElementById("reading-pane");
  if (!pane) return;
  pane.addEventListener("click", (event) => {
    const line = event.target.closest(".thread-line");
    if (!line || !pane.contains(line)) return;
    const item = line.closest(".thread-item");
    const body = item.querySelector(".thread-body");
    const opening = body.hidden;
    body.hidden = !opening;
    item.classList.toggle("open", opening);
    line.setAttribute("aria-expanded", String(opening));
    if (!opening || item.dataset.loaded || body.querySelector(".headers")) return;
    item.dataset.loaded = "1";
    fetch(line.dataset.src, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => {
        const holder = document.createElement("template");
        holder.innerHTML = html; // our own escaped fragment
        const fresh = holder.content.querySelector(".thread-body");
        if (fresh) { fresh.hidden = false; body.replaceWith(fresh); }
        item.classList.remove("unread"); // opening it marked it read, as the pane does
      })
      .catch(() => { delete item.dataset.loaded; });
  });
})();
