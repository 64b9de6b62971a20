(function () {
  "use strict";
  var index = window.RADPREP_INDEX || null;
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-t]"));
  var tokens = rows.map(function (r) { return JSON.parse(r.getAttribute("data-t")); });
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-output]"));
  var shownEl = document.getElementById("shown");
  var elsewhere = document.getElementById("elsewhere");
  var tokenId = {};
  if (index) { index.tokens.forEach(function (t, i) { tokenId[t] = i; }); }

  function isState(hash) { return hash.indexOf("=") >= 0; }

  function readHash() {
    var p = new URLSearchParams(location.hash.slice(1));
    selects.forEach(function (s) {
      var v = p.get(s.getAttribute("data-filter"));
      var ok = v !== null && Array.prototype.some.call(s.options, function (o) { return o.value === v; });
      s.value = ok ? v : "";
    });
    var hidden = p.getAll("hide");
    boxes.forEach(function (b) { b.checked = hidden.indexOf(b.getAttribute("data-output")) < 0; });
  }

  function state() {
    var p = new URLSearchParams();
    selects.forEach(function (s) { if (s.value) { p.set(s.getAttribute("data-filter"), s.value); } });
    boxes.forEach(function (b) { if (!b.checked) { p.append("hide", b.getAttribute("data-output")); } });
    return p.toString();
  }

  function wanted() {
    return selects.filter(function (s) { return s.value; })
      .map(function (s) { return s.getAttribute("data-filter") + "=" + s.value; });
  }

  function showElsewhere(want) {
    if (!elsewhere) { return; }
    while (elsewhere.firstChild) { elsewhere.removeChild(elsewhere.firstChild); }
    if (!index || !want.length) { return; }
    var ids = want.map(function (t) { return tokenId.hasOwnProperty(t) ? tokenId[t] : -1; });
    var h = state();
    var total = 0;
    var label = document.createElement("span");
    elsewhere.appendChild(label);
    index.pages.forEach(function (items, pi) {
      var n = 0;
      items.forEach(function (tl) {
        if (ids.every(function (id) { return tl.indexOf(id) >= 0; })) { n += 1; }
      });
      total += n;
      if (n > 0) {
        var a = document.createElement("a");
        a.href = index.files[pi] + (h ? "#" + h : "");
        a.textContent = "page " + (pi + 1) + " (" + n + ")";
        elsewhere.appendChild(a);
      }
    });
    label.textContent = total + " matching samples in the run: ";
  }

  function apply(updateHash) {
    var want = wanted();
    var shown = 0;
    rows.forEach(function (r, i) {
      var ok = want.every(function (t) { return tokens[i].indexOf(t) >= 0; });
      r.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var hidden = {};
    boxes.forEach(function (b) { if (!b.checked) { hidden[b.getAttribute("data-output")] = true; } });
    Array.prototype.forEach.call(document.querySelectorAll("[data-o]"), function (c) {
      c.hidden = hidden.hasOwnProperty(c.getAttribute("data-o"));
    });
    if (shownEl) { shownEl.textContent = shown + " of " + rows.length + " samples on this page"; }
    var h = state();
    Array.prototype.forEach.call(document.querySelectorAll("a[data-page]"), function (a) {
      a.href = a.getAttribute("data-page") + (h ? "#" + h : a.getAttribute("data-anchor") || "");
    });
    showElsewhere(want);
    if (updateHash && location.hash.slice(1) !== h && (h || isState(location.hash))) {
      location.replace("#" + h);
    }
  }

  selects.concat(boxes).forEach(function (el) {
    el.addEventListener("change", function () { apply(true); });
  });
  window.addEventListener("hashchange", function () {
    if (isState(location.hash)) { readHash(); apply(false); }
  });
  readHash();
  apply(false);
})();
