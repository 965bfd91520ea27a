// gitops-status status page. The pages work without this file; it only
// (1) refreshes the data in place every data-refresh seconds, pausing while
// the tab is hidden and keeping filters, sort, scroll position, focus and
// open details; (2) applies a filter as soon as a select changes; and
// (3) leaves empty parameters out of the URL, so shared links stay short.
(function () {
  "use strict";

  var form = document.getElementById("filters");
  if (form) {
    form.addEventListener("change", function (e) {
      if (e.target.tagName === "SELECT") {
        submitFilters();
      }
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      submitFilters();
    });
  }

  function submitFilters() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (String(value).trim() !== "") {
        params.append(key, value);
      }
    });
    var qs = params.toString();
    location.assign(form.getAttribute("action") + (qs ? "?" + qs : ""));
  }

  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!(seconds > 0)) {
    return;
  }
  var note = document.getElementById("refresh-note");
  var timer = 0;
  var due = false;
  var running = false;
  // refreshes counts the refreshes applied; tests and curious people read
  // it from the body's data-refreshes attribute.
  var refreshes = 0;

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(tick, seconds * 1000);
  }

  function tick() {
    if (document.hidden) {
      due = true; // refresh as soon as the tab is shown again
      return;
    }
    refresh();
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && due) {
      due = false;
      refresh();
    }
  });

  // selectingInside reports whether the reader is selecting text in el:
  // swapping it would throw the selection away, so the refresh waits.
  function selectingInside(el) {
    var sel = window.getSelection && window.getSelection();
    return sel && !sel.isCollapsed && sel.anchorNode && el.contains(sel.anchorNode);
  }

  function refresh() {
    var live = document.getElementById("live");
    if (running || !live || selectingInside(live)) {
      schedule();
      return;
    }
    running = true;
    // The refresh is measured (performance.getEntriesByName("gitops-refresh")),
    // so that its cost on a large fleet can be read in any browser.
    performance.mark("gitops-refresh-start");
    fetch(location.href, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (res) {
        if (res.redirected && new URL(res.url).pathname !== location.pathname) {
          // Sent elsewhere (a login page): go there rather than embed it.
          location.assign(res.url);
          throw new Error("redirected");
        }
        if (res.status === 401 || res.status === 403) {
          // The token was revoked or the cookie expired: show the form.
          location.reload();
          throw new Error("redirected");
        }
        if (!res.ok) {
          throw new Error("the server answered " + res.status);
        }
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        if (!fresh) {
          throw new Error("the answer had no data");
        }
        swap(document.getElementById("live"), fresh);
        var asof = document.getElementById("asof");
        var freshAsof = doc.getElementById("asof");
        if (asof && freshAsof) {
          asof.replaceWith(document.adoptNode(freshAsof));
        }
        performance.measure("gitops-refresh", "gitops-refresh-start");
        refreshes++;
        document.body.setAttribute("data-refreshes", String(refreshes));
        if (note) {
          note.textContent = "";
        }
      })
      .catch(function (err) {
        if (note && err.message !== "redirected") {
          note.textContent = "Refresh failed (" + err.message + "); showing older data, retrying.";
        }
      })
      .then(function () {
        running = false;
        schedule();
      });
  }

  // swap replaces old with fresh in one step, so the page keeps its height
  // and scroll position, and puts back the focus and the open details.
  function swap(old, fresh) {
    var x = window.scrollX;
    var y = window.scrollY;
    var focused = document.activeElement;
    var focusHref = focused && old.contains(focused) ? focused.getAttribute("href") : null;
    var open = [];
    old.querySelectorAll("details[open][id]").forEach(function (d) {
      open.push(d.id);
    });
    old.replaceWith(document.adoptNode(fresh));
    open.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) {
        d.open = true;
      }
    });
    if (focusHref !== null) {
      var again = Array.prototype.find.call(fresh.querySelectorAll("a[href]"), function (a) {
        return a.getAttribute("href") === focusHref;
      });
      if (again) {
        again.focus({ preventScroll: true });
      }
    }
    window.scrollTo(x, y);
  }

  schedule();
})();
