// The listing page's sorting, filter and keyboard, on top of a page that works without it:
// the server sorts by ?sort=&order= and the column headers link to the other orders. Where
// the folder is writable (<body data-w>: 1 files, 2 folders and renames too), uploads by
// picker and drag and drop (resumable past BIG bytes: docs/RESUME.md), new folder, rename
// or move, delete. Names reach the page as text nodes only, never as markup.
(function () {
  "use strict";
  var d = document;
  var table = d.getElementById("list");
  var filter = d.getElementById("filter");
  if (!table || !filter) return;
  var body, rows, names;
  var heads = [].slice.call(table.querySelectorAll("th a[data-k]"));
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  var W = +d.body.dataset.w || 0;

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

  function links() {
    return [].slice.call(body.querySelectorAll("tr:not([hidden]) td:first-child a"));
  }
  d.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var t = e.target;
    if (t.tagName === "INPUT" && t !== filter) return;
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

  // An element with properties and children (strings become text nodes).
  function el(tag, props) {
    var e = Object.assign(d.createElement(tag), props);
    e.append.apply(e, [].slice.call(arguments, 2));
    return e;
  }
  function button(text, label, click) {
    return el("button", { type: "button", title: label, ariaLabel: label, onclick: click }, text);
  }

  // The rows of the table as it is now (again after a refresh), with their actions.
  function setup() {
    body = table.tBodies[0];
    rows = [].slice.call(body.querySelectorAll("tr[data-s]"));
    names = new Map();
    rows.forEach(function (r) {
      var link = r.cells[0].querySelector("a");
      names.set(r, r.cells[0].textContent);
      if (!W) return;
      var cell = el("td", { className: "a" });
      if (W > 1) cell.append(button("\u270e", "Rename or move " + names.get(r), function () { rename(r, link); }));
      cell.append(button("\u2715", "Delete " + names.get(r), function () { remove(r, link); }));
      r.append(cell);
    });
    if (W) [].forEach.call(body.querySelectorAll("tr:not([data-s])"), function (r) { r.append(el("td")); });
    apply();
  }
  setup();

  if (W) {
    var BIG = 16 << 20, CHUNK = 8 << 20, TRIES = 8;
    var base = location.pathname;
    var url = function (rel) { return base + rel.split("/").map(encodeURIComponent).join("/"); };
    var tasks = [], running = false;
    table.tHead.rows[0].append(el("th"));

    // One request; resolves with the finished XMLHttpRequest, or null when it failed on the
    // way (network, abort). A 401 brings the browser's own Basic prompt.
    var xhr = function (method, u, headers, data, t, from) {
      return new Promise(function (done) {
        var x = new XMLHttpRequest();
        x.open(method, u);
        for (var k in headers) x.setRequestHeader(k, headers[k]);
        if (t) {
          t.x = x;
          x.upload.onprogress = function (e) { progress(t, from + e.loaded); };
        }
        x.onload = function () { done(x); };
        x.onerror = x.onabort = x.ontimeout = function () { done(null); };
        x.send(data);
      });
    };
    var report = function (x, what) {
      if (!x || x.status >= 300) alert("Could not " + what + ": " + (x ? x.status + " " + x.statusText : "no connection"));
      refresh();
    };
    var refresh = function () {
      return fetch(location.href, { cache: "no-store" }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (text) {
        if (!text) return;
        var doc = new DOMParser().parseFromString(text, "text/html");
        var nb = doc.querySelector("#list tbody"), nf = doc.querySelector("footer");
        if (!nb) return;
        body.replaceWith(d.adoptNode(nb));
        if (nf) d.querySelector("footer").replaceWith(d.adoptNode(nf));
        setup();
      });
    };

    var pick = el("input", { type: "file", multiple: true, hidden: true, id: "up" });
    var pickDir = el("input", { type: "file", multiple: true, hidden: true, id: "updir" });
    pickDir.webkitdirectory = true;
    var tools = el("span", { className: "tools" }, button("Upload files", "Upload files", function () { pick.click(); }), pick);
    if (W > 1) {
      tools.append(
        button("Upload folder", "Upload a folder", function () { pickDir.click(); }), pickDir,
        button("New folder", "New folder", function () {
          var n = prompt("New folder name");
          if (n) xhr("MKCOL", url(n) + "/").then(function (x) { report(x, "create " + n); });
        }));
    }
    d.querySelector(".bar").append(tools);
    pick.onchange = function () {
      queue([], [].map.call(pick.files, function (f) { return [f, f.name]; }));
      pick.value = "";
    };
    pickDir.onchange = function () {
      var dirs = [], files = [].map.call(pickDir.files, function (f) {
        var p = f.webkitRelativePath.split("/");
        for (var i = 1; i < p.length; i++) dirs.push(p.slice(0, i).join("/"));
        return [f, f.webkitRelativePath];
      });
      queue(dirs, files);
      pickDir.value = "";
    };

    var rename = function (r, link) {
      var old = names.get(r), dir = /\/$/.test(old), from = dir ? old.slice(0, -1) : old;
      var to = prompt("Rename or move \u201c" + from + "\u201d to (a path from this folder, or from /)", from);
      if (!to || to === from) return;
      var dest = to[0] === "/" ? to.split("/").map(encodeURIComponent).join("/") : url(to);
      if (dir && !/\/$/.test(dest)) dest += "/";
      xhr("MOVE", link.pathname, { Destination: location.origin + dest, Overwrite: "F" }).then(function (x) {
        report(x, "move " + from);
      });
    };
    var remove = function (r, link) {
      var n = names.get(r);
      if (!confirm("Delete \u201c" + n + "\u201d" + (/\/$/.test(n) ? " and everything in it" : "") + "?")) return;
      xhr("DELETE", link.pathname).then(function (x) { report(x, "delete " + n); });
    };

    // The uploads panel: a line per file, and the total.
    var list = el("ul");
    var totalBar = el("progress", { max: 1, value: 0 }), totalText = el("span");
    var panel = el("div", { id: "q", hidden: true },
      el("div", {}, totalText, totalBar, button("Cancel all", "Cancel all uploads", function () { tasks.forEach(cancel); })), list);
    table.before(panel);
    var total = function () {
      var all = 0, sent = 0, n = 0, done = 0;
      tasks.forEach(function (t) {
        if (t.state === "cancelled") return;
        n++;
        all += t.file.size;
        sent += t.sent;
        if (t.state === "done") done++;
      });
      totalBar.max = all || 1;
      totalBar.value = sent;
      totalText.textContent = done + " of " + n + " uploaded, " + Math.floor(100 * sent / (all || 1)) + "%";
    };
    var progress = function (t, sent) {
      t.sent = sent;
      t.bar.value = sent;
      total();
    };
    var state = function (t, s, note) {
      t.state = t.li.dataset.state = s;
      t.note.textContent = note || s;
      total();
    };
    var cancel = function (t) {
      if (t.state !== "waiting" && t.state !== "uploading") return;
      state(t, "cancelled");
      if (t.x) t.x.abort();
    };
    var add = function (file, rel) {
      var t = { file: file, rel: rel, sent: 0 };
      t.bar = el("progress", { max: file.size || 1, value: 0 });
      t.note = el("span", { className: "n" });
      t.li = el("li", {}, el("span", { className: "f" }, rel), t.bar, t.note,
        button("\u2715", "Cancel " + rel, function () { cancel(t); }));
      list.append(t.li);
      tasks.push(t);
      state(t, "waiting");
    };

    var put = function (t) {
      return xhr("PUT", url(t.rel), {}, t.file, t, 0).then(function (x) {
        return x && x.status < 300 ? 0 : x ? x.status + " " + x.statusText : "no connection";
      });
    };
    // A resumable upload: ask how much the server has, send the rest chunk by chunk, and
    // after a failure wait (longer each time) and ask again.
    var patch = function (t) {
      var u = url(t.rel), len = t.file.size, tries = 0, at = null;
      var head = function () { return { "Upload-Length": len }; };
      var retry = function (x) {
        if (x && x.status < 500 && x.status !== 409) return x.status + " " + x.statusText;
        if (x && x.status === 507) return "507 no room on the server";
        if (++tries > TRIES) return "gave up after " + TRIES + " tries";
        t.note.textContent = "interrupted, retrying";
        return new Promise(function (go) { setTimeout(go, 250 << Math.min(tries, 5)); }).then(step);
      };
      var step = function () {
        if (t.state !== "uploading") return "cancelled";
        if (at === null) {
          return xhr("PATCH", u, head()).then(function (x) {
            if (!x || x.status !== 204) return retry(x);
            at = +x.getResponseHeader("Upload-Offset");
            if (t.li.dataset.from === undefined) t.li.dataset.from = at;
            if (tries) t.li.dataset.resumed = at;
            t.note.textContent = at ? "resuming at " + Math.floor(100 * at / len) + "%" : "uploading";
            progress(t, at);
            return step();
          });
        }
        var h = head();
        h["Upload-Offset"] = at;
        h["Content-Type"] = "application/offset+octet-stream";
        return xhr("PATCH", u, h, t.file.slice(at, Math.min(len, at + CHUNK)), t, at).then(function (x) {
          var o = x && x.getResponseHeader("Upload-Offset");
          if (x && x.status < 300) {
            if (o === null) return 0;
            at = +o;
            tries = 0;
            return step();
          }
          at = o === null ? null : +o;
          return x && x.status === 409 && o !== null ? step() : retry(x);
        });
      };
      return step();
    };
    var run = function () {
      var t = tasks.find(function (t) { return t.state === "waiting"; });
      if (!t) {
        running = false;
        return refresh();
      }
      running = true;
      state(t, "uploading");
      (t.file.size > BIG ? patch(t) : put(t)).then(function (err) {
        if (t.state === "uploading") {
          if (err) state(t, "failed", "failed: " + err);
          else {
            progress(t, t.file.size);
            state(t, "done");
          }
        }
        run();
      });
    };
    // Folders first (MKCOL; 405 is one that exists), parents before children, then the
    // files into the queue.
    var queue = function (dirs, files) {
      if (!files.length && !dirs.length) return;
      var have = Array.from(names.values());
      var clash = files.filter(function (f) { return have.indexOf(f[1]) >= 0; });
      if (clash.length && !confirm("Replace " + clash.length + " existing file" + (clash.length > 1 ? "s" : "") + "?")) {
        files = files.filter(function (f) { return clash.indexOf(f) < 0; });
      }
      panel.removeAttribute("hidden");
      dirs = Array.from(new Set(dirs)).sort(function (a, b) { return a.length - b.length; });
      var make = function (i) {
        if (i === dirs.length) {
          files.forEach(function (f) { add(f[0], f[1]); });
          if (!running) run();
          return;
        }
        xhr("MKCOL", url(dirs[i]) + "/").then(function (x) {
          if (!x || (x.status !== 201 && x.status !== 405)) {
            list.append(el("li", { className: "err" }, "folder " + dirs[i] + ": " + (x ? x.status + " " + x.statusText : "no connection")));
          }
          make(i + 1);
        });
      };
      make(0);
    };

    // Drag and drop: files, and folders through their entries (read in batches until an
    // empty one, as readEntries gives them).
    var walk = function (entry, dirs, files) {
      var path = entry.fullPath.replace(/^\//, "");
      if (entry.isFile) {
        return new Promise(function (ok) {
          entry.file(function (f) { files.push([f, path]); ok(); }, ok);
        });
      }
      dirs.push(path);
      var reader = entry.createReader();
      var more = function () {
        return new Promise(function (ok) { reader.readEntries(ok, function () { ok([]); }); }).then(function (batch) {
          if (!batch.length) return;
          return Promise.all(batch.map(function (e) { return walk(e, dirs, files); })).then(more);
        });
      };
      return more();
    };
    d.addEventListener("dragover", function (e) {
      if (e.dataTransfer.types.indexOf("Files") < 0) return;
      e.preventDefault();
      d.body.classList.add("drop");
    });
    d.addEventListener("dragleave", function (e) {
      if (!e.relatedTarget) d.body.classList.remove("drop");
    });
    d.addEventListener("drop", function (e) {
      if (e.dataTransfer.types.indexOf("Files") < 0) return;
      e.preventDefault();
      d.body.classList.remove("drop");
      var dirs = [], files = [], walks = [];
      // Entries must be taken now: the DataTransfer empties when the event is over.
      [].forEach.call(e.dataTransfer.items, function (item) {
        var entry = item.kind === "file" && item.webkitGetAsEntry && item.webkitGetAsEntry();
        if (entry) walks.push(entry);
        else if (item.kind === "file") {
          var f = item.getAsFile();
          files.push([f, f.name]);
        }
      });
      Promise.all(walks.map(function (en) { return walk(en, dirs, files); })).then(function () {
        if (dirs.length && W < 2) {
          alert("This server takes files only, not folders.");
          files = files.filter(function (f) { return f[1].indexOf("/") < 0; });
          dirs = [];
        }
        queue(dirs, files);
      });
    });
  }
  d.documentElement.setAttribute("data-js", "ready");
})();
