// commwatch live pages: patches target states from /api/v1/events (Server-Sent Events) without
// reloading, keeps relative times current, says when the live link is lost and reconnects by
// itself. No framework, no text of its own (words come from the page's data-l10n attribute).
// Pages work without this file: they then reload themselves every 30 seconds.
(function () {
  'use strict';

  var L = {};
  try {
    L = JSON.parse(document.body.getAttribute('data-l10n') || '{}');
  } catch (e) {
    L = {};
  }
  var names = {};
  var icons = {};
  (L.states || []).forEach(function (p) { names[p[0]] = p[1]; });
  (L.icons || []).forEach(function (p) { icons[p[0]] = p[1]; });
  var live = document.getElementById('live');
  var top = document.getElementById('top');
  var TYPES = 'state_changed,incident,flapping,monitor_isolation,ack,drill';
  var HOUR = 3600000;

  // "12 phút trước" / "12 minutes ago", the same rule as the server's.
  function ago(iso) {
    var s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    var n, u;
    if (s < 60) { n = s; u = 0; } else if (s < 3600) { n = Math.floor(s / 60); u = 1; } else if (s < 86400) { n = Math.floor(s / 3600); u = 2; } else { n = Math.floor(s / 86400); u = 3; }
    var unit = n === 1 ? L.units[u] : L.units_plural[u];
    return L.ago.replace('{n}', String(n)).replace('{u}', unit);
  }

  function two(n) { return (n < 10 ? '0' : '') + n; }

  // Asia/Ho_Chi_Minh is UTC+7 all year: "28/11/2026 08:30:12 (+07)".
  function local(iso) {
    var d = new Date(Date.parse(iso) + 7 * HOUR);
    return two(d.getUTCDate()) + '/' + two(d.getUTCMonth() + 1) + '/' + d.getUTCFullYear() + ' ' +
      two(d.getUTCHours()) + ':' + two(d.getUTCMinutes()) + ':' + two(d.getUTCSeconds()) + ' (+07)';
  }

  // "1 giờ 5 phút" / "1 h 5 min": the two largest units, as the server writes durations.
  function elapsed(iso) {
    var s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    var parts = [Math.floor(s / 86400), Math.floor(s % 86400 / 3600), Math.floor(s % 3600 / 60), s % 60];
    var out = [];
    for (var i = 0; i < 4 && out.length < 2; i++) {
      if (parts[i] > 0) { out.push(parts[i] + ' ' + L.dur[i]); } else if (out.length > 0) { break; }
    }
    return out.length ? out.join(' ') : '0 ' + L.dur[3];
  }

  function tick() {
    var ts = document.querySelectorAll('time[data-ago]');
    for (var i = 0; i < ts.length; i++) {
      ts[i].textContent = ago(ts[i].getAttribute('datetime'));
    }
    var es = document.querySelectorAll('time[data-elapsed]');
    for (var j = 0; j < es.length; j++) {
      es[j].textContent = elapsed(es[j].getAttribute('datetime'));
    }
  }

  // Changes every element showing target `id` to state `to`, changed at `at`.
  function patch(id, to, at) {
    if (!names[to]) { return; }
    var els = document.querySelectorAll('[data-target="' + CSS.escape(id) + '"]');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      el.className = el.className.replace(/\bs-[a-z]+\b/, 's-' + to) + ' changed';
      var ic = el.querySelector('.ic');
      if (ic) { ic.textContent = icons[to]; }
      var lb = el.querySelector('.lb');
      if (lb) { lb.textContent = names[to]; }
      if (at) {
        var t = el.querySelector('time[data-ago]');
        if (t) {
          t.setAttribute('datetime', at);
          t.title = local(at);
          t.textContent = ago(at);
        }
        var abs = el.querySelector('.abs');
        if (abs) { abs.textContent = local(at); }
      }
      el.setAttribute('data-state', to);
    }
    window.setTimeout(function () {
      for (var j = 0; j < els.length; j++) { els[j].classList.remove('changed'); }
    }, 4000);
  }

  // The summary and incidents above the grid come from the server as a fragment, at most every
  // three seconds however many events arrive (a storm sends thousands). The first fetch waits a
  // moment so the store has committed what the event announced; events that arrive while a
  // fetch is under way ask for one more.
  var pending = false;
  var again = false;
  var last = 0;
  function refreshTop() {
    if (!top) { return; }
    if (pending) { again = true; return; }
    pending = true;
    window.setTimeout(function () {
      last = Date.now();
      fetch(top.getAttribute('data-src'), { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null) { top.innerHTML = html; tick(); }
        }, function () { /* offline: the reconnect resyncs */ })
        .then(function () {
          pending = false;
          if (again) { again = false; refreshTop(); }
        });
    }, Math.max(1000, last + 3000 - Date.now()));
  }

  // After a gap in the stream: re-read the states of everything on this page.
  function resync() {
    var src = top && top.getAttribute('data-resync');
    if (!src) { window.location.reload(); return; }
    fetch(src, { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) {
        if (!v) { return; }
        (v.communes || []).forEach(function (c) {
          c.cells.forEach(function (cell) {
            cell.targets.forEach(function (t) { patch(t.id, t.state, t.since); });
          });
        });
      }, function () { /* still offline: the next reconnect tries again */ });
    refreshTop();
  }

  function show(ok) {
    if (!live) { return; }
    live.hidden = false;
    live.textContent = ok ? L.live : L.reconnecting;
    live.className = 'live ' + (ok ? 'ok' : 'lost');
  }

  function data(e) {
    try { return JSON.parse(e.data); } catch (x) { return null; }
  }

  var delay = 1000;
  var lost = false;
  function connect() {
    var es = new EventSource('/api/v1/events?types=' + TYPES);
    es.addEventListener('hello', function () {
      show(true);
      delay = 1000;
      if (lost) { lost = false; resync(); }
    });
    es.addEventListener('state_changed', function (e) {
      var d = data(e);
      if (d) { patch(d.target, d.to, d.at); refreshTop(); }
    });
    ['incident', 'flapping', 'monitor_isolation', 'ack'].forEach(function (t) {
      es.addEventListener(t, refreshTop);
    });
    // A drill started or ended: the banner is part of every page's frame, so reload it.
    es.addEventListener('drill', function () { window.location.reload(); });
    es.addEventListener('resync', resync);
    es.onerror = function () {
      show(false);
      lost = true;
      // The browser retries by itself after a network error; after a refusal (an HTTP error)
      // the stream is closed and we retry, backing off up to 30 s.
      if (es.readyState === EventSource.CLOSED) {
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      }
    };
  }

  document.documentElement.classList.add('js');
  window.setInterval(tick, 30000);
  if (window.EventSource) { connect(); }
}());
