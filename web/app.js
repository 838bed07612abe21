/*
 * HealOps dashboard: overview of every agent x check, a check's page (runs,
 * repairs, graph, how to verify by hand) and the fleet. Plain DOM, no
 * framework, no build step. Everything shown comes from the read API with a
 * read token kept in localStorage; text is set with textContent only.
 *
 * Live updates poll the current view every few seconds with If-None-Match:
 * an unchanged answer is a 304 with no body and nothing is redrawn.
 * View state lives in the URL fragment, so a view can be shared:
 *   #/?outcome=failed&label=role%3Dweb&package=nginx&q=web&stale=1
 *   #/check/AGENT/CHECK          (parts URL-encoded)
 *   #/fleet
 *   #token=hot_...               (taken, stored, and removed from the URL)
 */
'use strict';

(function () {
  var TOKEN_KEY = 'healops.read_token';
  var POLL_MS = 5000;
  var STATE_PAGE = 500; /* states per overview page */
  var AGENT_PAGE = 100;
  var OUTCOMES = ['ok', 'repaired', 'failed', 'error'];
  var ICON = { ok: '\u2713', repaired: '\u21bb', failed: '\u2717', error: '\u26a0' };

  var main = document.getElementById('main');
  var live = document.getElementById('live');
  var forgetBtn = document.getElementById('forget');
  var pauseBtn = document.getElementById('pause');

  var etagCache = new Map(); /* url -> {etag, data} */
  var textCache = new Map(); /* url -> {text, data}: the last body seen */
  var view = null;           /* the current view: {refresh(), stop()} */
  var timer = null;
  var paused = false;
  var generation = 0;        /* bumps on navigation: answers for an older view are dropped */

  /* ---------- small DOM helpers ---------- */

  function h(tag, attrs) {
    var el = document.createElement(tag);
    var k, i, c;
    if (attrs) {
      for (k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null || attrs[k] === false)
          continue;
        if (k === 'text') el.textContent = attrs[k];
        else if (k === 'cls') el.className = attrs[k];
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), attrs[k]);
        else el.setAttribute(k, attrs[k] === true ? '' : String(attrs[k]));
      }
    }
    for (i = 2; i < arguments.length; i++) {
      c = arguments[i];
      if (c == null || c === false) continue;
      if (Array.isArray(c)) c.forEach(function (x) { if (x != null && x !== false) el.append(x); });
      else el.append(c);
    }
    return el;
  }

  var SVGNS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs) {
    var el = document.createElementNS(SVGNS, tag);
    var k;
    for (k in attrs || {}) {
      if (k === 'text') el.textContent = attrs[k];
      else el.setAttribute(k, String(attrs[k]));
    }
    for (k = 2; k < arguments.length; k++) if (arguments[k]) el.append(arguments[k]);
    return el;
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  /* el.append without the null/false entries (append would write them as text). */
  function add(el) {
    for (var i = 1; i < arguments.length; i++)
      if (arguments[i] != null && arguments[i] !== false) el.append(arguments[i]);
    return el;
  }

  function enc(x) { return encodeURIComponent(x); }

  /* Only http(s) links are made clickable (never javascript: or data:). */
  function safeUrl(u) {
    try {
      var p = new URL(u, location.href);
      return (p.protocol === 'https:' || p.protocol === 'http:') ? p.href : null;
    } catch (e) { return null; }
  }

  function fmtTime(iso) {
    if (!iso) return 'never';
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  function ago(iso) {
    if (!iso) return 'never';
    var sec = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (isNaN(sec)) return iso;
    if (sec < 0) sec = 0;
    if (sec < 60) return sec + ' s ago';
    if (sec < 3600) return Math.round(sec / 60) + ' min ago';
    if (sec < 86400) return Math.round(sec / 3600) + ' h ago';
    return Math.round(sec / 86400) + ' d ago';
  }

  function timeEl(iso) {
    return h('time', { datetime: iso || null, title: iso ? fmtTime(iso) : null, text: ago(iso) });
  }

  function badge(outcome) {
    var o = OUTCOMES.indexOf(outcome) >= 0 ? outcome : 'error';
    return h('span', { cls: 'badge o-' + o },
      h('span', { cls: 'icon', 'aria-hidden': 'true', text: ICON[o] }), ' ' + outcome);
  }

  /* ---------- token ---------- */

  function getToken() {
    try { return localStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }
  function setToken(t) {
    try { localStorage.setItem(TOKEN_KEY, t); } catch (e) { /* private mode: session only */ }
    memToken = t;
  }
  function clearToken() {
    try { localStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
    memToken = '';
    etagCache.clear();
    textCache.clear();
  }
  var memToken = '';
  function token() { return getToken() || memToken; }

  /* #token=... (wall screens, scripts): store it and take it out of the URL at once. */
  function takeTokenFromHash() {
    var m = /(?:^#|[#&?])token=([^&]*)/.exec(location.hash);
    if (!m) return;
    var t = '';
    try { t = decodeURIComponent(m[1]); } catch (e) { t = ''; }
    var rest = location.hash.replace(/([#&?])token=[^&]*&?/, '$1').replace(/[&?]$/, '');
    if (rest === '#' || rest === '') rest = '#/';
    history.replaceState(null, '', location.pathname + location.search + rest);
    if (t) setToken(t);
  }

  function AuthError(msg) { this.message = msg; }

  /* GET a JSON API path with the token; 304 answers reuse the cached body. */
  function api(path) {
    var t = token();
    if (!t) return Promise.reject(new AuthError('A read token is needed.'));
    var headers = { Authorization: 'Bearer ' + t, Accept: 'application/json' };
    var c = etagCache.get(path);
    if (c) headers['If-None-Match'] = c.etag;
    return fetch(path, { headers: headers, cache: 'no-store', credentials: 'omit' }).then(function (r) {
      if (r.status === 304 && c) return { data: c.data, changed: false };
      if (r.status === 401) {
        clearToken();
        throw new AuthError('The token was refused (unknown, revoked or expired).');
      }
      if (r.status === 403) throw new AuthError('This token may not read the dashboard data.');
      return r.text().then(function (text) {
        var body = {};
        try { body = JSON.parse(text); } catch (e) { body = {}; }
        if (!r.ok) throw new Error((body && body.error ? body.error : 'HTTP ' + r.status) +
                                   (body && body.field ? ' (' + body.field + ')' : ''));
        /* endpoints without an ETag: an identical body is no change either */
        var prev = textCache.get(path);
        if (prev && prev.text === text) return { data: prev.data, changed: false };
        if (textCache.size > 100) textCache.delete(textCache.keys().next().value);
        textCache.set(path, { text: text, data: body });
        var et = r.headers.get('ETag');
        if (et) {
          if (etagCache.size > 200) etagCache.delete(etagCache.keys().next().value);
          etagCache.set(path, { etag: et, data: body });
        }
        return { data: body, changed: true };
      });
    });
  }

  function showTokenForm(message) {
    stopView();
    forgetBtn.hidden = true;
    pauseBtn.hidden = true;
    clear(main);
    var input = h('input', { id: 'token-input', name: 'token', type: 'password', autocomplete: 'off',
                             spellcheck: 'false', required: true, 'aria-describedby': 'token-help' });
    var form = h('form', { id: 'token-form', cls: 'card narrow', onsubmit: function (ev) {
      ev.preventDefault();
      var v = input.value.trim();
      if (!v) return;
      input.value = '';
      setToken(v);
      route();
    } },
      h('h1', { text: 'Sign in to the dashboard' }),
      message ? h('p', { cls: 'error', role: 'alert', text: message }) : null,
      h('label', { for: 'token-input', text: 'Read token' }),
      input,
      h('p', { id: 'token-help', cls: 'muted' },
        'Make one with ', h('code', { text: 'healops-server token create --scope read' }),
        '. It is kept in this browser only.'),
      h('button', { type: 'submit', text: 'Open dashboard' }));
    main.append(form);
    input.focus();
  }

  /* ---------- routing ---------- */

  function parseHash() {
    var hs = location.hash.replace(/^#/, '');
    var q = '';
    var qi = hs.indexOf('?');
    if (qi >= 0) { q = hs.slice(qi + 1); hs = hs.slice(0, qi); }
    var parts = hs.split('/').filter(function (x, i) { return i > 0 || x !== ''; });
    if (parts[0] === '') parts.shift();
    return { parts: parts, params: new URLSearchParams(q) };
  }

  function stopView() {
    generation++;
    if (timer) { clearTimeout(timer); timer = null; }
    if (view && view.stop) view.stop();
    view = null;
  }

  function schedule() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, POLL_MS);
  }

  function tick() {
    timer = null;
    if (!view) return;
    if (paused || document.hidden) { schedule(); return; }
    var g = generation;
    view.refresh().then(function () {
      if (g === generation) live.textContent = 'Updated ' + new Date().toLocaleTimeString();
    }, function (e) { if (g === generation) failed(e); }).then(function () {
      if (g === generation) schedule();
    });
  }

  function failed(e) {
    if (e instanceof AuthError) { showTokenForm(e.message); return; }
    live.textContent = 'Update failed: ' + (e && e.message ? e.message : e);
  }

  function setNav(name) {
    ['overview', 'fleet'].forEach(function (n) {
      var a = document.getElementById('nav-' + n);
      if (n === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    });
  }

  function route() {
    takeTokenFromHash();
    if (!token()) { showTokenForm(''); return; }
    forgetBtn.hidden = false;
    pauseBtn.hidden = false;
    var r = parseHash();
    stopView();
    clear(main);
    var g = generation;
    if (r.parts[0] === 'check' && r.parts.length >= 3) {
      var agent, check;
      try {
        agent = decodeURIComponent(r.parts[1]);
        check = decodeURIComponent(r.parts.slice(2).join('/'));
      } catch (e) { agent = r.parts[1]; check = r.parts.slice(2).join('/'); }
      setNav('');
      view = checkView(agent, check);
    } else if (r.parts[0] === 'fleet') {
      setNav('fleet');
      view = fleetView();
    } else {
      setNav('overview');
      view = overviewView(r.params);
    }
    live.textContent = 'Loading…';
    view.refresh().then(function () {
      if (g === generation) live.textContent = 'Updated ' + new Date().toLocaleTimeString();
    }, function (e) { if (g === generation) failed(e); }).then(function () {
      if (g === generation && view) schedule();
    });
  }

  /* ---------- overview ---------- */

  function overviewView(params) {
    var f = {
      outcome: params.get('outcome') || '',
      label: params.get('label') || '',
      package: params.get('package') || '',
      q: params.get('q') || '',
      stale: params.get('stale') === '1'
    };
    var cursors = [''];  /* cursor of each page seen; the last is the current page */
    var debounce = null;

    function filterQuery() {
      var p = new URLSearchParams();
      if (f.outcome) p.set('outcome', f.outcome);
      if (f.label) p.set('label', f.label);
      if (f.package) p.set('package', f.package);
      if (f.q) p.set('q', f.q);
      if (f.stale) p.set('stale', 'true');
      return p;
    }

    /* Keeps the filters in the URL (replace: typing does not flood the history). */
    function saveHash() {
      var p = new URLSearchParams();
      if (f.outcome) p.set('outcome', f.outcome);
      if (f.label) p.set('label', f.label);
      if (f.package) p.set('package', f.package);
      if (f.q) p.set('q', f.q);
      if (f.stale) p.set('stale', '1');
      var qs = p.toString();
      history.replaceState(null, '', location.pathname + location.search + '#/' + (qs ? '?' + qs : ''));
    }

    function changed() {
      saveHash();
      cursors = [''];
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(function () { debounce = null; reload(); }, 250);
    }

    function reload() {
      var g = generation;
      return refresh().then(function () {
        if (g === generation) live.textContent = 'Updated ' + new Date().toLocaleTimeString();
      }, function (e) { if (g === generation) failed(e); });
    }

    var search = h('input', { id: 'f-q', type: 'search', value: f.q, maxlength: 128,
                              placeholder: 'agent, package or check', oninput: function () {
      f.q = search.value.trim(); changed(); } });
    var outcomeSel = h('select', { id: 'f-outcome', onchange: function () {
      f.outcome = outcomeSel.value; changed(); } },
      h('option', { value: '', text: 'any' }),
      OUTCOMES.map(function (o) { return h('option', { value: o, text: o }); }));
    outcomeSel.value = f.outcome;
    var labelIn = h('input', { id: 'f-label', type: 'text', value: f.label, placeholder: 'role=web',
                               pattern: '[A-Za-z0-9._\\-]{1,64}=.+', oninput: function () {
      var v = labelIn.value.trim();
      if (v === '' || labelIn.checkValidity()) { f.label = v; changed(); }
    } });
    var pkgIn = h('input', { id: 'f-package', type: 'text', value: f.package, placeholder: 'nginx',
                             oninput: function () { f.package = pkgIn.value.trim(); changed(); } });
    var staleIn = h('input', { id: 'f-stale', type: 'checkbox', onchange: function () {
      f.stale = staleIn.checked; changed(); } });
    staleIn.checked = f.stale;

    var filters = h('form', { cls: 'filters', role: 'search', 'aria-label': 'Filter checks',
                              onsubmit: function (ev) { ev.preventDefault(); } },
      h('div', { cls: 'field grow' }, h('label', { for: 'f-q', text: 'Search' }), search),
      h('div', { cls: 'field' }, h('label', { for: 'f-outcome', text: 'Outcome' }), outcomeSel),
      h('div', { cls: 'field' }, h('label', { for: 'f-label', text: 'Agent label' }), labelIn),
      h('div', { cls: 'field' }, h('label', { for: 'f-package', text: 'Package' }), pkgIn),
      h('div', { cls: 'field check' }, staleIn, h('label', { for: 'f-stale', text: 'Stale only' })),
      h('button', { type: 'button', cls: 'quiet', onclick: function () {
        f.outcome = f.label = f.package = f.q = ''; f.stale = false;
        search.value = labelIn.value = pkgIn.value = ''; outcomeSel.value = ''; staleIn.checked = false;
        changed();
      }, text: 'Clear filters' }));

    var counts = h('section', { id: 'counts', cls: 'counts', 'aria-label': 'Counts' });
    var banner = h('div', { id: 'silent-banner' });
    var gridBox = h('section', { id: 'grid', 'aria-label': 'Checks by agent' });
    var pager = h('nav', { cls: 'pager', 'aria-label': 'Pages' });
    main.append(h('h1', { cls: 'sr-only', text: 'Overview' }), filters, counts, banner, gridBox, pager);

    function countBtn(name, n, text) {
      var on = f.outcome === name;
      return h('button', { type: 'button', cls: 'count o-' + name, 'data-count': name,
                           'aria-pressed': on ? 'true' : 'false',
                           title: on ? 'Show every outcome' : 'Show only ' + name,
                           onclick: function () {
                             f.outcome = on ? '' : name; outcomeSel.value = f.outcome; changed();
                           } },
        h('span', { cls: 'icon', 'aria-hidden': 'true', text: ICON[name] }),
        h('span', { cls: 'n', text: String(n) }), h('span', { cls: 'what', text: text }));
    }

    function drawSummary(sum) {
      clear(counts);
      OUTCOMES.forEach(function (o) { counts.append(countBtn(o, sum.outcomes[o] || 0, o)); });
      counts.append(
        h('div', { cls: 'count info', 'data-count': 'stale' },
          h('span', { cls: 'icon', 'aria-hidden': 'true', text: '\u25f7' }),
          h('span', { cls: 'n', text: String(sum.stale) }), h('span', { cls: 'what', text: 'stale' })),
        h('div', { cls: 'count info' + (sum.agents.silent ? ' warn' : ''), 'data-count': 'silent' },
          h('span', { cls: 'icon', 'aria-hidden': 'true', text: '\u2298' }),
          h('span', { cls: 'n', text: sum.agents.silent + ' / ' + sum.agents.total }),
          h('span', { cls: 'what', text: 'agents silent' })),
        h('div', { cls: 'count info' + (sum.alerts_open ? ' alert' : ''), 'data-count': 'alerts' },
          h('span', { cls: 'icon', 'aria-hidden': 'true', text: '\u2691' }),
          h('span', { cls: 'n', text: sum.alerts_open == null ? '–' : String(sum.alerts_open) }),
          h('span', { cls: 'what', text: sum.alerts_open === 1 ? 'open alert' : 'open alerts' })));
      clear(banner);
      if (sum.agents.silent > 0) {
        var names = sum.agents.silent_names || [];
        banner.append(h('p', { cls: 'banner warn', role: 'note' },
          h('strong', { text: sum.agents.silent + (sum.agents.silent === 1 ? ' agent is' : ' agents are') +
                              ' silent: ' }),
          names.join(', ') + (sum.agents.silent > names.length ? ', …' : '') + ' ',
          h('a', { href: '#/fleet', text: 'see the fleet' })));
      }
    }

    var silentSet = new Set();

    function drawGrid(page) {
      clear(gridBox);
      var states = page.states;
      if (!states.length) {
        gridBox.append(h('p', { cls: 'muted empty', text: 'No checks match these filters.' }));
        return;
      }
      var tbody = h('tbody');
      var i = 0;
      while (i < states.length) {
        var agent = states[i].agent;
        var tiles = h('ul', { cls: 'tiles' });
        var bad = 0;
        for (; i < states.length && states[i].agent === agent; i++) {
          var st = states[i];
          var o = OUTCOMES.indexOf(st.outcome) >= 0 ? st.outcome : 'error';
          if (o === 'failed' || o === 'error') bad++;
          var desc = st.check + ': ' + st.outcome + (st.stale ? ', stale' : '') +
                     (st.alert ? ', alert open' : '') +
                     (st.consecutive_failures > 1 ? ', ' + st.consecutive_failures + ' failures in a row' : '');
          tiles.append(h('li', null, h('a', {
            cls: 'tile o-' + o + (st.stale ? ' stale' : '') + (st.alert ? ' alerting' : ''),
            href: '#/check/' + enc(st.agent) + '/' + enc(st.check),
            'data-agent': st.agent, 'data-check': st.check, 'data-outcome': st.outcome,
            title: st.package + '/' + st.check + ' \u2014 ' + st.outcome + ', last run ' + ago(st.last_run_at) +
                   (st.alert ? '\nalert: ' + (st.alert.summary || st.alert.kind || 'open') : ''),
            'aria-label': desc },
            h('span', { cls: 'icon', 'aria-hidden': 'true', text: ICON[o] }),
            h('span', { cls: 'name', text: st.check }),
            o !== 'ok' ? h('span', { cls: 'otext', text: st.outcome }) : null,
            st.stale ? h('span', { cls: 'flag', 'aria-hidden': 'true', title: 'stale', text: '\u25f7' }) : null,
            st.alert ? h('span', { cls: 'flag', 'aria-hidden': 'true', text: '\u2691' }) : null)));
        }
        var silent = silentSet.has(agent);
        tbody.append(h('tr', { cls: silent ? 'silent' : null, 'data-agent': agent },
          h('th', { scope: 'row' },
            h('span', { cls: 'agent-name', text: agent }),
            silent ? h('span', { cls: 'tag warn', text: 'silent' }) : null,
            bad ? h('span', { cls: 'sr-only', text: ', ' + bad + ' failing' }) : null),
          h('td', null, tiles)));
      }
      gridBox.append(h('table', { cls: 'grid' },
        h('caption', { text: 'Last outcome of every check, by agent' +
                             (cursors.length > 1 ? ' (page ' + cursors.length + ')' : '') }),
        h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Agent' }),
                                       h('th', { scope: 'col', text: 'Checks' }))),
        tbody));
    }

    function drawPager(page) {
      clear(pager);
      if (cursors.length > 1)
        pager.append(h('button', { type: 'button', text: '\u2190 Previous page', onclick: function () {
          cursors.pop(); reload(); } }));
      if (page.next_cursor)
        pager.append(h('button', { type: 'button', text: 'Next page \u2192', onclick: function () {
          cursors.push(page.next_cursor); reload(); } }));
    }

    var lastPage = null, lastSum = null;

    function refresh() {
      var g = generation;
      var fq = filterQuery();
      var sq = new URLSearchParams(fq);
      sq.set('limit', String(STATE_PAGE));
      var cur = cursors[cursors.length - 1];
      if (cur) sq.set('cursor', cur);
      var fs = fq.toString();
      return Promise.all([api('/api/v1/state/summary' + (fs ? '?' + fs : '')),
                          api('/api/v1/state?' + sq.toString())]).then(function (res) {
        if (g !== generation) return;
        var sum = res[0], page = res[1];
        if (sum.changed || sum.data !== lastSum) {
          lastSum = sum.data;
          silentSet = new Set(sum.data.agents.silent_names || []);
          drawSummary(sum.data);
        }
        if (page.changed || page.data !== lastPage || sum.changed) {
          lastPage = page.data;
          drawGrid(page.data);
          drawPager(page.data);
        }
      });
    }

    return { refresh: refresh, stop: function () { if (debounce) clearTimeout(debounce); } };
  }

  /* ---------- check page ---------- */

  function stepBlock(name, step) {
    if (!step) return null;
    return h('div', { cls: 'step', 'data-step': name },
      h('h4', null, name + ': ', h('span', { cls: 'st st-' + step.status, text: step.status }),
        step.exit_code != null ? h('span', { cls: 'muted', text: ' exit ' + step.exit_code }) : null,
        step.duration_ms != null ? h('span', { cls: 'muted', text: ' \u00b7 ' + step.duration_ms + ' ms' }) : null),
      h('pre', { cls: 'output', text: step.output || '(no output)' }));
  }

  function runDetails(run, open) {
    return h('details', { cls: 'run', open: open || null, 'data-run': run.id },
      h('summary', null, badge(run.outcome), ' ', timeEl(run.started_at),
        run.manual ? h('span', { cls: 'tag', text: 'manual' + (run.operator ? ' by ' + run.operator : '') }) : null,
        run.repair ? h('span', { cls: 'tag', text: 'repair ' + run.repair.status }) : null,
        h('span', { cls: 'muted', text: ' ' + run.duration_ms + ' ms' + (run.version ? ' \u00b7 v' + run.version : '') })),
      stepBlock('test', run.test), stepBlock('repair', run.repair), stepBlock('retest', run.retest));
  }

  function linkOrText(label, u) {
    var safe = safeUrl(u);
    return h('li', null, h('span', { cls: 'muted', text: label + ': ' }),
      safe ? h('a', { href: safe, rel: 'noopener noreferrer', target: '_blank', text: u })
           : h('span', { text: u }));
  }

  /* The manifest's alert block (runbook, docs, changelog, login, advice) of a check. */
  function contextBlock(ctx, agent) {
    if (!ctx) return null;
    var items = [];
    if (ctx.runbook) items.push(linkOrText('Runbook', ctx.runbook));
    (ctx.docs || []).forEach(function (d) { items.push(linkOrText('Docs', d)); });
    if (ctx.changelog) items.push(linkOrText('Changes', ctx.changelog));
    if (ctx.login) items.push(h('li', null, h('span', { cls: 'muted', text: 'Log in: ' }),
      h('code', { text: ctx.login.replace(/\{node\}/g, agent) })));
    if (ctx.advice) items.push(h('li', null, h('span', { cls: 'muted', text: 'Advice: ' }), ctx.advice));
    if (!items.length) return null;
    return h('section', { cls: 'card', id: 'context', 'aria-labelledby': 'ctx-h' },
      h('h2', { id: 'ctx-h', text: 'Context' }), h('ul', { cls: 'plain' }, items));
  }

  /* The metric graph as inline SVG: a line with a dot per point, failed runs as red bands. */
  function drawGraph(series, runs) {
    var pts = (series.points || []).filter(function (p) { return p.v != null; });
    var W = 760, H = 260, L = 56, R = 12, T = 14, B = 34;
    if (!pts.length) return h('p', { cls: 'muted', text: 'No points for this metric in the last 24 hours.' });
    var xs = pts.map(function (p) { return new Date(p.t).getTime(); });
    var ys = pts.map(function (p) { return p.v; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (x1 === x0) { x0 -= 60000; x1 += 60000; }
    if (y1 === y0) { y0 -= 1; y1 += 1; }
    var pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad;
    function X(t) { return L + (t - x0) / (x1 - x0) * (W - L - R); }
    function Y(v) { return T + (1 - (v - y0) / (y1 - y0)) * (H - T - B); }
    var svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, 'class': 'graph', role: 'img',
                         'aria-label': series.metric + ': ' + pts.length + ' points, min ' + fmtNum(Math.min.apply(null, ys)) +
                                       ', max ' + fmtNum(Math.max.apply(null, ys)) + ', last ' + fmtNum(ys[ys.length - 1]) });
    svg.append(s('title', { text: series.metric }));
    (runs || []).forEach(function (r) {
      if (r.outcome !== 'failed' && r.outcome !== 'error') return;
      var t = new Date(r.started_at).getTime();
      if (t < x0 || t > x1) return;
      svg.append(s('rect', { class: 'fail', x: X(t) - 2, y: T, width: 4, height: H - T - B },
                   s('title', { text: r.outcome + ' at ' + fmtTime(r.started_at) })));
    });
    var i, v, t;
    for (i = 0; i <= 4; i++) {
      v = y0 + (y1 - y0) * i / 4;
      svg.append(s('line', { class: 'gridline', x1: L, x2: W - R, y1: Y(v), y2: Y(v) }));
      svg.append(s('text', { class: 'ylab', x: L - 6, y: Y(v) + 4, 'text-anchor': 'end', text: fmtNum(v) }));
    }
    for (i = 0; i <= 3; i++) {
      t = x0 + (x1 - x0) * i / 3;
      svg.append(s('text', { class: 'xlab', x: X(t), y: H - 10, 'text-anchor': i === 0 ? 'start' : (i === 3 ? 'end' : 'middle'),
                             text: new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) }));
    }
    svg.append(s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }));
    svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
    svg.append(s('polyline', { class: 'series', points: pts.map(function (p, k) {
      return X(xs[k]).toFixed(1) + ',' + Y(p.v).toFixed(1); }).join(' ') }));
    pts.forEach(function (p, k) {
      svg.append(s('circle', { class: 'pt', cx: X(xs[k]).toFixed(1), cy: Y(p.v).toFixed(1), r: pts.length > 200 ? 1.5 : 3 },
                   s('title', { text: fmtNum(p.v) + ' at ' + fmtTime(p.t) })));
    });
    return svg;
  }

  function fmtNum(v) {
    if (v == null) return '–';
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 0.01)) return v.toExponential(2);
    return String(Math.round(v * 100) / 100);
  }

  function checkView(agent, check) {
    var base = 'agent=' + enc(agent) + '&check=' + enc(check);
    var metric = '';
    var metricNames = [];
    var title = h('h1', null, h('a', { href: '#/fleet', text: agent }), ' / ', h('span', { text: check }));
    var stateBox = h('section', { cls: 'card', id: 'state', 'aria-labelledby': 'state-h' });
    var ctxBox = h('div', { id: 'context-box' });
    var graphBox = h('section', { cls: 'card', id: 'graph', 'aria-labelledby': 'graph-h' });
    var runsBox = h('section', { cls: 'card', id: 'runs', 'aria-labelledby': 'runs-h' });
    var repairsBox = h('section', { cls: 'card', id: 'repairs', 'aria-labelledby': 'repairs-h' });
    main.append(h('p', { cls: 'crumbs' }, h('a', { href: '#/', text: '\u2190 Overview' })), title,
                stateBox, ctxBox, graphBox, runsBox, repairsBox);
    document.title = agent + ' / ' + check + ' \u2013 HealOps';

    var last = {};

    function drawState(st, runs) {
      clear(stateBox);
      stateBox.append(h('h2', { id: 'state-h', text: 'Now' }));
      if (!st) {
        stateBox.append(h('p', { cls: 'muted', text: 'No run of this check is known.' }));
        return;
      }
      var cmd = 'healops-agent run ' + st.package + '/' + st.check;
      var cmdEl = h('code', { id: 'verify-cmd', text: cmd });
      add(stateBox,
        h('p', { cls: 'now' }, badge(st.outcome),
          st.stale ? h('span', { cls: 'tag warn', text: '\u25f7 stale' }) : null,
          st.alert ? h('span', { cls: 'tag alert', text: '\u2691 alert ' + (st.alert.severity || '') }) : null),
        st.alert ? h('p', { cls: 'banner alert', role: 'note' },
          h('strong', { text: (st.alert.kind || 'alert') + ': ' }), st.alert.summary || '',
          st.alert.opened_at ? h('span', { cls: 'muted' }, ' \u00b7 opened ', timeEl(st.alert.opened_at)) : null) : null,
        h('dl', { cls: 'facts' },
          h('dt', { text: 'Package' }), h('dd', { text: st.package }),
          h('dt', { text: 'Last run' }), h('dd', null, timeEl(st.last_run_at)),
          h('dt', { text: 'Last ok' }), h('dd', null, timeEl(st.last_ok_at)),
          h('dt', { text: 'Failures in a row' }), h('dd', { text: String(st.consecutive_failures) }),
          h('dt', { text: 'Interval' }), h('dd', { text: st.interval ? st.interval + ' s' : 'unknown' })),
        h('div', { cls: 'verify' },
          h('h3', { text: 'Verify by hand on ' + st.agent }),
          h('div', { cls: 'cmd' }, cmdEl,
            h('button', { type: 'button', cls: 'quiet', onclick: function (ev) {
              var b = ev.currentTarget;
              if (navigator.clipboard) navigator.clipboard.writeText(cmd).then(function () {
                b.textContent = 'Copied'; setTimeout(function () { b.textContent = 'Copy'; }, 1500);
              }, function () { /* not allowed: the text is there to select */ });
            }, text: 'Copy' }))));
      var ctx = null;
      (runs || []).some(function (r) { if (r.alert) { ctx = r.alert; return true; } return false; });
      drawContext(ctx);
      if (st.alert) {
        /* the open alert holds the manifest block as the server sent it out */
        api('/api/v1/alerts?' + base + '&state=open&limit=1').then(function (res) {
          var a = res.data.alerts && res.data.alerts[0];
          if (a && a.context) drawContext(a.context);
        }, function () { /* the context is a help, not the page */ });
      }
    }

    function drawContext(ctx) {
      clear(ctxBox);
      var c = contextBlock(ctx, agent);
      if (c) ctxBox.append(c);
    }

    /* Redraws a run list keeping the entries the reader opened open. */
    function drawRuns(box, id, heading, runs, empty) {
      var opened = null;
      if (box.firstChild) {
        opened = new Set();
        box.querySelectorAll('details[open]').forEach(function (d) { opened.add(d.getAttribute('data-run')); });
      }
      clear(box);
      box.append(h('h2', { id: id, text: heading }));
      if (!runs.length) { box.append(h('p', { cls: 'muted', text: empty })); return; }
      box.append(h('div', { cls: 'runs' }, runs.map(function (r, k) {
        return runDetails(r, opened ? opened.has(r.id) : k === 0);
      })));
    }

    function loadGraph(runs) {
      var path = '/api/v1/checks/' + enc(agent) + '/' + enc(check) + '/series' + (metric ? '?metric=' + enc(metric) : '');
      return api(path).then(function (res) {
        var sr = res.data;
        if (!res.changed && last.graphRuns === runs) return;
        last.graphRuns = runs;
        clear(graphBox);
        graphBox.append(h('h2', { id: 'graph-h', text: 'Graph' }));
        if (sr.metrics) metricNames = sr.metrics;
        var names = metricNames;
        if (!metric && !sr.metric && names.length) {
          metric = names.indexOf('healops.check.duration_ms') >= 0 ? 'healops.check.duration_ms' : names[0];
          return loadGraph(runs);
        }
        if (names.length > 1 || (names.length && metric)) {
          var sel = h('select', { id: 'metric', onchange: function () {
            metric = sel.value; last.graphRuns = null; loadGraph(last.runs || []); } },
            names.map(function (n) { return h('option', { value: n, text: n }); }));
          if (metric) sel.value = metric;
          graphBox.append(h('div', { cls: 'field inline' }, h('label', { for: 'metric', text: 'Metric' }), sel));
        }
        if (!sr.metric && !names.length) {
          graphBox.append(h('p', { cls: 'muted', text: 'This check reports no metrics.' }));
          return;
        }
        graphBox.append(drawGraph(sr, runs));
      }, function (e) {
        if (e instanceof AuthError) throw e;
        clear(graphBox);
        graphBox.append(h('h2', { id: 'graph-h', text: 'Graph' }), h('p', { cls: 'muted', text: 'No graph: ' + e.message }));
      });
    }

    function refresh() {
      var g = generation;
      return Promise.all([
        api('/api/v1/state?' + base),
        api('/api/v1/runs?' + base + '&limit=20'),
        api('/api/v1/repairs?' + base + '&limit=20')
      ]).then(function (res) {
        if (g !== generation) return;
        var st = res[0].data.states[0] || null, runs = res[1].data.runs, reps = res[2].data.runs;
        if (res[0].changed || res[1].changed || !last.drawn) drawState(st, runs);
        if (res[1].changed || !last.drawn)
          drawRuns(runsBox, 'runs-h', 'Last runs', runs, 'No runs yet.');
        if (res[2].changed || !last.drawn)
          drawRuns(repairsBox, 'repairs-h', 'Repair history', reps, 'No repair was attempted in the runs kept.');
        last.drawn = true;
        if (res[1].changed) last.runs = runs;
        return loadGraph(last.runs || runs);
      });
    }

    return { refresh: refresh, stop: function () { document.title = 'HealOps'; } };
  }

  /* ---------- fleet ---------- */

  function fleetView() {
    var cursors = [''];
    var box = h('section', { id: 'fleet', 'aria-labelledby': 'fleet-h' });
    var pager = h('nav', { cls: 'pager', 'aria-label': 'Pages' });
    main.append(h('h1', { id: 'fleet-h', text: 'Fleet' }), box, pager);

    function draw(page) {
      clear(box);
      if (!page.agents.length) { box.append(h('p', { cls: 'muted', text: 'No agent has enrolled yet.' })); return; }
      box.append(h('table', { cls: 'fleet' },
        h('caption', { cls: 'sr-only', text: 'Agents' + (cursors.length > 1 ? ', page ' + cursors.length : '') }),
        h('thead', null, h('tr', null, ['Agent', 'Status', 'Labels', 'Version', 'Packages', 'Last seen', 'Spool'].map(
          function (c) { return h('th', { scope: 'col', text: c }); }))),
        h('tbody', null, page.agents.map(function (a) {
          var labels = Object.keys(a.labels || {}).map(function (k) {
            return h('li', null, h('a', { cls: 'tag', href: '#/?label=' + enc(k + '=' + a.labels[k]),
                                         text: k + '=' + a.labels[k] }));
          });
          var pk = (a.packages || []).map(function (p) {
            return h('li', null, h('a', { href: '#/?package=' + enc(p.name) + '&q=' + enc(a.name),
                                          text: p.name + ' ' + (p.version || '') }));
          });
          return h('tr', { cls: a.silent ? 'silent' : null, 'data-agent': a.name },
            h('th', { scope: 'row' }, h('a', { href: '#/?q=' + enc(a.name), text: a.name })),
            h('td', null, a.silent ? h('span', { cls: 'tag warn', text: '\u2298 silent' })
                                   : h('span', { cls: 'tag ok', text: '\u2713 reporting' })),
            h('td', null, h('ul', { cls: 'chips' }, labels)),
            h('td', { text: a.version || '–' }),
            h('td', null, h('ul', { cls: 'plain' }, pk)),
            h('td', null, timeEl(a.last_seen)),
            h('td', { cls: 'num' + (a.spool_depth > 0 ? ' warn-text' : ''), text: String(a.spool_depth) +
                      (a.dropped ? ' (' + a.dropped + ' dropped)' : '') }));
        }))));
      clear(pager);
      if (cursors.length > 1)
        pager.append(h('button', { type: 'button', text: '\u2190 Previous page', onclick: function () { cursors.pop(); refresh(); } }));
      if (page.next_cursor)
        pager.append(h('button', { type: 'button', text: 'Next page \u2192', onclick: function () { cursors.push(page.next_cursor); refresh(); } }));
    }

    var lastData = null;
    function refresh() {
      var g = generation;
      var cur = cursors[cursors.length - 1];
      return api('/api/v1/agents?limit=' + AGENT_PAGE + (cur ? '&cursor=' + enc(cur) : '')).then(function (res) {
        if (g !== generation) return;
        if (res.changed || res.data !== lastData) { lastData = res.data; draw(res.data); }
      });
    }
    return { refresh: refresh };
  }

  /* ---------- start ---------- */

  forgetBtn.addEventListener('click', function () { clearToken(); showTokenForm('The token was removed from this browser.'); });
  pauseBtn.addEventListener('click', function () {
    paused = !paused;
    pauseBtn.setAttribute('aria-pressed', paused ? 'true' : 'false');
    pauseBtn.textContent = paused ? 'Resume updates' : 'Pause updates';
    live.textContent = paused ? 'Updates paused' : 'Updates resumed';
  });
  /* A new view moves the keyboard and screen reader focus to the page's content. */
  window.addEventListener('hashchange', function () {
    route();
    if (token() && !document.getElementById('token-form')) main.focus({ preventScroll: true });
  });
  document.addEventListener('visibilitychange', function () { if (!document.hidden && view && !timer) schedule(); });
  route();
})();
