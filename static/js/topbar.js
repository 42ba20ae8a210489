// The top bar on a phone: its links fold behind "Menu" so that it stays one line (webmail.css
// shows the button only there). Escape or a click elsewhere closes the menu.
(function () {
  "use strict";
  const button = document.getElementById("nav-toggle");
  const nav = document.getElementById("topbar-nav");
  if (!button || !nav) return;
  const set = (open) => {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("open", open);
  };
  const isOpen = () => button.getAttribute("aria-expanded") === "true";
  button.addEventListener("click", () => {
    set(!isOpen());
    if (isOpen()) nav.querySelector("a, button").focus();
  });
  nav.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !isOpen()) return;
    event.stopPropagation();
    set(false);
    button.focus();
  });
  document.addEventListener("click", (event) => {
    if (isOpen() && !nav.contains(event.target) && !button.contains(event.target)) set(false);
  });
})();
