// routing.js — which chatd role serves an operation: by operation type and
// root field (the schema's @owner), never by operation-name substrings.
// Pure (no DOM), so tests/e2e/routing.test.js runs it under Node.
import { getMainDefinition } from '@apollo/client/utilities';

// root fields of the user role (schema/chat.graphql @owner(role: "user"))
export const USER_FIELDS = new Set([
  'users', 'user', 'userByUsername', 'me', 'createUser', 'updateUser', 'removeUser',
  'login', 'refreshToken', 'logout', 'changePassword',
]);

/** 'user' | 'sender' | 'receiver' for a parsed document (DocumentNode). */
export function serviceFor(query) {
  const def = getMainDefinition(query);
  const sel = def.selectionSet.selections.find((s) => s.kind === 'Field' && s.name.value !== '__typename');
  const field = sel ? sel.name.value : '';
  if (USER_FIELDS.has(field)) return 'user';
  if (def.operation === 'mutation') return 'sender';
  return 'receiver';
}
