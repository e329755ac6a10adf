// web.test.mjs -- the web page in a real browser (ctest it_web): Debian's
// chromium, headless, driven by playwright-core, against a `coffer server`
// this script starts on 127.0.0.1 with a free port.
//
// Usage: node web.test.mjs COFFER TMPDIR NODE_MODULES_PARENT SHOTS_DIR
// It logs in (a wrong password first), makes a folder, uploads a file with
// the file picker and one by drag and drop, sorts, renames, moves, deletes
// and restores from the trash, downloads and compares the bytes, uploads a
// second version and restores the first, empties the trash and brings the
// emptied file back from Recently emptied, makes an S3
// access key (used for a signed S3 request, then revoked), sees the Admin
// view (filers, the replica deficit, a finished audit job, events, users),
// administers users and groups there (a new user and group, the groups
// trash, a folder's permissions set and removed; the new user then logs in
// in a browser context of its own and may read but not write), logs out, and does the same basics at a phone's size (390x844). Screenshots go to
// SHOTS_DIR. Any page error, console error (a Content-Security-Policy
// violation is one) or failed request of the page's own files fails it.
// Exits 0 on success, 1 on failure, 77 when chromium is missing.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const [coffer, tmpRoot, nodeDir, shots] = process.argv.slice(2);
const CHROMIUM = '/usr/bin/chromium';
const SLOW = Number(process.env.COFFER_TEST_TIMEOUT_MULTIPLIER) || 1; // ASan builds: 3
const DEADLINE_MS = 80000 * SLOW;

if (!coffer || !tmpRoot || !nodeDir || !shots) {
  console.error('usage: node web.test.mjs COFFER TMPDIR NODE_MODULES_PARENT SHOTS_DIR');
  process.exit(2);
}
if (!fs.existsSync(CHROMIUM)) {
  console.log(`it_web: SKIPPED: ${CHROMIUM} is missing (scripts/deps.sh installs the chromium package)`);
  process.exit(77);
}
const { chromium } = createRequire(path.resolve(nodeDir, 'package.json'))('playwright-core');

fs.mkdirSync(tmpRoot, { recursive: true });
fs.mkdirSync(shots, { recursive: true });
const tmp = fs.mkdtempSync(path.join(tmpRoot, 'web-'));
process.env.TMPDIR = tmp; // the browser's throw-away profile goes here too

let server = null;
let browser = null;

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

function step(what) {
  console.log(`it_web: ${what}`);
}

// Start `coffer server`; resolve {url, password} from its first lines.
function startServer() {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(path.join(tmp, 'server.err'), 'w');
    server = spawn(coffer, ['server', '--data', path.join(tmp, 'data'), '--port', '0',
      '--filers', '2', '--replicas', '2', '--host', '127.0.0.1'],
    { stdio: ['ignore', 'pipe', out] });
    let text = '';
    const timer = setTimeout(() => reject(new Error(`coffer server not ready in ${30 * SLOW} s:\n${text}`)), 30000 * SLOW);
    server.on('exit', (code) => reject(new Error(`coffer server exited ${code}:\n${text}`)));
    server.stdout.on('data', (d) => {
      text += d.toString();
      const url = /coffer gateway listening on (\S+)/.exec(text);
      const pw = /client demo user admin password (\S+)/.exec(text);
      const app = /coffer app listening on (\S+)/.exec(text);
      const keys = /coffer server keys: .* operator (\S+)/.exec(text);
      if (url && pw && app && keys) {
        clearTimeout(timer);
        resolve({ url: url[1], password: pw[1], app: app[1], operatorKey: keys[1] });
      }
    });
  });
}

// Watch a page for what must not happen: errors thrown, console errors
// (CSP violations are reported there), the page's own files failing.
function watch(page, problems) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('response', (r) => {
    const u = new URL(r.url());
    if ((u.pathname === '/' || u.pathname.startsWith('/ui/')) && r.status() >= 400)
      problems.push(`${r.status()} for ${u.pathname}`);
  });
}

async function login(page, url, user, password) {
  await page.goto(url);
  await page.locator('#login').waitFor();
  await page.fill('#login-client', 'demo');
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.locator('#files').waitFor();
}

const row = (page, name) => page.locator(`#rows tr[data-name="${name}"]`);

async function action(page, name, label) {
  await row(page, name).locator('button.act').click();
  await page.locator('#menu-items button', { hasText: label }).click();
}

async function answer(page, value) {
  await page.locator('#ask').waitFor();
  if (value !== null) await page.fill('#ask-input', value);
  await page.click('#ask-ok');
  await page.locator('#ask').waitFor({ state: 'hidden' });
}

// Run `coffer ARGS...` to its end; reject unless it exits 0.
function cli(...args) {
  return new Promise((resolve, reject) => {
    const p = spawn(coffer, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`coffer ${args.join(' ')}: exit ${code}`))));
  });
}

// GET / (ListBuckets) on the S3 endpoint, signed with AWS Signature
// Version 4 in the header: {status, body}.
async function s3ListBuckets(endpoint, region, id, secret) {
  const sha = (x) => createHash('sha256').update(x).digest('hex');
  const hmac = (k, x) => createHmac('sha256', k).update(x).digest();
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const host = new URL(endpoint).host;
  const payload = sha('');
  const signed = 'host;x-amz-content-sha256;x-amz-date';
  const canonical = ['GET', '/', '', `host:${host}\nx-amz-content-sha256:${payload}\nx-amz-date:${amzDate}\n`,
    signed, payload].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha(canonical)].join('\n');
  let k = hmac(`AWS4${secret}`, day);
  for (const part of [region, 's3', 'aws4_request']) k = hmac(k, part);
  const sig = createHmac('sha256', k).update(toSign).digest('hex');
  const r = await fetch(`${endpoint}/`, {
    headers: {
      'x-amz-date': amzDate,
      'x-amz-content-sha256': payload,
      Authorization: `AWS4-HMAC-SHA256 Credential=${id}/${scope}, SignedHeaders=${signed}, Signature=${sig}`,
    },
  });
  return { status: r.status, body: await r.text() };
}

async function downloadBytes(page, trigger) {
  const [dl] = await Promise.all([page.waitForEvent('download'), trigger()]);
  const file = path.join(tmp, `dl-${Date.now()}`);
  await dl.saveAs(file);
  return { bytes: fs.readFileSync(file), name: dl.suggestedFilename() };
}

// The files are served with their types, the security headers and
// revalidated caching; other names and methods are refused.
async function headers(url) {
  step('the page\'s files: types, Content-Security-Policy, ETag and 304');
  const want = { '/': 'text/html', '/ui/app.js': 'text/javascript', '/ui/app.css': 'text/css',
    '/ui/icon.svg': 'image/svg+xml' };
  for (const [p, type] of Object.entries(want)) {
    const r = await fetch(url + p);
    check(r.status === 200, `${p}: ${r.status}`);
    check(r.headers.get('content-type').startsWith(type), `${p}: ${r.headers.get('content-type')}`);
    const csp = r.headers.get('content-security-policy') || '';
    check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), `${p}: CSP ${csp}`);
    check(r.headers.get('x-content-type-options') === 'nosniff', `${p}: nosniff`);
    check(r.headers.get('cache-control') === 'no-cache', `${p}: Cache-Control`);
    const etag = r.headers.get('etag');
    const again = await fetch(url + p, { headers: { 'If-None-Match': etag } });
    check(again.status === 304, `${p} with its ETag: ${again.status}`);
  }
  check((await fetch(`${url}/ui/nothing.js`)).status === 404, 'an unknown file is 404');
  check((await fetch(`${url}/ui/app.js`, { method: 'POST' })).status === 405, 'POST is 405');
}

async function desktop(url, password, srv) {
  const problems = [];
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000 * SLOW);
  watch(page, problems);

  step('the login page, a wrong password shown as an error');
  await page.goto(url);
  await page.locator('#login').waitFor();
  await page.screenshot({ path: path.join(shots, 'login-desktop.png') });
  await page.fill('#login-client', 'demo');
  await page.fill('#login-user', 'admin');
  await page.fill('#login-password', 'not the password');
  // The page reports the 401 in the form; the browser logs the failed
  // request itself as a console error, which is expected here.
  await page.click('#login-submit');
  await page.locator('#login-error', { hasText: 'Wrong client, user or password' }).waitFor();
  problems.length = 0;

  step('log in');
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.locator('#files').waitFor();
  check((await page.textContent('#whoami')).includes('admin'), 'whoami names the user');

  step('make a folder and open it');
  await page.click('#mkdir');
  await answer(page, 'docs');
  await row(page, 'docs').waitFor();
  step('a folder\'s permissions: group staff reads the root, nothing set on docs');
  await page.click('#perms-here');
  await page.locator('#perms-rows tr[data-kind="group"][data-who="staff"]', { hasText: 'read' }).waitFor();
  await page.screenshot({ path: path.join(shots, 'perms-desktop.png') });
  await page.click('#perms-close');
  await action(page, 'docs', 'Permissions');
  await page.locator('#perms-none').waitFor();
  await page.click('#perms-close');
  await row(page, 'docs').locator('a.name').click();
  await page.locator('#crumbs [aria-current]', { hasText: 'docs' }).waitFor();
  check(page.url().endsWith('#/files/docs'), 'the location names the folder');

  step('upload with the file picker');
  const data = randomBytes(300 * 1024 + 7);
  await page.setInputFiles('#pick', { name: 'hello.bin', mimeType: 'application/octet-stream', buffer: data });
  await row(page, 'hello.bin').waitFor();
  check((await row(page, 'hello.bin').locator('td.c-size').textContent()) === '300 KiB', 'size in KiB');

  step('upload by drag and drop');
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped bytes\n'], 'dropped.txt', { type: 'text/plain' }));
    const target = document.getElementById('rows');
    for (const type of ['dragenter', 'dragover', 'drop'])
      target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await row(page, 'dropped.txt').waitFor();
  check(await page.locator('#drop').isHidden(), 'the drop overlay is gone after the drop');

  step('sort by size');
  await page.click('#list button[data-sort="size"]');
  let names = await page.locator('#rows tr').evaluateAll((trs) => trs.map((t) => t.dataset.name));
  check(names.join() === 'dropped.txt,hello.bin', `ascending by size: ${names}`);
  await page.click('#list button[data-sort="size"]');
  names = await page.locator('#rows tr').evaluateAll((trs) => trs.map((t) => t.dataset.name));
  check(names.join() === 'hello.bin,dropped.txt', `descending by size: ${names}`);
  await page.screenshot({ path: path.join(shots, 'files-desktop.png') });

  step('rename');
  await action(page, 'hello.bin', 'Rename');
  await answer(page, 'renamed.bin');
  await row(page, 'renamed.bin').waitFor();
  await row(page, 'hello.bin').waitFor({ state: 'detached' });

  step('a name that is taken: the error stays in the dialog');
  await action(page, 'dropped.txt', 'Rename');
  await page.fill('#ask-input', 'renamed.bin');
  await page.click('#ask-ok');
  await page.locator('#ask-error:not([hidden])').waitFor();
  await page.screenshot({ path: path.join(shots, 'error-desktop.png') });
  await page.click('#ask-cancel');
  problems.length = 0; // the 409 is logged by the browser, as expected

  step('move to the root folder');
  await action(page, 'dropped.txt', 'Move');
  await answer(page, '/');
  await row(page, 'dropped.txt').waitFor({ state: 'detached' });

  step('delete to the trash and restore');
  await action(page, 'renamed.bin', 'Delete');
  await answer(page, null);
  await row(page, 'renamed.bin').waitFor({ state: 'detached' });
  await page.click('#nav-trash');
  const tr = page.locator('#trash-rows tr[data-name="renamed.bin"]');
  await tr.waitFor();
  await page.screenshot({ path: path.join(shots, 'trash-desktop.png') });
  await tr.locator('button', { hasText: 'Restore' }).click();
  await tr.waitFor({ state: 'detached' });
  await page.goBack();
  await row(page, 'renamed.bin').waitFor();

  step('download and compare the bytes');
  let got = await downloadBytes(page, () => row(page, 'renamed.bin').locator('a.name').click());
  check(got.name === 'renamed.bin', `download name ${got.name}`);
  check(Buffer.compare(got.bytes, data) === 0, 'downloaded bytes equal the uploaded ones');

  step('a second version, then the first restored');
  const data2 = randomBytes(2000);
  await page.setInputFiles('#pick', { name: 'renamed.bin', mimeType: 'application/octet-stream', buffer: data2 });
  await page.locator('#rows tr[data-name="renamed.bin"] td.c-size', { hasText: '2.0 KiB' }).waitFor();
  await action(page, 'renamed.bin', 'Versions');
  await page.locator('#versions-rows tr').nth(1).waitFor();
  check((await page.locator('#versions-rows tr').count()) === 2, 'two versions');
  await page.screenshot({ path: path.join(shots, 'versions-desktop.png') });
  got = await downloadBytes(page, () =>
    page.locator('#versions-rows tr[data-version="1"] button', { hasText: 'Download' }).click());
  check(Buffer.compare(got.bytes, data) === 0, 'version 1 downloads its own bytes');
  await page.locator('#versions-rows tr[data-version="1"] button', { hasText: 'Restore' }).click();
  await page.locator('#versions-rows tr[data-version="3"].current').waitFor();
  await page.click('#versions-close');
  await page.locator('#rows tr[data-name="renamed.bin"] td.c-size', { hasText: '300 KiB' }).waitFor();

  step('copy, then empty the trash');
  await action(page, 'renamed.bin', 'Copy');
  await answer(page, '/docs/copy.bin');
  await row(page, 'copy.bin').waitFor();
  await action(page, 'copy.bin', 'Delete');
  await answer(page, null);
  await page.click('#nav-trash');
  await page.locator('#trash-rows tr[data-name="copy.bin"]').waitFor();
  await page.click('#empty-trash');
  await answer(page, null);
  await page.locator('#trash-none').waitFor();

  step('bring the emptied copy back from Recently emptied');
  const emptied = page.locator('#emptied-rows tr[data-name="copy.bin"]');
  await emptied.waitFor();
  await page.screenshot({ path: path.join(shots, 'emptied-desktop.png') });
  await emptied.locator('button', { hasText: 'Restore' }).click();
  await page.locator('.toast', { hasText: 'copy.bin restored' }).waitFor();
  await page.locator('#emptied-none').waitFor();
  // Back in /docs; deleted and emptied again, out of the phone's pages.
  await page.click('#nav-files');
  await row(page, 'docs').locator('a.name').click();
  await action(page, 'copy.bin', 'Delete');
  await answer(page, null);
  await page.click('#nav-trash');
  await page.locator('#trash-rows tr[data-name="copy.bin"]').waitFor();
  await page.click('#empty-trash');
  await answer(page, null);
  await page.locator('#trash-none').waitFor();
  await emptied.waitFor();

  step('S3 access keys: make one, its secret shown once with the endpoint, copy it');
  await page.click('#nav-keys');
  await page.locator('#keys-none').waitFor();
  await page.locator('#keys-where code').first().waitFor();
  await page.click('#key-new');
  await page.locator('#newkey').waitFor();
  const keyId = (await page.textContent('#newkey-id')).trim();
  const secret = (await page.textContent('#newkey-secret')).trim();
  const endpoint = (await page.textContent('#newkey-endpoint')).trim();
  const region = (await page.textContent('#newkey-region')).trim();
  check(/^[A-Z0-9]{16,}$/.test(keyId) && secret.length >= 32, `key ${keyId}, secret of ${secret.length}`);
  check(endpoint.startsWith('http://127.0.0.1:') && endpoint !== url && region === 'us-east-1',
    `endpoint ${endpoint}, region ${region}`);
  await page.click('#newkey button[data-copy="newkey-secret"]');
  await page.locator('#newkey button[data-copy="newkey-secret"]', { hasText: 'Copied' }).waitFor();
  check(await page.evaluate(() => navigator.clipboard.readText()) === secret, 'the secret is on the clipboard');
  await page.screenshot({ path: path.join(shots, 'newkey-desktop.png') });
  await page.click('#newkey-close');
  // The dialog's close event, which clears the secret, is dispatched as a task of its own.
  await page.waitForFunction(() => document.querySelector('#newkey-secret').textContent === '',
    null, { timeout: 5000 }).catch(() => {});
  check((await page.textContent('#newkey-secret')) === '', 'the secret leaves the page with the dialog');
  const keyRow = page.locator(`#key-rows tr[data-key="${keyId}"]`);
  await keyRow.waitFor();
  check(await page.locator('#keys-none').isHidden(), 'the list is not empty');
  await page.screenshot({ path: path.join(shots, 'keys-desktop.png') });

  step('the new key signs an S3 request (ListBuckets) at the endpoint shown');
  let s3r = await s3ListBuckets(endpoint, region, keyId, secret);
  check(s3r.status === 200 && s3r.body.includes('<Name>docs</Name>'), `ListBuckets: ${s3r.status} ${s3r.body}`);

  step('revoke it, with confirmation; S3 refuses it then');
  await keyRow.locator('button', { hasText: 'Revoke' }).click();
  await answer(page, null);
  await keyRow.waitFor({ state: 'detached' });
  await page.locator('#keys-none').waitFor();
  s3r = await s3ListBuckets(endpoint, region, keyId, secret);
  check(s3r.status === 403 && s3r.body.includes('InvalidAccessKeyId'), `revoked key: ${s3r.status} ${s3r.body}`);

  step('an audit run by the operator (CLI), for the Admin view\'s jobs');
  await cli('admin', 'audit', '--app', srv.app, '--key-file', srv.operatorKey);

  step('the Admin view: filers with fill bars, the replica deficit, jobs, instances, events with filters');
  await page.click('#nav-admin');
  await page.locator('#filer-rows tr').nth(1).waitFor();
  check((await page.locator('#filer-rows tr').count()) === 2, 'two filers');
  check((await page.locator('#filer-rows meter').count()) === 2, 'a fill bar per filer');
  await page.locator('#filer-rows .chip', { hasText: 'online' }).first().waitFor();
  await page.locator('#instance-rows tr[data-role="gateway"]').first().waitFor();
  await page.locator('#deficit[data-deficit="0"] .chip.ok', { hasText: '0 objects' }).waitFor();
  const audit = page.locator('#job-rows tr[data-kind="audit"][data-state="done"]');
  await audit.waitFor();
  check(await audit.locator('progress').evaluate((p) => p.value === 100), 'the finished audit\'s bar is full');
  check((await audit.locator('.fill-text').textContent()).includes('objects'), 'progress counts objects');
  await page.locator('#event-rows tr').first().waitFor();
  await page.fill('#ev-kind', 'filer.status');
  await page.click('#event-filters button[type="submit"]');
  // The unfiltered rows stay until the filtered answer replaces them: wait
  // (bounded) for a list of filer.status rows only.
  const filtered = await page.waitForFunction(() => {
    const trs = [...document.querySelectorAll('#event-rows tr')];
    return trs.length > 0 && trs.every((t) => t.dataset.kind === 'filer.status');
  }, null, { timeout: 15000 }).then(() => true, () => false);
  const kinds = await page.locator('#event-rows tr').evaluateAll((trs) => trs.map((t) => t.dataset.kind));
  check(filtered, `only filer.status: ${kinds}`);
  await page.screenshot({ path: path.join(shots, 'admin-desktop.png'), fullPage: true });
  await page.locator('#user-rows tr[data-user="admin"] .chip', { hasText: 'admin' }).waitFor();
  await page.locator('#user-rows tr[data-user="reader"] td.groups', { hasText: 'staff' }).waitFor();
  await page.fill('#ev-kind', 'no.such.kind');
  await page.click('#event-filters button[type="submit"]');
  await page.locator('#events-none').waitFor();

  await people(page, url, problems);

  step('log out');
  await page.click('#logout');
  await page.locator('#login').waitFor();
  check(await page.evaluate(() => sessionStorage.length === 0), 'the token is gone');
  check(problems.length === 0, `no page problems: ${problems.join('; ')}`);

  step('a token the gateway refuses: back to the login form, with the reason');
  await page.evaluate(() => sessionStorage.setItem('coffer.session', JSON.stringify({
    token: 'forged', client: 'demo', user: 'admin', expiresAt: Date.now() + 3600000,
  })));
  await page.reload();
  await page.locator('#login-error', { hasText: 'session has ended' }).waitFor();
  check(await page.evaluate(() => sessionStorage.length === 0), 'the refused token is dropped');
  await ctx.close();
}

const NEWBIE_PW = 'newbie pw 2026 web';

// The admin's Users & groups panel: a new user and group, the group granted
// read on /docs, deleted to the groups trash and restored; then the new
// user, in a browser context of its own, sees /docs and cannot write there.
async function people(page, url, problems) {
  step('Users & groups: a new user, a new group with that user as member');
  await page.click('#user-new');
  await page.locator('#userform').waitFor();
  await page.fill('#uf-name', 'newbie');
  await page.fill('#uf-password', 'short');
  const before = problems.length;
  await page.click('#uf-ok');
  // The gateway's 400 is shown in the dialog, which stays open; the
  // browser logs the failed request as a console error, expected here.
  await page.locator('#uf-error', { hasText: 'a password has 12 to 1024 bytes' }).waitFor();
  check(await page.locator('#userform').isVisible(), 'the dialog stays open');
  problems.splice(before);
  await page.fill('#uf-password', NEWBIE_PW);
  await page.click('#uf-ok');
  await page.locator('#userform').waitFor({ state: 'hidden' });
  const newbie = page.locator('#user-rows tr[data-user="newbie"]');
  await newbie.waitFor();
  check((await newbie.locator('td').nth(1).textContent()).trim() === 'user', 'newbie is no admin');
  await page.click('#group-new');
  await answer(page, 'team');
  const team = page.locator('#group-rows tr[data-group="team"]');
  await team.waitFor();
  await team.locator('button.act').click();
  await page.locator('#menu-items button', { hasText: 'Add member' }).click();
  await answer(page, 'newbie');
  await team.locator('td.members', { hasText: 'newbie' }).waitFor();
  await newbie.locator('td.groups', { hasText: 'team' }).waitFor();

  step('disable and enable a user');
  await newbie.locator('button.act').click();
  await page.locator('#menu-items button', { hasText: 'Disable' }).click();
  await page.locator('#user-rows tr[data-user="newbie"][data-disabled="true"] .chip', { hasText: 'disabled' }).waitFor();
  await page.locator('#user-rows tr[data-user="newbie"] button.act').click();
  await page.locator('#menu-items button', { hasText: 'Enable' }).click();
  await page.locator('#user-rows tr[data-user="newbie"][data-disabled="false"]').waitFor();

  step('delete the group to the groups trash, restore it');
  await team.locator('button.act').click();
  await page.locator('#menu-items button', { hasText: 'Delete group' }).click();
  await answer(page, null);
  const gone = page.locator('#gtrash-rows tr[data-group="team"]');
  await gone.waitFor();
  await team.waitFor({ state: 'detached' });
  await page.screenshot({ path: path.join(shots, 'people-trash-desktop.png'), fullPage: true });
  await gone.locator('button', { hasText: 'Restore' }).click();
  await team.locator('td.members', { hasText: 'newbie' }).waitFor();
  await page.locator('#gtrash-none').waitFor();
  await page.screenshot({ path: path.join(shots, 'people-desktop.png'), fullPage: true });

  step('the Permissions dialog: group team reads /docs');
  await page.click('#nav-files');
  await row(page, 'docs').waitFor();
  await action(page, 'docs', 'Permissions');
  await page.locator('#perms-none').waitFor();
  await page.selectOption('#pf-kind', 'group');
  await page.selectOption('#pf-who', 'team');
  await page.selectOption('#pf-level', 'read');
  await page.click('#pf-set');
  await page.locator('#perms-rows tr[data-kind="group"][data-who="team"]', { hasText: 'read' }).waitFor();
  await page.selectOption('#pf-kind', 'user');
  await page.selectOption('#pf-who', 'newbie');
  await page.selectOption('#pf-level', 'read-write');
  await page.click('#pf-set');
  const own = page.locator('#perms-rows tr[data-kind="user"][data-who="newbie"]');
  await own.waitFor();
  await page.screenshot({ path: path.join(shots, 'perms-set-desktop.png') });
  await own.locator('button', { hasText: 'Remove' }).click();
  await own.waitFor({ state: 'detached' });
  await page.click('#perms-close');

  step('the new user logs in elsewhere: /docs is listed, writing there is refused');
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const other = await ctx.newPage();
  other.setDefaultTimeout(10000 * SLOW);
  const errors = [];
  other.on('pageerror', (e) => errors.push(e.message));
  await login(other, `${url}/#/files/docs`, 'newbie', NEWBIE_PW);
  await other.locator('#crumbs [aria-current]', { hasText: 'docs' }).waitFor();
  await other.locator('#rows tr').first().waitFor();
  check(await other.locator('#nav-admin').isHidden(), 'no Admin view for newbie');
  await other.click('#mkdir');
  await other.fill('#ask-input', 'mine');
  await other.click('#ask-ok');
  await other.locator('#ask-error', { hasText: 'permission denied' }).waitFor();
  await other.screenshot({ path: path.join(shots, 'readonly-desktop.png') });
  await other.click('#ask-cancel');
  check(errors.length === 0, `no page errors for newbie: ${errors.join('; ')}`);
  await ctx.close();
  await page.click('#nav-admin');
}

// A user who is neither an operator nor an admin (made here, in group
// "staff"): 403 from the admin API.
async function notOperator(url, data) {
  step('a user who is not an operator nor an admin gets 403 from the admin API');
  const pw = 'reader pw 2026 web';
  const fsdb = ['--fs-db', `sqlite:${path.join(data, 'fs-catalog.db')}`];
  const admin = (...args) => new Promise((resolve, reject) => {
    const p = spawn(coffer, ['admin', ...args, ...fsdb], { stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`coffer admin ${args.join(' ')}: exit ${code}`))));
  });
  await admin('user', 'add', '--client', 'demo', 'reader', '--password', pw);
  await admin('group', 'add', '--client', 'demo', 'staff');
  await admin('group', 'member', '--client', 'demo', 'staff', 'reader');
  await admin('perm', 'set', '--client', 'demo', '--path', '/', '--group', 'staff', '--level', 'read');
  const r = await fetch(`${url}/api/v1/login`, {
    method: 'POST', body: JSON.stringify({ client: 'demo', user: 'reader', password: pw }),
  });
  check(r.status === 200, `reader login: ${r.status}`);
  const j = await r.json();
  check(j.operator === false, 'reader is no operator');
  const a = await fetch(`${url}/api/v1/admin/filers`, { headers: { Authorization: `Bearer ${j.token}` } });
  check(a.status === 403, `reader on the admin API: ${a.status}`);
  check(j.admin === false, 'reader is no admin');
  const b = await fetch(`${url}/api/v1/admin/users`, { headers: { Authorization: `Bearer ${j.token}` } });
  check(b.status === 403, `reader on the users: ${b.status}`);
  const c = await fetch(`${url}/api/v1/admin/perms/`, { headers: { Authorization: `Bearer ${j.token}` } });
  check(c.status === 403, `reader on the permissions: ${c.status}`);
  for (const p of ['jobs', 'stats']) {
    const d = await fetch(`${url}/api/v1/admin/${p}`, { headers: { Authorization: `Bearer ${j.token}` } });
    check(d.status === 403, `reader on the ${p}: ${d.status}`);
  }
  check((await fetch(`${url}/api/v1/admin/filers`)).status === 401, 'no token: 401');
}

async function phone(url, password) {
  const problems = [];
  const ctx = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000 * SLOW);
  watch(page, problems);

  step('phone: log in, list, the actions menu');
  await page.goto(url);
  await page.locator('#login').waitFor();
  await page.screenshot({ path: path.join(shots, 'login-phone.png') });
  await login(page, `${url}/?page=1`, 'admin', password);
  step('phone: pages of one entry, "Load more"');
  await row(page, 'docs').waitFor();
  check((await page.locator('#rows tr').count()) === 1, 'one entry on the first page');
  await page.locator('#more').tap();
  await row(page, 'dropped.txt').waitFor();
  check(await page.locator('#more').isHidden(), 'no more pages');
  await page.screenshot({ path: path.join(shots, 'files-phone.png') });
  await row(page, 'docs').locator('a.name').tap();
  await row(page, 'renamed.bin').waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `nothing wider than the screen (${width}px)`);
  await page.screenshot({ path: path.join(shots, 'folder-phone.png') });
  step('phone: the Permissions dialog');
  await page.locator('#perms-here').tap();
  await page.locator('#perms-rows tr[data-kind="group"][data-who="team"]').waitFor();
  await page.screenshot({ path: path.join(shots, 'perms-phone.png') });
  const permsWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  check(permsWidth <= 390, `the Permissions dialog is no wider than the screen (${permsWidth}px)`);
  await page.click('#perms-close');
  await row(page, 'renamed.bin').locator('button.act').tap();
  await page.locator('#menu').waitFor();
  await page.screenshot({ path: path.join(shots, 'menu-phone.png') });
  await page.click('#menu-close');
  await page.click('#nav-trash');
  await page.locator('#trash-none').waitFor();
  await page.screenshot({ path: path.join(shots, 'trash-phone.png') });
  await page.click('#nav-keys');
  await page.locator('#keys-none').waitFor();
  await page.click('#key-new');
  await page.locator('#newkey').waitFor();
  await page.screenshot({ path: path.join(shots, 'newkey-phone.png') });
  const keyWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  check(keyWidth <= 390, `the new key's dialog is no wider than the screen (${keyWidth}px)`);
  await page.click('#newkey-close');
  await page.locator('#key-rows tr').first().waitFor();
  await page.screenshot({ path: path.join(shots, 'keys-phone.png') });
  await page.click('#nav-admin');
  await page.locator('#event-rows tr').first().waitFor();
  await page.locator('#job-rows tr[data-kind="audit"]').waitFor();
  await page.locator('#group-rows tr[data-group="team"]').waitFor();
  await page.screenshot({ path: path.join(shots, 'admin-phone.png'), fullPage: true });
  const adminWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  check(adminWidth <= 390, `the Admin view is no wider than the screen (${adminWidth}px)`);
  check(problems.length === 0, `no page problems: ${problems.join('; ')}`);
  await ctx.close();
}

async function main() {
  const timer = setTimeout(() => {
    console.error(`it_web: FAILED: not done in ${DEADLINE_MS / 1000} s`);
    cleanup(1);
  }, DEADLINE_MS);
  const srv = await startServer();
  const { url, password } = srv;
  step(`coffer server's gateway at ${url}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  await headers(url);
  await notOperator(url, path.join(tmp, 'data'));
  await desktop(url, password, srv);
  await phone(url, password);
  clearTimeout(timer);
  step(`passed; screenshots in ${shots}`);
}

function cleanup(code) {
  const done = (serverCode) => {
    // A clean stop is exit 0 (sanitizer builds: no error, no leak at exit).
    if (code === 0 && serverCode !== undefined && serverCode !== 0) {
      console.error(`it_web: FAILED: coffer server exited ${serverCode} on SIGTERM`);
      code = 1;
    }
    if (code === 0) fs.rmSync(tmp, { recursive: true, force: true });
    else console.error(`it_web: kept ${tmp} (server.err: the server's log)`);
    process.exit(code);
  };
  const b = browser;
  browser = null;
  Promise.resolve(b ? b.close().catch(() => {}) : null).then(() => {
    if (server && server.exitCode === null) {
      server.removeAllListeners('exit');
      server.on('exit', (c, sig) => done(c === null ? sig : c));
      server.kill('SIGTERM');
      setTimeout(() => {
        if (server.exitCode === null) server.kill('SIGKILL');
      }, 10000);
    } else {
      done();
    }
  });
}

main().then(() => cleanup(0), (e) => {
  console.error(`it_web: FAILED: ${e.stack || e}`);
  cleanup(1);
});
