// The listing page's sorting, filter and keyboard, on top of a page that works without it:
// the server sorts by ?sort=&order= and the column headers link to the other orders.
(function () {
  "use strict";
  var d = document;
  var table = d.getElementById("list");
  var filter = d.getElementById("filter");
  if (!table || !filter) return;
  var body = table.tBodies[0];
  var rows = [].slice.call(body.querySelectorAll("tr[data-s]"));
  var heads = [].slice.call(table.querySelectorAll("th a[data-k]"));
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  var names = new Map();
  rows.forEach(function (r) { names.set(r, r.cells[0].textContent); });

  function byName(a, b) {
    var x = names.get(a), y = names.get(b);
    return collator.compare(x, y) || (x < y ? -1 : x > y ? 1 : 0);
  }
  function sort(key, desc) {
    var attr = key === "size" ? "s" : "t";
    rows.sort(function (a, b) {
      var da = a.classList.contains("dir"), db = b.classList.contains("dir");
      if (da !== db) return da ? -1 : 1;
      var c = key === "name" ? 0 : a.dataset[attr] - b.dataset[attr];
      c = c || byName(a, b);
      return desc ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    heads.forEach(function (a) {
      var on = a.dataset.k === key;
      a.href = "?sort=" + a.dataset.k + "&order=" + (on && !desc ? "desc" : "asc");
      if (on) a.parentNode.setAttribute("aria-sort", desc ? "descending" : "ascending");
      else a.parentNode.removeAttribute("aria-sort");
    });
  }
  heads.forEach(function (a) {
    a.addEventListener("click", function (e) {
      // Read before sorting, which points the link at the next order.
      var search = a.search;
      var q = new URLSearchParams(search);
      e.preventDefault();
      sort(q.get("sort"), q.get("order") === "desc");
      history.replaceState(null, "", search);
    });
  });

  function apply() {
    var q = filter.value.toLowerCase();
    rows.forEach(function (r) {
      r.toggleAttribute("hidden", q !== "" && names.get(r).toLowerCase().indexOf(q) < 0);
    });
  }
  filter.addEventListener("input", apply);
  filter.removeAttribute("hidden");
  apply();

  function links() {
    return [].slice.call(body.querySelectorAll("tr:not([hidden]) td:first-child a"));
  }
  d.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var t = e.target;
    if (e.key === "/" && t !== filter) {
      e.preventDefault();
      filter.focus();
      filter.select();
    } else if (e.key === "Escape" && t === filter) {
      filter.value = "";
      apply();
      filter.blur();
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      var all = links();
      var i = all.indexOf(t);
      if (i < 0 && t !== filter && t !== d.body) return;
      var next = e.key === "ArrowDown" ? i + 1 : i - 1;
      if (i < 0) next = 0;
      if (next >= 0 && next < all.length) {
        e.preventDefault();
        all[next].focus();
      } else if (next < 0) {
        e.preventDefault();
        filter.focus();
      }
    }
  });
  d.documentElement.setAttribute("data-js", "ready");
})();
