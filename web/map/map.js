// kubeward's RBAC map: subjects → bindings → roles → rules, from one graph document (served
// at /map/graph, cut to what its reader may list; or embedded in the file `kubeward map`
// writes). Only the neighbourhood of what is selected is drawn, in four columns, at most
// COLUMN_CAP nodes to a column, so the page stays quick at tens of thousands of bindings.
//
// Who-can and explain: on a server they are the server's answers (WhoCanReview and
// AccessReview, with the reader's own rights). In a file there is no server, and the small
// matcher below (upstream's RuleAllows and appliesTo) answers; the e2e tests hold its answers
// equal to `kubeward who-can` and `kubeward explain` on the same manifests.
//
// Every text from the graph reaches the page through textContent or a canvas label, never
// as markup: subject names are free text.
(function () {
  'use strict';

  const COLUMN_CAP = 120;
  const COLUMNS = ['subject', 'binding', 'role', 'rule'];
  const COLUMN_X = { subject: 0, binding: 360, role: 720, rule: 1080 };
  const ROW_Y = 34;

  const $ = (id) => document.getElementById(id);
  const state = {
    graph: null,
    online: false,
    nodes: new Map(), // id → { id, type, label, namespace, data }
    bindingsOfSubject: new Map(),
    bindingsOfRole: new Map(),
    cy: null,
    highlighted: new Set(),
    selected: null, // the node whose neighbourhood is drawn, if one is
    shown: [],
    lastDrawMs: null,
  };

  // ---- The graph document, as nodes and adjacency ----

  function ruleLabel(r) {
    const what = (r.resources || []).length ? r.resources : r.nonResourceURLs || [];
    let s = (r.verbs || []).join(',') + ' ' + what.join(',');
    const groups = (r.apiGroups || []).filter((g) => g !== '');
    if (groups.length) s += ' [' + groups.join(',') + ']';
    if ((r.resourceNames || []).length) s += ' names: ' + r.resourceNames.join(',');
    return s.length > 90 ? s.slice(0, 87) + '…' : s;
  }

  function push(map, key, value) {
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  }

  function index(graph) {
    state.graph = graph;
    for (const s of graph.subjects) {
      const label = s.kind === 'ServiceAccount' ? s.namespace + '/' + s.name : s.name;
      state.nodes.set(s.id, { id: s.id, type: 'subject', label: s.kind + ' ' + label, namespace: s.namespace, data: s });
    }
    for (const r of graph.roles) {
      const label = (r.namespace ? r.namespace + '/' : '') + r.name + (r.rules === null ? (r.missing ? ' (missing)' : ' (rules hidden)') : '');
      state.nodes.set(r.id, { id: r.id, type: 'role', label: r.kind + ' ' + label, namespace: r.namespace, data: r });
      (r.rules || []).forEach((rule, i) => {
        const id = r.id + '#' + i;
        state.nodes.set(id, { id, type: 'rule', label: ruleLabel(rule), namespace: r.namespace, data: rule, role: r.id });
      });
    }
    for (const b of graph.bindings) {
      const label = (b.namespace ? b.namespace + '/' : '') + b.name;
      state.nodes.set(b.id, { id: b.id, type: 'binding', label: b.kind + ' ' + label, namespace: b.namespace, data: b });
      push(state.bindingsOfRole, b.role, b);
      for (const s of b.subjects) push(state.bindingsOfSubject, s, b);
    }
  }

  function rulesOf(roleId) {
    const role = state.nodes.get(roleId);
    return role && role.data.rules ? role.data.rules.map((_, i) => roleId + '#' + i) : [];
  }

  // The namespace filter: "*" every binding, "" cluster-wide ones only, else that namespace's
  // and the cluster-wide ones (which hold in it too).
  function inNamespace(b) {
    const ns = $('namespace').value;
    return ns === '*' || b.namespace === '' || b.namespace === ns;
  }

  // ---- Neighbourhoods ----

  // The nodes and edges to draw around `id`.
  function neighbourhood(id) {
    const n = state.nodes.get(id);
    const ids = new Set([id]);
    const edges = [];
    const addBinding = (b, withSubjects) => {
      ids.add(b.id);
      ids.add(b.role);
      edges.push([b.id, b.role]);
      if (withSubjects) for (const s of b.subjects) { ids.add(s); edges.push([s, b.id]); }
      for (const r of rulesOf(b.role)) { ids.add(r); edges.push([b.role, r]); }
    };
    if (!n) return { ids, edges };
    if (n.type === 'subject') {
      for (const b of state.bindingsOfSubject.get(id) || []) if (inNamespace(b)) { addBinding(b, false); edges.push([id, b.id]); }
    } else if (n.type === 'binding') {
      addBinding(n.data, true);
    } else {
      const role = n.type === 'rule' ? n.role : id;
      ids.add(role);
      for (const r of rulesOf(role)) { ids.add(r); edges.push([role, r]); }
      for (const b of state.bindingsOfRole.get(role) || []) if (inNamespace(b)) {
        ids.add(b.id);
        edges.push([b.id, role]);
        for (const s of b.subjects) { ids.add(s); edges.push([s, b.id]); }
      }
    }
    return { ids, edges };
  }

  // ---- Drawing ----

  function elements(ids, edges) {
    const columns = { subject: [], binding: [], role: [], rule: [] };
    for (const id of ids) {
      const n = state.nodes.get(id);
      if (n) columns[n.type].push(n);
    }
    const placed = new Set();
    const out = [];
    for (const type of COLUMNS) {
      const col = columns[type];
      // Highlighted first, so an answer is never cut off by the cap; then by label.
      col.sort((a, b) => (state.highlighted.has(b.id) - state.highlighted.has(a.id)) || a.label.localeCompare(b.label));
      col.slice(0, COLUMN_CAP).forEach((n, row) => {
        placed.add(n.id);
        out.push({
          group: 'nodes',
          data: { id: n.id, label: n.label, type: n.type },
          position: { x: COLUMN_X[type], y: row * ROW_Y },
          classes: n.type + (state.highlighted.has(n.id) ? ' hl' : ''),
        });
      });
      if (col.length > COLUMN_CAP) {
        out.push({
          group: 'nodes',
          data: { id: 'more:' + type, label: '+' + (col.length - COLUMN_CAP) + ' more (search to jump)', type: 'more' },
          position: { x: COLUMN_X[type], y: COLUMN_CAP * ROW_Y },
          classes: 'more',
        });
      }
    }
    const seen = new Set();
    for (const [from, to, kind] of edges) {
      const id = from + '→' + to;
      if (!placed.has(from) || !placed.has(to) || seen.has(id)) continue;
      seen.add(id);
      const hl = state.highlighted.has(from) && state.highlighted.has(to);
      out.push({ group: 'edges', data: { id, source: from, target: to }, classes: (kind || '') + (hl ? ' hl' : '') });
    }
    return out;
  }

  function draw(ids, edges, caption) {
    const start = performance.now();
    const els = elements(ids, edges);
    const cy = state.cy;
    cy.batch(() => {
      cy.elements().remove();
      cy.add(els);
    });
    // The whole neighbourhood, unless that would make its labels unreadable: then its top.
    cy.fit(cy.nodes(), 30);
    if (cy.zoom() < 0.7) {
      cy.zoom(0.7);
      cy.pan({ x: 30, y: 40 });
    } else if (cy.zoom() > 1.5) {
      cy.zoom(1.5);
      cy.center(cy.nodes());
    }
    state.shown = els.filter((e) => e.group === 'nodes').map((e) => e.data.id);
    $('status').textContent = caption + ' — ' + state.shown.length + ' nodes drawn';
    // Measured to the frame that shows it: two animation frames after the change.
    return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => {
      state.lastDrawMs = performance.now() - start;
      performance.measure('kubeward-map-draw', { start, end: performance.now() });
      resolve(state.lastDrawMs);
    })));
  }

  function select(id) {
    state.selected = id;
    state.highlighted = new Set([id]);
    const n = state.nodes.get(id);
    const { ids, edges } = neighbourhood(id);
    return draw(ids, edges, n ? n.label : id);
  }

  // ---- Search, filters, findings ----

  function listItems(ul, items, onPick) {
    ul.replaceChildren();
    for (const [text, value, cls] of items) {
      const li = document.createElement('li');
      li.textContent = text;
      li.dataset.id = value;
      if (cls) li.className = cls;
      li.addEventListener('click', () => onPick(value));
      ul.appendChild(li);
    }
  }

  function search() {
    const q = $('search').value.trim().toLowerCase();
    if (!q) { $('matches').replaceChildren(); return; }
    const found = [];
    for (const n of state.nodes.values()) {
      if (n.type === 'rule') continue;
      if (n.label.toLowerCase().includes(q) || n.id.toLowerCase().includes(q)) found.push(n);
      if (found.length >= 50) break;
    }
    listItems($('matches'), found.map((n) => [n.label, n.id]), select);
  }

  // "pods", "pods/log", "deployments.apps", "/metrics" → request attributes.
  function parseResource(text) {
    if (text.startsWith('/')) return { resourceRequest: false, path: text };
    const [res, sub = ''] = text.split('/', 2);
    const dot = res.indexOf('.');
    return {
      resourceRequest: true,
      resource: dot < 0 ? res : res.slice(0, dot),
      group: dot < 0 ? '' : res.slice(dot + 1),
      subresource: sub,
    };
  }

  function resourceRoles() {
    const text = $('resource').value.trim();
    if (!text) { $('resource-roles').replaceChildren(); return; }
    const a = parseResource(text);
    const items = [];
    for (const r of state.graph.roles) {
      const hit = (r.rules || []).some((rule) => (a.resourceRequest
        ? (rule.resources || []).some((x) => x === '*' || x === a.resource + (a.subresource ? '/' + a.subresource : '') || (a.subresource && x === '*/' + a.subresource))
          && (rule.apiGroups || []).some((g) => g === '*' || g === a.group)
        : urlMatches(rule.nonResourceURLs, a.path)));
      if (hit) items.push([r.kind + ' ' + (r.namespace ? r.namespace + '/' : '') + r.name, r.id]);
      if (items.length >= 200) break;
    }
    listItems($('resource-roles'), items, select);
  }

  function showFindings() {
    const sev = $('severity').value;
    const items = [];
    state.graph.findings.forEach((f, i) => {
      if ((sev && f.severity !== sev) || items.length >= 300) return;
      const via = f.path.find((id) => /^(Cluster)?RoleBinding\//.test(id));
      const text = f.severity.toUpperCase() + ' ' + f.id + ' ' + f.message + (via ? ' (' + subjectText(via) + ')' : '');
      items.push([text, String(i), 'sev-' + f.severity]);
    });
    listItems($('findings'), items, (i) => selectFinding(Number(i)));
  }

  function selectFinding(i) {
    const f = state.graph.findings[i];
    state.selected = null;
    state.highlighted = new Set(f.path);
    const ids = new Set(f.path);
    const edges = [];
    for (let k = 1; k < f.path.length; k++) {
      const from = f.path[k - 1], to = f.path[k];
      const fromType = (state.nodes.get(from) || {}).type;
      // Subject → binding edges point the way the map draws them; a rule → subject step is
      // "acts as".
      edges.push(fromType === 'rule' ? [from, to, 'acts-as'] : [from, to]);
    }
    return draw(ids, edges, f.id + ' ' + f.message);
  }

  // ---- Answers: who-can and explain ----

  const has = (list, v) => (list || []).includes(v);

  // upstream's RuleAllows (plugin/pkg/auth/authorizer/rbac/rbac.go).
  function ruleAllows(a, r) {
    if (!(has(r.verbs, '*') || has(r.verbs, a.verb))) return false;
    if (a.resourceRequest) {
      const combined = a.subresource ? a.resource + '/' + a.subresource : a.resource;
      const resourceOk = (r.resources || []).some((x) => x === '*' || x === combined || (a.subresource !== '' && x === '*/' + a.subresource));
      return (has(r.apiGroups, '*') || has(r.apiGroups, a.group)) && resourceOk
        && ((r.resourceNames || []).length === 0 || has(r.resourceNames, a.name));
    }
    return urlMatches(r.nonResourceURLs, a.path);
  }

  function urlMatches(urls, path) {
    return (urls || []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
  }

  // Bindings in scope, in the authorizer's walk order: cluster-wide ones, then the request's
  // namespace's (a cluster-wide or non-resource request sees only the cluster-wide ones).
  function inScope(a) {
    const ns = a.resourceRequest ? a.namespace : '';
    return state.graph.bindings.filter((b) => b.namespace === '' || (ns !== '' && b.namespace === ns));
  }

  function firstRule(b, a) {
    const role = state.nodes.get(b.role);
    const rules = role && role.data.rules;
    if (!rules) return -1;
    return rules.findIndex((r) => ruleAllows(a, r));
  }

  function localWhoCan(a) {
    const rows = [{ subject: 'Group//system:masters', privileged: true }];
    for (const b of inScope(a)) {
      const i = firstRule(b, a);
      if (i < 0) continue;
      for (const s of b.subjects) rows.push({ subject: s, binding: b.id, role: b.role, rule: b.role + '#' + i });
    }
    return rows;
  }

  function appliesTo(user, subjectId, bindingNs) {
    const [kind, ns, ...rest] = subjectId.split('/');
    const name = rest.join('/');
    if (kind === 'User') return user.name === name;
    if (kind === 'Group') return user.groups.includes(name);
    if (kind === 'ServiceAccount') return user.name === 'system:serviceaccount:' + (ns || bindingNs) + ':' + name;
    return false;
  }

  function localExplain(user, a) {
    const grants = [];
    for (const b of inScope(a)) {
      if (!b.subjects.some((s) => appliesTo(user, s, b.namespace))) continue;
      const i = firstRule(b, a);
      if (i >= 0) grants.push({ binding: b.id, role: b.role, rule: b.role + '#' + i });
    }
    const privileged = user.groups.includes('system:masters');
    return { allowed: privileged || grants.length > 0, privileged, grants };
  }

  // The groups impersonation adds (`kubectl --as`), as `kubeward explain --as` adds them.
  function userOf(name, groupsText) {
    const groups = groupsText.split(',').map((g) => g.trim()).filter(Boolean);
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(name);
    const add = (g) => { if (!groups.includes(g)) groups.push(g); };
    if (sa) { add('system:serviceaccounts'); add('system:serviceaccounts:' + sa[1]); }
    if (name !== 'system:anonymous') add('system:authenticated');
    return { name, groups };
  }

  function attributesOf(form) {
    const f = new FormData(form);
    const a = parseResource(String(f.get('resource')).trim());
    a.verb = String(f.get('verb')).trim();
    a.name = String(f.get('name') || '').trim();
    a.namespace = String(f.get('namespace') || '').trim();
    return a;
  }

  function reviewSpec(a) {
    return a.resourceRequest
      ? { resourceAttributes: { verb: a.verb, group: a.group, resource: a.resource, subresource: a.subresource, name: a.name, namespace: a.namespace } }
      : { nonResourceAttributes: { verb: a.verb, path: a.path } };
  }

  async function review(kind, plural, spec) {
    const url = new URL('../apis/access.kubeward.io/v1alpha1/' + plural, location.href);
    const resp = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ apiVersion: 'access.kubeward.io/v1alpha1', kind, spec }),
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(body.message || resp.status + ' ' + resp.statusText);
    return body.status;
  }

  const bindingId = (v) => v.binding.kind + '/' + v.binding.namespace + '/' + v.binding.name;
  const roleIdOf = (v) => v.role.kind + '/' + (v.role.kind === 'Role' ? v.binding.namespace : '') + '/' + v.role.name;

  async function whoCan(a) {
    if (!state.online) return localWhoCan(a);
    const status = await review('WhoCanReview', 'whocanreviews', reviewSpec(a));
    return status.subjects.map((s) => s.privileged
      ? { subject: 'Group//system:masters', privileged: true }
      : {
        subject: s.subject.kind + '/' + (s.subject.namespace || '') + '/' + s.subject.name,
        binding: bindingId(s), role: roleIdOf(s), rule: roleIdOf(s) + '#' + s.ruleIndex,
      });
  }

  async function explain(user, a) {
    if (!state.online) return localExplain(user, a);
    const spec = reviewSpec(a);
    spec.user = user.name;
    spec.groups = user.groups;
    const status = await review('AccessReview', 'accessreviews', spec);
    const e = status.explanation || {};
    return {
      allowed: status.allowed,
      privileged: !!e.privilegedGroup,
      grants: (e.grants || []).map((g) => ({ binding: bindingId(g), role: roleIdOf(g), rule: roleIdOf(g) + '#' + g.ruleIndex })),
      hidden: e.hiddenGrants || 0,
    };
  }

  function describe(a) {
    if (!a.resourceRequest) return a.verb + ' ' + a.path;
    let s = a.verb + ' ' + a.resource + (a.group ? '.' + a.group : '') + (a.subresource ? '/' + a.subresource : '');
    if (a.name) s += ' ' + a.name;
    return s + (a.namespace ? ' in ' + a.namespace : ' cluster-wide');
  }

  // Draws the rows' subjects, bindings, roles and rules, all highlighted.
  function drawRows(rows, caption) {
    const ids = new Set();
    const edges = [];
    for (const r of rows) {
      for (const id of [r.subject, r.binding, r.role, r.rule]) if (id) ids.add(id);
      if (r.binding) {
        if (r.subject) edges.push([r.subject, r.binding]);
        edges.push([r.binding, r.role], [r.role, r.rule]);
      }
    }
    // A subject the graph does not hold (system:masters) still gets a node.
    for (const id of ids) if (!state.nodes.has(id)) {
      const [kind, , ...name] = id.split('/');
      state.nodes.set(id, { id, type: 'subject', label: kind + ' ' + name.join('/'), namespace: '', data: {} });
    }
    state.highlighted = new Set(ids);
    state.selected = null;
    return draw(ids, edges, caption);
  }

  function answer(parts) {
    const box = $('answer');
    box.replaceChildren();
    for (const [tag, text, cls] of parts) {
      const el = document.createElement(tag);
      el.textContent = text;
      if (cls) el.className = cls;
      box.appendChild(el);
    }
  }

  // "User//alice" → "User alice"; "ServiceAccount/ns/sa" → "ServiceAccount ns/sa".
  function subjectText(id) {
    const [kind, ns, ...name] = id.split('/');
    return kind + ' ' + (ns ? ns + '/' : '') + name.join('/');
  }

  async function onWhoCan(ev) {
    ev.preventDefault();
    const a = attributesOf(ev.target);
    try {
      const rows = await whoCan(a);
      const names = [...new Set(rows.map((r) => r.subject))];
      answer([['p', names.length + ' subjects can ' + describe(a), 'allowed'], ...names.map((n) => ['div', subjectText(n)])]);
      $('answer').dataset.subjects = JSON.stringify(names);
      await drawRows(rows, 'who can ' + describe(a));
    } catch (e) {
      answer([['p', String(e.message || e), 'denied']]);
    }
  }

  async function onExplain(ev) {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const user = userOf(String(f.get('user')).trim(), String(f.get('groups') || ''));
    const a = attributesOf(ev.target);
    try {
      const e = await explain(user, a);
      const head = (e.allowed ? 'allowed: ' : 'denied: ') + user.name + ' ' + describe(a);
      const parts = [['p', head, e.allowed ? 'allowed' : 'denied']];
      if (e.privileged) parts.push(['div', 'as a member of system:masters']);
      for (const g of e.grants) parts.push(['div', 'through ' + g.binding + ' → ' + g.role]);
      if (e.hidden) parts.push(['div', e.hidden + ' more through bindings you may not see']);
      answer(parts);
      $('answer').dataset.allowed = String(e.allowed);
      const subject = user.name.startsWith('system:serviceaccount:')
        ? 'ServiceAccount/' + user.name.split(':')[2] + '/' + user.name.split(':')[3]
        : 'User//' + user.name;
      await drawRows(e.grants.map((g) => Object.assign({ subject: state.nodes.has(subject) ? subject : null }, g)), head);
    } catch (err) {
      answer([['p', String(err.message || err), 'denied']]);
    }
  }

  // ---- Start ----

  async function load() {
    const embedded = $('kubeward-graph');
    if (embedded) return JSON.parse(embedded.textContent);
    state.online = true;
    const resp = await fetch(new URL('graph', location.href), { headers: { Accept: 'application/json' } });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.message || resp.statusText);
    return body;
  }

  async function start() {
    const graph = await load();
    index(graph);
    $('source').textContent = (state.online ? 'Live from this server' : 'From manifests (offline file)')
      + ': ' + graph.bindings.length + ' bindings, ' + graph.roles.length + ' roles, ' + graph.subjects.length + ' subjects'
      + (graph.complete ? '' : ' — only what you may list');
    for (const ns of graph.namespaces) {
      const o = document.createElement('option');
      o.value = ns;
      o.textContent = ns;
      $('namespace').appendChild(o);
    }
    state.cy = cytoscape({
      container: $('graph'),
      layout: { name: 'preset' },
      style: [
        // Labels above and to the right of their node, clear of the edges between columns.
        { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'text-valign': 'top', 'text-halign': 'right', 'text-margin-x': -8, 'text-margin-y': -3, 'text-wrap': 'ellipsis', 'text-max-width': 330, width: 14, height: 14, 'background-color': '#8a96a3' } },
        { selector: '.subject', style: { shape: 'ellipse', 'background-color': '#3b6fb6' } },
        { selector: '.binding', style: { shape: 'diamond', 'background-color': '#7a55a8' } },
        { selector: '.role', style: { shape: 'round-rectangle', 'background-color': '#2e8b57' } },
        { selector: '.rule', style: { shape: 'rectangle', width: 10, height: 10, 'background-color': '#9aa5b1' } },
        { selector: '.more', style: { shape: 'tag', 'background-color': '#ccd3da', color: '#5b6670' } },
        { selector: 'node.hl', style: { 'background-color': '#e8590c', 'border-width': 3, 'border-color': '#ffd8a8', 'font-weight': 'bold' } },
        { selector: 'edge', style: { width: 1, 'line-color': '#c3cbd3', 'curve-style': 'straight', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#c3cbd3', 'arrow-scale': 0.6 } },
        { selector: 'edge.hl', style: { width: 2.5, 'line-color': '#e8590c', 'target-arrow-color': '#e8590c' } },
        { selector: 'edge.acts-as', style: { 'line-style': 'dashed', 'curve-style': 'bezier' } },
      ],
    });
    state.cy.on('tap', 'node', (ev) => { const id = ev.target.id(); if (!id.startsWith('more:')) select(id); });
    $('search').addEventListener('input', search);
    $('resource').addEventListener('input', resourceRoles);
    $('severity').addEventListener('change', showFindings);
    $('namespace').addEventListener('change', () => { if (state.selected) select(state.selected); });
    $('who-can').addEventListener('submit', onWhoCan);
    $('explain').addEventListener('submit', onExplain);
    showFindings();
    $('status').textContent = 'Search, pick a finding, or ask who can.';
    document.body.dataset.ready = 'true';
  }

  // What the tests read: what is drawn, what is highlighted, and the last drawing's time.
  window.kubewardMap = {
    shown: () => state.shown.slice(),
    highlighted: () => state.shown.filter((id) => state.highlighted.has(id)),
    lastDrawMs: () => state.lastDrawMs,
    label: (id) => state.cy.getElementById(id).data('label'),
    select,
  };

  start().catch((e) => {
    $('status').textContent = 'The map could not load: ' + (e.message || e);
    document.body.dataset.ready = 'error';
  });
})();
