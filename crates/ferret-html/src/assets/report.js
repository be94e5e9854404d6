// ferret report page: event table with a sysdig/Falco filter box, process tree controls.
// Report data arrives in <script type="application/json"> blocks and is only ever put
// into the page with textContent, never as markup.
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }
  function data(id) {
    var e = $(id);
    if (!e) { return null; }
    try { return JSON.parse(e.textContent); } catch (x) { return null; }
  }

  var cfg = data('ferret-config') || { mode: 'offline' };
  var procs = new Map();
  (data('ferret-procs') || []).forEach(function (p) { procs.set(p.pid, p); });

  // ---- argument values (docs/events.md) ----
  function argText(v) {
    if (v === null || typeof v !== 'object') { return v === undefined ? undefined : String(v); }
    if ('int' in v) { return v.int; }
    if ('uint' in v) { return v.uint; }
    if ('fd' in v) { return v.fd; }
    if ('str' in v) { return v.str; }
    if ('path' in v) { return v.path; }
    if ('bytes' in v) { return v.bytes; }
    if ('errno' in v) { return v.errno; }
    if ('flags' in v) { return v.flags && v.flags.text !== undefined ? v.flags.text : v.flags; }
    if ('strs' in v) { return Array.isArray(v.strs) ? v.strs.join(' ') : ''; }
    if ('sockaddr' in v) { return sockText(v.sockaddr); }
    return JSON.stringify(v);
  }
  function sockText(s) {
    if (!s || typeof s !== 'object') { return ''; }
    if (s.path !== undefined) { return s.path; }
    if (s.ip !== undefined) {
      var ip = String(s.ip);
      return (ip.indexOf(':') >= 0 ? '[' + ip + ']' : ip) + (s.port !== undefined ? ':' + s.port : '');
    }
    return s.family || '';
  }
  function rawArg(v) {
    if (v === null || typeof v !== 'object') { return v; }
    if ('flags' in v && v.flags && typeof v.flags === 'object') { return v.flags.value; }
    return argText(v);
  }
  function argsText(ev) {
    var a = ev.args, out = [];
    if (!a || typeof a !== 'object') { return ''; }
    Object.keys(a).forEach(function (k) { out.push(k + '=' + argText(a[k])); });
    return out.join(' ');
  }
  function sockArg(ev) {
    var a = ev.args || {};
    var s = a.addr || a.dst || a.src;
    return s && s.sockaddr ? s.sockaddr : null;
  }
  function procOf(ev) {
    var p = procs.get(ev.pid) || {};
    var snap = ev.proc || {};
    return { p: p, snap: snap };
  }

  // ---- filter fields: the common subset of sysdig/Falco fields an event line holds ----
  var FIELDS = {
    'evt.num': function (e) { return e.num; },
    'evt.type': function (e) { return e.type; },
    'evt.source': function (e) { return e.source || 'syscall'; },
    'evt.dir': function (e) { return e.dir || '<'; },
    'evt.rawres': function (e) { return e.ret; },
    'evt.res': function (e) {
      if (e.ret === undefined) { return undefined; }
      return e.ret < 0 ? (e.errno || String(e.ret)) : 'SUCCESS';
    },
    'evt.failed': function (e) { return e.ret !== undefined && e.ret < 0; },
    'evt.rawtime': function (e) { return e.ts; },
    'evt.time': function (e) { return clock(e.ts); },
    'evt.args': function (e) { return argsText(e); },
    'proc.pid': function (e) { return e.pid; },
    'thread.tid': function (e) { return e.tid; },
    'proc.ppid': function (e) { var x = procOf(e); return x.snap.ppid !== undefined ? x.snap.ppid : x.p.ppid; },
    'proc.name': function (e) { var x = procOf(e); return x.snap.name !== undefined ? x.snap.name : x.p.name; },
    'proc.exe': function (e) { var x = procOf(e); return x.snap.exe !== undefined ? x.snap.exe : x.p.exe; },
    'proc.exepath': function (e) { var x = procOf(e); return x.snap.exepath !== undefined ? x.snap.exepath : x.p.exe; },
    'proc.cmdline': function (e) { return procOf(e).p.cmdline; },
    'proc.args': function (e) {
      var x = procOf(e);
      if (Array.isArray(x.snap.args)) { return x.snap.args.join(' '); }
      var c = x.p.cmdline;
      if (typeof c !== 'string') { return undefined; }
      var i = c.indexOf(' ');
      return i < 0 ? '' : c.slice(i + 1);
    },
    'proc.pname': function (e) {
      var pp = procs.get(FIELDS['proc.ppid'](e));
      return pp ? pp.name : undefined;
    },
    'fd.num': function (e) { var a = e.args || {}; return a.fd ? argText(a.fd) : undefined; },
    'fd.name': function (e) {
      var a = e.args || {};
      var k = ['name', 'pathname', 'path', 'filename', 'oldpath', 'target'];
      for (var i = 0; i < k.length; i++) {
        if (a[k[i]] && a[k[i]].path !== undefined) { return a[k[i]].path; }
      }
      var s = sockArg(e);
      return s ? sockText(s) : undefined;
    },
    'fd.rip': function (e) { var s = sockArg(e); return s && s.ip !== undefined ? s.ip : undefined; },
    'fd.rport': function (e) { var s = sockArg(e); return s && s.port !== undefined ? s.port : undefined; },
    'fd.sockfamily': function (e) { var s = sockArg(e); return s ? s.family : undefined; }
  };
  var OPS = '=, ==, !=, <, <=, >, >=, contains, icontains, startswith, endswith, in, exists, and, or, not, ( )';
  var FULL_ONLY = ['pmatch', 'glob', 'iglob', 'intersects', 'bcontains', 'bstartswith', 'regex'];

  function FilterError(msg, col) { this.message = msg; this.col = col; }

  function tokenize(s) {
    var toks = [], i = 0;
    while (i < s.length) {
      var c = s[i];
      if (/\s/.test(c)) { i++; continue; }
      var start = i;
      if (c === '(' || c === ')' || c === ',') { toks.push({ t: c, v: c, col: i + 1 }); i++; continue; }
      if (c === '"' || c === "'") {
        var v = '';
        i++;
        while (i < s.length && s[i] !== c) {
          if (s[i] === '\\' && i + 1 < s.length) { i++; }
          v += s[i];
          i++;
        }
        if (i >= s.length) { throw new FilterError('unterminated string', start + 1); }
        i++;
        toks.push({ t: 'str', v: v, col: start + 1 });
        continue;
      }
      var m = /^(==|=|!=|<=|>=|<|>)/.exec(s.slice(i));
      if (m) { toks.push({ t: 'op', v: m[1], col: i + 1 }); i += m[1].length; continue; }
      while (i < s.length && !/[\s(),"'=<>!]/.test(s[i])) { i++; }
      if (i === start) { throw new FilterError("unexpected character '" + c + "'", start + 1); }
      toks.push({ t: 'word', v: s.slice(start, i), col: start + 1 });
    }
    return toks;
  }

  function fieldGetter(t) {
    var name = t.v;
    if (FIELDS[name]) { return FIELDS[name]; }
    var m = /^evt\.(raw)?arg\.([A-Za-z0-9_]+)$/.exec(name);
    if (m) {
      var raw = !!m[1], key = m[2];
      return function (e) {
        var a = e.args;
        if (!a || !(key in a)) { return undefined; }
        return raw ? rawArg(a[key]) : argText(a[key]);
      };
    }
    throw new FilterError("unknown field '" + name + "' (the offline report knows " +
      Object.keys(FIELDS).join(', ') + ', evt.arg.NAME, evt.rawarg.NAME; macros and lists need the ferret serve UI)', t.col);
  }

  function parse(s) {
    var toks = tokenize(s), p = 0, end = s.length + 1;
    if (!toks.length) { return null; }
    function kw(w) { var t = toks[p]; return t && t.t === 'word' && t.v === w; }
    function value() {
      var t = toks[p];
      if (!t || (t.t !== 'word' && t.t !== 'str')) {
        throw new FilterError('expected a value' + (t ? ", found '" + t.v + "'" : ' at the end'), t ? t.col : end);
      }
      p++;
      return t.v;
    }
    function list() {
      var t = toks[p];
      if (!t || t.t !== '(') { throw new FilterError("expected '(' after in", t ? t.col : end); }
      p++;
      var vs = [value()];
      while (toks[p] && toks[p].t === ',') { p++; vs.push(value()); }
      t = toks[p];
      if (!t || t.t !== ')') { throw new FilterError("expected ',' or ')' in the list", t ? t.col : end); }
      p++;
      return vs;
    }
    function prim() {
      var t = toks[p];
      if (!t) { throw new FilterError('unexpected end of the filter: expected a condition', end); }
      if (t.t === '(') {
        p++;
        var e = orExpr();
        var c = toks[p];
        if (!c || c.t !== ')') { throw new FilterError("expected ')'", c ? c.col : end); }
        p++;
        return e;
      }
      if (t.t !== 'word' || t.v === 'and' || t.v === 'or') {
        throw new FilterError("expected a field name, found '" + t.v + "'", t.col);
      }
      var get = fieldGetter(t);
      p++;
      var o = toks[p];
      if (!o) { throw new FilterError("expected an operator after '" + t.v + "'", end); }
      if (o.t === 'op') {
        p++;
        var op = o.v === '==' ? '=' : o.v, v = value();
        if (op !== '=' && op !== '!=' && !isFinite(Number(v))) {
          throw new FilterError("'" + op + "' compares numbers; '" + v + "' is not one", o.col);
        }
        return { k: 'cmp', get: get, op: op, v: v };
      }
      if (o.t === 'word') {
        if (o.v === 'exists') { p++; return { k: 'exists', get: get }; }
        if (['contains', 'icontains', 'startswith', 'endswith'].indexOf(o.v) >= 0) {
          p++;
          return { k: 'cmp', get: get, op: o.v, v: value() };
        }
        if (o.v === 'in') { p++; return { k: 'in', get: get, vs: list() }; }
        if (FULL_ONLY.indexOf(o.v) >= 0) {
          throw new FilterError("operator '" + o.v + "' is not supported in the offline report (supported: " + OPS +
            '); the ferret serve UI runs the full language', o.col);
        }
      }
      throw new FilterError("expected an operator after '" + t.v + "', found '" + o.v + "' (supported: " + OPS + ')', o.col);
    }
    function notExpr() { if (kw('not')) { p++; return { k: 'not', a: notExpr() }; } return prim(); }
    function andExpr() {
      var l = notExpr();
      while (kw('and')) { p++; l = { k: 'and', a: l, b: notExpr() }; }
      return l;
    }
    function orExpr() {
      var l = andExpr();
      while (kw('or')) { p++; l = { k: 'or', a: l, b: andExpr() }; }
      return l;
    }
    var e = orExpr();
    if (p < toks.length) { throw new FilterError("unexpected '" + toks[p].v + "'", toks[p].col); }
    return e;
  }

  function eq(x, v) {
    if (typeof x === 'number') { var n = Number(v); return v !== '' && isFinite(n) ? x === n : String(x) === v; }
    return String(x) === v;
  }
  function test(n, e) {
    switch (n.k) {
      case 'and': return test(n.a, e) && test(n.b, e);
      case 'or': return test(n.a, e) || test(n.b, e);
      case 'not': return !test(n.a, e);
      case 'exists': { var y = n.get(e); return y !== undefined && y !== null; }
      case 'in': {
        var z = n.get(e);
        if (z === undefined || z === null) { return false; }
        return n.vs.some(function (v) { return eq(z, v); });
      }
      default: break;
    }
    var x = n.get(e);
    if (x === undefined || x === null) { return false; }
    switch (n.op) {
      case '=': return eq(x, n.v);
      case '!=': return !eq(x, n.v);
      case '<': return Number(x) < Number(n.v);
      case '<=': return Number(x) <= Number(n.v);
      case '>': return Number(x) > Number(n.v);
      case '>=': return Number(x) >= Number(n.v);
      case 'contains': return String(x).indexOf(n.v) >= 0;
      case 'icontains': return String(x).toLowerCase().indexOf(n.v.toLowerCase()) >= 0;
      case 'startswith': return String(x).indexOf(n.v) === 0;
      case 'endswith': { var sx = String(x); return sx.length >= n.v.length && sx.slice(sx.length - n.v.length) === n.v; }
      default: return false;
    }
  }

  // ---- time ----
  function clock(ts) {
    if (typeof ts !== 'number' || !isFinite(ts)) { return ''; }
    var d = new Date(Math.floor(ts / 1e6));
    var p2 = function (n) { return (n < 10 ? '0' : '') + n; };
    return p2(d.getUTCHours()) + ':' + p2(d.getUTCMinutes()) + ':' + p2(d.getUTCSeconds()) + '.' +
      String(Math.floor((ts / 1e3) % 1e6)).padStart(6, '0');
  }

  // ---- event table ----
  var table = $('ev-table');
  if (table) {
    var body = table.querySelector('tbody');
    var input = $('ev-filter'), status = $('ev-status'), errBox = $('ev-error'), moreBtn = $('ev-more');
    var all = data('ferret-events') || [];
    var t0 = null;
    all.forEach(function (e) { if (typeof e.ts === 'number' && (t0 === null || e.ts < t0)) { t0 = e.ts; } });
    var shown = [], rendered = 0, PAGE = 200, served = cfg.mode === 'served', serverTotal = null, serverOffset = 0;
    var currentFilter = '';

    function cell(tr, text, cls) {
      var td = document.createElement('td');
      if (cls) { td.className = cls; }
      td.textContent = text === undefined || text === null ? '' : String(text);
      tr.appendChild(td);
    }
    function row(e) {
      var tr = document.createElement('tr');
      tr.className = 'ev' + (e.ret !== undefined && e.ret < 0 ? ' failed' : '');
      cell(tr, e.num, 'n');
      cell(tr, typeof e.ts === 'number' && t0 !== null ? '+' + ((e.ts - t0) / 1e9).toFixed(6) : '', 'n');
      cell(tr, e.pid, 'n');
      cell(tr, FIELDS['proc.name'](e));
      cell(tr, e.type);
      var a = argsText(e);
      cell(tr, a.length > 300 ? a.slice(0, 300) + '…' : a);
      cell(tr, e.ret === undefined ? '' : (e.ret < 0 && e.errno ? e.errno : e.ret), 'ret');
      tr.addEventListener('click', function () {
        var next = tr.nextSibling;
        if (next && next.classList && next.classList.contains('detail')) { next.remove(); return; }
        var d = document.createElement('tr');
        d.className = 'detail';
        var td = document.createElement('td');
        td.colSpan = 7;
        var pre = document.createElement('pre');
        pre.className = 'json';
        pre.textContent = JSON.stringify(e, null, 1);
        td.appendChild(pre);
        d.appendChild(td);
        tr.parentNode.insertBefore(d, tr.nextSibling);
      });
      return tr;
    }
    function renderMore() {
      var frag = document.createDocumentFragment();
      var stop = Math.min(shown.length, rendered + PAGE);
      for (; rendered < stop; rendered++) { frag.appendChild(row(shown[rendered])); }
      body.appendChild(frag);
      var total = served ? serverTotal : shown.length;
      status.textContent = 'showing ' + rendered + (total !== null && total !== undefined ? ' of ' + total : '') +
        ' matching events' + (served ? '' : ' (of ' + all.length + ' embedded)');
      moreBtn.hidden = !(rendered < shown.length || (served && shown.length === serverOffset && serverMore));
    }
    function reset() { body.textContent = ''; rendered = 0; }
    function showError(msg) { errBox.textContent = msg; errBox.hidden = false; }

    function applyOffline(expr) {
      var ast;
      try { ast = parse(expr); } catch (x) {
        if (x instanceof FilterError) { showError('filter error at column ' + x.col + ': ' + x.message); return; }
        throw x;
      }
      errBox.hidden = true;
      shown = ast ? all.filter(function (e) { return test(ast, e); }) : all.slice();
      reset();
      renderMore();
    }

    var serverMore = false, seq = 0;
    function fetchServer(expr, append) {
      var my = ++seq;
      var q = '?limit=' + PAGE + '&offset=' + (append ? serverOffset : 0) + (expr ? '&filter=' + encodeURIComponent(expr) : '');
      status.textContent = 'querying the server…';
      fetch(cfg.events_url + q, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
        .then(function (r) {
          return r.text().then(function (t) { return { r: r, t: t, total: r.headers.get('X-Total-Count') }; });
        })
        .then(function (x) {
          if (my !== seq) { return; }
          if (!x.r.ok) {
            var msg = x.t;
            try {
              var j = JSON.parse(x.t);
              msg = j.error || j.message || x.t;
              if (j.column !== undefined && String(msg).indexOf('column') < 0) { msg = 'column ' + j.column + ': ' + msg; }
            } catch (e) { /* plain text */ }
            showError('filter error (HTTP ' + x.r.status + '): ' + msg);
            status.textContent = '';
            return;
          }
          errBox.hidden = true;
          var evs = parseEvents(x.t), total = x.total !== null && x.total !== '' && isFinite(Number(x.total)) ? Number(x.total) : null;
          try { var o = JSON.parse(x.t); if (o && !Array.isArray(o) && typeof o.total === 'number') { total = o.total; } } catch (e) { /* JSON lines */ }
          if (!append) { shown = []; serverOffset = 0; reset(); }
          shown = shown.concat(evs);
          serverOffset += evs.length;
          serverMore = evs.length === PAGE;
          serverTotal = total;
          if (t0 === null) {
            evs.forEach(function (e) { if (typeof e.ts === 'number' && (t0 === null || e.ts < t0)) { t0 = e.ts; } });
          }
          renderMore();
        })
        .catch(function (e) { if (my === seq) { showError('cannot reach the server: ' + e); } });
    }
    // The API answers an array, {"events": [...]} or JSON lines.
    function parseEvents(text) {
      try {
        var v = JSON.parse(text);
        if (Array.isArray(v)) { return v; }
        if (v && Array.isArray(v.events)) { return v.events; }
        if (v && typeof v === 'object' && v.type !== undefined) { return [v]; }
      } catch (e) { /* JSON lines */ }
      return text.split('\n').filter(function (l) { return l.trim() && l[0] !== '#'; })
        .map(function (l) { try { return JSON.parse(l); } catch (e) { return null; } })
        .filter(function (e) { return e && typeof e === 'object'; });
    }

    function apply() {
      currentFilter = input.value.trim();
      if (served) { fetchServer(currentFilter, false); } else { applyOffline(currentFilter); }
    }
    $('ev-apply').addEventListener('click', apply);
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { e.preventDefault(); apply(); } });
    $('ev-clear').addEventListener('click', function () { input.value = ''; apply(); });
    moreBtn.addEventListener('click', function () {
      if (rendered < shown.length) { renderMore(); } else if (served) { fetchServer(currentFilter, true); }
    });
    window.ferretFilter = function (expr) {
      input.value = expr;
      apply();
      var sec = $('events');
      if (sec && sec.scrollIntoView) { sec.scrollIntoView(); }
    };
    // Expose the parser for tests of the filter language in a browser.
    window.ferretParseFilter = function (expr) {
      try { parse(expr); return null; } catch (x) { if (x instanceof FilterError) { return { col: x.col, message: x.message }; } throw x; }
    };
    document.querySelectorAll('button[data-filter]').forEach(function (b) {
      b.addEventListener('click', function () { window.ferretFilter(b.getAttribute('data-filter')); });
    });
    apply();
  }

  // ---- process tree ----
  function setAll(open) {
    document.querySelectorAll('ul.tree details').forEach(function (d) { d.open = open; });
  }
  var ex = $('tree-expand'), co = $('tree-collapse');
  if (ex) { ex.addEventListener('click', function () { setAll(true); }); }
  if (co) { co.addEventListener('click', function () { setAll(false); }); }
}());
