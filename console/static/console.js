// mailgate web console: progressive enhancement only. Every page works
// without this file; with it, destructive buttons ask first.
"use strict";
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    ev.preventDefault();
  }
});
