// Simulator: reloads the chat while the assistant is answering (the reply arrives through the
// WhatsApp worker a moment after the message was stored), and keeps the newest message in view.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log) { return; }
  var quietRounds = 0;

  function scrollDown() { window.scrollTo(0, document.body.scrollHeight); }

  function poll() {
    fetch(log.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (reply) { return reply.ok ? reply.text() : null; })
      .then(function (html) {
        if (html !== null && html !== log.innerHTML) {
          log.innerHTML = html;
          quietRounds = 0;
          scrollDown();
        } else {
          quietRounds += 1;
        }
        var waiting = log.querySelector("[data-waiting='ya']");
        // Keep asking while a reply is pending and for a few seconds after (replies come in pieces).
        if (waiting || quietRounds < 4) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }

  scrollDown();
  window.setTimeout(poll, 800);
})();
