// net.js — everything the client says to chatd.
//  * config: where the six processes listen (/config.json from the static
//    server, else the default ports 4001..4006 on this page's host);
//  * session: access + refresh token and the signed-in user in localStorage;
//    the access token is refreshed (rotated) before it expires and once when
//    a request answers UNAUTHENTICATED;
//  * routing: user operations (by root field) → user role, other mutations →
//    sender, queries → receiver, subscriptions → receiver over graphql-ws;
//  * instances: the chosen sender/receiver (localStorage) and the one in use
//    (a dead receiver fails over to the other one, the HTTP layer likewise);
//  * live subscriptions whose variables are recomputed on every (re)connect,
//    so a chat feed resumes with afterSeq = the last seq the UI holds.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { getMainDefinition } from '@apollo/client/utilities';
import { Observable } from 'rxjs';
import { serviceFor } from './routing.js';
import { createClient } from 'graphql-ws';
import { parse, print } from 'graphql';
import { typePolicies } from './cache.js';

const LS_TOKEN = 'chatd.token';
const LS_REFRESH = 'chatd.refreshToken';
const LS_USER = 'chatd.user';
export const LS_SENDER = 'chatd.senderInstance';
export const LS_RECEIVER = 'chatd.receiverInstance';

const REFRESH_MARGIN_S = 60; // refresh an access token this long before exp
const FAILOVER_AFTER = 2; // consecutive failed WS connects before switching receiver
const RESTART_AFTER_4401_MS = 1000; // a subscription ended by a 4401 close starts again after this

// ---- config -------------------------------------------------------------
export const config = {
  host: window.location.hostname || 'localhost',
  user: [4001, 4003],
  sender: [4002, 4004],
  receiver: [4005, 4006],
};
export async function loadConfig() {
  try {
    const r = await fetch('/config.json', { cache: 'no-store' });
    if (r.ok) Object.assign(config, await r.json());
  } catch {
    /* defaults */
  }
}

// ---- instances ----------------------------------------------------------
const listeners = new Set();
const notify = () => listeners.forEach((f) => f());
export function onStateChange(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}
const storedIndex = (key, n) => {
  const v = Number(localStorage.getItem(key));
  return Number.isInteger(v) && v >= 0 && v < n ? v : 0;
};
// index in use per service (starts at the chosen one; moves on failure)
export const inUse = { user: 0, sender: 0, receiver: 0 };
export function initInstances() {
  inUse.sender = storedIndex(LS_SENDER, config.sender.length);
  inUse.receiver = storedIndex(LS_RECEIVER, config.receiver.length);
}
export const portOf = (service) => config[service][inUse[service]];
export const httpUrl = (service) => `http://${config.host}:${portOf(service)}/graphql`;
const wsUrl = () => `ws://${config.host}:${portOf('receiver')}/graphql`;
function failover(service) {
  inUse[service] = (inUse[service] + 1) % config[service].length;
  notify();
}
export const failoverService = failover;

// ---- server features ------------------------------------------------------
// attachments (POST /files, Message.attachments) arrive with issue 20's files
// work; the client asks the receiver's schema once at start and leaves the
// field out of its documents when the server does not have it
export const features = { attachments: false };
export async function probeFeatures() {
  try {
    const r = await fetch(httpUrl('receiver'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __type(name: "Attachment") { name } }' }),
    });
    const b = await r.json();
    features.attachments = Boolean(b && b.data && b.data.__type);
  } catch {
    /* an unreachable receiver: no attachments until the next load */
  }
}
/** Chooses an instance and reconnects (the seeds reload the page; so do we). */
export function chooseInstance(service, index) {
  localStorage.setItem(service === 'sender' ? LS_SENDER : LS_RECEIVER, String(index));
  window.location.reload();
}

// ---- session ------------------------------------------------------------
export const session = {
  get token() {
    return localStorage.getItem(LS_TOKEN);
  },
  get refreshToken() {
    return localStorage.getItem(LS_REFRESH);
  },
  get user() {
    try {
      return JSON.parse(localStorage.getItem(LS_USER));
    } catch {
      return null;
    }
  },
  save({ token, refreshToken, user }) {
    localStorage.setItem(LS_TOKEN, token);
    localStorage.setItem(LS_REFRESH, refreshToken);
    if (user) localStorage.setItem(LS_USER, JSON.stringify(user));
  },
  clear() {
    localStorage.removeItem(LS_TOKEN);
    localStorage.removeItem(LS_REFRESH);
    localStorage.removeItem(LS_USER);
  },
};
function tokenExp(t) {
  try {
    return JSON.parse(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp || 0;
  } catch {
    return 0;
  }
}
let refreshing = null;
// while the account settings revoke every session and sign in again, a
// refused token is expected: no refresh (it would fail and sign out)
let reauthing = false;
export function setReauthing(v) {
  reauthing = v;
}
export const isReauthing = () => reauthing;
/** Rotates the refresh token once (concurrent callers share the request). */
export function refreshSession() {
  if (reauthing) return Promise.reject(new Error('signing in again'));
  if (!refreshing) {
    refreshing = (async () => {
      const rt = session.refreshToken;
      if (!rt) throw new Error('signed out');
      const body = await rawPost('user', {
        query: 'mutation Refresh($t: String!) { refreshToken(refreshToken: $t) { token refreshToken user { id username displayName } } }',
        variables: { t: rt },
      }, false);
      if (!body.data || !body.data.refreshToken) {
        session.clear();
        notify();
        throw new Error('session expired');
      }
      session.save(body.data.refreshToken);
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}
export async function validToken() {
  const t = session.token;
  if (t && tokenExp(t) - Date.now() / 1000 < REFRESH_MARGIN_S && session.refreshToken) {
    await refreshSession();
  }
  return session.token;
}

// ---- HTTP ---------------------------------------------------------------
const isUnauth = (b) => b && b.errors && b.errors.some((e) => e.extensions && e.extensions.code === 'UNAUTHENTICATED');

/** POST to the instance in use; a network failure moves to the other instance once. */
async function rawPost(service, payload, auth = true) {
  let lastErr;
  for (let attempt = 0; attempt < config[service].length; attempt++) {
    const headers = { 'content-type': 'application/json' };
    if (auth && session.token) headers.authorization = `Bearer ${await validToken()}`;
    try {
      const r = await fetch(httpUrl(service), { method: 'POST', headers, body: JSON.stringify(payload) });
      return await r.json();
    } catch (e) {
      lastErr = e;
      failover(service);
    }
  }
  throw lastErr;
}

// Apollo's HttpLink (and GraphiQL's fetcher) with a fetch that routes,
// authenticates, refreshes, fails over. The URL is ignored.
export async function chatdFetch(_uri, init) {
  const payload = JSON.parse(init.body);
  let service;
  try {
    service = serviceFor(parse(payload.query), payload.operationName);
  } catch {
    service = 'receiver'; // a syntax error: any instance answers it
  }
  let body = await rawPost(service, payload);
  if (isUnauth(body) && session.refreshToken) {
    await refreshSession();
    body = await rawPost(service, payload);
  }
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
}

// Subscriptions go over graphql-ws to the receiver in use (wsClient below).
// A subscription may pass context.resume: () => variables, evaluated on every
// (re)connect, so a chat feed resumes with afterSeq = the newest seq applied.
const wsLink = new ApolloLink((operation) => new Observable((observer) => {
  const { resume } = operation.getContext();
  const vars = resume || (() => operation.variables);
  return subscribe(print(operation.query), vars, (data) => observer.next({ data }), (errors) => {
    observer.next({ errors });
    observer.complete();
  });
}));
const isSubscription = ({ query }) => {
  const d = getMainDefinition(query);
  return d.kind === 'OperationDefinition' && d.operation === 'subscription';
};

export const apollo = new ApolloClient({
  link: ApolloLink.split(isSubscription, wsLink, new HttpLink({ uri: '/graphql', fetch: chatdFetch })),
  cache: new InMemoryCache({ typePolicies }),
  defaultOptions: {
    query: { fetchPolicy: 'network-only', errorPolicy: 'none' },
    mutate: { errorPolicy: 'none' },
  },
});
export const query = async (q, variables) => (await apollo.query({ query: q, variables })).data;
export const mutate = async (m, variables) => (await apollo.mutate({ mutation: m, variables })).data;

// ---- WebSocket (subscriptions) -----------------------------------------
export const conn = { status: navigator.onLine ? 'connecting' : 'offline', connects: 0 };
const live = new Set(); // { payload, vars }
const reconnectHooks = new Set();
let failures = 0;
let ws = null;

function setStatus(s) {
  if (!navigator.onLine) s = 'offline';
  if (conn.status !== s) {
    conn.status = s;
    notify();
  }
}
let socketOpen = false;
window.addEventListener('online', () => setStatus(socketOpen ? 'connected' : 'reconnecting'));
window.addEventListener('offline', () => setStatus('offline'));

export function wsClient() {
  if (ws) return ws;
  ws = createClient({
    url: () => wsUrl(),
    connectionParams: async () => ({ authToken: await validToken() }),
    lazy: false,
    keepAlive: 10000,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: (n) => new Promise((r) => setTimeout(r, Math.min(300 * 2 ** n, 4000))),
    on: {
      connecting: () => setStatus(conn.connects ? 'reconnecting' : 'connecting'),
      connected: () => {
        socketOpen = true;
        failures = 0;
        conn.connects++;
        // recompute variables BEFORE graphql-ws re-sends each subscribe
        for (const s of live) s.payload.variables = s.vars();
        if (conn.connects > 1) reconnectHooks.forEach((f) => f());
        setStatus('connected');
      },
      closed: (ev) => {
        socketOpen = false;
        if (ev && (ev.code === 4403 || ev.code === 4401) && !reauthing) {
          // token refused or revoked (logout everywhere, password changed):
          // refresh before the next attempt; a refused refresh signs out
          refreshSession().catch(() => {});
        }
        if (ev && ev.code === 4401 && ws) {
          // 4401 is fatal to graphql-ws (no retry): the next subscribe makes
          // a new client; subscribe() below restarts its subscriptions on it
          const dead = ws;
          ws = null;
          setTimeout(() => dead.dispose(), 0);
        }
        if (++failures >= FAILOVER_AFTER && config.receiver.length > 1) {
          failures = 0;
          failover('receiver');
        }
        setStatus(conn.connects ? 'reconnecting' : 'connecting');
      },
    },
  });
  return ws;
}
export function closeWs() {
  if (ws) ws.dispose();
  ws = null;
  conn.connects = 0;
}
/** Runs f after every reconnect (not the first connect): refetch state. */
export function onReconnect(f) {
  reconnectHooks.add(f);
  return () => reconnectHooks.delete(f);
}

/**
 * Subscribes with variables from vars() — evaluated now and on every
 * reconnect. onData(data); onError(errors) ends it (caller may resubscribe).
 * Returns an unsubscribe function.
 */
export function subscribe(queryText, vars, onData, onError) {
  const s = { payload: { query: queryText, variables: vars() }, vars };
  let stop = () => {};
  let timer = null;
  let ended = false;
  const start = () => {
    s.payload.variables = vars();
    live.add(s);
    stop = wsClient().subscribe(s.payload, {
      next: (r) => {
        if (r.errors) onError && onError(r.errors);
        else if (r.data) onData(r.data);
      },
      error: (e) => {
        live.delete(s);
        if (!ended && e && e.code === 4401 && session.token) {
          // the socket was closed for a revoked token: start again on a new
          // client once the session is renewed (refresh or sign-in)
          timer = setTimeout(start, RESTART_AFTER_4401_MS);
          return;
        }
        onError && onError(Array.isArray(e) ? e : [e]);
      },
      complete: () => live.delete(s),
    });
  };
  start();
  return () => {
    ended = true;
    clearTimeout(timer);
    live.delete(s);
    stop();
  };
}

export const errText = (e) => {
  if (!e) return '';
  if (e.errors && e.errors.length) return e.errors[0].message;
  if (Array.isArray(e) && e[0]) return e[0].message || String(e[0]);
  return e.message || String(e);
};
export const newId = () =>
  (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`);
