/* Keel: small progressive enhancements. Every page works without this file.
   (a) <form data-confirm="Mark LINCOLN-2026-0007 ($12,400.00) as paid?"> asks before submitting.
   (b) <button type="button" data-copy="text"> copies text to the clipboard and says "Copied" for 2 s.
       Such buttons may be rendered with the `hidden` attribute: this script reveals them,
       so they never show up where they could not work. */
(function () {
  "use strict";

  // (a) Confirm before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // (b) Copy buttons.
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function flashLabel(button, label) {
    if (!button.hasAttribute("data-copy-label")) {
      button.setAttribute("data-copy-label", button.textContent);
    }
    clearTimeout(button._keelCopyTimer);
    button.textContent = label;
    button._keelCopyTimer = setTimeout(function () {
      button.textContent = button.getAttribute("data-copy-label");
      button.removeAttribute("data-copy-label");
    }, 2000);
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("button[data-copy]") : null;
    if (!button) return;
    event.preventDefault();
    copy(button.getAttribute("data-copy")).then(
      function () { flashLabel(button, "Copied"); },
      function () { flashLabel(button, "Copy failed"); }
    );
  });

  function reveal() {
    var hidden = document.querySelectorAll("button[data-copy][hidden]");
    for (var i = 0; i < hidden.length; i++) hidden[i].hidden = false;
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }

  // (c) <input type="hidden" data-timezone> receives the browser's time zone (support requests).
  function fillTimeZone() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    var inputs = document.querySelectorAll("input[data-timezone]");
    for (var i = 0; i < inputs.length; i++) if (!inputs[i].value) inputs[i].value = zone;
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fillTimeZone);
  } else {
    fillTimeZone();
  }
})();
