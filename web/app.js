// app.js -- the web page: log in, browse folders, upload and download,
// rename, move, copy, the trash and a file's versions, S3 access keys, and
// the Admin view (for the client's admins: users, groups, the groups trash
// and folder permissions). The views are sections of index.html shown one at a time;
// the location's hash says which ("#/files/PATH" with each name
// percent-encoded, "#/trash", "#/keys", "#/admin"), so the browser's back
// button and bookmarks work.

import * as api from './api.js';
import { size, date, isoDate, h } from './format.js';

// Entries per page of a folder listing; ?page=N in the page's URL sets
// another (1 to 10000), e.g. to see "Load more" at work.
const PAGE = Math.min(10000, Math.max(1, Number(new URLSearchParams(location.search).get('page')) || 200));

const $ = (id) => document.getElementById(id);

// ---- messages ----

function toast(message, kind = 'info') {
  const close = h('button', { type: 'button', class: 'quiet', 'aria-label': 'Dismiss' }, '×');
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', {}, message), close);
  const remove = () => el.remove();
  close.addEventListener('click', remove);
  $('toasts').append(el);
  // A few at a time: the oldest go first.
  while ($('toasts').children.length > 3) $('toasts').firstElementChild.remove();
  setTimeout(remove, kind === 'error' ? 12000 : 4000);
}

function fail(e) {
  if (e instanceof api.ApiError && e.status === 401) return; // back at the login form
  toast(e.message || String(e), 'error');
}

// ---- dialogs ----

// Ask for a value (input true) or a confirmation; act(value) runs on OK and
// may throw: its error is shown in the dialog, which stays open. Resolves
// true once act succeeded, false if cancelled.
// type is the input's type ('text', 'password'); choices (names) are
// offered as the input is typed.
function ask({ title, text = '', value = null, ok = 'OK', danger = false, type = 'text', choices = null, act }) {
  const dlg = $('ask');
  const input = $('ask-input');
  const err = $('ask-error');
  const okBtn = $('ask-ok');
  $('ask-title').textContent = title;
  $('ask-text').textContent = text;
  input.hidden = value === null;
  input.value = value ?? '';
  input.type = type;
  $('ask-list').replaceChildren(...(choices || []).map((c) => h('option', { value: c })));
  if (choices) input.setAttribute('list', 'ask-list');
  else input.removeAttribute('list');
  err.hidden = true;
  okBtn.textContent = ok;
  okBtn.className = danger ? 'danger' : 'primary';
  okBtn.disabled = false;
  return new Promise((resolve) => {
    const finish = (result) => {
      $('ask-form').removeEventListener('submit', onSubmit);
      $('ask-cancel').removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      dlg.close();
      resolve(result);
    };
    const onCancel = (e) => {
      e.preventDefault();
      finish(false);
    };
    const onSubmit = async (e) => {
      e.preventDefault();
      okBtn.disabled = true;
      try {
        await act(type === 'password' ? input.value : input.value.trim());
        finish(true);
      } catch (x) {
        if (x instanceof api.ApiError && x.status === 401) {
          finish(false);
          return;
        }
        err.textContent = x.message || String(x);
        err.hidden = false;
        okBtn.disabled = false;
      }
    };
    $('ask-form').addEventListener('submit', onSubmit);
    $('ask-cancel').addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    if (value !== null) {
      input.focus();
      // Select the name without its extension, as file managers do.
      const dot = input.value.lastIndexOf('.');
      input.setSelectionRange(0, dot > 0 ? dot : input.value.length);
    }
  });
}

// A name typed by a person: one name, no slash.
function checkName(name) {
  if (name === '' || name === '.' || name === '..' || name.includes('/'))
    throw new Error('Give a name without "/" (and not "." or "..").');
  return name;
}

// A destination path typed by a person: absolute, normalised.
function checkPath(p) {
  if (!p.startsWith('/')) throw new Error('Give a full path, starting with "/".');
  return '/' + p.split('/').filter((n) => n !== '').join('/');
}

function menu(title, items) {
  const dlg = $('menu');
  $('menu-title').textContent = title;
  const box = $('menu-items');
  box.replaceChildren(
    ...items.map((it) =>
      h('button', {
        type: 'button',
        class: it.danger ? 'danger' : '',
        onclick: () => {
          dlg.close();
          it.act();
        },
      }, it.label)));
  dlg.showModal();
}

// ---- download ----

// Downloads go through a short-lived link the gateway signs, followed as
// a plain link: the browser streams the bytes to disk (any size) and shows
// its own progress, and the gateway sends them as an attachment.
async function download(path, name, versionId) {
  try {
    const { url } = await api.link(path, versionId);
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    fail(e);
  }
}

// ---- the folder view ----

const files = {
  path: '/',
  entries: [],
  next: null,
  sort: { key: 'name', dir: 1 },
  seq: 0, // the listing being loaded; older answers are dropped
};

function hashOf(path) {
  return '#/files/' + api.encodePath(path);
}

function pathOfHash(tail) {
  try {
    return '/' + tail.split('/').filter((n) => n !== '').map(decodeURIComponent).join('/');
  } catch {
    return '/';
  }
}

function crumbs(path) {
  const names = path.split('/').filter((n) => n !== '');
  const parts = [h('a', { href: hashOf('/') }, 'Home')];
  let p = '';
  names.forEach((n, i) => {
    p += '/' + n;
    parts.push(h('span', { class: 'sep', 'aria-hidden': 'true' }, '/'));
    parts.push(i === names.length - 1
      ? h('span', { 'aria-current': 'page' }, n)
      : h('a', { href: hashOf(p) }, n));
  });
  $('crumbs').replaceChildren(...parts);
}

function compare(a, b) {
  if (a.type !== b.type) return a.type === 'folder' ? -1 : 1;
  const { key, dir } = files.sort;
  let d = 0;
  if (key === 'size') d = (a.size ?? 0) - (b.size ?? 0);
  else if (key === 'modified') d = a.modified_ms - b.modified_ms;
  if (d === 0) d = a.name.localeCompare(b.name, undefined, { numeric: true });
  return d * dir;
}

function entryActions(e) {
  const path = api.join(files.path, e.name);
  const items = [];
  if (e.type === 'folder') items.push({ label: 'Open', act: () => { location.hash = hashOf(path); } });
  else items.push({ label: 'Download', act: () => download(path, e.name) });
  items.push({ label: 'Rename…', act: () => rename(e) });
  items.push({ label: 'Move…', act: () => moveTo(e) });
  if (e.type === 'file') {
    items.push({ label: 'Copy…', act: () => copyTo(e) });
    items.push({ label: 'Versions…', act: () => openVersions(path, e.name) });
  }
  const s = api.session();
  if (e.type === 'folder' && s && s.admin)
    items.push({ label: 'Permissions…', act: () => openPerms(path, e.name) });
  items.push({ label: 'Delete', danger: true, act: () => trashEntry(e) });
  return items;
}

function row(e) {
  const path = api.join(files.path, e.name);
  const icon = h('img', { src: e.type === 'folder' ? '/ui/folder.svg' : '/ui/file.svg', alt: '', class: 'icon', width: 20, height: 20 });
  const name = e.type === 'folder'
    ? h('a', { href: hashOf(path), class: 'name' }, icon, h('span', {}, e.name))
    : h('a', {
      href: '#',
      class: 'name',
      title: `Download ${e.name}`,
      onclick: (ev) => {
        ev.preventDefault();
        download(path, e.name);
      },
    }, icon, h('span', {}, e.name));
  const more = h('button', {
    type: 'button',
    class: 'quiet act',
    'aria-label': `Actions for ${e.name}`,
    onclick: () => menu(e.name, entryActions(e)),
  }, '⋯');
  return h('tr', { dataset: { name: e.name, type: e.type } },
    h('td', { class: 'c-name' }, name,
      h('span', { class: 'sub' }, e.type === 'file' ? size(e.size) + ' · ' : '', date(e.modified_ms))),
    h('td', { class: 'c-size', title: e.type === 'file' ? `${e.size} bytes` : '' }, e.type === 'file' ? size(e.size) : '—'),
    h('td', { class: 'c-date' }, h('time', { datetime: isoDate(e.modified_ms) }, date(e.modified_ms))),
    h('td', { class: 'c-act' }, more));
}

function renderFiles() {
  const sorted = [...files.entries].sort(compare);
  $('rows').replaceChildren(...sorted.map(row));
  $('empty').hidden = files.entries.length > 0;
  $('more').hidden = files.next === null;
  for (const th of document.querySelectorAll('#list th')) {
    const b = th.querySelector('button[data-sort]');
    if (!b) continue;
    if (b.dataset.sort === files.sort.key)
      th.setAttribute('aria-sort', files.sort.dir > 0 ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
}

async function loadFiles(path) {
  const seq = ++files.seq;
  try {
    const page = await api.list(path, null, PAGE);
    if (seq !== files.seq) return;
    files.path = path;
    files.entries = page.entries;
    files.next = page.next;
    crumbs(path);
    renderFiles();
  } catch (e) {
    if (seq !== files.seq) return;
    fail(e);
    if (e.status === 404 && path !== '/') location.hash = hashOf(api.parentOf(path));
  }
}

async function moreFiles() {
  const seq = files.seq;
  try {
    const page = await api.list(files.path, files.next, PAGE);
    if (seq !== files.seq) return;
    files.entries.push(...page.entries);
    files.next = page.next;
    renderFiles();
  } catch (e) {
    fail(e);
  }
}

const reload = () => loadFiles(files.path);

function mkdir() {
  ask({
    title: 'New folder',
    text: `In ${files.path}`,
    value: '',
    ok: 'Create',
    act: async (name) => {
      await api.mkdir(api.join(files.path, checkName(name)));
      reload();
    },
  });
}

function rename(e) {
  const dir = files.path;
  ask({
    title: `Rename ${e.type}`,
    value: e.name,
    ok: 'Rename',
    act: async (name) => {
      if (checkName(name) === e.name) return;
      await api.move(api.join(dir, e.name), api.join(dir, name));
      toast(`Renamed to ${name}`);
      reload();
    },
  });
}

function moveTo(e) {
  const dir = files.path;
  ask({
    title: `Move ${e.name}`,
    text: 'To the folder (a full path):',
    value: dir,
    ok: 'Move',
    act: async (to) => {
      const dest = checkPath(to);
      await api.move(api.join(dir, e.name), api.join(dest, e.name));
      toast(`Moved to ${dest}`);
      reload();
    },
  });
}

function copyTo(e) {
  const dir = files.path;
  const dot = e.name.lastIndexOf('.');
  const suggested = dot > 0 ? `${e.name.slice(0, dot)} copy${e.name.slice(dot)}` : `${e.name} copy`;
  ask({
    title: `Copy ${e.name}`,
    text: 'The copy\'s full path:',
    value: api.join(dir, suggested),
    ok: 'Copy',
    act: async (to) => {
      const dest = checkPath(to);
      await api.copy(api.join(dir, e.name), dest);
      toast(`Copied to ${dest}`);
      reload();
    },
  });
}

function trashEntry(e) {
  const dir = files.path;
  ask({
    title: `Delete ${e.name}?`,
    text: e.type === 'folder'
      ? 'The folder and everything in it go to the trash, from where they can be restored.'
      : 'The file goes to the trash, from where it can be restored.',
    ok: 'Move to trash',
    danger: true,
    act: async () => {
      await api.remove(api.join(dir, e.name));
      toast(`${e.name} is in the trash`);
      reload();
    },
  });
}

// ---- uploads ----

const queue = [];
let uploading = false;

function enqueue(fileList) {
  const dir = files.path;
  for (const f of fileList) {
    const bar = h('progress', { max: 100, value: 0 });
    const status = h('span', { class: 'status' }, 'waiting');
    const li = h('li', { dataset: { name: f.name } },
      h('span', { class: 'name' }, f.name), bar, status);
    const job = { file: f, dir, li, bar, status, cancelled: false, abort: null };
    const cancel = h('button', {
      type: 'button',
      class: 'quiet',
      'aria-label': `Cancel the upload of ${f.name}`,
      onclick: () => {
        job.cancelled = true;
        if (job.abort) job.abort();
        li.remove();
      },
    }, '×');
    li.append(cancel);
    $('uploads').append(li);
    queue.push(job);
  }
  pump();
}

async function pump() {
  if (uploading) return;
  uploading = true;
  while (queue.length > 0) {
    const job = queue.shift();
    if (job.cancelled) continue;
    const { done, abort } = api.upload(api.join(job.dir, job.file.name), job.file, (sent, total) => {
      const pct = total > 0 ? Math.floor((sent * 100) / total) : 100;
      job.bar.value = pct;
      job.status.textContent = `${pct}% of ${size(total)}`;
    });
    job.abort = abort;
    try {
      await done;
      job.bar.value = 100;
      job.status.textContent = 'done';
      job.li.classList.add('done');
      setTimeout(() => job.li.remove(), 3000);
      if (job.dir === files.path) reload();
    } catch (e) {
      if (job.cancelled) continue;
      job.li.classList.add('failed');
      job.status.textContent = 'failed';
      fail(new Error(`${job.file.name}: ${e.message}`));
    }
  }
  uploading = false;
}

function setupDrop() {
  const view = $('files');
  const overlay = $('drop');
  let depth = 0;
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  view.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    overlay.hidden = false;
  });
  view.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  view.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  view.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    const list = [...e.dataTransfer.files];
    if (list.length > 0) enqueue(list);
  });
  // A file dropped elsewhere must not make the browser leave the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
}

// ---- versions ----

const vers = { path: '', name: '', next: null };

function versionRow(v) {
  const buttons = [h('button', { type: 'button', onclick: () => download(vers.path, vers.name, v.id) }, 'Download')];
  if (!v.current)
    buttons.push(h('button', {
      type: 'button',
      onclick: async () => {
        try {
          await api.restoreVersion(vers.path, v.id);
          toast(`Version ${v.number} restored as the current one`);
          loadVersions();
          reload();
        } catch (e) {
          fail(e);
        }
      },
    }, 'Restore'));
  return h('tr', { dataset: { version: v.number }, class: v.current ? 'current' : '' },
    h('td', {}, `#${v.number}`, v.current ? h('span', { class: 'badge' }, 'current') : ''),
    h('td', { class: 'c-size' }, size(v.size)),
    h('td', { class: 'c-date' }, date(v.created_ms)),
    h('td', { class: 'c-act' }, ...buttons));
}

async function loadVersions(after = null) {
  try {
    const page = await api.versions(vers.path, after);
    const rows = page.versions.map(versionRow);
    if (after) $('versions-rows').append(...rows);
    else $('versions-rows').replaceChildren(...rows);
    vers.next = page.next;
    $('versions-more').hidden = vers.next === null;
  } catch (e) {
    fail(e);
  }
}

function openVersions(path, name) {
  vers.path = path;
  vers.name = name;
  $('versions-title').textContent = `Versions of ${name}`;
  $('versions-rows').replaceChildren();
  $('versions').showModal();
  loadVersions();
}

// ---- permissions (the client's admins) ----

const perm = { path: '/', users: [], groups: [] };

function permRow(e) {
  const remove = h('button', {
    type: 'button',
    class: 'quiet',
    'aria-label': `Remove the entry of ${e.kind} ${e.name}`,
    onclick: async () => {
      try {
        await api.removePerm(perm.path, e.kind, e.name);
        toast(`Entry of ${e.kind} ${e.name} removed`);
        await loadPerms();
      } catch (x) {
        permError(x);
      }
    },
  }, 'Remove');
  return h('tr', { dataset: { kind: e.kind, who: e.name || String(e.id) } },
    h('td', {}, `${e.kind} `, h('strong', {}, e.name || `#${e.id}`)),
    h('td', {}, h('span', { class: `chip ${e.level === 'none' ? 'bad' : e.level === 'read' ? 'warn' : 'ok'}` }, e.level)),
    h('td', { class: 'c-act' }, remove));
}

function permError(x) {
  if (x instanceof api.ApiError && x.status === 401) {
    $('perms').close();
    return;
  }
  $('perms-error').textContent = x.message || String(x);
  $('perms-error').hidden = false;
}

// The names offered for the kind chosen.
function permChoices() {
  const names = $('pf-kind').value === 'user' ? perm.users : perm.groups;
  const was = $('pf-who').value;
  $('pf-who').replaceChildren(...names.map((n) => h('option', { value: n }, n)));
  if (names.includes(was)) $('pf-who').value = was;
}

async function loadPerms() {
  const [p, u, g] = await Promise.all([api.adminPerms(perm.path), api.adminUsers(), api.adminGroups()]);
  perm.users = u.users.map((x) => x.name);
  perm.groups = g.groups.map((x) => x.name);
  permChoices();
  $('perms-rows').replaceChildren(...p.entries.map(permRow));
  $('perms-none').hidden = p.entries.length > 0;
}

async function openPerms(path, name) {
  perm.path = path;
  $('perms-title').textContent = `Permissions of ${name}`;
  $('perms-rows').replaceChildren();
  $('perms-none').hidden = true;
  $('perms-error').hidden = true;
  $('perms').showModal();
  try {
    await loadPerms();
  } catch (e) {
    $('perms').close();
    fail(e);
  }
}

async function setPerm(ev) {
  ev.preventDefault();
  const kind = $('pf-kind').value;
  const who = $('pf-who').value;
  const level = $('pf-level').value;
  $('perms-error').hidden = true;
  if (!who) {
    permError(new Error(`There is no ${kind} to choose.`));
    return;
  }
  try {
    await api.setPerm(perm.path, kind, who, level);
    toast(`${kind} ${who}: ${level}`);
    await loadPerms();
  } catch (x) {
    permError(x);
  }
}

// ---- the trash ----

// The Restore button of an entry called name: restore(null) puts it back
// where it was; when that name is taken there (409) it asks for another
// full path. A 404 (it can no longer come back) runs onGone, if given.
function restoreButton(name, restore, onGone) {
  return h('button', {
    type: 'button',
    onclick: async () => {
      try {
        await restore(null);
      } catch (e) {
        if (e.status === 404 && onGone) {
          fail(e);
          onGone();
          return;
        }
        if (e.status !== 409) {
          fail(e);
          return;
        }
        ask({
          title: `Restore ${name}`,
          text: 'Its name is taken where it was. Restore it to this full path:',
          value: `/${name} (restored)`,
          ok: 'Restore',
          act: async (to) => restore(checkPath(to)),
        });
      }
    },
  }, 'Restore');
}

// One page of a listing into the table tbody (`${id}-rows`), its "more"
// button and "none" line: fetch(after) gives {entries, next}, rowOf makes
// a row, state keeps the cursor.
async function loadPage(id, fetch, rowOf, state, after) {
  try {
    const page = await fetch(after);
    const rows = page.entries.map(rowOf);
    if (after) $(`${id}-rows`).append(...rows);
    else $(`${id}-rows`).replaceChildren(...rows);
    state.next = page.next;
    $(`${id}-more`).hidden = state.next === null;
    $(`${id}-none`).hidden = $(`${id}-rows`).children.length > 0;
  } catch (e) {
    fail(e);
  }
}

const bin = { next: null };

function trashRow(t) {
  const restore = async (to) => {
    await api.restoreTrash(t.id, to);
    toast(`${t.name} restored`);
    loadTrash();
  };
  return h('tr', { dataset: { name: t.name, id: t.id } },
    h('td', { class: 'c-name' },
      h('span', { class: 'name' },
        h('img', { src: t.type === 'folder' ? '/ui/folder.svg' : '/ui/file.svg', alt: '', class: 'icon', width: 20, height: 20 }),
        h('span', {}, t.name)),
      h('span', { class: 'sub' }, `${t.type} · deleted ${date(t.deleted_ms)}`)),
    h('td', { class: 'c-type' }, t.type),
    h('td', { class: 'c-date' }, date(t.deleted_ms)),
    h('td', { class: 'c-act' }, restoreButton(t.name, restore, null)));
}

function loadTrash(after = null) {
  return loadPage('trash', api.trash, trashRow, bin, after);
}

// Files emptied from the trash that may still come back.
const gone = { next: null };

function emptiedRow(t) {
  const restore = async (to) => {
    await api.restoreEmptied(t.id, to);
    toast(`${t.name} restored with ${t.versions} version${t.versions === 1 ? '' : 's'}`);
    loadEmptied();
  };
  return h('tr', { dataset: { name: t.name, id: t.id } },
    h('td', { class: 'c-name' },
      h('span', { class: 'name' },
        h('img', { src: '/ui/file.svg', alt: '', class: 'icon', width: 20, height: 20 }),
        h('span', {}, t.name)),
      h('span', { class: 'sub' }, `${size(t.size)} · emptied ${date(t.emptied_ms)}`)),
    h('td', { class: 'c-type' }, String(t.versions)),
    h('td', { class: 'c-date' }, date(t.emptied_ms)),
    h('td', { class: 'c-act' }, restoreButton(t.name, restore, () => loadEmptied())));
}

function loadEmptied(after = null) {
  return loadPage('emptied', api.emptied, emptiedRow, gone, after);
}

function emptyTrash() {
  ask({
    title: 'Empty the trash?',
    text: 'Everything in the trash is deleted for good. This cannot be undone.',
    ok: 'Empty trash',
    danger: true,
    act: async () => {
      await api.emptyTrash();
      toast('The trash is empty');
      loadTrash();
      loadEmptied();
    },
  });
}

// ---- S3 access keys ----

const s3 = { port: 0, region: '' };

// The S3 listener as seen from here: this page's host, the S3 port.
function s3Endpoint() {
  return s3.port ? `${location.protocol}//${location.hostname}:${s3.port}` : '';
}

function keyRow(k) {
  return h('tr', { dataset: { key: k.access_key_id } },
    h('td', {}, h('span', { class: 'key-id' }, k.access_key_id),
      h('span', { class: 'sub' }, `created ${date(k.created_ms)}`)),
    h('td', { class: 'c-date' }, date(k.created_ms)),
    h('td', { class: 'c-act' }, h('button', {
      type: 'button',
      class: 'danger',
      'aria-label': `Revoke ${k.access_key_id}`,
      onclick: () => revokeKey(k.access_key_id),
    }, 'Revoke')));
}

async function loadKeys() {
  try {
    const j = await api.keys();
    s3.port = (j.s3 && j.s3.port) || 0;
    s3.region = (j.s3 && j.s3.region) || '';
    $('key-rows').replaceChildren(...j.keys.map(keyRow));
    $('keys-none').hidden = j.keys.length > 0;
    const where = $('keys-where');
    if (s3.port)
      where.replaceChildren('S3 clients use the endpoint ', h('code', {}, s3Endpoint()), ', region ',
        h('code', {}, s3.region), ', path-style addressing and one of these keys; each acts as you, with your permissions.');
    else where.textContent = 'This gateway does not serve the S3 API (it has no --s3-listen); keys made here work on gateways that do.';
  } catch (e) {
    fail(e);
  }
}

async function newKey() {
  const btn = $('key-new');
  btn.disabled = true;
  try {
    const k = await api.createKey();
    const endpoint = s3Endpoint();
    $('newkey-id').textContent = k.access_key_id;
    $('newkey-secret').textContent = k.secret_access_key;
    $('newkey-endpoint').textContent = endpoint || 'none on this gateway';
    $('newkey-region').textContent = s3.region;
    $('newkey-example').textContent =
      `aws --endpoint-url ${endpoint || 'URL'} --region ${s3.region} s3 ls`;
    $('newkey').showModal();
    loadKeys();
  } catch (e) {
    fail(e);
  } finally {
    btn.disabled = false;
  }
}

// Copy the text of the element the button names; if the browser refuses
// the clipboard, select the text so that it can be copied by hand.
async function copyOf(btn) {
  const el = $(btn.dataset.copy);
  try {
    await navigator.clipboard.writeText(el.textContent);
    btn.textContent = 'Copied';
    setTimeout(() => { btn.textContent = 'Copy'; }, 2000);
  } catch {
    const r = document.createRange();
    r.selectNodeContents(el);
    getSelection().removeAllRanges();
    getSelection().addRange(r);
    toast('The browser refused the clipboard: the text is selected, copy it by hand.', 'error');
  }
}

function revokeKey(id) {
  ask({
    title: `Revoke ${id}?`,
    text: 'Programs using this key lose access at once. This cannot be undone.',
    ok: 'Revoke',
    danger: true,
    act: async () => {
      await api.revokeKey(id);
      toast(`Key ${id} revoked`);
      loadKeys();
    },
  });
}

// ---- the operator's view ----

const events = { next: null, filters: {}, seq: 0 };

function statusChip(status, extra) {
  const cls = status === 'online' || status === 'up' ? 'ok' : status === 'unknown' ? 'warn' : 'bad';
  return h('span', { class: `chip ${cls}` }, status, extra ? ` · ${extra}` : '');
}

function filerRow(f) {
  const used = f.used_bytes || 0;
  const total = f.total_bytes || 0;
  const pct = total > 0 ? (used * 100) / total : 0;
  const fill = h('meter', { min: 0, max: 100, low: 75, high: 90, optimum: 0, value: pct.toFixed(1) });
  return h('tr', { dataset: { filer: f.id } },
    h('td', {}, h('strong', {}, `#${f.id}`), ' ', h('span', { class: 'url' }, f.url),
      f.dc ? h('span', { class: 'sub-dc' }, ` dc ${f.dc}`) : ''),
    h('td', {}, statusChip(f.status, f.read_only ? 'read-only' : '')),
    h('td', { class: 'c-fill' }, fill,
      h('span', { class: 'fill-text' }, `${size(used)} of ${size(total)} (${pct.toFixed(pct < 10 ? 1 : 0)}%)`)),
    h('td', { class: 'c-num' }, String(f.objects ?? 0)),
    h('td', { class: 'c-num c-wide' }, typeof f.latency_ms === 'number' ? `${f.latency_ms.toFixed(1)} ms` : '—'));
}

function instanceRow(i) {
  return h('tr', { dataset: { role: i.role } },
    h('td', {}, i.role),
    h('td', { class: 'url' }, i.url),
    h('td', {}, statusChip(i.status)),
    h('td', { class: 'c-date' }, date(i.last_heartbeat_ms)));
}

function eventRow(e) {
  return h('tr', { dataset: { kind: e.kind } },
    h('td', { class: 'c-time' }, date(e.at_ms)),
    h('td', {}, h('code', {}, e.kind)),
    h('td', { class: 'c-num' }, e.filer ? `#${e.filer}` : ''),
    h('td', { class: 'msg' }, e.message, e.object ? h('span', { class: 'sub-dc' }, ` ${e.object}`) : ''));
}

async function loadFilers() {
  try {
    const [f, i] = await Promise.all([api.adminFilers(), api.adminInstances()]);
    const filers = f.filers || [];
    $('filer-rows').replaceChildren(...filers.map(filerRow));
    const online = filers.filter((x) => x.status === 'online').length;
    const used = filers.reduce((a, x) => a + (x.used_bytes || 0), 0);
    const total = filers.reduce((a, x) => a + (x.total_bytes || 0), 0);
    $('filers-summary').textContent = `${online} of ${filers.length} online · ${size(used)} of ${size(total)} used`;
    $('instance-rows').replaceChildren(...(i.instances || []).map(instanceRow));
  } catch (e) {
    fail(e);
  }
}

// A job's progress: objects when it knows how many, else bytes; a bar with
// no value (moving) while a running job knows neither.
function jobProgress(j) {
  let done = 0;
  let total = 0;
  let text = '';
  if (j.total_objects > 0) {
    done = j.done_objects;
    total = j.total_objects;
    text = `${done} of ${total} objects`;
  } else if (j.total_bytes > 0) {
    done = j.done_bytes;
    total = j.total_bytes;
    text = `${size(done)} of ${size(total)}`;
  } else if (j.done_objects > 0) {
    text = `${j.done_objects} objects`;
  }
  const bar = h('progress', { max: 100 });
  if (total > 0) bar.value = Math.min(100, (done * 100) / total);
  else if (j.state !== 'running') bar.value = j.state === 'done' ? 100 : 0;
  if (total > 0) text += ` (${Math.floor(bar.value)}%)`;
  return [bar, h('span', { class: 'fill-text' }, text)];
}

function jobRow(j) {
  const cls = { done: 'ok', running: 'run', stopped: 'warn' }[j.state] || 'bad';
  const args = j.args && Object.keys(j.args).length ? JSON.stringify(j.args) : '';
  return h('tr', { dataset: { job: j.id, kind: j.kind, state: j.state } },
    h('td', {}, h('strong', {}, j.kind), h('span', { class: 'sub-dc' }, ` #${j.id}`),
      args ? h('span', { class: 'job-args' }, ` ${args}`) : ''),
    h('td', {}, h('span', { class: `chip ${cls}` }, j.state),
      j.message ? h('span', { class: 'job-args' }, ` ${j.message}`) : ''),
    h('td', { class: 'c-fill' }, ...jobProgress(j)),
    h('td', { class: 'c-date' }, date(j.updated_ms)));
}

function renderDeficit(st) {
  const d = st.replica_deficit;
  const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const el = $('deficit');
  el.dataset.deficit = String(d);
  el.replaceChildren(h('strong', {}, 'Replica deficit '),
    h('span', { class: `chip ${d > 0 ? 'bad' : 'ok'}` }, plural(d, 'object')),
    ` with fewer replicas than wanted (${st.replicas} by default) · ${plural(st.records, 'object record')}`,
    st.stale_replicas ? ` · ${plural(st.stale_replicas, 'stale replica')} waiting to be deleted` : '',
    st.counted_ms ? ` · as the app last counted, ${date(st.counted_ms)} (recounted periodically, by default each minute)` : ' · not counted yet');
}

let jobsTimer = null;

async function loadJobs() {
  clearTimeout(jobsTimer);
  jobsTimer = null;
  try {
    const [j, st] = await Promise.all([api.adminJobs(), api.adminStats()]);
    const jobs = j.jobs || [];
    $('job-rows').replaceChildren(...jobs.map(jobRow));
    $('jobs-none').hidden = jobs.length > 0;
    const running = jobs.filter((x) => x.state === 'running').length;
    $('jobs-summary').textContent = jobs.length === 0 ? ''
      : `${jobs.length === 50 ? 'the 50 most recent' : jobs.length === 1 ? '1 job' : `${jobs.length} jobs`}, ${running || 'none'} running`;
    renderDeficit(st);
    // Follow running jobs while the Admin view is shown.
    if (running > 0)
      jobsTimer = setTimeout(() => {
        if (!$('admin').hidden && api.session()) loadJobs();
      }, 2000);
  } catch (e) {
    fail(e);
  }
}

async function loadEvents(more = false) {
  // A newer load (new filters, a refresh) wins over one still in flight.
  const seq = ++events.seq;
  try {
    const q = { ...events.filters, limit: 100 };
    if (more) q.after = events.next;
    const page = await api.adminEvents(q);
    if (seq !== events.seq) return;
    const list = page.events || [];
    const rows = list.map(eventRow);
    if (more) $('event-rows').append(...rows);
    else $('event-rows').replaceChildren(...rows);
    const kinds = new Set([...$('ev-kinds').options].map((o) => o.value));
    for (const e of list) if (!kinds.has(e.kind)) $('ev-kinds').append(h('option', { value: e.kind }));
    events.next = list.length > 0 ? page.next_after : null;
    $('events-more').hidden = list.length < 100 || events.next === null || events.next === undefined;
    $('events-none').hidden = $('event-rows').children.length > 0;
  } catch (e) {
    fail(e);
  }
}

function eventFilters() {
  const f = {};
  const kind = $('ev-kind').value.trim();
  const filer = $('ev-filer').value.trim();
  const since = $('ev-since').value;
  if (kind) f.kind = kind;
  if (filer) {
    if (!/^[0-9]+$/.test(filer)) throw new Error('The filer is a number.');
    f.filer = filer;
  }
  if (since) f.since = Date.now() - Number(since);
  return f;
}

// ---- users and groups (the client's admins) ----

const people = { users: [] };

// Run a change, say so, and show the lists again; errors are toasts.
async function change(what, fn) {
  try {
    await fn();
    toast(what);
  } catch (e) {
    fail(e);
  }
  loadPeople();
}

function userActions(u) {
  const s = api.session();
  const items = [];
  if (u.disabled) items.push({ label: 'Enable', act: () => change(`${u.name} enabled`, () => api.changeUser(u.name, { disabled: false })) });
  else if (!s || s.userId !== u.id)
    items.push({ label: 'Disable', danger: true, act: () => change(`${u.name} disabled`, () => api.changeUser(u.name, { disabled: true })) });
  items.push({
    label: 'Set password…',
    act: () => ask({
      title: `New password for ${u.name}`,
      text: 'At least 12 characters.',
      value: '',
      type: 'password',
      ok: 'Set password',
      act: async (pw) => {
        await api.changeUser(u.name, { password: pw });
        toast(`${u.name}'s password changed`);
      },
    }),
  });
  return items;
}

function userRow(u) {
  const role = u.disabled ? statusChip('disabled') : u.admin ? h('span', { class: 'chip ok' }, 'admin') : 'user';
  return h('tr', { dataset: { user: u.name, disabled: String(u.disabled) } },
    h('td', {}, h('strong', {}, u.name), h('span', { class: 'sub-dc' }, ` #${u.id}`)),
    h('td', {}, role),
    h('td', { class: 'groups c-groups' }, u.groups.length ? u.groups.map((g) => g.name).join(', ') : '—'),
    h('td', { class: 'c-date' }, date(u.created_ms)),
    h('td', { class: 'c-act' }, h('button', {
      type: 'button',
      class: 'quiet act',
      'aria-label': `Actions for ${u.name}`,
      onclick: () => menu(u.name, userActions(u)),
    }, '⋯')));
}

function groupActions(g) {
  const members = new Set(g.members.map((m) => m.name));
  const items = [{
    label: 'Add member…',
    act: () => ask({
      title: `Add a member to ${g.name}`,
      text: 'The user\'s name:',
      value: '',
      choices: people.users.map((u) => u.name).filter((n) => !members.has(n)),
      ok: 'Add',
      act: async (name) => {
        await api.addMember(g.name, checkName(name));
        toast(`${name} is in ${g.name}`);
        loadPeople();
      },
    }),
  }];
  for (const m of g.members)
    items.push({ label: `Remove ${m.name}`, act: () => change(`${m.name} left ${g.name}`, () => api.removeMember(g.name, m.name)) });
  items.push({
    label: 'Delete group',
    danger: true,
    act: () => ask({
      title: `Delete group ${g.name}?`,
      text: 'It goes to the groups trash and grants nothing while there; restoring it brings back its members and permissions.',
      ok: 'Delete',
      danger: true,
      act: async () => {
        await api.deleteGroup(g.name);
        toast(`${g.name} is in the groups trash`);
        loadPeople();
      },
    }),
  });
  return items;
}

function groupRow(g) {
  return h('tr', { dataset: { group: g.name } },
    h('td', {}, h('strong', {}, g.name), h('span', { class: 'sub-dc' }, ` #${g.id}`)),
    h('td', { class: 'members' }, g.members.length ? g.members.map((m) => m.name).join(', ') : '—'),
    h('td', { class: 'c-act' }, h('button', {
      type: 'button',
      class: 'quiet act',
      'aria-label': `Actions for group ${g.name}`,
      onclick: () => menu(`Group ${g.name}`, groupActions(g)),
    }, '⋯')));
}

function deletedGroupRow(g) {
  return h('tr', { dataset: { group: g.name, id: g.id } },
    h('td', {}, h('strong', {}, g.name), h('span', { class: 'sub' }, `deleted ${date(g.deleted_ms)}`)),
    h('td', { class: 'c-date' }, date(g.deleted_ms)),
    h('td', { class: 'c-act' },
      h('button', { type: 'button', onclick: () => change(`${g.name} restored`, () => api.restoreGroup(g.id)) }, 'Restore'),
      h('button', {
        type: 'button',
        class: 'danger',
        onclick: () => ask({
          title: `Purge group ${g.name}?`,
          text: 'Its members and permissions go with it, for good.',
          ok: 'Purge',
          danger: true,
          act: async () => {
            await api.purgeGroup(g.id);
            toast(`${g.name} purged`);
            loadPeople();
          },
        }),
      }, 'Purge')));
}

async function loadPeople() {
  try {
    const [j, g, t] = await Promise.all([api.adminUsers(), api.adminGroups(), api.adminGroupTrash()]);
    people.users = j.users;
    $('user-rows').replaceChildren(...j.users.map(userRow));
    const admins = j.users.filter((u) => u.admin).length;
    const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
    $('users-summary').textContent = `${plural(j.users.length, 'user')}, ${plural(admins, 'admin')}`;
    $('group-rows').replaceChildren(...g.groups.map(groupRow));
    $('groups-none').hidden = g.groups.length > 0;
    $('gtrash-rows').replaceChildren(...t.groups.map(deletedGroupRow));
    $('gtrash-none').hidden = t.groups.length > 0;
  } catch (e) {
    fail(e);
  }
}

function newUser() {
  const dlg = $('userform');
  $('uf-form').reset();
  $('uf-error').hidden = true;
  $('uf-ok').disabled = false;
  dlg.showModal();
  $('uf-name').focus();
}

async function onNewUser(e) {
  e.preventDefault();
  const name = $('uf-name').value.trim();
  $('uf-ok').disabled = true;
  try {
    await api.addUser(checkName(name), $('uf-password').value, $('uf-admin').checked);
    $('userform').close();
    $('uf-form').reset();
    toast(`User ${name} added`);
    loadPeople();
  } catch (x) {
    if (x instanceof api.ApiError && x.status === 401) {
      $('userform').close();
      return;
    }
    $('uf-error').textContent = x.message || String(x);
    $('uf-error').hidden = false;
  } finally {
    $('uf-ok').disabled = false;
  }
}

function newGroup() {
  ask({
    title: 'New group',
    text: 'Its name:',
    value: '',
    ok: 'Add group',
    act: async (name) => {
      await api.addGroup(checkName(name));
      toast(`Group ${name} added`);
      loadPeople();
    },
  });
}

function loadAdmin() {
  const s = api.session();
  if (!s) return;
  if (s.operator) {
    loadFilers();
    loadJobs();
    loadEvents();
  }
  if (s.admin) loadPeople();
}

function showAdmin() {
  const s = api.session();
  show('admin');
  $('ops').hidden = !s.operator;
  $('people').hidden = !s.admin;
  try {
    events.filters = eventFilters();
  } catch (e) {
    fail(e);
  }
  loadAdmin();
}

// ---- login and views ----

function show(id) {
  for (const s of ['login', 'files', 'trash', 'keys', 'admin']) $(s).hidden = s !== id;
  $('top').hidden = id === 'login';
  for (const s of ['files', 'trash', 'keys', 'admin']) $(`nav-${s}`).classList.toggle('on', id === s);
}

function showLogin(message) {
  show('login');
  const err = $('login-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('login-client').value ||= localStorage.getItem('coffer.client') || '';
  $('login-user').value ||= localStorage.getItem('coffer.user') || '';
  $('login-password').value = '';
  const first = ['login-client', 'login-user', 'login-password'].map($).find((i) => i.value === '');
  (first || $('login-password')).focus();
}

async function onLogin(e) {
  e.preventDefault();
  const client = $('login-client').value.trim();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  const err = $('login-error');
  const btn = $('login-submit');
  btn.disabled = true;
  err.hidden = true;
  try {
    await api.login(client, user, password);
    localStorage.setItem('coffer.client', client);
    localStorage.setItem('coffer.user', user);
    $('login-password').value = '';
    route();
  } catch (x) {
    err.textContent = x.message;
    err.hidden = false;
    $('login-password').select();
  } finally {
    btn.disabled = false;
  }
}

function route() {
  const s = api.session();
  if (!s) {
    showLogin();
    return;
  }
  $('whoami').textContent = `${s.user} · ${s.client}`;
  $('nav-admin').hidden = !s.operator && !s.admin;
  $('perms-here').hidden = !s.admin;
  const hash = location.hash || '#/files/';
  if (hash === '#/trash') {
    show('trash');
    loadTrash();
    loadEmptied();
  } else if (hash === '#/keys') {
    show('keys');
    loadKeys();
  } else if (hash === '#/admin' && (s.operator || s.admin)) {
    showAdmin();
  } else if (hash.startsWith('#/files')) {
    show('files');
    loadFiles(pathOfHash(hash.slice('#/files'.length)));
  } else {
    location.hash = '#/files/';
  }
}

function init() {
  api.setOnExpired(() => showLogin('Your session has ended: log in again.'));
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', () => {
    api.logout();
    files.entries = [];
    $('rows').replaceChildren();
    $('trash-rows').replaceChildren();
    $('key-rows').replaceChildren();
    showLogin();
  });
  $('mkdir').addEventListener('click', mkdir);
  $('pick').addEventListener('change', (e) => {
    enqueue([...e.target.files]);
    e.target.value = '';
  });
  $('more').addEventListener('click', moreFiles);
  $('trash-more').addEventListener('click', () => loadTrash(bin.next));
  $('emptied-more').addEventListener('click', () => loadEmptied(gone.next));
  $('versions-more').addEventListener('click', () => loadVersions(vers.next));
  $('versions-close').addEventListener('click', () => $('versions').close());
  $('menu-close').addEventListener('click', () => $('menu').close());
  $('perms-close').addEventListener('click', () => $('perms').close());
  $('perms-form').addEventListener('submit', setPerm);
  $('pf-kind').addEventListener('change', permChoices);
  $('user-new').addEventListener('click', newUser);
  $('uf-form').addEventListener('submit', onNewUser);
  $('uf-cancel').addEventListener('click', () => $('userform').close());
  $('group-new').addEventListener('click', newGroup);
  $('perms-here').addEventListener('click', () => {
    const names = files.path.split('/').filter((n) => n !== '');
    openPerms(files.path, names.length ? names[names.length - 1] : 'Home');
  });
  $('empty-trash').addEventListener('click', emptyTrash);
  $('key-new').addEventListener('click', newKey);
  $('newkey-close').addEventListener('click', () => $('newkey').close());
  // The secret leaves the page with the dialog.
  $('newkey').addEventListener('close', () => { $('newkey-secret').textContent = ''; });
  for (const b of document.querySelectorAll('#newkey button.copy'))
    b.addEventListener('click', () => copyOf(b));
  $('admin-refresh').addEventListener('click', loadAdmin);
  $('event-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    try {
      events.filters = eventFilters();
    } catch (x) {
      fail(x);
      return;
    }
    loadEvents();
  });
  $('events-more').addEventListener('click', () => loadEvents(true));
  for (const b of document.querySelectorAll('#list button[data-sort]'))
    b.addEventListener('click', () => {
      const key = b.dataset.sort;
      files.sort = { key, dir: files.sort.key === key ? -files.sort.dir : 1 };
      renderFiles();
    });
  setupDrop();
  window.addEventListener('hashchange', route);
  route();
}

init();
