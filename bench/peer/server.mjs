// bench/peer/server.mjs — the Node stack a team would build for the seeds'
// design, written for chatd's benchmarks: Apollo Server 4 on express, graphql-ws
// for subscriptions, graphql-redis-subscriptions (ioredis) between instances,
// node-postgres (pg.Pool) for the store. Same tables as chatd (its migrations
// are applied to the peer's database), same operation shapes for the subset the
// benchmarks use, no auth (the seeds' trust model: senderId identifies the
// caller).
//
//   node server.mjs --role sender|receiver --port N
//   env DATABASE_URL, REDIS_URL
//
// sender:   Mutation.createMessage — one transaction: bump chats.last_seq
//           (row lock = per-chat order), INSERT the message, +1 unread for the
//           other participants, COMMIT; then pubsub.publish on the chat's
//           channel (MESSAGE_ADDED.<chatId>).
// receiver: Query.messages / Query.chat, Subscription.messageAdded(chatId)
//           over graphql-ws (subprotocol graphql-transport-ws) at /graphql.
import http from 'node:http';
import express from 'express';
import cors from 'cors';
import pg from 'pg';
import Redis from 'ioredis';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@apollo/server/express4';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/lib/use/ws';
import { RedisPubSub } from 'graphql-redis-subscriptions';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []),
);
const role = args.role ?? 'sender';
const port = Number(args.port ?? (role === 'sender' ? 4002 : 4005));

const typeDefs = /* GraphQL */ `
  scalar DateTime
  type Message {
    id: ID!
    content: String!
    senderId: String!
    chatId: String!
    seq: Int
    type: String
    isEdited: Boolean!
    createdAt: DateTime!
  }
  type Chat {
    id: ID!
    name: String!
    participantIds: [String!]!
    lastSeq: Int
    messages: [Message!]!
  }
  input CreateMessageInput {
    content: String!
    senderId: String!
    chatId: String!
    type: String
  }
  type Query {
    health: String!
    chat(id: ID!): Chat
    messages(chatId: ID!, limit: Int): [Message!]!
  }
  type Mutation {
    createMessage(createMessageInput: CreateMessageInput!): Message
  }
  type Subscription {
    messageAdded(chatId: ID!): Message
  }
`;

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const pubsub = new RedisPubSub({ publisher: new Redis(redisUrl), subscriber: new Redis(redisUrl) });

const toMessage = (r) => ({
  id: r.id,
  content: r.content,
  senderId: r.sender_id,
  chatId: r.chat_id,
  seq: Number(r.seq),
  type: r.type,
  isEdited: r.is_edited,
  createdAt: r.created_at.toISOString(),
});

const resolvers = {
  Query: {
    health: () => 'ok',
    chat: async (_, { id }) => {
      const { rows } = await pool.query(
        `SELECT c.id, c.name, c.last_seq,
                coalesce(array_agg(p.user_id::text ORDER BY p.joined_seq, p.pos)
                         FILTER (WHERE p.user_id IS NOT NULL), '{}') AS participant_ids
           FROM chats c LEFT JOIN chat_participants p ON p.chat_id = c.id AND p.left_seq IS NULL
          WHERE c.id = $1 GROUP BY c.id`,
        [id],
      );
      const c = rows[0];
      return c && { id: c.id, name: c.name, lastSeq: Number(c.last_seq), participantIds: c.participant_ids };
    },
    messages: async (_, { chatId, limit }) => {
      const { rows } = await pool.query(
        'SELECT * FROM messages WHERE chat_id = $1 AND deleted_at IS NULL ORDER BY seq DESC LIMIT $2',
        [chatId, Math.min(limit ?? 50, 100)],
      );
      return rows.reverse().map(toMessage);
    },
  },
  Chat: {
    messages: async (chat) => resolvers.Query.messages(null, { chatId: chat.id }),
  },
  Mutation: {
    createMessage: async (_, { createMessageInput: m }) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const chat = await client.query(
          'UPDATE chats SET last_seq = last_seq + 1, updated_at = now() WHERE id = $1 AND is_active RETURNING last_seq',
          [m.chatId],
        );
        if (chat.rowCount === 0) throw new Error('Chat not found');
        const member = await client.query(
          'SELECT 1 FROM chat_participants WHERE chat_id = $1 AND user_id = $2 AND left_seq IS NULL',
          [m.chatId, m.senderId],
        );
        if (member.rowCount === 0) throw new Error('Not a participant of this chat');
        const { rows } = await client.query(
          `INSERT INTO messages (chat_id, seq, sender_id, type, content)
           VALUES ($1, $2, $3, $4, $5) RETURNING *`,
          [m.chatId, chat.rows[0].last_seq, m.senderId, m.type ?? 'text', m.content],
        );
        await client.query(
          `UPDATE unread_counts SET unread_count = unread_count + 1, seq = $3, updated_at = now()
            WHERE chat_id = $1 AND user_id <> $2`,
          [m.chatId, m.senderId, chat.rows[0].last_seq],
        );
        await client.query('COMMIT');
        const message = toMessage(rows[0]);
        await pubsub.publish(`MESSAGE_ADDED.${m.chatId}`, { messageAdded: message });
        return message;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
  },
  Subscription: {
    messageAdded: {
      subscribe: (_, { chatId }) => pubsub.asyncIterator(`MESSAGE_ADDED.${chatId}`),
    },
  },
};

const schema = makeExecutableSchema({ typeDefs, resolvers });
const app = express();
const httpServer = http.createServer(app);
const plugins = [ApolloServerPluginDrainHttpServer({ httpServer })];
if (role === 'receiver') {
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql' });
  // the bench opens up to 19k connections at once: the same 60 s init wait as chatd gets
  const cleanup = useServer({ schema, connectionInitWaitTimeout: 60_000 }, wsServer);
  plugins.push({ async serverWillStart() { return { async drainServer() { await cleanup.dispose(); } }; } });
}
const server = new ApolloServer({ schema, plugins });
await server.start();
app.get('/healthz', (_, res) => res.send('ok'));
app.use('/graphql', cors(), express.json(), expressMiddleware(server));
httpServer.listen(port, '127.0.0.1', () => console.log(`peer ${role} listening on 127.0.0.1:${port}`));

const stop = async () => {
  await server.stop();
  await pool.end();
  pubsub.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
