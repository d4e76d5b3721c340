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

// Chat roles (issue 19, item 5): every role × every action on a fresh group
// per cell. The group: owner O (its creator), admins A and A2, members M and
// M2; X is signed in but not a participant. 'ok' = data, no errors (check()
// may look closer); otherwise the extensions.code. Anonymous callers get
// UNAUTHENTICATED for every action.
describe('chat roles matrix (token mode)', () => {
  let chatd;
  let env;
  before(async () => {
    chatd = await startChatd({ db: true, fixtures: false });
    env = await import('./lib/receiver-env.js');
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  const ROLE = 'mutation($c: ID!, $u: String!, $r: ChatRole!) { setParticipantRole(chatId: $c, userId: $u, role: $r) { id myRole } }';
  const REMOVE = 'mutation($c: ID!, $u: String!) { removeParticipant(chatId: $c, userId: $u) { id } }';
  const actions = [
    { op: 'addParticipant', query: 'mutation($c: ID!, $u: String!) { addParticipant(chatId: $c, userId: $u) { id } }', vars: (g) => ({ c: g.chat, u: g.N.id }), owner: 'ok', admin: 'ok', member: 'FORBIDDEN', outsider: 'FORBIDDEN' },
    { op: 'removeParticipant(member)', query: REMOVE, vars: (g) => ({ c: g.chat, u: g.M2.id }), owner: 'ok', admin: 'ok', member: 'FORBIDDEN', outsider: 'FORBIDDEN' },
    { op: 'removeParticipant(admin)', query: REMOVE, vars: (g) => ({ c: g.chat, u: g.A2.id }), owner: 'ok', admin: 'FORBIDDEN', member: 'FORBIDDEN', outsider: 'FORBIDDEN' },
    { op: 'removeParticipant(owner)', query: REMOVE, vars: (g) => ({ c: g.chat, u: g.O.id }), admin: 'FORBIDDEN', member: 'FORBIDDEN', outsider: 'FORBIDDEN' },
    { op: 'updateChat', query: 'mutation($in: UpdateChatInput!) { updateChat(updateChatInput: $in) { id name } }', vars: (g) => ({ in: { id: g.chat, name: 'renamed' } }), owner: 'ok', admin: 'ok', member: 'FORBIDDEN', outsider: 'FORBIDDEN' },
    { op: 'setParticipantRole(ADMIN)', query: ROLE, vars: (g) => ({ c: g.chat, u: g.M2.id, r: 'ADMIN' }), owner: 'ok', admin: 'FORBIDDEN', member: 'FORBIDDEN', outsider: 'FORBIDDEN' },
    { op: 'setParticipantRole(MEMBER)', query: ROLE, vars: (g) => ({ c: g.chat, u: g.A2.id, r: 'MEMBER' }), owner: 'ok', admin: 'FORBIDDEN', member: 'FORBIDDEN', outsider: 'FORBIDDEN' },
    { op: 'setParticipantRole(OWNER)', query: ROLE, vars: (g) => ({ c: g.chat, u: g.M2.id, r: 'OWNER' }), owner: 'ok', admin: 'FORBIDDEN', member: 'FORBIDDEN', outsider: 'FORBIDDEN', check: (d) => assert.equal(d.setParticipantRole.myRole, 'ADMIN') },
    { op: 'removeChat', query: 'mutation($id: ID!) { removeChat(id: $id) { id isActive } }', vars: (g) => ({ id: g.chat }), owner: 'ok', admin: 'FORBIDDEN', member: 'FORBIDDEN', outsider: 'FORBIDDEN' },
    { op: 'leaveChat', query: 'mutation($c: ID!) { leaveChat(chatId: $c) }', vars: (g) => ({ c: g.chat }), owner: 'ok', admin: 'ok', member: 'ok', outsider: 'FORBIDDEN' },
    { op: 'markChatAsDelivered', query: 'mutation($c: ID!) { markChatAsDelivered(chatId: $c, upToSeq: 1) }', vars: (g) => ({ c: g.chat }), owner: 'ok', admin: 'ok', member: 'ok', outsider: 'FORBIDDEN' },
    { op: 'Chat.myRole', query: 'query($c: ID!) { chat(id: $c) { myRole } }', vars: (g) => ({ c: g.chat }), owner: 'ok', admin: 'ok', member: 'ok', outsider: 'FORBIDDEN', check: (d, who) => assert.equal(d.chat.myRole, { owner: 'OWNER', admin: 'ADMIN', member: 'MEMBER' }[who]) },
    { op: 'Chat.members.role', query: 'query($c: ID!) { chat(id: $c) { members { edges { node { role } } } } }', vars: (g) => ({ c: g.chat }), owner: 'ok', admin: 'ok', member: 'ok', outsider: 'FORBIDDEN', check: (d) => assert.deepEqual(d.chat.members.edges.map((e) => e.node.role), ['OWNER', 'ADMIN', 'ADMIN', 'MEMBER', 'MEMBER']) },
    { op: 'MessageReadStatus.delivered', query: 'query($m: ID!) { messageReadStatus(messageId: $m) { deliveredCount isFullyDelivered deliveredToUsers { userId } } }', vars: (g) => ({ m: g.msg }), owner: 'ok', admin: 'ok', member: 'ok', outsider: 'FORBIDDEN', check: (d) => assert.equal(d.messageReadStatus.deliveredCount, 0) },
    { op: 'User.online', query: 'query($id: ID!) { user(id: $id) { online lastSeenAt } }', vars: (g) => ({ id: g.M.id }), owner: 'ok', admin: 'ok', member: 'ok', outsider: 'ok', check: (d) => assert.equal(d.user.online, false) },
  ];

  async function group() {
    const [O, A, A2, M, M2, X, N] = env.makeUsers(7);
    const c = await gqlPost(chatd.url, { query: 'mutation($in: CreateChatInput!) { createChat(createChatInput: $in) { id } }', variables: { in: { name: 'g', participantIds: [A.id, A2.id, M.id, M2.id] } } }, O.h);
    const chat = c.body.data.createChat.id;
    for (const u of [A, A2]) {
      const r = await gqlPost(chatd.url, { query: ROLE, variables: { c: chat, u: u.id, r: 'ADMIN' } }, O.h);
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
    }
    const m = await gqlPost(chatd.url, { query: 'mutation($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id } }', variables: { in: { chatId: chat, senderId: O.id, content: 'hello' } } }, O.h);
    return { O, A, A2, M, M2, X, N, chat, msg: m.body.data.createMessage.id };
  }

  for (const row of actions) {
    for (const who of ['anon', 'owner', 'admin', 'member', 'outsider']) {
      const want = who === 'anon' ? 'UNAUTHENTICATED' : row[who];
      if (!want) continue;
      test(`${row.op} as ${who} → ${want}`, async () => {
        const g = await group();
        const actor = { owner: g.O, admin: g.A, member: g.M, outsider: g.X }[who];
        const r = await gqlPost(chatd.url, { query: row.query, variables: row.vars(g) }, actor ? actor.h : {});
        const body = JSON.stringify(r.body);
        if (want === 'ok') {
          assert.equal(r.body.errors, undefined, body);
          assert.ok(Object.values(r.body.data).every((v) => v !== null), body);
          if (row.check) row.check(r.body.data, who);
        } else {
          assert.equal(r.body.errors[0].extensions.code, want, body);
        }
      });
    }
  }

  test('every new chat field has a row', () => {
    for (const f of ['addParticipant', 'removeParticipant', 'updateChat', 'setParticipantRole', 'removeChat', 'leaveChat', 'markChatAsDelivered', 'Chat.myRole', 'Chat.members', 'MessageReadStatus', 'User.online'])
      assert.ok(actions.some((r) => r.op.startsWith(f)), `no matrix row for ${f}`);
  });
});
