// dashboard.js — keeps the jobs page and a job's page live.
//
// The jobs page: while a listed job is pending or running, the table is
// fetched again every 5 s (the same page, rendered by the server) and its
// rows replaced.
//
// A job's page: polls the job's events (/api/jobs/ID/events?after=N, the
// events WatchJob streams) and adds each step's loss, accuracy and learning
// rate and each evaluation to the curves, state changes and log lines to the
// events table, and the state and progress to the header. Every text goes in
// through textContent, never as markup.
(function () {
  'use strict';
  const table = document.getElementById('jobs');
  if (!table) return;
  const active = () => table.querySelector('td.state-pending, td.state-running') !== null;
  async function refresh() {
    if (!active()) return;
    try {
      const r = await fetch(window.location.pathname + window.location.search, { credentials: 'same-origin' });
      if (r.ok) {
        const page = new DOMParser().parseFromString(await r.text(), 'text/html');
        const fresh = page.querySelector('#jobs tbody');
        if (fresh) table.querySelector('tbody').replaceWith(document.adoptNode(fresh));
      }
    } catch (err) {
      // The server is restarting: try again at the next tick.
    }
    window.setTimeout(refresh, 5000);
  }
  window.setTimeout(refresh, 5000);
})();

(function () {
  'use strict';
  const jobId = document.body.dataset.jobId;
  if (!jobId) return;
  const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
  const renderedState = document.body.dataset.jobState;
  const train = { loss: [], accuracy: [], lr: [] };
  const test = { loss: [], accuracy: [] };
  let after = 0;

  function number(v) { return v === undefined ? 0 : Number(v); }

  function format(v) {
    if (v === 0) return '0';
    const a = Math.abs(v);
    return a >= 1000 || a < 0.001 ? v.toExponential(2) : String(Number(v.toPrecision(3)));
  }

  // Scales every series of one chart into its frame (x 50..450, y 10..190).
  function draw(id, lines) {
    const svg = document.getElementById(id);
    if (!svg) return;
    // Loops, not Math.max(...points): a long job has more points than a
    // call takes arguments.
    let xmax = 1, ymin = Infinity, ymax = -Infinity;
    for (const line of lines) {
      for (const p of line.points) {
        xmax = Math.max(xmax, p[0]);
        ymin = Math.min(ymin, p[1]);
        ymax = Math.max(ymax, p[1]);
      }
    }
    if (ymin === Infinity) return;
    if (ymax === ymin) { ymax += Math.abs(ymax) * 0.05 + 1e-9; ymin -= Math.abs(ymin) * 0.05 + 1e-9; }
    for (const line of lines) {
      const el = svg.querySelector('polyline.' + line.cls);
      if (!el) continue;
      el.setAttribute('points', line.points.map(p =>
        (50 + 400 * p[0] / xmax).toFixed(1) + ',' + (190 - 180 * (p[1] - ymin) / (ymax - ymin)).toFixed(1)).join(' '));
      el.setAttribute('data-count', String(line.points.length));
    }
    svg.querySelector('text.ymax').textContent = format(ymax);
    svg.querySelector('text.ymin').textContent = format(ymin);
    svg.querySelector('text.xmax').textContent = String(xmax);
  }

  function redraw() {
    draw('curve-loss', [{ cls: 'train', points: train.loss }, { cls: 'eval', points: test.loss }]);
    draw('curve-accuracy', [{ cls: 'train', points: train.accuracy }, { cls: 'eval', points: test.accuracy }]);
    draw('curve-lr', [{ cls: 'train', points: train.lr }]);
  }

  function addRow(e, text) {
    const tbody = document.querySelector('#events tbody');
    if (!tbody) return;
    const tr = document.createElement('tr');
    tr.className = 'event';
    for (const cell of [String(e.sequence), e.time ? new Date(e.time).toLocaleString() : '', text]) {
      const td = document.createElement('td');
      td.textContent = cell;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }

  function handle(e) {
    if (e.state_change) {
      const s = e.state_change;
      addRow(e, (s.from && s.from !== 'STATE_UNSPECIFIED' ? s.from + ' → ' : '') + s.to +
        (s.reason ? ': ' + s.reason : ''));
    } else if (e.log) {
      addRow(e, (e.log.level && e.log.level !== 'INFO' ? '[' + e.log.level + '] ' : '') + e.log.text);
    } else if (e.metrics && !e.replayed) {
      // A step's metrics, or an evaluation's (which the worker also logs).
      const m = e.metrics;
      const step = number(m.step);
      if (m.has_eval) {
        test.loss.push([step, number(m.eval_loss)]);
        test.accuracy.push([step, number(m.eval_accuracy)]);
      } else {
        train.loss.push([step, number(m.loss)]);
        train.accuracy.push([step, number(m.accuracy)]);
        train.lr.push([step, number(m.learning_rate)]);
      }
    }
  }

  function show(data) {
    const state = document.getElementById('job-state');
    if (state) state.textContent = data.state;
    document.body.dataset.jobState = data.state;
    const p = data.progress || {};
    const progress = document.getElementById('job-progress');
    if (progress) {
      const step = number(p.step), total = number(p.total_steps);
      progress.textContent = total > 0 ? step + ' / ' + total + ' (' + Math.round(100 * step / total) + '%)'
        : 'step ' + step + ', epoch ' + (number(p.epoch) + 1);
    }
  }

  async function poll() {
    let wait = 1000;
    try {
      const r = await fetch('/api/jobs/' + encodeURIComponent(jobId) + '/events?after=' + after,
        { credentials: 'same-origin', headers: { 'Accept': 'application/json' } });
      if (r.status === 404) return;  // deleted
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const data = await r.json();
      for (const e of data.events) {
        handle(e);
        after = Math.max(after, number(e.sequence));
      }
      if (data.events.length > 0) redraw();
      show(data);
      if (data.done) {
        // The page was drawn while the job ran: draw it again for its final
        // buttons (weights, delete).
        if (!FINAL.includes(renderedState)) window.location.reload();
        return;
      }
      if (data.more) wait = 0;
    } catch (err) {
      wait = 3000;
    }
    window.setTimeout(poll, wait);
  }

  poll();
})();
