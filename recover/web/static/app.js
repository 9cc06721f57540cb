// The web queue's passkey ceremonies (WebAuthn needs script; everything else is HTML and HTMX).
// Options come from the server as JSON (base64url fields); answers go back as JSON the same way.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const say = (text, bad) => {
    const el = document.getElementById("message");
    el.textContent = text;
    el.className = bad ? "bad" : "good";
  };
  const fromB64u = (s) => {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const b = atob(s), u = new Uint8Array(b.length);
    for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i);
    return u.buffer;
  };
  const toB64u = (buf) => {
    const u = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const descriptors = (list) => (list || []).map((c) => Object.assign({}, c, { id: fromB64u(c.id) }));
  const requestOptions = (o) => Object.assign({}, o, { challenge: fromB64u(o.challenge), allowCredentials: descriptors(o.allowCredentials) });
  const creationOptions = (o) => Object.assign({}, o, {
    challenge: fromB64u(o.challenge), user: Object.assign({}, o.user, { id: fromB64u(o.user.id) }),
    excludeCredentials: descriptors(o.excludeCredentials),
  });
  const asJSON = (c) => {
    const r = c.response, out = { id: c.id, rawId: toB64u(c.rawId), type: c.type, response: { clientDataJSON: toB64u(r.clientDataJSON) } };
    if (r.attestationObject) out.response.attestationObject = toB64u(r.attestationObject);
    if (r.authenticatorData) {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      out.response.userHandle = r.userHandle ? toB64u(r.userHandle) : null;
    }
    return out;
  };
  async function post(url, body) {
    const r = await fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf } });
    const doc = await r.json().catch(() => ({ error: { code: "http", message: r.statusText } }));
    if (!r.ok) throw doc.error || { code: "http", message: "HTTP " + r.status };
    return doc;
  }
  const failed = (e) => say((e.code ? e.code + ": " : "") + (e.message || String(e)), true);

  async function enroll(form) {
    const name = form.elements.name.value;
    const options = await post("/api/passkeys/options", { name: name });
    const cred = await navigator.credentials.create({ publicKey: creationOptions(options) });
    const doc = await post("/api/passkeys", asJSON(cred));
    const text = JSON.stringify(doc.passkey, null, 2);
    document.getElementById("passkey-json").textContent = text;
    const link = document.getElementById("passkey-download");
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    link.download = name + ".passkey.json";
    document.getElementById("passkey-result").hidden = false;
    say("Passkey created. Give the file to the admins to enroll.");
  }

  async function signin() {
    const options = await post("/api/signin/options", {});
    const cred = await navigator.credentials.get({ publicKey: requestOptions(options) });
    const doc = await post("/api/signin", asJSON(cred));
    say("Signed in as " + doc.operator);
    window.location.assign("/queue");
  }

  async function decide(form, decision) {
    const caseId = form.dataset.case, planHash = form.elements.plan_hash.value;
    const asked = { decision: decision, reason: form.elements.reason.value, plan_hash: planHash };
    const got = await post("/api/cases/" + caseId + "/decision/options", asked);
    const cred = await navigator.credentials.get({ publicKey: requestOptions(got.options) });
    const doc = await post("/api/cases/" + caseId + "/decision",
      { statement: got.statement, credential: asJSON(cred), plan_hash: planHash });
    say(decision + " recorded (statement " + doc.statement.slice(0, 16) + "…): case " + doc.status + ", " + doc.missing);
    document.getElementById("case-status").textContent = doc.status;
    if (window.htmx) window.htmx.ajax("GET", "/cases/" + caseId + "/approvals", { target: "#approvals", swap: "outerHTML" });
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target, kind = form.dataset.passkey;
    if (!kind) return;
    ev.preventDefault();
    const run = kind === "enroll" ? enroll(form) : decide(form, ev.submitter ? ev.submitter.value : "approve");
    run.catch(failed);
  });
  document.addEventListener("click", (ev) => {
    if (ev.target.dataset && ev.target.dataset.passkey === "signin") signin().catch(failed);
  });
})();
