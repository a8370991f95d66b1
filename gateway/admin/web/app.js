// The admin page: asks for a token (kept in sessionStorage, asked again after
// a 401), lists the clients from GET /api/v1/clients every few seconds
// (usage against quota, state, rates, enabled switch), and adds clients; a
// generated key's config is shown once with its QR code, drawn here.
// Every piece of data goes into the page as text (textContent), never as HTML.

import qrcode from '/ui/qrcode.mjs';

const API = '/api/v1';
const TOKEN_KEY = 'meshgate.token';
const REFRESH_MS = 5000;
const QR_MARGIN = 4; // modules of quiet zone around the code
const QR_PIXELS = 264; // the canvas's size at most

const $ = (id) => document.getElementById(id);

/** Thrown for a 401: the token is gone or wrong. */
class Unauthorized extends Error {}

// ---------------------------------------------------------------------------
// API

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) throw new Unauthorized('the token was refused');
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const message = data?.error?.message ?? `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return data;
}

const clientPath = (name, action = '') => `/clients/${encodeURIComponent(name)}${action}`;

// ---------------------------------------------------------------------------
// Formatting (as the CLI: decimal units, three significant digits)

function withUnit(n, units) {
  let value = n;
  let i = 0;
  while (i < units.length - 1 && Math.abs(round3(value)) >= 1000) {
    value /= 1000;
    i++;
  }
  return `${round3(value)} ${units[i]}`;
}

function round3(v) {
  if (v === 0 || Math.abs(v) >= 1000) return Math.round(v);
  const digits = 3 - Math.ceil(Math.log10(Math.abs(v) + Number.EPSILON));
  return Number(v.toFixed(Math.max(0, digits)));
}

const formatSize = (bytes) => withUnit(bytes, ['B', 'kB', 'MB', 'GB', 'TB', 'PB']);
const formatRate = (bps) => withUnit(bps, ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s']);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function showError(node, message) {
  node.textContent = message;
  node.hidden = message === '';
}

// ---------------------------------------------------------------------------
// Sign-in

function signedIn() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

function showLogin(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  stopRefresh();
  for (const dialog of document.querySelectorAll('dialog[open]')) closeDialog(dialog);
  $('app').hidden = true;
  $('sign-out').hidden = true;
  $('gateway').textContent = '';
  $('login').hidden = false;
  showError($('login-error'), message);
  $('token').value = '';
  $('token').focus();
}

async function showApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  await refresh();
}

/** Runs an action; a 401 brings the sign-in back, other errors go to `errorNode`. */
async function guarded(errorNode, action) {
  try {
    await action();
    showError(errorNode, '');
    return true;
  } catch (error) {
    if (error instanceof Unauthorized) showLogin('The token was refused. Sign in again.');
    else showError(errorNode, error.message);
    return false;
  }
}

// ---------------------------------------------------------------------------
// The client list, refreshed in place (rows are kept by name, so a switch
// keeps its focus across refreshes)

const rows = new Map();
let refreshTimer = null;
let refreshRound = 0; // a newer refresh makes an older one's answer stale

function stopRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = null;
  refreshRound++;
}

async function refresh() {
  stopRefresh();
  const round = refreshRound;
  await guarded($('error'), async () => {
    const [list, status] = await Promise.all([api('GET', '/clients'), api('GET', '/status')]);
    if (round !== refreshRound) return;
    renderClients(list.clients);
    $('gateway').textContent =
      `${status.interface} · ${status.sessions} active · v${status.version}` +
      (status.uplink.up ? '' : ' · uplink down');
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  });
  if (round === refreshRound && signedIn()) refreshTimer = setTimeout(refresh, REFRESH_MS);
}

function renderClients(clients) {
  const body = $('clients').tBodies[0];
  const seen = new Set();
  clients.forEach((client, i) => {
    seen.add(client.name);
    let row = rows.get(client.name);
    if (row === undefined) {
      row = createRow(client.name);
      rows.set(client.name, row);
    }
    updateRow(row, client);
    if (body.children[i] !== row.tr) body.insertBefore(row.tr, body.children[i] ?? null);
  });
  for (const [name, row] of rows) {
    if (!seen.has(name)) {
      row.tr.remove();
      rows.delete(name);
    }
  }
  $('empty').hidden = clients.length > 0;
}

function cell(tr, label) {
  const td = element('td');
  td.dataset.label = label;
  tr.append(td);
  return td;
}

function createRow(name) {
  const tr = element('tr');
  tr.dataset.client = name;
  const nameCell = cell(tr, 'Name');
  const title = element('span', 'name', name);
  const notes = element('span', 'notes muted');
  nameCell.append(title, notes);

  const state = element('span', 'badge');
  cell(tr, 'State').append(state);

  const usageCell = cell(tr, 'Usage');
  const meter = element('div', 'meter');
  meter.setAttribute('role', 'progressbar');
  meter.setAttribute('aria-valuemin', '0');
  meter.setAttribute('aria-valuemax', '100');
  const fill = element('div', 'fill');
  meter.append(fill);
  const usageText = element('span', 'usage-text');
  usageCell.append(meter, usageText);

  const rates = element('span', 'rates');
  cell(tr, 'Rate').append(rates);
  const policy = element('span', 'policy');
  cell(tr, 'Policy').append(policy);

  const toggleLabel = element('label', 'switch');
  const toggle = element('input');
  toggle.type = 'checkbox';
  toggle.setAttribute('aria-label', `enable ${name}`);
  const slider = element('span', 'slider');
  toggleLabel.append(toggle, slider);
  cell(tr, 'Enabled').append(toggleLabel);
  toggle.addEventListener('change', () => setEnabled(name, toggle));

  return { tr, notes, state, meter, fill, usageText, rates, policy, toggle };
}

function updateRow(row, client) {
  const usage = client.usage;
  row.tr.classList.toggle('disabled', !client.enabled);
  row.notes.textContent = client.notes;
  row.notes.hidden = client.notes === '';
  row.state.textContent = usage.state;
  row.state.className = `badge ${usage.state}`;

  if (usage.quota === null) {
    row.meter.hidden = true;
    row.meter.removeAttribute('aria-valuenow');
    // No quota counts nothing toward one: show what it moved.
    row.usageText.textContent = `${formatSize(usage.download.bytes + usage.upload.bytes)} · unlimited`;
  } else {
    const percent = usage.quota > 0 ? Math.min(100, (usage.used / usage.quota) * 100) : 100;
    row.meter.hidden = false;
    row.meter.setAttribute('aria-valuenow', String(Math.round(percent)));
    row.meter.className = `meter ${usage.state}`;
    row.fill.style.width = `${percent}%`;
    row.usageText.textContent = `${formatSize(usage.used)} of ${formatSize(usage.quota)} (${Math.round(percent)}%)`;
  }

  row.rates.textContent = `↓ ${formatRate(client.rates.downBps)} / ↑ ${formatRate(client.rates.upBps)}`;
  row.policy.textContent = client.origin === 'file' ? `${client.policy} (file)` : client.policy;
  if (!row.toggle.disabled) row.toggle.checked = client.enabled;
}

async function setEnabled(name, toggle) {
  const enable = toggle.checked;
  toggle.disabled = true;
  const ok = await guarded($('error'), () => api('POST', clientPath(name, enable ? '/enable' : '/disable')));
  toggle.disabled = false;
  if (!ok) toggle.checked = !enable;
  if (signedIn()) await refresh();
}

// ---------------------------------------------------------------------------
// Adding a client

function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}

async function openAdd() {
  const form = $('add-form');
  form.reset();
  $('add-key').hidden = true;
  showError($('add-error'), '');
  const loaded = await guarded($('error'), async () => {
    const { policies } = await api('GET', '/policies');
    $('add-policy').replaceChildren(...policies.map((name) => new Option(name, name)));
  });
  if (loaded) {
    $('add-dialog').showModal();
    $('add-name').focus();
  }
}

async function submitAdd(event) {
  event.preventDefault();
  const form = $('add-form');
  const generate = form.elements.key.value === 'generate';
  const request = {
    name: $('add-name').value.trim(),
    policy: $('add-policy').value,
    notes: $('add-notes').value,
  };
  if (generate) request.generateKey = true;
  else request.publicKey = $('add-key').value.trim();
  let created = null;
  await guarded($('add-error'), async () => {
    created = await api('POST', '/clients', request);
  });
  if (created === null) return;
  closeDialog($('add-dialog'));
  if (created.config) showConfig(created.client.name, created.config);
  await refresh();
}

function showConfig(name, config) {
  $('config-name').textContent = name;
  $('config-text').textContent = config;
  drawQr($('config-qr'), config);
  const link = $('config-download');
  link.href = URL.createObjectURL(new Blob([config], { type: 'text/plain' }));
  link.download = `${name.replace(/[^A-Za-z0-9_=+.-]/g, '_').slice(0, 15) || 'wg'}.conf`;
  $('config-dialog').showModal();
}

/** The private key leaves the page when the dialog closes. */
function forgetConfig() {
  const link = $('config-download');
  if (link.href) URL.revokeObjectURL(link.href);
  link.removeAttribute('href');
  $('config-text').textContent = '';
  const canvas = $('config-qr');
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
}

function drawQr(canvas, text) {
  const qr = qrcode(0, 'L');
  qr.addData(text, 'Byte');
  qr.make();
  const modules = qr.getModuleCount();
  const cell = Math.max(2, Math.floor(QR_PIXELS / (modules + 2 * QR_MARGIN)));
  const size = cell * (modules + 2 * QR_MARGIN);
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext('2d');
  context.fillStyle = '#fff';
  context.fillRect(0, 0, size, size);
  context.fillStyle = '#000';
  for (let row = 0; row < modules; row++) {
    for (let col = 0; col < modules; col++) {
      if (qr.isDark(row, col)) context.fillRect((col + QR_MARGIN) * cell, (row + QR_MARGIN) * cell, cell, cell);
    }
  }
  canvas.dataset.modules = String(modules);
}

// ---------------------------------------------------------------------------
// Wiring

function start() {
  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    if (token === '') return;
    sessionStorage.setItem(TOKEN_KEY, token);
    void showApp();
  });
  $('sign-out').addEventListener('click', () => showLogin());
  $('add-open').addEventListener('click', () => void openAdd());
  $('add-cancel').addEventListener('click', () => closeDialog($('add-dialog')));
  $('add-form').addEventListener('submit', (event) => void submitAdd(event));
  $('add-form').addEventListener('change', () => {
    const own = $('add-form').elements.key.value === 'own';
    $('add-key').hidden = !own;
    $('add-key').required = own;
  });
  // Done forgets the config at once; 'close' (fired later, as a task) covers Escape.
  $('config-done').addEventListener('click', () => {
    forgetConfig();
    closeDialog($('config-dialog'));
  });
  $('config-dialog').addEventListener('close', forgetConfig);

  if (signedIn()) void showApp();
  else showLogin();
}

start();
