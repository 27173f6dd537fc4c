// The steward pages' light JavaScript: keyboard shortcuts (m / n / s, "/" to search),
// a confirmation before splitting or undoing a merge, and no double submits.
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function activate(element) {
    if (!element || element.disabled) { return; }
    element.click();  // a submit button submits its form with its own formaction; a link navigates
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = event.key.toLowerCase();
    if (key === "/") {
      var search = document.getElementById("q");
      if (search) { search.focus(); } else { window.location.href = document.querySelector(".nav a[href$='/search']").href; }
      event.preventDefault();
      return;
    }
    var target = document.querySelector("[data-key='" + key + "']");
    if (target) {
      event.preventDefault();
      activate(target);
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (form.dataset.sent) {  // one decision per click or key press
      event.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    window.setTimeout(function () {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
}());
