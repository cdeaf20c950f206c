"""The console's single HTML page, its style and script inline under a per-answer CSP nonce
(``__NONCE__``); the script builds the DOM with ``textContent`` only.
"""

PAGE = """<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Console Ségur</title>
<style nonce="__NONCE__">
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #1d1d1f; }
header { display: flex; align-items: baseline; gap: 1rem; border-bottom: 1px solid #ccc; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.15rem; margin-top: 1.5rem; } h3 { font-size: 1rem; margin: .8rem 0 .3rem; }
h4 { font-size: .9rem; margin: .6rem 0 .2rem; font-weight: 600; }
code, pre { font-family: ui-monospace, monospace; font-size: 12px; }
pre { background: #f5f5f7; padding: .5rem; overflow: auto; max-height: 30rem; }
pre { white-space: pre-wrap; word-break: break-all; }
#status.down { color: #b00020; }
#step { border: 2px solid #0a58ca; padding: .5rem 1rem 1rem; margin-top: 1rem; background: #f3f7ff; }
#step textarea { width: 100%; min-height: 8rem; font-family: ui-monospace, monospace; }
#step input[type=text] { width: 60%; }
.buttons { display: flex; gap: .5rem; flex-wrap: wrap; margin: .5rem 0; }
.msg { font-weight: 600; } .msg.bad { color: #b00020; } .msg.good { color: #146c2e; }
.filters, .scenario-form { display: flex; gap: 1rem; flex-wrap: wrap; align-items: end; }
.scenario-form label { display: flex; flex-direction: column; max-width: 22rem; }
.scenario-form small { color: #555; }
section.service > h3 { border-bottom: 1px solid #ddd; }
details.group { margin: .3rem 0 .3rem .5rem; }
details.x { margin-left: 1rem; border-left: 4px solid #999; padding-left: .4rem; }
details.x.ok { border-color: #2e8540; } details.x.fault { border-color: #d9822b; }
details.x.rejected { border-color: #b00020; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: .3rem; background: #eee; font-size: 12px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; word-break: break-all; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: .2rem .5rem; text-align: left; }
.note { color: #555; }
</style>
</head>
<body>
<header><h1>Console Ségur</h1><span id="status">connexion…</span></header>
<section id="step" hidden></section>
<h2>Échanges en direct</h2>
<div class="filters">
  <label>Service <select id="f-service"><option value="">tous</option></select></label>
  <label>Session <input id="f-session" type="text" list="sessions" placeholder="toutes"></label>
  <span class="note">Les plus récents en premier ; cliquez un échange pour voir ses formes brute et analysée.</span>
</div>
<p id="feed-note" class="note"></p>
<div id="feed"></div>
<h2>Preuves recueillies pour segur judge</h2>
<p class="note">Pour la session du filtre ci-dessus : les exigences que <code>segur judge</code> peut déjà juger
avec les échanges enregistrés, et ce qu'il manque aux autres.</p>
<table><thead><tr><th>Exigence</th><th>Preuves</th></tr></thead><tbody id="evidence"></tbody></table>
<h2>Injection de fautes</h2>
<p class="note">Un scénario vaut pour une session entière : la latence et la panne touchent à la fois INSi et DMP.
Un produit entre dans une session par les URL <code>/s/&lt;session&gt;/…</code> ;
la session <code>default</code> est celle des URL sans préfixe.</p>
<div class="scenario-form">
  <label>Session <input id="sc-session" type="text" list="sessions" value="default"></label>
</div>
<div id="sc-fields" class="scenario-form"></div>
<div class="buttons">
  <button id="sc-apply" type="button">Appliquer</button>
  <button id="sc-clear" type="button">Réinitialiser la session</button>
  <span id="sc-msg" class="msg"></span>
</div>
<h3>Sessions avec un scénario actif</h3>
<table><thead><tr><th>Session</th><th>Scénario</th><th></th></tr></thead><tbody id="sc-active"></tbody></table>
<datalist id="sessions"></datalist>
<script nonce="__NONCE__">
"use strict";
const CHANGE = {"X-Segur-Console": "1", "Content-Type": "application/json"};
const SERVICES = {insi: "INSi", psc: "Pro Santé Connect", dmp: "DMP", mss: "MSSanté"};
const OUTCOME_CLASSES = {ok: "ok", fault: "fault", rejected: "rejected"};
const $ = (selector) => document.querySelector(selector);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// A tenant opens the console as .../#tenant=TOKEN: the fragment never leaves the browser, and every
// call carries the token, so the console shows that tenant's sessions only.
const TENANT = new URLSearchParams(location.hash.slice(1)).get("tenant");

async function api(path, options) {
  const request = Object.assign({}, options || {});
  if (TENANT) request.headers = Object.assign({}, request.headers || {}, {"Authorization": "Bearer " + TENANT});
  const response = await fetch(path, request);
  const json = (response.headers.get("content-type") || "").includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((json && json.error) || "HTTP " + response.status);
  return json;
}

function pretty(value) { return JSON.stringify(value, null, 2); }
function size(bytes) { return bytes < 1024 ? bytes + " o" : (bytes / 1024).toFixed(1) + " Kio"; }
function clock(seconds) { return new Date(seconds * 1000).toLocaleTimeString("fr-FR"); }
function lasted(seconds) { return (seconds * 1000).toFixed(1) + " ms"; }

function bodyBlock(title, view, id, part) {
  const note = view.shown < view.size ? `affichés ${view.shown} octets sur ${view.size}, tronqué` : `${view.size} o`;
  const href = `/api/exchanges/${encodeURIComponent(id)}/${part}`;
  const link = el("a", {href, download: ""}, "télécharger le corps brut");
  return el("div", {}, el("h4", {}, `${title} (${view.encoding === "hex" ? "hexadécimal" : "texte"}, ${note}) `, link),
    el("pre", {}, view.content));
}

async function loadDetail(id, into) {
  const x = await api("/api/exchanges/" + encodeURIComponent(id));
  const facts = [["Opération", x.operation], ["Résultat", x.outcome], ["Statut HTTP", x.http_status ?? "—"],
    ["Certificat client (sujet)", x.client_subject ?? "aucun"], ["Service", x.service], ["Session", x.session_key],
    ["Début", new Date(x.started_at * 1000).toISOString()], ["Durée", lasted(x.duration)], ["Identifiant", x.id],
    ["Trace signée", x.trace || "—"]];
  into.append(el("dl", {}, ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))])),
    el("h4", {}, "Métadonnées de la requête"), el("pre", {}, pretty(x.request_meta)),
    el("h4", {}, "Métadonnées de la réponse"), el("pre", {}, pretty(x.response_meta)),
    el("h4", {}, "Analyse du mock (résumé)"), el("pre", {}, pretty(x.summary)),
    bodyBlock("Requête brute", x.request, x.id, "request"), bodyBlock("Réponse brute", x.response, x.id, "response"));
}

function exchangeRow(x) {
  const row = el("details", {class: "x " + (OUTCOME_CLASSES[x.outcome] || "")},
    el("summary", {}, clock(x.started_at), " ", el("b", {}, x.operation || "?"), " ",
      el("span", {class: "badge"}, x.outcome),
      ` HTTP ${x.http_status ?? "—"} · ${size(x.request_size)} → ${size(x.response_size)} · ${lasted(x.duration)}`));
  row.addEventListener("toggle", () => {
    if (!row.open || row.dataset.loaded) return;
    row.dataset.loaded = "1";
    loadDetail(x.id, row).catch((error) => row.append(el("p", {class: "msg bad"}, error.message)));
  });
  return row;
}

class Feed {
  constructor(root, session) { this.root = root; this.session = session; this.reset(); }
  reset() {
    this.after = 0;
    this.generation = (this.generation || 0) + 1;  // a poll begun before a reset must not land after it
    this.groups = new Map();
    this.sections = new Map();
    this.root.replaceChildren();
  }
  query() {
    const params = new URLSearchParams({after: this.after});
    const service = this.session === undefined ? $("#f-service").value : "";
    const session = this.session === undefined ? $("#f-session").value.trim() : this.session;
    if (service) params.set("service", service);
    if (session) params.set("session", session);
    return params;
  }
  async poll() {
    const generation = this.generation;
    const data = await api("/api/exchanges?" + this.query());
    if (generation !== this.generation) return data;
    this.after = data.last_seq;
    for (const x of data.exchanges.slice().reverse()) this.add(x);
    return data;
  }
  section(service) {
    if (!this.sections.has(service)) {
      const body = el("div");
      this.root.append(el("section", {class: "service"}, el("h3", {}, SERVICES[service] || service), body));
      this.sections.set(service, body);
    }
    return this.sections.get(service);
  }
  add(x) {
    const key = JSON.stringify([x.service, x.session_key]);
    let group = this.groups.get(key);
    if (!group) {
      const count = el("span", {class: "note"});
      const list = el("div");
      group = {count, list, n: 0, node: el("details", {class: "group", open: ""},
        el("summary", {}, "Session ", el("code", {}, x.session_key), " ", count), list)};
      this.groups.set(key, group);
    }
    group.list.prepend(exchangeRow(x));
    group.n += 1;
    group.count.textContent = `(${group.n} échange${group.n > 1 ? "s" : ""})`;
    this.section(x.service).prepend(group.node);
  }
}

const feed = new Feed($("#feed"));
let step = null, stepFeed = null, catalog = null;

function list(entries) {
  const pairs = entries.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, el("code", {}, String(value)))]);
  return el("dl", {}, ...pairs);
}

async function answer(kind) {
  const body = {step: step.id, kind, answer: $("#answer").value, reason: $("#reason").value};
  const message = $("#step-msg");
  try {
    await api("/api/manual/answer", {method: "POST", headers: CHANGE, body: JSON.stringify(body)});
    message.className = "msg good";
    message.textContent = "Réponse transmise au harnais.";
  } catch (error) {
    message.className = "msg bad";
    message.textContent = error.message;
  }
}

function renderStep() {
  const box = $("#step");
  box.replaceChildren();
  box.hidden = !step;
  stepFeed = null;
  if (!step) return;
  const params = Object.entries(step.params).map(([name, value]) =>
    el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, el("pre", {}, pretty(value))),
      el("td", {}, step.param_help[name] || "")));
  const exchanges = el("div");
  box.append(el("h2", {}, "Étape à réaliser : ", el("code", {}, step.action)), el("p", {}, step.summary),
    el("h3", {}, "Paramètres"), el("table", {}, ...params),
    el("h3", {}, "Points d'accès à utiliser (session ", el("code", {}, step.session_key), ")"),
    list(Object.entries(step.endpoints)),
    el("h3", {}, "Certificats client"), list(Object.entries(step.credentials)),
    el("h3", {}, "Réponse attendue"), el("pre", {}, step.answer_shape),
    el("p", {}, "Valeurs possibles de outcome : ", el("code", {}, step.outcomes.join(", "))),
    el("label", {for: "answer"}, "Réponse du produit (objet JSON) :"),
    el("textarea", {id: "answer", spellcheck: "false"}),
    el("div", {class: "buttons"},
      el("button", {type: "button", onclick: () => answer("answer")}, "Envoyer la réponse")),
    el("label", {for: "reason"}, "Sinon, pourquoi : "), el("input", {id: "reason", type: "text"}),
    el("div", {class: "buttons"},
      el("button", {type: "button", onclick: () => answer("not_supported")}, "Je ne peux pas / action non supportée"),
      el("button", {type: "button", onclick: () => answer("failure")}, "Échec")),
    el("p", {id: "step-msg", class: "msg"}),
    el("h3", {}, "Échanges de cette session, en direct"), exchanges);
  stepFeed = new Feed(exchanges, step.session_key);
  $("#sc-session").value = step.session_key;
  fillScenario();
}

async function pollStep() {
  const current = (await api("/api/manual/step")).step;
  if ((current && current.id) !== (step && step.id)) { step = current; renderStep(); }
}

function buildScenarioForm() {
  const fields = $("#sc-fields");
  for (const s of catalog.switches) {
    const services = s.services.map((name) => SERVICES[name] || name).join(", ");
    const choices = Object.entries(s.choices);
    const input = choices.length
      ? el("select", {"data-name": s.name},
        ...choices.map(([value, effect]) => el("option", {value}, value ? `${value} — ${effect}` : effect)))
      : el("input", {"data-name": s.name, type: "number", min: "0", max: "60000", step: "100", value: "0"});
    fields.append(el("label", {}, `${s.label} (${services})`, input, el("small", {}, s.description)));
  }
  const silent = Object.entries(catalog.services).filter(([, service]) => !service.switches.length);
  for (const [, service] of silent) {
    fields.append(el("p", {class: "note"}, `${service.label} : aucun interrupteur dans ce mock.`));
  }
}

function fillScenario() {
  if (!catalog) return;
  const key = $("#sc-session").value.trim() || "default";
  const known = catalog.sessions.find((s) => s.session_key === key);
  const scenario = known ? known.scenario : {latency_ms: 0, fault: null, options: {}};
  for (const input of document.querySelectorAll("#sc-fields [data-name]")) {
    const name = input.dataset.name;
    if (name === "latency_ms") input.value = scenario.latency_ms;
    else if (name === "fault") input.value = scenario.fault || "";
    else input.value = scenario.options[name.slice("options.".length)] || "";
  }
}

function describeScenario(scenario) {
  const parts = [];
  if (scenario.latency_ms) parts.push(`latence ${scenario.latency_ms} ms`);
  if (scenario.fault) parts.push(`panne ${scenario.fault}`);
  for (const [name, value] of Object.entries(scenario.options)) parts.push(`${name}=${value}`);
  return parts.join(", ");
}

async function loadScenarios() {
  const first = catalog === null;
  catalog = await api("/api/scenarios");
  if (first) { buildScenarioForm(); fillScenario(); }
  $("#sessions").replaceChildren(...catalog.sessions.map((s) => el("option", {value: s.session_key})));
  const edit = (key) => () => { $("#sc-session").value = key; fillScenario(); };
  $("#sc-active").replaceChildren(...catalog.sessions.filter((s) => s.active).map((s) =>
    el("tr", {}, el("td", {}, el("code", {}, s.session_key)), el("td", {}, describeScenario(s.scenario)),
      el("td", {}, el("button", {type: "button", onclick: edit(s.session_key)}, "modifier")))));
}

async function changeScenario(method) {
  const key = $("#sc-session").value.trim() || "default";
  const scenario = {latency_ms: 0, fault: null, options: {}};
  for (const input of document.querySelectorAll("#sc-fields [data-name]")) {
    const name = input.dataset.name;
    if (name === "latency_ms") scenario.latency_ms = Number(input.value || 0);
    else if (name === "fault") scenario.fault = input.value || null;
    else if (input.value) scenario.options[name.slice("options.".length)] = input.value;
  }
  const message = $("#sc-msg");
  try {
    const options = {method, headers: CHANGE};
    if (method === "PUT") options.body = JSON.stringify(scenario);
    await api("/api/scenarios/" + encodeURIComponent(key), options);
    message.className = "msg good";
    message.textContent = method === "PUT" ? `Scénario appliqué à ${key}.` : `Session ${key} réinitialisée.`;
    await loadScenarios();
    fillScenario();
  } catch (error) {
    message.className = "msg bad";
    message.textContent = error.message;
  }
}

for (const [name, label] of Object.entries(SERVICES)) $("#f-service").append(el("option", {value: name}, label));
for (const id of ["#f-service", "#f-session"]) $(id).addEventListener("change", () => feed.reset());
$("#f-session").addEventListener("change", () => loadEvidence().catch(() => {}));
$("#sc-session").addEventListener("change", fillScenario);
$("#sc-apply").addEventListener("click", () => changeScenario("PUT"));
$("#sc-clear").addEventListener("click", () => changeScenario("DELETE"));

async function loadEvidence() {
  const key = $("#f-session").value.trim();
  if (!key) {
    $("#evidence").replaceChildren(el("tr", {}, el("td", {colspan: "2"}, "Choisissez une session dans le filtre.")));
    return;
  }
  const data = await api(`/api/sessions/${encodeURIComponent(key)}/evidence`);
  $("#evidence").replaceChildren(...data.requirements.map((r) => el("tr", {}, el("td", {}, r.requirement),
    el("td", {}, r.gathered ? "recueillies" : "manque : " + r.missing_fr.join(", ")))));
}

let rounds = 0;
async function refresh() {
  try {
    await pollStep();
    const data = await feed.poll();
    if (stepFeed) await stepFeed.poll();
    if (rounds++ % 4 === 0) await loadScenarios();
    if (rounds % 2 === 1) await loadEvidence();
    const skipped = "Trop d'échanges nouveaux d'un coup : seuls les plus récents sont affichés.";
    $("#feed-note").textContent = data.truncated ? skipped : "";
    $("#status").className = "";
    $("#status").textContent = "à jour à " + new Date().toLocaleTimeString("fr-FR");
  } catch (error) {
    $("#status").className = "down";
    $("#status").textContent = "console injoignable : " + error.message;
  }
  setTimeout(refresh, 1500);
}
refresh();
</script>
</body>
</html>
"""
