// routing.js — which chatd role serves an operation: by operation type and
// root field (the schema's @owner, generated into routing.generated.js by
// web/scripts/gen-routing.mjs), never by operation-name substrings.
// Pure (no DOM), so tests/e2e/routing.test.js runs it under Node.
import { getMainDefinition } from '@apollo/client/utilities';
import { OWNERS } from './routing.generated.js';

/** The operation that runs: the one named operationName, else the main one. */
function operationOf(query, operationName) {
  const named = operationName
    ? query.definitions.find((d) => d.kind === 'OperationDefinition' && d.name && d.name.value === operationName)
    : null;
  return named || getMainDefinition(query);
}

/** 'user' | 'sender' | 'receiver' for a parsed document (DocumentNode) and
 * the operation chosen by operationName (GraphiQL documents hold several). */
export function serviceFor(query, operationName) {
  const def = operationOf(query, operationName);
  const sel = def.selectionSet.selections.find((s) => s.kind === 'Field' && s.name.value !== '__typename');
  const field = sel ? sel.name.value : '';
  const owners = OWNERS[def.operation] ?? {};
  if (Object.hasOwn(owners, field)) return owners[field];
  // a field without @owner (introspection): mutations to the sender, the rest to a receiver
  if (def.operation === 'mutation') return 'sender';
  return 'receiver';
}
