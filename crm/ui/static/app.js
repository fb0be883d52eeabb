// leadchain UI: the only script besides htmx. No inline scripts anywhere (CSP script-src 'self').
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  // Every htmx request carries the CSRF token as a header (flask-wtf reads X-CSRFToken).
  document.addEventListener("htmx:configRequest", function (event) {
    var verb = (event.detail.verb || "get").toLowerCase();
    if (verb !== "get") {
      event.detail.headers["X-CSRFToken"] = csrfToken();
    }
  });
  // Forms marked data-confirm ask before they submit (no inline onclick handlers).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
  // Selects marked data-autosubmit submit their form on change (the language switch).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
    }
  });
})();
