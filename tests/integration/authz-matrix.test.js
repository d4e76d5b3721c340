// Authorization matrix (token mode): every operation × every kind of caller.
//
//   anon   no token
//   self   signed in as A, acting on A's own resources
//   other  signed in as A, acting on B's resources
//
// Each row names an operation and what each caller gets: 'ok' (data, no
// errors) or the extensions.code of the error. Every row runs against a
// fresh pair of users (A, B), so destructive operations do not leak between
// rows. Later roles extend this file: add rows (with `setup` for the chats or
// messages they need) — keep one row per root field.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, gqlPost } from './lib/chatd.js';

let seq = 0;
const uniq = () => `m${Date.now().toString(36)}${(seq++).toString(36)}${Math.random().toString(36).slice(2, 5)}`;
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const PW = 'password-123';

async function newUser(chatd) {
  const name = uniq();
  const c = await gqlPost(chatd.url, {
    query: 'mutation($in: CreateUserInput!) { createUser(createUserInput: $in) { id username email } }',
    variables: { in: { username: name, email: `${name}@example.com`, password: PW } },
  });
  assert.equal(c.body.errors, undefined, JSON.stringify(c.body));
  const l = await gqlPost(chatd.url, {
    query: 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token refreshToken } }',
    variables: { u: name, p: PW },
  });
  assert.equal(l.body.errors, undefined, JSON.stringify(l.body));
  return { ...c.body.data.createUser, ...l.body.data.login };
}

// subject: the user whose resources the operation names (A for self/anon, B for other)
const rows = [
  { op: 'users', query: '{ users(limit: 5) { id username } }', anon: 'UNAUTHENTICATED', self: 'ok' },
  {
    op: 'user',
    query: 'query($id: ID!) { user(id: $id) { id email } }',
    vars: (s) => ({ id: s.id }),
    anon: 'UNAUTHENTICATED',
    self: 'ok',
    other: 'ok',
    // email: visible to its owner only
    check: (who, data, s) => assert.equal(data.user.email, who === 'self' ? s.email : null),
  },
  {
    op: 'userByUsername',
    query: 'query($u: String!) { userByUsername(username: $u) { id email } }',
    vars: (s) => ({ u: s.username }),
    anon: 'UNAUTHENTICATED',
    self: 'ok',
    other: 'ok',
    check: (who, data, s) => assert.equal(data.userByUsername.email, who === 'self' ? s.email : null),
  },
  { op: 'me', query: '{ me { id email } }', anon: 'UNAUTHENTICATED', self: 'ok' },
  {
    op: 'createUser',
    query: 'mutation($in: CreateUserInput!) { createUser(createUserInput: $in) { id } }',
    vars: () => {
      const n = uniq();
      return { in: { username: n, email: `${n}@example.com`, password: PW } };
    },
    anon: 'ok',
    self: 'ok',
  },
  {
    op: 'updateUser',
    query: 'mutation($in: UpdateUserInput!) { updateUser(updateUserInput: $in) { id displayName } }',
    vars: (s) => ({ in: { id: s.id, displayName: 'changed' } }),
    anon: 'UNAUTHENTICATED',
    self: 'ok',
    other: 'FORBIDDEN',
  },
  {
    op: 'removeUser',
    query: 'mutation($id: ID!) { removeUser(id: $id) { id isActive } }',
    vars: (s) => ({ id: s.id }),
    anon: 'UNAUTHENTICATED',
    self: 'ok',
    other: 'FORBIDDEN',
  },
  {
    op: 'login',
    query: 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
    vars: (s) => ({ u: s.username, p: PW }),
    anon: 'ok',
    self: 'ok',
  },
  {
    op: 'refreshToken',
    query: 'mutation($t: String!) { refreshToken(refreshToken: $t) { token } }',
    vars: (s) => ({ t: s.refreshToken }),
    anon: 'ok',
    self: 'ok',
  },
  {
    op: 'logout',
    query: 'mutation($t: String) { logout(refreshToken: $t) }',
    vars: (s) => ({ t: s.refreshToken }),
    anon: 'UNAUTHENTICATED',
    self: 'ok',
  },
  {
    op: 'changePassword',
    query: 'mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) }',
    vars: () => ({ o: PW, n: 'another-password-1' }),
    anon: 'UNAUTHENTICATED',
    self: 'ok',
  },
];

describe('authorization matrix (token mode)', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ db: true, fixtures: false });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  for (const row of rows) {
    for (const who of ['anon', 'self', 'other']) {
      if (!(who in row)) continue;
      test(`${row.op} as ${who} → ${row[who]}`, async () => {
        const a = await newUser(chatd);
        const subject = who === 'other' ? await newUser(chatd) : a;
        const headers = who === 'anon' ? {} : bearer(a.token);
        const r = await gqlPost(chatd.url, { query: row.query, variables: row.vars ? row.vars(subject) : undefined }, headers);
        const body = JSON.stringify(r.body);
        if (row[who] === 'ok') {
          assert.equal(r.status, 200, body);
          assert.equal(r.body.errors, undefined, body);
          assert.ok(r.body.data && Object.values(r.body.data).every((v) => v !== null), body);
          if (row.check) row.check(who, r.body.data, subject);
        } else {
          assert.equal(r.body.errors[0].extensions.code, row[who], body);
          // anonymous callers are stopped before execution with HTTP 401
          if (row[who] === 'UNAUTHENTICATED' && who === 'anon') assert.equal(r.status, 401, body);
        }
      });
    }
  }

  test('every user-role root field has a row', () => {
    const owned = ['users', 'user', 'userByUsername', 'me', 'createUser', 'updateUser', 'removeUser', 'login', 'refreshToken', 'logout', 'changePassword'];
    for (const f of owned) assert.ok(rows.some((r) => r.op === f), `no matrix row for ${f}`);
  });
});
