// Refreshes the status page every 30 s without a full reload; the page works without it.
(function () {
  "use strict";
  var main = document.getElementById("status");
  if (!main || !window.fetch || !window.DOMParser) { return; }
  document.documentElement.classList.add("js");
  var every = (parseInt(main.getAttribute("data-refresh"), 10) || 30) * 1000;

  function refresh() {
    if (document.hidden) { return; }  // a background tab waits until it is shown again
    fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (reply) { return reply.ok ? reply.text() : Promise.reject(reply.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("status");
        var current = document.getElementById("status");
        if (fresh && current) { current.replaceWith(fresh); }
      })
      .catch(function () { /* keep showing the last page; the next tick tries again */ });
  }

  window.setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { refresh(); }
  });
})();
