// fleetflash dashboard: refresh server-rendered regions in place (short polling) and
// send operator actions. No framework, no CDN: this file is served by the gateway.
(function () {
  "use strict";

  var CSRF_HEADER = "X-Requested-With";
  var CSRF_VALUE = "fleetflash";

  function say(message, isError) {
    var status = document.getElementById("status");
    if (!status) { return; }
    status.textContent = message;
    status.className = isError ? "status error" : "status";
  }

  // Replace a live region with the same region of a freshly fetched page, keeping
  // keyboard focus on the element with the same id (buttons keep focus across refreshes).
  function swap(region, fresh) {
    var focusedId = document.activeElement && region.contains(document.activeElement)
      ? document.activeElement.id : "";
    region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes));
    if (focusedId) {
      var again = document.getElementById(focusedId);
      if (again) { again.focus(); }
    }
  }

  function refresh() {
    var regions = document.querySelectorAll("[data-live]");
    if (!regions.length) { return Promise.resolve(); }
    return fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected && new URL(response.url).pathname === "/login") {
          window.location.assign("/login");
          return null;
        }
        if (!response.ok) { throw new Error("refresh failed: HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        var page = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (region) {
          var fresh = page.querySelector('[data-live="' + region.getAttribute("data-live") + '"]');
          if (fresh) { swap(region, fresh); }
        });
      })
      .catch(function (error) { say(error.message, true); });
  }

  function poll() {
    var region = document.querySelector("[data-live]");
    if (!region) { return; }
    var interval = parseInt(region.getAttribute("data-refresh-ms") || "2000", 10);
    window.setTimeout(function tick() {
      var next = function () { window.setTimeout(tick, interval); };
      if (document.hidden) { next(); return; }
      refresh().then(next, next);
    }, interval);
  }

  function act(button) {
    var url = button.getAttribute("data-action");
    button.disabled = true;
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    headers[CSRF_HEADER] = CSRF_VALUE;
    fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: "{}" })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (result) {
        if (result.ok) {
          say(button.textContent.trim() + ": done.", false);
        } else {
          say(button.textContent.trim() + " refused: " + result.body.error.message, true);
        }
        return refresh();
      })
      .catch(function (error) { say(error.message, true); })
      .then(function () { button.disabled = false; });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (button) { event.preventDefault(); act(button); }
  });
  document.addEventListener("DOMContentLoaded", poll);
})();
