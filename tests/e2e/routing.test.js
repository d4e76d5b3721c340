// The web client's routing (web/src/routing.js) against the schema: every
// root field with @owner(role) in schema/chat.graphql must go to that role —
// so a user-role field added to the schema but not to the client fails here.
// Plus: the first non-__typename root field decides; operation names do not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { repoRoot } from './lib.js';
import { serviceFor } from '../../web/src/routing.js';

const requireWeb = createRequire(path.join(repoRoot, 'web/package.json'));
const { parse } = requireWeb('graphql');

test('every owned root field is routed to its owner', () => {
  const sdl = parse(fs.readFileSync(path.join(repoRoot, 'schema/chat.graphql'), 'utf8'));
  let n = 0;
  for (const def of sdl.definitions) {
    if (def.kind !== 'ObjectTypeDefinition' || !['Query', 'Mutation', 'Subscription'].includes(def.name.value)) continue;
    const op = def.name.value.toLowerCase();
    for (const f of def.fields) {
      const owner = f.directives.find((d) => d.name.value === 'owner');
      if (!owner) continue;
      const role = owner.arguments[0].value.value;
      const doc = parse(`${op} Whatever { __typename ${f.name.value} }`);
      assert.equal(serviceFor(doc), role, `${op} ${f.name.value}`);
      n++;
    }
  }
  assert.ok(n >= 40, `checked ${n} root fields`);
});

test('operation names do not route; the root field does', () => {
  assert.equal(serviceFor(parse('query GetChatMessagesUnread { me { id } }')), 'user');
  assert.equal(serviceFor(parse('mutation CreateUserChat { createMessage(createMessageInput: {}) { id } }')), 'sender');
  assert.equal(serviceFor(parse('query Users { chats { id } }')), 'receiver');
  assert.equal(serviceFor(parse('subscription { typing(chatId: "x") { userId } }')), 'receiver');
});

test('a document with several operations routes the one named operationName', () => {
  const doc = parse('query Me { me { id } } subscription T { typing(chatId: "x") { userId } } mutation M { createMessage(createMessageInput: {}) { id } }');
  assert.equal(serviceFor(doc, 'Me'), 'user');
  assert.equal(serviceFor(doc, 'T'), 'receiver');
  assert.equal(serviceFor(doc, 'M'), 'sender');
  assert.equal(serviceFor(parse('query A { me { id } } query B { chats { id } }'), 'B'), 'receiver');
});
