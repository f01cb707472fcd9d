/* netcx tag: page views (also single-page URL changes), clicks on [data-netcx-track] elements,
   consent state -> POST /v1/tag.
   Consent: window.netcxConsent = {analytics: true, ...} before the tag loads, or the script's
   data-consent="analytics personalisation" attribute, or netcx.setConsent({...}) at any time.
   The visitor id is a first-party HttpOnly cookie set by the server; this script never sees it. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src, location.href) : new URL(location.href);
  var endpoint = (script && script.getAttribute("data-endpoint")) || base.origin + "/v1/tag";
  var PURPOSES = ["analytics", "personalisation", "marketing", "number-verification"];

  function initialConsent() {
    var state = {};
    var attr = script && script.getAttribute("data-consent");
    if (attr !== null && attr !== undefined) {
      var granted = attr.split(/[\s,]+/);
      PURPOSES.forEach(function (p) { state[p] = granted.indexOf(p) >= 0; });
    }
    var given = window.netcxConsent;
    if (given && typeof given === "object") {
      Object.keys(given).forEach(function (k) {
        if (typeof given[k] === "boolean") state[k] = given[k];
      });
    }
    return state;
  }

  var consent = initialConsent();

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function send(event) {
    event.id = newId();
    event.ts = Date.now();
    var body = JSON.stringify({ events: [event], consent: consent, sent: Date.now() });
    // text/plain keeps the request "simple" (no CORS preflight); keepalive survives navigation.
    return fetch(endpoint, {
      method: "POST",
      body: body,
      credentials: "include",
      keepalive: true,
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
    }).catch(function () { /* never break the page */ });
  }

  function page() {
    return send({
      type: "page",
      url: location.href,
      title: document.title,
      referrer: document.referrer || undefined,
    });
  }

  function track(name, props) {
    return send({ type: "click", name: String(name), url: location.href, props: props || {} });
  }

  function setConsent(state) {
    Object.keys(state || {}).forEach(function (k) {
      if (typeof state[k] === "boolean") consent[k] = state[k];
    });
    return send({ type: "consent", url: location.href });
  }

  document.addEventListener("click", function (e) {
    var el = e.target && e.target.closest ? e.target.closest("[data-netcx-track]") : null;
    if (!el) return;
    var props = {};
    var text = (el.textContent || "").trim().slice(0, 100);
    if (text) props.text = text;
    if (el.getAttribute("href")) props.href = el.getAttribute("href");
    track(el.getAttribute("data-netcx-track") || "click", props);
  }, true);

  // Single-page sites change the URL without loading a page: each change is a page view.
  // An in-page anchor (#section) is not; a hash route (#/path, #!path) is.
  function route() {
    var hash = location.hash;
    var routed = hash.indexOf("#/") === 0 || hash.indexOf("#!") === 0;
    return location.pathname + location.search + (routed ? hash : "");
  }
  var lastRoute = route();
  function urlChanged() {
    if (route() === lastRoute) return;
    lastRoute = route();
    page();
  }
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    history[name] = function () {
      var result = original.apply(this, arguments);
      urlChanged();
      return result;
    };
  });
  window.addEventListener("popstate", urlChanged);

  window.netcx = {
    page: page,
    track: track,
    setConsent: setConsent,
    consent: function () { return Object.assign({}, consent); },
  };
  page();
})();
