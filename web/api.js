// api.js -- the gateway's JSON API (README "The gateway API"), called with
// the session's bearer token. The session (token, client, user, expiry) is
// kept in sessionStorage: it lasts as long as the browser tab and is not
// shared with other tabs or kept on disk after the tab closes.

const KEY = 'coffer.session';

// An error the page can show: status is the HTTP status (0: no answer),
// message the server's own words when it gave some.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onExpired = () => {};

// fn() is called when a call is refused 401 (token expired or forged);
// the session is already cleared then.
export function setOnExpired(fn) {
  onExpired = fn;
}

export function session() {
  let s = null;
  try {
    s = JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    s = null;
  }
  if (!s || typeof s.token !== 'string' || !(s.expiresAt > Date.now())) return null;
  return s;
}

export function logout() {
  sessionStorage.removeItem(KEY);
}

// A path ("/a/b c") as the API's URL tail ("a/b%20c"), every name encoded.
export function encodePath(path) {
  return path.split('/').filter((n) => n !== '').map(encodeURIComponent).join('/');
}

// The folder holding path, and path's last name.
export function parentOf(path) {
  const names = path.split('/').filter((n) => n !== '');
  names.pop();
  return '/' + names.join('/');
}

export function join(dir, name) {
  return (dir.endsWith('/') ? dir : dir + '/') + name;
}

async function errorOf(resp) {
  let code = '';
  let message = '';
  try {
    const j = await resp.json();
    code = j.error || '';
    message = j.message || '';
  } catch {
    message = '';
  }
  if (resp.status === 429) {
    const after = resp.headers.get('Retry-After');
    message = `Too many attempts: try again in ${after || 'a few'} seconds.`;
  } else if (!message) {
    message = `The server answered ${resp.status} ${resp.statusText}.`;
  }
  return new ApiError(resp.status, code, message);
}

function authHeaders(extra = {}) {
  const s = session();
  const h = { ...extra };
  if (s) h.Authorization = `Bearer ${s.token}`;
  return h;
}

function expired(status) {
  if (status === 401) {
    logout();
    onExpired();
  }
}

async function call(method, url) {
  let resp;
  try {
    resp = await fetch(url, { method, headers: authHeaders(), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', `The gateway cannot be reached (${e.message}).`);
  }
  if (!resp.ok) {
    expired(resp.status);
    throw await errorOf(resp);
  }
  return resp;
}

// A call with a JSON body (body undefined: none).
async function send(method, url, body) {
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers: authHeaders({ 'Content-Type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', `The gateway cannot be reached (${e.message}).`);
  }
  if (!resp.ok) {
    expired(resp.status);
    throw await errorOf(resp);
  }
  return resp.status === 204 ? null : resp.json();
}

async function json(method, url) {
  const resp = await call(method, url);
  return resp.status === 204 ? null : resp.json();
}

function page(url, after, limit) {
  const q = new URLSearchParams();
  if (limit) q.set('limit', String(limit));
  if (after) q.set('after', after);
  const s = q.toString();
  return s ? `${url}?${s}` : url;
}

export async function login(client, user, password) {
  let resp;
  try {
    resp = await fetch('/api/v1/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client, user, password }),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', `The gateway cannot be reached (${e.message}).`);
  }
  if (!resp.ok) {
    const err = await errorOf(resp);
    if (resp.status === 401) err.message = 'Wrong client, user or password.';
    throw err;
  }
  const j = await resp.json();
  const s = {
    token: j.token,
    client,
    user,
    clientId: j.client_id,
    userId: j.user_id,
    admin: j.admin === true,
    operator: j.operator === true,
    expiresAt: Date.now() + j.expires_s * 1000,
  };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

// One page of a folder: {path, id, entries:[...], next}.
export function list(path, after, limit) {
  return json('GET', page(`/api/v1/fs/${encodePath(path)}`, after, limit));
}

export function mkdir(path) {
  return json('POST', `/api/v1/fs/${encodePath(path)}?op=mkdir`);
}

export function move(from, to) {
  return json('POST', `/api/v1/fs/${encodePath(from)}?op=move&to=${encodeURIComponent(to)}`);
}

export function copy(from, to) {
  return json('POST', `/api/v1/fs/${encodePath(from)}?op=copy&to=${encodeURIComponent(to)}`);
}

// To the trash.
export function remove(path) {
  return json('DELETE', `/api/v1/fs/${encodePath(path)}`);
}

export function versions(path, after) {
  return json('GET', page(`/api/v1/versions/${encodePath(path)}`, after));
}

export function restoreVersion(path, id) {
  return json('POST', `/api/v1/versions/${encodePath(path)}?restore=${encodeURIComponent(id)}`);
}

export function trash(after) {
  return json('GET', page('/api/v1/trash', after));
}

export function restoreTrash(id, to) {
  let url = `/api/v1/trash/${encodeURIComponent(id)}?op=restore`;
  if (to) url += `&to=${encodeURIComponent(to)}`;
  return json('POST', url);
}

export function emptyTrash() {
  return json('DELETE', '/api/v1/trash');
}

// Files emptied from the trash that the app still keeps.
export function emptied(after) {
  return json('GET', page('/api/v1/trash/emptied', after));
}

export function restoreEmptied(id, to) {
  let url = `/api/v1/trash/emptied/${encodeURIComponent(id)}/restore`;
  if (to) url += `?to=${encodeURIComponent(to)}`;
  return json('POST', url);
}

// A short-lived link (a minute) that downloads the file (its current
// version, or version id) by plain navigation, so the browser streams it
// to disk instead of holding it in memory: {url, expires_ms}.
export function link(path, versionId) {
  let url = `/api/v1/link/${encodePath(path)}`;
  if (versionId !== undefined) url += `?version=${encodeURIComponent(versionId)}`;
  return json('GET', url);
}

// Upload file (a File or Blob) to path with XMLHttpRequest, whose upload
// events give progress: onProgress(sent, total). Returns {done, abort}:
// done resolves to the new entry or rejects with an ApiError.
export function upload(path, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open('PUT', `/api/v1/fs/${encodePath(path)}`);
    const h = authHeaders({ 'Content-Type': 'application/octet-stream' });
    for (const [k, v] of Object.entries(h)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      let j = null;
      try {
        j = JSON.parse(xhr.responseText);
      } catch {
        j = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(j);
        return;
      }
      expired(xhr.status);
      const msg = (j && j.message) || `The server answered ${xhr.status}.`;
      reject(new ApiError(xhr.status, (j && j.error) || '', msg));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload was cut off.'));
    xhr.onabort = () => reject(new ApiError(0, 'abort', 'Upload cancelled.'));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}

// The operator's view (operators only; 403 for others): the monitor's
// filer table, role instances and event log.
export function adminFilers() {
  return json('GET', '/api/v1/admin/filers');
}

export function adminInstances() {
  return json('GET', '/api/v1/admin/instances');
}

// filters: {since, kind, filer, after, limit}, each optional.
export function adminEvents(filters) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return json('GET', s ? `/api/v1/admin/events?${s}` : '/api/v1/admin/events');
}

// The app's maintenance jobs with their progress, and its counts (the
// replica deficit): operators only.
export function adminJobs() {
  return json('GET', '/api/v1/admin/jobs');
}

export function adminStats() {
  return json('GET', '/api/v1/admin/stats');
}

// The caller's S3 access keys: {keys:[{access_key_id, created_ms}],
// s3:{port, region}}.
export function keys() {
  return json('GET', '/api/v1/keys');
}

// A new key: {access_key_id, secret_access_key, created_ms}; the secret is
// in this answer only.
export function createKey() {
  return json('POST', '/api/v1/keys');
}

export function revokeKey(id) {
  return json('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`);
}

// The client's users and their groups (the client's admins only).
export function adminUsers() {
  return json('GET', '/api/v1/admin/users');
}

// The permission entries set on the folder at path (the client's admins).
export function adminPerms(path) {
  return json('GET', `/api/v1/admin/perms/${encodePath(path)}`);
}

// Users, groups and permissions, changed by the client's admins.
const A = '/api/v1/admin';
const enc = encodeURIComponent;

export function adminGroups() {
  return json('GET', `${A}/groups`);
}

export function adminGroupTrash() {
  return json('GET', `${A}/group-trash`);
}

export function addUser(name, password, admin) {
  return send('POST', `${A}/users`, { name, password, admin });
}

// fields: {disabled: bool} and/or {password: string}.
export function changeUser(name, fields) {
  return send('PATCH', `${A}/users/${enc(name)}`, fields);
}

export function addGroup(name) {
  return send('POST', `${A}/groups`, { name });
}

// To the groups trash.
export function deleteGroup(name) {
  return send('DELETE', `${A}/groups/${enc(name)}`);
}

export function addMember(group, user) {
  return send('PUT', `${A}/groups/${enc(group)}/members/${enc(user)}`);
}

export function removeMember(group, user) {
  return send('DELETE', `${A}/groups/${enc(group)}/members/${enc(user)}`);
}

export function restoreGroup(id) {
  return send('POST', `${A}/group-trash/${enc(id)}`);
}

export function purgeGroup(id) {
  return send('DELETE', `${A}/group-trash/${enc(id)}`);
}

// kind: 'user' or 'group'; level: 'none', 'read' or 'read-write'.
export function setPerm(path, kind, name, level) {
  return send('PUT', `${A}/perms/${encodePath(path)}`, { [kind]: name, level });
}

export function removePerm(path, kind, name) {
  return send('DELETE', `${A}/perms/${encodePath(path)}?${kind}=${enc(name)}`);
}
