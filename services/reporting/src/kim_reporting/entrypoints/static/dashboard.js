// KIM Hub dashboard: reads /indicators and /lag with the user's bearer token and draws them with Chart.js.
"use strict";

const TOKEN_KEY = "kim-reporting-token";
const charts = {};
const PALETTE = ["#0b4f71", "#e07a1f", "#3a9d5d", "#b83b5e", "#6a4c93", "#1982c4", "#8ac926", "#ff595e",
                 "#6d6875", "#ffca3a", "#2a9d8f", "#e76f51"];

function token() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (response.status === 401) {
    document.getElementById("login").hidden = false;
    throw new Error("Bitte anmelden: das Token fehlt oder ist abgelaufen.");
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.detail || `${path}: HTTP ${response.status}`);
  }
  return response.json();
}

function query() {
  const form = new FormData(document.getElementById("filters"));
  const params = new URLSearchParams();
  for (const [key, value] of form.entries()) if (value) params.set(key, value);
  return params.toString();
}

// cells -> {indicator: {dimension value ("" for none): {period: cell}}}, totals only (no breakdown asked)
function index(cells) {
  const out = {};
  for (const cell of cells) {
    const dim = Object.values(cell.dimensions)[0] || "";
    ((out[cell.indicator] ??= {})[dim] ??= {})[cell.period] = cell;
  }
  return out;
}

function series(byPeriod, periods) {
  return periods.map((p) => (byPeriod && byPeriod[p] && !byPeriod[p].suppressed ? byPeriod[p].value : null));
}

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: true }, config.options);
  charts[id] = new Chart(document.getElementById(id), config);
}

function stacked(id, idx, indicator, periods, extra = []) {
  const dims = Object.keys(idx[indicator] || {}).sort();
  const datasets = dims.map((dim, i) => ({ label: dim, data: series(idx[indicator][dim], periods),
    backgroundColor: PALETTE[i % PALETTE.length], stack: indicator }));
  draw(id, { type: "bar", data: { labels: periods, datasets: datasets.concat(extra) },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } });
}

function render(data, lag) {
  const periods = data.periods.map((p) => p.period);
  const last = periods[periods.length - 1];
  const idx = index(data.cells);
  draw("chart-active", { type: "line", data: { labels: periods, datasets: [
    { label: "Aktive Fälle", data: series((idx.active_cases || {})[""], periods), borderColor: PALETTE[0] }] } });
  stacked("chart-intakes", idx, "intakes", periods);
  stacked("chart-closures", idx, "closures", periods);
  stacked("chart-improvements", idx, "status_improvements", periods, [{ label: "Einbürgerungen",
    data: series((idx.naturalisations || {})[""], periods), backgroundColor: "#222", stack: "naturalisations" }]);

  const partners = Object.keys(idx.referrals || {}).sort();
  const at = (indicator, dim) => (((idx[indicator] || {})[dim] || {})[last]);
  const shown = (cell, scale = 1) => (cell && !cell.suppressed ? cell.value * scale : null);
  document.getElementById("referral-period").textContent = last;
  draw("chart-referrals", { type: "bar", data: { labels: partners, datasets: [
    { label: "Vermittlungen", data: partners.map((p) => shown(at("referrals", p))), backgroundColor: PALETTE[1],
      yAxisID: "y" },
    { label: "Annahmequote %", type: "line", data: partners.map((p) => shown(at("referral_acceptance_rate", p), 100)),
      borderColor: PALETTE[2], yAxisID: "y1" }] },
    options: { scales: { y: { beginAtZero: true }, y1: { position: "right", min: 0, max: 100 } } } });

  draw("chart-vza", { type: "line", data: { labels: periods, datasets: [
    ["vza_granted", "gefördert (Bewilligung)"], ["vza_positions", "Stellen"], ["vza_filled", "besetzt"]].map(
    ([name, label], i) => ({ label, data: series((idx[name] || {})[""], periods), borderColor: PALETTE[i] })) },
    options: { scales: { y: { beginAtZero: true } } } });

  figures(data.cells.filter((c) => c.period === last), last);
  drawLag(lag);
  document.getElementById("min-persons").textContent = data.min_persons;
}

function row(cells, attrs = {}) {
  const tr = document.createElement("tr");
  Object.entries(attrs).forEach(([k, v]) => tr.setAttribute(`data-${k}`, v));
  for (const [text, cls] of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  return tr;
}

let titles = {};

function figures(cells, last) {
  document.getElementById("figures-period").textContent = last;
  const body = document.querySelector("#figures tbody");
  body.replaceChildren(...cells.map((c) => {
    const dim = Object.values(c.dimensions)[0] || "";
    const value = c.suppressed ? "•" : String(c.value);
    return row([[titles[c.indicator] || c.indicator], [dim], [value, "num"]],
      { indicator: c.indicator, dim, value: c.suppressed ? "suppressed" : String(c.value) });
  }));
}

function drawLag(lag) {
  draw("chart-lag", { type: "bar", data: { labels: lag.projections.map((p) => p.projection), datasets: [
    { label: "Ereignisse zurück", data: lag.projections.map((p) => p.events_behind), backgroundColor: PALETTE[3] }] },
    options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true, suggestedMax: 10 } } } });

  lagTable(lag.projections);
}

function lagTable(projections) {
  const body = document.querySelector("#lag tbody");
  body.replaceChildren(...projections.map((p) => row([[p.projection], [String(p.events_behind), "num"],
    [p.seconds_behind === null ? "unbekannt" : p.seconds_behind.toFixed(1), "num"], [p.last_event_time || "–"]],
    { projection: p.projection, behind: p.events_behind })));
}

async function load() {
  const status = document.getElementById("status");
  document.body.dataset.ready = "false";
  try {
    status.textContent = "lädt …";
    status.className = "";
    const [data, lag, catalogue] = await Promise.all([api(`/indicators?${query()}`), api("/lag"), api("/catalogue")]);
    titles = Object.fromEntries(catalogue.indicators.map((i) => [i.name, i.title]));
    render(data, lag);
    window.kimDashboard = { data, lag };
    status.textContent = `Stand ${new Date().toLocaleString("de-DE")}`;
    document.body.dataset.ready = "true";
  } catch (error) {
    status.textContent = error.message;
    status.className = "error";
    document.body.dataset.ready = "error";
  }
}

document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, new FormData(e.target).get("token"));
  e.target.hidden = true;
  load();
});
const params = new URLSearchParams(location.search);
for (const [key, value] of params.entries()) {
  const field = document.querySelector(`#filters [name="${key}"]`);
  if (field) field.value = value;
}
if (token()) load(); else document.getElementById("login").hidden = false;
// the lag moves on its own: refresh it every 5 seconds
setInterval(() => { if (token()) api("/lag").then(drawLag).catch(() => {}); }, 5000);
