// ferret web UI: live task list, submission form, waiting page of a running task.
// Server data is only ever put into the page with textContent.
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }
  var cfgEl = $('ferret-ui');
  if (!cfgEl) { return; }
  var cfg;
  try { cfg = JSON.parse(cfgEl.textContent); } catch (e) { return; }
  function url(pattern, id) { return pattern.split('{id}').join(encodeURIComponent(String(id))); }
  function get(u) {
    return fetch(u, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } }).then(function (r) {
      if (r.status === 401) { window.location.assign(cfg.login); throw new Error('not logged in'); }
      if (!r.ok) { return r.text().then(function (t) { throw new Error('HTTP ' + r.status + ': ' + t); }); }
      return r.json();
    });
  }
  function td(tr, text, cls) {
    var c = document.createElement('td');
    if (cls) { c.className = cls; }
    c.textContent = text === undefined || text === null ? '' : String(text);
    tr.appendChild(c);
    return c;
  }
  function when(ms) { return typeof ms === 'number' ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : ''; }

  // ---- task list ----
  if (cfg.page === 'tasks') {
    var body = $('tasks-body'), info = $('tasks-info'), stateSel = $('tasks-state');
    var offset = 0, PAGE = 50;
    var refresh = function () {
      var q = '?limit=' + PAGE + '&offset=' + offset + (stateSel.value ? '&state=' + encodeURIComponent(stateSel.value) : '');
      get(cfg.api_tasks + q).then(function (v) {
        var tasks = Array.isArray(v) ? v : (v.tasks || []);
        var total = typeof v.total === 'number' ? v.total : tasks.length;
        body.textContent = '';
        tasks.forEach(function (t) {
          var tr = document.createElement('tr');
          var c = td(tr, '', 'n');
          var a = document.createElement('a');
          a.href = url(cfg.task_page, t.id);
          a.textContent = '#' + t.id;
          c.appendChild(a);
          td(tr, t.kind);
          td(tr, t.input_name, 'mono');
          var st = td(tr, '');
          var s = document.createElement('span');
          s.className = 'st st-' + (['queued', 'running', 'done', 'failed'].indexOf(t.state) >= 0 ? t.state : 'queued');
          s.textContent = t.state;
          st.appendChild(s);
          td(tr, t.verdict || '');
          td(tr, typeof t.score === 'number' ? t.score.toFixed(1) : '', 'n');
          td(tr, when(t.created_at));
          td(tr, t.attempts + '/' + t.max_attempts, 'n');
          td(tr, t.error || '');
          body.appendChild(tr);
        });
        info.textContent = total === 0 ? 'no tasks' : 'tasks ' + (offset + 1) + '–' + (offset + tasks.length) + ' of ' + total +
          ' · updated ' + new Date().toLocaleTimeString();
        $('tasks-prev').disabled = offset === 0;
        $('tasks-next').disabled = offset + tasks.length >= total;
      }).catch(function (e) { info.textContent = 'cannot load the task list: ' + e.message; });
    };
    stateSel.addEventListener('change', function () { offset = 0; refresh(); });
    $('tasks-prev').addEventListener('click', function () { offset = Math.max(0, offset - PAGE); refresh(); });
    $('tasks-next').addEventListener('click', function () { offset += PAGE; refresh(); });
    refresh();
    setInterval(refresh, cfg.poll_ms || 2000);
  }

  // ---- submission ----
  if (cfg.page === 'submit') {
    var form = $('submit-form'), out = $('submit-status');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var fd = new FormData();
      var file = $('sub-file').files[0];
      if (!file) { out.textContent = 'choose a file first'; return; }
      if (cfg.max_upload && file.size > cfg.max_upload) {
        out.textContent = 'the file is larger than the server takes (' + cfg.max_upload + ' bytes)';
        return;
      }
      var kind = $('sub-kind').value;
      fd.append('file', file, file.name);
      if (kind === 'file') {
        fd.append('timeout', $('sub-timeout').value);
        fd.append('net', $('sub-net').value);
        if ($('sub-arch').value) { fd.append('arch', $('sub-arch').value); }
        $('sub-args').value.split('\n').forEach(function (a) { if (a !== '') { fd.append('args', a); } });
      }
      out.textContent = 'uploading…';
      fetch(kind === 'pcap' ? cfg.api_submit_pcap : cfg.api_submit_file, {
        method: 'POST', body: fd, credentials: 'same-origin',
        headers: { 'Accept': 'application/json', 'X-CSRF-Token': cfg.csrf || '' }
      }).then(function (r) {
        return r.text().then(function (t) {
          var j = null;
          try { j = JSON.parse(t); } catch (e) { /* not JSON */ }
          if (!r.ok) { throw new Error('HTTP ' + r.status + ': ' + (j && (j.error || j.message) ? (j.error || j.message) : t)); }
          var id = j && (j.id !== undefined ? j.id : (j.task && j.task.id));
          if (id === undefined) { throw new Error('the server did not return a task id'); }
          window.location.assign(url(cfg.task_page, id));
        });
      }).catch(function (e) { out.textContent = 'submission refused: ' + e.message; });
    });
    var kindSel = $('sub-kind');
    var sync = function () {
      document.querySelectorAll('.file-only').forEach(function (e) { e.hidden = kindSel.value !== 'file'; });
    };
    kindSel.addEventListener('change', sync);
    sync();
  }

  // ---- a task that is not finished: poll, then reload into its report ----
  if (cfg.page === 'task-wait') {
    var st = $('wait-state');
    var poll = function () {
      get(url(cfg.api_task, cfg.task)).then(function (t) {
        st.textContent = t.state + (t.attempts ? ' (attempt ' + t.attempts + ' of ' + t.max_attempts + ')' : '');
        if (t.state === 'done' || t.state === 'failed') { window.location.reload(); }
      }).catch(function (e) { st.textContent = 'cannot reach the server: ' + e.message; });
    };
    poll();
    setInterval(poll, cfg.poll_ms || 1000);
  }
}());
