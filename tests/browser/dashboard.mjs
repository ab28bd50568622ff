// The dashboard in real headless Chromium, driven by playwright-core.
//
// Run by tests/dashboard_browser.rs, which seeds two databases, starts two fedora-ci API
// instances (the second stands in for Packit) and passes, in the environment:
//   DASHBOARD_URL  the first instance, configured with both backends
//   OTHER_BACKEND  the second backend's name in the context selector
//   EXPECT         JSON: what the seeded data must show
//   SCREENSHOTS    where to save screenshots
//   CHROMIUM       the browser (default /usr/bin/chromium)
// Prints one line per check and exits non-zero if any failed.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = requireEnv('DASHBOARD_URL').replace(/\/+$/, '');
const other = requireEnv('OTHER_BACKEND');
const expect = JSON.parse(requireEnv('EXPECT'));
const screenshots = requireEnv('SCREENSHOTS');
mkdirSync(screenshots, { recursive: true });

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
}

let failed = 0;
function check(condition, message) {
  if (condition) console.log(`ok - ${message}`);
  else {
    failed += 1;
    console.log(`FAIL - ${message}`);
  }
}

function equal(actual, wanted, message) {
  check(actual === wanted, `${message} (${JSON.stringify(actual)} ${actual === wanted ? '==' : '!='} ${JSON.stringify(wanted)})`);
}

/** Problems the page reported: uncaught errors, CSP violations, failed loads other than the API's 404s. */
const problems = [];
function watch(page) {
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // A 404 from an API is what some checks provoke on purpose; the page says so itself.
    if (/Failed to load resource: the server responded with a status of 404/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  page.setDefaultTimeout(15000);
  return page;
}

async function ready(page) {
  await page.waitForSelector('body[data-ready="true"]');
}

async function shot(page, name) {
  const path = join(screenshots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`# screenshot ${path}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Root in a container has no user namespaces for Chromium's sandbox.
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = watch(await context.newPage());

  // 1. The pipelines view of this service.
  await page.goto(`${base}/pipelines`);
  await ready(page);
  const rows = page.locator('#pipelines tbody tr');
  equal(await rows.count(), expect.pipelines, 'pipelines: one row per pull request and commit');
  const pipelinesText = await page.locator('main').innerText();
  check(pipelinesText.includes(`${expect.repo} #${expect.pr_id}`), `pipelines: shows ${expect.repo} #${expect.pr_id}`);
  check((await page.locator('#pipelines .chip.state-failure').count()) > 0, 'pipelines: a failed check is marked failure');
  // Test chips name their test (the API's fedora_ci_test), not "Test" for every one.
  const chipTexts = (await page.locator('#pipelines .chip').allInnerTexts()).map((chip) => chip.replace(/\s+/g, ' ').trim());
  for (const wanted of expect.test_chips) {
    check(chipTexts.includes(wanted), `pipelines: chip "${wanted}" (${JSON.stringify(chipTexts)})`);
  }
  equal(await page.locator('#backend').inputValue(), 'Fedora CI', 'selector: this service by default');
  equal(await page.locator('#nav a[aria-current="page"]').innerText(), 'Pipelines', 'navigation marks the view');
  await shot(page, '01-pipelines');

  // 2. One pull request: failures first, Koji and Testing Farm links, failure kinds.
  await page.locator('a[data-test="pr-link"]').first().click();
  // The link names the forge too: Pagure and Forgejo may both have this repository and number.
  await page.waitForURL(new RegExp(`/pull-requests/rpms/${expect.repo}/${expect.pr_id}\\?forge=src\\.fedoraproject\\.org$`));
  await ready(page);
  check((await page.locator('h1').innerText()).includes(`rpms/${expect.repo} #${expect.pr_id}`), 'pull request: title names it');
  const newest = page.locator('section.commit').first();
  check((await newest.locator('h2').innerText()).includes(expect.new_sha.slice(0, 7)), 'pull request: newest commit first');
  const firstCheck = newest.locator('li.check').first();
  check(((await firstCheck.getAttribute('class')) || '').includes('state-failure'), 'pull request: a failure is listed first');
  const prText = await page.locator('main').innerText();
  check(prText.includes('package failure'), 'pull request: package failures are told');
  check(prText.includes('infrastructure failure'), 'pull request: infrastructure failures are told apart');
  const kojiTask = `https://koji.fedoraproject.org/koji/taskinfo?taskID=${expect.failed_task_id}`;
  equal(await newest.locator(`a[href="${kojiTask}"]`).count(), 1, 'pull request: direct link to the Koji task');
  check((await newest.locator('a', { hasText: 'x86_64 log' }).count()) > 0, 'pull request: link to the build log');
  const artifacts = await newest.locator('a', { hasText: 'Testing Farm artifacts' }).first().getAttribute('href');
  check((artifacts || '').startsWith('https://artifacts.dev.testing-farm.io/'), `pull request: Testing Farm artifacts link (${artifacts})`);
  await shot(page, '02-pull-request');

  // 3. Follow the Koji link to the job detail page (where flags point).
  await newest.locator('a[data-test="koji_build-detail"]').first().click();
  await page.waitForURL(`**/jobs/koji/${expect.failed_build}`);
  await ready(page);
  equal(await page.locator('a[data-test="koji-task"]').getAttribute('href'), kojiTask, 'Koji build page: links the Koji task');
  check((await page.locator('main').innerText()).includes('RPM build failed'), 'Koji build page: shows the error');
  await shot(page, '03-koji-build');

  // The test-run list names each run's test.
  await page.goto(`${base}/jobs/testing-farm`);
  await ready(page);
  const failedRow = page.locator('tbody tr', { has: page.locator(`a[href="/jobs/testing-farm/${expect.failed_test}"]`) });
  equal(await failedRow.locator('td[data-label="Test"]').innerText(), 'rpminspect', 'test runs: the Test column names the test');

  // Flags link to /jobs/testing-farm/{id} and /jobs/log-detective/{id}: those render too.
  await page.goto(`${base}/jobs/testing-farm/${expect.failed_test}`);
  await ready(page);
  check((await page.locator('h1').innerText()).includes(`Test run #${expect.failed_test}`), 'test run page renders');
  check(((await page.locator('a[data-test="artifacts"]').getAttribute('href')) || '').startsWith('https://artifacts.dev.testing-farm.io/'), 'test run page: artifacts link');
  await page.goto(`${base}/jobs/log-detective/${expect.log_detective}`);
  await ready(page);
  check((await page.locator('main').innerText()).includes('missing BuildRequires'), 'Log Detective page: shows the explanation');

  // 4. Switch the context selector to the second backend: the view follows, the URL keeps it.
  await page.goto(`${base}/jobs/koji/${expect.failed_build}`);
  await ready(page);
  await Promise.all([page.waitForURL(/backend=/), page.locator('#backend').selectOption(other)]);
  await ready(page);
  const switched = new URL(page.url());
  equal(switched.searchParams.get('backend'), other, 'URL carries the chosen backend');
  equal(switched.pathname, '/jobs/koji', 'a detail page switches to its list (ids differ per backend)');
  equal(await page.locator('#backend').inputValue(), other, 'selector shows the chosen backend');
  const otherKoji = await page.locator('main').innerText();
  check(otherKoji.includes(expect.other_repo), `second backend: its Koji builds (${expect.other_repo})`);
  check(!otherKoji.includes(expect.repo), `second backend: none of the first's (${expect.repo})`);
  equal(
    await page.locator(`a[href="https://koji.fedoraproject.org/koji/taskinfo?taskID=${expect.other_task_id}"]`).count(),
    1,
    'second backend: its Koji task',
  );
  await shot(page, '04-second-backend-koji');

  await page.locator('#nav a', { hasText: 'Pipelines' }).click();
  await page.waitForURL(/\/pipelines\?backend=/);
  await ready(page);
  equal(await page.locator('#pipelines tbody tr').count(), 1, 'second backend: its one pipeline');
  check((await page.locator('main').innerText()).includes(`${expect.other_repo} #${expect.other_pr_id}`), 'second backend: its pull request');
  const prLink = await page.locator('a[data-test="pr-link"]').first().getAttribute('href');
  check((prLink || '').includes(`backend=${encodeURIComponent(other)}`), `links keep the backend (${prLink})`);
  await shot(page, '05-second-backend-pipelines');

  // A shared link opens on the same backend.
  const shared = watch(await context.newPage());
  await shared.goto(`${base}/pipelines?backend=${encodeURIComponent(other)}`);
  await ready(shared);
  equal(await shared.locator('#backend').inputValue(), other, 'a shared link selects its backend');
  check((await shared.locator('main').innerText()).includes(expect.other_repo), 'a shared link shows that backend');
  // A view that backend does not know degrades to a notice.
  await shared.goto(`${base}/pull-requests/rpms/${expect.repo}/${expect.pr_id}?backend=${encodeURIComponent(other)}`);
  await ready(shared);
  check((await shared.locator('main .notice').count()) === 1, 'unknown pull request on the second backend: a notice, no crash');
  await shared.close();

  // And back: the default backend leaves no parameter.
  await Promise.all([page.waitForURL((url) => !url.search.includes('backend=')), page.locator('#backend').selectOption('Fedora CI')]);
  await ready(page);
  check((await page.locator('main').innerText()).includes(expect.repo), 'back on this service: its data');

  // 5. Queue and health.
  await page.goto(`${base}/queue`);
  await ready(page);
  const queueText = await page.locator('main').innerText();
  check(queueText.includes('Pagure answered 500'), 'queue: dead task with its error');
  check(queueText.includes('success'), 'health: the database answers');
  await shot(page, '06-queue');

  // 6. Phone width: nothing wider than the screen.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, deviceScaleFactor: 2 });
  const small = watch(await phone.newPage());
  await small.goto(`${base}/pull-requests/rpms/${expect.repo}/${expect.pr_id}`);
  await ready(small);
  const widths = await small.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(widths[0] <= widths[1], `phone: no horizontal scrolling (${widths[0]} <= ${widths[1]})`);
  await shot(small, '07-phone-pull-request');
  await small.goto(`${base}/pipelines`);
  await ready(small);
  const pipelineWidths = await small.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(pipelineWidths[0] <= pipelineWidths[1], `phone: pipelines fit (${pipelineWidths[0]} <= ${pipelineWidths[1]})`);
  await shot(small, '08-phone-pipelines');
  await phone.close();

  check(problems.length === 0, `no page errors, CSP violations or failed loads${problems.length ? `: ${problems.join(' | ')}` : ''}`);
} catch (error) {
  failed += 1;
  console.log(`FAIL - ${error.stack || error}`);
} finally {
  await browser.close();
}

console.log(failed ? `# ${failed} check(s) failed` : '# all checks passed');
process.exit(failed ? 1 : 0);
