// Fedora CI dashboard: reads a packit-service-compatible API and renders one view.
//
// The path says which view; `?backend=<name>` which API (the context selector's choice, so a
// link can be shared); `?page=<n>` which page of a list. Everything from an API is put into
// the page as text or as checked http(s) links, never as HTML.

const PER_PAGE = 20;
const DEFAULT_BACKENDS = [{ name: 'Fedora CI', api_url: '/api' }];

const state = { backends: DEFAULT_BACKENDS, backend: DEFAULT_BACKENDS[0] };

// ---------------------------------------------------------------- DOM helpers

/** An element with attributes and children; strings become text nodes. */
function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) throw new Error('no inline handlers');
    element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

/** An absolute http(s) URL from the API, or null (no `javascript:` or other schemes). */
function safeUrl(url) {
  if (typeof url !== 'string' || url === '') return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** A link out of the dashboard, or the text alone when the URL is not http(s). */
function external(url, text, attrs = {}) {
  const href = safeUrl(url);
  if (!href) return text === undefined ? null : h('span', {}, text);
  return h('a', { ...attrs, href, rel: 'noopener noreferrer' }, text === undefined ? href : text);
}

/** A path of this dashboard, keeping the chosen backend. */
function route(path, params = {}) {
  const query = new URLSearchParams();
  if (state.backend !== state.backends[0]) query.set('backend', state.backend.name);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

function link(path, text, attrs = {}, params = {}) {
  return h('a', { ...attrs, href: route(path, params) }, text);
}

function seg(value) {
  return encodeURIComponent(String(value));
}

// ---------------------------------------------------------------- formatting

const STATES = {
  failure: ['failure', 'failed', 'needs_inspection'],
  error: ['error'],
  running: ['running', 'cancel_requested', 'in_progress'],
  pending: ['pending', 'queued', 'new', 'retry', 'waiting_for_srpm'],
  success: ['success', 'passed', 'complete', 'completed'],
  canceled: ['canceled', 'cancelled'],
  skipped: ['skipped'],
};

function stateOf(status) {
  for (const [name, statuses] of Object.entries(STATES)) {
    if (statuses.includes(status)) return name;
  }
  return 'unknown';
}

function badge(status) {
  const text = status === null || status === undefined ? 'unknown' : String(status);
  return h('span', { class: `badge state-${stateOf(text)}` }, text);
}

function failureKind(kind) {
  if (kind === 'package') return h('span', { class: 'kind kind-package' }, 'package failure');
  if (kind === 'infrastructure') {
    return h('span', { class: 'kind kind-infra' }, 'infrastructure failure');
  }
  return null;
}

/** A time from the API (Unix seconds or RFC 3339) as `YYYY-MM-DD HH:MM UTC`. */
function time(value) {
  if (value === null || value === undefined || value === '') return '—';
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(String(value));
  if (Number.isNaN(date.getTime())) return String(value);
  const iso = date.toISOString();
  return h('time', { datetime: iso }, `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`);
}

function short(sha) {
  return typeof sha === 'string' ? sha.slice(0, 7) : '—';
}

function text(value) {
  return value === null || value === undefined || value === '' ? '—' : String(value);
}

/** A definition list of [term, value] pairs; null values are left out. */
function facts(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs
      .filter(([, value]) => value !== null && value !== undefined)
      .map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))),
  );
}

/** Where a PR is on its forge: Pagure `/pull-request/N`, GitLab `/-/merge_requests/N`, Forgejo `/pulls/N`, else `/pull/N`. */
function forgePrUrl(projectUrl, prId) {
  const base = safeUrl(projectUrl);
  if (!base || prId === null || prId === undefined) return null;
  const host = new URL(base).host;
  const trimmed = base.replace(/\/+$/, '');
  if (host.startsWith('src.') || host.includes('pagure')) return `${trimmed}/pull-request/${seg(prId)}`;
  if (host.includes('gitlab')) return `${trimmed}/-/merge_requests/${seg(prId)}`;
  if (host.startsWith('forge.') || host.includes('forgejo') || host.includes('codeberg')) return `${trimmed}/pulls/${seg(prId)}`;
  return `${trimmed}/pull/${seg(prId)}`;
}

/** The trigger of a run: the project and its PR, linked to the pull-request view. */
function trigger(info) {
  if (!info) return '—';
  const project = [info.repo_namespace, info.repo_name].filter(Boolean).join('/') || text(info.project_url);
  if (info.pr_id !== null && info.pr_id !== undefined && info.repo_namespace && info.repo_name) {
    return h(
      'span',
      { class: 'trigger' },
      link(
        `/pull-requests/${seg(info.repo_namespace)}/${seg(info.repo_name)}/${seg(info.pr_id)}`,
        `${project} #${info.pr_id}`,
        { 'data-test': 'pr-link' },
        // Pagure and Forgejo may both have this repository and number.
        { forge: info.instance_url || null },
      ),
    );
  }
  const where = info.branch_name ? ` (${info.branch_name})` : info.release ? ` (${info.release})` : '';
  return h('span', { class: 'trigger' }, project + where);
}

// ---------------------------------------------------------------- the API

class ApiFailure extends Error {
  constructor(status, message, url) {
    super(message);
    this.status = status;
    this.url = url;
  }
}

async function api(path) {
  const url = `${state.backend.api_url}${path}`;
  let response;
  try {
    response = await fetch(url, { headers: { Accept: 'application/json' } });
  } catch (error) {
    throw new ApiFailure(0, `${state.backend.name} cannot be reached (${error.message})`, url);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const reason = body && (body.error || body.message);
    throw new ApiFailure(response.status, reason ? String(reason) : response.statusText, url);
  }
  return body;
}

function failure(error, what) {
  const status = error instanceof ApiFailure && error.status ? ` (HTTP ${error.status})` : '';
  return h(
    'div',
    { class: 'notice notice-error', role: 'alert' },
    h('p', {}, `${what} could not be loaded from ${state.backend.name}${status}: ${error.message}`),
  );
}

/** For the views only this service has: what a packit backend answers instead. */
function unsupported(error, what, unknown = '') {
  if (error instanceof ApiFailure && (error.status === 404 || error.status === 405) && state.backend !== state.backends[0]) {
    return h(
      'div',
      { class: 'notice', role: 'status' },
      h('p', {}, `${state.backend.name} answered ${error.status} (${error.message}): it has no ${what} view (a Fedora CI addition to packit-service's API)${unknown}.`),
      h(
        'p',
        {},
        'Its ',
        link('/pipelines', 'pipelines'),
        ', ',
        link('/jobs/koji', 'Koji builds'),
        ' and ',
        link('/jobs/testing-farm', 'test runs'),
        ' are available.',
      ),
    );
  }
  return failure(error, what);
}

// ---------------------------------------------------------------- views

function heading(title, ...extra) {
  document.title = `${title} · ${state.backend.name} · Fedora CI dashboard`;
  return h('h1', {}, title, ...extra);
}

function currentPage() {
  const page = Number.parseInt(new URLSearchParams(location.search).get('page') || '1', 10);
  return Number.isSafeInteger(page) && page > 0 ? page : 1;
}

function pager(path, page, count) {
  const previous = page > 1 ? h('a', { href: route(path, { page: page - 1 }), rel: 'prev' }, '← Newer') : null;
  const next = count >= PER_PAGE ? h('a', { href: route(path, { page: page + 1 }), rel: 'next' }, 'Older →') : null;
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, previous, h('span', {}, `Page ${page}`), next);
}

function table(caption, headers, rows, attrs = {}) {
  if (rows.length === 0) return h('p', { class: 'empty' }, `No ${caption.toLowerCase()}.`);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      attrs,
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, headers.map((header) => h('th', { scope: 'col' }, header)))),
      h('tbody', {}, rows),
    ),
  );
}

/**
 * One chip per job of a run: its kind (a test run's test name when the API gives one, so six
 * tests on one target read apart), target and state, a link to its detail page.
 */
function chips(kind, jobs, detail) {
  return (jobs || []).map((job) =>
    h(
      'li',
      {},
      h(
        'a',
        { class: `chip state-${stateOf(job.status)}`, href: route(`${detail}/${seg(job.packit_id)}`) },
        h('span', { class: 'chip-kind' }, job.fedora_ci_test ? String(job.fedora_ci_test) : kind),
        ` ${text(job.target)}: `,
        h('strong', {}, text(job.status)),
      ),
    ),
  );
}

async function pipelinesView() {
  const page = currentPage();
  const runs = await api(`/runs?page=${page}&per_page=${PER_PAGE}`);
  const rows = (runs || []).map((run) =>
    h(
      'tr',
      { 'data-run': run.merged_run_id },
      h('td', { 'data-label': 'Run' }, `#${text(run.merged_run_id)}`),
      h('td', { 'data-label': 'Trigger' }, trigger(run.trigger), ' ', run.trigger ? external(forgePrUrl(run.trigger.project_url, run.trigger.pr_id), '↗', { 'aria-label': 'on the forge', title: 'on the forge' }) : null),
      h('td', { 'data-label': 'Submitted' }, time(run.time_submitted)),
      h(
        'td',
        { 'data-label': 'Checks' },
        h(
          'ul',
          { class: 'chips' },
          chips('Koji', run.koji, '/jobs/koji'),
          chips('Test', run.test_run, '/jobs/testing-farm'),
          chips('Log Detective', run.log_detective, '/jobs/log-detective'),
        ),
      ),
    ),
  );
  return [
    heading('Pipelines'),
    h('p', { class: 'lead' }, 'One row per pull request and commit, newest first; each check per target.'),
    table('Pipelines', ['Run', 'Trigger', 'Submitted', 'Checks'], rows, { id: 'pipelines' }),
    pager('/pipelines', page, (runs || []).length),
  ];
}

function checkRow(check) {
  const links = [];
  const detail = { koji_build: '/jobs/koji', test_run: '/jobs/testing-farm', log_detective: '/jobs/log-detective' }[check.type];
  if (detail) links.push(link(`${detail}/${seg(check.packit_id)}`, 'details', { 'data-test': `${check.type}-detail` }));
  if (check.type === 'koji_build') {
    links.push(external(check.url, check.task_id ? `Koji task ${check.task_id}` : 'Koji task'));
    for (const [arch, url] of Object.entries(check.build_logs_urls || {})) {
      links.push(external(url, `${arch} log`));
    }
  } else if (check.type === 'test_run') {
    links.push(external(check.url, 'Testing Farm artifacts'));
  }
  const message = check.error_message || check.error_msg;
  return h(
    'li',
    { class: `check state-${check.state || stateOf(check.status)}` },
    h(
      'div',
      { class: 'check-head' },
      badge(check.status),
      ' ',
      h('strong', {}, text(check.check)),
      ` · ${text(check.target)} `,
      failureKind(check.failure_kind),
    ),
    message ? h('p', { class: 'check-message' }, typeof message === 'string' ? message : JSON.stringify(message)) : null,
    h('p', { class: 'links' }, links.filter(Boolean).flatMap((item, index) => (index ? [' · ', item] : [item]))),
    check.flag ? h('p', { class: 'flag' }, 'Flag: ', badge(check.flag.status), ` ${text(check.flag.comment)}`, check.flag.posted ? '' : check.flag.planned_only ? ' (planned in shadow mode, not sent to the pull request)' : ' (not yet on the pull request)') : null,
  );
}

async function pullRequestView(namespace, repo, prId) {
  let pr;
  try {
    const forge = new URLSearchParams(location.search).get('forge');
    const which = forge ? `?forge=${encodeURIComponent(forge)}` : '';
    pr = await api(`/pull-requests/${seg(namespace)}/${seg(repo)}/${seg(prId)}${which}`);
  } catch (error) {
    return [heading(`${namespace}/${repo} #${prId}`), unsupported(error, 'pull-request', ', or does not know this pull request')];
  }
  const commits = (pr.commits || []).map((commit, index) =>
    h(
      'section',
      { class: 'commit', 'aria-labelledby': `commit-${index}` },
      h(
        'h2',
        { id: `commit-${index}` },
        badge(commit.state),
        ' Commit ',
        h('code', { title: text(commit.commit_sha) }, short(commit.commit_sha)),
        index === 0 ? h('span', { class: 'tag' }, 'newest') : null,
      ),
      h('p', { class: 'meta' }, 'Submitted ', time(commit.time_submitted), ` · runs ${(commit.run_ids || []).map((id) => `#${id}`).join(', ') || '—'}`),
      (commit.checks || []).length
        ? h('ul', { class: 'checks' }, commit.checks.map(checkRow))
        : h('p', { class: 'empty' }, 'No checks ran for this commit.'),
    ),
  );
  return [
    heading(`${text(pr.repo_namespace)}/${text(pr.repo_name)} #${text(pr.pr_id)}`),
    h('p', { class: 'lead' }, external(pr.pr_url, 'The pull request on dist-git'), ' · failures first; infrastructure failures are not the package\u2019s fault.'),
    commits.length ? commits : h('p', { class: 'empty' }, 'Nothing ran for this pull request yet.'),
  ];
}

function listView(title, lead, path, apiPath, headers, row) {
  return async () => {
    const page = currentPage();
    const separator = apiPath.includes('?') ? '&' : '?';
    const items = await api(`${apiPath}${separator}page=${page}&per_page=${PER_PAGE}`);
    return [
      heading(title),
      h('p', { class: 'lead' }, lead),
      table(title, headers, (items || []).map(row)),
      pager(path, page, (items || []).length),
    ];
  };
}

function project(item) {
  return trigger({
    pr_id: item.pr_id,
    repo_namespace: item.repo_namespace,
    repo_name: item.repo_name,
    project_url: item.project_url,
    branch_name: item.branch_name,
    release: item.release,
  });
}

const kojiList = listView(
  'Koji builds',
  'Scratch builds, newest first.',
  '/jobs/koji',
  '/koji-builds',
  ['Build', 'Project', 'Target', 'Status', 'Koji task', 'Submitted'],
  (build) =>
    h(
      'tr',
      {},
      h('td', { 'data-label': 'Build' }, link(`/jobs/koji/${seg(build.packit_id)}`, `#${text(build.packit_id)}`)),
      h('td', { 'data-label': 'Project' }, project(build)),
      h('td', { 'data-label': 'Target' }, text(build.chroot)),
      h('td', { 'data-label': 'Status' }, badge(build.status)),
      h('td', { 'data-label': 'Koji task' }, external(build.web_url, text(build.task_id))),
      h('td', { 'data-label': 'Submitted' }, time(build.build_submitted_time)),
    ),
);

const testList = listView(
  'Test runs',
  'Testing Farm requests, newest first.',
  '/jobs/testing-farm',
  '/testing-farm/results',
  ['Run', 'Project', 'Test', 'Target', 'Status', 'Artifacts', 'Submitted'],
  (run) =>
    h(
      'tr',
      {},
      h('td', { 'data-label': 'Run' }, link(`/jobs/testing-farm/${seg(run.packit_id)}`, `#${text(run.packit_id)}`)),
      h('td', { 'data-label': 'Project' }, project(run)),
      // Packit's API has no fedora_ci_test: its runs show "—" here.
      h('td', { 'data-label': 'Test' }, text(run.fedora_ci_test)),
      h('td', { 'data-label': 'Target' }, text(run.target)),
      h('td', { 'data-label': 'Status' }, badge(run.status)),
      h('td', { 'data-label': 'Artifacts' }, external(run.web_url, 'artifacts')),
      h('td', { 'data-label': 'Submitted' }, time(run.submitted_time)),
    ),
);

const logDetectiveList = listView(
  'Log Detective runs',
  'Analyses of failed builds, newest first.',
  '/jobs/log-detective',
  '/log-detective',
  ['Run', 'Project', 'Target', 'Status', 'Build', 'Submitted'],
  (run) =>
    h(
      'tr',
      {},
      h('td', { 'data-label': 'Run' }, link(`/jobs/log-detective/${seg(run.packit_id)}`, `#${text(run.packit_id)}`)),
      h('td', { 'data-label': 'Project' }, project(run)),
      h('td', { 'data-label': 'Target' }, text(run.chroot)),
      h('td', { 'data-label': 'Status' }, badge(run.status)),
      h('td', { 'data-label': 'Build' }, run.koji_build_id ? link(`/jobs/koji/${seg(run.koji_build_id)}`, `#${run.koji_build_id}`) : text(run.target_build)),
      h('td', { 'data-label': 'Submitted' }, time(run.submitted_time)),
    ),
);

function idLinks(ids, path) {
  if (!Array.isArray(ids) || ids.length === 0) return null;
  return ids.map((id, index) => [index ? ', ' : '', link(`${path}/${seg(id)}`, `#${id}`)]);
}

async function kojiDetail(id) {
  const build = await api(`/koji-builds/${seg(id)}`);
  const logs = Object.entries(build.build_logs_urls || {}).map(([arch, url], index) => [index ? ' · ' : '', external(url, `${arch} build log`)]);
  return [
    heading(`Koji build #${id}`, ' ', badge(build.status)),
    facts([
      ['Project', project(build)],
      ['Commit', build.commit_sha ? h('code', {}, build.commit_sha) : null],
      ['Target', text(build.chroot)],
      ['Scratch', build.scratch === null || build.scratch === undefined ? null : build.scratch ? 'yes' : 'no'],
      ['Koji task', build.web_url ? external(build.web_url, `Task ${text(build.task_id)}`, { 'data-test': 'koji-task' }) : text(build.task_id)],
      ['Logs', logs.length ? logs : null],
      ['Submitted', time(build.build_submitted_time)],
      ['Started', time(build.build_start_time)],
      ['Finished', time(build.build_finished_time)],
      ['Error', build.error_message ? h('span', { class: 'error-text' }, typeof build.error_message === 'string' ? build.error_message : JSON.stringify(build.error_message)) : null],
      ['Log Detective', idLinks(build.log_detective_runs, '/jobs/log-detective')],
      ['Pipelines', Array.isArray(build.run_ids) && build.run_ids.length ? build.run_ids.map((run) => `#${run}`).join(', ') : null],
    ]),
    build.build_submission_stdout ? h('details', {}, h('summary', {}, 'Submission output'), h('pre', {}, String(build.build_submission_stdout))) : null,
  ];
}

async function testDetail(id) {
  const run = await api(`/testing-farm/${seg(id)}`);
  return [
    heading(`Test run #${id}`, ' ', badge(run.status)),
    facts([
      ['Project', project(run)],
      ['Test', run.fedora_ci_test ? text(run.fedora_ci_test) : null],
      ['Commit', run.commit_sha ? h('code', {}, run.commit_sha) : null],
      ['Target', text(run.chroot)],
      ['Artifacts', external(run.web_url, 'Testing Farm artifacts', { 'data-test': 'artifacts' }) || '—'],
      ['Koji builds', idLinks(run.koji_build_ids, '/jobs/koji')],
      ['Submitted', time(run.submitted_time)],
    ]),
  ];
}

async function logDetectiveDetail(id) {
  const run = await api(`/log-detective/${seg(id)}`);
  const response = run.log_detective_response;
  const explanation = response && response.explanation && response.explanation.text;
  return [
    heading(`Log Detective run #${id}`, ' ', badge(run.status)),
    facts([
      ['Project', project(run)],
      ['Commit', run.commit_sha ? h('code', {}, run.commit_sha) : null],
      ['Target', text(run.chroot)],
      ['Analysis', text(run.analysis_id)],
      ['Koji build', run.koji_build_id ? link(`/jobs/koji/${seg(run.koji_build_id)}`, `#${run.koji_build_id}`) : text(run.target_build)],
      ['Submitted', time(run.submitted_time)],
      ['Error', run.error_msg ? text(run.error_msg) : null],
    ]),
    explanation ? h('section', {}, h('h2', {}, 'Explanation'), h('p', { class: 'explanation' }, String(explanation))) : null,
    response ? h('details', {}, h('summary', {}, 'Full response'), h('pre', {}, JSON.stringify(response, null, 2))) : null,
  ];
}

const BROKER_STATES = {
  connected: ['success', 'connected'],
  reconnecting: ['failure', 'reconnecting'],
  never_connected: ['failure', 'never connected'],
};

/** The listener's broker state from a health answer (none when no listener runs there). */
function brokerFacts(broker) {
  if (!broker || typeof broker !== 'object') return [['Message broker', 'no listener in this process']];
  const [kind, label] = BROKER_STATES[broker.state] || ['pending', String(broker.state)];
  const shown = h('span', { class: `badge state-${kind}`, 'data-broker-state': String(broker.state) }, label);
  return [
    ['Message broker', shown],
    ['Broker', broker.broker ? h('code', {}, String(broker.broker)) : null],
    ['Connections', `${Number(broker.connections) || 0} made, ${Number(broker.connection_failures) || 0} failed or lost`],
    ['Connected since', broker.connected_since ? time(broker.connected_since) : null],
    ['Last broker error', broker.last_error ? h('span', { class: 'error-text' }, String(broker.last_error)) : null],
    ['Last error at', broker.last_error_at ? time(broker.last_error_at) : null],
  ].filter(([, value]) => value !== null);
}

function shadowFacts(shadow) {
  if (!shadow || typeof shadow !== 'object') return [];
  let shown;
  if (shadow.on === true) shown = h('span', { class: 'badge state-failure' }, `on: ${text(shadow.reason)}`);
  else if (shadow.on === false) shown = h('span', { class: 'badge state-success' }, 'off');
  else shown = text(shadow.reason);
  return [['Shadow mode', shown]];
}

/** The banner on every page while this service only records what it would do. */
async function shadowBanner() {
  let body = null;
  try {
    const response = await fetch('/api/healthz', { headers: { Accept: 'application/json' } });
    body = await response.json();
  } catch {
    return null;
  }
  const shadow = body && body.shadow_mode;
  if (!shadow || shadow.on !== true) return null;
  return h(
    'div',
    { class: 'notice notice-shadow', role: 'status', id: 'shadow-mode' },
    h('strong', {}, 'Shadow mode'),
    ` (${text(shadow.reason)}): Fedora CI only records the builds, tests, flags and comments it would make; none is sent, so flags shown as posted were only planned.`,
  );
}

async function queueView() {
  const parts = [heading('Queue and health')];
  const [health, system, queue] = await Promise.allSettled([api('/healthz'), api('/system'), api('/queue')]);
  const healthFacts = [];
  if (health.status === 'fulfilled') {
    healthFacts.push(['Database', badge(health.value && health.value.status === 'ok' ? 'success' : text(health.value && health.value.status))]);
    healthFacts.push(...shadowFacts(health.value && health.value.shadow_mode));
    healthFacts.push(...brokerFacts(health.value && health.value.broker));
  } else healthFacts.push(['Health', h('span', { class: 'error-text' }, health.reason.message)]);
  if (system.status === 'fulfilled' && system.value) {
    healthFacts.push(['Version', text(system.value.version)]);
    healthFacts.push(['Commit', system.value.commit ? h('code', {}, String(system.value.commit)) : '—']);
  }
  parts.push(h('section', { 'aria-labelledby': 'health' }, h('h2', { id: 'health' }, 'Health'), facts(healthFacts)));
  if (queue.status === 'rejected') {
    parts.push(unsupported(queue.reason, 'queue'));
    return parts;
  }
  const data = queue.value || {};
  const intake = data.intake || {};
  const lag = typeof intake.lag_seconds === 'number' ? `${intake.lag_seconds.toFixed(1)} s` : 'none waiting';
  parts.push(
    h(
      'section',
      { 'aria-labelledby': 'queues' },
      h('h2', { id: 'queues' }, 'Tasks'),
      table(
        'Queues',
        ['Queue', 'Waiting', 'Scheduled', 'Running', 'Dead'],
        (data.queues || []).map((row) =>
          h(
            'tr',
            {},
            h('td', { 'data-label': 'Queue' }, text(row.queue)),
            h('td', { 'data-label': 'Waiting' }, text(row.waiting)),
            h('td', { 'data-label': 'Scheduled' }, text(row.scheduled)),
            h('td', { 'data-label': 'Running' }, text(row.running)),
            h('td', { 'data-label': 'Dead' }, text(row.dead)),
          ),
        ),
      ),
      facts([
        ['Intake lag', lag],
        ['Messages', Object.entries(intake.outcomes || {}).map(([outcome, count]) => `${outcome}: ${count}`).join(' · ') || '—'],
      ]),
    ),
    h(
      'section',
      { 'aria-labelledby': 'dead' },
      h('h2', { id: 'dead' }, 'Dead tasks'),
      table(
        'Dead tasks',
        ['Task', 'Queue', 'Attempts', 'Last error', 'Died'],
        (data.dead_tasks || []).map((task) =>
          h(
            'tr',
            {},
            h('td', { 'data-label': 'Task' }, `${text(task.name)} #${text(task.id)}`),
            h('td', { 'data-label': 'Queue' }, text(task.queue)),
            h('td', { 'data-label': 'Attempts' }, text(task.attempts)),
            h('td', { 'data-label': 'Last error', class: 'error-text' }, text(task.last_error)),
            h('td', { 'data-label': 'Died' }, time(task.died_at)),
          ),
        ),
      ),
    ),
  );
  return parts;
}

function notFoundView() {
  return [heading('No such page'), h('p', {}, 'This dashboard has no view at this address. ', link('/pipelines', 'See the pipelines'), '.')];
}

// ---------------------------------------------------------------- routing

const ROUTES = [
  [/^\/(?:pipelines)?$/, pipelinesView, 'pipelines', 'Pipelines'],
  [/^\/pull-requests\/([^/]+)\/([^/]+)\/([^/]+)$/, pullRequestView, 'pipelines', 'Pull request'],
  [/^\/jobs\/koji$/, kojiList, 'koji', 'Koji builds'],
  [/^\/jobs\/koji\/([^/]+)$/, kojiDetail, 'koji', 'Koji build'],
  [/^\/jobs\/testing-farm$/, testList, 'testing-farm', 'Test runs'],
  [/^\/jobs\/testing-farm\/([^/]+)$/, testDetail, 'testing-farm', 'Test run'],
  [/^\/jobs\/log-detective$/, logDetectiveList, 'log-detective', 'Log Detective runs'],
  [/^\/jobs\/log-detective\/([^/]+)$/, logDetectiveDetail, 'log-detective', 'Log Detective run'],
  [/^\/queue$/, queueView, 'queue', 'Queue'],
];

function decode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** Where the context selector leads: ids differ per backend, so a detail page becomes its list. */
function switchTarget(path) {
  if (path.startsWith('/pull-requests/')) return '/pipelines';
  const job = path.match(/^(\/jobs\/[a-z-]+)\/[^/]+$/);
  return job ? job[1] : path;
}

function setUpSelector(unknown) {
  const select = document.getElementById('backend');
  select.replaceChildren(...state.backends.map((backend) => h('option', { value: backend.name, selected: backend === state.backend }, backend.name)));
  select.disabled = state.backends.length < 2;
  select.addEventListener('change', () => {
    const chosen = state.backends.find((backend) => backend.name === select.value);
    if (!chosen) return;
    state.backend = chosen;
    location.assign(route(switchTarget(location.pathname)));
  });
  document.getElementById('api-base').textContent = state.backend.api_url;
  return unknown ? h('p', { class: 'notice', role: 'status' }, `There is no backend named \u201c${unknown}\u201d here; showing ${state.backend.name}.`) : null;
}

function setUpNav(section) {
  for (const anchor of document.querySelectorAll('#nav a, #home')) {
    const path = new URL(anchor.href).pathname;
    anchor.setAttribute('href', route(path));
    if (anchor.dataset.view === section) anchor.setAttribute('aria-current', 'page');
    else anchor.removeAttribute('aria-current');
  }
}

async function loadBackends() {
  try {
    const response = await fetch('/api/dashboard/backends', { headers: { Accept: 'application/json' } });
    const body = await response.json();
    const backends = (body && Array.isArray(body.backends) ? body.backends : []).filter(
      (backend) => backend && typeof backend.name === 'string' && typeof backend.api_url === 'string',
    );
    if (backends.length) state.backends = backends;
  } catch {
    state.backends = DEFAULT_BACKENDS;
  }
}

async function main() {
  const banner = shadowBanner();
  await loadBackends();
  const wanted = new URLSearchParams(location.search).get('backend');
  state.backend = state.backends.find((backend) => backend.name === wanted) || state.backends[0];
  const notice = setUpSelector(wanted && state.backend.name !== wanted ? wanted : null);
  document.body.dataset.backend = state.backend.name;

  const view = document.getElementById('view');
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const match = ROUTES.map(([pattern, render, section, title]) => [path.match(pattern), render, section, title]).find(([found]) => found);
  let content;
  if (!match) {
    setUpNav(null);
    content = notFoundView();
  } else {
    const [found, render, section, title] = match;
    setUpNav(section);
    try {
      content = await render(...found.slice(1).map(decode));
    } catch (error) {
      content = [heading(title), failure(error, title)];
    }
  }
  view.replaceChildren(h('div', {}, await banner, notice, content));
  document.body.dataset.ready = 'true';
}

main();
