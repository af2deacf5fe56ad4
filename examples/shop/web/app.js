// The shop's page: every call goes to this site's own origin on the gateway,
// which verifies what the ring's peers answered before it answers us.
'use strict';

const api = (path, body) => fetch('/_note/app/shop/' + path, body === undefined ? {} : {
  method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body),
}).then(async r => { const j = await r.json(); if (!r.ok || !j.ok) throw new Error(j.error || r.statusText); return j; });

const $ = id => document.getElementById(id);
let currency = 'EUR';
let cursor = null;
let lastQuery = null;

const money = cents => new Intl.NumberFormat(undefined, {style: 'currency', currency}).format(cents / 100);

function say(text, isError) { $('message').textContent = text; $('message').className = isError ? 'error' : ''; }

function showVerification(v) {
  const badge = $('verdict');
  const fraud = v.fraud && v.fraud.length;
  badge.className = 'badge ' + (v.proven_complete ? 'proven' : 'audited');
  badge.textContent = (v.proven_complete ? '✔ Verified complete' : '✔ Verified, selection audited')
    + (fraud ? ` · ${v.fraud.length} lying peer(s) caught` : '');
  const rows = [
    ['Method', v.mode], ['Guarantee', v.completeness], ['Queries', v.queries],
    ['Records proven', v.records_proven], ['Peers', `${v.peer_count}: ${v.peers.map(p => p.slice(0, 12)).join(', ')}`],
    ['Bytes received', v.bytes_received], ['Time', `${v.ms} ms`],
    ['Dataset versions', Object.entries(v.seqs).map(([d, s]) => `${d.split('/').pop()} seq ${s}`).join(', ')],
    ['Fraud caught', fraud ? v.fraud.map(f => `${f.peer.slice(0, 12)}: ${f.lie}`).join('; ') : 'none'],
  ];
  const dl = $('details-list');
  dl.replaceChildren();
  for (const [k, val] of rows) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = String(val);
    if (k === 'Fraud caught' && fraud) dd.className = 'fraud';
    dl.append(dt, dd);
  }
  $('details').classList.remove('hidden');
}

function renderProducts(products, append) {
  const tbody = $('results').querySelector('tbody');
  if (!append) tbody.replaceChildren();
  for (const p of products) {
    const tr = document.createElement('tr');
    tr.dataset.id = p.id;
    const cells = [p.name, p.brand || '', p.category || '', money(p.price), p.stock > 0 ? p.stock : 'out of stock'];
    cells.forEach((c, i) => { const td = document.createElement('td'); td.textContent = c; if (i === 3) td.className = 'price'; tr.append(td); });
    const td = document.createElement('td');
    const b = document.createElement('button'); b.className = 'small add'; b.textContent = 'Add to cart';
    b.disabled = !(p.stock > 0);
    b.onclick = () => changeCart({add: p.id, qty: 1});
    td.append(b); tr.append(td); tbody.append(tr);
  }
  $('results').classList.toggle('hidden', tbody.children.length === 0);
}

async function search(more) {
  const q = more ? {...lastQuery, cursor} : {
    text: $('q').value, sort: $('sort').value, in_stock: $('in-stock').checked, limit: 10,
    ...($('category').value ? {category: $('category').value} : {}),
    ...($('max-price').value !== '' ? {max_price: Math.round(parseFloat($('max-price').value) * 100)} : {}),
  };
  lastQuery = q;
  say(more ? 'Loading more…' : 'Searching and verifying…');
  $('search-btn').disabled = true;
  try {
    const r = await api('search', q);
    currency = r.currency || currency;
    cursor = r.cursor;
    renderProducts(r.products, more);
    showVerification(r.verification);
    const n = $('results').querySelector('tbody').children.length;
    say(n === 0 ? 'No products match.' : `${r.total != null ? r.total : n} product(s) match` + (r.total != null ? ` (showing ${n}).` : '.'));
    $('more').classList.toggle('hidden', !cursor);
  } catch (e) {
    $('verdict').className = 'badge failed'; $('verdict').textContent = '✘ Not verified';
    say(e.message, true);
  } finally { $('search-btn').disabled = false; }
}

function renderCart(c) {
  const ul = $('cart-items');
  ul.replaceChildren();
  for (const it of c.items) {
    const li = document.createElement('li');
    const name = document.createElement('span'); name.textContent = `${it.qty} × ${it.name}`;
    const right = document.createElement('span'); right.textContent = money(it.subtotal) + ' ';
    const rm = document.createElement('button'); rm.className = 'small'; rm.textContent = '✕'; rm.title = 'Remove';
    rm.onclick = () => changeCart({remove: it.id});
    right.append(rm); li.append(name, right); ul.append(li);
  }
  $('cart-total').textContent = c.items.length ? `Total: ${money(c.total)}` : 'Your cart is empty.';
  $('checkout').disabled = c.items.length === 0;
}

async function changeCart(change) {
  try { renderCart(await api('cart', change)); } catch (e) { say(e.message, true); }
}

async function checkout() {
  $('checkout').disabled = true;
  try {
    const r = await api('checkout', {});
    $('order').classList.remove('hidden');
    $('order-status').textContent = `Order ${r.order.id.slice(0, 8)} for ${money(r.order.total)} sent, sealed to the shop. Waiting for its signed confirmation…`;
    renderCart({items: [], total: 0});
    pollOrder(r.order.hash, 0);
  } catch (e) { say(e.message, true); $('checkout').disabled = false; }
}

async function pollOrder(hash, tries) {
  try {
    const r = await api('orders');
    const reply = r.replies.find(x => x.order === hash);
    if (reply) {
      $('order-status').textContent = reply.status === 'confirmed'
        ? `✔ Confirmed by the shop (signature checked): ${money(reply.total)}.`
        : `✘ Rejected by the shop: ${reply.reason}.`;
      $('order-status').dataset.status = reply.status;
      return;
    }
  } catch (e) { /* the ring may be briefly busy: try again */ }
  if (tries < 120) setTimeout(() => pollOrder(hash, tries + 1), 1000);
  else $('order-status').textContent = 'No answer from the shop yet; it will appear here when it comes.';
}

async function start() {
  $('search-form').onsubmit = e => { e.preventDefault(); search(false); };
  $('more').onclick = () => search(true);
  $('checkout').onclick = checkout;
  try {
    const info = await api('info');
    currency = info.currency;
    $('shop-name').textContent = info.name;
    document.title = info.name;
    for (const c of info.categories) { const o = document.createElement('option'); o.value = c; o.textContent = c; $('category').append(o); }
    if (info.user) {
      $('cart-user').textContent = `Shopping as ${info.user.slice(0, 12)}…`;
      renderCart(await api('cart'));
    } else {
      $('cart-user').textContent = 'Start the gateway with --key NAME to keep a cart and order.';
    }
    document.body.dataset.ready = '1';
  } catch (e) { say(e.message, true); }
}

start();
