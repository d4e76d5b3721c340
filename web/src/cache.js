// cache.js — the InMemoryCache's type policies. Users, chats and messages
// are normalised by id; Query.messages keeps ONE list per chat (keyArgs
// chatId) that every page (beforeSeq / afterSeq) and every live event merges
// into: deduplicated by id, ordered by seq, so a resumed feed or a refetched
// page never shows a message twice.
const bySeq = (readField) => (a, b) => (readField('seq', a) ?? 0) - (readField('seq', b) ?? 0);

// chatId -> {seq, count}: the newest unreadCountUpdated received (App.jsx).
// A Chat loaded by a query carries the unread count as of its lastSeq; a
// query answered before a read committed can arrive after the read's
// count came on the stream, so the count shown is the stream's while it is
// newer than the loaded chat (its seq above the chat's lastSeq).
export const unreadLive = new Map();

export function mergeMessages(existing = [], incoming = [], { readField }) {
  const map = new Map();
  for (const m of existing) map.set(readField('id', m), m);
  for (const m of incoming) map.set(readField('id', m), m);
  return [...map.values()].sort(bySeq(readField));
}

export const typePolicies = {
  Query: {
    fields: {
      messages: { keyArgs: ['chatId'], merge: mergeMessages },
      // a new search replaces the old one; `after` appends the next page
      searchMessages: {
        keyArgs: ['query', 'chatId'],
        merge(existing, incoming, { args }) {
          if (!existing || !args || !args.after) return incoming;
          return { ...incoming, edges: [...existing.edges, ...incoming.edges] };
        },
      },
      chats: { merge: false },
    },
  },
  Chat: {
    fields: {
      participants: { merge: false },
      members: { keyArgs: false, merge: false },
      unreadCount: {
        read(existing, { readField }) {
          const live = unreadLive.get(readField('id'));
          const last = readField('lastSeq');
          return live && (last == null || live.seq > last) ? live.count : existing;
        },
      },
    },
  },
  Message: {
    fields: {
      reactions: { merge: false },
    },
  },
  ReactionGroup: { keyFields: false },
  ChatMember: { keyFields: false },
  MessageReadStatus: { keyFields: ['messageId'] },
};
