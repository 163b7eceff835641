/*
 * fairtrack.js: the website snippet of a fairtrack gateway. No dependencies, no cookies, no
 * storage without analytics-storage consent. Contract: web/README.md.
 *
 *   <script async src="https://GATEWAY/fairtrack.js" data-write-key="KEY"></script>
 *
 * Built (minified) by web/scripts/build.mjs into layers/common/fairtrack/assets/fairtrack.js.
 */
(function (w) {
  'use strict';
  var VERSION = '0.1.0'; // web/package.json "version" (the build checks that they agree)
  var d = w.document;
  var n = w.navigator;
  var L = w.location;
  var H = w.history;
  var stub = w.fairtrack;
  if (stub && stub.v) return; // loaded twice: the first copy keeps running

  var me = d.currentScript;
  var attr = function (k) {
    return me && me.getAttribute('data-' + k);
  };
  var key = attr('write-key');
  var warn = function (m) {
    try {
      w.console.warn('fairtrack: ' + m);
    } catch (e) {}
  };
  if (!key) return warn('data-write-key is missing');
  var api = (attr('api') || (me && me.src ? new URL(me.src) : L).origin).replace(/\/+$/, '');
  var explicit = attr('consent') == 'explicit';
  var auto = attr('auto-page') != 'false';

  var safe = function (f) {
    return function () {
      try {
        return f.apply(this, arguments);
      } catch (e) {}
    };
  };
  var later = function (f, ms) {
    return setTimeout(safe(f), ms);
  };
  var now = function () {
    return new Date().toISOString();
  };
  var uuid = function () {
    var c = w.crypto;
    if (c.randomUUID) return c.randomUUID();
    var b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    return [].map
      .call(b, function (x) {
        return (x + 256).toString(16).slice(1);
      })
      .join('')
      .replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
  };
  var obj = function (o) {
    return o && typeof o == 'object' ? o : {};
  };
  var tz;
  try {
    tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {}

  // -- identity and storage ------------------------------------------------------------------------
  var AID = 'fairtrack.aid';
  var UID = 'fairtrack.uid';
  var aid = uuid(); // memory only until analytics storage is granted
  var uid;
  var stored; // whether aid/uid live in localStorage now
  var ls = function (f) {
    try {
      return f(w.localStorage);
    } catch (e) {}
  };

  // -- consent state -------------------------------------------------------------------------------
  var exp; // explicit categoryPreferences (fairtrack('consent', ...))
  var tc; // TCF: {s: tcString, g: gdprApplies, p: purpose 1 consent}
  var T = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization'];
  var B64 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_';
  var def = {}; // Consent Mode defaults, by type
  var lock = {}; // types a region-scoped default denied: a global default may not grant them
  var upd = {}; // Consent Mode updates, by type
  var cmSeen; // some gtag('consent', ...) was seen
  var cmWait = 0; // a default's wait_for_update is running
  var tok = 0;
  var gaveUp; // the hold timeout passed with no consent source on the page

  var known = function () {
    return gaveUp || exp || (!explicit && ((cmSeen && !cmWait) || tc));
  };
  var st = function (v) {
    return v == 'granted' ? 3 : v == 'denied' ? 2 : 1;
  };
  // gcd/gcs exactly as gtag builds them: letter = B64[16 + (default << 2) + update], 1 not set,
  // 2 denied, 3 granted; gcs = G1 + ad_storage + analytics_storage (effective; '-' not set)
  var cm = function () {
    var g = '13';
    var bit = function (t) {
      var v = upd[t] || def[t];
      return v ? +(v == 'granted') : '-';
    };
    T.forEach(function (t, i) {
      g += B64[16 + (st(def[t]) << 2) + st(upd[t])] + (i < 3 ? 3 : 5);
    });
    return { gcd: g, gcs: 'G1' + bit(T[0]) + bit(T[1]) };
  };
  // context.consent: every signal known now (nothing when none is)
  var signal = function () {
    var c = {};
    if (exp) c.categoryPreferences = exp;
    if (!explicit) {
      if (cmSeen) Object.assign(c, cm());
      if (tc) {
        if (tc.s) c.tcString = tc.s;
        if (tc.g != null) c.gdpr = tc.g ? '1' : '0';
      }
    }
    return c;
  };
  // analytics storage: some source grants it and none denies it
  var storageOk = function () {
    var yes, no;
    var vote = function (v) {
      if (v === true) yes = 1;
      if (v === false) no = 1;
    };
    if (exp) vote(exp.analytics);
    if (!explicit) {
      var a = upd.analytics_storage || def.analytics_storage;
      if (a) vote(a == 'granted');
      if (tc && tc.g !== false) vote(tc.p);
    }
    return yes && !no;
  };
  // called after every consent signal: persist the ids, or remove them (and forget the old id)
  var store = function () {
    if (storageOk()) {
      ls(function (s) {
        aid = s.getItem(AID) || aid;
        uid = uid || s.getItem(UID) || undefined;
        s.setItem(AID, aid);
        if (uid) s.setItem(UID, uid);
        stored = 1;
      });
    } else {
      ls(function (s) {
        s.removeItem(AID);
        s.removeItem(UID);
      });
      if (stored) aid = uuid();
      stored = 0;
    }
  };

  // -- transport -----------------------------------------------------------------------------------
  var post = function (path, body) {
    var j = JSON.stringify(body);
    var u = api + path;
    try {
      if (n.sendBeacon(u, new Blob([j], { type: 'text/plain' }))) return;
    } catch (e) {}
    try {
      w.fetch(u, {
        method: 'POST',
        body: j,
        keepalive: true,
        credentials: 'omit',
        headers: { 'content-type': 'text/plain' },
      }).catch(function () {});
    } catch (e) {}
  };
  var receipt = function (sig) {
    var b = Object.assign({ writeKey: key, anonymousId: aid, timestamp: now() }, sig);
    if (uid) b.userId = uid;
    post('/v1/consent', b);
  };

  // -- events --------------------------------------------------------------------------------------
  var held = []; // waiting for consent
  var out = []; // stamped, waiting for the batch window
  var timer;
  var flush = function () {
    var batch = [];
    var size = 0;
    var go = function () {
      if (batch.length) post('/v1/batch', { batch: batch, writeKey: key, sentAt: now() });
      batch = [];
      size = 0;
    };
    out.splice(0).forEach(function (e) {
      var s = new Blob([JSON.stringify(e)]).size + 1;
      if (size + s > 6e4) go(); // beacon / keepalive bodies: 64 KB
      batch.push(e);
      size += s;
    });
    go();
  };
  var stamp = function (e) {
    var c = signal();
    e.anonymousId = aid;
    for (var k in c) {
      e.context.consent = c;
      break;
    }
    out.push(e);
  };
  var pump = function (force) {
    scan();
    if (force || known() || held.length > 99) held.splice(0).forEach(stamp);
    if (force || out.length > 19) flush();
    if ((held.length || out.length) && !timer) {
      timer = later(function () {
        timer = 0;
        pump();
        flush();
      }, 500);
    }
  };
  var add = function (type, extra) {
    var s = w.screen || {};
    var e = Object.assign(
      {
        type: type,
        messageId: uuid(),
        timestamp: now(),
        context: {
          page: { url: L.href, path: L.pathname, search: L.search, referrer: d.referrer, title: d.title },
          userAgent: n.userAgent,
          locale: n.language,
          timezone: tz,
          screen: { width: s.width, height: s.height },
          library: { name: 'fairtrack.js', version: VERSION },
        },
      },
      extra
    );
    if (uid) e.userId = uid;
    held.push(e);
    pump();
  };
  var page = function (props) {
    add('page', { properties: obj(props) });
  };

  // -- Google Consent Mode (window.dataLayer) ------------------------------------------------------
  var dl;
  var seen = 0;
  var mine;
  var onConsent = function (e) {
    var m = e && e[0] == 'consent' && e[1];
    var o = e && e[2];
    if ((m != 'default' && m != 'update') || !o || typeof o != 'object') return;
    var before = JSON.stringify(cm());
    T.forEach(function (t) {
      var v = o[t];
      if (v != 'granted' && v != 'denied') return;
      if (m == 'update') upd[t] = v;
      else if (o.region && o.region.length) {
        // the visitor's region is unknown here: a region-scoped default may deny, never grant
        if (v == 'denied') def[t] = lock[t] = v;
      } else if (!lock[t]) def[t] = v;
    });
    if (m == 'update') cmWait = 0;
    else if (o.wait_for_update > 0) {
      var k = (cmWait = ++tok);
      later(function () {
        if (cmWait == k) cmWait = 0;
        pump();
      }, +o.wait_for_update);
    }
    cmSeen = 1;
    store();
    if (m == 'update' && JSON.stringify(cm()) != before) receipt(cm());
  };
  // read what is new in dataLayer; re-wrap push when it was replaced (gtag.js does)
  var scan = function () {
    var a = w.dataLayer;
    if (explicit || !a || !a.push) return;
    if (a != dl) {
      dl = a;
      seen = 0;
    }
    while (seen < a.length) onConsent(a[seen++]);
    if (a.push != mine) {
      var p = a.push;
      a.push = mine = function () {
        var r = p.apply(a, arguments);
        safe(pump)();
        return r;
      };
    }
  };

  // -- commands ------------------------------------------------------------------------------------
  var run = function (a) {
    var c = a[0];
    var x = a[1];
    var y = a[2];
    if (c == 'page') page(x);
    else if (c == 'track') {
      if (typeof x == 'string' && x) add('track', { event: x, properties: obj(y) });
      else warn('track needs an event name');
    } else if (c == 'identify') {
      if (x != null && x !== '' && typeof x != 'object') {
        uid = '' + x;
        if (stored) ls(function (s) {
          s.setItem(UID, uid);
        });
      } else if (typeof x == 'object') y = x;
      add('identify', { traits: obj(y) });
    } else if (c == 'consent' && x && typeof x == 'object') {
      var p = {};
      for (var k in x) if (typeof x[k] == 'boolean') p[k] = x[k];
      var changed = JSON.stringify(p) != JSON.stringify(exp);
      exp = p;
      store();
      if (changed) receipt({ consent: { categoryPreferences: p } });
      pump();
    } else warn('unknown command');
  };
  var ft = (w.fairtrack = function () {
    try {
      run(arguments);
    } catch (e) {}
  });
  ft.v = VERSION;

  // -- start ---------------------------------------------------------------------------------------
  var hide = safe(function () {
    pump(1);
  });
  w.addEventListener('pagehide', hide);
  d.addEventListener('visibilitychange', function () {
    if (d.visibilityState == 'hidden') hide();
  });
  if (!explicit && typeof w.__tcfapi == 'function') {
    try {
      w.__tcfapi(
        'addEventListener',
        2,
        safe(function (t, ok) {
          var s = t && t.eventStatus;
          if (!ok || (s != 'tcloaded' && s != 'useractioncomplete')) return;
          var prev = tc && tc.s;
          tc = { s: t.tcString, g: t.gdprApplies, p: !!(t.purpose && t.purpose.consents && t.purpose.consents[1]) };
          store();
          if (s == 'useractioncomplete' && tc.s && tc.s != prev) receipt({ tcString: tc.s });
          pump();
        })
      );
    } catch (e) {}
  }
  // single-page apps: a page view when pushState/replaceState/popstate change the path or query
  var last = L.pathname + L.search;
  var nav = safe(function () {
    var u = L.pathname + L.search;
    if (u != last) {
      last = u;
      if (auto) page();
    }
  });
  ['pushState', 'replaceState'].forEach(function (m) {
    var f = H && H[m];
    if (f)
      H[m] = function () {
        var r = f.apply(this, arguments);
        nav();
        return r;
      };
  });
  w.addEventListener('popstate', nav);
  safe(scan)();
  ((stub && stub.q) || []).forEach(function (a) {
    ft.apply(w, a);
  });
  if (auto) ft('page');
  // no consent source on the page after 5 s (no Consent Mode command, no __tcfapi, not explicit):
  // send what is held without a signal (the gateway fails closed); otherwise hold until page hide
  later(function () {
    scan();
    if (!explicit && !cmSeen && typeof w.__tcfapi != 'function') gaveUp = 1;
    pump();
  }, 5e3);
})(window);
