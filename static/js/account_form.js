// The account form: ports follow the security choice unless the user typed their own,
// the SMTP user name and password show only when they differ from the incoming ones, and the
// POP3 settings only for POP3 (the number of days only when mail is kept for some days).
(function () {
  "use strict";
  const form = document.getElementById("account-form");
  if (!form) return;
  const ports = JSON.parse(form.dataset.defaultPorts);
  const $ = (name) => form.elements.namedItem(name);
  const allDefaults = new Set(Object.values(ports).flatMap((p) => Object.values(p).map(String)));

  function follow(portName, protocol, securityName) {
    const port = $(portName);
    const wanted = String(ports[protocol][$(securityName).value]);
    port.placeholder = wanted;
    if (port.value === "" || allDefaults.has(port.value)) port.value = wanted;
  }
  function incomingProtocol() {
    const checked = form.querySelector('input[name="incoming_protocol"]:checked');
    return checked ? checked.value : "imap";
  }
  function update() {
    follow("incoming_port", incomingProtocol(), "incoming_security");
    follow("smtp_port", "smtp", "smtp_security");
    document.getElementById("smtp-credentials").hidden = $("smtp_auth").value !== "custom";
    document.getElementById("pop3-settings").hidden = incomingProtocol() !== "pop3";
    const days = form.querySelector('input[name="pop3_retention"]:checked');
    document.getElementById("field-pop3_keep_days").hidden = !days || days.value !== "days";
  }
  form.addEventListener("change", (event) => {
    if (event.target.name !== "incoming_port" && event.target.name !== "smtp_port") update();
  });
  update();
})();
