// User role against a real chatd + Postgres: every operation with the seed's
// shapes, every validation / authorization error, email privacy, token
// tampering and expiry, refresh rotation and reuse detection, logout,
// changePassword, removeUser (soft delete, sockets closed 4403), concurrent
// createUser, the trust-mode seed client flow and the trust/token switch.
// Login throttling (needs Redis) is in throttle.test.js.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startChatd, gqlPost, signToken, initedWs, runChatdExpectExit, sql } from './lib/chatd.js';

const sha256 = (s) => createHash('sha256').update(s).digest('hex');

const sfx = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 7);
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const USER_FIELDS = 'id username email displayName isActive createdAt updatedAt';

async function gql(chatd, query, variables, headers = {}) {
  const r = await gqlPost(chatd.url, { query, variables }, headers);
  return r;
}
function errCode(r) {
  return r.body.errors && r.body.errors[0].extensions && r.body.errors[0].extensions.code;
}

const CREATE = `mutation Create($in: CreateUserInput!) { createUser(createUserInput: $in) { ${USER_FIELDS} } }`;
const LOGIN = `mutation Login($u: String!, $p: String!) { login(username: $u, password: $p) { token refreshToken user { id username email } } }`;
const REFRESH = `mutation R($t: String!) { refreshToken(refreshToken: $t) { token refreshToken user { id username } } }`;

async function createUser(chatd, name, extra = {}) {
  const input = { username: name, email: `${name}@example.com`, displayName: `D ${name}`, password: 'password-123', ...extra };
  const r = await gql(chatd, CREATE, { in: input });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
  return r.body.data.createUser;
}
async function login(chatd, name, password = 'password-123') {
  const r = await gql(chatd, LOGIN, { u: name, p: password });
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
  return r.body.data.login;
}

describe('user role, token mode', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ db: true, fixtures: false });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('createUser returns the seed shape; email visible to its owner', async () => {
    const name = `ann_${sfx()}`;
    const u = await createUser(chatd, name);
    assert.match(u.id, /^[0-9a-f-]{36}$/);
    assert.equal(u.username, name);
    assert.equal(u.email, `${name}@example.com`);
    assert.equal(u.displayName, `D ${name}`);
    assert.equal(u.isActive, true);
    assert.match(u.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(u.createdAt, u.updatedAt);
    assert.equal(JSON.stringify(u).includes('argon2'), false);
  });

  test('createUser validation errors are BAD_USER_INPUT with clear messages', async () => {
    const n = `v${sfx()}`;
    const cases = [
      [{ username: '', email: `${n}a@example.com`, password: 'password-123' }, /username must not be empty/],
      [{ username: 'x'.repeat(51), email: `${n}b@example.com`, password: 'password-123' }, /username is too long/],
      [{ username: `${n} `, email: `${n}c@example.com`, password: 'password-123' }, /space/],
      [{ username: `${n}\u0001`, email: `${n}c@example.com`, password: 'password-123' }, /invalid characters/],
      [{ username: `${n}d`, email: 'not-an-email', password: 'password-123' }, /email is not a valid address/],
      [{ username: `${n}e`, email: 'a@b', password: 'password-123' }, /email is not a valid address/],
      [{ username: `${n}f`, email: '', password: 'password-123' }, /email must not be empty/],
      [{ username: `${n}g`, email: `${'e'.repeat(250)}@x.io`, password: 'password-123' }, /email is too long/],
      [{ username: `${n}h`, email: `${n}h@example.com`, displayName: 'd'.repeat(101), password: 'password-123' }, /displayName is too long/],
      [{ username: `${n}i`, email: `${n}i@example.com` }, /password is required/],
      [{ username: `${n}j`, email: `${n}j@example.com`, password: 'short12' }, /password must be 8 to 128/],
      [{ username: `${n}k`, email: `${n}k@example.com`, password: 'p'.repeat(129) }, /password must be 8 to 128/],
    ];
    for (const [input, re] of cases) {
      const r = await gql(chatd, CREATE, { in: input });
      assert.equal(r.status, 200);
      assert.equal(errCode(r), 'BAD_USER_INPUT', `${JSON.stringify(input)} → ${JSON.stringify(r.body)}`);
      assert.match(r.body.errors[0].message, re);
      assert.equal(r.body.data.createUser, null);
    }
    // the edges that are allowed
    const edge = `${'y'.repeat(50 - n.length)}${n}`;
    assert.equal(edge.length, 50);
    await createUser(chatd, edge, { email: `${n}edge@example.com`, password: 'p'.repeat(8), displayName: 'd'.repeat(100) });
    await createUser(chatd, `${n}max`, { password: 'p'.repeat(128) });
    await login(chatd, `${n}max`, 'p'.repeat(128));
  });

  test('duplicate username or email (case-insensitive) → "already exists"', async () => {
    const name = `Dup_${sfx()}`;
    await createUser(chatd, name);
    const r1 = await gql(chatd, CREATE, { in: { username: name.toUpperCase(), email: `other_${name}@example.com`, password: 'password-123' } });
    assert.equal(errCode(r1), 'BAD_USER_INPUT');
    assert.match(r1.body.errors[0].message, /already exists/);
    assert.match(r1.body.errors[0].message, /Username/);
    const r2 = await gql(chatd, CREATE, { in: { username: `x${name}`, email: `${name}@EXAMPLE.com`.toUpperCase(), password: 'password-123' } });
    assert.match(r2.body.errors[0].message, /Email already exists/);
  });

  test('two createUser with the same username at once: exactly one wins', async () => {
    for (let round = 0; round < 3; round++) {
      const name = `race_${sfx()}`;
      const rs = await Promise.all(
        [0, 1, 2, 3].map((i) => gql(chatd, CREATE, { in: { username: name, email: `${name}_${i}@example.com`, password: 'password-123' } })),
      );
      const ok = rs.filter((r) => r.body.data && r.body.data.createUser);
      const dup = rs.filter((r) => r.body.errors && /already exists/.test(r.body.errors[0].message));
      assert.equal(ok.length, 1, JSON.stringify(rs.map((r) => r.body)));
      assert.equal(dup.length, 3);
    }
  });

  test('login, me, users (paged, searchable), user, userByUsername; email only for its owner', async () => {
    const tag = sfx();
    const a = await createUser(chatd, `alice_${tag}`);
    const b = await createUser(chatd, `bob_${tag}`, { displayName: `Bobby ${tag}` });
    const la = await login(chatd, `ALICE_${tag}`); // username lookup is case-insensitive
    assert.equal(la.user.id, a.id);
    assert.equal(la.user.email, a.email);
    assert.match(la.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(la.refreshToken.length, 43);
    const payload = JSON.parse(Buffer.from(la.token.split('.')[1], 'base64url'));
    assert.equal(payload.sub, a.id);
    assert.equal(payload.exp - payload.iat, 900);
    const h = bearer(la.token);

    const me = await gql(chatd, `{ me { ${USER_FIELDS} } }`, undefined, h);
    assert.deepEqual(me.body.data.me, a);

    const ub = await gql(chatd, `query($id: ID!) { user(id: $id) { id username email displayName } }`, { id: b.id }, h);
    assert.deepEqual(ub.body.data.user, { id: b.id, username: b.username, email: null, displayName: b.displayName });
    const ua = await gql(chatd, `query($id: ID!) { user(id: $id) { email } }`, { id: a.id }, h);
    assert.equal(ua.body.data.user.email, a.email);
    const byName = await gql(chatd, `query($u: String!) { userByUsername(username: $u) { id email } }`, { u: b.username.toUpperCase() }, h);
    assert.deepEqual(byName.body.data.userByUsername, { id: b.id, email: null });

    const search = await gql(chatd, `query($s: String) { users(search: $s) { id username email } }`, { s: tag }, h);
    const found = search.body.data.users;
    assert.deepEqual(found.map((u) => u.id).sort(), [a.id, b.id].sort());
    assert.equal(found.find((u) => u.id === a.id).email, a.email);
    assert.equal(found.find((u) => u.id === b.id).email, null);
    const byDisplay = await gql(chatd, `query($s: String) { users(search: $s) { id } }`, { s: `bobby ${tag}` }, h);
    assert.deepEqual(byDisplay.body.data.users, [{ id: b.id }]);
    // search is not a pattern: % and _ match literally
    const pct = await gql(chatd, `{ users(search: "%") { id } }`, undefined, h);
    assert.deepEqual(pct.body.data.users, []);

    // paging: newest first, stable
    const p1 = await gql(chatd, `query($s: String) { users(search: $s, limit: 1) { id } }`, { s: tag }, h);
    const p2 = await gql(chatd, `query($s: String) { users(search: $s, limit: 1, offset: 1) { id } }`, { s: tag }, h);
    assert.deepEqual([p1.body.data.users[0].id, p2.body.data.users[0].id], [b.id, a.id]);
    const all = await gql(chatd, '{ users { id } }', undefined, h);
    assert.ok(all.body.data.users.length <= 50);
    for (const [args, re] of [
      ['limit: 0', /limit must be between 1 and 1000/],
      ['limit: 1001', /limit must be between 1 and 1000/],
      ['offset: -1', /offset must be between 0 and 1000000/],
      [`search: "${'s'.repeat(101)}"`, /search is too long/],
    ]) {
      const r = await gql(chatd, `{ users(${args}) { id } }`, undefined, h);
      assert.equal(errCode(r), 'BAD_USER_INPUT', args);
      assert.match(r.body.errors[0].message, re);
    }
    const max = await gql(chatd, '{ users(limit: 1000, offset: 1000000) { id } }', undefined, h);
    assert.deepEqual(max.body.data.users, []);
  });

  test('unknown or malformed ids and names are NOT_FOUND', async () => {
    const name = `nf_${sfx()}`;
    await createUser(chatd, name);
    const h = bearer((await login(chatd, name)).token);
    for (const id of ['00000000-0000-0000-0000-000000000000', 'not-a-uuid', "1' OR '1'='1"]) {
      const r = await gql(chatd, 'query($id: ID!) { user(id: $id) { id } }', { id }, h);
      assert.equal(errCode(r), 'NOT_FOUND', id);
      assert.match(r.body.errors[0].message, /not found/);
      assert.deepEqual(r.body.data, { user: null });
    }
    const r = await gql(chatd, '{ userByUsername(username: "no_such_user_x") { id } }', undefined, h);
    assert.equal(errCode(r), 'NOT_FOUND');
    // echoed input is cut to 64 bytes at a character boundary
    const long = await gql(chatd, 'query($u: String!) { userByUsername(username: $u) { id } }', { u: `x${'é'.repeat(40)}` }, h);
    assert.equal(long.body.errors[0].message, `User with username x${'é'.repeat(31)} not found`);
  });

  test('updateUser: own profile; another user is FORBIDDEN; duplicates "already exists"', async () => {
    const tag = sfx();
    const a = await createUser(chatd, `ua_${tag}`);
    const b = await createUser(chatd, `ub_${tag}`);
    const h = bearer((await login(chatd, a.username)).token);
    const UPD = `mutation U($in: UpdateUserInput!) { updateUser(updateUserInput: $in) { ${USER_FIELDS} } }`;
    const ok = await gql(chatd, UPD, { in: { id: a.id, displayName: 'New Name' } }, h);
    assert.equal(ok.body.errors, undefined, JSON.stringify(ok.body));
    const u = ok.body.data.updateUser;
    assert.equal(u.displayName, 'New Name');
    assert.equal(u.username, a.username);
    assert.equal(u.email, a.email);
    assert.ok(u.updatedAt > a.updatedAt);
    const other = await gql(chatd, UPD, { in: { id: b.id, displayName: 'hijack' } }, h);
    assert.equal(errCode(other), 'FORBIDDEN');
    assert.match(other.body.errors[0].message, /update another user/);
    const unknown = await gql(chatd, UPD, { in: { id: '00000000-0000-0000-0000-000000000000', displayName: 'x' } }, h);
    assert.equal(errCode(unknown), 'FORBIDDEN');
    const dup = await gql(chatd, UPD, { in: { id: a.id, username: b.username } }, h);
    assert.match(dup.body.errors[0].message, /Username already exists/);
    const dupMail = await gql(chatd, UPD, { in: { id: a.id, email: b.email } }, h);
    assert.match(dupMail.body.errors[0].message, /Email already exists/);
    const bad = await gql(chatd, UPD, { in: { id: a.id, email: 'nope' } }, h);
    assert.equal(errCode(bad), 'BAD_USER_INPUT');
    const renamed = await gql(chatd, UPD, { in: { id: a.id, username: `ua2_${tag}` } }, h);
    assert.equal(renamed.body.data.updateUser.username, `ua2_${tag}`);
    await login(chatd, `ua2_${tag}`);
  });

  test('tampered, expired, foreign-secret and alg=none tokens are refused', async () => {
    const name = `tok_${sfx()}`;
    const u = await createUser(chatd, name);
    const { token } = await login(chatd, name);
    const [hd, pl, sig] = token.split('.');
    const claims = JSON.parse(Buffer.from(pl, 'base64url'));
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: '00000000-0000-0000-0000-000000000001' })).toString('base64url');
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const flip = sig[5] === 'A' ? 'B' : 'A';
    for (const bad of [
      `${hd}.${forged}.${sig}`,
      `${hd}.${pl}.${sig.slice(0, 5)}${flip}${sig.slice(6)}`,
      `${none}.${pl}.`,
      signToken({ sub: u.id, ttl: -120 }),
      signToken({ sub: u.id, secret: 'a-different-secret-0123456789' }),
    ]) {
      const r = await gql(chatd, '{ me { id } }', undefined, bearer(bad));
      assert.equal(r.status, 401, bad);
      assert.equal(errCode(r), 'UNAUTHENTICATED');
    }
    const ok = await gql(chatd, '{ me { id } }', undefined, bearer(token));
    assert.equal(ok.body.data.me.id, u.id);
    const anon = await gql(chatd, '{ me { id } }');
    assert.equal(anon.status, 401);
  });

  test('refreshToken rotates; presenting a used token again revokes the family', async () => {
    const name = `rt_${sfx()}`;
    const u = await createUser(chatd, name);
    const l = await login(chatd, name);
    const r1 = await gql(chatd, REFRESH, { t: l.refreshToken });
    assert.equal(r1.body.errors, undefined, JSON.stringify(r1.body));
    const p1 = r1.body.data.refreshToken;
    assert.equal(p1.user.id, u.id);
    assert.notEqual(p1.refreshToken, l.refreshToken);
    const me = await gql(chatd, '{ me { id } }', undefined, bearer(p1.token));
    assert.equal(me.body.data.me.id, u.id);
    const r2 = await gql(chatd, REFRESH, { t: p1.refreshToken });
    const p2 = r2.body.data.refreshToken;
    assert.ok(p2.refreshToken);
    // reuse of the first (already rotated) token: refused, and the live one dies too
    const reuse = await gql(chatd, REFRESH, { t: l.refreshToken });
    assert.equal(errCode(reuse), 'UNAUTHENTICATED');
    assert.match(reuse.body.errors[0].message, /Invalid or expired refresh token/);
    const after = await gql(chatd, REFRESH, { t: p2.refreshToken });
    assert.equal(errCode(after), 'UNAUTHENTICATED');
    // another login's family is unaffected
    const l2 = await login(chatd, name);
    assert.ok((await gql(chatd, REFRESH, { t: l2.refreshToken })).body.data.refreshToken);
    for (const t of ['', 'garbage', 'x'.repeat(300)]) {
      const r = await gql(chatd, REFRESH, { t });
      assert.equal(errCode(r), 'UNAUTHENTICATED', t);
    }
  });

  test('stored secrets are hashes; an expired refresh token is refused', async () => {
    const name = `st_${sfx()}`;
    const u = await createUser(chatd, name);
    const l = await login(chatd, name);
    assert.match(sql(`SELECT password_hash FROM users WHERE id = '${u.id}'`), /^\$argon2id\$v=19\$m=65536,t=2,p=1\$/);
    assert.equal(sql(`SELECT count(*) FROM refresh_tokens WHERE token_hash = '${l.refreshToken}'`), '0');
    assert.equal(sql(`SELECT count(*) FROM refresh_tokens WHERE token_hash = '${sha256(l.refreshToken)}' AND user_id = '${u.id}'`), '1');
    const days = Number(sql(`SELECT round(extract(epoch FROM expires_at - created_at) / 86400) FROM refresh_tokens WHERE token_hash = '${sha256(l.refreshToken)}'`));
    assert.equal(days, 30);
    sql(`UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = '${sha256(l.refreshToken)}'`);
    const r = await gql(chatd, REFRESH, { t: l.refreshToken });
    assert.equal(errCode(r), 'UNAUTHENTICATED');
  });

  test('concurrent refresh with one token: one rotation wins', async () => {
    const name = `rtc_${sfx()}`;
    await createUser(chatd, name);
    const l = await login(chatd, name);
    const rs = await Promise.all([0, 1, 2].map(() => gql(chatd, REFRESH, { t: l.refreshToken })));
    assert.equal(rs.filter((r) => r.body.data && r.body.data.refreshToken).length, 1);
  });

  test('logout revokes the refresh token; logout without one revokes all; needs a token', async () => {
    const name = `lo_${sfx()}`;
    await createUser(chatd, name);
    const l1 = await login(chatd, name);
    const l2 = await login(chatd, name);
    const l3 = await login(chatd, name);
    const h = bearer(l1.token);
    const out = await gql(chatd, 'mutation($t: String) { logout(refreshToken: $t) }', { t: l1.refreshToken }, h);
    assert.deepEqual(out.body, { data: { logout: true } });
    assert.equal(errCode(await gql(chatd, REFRESH, { t: l1.refreshToken })), 'UNAUTHENTICATED');
    const again = await gql(chatd, 'mutation($t: String) { logout(refreshToken: $t) }', { t: l1.refreshToken }, h);
    assert.deepEqual(again.body, { data: { logout: false } });
    assert.ok((await gql(chatd, REFRESH, { t: l2.refreshToken })).body.data.refreshToken);
    const all = await gql(chatd, 'mutation { logout }', undefined, h);
    assert.deepEqual(all.body, { data: { logout: true } });
    assert.equal(errCode(await gql(chatd, REFRESH, { t: l3.refreshToken })), 'UNAUTHENTICATED');
    const anon = await gql(chatd, 'mutation { logout }');
    assert.equal(anon.status, 401);
  });

  test('changePassword checks the old one, and revokes every refresh token', async () => {
    const name = `cp_${sfx()}`;
    await createUser(chatd, name);
    const l1 = await login(chatd, name);
    const l2 = await login(chatd, name);
    const h = bearer(l1.token);
    const CP = 'mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) }';
    const wrong = await gql(chatd, CP, { o: 'not-the-password', n: 'new-password-1' }, h);
    assert.equal(errCode(wrong), 'BAD_USER_INPUT');
    assert.match(wrong.body.errors[0].message, /Current password is incorrect/);
    const short = await gql(chatd, CP, { o: 'password-123', n: 'short' }, h);
    assert.match(short.body.errors[0].message, /newPassword must be 8 to 128/);
    const ok = await gql(chatd, CP, { o: 'password-123', n: 'new-password-1' }, h);
    assert.deepEqual(ok.body, { data: { changePassword: true } });
    for (const t of [l1.refreshToken, l2.refreshToken])
      assert.equal(errCode(await gql(chatd, REFRESH, { t })), 'UNAUTHENTICATED');
    const old = await gql(chatd, LOGIN, { u: name, p: 'password-123' });
    assert.equal(errCode(old), 'UNAUTHENTICATED');
    await login(chatd, name, 'new-password-1');
    const anon = await gql(chatd, CP, { o: 'a', n: 'new-password-2' });
    assert.equal(anon.status, 401);
  });

  test('removeUser: only yourself; soft delete; tokens revoked; sockets closed 4403; name reserved', async () => {
    const tag = sfx();
    const a = await createUser(chatd, `rm_${tag}`);
    const b = await createUser(chatd, `keep_${tag}`);
    const la = await login(chatd, a.username);
    const lb = await login(chatd, b.username);
    const RM = `mutation($id: ID!) { removeUser(id: $id) { ${USER_FIELDS} } }`;
    const forbidden = await gql(chatd, RM, { id: b.id }, bearer(la.token));
    assert.equal(errCode(forbidden), 'FORBIDDEN');
    assert.match(forbidden.body.errors[0].message, /remove another user/);

    const wsA = await initedWs(chatd.wsUrl, { authToken: la.token });
    const wsA2 = await initedWs(chatd.wsUrl, { authToken: la.token });
    const wsB = await initedWs(chatd.wsUrl, { authToken: lb.token });

    const r = await gql(chatd, RM, { id: a.id }, bearer(la.token));
    assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
    assert.equal(r.body.data.removeUser.id, a.id);
    assert.equal(r.body.data.removeUser.isActive, false);
    assert.equal((await wsA.closedWith()).code, 4403);
    assert.equal((await wsA2.closedWith()).code, 4403);
    // b's socket stays open and usable
    wsB.send({ id: 'q', type: 'subscribe', payload: { query: '{ me { id } }' } });
    const m = await wsB.next((x) => x.id === 'q');
    assert.deepEqual(m.payload.data, { me: { id: b.id } });
    wsB.close();

    const hb = bearer(lb.token);
    assert.equal(errCode(await gql(chatd, 'query($id: ID!) { user(id: $id) { id } }', { id: a.id }, hb)), 'NOT_FOUND');
    const list = await gql(chatd, 'query($s: String) { users(search: $s) { id } }', { s: tag }, hb);
    assert.deepEqual(list.body.data.users, [{ id: b.id }]);
    assert.equal(errCode(await gql(chatd, LOGIN, { u: a.username, p: 'password-123' })), 'UNAUTHENTICATED');
    assert.equal(errCode(await gql(chatd, REFRESH, { t: la.refreshToken })), 'UNAUTHENTICATED');
    // its still-valid access token no longer resolves to an account, for any operation
    assert.equal(errCode(await gql(chatd, '{ me { id } }', undefined, bearer(la.token))), 'UNAUTHENTICATED');
    assert.equal(errCode(await gql(chatd, '{ users { id } }', undefined, bearer(la.token))), 'UNAUTHENTICATED');
    const late = await initedWs(chatd.wsUrl, { authToken: la.token });
    late.send({ id: 'l', type: 'subscribe', payload: { query: '{ users { id } }' } });
    const lm = await late.next((x) => x.id === 'l');
    assert.equal(lm.payload.errors[0].extensions.code, 'UNAUTHENTICATED');
    late.close();
    assert.equal(errCode(await gql(chatd, RM, { id: a.id }, bearer(la.token))), 'UNAUTHENTICATED');
    // the name stays reserved (messages keep pointing at the old account)
    const again = await gql(chatd, CREATE, { in: { username: a.username, email: `new_${a.email}`, password: 'password-123' } });
    assert.match(again.body.errors[0].message, /already exists/);
  });

  test('login errors: unknown user and wrong password look the same', async () => {
    const name = `le_${sfx()}`;
    await createUser(chatd, name);
    const a = await gql(chatd, LOGIN, { u: name, p: 'wrong-password' });
    const b = await gql(chatd, LOGIN, { u: `nobody_${name}`, p: 'wrong-password' });
    assert.equal(errCode(a), 'UNAUTHENTICATED');
    assert.equal(a.body.errors[0].message, b.body.errors[0].message);
    const empty = await gql(chatd, LOGIN, { u: '', p: 'x' });
    assert.equal(errCode(empty), 'BAD_USER_INPUT');
  });
});

describe('user role, trust mode (the seed client)', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ db: true, auth: 'trust', fixtures: false });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test("the seed client's login flow: createUser, then on 'already exists' find it in users", async () => {
    const name = `seed_${sfx()}`;
    const input = { username: name, email: `${name}@example.com`, displayName: name };
    const r1 = await gql(chatd, 'mutation CreateUser($createUserInput: CreateUserInput!) { createUser(createUserInput: $createUserInput) { id username email displayName isActive createdAt } }', { createUserInput: input });
    assert.equal(r1.body.errors, undefined, JSON.stringify(r1.body));
    const u = r1.body.data.createUser;
    const r2 = await gql(chatd, 'mutation CreateUser($createUserInput: CreateUserInput!) { createUser(createUserInput: $createUserInput) { id } }', { createUserInput: input });
    assert.ok(r2.body.errors[0].message.includes('already exists'));
    // the seed's GetUsers has no arguments and no identity yet
    const list = await gql(chatd, 'query GetUsers { users { id username email displayName isActive createdAt } }');
    const found = list.body.data.users.find((x) => x.username === name || x.email === input.email);
    assert.deepEqual(found, u);
    const byName = await gql(chatd, 'query GetUserByUsername($username: String!) { userByUsername(username: $username) { id email } }', { username: name });
    assert.deepEqual(byName.body.data.userByUsername, { id: u.id, email: u.email });
    // identity from the seed's headers
    const me = await gql(chatd, '{ me { id email } }', undefined, { 'user-id': u.id, username: name });
    assert.deepEqual(me.body.data.me, { id: u.id, email: u.email });
    const anon = await gql(chatd, '{ me { id } }');
    assert.equal(errCode(anon), 'UNAUTHENTICATED');
    // the argument identifies the caller (seed behaviour)
    const upd = await gql(chatd, 'mutation($in: UpdateUserInput!) { updateUser(updateUserInput: $in) { displayName } }', { in: { id: u.id, displayName: 'Trusted' } });
    assert.equal(upd.body.data.updateUser.displayName, 'Trusted');
    // no password → cannot log in; no JWT secret → sign-in unavailable
    const l = await gql(chatd, LOGIN, { u: name, p: 'whatever-123' });
    assert.ok(['UNAUTHENTICATED', 'SERVICE_UNAVAILABLE'].includes(errCode(l)), JSON.stringify(l.body));
  });

  test('trust mode: WebSocket of a removed user is closed too', async () => {
    const name = `seedrm_${sfx()}`;
    const r = await gql(chatd, CREATE, { in: { username: name, email: `${name}@example.com` } });
    const u = r.body.data.createUser;
    const ws = await initedWs(chatd.wsUrl, { 'user-id': u.id, username: name });
    const rm = await gql(chatd, 'mutation($id: ID!) { removeUser(id: $id) { id isActive } }', { id: u.id }, { 'user-id': u.id });
    assert.deepEqual(rm.body.data.removeUser, { id: u.id, isActive: false });
    assert.equal((await ws.closedWith()).code, 4403);
  });
});

describe('auth mode switch', () => {
  test('trust mode on a non-loopback bind is refused unless forced, and logged loudly', async () => {
    const env = { CHATD_AUTH: 'trust', CHATD_BIND: '0.0.0.0', CHATD_PORT: '0' };
    const refused = await runChatdExpectExit(['--role', 'user'], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.output, /trust/i);
    const forced = await startChatd({ role: 'user', auth: 'trust', fixtures: false, env: { CHATD_BIND: '0.0.0.0', CHATD_AUTH_FORCE: '1' } });
    try {
      assert.match(forced.logs(), /TRUST MODE ON NON-LOOPBACK BIND/);
    } finally {
      assert.equal((await forced.stop()).code, 0);
    }
  });

  test('the same account works in both modes; token mode hides other emails', async () => {
    const token = await startChatd({ db: true, fixtures: false });
    const trust = await startChatd({ db: true, auth: 'trust', fixtures: false });
    try {
      const name = `both_${sfx()}`;
      const other = `oth_${sfx()}`;
      const u = await createUser(token, name);
      await createUser(token, other);
      const t = await gql(trust, 'query($u: String!) { userByUsername(username: $u) { id email } }', { u: other });
      assert.equal(t.body.data.userByUsername.email, `${other}@example.com`);
      const h = bearer((await login(token, name)).token);
      const k = await gql(token, 'query($u: String!) { userByUsername(username: $u) { id email } }', { u: other }, h);
      assert.equal(k.body.data.userByUsername.email, null);
      const anon = await gql(token, '{ users { id } }');
      assert.equal(anon.status, 401);
      assert.ok(u.id);
    } finally {
      assert.equal((await token.stop()).code, 0);
      assert.equal((await trust.stop()).code, 0);
    }
  });
});

describe('removed user, two processes (Redis control channel)', () => {
  test("removeUser on one process closes the user's sockets on another with 4403", async () => {
    const p1 = await startChatd({ db: true, redis: true, role: 'user', fixtures: false });
    const p2 = await startChatd({ db: true, redis: true, role: 'receiver', fixtures: false });
    try {
      const name = `xp_${sfx()}`;
      const other = `xpo_${sfx()}`;
      const u = await createUser(p1, name);
      await createUser(p1, other);
      const l = await login(p1, name);
      const lo = await login(p1, other);
      const ws = await initedWs(p2.wsUrl, { authToken: l.token });
      const wsOther = await initedWs(p2.wsUrl, { authToken: lo.token });
      // the receiver subscribes chatd:control once its broker connection is up
      for (let i = 0; i < 50 && !/redis up/.test(p2.logs()); i++) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 200));
      const rm = await gql(p1, 'mutation($id: ID!) { removeUser(id: $id) { id } }', { id: u.id }, bearer(l.token));
      assert.equal(rm.body.errors, undefined, JSON.stringify(rm.body));
      assert.equal((await ws.closedWith()).code, 4403);
      // nobody else is disconnected
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(wsOther.ws.readyState, 1);
      wsOther.close();
    } finally {
      assert.equal((await p1.stop()).code, 0, p1.logs());
      assert.equal((await p2.stop()).code, 0, p2.logs());
    }
  });
});
